"""Flow configuration: the YAML files in hls_configs/, validated, with --set overrides."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from .errors import FlowError

DEFAULTS = {
    "model": {"name": None},
    "quantization": {},
    "weights": {"source": "random", "seed": 0, "calibration_images": 4},
    "hls": {"backend": "Vitis", "part": "xczu7ev-ffvc1156-2-e", "clock_period_ns": 5.0,
            "reuse_factor": "auto", "strategy": "Resource", "io_type": "io_stream",
            # fit-to-part (fpga_flow.resources.fit): share of BRAM/URAM/DSP the design may use, the
            # weight packing efficiency to aim for, and per-layer/per-stream settings fixed by hand
            "memory_budget": 0.9, "min_packing": 0.8, "reuse_factors": {}, "fifo_depths": {}},
    # 'fpga-flow train' only (fpga_flow.train.TRAIN_DEFAULTS lists the keys and defaults)
    "train": {},
}
SECTIONS = tuple(DEFAULTS)


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
    src = cfg["weights"].get("source", "random")
    if src != "random" and not Path(str(src)).is_absolute() and not Path(str(src)).is_file():
        # relative to the working directory, else to the config's folder or its parent (the repository)
        for base in (p.parent, p.parent.parent):
            if (base / str(src)).is_file():
                cfg["weights"]["source"] = str(base / str(src))
                break
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


def validate(cfg: dict) -> dict:
    from .models import MODELS
    from .models.quant import QuantSpec
    from .resources.parts import resolve

    name = cfg["model"].get("name")
    if name not in MODELS:
        raise FlowError(f"unknown model {name!r}; run 'fpga-flow models' for the list")
    QuantSpec.from_dict(cfg["quantization"])  # raises on bad bits
    hls = cfg["hls"]
    if hls["backend"] not in ("Vitis", "Vivado"):
        raise FlowError(f"hls.backend {hls['backend']!r} is unknown; use Vitis or Vivado")
    if hls["io_type"] != "io_stream":
        raise FlowError("hls.io_type must be io_stream (the flow streams whole feature maps)")
    if hls["strategy"] not in ("Resource", "Latency"):
        raise FlowError(f"hls.strategy {hls['strategy']!r} is unknown; use Resource or Latency")
    rf = hls["reuse_factor"]
    if rf != "auto" and (not isinstance(rf, int) or isinstance(rf, bool) or rf < 1):
        raise FlowError(f"hls.reuse_factor={rf!r} is invalid; use 'auto' (fit to the part) or a positive integer")
    b = hls["memory_budget"]
    if not isinstance(b, (int, float)) or not 0.05 <= float(b) <= 1.0:
        raise FlowError(f"hls.memory_budget={b!r} is invalid; use a fraction in 0.05..1.0 (e.g. 0.9)")
    mp = hls["min_packing"]
    if not isinstance(mp, (int, float)) or not 0.0 <= float(mp) <= 1.0:
        raise FlowError(f"hls.min_packing={mp!r} is invalid; use a fraction in 0..1 (0 = fastest plan)")
    for key in ("reuse_factors", "fifo_depths"):
        d = hls[key]
        if d is None:
            hls[key] = {}
        elif not isinstance(d, dict) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                                for v in d.values()):
            raise FlowError(f"hls.{key} must map layer/stream names to positive integers, e.g. {{conv10: 2048}}")
    cp = hls["clock_period_ns"]
    if not isinstance(cp, (int, float)) or not 0.5 <= float(cp) <= 100:
        raise FlowError(f"hls.clock_period_ns={cp!r} is invalid; use a number of nanoseconds in 0.5..100")
    part = resolve(hls["part"])
    hls["part"] = part.name
    if cfg["train"]:
        from .train import validate as validate_train, variant_quant

        cfg["train"] = validate_train(cfg["train"])
        for v in cfg["train"]["variants"]:
            variant_quant(cfg, v, calibrated=False)
    w = cfg["weights"]
    src = w.get("source", "random")
    if src != "random" and not Path(str(src)).is_file():
        raise FlowError(f"weights.source {src!r}: file not found; use 'random' or a saved QKeras model (.h5)")
    return cfg
