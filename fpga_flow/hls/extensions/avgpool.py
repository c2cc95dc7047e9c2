"""ExactAveragePooling2D: average pooling (e.g. ShuffleNet's 3x3/2 'same' shortcut) with one exact
semantics on both sides, in io_stream.

    y = saturate(round_half_to_even(S / n))   on the grid of ``quantizer``

where S is the exact sum of the window's input cells inside the map and n their number (Keras
'same' semantics: padded cells are excluded from the divisor, so n is 9 inside the map and 6, 4, ...
on the borders of a 3x3 window).

Keras side: the window sums are taken in float64 from shifted strided slices of the zero-padded
input (exact: inputs are fixed-point codes far below 2**53), scaled by 2**frac (exact) and divided
by n once; IEEE division is correctly rounded, so an exact tie stays an exact tie and every other
quotient is at least 1/(2n) code away from one, far beyond float64's error; then tf.round (half to
even) and clip. In training the gradient is Keras AveragePooling2D's (straight-through).

HLS side (cpp/nnet_exact_avgpool.h): the line buffer of StreamMaxPooling2D with sums instead of
maxima (one input pixel per clock), then an exact integer division by n with round-half-to-even,
done as a multiplication by a reciprocal from a table of KH*KW entries (Granlund-Montgomery: with
S >= N + ceil(log2 n) bits the product is exact for every N-bit numerator; checked exhaustively
for the generated table by :func:`reciprocal_table`).
Keras AveragePooling2D + a quantizer is not used: Keras divides in float32 and stock hls4ml aborts
on overlapping or padded average pooling in io_stream (and io_parallel truncates).
"""
from __future__ import annotations

import math
import sys

import numpy as np
import tensorflow as tf
from hls4ml.converters.utils import compute_padding_2d
from hls4ml.model.attributes import Attribute, TypeAttribute
from hls4ml.model.layers import Layer
from hls4ml.model.types import FixedPrecisionType, NamedType

from ..fixed import FixedSpec, quantizer_spec
from ..layer_kind import LayerKind, rule_own_quantizer
from .gap import gap_accum_spec
from .maxpool import WINDOW_ATTRIBUTES, WINDOW_CONFIG, window_geometry, window_reason
from .templates import templates


def _pads(padding, h, w, ph, pw, sh, sw):
    out_h, out_w, top, bottom, left, right = compute_padding_2d(padding, h, w, sh, sw, ph, pw)
    return out_h, out_w, top, bottom, left, right


class ExactAveragePooling2D(tf.keras.layers.Layer):
    """Average pooling whose output is quantized exactly (module docstring)."""

    def __init__(self, pool_size=3, strides=2, padding="same", quantizer="quantized_relu(8,3)", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = tuple(pool_size) if isinstance(pool_size, (list, tuple)) else (int(pool_size),) * 2
        self.strides = tuple(strides) if isinstance(strides, (list, tuple)) else (int(strides),) * 2
        if padding not in ("valid", "same"):
            raise ValueError(f"padding {padding!r}; use 'valid' or 'same'")
        self.padding = padding
        self.quantizer = quantizer if isinstance(quantizer, str) else str(quantizer)
        self.spec = quantizer_spec(self.quantizer, what=f"{self.name}.quantizer")

    def build(self, input_shape):
        _, h, w, _ = (int(v) if v is not None else None for v in input_shape)
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        self._geom = _pads(self.padding, h, w, ph, pw, sh, sw)
        ones = np.pad(np.ones((h, w)), [self._geom[2:4], self._geom[4:6]])
        self._counts = tf.constant(self._window_sum_np(ones)[None, :, :, None], dtype=tf.float64)
        super().build(input_shape)

    def _window_sum_np(self, xp):
        out_h, out_w = self._geom[:2]
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        return sum(xp[di:di + (out_h - 1) * sh + 1:sh, dj:dj + (out_w - 1) * sw + 1:sw]
                   for di in range(ph) for dj in range(pw))

    def call(self, inputs, training=None):
        s = self.spec
        out_h, out_w, top, bottom, left, right = self._geom
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        xp = tf.pad(tf.cast(inputs, tf.float64), [[0, 0], [top, bottom], [left, right], [0, 0]])
        total = tf.add_n([xp[:, di:di + (out_h - 1) * sh + 1:sh, dj:dj + (out_w - 1) * sw + 1:sw, :]
                          for di in range(ph) for dj in range(pw)])
        scaled = total * (2.0 ** s.frac) / self._counts
        code = tf.clip_by_value(tf.round(scaled), float(s.code_min), float(s.code_max))
        y = tf.cast(code * (2.0 ** -s.frac), inputs.dtype)
        if training:
            mean = tf.nn.avg_pool2d(inputs, self.pool_size, self.strides, self.padding.upper())
            return mean + tf.stop_gradient(y - mean)
        return y

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        out_h, out_w = _pads(self.padding, h, w, ph, pw, sh, sw)[:2]
        return (n, out_h, out_w, c)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "quantizer": self.quantizer}


def unsupported_reason(layer) -> str | None:
    """Same line-buffer limits as StreamMaxPooling2D (trailing padding below the stride)."""
    _, in_h, in_w, _ = layer.input_shape
    return window_reason("average", layer.padding, in_h, in_w, layer.pool_size, layer.strides)


