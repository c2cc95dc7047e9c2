"""Per-layer resource and cycle estimates (ESTIMATES, not measurements), owned by each layer kind.

Each layer kind's record (hls/kinds.py) names the model below that its template follows (copied into
the node as ``rec["estimate"]``); ``MODELS`` maps the name to the function. Every model returns a
:class:`LayerEstimate` for a given reuse factor:

* memories: weight ROM exactly as hls4ml's Resource strategy lays it out (``reuse_factor`` words of
  ``block_factor = ceil(n_weights / reuse_factor)`` weights), biases (partitioned: registers),
  line buffers (stock convs: ``ap_shift_reg`` per channel -> SRL; our pools: row RAMs);
* multipliers: ``block_factor`` parallel products of (input bits x weight bits); a product with an
  operand of 4 bits or fewer goes to LUTs (about a*b LUTs), otherwise one DSP48 per 27x18 slice;
* cycles per frame: a KxK or pointwise conv spends ``reuse_factor`` cycles per output pixel plus one
  per input pixel (hls4ml's Resource conv does not overlap the two), other layers one per pixel;
* fill: input cycles before the first output (line buffers), for the latency estimate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from .memory import Memory


@dataclass
class LayerEstimate:
    layer: str
    kind: str
    reuse_factor: int | None = None
    memories: list[Memory] = field(default_factory=list)
    mults: list[tuple[int, int, int]] = field(default_factory=list)  # (a bits, b bits, count)
    cycles: int = 0
    fill_cycles: int = 0
    extra_luts: int = 0
    macs: int = 0  # multiply-accumulates per frame the layer's maths needs (padding and idle cycles excluded)

    @property
    def dsp(self) -> int:
        return sum(n * dsp_per_product(a, b) for a, b, n in self.mults)

    @property
    def mult_luts(self) -> int:
        return sum(n * a * b for a, b, n in self.mults if dsp_per_product(a, b) == 0)


def dsp_per_product(a: int, b: int) -> int:
    lo, hi = sorted((a, b))
    if lo <= 4:
        return 0
    return math.ceil(hi / 27) * math.ceil(lo / 18)


def _pixels(shape) -> int:
    return int(math.prod(shape[:-1])) if len(shape) > 1 else 1


def _weight_memories(rec: dict, rf: int, bf: int | None = None) -> LayerEstimate:
    """The layer's weight ROM (hls4ml's Resource shape: reuse_factor words of block_factor weights),
    its biases and its multipliers (``bf``: the block factor when it is not ceil(weights / rf))."""
    w = rec["weights"]
    n_w = w["count"]
    rf = max(1, min(int(rf), n_w)) if bf is None else int(rf)
    bf = math.ceil(n_w / rf) if bf is None else int(bf)
    e = LayerEstimate(rec["name"], rec["kind"], rf)
    if rec.get("strategy") == "latency":  # weights as constants in logic: no ROM
        e.extra_luts += n_w * w["bits"] // 2
    else:
        e.memories.append(Memory(rec["name"], "weights", rf, bf * w["bits"], "rom", var=rec.get("weight_var", "")))
    if w["bias_count"]:
        e.memories.append(Memory(rec["name"], "bias", 1, w["bias_count"] * w["bias_bits"], "rom",
                                 var=rec.get("bias_var", "")))
    e.mults.append((rec.get("in_elem_bits", 8), w["bits"], bf))
    return e


def weighted(rec: dict, rf: int, *, dense: bool = False) -> LayerEstimate:
    """Conv2D / DepthwiseConv2D / the grouped extension (Resource ROM of reuse_factor words);
    ``dense``: a Dense layer (one item: reuse_factor cycles, no input pixels to stream)."""
    e = _weight_memories(rec, rf)
    rf = e.reuse_factor
    out_px = _pixels(rec["outputs"][0]["shape"])
    in_px = _pixels(rec["in_shape"]) if "in_shape" in rec else out_px
    g = rec["geometry"]
    k_h, k_w = g.get("filt_height", 1), g.get("filt_width", 1)
    e.macs = out_px * rec["weights"]["count"] if not dense else rec["weights"]["count"]
    if dense:
        e.cycles = rf
    else:
        e.cycles = in_px + out_px * rf
    if k_h > 1 or k_w > 1:  # hls4ml line buffer: (K-1) ap_shift_reg of in_width per channel
        width = g["in_width"]
        e.memories.append(Memory(rec["name"], "line_buffer", width, rec["in_elem_bits"], "shift",
                                 copies=(k_h - 1) * g["n_chan"], note="ap_shift_reg per channel"))
        e.fill_cycles = (k_h - 1) * width + k_w
    return e


# fpga_flow's matrix-vector unit (hls/extensions/cpp/nnet_stream_mvu.h): its ItemLoop is pipelined at II=1
# over n_items * reuse_factor iterations. Pipeline depth (cycles from an iteration's start to its last
# stage), derived from the loop body, not measured: stream read 1, ROM read 2 (address and output
# registers of a BRAM/URAM), input multiplexer 1, DSP48 product 3, one adder-tree level per cycle for the
# simd products of one output and its accumulator (ceil(log2(simd + 1)) levels), cast and stream write 1.
MVU_FIXED_DEPTH = 8


def mvu_pipeline_depth(n_in: int) -> int:
    return MVU_FIXED_DEPTH + math.ceil(math.log2(max(1, int(n_in)) + 1))


# the sliding-window generator (nnet_sliding_window.h): PixelLoop pipelined at II=1 over in_height*in_width
# iterations; body: stream read 1, row-RAM read 1 (LUTRAM: asynchronous read, registered), window write 1
SWG_PIPELINE_DEPTH = 3


def _ceil_div(a, b):
    return -(-a // b)


def _distinct_ceils(n: int) -> list[int]:
    """The distinct values of ceil(n / k), k = 1..n (about 2*sqrt(n) of them), ascending."""
    return sorted({_ceil_div(n, k) for k in range(1, n + 1)})


@lru_cache(maxsize=None)
def mvu_fold(n_in: int, n_out: int, rf: int) -> tuple[int, int, int, int]:
    """(simd, pe, sf, nf) of fpga_flow's MVU at reuse factor ``rf`` (nnet_stream_mvu.h, FINN's folding):
    per item, nf output folds of pe outputs x sf input folds of simd inputs, one (nf, sf) pair per
    cycle: rf = sf * nf, simd * pe multipliers, the matrix padded with zero weights to
    (nf * pe) x (sf * simd). Of the factorisations of rf, the one with the fewest multipliers (then the
    least padding, then the most input folds)."""
    n_in, n_out, rf = int(n_in), int(n_out), int(rf)
    best = None
    for sf in range(1, min(rf, n_in) + 1):
        if rf % sf:
            continue
        nf = rf // sf
        if nf > n_out:
            continue
        simd, pe = _ceil_div(n_in, sf), _ceil_div(n_out, nf)
        key = (simd * pe, simd * sf - n_in + pe * nf - n_out, -sf)
        if best is None or key < best[0]:
            best = (key, (simd, pe, sf, nf))
    if best is None:
        raise ValueError(f"reuse factor {rf} is not valid for the MVU of a {n_in}x{n_out} matrix: use a product "
                         f"sf * nf with sf <= {n_in} input folds and nf <= {n_out} output folds")
    return best[1]


def mvu_dims(n_in: int, n_out: int, rf: int) -> tuple[int, int, int]:
    """(n_in, n_out padded with zero weights, block factor = multipliers) of the MVU at ``rf``."""
    simd, pe, sf, nf = mvu_fold(n_in, n_out, rf)
    return simd * sf, pe * nf, simd * pe


@lru_cache(maxsize=None)
def mvu_reuse_factors(n_in: int, n_out: int) -> tuple[int, ...]:
    """The MVU's useful reuse factors: the fastest for each multiplier count it can have (every other
    reuse factor is slower than one of these and needs at least as many multipliers). Includes
    hls4ml's valid reuse factors whenever they are useful (they are foldings without padding)."""
    n_in, n_out = int(n_in), int(n_out)
    best: dict[int, int] = {}  # rf -> fewest multipliers
    for simd in _distinct_ceils(n_in):
        sf = _ceil_div(n_in, simd)
        for pe in _distinct_ceils(n_out):
            nf = _ceil_div(n_out, pe)
            rf = sf * nf
            if simd * pe < best.get(rf, 1 << 62):
                best[rf] = simd * pe
    out, fewest = [], 1 << 62
    for rf in sorted(best):  # keep an rf only if it needs fewer multipliers than every faster one
        m = mvu_dims(n_in, n_out, rf)[2]
        if m < fewest:
            out.append(rf)
            fewest = m
    return tuple(out)


