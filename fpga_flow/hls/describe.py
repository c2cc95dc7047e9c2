"""What the written hls4ml project actually contains, as plain data (step 'describe').

``describe(hls_model)`` walks the converted hls4ml graph (the real nodes, including the Clone and
ZeroPadding2D nodes hls4ml inserts) and records, per node: its kind, geometry, weights (count and
bits as stored: a group conv's g diagonal blocks, not a dense matrix), reuse factor, every stream it
writes (shape, word width, depth), and what its kind's record (kinds.py) says the resource model needs:
``fifo`` (counting function, read-ahead, join) and ``estimate`` (the resource model's name). The
memory/DSP/latency model (resources/estimate.py), the FIFO analysis (resources/fifo.py) and the fitter
(resources/fit.py) work on this description only, so they can be re-run on a built directory from its
flow.json, and they never look at a class name.
"""
from __future__ import annotations

import numpy as np

from .kinds import OTHER, for_hls


def _bits(precision) -> int:
    return int(getattr(precision, "width", 32))


def describe(hls_model) -> list[dict]:
    nodes = []
    for node in hls_model.get_layers():
        a = node.attributes
        kind = for_hls(node.class_name)
        rec = {"name": node.name, "kind": node.class_name, "inputs": list(node.inputs), "outputs": []}
        for o in node.outputs:
            var = node.get_output_variable(o) if len(node.outputs) > 1 else node.get_output_variable()
            shape = [int(s) for s in var.shape]
            depth = var.pragma[1] if isinstance(getattr(var, "pragma", None), tuple) else None
            elem = _bits(var.type.precision)
            chan = shape[-1]
            rec["outputs"].append({"name": o, "var": var.name, "shape": shape, "elem_bits": elem,
                                   "word_bits": elem * chan, "pixels": int(np.prod(shape[:-1])) if len(shape) > 1 else 1,
                                   "depth": None if depth is None else int(depth)})
        geo = {}
        for k in ("in_height", "in_width", "n_chan", "out_height", "out_width", "n_filt", "filt_height", "filt_width",
                  "stride_height", "stride_width", "pad_top", "pad_bottom", "pad_left", "pad_right", "pool_height",
                  "pool_width", "n_in", "n_out", "groups", "n_in_g", "height", "width"):
            v = a.get(k)
            if isinstance(v, (int, np.integer)):
                geo[k] = int(v)
        rec["geometry"] = geo
        inp = node.get_input_variable() if node.inputs else None
        if inp is not None:
            rec["in_shape"] = [int(s) for s in inp.shape]
            rec["in_elem_bits"] = _bits(inp.type.precision)
        w = node.weights.get("weight") if hasattr(node, "weights") else None
        if kind.weighted and w is not None:
            b = node.weights.get("bias")
            rec["weights"] = {
                "count": int(np.asarray(w.data).size), "bits": _bits(w.type.precision),
                "bias_count": 0 if b is None else int(np.asarray(b.data).size),
                "bias_bits": 0 if b is None else _bits(b.type.precision),
            }
            # the C++ arrays holding them (global arrays in weights/*.h, bound in myproject.cpp)
            rec["weight_var"] = str(w.name)
            if b is not None:
                rec["bias_var"] = str(b.name)
            rec["reuse_factor"] = int(a.get("reuse_factor", 1))
            rec["strategy"] = str(a.get("strategy", "resource")).lower()
            rec["mult_size"] = [int(v) for v in kind.mult_size(rec["geometry"], rec["weights"]["count"])]
        if kind.estimate == "avg_pool_window":  # its divider is sized on the window sum
            rec["accum_bits"] = _bits(a["accum_t"].precision)
        rec["fifo"] = kind.fifo_model(rec.get("strategy"), rec["geometry"])
        if kind is OTHER and "filt_height" in geo:  # a node no record names, with a filter: a conv window
            rec["fifo"] = {"counting": "conv_window", "read_ahead": 0, "join": False}
        rec["estimate"] = kind.estimate
        rec["cycles"] = kind.cycles
        rec["source"] = kind.source
        rec["layer_kind"] = kind.name
        nodes.append(rec)
    return nodes
