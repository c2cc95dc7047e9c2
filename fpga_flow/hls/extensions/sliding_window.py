"""SlidingWindow2D: the windows of a KxK convolution as a stream (FINN's sliding-window generator).

A QConv2D with a KxK kernel is converted as [ZeroPadding2D] -> SlidingWindow2D -> StreamQConv2D
(hls/kinds.py, ``prepare_conv``): this layer emits, per output pixel, the KxK x C input values the
convolution multiplies, and the matrix-vector unit (stream_conv.py) multiplies them by the same
weights. Side by side: the Keras class (``tf.image.extract_patches``: a copy of the input values,
exact), the hls4ml parser, the IR layer and its templates. The C++ is cpp/nnet_sliding_window.h: one
input pixel per clock, whatever the MVU's reuse factor.
"""
from __future__ import annotations

import sys

import tensorflow as tf
from hls4ml.model.attributes import Attribute
from hls4ml.model.layers import Layer

from ..layer_kind import LayerKind, rule_pass
from .templates import templates

GEOMETRY = ("in_height", "in_width", "n_chan", "filt_height", "filt_width", "stride_height", "stride_width",
            "out_height", "out_width")


class SlidingWindow2D(tf.keras.layers.Layer):
    """(N, H, W, C) -> (N, (H-K)/s+1, (W-K)/s+1, K*K*C): each output pixel is the 'valid' KxK window at
    the stride, flattened in (kh, kw, c) order (the order of a Conv2D kernel reshaped to (K*K*C, F))."""

    def __init__(self, kernel_size, strides=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = tuple(int(s) for s in strides)

    def call(self, inputs):
        kh, kw = self.kernel_size
        sh, sw = self.strides
        return tf.image.extract_patches(inputs, sizes=[1, kh, kw, 1], strides=[1, sh, sw, 1], rates=[1, 1, 1, 1],
                                        padding="VALID")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return (n, (h - kh) // sh + 1, (w - kw) // sw + 1, kh * kw * c)

    def get_config(self):
        return {**super().get_config(), "kernel_size": list(self.kernel_size), "strides": list(self.strides)}


def parse_sliding_window(keras_layer, input_names, input_shapes, data_reader):
    cfg = keras_layer["config"]
    _, in_h, in_w, n_chan = input_shapes[0]
    kh, kw = cfg["kernel_size"]
    sh, sw = cfg["strides"]
    if kh > in_h or kw > in_w:
        raise ValueError(f"{cfg['name']}: window {kh}x{kw} larger than its {in_h}x{in_w} input")
    geo = {"in_height": in_h, "in_width": in_w, "n_chan": n_chan, "filt_height": kh, "filt_width": kw,
           "stride_height": sh, "stride_width": sw, "out_height": (in_h - kh) // sh + 1,
           "out_width": (in_w - kw) // sw + 1}
    layer = {"name": cfg["name"], "class_name": "HSlidingWindow2D", "inputs": input_names, **geo}
    return layer, [input_shapes[0][0], geo["out_height"], geo["out_width"], kh * kw * n_chan]


class HSlidingWindow2D(Layer):
    _expected_attributes = [Attribute(n) for n in GEOMETRY]

    def initialize(self):
        a = self.attributes
        shape = [a["out_height"], a["out_width"], a["filt_height"] * a["filt_width"] * a["n_chan"]]
        # a window copies input values: the output keeps the input's type
        self.add_output_variable(shape, precision=self.get_input_variable().type.precision)


_config_template = "struct config{index} : nnet::sliding_window2d_config {{\n" + "".join(
    f"    static const unsigned {n} = {{{n}}};\n" for n in GEOMETRY) + "}};\n"
_function_template = "nnet::sliding_window2d_cl<{input_t}, {output_t}, {config}>({input}, {output});"

KERAS_CLASS = SlidingWindow2D
HLS_LAYER = ("HSlidingWindow2D", HSlidingWindow2D)
PARSER = ("SlidingWindow2D", parse_sliding_window)
SOURCE = "nnet_sliding_window.h"
TEMPLATES = templates(HSlidingWindow2D, _config_template, _function_template, SOURCE)

# this layer kind's record (hls/layer_kind.py), read by the registry (hls/kinds.py)
KIND = LayerKind("sliding_window", (KERAS_CLASS.__name__,), (HLS_LAYER[0],),
                 "a KxK conv's windows as a stream (FINN's sliding-window generator), one pixel per clock",
                 extension=sys.modules[__name__], type_rule=rule_pass, counting="conv_window", read_ahead=2,
                 estimate="sliding_window", cycles="own_sliding_window")
