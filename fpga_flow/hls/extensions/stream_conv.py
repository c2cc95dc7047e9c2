"""StreamQConv2D: a 1x1 QConv2D converted to fpga_flow's matrix-vector unit (MVU); also its depthwise
mode (StreamQDepthwise, a QDepthwiseConv2D on windows) and grouped mode (grouped_conv.py's
QGroupedConv1x1 parses into the same HStreamConv node).

Every QConv2D (groups 1) of a Resource-strategy build is converted through it (hls/kinds.py,
``prepare_conv``, with ``hls.conv_kernel: stream``): a 1x1 convolution directly, a KxK one after a
SlidingWindow2D (sliding_window.py) whose windows it multiplies, with the kernel reshaped from
(K, K, C, F) to (1, 1, K*K*C, F) in C order, i.e. the same weights in the same order. Keras' maths is
QConv2D's (a subclass), so type inference (hls/kinds.py, ``rule_weighted``) and the exactness argument
are the convolution's: the accumulator holds every product exactly, so the order of the sum is free.

Side by side: the Keras class, the hls4ml parser (weights laid out output-major, w[o * n_in + i], as
hls4ml's Resource strategy lays out a convolution's), the IR layer and its templates. The C++ is
cpp/nnet_stream_mvu.h: one loop over items x reuse_factor cycles pipelined at II=1, so an item costs
exactly reuse_factor cycles (hls4ml's conv kernel: reuse_factor + ~5, see docs/throughput.md).
"""
from __future__ import annotations

import sys

import numpy as np
import tensorflow as tf
from hls4ml.converters.keras.qkeras import get_quantizer_from_config
from hls4ml.converters.keras_v2_to_hls import get_weights_data
from hls4ml.model.attributes import Attribute, TypeAttribute, WeightAttribute
from hls4ml.model.layers import Layer
from qkeras import QConv2D, QDepthwiseConv2D
from qkeras.quantizers import get_quantizer

from ...resources.mvu import mvu_fold, mvu_pipeline_depth
from ..layer_kind import LayerKind, mult_dense, rule_weighted
from .templates import templates