def mvu(rec: dict, rf: int) -> LayerEstimate:
    """fpga_flow's matrix-vector unit: a weight ROM of reuse_factor words of simd * pe weights
    (mvu_fold); per frame n_items * reuse_factor cycles of its flattened loop plus the pipeline depth
    (no cycle between items)."""
    g = rec["geometry"]
    simd, pe, _, _ = mvu_fold(g["n_in"], g["n_out"], rf)
    e = _weight_memories(rec, rf, simd * pe)
    e.macs = _pixels(rec["outputs"][0]["shape"]) * g["n_in"] * g["n_out"]
    depth = mvu_pipeline_depth(simd)
    e.cycles = _pixels(rec["outputs"][0]["shape"]) * e.reuse_factor + depth
    e.fill_cycles = depth + e.reuse_factor
    return e


def sliding_window(rec: dict, rf=None) -> LayerEstimate:
    """fpga_flow's sliding-window generator: filt_height-1 row RAMs of in_width pixel words (all
    channels; LUTRAM, bound in its header), one input pixel per clock."""
    g = rec["geometry"]
    e = LayerEstimate(rec["name"], rec["kind"])
    kh, kw = g["filt_height"], g["filt_width"]
    if kh > 1:
        e.memories.append(Memory(rec["name"], "line_buffer", g["in_width"], g["n_chan"] * rec["in_elem_bits"], "ram",
                                 copies=kh - 1, note="row RAMs, one word = one pixel"))
    e.cycles = g["in_height"] * g["in_width"] + SWG_PIPELINE_DEPTH
    e.fill_cycles = (kh - 1) * g["in_width"] + kw + SWG_PIPELINE_DEPTH
    return e


