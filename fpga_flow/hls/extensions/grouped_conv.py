"""Grouped 1x1 (pointwise) convolution in io_stream that stores only the g diagonal blocks.

Stock hls4ml 1.3.0 never reads ``groups`` from a Keras Conv2D: a grouped QConv2D converts and runs
but computes garbage (measured max abs error 3.7). fpga_flow converts grouped 1x1 convolutions
with its own layer:

* :class:`QGroupedConv1x1` (Keras, float when no quantizers are given) is what the model zoo uses.
  Input channels split evenly into ``groups``; output channels split as numpy.array_split does
  (the first n_out % groups groups get one more), so a ShuffleNet stride-2 unit whose branch has
  (out - in) outputs not divisible by g (0.5x g8: 180 = 4*23 + 4*22) is still a true group conv
  with n_in/g * n_out weights. With an even split it is exactly Keras Conv2D(groups=g).
* A user's ``QConv2D(groups=g)`` with a 1x1 kernel and stride 1 is rewritten into it
  (``convert.prepare``) with the same weights.

Weights: n_in/g * n_out values (g times fewer than the dense matrix). Kernel shape (1, 1, n_in/g,
n_out) as Keras' grouped kernel. The parser makes the node fpga_flow's matrix-vector unit
(stream_conv.py, cpp/nnet_stream_mvu.h) in its grouped mode: an (n_out, n_in/g) matrix, output o
reading input channel group(o)*n_in_g + i, folded like any MVU (one pixel per ``reuse_factor``
clocks, no cycle between pixels; any folding, resources/mvu.py). Products are accumulated exactly
in ``accum_t`` (sized by the precision pass from the actual weights).
"""
from __future__ import annotations

import sys

import numpy as np
import tensorflow as tf
from hls4ml.converters.keras_v2_to_hls import get_weights_data

from ..layer_kind import LayerKind, check_quantizers, fused_activation, mult_dense, rule_weighted
from .stream_conv import mvu_node


def output_groups(n_out: int, groups: int) -> np.ndarray:
    """group index of every output channel (numpy.array_split convention)."""
    return np.concatenate([np.full(len(part), gi) for gi, part in enumerate(np.array_split(np.arange(n_out), groups))])


