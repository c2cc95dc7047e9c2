"""Boundary tests of the exactness promise (verify/csim.py): an error of ONE LSB in one weight or bias
code of the written C++ is caught, names exactly that layer, and fails verify (exit 1); ``passed``
needs an exact fraction of exactly 1.0; the comparison has no tolerance.

The errors are injected into a copy of a real build (tests/lsb_edit.py edits the C-sim's weights file and
the synthesis header alike); every number asserted below was measured on these real runs."""
import json
import re

import numpy as np
import pytest

from fastkit import cli, copy_project, sq32  # noqa: F401 (fixture)
from lsb_edit import layer_arrays, one_lsb

from fpga_flow import project
from fpga_flow.data import images
from fpga_flow.hls.fixed import FixedSpec
from fpga_flow.verify import csim

pytestmark = pytest.mark.fast


def _photos(n=4):
    return images.photos(n, (32, 32, 3))


def _broken(src, tmp_path, layer, which, index=0):
    out = copy_project(src, tmp_path / f"{layer}_{which}")
    w, b = layer_arrays(out / project.PROJECT, layer)
    change = one_lsb(out / project.PROJECT, w if which == "w" else b, index)
    return out, change


@pytest.mark.parametrize("layer", ["conv1", "fire3_expand3x3"])
def test_one_lsb_bias_error_names_exactly_that_layer(sq32, tmp_path, layer):
    """First layer and a layer in the middle (after a fork, inside a Fire module): the trace finds every
    layer before it identical and the edited layer divergent."""
    out, change = _broken(sq32, tmp_path, layer, "b")
    assert abs(change["new"] - change["old"]) == change["lsb"]
    res = csim.verify(out, _photos())
    assert res["n_mismatched_values"] > 0 and res["exact_fraction"] < 1.0 and not res["passed"]
    assert res["first_divergent_layer"] == layer
    names = [r["layer"] for r in res["trace"]]
    before = names[:names.index(layer)]
    assert all(r["mismatched"] == 0 for r in res["trace"] if r["layer"] in before)
    row = res["trace"][names.index(layer)]
    assert row["mismatched"] > 0


def test_cli_verify_exits_1_naming_the_layer_of_a_one_lsb_bias_error(sq32, tmp_path):
    """conv10 (the classifier) with one bias code one LSB up, project recompiled: measured 4 of the 40
    output codes of 4 photos differ, i.e. exact_fraction is exactly 0.9; verify exits 1 and names conv10
    (a verify that passed at 0.9, or at any fraction below 1.0, fails here)."""
    out, change = _broken(sq32, tmp_path, "conv10", "b")
    project.compile_library(out)  # the weights headers changed too: the library is rebuilt from them
    r = cli("verify", out, "--images", 4, "--source", "photos", "--json")
    assert r.returncode == 1, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert res["passed"] is False and res["degenerate"] is False
    assert res["first_divergent_layer"] == "conv10"
    assert res["n_values"] == 40 and res["n_mismatched_values"] == 4 and res["exact_fraction"] == 0.9


