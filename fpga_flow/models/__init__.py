"""Model zoo: builders by name, and the weights a build starts from."""
from __future__ import annotations

from ..errors import FlowError

# name -> (family module, builder function, one-line description)
MODELS = {
    "squeezenet1_0": ("squeezenet", "squeezenet1_0",
                      "SqueezeNet v1.0 (Iandola et al. 2016, Table 1); bypass none|simple|complex; section-5 knobs"),
    "squeezenet1_1": ("squeezenet", "squeezenet1_1",
                      "SqueezeNet v1.1 (2.4x fewer FLOPs than v1.0); bypass none|simple|complex; section-5 knobs"),
}

# keys of the YAML 'model:' section accepted by every builder (besides 'name')
MODEL_KEYS = {"input_shape", "classes", "bypass", "base_e", "incr_e", "freq", "sr", "pct3x3", "dropout",
              "stem_stride", "pool_padding"}


def builder(name: str):
    if name not in MODELS:
        raise FlowError(f"unknown model {name!r}; run 'fpga-flow models' for the list")
    import importlib

    module, fn, _ = MODELS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), fn)


def build(name: str, model_args: dict, quant, *, quantized=True):
    unknown = sorted(set(model_args) - MODEL_KEYS)
    if unknown:
        raise FlowError(f"unknown model option(s) {unknown} for {name}; valid: {sorted(MODEL_KEYS)}")
    return builder(name)(quant=quant, quantized=quantized, **model_args)
