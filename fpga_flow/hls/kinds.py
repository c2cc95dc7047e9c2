"""Layer kinds: the registry of every kind of layer the flow handles, stock hls4ml kinds and
fpga_flow's extensions alike (as hls4ml's Extension API keeps a layer's Keras class, parser, IR
layer and templates together, and FINN's custom ops carry their own estimates).

One record per kind (:class:`layer_kind.LayerKind`, whose docstring lists what a record says). The
extensions' records live in their own modules (extensions/*.py, ``KIND``: found through the one
registration line of extensions/__init__.py); this module holds the stock kinds: hls4ml's own layers
(and their rewrites into extensions, ``prepare``), the nodes hls4ml inserts, the stock classes
``fpga-flow estimate`` meets, and REFUSED, the one table of the layers the flow refuses (with the
fix). It assembles the registry and is the one place a layer's class name is looked up:
``for_keras`` (a Keras layer or class name) and ``for_hls`` (an hls4ml node class); everything else
compares records (tests/test_architecture.py keeps it so).

Every other module asks this registry; the resource model below it sees only the plain data
``describe`` copies into each node record (so a plan can be re-made from a built directory's
flow.json without TensorFlow or hls4ml).
"""
from __future__ import annotations

import numpy as np

from ..errors import FlowError
from . import extensions
from .extensions import grouped_conv, maxpool, sliding_window, stream_conv
from .fixed import quantizer_spec, spec_for_range
from .layer_kind import (LayerKind, check_quantizers, fused_activation, kernel_vs_stride, mult_dense, quantizer_info,
                         rule_pass, rule_weighted)
from .precision import TensorInfo, inbound

# ---- support checks of the stock kinds ---------------------------------------------------------------


def check_conv(layer) -> str | None:
    if int(getattr(layer, "groups", 1)) != 1:
        # stock hls4ml ignores groups; prepare rewrites it into QGroupedConv1x1
        reason = grouped_conv.unsupported_reason(layer)
        if reason:
            return reason
    if tuple(layer.dilation_rate) != (1, 1):
        return f"dilation_rate {layer.dilation_rate} is not supported; use (1, 1)"
    return kernel_vs_stride(layer) or fused_activation(layer) or check_quantizers(layer)


def check_depthwise(layer) -> str | None:
    if int(layer.depth_multiplier) != 1:
        return f"depth_multiplier={layer.depth_multiplier} is not supported; use 1"
    if tuple(layer.dilation_rate) != (1, 1):
        return f"dilation_rate {layer.dilation_rate} is not supported; use (1, 1)"
    return fused_activation(layer) or kernel_vs_stride(layer) or check_quantizers(layer)


def check_dense(layer) -> str | None:
    return fused_activation(layer) or check_quantizers(layer)


def check_quantizer(layer) -> str | None:
    quantizer_spec(layer.activation, what=f"layer '{layer.name}' ({type(layer).__name__})", activation=True)
    return None


def check_concat(layer) -> str | None:
    return None if layer.axis in (-1, 3) else "only channel concatenation (axis=-1) is supported"


def check_add(layer) -> str | None:
    return None if len(inbound(layer)) == 2 else "only two-input Add is supported; chain Adds"


# ---- exact type rules of the stock kinds (precision.py's module docstring states them) ---------------

def rule_quantizer(layer, ins, model, kind_of) -> TensorInfo:
    return quantizer_info(quantizer_spec(layer.activation, what=f"layer '{layer.name}'", activation=True))


def rule_add(layer, ins, model, kind_of) -> TensorInfo:
    a, c = ins
    lo, hi = a.lo + c.lo, a.hi + c.hi
    return TensorInfo(lo, hi, spec_for_range(lo, hi, max(a.spec.frac, c.spec.frac)))


def rule_concat(layer, ins, model, kind_of) -> TensorInfo:
    if all(i.spec == ins[0].spec for i in ins):
        return TensorInfo(min(i.lo for i in ins), max(i.hi for i in ins), ins[0].spec)
    lo = min(i.spec.code_min * 2.0**-i.spec.frac for i in ins)
    hi = max(i.spec.code_max * 2.0**-i.spec.frac for i in ins)
    return TensorInfo(lo, hi, spec_for_range(lo, hi, max(i.spec.frac for i in ins)))


