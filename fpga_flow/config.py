"""Flow configuration: the YAML files in hls_configs/, validated, with --set overrides."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError, conlist,
                      field_validator)

from .errors import FlowError
from .models import MODELS
from .models.quant import QuantSpec
from .resources.parts import resolve



def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def load(path: str | Path, overrides: list[str] | None = None, part: str | None = None) -> dict:
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
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise FlowError(f"unknown section(s) {unknown} in {p}; valid sections: {list(SECTIONS)}")
    for s in SECTIONS:
        if s in raw and not isinstance(raw[s], dict):
            raise FlowError(f"section '{s}' in {p} must be a mapping")
    cfg = _merge(DEFAULTS, raw)
    for item in overrides or []:
        apply_set(cfg, item)
    if part:
        cfg["hls"]["part"] = part
    mpath = cfg["model"].get("path")
    if isinstance(mpath, str):
        cfg["model"]["path"] = _relative_to_config(mpath, p)
    src = cfg["weights"].get("source", "random")
    if src != "random":
        cfg["weights"]["source"] = _relative_to_config(str(src), p)
    return validate(cfg)


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
              input_bits: int | None = None, input_int: int | None = None, config: str | Path | None = None) -> dict:
    """The config of ``build --model PATH``: the user's saved model (model.path), the hls section of
    ``config`` if given (its model/quantization/weights sections are replaced), then --set and --part."""
    base = load(config) if config else copy.deepcopy(DEFAULTS)
    model = {"path": str(path)}
    if input_bits is not None:
        model["input_bits"] = input_bits
    if input_int is not None:
        model["input_int"] = input_int
    cfg = _merge(DEFAULTS, {"hls": base["hls"], "train": {}})
    cfg["model"] = model
    for item in overrides or []:
        apply_set(cfg, item)
    if part:
        cfg["hls"]["part"] = part
    return validate(cfg)


def apply_set(cfg: dict, item: str) -> None:
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
    cfg[parts[0]][parts[1]] = value


# ------------------------------------------------------------------ schema
# One schema for every key of a flow config: type, range or allowed values, and the fix to print.
# Defaults of the model options live in the builders (fpga_flow/models/), the others in the sections
# below (DEFAULTS is made from them); the validated config is a nested dict (model options: only the
# keys the user set). The flow reads the hls section typed (flow.Build.hls = HlsSection).

Number = Union[StrictInt, StrictFloat]


def _fix(text: str):
    return {"fix": text}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ModelCommon(_Section):
    name: StrictStr
    input_shape: Optional[conlist(Annotated[StrictInt, Field(ge=1, le=8192)], min_length=3, max_length=3)] = Field(
        None, json_schema_extra=_fix("use [height, width, channels], e.g. [224, 224, 3]"))
    classes: Optional[Annotated[StrictInt, Field(ge=2, le=100_000)]] = Field(
        None, json_schema_extra=_fix("use the number of classes, an integer >= 2, e.g. 10"))


class SqueezeNetOptions(_ModelCommon):
    """model: section of squeezenet1_0 / squeezenet1_1 (see fpga_flow/models/squeezenet.py)."""

    bypass: Optional[Literal["none", "simple", "complex"]] = Field(None, json_schema_extra=_fix("use none, simple or complex"))
    base_e: Optional[Annotated[StrictInt, Field(ge=2)]] = Field(None, json_schema_extra=_fix("use an integer >= 2 (paper: 128)"))
    incr_e: Optional[Annotated[StrictInt, Field(ge=0)]] = Field(None, json_schema_extra=_fix("use an integer >= 0 (paper: 128)"))
    freq: Optional[Annotated[StrictInt, Field(ge=1)]] = Field(None, json_schema_extra=_fix("use an integer >= 1 (paper: 2)"))
    sr: Optional[Annotated[Number, Field(gt=0, le=1)]] = Field(None, json_schema_extra=_fix("use a number in (0, 1] (paper: 0.125)"))
    pct3x3: Optional[Annotated[Number, Field(gt=0, lt=1)]] = Field(None, json_schema_extra=_fix("use a number in (0, 1) (paper: 0.5)"))
    dropout: Optional[Annotated[Number, Field(ge=0, lt=1)]] = Field(None, json_schema_extra=_fix("use a number in [0, 1) (paper: 0.5)"))
    stem_stride: Optional[Annotated[StrictInt, Field(ge=1, le=4)]] = Field(
        None, json_schema_extra=_fix("use 1 or 2 (2 as in the paper; 1 for inputs below 64x64)"))
    pool_padding: Optional[Literal["valid", "same"]] = Field(None, json_schema_extra=_fix("use valid or same"))


class ShuffleNetOptions(_ModelCommon):
    """model: section of shufflenet_v1 (see fpga_flow/models/shufflenet.py)."""

    groups: Optional[Literal[1, 2, 3, 4, 8]] = Field(None, json_schema_extra=_fix("use one of 1, 2, 3, 4, 8 (the paper's)"))
    width: Optional[Literal[0.25, 0.5, 1.0, 1.5, 2.0]] = Field(
        None, json_schema_extra=_fix("use one of 0.25, 0.5, 1.0, 1.5, 2.0 (the paper's)"))


FAMILY_OPTIONS = {"squeezenet": SqueezeNetOptions, "shufflenet": ShuffleNetOptions}


class UserModelOptions(_Section):
    """model: section of a user's saved QKeras model (``model: {path: my_net.h5}``, build --model)."""

    path: StrictStr = Field(json_schema_extra=_fix("use the path of a model saved with model.save('NAME.h5') or .keras"))
    name: Optional[StrictStr] = Field(None, json_schema_extra=_fix("use a name for reports (default: the file's stem)"))
    input_bits: Optional[Annotated[StrictInt, Field(ge=2, le=32)]] = Field(
        None, json_schema_extra=_fix("use 2..32: the input grid of a model without an input quantizer"))
    input_int: Optional[Annotated[StrictInt, Field(ge=-8, le=31)]] = Field(
        None, json_schema_extra=_fix("use the integer bits of quantized_bits(input_bits, input_int, alpha=1), e.g. 0"))


