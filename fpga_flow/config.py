"""The flow's one typed configuration: :class:`FlowConfig`, every section of the YAML files in
hls_configs/ (model, quantization, weights, hls, train) with each key's type, default, check and the
fix printed when a value is wrong.

This module is the only place a config default or a check of a config value lives: the model
builders (fpga_flow/models/) take their options and bit widths from these classes, the flow's steps
read the typed fields of ``Build.cfg`` (a :class:`FlowConfig`, validated once, its part resolved
once), and no step or resource model repeats a default as a keyword argument.
``fpga-flow config --schema`` prints this as JSON Schema (editors validate hls_configs/*.yml with
it); ``fpga-flow config CFG.yml`` prints a config with every default filled in, as the flow uses it.

Sections (the model section is a discriminated union: its family by ``model.name``, or the user's
saved model by ``model.path``):

    model         SqueezeNetOptions | ShuffleNetOptions (zoo, by name) | UserModelOptions (model.path)
    quantization  Quantization: bit widths of the zoo's quantizers (QKeras strings built here too)
    weights       WeightsSection: random calibrated weights or a trained QKeras model
    hls           HlsSection: the hls4ml project and the fit to the part (resolved once)
    train         TrainSection (fpga-flow train / accuracy only): training and its variants

An input error is one FlowError line naming the key and the fix (an unknown key: also the nearest
valid one).
"""
from __future__ import annotations

import difflib
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Optional, Union, get_args, get_origin

import yaml
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, StrictBool, StrictFloat, StrictInt,
                      StrictStr, Tag, ValidationError, WithJsonSchema, conlist, create_model, field_validator,
                      model_serializer, model_validator)

from .errors import FlowError
from .hls.backends import BACKENDS, URAM_ROLES
from .resources.parts import Part, resolve

SCHEMA_HINT = "'fpga-flow config --schema' lists every key"
Number = Union[StrictInt, StrictFloat]


def _num(**bounds):
    """An integer or a number within ``bounds`` (ge, gt, le, lt): the bounds on each branch, so the
    JSON Schema states them (on the union pydantic would write them as keys no validator reads)."""
    rounded = {"ge": math.ceil, "gt": math.floor, "le": math.floor, "lt": math.ceil}  # the same integers
    ints = {k: rounded[k](v) for k, v in bounds.items()}
    return Union[Annotated[StrictInt, Field(**ints)], Annotated[StrictFloat, Field(**bounds)]]

# the model zoo: name -> (family, one line for 'fpga-flow models'); the family's builders and its
# options are fpga_flow/models/<family>.py and <Family>Options below
MODELS = {
    "squeezenet1_0": ("squeezenet", "SqueezeNet v1.0 (Iandola et al. 2016, Table 1); bypass none|simple|complex; "
                                    "section-5 knobs"),
    "squeezenet1_1": ("squeezenet", "SqueezeNet v1.1 (2.4x fewer FLOPs than v1.0); bypass none|simple|complex; "
                                    "section-5 knobs"),
    "shufflenet_v1": ("shufflenet", "ShuffleNet v1 (Zhang et al. 2017, Table 1); groups 1|2|3|4|8, "
                                    "width 0.25|0.5|1.0|1.5|2.0"),
}

BITS_RANGE = (2, 16)  # widths of the zoo's quantizers
LAYER_INT_MAX = 16    # largest per-layer integer bits (quantization.layer_int, score_int)


def _f(default, fix: str, description: str = "", **kw):
    """A field with its default, the fix printed when its value is wrong (JSON Schema key 'fix') and
    its description (the schema's, shown by editors)."""
    return Field(default, description=description or None, json_schema_extra={"fix": fix}, **kw)


def _init(self, **data):
    try:
        BaseModel.__init__(self, **data)
    except ValidationError as e:
        raise schema_error(e, type(self), self.key) from None


_init.__pydantic_base_init__ = True  # pydantic validates nested sections without it: errors keep their full path


class _Section(BaseModel):
    """A config section: unknown keys refused; constructed directly (``Quantization(act_bits=4)``),
    a wrong value raises the same one-line FlowError as in a YAML file."""

    model_config = ConfigDict(extra="forbid")
    key: ClassVar[str] = ""  # the section's place in the config, for messages
    __init__ = _init


# ------------------------------------------------------------------------------------- model