# ---- rewrites of stock layers into extensions ---------------------------------------------------------

def prepare_maxpool(layer, conv_kernel, max_window):
    """Overlapping or padded MaxPooling2D -> StreamMaxPooling2D (stock io_stream aborts)."""
    if tuple(layer.pool_size) != tuple(layer.strides) or layer.padding != "valid":
        return [(maxpool.StreamMaxPooling2D.from_config(layer.get_config()), None)]
    return None


def _window_chain(layer, final) -> list:
    """[ZeroPadding2D] -> [SlidingWindow2D] -> ``final``: a conv's windows into fpga_flow's MVU."""
    import tensorflow as tf
    from hls4ml.converters.utils import compute_padding_2d

    (kh, kw), (sh, sw) = tuple(layer.kernel_size), tuple(layer.strides)
    _, in_h, in_w, _ = layer.input_shape
    chain = []
    if layer.padding == "same" and (kh > 1 or kw > 1):
        _, _, top, bottom, left, right = compute_padding_2d("same", in_h, in_w, sh, sw, kh, kw)
        if top or bottom or left or right:
            chain.append((tf.keras.layers.ZeroPadding2D(((top, bottom), (left, right)), name=f"{layer.name}_pad"), None))
    if (kh, kw, sh, sw) != (1, 1, 1, 1):
        chain.append((sliding_window.SlidingWindow2D((kh, kw), (sh, sw), name=f"{layer.name}_window"), None))
    return chain + [final]


def _streamed(layer, conv_kernel, max_window) -> bool:
    """Whether a conv goes through fpga_flow's sliding window + MVU: with conv_kernel='stream', when
    its window (K*K*C values: the width of the window stream, a FIFO of that many values between the
    two, as wide in LUTs) is at most ``max_window`` values (hls.max_window_values); a wider one keeps
    hls4ml's kernel, whose line buffer is one shift register per channel and which streams no window.
    A 1x1 stride-1 conv has no window: always the MVU."""
    kh, kw = tuple(layer.kernel_size)
    windowless = (kh, kw) == (1, 1) and tuple(layer.strides) == (1, 1)  # the MVU reads the pixel stream itself
    return conv_kernel == "stream" and (windowless or kh * kw * int(layer.input_shape[-1]) <= int(max_window))


def prepare_depthwise(layer, conv_kernel, max_window):
    """With ``conv_kernel='stream'`` and a window of at most ``max_window`` values: QDepthwiseConv2D ->
    [ZeroPadding2D] -> SlidingWindow2D -> StreamQDepthwise (fpga_flow's MVU in its depthwise mode): the
    same products, one pixel per clock."""
    if not _streamed(layer, conv_kernel, max_window):
        return None
    return _window_chain(layer, (stream_conv.from_qdepthwise(layer), layer.get_weights()))


def prepare_conv(layer, conv_kernel, max_window):
    """QConv2D(groups>1), 1x1 -> QGroupedConv1x1 (stock hls4ml ignores ``groups``); with
    ``conv_kernel='stream'``, QConv2D -> [ZeroPadding2D] -> [SlidingWindow2D] -> StreamQConv2D: the
    same products (the kernel reshaped (K*K*C, F) in window order), one input pixel per clock."""
    if int(getattr(layer, "groups", 1)) > 1:
        return [(grouped_conv.from_qconv2d(layer), layer.get_weights())]
    if not _streamed(layer, conv_kernel, max_window):
        return None
    kh, kw = tuple(layer.kernel_size)
    return _window_chain(layer, (stream_conv.from_qconv2d(layer, kh * kw * layer.input_shape[-1]),
                                 stream_conv.mvu_weights(layer)))


# ---- geometry ---------------------------------------------------------------------------------------

def mult_conv(g, n_w):
    return g["n_chan"] * g.get("filt_height", 1) * g.get("filt_width", 1), g["n_filt"]


def mult_depthwise(g, n_w):  # each channel its own taps; RF > 9C behaves like 9C
    return n_w, 1


# ---- the stock records ------------------------------------------------------------------------------

