"""Bit-width specification shared by the model builders.

Every quantizer the zoo emits has alpha=1 and round-half-to-even, so it maps exactly onto an
ap_fixed/ap_ufixed type with AP_RND_CONV, AP_SAT (see fpga_flow.hls.precision).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..errors import FlowError

BITS_RANGE = (2, 16)
LAYER_INT_MAX = 16


@dataclass(frozen=True)
class QuantSpec:
    """Widths of a quantized model. ``*_int`` are QKeras ``integer`` arguments (sign bit excluded)."""

    weight_bits: int = 8
    weight_int: int = 0
    bias_bits: int = 8
    bias_int: int = 3
    act_bits: int = 8
    act_int: int = 3
    input_bits: int = 8
    input_int: int = 0
    # Output width of the exact global average pool (same integer bits as the activations).
    # None: the family's default (SqueezeNet 16: its pooled class scores are the output, extra
    # fractional bits keep them apart; ShuffleNet act_bits+3: the pool feeds the FC, whose float32
    # QKeras reference must stay exact, see precision.float32_reference_margin).
    gap_bits: int | None = None
    # Integer bits of the class scores (SqueezeNet's relu_conv10 and the global pool after it).
    # None: act_int. Trained class scores reach ~20 while quantized_relu(8,3) ends at 8; a wider
    # score range keeps them from tying at the maximum (same width, coarser step). It may exceed the
    # scores' width: quantized_relu(6,8) holds 0..252 in steps of 4 (ap_ufixed<6,8> in the C++).
    score_int: int | None = None
    # Width of the classifier (SqueezeNet: conv10 weights and its class scores; ShuffleNet: the FC
    # weights). None: weight_bits/act_bits. Low-bit networks usually keep the last layer at 8 bits;
    # at 4 bits its 512 -> 10 weights (std ~0.07) would mostly round to 0 on the 1/8 grid.
    head_bits: int | None = None
    # Width of the first convolution and its activation (conv1, relu_conv1). None: weight_bits /
    # act_bits. Low-bit networks usually keep the first layer at 8 bits as well: it sees raw pixels.
    stem_bits: int | None = None
    # Per-layer integer bits by layer name: a quantized_relu's ``integer`` (activation range
    # [0, 2**int)), or a convolution's bias quantizer ``integer``. Written by training's power-of-two
    # rescaling (train.variants.*.rescale), which moves each layer's weights onto the low-bit grid
    # and lets the activation ranges follow (ReLU is positively homogeneous). Empty: act_int/bias_int.
    layer_int: dict = field(default_factory=dict)
    # Per-layer weight integer bits by layer name (quantized_bits(weight_bits, n)): ShuffleNet's
    # batch-norm-folded depthwise weights reach 2-20, its grouped 1x1 weights stay below 1.
    layer_weight_int: dict = field(default_factory=dict)

    def __post_init__(self):
        lo, hi = BITS_RANGE
        for name in ("weight_bits", "bias_bits", "act_bits", "input_bits"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise FlowError(f"quantization.{name}={v!r} is out of range; use an integer in {lo}..{hi}")
        if self.gap_bits is not None and (not isinstance(self.gap_bits, int) or isinstance(self.gap_bits, bool) or not self.act_bits <= self.gap_bits <= 32):
            raise FlowError(f"quantization.gap_bits={self.gap_bits!r} is out of range; use act_bits..32")
        if self.head_bits is not None and (not isinstance(self.head_bits, int) or isinstance(self.head_bits, bool) or not lo <= self.head_bits <= hi):
            raise FlowError(f"quantization.head_bits={self.head_bits!r} is out of range; use an integer in {lo}..{hi}")
        if self.stem_bits is not None and (not isinstance(self.stem_bits, int) or isinstance(self.stem_bits, bool) or not lo <= self.stem_bits <= hi):
            raise FlowError(f"quantization.stem_bits={self.stem_bits!r} is out of range; use an integer in {lo}..{hi}")
        score_bits = max(self.act_bits, self.head_bits or 0)  # the class scores' width (see head())
        if self.score_int is not None and (not isinstance(self.score_int, int) or isinstance(self.score_int, bool)
                                           or not 0 <= self.score_int <= LAYER_INT_MAX):
            raise FlowError(f"quantization.score_int={self.score_int!r} is out of range; use an integer in "
                            f"0..{LAYER_INT_MAX} (above the scores' width {score_bits} the step grows)")
        if not isinstance(self.layer_int, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= LAYER_INT_MAX
                for k, v in self.layer_int.items()):
            raise FlowError(f"quantization.layer_int must map layer names to integers 0..{LAYER_INT_MAX}, "
                            f"got {self.layer_int!r}")
        if not isinstance(self.layer_weight_int, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and 0 <= v < self.weight_bits
                for k, v in self.layer_weight_int.items()):
            raise FlowError(f"quantization.layer_weight_int must map layer names to integers 0..{self.weight_bits - 1}, "
                            f"got {self.layer_weight_int!r}")
        for name in ("weight_int", "bias_int", "act_int", "input_int"):
            v = getattr(self, name)
            bits = getattr(self, name.replace("_int", "_bits"))
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < bits:
                raise FlowError(f"quantization.{name}={v!r} is out of range; use an integer in 0..{bits - 1}")

    def head(self) -> "QuantSpec":
        """The spec of the classifier layer (head_bits for its weights and class scores)."""
        from dataclasses import replace

        if self.head_bits is None:
            return self
        return replace(self, weight_bits=self.head_bits, act_bits=max(self.head_bits, self.act_bits),
                       head_bits=None)

    def stem(self) -> "QuantSpec":
        """The spec of the first convolution and its activation (stem_bits)."""
        from dataclasses import replace

        if self.stem_bits is None:
            return self
        return replace(self, weight_bits=self.stem_bits, act_bits=max(self.stem_bits, self.act_bits),
                       stem_bits=None, head_bits=None, score_int=None)

    @classmethod
    def from_dict(cls, d: dict | None) -> "QuantSpec":
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise FlowError(f"unknown quantization key(s) {unknown}; valid keys: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    # QKeras quantizer strings (strings keep saved models loadable with QKeras' own deserializer)
    def weight_q(self, layer: str | None = None) -> str:
        return f"quantized_bits({self.weight_bits},{self.layer_weight_int.get(layer, self.weight_int)},alpha=1)"

    def bias_q(self, layer: str | None = None) -> str:
        return f"quantized_bits({self.bias_bits},{self.layer_int.get(layer, self.bias_int)},alpha=1)"

    def act_q(self, integer: int | None = None, layer: str | None = None) -> str:
        integer = self.act_int if integer is None else integer
        return f"quantized_relu({self.act_bits},{self.layer_int.get(layer, integer)})"

    def signed_act_q(self, layer: str | None = None) -> str:
        return f"quantized_bits({self.act_bits},{self.layer_int.get(layer, self.act_int)},alpha=1)"

    def input_q(self) -> str:
        return f"quantized_bits({self.input_bits},{self.input_int},alpha=1)"

    def gap_q(self, default_bits: int = 16, integer: int | None = None, layer: str | None = None) -> str:
        bits = self.gap_bits if self.gap_bits is not None else max(default_bits, self.act_bits)
        return f"quantized_relu({bits},{self.layer_int.get(layer, self.act_int if integer is None else integer)})"


# ------------------------------------------------- range calibration (train.variants.*.rescale)

def relu_grid(bits: int, integer: int):
    """numpy twin of quantized_relu(bits, integer): [0, 2**integer - step], step 2**(integer - bits)."""
    import numpy as np

    step = 2.0 ** (integer - bits)
    return lambda v: np.clip(np.round(v / step), 0, 2 ** bits - 1) * step


def signed_grid(bits: int, integer: int):
    """numpy twin of quantized_bits(bits, integer): [-2**integer, 2**integer - step]."""
    import numpy as np

    step = 2.0 ** (integer - bits + 1)
    return lambda v: np.clip(np.round(v / step), -2 ** (bits - 1), 2 ** (bits - 1) - 1) * step


def best_int(a, grid) -> int:
    """The integer bits (0..LAYER_INT_MAX) whose grid ``grid(i)`` has the least squared error on ``a``."""
    import numpy as np

    return min(range(0, LAYER_INT_MAX + 1), key=lambda i: float(np.mean((grid(i)(a) - a) ** 2)))


def bias_int_for(b, bias_bits: int, at_least: int) -> int:
    """Integer bits that hold every bias value of ``b`` (and at least ``at_least``), 0..LAYER_INT_MAX."""
    import numpy as np

    need = int(np.ceil(np.log2(max(float(np.abs(b).max()), 1e-9) * (1 + 2.0 ** -bias_bits))))
    return int(np.clip(max(at_least, need), 0, LAYER_INT_MAX))
