"""Precision pass: exact fixed-point types for every tensor, so the C++ computes QKeras' integers.

Rules (each tensor is an interval [lo, hi] on a grid 2**-frac):
* input: the first layer must be an input quantizer; the C++ input type *is* that quantizer
  (same grid, AP_RND_CONV, AP_SAT), so even off-grid inputs are rounded the way QKeras rounds them.
* QConv2D / QDense: weights and biases on their quantizers' grids; the accumulator keeps every
  fractional bit (frac_in + frac_w, and the bias') and enough integer bits for the largest final
  |sum| that the *actual* weights can produce over the input interval (wrap-around arithmetic makes
  intermediate overflow harmless once the final value fits). The layer output keeps that type, so
  nothing is rounded before the next quantizer.
* QActivation: the quantizer's type with RND_CONV/SAT (QKeras: tf.round = half to even, clip).
* QDepthwiseConv2D and QGroupedConv1x1 (group 1x1 conv): as QConv2D, per output channel over the
  inputs that channel actually sees (9 taps of one channel; n_in/g channels of one group).
* A weighted layer whose only consumer is a QActivation writes that quantizer's type directly
  (accumulator exact as above, then one cast with AP_RND_CONV/AP_SAT, which is exactly the
  quantizer: for quantized_relu the unsigned saturation is the ReLU). The QActivation that follows
  is then an identity, and the stream between them is act_bits wide instead of the accumulator's
  width (a 3x cut of FIFO flip-flops on ShuffleNet).
* Add: exact sum type; Concatenate: a type holding both inputs; max pooling, ChannelShuffle: the
  input type.
* ExactGlobalAveragePooling2D, ExactAveragePooling2D: their quantizer's type (sums sized in the
  layer itself, rounding and saturation done explicitly in their C++).
Which rule a layer follows, and the refusal of anything else by name before hls4ml sees it, is its
kind's record (hls/kinds.py: ``type_rule``, ``check``, ``refuse``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fixed import FixedSpec, quantizer_spec

@dataclass
class TensorInfo:
    lo: float
    hi: float
    spec: FixedSpec
    accum: FixedSpec | None = None  # weighted layers whose output type is their quantizer's (see infer)


def consumers(model, layer):
    return [l for l in model.layers if layer in inbound(l)]


def inbound(layer):
    """The layers feeding ``layer`` (none for the InputLayer)."""
    node = layer.inbound_nodes[0]
    ins = node.inbound_layers
    return list(ins) if isinstance(ins, (list, tuple)) else [ins]


def kernel_quantizer(layer):
    """The weights' quantizer (QDepthwiseConv2D names it depthwise_quantizer)."""
    dq = getattr(layer, "depthwise_quantizer_internal", None)
    return dq if dq is not None else layer.kernel_quantizer_internal


def per_output_kernel(layer, k: np.ndarray) -> np.ndarray:
    """(fan_in, n_out) matrix: column j holds the weights output channel j actually multiplies."""
    if hasattr(layer, "depthwise_kernel"):  # QDepthwiseConv2D (kh, kw, c, 1): each channel its own taps
        return k[..., 0].reshape(-1, k.shape[2])
    return k.reshape(-1, k.shape[-1])  # dense, conv and grouped (1, 1, n_in/g, n_out)


def quantized_weights(layer):
    """(kernel, bias) as the layer computes with them (after its quantizers), float64."""
    w = layer.get_weights()
    k = np.asarray(kernel_quantizer(layer)(w[0]), dtype=np.float64)
    b = np.asarray(layer.bias_quantizer_internal(w[1]), dtype=np.float64) if layer.use_bias else None
    return k, b


def input_spec(model) -> FixedSpec:
    first = [l for l in model.layers if inbound(l)][0]  # the input quantizer (check_supported)
    return quantizer_spec(first.activation, what=f"input quantizer '{first.name}'", activation=True)


def float32_reference_margin(info: dict[str, TensorInfo]) -> int:
    """Largest accumulator in bits; QKeras computes in float32 (24-bit significand), so above 24
    the QKeras reference itself could round. Reported, not hidden."""
    return max((t.spec.width for t in info.values()), default=0)
