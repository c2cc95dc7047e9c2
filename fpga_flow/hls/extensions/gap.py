"""ExactGlobalAveragePooling2D: global average pooling with one exact semantics on both sides.

    y = saturate(round_half_to_even(sum(x) / N))  on the grid of ``quantizer``

Keras side: the sum is taken in float64 (exact: inputs are on a fixed-point grid and far below
2**53 codes), multiplied by 2**frac (exact) and divided by N once (IEEE division is correctly
rounded, so an exact tie stays an exact tie and every non-tie is at least 1/(2N) code away from one,
far beyond float64's error), then rounded half-to-even with tf.round and clipped. HLS side: an exact
integer sum and an integer division with the same rounding (cpp/nnet_exact_gap.h). In training the
gradient is the mean's (straight-through).

Why not keras GlobalAveragePooling2D + QActivation: Keras computes the mean in float32 and stock
hls4ml divides in fixed point with truncation; neither is a defined quantized mean, and the two
differ (measured: 11.9% identical outputs after a 13x13 pool).
"""
from __future__ import annotations

import math
import sys

import tensorflow as tf
from hls4ml.model.attributes import Attribute, TypeAttribute
from hls4ml.model.layers import Layer
from hls4ml.model.types import FixedPrecisionType, NamedType

from ..fixed import FixedSpec, quantizer_spec
from ..layer_kind import LayerKind, rule_own_quantizer
from .templates import templates


class ExactGlobalAveragePooling2D(tf.keras.layers.Layer):
    """Global average pooling whose output is quantized exactly (see module docstring)."""

    def __init__(self, quantizer="quantized_relu(16,3)", **kwargs):
        super().__init__(**kwargs)
        self.quantizer = quantizer if isinstance(quantizer, str) else str(quantizer)
        self.spec = quantizer_spec(self.quantizer, what=f"{self.name}.quantizer")

    def call(self, inputs, training=None):
        s = self.spec
        n = int(inputs.shape[1]) * int(inputs.shape[2])
        x64 = tf.cast(inputs, tf.float64)
        scaled = tf.reduce_sum(x64, axis=[1, 2]) * (2.0 ** s.frac) / float(n)
        code = tf.clip_by_value(tf.round(scaled), float(s.code_min), float(s.code_max))
        y = tf.cast(code * (2.0 ** -s.frac), inputs.dtype)
        if training:
            mean = tf.reduce_mean(inputs, axis=[1, 2])
            return mean + tf.stop_gradient(y - mean)
        return y

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3])

    def get_config(self):
        return {**super().get_config(), "quantizer": self.quantizer}


def parse_exact_gap(keras_layer, input_names, input_shapes, data_reader):
    cfg = keras_layer["config"]
    _, in_h, in_w, n_chan = input_shapes[0]
    spec = quantizer_spec(cfg["quantizer"], what=f"{cfg['name']}.quantizer")
    layer = {
        "name": cfg["name"],
        "class_name": "HExactGlobalAvgPool2D",
        "inputs": input_names,
        "in_height": in_h, "in_width": in_w, "n_chan": n_chan,
        "out_width": spec.width, "out_integer": spec.integer, "out_signed": spec.signed,
    }
    return layer, [input_shapes[0][0], n_chan]


def gap_accum_spec(inp: FixedSpec, n_pixels: int) -> FixedSpec:
    """Type that holds the exact sum of n_pixels values of type ``inp``."""
    grow = math.ceil(math.log2(n_pixels)) if n_pixels > 1 else 0
    return FixedSpec(inp.signed, inp.width + grow, inp.integer + grow)


class HExactGlobalAvgPool2D(Layer):
    _expected_attributes = [
        Attribute("in_height"), Attribute("in_width"), Attribute("n_chan"),
        Attribute("out_width"), Attribute("out_integer"), Attribute("out_signed", value_type=bool),
        TypeAttribute("accum"),
    ]

    def initialize(self):
        p = self.get_input_variable().type.precision
        n = self.attributes["in_height"] * self.attributes["in_width"]
        acc = gap_accum_spec(FixedSpec(bool(p.signed), p.width, p.integer), n)
        self.set_attr("accum_t", NamedType(f"layer{self.index}_accum_t",
                                           FixedPrecisionType(acc.width, acc.integer, acc.signed)))
        out = FixedPrecisionType(self.attributes["out_width"], self.attributes["out_integer"],
                                 self.attributes["out_signed"])
        self.add_output_variable([self.attributes["n_chan"]], precision=out)


_config_template = """struct config{index} : nnet::exact_gap_config {{
    static const unsigned n_pixels = {n_pixels};
    static const unsigned n_chan = {n_chan};
    static const bool out_signed = {out_signed_cpp};
    typedef {accum_t.name} accum_t;
}};
"""
_function_template = "nnet::exact_global_avgpool2d_cl<{input_t}, {output_t}, {config}>({input}, {output});"


KERAS_CLASS = ExactGlobalAveragePooling2D
HLS_LAYER = ("HExactGlobalAvgPool2D", HExactGlobalAvgPool2D)
PARSER = ("ExactGlobalAveragePooling2D", parse_exact_gap)
SOURCE = "nnet_exact_gap.h"
TEMPLATES = templates(HExactGlobalAvgPool2D, _config_template, _function_template, SOURCE, config_params=lambda node: {
    "n_pixels": node.get_attr("in_height") * node.get_attr("in_width"),
    "out_signed_cpp": "true" if node.get_attr("out_signed") else "false"})

# this layer kind's record (hls/layer_kind.py), read by the registry (hls/kinds.py)
KIND = LayerKind("global_avgpool", (KERAS_CLASS.__name__,), (HLS_LAYER[0],),
                 "global average pooling with an exact quantized mean", extension=sys.modules[__name__],
                 type_rule=rule_own_quantizer, counting="at_end", estimate="global_pool", cycles="own_global_avg")
