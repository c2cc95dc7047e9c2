"""Precision pass: exact fixed-point types for every tensor, so the C++ computes QKeras' integers.

Rules (each tensor is an interval [lo, hi] on a grid 2**-frac):
* input: the first layer must be an input quantizer; the C++ input type *is* that quantizer
  (same grid, AP_RND_CONV, AP_SAT), so even off-grid inputs are rounded the way QKeras rounds them.
* QConv2D / QDense: weights and biases on their quantizers' grids; the accumulator keeps every
  fractional bit (frac_in + frac_w, and the bias') and enough integer bits for the largest final
  |sum| that the *actual* weights can produce over the input interval (wrap-around arithmetic makes
  intermediate overflow harmless once the final value fits). The layer output keeps that type, so
  nothing is rounded before the next quantizer.
* QActivation: the quantizer's type with RND_CONV/SAT (QKeras: tf.round = half to even, clip).
* QDepthwiseConv2D and QGroupedConv1x1 (group 1x1 conv): as QConv2D, per output channel over the
  inputs that channel actually sees (9 taps of one channel; n_in/g channels of one group).
* A weighted layer whose only consumer is a QActivation writes that quantizer's type directly
  (accumulator exact as above, then one cast with AP_RND_CONV/AP_SAT, which is exactly the
  quantizer: for quantized_relu the unsigned saturation is the ReLU). The QActivation that follows
  is then an identity, and the stream between them is act_bits wide instead of the accumulator's
  width (a 3x cut of FIFO flip-flops on ShuffleNet).
* Add: exact sum type; Concatenate: a type holding both inputs; max pooling, ChannelShuffle: the
  input type.
* ExactGlobalAveragePooling2D, ExactAveragePooling2D: their quantizer's type (sums sized in the
  layer itself, rounding and saturation done explicitly in their C++).
Anything else is rejected by name before hls4ml sees it (see ``check_supported``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FlowError
from .fixed import FixedSpec, quantizer_spec, spec_for_range

PASS_THROUGH = ("Dropout", "StreamMaxPooling2D", "MaxPooling2D", "ChannelShuffle")
WEIGHTED = ("QConv2D", "QDense", "QDepthwiseConv2D", "QGroupedConv1x1")
QUANTIZED_POOLS = ("ExactGlobalAveragePooling2D", "ExactAveragePooling2D")


@dataclass
class TensorInfo:
    lo: float
    hi: float
    spec: FixedSpec
    accum: FixedSpec | None = None  # weighted layers whose output type is their quantizer's (see infer)


def _consumers(model, layer):
    return [l for l in model.layers if type(l).__name__ != "InputLayer" and layer in _inbound(l)]


def _inbound(layer):
    node = layer.inbound_nodes[0]
    ins = node.inbound_layers
    return list(ins) if isinstance(ins, (list, tuple)) else [ins]


def check_supported(model) -> None:
    """Reject, by layer name and with the fix, anything that cannot be converted exactly."""
    from tensorflow.keras import layers as L

    layers = model.layers
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise FlowError("model must have exactly one input and one output")
    first = [l for l in layers if type(l).__name__ != "InputLayer"]
    if not first or type(first[0]).__name__ != "QActivation" or _inbound(first[0])[0] is not layers[0]:
        raise FlowError("the first layer after the input must be an input quantizer, e.g. "
                        "QActivation(quantized_bits(8,0,alpha=1)); add one")
    for layer in layers:
        cls = type(layer).__name__
        where = f"layer '{layer.name}' ({cls})"
        if cls == "InputLayer":
            continue
        if cls in ("QConv2D", "QDense", "QDepthwiseConv2D", "QGroupedConv1x1"):
            if cls == "QConv2D" and getattr(layer, "groups", 1) != 1:
                # stock hls4ml ignores groups; convert.prepare rewrites it into QGroupedConv1x1
                from .extensions.grouped_conv import unsupported_reason

                reason = unsupported_reason(layer)
                if reason:
                    raise FlowError(f"{where}: {reason}")
            if cls == "QDepthwiseConv2D":
                reason = _depthwise_reason(layer)
                if reason:
                    raise FlowError(f"{where}: {reason}")
            if cls == "QConv2D" and tuple(layer.dilation_rate) != (1, 1):
                raise FlowError(f"{where}: dilation_rate {layer.dilation_rate} is not supported; use (1, 1)")
            if cls in ("QConv2D", "QDepthwiseConv2D") and any(
                    k < st for k, st in zip(layer.kernel_size, layer.strides)):
                # hls4ml 1.3.0's io_stream line-buffer convolution computes wrong outputs when the kernel is
                # smaller than the stride (1x1/2 'same' 9x8: exact fraction 0.20; found by tests/test_byom.py)
                raise FlowError(f"{where}: kernel {tuple(layer.kernel_size)} smaller than stride "
                                f"{tuple(layer.strides)} is computed wrongly by hls4ml's io_stream convolution; "
                                "use stride 1 followed by a pooling layer, or a kernel at least as large as the stride")
            act = layer.get_config().get("activation")
            if act not in (None, "linear") and not (isinstance(act, dict) and act.get("class_name") == "linear"):
                raise FlowError(f"{where}: fused activation {act!r}; use activation=None and a separate QActivation")
            if cls == "QGroupedConv1x1" and layer.kernel_quantizer_internal is None:
                raise FlowError(f"{where}: float weights cannot be exact on the FPGA; give it kernel_quantizer/bias_quantizer")
            quantizer_spec(kernel_quantizer(layer), what=f"{where} kernel_quantizer", allow_symmetric=True)
            if layer.use_bias:
                quantizer_spec(layer.bias_quantizer_internal, what=f"{where} bias_quantizer", allow_symmetric=True)
        elif cls == "QActivation":
            quantizer_spec(layer.activation, what=where, activation=True)
        elif cls in ("MaxPooling2D", "StreamMaxPooling2D"):
            # overlapping / padded MaxPooling2D is rewritten into StreamMaxPooling2D (convert.prepare)
            from .extensions.maxpool import unsupported_reason

            reason = unsupported_reason(layer)
            if reason:
                raise FlowError(f"{where}: {reason}")
        elif cls == "ExactAveragePooling2D":
            from .extensions.avgpool import unsupported_reason

            reason = unsupported_reason(layer)
            if reason:
                raise FlowError(f"{where}: {reason}")
        elif cls in ("ExactGlobalAveragePooling2D", "Dropout", "ChannelShuffle"):
            pass
        elif cls == "Concatenate":
            if layer.axis not in (-1, 3):
                raise FlowError(f"{where}: only channel concatenation (axis=-1) is supported")
        elif cls == "Add":
            if len(_inbound(layer)) != 2:
                raise FlowError(f"{where}: only two-input Add is supported; chain Adds")
        elif cls in ("GlobalAveragePooling2D", "AveragePooling2D"):
            raise FlowError(f"{where}: average pooling has no exact quantized definition here; use "
                            "fpga_flow's ExactAveragePooling2D / ExactGlobalAveragePooling2D(quantizer=...) instead")
        elif cls in ("BatchNormalization", "QBatchNormalization"):
            raise FlowError(f"{where}: fold batch-norm into the preceding convolution before conversion")
        elif cls in ("Reshape", "Permute"):
            raise FlowError(f"{where}: a channel shuffle written as Reshape -> Permute -> Reshape becomes a stream "
                            "Transpose that buffers the whole feature map; use fpga_flow's ChannelShuffle(groups) "
                            "(fpga_flow.hls.extensions.channel_shuffle), which is pure wiring in io_stream")
        elif cls == "Lambda":
            raise FlowError(f"{where}: Lambda layers cannot be converted; replace it with a supported layer")
        elif cls in ("Conv2D", "Dense", "DepthwiseConv2D"):
            raise FlowError(f"{where}: float weights cannot be exact on the FPGA; use the QKeras layer with quantizers")
        elif isinstance(layer, (L.Activation, L.ReLU)):
            raise FlowError(f"{where}: unquantized activation; use QActivation(quantized_relu(...)) or quantized_bits")
        else:
            raise FlowError(f"{where}: layer type not supported by fpga_flow; supported: QConv2D (groups only for 1x1), "
                            "QDepthwiseConv2D, QDense, QActivation, MaxPooling2D, Add, Concatenate, Dropout, "
                            "ChannelShuffle, ExactAveragePooling2D, ExactGlobalAveragePooling2D")


def kernel_quantizer(layer):
    if type(layer).__name__ == "QDepthwiseConv2D":
        return layer.depthwise_quantizer_internal
    return layer.kernel_quantizer_internal


def _depthwise_reason(layer) -> str | None:
    if int(layer.depth_multiplier) != 1:
        return f"depth_multiplier={layer.depth_multiplier} is not supported; use 1"
    if tuple(layer.dilation_rate) != (1, 1):
        return f"dilation_rate {layer.dilation_rate} is not supported; use (1, 1)"
    act = layer.get_config().get("activation")
    if act not in (None, "linear") and not (isinstance(act, dict) and act.get("class_name") == "linear"):
        return f"fused activation {act!r}; use activation=None and a separate QActivation"
    return None


def per_output_kernel(layer, k: np.ndarray) -> np.ndarray:
    """(fan_in, n_out) matrix: column j holds the weights output channel j actually multiplies."""
    if type(layer).__name__ == "QDepthwiseConv2D":  # (kh, kw, c, 1): each channel its own taps
        return k[..., 0].reshape(-1, k.shape[2])
    return k.reshape(-1, k.shape[-1])  # dense, conv and grouped (1, 1, n_in/g, n_out)


def quantized_weights(layer):
    """(kernel, bias) as the layer computes with them (after its quantizers), float64."""
    w = layer.get_weights()
    k = np.asarray(kernel_quantizer(layer)(w[0]), dtype=np.float64)
    b = np.asarray(layer.bias_quantizer_internal(w[1]), dtype=np.float64) if layer.use_bias else None
    return k, b


def infer(model) -> dict[str, TensorInfo]:
    """Exact interval/type of every layer's output, keyed by Keras layer name."""
    info: dict[str, TensorInfo] = {}
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            continue
        ins = [info.get(l.name) for l in _inbound(layer)]
        if cls == "QActivation":
            s = quantizer_spec(layer.activation, what=f"layer '{layer.name}'", activation=True)
            info[layer.name] = TensorInfo(s.code_min * 2.0**-s.frac, s.code_max * 2.0**-s.frac, s)
        elif cls in WEIGHTED:
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
            nxt = _consumers(model, layer)
            if len(nxt) == 1 and type(nxt[0]).__name__ == "QActivation":
                q = quantizer_spec(nxt[0].activation, what=f"layer '{nxt[0].name}'", activation=True)
                info[layer.name] = TensorInfo(q.code_min * 2.0**-q.frac, q.code_max * 2.0**-q.frac, q, accum=acc)
            else:
                info[layer.name] = TensorInfo(lo, hi, acc)
        elif cls == "Add":
            a, c = ins
            lo, hi = a.lo + c.lo, a.hi + c.hi
            info[layer.name] = TensorInfo(lo, hi, spec_for_range(lo, hi, max(a.spec.frac, c.spec.frac)))
        elif cls == "Concatenate":
            if all(i.spec == ins[0].spec for i in ins):
                info[layer.name] = TensorInfo(min(i.lo for i in ins), max(i.hi for i in ins), ins[0].spec)
            else:
                lo = min(i.spec.code_min * 2.0**-i.spec.frac for i in ins)
                hi = max(i.spec.code_max * 2.0**-i.spec.frac for i in ins)
                info[layer.name] = TensorInfo(lo, hi, spec_for_range(lo, hi, max(i.spec.frac for i in ins)))
        elif cls in PASS_THROUGH:
            info[layer.name] = ins[0]
        elif cls in QUANTIZED_POOLS:
            s = layer.spec.exact()  # rounding/saturation are done explicitly in its C++
            info[layer.name] = TensorInfo(s.code_min * 2.0**-s.frac, s.code_max * 2.0**-s.frac, s)
        else:  # check_supported runs first
            raise FlowError(f"layer '{layer.name}' ({cls}) is not supported")
    return info


