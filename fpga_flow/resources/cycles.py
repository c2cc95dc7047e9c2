"""Cycle model of the io_stream HLS kernels the flow writes (ESTIMATES, calibrated on real csynth reports).

For one dataflow process (one layer of the written project) ``layer_cycles(rec)`` gives, from the node
record ``fpga_flow.hls.describe.describe`` writes (kind, geometry, reuse factor, strategy, shapes):

* ``interval``: cycles one frame keeps the process busy (its dataflow initiation interval per frame);
* ``latency``: cycles from its start (first input read) to its done (last output written), inputs
  always available, as csynth counts a module's latency;
* ``first_out``: cycles from its first input read to its first output write (the fill a consumer
  waits for), and ``tail``: cycles from its last input read to its done;
* ``model`` (which formula) and ``detail`` (the counts and constants it used).

``network_cycles(nodes)`` composes them: cycles per frame = the largest interval; latency from the
dataflow timing described at ``network_cycles``.

Units and scope. Clock cycles of the HLS schedule, for hls4ml 1.3.0's io_stream templates (Vitis
backend) and fpga_flow's extension kernels. Nothing here ran a vendor tool. A csynth report prints a
data-dependent loop as a [min, max] range; the RTL takes one branch per iteration, so the number
that matters is the per-branch count, e.g. a line-buffer conv pixel that completes no window takes
the short branch and one that computes an output the long one ('4 ~ 55' in a loop table means 4 and
55). The constants below were READ OFF the per-module csynth reports of ``shared/calibration``
(public hls4ml projects; each constant names the case, module and loop rows it comes from), and
``tests/test_cycles.py`` re-checks every modelled module of those reports; the table with the
errors is in docs/throughput.md (``benchmarks/cycle_calibration.py`` regenerates it).

Caveats that apply to every number: the calibration reports come from hls4ml 0.7.1-1.2.0 and Vitis
HLS 2022.1-2025.2 (the templates of the modelled kernels are identical to 1.3.0's where the
docstrings say so); pipeline depths vary by a few cycles with the tool version and the clock; an
achieved II above the target (a carried dependence the tool could not schedule away) is only
modelled where the reports show it systematically (Latency-strategy line-buffer convs). fpga_flow's
own kernels (``fpga_flow/hls/extensions/cpp``) have no report: their numbers are DERIVED from their
pragmas and loop structure with the pipeline depths stated in each function, not measured.
"""
from __future__ import annotations

import math

from .mvu import mvu_fold, mvu_pipeline_depth

# ----------------------------------------------------------------------------------- constants
# Each constant: its value and the report rows it was read from (case, module, loop).

# hls4ml line-buffer conv, Resource strategy, RF > 1 (conv_2d_buffer_cl -> compute_output_buffer_2d ->
# dense_resource): the pixel loop ReadInputHeight_ReadInputWidth is NOT pipelined (its body calls a
# function holding the pipelined ReuseLoop), so each input pixel costs its branch's iteration latency.
CONV_RES_SHORT = 4
"""Iteration latency of a pixel that completes no window. 'it = 4 ~ ...' in all 12 Resource conv loop
rows: tsopeter_best config3/6/9/12, tsopeter_nas config2/5/8 (Vitis 2024.2, hls4ml 1.1.0 = 1.3.0's
nnet_conv_stream.h), dune config3/6/9/12 (Vitis 2023.1)."""
CONV_RES_LONG_OVER_RF = 5
"""Long branch = reuse_factor + 5: '4 ~ 55' at RF 50 (tsopeter_best config3/6/9, nas config2/5),
'4 ~ 50' at RF 45 (tsopeter_best config12, nas config8), '4 ~ 149' at RF 144 (dune config6),
'4 ~ 293' at RF 288 (dune config9/12); dune config3 (RF 144, one input channel) shows +6.
Breakdown (same reports): dense_resource_* 'ReuseLoop' RF trips at II=1 = RF..RF+1 cycles,
compute_output_buffer_2d = dense + 2 ('2 ~ 53'), loop body = + 2."""
CONV_RES_MODULE_OVERHEAD = 1
"""conv_2d_cl module latency = loop latency + 1 (tsopeter config6: loop 3600..49500, module 3601..49501;
all 12 Resource conv rows)."""

# Latency strategy (and Resource at RF = 1, where the dense has no loop left and Vitis pipelines the
# pixel loop itself): the pixel loop is pipelined at II = max(reuse_factor, II_dep). II_dep: the
# static kernel window written by shift_line_buffer of pixel i+1 and read by the dense of pixel i is a
# carried dependence ('Unable to enforce a carried dependence constraint ... between call dense_latency
# and call shift_line_buffer', alveo vitis_hls.log), so the achieved II is the dense's depth + 2.
CONV_PIPE_DEPTH_OVER_II = 2
"""Pipeline depth of the pixel loop = II_dep + 2 (lenet5 config2: II 3, it 5; config6: II 6, it 8;
pixel_pruned config2: II 2, it 4; ece226 conv1d config2: II 3, it 5)."""
CONV_PIPE_MODULE_OVERHEAD = 2
"""Module latency = loop latency + 2 for a pipelined loop (lenet5 config2 loop 2353, module 2355)."""
DEPTHWISE_PIPE_DEPTH = 4
"""DepthwiseConv2D, Latency strategy: compute_depthwise_output_buffer_2d is INLINE (not INLINE OFF as
the conv's), so no carried dependence limits the pixel loop: II = reuse_factor, depth 4. Fitted on the
one row there is: hls4ml_baselines test_depthwise2d io_stream (3x3 on 32x32x3, RF 1; hls4ml master
whose depthwise templates are identical to 1.3.0's; Vitis 2024.1): whole design 1028 cycles."""


