"""ShuffleNet v1: the published parameter counts and shapes, batch-norm folding, and bit-exact
C-simulation of every group count at widths 0.5 and 1.0 (reduced input size)."""

import re

import numpy as np
import pytest
import tensorflow as tf

from fpga_flow import project

from fpga_flow import flow
from fpga_flow.data import images
from fpga_flow.errors import FlowError
from fpga_flow.hls.precision import input_spec
from fpga_flow.models import shufflenet as sn
from fpga_flow.verify import csim
from activity import activation_stats

from conftest import small_cfg

PUBLISHED = {  # (groups, width): float trainable parameters at 224x224x3, 1000 classes
    (3, 0.5): 718_324, (3, 1.0): 1_865_728, (8, 0.5): 1_011_172, (8, 1.0): 2_434_768, (3, 2.0): 5_450_776,
}


def _trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.mark.parametrize("groups,width", list(PUBLISHED))
def test_published_parameter_counts(groups, width):
    model = sn.shufflenet_v1(groups=groups, width=width, quantized=False)
    assert _trainable(model) == PUBLISHED[(groups, width)]
    # BN moving statistics exist but are not trainable and not counted
    bns = [l for l in model.layers if isinstance(l, tf.keras.layers.BatchNormalization)]
    assert bns and all(len(l.non_trainable_weights) == 2 for l in bns)


def test_paper_shapes_and_deployed_structure():
    f = sn.shufflenet_v1(groups=3, width=1.0, quantized=False)
    q = sn.shufflenet_v1(groups=3, width=1.0, quantized=True)
    shapes = {n: tuple(f.get_layer(n).output_shape[1:]) for n in (
        "relu_conv1", "pool1", "stage2_unit4_relu", "stage3_unit8_relu", "stage4_unit4_relu")}
    assert shapes == {"relu_conv1": (112, 112, 24), "pool1": (56, 56, 24), "stage2_unit4_relu": (28, 28, 240),
                      "stage3_unit8_relu": (14, 14, 480), "stage4_unit4_relu": (7, 7, 960)}
    assert f.output_shape == q.output_shape == (None, 1000)
    # Table 1 stage-2 channels per group count at 1x; first 1x1 of stage 2 ungrouped
    assert [sn.stage_channels(g, 1.0)[1] for g in (1, 2, 3, 4, 8)] == [144, 200, 240, 272, 384]
    assert q.get_layer("stage2_unit1_gconv1").__class__.__name__ == "QConv2D"
    assert q.get_layer("stage2_unit2_gconv1").groups == 3
    # deployment model: no BN, every conv has a bias (folded), shortcut pools are exact
    kinds = {type(l).__name__ for l in q.layers}
    assert not any("BatchNormalization" in k for k in kinds)
    assert {"QGroupedConv1x1", "QDepthwiseConv2D", "ChannelShuffle", "ExactAveragePooling2D",
            "ExactGlobalAveragePooling2D", "QDense"} <= kinds
    assert sum(isinstance(l, tf.keras.layers.BatchNormalization) for l in f.layers) == 1 + 16 * 3


def test_uneven_output_groups_for_published_half_width_g8():
    q = sn.shufflenet_v1(groups=8, width=0.5, input_shape=(32, 32, 3), classes=10, quantized=True)
    layer = q.get_layer("stage2_unit1_gconv2")  # 48 -> 180 outputs with 8 groups
    assert layer.kernel.shape == (1, 1, 6, 180)
    from fpga_flow.hls.extensions.grouped_conv import output_groups

    assert np.bincount(output_groups(180, 8)).tolist() == [23, 23, 23, 23, 22, 22, 22, 22]


def test_refuses_unpublished_settings():
    with pytest.raises(FlowError, match="groups=5"):
        sn.shufflenet_v1(groups=5)
    with pytest.raises(FlowError, match="width=0.75"):
        sn.shufflenet_v1(width=0.75)
    with pytest.raises(FlowError, match="at least 32x32"):
        sn.shufflenet_v1(input_shape=(16, 16, 3))


def _random_bn(bn, rng):
    n = bn.get_weights()[0].shape[0]
    bn.set_weights([rng.uniform(0.5, 2, n), rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(0.1, 3, n)])


