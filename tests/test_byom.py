"""Bring your own model: `fpga-flow build --model PATH.h5`, the rewrites of hls.rewrite checked code
for code through the C-simulation against the user's ORIGINAL Keras model, refusals, and a few
random nets (benchmarks/fuzz_nets.py)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QConv2D, QConv2DBatchnorm, QDense, QDepthwiseConv2D

from fpga_flow import project

from fpga_flow import config, flow
from fpga_flow.data import images
from fpga_flow.errors import FlowError
from fpga_flow.hls.rewrite import rewrite
from fpga_flow.verify import csim

ROOT = Path(__file__).resolve().parents[1]
L = tf.keras.layers


def kq(b=6, i=0):
    return f"quantized_bits({b},{i},alpha=1)"


def hand_model(seed=1):
    """Written by hand (not from the zoo): every rewrite of hls.rewrite, a GAP head."""
    tf.keras.utils.set_random_seed(seed)
    x0 = L.Input((12, 12, 3), name="image")
    x = QActivation(kq(8, 0), name="inq")(x0)
    x = L.ZeroPadding2D(1, name="pad")(x)
    x = QConv2DBatchnorm(8, 3, padding="valid", kernel_quantizer=kq(6, 0), bias_quantizer=kq(10, 3), name="conv_bn")(x)
    x = QActivation("quantized_relu(6,2)", name="relu1")(x)
    x = L.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    a = QConv2D(8, 1, groups=2, kernel_quantizer=kq(), bias_quantizer=kq(8, 2), name="gconv")(x)
    a = QActivation(kq(6, 2), name="gact")(a)
    a = L.Reshape((6, 6, 2, 4), name="sh1")(a)
    a = L.Permute((1, 2, 4, 3), name="sh2")(a)
    a = L.Reshape((6, 6, 8), name="sh3")(a)
    b = QDepthwiseConv2D(3, padding="same", depthwise_quantizer=kq(), bias_quantizer=kq(8, 2), name="dw")(x)
    b = QActivation("quantized_relu(5,2)", name="dwact")(b)
    x = L.Add(name="add")([a, b])
    p = L.AveragePooling2D(2, 2, name="avg")(x)
    p = QActivation(kq(8, 3), name="avgq")(p)
    m = L.MaxPooling2D(2, name="pool2")(x)
    x = L.Concatenate(name="cat")([p, m])
    x = QConv2D(10, 1, kernel_quantizer=kq(), bias_quantizer=kq(8, 2), name="head")(x)
    x = QActivation(kq(8, 4), name="headq")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = QActivation(kq(10, 4), name="scores")(x)
    model = tf.keras.Model(x0, x, name="hand_a")
    rng = np.random.default_rng(seed)
    model.get_layer("conv_bn").batchnorm.set_weights(
        [rng.uniform(0.5, 1.5, 8), rng.normal(0, .2, 8), rng.normal(0, .3, 8), rng.uniform(0.3, 2, 8)])
    return model


def flatten_model(seed=2):
    """Sequential, no input quantizer (--input-bits), Flatten + QDense head."""
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([
        L.InputLayer((8, 8, 1)),
        QConv2D(4, 3, strides=2, padding="same", kernel_quantizer=kq(), bias_quantizer=kq(8, 2), name="c1"),
        QActivation("quantized_relu(6,2)", name="r1"),
        L.MaxPooling2D(2, name="mp"),
        L.Flatten(name="flat"),
        QDense(16, kernel_quantizer=kq(), bias_quantizer=kq(8, 2), name="d1"),
        QActivation(kq(6, 2), name="r2"),
        QDense(5, kernel_quantizer=kq(), bias_quantizer=kq(8, 2), name="d2"),
    ], name="hand_b")


def _cli(*args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "fpga_flow.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def _layer_by_layer(out, x):
    """C-sim trace of every layer vs the saved ORIGINAL model's same-named layer (csim's comparison)."""
    m = project.load_manifest(out)
    ref = project.load_qmodel(Path(out) / project.QMODEL)
    xq = csim.quantize_to(csim.input_spec(ref), x)
    first, rows = csim.first_divergent_layer(out, ref, m, xq[:1])
    return first, {r["layer"]: r for r in rows}


@pytest.fixture(scope="module")
def hand_build(tmp_path_factory):
    d = tmp_path_factory.mktemp("byom")
    hand_model().save(d / "hand.h5")
    r = _cli("build", "--model", str(d / "hand.h5"), "--out", str(d / "out"))
    assert r.returncode == 0, r.stderr[-2000:]
    return d / "out", r.stdout


def test_cli_build_verify_report_hand_model(hand_build):
    out, stdout = hand_build
    m = project.load_manifest(out)
    assert m["model"] == "hand" and m["config"]["model"]["path"].endswith("hand.h5")
    for want in ("ZeroPadding2D folded", "QConv2DBatchnorm -> QConv2D", "MaxPooling2D -> StreamMaxPooling2D",
                 "ChannelShuffle", "ExactAveragePooling2D", "ExactGlobalAveragePooling2D"):
        assert any(want in n for n in m["rewrites"]), (want, m["rewrites"])
        assert want in stdout
    # the saved reference is the user's model, unchanged (verify compares the C-sim with it)
    ref = project.load_qmodel(out / project.QMODEL)
    assert [type(l).__name__ for l in ref.layers] == [type(l).__name__ for l in hand_model().layers]
    r = _cli("verify", str(out), "--source", "random", "--images", "8", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert res["exact_fraction"] == 1.0 and not res["degenerate"] and res["n_values"] == 80
    rep = _cli("report", str(out), "--format", "json")
    assert rep.returncode == 0, rep.stderr[-1000:]
    rows = {row["layer"] for row in json.loads(rep.stdout)["layers"]}
    assert rows >= {l.name for l in hand_model().layers}  # every layer of the user's model listed
    assert _cli("audit", str(out)).returncode == 0


def test_each_rewrite_layer_by_layer_against_original(hand_build, tmp_path):
    """Every rewritten layer's C-sim output equals the ORIGINAL Keras layer's, code for code."""
    out, _ = hand_build
    imgs = images.load("random", 1, [12, 12, 3], seed=3)
    first, rows = _layer_by_layer(out, images.to_model_input(imgs))
    assert first is None, rows
    # relu1: QConv2DBatchnorm (+ZeroPadding2D) folded; pool1/pool2: max pools; sh3: shuffle spelling;
    # avgq: AveragePooling2D+QActivation; scores: GlobalAveragePooling2D+QActivation; gact: groups=2
    assert all(r.get("mismatched") == 0 for r in rows.values()), rows
    for names in (("conv_bn", "relu1"), ("pool1",), ("gconv", "gact"), ("sh3",), ("avgq",), ("pool2",), ("scores",)):
        assert any(rows.get(n, {}).get("values", 0) > 0 for n in names), (names, sorted(rows))


def test_sequential_flatten_dense_with_input_bits(tmp_path):
    model = flatten_model()
    path = tmp_path / "seq.h5"
    model.save(path)
    with pytest.raises(FlowError, match=r"no input quantizer.*--input-bits"):
        flow.build(config.for_model(path), tmp_path / "refused")
    m = flow.build(config.for_model(path, input_bits=8, input_int=0), tmp_path / "out")
    assert any("QDense -> QConv2D 2x2" in n for n in m["rewrites"])
    res = csim.verify(tmp_path / "out", images.load("random", 8, [8, 8, 1], seed=1))
    assert res["exact_fraction"] == 1.0 and not res["degenerate"], res
    # and layer by layer against the original Sequential model (d1 -> r2, d2 = the output)
    first, rows = _layer_by_layer(tmp_path / "out", images.to_model_input(images.load("random", 1, [8, 8, 1])))
    assert first is None and all(r.get("mismatched") == 0 for r in rows.values()), rows
    assert rows["d1"]["values"] == 16 and rows["d2"]["values"] == 5, rows


def test_yaml_model_path_and_config_errors(tmp_path):
    flatten_model().save(tmp_path / "net.h5")
    (tmp_path / "c.yml").write_text("model: {path: net.h5, input_bits: 8, input_int: 0}\nhls: {part: zcu104}\n")
    cfg = config.load(tmp_path / "c.yml")
    assert cfg.model.path == str(tmp_path / "net.h5") and cfg.model.name == "net"
    for bad, msg in [("model: {path: net.h5, bits: 3}", "unknown key 'model.bits'; nearest valid key"),
                     ("model: {path: net.h5}\nquantization: {weight_bits: 4}", "quantization"),
                     ("model: {path: nope.h5}", "not found"),
                     ("model: {path: net.h5, input_bits: 8}", "go together")]:
        (tmp_path / "b.yml").write_text(bad + "\n")
        with pytest.raises(FlowError, match=msg):
            config.load(tmp_path / "b.yml")


def _inq(x0):
    return QActivation(kq(8, 0), name="inq")(x0)


def _refused(make, *, match):
    tf.keras.utils.set_random_seed(0)
    x0 = L.Input((8, 8, 2), name="image")
    y = make(_inq(x0))
    with pytest.raises(FlowError) as e:
        rewrite(tf.keras.Model(x0, y))
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400
    assert match in msg, msg
    return msg


def _conv(x, name="c"):
    return QConv2D(4, 3, padding="same", kernel_quantizer=kq(), bias_quantizer=kq(8, 2), name=name)(x)


@pytest.mark.parametrize("make,match", [
    (lambda x: QActivation("quantized_relu(4,2)")(L.BatchNormalization(name="bn")(_conv(x))),
     "layer 'bn' (BatchNormalization): un-folded batch-norm"),
    (lambda x: L.Lambda(lambda t: t * 2, name="twice")(x), "layer 'twice' (Lambda)"),
    (lambda x: L.Conv2D(4, 3, name="fconv")(x), "layer 'fconv' (Conv2D): float weights"),
    (lambda x: L.GlobalAveragePooling2D(name="gap")(_conv(x)), "layer 'gap' (GlobalAveragePooling2D): average pooling needs a quantizer"),
    (lambda x: L.MaxPooling2D(2, 1, padding="same", name="mp")(x), "layer 'mp' (MaxPooling2D)"),
    (lambda x: L.MaxPooling2D(2, name="mp")(L.ZeroPadding2D(1, name="zp")(x)), "layer 'zp' (ZeroPadding2D)"),
    (lambda x: _conv(L.ZeroPadding2D(2, name="zp")(x)), "are not the 'same' pads"),
    (lambda x: L.Reshape((8, 16), name="rs")(x), "layer 'rs' (Reshape)"),
    (lambda x: L.Activation("relu", name="relu")(_conv(x)), "layer 'relu' (Activation)"),
    (lambda x: QConv2D(4, 1, strides=2, kernel_quantizer=kq(), bias_quantizer=kq(8, 2), name="s2")(x),
     "layer 's2' (QConv2D): kernel (1, 1) smaller than stride (2, 2)"),
    (lambda x: L.UpSampling2D(name="up")(x), "layer 'up' (UpSampling2D): layer type not supported"),
])
def test_refused_by_name(make, match):
    _refused(make, match=match)


def test_cli_refusal_exit_2_one_line(tmp_path):
    x0 = L.Input((8, 8, 2), name="image")
    y = QActivation("quantized_relu(4,2)")(L.BatchNormalization(name="bn")(_conv(_inq(x0))))
    tf.keras.Model(x0, y).save(tmp_path / "bn.h5")
    r = _cli("build", "--model", str(tmp_path / "bn.h5"), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "layer 'bn' (BatchNormalization)" in lines[0], r.stderr
    assert not (tmp_path / "out").exists()
    r = _cli("build", "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "CONFIG.yml or --model" in r.stderr


def test_qconv2dbatchnorm_fold_is_qkeras_own(tmp_path):
    """Keras level, many random inputs: the folded QConv2D computes QKeras' QConv2DBatchnorm outputs."""
    x0 = L.Input((7, 7, 3))
    layer = QConv2DBatchnorm(5, 3, strides=2, padding="same", kernel_quantizer=kq(5, 0), bias_quantizer=kq(9, 3),
                             name="cbn")
    y = layer(_inq(x0))
    rng = np.random.default_rng(0)
    layer.batchnorm.set_weights([rng.uniform(.2, 3, 5), rng.normal(0, .5, 5), rng.normal(0, .5, 5), rng.uniform(.1, 3, 5)])
    model = tf.keras.Model(x0, y)
    ref, conv, notes = rewrite(model)
    assert notes == ["cbn: QConv2DBatchnorm -> QConv2D with QKeras' folded weights"]
    x = rng.integers(-128, 128, (64, 7, 7, 3)) / 128.0
    np.testing.assert_array_equal(ref.predict(x, verbose=0), conv.predict(x, verbose=0))


def _fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_nets", ROOT / "benchmarks" / "fuzz_nets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


FUZZ_SEEDS = (2,)  # more: benchmarks/fuzz_nets.py and the slow sweep


@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_random_net_exact_or_refused(seed, tmp_path):
    r = _fuzz().check_net(seed, images=8, workdir=str(tmp_path))
    assert r["outcome"] in ("exact", "refused"), r
    if r["outcome"] == "refused":
        assert r["one_line"] and "layer '" in r["message"], r


@pytest.mark.slow
def test_fuzz_sweep(tmp_path):
    """The larger sweep (benchmarks/fuzz_nets.py --nets 200): no inexact or crashing net."""
    rc = _fuzz().main(["--nets", os.environ.get("FUZZ_NETS", "200"), "--json", str(tmp_path / "fuzz.json")])
    assert rc == 0, json.loads((tmp_path / "fuzz.json").read_text())["summary"]["failures"]