INPUT = LayerKind("input", ("InputLayer",), ("Input",), "network input (its quantizer is the next layer)",
                  source=True)
QUANTIZER = LayerKind("quantizer", ("QActivation",), ("Activation",),
                      "QActivation: the quantizer's type, RND_CONV/SAT", check=check_quantizer,
                      type_rule=rule_quantizer, cycles="activation", quantizer=True)
CONV = LayerKind("conv", ("QConv2D",), ("Conv2D", "Conv2DBatchnorm"),
                 "QConv2D KxK and 1x1 (Resource line-buffer kernel, weights in a ROM)", check=check_conv,
                 type_rule=rule_weighted, prepare=prepare_conv, weighted=True, mult_size=mult_conv,
                 counting="conv_window", read_ahead=None, estimate="weighted", cycles="conv_line_buffer")
POINTWISE = LayerKind("pointwise", (), ("PointwiseConv1D", "PointwiseConv2D"),
                      "hls4ml's rewrite of a 1x1 conv (weights partitioned): never in a flow's graph "
                      "(hls/storage.py keeps it out), met by 'fpga-flow estimate'", weighted=True, mult_size=mult_conv,
                      counting="conv_window", read_ahead=None, estimate="weighted", cycles="conv_line_buffer")
DEPTHWISE = LayerKind("depthwise", ("QDepthwiseConv2D",), ("DepthwiseConv2D",), "QDepthwiseConv2D, multiplier 1",
                      check=check_depthwise, type_rule=rule_weighted, prepare=prepare_depthwise, weighted=True,
                      mult_size=mult_depthwise,
                      counting="conv_window", read_ahead=None, estimate="weighted", cycles="conv_line_buffer")
DENSE = LayerKind("dense", ("QDense",), ("Dense",), "QDense head", check=check_dense, type_rule=rule_weighted,
                  weighted=True, mult_size=mult_dense, read_ahead=None, estimate="dense", cycles="dense_stream")
STOCK_POOL = LayerKind("stock_pool", ("MaxPooling2D",), ("Pooling2D",),
                       "stock hls4ml pooling (non-overlapping valid MaxPooling2D; any other window becomes "
                       "StreamMaxPooling2D); FIFO model: one item out per item in (not its window)",
                       check=maxpool.unsupported_reason, type_rule=rule_pass, prepare=prepare_maxpool,
                       cycles="pooling_line_buffer")
ADD = LayerKind("add", ("Add",), ("Merge",), "two-input Add: exact sum type", check=check_add, type_rule=rule_add,
                join=True, cycles="stream_loop")
CONCAT = LayerKind("concatenate", ("Concatenate",), ("Concatenate",), "channel concatenation", check=check_concat,
                   type_rule=rule_concat, join=True, cycles="concatenate")
DROPOUT = LayerKind("dropout", ("Dropout",), (), "removed at inference", type_rule=rule_pass)
CLONE = LayerKind("clone", (), ("Clone",), "hls4ml's stream fan-out (inserted)", cycles="stream_loop")
ZEROPAD = LayerKind("zero_padding", ("ZeroPadding2D",), ("ZeroPadding2D",),
                    "zero padding before a 'same' conv (inserted by hls4ml, or by prepare_conv)", type_rule=rule_pass,
                    counting="zero_pad", cycles="zeropad")
# stock hls4ml nodes only 'fpga-flow estimate' meets (any Keras model converted by stock hls4ml)
STOCK_WEIGHTED = LayerKind("stock_weighted", (), ("Conv", "Conv1D", "DepthwiseConv1D", "SeparableConv1D",
                                                  "SeparableConv2D"),
                           "stock hls4ml layers with a weight matrix the flow does not convert", weighted=True,
                           mult_size=mult_conv)
STOCK_ACTIVATION = LayerKind("stock_activation", (), ("HardActivation", "ParametrizedActivation"),
                             "stock hls4ml activations (lookup tables by their 'activation')")

UNQUANTIZED = "unquantized activation has no exact fixed-point output; use QActivation(quantized_relu(...)) or " \
              "QActivation(quantized_bits(...))"
