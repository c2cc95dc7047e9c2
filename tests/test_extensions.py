"""Extension layers against their Keras counterparts, through the real C-simulation library."""
from fractions import Fraction

import re

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, quantized_bits, quantized_relu

from fpga_flow.hls import kinds

from fpga_flow import project

from fpga_flow import flow
from fpga_flow.hls.extensions.gap import ExactGlobalAveragePooling2D
from fpga_flow.hls.extensions.maxpool import StreamMaxPooling2D
from fpga_flow.verify.csim import quantize_to, run_csim
from fpga_flow.hls.fixed import quantizer_spec
from fpga_flow.hls.precision import input_spec


def _build_and_run(model, tmp_path, x):
    flow.build_keras_model(model, tmp_path / "prj")
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
    cpp = (tmp_path / "prj" / project.PROJECT / "firmware" / "myproject.cpp").read_text()
    assert "nnet::stream_maxpool2d_cl<" in cpp and "pooling2d_cl" not in cpp


def test_stream_maxpool_refuses_multiple_windows_on_last_row():
    from fpga_flow.errors import FlowError
    from fpga_flow.hls import precision

    inp = tf.keras.Input((6, 7, 3), name="image")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="inq")(inp)
    y = tf.keras.layers.MaxPooling2D(2, 1, padding="same", name="mp")(x)
    with pytest.raises(FlowError, match="mp.*padding='valid'"):
        kinds.check_supported(tf.keras.Model(inp, y))


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


# --- ShuffleNet extensions -------------------------------------------------------------------------
from fpga_flow.hls.extensions.avgpool import ExactAveragePooling2D, reciprocal_table  # noqa: E402
from fpga_flow.hls.extensions.channel_shuffle import ChannelShuffle  # noqa: E402
from fpga_flow.hls.extensions.grouped_conv import QGroupedConv1x1  # noqa: E402


def exact_avgpool_ref(x, pool, stride, padding, in_frac, spec):
    """Independent reference: Keras 'same'/'valid' windows, exact rational mean of the cells inside
    the map, round half to even, saturate (Fractions)."""
    from hls4ml.converters.utils import compute_padding_2d

    n, h, w, c = x.shape
    oh, ow, top, _, left, _ = compute_padding_2d(padding, h, w, stride, stride, pool, pool)
    out = np.zeros((n, oh, ow, c))
    codes = np.rint(x.astype(np.float64) * 2**in_frac).astype(np.int64)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                r0, c0 = i * stride - top, j * stride - left
                rows = [r for r in range(r0, r0 + pool) if 0 <= r < h]
                cols = [q for q in range(c0, c0 + pool) if 0 <= q < w]
                for ch in range(c):
                    s = sum(int(codes[b, r, q, ch]) for r in rows for q in cols)
                    v = Fraction(s, 2**in_frac) / (len(rows) * len(cols)) * 2**spec.frac
                    fl = v.numerator // v.denominator
                    rem = v - fl
                    code = fl + (1 if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2) else 0)
                    out[b, i, j, ch] = min(max(code, spec.code_min), spec.code_max) / 2**spec.frac
    return out


@pytest.mark.parametrize("h,w,c,stride,padding,inq,outq", [
    (8, 8, 4, 2, "same", "quantized_relu(8,3)", "quantized_relu(8,3)"),        # ShuffleNet: even map, pad bottom/right
    (7, 9, 5, 2, "same", "quantized_relu(8,3)", "quantized_relu(8,3)"),        # odd maps, odd channels, pad both sides
    (6, 5, 3, 1, "valid", "quantized_bits(8,3,alpha=1)", "quantized_bits(6,2,alpha=1)"),  # signed, stride 1, saturation
    (5, 6, 2, 2, "same", "quantized_relu(6,2)", "quantized_relu(10,2)"),       # finer output grid (div_shl)
])
def test_exact_avgpool_keras_csim_and_reference(tmp_path, h, w, c, stride, padding, inq, outq):
    inp = tf.keras.Input((h, w, c), name="image")
    x = QActivation(inq, name="inq")(inp)
    y = ExactAveragePooling2D(3, stride, padding=padding, quantizer=outq, name="avg")(x)
    model = tf.keras.Model(inp, y)
    rng = np.random.default_rng(h * w * c)
    x = rng.uniform(-3, 9, size=(4, h, w, c)).astype(np.float32)
    xq, yc = _build_and_run(model, tmp_path, x)
    yk = model.predict(xq, verbose=0).astype(np.float64)
    ref = exact_avgpool_ref(xq, 3, stride, padding, quantizer_spec(inq, what="i").frac, quantizer_spec(outq, what="o"))
    np.testing.assert_array_equal(yk, ref)
    np.testing.assert_array_equal(yc.reshape(ref.shape), ref)
    # Keras' own average pooling agrees up to rounding (the divisor excludes padded cells)
    keras_avg = tf.keras.layers.AveragePooling2D(3, stride, padding=padding)(xq).numpy()
    step = 2.0 ** -quantizer_spec(outq, what="o").frac
    inside = (ref > quantizer_spec(outq, what="o").code_min * step) & (ref < quantizer_spec(outq, what="o").code_max * step)
    assert np.all(np.abs(keras_avg - ref)[inside] <= step / 2 + 1e-6)


