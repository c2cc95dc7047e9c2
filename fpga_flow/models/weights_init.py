"""Deterministic, data-calibrated random weights (for flows run before a network is trained).

He-normal weights give exploding or vanishing activations in deep nets once quantized, which makes a
bit-exactness check trivial (all zero or all saturated). ``calibrate`` rescales each convolution, in
topological order, so that its pre-activation standard deviation on real calibration images is
``target_std`` (LSUV-style), draws small non-zero biases, and stores weights already on their
quantizers' grids. The result exercises every code of the activation range. ``copy_weights`` copies
weights between models by layer name (quantized model <-> float twin).
"""
from __future__ import annotations

import numpy as np


def calibrate(model, x: np.ndarray, *, seed: int = 0, target_std: float = 1.5, twin=None) -> dict:
    """Rescale ``model``'s conv/dense weights in place; returns per-layer stats.

    ``twin``: a float model with the same layer names that receives the same weights.
    """
    import tensorflow as tf

    from ..hls import kinds  # the layer-kind registry (loads hls4ml): the one place layer classes are named

    rng = np.random.default_rng(seed)
    stats = {}
    for layer in model.layers:
        if kinds.for_keras(layer) not in (kinds.CONV, kinds.DENSE):
            continue
        w = layer.get_weights()
        k = w[0]
        has_bias = layer.use_bias
        layer.set_weights([k] + ([np.zeros_like(w[1])] if has_bias else []))
        probe = tf.keras.Model(model.inputs, layer.output)
        y = probe(x, training=False).numpy()
        std = float(y.std()) or 1.0
        k = k * (target_std / std)
        kq = np.asarray(layer.kernel_quantizer_internal(k), dtype=np.float32)
        new = [kq]
        if has_bias:
            b = rng.uniform(-0.3, 0.3, size=w[1].shape).astype(np.float32) * target_std
            new.append(np.asarray(layer.bias_quantizer_internal(b), dtype=np.float32))
        layer.set_weights(new)
        stats[layer.name] = {"pre_std_before": std, "scale": target_std / std}
    if twin is not None:
        copy_weights(model, twin)
    return stats


def copy_weights(src, dst) -> None:
    """Copy weights between models by layer name (quantized model <-> float twin)."""
    for layer in dst.layers:
        if layer.weights:
            layer.set_weights(src.get_layer(layer.name).get_weights())
