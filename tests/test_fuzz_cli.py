"""Property-based fuzzing of configs and CLI arguments (hypothesis).

Property: random mutations of the shipped YAML files and of argument values end in exit 0, 1 or 2;
exit 2 prints exactly one line ('fpga-flow: error: ...'); no run ends in the catch-all
'fpga-flow: failed:' (an unhandled exception: a bug, not an input error) or a traceback; no output
directory is ever partially written, and a user's directory is never touched.
"""
import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CONFIGS, ROOT

SHIPPED = sorted(CONFIGS.glob("*.yml"))
SECTION_KEYS = {
    "model": ["name", "input_shape", "classes", "bypass", "groups", "width", "stem_stride", "base_e", "sr", "pct3x3",
              "pool_padding", "dropout", "bogus"],
    "quantization": ["weight_bits", "act_bits", "act_int", "input_int", "score_int", "head_bits", "gap_bits",
                     "layer_int", "bogus"],
    "weights": ["source", "seed", "calibration_images", "bogus"],
    "hls": ["backend", "part", "clock_period_ns", "reuse_factor", "strategy", "io_type", "memory_budget",
            "min_packing", "reuse_factors", "fifo_depths", "bogus"],
    "train": ["epochs", "batch_size", "variants", "lr", "bogus"],
}
VALUES = st.sampled_from([
    None, True, False, -7, -1, 0, 1, 2, 3, 7, 8, 16, 33, 224, 10**9, -0.5, 0.0, 0.5, 1.5, 1e9, float("nan"),
    "", "x", "auto", "none", "simple", "valid", "zcu104", "ZCU102", "xczu7ev", "xczu7ev-ffvc1156-1-e", "Vivado",
    "random", "weights/fmnist/nothing.h5", "squeezenet1_0", "shufflenet_v1", [], [32], [32, 32, 3], [8, 8, 3],
    [64, 64, 1], ["a", 2, 3], {}, {"a": 1}, {"conv10": 0}, {"name": "xc"},
    {"name": "xczu6eg-ffvb1156-2-e", "bram18k": 1428, "uram": 0, "dsp": 1973, "lut": 214604, "ff": 429208},
])


PLAUSIBLE = {  # values near the valid range of each key: they get past the schema and reach the builders
    "input_shape": [[32, 32, 3], [33, 33, 3], [31, 31, 1], [64, 48, 3], [16, 16, 3], [224, 224, 3], [8, 8, 3]],
    "classes": [2, 3, 10, 1, 0], "bypass": ["none", "simple", "complex", "full"], "groups": [1, 2, 3, 4, 8, 5],
    "width": [0.25, 0.5, 1.0, 2.0, 0.75], "stem_stride": [0, 1, 2, 3, 4], "base_e": [2, 16, 1], "sr": [0.125, 1, 0],
    "pct3x3": [0.5, 0.99, 1], "pool_padding": ["valid", "same"], "dropout": [0, 0.5, 1],
    "weight_bits": [2, 4, 6, 8, 16, 17, 1], "act_bits": [2, 3, 8, 16], "act_int": [0, 3, 7, 8], "input_int": [0, 1, 7],
    "score_int": [0, 6, 16, 17], "head_bits": [2, 8, 16], "gap_bits": [8, 12, 32, 33], "layer_int": [{}, {"conv1": 2}],
    "source": ["random", "weights/fmnist/squeezenet1_1_w8.h5", "weights/fmnist/squeezenet1_1_w4.h5"],
    "seed": [0, 1, 2**31], "calibration_images": [1, 2, 4, 0],
    "backend": ["Vitis", "Vivado", "Quartus"], "part": ["zcu104", "ZCU102", "pynq-z2", "xczu9eg", "u250"],
    "clock_period_ns": [2.5, 5, 10, 0.1], "reuse_factor": ["auto", 1, 4, 64, 100000],
    "strategy": ["Resource", "Latency"], "memory_budget": [0.05, 0.5, 1.0], "min_packing": [0, 0.8, 1],
    "reuse_factors": [{}, {"conv10": 3}, {"nope": 2}], "fifo_depths": [{}, {"nope": 8}],
    "epochs": [0, 1], "batch_size": [1, 0], "lr": [0.001, -1],
}


@st.composite
def mutated_config(draw):
    path = draw(st.sampled_from(SHIPPED))
    cfg = yaml.safe_load(path.read_text())
    for _ in range(draw(st.integers(1, 2))):
        section = draw(st.sampled_from(sorted(SECTION_KEYS)))
        op = draw(st.sampled_from(["set"] * 6 + ["delete", "section"]))
        if op == "section":
            cfg[section] = draw(VALUES)
            continue
        if not isinstance(cfg.get(section), dict):
            cfg[section] = {}
        key = draw(st.sampled_from(SECTION_KEYS[section]))
        if op == "delete":
            cfg[section].pop(key, None)
        elif key in PLAUSIBLE and draw(st.booleans()):
            cfg[section][key] = copy.deepcopy(draw(st.sampled_from(PLAUSIBLE[key])))
        else:
            cfg[section][key] = copy.deepcopy(draw(VALUES))
    return path, cfg