class WeightsSection(_Section):
    """weights: where the zoo model's weights come from."""

    source: StrictStr = Field("random", json_schema_extra=_fix("use 'random' or the path of a saved QKeras model (.h5)"))
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] = Field(0, json_schema_extra=_fix("use an integer >= 0"))
    calibration_images: Annotated[StrictInt, Field(ge=1, le=10_000)] = Field(
        4, json_schema_extra=_fix("use a number of images in 1..10000 (default 4)"))


_NameMap = Optional[dict[StrictStr, Annotated[StrictInt, Field(ge=1)]]]


class HlsSection(_Section):
    """hls: the hls4ml project and the fit to the part (fpga_flow.resources.fit): the share of
    BRAM/URAM/DSP the design may use, the weight packing efficiency to aim for, and per-layer /
    per-stream settings fixed by hand."""

    backend: Literal["Vitis", "Vivado"] = Field("Vitis", json_schema_extra=_fix("use Vitis or Vivado"))
    part: Union[StrictStr, dict] = Field(
        "xczu7ev-ffvc1156-2-e", json_schema_extra=_fix("use a part number, a board name (ZCU104) or a custom part mapping"))
    clock_period_ns: Annotated[Number, Field(ge=0.5, le=100)] = Field(
        5.0, json_schema_extra=_fix("use a number of nanoseconds in 0.5..100"))
    reuse_factor: Union[Literal["auto"], Annotated[StrictInt, Field(ge=1)]] = Field(
        "auto", json_schema_extra=_fix("use 'auto' (fit to the part) or a positive integer"))
    strategy: Literal["Resource", "Latency"] = Field("Resource", json_schema_extra=_fix("use Resource or Latency"))
    conv_kernel: Literal["stream", "hls4ml"] = Field(
        "stream", json_schema_extra=_fix("use stream (fpga_flow's sliding window + matrix-vector unit, one input pixel "
                                         "per clock) or hls4ml (hls4ml's line-buffer convolution)"))
    max_window_values: Annotated[StrictInt, Field(ge=1)] = Field(
        576, json_schema_extra=_fix("use the widest conv window (K*K*C values) to stream through fpga_flow's kernels "
                                    "(default 576 = 3x3x64); a wider conv keeps hls4ml's kernel (no window stream)"))
    io_type: Literal["io_stream"] = Field(
        "io_stream", json_schema_extra=_fix("use io_stream (the flow streams whole feature maps)"))
    uram_weights: Literal["auto", "off"] = Field(
        "auto", json_schema_extra=_fix("use auto (weights may go to URAM, filled at start-up through the weight-load "
                                       "port) or off (every weight in a ROM of the bitstream)"))
    @field_validator("uram_weights", mode="before")
    @classmethod
    def _yaml_off(cls, v):  # YAML 1.1 reads an unquoted off/on as a boolean
        return {False: "off", True: "auto"}.get(v, v) if isinstance(v, bool) else v

    target_fps: Optional[Annotated[Number, Field(gt=0)]] = Field(
        None, json_schema_extra=_fix("use a positive number of frames per second (the smallest design that meets "
                                     "it), or leave it unset for the fastest design that fits"))
    memory_budget: Annotated[Number, Field(ge=0.05, le=1.0)] = Field(
        0.9, json_schema_extra=_fix("use a fraction in 0.05..1.0 (e.g. 0.9)"))
    min_packing: Annotated[Number, Field(ge=0.0, le=1.0)] = Field(
        0.8, json_schema_extra=_fix("use a fraction in 0..1 (0 = fastest plan)"))
    reuse_factors: _NameMap = Field(
        default_factory=dict, json_schema_extra=_fix("map layer names to positive integers, e.g. {conv10: 2048}"))
    fifo_depths: _NameMap = Field(
        default_factory=dict, json_schema_extra=_fix("map stream names to positive integers, e.g. {fire2_concat_in0: 64}"))


