"""HLS BRAM18K and DSPs of a model converted by *stock* hls4ml with a given hls4ml config.

The whole hls4ml config is honoured: ``Backend`` (Vivado, VivadoAccelerator, Vitis: the HLS tool and
so the memory rules), the part (``Part``; ``XilinxPart``, the key of hls4ml < 0.8, when ``Part`` is
absent; a VivadoAccelerator ``Board``/``AcceleratorConfig.Board``, which hls4ml itself lets override
``Part``; else hls4ml's default part), ``ClockPeriod``, ``IOType`` and ``HLSConfig`` (Model and per-layer
``Strategy``, ``ReuseFactor``, ``Precision``, ...: they go to hls4ml's conversion as they are, and the
estimate reads what hls4ml made of them from the converted graph). ``--part`` overrides the part.

On the converted graph, with the rules of ``hls_count`` for the part's profile (tool, product family):
one FIFO per io_stream layer output (Vitis: one packed FIFO of channels x bits; Vivado HLS: one FIFO per
channel), depth = the stream's ``#pragma HLS STREAM depth``; the weight ROMs of Resource-strategy
layers reshaped as hls4ml does (reuse_factor words of ceil(n_in*n_out/RF) weights); the softmax /
sigmoid / tanh lookup tables; and the DSPs of every layer by the rules of ``hls_dsp`` (weight values
included: constant weights of one or two signed digits need no multiplier). Nothing is written or
compiled: an ESTIMATE of what the C-synthesis report would count.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml

from ..errors import FlowError
from ..resources import hls_count as hc
from ..resources import hls_dsp
from ..resources import parts as parts_db

BACKENDS = {"vivado": ("Vivado", "vivado"), "vivadoaccelerator": ("Vivado", "vivado"), "vitis": ("Vitis", "vitis")}
VIVADO_HLS_VERSION = "2020.1"  # the last Vivado HLS: what hls4ml's Vivado backends run


def _load_keras(model_path: str | Path):
    import tensorflow as tf

    co: dict = {}
    try:
        from qkeras.utils import _add_supported_quantized_objects

        _add_supported_quantized_objects(co)
    except ImportError:  # plain Keras model
        pass
    return tf.keras.models.load_model(str(model_path), custom_objects=co, compile=False)


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!keras_model", lambda loader, node: loader.construct_scalar(node))


def read_hls4ml_yml(path: str | Path) -> dict:
    """hls4ml_config.yml as written by hls4ml (its '!keras_model' tag is kept as the path string)."""
    return yaml.load(Path(path).read_text(), Loader=_Loader)


def _hls4ml_boards() -> dict:
    import hls4ml

    f = Path(hls4ml.__file__).parent / "backends" / "vivado_accelerator" / "supported_boards.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def settings(cfg: dict, part: str | None = None, where: str = "--hls4ml-config") -> dict:
    """What the hls4ml config asks for, resolved: backend, HLS tool, part (and where it came from),
    clock, IO type. Raises FlowError (one line) for a backend or part it cannot honour."""
    if not isinstance(cfg, dict):
        raise FlowError(f"{where}: must be a YAML mapping (Backend, Part, IOType, HLSConfig)")
    backend_in = str(cfg.get("Backend", "Vivado"))
    if backend_in.lower() not in BACKENDS:
        raise FlowError(f"{where}: Backend {backend_in!r} is not estimated; use Vivado, VivadoAccelerator or Vitis")
    convert_backend, tool = BACKENDS[backend_in.lower()]
    notes = []
    board = cfg.get("Board") or (cfg.get("AcceleratorConfig") or {}).get("Board")
    if part:
        part_name, source = part, "--part"
    elif backend_in.lower() == "vivadoaccelerator":
        board = board or "pynq-z2"  # hls4ml's VivadoAccelerator default board
        boards = _hls4ml_boards()
        if board in boards:
            part_name, source = boards[board]["part"], f"Board {board} (hls4ml's board file; it overrides Part)"
        else:
            part_name, source = str(board), f"Board {board}"
        if cfg.get("Part") and str(cfg["Part"]).lower() != str(part_name).lower():
            notes.append(f"Part {cfg['Part']} ignored: hls4ml's VivadoAccelerator backend uses the board's part")
    elif cfg.get("Part"):
        part_name, source = cfg["Part"], "Part"
        if cfg.get("XilinxPart") and str(cfg["XilinxPart"]).lower() != str(cfg["Part"]).lower():
            notes.append(f"XilinxPart {cfg['XilinxPart']} ignored: Part takes precedence (as in hls4ml >= 0.8)")
    elif cfg.get("XilinxPart"):
        part_name, source = cfg["XilinxPart"], "XilinxPart"
        notes.append("XilinxPart is the part key of hls4ml < 0.8; hls4ml >= 0.8 ignores it and uses its default "
                     f"part {parts_db.HLS4ML_DEFAULT_PART}")
    elif board:
        part_name, source = str(board), "Board"
    else:
        part_name, source = parts_db.HLS4ML_DEFAULT_PART, "hls4ml's default part (the config names none)"
    p = parts_db.resolve(str(part_name))  # unknown: one-line error with the nearest names
    try:
        clock = float(str(cfg.get("ClockPeriod", 5)).strip())
    except ValueError:
        raise FlowError(f"{where}: ClockPeriod {cfg.get('ClockPeriod')!r} is not a number of ns") from None
    io_type = str(cfg.get("IOType", "io_parallel"))
    if io_type not in ("io_stream", "io_parallel"):
        raise FlowError(f"{where}: IOType {io_type!r} is invalid; use io_stream or io_parallel")
    hls_config = cfg.get("HLSConfig") or {}
    if not isinstance(hls_config, dict):
        raise FlowError(f"{where}: HLSConfig must be a mapping (Model, LayerName, LayerType)")
    return {"backend": backend_in, "convert_backend": convert_backend, "tool": tool, "part": p,
            "part_source": source, "board": board, "clock_period_ns": clock, "io_type": io_type,
            "hls_config": hls_config, "notes": notes}


def _prec(t):
    return getattr(t, "precision", t)


def _width(t) -> int:
    return int(getattr(_prec(t), "width", 0) or 0)


def _frac(t) -> int:
    p = _prec(t)
    return int((getattr(p, "width", 0) or 0) - (getattr(p, "integer", 0) or 0))


def _convert(model, st: dict, tmp: str):
    import hls4ml

    return hls4ml.converters.convert_from_keras_model(
        model, hls_config=st["hls_config"], io_type=st["io_type"], backend=st["convert_backend"],
        part=st["part"].name, clock_period=st["clock_period_ns"], output_dir=tmp)


def _cycles(hm, tmp: str, st: dict) -> dict:
    """Cycles per frame and latency of the converted model, by the cycle model (resources/cycles.py)
    on the layer records read back from the project hls4ml writes (parameters.h, myproject.cpp: the
    kernels it really calls, resources/csynth_perf.py)."""
    from ..resources.csynth_perf import read_project
    from ..resources.cycles import network_cycles

    hm.write()
    prj = read_project(tmp)
    if prj is None or not prj.records:
        return {}
    net = network_cycles(prj.records)
    clock = float(st["clock_period_ns"])
    return {"cycles_per_frame": net["cycles_per_frame"], "latency_cycles": net["latency_cycles"],
            "slowest_layer": net["slowest_layer"], "fps": round(1e9 / (net["cycles_per_frame"] * clock), 2)
            if net["cycles_per_frame"] else None,
            "cycles_per_layer": {n: c["interval"] for n, c in net["per_layer"].items()
                                 if c["model"] not in ("source", "alias")}}


def layer_dsp(layer, family: str = "") -> tuple[int, str]:
    """(DSPs, how) of one converted hls4ml layer by the rules of hls_dsp (its kind: the registry's)."""
    from . import kinds  # loads hls4ml: imported by the functions that convert

    kind = kinds.for_hls(layer.class_name)
    weights = getattr(layer, "weights", {}) or {}
    in_var = layer.get_input_variable()
    in_bits = _width(in_var.type) if in_var is not None else 0
    act = str(layer.get_attr("activation", "")).lower()
    if kind is kinds.SOFTMAX or (kind is kinds.QUANTIZER and act == "softmax"):
        n = int(layer.get_attr("n_in", 0) or 0)
        return hls_dsp.softmax_dsp(n), f"softmax of {n} inputs (D4)"
    w = weights.get("weight")
    if w is None and "scale" in weights:  # BatchNormalization / ApplyAlpha: one constant scale per channel
        s = weights["scale"]
        codes = hls_dsp.weight_codes(s.data, _frac(s.type))
        return (hls_dsp.const_layer_dsp(codes, in_bits, _width(s.type), family),
                f"{codes.size} constant scales x {in_bits} bits (D2)")
    if w is None or getattr(w, "data", None) is None or not kind.weighted:
        return 0, ""
    n = int(w.data.size)
    n_out = int(layer.get_attr("n_out", 0) or layer.get_attr("n_filt", 0) or layer.get_attr("n_chan", 1) or 1)
    n_in = max(1, n // max(1, n_out))
    strategy = str(layer.get_attr("strategy", "latency")).lower()
    rf = int(layer.get_attr("reuse_factor", 1) or 1)
    wb = _width(w.type)
    if strategy == "resource" and rf > 1:
        return (hls_dsp.resource_layer_dsp(n_in, n_out, rf, in_bits, wb, family),
                f"Resource RF {rf}: {-(-n // rf)} products/cycle of {in_bits}x{wb} bits (D3)")
    codes = hls_dsp.weight_codes(w.data, _frac(w.type))
    nz = int((codes != 0).sum())
    return (hls_dsp.const_layer_dsp(codes, in_bits, wb, family),
            f"{strategy} RF {rf}: {nz} non-zero constant weights x {in_bits} bits (D2)")


def estimate_stock(model_path: str | Path, hls4ml_config_yml: str | Path, part: str | None = None,
                   version: str | None = None, flow: str = "vivado", model=None) -> dict:
    """Per-memory and per-layer tables and totals {'hls_bram18k', 'fifo_hls_bram18k', 'rom_hls_bram18k',
    'dsp', 'fits', ...} of the model converted by stock hls4ml with that config (see module docstring).

    version: the HLS tool version 'YYYY.N' the rules assume (Vitis: None = newest; the Vivado backends:
    Vivado HLS 2020.1); flow: the solution flow target (hls4ml's build_prj.tcl: the Vivado IP flow).
    """
    from . import kinds  # loads hls4ml: imported by the functions that convert

    cfg = read_hls4ml_yml(hls4ml_config_yml)
    st = settings(cfg, part)
    p = st["part"]
    tool = st["tool"]
    version = version or (VIVADO_HLS_VERSION if tool == "vivado" else None)
    prof = hc.profile_for(p, tool, version, flow)
    model = model if model is not None else _load_keras(model_path)
    with tempfile.TemporaryDirectory() as tmp:
        hm = _convert(model, st, tmp)
        timing = _cycles(hm, tmp, st) if st["io_type"] == "io_stream" else None
    rows: list[dict] = []
    layers: list[dict] = []
    top_io = {v.name for v in hm.get_input_variables()} | {v.name for v in hm.get_output_variables()}
    io_stream = st["io_type"] == "io_stream"
    for layer in hm.get_layers():
        out = layer.get_output_variable()
        pragma = getattr(out, "pragma", None)
        if io_stream and out.name not in top_io and isinstance(pragma, tuple) and pragma[0] == "stream":
            depth = int(pragma[1])
            chans = int(out.shape[-1])
            bits = _width(out.type)
            if tool == "vivado":  # Vivado HLS: one FIFO per channel (rule F3)
                per = prof.fifo(depth, bits)
                rows.append({"name": out.name, "kind": "fifo", "layer": layer.name, "depth": depth, "width": bits,
                             "count": chans, "hls_bram18k": per * chans})
            else:  # Vitis: one packed FIFO (rule F0)
                rows.append({"name": out.name, "kind": "fifo", "layer": layer.name, "depth": depth,
                             "width": chans * bits, "count": 1, "hls_bram18k": prof.fifo(depth, chans * bits)})
        w = layer.weights.get("weight") if hasattr(layer, "weights") else None
        strategy = str(layer.get_attr("strategy", "")).lower()
        rf = int(layer.get_attr("reuse_factor", 1) or 1)
        if w is not None and getattr(w, "data", None) is not None and strategy == "resource" and rf > 1:
            n_w = int(w.data.size)
            block = -(-n_w // rf)
            bits = _width(w.type)
            rows.append({"name": w.name, "kind": "weights", "layer": layer.name, "depth": rf, "width": block * bits,
                         "count": 1, "hls_bram18k": prof.rom(rf, block * bits, 1, "bram")})
        kind = kinds.for_hls(layer.class_name)
        act = str(layer.get_attr("activation", "")).lower()
        n_in = int(layer.get_attr("n_in", 0) or 0)
        is_act = kind in (kinds.QUANTIZER, kinds.SOFTMAX, kinds.STOCK_ACTIVATION)  # not Dense(activation=...)
        if is_act and (kind is kinds.SOFTMAX or act == "softmax"):
            size = int(layer.get_attr("table_size", 1024))
            for (name, _, default_bits, reads), t in zip(hc.softmax_tables(n_in), ("exp_table_t", "inv_table_t")):
                tw = _width(layer.get_attr(t)) or default_bits
                tw = tw - 1 if name == "exp_table" and tw == 18 else tw  # exp >= 0: the tool keeps 17 bits
                rows.append({"name": f"{layer.name}_{name}", "kind": "table", "layer": layer.name, "depth": size,
                             "width": tw, "count": 1, "reads": reads, "hls_bram18k": prof.rom(size, tw, reads)})
        elif is_act and act in ("sigmoid", "tanh"):
            size = int(layer.get_attr("table_size", 1024))
            tw = _width(layer.get_attr("table_t")) or 18
            rows.append({"name": f"{layer.name}_{act}_table", "kind": "table", "layer": layer.name,
                         "depth": size, "width": tw, "count": 1, "hls_bram18k": prof.rom(size, tw)})
        dsp, how = layer_dsp(layer, p.family)
        layers.append({"name": layer.name, "class": layer.class_name, "index": getattr(layer, "index", None),
                       "strategy": strategy or None, "reuse_factor": rf, "dsp": dsp, "dsp_rule": how})
    fifo = sum(r["hls_bram18k"] for r in rows if r["kind"] == "fifo")
    rom = sum(r["hls_bram18k"] for r in rows if r["kind"] != "fifo")
    dsp = sum(x["dsp"] for x in layers)
    total = fifo + rom
    return {"memories": rows, "layers": layers, "fifo_hls_bram18k": fifo, "rom_hls_bram18k": rom,
            "hls_bram18k": total, "dsp": dsp, "uram": 0,
            "backend": st["backend"], "tool": tool, "tool_version": version, "profile": prof.to_dict(),
            "part": p.name, "part_source": st["part_source"], "device": p.device, "family": p.family,
            "board": st["board"], "clock_period_ns": st["clock_period_ns"], "io_type": st["io_type"],
            "fifos": sum(r["count"] for r in rows if r["kind"] == "fifo"),
            "bram18k_available": p.bram18k, "uram_available": p.uram, "dsp_available": p.dsp,
            "lut_available": p.lut, "ff_available": p.ff,
            "fits": total <= p.bram18k and dsp <= p.dsp, "notes": st["notes"],
            # cycles: resources/cycles.py on the kernels the written project calls (io_stream; ESTIMATE)
            **({"cycles_per_frame": None, "latency_cycles": None} if not timing else timing)}