def _pooled(n: int, k: int, stride: int, padding: str) -> int:
    return -(-n // stride) if padding == "same" else (n - k) // stride + 1


def _squeezenet_fits(n: int, k: int, stem_stride: int, pool_padding: str) -> bool:
    """conv1 (k x k / stem_stride) and three 3x3/2 pools leave at least one pixel of an n x n input."""
    m = _pooled(n, k, stem_stride, "valid")
    for _ in range(3):
        if m < 1 or (m < 3 and pool_padding == "valid"):
            return False
        m = _pooled(m, 3, 2, pool_padding)
    return m >= 1


class _ModelCommon(_Section):
    key: ClassVar[str] = "model"
    family: ClassVar[str] = ""
    input_shape: conlist(Annotated[StrictInt, Field(ge=1, le=8192)], min_length=3, max_length=3) = _f(
        [224, 224, 3], "use [height, width, channels], e.g. [224, 224, 3]", "input tensor (ImageNet: [224, 224, 3])")
    classes: Annotated[StrictInt, Field(ge=2, le=100_000)] = _f(
        1000, "use the number of classes, an integer >= 2, e.g. 10", "number of output classes")


def _names(family: str):
    return Literal[tuple(n for n, (f, _) in MODELS.items() if f == family)]


SqueezeNetName, ShuffleNetName = _names("squeezenet"), _names("shufflenet")


class SqueezeNetOptions(_ModelCommon):
    """model section of squeezenet1_0 / squeezenet1_1 (fpga_flow/models/squeezenet.py)."""

    family: ClassVar[str] = "squeezenet"
    name: SqueezeNetName = _f(..., "use squeezenet1_0 or squeezenet1_1", "the zoo model ('fpga-flow models')")
    bypass: Literal["none", "simple", "complex"] = _f("none", "use none, simple or complex",
                                                      "bypass connections (paper, section 6)")
    base_e: Annotated[StrictInt, Field(ge=2)] = _f(128, "use an integer >= 2 (paper: 128)", "expand filters of fire2")
    incr_e: Annotated[StrictInt, Field(ge=0)] = _f(128, "use an integer >= 0 (paper: 128)",
                                                   "expand filters added every freq fire modules")
    freq: Annotated[StrictInt, Field(ge=1)] = _f(2, "use an integer >= 1 (paper: 2)", "fire modules per increment")
    sr: _num(gt=0, le=1) = _f(0.125, "use a number in (0, 1] (paper: 0.125)",
                                                  "squeeze ratio: squeeze filters / expand filters")
    pct3x3: _num(gt=0, lt=1) = _f(0.5, "use a number in (0, 1) (paper: 0.5)",
                                                      "share of 3x3 expand filters")
    dropout: _num(ge=0, lt=1) = _f(0.5, "use a number in [0, 1) (paper: 0.5)",
                                                       "dropout rate after fire9 (training only)")
    stem_stride: Annotated[StrictInt, Field(ge=1, le=4)] = _f(
        2, "use 1 or 2 (2 as in the paper; 1 for inputs below 64x64)", "stride of conv1")
    pool_padding: Literal["valid", "same"] = _f("valid", "use valid or same", "padding of the max pools")

    @model_validator(mode="after")
    def _input_large_enough(self):
        version = "1.0" if self.name == "squeezenet1_0" else "1.1"
        k = 7 if version == "1.0" else 3
        h, w, _ = self.input_shape
        if not all(_squeezenet_fits(n, k, self.stem_stride, self.pool_padding) for n in (h, w)):
            lo = next(n for n in range(8, 4096) if _squeezenet_fits(n, k, self.stem_stride, self.pool_padding))
            raise FlowError(f"model.input_shape={list(self.input_shape)}: input {h}x{w} is too small for SqueezeNet "
                            f"v{version} (conv1 {k}x{k}/{self.stem_stride} and three 3x3/2 pools); use at least "
                            f"{lo}x{lo} or model.stem_stride=1")
        return self


class ShuffleNetOptions(_ModelCommon):
    """model section of shufflenet_v1 (fpga_flow/models/shufflenet.py)."""

    family: ClassVar[str] = "shufflenet"
    name: ShuffleNetName = _f(..., "use shufflenet_v1", "the zoo model ('fpga-flow models')")
    groups: Literal[1, 2, 3, 4, 8] = _f(3, "use one of 1, 2, 3, 4, 8 (the paper's)", "groups of the 1x1 convolutions")
    width: Literal[0.25, 0.5, 1.0, 1.5, 2.0] = _f(1.0, "use one of 0.25, 0.5, 1.0, 1.5, 2.0 (the paper's)",
                                                  "width multiplier")

    @model_validator(mode="after")
    def _input_large_enough(self):
        if min(self.input_shape[:2]) < 32:
            raise FlowError(f"model.input_shape={list(self.input_shape)}: input {self.input_shape[0]}x"
                            f"{self.input_shape[1]} is too small for ShuffleNet (five stride-2 layers); use at least "
                            "32x32")
        return self


class UserModelOptions(_Section):
    """model section of a user's saved QKeras model (``model: {path: my_net.h5}``, build --model)."""

    key: ClassVar[str] = "model"
    family: ClassVar[str] = "user"
    path: StrictStr = _f(..., "use the path of a model saved with model.save('NAME.h5') or .keras",
                         "your saved QKeras model (docs/your-own-model.md)")
    name: Optional[StrictStr] = _f(None, "use a name for reports", "name in reports (default: the file's stem)")
    input_bits: Optional[Annotated[StrictInt, Field(ge=2, le=32)]] = _f(
        None, "use 2..32: the input grid of a model without an input quantizer",
        "with input_int: the input quantizer quantized_bits(input_bits, input_int, alpha=1) put in front of a model "
        "that has none")
    input_int: Optional[Annotated[StrictInt, Field(ge=-8, le=31)]] = _f(
        None, "use the integer bits of quantized_bits(input_bits, input_int, alpha=1), e.g. 0",
        "integer bits of that input quantizer")

    @model_validator(mode="after")
    def _check(self):
        if (self.input_bits is None) != (self.input_int is None):
            raise FlowError("model.input_bits and model.input_int go together (quantized_bits(bits, int, alpha=1)); "
                            "set both")
        if self.name is None:
            self.name = Path(self.path).stem
        return self


FAMILY_OPTIONS = {c.family: c for c in (SqueezeNetOptions, ShuffleNetOptions, UserModelOptions)}


def _model_tag(v) -> str | None:
    if isinstance(v, BaseModel):
        return getattr(v, "family", None)
    if not isinstance(v, dict):
        return None
    if "path" in v:
        return "user"
    name = v.get("name")
    return MODELS[name][0] if isinstance(name, str) and name in MODELS else None


ModelOptions = Annotated[
    Union[Annotated[SqueezeNetOptions, Tag("squeezenet")], Annotated[ShuffleNetOptions, Tag("shufflenet")],
          Annotated[UserModelOptions, Tag("user")]],
    Discriminator(_model_tag, custom_error_type="model_name",
                  custom_error_message="model.name is not a model of the zoo and model.path is not set"),
]


def model_options(name: str, options: dict | None = None):
    """The typed options of zoo model ``name`` (defaults filled in; FlowError on a wrong value)."""
    if name not in MODELS:
        raise FlowError(f"model.name={name!r} is unknown; use one of {sorted(MODELS)} ('fpga-flow models' lists them)")
    return FAMILY_OPTIONS[MODELS[name][0]](name=name, **(options or {}))


# ------------------------------------------------------------------------------ quantization

_Bits = Annotated[StrictInt, Field(ge=BITS_RANGE[0], le=BITS_RANGE[1])]
_BITS_FIX = f"use an integer in {BITS_RANGE[0]}..{BITS_RANGE[1]}"
_NonNegInt = Annotated[StrictInt, Field(ge=0)]


class Quantization(_Section):
    """quantization section: the widths of a zoo model's quantizers. ``*_int`` are QKeras ``integer``
    arguments (sign bit excluded). Every quantizer the zoo emits has alpha=1 and round-half-to-even,
    so it maps exactly onto an ap_fixed/ap_ufixed type with AP_RND_CONV, AP_SAT (hls/precision.py)."""

    key: ClassVar[str] = "quantization"
    model_config = ConfigDict(extra="forbid", frozen=True)
    weight_bits: _Bits = _f(8, _BITS_FIX, "weight width")
    weight_int: _NonNegInt = _f(0, "use an integer in 0..weight_bits-1", "weight integer bits")
    bias_bits: _Bits = _f(8, _BITS_FIX, "bias width")
    bias_int: _NonNegInt = _f(3, "use an integer in 0..bias_bits-1", "bias integer bits")
    act_bits: _Bits = _f(8, _BITS_FIX, "activation width")
    act_int: _NonNegInt = _f(3, "use an integer in 0..act_bits-1", "activation integer bits")
    input_bits: _Bits = _f(8, _BITS_FIX, "input quantizer width")
    input_int: _NonNegInt = _f(0, "use an integer in 0..input_bits-1", "input quantizer integer bits")
    gap_bits: Optional[StrictInt] = _f(
        None, "use act_bits..32, or null for the family's default",
        "output width of the exact global average pool (same integer bits as the activations); null: the family's "
        "default (SqueezeNet 16: its pooled class scores are the output; ShuffleNet act_bits+3: the pool feeds the "
        "FC, whose float32 QKeras reference must stay exact)")
    score_int: Optional[StrictInt] = _f(
        None, f"use an integer in 0..{LAYER_INT_MAX} (above the scores' width the step grows), or null",
        "integer bits of the class scores (SqueezeNet's relu_conv10 and pool10); null: act_int")
    head_bits: Optional[_Bits] = _f(None, _BITS_FIX + ", or null",
                                    "width of the classifier (SqueezeNet: conv10 and its scores; ShuffleNet: the FC "
                                    "weights); null: weight_bits/act_bits")
    stem_bits: Optional[_Bits] = _f(None, _BITS_FIX + ", or null",
                                    "width of the first convolution and its activation; null: weight_bits/act_bits")
    layer_int: dict[StrictStr, StrictInt] = _f(
        {}, f"map layer names to integers 0..{LAYER_INT_MAX}, e.g. {{relu_conv1: 4}}",
        "per-layer integer bits of a quantized_relu or a convolution's bias, by layer name (written by training's "
        "rescale); empty: act_int/bias_int")
    layer_weight_int: dict[StrictStr, StrictInt] = _f(
        {}, "map layer names to integers 0..weight_bits-1", "per-layer weight integer bits by layer name")

    @model_validator(mode="after")
    def _ranges(self):
        def bad(key, value, use):
            raise FlowError(f"quantization.{key}={value!r} is out of range; {use}")

        for key in ("weight", "bias", "act", "input"):
            v, bits = getattr(self, f"{key}_int"), getattr(self, f"{key}_bits")
            if v >= bits:
                bad(f"{key}_int", v, f"use an integer in 0..{bits - 1}")
        if self.gap_bits is not None and not self.act_bits <= self.gap_bits <= 32:
            bad("gap_bits", self.gap_bits, "use act_bits..32")
        score_bits = max(self.act_bits, self.head_bits or 0)  # the class scores' width (see head())
        if self.score_int is not None and not 0 <= self.score_int <= LAYER_INT_MAX:
            bad("score_int", self.score_int, f"use an integer in 0..{LAYER_INT_MAX} (above the scores' width "
                                             f"{score_bits} the step grows)")
        if not all(0 <= v <= LAYER_INT_MAX for v in self.layer_int.values()):
            raise FlowError(f"quantization.layer_int must map layer names to integers 0..{LAYER_INT_MAX}, "
                            f"got {self.layer_int!r}")
        if not all(0 <= v < self.weight_bits for v in self.layer_weight_int.values()):
            raise FlowError(f"quantization.layer_weight_int must map layer names to integers "
                            f"0..{self.weight_bits - 1}, got {self.layer_weight_int!r}")
        return self

    def to_dict(self) -> dict:
        return self.model_dump()

    def head(self) -> "Quantization":
        """The widths of the classifier layer (head_bits for its weights and class scores)."""
        if self.head_bits is None:
            return self
        return self.model_copy(update=dict(weight_bits=self.head_bits, act_bits=max(self.head_bits, self.act_bits),
                                           head_bits=None))

    def stem(self) -> "Quantization":
        """The widths of the first convolution and its activation (stem_bits)."""
        if self.stem_bits is None:
            return self
        return self.model_copy(update=dict(weight_bits=self.stem_bits, act_bits=max(self.stem_bits, self.act_bits),
                                           stem_bits=None, head_bits=None, score_int=None))

    # QKeras quantizer strings (strings keep saved models loadable with QKeras' own deserializer)
    def weight_q(self, layer: str | None = None) -> str:
        return f"quantized_bits({self.weight_bits},{self.layer_weight_int.get(layer, self.weight_int)},alpha=1)"

    def bias_q(self, layer: str | None = None) -> str:
        return f"quantized_bits({self.bias_bits},{self.layer_int.get(layer, self.bias_int)},alpha=1)"

    def act_q(self, integer: int | None = None, layer: str | None = None) -> str:
        integer = self.act_int if integer is None else integer
        return f"quantized_relu({self.act_bits},{self.layer_int.get(layer, integer)})"

    def signed_act_q(self, layer: str | None = None) -> str:
        return f"quantized_bits({self.act_bits},{self.layer_int.get(layer, self.act_int)},alpha=1)"

    def input_q(self) -> str:
        return f"quantized_bits({self.input_bits},{self.input_int},alpha=1)"

    def gap_q(self, default_bits: int, integer: int | None = None, layer: str | None = None) -> str:
        """``default_bits``: the family's width when gap_bits is null."""
        bits = self.gap_bits if self.gap_bits is not None else max(default_bits, self.act_bits)
        return f"quantized_relu({bits},{self.layer_int.get(layer, self.act_int if integer is None else integer)})"


# ----------------------------------------------------------------------------------- weights

class WeightsSection(_Section):
    """weights section: where a zoo model's weights come from."""

    key: ClassVar[str] = "weights"
    source: StrictStr = _f("random", "use 'random' or the path of a saved QKeras model (.h5)",
                           "'random': deterministic weights calibrated on photos; or a trained QKeras model (.h5) of "
                           "the configured model and quantization")
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] = _f(0, "use an integer >= 0", "seed of the random weights")
    calibration_images: Annotated[StrictInt, Field(ge=1, le=10_000)] = _f(
        4, "use a number of images in 1..10000 (default 4)", "photos the random weights are calibrated on")


