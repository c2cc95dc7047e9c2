"""Quantizer -> ap_fixed mapping, exact type inference, rejection by name, reuse factors."""
import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QConv2D, quantized_bits, quantized_relu

from fpga_flow.hls import kinds

from fpga_flow.errors import FlowError
from fpga_flow.hls import precision
from fpga_flow.hls.fixed import FixedSpec, quantizer_spec, spec_for_range
from fpga_flow.resources.reuse import closest_valid, valid_reuse_factors


def test_quantizer_mapping():
    assert quantizer_spec(quantized_bits(8, 0, alpha=1), what="x").cpp() == "ap_fixed<8,1,AP_RND_CONV,AP_SAT>"
    assert quantizer_spec(quantized_relu(8, 3), what="x").cpp() == "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>"
    assert quantizer_spec("quantized_bits(6,2,alpha=1)", what="x").hls4ml() == "fixed<6,3,RND_CONV,SAT>"
    assert quantizer_spec(quantized_bits(8, 3, keep_negative=False, alpha=1), what="x").cpp() == \
        "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>"


def test_quantizer_semantics_match_type():
    """The mapped type's RND_CONV/SAT reproduces QKeras on every value of a dense sweep (ties included)."""
    for q in (quantized_bits(6, 2, alpha=1), quantized_relu(6, 2), quantized_bits(5, 0, alpha=1)):
        s = quantizer_spec(q, what="x")
        x = np.arange(-40 * 2**s.frac, 40 * 2**s.frac + 1) / 2.0 ** (s.frac + 1)  # every half-step: all ties
        want = np.asarray(q(x.astype(np.float32)), dtype=np.float64)
        codes = np.clip(np.rint(x * 2.0**s.frac), s.code_min, s.code_max)  # round half even + saturate
        np.testing.assert_array_equal(want, codes * 2.0**-s.frac)


@pytest.mark.parametrize("q,msg", [
    (quantized_bits(8, 0), "alpha"),
    (quantized_bits(8, 0, alpha="auto_po2"), "alpha"),
    (quantized_bits(8, 0, alpha=1, symmetric=1), "symmetric"),
    (quantized_relu(8, 3, negative_slope=0.25), "negative_slope"),
    ("binary()", "not supported"),
    (None, "no quantizer"),
])
def test_unsupported_quantizers_rejected(q, msg):
    with pytest.raises(FlowError, match=msg):
        quantizer_spec(q, what="layer 'x'")


def test_spec_for_range():
    assert spec_for_range(0, 7.96875, 5) == FixedSpec(False, 8, 3)
    assert spec_for_range(-1, 0.9921875, 7) == FixedSpec(True, 8, 1)
    assert spec_for_range(-3.5, 2.0, 2) == FixedSpec(True, 5, 3)


def _qnet(extra):
    inp = tf.keras.Input((8, 8, 4), name="image")
    x = QActivation(quantized_bits(8, 0, alpha=1), name="inq")(inp)
    x = extra(x)
    return tf.keras.Model(inp, x)


@pytest.mark.parametrize("make,msg", [
    (lambda x: QConv2D(4, 3, groups=2, kernel_quantizer=quantized_bits(8, 0, alpha=1),
                       bias_quantizer=quantized_bits(8, 3, alpha=1), name="gconv")(x), "gconv.*groups=2.*1x1 kernel"),
    (lambda x: QConv2D(4, 1, kernel_quantizer=quantized_bits(8, 0),
                       bias_quantizer=quantized_bits(8, 3, alpha=1), name="kq")(x), "kq.*alpha"),
    (lambda x: tf.keras.layers.Lambda(lambda t: t * 2, name="lam")(x), "lam.*Lambda"),
    (lambda x: tf.keras.layers.Conv2D(4, 1, name="fconv")(x), "fconv.*float weights"),
    (lambda x: tf.keras.layers.GlobalAveragePooling2D(name="gap")(x), "gap.*ExactGlobalAveragePooling2D"),
    (lambda x: QActivation(quantized_bits(8, 2, alpha="auto_po2"), name="qa")(x), "qa.*alpha"),
    (lambda x: tf.keras.layers.BatchNormalization(name="bn")(x), "bn.*fold"),
    (lambda x: tf.keras.layers.Reshape((8, 8, 2, 2), name="rs")(x), "rs.*ChannelShuffle"),
])
def test_unconvertible_layers_rejected_by_name(make, msg):
    with pytest.raises(FlowError, match=msg):
        kinds.check_supported(_qnet(make))


def test_activation_alpha_unset_means_one():
    """QKeras scales a QActivation's quantized_bits by 1 when alpha is unset; accepted as alpha=1."""
    a = quantizer_spec(quantized_bits(12, 4), what="x", activation=True)
    assert a == quantizer_spec(quantized_bits(12, 4, alpha=1), what="x")
    x = np.arange(-2000, 2000) / 256.0
    np.testing.assert_array_equal(np.asarray(quantized_bits(12, 4)(x.astype(np.float32))),
                                  np.asarray(quantized_bits(12, 4, alpha=1)(x.astype(np.float32))))


def test_input_quantizer_required():
    inp = tf.keras.Input((8, 8, 4), name="image")
    x = QConv2D(4, 1, kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1))(inp)
    with pytest.raises(FlowError, match="input quantizer"):
        kinds.check_supported(tf.keras.Model(inp, x))


def test_conv_accumulator_is_exact_and_tight():
    tf.keras.utils.set_random_seed(1)
    m = _qnet(lambda x: QConv2D(3, 3, kernel_quantizer=quantized_bits(8, 0, alpha=1),
                                bias_quantizer=quantized_bits(8, 3, alpha=1), name="c")(x))
    info = kinds.infer(m)
    s = info["c"].spec
    assert s.frac == 14  # 7 (input) + 7 (weights) fractional bits, nothing dropped
    k, b = precision.quantized_weights(m.get_layer("c"))
    # brute-force bound over the input box: per output channel, max/min of the affine map
    kk = k.reshape(-1, 3)
    hi = np.maximum(kk * 127 / 128, kk * -1).sum(0) + b
    lo = np.minimum(kk * 127 / 128, kk * -1).sum(0) + b
    assert s.code_max * 2.0**-s.frac >= hi.max() and s.code_min * 2.0**-s.frac <= lo.min()
    assert spec_for_range(float(min(lo.min(), 0)), float(max(hi.max(), 0)), 14) == s  # and no wider


def test_valid_reuse_factors_match_hls4ml():
    from hls4ml.backends import get_backend

    be = get_backend("Vivado")
    for n_in, n_out in ((27, 64), (64, 16), (576, 64), (512, 10)):
        assert list(valid_reuse_factors(n_in, n_out)) == be.get_valid_reuse_factors(n_in, n_out)
    assert closest_valid(27, 64, 64) in valid_reuse_factors(27, 64)
    assert closest_valid(64, 16, 16) == 16