def input_spec(model) -> FixedSpec:
    first = [l for l in model.layers if type(l).__name__ != "InputLayer"][0]
    return quantizer_spec(first.activation, what=f"input quantizer '{first.name}'", activation=True)


def output_spec(model, info=None) -> FixedSpec:
    info = info or infer(model)
    return info[model.layers[-1].name].spec


def float32_reference_margin(info: dict[str, TensorInfo]) -> int:
    """Largest accumulator in bits; QKeras computes in float32 (24-bit significand), so above 24
    the QKeras reference itself could round. Reported, not hidden."""
    return max((t.spec.width for t in info.values()), default=0)


def _surviving_producer(model, name, by_name, in_node):
    """The hls4ml node that now produces the tensor Keras layer ``name`` consumed."""
    layer = model.get_layer(name)
    while True:
        ins = _inbound(layer)
        if len(ins) != 1:
            return None
        layer = ins[0]
        if type(layer).__name__ == "InputLayer":
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
        if type(model.get_layer(name)).__name__ in WEIGHTED and acc is not None:
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
        if node.name not in info and node.class_name in ("Clone", "ZeroPadding2D"):
            pin = node.get_input_variable().type.precision
            pout = node.get_output_variable().type.precision
            if (pin.width, pin.integer, pin.signed) != (pout.width, pout.integer, pout.signed):
                problems.append(f"{node.name}: {node.class_name} changes type {pin} -> {pout}")
    return problems