class StreamQConv2D(QConv2D):
    """QConv2D (1x1, stride 1) under a name the flow converts with its matrix-vector unit."""

    def mvu_fan(self) -> tuple[int, int]:
        """(n_in, n_out) of the MVU's matrix: products per output, outputs."""
        k = self.get_weights()[0]
        return int(k.size // k.shape[-1]), int(k.shape[-1])


class StreamQDepthwise(tf.keras.layers.Layer):
    """A QDepthwiseConv2D (depth multiplier 1) applied to SlidingWindow2D windows: (N, H, W, K*K*C) ->
    (N, H, W, C), y[c] = b[c] + sum_k x[k*C + c] * w[k, c] (k = kh*K + kw): the same products as the
    depthwise convolution. It keeps the layer's ``depthwise_kernel`` (K, K, C, 1) and quantizers, so the
    precision pass types it as that convolution (hls/precision.py, per output channel over its K*K taps)."""

    def __init__(self, kernel_size, depthwise_quantizer=None, bias_quantizer=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.depthwise_quantizer, self.bias_quantizer, self.use_bias = depthwise_quantizer, bias_quantizer, bool(use_bias)
        self.depthwise_quantizer_internal = get_quantizer(depthwise_quantizer) if depthwise_quantizer else None
        self.bias_quantizer_internal = get_quantizer(bias_quantizer) if bias_quantizer else None

    def build(self, input_shape):
        kh, kw = self.kernel_size
        c = int(input_shape[-1]) // (kh * kw)
        self.depthwise_kernel = self.add_weight("depthwise_kernel", shape=(kh, kw, c, 1), initializer="zeros")
        self.bias = self.add_weight("bias", shape=(c,), initializer="zeros") if self.use_bias else None
        super().build(input_shape)

    def call(self, inputs):
        kh, kw = self.kernel_size
        k = self.depthwise_kernel
        k = self.depthwise_quantizer_internal(k) if self.depthwise_quantizer_internal else k
        c = k.shape[2]
        x = tf.reshape(inputs, tf.concat([tf.shape(inputs)[:-1], [kh * kw, c]], axis=0))
        y = tf.reduce_sum(x * tf.reshape(k, [kh * kw, c]), axis=-2)
        if self.use_bias:
            y = y + (self.bias_quantizer_internal(self.bias) if self.bias_quantizer_internal else self.bias)
        return y

    def compute_output_shape(self, input_shape):
        kh, kw = self.kernel_size
        return tuple(input_shape[:-1]) + (int(input_shape[-1]) // (kh * kw),)

    def mvu_fan(self) -> tuple[int, int]:
        """(products per output, outputs): K*K taps, C channels."""
        kh, kw, c, _ = self.depthwise_kernel.shape
        return int(kh * kw), int(c)

    def get_config(self):
        return {**super().get_config(), "kernel_size": list(self.kernel_size), "use_bias": self.use_bias,
                "depthwise_quantizer": self.depthwise_quantizer, "bias_quantizer": self.bias_quantizer}


def _qstr(q):
    return None if q is None else (q if isinstance(q, str) else str(q))


def from_qdepthwise(layer) -> StreamQDepthwise:
    """The StreamQDepthwise computing ``layer``'s (a QDepthwiseConv2D) products on its windows."""
    return StreamQDepthwise(layer.kernel_size, _qstr(layer.depthwise_quantizer_internal),
                            _qstr(layer.bias_quantizer_internal) if layer.use_bias else None, use_bias=layer.use_bias,
                            name=layer.name)


def from_qconv2d(layer, n_in: int) -> StreamQConv2D:
    """A 1x1 StreamQConv2D computing ``layer``'s products on items of ``n_in`` values (its input
    channels for a 1x1 convolution, K*K*C for a window); weights set with ``mvu_weights``."""
    cfg = layer.get_config()
    cfg.update(kernel_size=(1, 1), strides=(1, 1), padding="valid", dilation_rate=(1, 1))
    for k in ("groups", "batch_input_shape"):
        cfg.pop(k, None)
    return StreamQConv2D.from_config(cfg)


def mvu_weights(layer) -> list[np.ndarray]:
    """``layer``'s (K, K, C, F) kernel as (1, 1, K*K*C, F) in C order (window order kh, kw, c), bias as is."""
    w = layer.get_weights()
    k = np.asarray(w[0])
    return [k.reshape(1, 1, -1, k.shape[-1])] + list(w[1:])


def quantizer_of(keras_layer, var):
    """hls4ml's quantizer object of ``var`` ('kernel', 'depthwise', 'bias') of a (Q)Keras layer config;
    fpga_flow's layers store QKeras strings, which hls4ml wants serialized."""
    q = keras_layer["config"].get(f"{var}_quantizer")
    if q is None:
        return None
    if isinstance(q, str):
        from tensorflow.keras.utils import serialize_keras_object

        keras_layer = {"class_name": keras_layer["class_name"],
                       "config": {f"{var}_quantizer": serialize_keras_object(get_quantizer(q))}}
    return get_quantizer_from_config(keras_layer, var)


def mvu_node(keras_layer, input_names, input_shapes, matrix: np.ndarray, bias, weight_var: str, **mode) -> tuple:
    """The HStreamConv layer dict (and output shape) of an MVU multiplying every item by ``matrix``
    (n_out, n_in), output-major: w[o * n_in + i] (set_reuse_factor lays it out for the folding).
    ``mode``: depthwise=1, or groups/n_big/out_g_big for a grouped 1x1 conv."""
    cfg = keras_layer["config"]
    in_shape = list(input_shapes[0])
    if len(in_shape) != 4:
        raise ValueError(f"{cfg['name']}: {keras_layer['class_name']} expects an image tensor (N, H, W, C)")
    _, in_h, in_w, _ = in_shape
    n_out, n_in = matrix.shape
    layer = {"name": cfg["name"], "class_name": "HStreamConv", "inputs": input_names,
             "in_height": in_h, "in_width": in_w, "n_in": int(n_in), "n_out": int(n_out), **mode,
             "weight_data": np.ascontiguousarray(matrix).reshape(-1),
             "bias_data": np.zeros(n_out) if bias is None else np.asarray(bias),
             "weight_quantizer": quantizer_of(keras_layer, weight_var), "bias_quantizer": quantizer_of(keras_layer, "bias")}
    return layer, [in_shape[0], in_h, in_w, int(n_out)]


def _bias(keras_layer, data_reader):
    cfg = keras_layer["config"]
    return get_weights_data(data_reader, cfg["name"], "bias") if cfg.get("use_bias", True) else None


def parse_stream_conv(keras_layer, input_names, input_shapes, data_reader):
    cfg = keras_layer["config"]
    if tuple(cfg["kernel_size"]) != (1, 1) or tuple(cfg["strides"]) != (1, 1):
        raise ValueError(f"{cfg['name']}: StreamQConv2D is a 1x1 stride-1 convolution (windows come from SlidingWindow2D)")
    kernel = np.asarray(get_weights_data(data_reader, cfg["name"], "kernel"))  # (1, 1, n_in, n_out)
    return mvu_node(keras_layer, input_names, input_shapes, kernel.reshape(-1, kernel.shape[-1]).T,
                    _bias(keras_layer, data_reader), "kernel")


def parse_stream_depthwise(keras_layer, input_names, input_shapes, data_reader):
    cfg = keras_layer["config"]
    kernel = np.asarray(get_weights_data(data_reader, cfg["name"], "depthwise_kernel"))  # (K, K, C, 1)
    taps = kernel.shape[0] * kernel.shape[1]
    # (C, K*K): channel c's taps, each multiplying window value tap*C + c
    return mvu_node(keras_layer, input_names, input_shapes, kernel.reshape(taps, -1).T,
                    _bias(keras_layer, data_reader), "depthwise", depthwise=1)


class HStreamConv(Layer):
    # (its name must not contain "Conv2D": hls4ml passes match on that substring and expect conv attributes)
    _expected_attributes = [
        Attribute("in_height"), Attribute("in_width"), Attribute("n_in"), Attribute("n_out"),
        Attribute("depthwise", default=0), Attribute("groups", default=1), Attribute("n_big", default=1),
        Attribute("out_g_big", default=1),
        WeightAttribute("weight"), WeightAttribute("bias"),
        TypeAttribute("weight"), TypeAttribute("bias"), TypeAttribute("accum"),
    ]

    def initialize(self):
        shape = [self.attributes["in_height"], self.attributes["in_width"], self.attributes["n_out"]]
        self.add_output_variable(shape)
        self.add_weights_variable(name="weight", var_name="w{index}", quantizer=self.get_attr("weight_quantizer"))
        self.add_weights_variable(name="bias", var_name="b{index}", quantizer=self.get_attr("bias_quantizer"))


_config_template = """struct config{index} : nnet::stream_mvu_config {{
    static const unsigned n_items = {n_items};
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_out};
    static const bool depthwise = {depthwise_cpp};
    static const unsigned groups = {groups};
    static const unsigned n_big = {n_big};
    static const unsigned out_g_big = {out_g_big};
    static const unsigned simd = {simd};
    static const unsigned pe = {pe};
    static const unsigned sf = {sf};
    static const unsigned nf = {nf};
    static const unsigned reuse_factor = {reuse};
    static const unsigned block_factor = {block_factor};
    typedef {accum_t.name} accum_t;
    typedef {weight_t.name} weight_t;
    typedef {bias_t.name} bias_t;
}};
"""
_function_template = "nnet::stream_mvu_cl<{input_t}, {output_t}, {config}>({input}, {output}, {w}, {b});"


def mvu_layout(w: np.ndarray, rf: int) -> np.ndarray:
    """The (n_out, n_in) weight matrix as the MVU's array at reuse factor ``rf`` (resources/estimate.py,
    mvu_fold): padded with zero weights to (nf*pe, sf*simd); element k = ir + rf * (p*simd + s), with
    ROM word ir = f*sf_count + i, holds w[f*pe + p][i*simd + s]. ARRAY_RESHAPE block factor=simd*pe then
    makes word ir the pe x simd weights the kernel multiplies in cycle ir."""
    n_out, n_in = w.shape
    simd, pe, sf, nf = mvu_fold(n_in, n_out, rf)
    padded = np.zeros((nf * pe, sf * simd), dtype=w.dtype)
    padded[:n_out, :n_in] = w
    return np.ascontiguousarray(padded.reshape(nf, pe, sf, simd).transpose(1, 3, 0, 2)).reshape(-1)


def set_reuse_factor(node, rf: int) -> None:
    """Lay the weights out for reuse factor ``rf`` (mvu_layout); the (n_out, n_in) matrix the parser
    read is kept on the node. Padded positions hold zero weights: their products are exact zeros."""
    n_in, n_out = int(node.get_attr("n_in")), int(node.get_attr("n_out"))
    var = node.weights["weight"]
    if node.get_attr("mvu_weights") is None:
        node.set_attr("mvu_weights", np.asarray(var.data).reshape(n_out, n_in).copy())
    var.data = mvu_layout(node.get_attr("mvu_weights"), int(rf))
    var.shape = [int(var.data.size)]
    var.data_length = int(var.data.size)
    var.nonzeros = int(np.count_nonzero(var.data))
    var.nzeros = var.data_length - var.nonzeros
    node.set_attr("mvu_rf", int(rf))
    node.set_attr("reuse_factor", int(rf))


def _mvu_config(node):
    rf = int(node.get_attr("reuse_factor"))
    if node.get_attr("mvu_rf") != rf:  # the layout follows the reuse factor attribute
        set_reuse_factor(node, rf)
    simd, pe, sf, nf = mvu_fold(node.get_attr("n_in"), node.get_attr("n_out"), rf)
    return {"n_items": node.get_attr("in_height") * node.get_attr("in_width"), "simd": simd, "pe": pe,
            "sf": sf, "nf": nf, "block_factor": simd * pe,
            "depthwise_cpp": "true" if node.get_attr("depthwise", 0) else "false", "groups": node.get_attr("groups", 1),
            "n_big": node.get_attr("n_big", 1), "out_g_big": node.get_attr("out_g_big", 1)}


KERAS_CLASS = StreamQConv2D
KERAS_CLASSES = (StreamQConv2D, StreamQDepthwise)
HLS_LAYER = ("HStreamConv", HStreamConv)
PARSER = ("StreamQConv2D", parse_stream_conv)
PARSERS = (PARSER, ("StreamQDepthwise", parse_stream_depthwise))
SOURCE = "nnet_stream_mvu.h"
TEMPLATES = templates(HStreamConv, _config_template, _function_template, SOURCE, config_params=_mvu_config,
                      function_params=lambda node: {"w": node.get_weights("weight").name,
                                                    "b": node.get_weights("bias").name})

# this layer kind's record (hls/layer_kind.py), read by the registry (hls/kinds.py)
KIND = LayerKind("stream_conv", tuple(c.__name__ for c in KERAS_CLASSES), (HLS_LAYER[0],),
                 "matrix-vector unit of a conv (1x1, or KxK after a sliding window): reuse_factor cycles per item, no "
                 "cycle between items", extension=sys.modules[__name__], type_rule=rule_weighted, weighted=True,
                 mult_size=mult_dense, read_ahead=lambda g: mvu_pipeline_depth(g.get("n_in", 1)) - 1, estimate="mvu",
                 cycles="own_mvu")