def _main(argv, cwd=ROOT):
    """Run the CLI in this process (fast: TensorFlow is imported once); (rc, stderr lines)."""
    from fpga_flow import cli

    err = io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                rc = cli.main([str(a) for a in argv])
            except SystemExit as e:  # argparse
                rc = e.code
    finally:
        os.chdir(old)
    return rc, [l for l in err.getvalue().splitlines() if l.strip()]


def _check(rc, lines, allowed=(0, 1, 2)):
    text = "\n".join(lines)
    assert rc in allowed, (rc, text)
    assert "fpga-flow: failed:" not in text, text  # an unhandled exception, i.e. a bug
    assert "Traceback" not in text, text
    if rc == 2:
        assert len(lines) == 1 and lines[0].startswith("fpga-flow: error:"), text


def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): (p.read_bytes() if p.is_file() else None) for p in sorted(d.rglob("*"))}


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(mutated_config(), st.sampled_from(["absent"] * 4 + ["user", "user-force"]))
def test_fuzz_config_mutations(case, target):
    """Every shipped config, mutated, through 'build --check' (schema, part, weights file, --out,
    the QKeras model) in-process: only exit 0 or 2, one line for 2, nothing written or deleted."""
    src, cfg = case
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        f = td / "cfg.yml"
        f.write_text(yaml.safe_dump(cfg))
        out = td / "out"
        if target != "absent":
            out.mkdir()
            (out / "thesis.txt").write_text("mine")
        before = _snapshot(td)
        argv = ["build", f, "--out", out, "--check"] + (["--force"] if target == "user-force" else [])
        rc, lines = _main(argv)
        _check(rc, lines, allowed=(0, 2))
        assert _snapshot(td) == before
        if target != "absent":
            assert rc == 2  # a user's directory is never a valid target


ARG_VALUES = st.sampled_from(["-3", "0", "1", "2", "x", "", "1e3", "--", "photos", "random", "fmnist-sample",
                              "nothing.npy", "zcu104", "xc9", "model.classes=3", "model.x=1", "=", "a.b.c=1"])


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(st.tuples(st.sampled_from(["--images", "--jobs", "--seed", "--source", "--format", "--part",
                                           "--set", "--bogus"]), ARG_VALUES), min_size=1, max_size=3),
       st.sampled_from(["verify", "report", "build"]))
def test_fuzz_cli_arguments(built_small, opts, cmd):
    """Random option values for verify/report (on a real build) and build --check."""
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        before = _snapshot(built_small)
        argv = [cmd]
        if cmd == "build":
            argv += [CONFIGS / "squeezenet1_1_32_w8_test.yml", "--out", td / "o", "--check"]
        else:
            argv += [built_small]
        for k, v in opts:
            argv += [k, v]
        if cmd == "verify":
            argv += ["--images", "2"] if "--images" not in argv else []
        rc, lines = _main(argv)
        _check(rc, lines)
        assert _snapshot(built_small) == before  # verify and report never modify the build
        assert not (td / "o").exists()


@pytest.fixture(scope="module")
def built_small(build_dir):
    return build_dir(name="squeezenet1_1", size=32)


SMALL_MUTATIONS = [  # (key=value for --set): valid and invalid, through a real build in a subprocess
    "model.classes=3", "model.bypass=complex", "hls.reuse_factor=7", "quantization.act_bits=5",
    "model.input_shape=[40,40,3]", "hls.part=xc7z020", "hls.fifo_depths={fire2_expand1x1_in:1}",
    "model.stem_stride=3", "quantization.weight_bits=3", "hls.memory_budget=0.05",
]


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(st.sampled_from(SMALL_MUTATIONS), min_size=1, max_size=2, unique=True))
def test_fuzz_real_builds_over_an_existing_build(built_small, sets):
    """Real 'build --force' runs (subprocess: stderr as a user sees it) of mutated small configs over
    an existing build: exit 0 leaves a complete new build, any other exit leaves the old build
    byte for byte; no temporary directories remain."""
    import shutil

    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        out = shutil.copytree(built_small, td / "b")
        before = _snapshot(out)
        argv = [sys.executable, "-m", "fpga_flow.cli", "build", CONFIGS / "squeezenet1_1_32_w8_test.yml", "--out",
                out, "--force"]
        for s in sets:
            argv += ["--set", s]
        r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=ROOT, timeout=900,
                           env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        _check(r.returncode, [l for l in r.stderr.splitlines() if l.strip()])
        if r.returncode == 0:
            m = json.loads((out / "flow.json").read_text())
            assert (out / "hls4ml_prj" / "firmware" / "myproject.cpp").is_file() and m["fpga_flow_version"]
        else:
            assert _snapshot(out) == before
        assert sorted(p.name for p in td.iterdir()) == ["b"]
