"""CLI: models list, error paths (one line, exit 2, nothing written), verify --json, report."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CONFIGS, ROOT

SMALL = str(CONFIGS / "squeezenet1_1_32_w8_test.yml")


def run(*args, cwd=ROOT):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "fpga_flow.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=900)


def assert_one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("fpga-flow: error:"), lines[0]
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_models_lists_names():
    r = run("models")
    assert r.returncode == 0
    names = [l.split()[0] for l in r.stdout.strip().splitlines()]
    assert {"squeezenet1_0", "squeezenet1_1"} <= set(names)


def test_help_documents_commands():
    r = run("--help")
    for cmd in ("models", "build", "verify", "report", "train", "accuracy", "demo"):
        assert cmd in r.stdout
    r = run("verify", "--help")
    for opt in ("--images", "--source", "--json", "FOLDER", ".npy", "fmnist-sample"):
        assert opt in r.stdout


@pytest.mark.parametrize("yaml_text,needles", [
    ("model: {name: alexnet}\n", ["model.name='alexnet' is unknown", "fpga-flow models"]),
    ("model: {name: squeezenet1_1\n  bad", ["malformed YAML"]),
    ("model: {name: squeezenet1_1}\nquantization: {weight_bits: 40}\n", ["weight_bits=40", "2..16"]),
    ("model: {name: squeezenet1_1}\nhls: {part: xc9zz999}\n", ["unknown part or board 'xc9zz999'"]),
    ("model: {name: squeezenet1_1}\nfoo: 1\n", ["unknown section"]),
    ("model: {name: squeezenet1_1}\nweights: {source: missing.h5}\n", ["missing.h5", "not found"]),
])
def test_build_config_errors(tmp_path, yaml_text, needles):
    cfg = tmp_path / "c.yml"
    cfg.write_text(yaml_text)
    out = tmp_path / "out"
    r = run("build", cfg, "--out", out)
    assert_one_line_error(r, *needles)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["c.yml"]  # no temp dirs left behind


def test_build_cli_errors(tmp_path):
    out = tmp_path / "o"
    assert_one_line_error(run("build", tmp_path / "nope.yml", "--out", out), "not found")
    assert_one_line_error(run("build", SMALL, "--out", out, "--part", "virtex1000"), "unknown part")
    assert_one_line_error(run("build", SMALL, "--out", out, "--set", "quantization.act_bits=1"), "act_bits=1")
    assert_one_line_error(run("build", SMALL, "--out", out, "--set", "nonsense"), "key=value")
    assert_one_line_error(run("build", SMALL, "--out", out, "--set", "model.input_shape=[8,8,3]"), "too small")
    assert not out.exists()


def test_existing_dir_without_force_untouched(tmp_path):
    out = tmp_path / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = run("build", SMALL, "--out", out)
    assert_one_line_error(r, "already exists", "--force")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"


def test_verify_and_report_missing_dir(tmp_path):
    assert_one_line_error(run("verify", tmp_path / "none"), "not a built flow directory")
    assert_one_line_error(run("report", tmp_path / "none"), "not a built flow directory")


def test_build_verify_report_end_to_end(tmp_path):
    out = tmp_path / "b"
    r = run("build", SMALL, "--out", out, "--set", "model.bypass=simple")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "flow.json").is_file() and (out / "hls4ml_prj" / "build_prj.tcl").is_file()
    assert (out / "hls4ml_prj" / "firmware" / "myproject.cpp").is_file()
    assert json.loads((out / "flow.json").read_text())["config"]["model"]["bypass"] == "simple"

    r = run("verify", out, "--images", 3, "--source", "photos", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)  # stdout holds exactly one JSON object
    assert res["exact_fraction"] == 1.0 and res["n_values"] == 30 and res["first_divergent_layer"] is None
    assert isinstance(res["exact_fraction"], float) and isinstance(res["n_values"], int)

    # a folder of the user's own images, and a .npy array
    from skimage.io import imsave

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        imsave(folder / f"im{i}.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), check_contrast=False)
    r = run("verify", out, "--images", 2, "--source", folder, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["n_images"] == 2
    arr = tmp_path / "x.npy"
    np.save(arr, rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8))
    r = run("verify", out, "--source", arr, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["n_images"] == 2
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 8, 8, 3), np.uint8))
    assert_one_line_error(run("verify", out, "--source", bad), "shape [8, 8, 3]", "[32, 32, 3]")
    assert_one_line_error(run("verify", out, "--source", tmp_path / "nothing"), "--source")

    r = run("report", out, "--format", "json")
    assert r.returncode == 0
    rep = json.loads(r.stdout)
    assert rep["params"] == json.loads((out / "flow.json").read_text())["params"]
    assert rep["weight_bits"] == sum(l["storage_bits"] for l in rep["layers"])
    r = run("report", out)
    assert r.returncode == 0 and "| fire2_squeeze1x1 |" in r.stdout

    # (--force over an existing build: tests/test_fuzz_cli.py::test_fuzz_real_builds_over_an_existing_build
    # and tests/test_safety.py)


def test_verify_mismatch_exits_1(build_dir, tmp_path):
    """One bias code of fire3_expand3x3 one LSB up (its type's LSB, read from defines.h): verify exits 1
    and names exactly that layer (was: +2.0 on every bias of the last layer, and any layer named)."""
    import shutil

    from lsb_edit import layer_arrays, one_lsb

    out = shutil.copytree(build_dir(name="squeezenet1_1", size=32), tmp_path / "bad")
    _, b = layer_arrays(out / "hls4ml_prj", "fire3_expand3x3")
    change = one_lsb(out / "hls4ml_prj", b)
    assert change["new_code"] - change["old_code"] == 1
    r = run("verify", out, "--images", 2, "--json")
    assert r.returncode == 1
    res = json.loads(r.stdout)
    assert res["exact_fraction"] < 1.0 and res["passed"] is False
    assert res["first_divergent_layer"] == "fire3_expand3x3"