def conv_dependence_ii(n_in: int) -> int:
    """II_dep of a pipelined line-buffer conv: 2 + the adder-tree depth beyond 16 terms of its dense,
    ``2 + max(0, ceil(log2(n_in)) - 4)``, n_in = filt_h*filt_w*n_chan products per output.

    Fitted on the achieved II of: pixel_pruned config2 (n_in 9: II 2), pixel_cnn_large config2 (9: 2),
    pixel_pruned config6 (18: 3), lenet5 config2 (25: 3), ece226 config2 (27: 3), alveo config2 (27: 3),
    lenet5 config6 (150: 6). Not reproduced: alveo config6/config10 (144: II 5, rule 6), pixel_cnn_large
    config6 (72, Resource RF 1: II 3, rule 5), kv260 (no project to test: 9 -> 3, 288 -> 4).
    """
    return 2 + max(0, math.ceil(math.log2(max(1, n_in))) - 4)


POOL_II = 1
"""hls4ml pooling2d_buffer_cl: pixel loop PIPELINE (II 1 target). II 1 achieved in alexnet config6/11/24
(2022.1), dune config5/8/11/14 (2023.1), pixel_cnn_large/pruned config5/9 (2023.1), alveo config5/9/13
(2022.2), kv260 config4/7 (2025.2); NOT in lenet5 config5/9 (2023.2: II 2 achieved, see docs)."""
POOL_MODULE_OVER_N = 3
"""pooling2d_cl latency = n_in_pixels + 3 (loop (n-1)*1 + depth 3 - 1, module + 2): alexnet 1024 -> 1027,
dune 64260 -> 64263, pixel 104 -> 107, alveo 900 -> 903 (kv260 2025.2: 676 -> 678)."""

STREAM_LOOP_OVER_N = 2
"""A pixel loop pipelined at II=1 with a short body (read, one operation, write): relu/linear/clone/
concatenate3d/add/our channel shuffle: latency = words + 2. Reports: relu n+3 (alexnet, alveo: 2022.x),
n+2 (pixel: 2023.1), n+1 with interval n (tsopeter 2024.2, ece226 2024.1, 'loop auto-rewind'),
hard_tanh n+4 (lenet5 2023.2); n+2 is the middle (<= 2 cycles off any of them)."""
SINGLE_WORD_ACTIVATION = 1
"""An activation on one stream word (after a dense): 1 cycle (alexnet relu_config29/33, alveo
relu_config18/22; pixel relu_config15: 0; lenet5 hard_tanh_config14/18: 3)."""
TABLE_ACTIVATION_EXTRA = 2
"""sigmoid/tanh (table lookup): +2 over a plain activation (pixel sigmoid_config18, one word: 3)."""

ZEROPAD_LOOP_OVERHEAD = 4
"""zeropad2d_cl (no pragmas: Vitis pipelines each of PadTop, PadMain, PadBottom): latency = 1 +
sum over the loops present of (their writes + 4), = out_pixels + 13 with padding on all sides:
alexnet config37/38/39/40/41 (34x34 -> 1169, 18x18 -> 337, 10x10 -> 113), pixel config19/20
(150 -> 163, 48 -> 61), dune config2 (512x128 -> 65549, top/bottom only)."""

DENSE_PREPARE_OVER_P = 2
"""dense (io_stream): DataPrepare reads P = n_in/word words pipelined: P + 2 (alexnet config26 16 -> 18,
lenet5 config11 16 -> 18; tsopeter_best config16 9 -> 10 and nas config12 121 -> 122 with Vitis 2024.2)."""
DENSE_RES_KERNEL_OVER_RF = 1
"""Resource dense kernel: 'ReuseLoop' RF trips II 1, latency RF..RF+1 ('loop rewind'): tsopeter_best
config16 (54 -> 54..55), nas config12 (66 -> 66..67), dune config16/18 (128 -> 128..129, 8 -> 8..9)."""
DENSE_TAIL = 3
"""dense after the kernel when it read several words (cast, ResWrite, return): module = DataPrepare +
kernel + 3 (tsopeter_best config16: 10 + 55 + 4 = 69 with the 2024.2 DataPrepare of P + 1, nas config12
122 + 67 + 4 = 193; lenet5 config11: 18 + 4 + 3 = 25). One word: + 1 (dune config18: 8..9 -> 9..10,
ece226 config6: 1 -> 2)."""