# --------------------------------------------------------------------------------------- hls

_NameMap = dict[StrictStr, Annotated[StrictInt, Field(ge=1)]]
_CUSTOM_PART_SCHEMA = {
    "type": "object", "required": ["name", "bram18k", "uram", "dsp", "lut", "ff"],
    "properties": {"name": {"type": "string"}, **{k: {"type": "integer", "minimum": 0}
                                                  for k in ("bram18k", "uram", "dsp", "lut", "ff")},
                   **{k: {"type": "string"} for k in ("board", "device", "family", "datasheet", "checked")}},
    "additionalProperties": False,
}


class HlsSection(_Section):
    """hls section: the hls4ml project and the fit to the part (fpga_flow.resources.fit): the share of
    BRAM/URAM/DSP the design may use, the weight packing efficiency to aim for, and per-layer /
    per-stream settings fixed by hand. The part is resolved once, when the section is validated
    (``part_info``); ``part`` then holds its part number (a custom part: its mapping)."""

    key: ClassVar[str] = "hls"
    backend: Literal[BACKENDS] = _f("Vitis", "use " + " or ".join(BACKENDS), "hls4ml backend (HLS tool)")
    part: Union[StrictStr, Annotated[dict, WithJsonSchema(_CUSTOM_PART_SCHEMA)]] = _f(
        "xczu7ev-ffvc1156-2-e", "use a part number, a board name (ZCU104) or a custom part mapping",
        "FPGA part number, device or board name ('fpga-flow parts'), a custom part mapping {name, bram18k, uram, "
        "dsp, lut, ff} or the path of a YAML file holding one")
    clock_period_ns: _num(ge=0.5, le=100) = _f(
        5.0, "use a number of nanoseconds in 0.5..100", "clock period")
    reuse_factor: Union[Literal["auto"], Annotated[StrictInt, Field(ge=1)]] = _f(
        "auto", "use 'auto' (fit to the part) or a positive integer",
        "'auto': per-layer reuse factors fitted to the part; or one integer for all layers")
    strategy: Literal["Resource", "Latency"] = _f("Resource", "use Resource or Latency", "hls4ml strategy")
    conv_kernel: Literal["stream", "hls4ml"] = _f(
        "stream", "use stream (fpga_flow's sliding window + matrix-vector unit, one input pixel per clock) or hls4ml "
                  "(hls4ml's line-buffer convolution)",
        "convolution kernel (Resource strategy; Latency keeps hls4ml's)")
    max_window_values: Annotated[StrictInt, Field(ge=1)] = _f(
        576, "use the widest conv window (K*K*C values) to stream through fpga_flow's kernels (default 576 = 3x3x64)",
        "widest conv window (K*K*C values) streamed through fpga_flow's sliding window + MVU; a wider conv keeps "
        "hls4ml's kernel (no window stream)")
    io_type: Literal["io_stream"] = _f("io_stream", "use io_stream (the flow streams whole feature maps)",
                                       "hls4ml IO type")
    uram_weights: Literal["auto", "off"] = _f(
        "auto", "use auto (weights may go to URAM, filled at start-up through the weight-load port) or off (every "
                "weight in a ROM of the bitstream)", "whether weight memories may go to URAM (Vitis)")
    target_fps: Optional[_num(gt=0)] = _f(
        None, "use a positive number of frames per second (the smallest design that meets it), or leave it unset for "
              "the fastest design that fits", "frame rate to meet with the smallest design; null: the fastest design "
                                                "that fits")
    memory_budget: _num(ge=0.05, le=1.0) = _f(
        0.9, "use a fraction in 0.05..1.0 (e.g. 0.9)", "share of the part's BRAM18K / URAM / DSP the design may use")
    min_packing: _num(ge=0.0, le=1.0) = _f(
        0.8, "use a fraction in 0..1 (0 = fastest plan)", "weight packing efficiency to aim for (weight bits / bits "
                                                          "of the memories holding them)")
    reuse_factors: _NameMap = _f(
        {}, "map layer names to positive integers, e.g. {conv10: 2048}", "per-layer reuse factors fixed by hand "
                                                                        "(checked for validity)")
    fifo_depths: _NameMap = _f(
        {}, "map stream names to positive integers, e.g. {fire2_concat_in0: 64}",
        "per-stream FIFO depths fixed by hand (checked against the deadlock-free minimum)")
    _part: Part | None = PrivateAttr(None)

    @field_validator("uram_weights", mode="before")
    @classmethod
    def _yaml_off(cls, v):  # YAML 1.1 reads an unquoted off/on as a boolean
        return {False: "off", True: "auto"}.get(v, v) if isinstance(v, bool) else v

    @field_validator("reuse_factors", "fifo_depths", mode="before")
    @classmethod
    def _empty(cls, v):  # 'fifo_depths:' with nothing after it (YAML null): none fixed
        return {} if v is None else v

    @model_validator(mode="after")
    def _resolve_part(self):
        self._part = resolve(self.part)
        self.part = self._part.to_dict() if isinstance(self.part, dict) else self._part.name
        return self

    @property
    def part_info(self) -> Part:
        """The part, resolved once (resources/parts.py)."""
        return self._part

    @property
    def uram_roles(self) -> tuple[str, ...]:
        """The memory kinds the fitter may bind to URAM (hls/backends.py; weights only with uram_weights: auto)."""
        return tuple(r for r in URAM_ROLES[self.backend] if r != "weights" or self.uram_weights == "auto")

    def fit_args(self) -> dict:
        """The keyword arguments of resources.fit.plan this section sets (it has no defaults of its own)."""
        return {"budget": float(self.memory_budget), "clock_ns": float(self.clock_period_ns),
                "uniform_rf": None if self.reuse_factor == "auto" else int(self.reuse_factor),
                "fixed_rf": self.reuse_factors, "fixed_depths": self.fifo_depths,
                "min_packing": float(self.min_packing), "uram_roles": self.uram_roles, "target_fps": self.target_fps}


