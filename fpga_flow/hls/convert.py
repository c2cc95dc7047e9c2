"""Step 'convert': QKeras model -> hls4ml ModelGraph (io_stream, Resource) -> written project.

Exactness is built in (precision.infer sets every type) and then checked on the hls4ml graph
(precision.audit); any disagreement stops the flow.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import FitError, FlowError
from . import extensions, precision, storage
from .reuse import closest_valid, layer_fan

BACKENDS = ("Vitis", "Vivado")
# what the fitter may move to URAM per backend (never weight ROMs: URAM has no bitstream contents;
# Vivado HLS has no URAM FIFO core to bind, line buffers are not bound: see hls/storage.py)
URAM_ROLES = {"Vitis": ("fifo",), "Vivado": ()}
PROJECT_NAME = "myproject"


def prepare(model):
    """Rewrite layers that stock hls4ml would get wrong into fpga_flow's extensions (same maths):

    * overlapping or padded MaxPooling2D -> StreamMaxPooling2D (stock io_stream aborts);
    * QConv2D(groups>1), 1x1 -> QGroupedConv1x1 (stock hls4ml ignores ``groups``).
    """
    import tensorflow as tf

    from .extensions.grouped_conv import from_qconv2d
    from .extensions.maxpool import StreamMaxPooling2D

    def needs(layer):
        cls = type(layer).__name__
        if cls == "MaxPooling2D":
            return tuple(layer.pool_size) != tuple(layer.strides) or layer.padding != "valid"
        return cls == "QConv2D" and int(getattr(layer, "groups", 1)) > 1

    if not any(needs(l) for l in model.layers):
        return model

    def clone(layer):
        if needs(layer):
            if type(layer).__name__ == "MaxPooling2D":
                return StreamMaxPooling2D.from_config(layer.get_config())
            return from_qconv2d(layer)
        return layer.__class__.from_config(layer.get_config())

    new = tf.keras.models.clone_model(model, clone_function=clone)
    new.set_weights(model.get_weights())
    return new


def make_config(model, info, *, backend: str, reuse_factor: int, strategy: str = "Resource",
                reuse: dict | None = None) -> dict:
    """hls4ml config with the exact types; ``reuse`` gives per-layer reuse factors (else the valid
    one nearest to ``reuse_factor``)."""
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    cfg["Model"].update({"Strategy": strategy, "ReuseFactor": int(reuse_factor), "BramFactor": 1_000_000_000})
    layers = cfg["LayerName"]
    in_name = model.layers[0].name
    layers.setdefault(in_name, {})["Precision"] = {"result": precision.input_spec(model).hls4ml()}
    for layer in model.layers:
        name = layer.name
        lc = layers.setdefault(name, {})
        lc["Trace"] = True
        t = info.get(name)
        if t is None:
            continue
        prec = lc.get("Precision") if isinstance(lc.get("Precision"), dict) else {}
        prec["result"] = t.spec.hls4ml()
        if type(layer).__name__ in precision.WEIGHTED:
            prec["accum"] = (t.accum or t.spec).hls4ml()
            n_in, n_out = layer_fan(layer)
            lc["ReuseFactor"] = int((reuse or {}).get(name) or closest_valid(n_in, n_out, int(reuse_factor)))
        lc["Precision"] = prec
    for name, lc in layers.items():  # hls4ml's implicit '<conv>_linear' nodes: keep the exact type
        if name.endswith("_linear") and name[:-7] in info:
            lc.setdefault("Precision", {})
            if isinstance(lc["Precision"], dict):
                lc["Precision"]["result"] = info[name[:-7]].spec.hls4ml()
            lc["Trace"] = True
    return cfg


def convert(model, output_dir: str | Path, *, part: str, backend: str = "Vitis", clock_period: float = 5.0,
            reuse_factor="auto", strategy: str = "Resource", budget: float = 0.9, min_packing: float = 0.8,
            fixed_rf: dict | None = None, fifo_depths: dict | None = None):
    """Convert, fit to ``part`` and write the hls4ml project into ``output_dir``.

    Returns (hls_model, info, plan, nodes): exact types per Keras layer, the resource plan (reuse
    factors, FIFO depths, estimates) and the description of the written graph. Raises FitError when
    nothing fits the part.
    """
    import hls4ml

    from ..resources import design, fit
    from ..resources.parts import resolve

    if backend not in BACKENDS:
        raise FlowError(f"unknown backend {backend!r}; use one of {list(BACKENDS)}")
    extensions.register()
    precision.check_supported(model)
    model = prepare(model)
    info = precision.infer(model)
    the_part = resolve(part)

    def _convert(reuse):
        cfg = make_config(model, info, backend=backend, reuse_factor=64 if reuse_factor == "auto" else int(reuse_factor),
                          strategy=strategy, reuse=reuse)
        with storage.no_pointwise_rewrite():  # 1x1 convs keep the Resource line-buffer kernel (a ROM)
            hls_model = hls4ml.converters.convert_from_keras_model(
                model, hls_config=cfg, output_dir=str(output_dir), project_name=PROJECT_NAME,
                io_type="io_stream", backend=backend, part=the_part.name, clock_period=clock_period)
        pw = [n.name for n in hls_model.get_layers() if n.class_name.startswith("Pointwise")]
        if pw:
            raise RuntimeError(f"hls4ml rewrote 1x1 convolutions into PointwiseConv (weights partitioned): {pw[:4]}")
        return hls_model

    # pass 1: the real graph (with hls4ml's Clone / ZeroPadding2D nodes) to plan on
    hls_model = _convert(fixed_rf)
    nodes = design.describe(hls_model)
    plan = fit.plan(nodes, the_part, budget=budget, clock_ns=clock_period,
                    uniform_rf=None if reuse_factor == "auto" else int(reuse_factor), fixed_rf=fixed_rf,
                    fixed_depths=fifo_depths, min_packing=min_packing, uram_roles=URAM_ROLES[backend])
    if not plan.fits:
        how = ("even at the largest reuse factors" if reuse_factor == "auto" and not fixed_rf
               else f"with the reuse factors set in the config (hls.reuse_factor={reuse_factor}"
                    + (f", {len(fixed_rf)} fixed per layer)" if fixed_rf else ")"))
        raise FitError(fit.refusal(plan, the_part, budget, nodes, clock_period, how))
    # pass 2: the chosen reuse factors, then the analytic FIFO depths on the stream variables
    hls_model = _convert(plan.reuse)
    _apply_depths(hls_model, plan.depths)
    nodes = design.describe(hls_model)
    got = {r["name"]: r["reuse_factor"] for r in nodes if "reuse_factor" in r}
    wrong = {k: (v, got.get(k)) for k, v in plan.reuse.items() if got.get(k) != v}
    if wrong:
        raise RuntimeError(f"hls4ml changed planned reuse factors (planned, got): {wrong}")
    problems = precision.audit(hls_model, model, info)
    if problems:
        raise RuntimeError("precision audit failed (the C++ would not be exact):\n  " + "\n  ".join(problems))
    # Per-layer trace hooks for the C-sim library (as ModelGraph.trace does). They are emitted inside
    # #ifndef __SYNTHESIS__ and do nothing unless the worker turns tracing on.
    hls_model.config.trace_output = True
    with storage.no_pointwise_rewrite():
        hls_model.write()
    _relocatable_weights(Path(output_dir))
    # every weight array's and FIFO's storage as planned, then the audit of what was written
    from ..verify.audit import StorageAuditFailed, audit_project, summary

    layers = [{"layer": e.layer, "kind": e.kind, "reuse_factor": e.reuse_factor,
               "memories": [m.to_dict() for m in e.memories]} for e in plan.layers]
    fifos = [dict(m.to_dict(), stream=m.note) for m in plan.fifos]
    storage.write(Path(output_dir), layers, fifos, nodes, backend)
    result = audit_project(Path(output_dir), nodes, layers, fifos, backend, plan.depths)
    if not result["ok"]:
        raise StorageAuditFailed(summary(result))
    return hls_model, info, plan, nodes


def _apply_depths(hls_model, depths: dict[str, int]) -> None:
    """Write the planned depth on every internal stream (the writer emits #pragma HLS STREAM depth)."""
    done = set()
    for node in hls_model.get_layers():
        for o in node.outputs:
            if o in depths:
                var = node.get_output_variable(o) if len(node.outputs) > 1 else node.get_output_variable()
                var.pragma = ("stream", int(depths[o]))
                done.add(o)
    missing = set(depths) - done
    if missing:
        raise RuntimeError(f"planned FIFO depths for unknown streams: {sorted(missing)[:5]}")


def _relocatable_weights(prj: Path) -> None:
    """hls4ml bakes the absolute weights path into the C-sim library; make it relative to firmware/
    so a built directory can be moved (the C-sim worker runs with firmware/ as its cwd)."""
    p = prj / "build_lib.sh"
    s = p.read_text()
    s2 = re.sub(r'^WEIGHTS_DIR=.*$', 'WEIGHTS_DIR=\'"weights"\'', s, flags=re.M)
    if s2 == s:
        raise RuntimeError("build_lib.sh layout changed: WEIGHTS_DIR line not found")
    p.write_text(s2)