def dense_latency_depth(n_in: int) -> int:
    """Pipeline depth of hls4ml's dense_latency (all products in parallel, an adder tree of n_in terms):
    ``max(0, ceil(log2(n_in)) - 4)`` cycles beyond the first, the same adder-tree rule as
    conv_dependence_ii. Reports: lenet5 dense_latency_wrapper config11 (256 inputs: 4), config15/19
    (16: 1), ece226 config6 (16: 1); alexnet/alveo/pixel totals within 2 cycles (see the table)."""
    return max(0, math.ceil(math.log2(max(1, n_in))) - 4)


SOFTMAX_BASE = 5
"""softmax (stable) on one word of n values: 5 + ceil(log2 n) (max tree, exp table, sum tree, invert
table, multiply): dune n=3 -> 6, ece226 n=6 -> 8, alexnet n=10 -> 8, lenet5 n=10 -> 10, alveo n=10 ->
11 (kv260 2025.2: 1059, see docs)."""

# fpga_flow's own kernels: DERIVED from their pragmas (no csynth report exists); depths assumed.
OWN_POOL_DEPTH_MAX = 4
"""nnet_stream_maxpool.h ColLoop (PIPELINE II=1) body depth, assumed: stream read, line-buffer LUTRAM
read, column max over pool_height-1 rows, window max over pool_width columns + write."""
OWN_POOL_DEPTH_AVG = 8
"""nnet_exact_avgpool.h: as the max pool plus the exact division (reciprocal multiply, remainder
multiply, round/saturate): + 4, assumed."""
OWN_ROW_OVERHEAD = 2
"""RowLoop is not pipelined and not a perfect nest (row_emit/n_rows computed before ColLoop), so each row
pays the ColLoop pipeline fill/drain plus loop entry/exit: assumed 2 cycles per row beyond the
pipelined ColLoop's own latency ((W-1)*1 + depth)."""
OWN_GAP_DIV_DEPTH = 8
"""nnet_exact_gap.h DivideLoop (PIPELINE II=1) body depth, assumed: division by the constant N (a
multiply-high), remainder multiply, round-half-even compare, saturate, into the output word."""
STRATEGIES = ("resource", "latency")
DEPTHWISE_KINDS = ("DepthwiseConv2D", "DepthwiseConv1D")


# ----------------------------------------------------------------------------------- helpers

def _px(shape) -> int:
    return int(math.prod(shape[:-1])) if shape and len(shape) > 1 else 1


def _out(rec: dict) -> dict:
    return rec["outputs"][0] if rec.get("outputs") else {"shape": [1], "pixels": 1}