def test_one_lsb_weight_error_changes_one_value_and_fails(sq32, tmp_path):
    """One weight code of conv10 one LSB off: measured exactly one of the 40 output codes differs
    (exact_fraction 0.975). verify counts it, does not pass, and traces the image it is in; the
    unedited build passes with 1.0."""
    ok = csim.verify(sq32, _photos(), source="photos")
    assert ok["passed"] is True and ok["exact_fraction"] == 1.0 and ok["n_mismatched_values"] == 0
    assert ok["first_divergent_layer"] is None and ok["images_exact"] == 4 and ok["n_values"] == 40
    # every field verify --json documents, with its value checked where the test can know it
    assert set(ok) == {"model", "source", "n_images", "n_values", "exact_fraction", "n_mismatched_values",
                       "images_exact", "qkeras_outputs_on_grid", "output_type", "distinct_output_codes",
                       "first_divergent_layer", "csim_seconds", "csim_seconds_per_image", "qkeras_seconds_per_image",
                       "jobs", "top1_agreement_float", "top1_agreement_qkeras", "top1_disagreements",
                       "degenerate_reason", "degenerate", "passed"}
    last = project.load_qmodel(sq32 / project.QMODEL).layers[-1].name
    assert (ok["model"], ok["source"], ok["n_images"], ok["jobs"]) == ("squeezenet1_1", "photos", 4, 1)
    assert ok["output_type"] == project.load_manifest(sq32)["types"][last]["type"]
    assert ok["qkeras_outputs_on_grid"] is True and ok["degenerate"] is False and ok["degenerate_reason"] is None
    assert ok["top1_agreement_qkeras"] == 1.0 and ok["top1_disagreements"] == 0
    assert 0.0 <= ok["top1_agreement_float"] <= 1.0
    assert ok["csim_seconds"] > 0 and ok["csim_seconds_per_image"] > 0 and ok["qkeras_seconds_per_image"] > 0
    assert abs(ok["csim_seconds_per_image"] - ok["csim_seconds"] / 4) < 0.01

    out, _ = _broken(sq32, tmp_path, "conv10", "w")
    res = csim.verify(out, _photos())
    assert res["n_mismatched_values"] == 1 and res["exact_fraction"] == 1 - 1 / 40 and res["images_exact"] == 3
    assert res["passed"] is False and res["first_divergent_layer"] == "conv10"
    # the differing value, read from the raw outputs of both sides (not from verify's summary)
    model = project.load_qmodel(out / project.QMODEL)
    x = csim.quantize_to(csim.input_spec(model), images.to_model_input(_photos()))
    spec = csim._spec(res["output_type"])
    kc = np.rint(model.predict(x, verbose=0).astype(np.float64) * 2.0**spec.frac).reshape(4, -1)
    cc = np.rint(csim.run_csim(out, x).astype(np.float64) * 2.0**spec.frac).reshape(4, -1)
    assert np.count_nonzero(kc != cc) == 1
    assert res["trace_image"] == int(np.nonzero(np.any(kc != cc, axis=1))[0][0])
    assert res["distinct_output_codes"] == len(np.unique(kc)) and ok["distinct_output_codes"] == len(np.unique(kc))
    top = np.argmax(kc, 1) != np.argmax(cc, 1)
    assert res["top1_disagreements"] == int(top.sum()) and res["top1_agreement_qkeras"] == 1 - top.mean()
    # the trace of the divergent image: every traced layer once, in order, with its value count
    rows = {r["layer"]: r for r in res["trace"]}
    assert len(rows) == len(res["trace"]) and rows["conv10"]["mismatched"] > 0
    assert all(r["values"] > 0 and 0 <= r["mismatched"] <= r["values"] for r in res["trace"])


def test_comparison_has_no_tolerance(sq32, monkeypatch):
    """The C-sim's output codes with ONE value moved by one code (one LSB of the output type, the
    smallest difference a C++ output can have): verify counts exactly that value and fails. The C-sim
    really runs; only its result is shifted on the way back."""
    real = csim.run_csim
    last = project.load_qmodel(sq32 / project.QMODEL).layers[-1].name
    spec = csim._spec(project.load_manifest(sq32)["types"][last]["type"])

    def shifted(*a, **k):
        y = real(*a, **k)
        if k.get("trace"):
            return y
        y = np.array(y, np.float64)
        y.reshape(-1)[7] += 2.0**-spec.frac
        return y

    monkeypatch.setattr(csim, "run_csim", shifted)
    res = csim.verify(sq32, _photos(2))
    assert res["n_values"] == 20 and res["n_mismatched_values"] == 1 and res["exact_fraction"] == 0.95
    assert res["images_exact"] == 1 and res["passed"] is False and res["trace_image"] == 0
    assert res["first_divergent_layer"] is None  # the layers themselves agree: the trace finds none


# ---------------------------------------------------------------- the pieces of the comparison, by hand

def test_spec_reads_the_written_types():
    assert csim._spec("ap_ufixed<8,3,AP_RND_CONV,AP_SAT>") == FixedSpec(False, 8, 3, "RND_CONV", "SAT")
    assert csim._spec("ap_fixed<16,6>") == FixedSpec(True, 16, 6)
    s = csim._spec("ap_fixed<10,2,AP_RND,AP_WRAP>")
    assert (s.signed, s.width, s.integer, s.frac, s.rounding, s.saturation) == (True, 10, 2, 8, "RND", "WRAP")