DEFAULTS = {
    "model": {"name": None},
    "quantization": {},  # fpga_flow.models.quant.QuantSpec holds its defaults
    "weights": WeightsSection().model_dump(),
    "hls": HlsSection().model_dump(),
    "train": {},  # 'fpga-flow train' only (TRAIN_DEFAULTS below lists the keys and defaults)
}
SECTIONS = tuple(DEFAULTS)


class FlowConfig(_Section):
    """A whole flow config (the YAML files in hls_configs/)."""

    model: dict
    quantization: dict = {}  # fpga_flow.models.quant.QuantSpec (a dataclass with its own checks)
    weights: WeightsSection = WeightsSection()
    hls: HlsSection = HlsSection()
    train: dict = {}  # validate_train


def _schema_error(e: ValidationError, root: type[BaseModel], prefix: str = "") -> FlowError:
    err = e.errors()[0]
    loc = [str(x) for x in err["loc"]]
    # drop pydantic's union/literal branch tags (e.g. 'constrained-int', 'literal['auto']')
    path = [x for x in loc if not (x.startswith(("function-", "constrained-", "literal[")) or x in (
        "int", "float", "str", "dict", "list", "StrictInt", "StrictFloat", "StrictStr"))]
    key = ".".join([prefix] + path if prefix else path)
    fix = None
    model = root
    for part in path:
        f = getattr(model, "model_fields", {}).get(part)
        if f is None:
            break
        extra = f.json_schema_extra or {}
        fix = extra.get("fix", fix) if isinstance(extra, dict) else fix
        ann = f.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        if model is None:
            break
    if err["type"] == "extra_forbidden":
        valid = sorted(getattr(model, "model_fields", {}) if model is not None else [])
        parent = ".".join([prefix] + path[:-1] if prefix else path[:-1])
        return FlowError(f"unknown key {key!r}; valid keys of {parent or 'the config'}: {valid}")
    if err["type"] == "missing":
        return FlowError(f"{key} is missing; {fix or 'add it'}")
    # a union (e.g. 'auto' or an integer >= 1) fails once per branch: say every branch's reason
    msgs = []
    for other in e.errors():
        if [x for x in map(str, other["loc"]) if x in path] == path and other["msg"] not in msgs:
            msgs.append(other["msg"])
    err = dict(err, msg=" or ".join(m[0].lower() + m[1:] for m in msgs) or err["msg"])
    val = err.get("input")
    shown = repr(val) if len(repr(val)) <= 60 else repr(val)[:57] + "..."
    return FlowError(f"{key}={shown} is invalid ({err['msg']}); {fix or 'see the commented example hls_configs/squeezenet1_1_224_w8_zcu104.yml'}")