def test_reciprocal_table_exact():
    shift, table = reciprocal_table(12, 9)
    n = np.arange(1 << 12, dtype=np.int64)
    for d in range(1, 10):
        assert np.array_equal((n * table[d]) >> shift, n // d)


def test_avgpool_training_gradient_is_keras_average():
    layer = ExactAveragePooling2D(3, 2, padding="same", quantizer="quantized_relu(8,3)")
    x = tf.constant(np.random.default_rng(0).uniform(0, 4, (1, 6, 6, 2)).astype(np.float32))
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = tf.reduce_sum(layer(x, training=True))
        z = tf.reduce_sum(tf.keras.layers.AveragePooling2D(3, 2, padding="same")(x))
    np.testing.assert_allclose(t.gradient(y, x).numpy(), t.gradient(z, x).numpy(), rtol=1e-6)


@pytest.mark.parametrize("groups,filters", [(3, 9), (4, 10)])  # even split; uneven split (3,3,2,2)
def test_shuffle_and_grouped_conv_csim(tmp_path, groups, filters):
    """input -> grouped 1x1 (QGroupedConv1x1) -> ChannelShuffle -> grouped 1x1 -> output, 7x5 map;
    the project stores exactly n_in/g * n_out weights per group conv."""
    q = dict(kernel_quantizer="quantized_bits(8,0,alpha=1)", bias_quantizer="quantized_bits(8,3,alpha=1)")
    inp = tf.keras.Input((7, 5, 12), name="image")
    x = QActivation("quantized_bits(8,2,alpha=1)", name="inq")(inp)
    x = QGroupedConv1x1(filters, groups, name="g1", **q)(x)
    x = QActivation("quantized_bits(8,3,alpha=1)", name="a1")(x)
    g2 = 2 if filters % 2 == 0 else 3
    x = ChannelShuffle(g2, name="shuffle")(x)
    y = QGroupedConv1x1(7, g2, name="g2", **q)(x)  # 7 outputs: uneven split again
    model = tf.keras.Model(inp, y)
    rng = np.random.default_rng(groups)
    for layer in (model.get_layer("g1"), model.get_layer("g2")):
        k, b = layer.get_weights()
        layer.set_weights([np.round(rng.uniform(-1, 1, k.shape) * 128) / 128, np.round(rng.uniform(-2, 2, b.shape) * 16) / 16])
    x = rng.uniform(-4, 4, size=(3, 7, 5, 12)).astype(np.float32)
    xq, yc = _build_and_run(model, tmp_path, x)
    yk = model.predict(xq, verbose=0).astype(np.float64)
    assert np.std(yk) > 0.1
    np.testing.assert_array_equal(yc.reshape(yk.shape), yk)
    # the Keras layer equals an explicit block-diagonal product
    from fpga_flow.hls.extensions.grouped_conv import output_groups

    k, b = model.get_layer("g1").get_weights()
    a = tf.keras.Model(inp, model.get_layer("g1").output)(xq).numpy()
    grp = output_groups(filters, groups)
    nig = 12 // groups
    ref = np.stack([xq[..., grp[o] * nig:(grp[o] + 1) * nig].astype(np.float64) @ k[0, 0, :, o]
                    for o in range(filters)], -1) + b
    np.testing.assert_allclose(a, ref, atol=1e-5)
    weights_h = (tmp_path / "prj" / project.PROJECT / "firmware" / "weights")
    stored = sum(int(np.prod(np.loadtxt(p, delimiter=",", ndmin=1).shape)) for p in weights_h.glob("w*.txt"))
    assert stored == 12 // groups * filters + filters // g2 * 7


def test_channel_shuffle_is_reshape_permute_reshape():
    x = np.arange(2 * 3 * 12, dtype=np.float32).reshape(1, 2, 3, 12)
    y = ChannelShuffle(3)(x).numpy()
    ref = x.reshape(1, 2, 3, 3, 4).transpose(0, 1, 2, 4, 3).reshape(1, 2, 3, 12)
    np.testing.assert_array_equal(y, ref)


def test_user_grouped_qconv2d_is_converted_exactly(tmp_path):
    """A user's QConv2D(groups=4) (stock hls4ml ignores groups) is rewritten into the extension."""
    from qkeras import QConv2D

    inp = tf.keras.Input((5, 6, 8), name="image")
    x = QActivation("quantized_bits(8,2,alpha=1)", name="inq")(inp)
    y = QConv2D(12, 1, groups=4, kernel_quantizer="quantized_bits(8,0,alpha=1)",
                bias_quantizer="quantized_bits(8,3,alpha=1)", name="gconv")(x)
    model = tf.keras.Model(inp, y)
    rng = np.random.default_rng(7)
    model.get_layer("gconv").set_weights([np.round(rng.uniform(-1, 1, (1, 1, 2, 12)) * 128) / 128,
                                          np.round(rng.uniform(-2, 2, 12) * 16) / 16])
    x = rng.uniform(-4, 4, size=(3, 5, 6, 8)).astype(np.float32)
    xq, yc = _build_and_run(model, tmp_path, x)
    yk = model.predict(xq, verbose=0).astype(np.float64)
    np.testing.assert_array_equal(yc.reshape(yk.shape), yk)
    # fpga_flow's MVU in its grouped mode: only the diagonal blocks stored (12 outputs x 2 inputs)
    fw = tmp_path / "prj" / project.PROJECT / "firmware"
    assert re.search(r"nnet::stream_mvu_cl<[^;]*\); // gconv\n", (fw / "myproject.cpp").read_text())
    assert re.search(r"static const unsigned groups = 4;", (fw / "parameters.h").read_text())


def test_grouped_kxk_conv_is_refused():
    from qkeras import QConv2D

    from fpga_flow.errors import FlowError
    from fpga_flow.hls import precision

    inp = tf.keras.Input((5, 6, 8), name="image")
    x = QActivation("quantized_bits(8,2,alpha=1)", name="inq")(inp)
    y = QConv2D(8, 3, groups=4, kernel_quantizer="quantized_bits(8,0,alpha=1)",
                bias_quantizer="quantized_bits(8,3,alpha=1)", name="g3x3")(x)
    with pytest.raises(FlowError, match="g3x3.*1x1 kernel"):
        kinds.check_supported(tf.keras.Model(inp, y))


def _depthwise_model(h, w, c, stride, outq):
    from qkeras import QDepthwiseConv2D

    inp = tf.keras.Input((h, w, c), name="image")
    x = QActivation("quantized_bits(8,0,alpha=1)", name="inq")(inp)
    x = QDepthwiseConv2D(3, strides=stride, padding="same", depthwise_quantizer="quantized_bits(8,0,alpha=1)",
                         bias_quantizer="quantized_bits(8,3,alpha=1)", name="dw")(x)
    y = QActivation(outq, name="qout")(x)
    model = tf.keras.Model(inp, y)
    rng = np.random.default_rng(h * w * c * stride)
    layer = model.get_layer("dw")
    k, b = layer.get_weights()
    layer.set_weights([np.round(rng.uniform(-1, 1, k.shape) * 128) / 128, np.round(rng.uniform(-2, 2, b.shape) * 16) / 16])
    return model, rng


@pytest.mark.parametrize("h,w,c,stride,outq", [
    (8, 8, 4, 2, "quantized_bits(8,3,alpha=1)"),  # ShuffleNet's quantizer after the depthwise; even map, even channels
    (9, 9, 5, 2, "quantized_bits(12,4)"),         # the case stock hls4ml gets wrong by 2^-8 (alpha unset)
    (7, 6, 5, 1, "quantized_relu(8,3)"),
    (8, 9, 6, 1, "quantized_bits(12,4)"),
])
def test_depthwise_same_padding_exact(tmp_path, h, w, c, stride, outq):
    model, rng = _depthwise_model(h, w, c, stride, outq)
    x = rng.uniform(-1, 1, size=(3, h, w, c)).astype(np.float32)
    xq, yc = _build_and_run(model, tmp_path, x)
    yk = model.predict(xq, verbose=0).astype(np.float64)
    assert len(np.unique(yk)) > 20
    np.testing.assert_array_equal(yc.reshape(yk.shape), yk)


def test_audit_catches_stock_dropping_a_linear_quantizer(tmp_path):
    """Root cause of the stock 2^-8 error: hls4ml's MergeLinearActivation removes a
    QActivation(quantized_bits) after a conv whose type is 'auto', so nothing rounds to the
    quantizer's grid (a half-LSB error = 2^-8 for quantized_bits(12,4)). The flow sets every result
    type, which keeps the quantizer; the audit refuses any graph where one was dropped."""
    import hls4ml

    from fpga_flow.hls import precision

    model, _ = _depthwise_model(8, 8, 4, 1, "quantized_bits(12,4)")
    stock = hls4ml.converters.convert_from_keras_model(
        model, hls_config=hls4ml.utils.config_from_keras_model(model, granularity="name"),
        output_dir=str(tmp_path / "stock"), io_type="io_stream", backend="Vitis")
    assert "qout" not in [l.name for l in stock.get_layers()]
    problems = kinds.audit(stock, model, kinds.infer(model))
    assert any(p.startswith("qout: removed by hls4ml") for p in problems), problems
