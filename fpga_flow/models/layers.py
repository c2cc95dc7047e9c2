"""Layer factory shared by the model families: the same call builds the quantized model or its float
twin (same topology and layer names, so weights move between them by name)."""
from __future__ import annotations

import tensorflow as tf
from tensorflow.keras import layers as L

from ..config import Quantization


class LayerFactory:
    def __init__(self, quant: Quantization | None):
        self.quant = quant  # None: float twin

    @property
    def quantized(self) -> bool:
        return self.quant is not None

    def input_quant(self, x, name="input_quant"):
        if not self.quantized:
            return x
        from qkeras import QActivation

        return QActivation(self.quant.input_q(), name=name)(x)

    def conv(self, x, filters, kernel, strides=1, padding="valid", name=None, use_bias=True, groups=1):
        if not self.quantized:
            return L.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=use_bias, groups=groups,
                            kernel_initializer="he_normal", name=name)(x)
        from qkeras import QConv2D

        return QConv2D(filters, kernel, strides=strides, padding=padding, use_bias=use_bias, groups=groups,
                       kernel_quantizer=self.quant.weight_q(name),
                       bias_quantizer=self.quant.bias_q(name) if use_bias else None,
                       kernel_initializer="he_normal", name=name)(x)

    def group_conv1x1(self, x, filters, groups, name=None, use_bias=True):
        """1x1 group convolution (fpga_flow's QGroupedConv1x1; float when not quantized)."""
        from ..hls.extensions.grouped_conv import QGroupedConv1x1

        q = self.quant
        return QGroupedConv1x1(filters, groups, use_bias=use_bias, name=name,
                               kernel_quantizer=q.weight_q(name) if q else None,
                               bias_quantizer=q.bias_q(name) if (q and use_bias) else None)(x)

    def depthwise(self, x, kernel, strides=1, padding="same", name=None, use_bias=True):
        if not self.quantized:
            return L.DepthwiseConv2D(kernel, strides=strides, padding=padding, use_bias=use_bias,
                                     depthwise_initializer="he_normal", name=name)(x)
        from qkeras import QDepthwiseConv2D

        return QDepthwiseConv2D(kernel, strides=strides, padding=padding, use_bias=use_bias,
                                depthwise_quantizer=self.quant.weight_q(name),
                                bias_quantizer=self.quant.bias_q(name) if use_bias else None,
                                depthwise_initializer="he_normal", name=name)(x)

    def dense(self, x, units, name=None, use_bias=True):
        if not self.quantized:
            return L.Dense(units, use_bias=use_bias, kernel_initializer="he_normal", name=name)(x)
        from qkeras import QDense

        return QDense(units, use_bias=use_bias, kernel_quantizer=self.quant.weight_q(name),
                      bias_quantizer=self.quant.bias_q(name) if use_bias else None,
                      kernel_initializer="he_normal", name=name)(x)

    def channel_shuffle(self, x, groups, name=None):
        # the same exact layer in both models (a gather)
        from ..hls.extensions.channel_shuffle import ChannelShuffle

        return ChannelShuffle(groups, name=name)(x)

    def avgpool(self, x, pool=3, stride=2, padding="same", name=None):
        if not self.quantized:
            return L.AveragePooling2D(pool, stride, padding=padding, name=name)(x)
        from ..hls.extensions.avgpool import ExactAveragePooling2D

        return ExactAveragePooling2D(pool, stride, padding=padding, quantizer=self.quant.act_q(layer=name), name=name)(x)

    def relu(self, x, name, integer=None):
        """ReLU / quantized_relu(act_bits, integer or act_int)."""
        if not self.quantized:
            return L.ReLU(name=name)(x)
        from qkeras import QActivation

        return QActivation(self.quant.act_q(integer, layer=name), name=name)(x)

    def linear_act(self, x, name):
        """Quantize a signed (no ReLU) tensor; identity in the float twin."""
        if not self.quantized:
            return x
        from qkeras import QActivation

        return QActivation(self.quant.signed_act_q(name), name=name)(x)

    def maxpool(self, x, pool=3, stride=2, padding="valid", name=None):
        if not self.quantized:
            return L.MaxPooling2D(pool, stride, padding=padding, name=name)(x)
        from ..hls.extensions.maxpool import StreamMaxPooling2D

        return StreamMaxPooling2D(pool, stride, padding=padding, name=name)(x)

    def global_avgpool(self, x, name, default_bits, integer=None):
        """``default_bits``: output width when quantization.gap_bits is not set (family's choice);
        ``integer``: its integer bits (default act_int)."""
        if not self.quantized:
            return L.GlobalAveragePooling2D(name=name)(x)
        from ..hls.extensions.gap import ExactGlobalAveragePooling2D

        return ExactGlobalAveragePooling2D(self.quant.gap_q(default_bits, integer, layer=name), name=name)(x)


def input_layer(input_shape, name="image"):
    # 'input' is reserved by hls4ml
    return tf.keras.Input(shape=tuple(input_shape), name=name)
