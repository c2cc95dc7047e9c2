"""StreamMaxPooling2D: max pooling of any size/stride/padding in io_stream (e.g. 3x3 stride 2).

Side by side: the Keras class (identical maths to keras MaxPooling2D, its own class name so the
converter can route it), the hls4ml parser, the hls4ml IR layer, and the config/function templates.
The C++ lives in cpp/nnet_stream_maxpool.h.
"""
from __future__ import annotations

import sys

import tensorflow as tf
from hls4ml.converters.utils import compute_padding_2d
from hls4ml.model.attributes import Attribute
from hls4ml.model.layers import Layer

from ..layer_kind import LayerKind, rule_pass
from .templates import templates


class StreamMaxPooling2D(tf.keras.layers.MaxPooling2D):
    """keras.layers.MaxPooling2D under a name the flow converts with its line-buffer HLS template.

    The Keras computation is inherited unchanged, so the reference the C-simulation is compared with
    is Keras' own max pooling (padding cells are ignored, as with -inf padding).
    """


def unsupported_reason(layer) -> str | None:
    """Why the line-buffer template cannot implement this max pooling, or None (see window_reason)."""
    _, in_h, in_w, _ = layer.input_shape
    return window_reason("max", layer.padding, in_h, in_w, layer.pool_size, layer.strides)


def window_reason(kind, padding, in_h, in_w, pool_size, strides) -> str | None:
    """Why a line-buffer pooling template cannot implement this window, or None.

    The templates emit an output when the input pixel that closes its window arrives. With 'same'
    padding and bottom/right padding >= stride, several windows close on the last input row/column
    (e.g. 2x2 stride 1 'same'), which would need extra buffering; such layers are refused.
    """
    (ph, pw), (sh, sw) = pool_size, strides
    _, _, _, pad_bottom, _, pad_right = compute_padding_2d(padding, in_h, in_w, sh, sw, ph, pw)
    if pad_bottom >= sh or pad_right >= sw:
        return (f"'same' {kind} pooling {ph}x{pw}/{sh}x{sw} on {in_h}x{in_w} pads {pad_bottom} row(s)/{pad_right} "
                "column(s) at the end, at least the stride; use padding='valid' or a stride larger than that padding")
    return None


# Window geometry shared by the line-buffer pooling layers (this one and avgpool.py): the hls4ml
# attributes, how the parser derives them, and their lines in the C++ config struct.
WINDOW_ATTRIBUTES = ("in_height", "in_width", "n_chan", "pool_height", "pool_width", "stride_height", "stride_width",
                     "pad_top", "pad_bottom", "pad_left", "pad_right", "out_height", "out_width")
WINDOW_CONFIG = """    static const unsigned in_height = {in_height};
    static const unsigned in_width = {in_width};
    static const unsigned n_chan = {n_chan};
    static const unsigned pool_height = {pool_height};
    static const unsigned pool_width = {pool_width};
    static const unsigned stride_height = {stride_height};
    static const unsigned stride_width = {stride_width};
    static const unsigned pad_top = {pad_top};
    static const unsigned pad_left = {pad_left};
    static const unsigned out_height = {out_height};
    static const unsigned out_width = {out_width};
"""


def window_geometry(keras_layer, input_shapes) -> dict:
    """The WINDOW_ATTRIBUTES of a channels_last pooling layer (Keras padding semantics)."""
    cfg = keras_layer["config"]
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"{cfg['name']}: only channels_last is supported")
    _, in_h, in_w, n_chan = input_shapes[0]
    pool_h, pool_w = cfg["pool_size"]
    stride_h, stride_w = cfg["strides"]
    out_h, out_w, pad_top, pad_bottom, pad_left, pad_right = compute_padding_2d(
        cfg["padding"], in_h, in_w, stride_h, stride_w, pool_h, pool_w
    )
    return {
        "in_height": in_h, "in_width": in_w, "n_chan": n_chan,
        "pool_height": pool_h, "pool_width": pool_w,
        "stride_height": stride_h, "stride_width": stride_w,
        "pad_top": pad_top, "pad_bottom": pad_bottom, "pad_left": pad_left, "pad_right": pad_right,
        "out_height": out_h, "out_width": out_w,
    }


def parse_stream_maxpool(keras_layer, input_names, input_shapes, data_reader):
    geo = window_geometry(keras_layer, input_shapes)
    layer = {"name": keras_layer["config"]["name"], "class_name": "HStreamMaxPool2D", "inputs": input_names, **geo}
    return layer, [input_shapes[0][0], geo["out_height"], geo["out_width"], geo["n_chan"]]


class HStreamMaxPool2D(Layer):
    _expected_attributes = [Attribute(n) for n in WINDOW_ATTRIBUTES]

    def initialize(self):
        inp = self.get_input_variable()
        shape = [self.attributes["out_height"], self.attributes["out_width"], self.attributes["n_chan"]]
        # max is exact: the output keeps the input's type
        self.add_output_variable(shape, precision=inp.type.precision)


_config_template = "struct config{index} : nnet::stream_maxpool2d_config {{\n" + WINDOW_CONFIG + "}};\n"
_function_template = "nnet::stream_maxpool2d_cl<{input_t}, {output_t}, {config}>({input}, {output});"


KERAS_CLASS = StreamMaxPooling2D
HLS_LAYER = ("HStreamMaxPool2D", HStreamMaxPool2D)
PARSER = ("StreamMaxPooling2D", parse_stream_maxpool)
SOURCE = "nnet_stream_maxpool.h"
TEMPLATES = templates(HStreamMaxPool2D, _config_template, _function_template, SOURCE)

# this layer kind's record (hls/layer_kind.py), read by the registry (hls/kinds.py)
KIND = LayerKind("maxpool", (KERAS_CLASS.__name__,), (HLS_LAYER[0],),
                 "max pooling, any window/stride/padding the line buffer supports", extension=sys.modules[__name__],
                 check=unsupported_reason, type_rule=rule_pass, counting="pool_window", read_ahead=5,
                 estimate="pool_window", cycles="own_window_pool")
