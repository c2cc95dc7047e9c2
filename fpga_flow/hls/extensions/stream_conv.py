"""StreamQConv2D: a 1x1 QConv2D converted to fpga_flow's matrix-vector unit (MVU).

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

import numpy as np
from hls4ml.converters.keras_v2_to_hls import get_weights_data
from hls4ml.model.attributes import Attribute, TypeAttribute, WeightAttribute
from hls4ml.model.layers import Layer
from qkeras import QConv2D

from ...resources.mvu import mvu_fold
from .grouped_conv import _quantizer
from .templates import templates


class StreamQConv2D(QConv2D):
    """QConv2D (1x1, stride 1) under a name the flow converts with its matrix-vector unit."""


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


def parse_stream_conv(keras_layer, input_names, input_shapes, data_reader):
    cfg = keras_layer["config"]
    name = cfg["name"]
    in_shape = list(input_shapes[0])
    if len(in_shape) != 4:
        raise ValueError(f"{name}: StreamQConv2D expects an image tensor (N, H, W, C)")
    if tuple(cfg["kernel_size"]) != (1, 1) or tuple(cfg["strides"]) != (1, 1):
        raise ValueError(f"{name}: StreamQConv2D is a 1x1 stride-1 convolution (windows come from SlidingWindow2D)")
    _, in_h, in_w, n_in = in_shape
    n_out = int(cfg["filters"])
    kernel = np.asarray(get_weights_data(data_reader, name, "kernel"))  # (1, 1, n_in, n_out)
    bias = get_weights_data(data_reader, name, "bias") if cfg.get("use_bias", True) else None
    layer = {
        "name": name, "class_name": "HStreamConv", "inputs": input_names,
        "in_height": in_h, "in_width": in_w, "n_in": n_in, "n_out": n_out,
        # the (n_out, n_in) matrix, output-major; set_reuse_factor / the config template lay it out for the MVU
        "weight_data": np.ascontiguousarray(kernel.reshape(n_in, n_out).T).reshape(-1),
        "bias_data": np.zeros(n_out) if bias is None else np.asarray(bias),
        "weight_quantizer": _quantizer(keras_layer, "kernel"),
        "bias_quantizer": _quantizer(keras_layer, "bias"),
    }
    return layer, [in_shape[0], in_h, in_w, n_out]


class HStreamConv(Layer):
    # (its name must not contain "Conv2D": hls4ml passes match on that substring and expect conv attributes)
    _expected_attributes = [
        Attribute("in_height"), Attribute("in_width"), Attribute("n_in"), Attribute("n_out"),
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
            "sf": sf, "nf": nf, "block_factor": simd * pe}


KERAS_CLASS = StreamQConv2D
HLS_LAYER = ("HStreamConv", HStreamConv)
PARSER = ("StreamQConv2D", parse_stream_conv)
SOURCE = "nnet_stream_mvu.h"
TEMPLATES = templates(HStreamConv, _config_template, _function_template, SOURCE, config_params=_mvu_config,
                      function_params=lambda node: {"w": node.get_weights("weight").name,
                                                    "b": node.get_weights("bias").name})
