"""Model zoo: the builder of every model name and how a build gets its weights. The names, their
family and each family's options (defaults and checks) are the config's (config.MODELS,
config.SqueezeNetOptions / ShuffleNetOptions); a family's module is fpga_flow/models/<family>.py,
its builder function named like the model."""
from __future__ import annotations

import importlib

from ..config import MODELS, Quantization, model_options
from ..errors import FlowError


def family(name: str):
    """The family module of model ``name`` (builder, init_random, init_from_deployed)."""
    if name not in MODELS:
        raise FlowError(f"unknown model {name!r}; run 'fpga-flow models' for the list")
    return importlib.import_module(f"{__name__}.{MODELS[name][0]}")


def build(name: str, options, quant: Quantization, *, quantized=True):
    """Model ``name`` with ``options`` (its typed config.<Family>Options, or a mapping of option keys:
    checked and completed by the config's defaults) and the widths ``quant``."""
    if isinstance(options, dict):
        options = model_options(name, options)
    model = getattr(family(name), name)(options=options, quant=quant, quantized=quantized)
    for key in ("layer_int", "layer_weight_int") if quantized else ():  # the float twin has no quantizer layers
        missing = sorted(set(getattr(quant, key)) - {layer.name for layer in model.layers})
        if missing:
            raise FlowError(f"quantization.{key} names layer(s) {missing} that {name} does not have; "
                            "use the layer names of 'fpga-flow build' reports")
    return model
