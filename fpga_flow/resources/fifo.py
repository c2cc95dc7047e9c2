"""Analytic FIFO depths for the io_stream dataflow, and why they cannot deadlock.

Model. Every layer reads its input stream(s) and writes its output stream(s) in a fixed order that
does not depend on data: a conv or pool reads pixels in raster order and writes an output pixel as
soon as the input pixel closing its window has been read; ZeroPadding2D writes padding pixels as soon
as the previous ones are out; a Clone writes each pixel to both outputs; a Concatenate/Add reads one
pixel from each input and writes one. So each stream's cumulative item count after the network
input has delivered n pixels, ``c_S(n)``, follows by composing per-layer counting functions
``out = f(in)`` (joins take the minimum of their inputs) under an as-soon-as-possible schedule with
unbounded FIFOs.

Depths. In that schedule only the inputs of a join (Concatenate/Add after a Clone: a Fire module's
two expand branches, a bypass, a ShuffleNet unit's shortcut) accumulate items: the input that is
ahead holds ``c_S(n) - min_j c_j(n)``. Its depth is the maximum of that over n (the latency
difference of the two branches, in items: e.g. about one padded row plus a few pixels when a 3x3
branch meets a 1x1 branch) plus a margin; every other stream gets depth 2 (a straight chain).

Why no deadlock. Each layer is a process with a fixed sequence of reads and writes, and each FIFO
has one writer and one reader, so an enabled action (data present to read / space to write) stays
enabled until its process performs it: the system is persistent (conflict-free), and in such a
system either every maximal execution completes or none does. The ASAP schedule above completes
with every FIFO holding at most its computed depth, so with these depths every execution (whatever
the relative speeds, reuse factors or stalls) completes. Throughput is a separate matter: depths
only decide whether the design can run, the slowest layer sets the frame rate.
"""
from __future__ import annotations

import numpy as np

from .design import streams

CHAIN_DEPTH = 2
JOIN_MARGIN = 4
JOINS = ("Concatenate", "Add", "Merge")


def _needs(out_h, out_w, in_w, row_of, col_of):
    """Sorted input counts (1-based) that complete each output pixel."""
    i = np.arange(out_h)[:, None]
    j = np.arange(out_w)[None, :]
    return (row_of(i) * in_w + col_of(j) + 1).reshape(-1)


def counting_function(rec: dict, n_in: int) -> np.ndarray:
    """f[k] = items the layer has written after reading k items of its (first) input, k = 0..n_in."""
    kind, g = rec["kind"], rec["geometry"]
    n_out = max(int(np.prod(o["shape"][:-1])) if len(o["shape"]) > 1 else 1 for o in rec["outputs"])
    k = np.arange(n_in + 1)
    if kind == "ZeroPadding2D":
        w, wp = g["in_width"], g["out_width"]
        idx = np.arange(n_in)
        pos = (idx // w + g["pad_top"]) * wp + (idx % w + g["pad_left"])  # padded index of input idx
        return np.append(pos, g["out_height"] * wp)
    if "filt_height" in g:  # stock convs; a 1x1 stride-1 conv is one-to-one
        kh, kw = g["filt_height"], g["filt_width"]
        if kh == 1 and kw == 1 and g.get("stride_height", 1) == 1:
            return np.minimum(k, n_out)
        sh, sw = g["stride_height"], g["stride_width"]
        needs = _needs(g["out_height"], g["out_width"], g["in_width"],
                       lambda i: i * sh + kh - 1, lambda j: j * sw + kw - 1)
        return np.searchsorted(needs, k, side="right")
    if kind in ("HStreamMaxPool2D", "HExactAvgPool2D"):
        kh, kw, sh, sw = g["pool_height"], g["pool_width"], g["stride_height"], g["stride_width"]
        h, w = g["in_height"], g["in_width"]
        needs = _needs(g["out_height"], g["out_width"], w,
                       lambda i: np.minimum(i * sh - g["pad_top"] + kh - 1, h - 1),
                       lambda j: np.minimum(j * sw - g["pad_left"] + kw - 1, w - 1))
        return np.searchsorted(needs, k, side="right")
    if kind == "HExactGlobalAvgPool2D":
        return (k >= n_in).astype(np.int64)
    # one output item per input item (activations, pointwise/grouped convs, shuffle, Clone, Dense on one item)
    return np.minimum(k, n_out)


def analyse(nodes: list[dict]) -> dict[str, dict]:
    """Per internal stream: required depth, and for join inputs the backlog that sets it."""
    st = streams(nodes)
    by_name = {r["name"]: r for r in nodes}
    first = next(r for r in nodes if r["kind"] == "Input")
    n0 = int(np.prod(first["outputs"][0]["shape"][:-1]))
    counts: dict[str, np.ndarray] = {first["outputs"][0]["name"]: np.arange(n0 + 1)}
    for rec in nodes:
        if rec["kind"] == "Input":
            continue
        ins = [counts[i] for i in rec["inputs"]]
        consumed = np.minimum.reduce(ins) if len(ins) > 1 else ins[0]
        n_in = int(np.prod(rec["in_shape"][:-1])) if len(rec.get("in_shape", [])) > 1 else 1
        f = counting_function(rec, n_in)
        out = f[np.minimum(consumed, n_in)]
        for o in rec["outputs"]:
            counts[o["name"]] = out
    result = {}
    for name, s in st.items():
        backlog = 0
        for cons in s["consumers"]:
            rec = by_name[cons]
            if len(rec["inputs"]) > 1:
                mine = counts[name]
                lowest = np.minimum.reduce([counts[i] for i in rec["inputs"]])
                backlog = max(backlog, int((mine - lowest).max()))
        depth = backlog + JOIN_MARGIN if backlog > 0 else CHAIN_DEPTH
        result[name] = {**s, "backlog": backlog, "required_depth": depth}
    return result