def pool_line_buffer(rec: dict, e: LayerEstimate) -> None:
    """fpga_flow's pooling templates: pool_height-1 row RAMs of in_width words (all channels)."""
    g = rec["geometry"]
    kh, kw = g["pool_height"], g["pool_width"]
    if kh > 1:
        e.memories.append(Memory(rec["name"], "line_buffer", g["in_width"], g["n_chan"] * rec["in_elem_bits"], "ram",
                                 copies=kh - 1, note="row RAMs, one word = one pixel"))
    e.cycles = g["in_height"] * g["in_width"]
    e.fill_cycles = (kh - 1) * g["in_width"] + kw


def passthrough(rec: dict, rf=None) -> LayerEstimate:
    """One pixel per clock, no storage: activations, Clone, Concatenate, Add, ZeroPadding2D, ..."""
    e = LayerEstimate(rec["name"], rec["kind"])
    e.cycles = max(_pixels(o["shape"]) for o in rec["outputs"])
    return e


def dense(rec: dict, rf: int) -> LayerEstimate:
    return weighted(rec, rf, dense=True)


def pool_window(rec: dict, rf=None) -> LayerEstimate:
    """Our max pool: line buffer of pool_height-1 row RAMs; one input pixel per clock; comparators only."""
    e = LayerEstimate(rec["name"], rec["kind"])
    pool_line_buffer(rec, e)
    return e


def avg_pool_window(rec: dict, rf=None) -> LayerEstimate:
    """Our exact average pool: line buffer as the max pool, plus one reciprocal multiplier per channel."""
    e = pool_window(rec)
    acc = rec.get("accum_bits", rec["in_elem_bits"] + 4)
    e.mults.append((acc + 1, acc + 6, rec["geometry"]["n_chan"]))
    return e


def global_pool(rec: dict, rf=None) -> LayerEstimate:
    """Our exact global average pool: one accumulator register per channel, one pipelined divider."""
    g = rec["geometry"]
    e = LayerEstimate(rec["name"], rec["kind"])
    e.cycles = g["in_height"] * g["in_width"] + g["n_chan"]
    acc = rec["in_elem_bits"] + math.ceil(math.log2(max(2, g["in_height"] * g["in_width"])))
    e.extra_luts = acc * acc + g["n_chan"] * acc
    return e


MODELS = {"weighted": weighted, "dense": dense, "pool_window": pool_window, "avg_pool_window": avg_pool_window,
          "global_pool": global_pool, "passthrough": passthrough, "mvu": mvu, "sliding_window": sliding_window}


def estimate_layer(rec: dict, rf: int | None = None) -> LayerEstimate:
    model = MODELS.get(rec["estimate"])
    if model is None:
        raise ValueError(f"{rec['name']}: unknown resource model {rec['estimate']!r}; one of {sorted(MODELS)}")
    return model(rec, rf if rf is not None else rec.get("reuse_factor"))