# ------------------------------------------------------------------------------------- train

class Augment(_Section):
    key: ClassVar[str] = "train.augment"
    shift: Annotated[StrictInt, Field(ge=0)] = _f(2, "use a number of pixels >= 0", "random shift (zero fill)")
    flip: StrictBool = _f(True, "use true or false", "random horizontal flip")


def _variant_fields() -> dict:
    """A variant's quantization overrides: every quantization key, optional (null: the config's)."""
    out = {}
    for name, f in Quantization.model_fields.items():
        extra = f.json_schema_extra or {}
        out[name] = (Optional[f.rebuild_annotation()], Field(None, description=f"overrides quantization.{name}",
                                                              json_schema_extra=dict(extra)))
    return out


class _VariantTraining(_Section):
    key: ClassVar[str] = "train.variants.*"
    rescale: StrictBool = _f(False, "use true or false", "power-of-two rescaling and per-layer ranges before QAT "
                                                          "(the family's rescale_for_quantization)")
    distill: StrictBool = _f(False, "use true or false", "distil from the float model during QAT")
    qat_epochs: Optional[Annotated[StrictInt, Field(ge=0)]] = _f(None, "use a non-negative integer",
                                                                 "QAT epochs; null: train.qat_epochs")
    qat_lr: Optional[_num(ge=0)] = _f(None, "use a non-negative number",
                                                          "QAT learning rate; null: train.qat_lr")
    qat_temperature: _num(gt=0) = _f(1, "use a positive number (1: plain softmax)",
                                                         "softmax temperature of the QAT losses")

    @model_serializer(mode="wrap")
    def _only_set(self, handler):  # a variant lists the quantization keys it overrides
        return {k: v for k, v in handler(self).items() if v is not None or k in ("qat_epochs", "qat_lr")}