def validate(cfg: dict) -> dict:
    """Check every key of ``cfg`` against the schema (FlowError naming the key and the fix) and
    return it as a nested dict (model options: only those set; other sections: with defaults)."""
    try:
        top = FlowConfig.model_validate(cfg)
    except ValidationError as e:
        raise _schema_error(e, FlowConfig) from None
    if top.model.get("path") is not None:
        return _validate_user(top)
    name = top.model.get("name")
    if not isinstance(name, str) or name not in MODELS:
        raise FlowError(f"model.name={name!r} is unknown; use one of {sorted(MODELS)} ('fpga-flow models' lists them)")
    options_model = FAMILY_OPTIONS[MODELS[name][0]]
    try:
        opts = options_model.model_validate(top.model)
    except ValidationError as e:
        if e.errors()[0]["type"] == "extra_forbidden":
            bad = e.errors()[0]["loc"][0]
            raise FlowError(f"unknown model option {bad!r} for {name}; valid: "
                            f"{sorted(set(options_model.model_fields) - {'name'})}") from None
        raise _schema_error(e, options_model, "model") from None
    QuantSpec.from_dict(top.quantization)  # raises on bad bits
    hls = top.hls.model_dump()
    for key in ("reuse_factors", "fifo_depths"):
        hls[key] = hls[key] or {}
    part = resolve(hls["part"])
    hls["part"] = part.to_dict() if isinstance(hls["part"], dict) else part.name
    out = {"model": opts.model_dump(exclude_unset=True), "quantization": dict(top.quantization),
           "weights": top.weights.model_dump(), "hls": hls, "train": dict(top.train)}
    if out["model"].get("input_shape") is not None:
        out["model"]["input_shape"] = list(out["model"]["input_shape"])
    if out["train"]:
        out["train"] = validate_train(out["train"])
        for v in out["train"]["variants"]:
            variant_quant(out, v, calibrated=False)
    src = out["weights"]["source"]
    if src != "random":
        check_weights_file(src)
    return out


def _validate_user(top: "FlowConfig") -> dict:
    """A config whose model is the user's saved model (model.path): its own quantizers are used."""
    try:
        opts = UserModelOptions.model_validate({k: v for k, v in top.model.items() if v is not None})
    except ValidationError as e:
        if e.errors()[0]["type"] == "extra_forbidden":
            bad = e.errors()[0]["loc"][0]
            raise FlowError(f"unknown model option {bad!r} for model.path; valid: "
                            f"{sorted(UserModelOptions.model_fields)}") from None
        raise _schema_error(e, UserModelOptions, "model") from None
    if top.quantization:
        raise FlowError(f"quantization {sorted(top.quantization)} does not apply to model.path (the model's own "
                        "quantizers are used); remove the quantization section")
    if top.weights.source != "random":
        raise FlowError("weights.source does not apply to model.path (the saved model holds its weights); remove it")
    if (opts.input_bits is None) != (opts.input_int is None):
        raise FlowError("model.input_bits and model.input_int go together (quantized_bits(bits, int, alpha=1)); set both")
    p = Path(opts.path)
    if not p.is_file():
        raise FlowError(f"model.path {opts.path!r}: file not found; pass a model saved with model.save('NAME.h5')")
    if p.suffix not in (".h5", ".hdf5", ".keras"):
        raise FlowError(f"model.path {opts.path}: use a Keras model file (.h5 or .keras), not {p.suffix or 'no suffix'}")
    if p.suffix != ".keras":
        check_weights_file(str(p), key="model.path")
    hls = top.hls.model_dump()
    for key in ("reuse_factors", "fifo_depths"):
        hls[key] = hls[key] or {}
    part = resolve(hls["part"])
    hls["part"] = part.to_dict() if isinstance(hls["part"], dict) else part.name
    model = opts.model_dump(exclude_none=True)
    model["name"] = opts.name or p.stem
    return {"model": model, "quantization": {}, "weights": top.weights.model_dump(), "hls": hls, "train": {}}


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


# ------------------------------------------------------------------ train section ('fpga-flow train')
# Checked by validate() with the rest of the config; the helpers below derive a trained variant's
# quantization and file names from the config alone (fpga-flow train, fpga-flow accuracy).

TRAIN_DEFAULTS = {
    "data_dir": None, "out": "weights/fmnist", "tag": None, "checkpoint_dir": "build/checkpoints",
    "seed": 0, "batch_size": 128, "epochs": 20, "lr": 0.002,
    "qat_epochs": 5, "qat_lr": 0.0005,
    "subset": None,  # train on the first N training images only (quick checks); None = all 60,000
    "augment": {"shift": 2, "flip": True},
    "variants": {"w8": {"weight_bits": 8, "act_bits": 8}},
}


