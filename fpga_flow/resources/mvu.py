"""fpga_flow's matrix-vector unit (hls/extensions/cpp/nnet_stream_mvu.h): how it folds a matrix for a
reuse factor, which reuse factors are worth planning, and its pipeline depth. Plain data, no TF/hls4ml:
the resource model (estimate.py), the cycle model (cycles.py), the fitter (fit.py) and the layer's
weight layout (hls/extensions/stream_conv.py) all read the folding from here.
"""
from __future__ import annotations

import math
from functools import lru_cache

# Pipeline depth of the MVU's ItemLoop (cycles from an iteration's start to its last stage), DERIVED from
# the loop body, not measured: stream read 1, ROM read 2 (address and output registers of a BRAM/URAM),
# input multiplexer 1, DSP48 product 3, one adder-tree level per cycle for the simd products of one
# output and its accumulator (ceil(log2(simd + 1)) levels), cast and stream write 1.
MVU_FIXED_DEPTH = 8


def mvu_pipeline_depth(simd: int) -> int:
    return MVU_FIXED_DEPTH + math.ceil(math.log2(max(1, int(simd)) + 1))


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