Variant = create_model("Variant", __base__=_VariantTraining, __doc__="one entry of train.variants: quantization "
                       "overrides (null: the quantization section's value) and how the variant is trained",
                       **_variant_fields())
TRAINING_KEYS = tuple(_VariantTraining.model_fields)  # keys of a variant that steer training, not quantization


class TrainSection(_Section):
    """train section ('fpga-flow train' and 'fpga-flow accuracy' only; fpga_flow/train.py)."""

    key: ClassVar[str] = "train"
    data_dir: Optional[StrictStr] = _f(None, "use the folder of the four Fashion-MNIST *-ubyte(.gz) files, or null",
                                       "Fashion-MNIST files; null: the Debian package dataset-fashion-mnist")
    out: StrictStr = _f("weights/fmnist", "use a folder", "where the trained weights and provenance go")
    tag: Optional[StrictStr] = _f(None, "use a file name prefix", "file name prefix; null: model.name")
    checkpoint_dir: StrictStr = _f("build/checkpoints", "use a folder", "per-epoch checkpoints (--resume)")
    seed: Annotated[StrictInt, Field(ge=0)] = _f(0, "use a non-negative integer", "seed of data order, augmentation, "
                                                                                  "initialisation")
    batch_size: Annotated[StrictInt, Field(ge=1)] = _f(128, "use a positive integer", "batch size")
    epochs: Annotated[StrictInt, Field(ge=0)] = _f(20, "use a non-negative integer", "float training epochs")
    lr: _num(ge=0) = _f(0.002, "use a non-negative number", "float training learning rate (Adam, "
                                                                                 "cosine decay)")
    qat_epochs: Annotated[StrictInt, Field(ge=0)] = _f(5, "use a non-negative integer", "QAT epochs per variant")
    qat_lr: _num(ge=0) = _f(0.0005, "use a non-negative number", "QAT learning rate")
    subset: Optional[Annotated[StrictInt, Field(ge=1)]] = _f(
        None, "use a positive number of images or null (all)", "train on the first N training images only (quick "
                                                                  "checks); null: all 60,000")
    augment: Augment = _f(Augment(), "use {shift: PIXELS, flip: true|false}", "training augmentation")
    variants: Annotated[dict[StrictStr, Variant], Field(min_length=1)] = _f(
        {"w8": {"weight_bits": 8, "act_bits": 8}},
        "map variant names to quantization overrides, e.g. {w8: {weight_bits: 8, act_bits: 8}}",
        "QAT variants: name -> quantization overrides and training keys", validate_default=True)

    @field_validator("augment", mode="before")
    @classmethod
    def _augment_null(cls, v):
        return {} if v is None else v