@pytest.mark.parametrize("kind", ["conv", "depthwise", "grouped_even", "grouped_uneven"])
def test_batchnorm_folding_is_the_same_function(kind):
    from fpga_flow.hls.extensions.grouped_conv import QGroupedConv1x1

    rng = np.random.default_rng(1)
    inp = tf.keras.Input((6, 7, 12))
    conv = {"conv": lambda: tf.keras.layers.Conv2D(10, 3, padding="same", use_bias=False),
            "depthwise": lambda: tf.keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False),
            "grouped_even": lambda: QGroupedConv1x1(9, 3, use_bias=False),
            "grouped_uneven": lambda: QGroupedConv1x1(10, 4, use_bias=False)}[kind]()
    bn = tf.keras.layers.BatchNormalization(epsilon=sn.BN_EPSILON)
    model = tf.keras.Model(inp, bn(conv(inp)))
    _random_bn(bn, rng)
    k, b = sn.folded_weights(conv, bn)
    x = rng.normal(size=(2, 6, 7, 12)).astype(np.float32)
    folded = {"conv": lambda: tf.keras.layers.Conv2D(10, 3, padding="same"),
              "depthwise": lambda: tf.keras.layers.DepthwiseConv2D(3, strides=2, padding="same"),
              "grouped_even": lambda: QGroupedConv1x1(9, 3),
              "grouped_uneven": lambda: QGroupedConv1x1(10, 4)}[kind]()
    m2 = tf.keras.Model(inp, folded(inp))
    folded.set_weights([k, b])
    np.testing.assert_allclose(m2(x).numpy(), model(x, training=False).numpy(), rtol=1e-4, atol=1e-4)


def test_fold_then_unfold_round_trip():
    tf.keras.utils.set_random_seed(0)
    kw = dict(groups=2, width=0.5, input_shape=(32, 32, 3), classes=10)
    f, q, f2 = (sn.shufflenet_v1(quantized=b, **kw) for b in (False, True, False))
    x = images.to_model_input(images.photos(2, (32, 32, 3)))
    sn.init_random(q, f, x, seed=3)
    sn.unfold_batchnorm(q, f2)
    y, y2 = f(x).numpy(), f2(x).numpy()
    # same function up to float32 reassociation through ~50 layers (a wrong fold is off by O(1))
    np.testing.assert_allclose(y2, y, atol=5e-3 * np.abs(y).max())
    assert np.abs(y).max() > 0.5


# --- bit-exact C-simulation of the zoo: every group count, widths 0.5 and 1.0 ---------------------
SIZE = 48  # 48 -> 24 -> 12 -> 6 -> 3 -> 2: even and odd maps through the stride-2 units
ZOO = [(g, w) for g in (1, 2, 3, 4, 8) for w in (0.5, 1.0)]
# the default suite builds three (both widths, an even and an uneven group split); all ten: make test-slow
FAST = {(3, 0.5), (8, 0.5)}  # the shipped groups; the others (and 2 x 1.0) in make test-slow


@pytest.fixture(scope="module")
def zoo_builds(tmp_path_factory):
    """Build the models on first use (TF work is serial) and compile the C-sim library."""
    outs = {}

    def get(g, w):
        if (g, w) not in outs:
            out = tmp_path_factory.mktemp(f"sn_g{g}_w{w}") / "out"
            flow.build(small_cfg("shufflenet_v1", size=SIZE, groups=g, width=w), out)
            outs[(g, w)] = out
        return outs[(g, w)]

    return get


@pytest.mark.parametrize("groups,width", [pytest.param(g, w, marks=() if (g, w) in FAST else pytest.mark.slow)
                                          for g, w in ZOO])
def test_zoo_bit_exact(zoo_builds, groups, width):
    out = zoo_builds(groups, width)
    imgs = images.photos(3, (SIZE, SIZE, 3))
    res = csim.verify(out, imgs)
    assert res["n_values"] == 3 * 10
    assert res["exact_fraction"] == 1.0, res
    assert res["qkeras_outputs_on_grid"]
    model = project.load_qmodel(out / project.QMODEL)
    x = csim.quantize_to(input_spec(model), images.to_model_input(imgs))
    stats = activation_stats(model, x)
    assert len(stats) > 40
    for name, s in stats.items():  # non-trivial weights: activations vary
        assert s["distinct_codes"] >= 4, (name, s)
        assert s["zero_fraction"] < 0.95, (name, s)
        assert s["saturated_fraction"] < 0.5, (name, s)
    # the project stores only the g diagonal blocks of every group conv
    for layer in model.layers:
        if type(layer).__name__ == "QGroupedConv1x1":
            n_in = int(layer.input_shape[-1])
            stored = _stored_weights(out, layer.name)
            assert stored == n_in * layer.filters // groups, layer.name


def _stored_weights(out, layer_name):
    import re

    prj = out / project.PROJECT / "firmware"
    cpp = (prj / "myproject.cpp").read_text()
    m = re.search(r"\(.*, (w\d+), b\d+\); // " + re.escape(layer_name) + r"\n", cpp)
    assert m, layer_name
    header = (prj / "weights" / f"{m.group(1)}.h").read_text()
    return int(re.search(r"\w+ " + m.group(1) + r"\[(\d+)\]", header).group(1))


def _firmware_text(prj):
    fw = prj / "firmware"
    return "\n".join(p.read_text() for p in [fw / "myproject.cpp", fw / "parameters.h", fw / "defines.h"])