def _words_in(rec: dict) -> int:
    """Stream words a process reads (io_stream: a word is one pixel with all its channels; a Dense fed
    through a Reshape reads its producer's words, ``in_word_size`` elements each)."""
    shape = rec.get("in_shape") or _out(rec)["shape"]
    size = rec.get("in_word_size") or (shape[-1] if shape else 1)
    n = int(math.prod(shape)) if shape else 1
    return max(1, n // max(1, int(size)))


def _words_out(rec: dict) -> int:
    shape = _out(rec).get("shape") or [1]
    size = rec.get("out_word_size") or shape[-1]
    return max(1, int(math.prod(shape)) // max(1, int(size)))


def _result(model: str, latency: int, *, interval: int | None = None, first_out: int | None = None,
            drain: tuple[int, int] = (1, 1), trailing: int = 0, **detail) -> dict:
    """drain = (cycles per input item, fixed cycles) a process needs for its last items (see tail_cost);
    trailing = items it writes after its last read without further input (zero-padding's bottom rows)."""
    latency = int(latency)
    detail.update(drain=[int(drain[0]), int(drain[1])], trailing=int(trailing))
    res = {"interval": int(latency if interval is None else interval), "latency": latency,
           "first_out": int(latency if first_out is None else first_out), "tail": 0, "model": model,
           "detail": detail}
    res["tail"] = tail_cost(res, 1)
    return res


def _rf(rec: dict, rf=None) -> int:
    return max(1, int(rf if rf is not None else rec.get("reuse_factor") or 1))


def tail_cost(res: dict, k: int) -> int:
    """Cycles a process needs from the arrival of its k-th last input item to its done (k >= 1)."""
    d = res["detail"]
    if res["model"] == "conv_line_buffer_resource":
        closes = sum(d["closing_tail"][-k:]) if k <= len(d["closing_tail"]) else d["out_pixels"]
        return closes * d["long"] + (k - closes) * d["short"] + CONV_RES_MODULE_OVERHEAD
    per, fixed = d["drain"]
    return (k - 1) * per + fixed


# ----------------------------------------------------------------------------------- stock kernels

def _closing(in_h: int, in_w: int, kh: int, kw: int, sh: int, sw: int, last: int) -> list[int]:
    """1 for each of the `last` final input pixels (raster order) that closes a window, else 0: the
    condition of compute_output_buffer_2d's counters (pY > kh-2, pX > kw-2, sY == kh-1, sX == kw-1)."""
    n = in_h * in_w
    out = []
    for idx in range(max(0, n - last), n):
        r, c = divmod(idx, in_w)
        out.append(int(r >= kh - 1 and (r - kh + 1) % sh == 0 and c >= kw - 1 and (c - kw + 1) % sw == 0))
    return out


def conv_line_buffer(rec: dict, rf=None) -> dict:
    """hls4ml conv_2d_cl / conv_1d_cl, line-buffer implementation (hls4ml 1.3.0 nnet_conv2d_stream.h
    conv_2d_buffer_cl and nnet_conv_stream.h compute_output_buffer_2d/_1d; DepthwiseConv2D's
    depthwise_conv_2d_buffer_cl has the same pixel loop).

    Resource strategy, reuse factor > 1 (the pixel loop is not pipelined): an input pixel that completes
    no window costs CONV_RES_SHORT = 4 cycles, one that completes a window (one output pixel) costs
    RF + CONV_RES_LONG_OVER_RF = RF + 5, so per frame
        latency = 4 * (in_pixels - out_pixels) + (RF + 5) * out_pixels + 1,   interval = latency.
    Rows: tsopeter_best config3/6/9/12, tsopeter_nas config2/5/8, dune config3/6/9/12 (loop tables
    '4 ~ 55', '4 ~ 50', '4 ~ 149/150', '4 ~ 293'; module = loop + 1). 1x1 convs (compute_output_buffer_1d)
    and depthwise convs in Resource have no calibration row: ASSUMED to cost the same per branch.

    Latency strategy (PIPELINE II=reuse_factor on the pixel loop) and Resource at RF = 1 (Vitis pipelines
    the loop itself): II = max(RF, conv_dependence_ii(n_in)), depth D = II_dep + 2, loop latency as
    csynth counts it (in_pixels - 1) * II + D - 1, module + 2:
        latency = (in_pixels - 1) * II + II_dep + 3.
    Rows: lenet5 config2/6, pixel_pruned config2/6, pixel_cnn_large config2, ece226 config2 (conv1d),
    alveo config2 (II 3, 3075); see conv_dependence_ii for the rows it does not reproduce. Depthwise:
    II = RF, depth DEPTHWISE_PIPE_DEPTH (its compute step is inlined).
    """
    g = rec["geometry"]
    kind = rec.get("kind", "")
    in_shape = rec.get("in_shape") or [g.get("in_height", 1), g.get("in_width", 1), g.get("n_chan", 1)]
    conv1d = "in_height" not in g
    in_h = 1 if conv1d else g.get("in_height", in_shape[0])
    in_w = g.get("in_width", in_shape[-2] if len(in_shape) > 1 else 1)
    n_chan = g.get("n_chan", in_shape[-1])
    out_px = _out(rec).get("pixels") or _px(_out(rec)["shape"])
    in_px = in_h * in_w
    kh = 1 if conv1d else g.get("filt_height", 1)
    kw = g.get("filt_width", 1)
    sh, sw = (1 if conv1d else g.get("stride_height", 1)), g.get("stride_width", 1)
    depthwise = kind in DEPTHWISE_KINDS
    n_mult_in = kh * kw * (1 if depthwise else n_chan)
    n_weights = (rec.get("weights") or {}).get("count") or n_mult_in * g.get("n_filt", n_chan)
    rf = min(_rf(rec, rf), max(1, n_weights))
    strategy = str(rec.get("strategy") or "resource").lower()
    first_idx = (kh - 1) * in_w + (kw - 1)  # first input pixel (raster order) that closes a window
    if strategy == "resource" and rf > 1:
        short, long_ = CONV_RES_SHORT, rf + CONV_RES_LONG_OVER_RF
        latency = short * (in_px - out_px) + long_ * out_px + CONV_RES_MODULE_OVERHEAD
        # the last 3 rows are enough for any zero-padding burst the tail model asks about
        closing = _closing(in_h, in_w, kh, kw, sh, sw, min(in_px, 3 * in_w + 3))
        return _result("conv_line_buffer_resource", latency, first_out=first_idx * short + long_,
                       in_pixels=in_px, out_pixels=out_px, short=short, long=long_, reuse_factor=rf,
                       pipelined=False, closing_tail=closing)
    if depthwise:
        ii_dep, depth = 1, DEPTHWISE_PIPE_DEPTH
    else:
        ii_dep = conv_dependence_ii(n_mult_in)
        depth = ii_dep + CONV_PIPE_DEPTH_OVER_II
    ii = max(rf, ii_dep)
    latency = (in_px - 1) * ii + depth - 1 + CONV_PIPE_MODULE_OVERHEAD
    return _result("conv_line_buffer_pipelined", latency, first_out=first_idx * ii + depth,
                   drain=(ii, depth + 1), in_pixels=in_px, out_pixels=out_px, ii=ii, ii_dependence=ii_dep,
                   depth=depth, reuse_factor=rf, strategy=strategy, pipelined=True)


def dense_stream(rec: dict, rf=None) -> dict:
    """hls4ml dense (io_stream, nnet_dense_stream.h): DataPrepare reads P words (pipelined when P > 1:
    P + DENSE_PREPARE_OVER_P), then the kernel, then the cast/write (DENSE_TAIL; 1 for one word).

    Resource, RF > 1: kernel = RF + 1 ('ReuseLoop' RF trips at II 1, 'loop rewind'; tsopeter_best
    config16: 68..69 = 9 words + 54; nas config12: 192..193 = 121 + 66; dune config18: 9..10).
    Latency (or Resource RF 1): kernel = max(1, dense_latency_depth(n_in)) (lenet5 config11: 256 inputs in
    16 words -> 18 + 4 + 3 = 25; ece226 config6, one word -> 1 + 1 = 2). Not reproduced within 10%:
    alexnet config26 (hls4ml 0.7.1 / Vitis 2022.1: 22, model 25) and dune config16 (its DataPrepare was
    not pipelined: 2 cycles per word).
    """
    g = rec["geometry"]
    n_in = g.get("n_in") or int(math.prod(rec.get("in_shape") or [1]))
    n_out = g.get("n_out") or int(math.prod(_out(rec)["shape"]))
    rf = min(_rf(rec, rf), n_in * n_out)
    strategy = str(rec.get("strategy") or "resource").lower()
    p = _words_in(rec)
    prepare = p + DENSE_PREPARE_OVER_P if p > 1 else 0
    if strategy == "resource" and rf > 1:
        kernel = rf + DENSE_RES_KERNEL_OVER_RF
    else:  # dense_latency: all products at once and an adder tree (PIPELINE II=RF in dense_wrapper)
        kernel = max(1, dense_latency_depth(n_in))
    tail = DENSE_TAIL if p > 1 else 1
    latency = prepare + kernel + tail
    return _result("dense_stream", latency, first_out=latency, drain=(1, kernel + tail + 1),
                   words_in=p, prepare=prepare, kernel=kernel, reuse_factor=rf, strategy=strategy)


def pooling_line_buffer(rec: dict, rf=None) -> dict:
    """hls4ml pooling2d_cl / pooling1d_cl, line buffer (nnet_pooling_stream.h pooling2d_buffer_cl: the
    pixel loop is PIPELINE, II 1): latency = in_pixels + POOL_MODULE_OVER_N (3). Rows: alexnet
    config6/11/24, dune config5/8/11/14, pixel_cnn_large/pruned config5/9, alveo config5/9/13 (and
    kv260 config4/7 within 1). Known exception: lenet5 config5/9 (Vitis 2023.2) achieved II 2."""
    g = rec["geometry"]
    in_shape = rec.get("in_shape") or [1, 1]
    in_px = _px(in_shape)
    kh, kw = g.get("pool_height", 1), g.get("pool_width", g.get("pool_height", 1))
    in_w = g.get("in_width", in_shape[-2] if len(in_shape) > 1 else 1)
    latency = (in_px - 1) * POOL_II + POOL_MODULE_OVER_N + 1
    first_idx = (kh - 1) * in_w + (kw - 1) if "in_height" in g else kw - 1
    return _result("pooling_line_buffer", latency, first_out=first_idx * POOL_II + POOL_MODULE_OVER_N,
                   drain=(POOL_II, POOL_MODULE_OVER_N), in_pixels=in_px, ii=POOL_II)


def zeropad(rec: dict, rf=None) -> dict:
    """hls4ml zeropad2d_cl / zeropad1d_cl (nnet_padding_stream.h, identical 0.7.1 .. 1.3.0; no pragmas,
    Vitis pipelines each loop): 2D latency = 1 + sum over the loops present (PadTop if pad_top,
    PadMain, PadBottom if pad_bottom) of (their writes + ZEROPAD_LOOP_OVERHEAD); rows alexnet
    config37-41, pixel config19/20, dune config2 (all exact). 1D: out_width + 2 (ece226 config8:
    130 -> 132). After its last read it still writes pad_right + pad_bottom * out_width zeros (the
    'trailing' burst its consumer must then process)."""
    g = rec["geometry"]
    o = _out(rec)
    out_px = o.get("pixels") or _px(o["shape"])
    if "in_height" not in g:
        right = g.get("pad_right", 0)
        return _result("zeropad1d", out_px + 2, first_out=1 + g.get("pad_left", 0), drain=(1, 2 + right),
                       trailing=right, out_pixels=out_px)
    out_w = g.get("out_width", o["shape"][1] if len(o["shape"]) > 2 else 1)
    loops = {"PadTop": g.get("pad_top", 0) * out_w, "PadMain": g.get("in_height", 1) * out_w,
             "PadBottom": g.get("pad_bottom", 0) * out_w}
    loops = {n: w for n, w in loops.items() if w > 0}
    latency = 1 + sum(w + ZEROPAD_LOOP_OVERHEAD for w in loops.values())
    top = loops.get("PadTop", 0)
    trailing = g.get("pad_right", 0) + loops.get("PadBottom", 0)
    drain = 1 + g.get("pad_right", 0) + (loops["PadBottom"] + ZEROPAD_LOOP_OVERHEAD if "PadBottom" in loops else 0)
    return _result("zeropad2d", latency, first_out=1 + (top + ZEROPAD_LOOP_OVERHEAD if top else 0) + g.get("pad_left", 0),
                   drain=(1, drain), trailing=trailing, out_pixels=out_px, loops=loops)


def stream_loop(rec: dict, rf=None, *, extra: int = 0, model: str = "stream_loop") -> dict:
    """One pipelined (II 1) loop over the stream words with a short body: hls4ml relu/linear/other
    activations, clone_stream, concatenate3d (axis -1), add/Merge, and fpga_flow's channel shuffle
    (nnet_channel_shuffle.h PixelLoop PIPELINE II=1). latency = words + STREAM_LOOP_OVER_N (+ extra for a
    table lookup); one word (after a dense): SINGLE_WORD_ACTIVATION (+ extra)."""
    words = max(_words_in(rec), _words_out(rec))
    if words <= 1:
        lat = SINGLE_WORD_ACTIVATION + extra
        return _result(model, lat, first_out=lat, drain=(1, lat), words=words)
    lat = words + STREAM_LOOP_OVER_N + extra
    return _result(model, lat, first_out=1 + STREAM_LOOP_OVER_N + extra, drain=(1, 1 + STREAM_LOOP_OVER_N + extra),
                   words=words)


def activation(rec: dict, rf=None) -> dict:
    """hls4ml activations (nnet_activation_stream.h, one PIPELINE loop over the words): stream_loop;
    sigmoid/tanh and other table lookups + TABLE_ACTIVATION_EXTRA."""
    act = str(rec.get("activation", "")).lower()
    extra = TABLE_ACTIVATION_EXTRA if act in ("sigmoid", "tanh", "softsign", "elu", "selu") else 0
    return stream_loop(rec, rf, extra=extra, model="activation")


def batchnorm(rec: dict, rf=None) -> dict:
    """normalize (BatchNormalization): one word -> 2 (alveo config17/21, lenet5 config13/17: 1..2);
    P words -> P + 3 (ASSUMED: one stage more than an activation; no row)."""
    if max(_words_in(rec), _words_out(rec)) > 1:
        return stream_loop(rec, rf, extra=1, model="batchnorm")
    return _result("batchnorm", 2, drain=(1, 2), words=1)


def concatenate(rec: dict, rf=None) -> dict:
    """concatenate3d/2d along channels (one word from each input, one out, PIPELINE II=1): stream_loop.
    concatenate1d (two pipelined read loops, one write): words1 + words2 + 8 (pixel_cnn_large config12:
    6 + 1 words -> 13, pixel_pruned config12 -> 16)."""
    if len(_out(rec).get("shape") or [1]) == 1:  # flat output: concatenate1d
        p1 = _words_in(rec)
        lat = p1 + 1 + 8
        return _result("concatenate1d", lat, drain=(1, 10), words_in=p1)
    return stream_loop(rec, rf, model="concatenate3d")


def softmax(rec: dict, rf=None) -> dict:
    """softmax (stable) on words of n values: words - 1 + SOFTMAX_BASE + ceil(log2 n) (rows: see
    SOFTMAX_BASE)."""
    n = (_out(rec).get("shape") or [1])[-1]
    words = _words_in(rec)
    one = SOFTMAX_BASE + math.ceil(math.log2(max(2, n)))
    return _result("softmax", words - 1 + one, first_out=one, drain=(1, one), words=words, n=n)


def global_pool_stock(rec: dict, rf=None) -> dict:
    """hls4ml global_pooling2d_cl/1d_cl: the pixel loop pipelined, then one result word: words + 3
    (ece226 config5, GlobalPooling1D: 128 -> 131)."""
    p = _words_in(rec)
    return _result("global_pool_stock", p + 3, drain=(1, 3), words=p)


# ----------------------------------------------------------------------------------- fpga_flow kernels

def own_window_pool(rec: dict, rf=None, *, depth: int = OWN_POOL_DEPTH_MAX, model: str = "own_maxpool") -> dict:
    """fpga_flow stream_window2d_cl (nnet_stream_maxpool.h; HStreamMaxPool2D, HExactAvgPool2D): RowLoop
    (not pipelined, not a perfect nest) around ColLoop (PIPELINE II=1, one input pixel per iteration).
    Per row: ColLoop (in_width - 1) * 1 + depth, plus OWN_ROW_OVERHEAD; module + 1:
        latency = in_height * (in_width - 1 + depth + 2) + 1.
    DERIVED from the pragmas; depth (4 max, 8 exact average) ASSUMED, not measured."""
    g = rec["geometry"]
    in_h, in_w = g["in_height"], g["in_width"]
    kh, kw = g.get("pool_height", 1), g.get("pool_width", 1)
    row = in_w - 1 + depth + OWN_ROW_OVERHEAD
    latency = in_h * row + 1
    # the first output's window ends at row kh-1-pad_top, column kw-1-pad_left, clipped to the map
    # (smp_window_end in nnet_stream_maxpool.h)
    first_row = max(0, min(in_h - 1, kh - 1 - g.get("pad_top", 0)))
    first_col = max(0, min(in_w - 1, kw - 1 - g.get("pad_left", 0)))
    return _result(model, latency, first_out=first_row * row + first_col + depth,
                   drain=(1, depth + OWN_ROW_OVERHEAD), in_pixels=in_h * in_w, row_cycles=row, depth=depth,
                   derived=True)


def own_avg_pool(rec: dict, rf=None) -> dict:
    return own_window_pool(rec, rf, depth=OWN_POOL_DEPTH_AVG, model="own_avgpool")


def own_global_avg(rec: dict, rf=None) -> dict:
    """fpga_flow exact_global_avgpool2d_cl (nnet_exact_gap.h): AccumLoop (PIPELINE II=1, n_pixels, depth 2)
    then DivideLoop (PIPELINE II=1, n_chan, depth OWN_GAP_DIV_DEPTH) then one write, + 2 per loop + 1:
        latency = (n_pixels + 1 + 2) + (n_chan - 1 + 8 + 2) + 1.  DERIVED, depths ASSUMED."""
    g = rec["geometry"]
    in_shape = rec.get("in_shape") or [g.get("in_height", 1), g.get("in_width", 1), g.get("n_chan", 1)]
    n_px, n_chan = _px(in_shape), in_shape[-1]
    accum = n_px + 1 + 2
    divide = (n_chan - 1) + OWN_GAP_DIV_DEPTH + 2
    latency = accum + divide + 1
    return _result("own_global_avgpool", latency, drain=(1, divide + 3), pixels=n_px, channels=n_chan,
                   derived=True)


# the sliding-window generator (nnet_sliding_window.h): PixelLoop pipelined at II=1 over in_height*in_width
# iterations, the only loop; body: stream read 1, row-RAM read 1 (LUTRAM: asynchronous read, registered),
# window write 1. DERIVED, not measured.
SWG_PIPELINE_DEPTH = 3


def own_mvu(rec: dict, rf=None) -> dict:
    """fpga_flow stream_mvu_cl (nnet_stream_mvu.h): one loop of n_items * RF iterations at II=1 (items and
    folds flattened, no cycle between items), depth mvu_pipeline_depth(simd):
        latency = n_items * RF + depth  ((trips - 1) * II + depth, + 1 for the module).
    DERIVED from the pragmas and loop structure; the depth ASSUMED (resources/mvu.py)."""
    g = rec["geometry"]
    rf = _rf(rec, rf)
    simd, pe, sf, nf = mvu_fold(g["n_in"], g["n_out"], rf)
    n_items = _out(rec).get("pixels") or _px(_out(rec)["shape"])
    depth = mvu_pipeline_depth(simd)
    return _result("own_mvu", n_items * rf + depth, first_out=rf + depth, drain=(rf, rf + depth),
                   items=n_items, reuse_factor=rf, simd=simd, pe=pe, depth=depth, derived=True)


def own_sliding_window(rec: dict, rf=None) -> dict:
    """fpga_flow sliding_window2d_cl (nnet_sliding_window.h): one loop over the in_height * in_width input
    pixels at II=1 (row and column flattened), depth SWG_PIPELINE_DEPTH: latency = in_px + depth; the
    first window leaves after the pixel closing it, ((filt_height-1) * in_width + filt_width - 1) reads.
    DERIVED, depth ASSUMED."""
    g = rec["geometry"]
    in_px = g["in_height"] * g["in_width"]
    first_idx = (g["filt_height"] - 1) * g["in_width"] + g["filt_width"] - 1
    return _result("own_sliding_window", in_px + SWG_PIPELINE_DEPTH, first_out=first_idx + SWG_PIPELINE_DEPTH,
                   drain=(1, SWG_PIPELINE_DEPTH), in_pixels=in_px, depth=SWG_PIPELINE_DEPTH, derived=True)


def alias(rec: dict, rf=None) -> dict:
    """A node that is no process (io_stream Reshape/Flatten: 'auto& layerN_out = layerM_out;')."""
    return _result("alias", 0, first_out=0, drain=(0, 0))


def generic(rec: dict, rf=None) -> dict:
    """A node class with no model here: one word per cycle (stream_loop), flagged as unmodelled."""
    r = stream_loop(rec, rf, model="generic_unmodelled")
    r["detail"]["unmodelled"] = rec.get("kind")
    return r


MODELS = {
    "conv_line_buffer": conv_line_buffer, "dense_stream": dense_stream, "pooling_line_buffer": pooling_line_buffer,
    "zeropad": zeropad, "activation": activation, "batchnorm": batchnorm, "concatenate": concatenate,
    "stream_loop": stream_loop, "softmax": softmax, "global_pool_stock": global_pool_stock,
    "own_window_pool": own_window_pool, "own_avg_pool": own_avg_pool, "own_global_avg": own_global_avg,
    "own_mvu": own_mvu, "own_sliding_window": own_sliding_window,
    "alias": alias, "generic": generic,
}
"""Cycle models by name (a record may name its own in ``rec['cycles']``)."""
KIND_MODEL = {
    "Conv2D": "conv_line_buffer", "Conv1D": "conv_line_buffer", "PointwiseConv2D": "conv_line_buffer",
    "PointwiseConv1D": "conv_line_buffer", "Conv2DBatchnorm": "conv_line_buffer",
    "DepthwiseConv2D": "conv_line_buffer", "DepthwiseConv1D": "conv_line_buffer",
    "Dense": "dense_stream", "Pooling2D": "pooling_line_buffer", "Pooling1D": "pooling_line_buffer",
    "ZeroPadding2D": "zeropad", "ZeroPadding1D": "zeropad",
    "Activation": "activation", "ParametrizedActivation": "activation", "HardActivation": "activation",
    "BatchNormalization": "batchnorm", "Concatenate": "concatenate", "Clone": "stream_loop", "Merge": "stream_loop",
    "Softmax": "softmax", "GlobalPooling2D": "global_pool_stock", "GlobalPooling1D": "global_pool_stock",
    "HStreamMaxPool2D": "own_window_pool", "HExactAvgPool2D": "own_avg_pool",
    "HExactGlobalAvgPool2D": "own_global_avg", "HChannelShuffle": "stream_loop",
    "HStreamConv": "own_mvu", "HSlidingWindow2D": "own_sliding_window",
    "Reshape": "alias", "Flatten": "alias",
}
"""The model of each hls4ml node class (``kind``) for records that do not name theirs: the flow's own
records carry ``cycles`` from their layer kind's record (hls/kinds.py, copied by describe()); this table
serves records read from other projects (the calibration cases' parameters.h, resources/csynth_perf.py)."""
SOURCES = ("Input", "InputLayer")


def model_name(rec: dict) -> str:
    """The cycle model a record gets: 'source' for the network input (no process), else its own ``cycles``
    field, else by its kind; 'generic' for a kind no model covers."""
    if rec.get("kind", "") in SOURCES or rec.get("source"):
        return "source"
    return rec.get("cycles") or KIND_MODEL.get(rec.get("kind", ""), "generic")


def layer_cycles(rec: dict, rf: int | None = None) -> dict:
    """Cycles of one node record (describe()'s form): {'interval', 'latency', 'first_out', 'tail', 'model',
    'detail'}; ``rf`` overrides the record's reuse factor (to try a plan before writing it)."""
    name = model_name(rec)
    if name == "source":
        return _result("source", 0, first_out=0, drain=(0, 0))
    return MODELS[name](rec, rf)


# ----------------------------------------------------------------------------------- the network

def network_cycles(nodes: list[dict], rfs: dict[str, int] | None = None) -> dict:
    """Cycles per frame and latency of the dataflow network of ``nodes`` (describe()'s records, in
    graph order), with ``rfs`` {layer name: reuse factor} overriding the records' reuse factors.

    cycles_per_frame: the largest process interval (every process runs concurrently on consecutive
    frames; the slowest one sets the rate). csynth prints the top's interval as that + 0..1.

    latency_cycles (first input read to last output written, one frame, the input at full rate). The
    ASSUMED timing of FIFO-connected processes (FIFOs never full): a process starts when the first
    word of each input has arrived, ``start = max over producers (start_q + first_out_q)``; it is done
    no earlier than its own latency after its start, nor earlier than it takes to process the last
    items of each producer after they arrive:
        end = max(start + latency, max over producers (end_q - trailing_q + tail_cost(trailing_q or 1)))
    (trailing_q: items q writes after its own last read, e.g. zero-padding's bottom rows, which a
    slower consumer then processes at its own pace). Network latency = the latest end. Along a chain
    that is the fills up to the slowest process + its latency + the drains of everything after it.
    Compared with the csynth top latency in docs/throughput.md (they differ; see there).
    """
    rfs = rfs or {}
    by_var: dict[str, str] = {}
    word: dict[str, int] = {}   # producer layer -> elements per stream word (a Reshape keeps its input's)
    per: dict[str, dict] = {}
    timing: dict[str, tuple[int, int]] = {}
    for rec in nodes:
        prods = [by_var.get(i, i) for i in rec.get("inputs", [])]
        r = dict(rec)
        if prods and prods[0] in word and "in_word_size" not in r:
            r["in_word_size"] = word[prods[0]]
        c = layer_cycles(r, rfs.get(rec["name"]))
        known = [p for p in prods if p in timing]
        start = max((timing[p][0] + per[p]["first_out"] for p in known), default=0)
        end = start + c["latency"]
        for p in known:
            trailing = per[p]["detail"].get("trailing", 0)
            end = max(end, timing[p][1] - trailing + tail_cost(c, max(1, trailing)))
        if c["model"] == "alias":  # no process: passes its producer's timing on
            start, end = (timing[known[0]] if known else (0, 0))
            c = dict(c, first_out=per[known[0]]["first_out"] if known else 0)
        per[rec["name"]] = c
        timing[rec["name"]] = (start, end)
        w = (rec.get("outputs") or [{}])[0].get("shape") or [1]
        word[rec["name"]] = word[prods[0]] if c["model"] == "alias" and prods and prods[0] in word else w[-1]
        for o in rec.get("outputs", []):
            for key in (o.get("name"), o.get("var")):
                if key:
                    by_var[key] = rec["name"]
    procs = {n: c for n, c in per.items() if c["model"] not in ("source", "alias")}
    for n, (s, e) in timing.items():
        per[n] = dict(per[n], start=s, end=e)
    if not procs:
        return {"cycles_per_frame": 0, "latency_cycles": 0, "slowest_layer": None, "per_layer": per}
    slowest = max(procs, key=lambda n: procs[n]["interval"])
    return {"cycles_per_frame": procs[slowest]["interval"], "latency_cycles": max(e for _, e in timing.values()),
            "slowest_layer": slowest, "per_layer": per}
