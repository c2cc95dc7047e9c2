"""No data loss, one-line input errors, custom parts, degenerate verification (issue 14)."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CONFIGS, ROOT
from test_cli import SMALL, assert_one_line_error, run

from fpga_flow import project

from fpga_flow import outdir
from fpga_flow.errors import FlowError


def _user_dir(p: Path) -> Path:
    p.mkdir()
    (p / "thesis.txt").write_text("mine")
    return p


def _untouched(p: Path):
    assert sorted(x.name for x in p.iterdir()) == ["thesis.txt"]
    assert (p / "thesis.txt").read_text() == "mine"


# ------------------------------------------------------------------ the reproductions of the issue

# in-process duplicates of these two run in make test-fast (tests/test_fast_outdir.py); the subprocess
# versions below stay in make test-slow to keep the default suite under its time budget
@pytest.mark.slow
def test_demo_never_replaces_a_users_directory(tmp_path):
    d = _user_dir(tmp_path / "d")
    assert_one_line_error(run("demo", "--out", d), "already exists")
    _untouched(d)
    assert_one_line_error(run("demo", "--out", d, "--force"), "not a build directory made by fpga-flow")
    _untouched(d)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["d"]  # no temporary siblings either


def test_build_force_refuses_directories_the_flow_did_not_make(tmp_path):
    d = _user_dir(tmp_path / "d")
    assert_one_line_error(run("build", SMALL, "--out", d, "--force"), "not a build directory made by fpga-flow")
    _untouched(d)
    # '--out .': the working directory itself
    r = run("build", SMALL, "--out", ".", "--force", cwd=d)
    assert_one_line_error(r, "not a build directory made by fpga-flow")
    _untouched(d)
    # a flow.json that fpga-flow did not write does not make a directory ours
    (d / "flow.json").write_text('{"mine": true}')
    assert_one_line_error(run("build", SMALL, "--out", d, "--force"), "not a build directory")
    assert (d / "thesis.txt").read_text() == "mine"


@pytest.mark.slow
def test_html_report_never_replaces_a_users_directory(build_dir, tmp_path):
    d = _user_dir(tmp_path / "d")
    assert_one_line_error(run("report", build_dir(name="squeezenet1_1", size=32), "--format", "html", "--out", d),
                          "not a report directory")
    _untouched(d)


@pytest.mark.parametrize("setting,needles", [
    ("model.input_shape=224", ["model.input_shape=224", "[height, width, channels]"]),
    ("model.classes=ten", ["model.classes='ten'", "integer >= 2"]),
    ("model.stem_stride=0", ["model.stem_stride=0", "use 1 or 2"]),
    ("model.name=[squeezenet1_1]", ["model.name=", "is unknown"]),
    ("weights.seed=x", ["weights.seed='x'"]),
    ("weights.calibration_images=0", ["weights.calibration_images=0", "1..10000"]),
    ("weights.calibration_images=-4", ["weights.calibration_images=-4", "1..10000"]),
    ("hls.reuse_factor=0", ["hls.reuse_factor=0", "'auto'"]),
    ("hls.fifo_depths={fire2_concat_in0: 0}", ["hls.fifo_depths.fire2_concat_in0=0"]),
    ("hls.clock_period_ns=fast", ["hls.clock_period_ns='fast'", "nanoseconds"]),
    ("hls.memory_budget=true", ["hls.memory_budget=True"]),
    ("hls.colour=red", ["unknown key 'hls.colour'"]),
    ("quantization.act_int=true", ["quantization.act_int=True"]),
    ("hls.part=xczu7ev-ffvc1156", ["unknown part or board 'xczu7ev-ffvc1156'"]),  # no speed grade: no guess
    ("hls.part=xczu7", ["unknown part or board 'xczu7'"]),
])
def test_bad_values_are_one_line_errors(tmp_path, setting, needles):
    out = tmp_path / "out"
    assert_one_line_error(run("build", SMALL, "--out", out, "--set", setting), *needles)
    assert sorted(x.name for x in tmp_path.iterdir()) == []


def test_shufflenet_groups_must_be_the_papers(tmp_path):
    out = tmp_path / "out"
    assert_one_line_error(run("build", CONFIGS / "shufflenet_g3_w0.5_64_w8_test.yml", "--out", out,
                              "--set", "model.groups=x"), "model.groups='x'", "1, 2, 3, 4, 8")
    assert not out.exists()


def test_corrupt_or_truncated_weights_are_input_errors(tmp_path):
    src = ROOT / "weights" / "fmnist" / "squeezenet1_1_w8.h5"
    demo = CONFIGS / "fmnist_squeezenet1_1_w8_zcu104.yml"
    cases = {"truncated.h5": src.read_bytes()[: src.stat().st_size // 2], "junk.h5": b"not a model\n",
             "empty.h5": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        out = tmp_path / "out"
        r = run("build", demo, "--out", out, "--set", f"weights.source={tmp_path / name}")
        assert_one_line_error(r, name, "weights.source")
        assert not out.exists()


def test_unwritable_out_fails_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run("build", SMALL, "--out", blocker / "sub")  # parent is a file: nothing can be created there
    assert_one_line_error(r, "not a directory")
    r = run("build", SMALL, "--out", "/proc/fpga_flow_out")  # a read-only file system, even for root
    assert_one_line_error(r, "cannot write in /proc")
    assert blocker.read_text() == "x"


# ------------------------------------------------------------------ crash-safe replacement

def _build_like(d: Path, tag: str) -> Path:
    d.mkdir()
    (d / "flow.json").write_text(json.dumps({"fpga_flow_version": "0", "tag": tag}))
    (d / "payload").write_text(tag * 1000)
    return d


def _complete(d: Path) -> str:
    tag = json.loads((d / "flow.json").read_text())["tag"]
    assert (d / "payload").read_text() == tag * 1000
    return tag


@pytest.mark.fast
def test_replace_swaps_atomically_and_survives_interrupt_after_swap(tmp_path, monkeypatch):
    out, new = _build_like(tmp_path / "out", "old"), _build_like(tmp_path / ".out.tmp-1", "new")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(outdir.shutil, "rmtree", interrupted)  # Ctrl-C while deleting the old copy
    with pytest.raises(KeyboardInterrupt):
        outdir.replace_dir(new, out, force=True)
    assert _complete(out) == "new"
    assert _complete(new) == "old"  # the old copy is complete at the temporary name (the flow's own)


@pytest.mark.fast
def test_replace_fallback_defers_ctrl_c_between_the_two_renames(tmp_path, monkeypatch):
    """Without RENAME_EXCHANGE the two renames run with SIGINT blocked: a Ctrl-C between them is
    delivered only once the new directory is in place."""
    out, new = _build_like(tmp_path / "out", "old"), _build_like(tmp_path / ".out.tmp-1", "new")
    monkeypatch.setattr(outdir, "_exchange", lambda a, b: False)
    real_rename = Path.rename
    seen = []

    def rename_then_ctrl_c(self, target):
        r = real_rename(self, target)
        if not seen:
            seen.append(1)
            os.kill(os.getpid(), signal.SIGINT)  # arrives between the two renames
        return r

    monkeypatch.setattr(Path, "rename", rename_then_ctrl_c)
    # Ctrl-C as in a terminal: a test run started in the background inherits SIGINT ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            outdir.replace_dir(new, out, force=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert _complete(out) == "new"


@pytest.mark.fast
def test_replace_refuses_a_directory_that_changed_meanwhile(tmp_path):
    out = _user_dir(tmp_path / "out")
    new = _build_like(tmp_path / ".out.tmp-1", "new")
    with pytest.raises(FlowError, match="no longer a directory fpga-flow may replace"):
        outdir.replace_dir(new, out, force=True)
    _untouched(out)
    with pytest.raises(FlowError, match="appeared while this run was working"):
        outdir.replace_dir(new, out)  # without --force: nothing that appeared meanwhile is replaced
    _untouched(out)


def test_ctrl_c_during_a_real_forced_rebuild_keeps_the_old_build(build_dir, tmp_path):
    """SIGINT to a running 'build --force' over an existing build: the old build stays complete
    and usable, and no temporary directory is left behind."""
    out = shutil.copytree(build_dir(name="squeezenet1_1", size=32), tmp_path / "b")
    before = (out / "flow.json").read_text()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # the child gets SIGINT's default disposition, as from a terminal (a test run started in the
    # background would otherwise pass SIGINT ignored on to it)
    p = subprocess.Popen([sys.executable, "-m", "fpga_flow.cli", "build", SMALL, "--out", out, "--force"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # wait until the build has created its temporary sibling, then interrupt it
    import time

    t0 = time.time()
    while not any(x.name.startswith(".b.tmp-") for x in tmp_path.iterdir()) and time.time() - t0 < 120:
        time.sleep(0.2)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 130, err[-2000:]
    assert (out / "flow.json").read_text() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["b"]


# ------------------------------------------------------------------ custom parts

def test_custom_part_mapping_builds_end_to_end(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text((CONFIGS / "squeezenet1_1_32_w8_test.yml").read_text().replace(
        "part: zcu104", "part: {name: xczu6eg-ffvb1156-2-e, board: my-board, bram18k: 1428, uram: 0, dsp: 1973, "
                        "lut: 214604, ff: 429208}"))
    out = tmp_path / "b"
    r = run("build", cfg, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'set part "xczu6eg-ffvb1156-2-e"' in (out / "hls4ml_prj" / "project.tcl").read_text()
    rep = json.loads(run("report", out, "--format", "json").stdout)
    assert rep["part"] == "xczu6eg-ffvb1156-2-e"
    assert rep["memory"]["bram18k_available"] == 1428 and rep["memory"]["dsp_available"] == 1973
    assert rep["memory"]["uram_available"] == 0 and rep["memory"]["fits"]
    # the same part from a YAML file given to --part
    pfile = tmp_path / "part.yml"
    pfile.write_text("{name: xczu5ev-sfvc784-1-e, bram18k: 288, uram: 64, dsp: 1248, lut: 117120, ff: 234240}\n")
    r = run("build", SMALL, "--out", tmp_path / "b2", "--part", pfile, "--check")
    assert r.returncode == 0 and "xczu5ev-sfvc784-1-e" in r.stdout, r.stderr


def test_part_names_resolve_exactly():
    from fpga_flow.resources.parts import resolve

    assert resolve("ZCU104").name == "xczu7ev-ffvc1156-2-e"
    assert resolve("xczu7ev").name == "xczu7ev-ffvc1156-2-e"  # documented short form
    assert resolve("XCZU9EG-FFVB1156-2-E").name == "xczu9eg-ffvb1156-2-e"
    # another package / speed grade of a known device is that device (issue 24), kept as written
    assert resolve("xczu7ev-ffvc1156-1-e").name == "xczu7ev-ffvc1156-1-e"
    for guess in ("xczu7ev-foo", "xczu", "zcu10"):
        with pytest.raises(FlowError, match="unknown part"):
            resolve(guess)
    with pytest.raises(FlowError, match="non-negative integer"):
        resolve({"name": "xc", "bram18k": "many", "uram": 0, "dsp": 1, "lut": 1, "ff": 1})


# ------------------------------------------------------------------ degenerate verification

def test_degenerate_reason_needs_information_in_the_outputs():
    from fpga_flow.verify.csim import degenerate_reason

    x = np.arange(2 * 12, dtype=np.float32).reshape(2, 2, 2, 3)
    assert degenerate_reason(np.zeros((2, 10)), x) is not None
    assert degenerate_reason(np.full((3, 10), 255.0), np.arange(3 * 12).reshape(3, 12)) is not None
    same = np.tile(np.arange(10.0), (2, 1))
    assert "do not depend on the input" in degenerate_reason(same, x)
    assert degenerate_reason(same, np.zeros_like(x)) is None  # identical inputs may give identical outputs
    assert degenerate_reason(np.array([[1.0, 2.0], [2.0, 1.0]]), x) is None


def test_verify_refuses_to_call_an_all_zero_network_exact(build_dir, tmp_path):
    """Zero the classifier in both the QKeras model and the C++: every output is 0 on both sides,
    the codes agree, and verify must still exit 1 and say why."""
    out = shutil.copytree(build_dir(name="squeezenet1_1", size=32), tmp_path / "dead")
    from fpga_flow import flow

    m = project.load_qmodel(out / project.QMODEL)
    m.get_layer("conv10").set_weights([np.zeros_like(w) for w in m.get_layer("conv10").get_weights()])
    m.save(out / project.QMODEL)
    wdir = out / "hls4ml_prj" / "firmware" / "weights"
    n = max(int(p.stem[1:]) for p in wdir.glob("w*.txt"))
    for p in (wdir / f"w{n}.txt", wdir / f"b{n}.txt"):
        p.write_text(",".join("0" for v in p.read_text().split(",") if v.strip()))
    r = run("verify", out, "--images", 2, "--json")
    assert r.returncode == 1, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert res["exact_fraction"] == 1.0 and res["degenerate"] is True and res["passed"] is False
    assert "carry no information" in res["degenerate_reason"]


def test_estimate_input_errors(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("Backend: Vitis\nIOType: io_stream\nHLSConfig: {Model: {Precision: ap_fixed<16,6>, ReuseFactor: 1}}\n")
    assert_one_line_error(run("estimate", tmp_path / "none.h5", "--hls4ml-config", cfg), "file not found")
    (tmp_path / "junk.h5").write_bytes(b"junk")
    assert_one_line_error(run("estimate", tmp_path / "junk.h5", "--hls4ml-config", cfg), "cannot be loaded")
