"""ShuffleNet v1 in QKeras (deployment, batch-norm folded) and Keras (training, with batch-norm).

Zhang, Zhou, Lin, Sun, "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile
Devices", arXiv:1707.01083, and its official implementation (megvii-model/ShuffleNet-Series,
ShuffleNetV1).

* Table 1: conv1 3x3/2 (24 channels) -> max pool 3x3/2 -> stages 2, 3, 4 of 4, 8, 4 units, the
  first unit of each stage with stride 2 -> global average pool -> FC. Stage-2 output channels at
  1x: g=1 144, g=2 200, g=3 240, g=4 272, g=8 384, doubled in each later stage. The bottleneck
  (first 1x1 and depthwise) has a quarter of the unit's output channels.
* Figure 2: unit = 1x1 group conv + BN + ReLU -> channel shuffle -> 3x3 depthwise conv (stride) +
  BN (no ReLU) -> 1x1 group conv + BN. Stride 1: add the identity, then ReLU. Stride 2: the second
  group conv outputs (out - in) channels, concatenated with the 3x3/2 average-pooled input, then
  ReLU. The first 1x1 of stage 2 is not grouped (its input has only 24 channels); the shuffle is
  still applied there, as in the official code.
* Section 4.1 width multiplier "ShuffleNet s x": channel counts scaled by s. Stage-2 channels are
  s times Table 1 rounded to a multiple of 4g (whole channels per group in the bottleneck; this
  reproduces every table of the official code); conv1 has 24*s channels (6, 12, 24, 24, 48 for
  0.25x..2x; the official code keeps 24 at 1.5x). Where the stride-2 unit's branch (out - in
  channels) does not divide by g (0.5x g8: 192 - 12 = 180), its group conv splits the outputs as
  evenly as possible (4 groups of 23, 4 of 22; each still sees only its own 6 inputs): that is
  the arrangement with the published 1,011,172 parameters (the official code instead widens conv1
  to 16, 1,011,448 parameters).

Parameter counting (the published numbers): convolutions without bias, BN scale and shift (their
moving mean/variance are not trainable and not counted), FC with bias: 0.5x g3 718,324; 1x g3
1,865,728; 0.5x g8 1,011,172; 1x g8 2,434,768; 1.5x g3 3,442,168; 2x g3 5,450,776.

Padding follows Keras 'same' (the extra row/column of a stride-2 layer on an even map goes at the
bottom/right; the official PyTorch code pads 1 on every side; shapes are identical).
224x224: conv1 112 -> pool 56 -> stage2 28 -> stage3 14 -> stage4 7 -> GAP.

Two builds share topology and layer names:
* ``quantized=False``: the training model (Conv2D without bias + BatchNormalization + ReLU).
* ``quantized=True``: the deployment model. Batch-norm is folded into each convolution's weights
  and bias (:func:`fold_batchnorm`) before the quantizers, so hls4ml and QKeras see the same
  integer weights. The input is quantized, every ReLU is a ``quantized_relu``, the depthwise and
  second group-conv outputs (no ReLU) are quantized with a signed ``quantized_bits`` of the
  activation width, the average-pooled shortcut is :class:`ExactAveragePooling2D` and the global
  pool :class:`ExactGlobalAveragePooling2D` (defined quantized means), and the channel shuffle is a
  :class:`ChannelShuffle` layer (one fixed permutation of each pixel's channels). The output is the
  FC's exact result (logits); softmax is left to the host.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.keras import layers as L

from ..config import Quantization, ShuffleNetOptions
from ..errors import FlowError
from .layers import LayerFactory, input_layer
from .quant import best_int, bias_int_for, relu_grid, signed_grid

STAGE_REPEATS = (4, 8, 4)
BN_EPSILON = 1e-5
# Table 1, stage-2 output channels at 1x
_STAGE2 = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
# conv1 channels per width (paper: 24 scaled; the official code keeps 24 at 1.5x)
_CONV1 = {0.25: 6, 0.5: 12, 1.0: 24, 1.5: 24, 2.0: 48}


def stage_channels(groups: int, width: float) -> tuple[int, int, int, int]:
    """(conv1, stage2, stage3, stage4) output channels for ``groups`` and width multiplier."""
    q = 4 * groups  # whole channels per group in the bottleneck (stage output / 4)
    c2 = max(q, q * int(round(_STAGE2[groups] * width / q)))
    return _CONV1[width], c2, 2 * c2, 4 * c2


def shufflenet_v1(*, options: ShuffleNetOptions | None = None, quant: Quantization | None = None, quantized=True,
                  name=None, **kw) -> tf.keras.Model:
    """Build ShuffleNet v1 (module docstring): ``options`` the model section (config.ShuffleNetOptions:
    groups, width, input_shape, classes with their defaults and checks), or its keys as keyword
    arguments; ``quant``: the widths (default: the config's defaults)."""
    o = options if options is not None else ShuffleNetOptions(name="shufflenet_v1", **kw)
    quant = quant if quant is not None else Quantization()
    groups, width = o.groups, float(o.width)
    f = LayerFactory(quant if quantized else None)
    c1, c2, c3, c4 = stage_channels(groups, width)

    inp = input_layer(o.input_shape)
    x = f.input_quant(inp)
    stem = LayerFactory(f.quant.stem() if f.quantized else None)  # first layer: quantization.stem_bits
    x = _conv_bn(stem, x, c1, 3, 2, "conv1")
    x = stem.relu(x, "relu_conv1")
    x = f.maxpool(x, 3, 2, padding="same", name="pool1")
    for stage, (out, repeats) in enumerate(zip((c2, c3, c4), STAGE_REPEATS), start=2):
        for unit in range(1, repeats + 1):
            x = _unit(f, x, out, groups, stride=2 if unit == 1 else 1,
                      first_group=1 if (stage == 2 and unit == 1) else groups, name=f"stage{stage}_unit{unit}")
    x = f.global_avgpool(x, name="global_pool", default_bits=quant.act_bits + 3)  # gap_bits null: act_bits + 3
    head = LayerFactory(f.quant.head() if f.quantized else None)  # classifier: quantization.head_bits
    x = head.dense(x, o.classes, name="fc")
    if name is None:
        name = f"shufflenet_v1_g{groups}_w{width:g}" + ("" if quantized else "_float")
    return tf.keras.Model(inp, x, name=name)


def _conv_bn(f: LayerFactory, x, filters, kernel, strides, name, groups=1):
    """Convolution + BN (training) or the folded convolution with bias (deployment)."""
    if groups > 1:
        x = f.group_conv1x1(x, filters, groups, name=name, use_bias=f.quantized)
    else:
        x = f.conv(x, filters, kernel, strides=strides, padding="same", name=name, use_bias=f.quantized)
    if not f.quantized:
        x = L.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return x


def _dw_bn(f: LayerFactory, x, strides, name):
    x = f.depthwise(x, 3, strides=strides, name=name, use_bias=f.quantized)
    if not f.quantized:
        x = L.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return x


def _unit(f: LayerFactory, x, out, groups, stride, first_group, name):
    c_in = int(x.shape[-1])
    mid = out // 4
    branch_out = out - c_in if stride == 2 else out
    if mid % groups or (first_group > 1 and c_in % first_group):
        raise FlowError(f"{name}: channels {c_in}->{mid} are not divisible by groups={groups}")
    y = _conv_bn(f, x, mid, 1, 1, f"{name}_gconv1", groups=first_group)
    y = f.relu(y, f"{name}_relu1")
    if groups > 1:
        y = f.channel_shuffle(y, groups, name=f"{name}_shuffle")
    y = _dw_bn(f, y, stride, f"{name}_dwconv")
    y = f.linear_act(y, f"{name}_dwconv_quant")
    y = _conv_bn(f, y, branch_out, 1, 1, f"{name}_gconv2", groups=groups)
    if stride == 1:
        y = f.linear_act(y, f"{name}_gconv2_quant")
        y = L.Add(name=f"{name}_add")([x, y])
        return f.relu(y, f"{name}_relu")
    y = f.relu(y, f"{name}_relu")
    s = f.avgpool(x, 3, 2, padding="same", name=f"{name}_shortcut_pool")
    return L.Concatenate(name=f"{name}_concat")([s, y])


# ---------------------------------------------------------------- batch-norm folding / calibration


def _kind(layer):
    """The layer's record in the layer-kind registry (hls/kinds.py, the one place classes are named)."""
    from ..hls import kinds

    return kinds.for_keras(layer)


def _is_bn(layer) -> bool:
    from ..hls import kinds

    return _kind(layer) is kinds.BATCHNORM


def _is_depthwise(layer) -> bool:
    """A depthwise kernel (kh, kw, c, 1): folded and scaled per channel on its third axis."""
    return hasattr(layer, "depthwise_kernel")


def _bn_followers(fmodel) -> dict[str, L.BatchNormalization]:
    """conv layer name -> the BatchNormalization that follows it in the training model."""
    out = {}
    for layer in fmodel.layers:
        if _is_bn(layer):
            src = layer.inbound_nodes[0].inbound_layers
            out[src.name] = layer
    return out


def folded_weights(conv, bn) -> list[np.ndarray]:
    """[kernel, bias] of ``conv`` followed by ``bn`` (inference statistics), in float64.

    y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta  ==  conv'(x) + b'  with
    kernel' = kernel * s (per output channel), b' = beta - mean * s (+ conv bias * s), s = gamma/sqrt(var+eps).
    """
    w = conv.get_weights()
    k = np.asarray(w[0], dtype=np.float64)
    b = np.asarray(w[1], dtype=np.float64) if conv.use_bias else 0.0
    gamma, beta, mean, var = (np.asarray(v, dtype=np.float64) for v in bn.get_weights())
    s = gamma / np.sqrt(var + bn.epsilon)
    if _is_depthwise(conv):  # kernel (kh, kw, c, 1)
        k = k * s.reshape(1, 1, -1, 1)
    else:  # (kh, kw, c_in/groups, c_out)
        k = k * s
    return [k, beta + (b - mean) * s]


def fold_batchnorm(fmodel, qmodel) -> None:
    """Deployment weights: fold every BN of the training model ``fmodel`` into the matching
    convolution of ``qmodel`` (same layer names); weights without a BN are copied. The quantizers
    of ``qmodel`` then quantize the folded weights (the deployed integers)."""
    bns = _bn_followers(fmodel)
    for layer in qmodel.layers:
        if not layer.weights:
            continue
        src = fmodel.get_layer(layer.name)
        if layer.name in bns:
            layer.set_weights([v.astype(np.float32) for v in folded_weights(src, bns[layer.name])])
        else:
            layer.set_weights(src.get_weights())


def calibrate_bn(fmodel, x: np.ndarray, *, seed: int = 0, target_std: float = 1.0, weight_limit: float = 0.95) -> None:
    """Deterministic, data-calibrated random weights for the training model (before any training).

    In topological order each convolution's output channels are scaled to unit standard deviation
    on the calibration images ``x``, and the BN that follows gets those images' per-channel mean and
    variance as its moving statistics, a shift beta = target_std * U(-0.4, 0.4) and a scale gamma =
    target_std * U(0.6, 1.4), capped so that every folded weight stays within ``weight_limit``
    (inside the default quantized_bits(8,0) range). The FC is scaled LSUV-style. Activations then
    use the quantized range without saturating, so bit-exactness is checked on varied codes.
    """
    rng = np.random.default_rng(seed)
    bns = _bn_followers(fmodel)
    # one forward sweep in topological order, each layer run eagerly on its inputs' cached outputs
    from ..hls import kinds

    cache = {}
    for layer in fmodel.layers:
        if _kind(layer) is kinds.INPUT:
            cache[layer.name] = tf.constant(x)
            continue
        ins = layer.inbound_nodes[0].inbound_layers
        args = [cache[l.name] for l in ins] if isinstance(ins, (list, tuple)) else cache[ins.name]
        if _is_bn(layer) or not layer.weights:
            cache[layer.name] = layer(args, training=False)
            continue
        w = layer.get_weights()
        y = layer(args, training=False).numpy().astype(np.float64)
        depthwise = _is_depthwise(layer)
        bn = bns.get(layer.name)
        if bn is None:  # FC: one scale for the layer
            w[0] = w[0] / (float(y.std()) or 1.0)
        else:  # per output channel
            std = y.reshape(-1, y.shape[-1]).std(axis=0)
            std = np.where(std > 0, std, 1.0)
            w[0] = w[0] / (std.reshape(1, 1, -1, 1) if depthwise else std)
        if getattr(layer, "use_bias", False):
            w[1] = np.zeros_like(w[1])
        layer.set_weights(w)
        out = layer(args, training=False)
        cache[layer.name] = out
        if bn is None:
            continue
        y = out.numpy().astype(np.float64)
        axes = tuple(range(y.ndim - 1))
        mean, var = y.mean(axis=axes), np.maximum(y.var(axis=axes), 1e-4)
        n = mean.shape[0]
        k = w[0][..., 0] if depthwise else w[0]
        kmax = np.abs(k.reshape(-1, n)).max(axis=0)
        gamma = target_std * rng.uniform(0.6, 1.4, n)
        gamma = np.minimum(gamma, weight_limit * np.sqrt(var + bn.epsilon) / np.maximum(kmax, 1e-12))
        beta = target_std * rng.uniform(-0.4, 0.4, n)
        bn.set_weights([a.astype(np.float32) for a in (gamma, beta, mean, var)])


def unfold_batchnorm(qmodel, fmodel) -> None:
    """The inverse of :func:`fold_batchnorm` for a deployment model without training statistics
    (e.g. trained weights saved folded): each conv of ``fmodel`` gets the folded kernel and its BN
    gamma=1, beta=bias, mean=0, var=1-eps, so ``fmodel`` computes exactly the folded function."""
    bns = _bn_followers(fmodel)
    for layer in fmodel.layers:
        if not layer.weights or _is_bn(layer):
            continue
        w = qmodel.get_layer(layer.name).get_weights()
        bn = bns.get(layer.name)
        if bn is None:
            layer.set_weights(w)
            continue
        k, b = w
        layer.set_weights([k])
        n = b.shape[0]
        bn.set_weights([np.ones(n, np.float32), b.astype(np.float32), np.zeros(n, np.float32),
                        np.full(n, 1.0 - bn.epsilon, np.float32)])


def init_random(qmodel, fmodel, x: np.ndarray, *, seed: int = 0) -> None:
    """Random, data-calibrated weights for both models: calibrate the training model's BN, fold."""
    calibrate_bn(fmodel, x, seed=seed)
    fold_batchnorm(fmodel, qmodel)


def init_from_deployed(trained, qmodel, fmodel) -> None:
    """Weights from a saved deployment model (BN already folded) into both models."""
    for layer in qmodel.layers:
        if layer.weights:
            layer.set_weights(trained.get_layer(layer.name).get_weights())
    unfold_batchnorm(qmodel, fmodel)


# ------------------------------------------------------- power-of-two equalization and calibration

def rescale_for_quantization(fmodel, quant: Quantization, x_calib: np.ndarray) -> dict:
    """Per-layer quantization ranges for the deployed (batch-norm-folded) model of the trained
    training model ``fmodel``; returns overrides ``{"layer_int", "layer_weight_int"}``.

    With one global range the folded weights do not fit: on the trained Fashion-MNIST 1x g3 model the
    depthwise weights reach 2-20 (clipped at 1 by ``quantized_bits(8,0)``) while the first grouped
    1x1 of a unit stays below 0.3, and the activations range from ~2 to ~25; the 8-bit model lost 22
    points before QAT. So:

    * each unit's first grouped 1x1 (and its BN) is scaled by the largest power of two 2**e that
      keeps its folded weights within [-1, 1), and the depthwise kernel after it by 2**-e (ReLU and
      the channel shuffle commute with a positive scale; the function is unchanged, exactly);
    * every convolution gets the weight integer bits its folded weights need (no weight clips) and
      the bias integer bits its folded bias needs (at least ``bias_int``);
    * every quantized activation (ReLU outputs, the signed depthwise/second-group-conv outputs, the
      shortcut average pool, the global pool) gets the integer bits with the least quantization
      error on ``x_calib``; a stride-2 unit's pooled shortcut and branch share theirs (they are
      concatenated).

    Modifies ``fmodel`` (the equalization) in place.
    """
    bns = _bn_followers(fmodel)
    for layer in fmodel.layers:
        if not layer.name.endswith("_gconv1"):
            continue
        unit = layer.name[: -len("_gconv1")]
        k, _ = folded_weights(layer, bns[layer.name])
        e = int(np.floor(np.log2(1.0 / max(float(np.abs(k).max()), 1e-9))))
        bn = bns[layer.name]
        gamma, beta, mean, var = bn.get_weights()
        bn.set_weights([gamma * 2.0 ** e, beta * 2.0 ** e, mean, var])
        dw = fmodel.get_layer(f"{unit}_dwconv")
        dw.set_weights([w * 2.0 ** -e if i == 0 else w for i, w in enumerate(dw.get_weights())])
    head = quant.head()
    weight_int, layer_int = {}, {}
    for layer in fmodel.layers:
        if not layer.weights or _is_bn(layer):
            continue
        k, b = folded_weights(layer, bns[layer.name]) if layer.name in bns else layer.get_weights()
        bits = {"fc": head.weight_bits, "conv1": quant.stem().weight_bits}.get(layer.name, quant.weight_bits)
        wmax = float(np.abs(k).max())
        weight_int[layer.name] = int(np.clip(np.ceil(np.log2(max(wmax / (1 - 2.0 ** (1 - bits)), 1e-9))), 0, bits - 1))
        layer_int[layer.name] = bias_int_for(b, quant.bias_bits, quant.bias_int)
    # the deployed model's quantized tensors, by the training model's layer producing them
    from ..hls import kinds

    taps, all_names = {}, {layer.name for layer in fmodel.layers}
    for layer in fmodel.layers:
        n = layer.name
        if _kind(layer) is kinds.FLOAT_ACTIVATION or n.endswith("_shortcut_pool") or n == "global_pool":
            taps[n] = (n, "unsigned")
        elif n.endswith("_dwconv_bn"):
            taps[n[: -len("_bn")] + "_quant"] = (n, "signed")
        elif n.endswith("_gconv2_bn") and n.replace("_gconv2_bn", "_add") in all_names:  # stride 1
            taps[n[: -len("_bn")] + "_quant"] = (n, "signed")
    names = list(taps)
    outs = tf.keras.Model(fmodel.input, [fmodel.get_layer(taps[n][0]).output for n in names]).predict(
        x_calib, verbose=0, batch_size=250)
    gap_bits = quant.gap_bits if quant.gap_bits is not None else max(quant.act_bits + 3, quant.act_bits)
    for n, a in zip(names, outs):
        a = a.ravel()
        if taps[n][1] == "signed":
            layer_int[n] = best_int(a, lambda i: signed_grid(quant.act_bits, i))
        else:
            bits = {"global_pool": gap_bits, "relu_conv1": quant.stem().act_bits}.get(n, quant.act_bits)
            layer_int[n] = best_int(a, lambda i: relu_grid(bits, i))
    for n in [n for n in names if n.endswith("_shortcut_pool")]:  # concatenated with the unit's ReLU
        unit = n[: -len("_shortcut_pool")]
        layer_int[n] = layer_int[f"{unit}_relu"] = max(layer_int[n], layer_int[f"{unit}_relu"])
    return {"layer_int": layer_int, "layer_weight_int": weight_int}