SHUFFLE_SPELLING = ("Reshape((H,W,g,C/g)) -> Permute((1,2,4,3)) -> Reshape((H,W,C)), each the only consumer of the "
                    "previous, which 'fpga-flow build --model' rewrites into fpga_flow's ChannelShuffle(groups) (in "
                    "io_stream a stream Transpose would buffer the whole feature map); use ChannelShuffle(groups) "
                    "(fpga_flow.hls.extensions.channel_shuffle)")

# the one table of refused layers: why, and the fix (check_supported and hls/rewrite.py print it; the
# user-model rewrites turn some of them into exact layers first: GlobalAveragePooling2D/AveragePooling2D
# followed by a QActivation, QConv2DBatchnorm, the channel-shuffle spelling, Flatten before QDense)
FLOAT_GLOBAL_POOL = LayerKind("float_global_pooling", ("GlobalAveragePooling2D",),
                              refuse="global average pooling has no exact quantized definition (Keras averages in "
                                     "float32); use fpga_flow's ExactGlobalAveragePooling2D(quantizer=...), or follow it "
                                     "with a QActivation and build with 'fpga-flow build --model'")
FLOAT_AVG_POOL = LayerKind("float_pooling", ("AveragePooling2D",),
                           refuse="average pooling has no exact quantized definition (Keras averages in float32); use "
                                  "fpga_flow's ExactAveragePooling2D(quantizer=...), or follow it with a QActivation and "
                                  "build with 'fpga-flow build --model'")
CONV_BN = LayerKind("conv_batchnorm", ("QConv2DBatchnorm",), doc="QKeras' folded batch-norm conv (user models)",
                    weighted=True, refuse="QConv2DBatchnorm is folded into a QConv2D when a model is built with "
                                          "'fpga-flow build --model' (hls/rewrite.py); build it that way")
BATCHNORM = LayerKind("batchnorm", ("BatchNormalization", "QBatchNormalization", "BatchNormalizationV2"),
                      refuse="un-folded batch-norm scales the convolution after its weights are quantized, which "
                             "integer hardware cannot reproduce; fold it into the preceding convolution's weights, or "
                             "use QConv2DBatchnorm (folded; accepted by 'fpga-flow build --model')")
RESHAPE = LayerKind("reshape", ("Reshape",), refuse="a Reshape is only accepted as the channel shuffle "
                                                    + SHUFFLE_SPELLING)
PERMUTE = LayerKind("permute", ("Permute",), refuse="a Permute is only accepted inside the channel shuffle "
                                                    + SHUFFLE_SPELLING)
FLATTEN = LayerKind("flatten", ("Flatten",),
                    refuse="a Flatten is only accepted before QDense layers, which 'fpga-flow build --model' turns "
                           "into an HxW convolution; build the model that way, or end it with a global pooling")
LAMBDA = LayerKind("lambda", ("Lambda", "TFOpLambda", "SlicingOpLambda"),
                   refuse="arbitrary Python/TF code cannot be converted; replace it with supported layers")
FLOAT_WEIGHTED = LayerKind("float_weighted", ("Conv2D", "Dense", "DepthwiseConv2D", "SeparableConv2D", "Conv1D"),
                           refuse="float weights cannot be exact on the FPGA; use the QKeras layer (QConv2D, QDense, "
                                  "QDepthwiseConv2D) with kernel_quantizer/bias_quantizer quantized_bits(..., alpha=1)")
FLOAT_ACTIVATION = LayerKind("float_activation", ("Activation", "ReLU", "LeakyReLU"), refuse=UNQUANTIZED)
SOFTMAX = LayerKind("softmax", ("Softmax",), ("Softmax",), refuse=UNQUANTIZED)

STOCK = (INPUT, QUANTIZER, CONV, POINTWISE, DEPTHWISE, DENSE, STOCK_POOL, ADD, CONCAT, DROPOUT, CLONE, ZEROPAD,
         STOCK_WEIGHTED, STOCK_ACTIVATION)
REFUSED = (FLOAT_GLOBAL_POOL, FLOAT_AVG_POOL, CONV_BN, BATCHNORM, RESHAPE, PERMUTE, FLATTEN, LAMBDA, FLOAT_WEIGHTED,
           FLOAT_ACTIVATION, SOFTMAX)

