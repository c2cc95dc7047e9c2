"""Fashion-MNIST data, training (tiny run), shipped trained weights, accuracy rows.

None of these needs the Debian package: the IDX reader is tested on files written here in the real
format, training runs on IDX files made from the shipped (real) test sample, and the shipped
weights are checked on that sample. Tests that read the package's files skip when it is absent.
"""
import gzip
import json
import os
import struct

import numpy as np
import pytest

from conftest import CONFIGS, ROOT
from test_cli import assert_one_line_error, run

from fpga_flow import project
from fpga_flow.data import fashion_mnist as fm
from fpga_flow.errors import FlowError

DEMO = CONFIGS / "fmnist_squeezenet1_1_w8_zcu104.yml"


def write_idx(path, a: np.ndarray, gz=True):
    head = bytes([0, 0, 8, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
    raw = head + a.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    """The four IDX files with the real counts, made from the shipped (real) test images."""
    d = tmp_path_factory.mktemp("fmnist")
    x, y = fm.load_sample()
    write_idx(d / "train-images-idx3-ubyte.gz", np.tile(x, (60, 1, 1)))
    write_idx(d / "train-labels-idx1-ubyte.gz", np.tile(y, 60))
    write_idx(d / "t10k-images-idx3-ubyte", np.tile(x, (10, 1, 1)), gz=False)  # plain files are read too
    write_idx(d / "t10k-labels-idx1-ubyte", np.tile(y, 10), gz=False)
    return d


def test_sample_is_real_and_documented():
    x, y = fm.load_sample()
    assert x.shape == (1000, 28, 28) and x.dtype == np.uint8 and y.shape == (1000,)
    prov = json.loads(fm.SAMPLE.with_suffix(".json").read_text())
    assert prov["class_counts"] == np.bincount(y, minlength=10).tolist()
    assert set(np.unique(y)) == set(range(10))
    assert 0.2 < (x > 0).mean() < 0.8  # grey clothes on black, not noise or blank
    if fm.available():
        xt, yt = fm.load("test")
        assert np.array_equal(xt[:1000], x) and np.array_equal(yt[:1000], y)


def test_idx_reader_counts_and_errors(fake_dir, tmp_path):
    x, y = fm.load("train", fake_dir)
    assert x.shape == (60000, 28, 28) and y.shape == (60000,)
    xt, _ = fm.load("test", fake_dir)
    assert xt.shape == (10000, 28, 28)
    bad = tmp_path / "bad"
    bad.mkdir()
    write_idx(bad / "t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 28)))  # wrong count
    write_idx(bad / "t10k-labels-idx1-ubyte.gz", np.zeros(10))
    with pytest.raises(FlowError, match="expected \\[10000, 28, 28\\]"):
        fm.load("test", bad)
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x03" + b"\x00" * 20))
    with pytest.raises(FlowError, match="bad magic"):
        fm.load("test", bad)
    write_idx(bad / "t10k-images-idx3-ubyte.gz", np.zeros((10000, 28, 28)))
    write_idx(bad / "t10k-labels-idx1-ubyte.gz", np.full(10000, 12))
    with pytest.raises(FlowError, match="0..9"):
        fm.load("test", bad)
    raw = gzip.decompress((fake_dir / "train-labels-idx1-ubyte.gz").read_bytes())
    (bad / "train-labels-idx1-ubyte").write_bytes(raw[:-5])
    write_idx(bad / "train-images-idx3-ubyte.gz", np.zeros((60000, 28, 28)))
    with pytest.raises(FlowError, match="truncated"):
        fm.load("train", bad)


def test_padding_to_model_input():
    x, _ = fm.load_sample()
    p = fm.to_model(x[:3])
    assert p.shape == (3, 32, 32, 1)
    assert np.array_equal(p[:, 2:30, 2:30, 0], x[:3]) and p[:, :2].max() == 0 and p[:, :, 30:].max() == 0


def test_missing_data_is_one_line_error(tmp_path):
    r = run("train", CONFIGS / "fmnist_squeezenet1_1.yml", "--data-dir", tmp_path / "nowhere")
    assert_one_line_error(r, "apt-get install dataset-fashion-mnist", "--data-dir")
    r = run("verify", tmp_path, "--source", "fmnist")
    assert r.returncode == 2
    r = run("accuracy", CONFIGS / "fmnist_squeezenet1_1.yml", "--variant", "w3", "--out", tmp_path / "rep")
    assert_one_line_error(r, "--variant w3 is in none of the configs", "w8")
    assert not (tmp_path / "rep" / "accuracy.json").exists()


@pytest.mark.slow  # ~2.5 min on 2 cores: make test-slow
def test_train_tiny_then_accuracy_row(fake_dir, tmp_path):
    """A tiny real training run (256 images, 1 epoch float + 1 epoch QAT) through the CLI, then
    'fpga-flow accuracy' on it: build, QKeras and C-sim on the test images, C-sim == QKeras exactly;
    a build of those weights with other quantizers is refused."""
    out = tmp_path / "w"
    text = (CONFIGS / "fmnist_squeezenet1_1.yml").read_text()
    text = text.split("train:")[0] + (
        f"train:\n  out: {out}\n  checkpoint_dir: {tmp_path / 'ck'}\n  tag: tiny\n  epochs: 1\n  qat_epochs: 1\n"
        "  subset: 256\n  variants:\n    w4: {weight_bits: 4, act_bits: 4, act_int: 2, head_bits: 8, rescale: true, distill: true, qat_temperature: 2}\n")
    cfg = tmp_path / "train.yml"
    cfg.write_text(text)
    r = run("train", cfg, "--data-dir", fake_dir)
    assert r.returncode == 0, r.stderr[-3000:]
    prov = json.loads((out / "tiny.json").read_text())
    assert prov["float"]["epochs"] == 1 and len(prov["float"]["epoch_seconds"]) == 1
    assert prov["qat"]["w4"]["quantization"]["weight_bits"] == 4 and prov["train_images"] == 256
    assert prov["qat"]["w4"]["float_sha256"] == prov["float"]["sha256"]  # fine-tuned from that float model
    assert prov["qat"]["w4"]["qat_temperature"] == 2.0
    # where the epochs were timed, measured (not assumed): the report says so
    assert prov["float"]["machine"]["cpus"] == prov["qat"]["w4"]["machine"]["cpus"] == os.cpu_count()
    assert prov["float"]["n_test"] == 10000 and prov["qat"]["w4"]["n_test"] == 10000
    # test_top1 is the saved model's top-1 on the test set, recomputed here from the file and the
    # labels: that test set is the shipped 1,000 images tiled 10 times, so its top-1 is theirs (a
    # record of the training subset, of the float model or of the model before QAT would differ)
    from fpga_flow.data.images import to_model_input

    xs, ys = fm.load_sample()
    pred = project.load_qmodel(out / "tiny_w4.h5").predict(to_model_input(fm.to_model(xs)), batch_size=250, verbose=0)
    assert abs(float(np.mean(np.argmax(pred, 1) == ys)) - prov["qat"]["w4"]["test_top1"]) < 1e-9
    assert json.loads((tmp_path / "ck" / "tiny_w4.json").read_text())["epoch"] == 1
    # rescale: per-layer integer bits calibrated, recorded, and built into the saved model
    cal = prov["qat"]["w4"]["rescale"]
    assert set(cal) == {"layer_int", "score_int"} and "fire9_relu_expand3x3" in cal["layer_int"]
    assert prov["qat"]["w4"]["quantization"]["layer_int"] == cal["layer_int"]
    assert prov["qat"]["w4"]["distill"]["teacher"] == "float model"
    d = prov["qat"]["w4"]["loss_score_divisor"]  # the rescale's power of two on the scores, divided out in the loss
    assert d > 0 and np.log2(d) == int(np.log2(d))

    from fpga_flow import flow

    saved = flow.quantizers(project.load_qmodel(out / "tiny_w4.h5"))
    assert saved["fire5_relu_squeeze1x1"]["activation"] == f"quantized_relu(4,{cal['layer_int']['fire5_relu_squeeze1x1']})"
    r = run("accuracy", cfg, "--data-dir", fake_dir, "--csim-images", 12, "--jobs", 2, "--out", tmp_path / "rep",
            "--build-dir", tmp_path / "builds")
    assert r.returncode == 0, r.stderr[-3000:]
    (row,) = json.loads((tmp_path / "rep" / "accuracy.json").read_text())
    assert (row["model"], row["variant"], row["bits"], row["n_test"], row["n_csim"]) == ("tiny", "w4", 4, 10000, 12)
    assert row["exact_fraction"] == 1.0 and row["n_values"] == 120 and row["top1_disagreements"] == 0
    assert row["csim_top1"] == row["qkeras_top1_on_csim_images"]
    assert abs(row["qkeras_top1"] - prov["qat"]["w4"]["test_top1"]) < 1e-9  # same model, same images
    md = (tmp_path / "rep" / "accuracy.md").read_text()
    assert "| tiny | w4 | 4/4, classifier 8, per-layer ranges |" in md
    assert row["machine"]["cpus"] == os.cpu_count() and md.count(f"{os.cpu_count()} CPUs") == 2  # C-sim, training
    assert "10,000 Fashion-MNIST test images (28x28 zero-padded to 32x32x1" in md and "all 10 logits" in md
    # the same weights with other activation quantizers: refused before anything is written
    b = tmp_path / "b.yml"
    b.write_text("model: {name: squeezenet1_1, input_shape: [32, 32, 1], classes: 10, stem_stride: 1}\n"
                 "quantization: {weight_bits: 4, act_bits: 4, act_int: 3}\n"
                 f"weights: {{source: {out / 'tiny_w4.h5'}}}\n")
    r = run("build", b, "--out", tmp_path / "b2")
    assert_one_line_error(r, "was trained with", "layer_int")
    assert not (tmp_path / "b2").exists()


def test_shipped_weights_accuracy_on_sample():
    """The shipped default (make demo) weights: QKeras top-1 on the 1,000 shipped test images, and the
    provenance record matches the file."""
    import hashlib

    from fpga_flow import config, flow
    from fpga_flow.data.images import to_model_input

    cfg = config.load(DEMO)
    src = cfg.weights.source
    prov = json.loads((ROOT / "weights" / "fmnist" / "squeezenet1_1.json").read_text())
    assert hashlib.sha256(open(src, "rb").read()).hexdigest() == prov["qat"]["w8"]["sha256"]
    assert prov["qat"]["w8"]["quantization"] == cfg.quantization.to_dict()
    q, _ = flow.zoo_models(cfg)
    x, y = fm.load_sample()
    pred = q.predict(to_model_input(fm.to_model(x)), batch_size=250, verbose=0)
    acc = float(np.mean(np.argmax(pred, 1) == y))
    assert acc >= 0.88, acc  # well above chance (0.1); the full 10k test set: reports/accuracy.md
    # and exactly the QKeras top-1 the shipped default report measured on these 1,000 images with
    # these weights (make report-default: fpga-flow verify ... --source fmnist-sample --images 1000)
    rep = json.loads((ROOT / "reports" / "fmnist_squeezenet1_1_w8_zcu104" / "verify.json").read_text())
    assert (rep["source"], rep["n_images"]) == ("fmnist-sample", 1000)
    assert round(acc * 1000) == round(rep["qkeras_top1"] * 1000), (acc, rep["qkeras_top1"])


@pytest.mark.slow  # the next test covers score_int in C-sim in the default suite
def test_score_int_widens_class_scores_and_stays_exact(build_dir, photos32):
    """quantization.score_int: SqueezeNet's class scores (relu_conv10 and pool10) get their own range;
    the rest keeps act_int; C-sim stays bit-exact."""

    from fpga_flow.verify import csim

    out = build_dir(score_int=6)
    q = project.load_qmodel(out / project.QMODEL)
    assert q.get_layer("relu_conv10").get_config()["activation"] == "quantized_relu(8,6)"
    assert q.get_layer("fire9_relu_expand1x1").get_config()["activation"] == "quantized_relu(8,3)"
    assert q.get_layer("pool10").get_config()["quantizer"] == "quantized_relu(16,6)"
    res = csim.verify(out, photos32)
    assert res["exact_fraction"] == 1.0 and res["distinct_output_codes"] > 10
    from fpga_flow.config import LAYER_INT_MAX, Quantization

    with pytest.raises(FlowError, match="score_int"):
        Quantization(act_bits=4, score_int=LAYER_INT_MAX + 1)


def test_score_int_above_the_width_coarsens_the_step_and_stays_exact(tmp_path, photos32):
    """score_int may exceed the class scores' width (a calibrated SqueezeNet 1.0 + bypass has scores
    above 2**6): quantized_relu(6,7) holds 0..126 in steps of 2, ap_ufixed<6,7> in the C++, bit-exact."""
    from conftest import small_cfg

    from fpga_flow import flow
    from fpga_flow.verify import csim

    cfg = small_cfg(weight_bits=6, act_bits=6, act_int=2, score_int=7)
    q, _ = flow.zoo_models(cfg)
    assert q.get_layer("relu_conv10").get_config()["activation"] == "quantized_relu(6,7)"
    conv10 = q.get_layer("conv10")
    k, b = conv10.get_weights()
    k = np.random.default_rng(0).uniform(0, 0.8, k.shape)  # positive: scores ~90, above the 6-bit width
    conv10.set_weights([k, b])
    out = tmp_path / "out"
    flow.build_keras_model(q, out, cfg=cfg)
    s = q.predict(photos32, verbose=0)
    assert s.max() > 2 ** 6 and np.all(s % 2 == 0) and len(np.unique(s)) > 3
    assert "ap_ufixed<6,7" in (out / "hls4ml_prj" / "firmware" / "parameters.h").read_text() + \
        (out / "hls4ml_prj" / "firmware" / "defines.h").read_text()
    res = csim.verify(out, photos32)
    assert res["exact_fraction"] == 1.0 and res["first_divergent_layer"] is None


def test_head_and_stem_bits_keep_the_classifier_and_first_layer_wider():
    from fpga_flow.config import Quantization
    from fpga_flow.models import build

    q = Quantization(weight_bits=4, act_bits=4, act_int=2, head_bits=8, stem_bits=8, score_int=6)
    m = build("squeezenet1_1", {"input_shape": [32, 32, 1], "classes": 10, "stem_stride": 1}, q)
    assert m.get_layer("conv10").get_config()["kernel_quantizer"]["config"]["bits"] == 8
    assert m.get_layer("conv1").get_config()["kernel_quantizer"]["config"]["bits"] == 8
    assert m.get_layer("relu_conv1").get_config()["activation"] == "quantized_relu(8,2)"
    assert m.get_layer("fire2_squeeze1x1").get_config()["kernel_quantizer"]["config"]["bits"] == 4
    assert m.get_layer("fire9_expand3x3").get_config()["kernel_quantizer"]["config"]["bits"] == 4
    assert m.get_layer("relu_conv10").get_config()["activation"] == "quantized_relu(8,6)"
    assert m.get_layer("fire9_relu_expand3x3").get_config()["activation"] == "quantized_relu(4,2)"
    s = build("shufflenet_v1", {"input_shape": [32, 32, 1], "classes": 10, "groups": 3}, q)
    assert s.get_layer("fc").get_config()["kernel_quantizer"]["config"]["bits"] == 8
    assert s.get_layer("stage4_unit4_gconv2").get_config()["kernel_quantizer"] == "quantized_bits(4,0,alpha=1)"
    assert s.get_layer("conv1").get_config()["kernel_quantizer"]["config"]["bits"] == 8
    with pytest.raises(FlowError, match="stem_bits"):
        Quantization(stem_bits=1)


def test_train_variant_keys_are_validated():
    """qat_temperature: a positive number, a training key (not a quantizer); anything else refused."""
    from fpga_flow import config

    cfg = config.validate({"model": {"name": "squeezenet1_1"}, "quantization": {"act_int": 2},
                           "train": {"variants": {"w4": {"weight_bits": 4, "act_bits": 4, "qat_temperature": 16}}}})
    q = config.variant_quant(cfg, "w4", calibrated=False)
    assert q == config.Quantization(act_int=2, weight_bits=4, act_bits=4)
    assert cfg.train.variants["w4"].qat_temperature == 16 and cfg.train.epochs == 20  # the rest: defaults
    for bad in (0, -1, "hot", True):
        with pytest.raises(FlowError, match="train.variants.w4.qat_temperature"):
            config.validate({"model": {"name": "squeezenet1_1"}, "train": {"variants": {"w4": {"qat_temperature": bad}}}})
    with pytest.raises(FlowError, match="train.variants.w4: quantization.act_int=4 is out of range"):
        config.validate({"model": {"name": "squeezenet1_1"}, "train": {"variants": {"w4": {"act_bits": 4, "act_int": 4}}}})


def test_rescale_is_a_power_of_two_and_sets_layer_ranges():
    """models.squeezenet.rescale_for_quantization: the scaled float model computes exactly the same
    class scores times one power of two; weights end up in [-1, 1); the quantized build carries the
    calibrated per-layer integer bits; layer_int is validated."""
    import tensorflow as tf

    from fpga_flow.models import build, squeezenet as sq
    from fpga_flow.models.weights_init import copy_weights
    from fpga_flow.config import LAYER_INT_MAX, Quantization

    margs = {"input_shape": [32, 32, 1], "classes": 10, "stem_stride": 1}
    q = Quantization(weight_bits=4, act_bits=4, act_int=2, head_bits=8)
    tf.keras.utils.set_random_seed(3)
    f = build("squeezenet1_1", margs, q, quantized=False)
    f.get_layer("conv1").set_weights([f.get_layer("conv1").get_weights()[0] * 3, np.full(64, 0.2, np.float32)])
    g = build("squeezenet1_1", margs, q, quantized=False)
    copy_weights(f, g)
    x, _ = fm.load_sample()
    xm = (fm.to_model(x[:64]).astype(np.float32) / 128 - 1)
    over = sq.rescale_for_quantization(g, q, xm)
    a, b = f.predict(xm, verbose=0), g.predict(xm, verbose=0)
    k = np.log2(b[a > 0] / a[a > 0])
    assert np.all(k == k[0]) and k[0] == int(k[0]) and np.array_equal(b, a * 2.0 ** k[0])
    wmax = {layer.name: np.abs(layer.get_weights()[0]).max() for layer in g.layers if layer.weights}
    for n in [n for n in wmax if "expand" not in n] + [f"fire{i}_expand" for i in range(2, 10)]:
        w = max(v for m, v in wmax.items() if m.startswith(n))  # a fire's two expands share one scale
        assert 0.5 <= w <= 1.0, (n, w)  # the largest power of two that clips no weight
    assert g.get_layer("conv1").get_weights()[0].max() < f.get_layer("conv1").get_weights()[0].max()  # halved or less
    # the scores' scale is reported, and QAT's losses divide it out: the same loss as the float model's
    assert over.pop("score_log2") == k[0]
    from fpga_flow import train as tr

    y = np.arange(len(a)) % 10
    assert np.allclose(tr._ce_loss(2.0 ** k[0])(y, b), tr._ce_loss()(y, a), rtol=1e-5)
    a_d, b_d = (np.c_[y, s[::-1]].astype(np.float32) for s in (a, b))  # teacher: the scores in reverse order
    assert np.allclose(tr._distill_loss(2.0 ** k[0])[0](b_d, b), tr._distill_loss()[0](a_d, a), rtol=1e-5)
    assert not np.allclose(tr._ce_loss()(y, b), tr._ce_loss()(y, a), rtol=1e-2)  # k != 0: it matters here
    qs = Quantization(**{**q.to_dict(), **over})
    qm = build("squeezenet1_1", margs, qs)
    lay = over["layer_int"]
    assert qm.get_layer("fire4_relu_expand3x3").get_config()["activation"] == f"quantized_relu(4,{lay['fire4_relu_expand3x3']})"
    assert qm.get_layer("fire4_squeeze1x1").bias_quantizer_internal.integer == lay["fire4_squeeze1x1"]
    assert qm.get_layer("relu_conv10").get_config()["activation"] == f"quantized_relu(8,{over['score_int']})"
    # the winning class score does not clip: score_int follows the scores, not capped at their width (8)
    # (this untrained net's rescaled scores reach ~6e5: score_int stops at LAYER_INT_MAX)
    assert over["score_int"] >= min(LAYER_INT_MAX, np.ceil(np.log2(b.max()))) and over["score_int"] > 8
    with pytest.raises(FlowError, match="does not have"):
        build("squeezenet1_1", margs, Quantization(layer_int={"fire99_relu": 2}))
    with pytest.raises(FlowError, match="layer_int"):
        Quantization(layer_int={"relu_conv1": -1})


@pytest.mark.parametrize("config,variant", [("fmnist_squeezenet1_1.yml", "w4"), ("fmnist_shufflenet_g3_w1.0.yml", "w8")])
def test_shipped_calibrated_variants_build_from_their_provenance(config, variant):
    """Shipped weights trained with per-layer ranges: the build reads the calibration from the
    provenance, the quantizers match the saved model's (else the build refuses), the file is the
    recorded one, and it classifies the shipped sample."""
    import hashlib

    from fpga_flow import config as fconfig, flow
    from fpga_flow.accuracy import variant_config
    from fpga_flow.data.images import to_model_input

    cfg = variant_config(fconfig.load(CONFIGS / config), variant)
    prov = json.loads((ROOT / "weights" / "fmnist" / f"{cfg.train.tag}.json").read_text())["qat"][variant]
    assert hashlib.sha256(open(cfg.weights.source, "rb").read()).hexdigest() == prov["sha256"]
    assert cfg.quantization.layer_int == prov["rescale"]["layer_int"]
    q, _ = flow.zoo_models(cfg)
    x, y = fm.load_sample()
    acc = float(np.mean(np.argmax(q.predict(to_model_input(fm.to_model(x)), batch_size=250, verbose=0), 1) == y))
    assert acc >= 0.87, acc  # the full 10k test set: reports/accuracy.md
