"""SqueezeNet v1.0 / v1.1 in QKeras (and float twins).

Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
arXiv:1602.07360.

* Table 1 (v1.0): conv1 96 filters 7x7/2; max pool 3x3/2 after conv1, fire4 and fire8; fire2..fire9
  with squeeze/expand 16/64, 16/64, 32/128, 32/128, 48/192, 48/192, 64/256, 64/256 (expand = 1x1 and
  3x3 branches of that many filters each, concatenated); dropout 0.5 after fire9; conv10 1x1 to the
  classes + ReLU; global average pool. 1,248,424 parameters at 224x224x3 / 1000 classes.
* v1.1 (SqueezeNet repository): conv1 64 filters 3x3/2; pools after conv1, fire3, fire5; same fires.
  1,235,496 parameters.
* Section 6 / Figure 2: simple bypass = identity shortcut around fire3, fire5, fire7, fire9; complex
  bypass adds 1x1-conv shortcuts around fire2, fire4, fire6, fire8 (where channel counts differ).
  Here every bypass sum is followed by a ReLU (a no-op on the simple bypass, whose operands are
  ReLU outputs) so that the quantized model can re-quantize the sum to the activation width.
* Section 5 microarchitecture: e_i = base_e + incr_e * floor(i / freq) expand filters for fire
  module i (i = 0 for fire2), of which pct3x3 are 3x3; squeeze filters s_i = SR * e_i. Paper
  defaults base_e=128, incr_e=128, freq=2, pct3x3=0.5, SR=0.125 give Table 1.

Shapes: all convolutions and pools are 'valid' except the expand 3x3 ('same'), as in Caffe. At 224
v1.1 gives 111 -> 55 -> 27 -> 13 (exactly Table 1's shapes). v1.0's 7x7/2 conv1 gives Table 1's 111
only for a 227 input (the released Caffe model's crop); at 224 it gives 109 -> 54 -> 26 -> 12.
Pool padding can be set to 'same' (pool_padding), supported by the HLS pooling extension too.

Small inputs: the topology is kept; an input too small for conv1 + three pools is refused by the
config (config.SqueezeNetOptions) with the smallest size that works (e.g. 32x32 for v1.1, 48x48 for v1.0). ``stem_stride=1`` keeps more
resolution for tiny images (e.g. 28x28 Fashion-MNIST) and is recorded in the model name.

Differences from the paper for deployment, both exact on both sides: the quantized model starts with
an input quantizer, and its global average pool is ExactGlobalAveragePooling2D (a defined, quantized
mean). Outputs are the pooled class scores (logits); softmax is monotonic and left to the host.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.keras import layers as L

from ..config import LAYER_INT_MAX, Quantization, SqueezeNetOptions
from ..errors import FlowError
from .layers import LayerFactory, input_layer
from .quant import best_int, bias_int_for, relu_grid
from .weights_init import calibrate, copy_weights

VERSIONS = ("1.0", "1.1")
_POOLS_AFTER = {"1.0": ("conv1", "fire4", "fire8"), "1.1": ("conv1", "fire3", "fire5")}
_SIMPLE = ("fire3", "fire5", "fire7", "fire9")
_COMPLEX = ("fire2", "fire4", "fire6", "fire8")


def fire_channels(i: int, o: SqueezeNetOptions):
    """(squeeze, expand1x1, expand3x3) filters of fire module i (i=0 is fire2), paper section 5, with
    the knobs base_e, incr_e, freq, sr, pct3x3 of the model section ``o``."""
    e = o.base_e + o.incr_e * (i // o.freq)
    e3 = int(round(e * o.pct3x3))
    e1 = e - e3
    s = max(1, int(round(o.sr * e)))
    return s, e1, e3


def squeezenet(version="1.1", *, options: SqueezeNetOptions | None = None, quant: Quantization | None = None,
               quantized=True, name=None, **kw) -> tf.keras.Model:
    """Build SqueezeNet ``version`` ('1.0' or '1.1'); quantized (QKeras) unless quantized=False.

    ``options``: the model section (config.SqueezeNetOptions: its defaults and checks), or its keys as
    keyword arguments; ``quant``: the widths (default: the config's defaults). See the module
    docstring for the paper's Table 1, bypass variants and section-5 knobs.
    """
    version = str(version)
    if version not in VERSIONS:
        raise FlowError(f"unknown SqueezeNet version {version!r}; use one of {list(VERSIONS)}")
    o = options if options is not None else SqueezeNetOptions(name=f"squeezenet{version.replace('.', '_')}", **kw)
    quant = quant if quant is not None else Quantization()
    bypass, stem_stride, pool_padding = o.bypass, o.stem_stride, o.pool_padding
    f = LayerFactory(quant if quantized else None)

    inp = input_layer(o.input_shape)
    x = f.input_quant(inp)
    stem = LayerFactory(f.quant.stem() if f.quantized else None)  # first layer: quantization.stem_bits
    if version == "1.0":
        x = stem.conv(x, 96, 7, strides=stem_stride, name="conv1")
    else:
        x = stem.conv(x, 64, 3, strides=stem_stride, name="conv1")
    x = stem.relu(x, "relu_conv1")
    x = f.maxpool(x, padding=pool_padding, name="pool1")

    pools = _POOLS_AFTER[version]
    for i in range(8):
        fname = f"fire{i + 2}"
        s, e1, e3 = fire_channels(i, o)
        y = _fire(f, x, fname, s, e1, e3)
        if bypass != "none" and fname in _SIMPLE and x.shape[-1] == y.shape[-1]:
            y = L.Add(name=f"{fname}_bypass_add")([x, y])
            y = f.relu(y, f"{fname}_bypass_relu")
        elif bypass == "complex" and (fname in _COMPLEX or x.shape[-1] != y.shape[-1]):
            sc = f.conv(x, y.shape[-1], 1, name=f"{fname}_bypass_conv")
            sc = f.linear_act(sc, f"{fname}_bypass_quant")
            y = L.Add(name=f"{fname}_bypass_add")([sc, y])
            y = f.relu(y, f"{fname}_bypass_relu")
        x = y
        if fname in pools:
            x = f.maxpool(x, padding=pool_padding, name=f"pool{i + 2}")

    if o.dropout:
        x = L.Dropout(o.dropout, name="drop9")(x)
    head = LayerFactory(f.quant.head() if f.quantized else None)  # classifier: quantization.head_bits
    x = head.conv(x, o.classes, 1, name="conv10")
    score_int = f.quant.score_int if f.quantized else None
    x = head.relu(x, "relu_conv10", integer=score_int)
    x = head.global_avgpool(x, name="pool10", default_bits=16, integer=score_int)  # gap_bits null: 16
    if name is None:
        name = f"squeezenet{version.replace('.', '_')}" + ("" if bypass == "none" else f"_{bypass}_bypass")
        name += "" if quantized else "_float"
    return tf.keras.Model(inp, x, name=name)


def _fire(f: LayerFactory, x, name, s, e1, e3):
    x = f.conv(x, s, 1, name=f"{name}_squeeze1x1")
    x = f.relu(x, f"{name}_relu_squeeze1x1")
    a = f.conv(x, e1, 1, name=f"{name}_expand1x1")
    a = f.relu(a, f"{name}_relu_expand1x1")
    b = f.conv(x, e3, 3, padding="same", name=f"{name}_expand3x3")
    b = f.relu(b, f"{name}_relu_expand3x3")
    return L.Concatenate(name=f"{name}_concat")([a, b])


def squeezenet1_0(**kwargs) -> tf.keras.Model:
    """SqueezeNet v1.0 (Table 1). Keyword arguments as :func:`squeezenet` (the builder of model.name squeezenet1_0)."""
    return squeezenet("1.0", **kwargs)


def squeezenet1_1(**kwargs) -> tf.keras.Model:
    """SqueezeNet v1.1 (2.4x fewer FLOPs than v1.0). Keyword arguments as :func:`squeezenet`."""
    return squeezenet("1.1", **kwargs)


def init_random(qmodel, fmodel, x, *, seed: int = 0) -> None:
    """Random, data-calibrated weights (models.weights_init.calibrate) for the model and its float twin."""
    calibrate(qmodel, x, seed=seed, twin=fmodel)


def init_from_deployed(trained, qmodel, fmodel) -> None:
    """Weights of a saved QKeras SqueezeNet into the model and its float twin (same layers)."""
    copy_weights(trained, qmodel)
    copy_weights(qmodel, fmodel)


# ------------------------------------------------------------------ power-of-two rescaling for QAT

def rescale_for_quantization(fmodel, quant: Quantization, x_calib: np.ndarray) -> dict:
    """Scale each layer of a trained float SqueezeNet by a power of two so its weights fill the
    ``weight_bits`` grid, and pick every activation's integer bits for the scaled model.

    ReLU is positively homogeneous and SqueezeNet has no batch-norm, so multiplying a convolution's
    weights by 2**e (and its bias by the running scale) multiplies all later activations by 2**e
    and leaves the prediction unchanged; the class scores end up scaled by a power of two (argmax is
    unchanged). Each exponent is the largest that clips no weight on the signed
    ``quantized_bits(weight_bits, 0)`` grid [-1, 1) (a layer with max |w| 0.45 is doubled; one
    with 1.46, clipped before, is halved); the two expand convolutions of a fire module share one
    exponent (their outputs are concatenated). Then each quantized_relu's integer bits minimise its
    quantization error on ``x_calib`` through the scaled float model (the float activations' 99th
    percentile ranges from 1.5 to 11 across layers: one act_int for all fits none at 4 bits); the
    class scores' range covers their calibration maximum (score_int; above the scores' width the
    step grows instead of the winner clipping: capped at the width, SqueezeNet 1.0 + bypass at 6 bits
    clipped its rescaled scores, 33% post-training top-1), and
    each bias gets the integer bits its scaled values need. Measured on the trained Fashion-MNIST
    model, 4-bit post-training top-1 (2,000 test images) goes from 0.65 to 0.83; minimising the
    weights' squared error instead (clipping outliers) gave 0.56. Modifies ``fmodel`` in place;
    returns the quantization overrides ``{"layer_int": {...}, "score_int": n}`` plus ``score_log2``:
    the scores' power of two, which QAT's loss divides out (``train._ce_loss``). Complex bypass is refused (its
    bypass convolutions would need scales of their own); simple bypass keeps each bypassed fire's scale.
    """
    names = {layer.name for layer in fmodel.layers}
    if any(n.endswith("_bypass_conv") for n in names):
        raise FlowError("rescale supports SqueezeNet without bypass or with simple bypass; drop "
                        "train.variants.*.rescale for complex bypass")
    fires = sorted({n.split("_")[0] for n in names if n.endswith("_squeeze1x1")}, key=lambda s: int(s[4:]))

    def no_clip(layers) -> int:  # the largest 2**e that clips no weight of these layers
        w = max(float(np.abs(fmodel.get_layer(n).get_weights()[0]).max()) for n in layers)
        return int(np.floor(np.log2(1.0 / max(w, 1e-9))))

    # (layers sharing one exponent, exponent) in data-flow order
    steps = [(["conv1"], no_clip(["conv1"]))]
    for fire in fires:
        sq, ex = [f"{fire}_squeeze1x1"], [f"{fire}_expand1x1", f"{fire}_expand3x3"]
        r_sq, r_ex = no_clip(sq), no_clip(ex)
        if f"{fire}_bypass_add" in names:  # simple bypass: the fire must keep its input's scale
            t = r_sq if r_sq >= -r_ex else -r_ex
            steps += [(sq, t), (ex, -t)]
        else:
            steps += [(sq, r_sq), (ex, r_ex)]
    steps.append((["conv10"], no_clip(["conv10"])))
    scale = 1.0  # of the tensor entering the current step
    layer_int: dict[str, int] = {}
    for grp, e in steps:
        out_scale = scale * 2.0 ** e
        for n in grp:
            k, b = fmodel.get_layer(n).get_weights()
            k, b = k * 2.0 ** e, b * out_scale
            fmodel.get_layer(n).set_weights([k, b])
            layer_int[n] = bias_int_for(b, quant.bias_bits, quant.bias_int + int(np.log2(out_scale)))
        scale = out_scale
    # activation ranges of the scaled model
    from ..hls import kinds  # the layer-kind registry: the one place layer classes are named

    relus = [layer for layer in fmodel.layers if kinds.for_keras(layer) is kinds.FLOAT_ACTIVATION]
    acts = tf.keras.Model(fmodel.input, [r.output for r in relus]).predict(x_calib, verbose=0, batch_size=256)
    for r, a in zip(relus, acts):
        a = a.ravel()
        if r.name == "relu_conv10":  # class scores: the winner must not clip (ties at the maximum)
            layer_int[r.name] = int(np.clip(np.ceil(np.log2(max(float(a.max()), 1e-9))), 0, LAYER_INT_MAX))
            continue
        bits = quant.stem().act_bits if r.name == "relu_conv1" else quant.act_bits
        layer_int[r.name] = best_int(a, lambda i: relu_grid(bits, i))
    score_int = layer_int.pop("relu_conv10")
    return {"layer_int": layer_int, "score_int": score_int, "score_log2": int(np.log2(scale))}
