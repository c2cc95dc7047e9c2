"""Model size report from a built directory: parameters, weight bits and bytes per layer.

Everything here is counted from the QKeras model and its quantizers (measured, not estimated).
The on-chip memory model (BRAM18K/URAM for weights, line buffers and FIFOs) is separate.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import flow
from ..hls.fixed import quantizer_spec
from ..hls.precision import WEIGHTED, _kernel_quantizer


def collect(out) -> dict:
    m = flow.load_manifest(out)
    model = flow.load_qmodel(Path(out) / flow.QMODEL)
    rows = []
    tot_params = tot_bits = 0
    for layer in model.layers:
        cls = type(layer).__name__
        row = {"layer": layer.name, "class": cls, "output_shape": [int(s) for s in layer.output_shape[1:]],
               "params": 0, "weight_bits": None, "bias_bits": None, "storage_bits": 0,
               "type": m["types"].get(layer.name, {}).get("type")}
        if cls in WEIGHTED:  # group convs hold only their g diagonal blocks (n_in/g * n_out weights)
            k = layer.get_weights()
            wb = quantizer_spec(_kernel_quantizer(layer), what=layer.name, allow_symmetric=True).width
            row["weight_bits"] = wb
            bits = k[0].size * wb
            params = k[0].size
            if layer.use_bias:
                bb = quantizer_spec(layer.bias_quantizer_internal, what=layer.name, allow_symmetric=True).width
                row["bias_bits"] = bb
                bits += k[1].size * bb
                params += k[1].size
            row["params"], row["storage_bits"] = int(params), int(bits)
            tot_params += params
            tot_bits += bits
        rows.append(row)
    return {
        "model": m["model"], "keras_name": m["keras_name"], "part": m["config"]["hls"]["part"],
        "backend": m["config"]["hls"]["backend"], "input_shape": m["input_shape"],
        "quantization": m["config"]["quantization"],
        "params": int(tot_params), "float_params": m.get("float_params"), "weight_bits": int(tot_bits), "weight_megabytes": round(tot_bits / 8 / 1e6, 4),
        "max_accumulator_bits": m.get("max_accumulator_bits"), "timings_s": m.get("timings_s", {}),
        "layers": rows,
        "note": "params and bits are counted from the QKeras model (measured); no memory mapping estimate yet",
    }


def to_markdown(d: dict) -> str:
    lines = [
        f"# {d['keras_name']} ({d['model']})",
        "",
        f"- part: `{d['part']}`, backend: {d['backend']}, input: {'x'.join(map(str, d['input_shape']))}",
        f"- parameters: **{d['params']:,}** deployed (what the FPGA stores)"
        + (f"; {d['float_params']:,} in the training model (e.g. batch-norm scale/shift before folding)"
           if d.get("float_params") not in (None, d["params"]) else ""),
        f"- weight storage at the configured widths: **{d['weight_bits']:,} bits = {d['weight_megabytes']:.3f} MB** (counted)",
        f"- widest exact accumulator: {d['max_accumulator_bits']} bits",
        "",
        "| layer | class | output | params | w bits | b bits | storage bits | C++ type |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in d["layers"]:
        lines.append(f"| {r['layer']} | {r['class']} | {'x'.join(map(str, r['output_shape']))} | {r['params']:,} | "
                     f"{r['weight_bits'] or ''} | {r['bias_bits'] or ''} | {r['storage_bits']:,} | {r['type'] or ''} |")
    lines += ["", d["note"], ""]
    return "\n".join(lines)


def to_json(d: dict) -> str:
    return json.dumps(d, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else str(o))