def test_written_project_has_no_whole_map_buffers(zoo_builds, tmp_path):
    text = _firmware_text(zoo_builds(3, 0.5) / project.PROJECT)
    # the shuffle is wiring (one call per unit), no stock Transpose buffers a feature map
    assert text.count("nnet::channel_shuffle_cl<") == 16
    assert "transpose" not in text.lower()
    # 31 grouped 1x1 convs (fpga_flow's MVU in grouped mode: only the diagonal blocks stored); the 12
    # depthwise convs of stages 2-3 (3x3 windows of 30 / 60 channels: <= hls.max_window_values = 576) in
    # its depthwise mode on sliding windows, stage 4's 4 (3x3x120 = 1080 values) with hls4ml's kernel
    # (no 1080-value window stream); conv1 and the first unit's dense 1x1 are MVUs too
    assert len(re.findall(r"static const unsigned groups = 3;\n\s*static const unsigned n_big", text)) == 31
    assert text.count("static const bool depthwise = true;") == 12 and text.count("nnet::depthwise_conv_2d_cl<") == 4
    assert text.count("nnet::stream_mvu_cl<") == 31 + 12 + 2 and text.count("nnet::sliding_window2d_cl<") == 13
    assert text.count("nnet::exact_avgpool2d_cl<") == 3
    assert "nnet::pooling2d_cl" not in text

    # control: the usual Keras spelling, converted by stock hls4ml, does write a Transpose
    import hls4ml
    from qkeras import QActivation

    inp = tf.keras.Input((4, 4, 6), name="image")
    x = QActivation("quantized_bits(8,0,alpha=1)", name="inq")(inp)
    x = tf.keras.layers.Reshape((4, 4, 3, 2))(x)
    x = tf.keras.layers.Permute((1, 2, 4, 3))(x)
    x = tf.keras.layers.Reshape((4, 4, 6))(x)
    stock = hls4ml.converters.convert_from_keras_model(
        tf.keras.Model(inp, x), hls_config=hls4ml.utils.config_from_keras_model(tf.keras.Model(inp, x)),
        output_dir=str(tmp_path / "stock"), io_type="io_stream", backend="Vitis")
    stock.write()
    assert "transpose" in _firmware_text(tmp_path / "stock").lower()


@pytest.mark.parametrize("cfg,published", [("shufflenet_g3_w1.0_224_w8_zcu102.yml", 1_865_728),
                                           ("shufflenet_g8_w0.5_224_w8_zcu104.yml", 1_011_172)])
def test_shipped_configs_are_the_published_models(cfg, published):
    from conftest import CONFIGS
    from fpga_flow import config
    from fpga_flow.models import build

    c = config.load(CONFIGS / cfg)
    assert _trainable(build(c.model.name, c.model, c.quantization, quantized=False)) == published


@pytest.mark.slow  # default suite: per-layer ranges exact in C-sim (test_fmnist score_int tests), shipped rescaled variants built from their provenance
def test_rescale_for_quantization_is_exact_and_bit_exact_in_csim(tmp_path):
    """ShuffleNet's per-layer calibration: the power-of-two equalization leaves the float function
    unchanged; the deployed model carries per-layer weight/bias/activation ranges (concatenated
    tensors share theirs); hls4ml C-sim of it is bit-exact."""
    from fpga_flow.config import Quantization
    from fpga_flow.models import build

    margs = {"input_shape": [32, 32, 1], "classes": 10, "groups": 3, "width": 0.5}
    q = Quantization(weight_bits=8, act_bits=8, act_int=3)
    from fpga_flow.data import fashion_mnist as fm

    imgs = fm.to_model(fm.load_sample()[0][:64])
    x = images.to_model_input(imgs)
    f = build("shufflenet_v1", margs, q, quantized=False)
    sn.calibrate_bn(f, x, seed=1)
    bn = f.get_layer("stage3_unit2_dwconv_bn")  # a large folded depthwise kernel, as after training
    g, b, m, v = bn.get_weights()
    bn.set_weights([g * 6, b, m, v])
    y0 = f.predict(x, verbose=0)
    over = sn.rescale_for_quantization(f, q, x)
    np.testing.assert_allclose(f.predict(x, verbose=0), y0, rtol=1e-5, atol=1e-5 * np.abs(y0).max())
    wi, li = over["layer_weight_int"], over["layer_int"]
    assert wi["stage3_unit2_dwconv"] >= 1 and wi["stage3_unit2_gconv1"] == 0
    assert li["stage2_unit1_shortcut_pool"] == li["stage2_unit1_relu"]
    assert {"stage3_unit2_dwconv_quant", "stage3_unit2_gconv2_quant", "global_pool"} <= set(li)
    qs = Quantization(**{**q.to_dict(), **over})
    qm = build("shufflenet_v1", margs, qs)
    sn.fold_batchnorm(f, qm)
    assert qm.get_layer("stage3_unit2_dwconv").depthwise_quantizer_internal.integer == wi["stage3_unit2_dwconv"]
    flow.build_keras_model(qm, tmp_path / "prj")
    res = csim.verify(tmp_path / "prj", imgs[:6])
    assert res["exact_fraction"] == 1.0 and res["n_values"] == 60, res
