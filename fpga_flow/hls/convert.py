"""QKeras model -> hls4ml ModelGraph (io_stream, Resource) -> written project, in three calls the
flow's steps make (fpga_flow/flow.py):

* ``convert``: the one hls4ml conversion, with the exact types (kinds.infer sets every type);
* ``apply_plan``: the fitted plan's reuse factors and FIFO depths set on that graph (no second
  conversion: hls4ml's templates read both at write time), then the exactness audit (kinds.audit);
* ``write``: the project, made relocatable, with every memory's storage written as planned (storage.py).
"""
from __future__ import annotations

import re
from pathlib import Path

from ..resources.reuse import closest_valid, layer_fan
from . import extensions, kinds, storage, weight_load
from .describe import describe
from .precision import input_spec

PROJECT_NAME = "myproject"


def make_config(model, info, *, backend: str, reuse_factor: int, strategy: str, reuse: dict[str, int]) -> dict:
    """hls4ml config with the exact types; ``reuse`` gives per-layer reuse factors (else the valid
    one nearest to ``reuse_factor``)."""
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    cfg["Model"].update({"Strategy": strategy, "ReuseFactor": int(reuse_factor), "BramFactor": 1_000_000_000})
    layers = cfg["LayerName"]
    in_name = model.layers[0].name
    layers.setdefault(in_name, {})["Precision"] = {"result": input_spec(model).hls4ml()}
    for layer in model.layers:
        name = layer.name
        lc = layers.setdefault(name, {})
        lc["Trace"] = True
        t = info.get(name)
        if t is None:
            continue
        prec = lc.get("Precision") if isinstance(lc.get("Precision"), dict) else {}
        prec["result"] = t.spec.hls4ml()
        if kinds.is_weighted(layer):
            prec["accum"] = (t.accum or t.spec).hls4ml()
            n_in, n_out = layer_fan(layer)
            lc["ReuseFactor"] = int(reuse.get(name) or closest_valid(n_in, n_out, int(reuse_factor)))
        lc["Precision"] = prec
    for name, lc in layers.items():  # hls4ml's implicit '<conv>_linear' nodes: keep the exact type
        if name.endswith("_linear") and name[:-7] in info:
            lc.setdefault("Precision", {})
            if isinstance(lc["Precision"], dict):
                lc["Precision"]["result"] = info[name[:-7]].spec.hls4ml()
            lc["Trace"] = True
    return cfg


def convert(model, output_dir: str | Path, *, part_name: str, backend: str, clock_period: float, reuse_factor,
            strategy: str, fixed_rf: dict[str, int], conv_kernel: str, max_window: int):
    """The hls4ml graph of ``model`` (checked, rewritten into extensions where needed, exact types),
    to be written into ``output_dir``. Returns (hls_model, info, prepared model): info = exact type
    per Keras layer. Reuse factors: ``fixed_rf`` per layer, else the valid one nearest to
    ``reuse_factor`` (64 for 'auto'); the plan sets its own with ``apply_plan``. ``conv_kernel``:
    'stream' converts every QConv2D into fpga_flow's sliding-window generator + matrix-vector unit
    (Resource strategy only: a Latency build keeps hls4ml's kernel), 'hls4ml' keeps hls4ml's
    line-buffer convolution; ``max_window``: the widest window (K*K*C values) a conv is streamed with.
    Every argument is an hls key of the config (config.HlsSection: its defaults and checks)."""
    import hls4ml

    extensions.register()
    kinds.check_supported(model)
    model = kinds.prepare(model, conv_kernel if strategy == "Resource" else "hls4ml", max_window)
    info = kinds.infer(model)
    cfg = make_config(model, info, backend=backend, reuse_factor=64 if reuse_factor == "auto" else int(reuse_factor),
                      strategy=strategy, reuse=fixed_rf)
    with storage.no_pointwise_rewrite():  # 1x1 convs keep the Resource line-buffer kernel (a ROM)
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=cfg, output_dir=str(output_dir), project_name=PROJECT_NAME,
            io_type="io_stream", backend=backend, part=part_name, clock_period=clock_period)
    pw = [n.name for n in hls_model.get_layers() if kinds.for_hls(n.class_name) is kinds.POINTWISE]
    if pw:
        raise RuntimeError(f"hls4ml rewrote 1x1 convolutions into PointwiseConv (weights partitioned): {pw[:4]}")
    return hls_model, info, model


def apply_plan(hls_model, model, info, plan) -> list[dict]:
    """Set the plan's reuse factors and FIFO depths on the converted graph; check them and the exact
    types on it. Returns the description of the graph as it will be written."""
    _apply_reuse(hls_model, plan.reuse)
    _apply_depths(hls_model, plan.depths)
    # hls4ml formats every layer's config/function C++ from its attributes in this flow, run once at
    # conversion: run it again so the written templates carry the planned reuse factors
    hls_model.apply_flow(f"{hls_model.config.backend.name.lower()}:apply_templates")
    nodes = describe(hls_model)
    got = {r["name"]: r["reuse_factor"] for r in nodes if "reuse_factor" in r}
    wrong = {k: (v, got.get(k)) for k, v in plan.reuse.items() if got.get(k) != v}
    if wrong:
        raise RuntimeError(f"planned reuse factors not applied (planned, got): {wrong}")
    problems = kinds.audit(hls_model, model, info)
    if problems:
        raise RuntimeError("precision audit failed (the C++ would not be exact):\n  " + "\n  ".join(problems))
    return nodes


def write(hls_model, output_dir: str | Path, layers: list[dict], fifos: list[dict], nodes: list[dict],
          backend: str) -> dict | None:
    """Write the project, with per-layer trace hooks for the C-sim library and every weight array's
    and FIFO's storage as planned (``layers`` / ``fifos``: the plan in flow.json's form, storage.write),
    and the weight-load path when the plan puts weights in URAM (its description, else None)."""
    # Per-layer trace hooks (as ModelGraph.trace does): emitted inside #ifndef __SYNTHESIS__, they do
    # nothing unless the C-sim worker turns tracing on.
    hls_model.config.trace_output = True
    with storage.no_pointwise_rewrite():
        hls_model.write()
    _relocatable_weights(Path(output_dir))
    uram_pragmas = storage.write(Path(output_dir), layers, fifos, nodes, backend)
    return weight_load.write(Path(output_dir), layers, uram_pragmas, backend)


def _apply_reuse(hls_model, reuse: dict[str, int]) -> None:
    """The planned reuse factor on every weighted node (the attribute the templates read, and the
    layer config hls4ml writes to hls4ml_config.yml); each is one hls4ml validated (fit.plan)."""
    names = {n.name for n in hls_model.get_layers()}
    missing = set(reuse) - names
    if missing:
        raise RuntimeError(f"planned reuse factors for unknown layers: {sorted(missing)[:5]}")
    layer_cfg = hls_model.config.config["HLSConfig"]["LayerName"]
    for node in hls_model.get_layers():
        if node.name in reuse:
            ext = kinds.for_hls(node.class_name).extension
            hook = getattr(ext, "set_reuse_factor", None)  # an extension whose weight layout depends on it
            if hook is not None:
                hook(node, int(reuse[node.name]))
            node.set_attr("reuse_factor", int(reuse[node.name]))
            layer_cfg.setdefault(node.name, {})["ReuseFactor"] = int(reuse[node.name])


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
