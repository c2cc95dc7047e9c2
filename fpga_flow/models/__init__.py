"""Model zoo: builders by name, the options each accepts, and how a build gets its weights."""
from __future__ import annotations

import importlib

from ..errors import FlowError

_SQUEEZENET_KEYS = frozenset({"input_shape", "classes", "bypass", "base_e", "incr_e", "freq", "sr", "pct3x3",
                              "dropout", "stem_stride", "pool_padding"})
_SHUFFLENET_KEYS = frozenset({"input_shape", "classes", "groups", "width"})

# name -> (family module, builder function, accepted 'model:' keys besides 'name', one-line description)
MODELS = {
    "squeezenet1_0": ("squeezenet", "squeezenet1_0", _SQUEEZENET_KEYS,
                      "SqueezeNet v1.0 (Iandola et al. 2016, Table 1); bypass none|simple|complex; section-5 knobs"),
    "squeezenet1_1": ("squeezenet", "squeezenet1_1", _SQUEEZENET_KEYS,
                      "SqueezeNet v1.1 (2.4x fewer FLOPs than v1.0); bypass none|simple|complex; section-5 knobs"),
    "shufflenet_v1": ("shufflenet", "shufflenet_v1", _SHUFFLENET_KEYS,
                      "ShuffleNet v1 (Zhang et al. 2017, Table 1); groups 1|2|3|4|8, width 0.25|0.5|1.0|1.5|2.0"),
}


def family(name: str):
    """The family module of model ``name`` (builder, init_random, init_from_deployed)."""
    if name not in MODELS:
        raise FlowError(f"unknown model {name!r}; run 'fpga-flow models' for the list")
    return importlib.import_module(f"{__name__}.{MODELS[name][0]}")


def builder(name: str):
    return getattr(family(name), MODELS[name][1])


def model_keys(name: str) -> frozenset:
    family(name)
    return MODELS[name][2]


def build(name: str, model_args: dict, quant, *, quantized=True):
    keys = model_keys(name)
    unknown = sorted(set(model_args) - keys)
    if unknown:
        raise FlowError(f"unknown model option(s) {unknown} for {name}; valid: {sorted(keys)}")
    model = builder(name)(quant=quant, quantized=quantized, **model_args)
    for key in ("layer_int", "layer_weight_int") if quantized else ():  # the float twin has no quantizer layers
        missing = sorted(set(getattr(quant, key, None) or {}) - {layer.name for layer in model.layers})
        if missing:
            raise FlowError(f"quantization.{key} names layer(s) {missing} that {name} does not have; "
                            "use the layer names of 'fpga-flow build' reports")
    return model
