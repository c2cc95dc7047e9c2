"""DSPs the HLS C-synthesis report counts per hls4ml layer instance, from its multiplications.

Read off the csynth reports in ``shared/calibration``: every sub-module report lists its multipliers
by operand widths (``mul_16s_7ns_23_1_1``: a 16-bit signed by 7-bit unsigned product) with the DSPs it
binds each to, and every top report lists the DSPs per layer instance. ``tests/test_calibration.py``
checks the rules below instance by instance.

Rule D1 - a product is bound to DSPs only when one operand is wider than 10 bits: every
    ``mul_AxB`` with both widths <= 10 in the reports is LUTs (mul_6s_6ns, mul_8s_5s, mul_8s_6ns,
    mul_9s_5s, mul_10ns_10ns, mul_10ns_10s: 0 DSP, 76 instances) and every one with a width >= 11 is
    DSP (mul_16s_5ns ... mul_24ns_18s: 1 DSP each, > 9,000 instances). A DSP48E2 multiplies 27x18
    (UltraScale/UltraScale+; DSP48E1 of 7-series: 25x18; Versal DSP58: 27x24): wider products take
    ceil(hi/27) x ceil(lo/18) slices.
Rule D2 - constants (Latency strategy, or any reuse factor of 1: the weights are fully partitioned
    constants): a weight whose value has at most two non-zero digits in canonical signed-digit form
    (+-2^a +- 2^b: 0, powers of two, 3, 5, 6, 7, 9, 12, ...) is shifts and one add, no multiplier; any
    other is a multiplier of (input bits) x (bits of the weight's odd part, signed: the tool shrinks a
    constant to its value, mul_16s_7s), bound by D1 (pixel_pruned: 24-bit inputs x 24-bit weight types,
    1 DSP per product, not 2). Evidence: ece226 (Vitis 2024.1)
    conv1d 432 weights -> 374 by the rule, 370 real (the sub-report lists 370 mul_16s_*); dense 96 ->
    91, real 91; lenet5 (2023.2) batchnorm scales fixed<8,4> x 21-bit inputs: 8 of 16 scales -> 8, real
    8, the other batchnorm 0 -> real 0; every lenet5 conv/dense is 8-bit x 8-bit -> 0, real 0.
    The weight codes are the weights in their hls4ml type (value x 2^fractional bits, truncated as
    ap_fixed's default AP_TRN does).
Rule D3 - variables (Resource strategy, reuse factor > 1: weights read from a ROM): every product of
    the ``block_factor = ceil(n_in*n_out/RF)`` computed per cycle is a multiplier. Wide ones (D1) take
    their slices each (dune, 16x16, RF 144/288: all six instances exact). Narrow ones (both <= 10 bits)
    are LUTs, except that the tool fuses one multiply with the accumulation it feeds into a DSP
    (``mac_muladd_6s_6ns_18s``): per accumulator, ceil(k/2) DSPs for its k products per cycle
    (tsopeter, 6x6 bits: k=1 -> 1 (four instances), k=2 -> 1 (config9: 10 products, 5 accumulators,
    5 mac_muladd + 5 mul in LUTs); nas dense k=11 -> 6, real 7).
Rule D4 - softmax: n DSPs for n inputs (alexnet, lenet5, U55C 10 -> 10, ece226 6 -> 6). NOT reproduced:
    dune 3 -> 1, kv260 (2025.2) 10 -> 17.
Everything else (activations, pooling, padding, concatenation) counts 0 DSP in every report.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

LUT_MAX_BITS = 10  # rule D1


def mult_shape(family: str = "") -> tuple[int, int]:
    """(A, B) operand widths of one DSP slice of the family."""
    if family in ("zynq", "artix7", "kintex7", "virtex7", "spartan7"):
        return 25, 18  # DSP48E1
    if family == "versal":
        return 27, 24  # DSP58
    return 27, 18  # DSP48E2 (UltraScale, UltraScale+)


def product_dsp(a_bits: int, b_bits: int, family: str = "") -> int:
    """DSPs of one multiplier of a x b bits (rule D1): 0 when both are <= 10 bits."""
    lo, hi = sorted((int(a_bits), int(b_bits)))
    if lo <= 0 or hi <= LUT_MAX_BITS:
        return 0
    wa, wb = mult_shape(family)
    return math.ceil(hi / wa) * math.ceil(lo / wb)


def csd_digits(n: int) -> int:
    """Non-zero digits of n in canonical signed-digit (non-adjacent) form."""
    n, count = abs(int(n)), 0
    while n:
        if n & 1:
            n -= 2 - (n & 3)  # +1 or -1 digit
            count += 1
        n >>= 1
    return count


def const_bits(code: int) -> int:
    """Width of the multiplier HLS builds for a constant: its odd part (trailing zeros are a shift),
    signed (mul_16s_7s: a 7-bit signed constant)."""
    c = abs(int(code))
    while c and not c & 1:
        c >>= 1
    return c.bit_length() + 1


def const_product_dsp(code: int, in_bits: int, w_bits: int, family: str = "") -> int:
    """DSPs of input x constant weight (rule D2); code = the weight as an integer of its type."""
    if code == 0 or csd_digits(code) <= 2:
        return 0
    return product_dsp(in_bits, min(int(w_bits), const_bits(code)), family)


def weight_codes(values, frac_bits: int):
    """Weights as integers of their fixed-point type (value x 2^frac, truncated: ap_fixed's AP_TRN)."""
    import numpy as np

    return np.floor(np.asarray(values, dtype=np.float64) * (2.0 ** frac_bits) + 1e-9).astype(np.int64).ravel()


def const_layer_dsp(codes, in_bits: int, w_bits: int, family: str = "") -> int:
    """DSPs of a fully unrolled product with constant weights (Latency, or reuse factor 1)."""
    return sum(const_product_dsp(int(c), in_bits, w_bits, family) for c in codes if c != 0)


def resource_layer_dsp(n_in: int, n_out: int, rf: int, in_bits: int, w_bits: int, family: str = "") -> int:
    """DSPs of hls4ml's dense_resource at reuse factor rf > 1 (rule D3)."""
    n = n_in * n_out
    rf = max(1, min(int(rf), n))
    bf = math.ceil(n / rf)
    per = product_dsp(in_bits, w_bits, family)
    if per:
        return bf * per
    acc = min(bf, n_out)  # accumulators written per cycle
    k = math.ceil(bf / acc)  # products per accumulator per cycle
    return acc * math.ceil(k / 2)


def softmax_dsp(n: int) -> int:
    """Rule D4."""
    return int(n)


# ----------------------------------------------------------------------------- written hls4ml projects
# Reading an hls4ml project's firmware (myproject.cpp, parameters.h, defines.h) to get, per layer
# instance, what the rules need: the calibration cases ship the firmware their reports were made from.

_CALL_RE = re.compile(r"nnet::(\w+)<\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*>\s*\(")
_STRUCT_RE = re.compile(r"struct\s+(\w+)\s*:\s*nnet::\w+\s*\{(.*?)\n\};", re.S)
_TYPEDEF_RE = re.compile(r"typedef\s+(.+?)\s+(\w+)\s*;")


def type_bits(decl: str) -> tuple[int, int]:
    """(element bits, elements) of a C++ type as hls4ml writes it: ap_fixed<16,6>, ap_ufixed<6,0,...>,
    ap_uint<8>, ap_int<4>, nnet::array<ap_fixed<16,6>, 32*1>. (0, 0) if not recognised."""
    m = re.match(r"\s*nnet::array<\s*(.*),\s*([\d*\s]+)>\s*$", decl)
    if m:
        bits, _ = type_bits(m.group(1))
        return bits, int(eval(m.group(2).replace(" ", ""), {"__builtins__": {}}))  # '32*1'
    m = re.match(r"\s*ap_u?(?:fixed|int)<\s*(\d+)", decl)
    return (int(m.group(1)), 1) if m else (0, 0)


def type_frac(decl: str) -> int:
    """Fractional bits of ap_fixed<W,I,...> / ap_ufixed<W,I,...> (0 for integers)."""
    m = re.match(r"\s*ap_u?fixed<\s*(\d+)\s*,\s*(-?\d+)", decl)
    return int(m.group(1)) - int(m.group(2)) if m else 0


def read_firmware(cpp: Path, parameters_h: Path, defines_h: Path) -> list[dict]:
    """The layer calls of an hls4ml top function, each with what the DSP rules need: function, config
    number, n_in, n_out, reuse factor, strategy, input/weight bits, and the DSPs the rules give when the
    firmware alone decides them (``dsp``: None when constant weights' values would be needed)."""
    types: dict[str, str] = {}
    for m in _TYPEDEF_RE.finditer(Path(defines_h).read_text(errors="replace")):
        types[m.group(2)] = m.group(1)
    params = Path(parameters_h).read_text(errors="replace")
    for m in _TYPEDEF_RE.finditer(params):
        types.setdefault(m.group(2), m.group(1))
    structs: dict[str, dict[str, str]] = {}
    for m in _STRUCT_RE.finditer(params):
        body = {}
        for f in re.finditer(r"static const (?:unsigned|bool|int)\s+(\w+)\s*=\s*([^;]+);", m.group(2)):
            body[f.group(1)] = f.group(2).strip()
        for f in re.finditer(r"typedef\s+([\w:<>, ]+?)\s+(\w+)\s*;", m.group(2)):
            body[f.group(2)] = f.group(1).strip()
        structs[m.group(1)] = body

    def resolve_t(name: str, depth: int = 0) -> str:
        while name in types and depth < 10 and re.match(r"^\w+$", types[name]):
            name, depth = types[name], depth + 1
        return types.get(name, name)

    def num(body, key):
        v = body.get(key, "")
        return int(v) if re.fullmatch(r"-?\d+", v) else None

    out = []
    for m in _CALL_RE.finditer(Path(cpp).read_text(errors="replace")):
        func, in_t, out_t, cfg = m.groups()
        num_m = re.search(r"(\d+)$", cfg)
        in_bits, in_n = type_bits(resolve_t(in_t))
        row = {"func": func, "config": int(num_m.group(1)) if num_m else None, "in_bits": in_bits,
               "in_elements": in_n, "dsp": 0, "how": "no multiplier"}
        body = structs.get(cfg, {})
        mult = structs.get(body.get("mult_config", ""), body)
        if func in ("conv_1d_cl", "conv_2d_cl", "pointwise_conv_1d_cl", "pointwise_conv_2d_cl", "dense"):
            n_in, n_out, rf = num(mult, "n_in"), num(mult, "n_out"), num(mult, "reuse_factor") or 1
            strategy = "resource" if "resource" in mult.get("strategy", body.get("strategy", "")) else "latency"
            w_bits, _ = type_bits(resolve_t(mult.get("weight_t", body.get("weight_t", ""))))
            row.update(n_in=n_in, n_out=n_out, reuse_factor=rf, strategy=strategy, w_bits=w_bits)
            if strategy == "resource" and rf > 1 and n_in and n_out:
                row["dsp"] = resource_layer_dsp(n_in, n_out, rf, in_bits, w_bits)
                row["how"] = f"Resource RF {rf}: {math.ceil(n_in * n_out / rf)} products/cycle (D3)"
            elif product_dsp(in_bits, w_bits) == 0:
                row["how"] = f"constants, {in_bits}x{w_bits} bits: LUTs (D1)"
            else:
                row["dsp"], row["how"] = None, f"{n_in}x{n_out} constant weights: values needed (D2)"
                row["dsp_max"] = n_in * n_out * product_dsp(in_bits, w_bits)
        elif func == "normalize":
            s_bits, _ = type_bits(resolve_t(body.get("scale_t", "")))
            row.update(w_bits=s_bits, w_frac=type_frac(resolve_t(body.get("scale_t", ""))))
            if product_dsp(in_bits, s_bits):
                row["dsp"], row["how"] = None, f"{in_n} constant scales: values needed (D2)"
                row["dsp_max"] = in_n * product_dsp(in_bits, s_bits)
            else:
                row["how"] = f"constant scales, {in_bits}x{s_bits} bits: LUTs (D1)"
        elif func.startswith("softmax"):
            row["dsp"], row["how"] = softmax_dsp(in_n), f"softmax of {in_n} inputs (D4)"
        out.append(row)
    return out
