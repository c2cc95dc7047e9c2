"""Extension layers against their Keras counterparts, through the real C-simulation library."""
from fractions import Fraction

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, quantized_bits, quantized_relu

from fpga_flow import flow
from fpga_flow.hls.extensions.gap import ExactGlobalAveragePooling2D
from fpga_flow.hls.extensions.maxpool import StreamMaxPooling2D
from fpga_flow.verify.csim import quantize_to, run_csim
from fpga_flow.hls.fixed import quantizer_spec
from fpga_flow.hls.precision import input_spec


def _build_and_run(model, tmp_path, x):
    flow.build_keras(model, tmp_path / "prj")
    xq = quantize_to(input_spec(model), x)
    return xq, run_csim(tmp_path / "prj", xq)


@pytest.mark.parametrize("h,w,c,pool,stride,padding", [
    (7, 7, 4, 3, 2, "valid"),    # odd size, overlapping (SqueezeNet)
    (8, 8, 3, 3, 2, "same"),     # even size, padding bottom/right only
    (9, 6, 5, 3, 2, "same"),     # odd/even mix, odd channels, pad top and bottom
    (10, 11, 2, 3, 2, "valid"),  # trailing rows/cols not covered by any window
    (6, 7, 3, 2, 1, "valid"),    # stride 1
])
def test_stream_maxpool_matches_keras(tmp_path, h, w, c, pool, stride, padding):
    inp = tf.keras.Input((h, w, c), name="image")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="inq")(inp)
    y = StreamMaxPooling2D(pool, stride, padding=padding, name="mp")(x)
    model = tf.keras.Model(inp, y)
    rng = np.random.default_rng(h * w + c)
    x = rng.uniform(-4, 4, size=(3, h, w, c)).astype(np.float32)
    xq, yc = _build_and_run(model, tmp_path, x)
    ref = tf.keras.layers.MaxPooling2D(pool, stride, padding=padding)(xq).numpy()  # stock Keras layer
    assert yc.shape == (3, ref[0].size)
    np.testing.assert_array_equal(yc.reshape(ref.shape), ref.astype(np.float64))
    # the written project carries the synthesizable template, not a stock pooling call
    cpp = (tmp_path / "prj" / flow.PROJECT / "firmware" / "myproject.cpp").read_text()
    assert "nnet::stream_maxpool2d_cl<" in cpp and "pooling2d_cl" not in cpp


def test_stream_maxpool_refuses_multiple_windows_on_last_row():
    from fpga_flow.errors import FlowError
    from fpga_flow.hls import precision

    inp = tf.keras.Input((6, 7, 3), name="image")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="inq")(inp)
    y = tf.keras.layers.MaxPooling2D(2, 1, padding="same", name="mp")(x)
    with pytest.raises(FlowError, match="mp.*padding='valid'"):
        precision.check_supported(tf.keras.Model(inp, y))


def exact_mean_ref(values, n, in_frac, spec):
    """Independent reference: exact rational mean, round half to even, saturate (Fractions)."""
    out = []
    for v in values:
        s = sum(Fraction(int(round(float(t) * 2**in_frac)), 2**in_frac) for t in v)
        q = s / n * 2**spec.frac
        fl = q.numerator // q.denominator
        rem = q - fl
        code = fl + (1 if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2) else 0)
        out.append(min(max(code, spec.code_min), spec.code_max) / 2**spec.frac)
    return np.array(out)


@pytest.mark.parametrize("h,w,inq,outq", [
    (2, 2, "quantized_relu(8,3)", "quantized_relu(8,3)"),            # N=4: many exact ties
    (3, 5, "quantized_relu(6,2)", "quantized_relu(12,2)"),           # N=15, finer output grid
    (4, 4, "quantized_bits(8,3,alpha=1)", "quantized_bits(6,1,alpha=1)"),  # signed, coarser grid, saturation
])
def test_exact_gap_keras_csim_and_reference(tmp_path, h, w, inq, outq):
    c = 7
    inp = tf.keras.Input((h, w, c), name="image")
    x = QActivation(inq, name="inq")(inp)
    y = ExactGlobalAveragePooling2D(outq, name="gap")(x)
    model = tf.keras.Model(inp, y)
    rng = np.random.default_rng(h * w)
    x = rng.uniform(-6, 9, size=(6, h, w, c)).astype(np.float32)
    xq, yc = _build_and_run(model, tmp_path, x)
    yk = model.predict(xq, verbose=0).astype(np.float64)
    in_spec, out_spec = quantizer_spec(inq, what="i"), quantizer_spec(outq, what="o")
    flat = xq.transpose(0, 3, 1, 2).reshape(-1, h * w)
    ref = exact_mean_ref(flat, h * w, in_spec.frac, out_spec).reshape(6, c)
    np.testing.assert_array_equal(yk, ref)
    np.testing.assert_array_equal(yc, ref)
    if h * w == 4:  # the case is only meaningful if ties really occurred
        codes = flat.sum(1) * 2**in_spec.frac
        assert np.any(codes % 4 == 2), "no tie in the test data"


def test_gap_keras_training_gradient_is_mean():
    layer = ExactGlobalAveragePooling2D("quantized_relu(8,3)")
    x = tf.constant(np.random.default_rng(0).uniform(0, 4, (2, 3, 3, 2)).astype(np.float32))
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.reduce_sum(layer(x, training=True))
    np.testing.assert_allclose(t.gradient(y, x).numpy(), np.full(x.shape, 1 / 9), rtol=1e-6)