class QGroupedConv1x1(tf.keras.layers.Layer):
    """1x1 group convolution (stride 1, channels_last) with optional QKeras quantizers.

    ``kernel_quantizer`` / ``bias_quantizer``: QKeras quantizer strings (or None for float).
    """

    def __init__(self, filters, groups, use_bias=True, kernel_quantizer=None, bias_quantizer=None,
                 kernel_initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.filters, self.groups, self.use_bias = int(filters), int(groups), bool(use_bias)
        if self.filters < self.groups:
            raise ValueError(f"{self.name}: {self.filters} filters < groups={self.groups}")
        self.kernel_quantizer = kernel_quantizer
        self.bias_quantizer = bias_quantizer
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        from qkeras.quantizers import get_quantizer

        self.kernel_quantizer_internal = get_quantizer(kernel_quantizer) if kernel_quantizer else None
        self.bias_quantizer_internal = get_quantizer(bias_quantizer) if bias_quantizer else None
        self.quantizers = [q for q in (self.kernel_quantizer_internal, self.bias_quantizer_internal) if q]

    def build(self, input_shape):
        n_in = int(input_shape[-1])
        if n_in % self.groups:
            raise ValueError(f"{self.name}: {n_in} input channels are not divisible by groups={self.groups}")
        g, n_in_g = self.groups, n_in // self.groups
        self.kernel = self.add_weight("kernel", shape=(1, 1, n_in_g, self.filters), initializer=self.kernel_initializer)
        self.bias = self.add_weight("bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None
        # block-diagonal mask of the dense (n_in, n_out) matrix: output o reads only its group's inputs
        grp = output_groups(self.filters, g)
        mask = np.zeros((g * n_in_g, self.filters), np.float32)
        for o, gi in enumerate(grp):
            mask[gi * n_in_g:(gi + 1) * n_in_g, o] = 1.0
        self._mask = tf.constant(mask)
        super().build(input_shape)

    def call(self, inputs):
        k = self.kernel_quantizer_internal(self.kernel) if self.kernel_quantizer_internal else self.kernel
        # One dense matmul with the block-diagonal matrix (the kernel tiled g times, masked): exact (the
        # masked entries are zeros) and ~20x faster to train on CPU than per-group einsum + gather.
        n_in = int(inputs.shape[-1])
        w = tf.tile(k[0, 0], [self.groups, 1]) * self._mask  # (n_in, n_out)
        y = tf.matmul(tf.reshape(inputs, [-1, n_in]), w)
        y = tf.reshape(y, tf.concat([tf.shape(inputs)[:-1], [self.filters]], axis=0))
        if self.use_bias:
            b = self.bias_quantizer_internal(self.bias) if self.bias_quantizer_internal else self.bias
            y = y + b
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups, "use_bias": self.use_bias,
                "kernel_quantizer": self.kernel_quantizer, "bias_quantizer": self.bias_quantizer,
                "kernel_initializer": tf.keras.initializers.serialize(self.kernel_initializer)}


def unsupported_reason(layer) -> str | None:
    """Why a grouped QConv2D cannot be rewritten into QGroupedConv1x1, or None."""
    g = int(getattr(layer, "groups", 1))
    if tuple(layer.kernel_size) != (1, 1):
        return (f"grouped convolution (groups={g}) with a {layer.kernel_size[0]}x{layer.kernel_size[1]} kernel is not "
                "supported; use a 1x1 kernel, or QDepthwiseConv2D when groups equals the channel count")
    if tuple(layer.strides) != (1, 1):
        return f"grouped 1x1 convolution with strides {tuple(layer.strides)} is not supported; use strides 1"
    return None


def from_qconv2d(layer) -> QGroupedConv1x1:
    """A QGroupedConv1x1 equal to the grouped 1x1 QConv2D ``layer`` (weights copied after build)."""
    cfg = layer.get_config()

    def qstr(q):
        return None if q is None else (q if isinstance(q, str) else str(q))

    return QGroupedConv1x1(cfg["filters"], cfg["groups"], use_bias=cfg["use_bias"], name=cfg["name"],
                           kernel_quantizer=qstr(layer.kernel_quantizer_internal),
                           bias_quantizer=qstr(layer.bias_quantizer_internal) if layer.use_bias else None)


def parse_grouped_pointwise(keras_layer, input_names, input_shapes, data_reader):
    """fpga_flow's MVU in grouped mode (stream_conv.mvu_node): the (n_out, n_in/g) block matrix, row o
    holding output o's weights for input channels group(o)*n_in_g .. + n_in_g - 1."""
    cfg = keras_layer["config"]
    name = cfg["name"]
    groups = int(cfg["groups"])
    n_out = int(cfg["filters"])
    kernel = np.asarray(get_weights_data(data_reader, name, "kernel"))  # (1, 1, n_in/g, n_out)
    bias = get_weights_data(data_reader, name, "bias") if cfg.get("use_bias", True) else None
    counts = np.bincount(output_groups(n_out, groups), minlength=groups)
    # output groups: the first `n_big` groups have `out_g_big` outputs, the others one fewer
    n_big = int(np.sum(counts == counts.max())) if counts.min() != counts.max() else groups
    return mvu_node(keras_layer, input_names, input_shapes, kernel.reshape(-1, n_out).T, bias, "kernel",
                    groups=groups, n_big=n_big, out_g_big=int(counts.max()))


KERAS_CLASS = QGroupedConv1x1
PARSER = ("QGroupedConv1x1", parse_grouped_pointwise)
# no IR layer, templates or C++ of its own: the parser makes an HStreamConv node (stream_conv.py)

def check_grouped(layer) -> str | None:
    if layer.kernel_quantizer_internal is None:
        return "float weights cannot be exact on the FPGA; give it kernel_quantizer/bias_quantizer"
    return fused_activation(layer) or check_quantizers(layer)


# this layer kind's record (hls/layer_kind.py), read by the registry (hls/kinds.py); its node is
# stream_conv's (the MVU in grouped mode), so it names no hls4ml class of its own
KIND = LayerKind("grouped_1x1", (KERAS_CLASS.__name__,), (),
                 "grouped 1x1 conv: g diagonal blocks; its node is fpga_flow's MVU in grouped mode (stream_conv)",
                 extension=sys.modules[__name__], check=check_grouped, type_rule=rule_weighted, weighted=True,
                 mult_size=mult_dense)
