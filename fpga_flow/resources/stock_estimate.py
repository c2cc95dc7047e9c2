"""HLS BRAM18K (and rough DSP) of a model converted by *stock* hls4ml with a given hls4ml config.

Uses the rules of ``hls_count`` on what the converted hls4ml graph contains: one FIFO per io_stream
layer output (width = channels x bits, depth = the stream's ``#pragma HLS STREAM depth``), the weight
ROMs of Resource-strategy layers reshaped as hls4ml does (reuse_factor words of
ceil(n_in*n_out/RF) weights), and the softmax / sigmoid lookup tables. Nothing is written or compiled.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import yaml

from fpga_flow.resources import hls_count as hc


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


def _width(t) -> int:
    p = getattr(t, "precision", t)
    return int(getattr(p, "width", 0) or 0)


def estimate_stock(model_path: str | Path, hls4ml_config_yml: str | Path, part: str | None = None,
                   tool: str = "vitis", version: str | None = None) -> dict:
    """Per-memory table and totals {'hls_bram18k', 'fifo_hls_bram18k', 'rom_hls_bram18k', 'dsp'}.

    tool/version select the hls_count profile ('vitis' = rules F1/F2/R1-R3; version 'YYYY.N' only
    changes the 1-read ROM shape rule). part defaults to the yml's Part.
    """
    import hls4ml

    cfg = read_hls4ml_yml(hls4ml_config_yml)
    model = _load_keras(model_path)
    io_type = cfg.get("IOType", "io_stream")
    with tempfile.TemporaryDirectory() as tmp:
        hm = hls4ml.converters.convert_from_keras_model(
            model, hls_config=cfg.get("HLSConfig", {}), io_type=io_type, backend=cfg.get("Backend", "Vitis"),
            part=part or cfg.get("Part"), clock_period=cfg.get("ClockPeriod", 5), output_dir=tmp)
    rows: list[dict] = []
    top_io = {v.name for v in hm.get_input_variables()} | {v.name for v in hm.get_output_variables()}
    dsp = 0
    for layer in hm.get_layers():
        # FIFOs between layers (io_stream)
        out = layer.get_output_variable()
        pragma = getattr(out, "pragma", None)
        if io_type == "io_stream" and out.name not in top_io and isinstance(pragma, tuple) and pragma[0] == "stream":
            depth = int(pragma[1])
            width = int(out.shape[-1]) * _width(out.type)
            rows.append({"name": out.name, "kind": "fifo", "layer": layer.name, "depth": depth, "width": width,
                         "hls_bram18k": hc.fifo_bram18k(depth, width, tool)})
        # weight ROMs
        w = layer.weights.get("weight") if hasattr(layer, "weights") else None
        if w is not None and getattr(w, "data", None) is not None:
            n_w = int(w.data.size)
            bits = _width(w.type)
            strategy = str(layer.get_attr("strategy", "latency")).lower()
            rf = int(layer.get_attr("reuse_factor", 1) or 1)
            nz = int((w.data != 0).sum())
            if strategy == "resource" and rf > 1:
                block = math.ceil(n_w / rf)
                rows.append({"name": w.name, "kind": "weights", "layer": layer.name, "depth": rf,
                             "width": block * bits,
                             "hls_bram18k": hc.rom_bram18k(rf, block * bits, 1, "bram", version, tool)})
                mults = block
            else:  # latency: fully partitioned into registers/constants, no ROM
                mults = nz
            # rough DSP: one per multiplier when both operands are wider than ~10 bits (else LUTs)
            in_bits = _width(layer.get_input_variable().type)
            if bits > 10 or in_bits > 10:
                dsp += mults if bits + in_bits > 18 else math.ceil(mults / 2)
        # lookup tables
        cls = layer.class_name.lower()
        act = str(layer.get_attr("activation", "")).lower()
        n_in = int(layer.get_attr("n_in", 0) or 0)
        is_act = "activation" in cls or cls in ("softmax", "sigmoid", "tanh")  # not Dense(activation=...)
        if is_act and ("softmax" in cls or act == "softmax"):
            size = int(layer.get_attr("table_size", 1024))
            ew = _width(layer.get_attr("exp_table_t")) or 18
            iw = _width(layer.get_attr("inv_table_t")) or 18
            rows.append({"name": f"{layer.name}_exp_table", "kind": "table", "layer": layer.name, "depth": size,
                         "width": ew, "reads": n_in,
                         "hls_bram18k": hc.rom_bram18k(size, ew, max(1, n_in), "auto", version, tool)})
            rows.append({"name": f"{layer.name}_invert_table", "kind": "table", "layer": layer.name,
                         "depth": size, "width": iw,
                         "hls_bram18k": hc.rom_bram18k(size, iw, 1, "auto", version, tool)})
        elif is_act and (act in ("sigmoid", "tanh") or cls in ("sigmoid", "tanh")):
            size = int(layer.get_attr("table_size", 1024))
            tw = _width(layer.get_attr("table_t")) or 18
            rows.append({"name": f"{layer.name}_{act}_table", "kind": "table", "layer": layer.name,
                         "depth": size, "width": tw,
                         "hls_bram18k": hc.rom_bram18k(size, tw, 1, "auto", version, tool)})
    fifo = sum(r["hls_bram18k"] for r in rows if r["kind"] == "fifo")
    rom = sum(r["hls_bram18k"] for r in rows if r["kind"] != "fifo")
    return {"memories": rows, "fifo_hls_bram18k": fifo, "rom_hls_bram18k": rom, "hls_bram18k": fifo + rom,
            "dsp": dsp, "tool": tool}
