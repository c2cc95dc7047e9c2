"""Per-layer resource and cycle estimates (ESTIMATES, not measurements), owned by each layer kind.

Each layer kind's record (hls/kinds.py) names the model below that its template follows (copied into
the node as ``rec["estimate"]``); ``MODELS`` maps the name to the function. Every model returns a
:class:`LayerEstimate` for a given reuse factor:

* memories: weight ROM exactly as hls4ml's Resource strategy lays it out (``reuse_factor`` words of
  ``block_factor = ceil(n_weights / reuse_factor)`` weights), biases (partitioned: registers),
  line buffers (stock convs: ``ap_shift_reg`` per channel -> SRL; our pools: row RAMs);
* multipliers: ``block_factor`` parallel products of (input bits x weight bits); a product with an
  operand of 4 bits or fewer goes to LUTs (about a*b LUTs), otherwise one DSP48 per 27x18 slice;
* cycles per frame: the process's interval by the cycle model (resources/cycles.py: calibrated on real
  csynth reports for hls4ml's kernels, derived from their loops for fpga_flow's), set by estimate_layer;
* macs: the multiply-accumulates per frame the layer's maths needs (for the MAC efficiency).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import cycles as cycle_model
from .memory import Memory
from .mvu import mvu_fold


@dataclass
class LayerEstimate:
    layer: str
    kind: str
    reuse_factor: int | None = None
    memories: list[Memory] = field(default_factory=list)
    mults: list[tuple[int, int, int]] = field(default_factory=list)  # (a bits, b bits, count)
    cycles: int = 0  # per frame, resources/cycles.py (estimate_layer sets it)
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
    if k_h > 1 or k_w > 1:  # hls4ml line buffer: (K-1) ap_shift_reg of in_width per channel
        width = g["in_width"]
        e.memories.append(Memory(rec["name"], "line_buffer", width, rec["in_elem_bits"], "shift",
                                 copies=(k_h - 1) * g["n_chan"], note="ap_shift_reg per channel"))
    return e


def mvu(rec: dict, rf: int) -> LayerEstimate:
    """fpga_flow's matrix-vector unit: a weight ROM of reuse_factor words of simd * pe weights
    (mvu_fold); per frame n_items * reuse_factor cycles of its flattened loop plus the pipeline depth
    (no cycle between items)."""
    g = rec["geometry"]
    simd, pe, _, _ = mvu_fold(g["n_in"], g["n_out"], rf)
    e = _weight_memories(rec, rf, simd * pe)
    e.macs = _pixels(rec["outputs"][0]["shape"]) * g["n_in"] * g["n_out"]
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
    return e


def pool_line_buffer(rec: dict, e: LayerEstimate) -> None:
    """fpga_flow's pooling templates: pool_height-1 row RAMs of in_width words (all channels)."""
    g = rec["geometry"]
    kh, kw = g["pool_height"], g["pool_width"]
    if kh > 1:
        e.memories.append(Memory(rec["name"], "line_buffer", g["in_width"], g["n_chan"] * rec["in_elem_bits"], "ram",
                                 copies=kh - 1, note="row RAMs, one word = one pixel"))


def passthrough(rec: dict, rf=None) -> LayerEstimate:
    """No storage: activations, Clone, Concatenate, Add, ZeroPadding2D, ..."""
    return LayerEstimate(rec["name"], rec["kind"])


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
    acc = rec["in_elem_bits"] + math.ceil(math.log2(max(2, g["in_height"] * g["in_width"])))
    e.extra_luts = acc * acc + g["n_chan"] * acc
    return e


MODELS = {"weighted": weighted, "dense": dense, "pool_window": pool_window, "avg_pool_window": avg_pool_window,
          "global_pool": global_pool, "passthrough": passthrough, "mvu": mvu, "sliding_window": sliding_window}


def estimate_layer(rec: dict, rf: int | None = None) -> LayerEstimate:
    """The layer's memories, multipliers and MACs (its kind's resource model) and its cycles per frame
    (resources/cycles.py) at reuse factor ``rf`` (default: the record's)."""
    model = MODELS.get(rec["estimate"])
    if model is None:
        raise ValueError(f"{rec['name']}: unknown resource model {rec['estimate']!r}; one of {sorted(MODELS)}")
    rf = rf if rf is not None else rec.get("reuse_factor")
    e = model(rec, rf)
    e.cycles = cycle_model.layer_cycles(rec, e.reuse_factor or rf)["interval"]
    return e