# --------------------------------------------------------------------------------- the config

class FlowConfig(_Section):
    """A whole flow config (the YAML files in hls_configs/)."""

    model: ModelOptions = _f(..., "add a model section: model.name (a zoo model, 'fpga-flow models') or model.path "
                                  "(your saved QKeras model)", "the model: a zoo model by name, or your saved model")
    quantization: Quantization = _f(Quantization(), "see the quantization keys", "bit widths of the zoo model")
    weights: WeightsSection = _f(WeightsSection(), "see the weights keys", "weights of the zoo model")
    hls: HlsSection = _f(HlsSection(), "see the hls keys", "the hls4ml project and the fit to the part")
    train: Optional[TrainSection] = _f(None, "see the train keys", "training ('fpga-flow train'); null: none")

    @field_validator("quantization", "weights", "hls", mode="before")
    @classmethod
    def _null_section(cls, v):  # 'hls:' with nothing after it: all defaults
        return {} if v is None else v

    @model_validator(mode="after")
    def _check(self):
        if isinstance(self.model, UserModelOptions):
            _check_user_model(self)
            return self
        if self.weights.source != "random":
            check_weights_file(self.weights.source)
        if self.train is not None:
            for v in self.train.variants:
                try:
                    variant_quant(self, v, calibrated=False)
                except FlowError as e:
                    raise FlowError(f"train.variants.{v}: {e}") from None
        return self

    @property
    def user_model(self) -> bool:
        return isinstance(self.model, UserModelOptions)


def _check_user_model(cfg: FlowConfig) -> None:
    """A config whose model is the user's saved model (model.path): its own quantizers are used."""
    if cfg.quantization.model_fields_set:
        raise FlowError(f"quantization {sorted(cfg.quantization.model_fields_set)} does not apply to model.path (the "
                        "model's own quantizers are used); remove the quantization section")
    if cfg.weights.source != "random":
        raise FlowError("weights.source does not apply to model.path (the saved model holds its weights); remove it")
    if cfg.train is not None:
        raise FlowError("train does not apply to model.path (fpga-flow train trains the zoo's models); remove it")
    p = Path(cfg.model.path)
    if not p.is_file():
        raise FlowError(f"model.path {cfg.model.path!r}: file not found; pass a model saved with model.save('NAME.h5')")
    if p.suffix not in (".h5", ".hdf5", ".keras"):
        raise FlowError(f"model.path {cfg.model.path}: use a Keras model file (.h5 or .keras), not "
                        f"{p.suffix or 'no suffix'}")
    if p.suffix != ".keras":
        check_weights_file(str(p), key="model.path")


SECTIONS = tuple(FlowConfig.model_fields)


# ------------------------------------------------------------------------- reading a config

