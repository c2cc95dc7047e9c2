"""Layer kinds: one record per kind of layer the flow handles, stock hls4ml kinds and fpga_flow's
extensions alike (as hls4ml's Extension API keeps a layer's Keras class, parser, IR layer and
templates together, and FINN's custom ops carry their own estimates).

A record says, for its kind:

* ``keras``: the Keras/QKeras/fpga_flow classes of that kind, ``hls``: the hls4ml graph node classes
  it becomes (``Clone`` and ``ZeroPadding2D`` have no Keras class: hls4ml inserts them);
* ``extension``: for our own layers, the module holding the Keras class, the hls4ml parser, IR layer,
  templates and the C++ file beside it (``hls/extensions/``);
* ``check``: why a layer of this kind cannot be converted exactly (or None), and ``refuse``: for
  kinds we never convert, why and what to use instead;
* ``type_rule``: the exact output type (precision.py states the rules);
* ``prepare``: the rewrite into an extension with the same maths (stock hls4ml would get it wrong);
* geometry: ``weighted`` and ``mult_size`` (the per-pixel product hls4ml validates reuse factors on);
* FIFO model (resources/fifo.py): ``counting`` (which counting function its read/write order is),
  ``read_ahead`` (how far its pipelined loop reads before it writes, from its template), ``join``;
* ``estimate``: which resource model (resources/estimate.py) its template follows; storage is planned
  per memory of that estimate (resources/memory.py); ``cycles``: which cycle model (resources/cycles.py:
  calibrated on csynth reports for hls4ml's kernels, derived from the loops for ours).

Every other module asks this registry (``for_keras``, ``for_hls``); the resource model below it sees
only the plain data ``describe`` copies into each node record (so a plan can be re-made from a built
directory's flow.json without TensorFlow or hls4ml).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import FlowError
from ..resources.mvu import mvu_pipeline_depth
from .extensions import avgpool, channel_shuffle, gap, grouped_conv, maxpool, sliding_window, stream_conv
from .fixed import quantizer_spec, spec_for_range
from .precision import TensorInfo, consumers, inbound, kernel_quantizer, per_output_kernel, quantized_weights

STRATEGY_READ_AHEAD = {"resource": 0, "latency": 5}  # resources/fifo.py: the pixel loop pipelined or not
CONV_KERNELS = ("stream", "hls4ml")  # hls.conv_kernel: fpga_flow's SWG + MVU, or hls4ml's line-buffer conv


@dataclass(frozen=True)
class LayerKind:
    name: str
    keras: tuple[str, ...] = ()
    hls: tuple[str, ...] = ()
    doc: str = ""
    extension: object = None
    check: Callable | None = None       # (layer) -> reason it cannot be exact, or None
    refuse: str | None = None           # never converted: why, and what to use instead
    type_rule: Callable | None = None   # (layer, input infos, model) -> TensorInfo
    prepare: Callable | None = None     # (layer) -> the extension layer with the same maths, or None
    weighted: bool = False
    mult_size: Callable | None = None   # (geometry, n_weights) -> (n_in, n_out)
    counting: str = "one_to_one"        # resources.fifo.COUNTING
    read_ahead: int | Callable | None = 2  # None: by strategy (STRATEGY_READ_AHEAD); callable: of the geometry
    join: bool = False
    estimate: str = "passthrough"       # resources.estimate.MODELS
    cycles: str = "generic"             # resources.cycles.MODELS: the cycle model its template follows
    source: bool = False                # the network input (a top-level port, not a process)

    def fifo_model(self, strategy: str | None, geometry: dict | None = None) -> dict:
        ra = self.read_ahead
        if ra is None:
            ra = STRATEGY_READ_AHEAD["resource" if (strategy or "resource").lower() == "resource" else "latency"]
        elif callable(ra):
            ra = int(ra(geometry or {}))
        return {"counting": self.counting, "read_ahead": ra, "join": self.join}


# ---- support checks -------------------------------------------------------------------------------

def _fused_activation(layer) -> str | None:
    act = layer.get_config().get("activation")
    if act not in (None, "linear") and not (isinstance(act, dict) and act.get("class_name") == "linear"):
        return f"fused activation {act!r}; use activation=None and a separate QActivation"
    return None


def _quantizers(layer) -> str | None:
    where = f"layer '{layer.name}' ({type(layer).__name__})"
    quantizer_spec(kernel_quantizer(layer), what=f"{where} kernel_quantizer", allow_symmetric=True)
    if layer.use_bias:
        quantizer_spec(layer.bias_quantizer_internal, what=f"{where} bias_quantizer", allow_symmetric=True)
    return None


def _kernel_vs_stride(layer) -> str | None:
    if any(k < st for k, st in zip(layer.kernel_size, layer.strides)):
        # hls4ml 1.3.0's io_stream line-buffer convolution computes wrong outputs when the kernel is
        # smaller than the stride (1x1/2 'same' 9x8: exact fraction 0.20; found by tests/test_byom.py)
        return (f"kernel {tuple(layer.kernel_size)} smaller than stride {tuple(layer.strides)} is computed wrongly by "
                "hls4ml's io_stream convolution; use stride 1 followed by a pooling layer, or a kernel at least as "
                "large as the stride")
    return None


def check_conv(layer) -> str | None:
    if int(getattr(layer, "groups", 1)) != 1:
        # stock hls4ml ignores groups; prepare rewrites it into QGroupedConv1x1
        reason = grouped_conv.unsupported_reason(layer)
        if reason:
            return reason
    if tuple(layer.dilation_rate) != (1, 1):
        return f"dilation_rate {layer.dilation_rate} is not supported; use (1, 1)"
    return _kernel_vs_stride(layer) or _fused_activation(layer) or _quantizers(layer)


def check_depthwise(layer) -> str | None:
    if int(layer.depth_multiplier) != 1:
        return f"depth_multiplier={layer.depth_multiplier} is not supported; use 1"
    if tuple(layer.dilation_rate) != (1, 1):
        return f"dilation_rate {layer.dilation_rate} is not supported; use (1, 1)"
    return _fused_activation(layer) or _kernel_vs_stride(layer) or _quantizers(layer)


def check_dense(layer) -> str | None:
    return _fused_activation(layer) or _quantizers(layer)


def check_grouped(layer) -> str | None:
    if layer.kernel_quantizer_internal is None:
        return "float weights cannot be exact on the FPGA; give it kernel_quantizer/bias_quantizer"
    return _fused_activation(layer) or _quantizers(layer)


def check_quantizer(layer) -> str | None:
    quantizer_spec(layer.activation, what=f"layer '{layer.name}' ({type(layer).__name__})", activation=True)
    return None


def check_concat(layer) -> str | None:
    return None if layer.axis in (-1, 3) else "only channel concatenation (axis=-1) is supported"


def check_add(layer) -> str | None:
    return None if len(inbound(layer)) == 2 else "only two-input Add is supported; chain Adds"


# ---- exact type rules (precision.py's module docstring states them) --------------------------------

def _quantizer_info(q) -> TensorInfo:
    return TensorInfo(q.code_min * 2.0**-q.frac, q.code_max * 2.0**-q.frac, q)


def rule_quantizer(layer, ins, model) -> TensorInfo:
    return _quantizer_info(quantizer_spec(layer.activation, what=f"layer '{layer.name}'", activation=True))


def rule_weighted(layer, ins, model) -> TensorInfo:
    x = ins[0]
    k, b = quantized_weights(layer)
    wspec = quantizer_spec(kernel_quantizer(layer), what=layer.name, allow_symmetric=True)
    frac = x.spec.frac + wspec.frac
    k2 = per_output_kernel(layer, k)
    hi_t = np.maximum(k2 * x.hi, k2 * x.lo)
    lo_t = np.minimum(k2 * x.hi, k2 * x.lo)
    pos = np.maximum(hi_t, 0).sum(0)
    neg = np.minimum(lo_t, 0).sum(0)
    if b is not None:
        bspec = quantizer_spec(layer.bias_quantizer_internal, what=layer.name, allow_symmetric=True)
        frac = max(frac, bspec.frac)
        pos, neg = pos + b, neg + b
    lo, hi = float(min(neg.min(), 0.0)), float(max(pos.max(), 0.0))
    acc = spec_for_range(lo, hi, frac)
    nxt = consumers(model, layer)
    if len(nxt) == 1 and for_keras(nxt[0]) is QUANTIZER:  # write the quantizer's type directly
        q = quantizer_spec(nxt[0].activation, what=f"layer '{nxt[0].name}'", activation=True)
        return TensorInfo(q.code_min * 2.0**-q.frac, q.code_max * 2.0**-q.frac, q, accum=acc)
    return TensorInfo(lo, hi, acc)


def rule_add(layer, ins, model) -> TensorInfo:
    a, c = ins
    lo, hi = a.lo + c.lo, a.hi + c.hi
    return TensorInfo(lo, hi, spec_for_range(lo, hi, max(a.spec.frac, c.spec.frac)))


def rule_concat(layer, ins, model) -> TensorInfo:
    if all(i.spec == ins[0].spec for i in ins):
        return TensorInfo(min(i.lo for i in ins), max(i.hi for i in ins), ins[0].spec)
    lo = min(i.spec.code_min * 2.0**-i.spec.frac for i in ins)
    hi = max(i.spec.code_max * 2.0**-i.spec.frac for i in ins)
    return TensorInfo(lo, hi, spec_for_range(lo, hi, max(i.spec.frac for i in ins)))


def rule_pass(layer, ins, model) -> TensorInfo:
    return ins[0]


def rule_own_quantizer(layer, ins, model) -> TensorInfo:
    return _quantizer_info(layer.spec.exact())  # rounding/saturation done explicitly in its C++


# ---- rewrites into extensions ---------------------------------------------------------------------

def prepare_maxpool(layer, conv_kernel=None, max_window=None):
    """Overlapping or padded MaxPooling2D -> StreamMaxPooling2D (stock io_stream aborts)."""
    if type(layer).__name__ == "MaxPooling2D" and (tuple(layer.pool_size) != tuple(layer.strides)
                                                  or layer.padding != "valid"):
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


def prepare_depthwise(layer, conv_kernel="hls4ml", max_window=0):
    """With ``conv_kernel='stream'`` and a window of at most ``max_window`` values: QDepthwiseConv2D ->
    [ZeroPadding2D] -> SlidingWindow2D -> StreamQDepthwise (fpga_flow's MVU in its depthwise mode): the
    same products, one pixel per clock."""
    if not _streamed(layer, conv_kernel, max_window):
        return None
    return _window_chain(layer, (stream_conv.from_qdepthwise(layer), layer.get_weights()))


def prepare_conv(layer, conv_kernel="hls4ml", max_window=0):
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


def mult_dense(g, n_w):
    return g["n_in"], g["n_out"]


# ---- the records ------------------------------------------------------------------------------------

INPUT = LayerKind("input", ("InputLayer",), ("Input",), "network input (its quantizer is the next layer)",
                  source=True)
QUANTIZER = LayerKind("quantizer", ("QActivation",), ("Activation",),
                      "QActivation: the quantizer's type, RND_CONV/SAT", check=check_quantizer,
                      type_rule=rule_quantizer, cycles="activation")
CONV = LayerKind("conv", ("QConv2D",), ("Conv2D", "PointwiseConv2D", "Conv2DBatchnorm"),
                 "QConv2D KxK and 1x1 (Resource line-buffer kernel, weights in a ROM)", check=check_conv,
                 type_rule=rule_weighted, prepare=prepare_conv, weighted=True, mult_size=mult_conv,
                 counting="conv_window", read_ahead=None, estimate="weighted", cycles="conv_line_buffer")
DEPTHWISE = LayerKind("depthwise", ("QDepthwiseConv2D",), ("DepthwiseConv2D",), "QDepthwiseConv2D, multiplier 1",
                      check=check_depthwise, type_rule=rule_weighted, prepare=prepare_depthwise, weighted=True,
                      mult_size=mult_depthwise,
                      counting="conv_window", read_ahead=None, estimate="weighted", cycles="conv_line_buffer")
DENSE = LayerKind("dense", ("QDense",), ("Dense",), "QDense head", check=check_dense, type_rule=rule_weighted,
                  weighted=True, mult_size=mult_dense, read_ahead=None, estimate="dense", cycles="dense_stream")
GROUPED = LayerKind("grouped_1x1", ("QGroupedConv1x1",), (),
                    "grouped 1x1 conv: g diagonal blocks; its node is fpga_flow's MVU in grouped mode (stream_conv)",
                    extension=grouped_conv, check=check_grouped, type_rule=rule_weighted, weighted=True,
                    mult_size=mult_dense)
MAXPOOL = LayerKind("maxpool", ("MaxPooling2D", "StreamMaxPooling2D"), ("HStreamMaxPool2D",),
                    "max pooling, any window/stride/padding the line buffer supports", extension=maxpool,
                    check=maxpool.unsupported_reason, type_rule=rule_pass, prepare=prepare_maxpool,
                    counting="pool_window", read_ahead=5, estimate="pool_window", cycles="own_window_pool")
STOCK_POOL = LayerKind("stock_pool", (), ("Pooling2D",),
                       "stock hls4ml pooling (non-overlapping valid MaxPooling2D); FIFO model: one item out per item "
                       "in (not its window)", cycles="pooling_line_buffer")
AVGPOOL = LayerKind("avgpool", ("ExactAveragePooling2D",), ("HExactAvgPool2D",),
                    "average pooling with an exact quantized mean", extension=avgpool,
                    check=avgpool.unsupported_reason, type_rule=rule_own_quantizer, counting="pool_window",
                    read_ahead=5, estimate="avg_pool_window", cycles="own_avg_pool")
GAP = LayerKind("global_avgpool", ("ExactGlobalAveragePooling2D",), ("HExactGlobalAvgPool2D",),
                "global average pooling with an exact quantized mean", extension=gap,
                type_rule=rule_own_quantizer, counting="at_end", estimate="global_pool", cycles="own_global_avg")
SHUFFLE = LayerKind("channel_shuffle", ("ChannelShuffle",), ("HChannelShuffle",), "channel shuffle: wiring",
                    extension=channel_shuffle, type_rule=rule_pass, cycles="stream_loop")
ADD = LayerKind("add", ("Add",), ("Merge",), "two-input Add: exact sum type", check=check_add, type_rule=rule_add,
                join=True, cycles="stream_loop")
CONCAT = LayerKind("concatenate", ("Concatenate",), ("Concatenate",), "channel concatenation", check=check_concat,
                   type_rule=rule_concat, join=True, cycles="concatenate")
CONV_BN = LayerKind("conv_batchnorm", ("QConv2DBatchnorm",), doc="QKeras' folded batch-norm conv (user models)",
                    weighted=True, refuse="QConv2DBatchnorm is folded into a QConv2D when a model is built with "
                                          "'fpga-flow build --model' (hls/rewrite.py); build it that way")
DROPOUT = LayerKind("dropout", ("Dropout",), (), "removed at inference", type_rule=rule_pass)
CLONE = LayerKind("clone", (), ("Clone",), "hls4ml's stream fan-out (inserted)", cycles="stream_loop")
ZEROPAD = LayerKind("zero_padding", ("ZeroPadding2D",), ("ZeroPadding2D",),
                    "zero padding before a 'same' conv (inserted by hls4ml, or by prepare_conv)", type_rule=rule_pass,
                    counting="zero_pad", cycles="zeropad")
SLIDING_WINDOW = LayerKind("sliding_window", ("SlidingWindow2D",), ("HSlidingWindow2D",),
                           "a KxK conv's windows as a stream (FINN's sliding-window generator), one pixel per clock",
                           extension=sliding_window, type_rule=rule_pass, counting="conv_window", read_ahead=2,
                           estimate="sliding_window", cycles="own_sliding_window")
STREAM_CONV = LayerKind("stream_conv", ("StreamQConv2D", "StreamQDepthwise"), ("HStreamConv",),
                        "matrix-vector unit of a conv (1x1, or KxK after a sliding window): reuse_factor cycles per "
                        "item, no cycle between items", extension=stream_conv, type_rule=rule_weighted,
                        weighted=True, mult_size=mult_dense, read_ahead=lambda g: mvu_pipeline_depth(g.get("n_in", 1)) - 1,
                        estimate="mvu", cycles="own_mvu")

REFUSED = (
    LayerKind("float_pooling", ("GlobalAveragePooling2D", "AveragePooling2D"),
              refuse="average pooling has no exact quantized definition here; use fpga_flow's ExactAveragePooling2D / "
                     "ExactGlobalAveragePooling2D(quantizer=...) instead"),
    LayerKind("batchnorm", ("BatchNormalization", "QBatchNormalization"),
              refuse="fold batch-norm into the preceding convolution before conversion"),
    LayerKind("reshape", ("Reshape", "Permute"),
              refuse="a channel shuffle written as Reshape -> Permute -> Reshape becomes a stream Transpose that "
                     "buffers the whole feature map; use fpga_flow's ChannelShuffle(groups) "
                     "(fpga_flow.hls.extensions.channel_shuffle), which is pure wiring in io_stream"),
    LayerKind("lambda", ("Lambda",), refuse="Lambda layers cannot be converted; replace it with a supported layer"),
    LayerKind("float_weighted", ("Conv2D", "Dense", "DepthwiseConv2D"),
              refuse="float weights cannot be exact on the FPGA; use the QKeras layer with quantizers"),
    LayerKind("float_activation", ("Activation", "ReLU"),
              refuse="unquantized activation; use QActivation(quantized_relu(...)) or quantized_bits"),
)

KINDS = (INPUT, QUANTIZER, CONV, CONV_BN, DEPTHWISE, DENSE, GROUPED, MAXPOOL, STOCK_POOL, AVGPOOL, GAP, SHUFFLE, ADD, CONCAT,
         DROPOUT, CLONE, ZEROPAD, SLIDING_WINDOW, STREAM_CONV) + REFUSED
EXTENSIONS = tuple(k.extension for k in KINDS if k.extension is not None)
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


def prepare(model, conv_kernel: str = "hls4ml", max_window: int = 0):
    """Rewrite layers that stock hls4ml would get wrong, or that fpga_flow converts with its own
    kernels, into fpga_flow's extensions (same maths): each record's ``prepare`` returns the chain of
    layers (with their weights) that replaces one layer: overlapping/padded MaxPooling2D, grouped 1x1
    QConv2D, and with ``conv_kernel='stream'`` every QConv2D and QDepthwiseConv2D whose window holds at
    most ``max_window`` values (prepare_conv, prepare_depthwise). The model is rebuilt
    layer by layer; layers without a replacement are copied with their weights."""
    if conv_kernel not in CONV_KERNELS:
        raise FlowError(f"hls.conv_kernel={conv_kernel!r} is invalid; use one of {list(CONV_KERNELS)}")

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
        info[layer.name] = kind.type_rule(layer, [info.get(l.name) for l in inbound(layer)], model)
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
