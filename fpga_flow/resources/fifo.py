"""Analytic FIFO depths for the io_stream dataflow, and why they cannot deadlock.

Model. Every layer reads its input stream(s) and writes its output stream(s) in a fixed order that
does not depend on data: a conv or pool reads pixels in raster order and writes an output pixel as
soon as the input pixel closing its window has been read (a 'same'-padded pool clips its window at
the last row/column, so its last output row is written while the last input row is read);
ZeroPadding2D writes padding pixels as soon as the previous ones are out (the top rows before its
first read, the right/left padding of a row boundary after the last pixel of the row, the bottom rows
after its last read: a burst); a Clone writes each pixel to both outputs; a Concatenate/Add reads one
pixel from each input and writes one. So the cumulative item count of a stream is a counting
function ``out = f(in)`` of its producer's input count, and these compose (joins take the minimum
of their inputs).

Time axis. The occupancy of a join input is the difference of two branch counts, and it must be
sampled at the granularity at which the two branches actually advance: one item of their fork (the
Clone feeding both). Sampling after each *network input pixel* (the old analysis) is too coarse:
an item released upstream in a burst (a stride-2 'same' layer's last row, written when the padding
row arrives at frame end) reaches both branches at one sample, so the backlog the faster branch
builds while the other waits for the burst is never seen (ShuffleNet stride-2 units: shortcut pool
backlog 0 -> depth 2 at 224x224, while its last output row, 28 items, is written before the 3x3
branch's bottom padding row lets the depthwise conv finish; the dataflow C-simulation deadlocks at
2). So for every Clone F, the counts of all streams downstream of F are composed as functions of
``m`` = items F has read (m = 0..M), and a join whose inputs all descend from F gets the backlog
``max_m (c_S(m) - min_j c_j(m))`` of each input S. For nested forks (a Fire module inside a bypass)
the nearest fork gives the finest axis; a coarser one samples a subset of the same values, so the
maximum over all forks is the nearest fork's. Within one fork item, the lagging branch can be run
first, so the maximum occurs at a sample.

Depths. A join input gets ``backlog + margin``; every other stream depth 2 (a straight chain: one
item being written while the previous is read). ``margin = 2 + read-ahead``: 2 for the join's own
loop (it holds one input's item while waiting for the other's, and one more word while the write
of its previous iteration drains), and the read-ahead of the *other* branch, from its fork to the
join. Read-ahead is what RTL adds to the C model: a loop pipelined at II=1 whose body is L cycles
deep has up to L iterations in flight, so it may need up to L-1 further input items before the
output of an earlier one leaves it (a stalled read stalls the whole pipeline); the lagging branch
then needs that many more fork items, which the leading branch must buffer. It is derived from the
templates we instantiate (each layer kind's ``read_ahead`` in hls/kinds.py, copied into the node's
``fifo`` record): hls4ml's Resource-strategy convs/dense (``conv_2d_buffer_resource_cl``)
pipeline only their inner reuse loop, not the pixel loop: a pixel is read, computed and written
before the next is read (0). fpga_flow's MVU and grouped 1x1 conv flatten pixels and reuse cycles
into one loop pipelined at II=1, so at reuse factor 1 (their deepest case) they read up to their
pipeline depth - 1 items ahead (resources/mvu.py: 8 + ceil(log2(products per output + 1)) cycles);
our sliding-window generator pipelines its pixel loop with a short body (2). hls4ml's activations, clone, concatenate/add, zero-padding and our channel shuffle pipeline
their item loop at II=1 with a read -> one operation -> write body (<= 3 cycles: 2). Our window
pools pipeline the pixel loop at II=1 with a line-buffer RAM read and a K x K comparison/adder tree
(+ exact divide) in the body: taken as 6 cycles (5). A Latency-strategy conv pipelines its pixel
loop at II=reuse factor: also 5 (its depth in iterations is small because II >= 1 per pixel).

Why no deadlock. Each layer is a process with a fixed sequence of reads and writes, and each FIFO
has one writer and one reader, so an enabled action (data present to read / space to write) stays
enabled until its process performs it: the system is persistent (conflict-free), and in such a
system either every maximal execution completes or none does. The fork-by-fork schedule above
completes with every FIFO holding at most its computed depth, so with these depths every execution
(whatever the relative speeds, reuse factors or stalls) completes. Throughput is a separate matter:
depths only decide whether the design can run, the slowest layer sets the frame rate.

Checked, and not. ``fpga-flow verify DIR --dataflow`` (fpga_flow/verify/dataflow.py) runs the
written C++ with every stream bounded to its planned depth and every layer in its own thread, over
consecutive images, and reports a deadlock with its wait-for cycle; it also measures each stream's
occupancy and can search the smallest depth per stream. It checks the counting model (the
templates' real read/write order, padding, frame ends) but not RTL timing: the read-ahead margin
above is an estimate of pipeline depths that only C/RTL co-simulation or hardware confirms.
"""
from __future__ import annotations