# ---- the registry -----------------------------------------------------------------------------------

EXTENSIONS = extensions.MODULES  # each holds its kind's record (KIND)
KINDS = STOCK + tuple(m.KIND for m in EXTENSIONS) + REFUSED
# an hls4ml node class no record names (none in the supported layer set): the generic model
OTHER = LayerKind("other", doc="unknown hls4ml node: conv-window counting if it has a filter, else one item per item")

_BY_KERAS = {c: k for k in KINDS for c in k.keras}
_BY_HLS = {c: k for k in KINDS for c in k.hls}
assert len(_BY_KERAS) == sum(len(k.keras) for k in KINDS), "a Keras class in two records"
assert len(_BY_HLS) == sum(len(k.hls) for k in KINDS), "an hls4ml class in two records"


def for_keras(layer) -> LayerKind | None:
    """The record of a Keras layer (instance or class name), None when no record names it."""
    return _BY_KERAS.get(layer if isinstance(layer, str) else type(layer).__name__)


def for_hls(class_name: str) -> LayerKind:
    return _BY_HLS.get(class_name, OTHER)


def supported_names() -> list[str]:
    return [c for k in KINDS if k.refuse is None and k.type_rule is not None for c in k.keras]


# ---- the passes that walk a model by kind -----------------------------------------------------------

def check_supported(model) -> None:
    """Reject, by layer name and with the fix, anything that cannot be converted exactly."""
    layers = model.layers
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise FlowError("model must have exactly one input and one output")
    first = [l for l in layers if for_keras(l) is not INPUT]
    if not first or for_keras(first[0]) is not QUANTIZER or inbound(first[0])[0] is not layers[0]:
        raise FlowError("the first layer after the input must be an input quantizer, e.g. "
                        "QActivation(quantized_bits(8,0,alpha=1)); add one")
    for layer in layers:
        kind = for_keras(layer)
        where = f"layer '{layer.name}' ({type(layer).__name__})"
        if kind is INPUT:
            continue
        if kind is None:
            raise FlowError(f"{where}: layer type not supported by fpga_flow; supported: QConv2D (groups only for 1x1), "
                            + ", ".join(n for n in supported_names() if n not in ("QConv2D", "InputLayer")))
        if kind.refuse:
            raise FlowError(f"{where}: {kind.refuse}")
        reason = kind.check(layer) if kind.check else None
        if reason:
            raise FlowError(f"{where}: {reason}")


def prepare(model, conv_kernel: str, max_window: int):
    """Rewrite layers that stock hls4ml would get wrong, or that fpga_flow converts with its own
    kernels, into fpga_flow's extensions (same maths): each record's ``prepare`` returns the chain of
    layers (with their weights) that replaces one layer: overlapping/padded MaxPooling2D, grouped 1x1
    QConv2D, and with ``conv_kernel='stream'`` (hls.conv_kernel) every QConv2D and QDepthwiseConv2D whose
    window holds at most ``max_window`` values (hls.max_window_values; prepare_conv, prepare_depthwise).
    The model is rebuilt layer by layer; layers without a replacement are copied with their weights."""

    def replacement(layer):
        kind = for_keras(layer)
        return kind.prepare(layer, conv_kernel, max_window) if kind is not None and kind.prepare else None

    chains = {l.name: c for l in model.layers if (c := replacement(l)) is not None}
    if not chains:
        return model
    import tensorflow as tf

    taken = {l.name for l in model.layers}
    tensors = {}
    for layer in model.layers:
        if for_keras(layer) is INPUT:
            tensors[layer.name] = tf.keras.Input(shape=layer.get_output_at(0).shape[1:], name=layer.name)
            continue
        ins = [tensors[l.name] for l in inbound(layer)]
        x = ins[0] if len(ins) == 1 else ins
        chain = chains.get(layer.name) or [(layer.__class__.from_config(layer.get_config()), layer.get_weights())]
        for new, weights in chain:
            if new.name != layer.name and new.name in taken:
                raise FlowError(f"layer '{layer.name}': the flow names its {type(new).__name__} '{new.name}', which "
                                "the model already uses; rename that layer")
            x = new(x)
            if weights:
                new.set_weights(weights)
        tensors[layer.name] = x
    return tf.keras.Model([tensors[l.name] for l in model.layers if for_keras(l) is INPUT],
                          [tensors[n] for n in model.output_names], name=model.name)


