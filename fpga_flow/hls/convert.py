"""Step 'convert': QKeras model -> hls4ml ModelGraph (io_stream, Resource) -> written project.

Exactness is built in (precision.infer sets every type) and then checked on the hls4ml graph
(precision.audit); any disagreement stops the flow.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import FlowError
from . import extensions, precision
from .reuse import closest_valid, layer_fan

BACKENDS = ("Vitis", "Vivado")
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


def make_config(model, info, *, backend: str, reuse_factor: int, strategy: str = "Resource") -> dict:
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
            prec["accum"] = t.spec.hls4ml()
            n_in, n_out = layer_fan(layer)
            lc["ReuseFactor"] = closest_valid(n_in, n_out, int(reuse_factor))
        lc["Precision"] = prec
    for name, lc in layers.items():  # hls4ml's implicit '<conv>_linear' nodes: keep the exact type
        if name.endswith("_linear") and name[:-7] in info:
            lc.setdefault("Precision", {})
            if isinstance(lc["Precision"], dict):
                lc["Precision"]["result"] = info[name[:-7]].spec.hls4ml()
            lc["Trace"] = True
    return cfg


def convert(model, output_dir: str | Path, *, part: str, backend: str = "Vitis", clock_period: float = 5.0,
            reuse_factor: int = 16, strategy: str = "Resource"):
    """Convert and write the hls4ml project into ``output_dir``; returns (hls_model, info)."""
    import hls4ml

    if backend not in BACKENDS:
        raise FlowError(f"unknown backend {backend!r}; use one of {list(BACKENDS)}")
    extensions.register()
    precision.check_supported(model)
    model = prepare(model)
    info = precision.infer(model)
    cfg = make_config(model, info, backend=backend, reuse_factor=reuse_factor, strategy=strategy)
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, output_dir=str(output_dir), project_name=PROJECT_NAME,
        io_type="io_stream", backend=backend, part=part, clock_period=clock_period)
    problems = precision.audit(hls_model, model, info)
    if problems:
        raise RuntimeError("precision audit failed (the C++ would not be exact):\n  " + "\n  ".join(problems))
    # Per-layer trace hooks for the C-sim library (as ModelGraph.trace does). They are emitted inside
    # #ifndef __SYNTHESIS__ and do nothing unless the worker turns tracing on.
    hls_model.config.trace_output = True
    hls_model.write()
    _relocatable_weights(Path(output_dir))
    return hls_model, info


def _relocatable_weights(prj: Path) -> None:
    """hls4ml bakes the absolute weights path into the C-sim library; make it relative to firmware/
    so a built directory can be moved (the C-sim worker runs with firmware/ as its cwd)."""
    p = prj / "build_lib.sh"
    s = p.read_text()
    s2 = re.sub(r'^WEIGHTS_DIR=.*$', 'WEIGHTS_DIR=\'"weights"\'', s, flags=re.M)
    if s2 == s:
        raise RuntimeError("build_lib.sh layout changed: WEIGHTS_DIR line not found")
    p.write_text(s2)