def load(path: str | Path, overrides: list[str] | None = None, part: str | None = None) -> FlowConfig:
    """The config in YAML file ``path`` with ``--set`` overrides and ``--part``, validated."""
    p = Path(path)
    if not p.is_file():
        raise FlowError(f"config file {p} not found; pass a YAML file such as hls_configs/squeezenet1_1_224_w8_zcu104.yml")
    try:
        raw = yaml.safe_load(p.read_text())
    except (UnicodeDecodeError, OSError) as e:
        raise FlowError(f"cannot read {p} as a text file ({type(e).__name__}); pass a YAML config") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where else ""
        raise FlowError(f"malformed YAML in {p}{at}: {getattr(e, 'problem', e)}; fix the syntax") from None
    if not isinstance(raw, dict):
        raise FlowError(f"{p} must hold a YAML mapping with sections {list(SECTIONS)}")
    _check_sections(raw, str(p))
    for item in overrides or []:
        apply_set(raw, item)
    if part:
        raw.setdefault("hls", {})["part"] = part
    model = raw.get("model")
    if isinstance(model, dict) and isinstance(model.get("path"), str):
        model["path"] = _relative_to_config(model["path"], p)
    w = raw.get("weights")
    if isinstance(w, dict) and isinstance(w.get("source"), str) and w["source"] != "random":
        w["source"] = _relative_to_config(w["source"], p)
    return validate(raw)


def _check_sections(raw: dict, where: str) -> None:
    for s in raw:
        if s not in SECTIONS:
            raise FlowError(f"unknown section {s!r} in {where}; nearest valid section: {nearest(str(s), SECTIONS)!r} "
                            f"(valid sections: {list(SECTIONS)})")
    for s in SECTIONS:
        if s in raw and raw[s] is not None and not isinstance(raw[s], dict):
            raise FlowError(f"section '{s}' in {where} must be a mapping, not {raw[s]!r}")


def _relative_to_config(path: str, config_path: Path) -> str:
    """A file path as given if it exists (relative to the working directory), else relative to the
    config's folder or its parent (the repository), else unchanged (validation names it)."""
    if Path(path).is_absolute() or Path(path).is_file():
        return path
    for base in (config_path.parent, config_path.parent.parent):
        if (base / path).is_file():
            return str(base / path)
    return path


def for_model(path: str | Path, overrides: list[str] | None = None, part: str | None = None,
              input_bits: int | None = None, input_int: int | None = None,
              config: str | Path | None = None) -> FlowConfig:
    """The config of ``build --model PATH``: the user's saved model (model.path), the hls section of
    ``config`` if given (its model/quantization/weights sections are not used), then --set and --part."""
    model = {"path": str(path)}
    if input_bits is not None:
        model["input_bits"] = input_bits
    if input_int is not None:
        model["input_int"] = input_int
    raw = {"model": model, "hls": load(config).hls.model_dump(mode="json") if config else {}}
    for item in overrides or []:
        apply_set(raw, item)
    if part:
        raw["hls"]["part"] = part
    return validate(raw)


def apply_set(raw: dict, item: str) -> None:
    """``--set SECTION.KEY=VALUE`` (a YAML value) into a raw config mapping."""
    if "=" not in item:
        raise FlowError(f"--set {item!r}: expected key=value, e.g. --set model.bypass=simple")
    key, val = item.split("=", 1)
    parts = key.strip().split(".")
    if parts[0] not in SECTIONS or len(parts) != 2:
        raise FlowError(f"--set {key!r}: key must be SECTION.KEY with SECTION one of {list(SECTIONS)}")
    try:
        value = yaml.safe_load(val)
    except yaml.YAMLError:
        value = val
    section = raw.get(parts[0])
    if section is None:
        section = raw[parts[0]] = {}
    if not isinstance(section, dict):
        raise FlowError(f"--set {key}: section '{parts[0]}' must be a mapping, not {section!r}")
    section[parts[1]] = value


def validate(raw: dict) -> FlowConfig:
    """A raw config mapping checked against the schema: the typed config, defaults filled in, the
    part resolved; FlowError naming the key and the fix."""
    if isinstance(raw, FlowConfig):
        return raw
    if not isinstance(raw, dict):
        raise FlowError(f"a config is a mapping with sections {list(SECTIONS)}, not {type(raw).__name__}")
    _check_sections(raw, "the config")
    try:
        return FlowConfig.model_validate(raw)
    except ValidationError as e:
        raise schema_error(e, FlowConfig) from None


def check_weights_file(src: str, key: str = "weights.source") -> None:
    """A model file (``key``: the config key that names it) must be a complete Keras HDF5 model (read
    every dataset: a truncated or corrupt file fails here, before any work)."""
    p = Path(src)
    if not p.is_file():
        raise FlowError(f"{key} {src!r}: file not found; use 'random' or a saved QKeras model (.h5)")
    import h5py

    try:
        with h5py.File(p, "r") as f:
            if "model_config" not in f.attrs:
                raise FlowError(f"{key} {src}: not a saved Keras model (no model_config); save the whole "
                                "QKeras model with model.save('NAME.h5')")
            f.visititems(lambda _n, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
    except FlowError:
        raise
    except Exception as e:  # h5py raises OSError, KeyError, RuntimeError... on damaged files
        raise FlowError(f"{key} {src}: cannot be read as an HDF5 model ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:80] if str(e) else 'damaged'}); the file is truncated or corrupt: "
                        "copy or re-export it") from None


# --------------------------------------------------------------------- errors and the schema

def nearest(word: str, choices) -> str | None:
    """The valid name closest to ``word`` (difflib's ratio), for 'did you mean' in messages."""
    got = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.0)
    return got[0] if got else None


# pydantic's branch tags in an error location (a union member or a constrained type), not keys
_BRANCH = re.compile(r"^(function-[\w-]+\[.*\]|constrained-\w+|literal\[.*\]|int|float|str|bool|dict|list|"
                     r"Strict\w+|tagged-union\[.*\]|is-instance\[.*\]|json-or-python\[.*\]|nullable\[.*\]|"
                     r"lax-or-strict\[.*\]|chain\[.*\]|union\[.*\])$")