def reciprocal_table(num_bits: int, max_den: int, den_scale: int = 1) -> tuple[int, list[int]]:
    """(S, M) with M[d] = ceil(2**S / (d*den_scale)) such that floor(n*M[d] >> S) == n // (d*den_scale)
    for every 0 <= n < 2**num_bits and 1 <= d <= max_den (Granlund-Montgomery); checked exhaustively
    when the numerator range is small enough, else relies on the theorem's bound."""
    shift = num_bits + math.ceil(math.log2(max_den * den_scale)) + 1
    table = [0] + [-(-(1 << shift) // (d * den_scale)) for d in range(1, max_den + 1)]
    if num_bits <= 16:
        n = np.arange(1 << num_bits, dtype=object)
        for d in range(1, max_den + 1):
            if not all((v * table[d]) >> shift == v // (d * den_scale) for v in n):
                raise AssertionError(f"reciprocal of {d} is not exact with {shift} bits")
    return shift, table


def parse_exact_avgpool(keras_layer, input_names, input_shapes, data_reader):
    cfg = keras_layer["config"]
    geo = window_geometry(keras_layer, input_shapes)
    spec = quantizer_spec(cfg["quantizer"], what=f"{cfg['name']}.quantizer")
    layer = {
        "name": cfg["name"], "class_name": "HExactAvgPool2D", "inputs": input_names, **geo,
        "out_width_bits": spec.width, "out_integer": spec.integer, "out_signed": spec.signed,
    }
    return layer, [input_shapes[0][0], geo["out_height"], geo["out_width"], geo["n_chan"]]


class HExactAvgPool2D(Layer):
    _expected_attributes = [Attribute(n) for n in WINDOW_ATTRIBUTES + ("out_width_bits", "out_integer")] + [
        Attribute("out_signed", value_type=bool), TypeAttribute("accum")]

    def initialize(self):
        p = self.get_input_variable().type.precision
        n_cells = self.attributes["pool_height"] * self.attributes["pool_width"]
        acc = gap_accum_spec(FixedSpec(bool(p.signed), p.width, p.integer), n_cells)  # exact window sum
        self.set_attr("accum_t", NamedType(f"layer{self.index}_accum_t",
                                           FixedPrecisionType(acc.width, acc.integer, acc.signed)))
        out = FixedPrecisionType(self.attributes["out_width_bits"], self.attributes["out_integer"],
                                 self.attributes["out_signed"])
        shape = [self.attributes["out_height"], self.attributes["out_width"], self.attributes["n_chan"]]
        self.add_output_variable(shape, precision=out)


_config_template = "struct config{index} : nnet::exact_avgpool2d_config {{\n" + WINDOW_CONFIG + """\
    static const bool out_signed = {out_signed_cpp};
    typedef {accum_t.name} accum_t;
    // exact division by the window's cell count d: (n * recip[d]) >> recip_shift == n / (d << div_shr)
    static const unsigned div_shl = {div_shl};
    static const unsigned div_shr = {div_shr};
    static const unsigned num_bits = {num_bits};
    static const unsigned recip_shift = {recip_shift};
    static const unsigned long long recip[{n_recip}];
}};
const unsigned long long config{index}::recip[{n_recip}] = {{{recip}}};
"""
_function_template = "nnet::exact_avgpool2d_cl<{input_t}, {output_t}, {config}>({input}, {output});"


def _avgpool_config(node):
    acc = node.get_attr("accum_t").precision
    fi = acc.width - acc.integer
    fo = node.get_attr("out_width_bits") - node.get_attr("out_integer")
    shl, shr = max(fo - fi, 0), max(fi - fo, 0)
    num_bits = acc.width + shl  # magnitude bits of the scaled numerator (sign removed, +1 spare)
    n_cells = node.get_attr("pool_height") * node.get_attr("pool_width")
    shift, table = reciprocal_table(num_bits, n_cells, 1 << shr)
    if shift + num_bits > 64:
        raise ValueError(f"{node.name}: {num_bits}-bit sums are too wide for the 64-bit reciprocal division")
    return dict(div_shl=shl, div_shr=shr, num_bits=num_bits, recip_shift=shift, n_recip=len(table),
                recip=", ".join(f"{v}ULL" for v in table), out_signed_cpp="true" if node.get_attr("out_signed") else "false")


KERAS_CLASS = ExactAveragePooling2D
HLS_LAYER = ("HExactAvgPool2D", HExactAvgPool2D)
PARSER = ("ExactAveragePooling2D", parse_exact_avgpool)
SOURCE = "nnet_exact_avgpool.h"
TEMPLATES = templates(HExactAvgPool2D, _config_template, _function_template, SOURCE, config_params=_avgpool_config)

# this layer kind's record (hls/layer_kind.py), read by the registry (hls/kinds.py)
KIND = LayerKind("avgpool", (KERAS_CLASS.__name__,), (HLS_LAYER[0],), "average pooling with an exact quantized mean",
                 extension=sys.modules[__name__], check=unsupported_reason, type_rule=rule_own_quantizer,
                 counting="pool_window", read_ahead=5, estimate="avg_pool_window", cycles="own_avg_pool")
