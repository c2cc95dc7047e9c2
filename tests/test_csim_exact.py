"""Bit-exact C-simulation of the SqueezeNet zoo at reduced input size, with varied activations;
per-layer trace names the first divergent layer; C++ crashes stay in the subprocess."""
import re
import shutil

import numpy as np
import pytest

from fpga_flow import flow
from fpga_flow.hls.precision import input_spec
from fpga_flow.verify import csim, inputs
from fpga_flow.verify.activity import activation_stats

CASES = {
    "v1.1": dict(name="squeezenet1_1", size=32),
    "v1.0": dict(name="squeezenet1_0", size=48),
    "v1.1-simple-bypass": dict(name="squeezenet1_1", size=32, bypass="simple"),
    "v1.0-complex-bypass": dict(name="squeezenet1_0", size=48, bypass="complex"),
    "v1.1-vivado-4bit": dict(name="squeezenet1_1", size=32, backend="Vivado", weight_bits=4, act_bits=4, act_int=2,
                             bias_bits=6),
}


# v1.0 plain and v1.1 simple bypass: make test-slow (v1.0 + complex bypass and the CLI/dataflow tests
# with simple bypass cover them in the default suite)
SLOW = {"v1.0", "v1.1-simple-bypass"}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in CASES])
def test_zoo_bit_exact(build_dir, case):
    kw = CASES[case]
    out = build_dir(**kw)
    size = kw["size"]
    imgs = inputs.photos(4, (size, size, 3))
    res = csim.verify(out, imgs)
    assert res["n_values"] == 4 * 10
    assert res["exact_fraction"] == 1.0, res
    assert res["first_divergent_layer"] is None
    assert res["qkeras_outputs_on_grid"]
    # non-trivial weights: activations vary, are neither all zero nor all saturated
    model = flow.load_qmodel(out / flow.QMODEL)
    x = csim.quantize_to(input_spec(model), inputs.to_model_input(imgs))
    stats = activation_stats(model, x)
    assert len(stats) > 20
    for name, s in stats.items():
        assert s["distinct_codes"] >= 8, (name, s)
        assert s["zero_fraction"] < 0.95, (name, s)
        assert s["saturated_fraction"] < 0.5, (name, s)
    # weights use their grid: at 8 bits many codes, at 4 bits (16 codes exist) at least a few; mostly non-zero
    wbits = kw.get("weight_bits", 8)
    for name in ("conv1", "fire3_expand3x3", "conv10"):
        w = model.get_layer(name).get_weights()[0]
        assert np.mean(w != 0) > 0.3, name
        if name != "conv10":  # the classifier's small weights use few codes by construction
            assert len(np.unique(w)) >= min(16, 2 ** (wbits - 2)), name


def test_random_source_and_all_outputs_vary(build_dir):
    out = build_dir(name="squeezenet1_1", size=32)
    res = csim.verify(out, inputs.load("random", 3, (32, 32, 3), seed=5), jobs=2)
    assert res["exact_fraction"] == 1.0 and res["jobs"] == 2


def _weights_of(prj, layer):
    cpp = (prj / "firmware" / "myproject.cpp").read_text()
    m = re.search(r"\(.*, (w\d+), (b\d+)\); // " + re.escape(layer) + r"\n", cpp)
    assert m, f"no call for {layer}"
    return m.group(1), m.group(2)


def test_trace_names_first_divergent_layer(build_dir, tmp_path):
    src = build_dir(name="squeezenet1_1", size=32)
    out = shutil.copytree(src, tmp_path / "broken")
    prj = out / flow.PROJECT
    _, b = _weights_of(prj, "fire3_expand3x3")
    bias_file = prj / "firmware" / "weights" / f"{b}.txt"
    vals = [float(v) for v in bias_file.read_text().replace("\n", "").split(",") if v.strip()]
    bias_file.write_text(", ".join(str(v + 1.0) for v in vals))  # a bug injected into one layer's C++ data
    res = csim.verify(out, inputs.photos(2, (32, 32, 3)))
    assert res["exact_fraction"] < 1.0
    assert res["first_divergent_layer"] == "fire3_expand3x3"
    before = [r for r in res["trace"] if r["layer"] == "fire3_expand1x1"][0]
    assert before["mismatched"] == 0


def test_cpp_crash_does_not_kill_caller(build_dir, tmp_path):
    src = build_dir(name="squeezenet1_1", size=32)
    out = shutil.copytree(src, tmp_path / "crash")
    w, _ = _weights_of(out / flow.PROJECT, "conv1")
    (out / flow.PROJECT / "firmware" / "weights" / f"{w}.txt").unlink()  # the C++ calls exit(1)
    with pytest.raises(RuntimeError, match="crashed.*does not exist"):
        csim.run_csim(out, np.zeros((1, 32, 32, 3), np.float32))


def test_build_dir_is_relocatable(build_dir, tmp_path):
    src = build_dir(name="squeezenet1_1", size=32)
    out = shutil.copytree(src, tmp_path / "moved")
    shutil.rmtree(src.parent / "not-there", ignore_errors=True)
    res = csim.verify(out, inputs.photos(1, (32, 32, 3)))
    assert res["exact_fraction"] == 1.0