def test_quantize_to_rounds_half_to_even_and_saturates():
    spec = FixedSpec(True, 4, 2)  # codes -8..7, LSB 0.25: values -2.0 .. 1.75
    x = np.array([0.125, 0.375, -0.125, 0.3, 1.75, 1.9, 5.0, -2.0, -2.2, -9.0])
    # 0.125 = half an LSB above 0 -> 0 (even); 0.375 = 1.5 LSB -> 2 LSB = 0.5; -0.125 -> -0.0
    want = np.array([0.0, 0.5, 0.0, 0.25, 1.75, 1.75, 1.75, -2.0, -2.0, -2.0], np.float32)
    got = csim.quantize_to(spec, x)
    assert got.dtype == np.float32 and np.array_equal(got, want), got
    u = FixedSpec(False, 3, 1)  # codes 0..7, LSB 0.25
    assert np.array_equal(csim.quantize_to(u, np.array([-0.1, 0.6, 2.0])), np.array([0.0, 0.5, 1.75], np.float32))


def test_degenerate_reason_boundaries():
    x2 = np.arange(2 * 12, dtype=np.float32).reshape(2, 2, 2, 3)
    # a single value everywhere: no information (any number of images, any inputs)
    assert "same code (0)" in csim.degenerate_reason(np.zeros((1, 10)), x2[:1])
    assert "same code (3)" in csim.degenerate_reason(np.full((2, 10), 3.0), x2)
    # two codes are enough for information when the images differ in output
    assert csim.degenerate_reason(np.array([[0.0] * 9 + [1.0], [1.0] + [0.0] * 9]), x2) is None
    # one image with two different codes: fine
    assert csim.degenerate_reason(np.array([[0.0, 1.0]]), x2[:1]) is None
    # same output vector for different inputs: no dependence on the input
    same = np.tile(np.array([0.0, 1.0, 2.0]), (3, 1))
    x3 = np.arange(3 * 4, dtype=np.float32).reshape(3, 4)
    assert "do not depend on the input" in csim.degenerate_reason(same, x3)
    assert "all 3 images" in csim.degenerate_reason(same, x3)
    # ... unless the inputs are identical too
    assert csim.degenerate_reason(same, np.zeros_like(x3)) is None
    # one of three images differs: the output does depend on the input
    mixed = same.copy()
    mixed[2, 0] = 5.0
    assert csim.degenerate_reason(mixed, x3) is None
    # images given as (n, values) or (n, h, w, c): flattened per image
    assert csim.degenerate_reason(same.reshape(3, 3, 1), x3.reshape(3, 2, 2)) is not None


def test_trace_names_a_layer_whose_size_differs(sq32, monkeypatch):
    """A traced layer whose C++ output has another number of values than the Keras layer (a shape bug)
    is the first divergent layer, with the sizes in its row."""
    real = csim.run_csim

    def short_trace(*a, **k):
        y, tr = real(*a, **k)
        tr["fire2_expand1x1"] = tr["fire2_expand1x1"][..., :-1]  # one channel short
        return y, tr

    monkeypatch.setattr(csim, "run_csim", short_trace)
    model = project.load_qmodel(sq32 / project.QMODEL)
    m = project.load_manifest(sq32)
    x = csim.quantize_to(csim.input_spec(model), images.to_model_input(_photos(1)))
    first, rows = csim.first_divergent_layer(sq32, model, m, x)
    assert first == "fire2_expand1x1"
    row = next(r for r in rows if r["layer"] == "fire2_expand1x1")
    n = int(np.prod(model.get_layer("fire2_expand1x1").output_shape[1:]))
    c_size, k_size = map(int, re.fullmatch(r"size (\d+) vs (\d+)", row["status"]).groups())
    assert k_size == n and c_size < n
    assert all(r.get("mismatched", 0) == 0 for r in rows if r["layer"] != "fire2_expand1x1")


def test_dask_scheduler_path_compares_the_same_way(sq32):
    """verify with a one-worker Dask cluster: the same exact comparison (the C-sim runs on the worker)."""
    res = csim.verify(sq32, _photos(2), scheduler="local:1")
    assert res["passed"] and res["exact_fraction"] == 1.0 and res["n_values"] == 20
    assert res["workers"] == 1 and res["scheduler"] == "local:1" and "jobs" not in res