def infer(model) -> dict[str, TensorInfo]:
    """Exact interval/type of every layer's output, keyed by Keras layer name (each kind's type_rule)."""
    info: dict[str, TensorInfo] = {}
    for layer in model.layers:
        kind = for_keras(layer)
        if kind is INPUT:
            continue
        if kind is None or kind.type_rule is None:  # check_supported runs first
            raise FlowError(f"layer '{layer.name}' ({type(layer).__name__}) is not supported")
        info[layer.name] = kind.type_rule(layer, [info.get(l.name) for l in inbound(layer)], model, for_keras)
    return info


def is_weighted(layer) -> bool:
    """A layer holding weights (as the user wrote it: a QConv2DBatchnorm too)."""
    kind = for_keras(layer)
    return kind is not None and kind.weighted


def _surviving_producer(model, name, by_name, in_node):
    """The hls4ml node that now produces the tensor Keras layer ``name`` consumed."""
    layer = model.get_layer(name)
    while True:
        ins = inbound(layer)
        if len(ins) != 1:
            return None
        layer = ins[0]
        if for_keras(layer) is INPUT:
            return in_node
        if layer.name in by_name:
            return by_name[layer.name]


def audit(hls_model, model, info: dict[str, TensorInfo]) -> list[str]:
    """Compare the hls4ml graph's types with the exact ones; return problems (empty = exact)."""
    problems = []
    by_name = {l.name: l for l in hls_model.get_layers()}
    in_node = next(iter(hls_model.get_layers()), None)
    for name, t in info.items():
        node = by_name.get(name)
        if node is None:
            # hls4ml removed the layer (e.g. MergeLinearActivation drops a linear QActivation and
            # keeps only its producer's type): exact only if the producer already has this type.
            prod = _surviving_producer(model, name, by_name, in_node)
            p = None if prod is None else prod.get_output_variable().type.precision
            if p is None or (bool(p.signed), int(p.width), int(p.integer)) != (t.spec.signed, t.spec.width, t.spec.integer):
                problems.append(f"{name}: removed by hls4ml while its input{'' if prod is None else ' ' + prod.name} has "
                                f"type {p}, not {t.spec.hls4ml()}: its rounding would be lost")
            continue
        p = node.get_output_variable().type.precision
        got = (bool(p.signed), int(p.width), int(p.integer))
        want = (t.spec.signed, t.spec.width, t.spec.integer)
        if got != want:
            problems.append(f"{name}: output type {p} != exact {t.spec.hls4ml()}")
        if t.spec.rounding == "RND_CONV":
            rm = str(getattr(p, "rounding_mode", "")).upper()
            sm = str(getattr(p, "saturation_mode", "")).upper()
            if "RND_CONV" not in rm or "SAT" not in sm:
                problems.append(f"{name}: output type {p} must round RND_CONV and saturate SAT like the quantizer")
        acc = node.get_attr("accum_t")
        if is_weighted(model.get_layer(name)) and acc is not None:
            a, want_acc = acc.precision, t.accum or t.spec
            if (int(a.width), int(a.integer)) != (want_acc.width, want_acc.integer):
                problems.append(f"{name}: accumulator {a} != exact {want_acc.hls4ml()}")
        w = node.weights.get("weight")
        if w is not None:
            wt = w.type.precision
            vals = np.asarray(w.data, dtype=np.float64) * 2.0 ** (wt.width - wt.integer)
            if not np.array_equal(vals, np.rint(vals)):
                problems.append(f"{name}: weights are not on the grid of {wt}")
    for node in hls_model.get_layers():  # inserted nodes (clone, zero-pad) must keep their input type
        if node.name not in info and for_hls(node.class_name) in (CLONE, ZEROPAD):
            pin = node.get_input_variable().type.precision
            pout = node.get_output_variable().type.precision
            if (pin.width, pin.integer, pin.signed) != (pout.width, pout.integer, pout.signed):
                problems.append(f"{node.name}: {node.class_name} changes type {pin} -> {pout}")
    return problems
