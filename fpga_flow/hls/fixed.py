"""Fixed-point types as ap_fixed sees them, and the exact mapping of QKeras quantizers onto them.

A value of a FixedSpec is ``code * 2**-frac`` with an integer ``code`` in ``[code_min, code_max]``.
``integer`` follows ap_fixed (it counts the sign bit); QKeras' ``integer`` does not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import FlowError


@dataclass(frozen=True)
class FixedSpec:
    signed: bool
    width: int
    integer: int
    rounding: str = "TRN"      # RND_CONV for quantizer outputs
    saturation: str = "WRAP"   # SAT for quantizer outputs

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def code_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def code_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def hls4ml(self) -> str:
        """Precision string in hls4ml's config syntax, e.g. 'ufixed<8,3,RND_CONV,SAT>'."""
        base = f"{'' if self.signed else 'u'}fixed<{self.width},{self.integer}"
        if self.rounding != "TRN" or self.saturation != "WRAP":
            base += f",{self.rounding},{self.saturation}"
        return base + ">"

    def cpp(self) -> str:
        base = f"ap_{'' if self.signed else 'u'}fixed<{self.width},{self.integer}"
        if self.rounding != "TRN" or self.saturation != "WRAP":
            base += f",AP_{self.rounding},AP_{self.saturation}"
        return base + ">"

    def exact(self) -> "FixedSpec":
        """Same grid, plain (truncate/wrap) modes: for values that are exact by construction."""
        return FixedSpec(self.signed, self.width, self.integer)

    def codes(self, values):
        """Integer codes of values on this grid (raises if a value is off the grid)."""
        import numpy as np

        v = np.asarray(values, dtype=np.float64) * (2.0 ** self.frac)
        c = np.rint(v)
        if not np.array_equal(c, v):
            bad = float(np.max(np.abs(c - v)))
            raise ValueError(f"values are off the {self.hls4ml()} grid (max offset {bad:g} codes)")
        return c.astype(np.int64)


def spec_for_range(lo: float, hi: float, frac: int) -> FixedSpec:
    """Smallest plain FixedSpec on grid 2**-frac that holds every value in [lo, hi]."""
    lo_c = math.floor(lo * 2**frac)
    hi_c = math.ceil(hi * 2**frac)
    signed = lo_c < 0
    if signed:
        mag = max(-lo_c, hi_c + 1)
        width = max(1, (mag - 1).bit_length()) + 1
    else:
        width = max(1, hi_c.bit_length())
    return FixedSpec(signed, width, width - frac)


def _cfg(q) -> tuple[str, dict]:
    if isinstance(q, str):
        from qkeras.quantizers import get_quantizer

        q = get_quantizer(q)
    return type(q).__name__, q.get_config()


def quantizer_spec(q, *, what: str, allow_symmetric: bool = False, activation: bool = False) -> FixedSpec:
    """Exact FixedSpec of a QKeras quantizer's outputs, or FlowError naming what is unsupported.

    ``what`` names the layer/role for the error message. ``activation``: the quantizer of a
    QActivation, where an unset alpha means scale 1 (QKeras quantized_bits: ``if self.alpha is None:
    scale = 1.0``); on QConv kernels QKeras turns an unset alpha into 'auto_po2', so it is refused. Output rounding is RND_CONV (QKeras uses
    tf.round: half to even) with saturation, which is how the quantizer behaves on its input.
    """
    if q is None:
        raise FlowError(f"{what}: no quantizer; every tensor entering the FPGA must be quantized (add one)")
    name, c = _cfg(q)
    if name not in ("quantized_bits", "quantized_relu"):
        raise FlowError(f"{what}: quantizer {name} is not supported (exact mapping known only for "
                        "quantized_bits(alpha=1) and quantized_relu)")
    if c.get("use_stochastic_rounding"):
        raise FlowError(f"{what}: {name} with use_stochastic_rounding is not exact in hardware; set it to False")
    if float(c.get("qnoise_factor", 1.0) or 0.0) != 1.0:
        raise FlowError(f"{what}: {name} with qnoise_factor != 1 is not a deployable quantizer; set it to 1.0")
    bits, integer = int(c["bits"]), int(c["integer"])
    if name == "quantized_bits":
        alpha = c.get("alpha")
        if alpha is None and activation:
            alpha = 1.0
        if alpha is None or isinstance(alpha, str) or float(alpha) != 1.0:
            raise FlowError(f"{what}: quantized_bits alpha={alpha!r} adds a scale hls4ml cannot reproduce exactly; use alpha=1")
        keep_negative = bool(c.get("keep_negative", True))
        if bool(c.get("symmetric", False)) and not allow_symmetric:
            raise FlowError(f"{what}: symmetric quantized_bits on activations has no exact ap_fixed mode; use symmetric=0")
        if bits - int(keep_negative) < 1:
            raise FlowError(f"{what}: {bits}-bit quantized_bits is binary (sign only); use at least 2 bits")
        if keep_negative:
            return FixedSpec(True, bits, integer + 1, "RND_CONV", "SAT")
        return FixedSpec(False, bits, integer, "RND_CONV", "SAT")
    # quantized_relu (the only other name admitted above)
    if c.get("use_sigmoid"):
        raise FlowError(f"{what}: quantized_relu(use_sigmoid=1) is not supported; use use_sigmoid=0")
    if float(c.get("negative_slope", 0.0) or 0.0) != 0.0:
        raise FlowError(f"{what}: quantized_relu with negative_slope is not supported; use negative_slope=0")
    if c.get("relu_upper_bound") is not None:
        raise FlowError(f"{what}: quantized_relu relu_upper_bound is not supported; drop it")
    return FixedSpec(False, bits, integer, "RND_CONV", "SAT")