def validate_train(t: dict) -> dict:
    """The train section with defaults filled in; FlowError naming the key and the fix."""
    t = {**TRAIN_DEFAULTS, **(t or {})}
    unknown = sorted(set(t) - set(TRAIN_DEFAULTS))
    if unknown:
        raise FlowError(f"unknown train key(s) {unknown}; valid keys: {sorted(TRAIN_DEFAULTS)}")
    for k in ("batch_size", "epochs", "qat_epochs"):
        v = t[k]
        if not isinstance(v, int) or isinstance(v, bool) or v < (1 if k == "batch_size" else 0):
            raise FlowError(f"train.{k}={v!r} is invalid; use a {'positive' if k == 'batch_size' else 'non-negative'} integer")
    for k in ("lr", "qat_lr"):
        if not isinstance(t[k], (int, float)) or t[k] < 0:
            raise FlowError(f"train.{k}={t[k]!r} is invalid; use a non-negative number")
    if t["subset"] is not None and (not isinstance(t["subset"], int) or t["subset"] < 1):
        raise FlowError(f"train.subset={t['subset']!r} is invalid; use a positive number of images or null (all)")
    if not isinstance(t["variants"], dict) or not t["variants"]:
        raise FlowError("train.variants must map names to quantization overrides, e.g. {w8: {weight_bits: 8, act_bits: 8}}")
    for name, over in t["variants"].items():
        if not isinstance(over, dict):
            raise FlowError(f"train.variants.{name} must be a mapping of quantization keys")
        for k in ("rescale", "distill"):
            if not isinstance(over.get(k, False), bool):
                raise FlowError(f"train.variants.{name}.{k}={over[k]!r} is invalid; use true or false")
        for k in ("qat_epochs", "qat_lr"):
            if k in over and (not isinstance(over[k], (int, float)) or isinstance(over[k], bool) or over[k] < 0
                              or (k == "qat_epochs" and not isinstance(over[k], int))):
                raise FlowError(f"train.variants.{name}.{k}={over[k]!r} is invalid; use a non-negative number")
        tq = over.get("qat_temperature", 1)
        if not isinstance(tq, (int, float)) or isinstance(tq, bool) or not tq > 0:
            raise FlowError(f"train.variants.{name}.qat_temperature={tq!r} is invalid; use a positive number (1: plain softmax)")
    aug = {**TRAIN_DEFAULTS["augment"], **(t["augment"] or {})}
    if set(aug) - {"shift", "flip"} or not isinstance(aug["shift"], int) or aug["shift"] < 0:
        raise FlowError("train.augment takes shift (pixels, >= 0) and flip (true/false)")
    t["augment"] = aug
    return t


# keys of a train.variants entry that steer training, not quantization
VARIANT_TRAIN_KEYS = ("rescale", "qat_epochs", "qat_lr", "distill", "qat_temperature")


def variant_quant(cfg: dict, variant: str, *, calibrated: bool = True) -> dict:
    """The quantization section of ``variant`` (the config's, with the variant's overrides). For a
    ``rescale`` variant, with ``calibrated``: plus the per-layer integer bits that its training
    recorded in the provenance (an error if it was not trained yet)."""
    over = {k: v for k, v in cfg["train"]["variants"][variant].items() if k not in VARIANT_TRAIN_KEYS}
    rescale = cfg["train"]["variants"][variant].get("rescale", False)
    q = {**cfg["quantization"], **over}
    if rescale and calibrated:
        prov_path = Path(cfg["train"]["out"]) / f"{tag_of(cfg)}.json"
        rec = json.loads(prov_path.read_text()).get("qat", {}).get(variant, {}) if prov_path.is_file() else {}
        if "rescale" not in rec:
            raise FlowError(f"variant {variant} (rescale: true) has no calibration in {prov_path}; "
                            f"train it first: fpga-flow train CONFIG --stage qat --variant {variant}")
        q.update(rec["rescale"])
    QuantSpec.from_dict(q)
    return q


def rescale_variant(cfg: dict, variant: str) -> bool:
    return bool(cfg["train"]["variants"][variant].get("rescale", False))


def tag_of(cfg: dict) -> str:
    return cfg["train"].get("tag") or cfg["model"]["name"]


def weights_path(cfg: dict, variant: str) -> Path:
    return Path(cfg["train"]["out"]) / f"{tag_of(cfg)}_{variant}.h5"
