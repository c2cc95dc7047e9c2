"""ChannelShuffle: ShuffleNet's channel shuffle as one layer, and in io_stream pure wiring.

Keras semantics (Zhang et al. 2017, section 3.1): reshape the C channels to (groups, C/groups),
transpose, flatten: output channel o = k*groups + grp takes input channel grp*(C/groups) + k.
The usual Keras spelling Reshape -> Permute -> Reshape becomes a stream Transpose in hls4ml that
buffers the whole feature map in a fully partitioned array (not synthesizable at map size). In
io_stream every stream word is one pixel with all C channels, so the shuffle is a fixed
permutation of that word: cpp/nnet_channel_shuffle.h, II=1, no memory, no logic beyond wires.
Exact on both sides (a gather), so the output type is the input type.
"""
from __future__ import annotations

import sys

import numpy as np
import tensorflow as tf
from hls4ml.model.attributes import Attribute
from hls4ml.model.layers import Layer

from ..layer_kind import LayerKind, rule_pass
from .templates import templates


def shuffle_permutation(channels: int, groups: int) -> np.ndarray:
    """perm[o] = input channel feeding output channel o."""
    if channels % groups:
        raise ValueError(f"channel shuffle: {channels} channels are not divisible by groups={groups}")
    return np.arange(channels).reshape(groups, channels // groups).T.reshape(-1)


class ChannelShuffle(tf.keras.layers.Layer):
    """Channel shuffle with ``groups`` groups (channels_last)."""

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def build(self, input_shape):
        c = int(input_shape[-1])
        if c % self.groups:
            raise ValueError(f"{self.name}: {c} channels are not divisible by groups={self.groups}")
        self._perm = tf.constant(shuffle_permutation(c, self.groups), dtype=tf.int32)
        super().build(input_shape)

    def call(self, inputs):
        return tf.gather(inputs, self._perm, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


def parse_channel_shuffle(keras_layer, input_names, input_shapes, data_reader):
    cfg = keras_layer["config"]
    shape = list(input_shapes[0])
    if len(shape) != 4:
        raise ValueError(f"{cfg['name']}: ChannelShuffle expects an image tensor (N, H, W, C)")
    _, h, w, c = shape
    layer = {
        "name": cfg["name"], "class_name": "HChannelShuffle", "inputs": input_names,
        "height": h, "width": w, "n_chan": c, "groups": int(cfg["groups"]),
    }
    return layer, shape


class HChannelShuffle(Layer):
    _expected_attributes = [Attribute("height"), Attribute("width"), Attribute("n_chan"), Attribute("groups")]

    def initialize(self):
        inp = self.get_input_variable()
        self.add_output_variable(list(inp.shape), precision=inp.type.precision)


_config_template = """struct config{index} : nnet::channel_shuffle_config {{
    static const unsigned n_pixels = {n_pixels};
    static const unsigned n_chan = {n_chan};
    static const unsigned groups = {groups};
}};
"""
_function_template = "nnet::channel_shuffle_cl<{input_t}, {output_t}, {config}>({input}, {output});"


KERAS_CLASS = ChannelShuffle
HLS_LAYER = ("HChannelShuffle", HChannelShuffle)
PARSER = ("ChannelShuffle", parse_channel_shuffle)
SOURCE = "nnet_channel_shuffle.h"
TEMPLATES = templates(HChannelShuffle, _config_template, _function_template, SOURCE,
                      config_params=lambda node: {"n_pixels": node.get_attr("height") * node.get_attr("width")})

# this layer kind's record (hls/layer_kind.py), read by the registry (hls/kinds.py)
KIND = LayerKind("channel_shuffle", (KERAS_CLASS.__name__,), (HLS_LAYER[0],), "channel shuffle: wiring",
                 extension=sys.modules[__name__], type_rule=rule_pass, cycles="stream_loop")