def _inner(ann):
    """What a field's values are: a section class, {tag: section class} (the model union),
    ('dict', what its values are), or None (a plain value)."""
    origin = get_origin(ann)
    if origin is Annotated:
        return _inner(get_args(ann)[0])
    if origin is Union:
        args = [a for a in get_args(ann) if a is not type(None)]
        tags = {m.tag: get_args(a)[0] for a in args if get_origin(a) is Annotated
                for m in get_args(a)[1:] if isinstance(m, Tag)}
        if tags:
            return tags
        inner = [x for x in map(_inner, args) if x is not None]
        return inner[0] if len(inner) == 1 else None
    if origin is dict:
        return ("dict", _inner(get_args(ann)[1]))
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    return None


def _locate(root: type[BaseModel], loc) -> tuple[list[str], str | None, Any]:
    """(the key path, the fix of the deepest field named, what holds the last key) of a pydantic
    error location."""
    at: Any = root
    path, fix, parent = [], None, root
    for t in map(str, loc):
        parent = at
        if isinstance(at, type) and issubclass(at, BaseModel) and t in at.model_fields:
            f = at.model_fields[t]
            path.append(t)
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            fix = extra.get("fix", fix)
            at = _inner(f.annotation)
        elif isinstance(at, dict) and t in at:  # the model union's tag
            at = at[t]
        elif isinstance(at, tuple) and at[0] == "dict":  # a mapping's key
            path.append(t)
            at = at[1]
        elif _BRANCH.match(t):
            continue
        else:
            path.append(t)
            at = None
    return path, fix, parent


def schema_error(e: ValidationError, root: type[BaseModel], prefix: str = "") -> FlowError:
    """One FlowError line for pydantic's first error: the key, the value, why, and the fix."""
    err = e.errors()[0]
    path, fix, parent = _locate(root, err["loc"])
    full = ([prefix] if prefix else []) + path
    key = ".".join(full)
    if err["type"] == "extra_forbidden":
        valid = list(getattr(parent, "model_fields", {})) if isinstance(parent, type) else []
        where = ".".join(full[:-1]) or "the config"
        near = nearest(path[-1], valid)
        return FlowError(f"unknown key {key!r}; nearest valid key: "
                         f"{(where + '.' if full[:-1] else '') + str(near)!r} (valid keys of {where}: {valid})")
    if err["type"] == "model_name":
        got = err.get("input", {})
        name = got.get("name") if isinstance(got, dict) else got
        return FlowError(f"{key}.name={name!r} is unknown; use one of {sorted(MODELS)} ('fpga-flow models' lists "
                         "them), or model.path for your own saved model")
    if err["type"] == "missing":
        return FlowError(f"{key} is missing; {fix or 'add it'}")
    # a union (e.g. 'auto' or an integer >= 1) fails once per branch: say every branch's reason
    msgs = []
    for other in e.errors():
        if _locate(root, other["loc"])[0] == path and other["msg"] not in msgs:
            msgs.append(other["msg"])
    msg = " or ".join(m[0].lower() + m[1:] for m in msgs) or err["msg"]
    val = err.get("input")
    shown = repr(val) if len(repr(val)) <= 60 else repr(val)[:57] + "..."
    return FlowError(f"{key}={shown} is invalid ({msg}); {fix or SCHEMA_HINT}")


def json_schema() -> dict:
    """The JSON Schema of a flow config (draft 2020-12): every key with its type, default,
    description and ``fix`` (the hint printed when a value is wrong)."""
    s = FlowConfig.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://github.com/fpga_flow/fpga_flow/flow-config.schema.json",
            **s, "title": "fpga_flow config (hls_configs/*.yml)"}


def dump(cfg: FlowConfig) -> dict:
    """The config as plain JSON data (flow.json's "config", 'fpga-flow config CFG.yml')."""
    return cfg.model_dump(mode="json")


# ------------------------------------------------------------------ a config's trained variants
# (fpga-flow train, fpga-flow accuracy): a variant's quantization and file names from the config alone

def variant_quant(cfg: FlowConfig, variant: str, *, calibrated: bool = True) -> Quantization:
    """The quantization of ``variant`` (the config's, with the variant's overrides). For a
    ``rescale`` variant, with ``calibrated``: plus the per-layer integer bits that its training
    recorded in the provenance (an error if it was not trained yet)."""
    v = cfg.train.variants[variant]
    over = {k: getattr(v, k) for k in v.model_fields_set if k not in TRAINING_KEYS}
    q = {**cfg.quantization.model_dump(exclude_unset=True), **over}
    if v.rescale and calibrated:
        prov_path = Path(cfg.train.out) / f"{tag_of(cfg)}.json"
        rec = json.loads(prov_path.read_text()).get("qat", {}).get(variant, {}) if prov_path.is_file() else {}
        if "rescale" not in rec:
            raise FlowError(f"variant {variant} (rescale: true) has no calibration in {prov_path}; "
                            f"train it first: fpga-flow train CONFIG --stage qat --variant {variant}")
        q.update(rec["rescale"])
    return Quantization(**q)


def tag_of(cfg: FlowConfig) -> str:
    return cfg.train.tag or cfg.model.name


def weights_path(cfg: FlowConfig, variant: str) -> Path:
    return Path(cfg.train.out) / f"{tag_of(cfg)}_{variant}.h5"