import numpy as np

CHAIN_DEPTH = 2
JOIN_SLACK = 2  # the join's own loop: one item held while waiting for the other input, one draining


def streams(nodes) -> dict[str, dict]:
    """Internal FIFOs: output name -> {producer, consumers, shape, word_bits, depth}."""
    out = {}
    for rec in nodes:
        if rec["source"]:  # the network input is a top-level port
            continue
        for o in rec["outputs"]:
            out[o["name"]] = {**o, "producer": rec["name"], "consumers": []}
    for rec in nodes:
        for i in rec["inputs"]:
            if i in out:
                out[i]["consumers"].append(rec["name"])
    # the network output is a top-level port, not an internal FIFO
    return {k: v for k, v in out.items() if v["consumers"]}


def read_ahead(rec: dict) -> int:
    """Items the process may read beyond what the C model has read when it writes (its kind's record)."""
    return int(rec["fifo"]["read_ahead"])


def _needs(out_h, out_w, in_w, row_of, col_of):
    """Sorted input counts (1-based) that complete each output pixel."""
    i = np.arange(out_h)[:, None]
    j = np.arange(out_w)[None, :]
    return (row_of(i) * in_w + col_of(j) + 1).reshape(-1)


def counting_function(rec: dict, n_in: int) -> np.ndarray:
    """f[k] = items the layer has written after reading k items of its (first) input, k = 0..n_in,
    by the counting model its kind's record names (rec["fifo"]["counting"], one of COUNTING)."""
    model, g = rec["fifo"]["counting"], rec["geometry"]
    if model not in COUNTING:
        raise ValueError(f"{rec['name']}: unknown FIFO counting model {model!r}; one of {COUNTING}")
    n_out = max(int(np.prod(o["shape"][:-1])) if len(o["shape"]) > 1 else 1 for o in rec["outputs"])
    k = np.arange(n_in + 1)
    if model == "zero_pad":
        w, wp = g["in_width"], g["out_width"]
        idx = np.arange(n_in)
        pos = (idx // w + g["pad_top"]) * wp + (idx % w + g["pad_left"])  # padded index of input idx
        return np.append(pos, g["out_height"] * wp)
    if model == "conv_window":  # stock convs; a 1x1 stride-1 conv is one-to-one
        kh, kw = g["filt_height"], g["filt_width"]
        if kh == 1 and kw == 1 and g.get("stride_height", 1) == 1:
            return np.minimum(k, n_out)
        sh, sw = g["stride_height"], g["stride_width"]
        needs = _needs(g["out_height"], g["out_width"], g["in_width"],
                       lambda i: i * sh + kh - 1, lambda j: j * sw + kw - 1)
        return np.searchsorted(needs, k, side="right")
    if model == "pool_window":
        kh, kw, sh, sw = g["pool_height"], g["pool_width"], g["stride_height"], g["stride_width"]
        h, w = g["in_height"], g["in_width"]
        needs = _needs(g["out_height"], g["out_width"], w,
                       lambda i: np.minimum(i * sh - g["pad_top"] + kh - 1, h - 1),
                       lambda j: np.minimum(j * sw - g["pad_left"] + kw - 1, w - 1))
        return np.searchsorted(needs, k, side="right")
    if model == "at_end":
        return (k >= n_in).astype(np.int64)
    # one_to_one: one output item per input item (activations, pointwise/grouped convs, shuffle, Clone, Dense on one item)
    return np.minimum(k, n_out)


COUNTING = ("zero_pad", "conv_window", "pool_window", "at_end", "one_to_one")


def _n_items(shape) -> int:
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1


def propagate(nodes: list[dict], source: str, n_source: int) -> dict[str, np.ndarray]:
    """Cumulative item count of every stream downstream of ``source`` (only streams all of whose
    producer's inputs descend from it), as a function of m = items written to ``source``, m = 0..n."""
    counts: dict[str, np.ndarray] = {source: np.arange(n_source + 1)}
    for rec in nodes:
        if rec["source"] or not all(i in counts for i in rec["inputs"]):
            continue
        if any(o["name"] in counts for o in rec["outputs"]):
            continue
        ins = [counts[i] for i in rec["inputs"]]
        consumed = np.minimum.reduce(ins) if len(ins) > 1 else ins[0]
        n_in = _n_items(rec.get("in_shape", []))
        f = counting_function(rec, n_in)
        out = f[np.minimum(consumed, n_in)]
        for o in rec["outputs"]:
            counts[o["name"]] = out
    return counts


def longest_run(producer: dict) -> int:
    """The longest run of input items a window producer (conv/pool window counting) reads without
    writing an output (for a stride-2 sliding window: a row and the end of the previous one); 0 for
    producers that write as they read."""
    if producer["fifo"]["counting"] not in ("conv_window", "pool_window"):
        return 0
    f = counting_function(producer, _n_items(producer.get("in_shape", [])))
    needs = np.searchsorted(f, np.arange(1, int(f[-1]) + 1))  # input count that releases output j
    return int(np.diff(needs).max()) if len(needs) > 1 else 0


def pace_depth(run: int, consumer_pace: int) -> int:
    """Depth at which a stream never starves a consumer that takes ``consumer_pace`` cycles per item
    (fpga_flow's MVU: its reuse factor) while its producer, reading one input item per cycle, crosses
    a run of ``run`` inputs without an output (longest_run). Argument: when the consumer is the slower
    of the two, the producer holds its next output until the FIFO has room, so it writes the last
    output before a run in the cycle the consumer takes an item: from then the consumer has that item
    and ``depth`` queued ones, (1 + depth) * pace cycles of work, while the producer needs the run's
    reads and one write (run + 1 cycles, + 1 for the consumer to take it). No starvation iff
    (1 + depth) * pace >= run + 2; one item more is kept for the RTL handshake. (When the producer is
    the slower one, the consumer waits anyway and the frame rate is the producer's.)"""
    if run <= 0 or consumer_pace <= 1:
        return CHAIN_DEPTH
    return max(CHAIN_DEPTH, -(-(int(run) + 2) // int(consumer_pace)))


def _path_read_ahead(by_name, producer_of, stream: str, stop: set[str], memo: dict) -> int:
    """Largest total read-ahead of the processes between the fork's outputs (``stop``) and ``stream``."""
    if stream in stop or stream not in producer_of:
        return 0
    if stream not in memo:
        rec = by_name[producer_of[stream]]
        memo[stream] = read_ahead(rec) + max((_path_read_ahead(by_name, producer_of, i, stop, memo)
                                              for i in rec["inputs"]), default=0)
    return memo[stream]


def analyse(nodes: list[dict]) -> dict[str, dict]:
    """Per internal stream: required depth; for join inputs the backlog (max over the forks' time
    axes, see the module docstring), the read-ahead margin and the fork that sets them."""
    st = streams(nodes)
    by_name = {r["name"]: r for r in nodes}
    producer_of = {o["name"]: r["name"] for r in nodes for o in r["outputs"]}
    first = next(r for r in nodes if r["source"])  # the network input
    axes = [(first["name"], first["outputs"][0]["name"], set())]  # network input: the old, coarse axis
    for rec in nodes:
        if len(rec["outputs"]) > 1 and rec["inputs"]:  # a fork (hls4ml's Clone)
            axes.append((rec["name"], rec["inputs"][0], {o["name"] for o in rec["outputs"]}))
    found: dict[str, dict] = {}
    for fork, src, fork_outs in axes:
        n_src = _n_items(st[src]["shape"]) if src in st else _n_items(first["outputs"][0]["shape"])
        counts = propagate(nodes, src, n_src)
        memo: dict = {}
        for rec in nodes:
            if len(rec["inputs"]) < 2 or not all(i in counts for i in rec["inputs"]):
                continue
            lowest = np.minimum.reduce([counts[i] for i in rec["inputs"]])
            for name in rec["inputs"]:
                backlog = int((counts[name] - lowest).max())
                others = [i for i in rec["inputs"] if i != name]
                margin = JOIN_SLACK + max(_path_read_ahead(by_name, producer_of, i, fork_outs, memo) for i in others)
                cur = found.get(name)  # axes are in topological order: on a tie the nearer fork wins
                if cur is None or backlog >= cur["backlog"]:
                    found[name] = {"backlog": backlog, "margin": margin, "fork": fork}
    result = {}
    for name, s in st.items():
        s = {**s, "run": longest_run(by_name[s["producer"]])}
        f = found.get(name)
        if f and f["backlog"] > 0:
            result[name] = {**s, **f, "required_depth": f["backlog"] + f["margin"]}
        else:
            result[name] = {**s, "backlog": 0, "margin": 0, "fork": f["fork"] if f else None,
                            "required_depth": CHAIN_DEPTH}
    return result
