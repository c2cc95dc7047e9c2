"""Range calibration of a trained float model for low-bit quantization (train.variants.*.rescale):
numpy twins of the quantizers' grids and the integer bits that fit a tensor best. The widths
themselves are the config's quantization section (config.Quantization: defaults, checks and the
QKeras quantizer strings the builders use).
"""
from __future__ import annotations

from ..config import LAYER_INT_MAX

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
