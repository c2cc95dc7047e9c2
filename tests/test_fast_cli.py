"""A fast CLI (issue 26): the whole config, part included, is checked before TensorFlow, QKeras or
hls4ml is imported; `--help`, `models` and `parts` never import them. Each command runs in a fresh
process (fpga_flow.cli.main, as the console script runs it), timed, and afterwards its sys.modules is
read: TensorFlow alone takes seconds to import; these answers must come in under 1.5 s."""
import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT

HEAVY = ("tensorflow", "qkeras", "hls4ml", "keras")
LIMIT_S = 1.5

# the console script's work (fpga_flow.cli:main), then which of HEAVY the process imported
PROBE = """
import sys
from fpga_flow import cli
try:
    rc = cli.main(sys.argv[1:])
except SystemExit as e:  # argparse exits after --help
    rc = e.code
print("RC", rc, "HEAVY", ",".join(sorted(m for m in {heavy!r} if m in sys.modules)) or "-")
""".format(heavy=HEAVY)


def _run(args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                       env=env, timeout=120)
    return r, time.perf_counter() - t0


@pytest.fixture(scope="module")
def cwd(tmp_path_factory):
    d = tmp_path_factory.mktemp("fastcli")
    (d / "malformed.yml").write_text("model: {name: squeezenet1_1\n  bad")
    (d / "part.yml").write_text("model: {name: squeezenet1_1}\nhls: {part: xc9zz999}\n")
    (d / "key.yml").write_text("model: {name: squeezenet1_1}\nhls: {partt: zcu104}\n")
    (d / "fakebuild").mkdir()
    (d / "fakebuild" / "flow.json").write_text('{"fpga_flow_version": "0.1.0"}')
    (d / "not_verify.json").write_text('{"exact": 1}')
    _run(["--help"], d)  # warm-up: file-system caches and .pyc files of everything the CLI imports
    return d


# (arguments, exit code, the one-line error, timed)
CASES = {
    "build: malformed YAML": (["build", "malformed.yml", "--out", "o"], 2, "malformed YAML", True),
    "build: unknown part": (["build", "part.yml", "--out", "o"], 2, "unknown part or board 'xc9zz999'", True),
    "build: unknown key": (["build", "key.yml", "--out", "o"], 2, "unknown key 'hls.partt'", True),
    "config: unknown key": (["config", "key.yml"], 2, "unknown key 'hls.partt'; nearest valid key: 'hls.part'", True),
    "config --schema": (["config", "--schema"], 0, None, True),
    "--help": (["--help"], 0, None, True),
    "models": (["models"], 0, None, True),
    "parts": (["parts"], 0, None, True),
    "report: not a build": (["report", "nothing"], 2, "not a built flow directory", False),
    "verify: not a build": (["verify", "nothing"], 2, "not a built flow directory", False),
    "report: not a verify result": (["report", "fakebuild", "--verify-json", "not_verify.json"], 2,
                                    "not the output of 'fpga-flow verify DIR --json", False),
    "sweep: unknown part": (["sweep", "part.yml", "--grid", "quantization.weight_bits=8", "--out", "sw"], 2,
                            "unknown part", False),
}


@pytest.mark.parametrize("what", list(CASES))
def test_answer_without_tensorflow_in_under_1_5_s(cwd, what):
    """Exit code, the one-line error of an input error, none of TensorFlow/QKeras/Keras/hls4ml in
    sys.modules, and (for the issue's six commands) under 1.5 s: a slow run is retried twice and the
    best counts (the machine is shared)."""
    args, rc, needle, timed = CASES[what]
    times = []
    for _ in range(3 if timed else 1):
        r, dt = _run(args, cwd)
        times.append(dt)
        line = [l for l in r.stdout.splitlines() if l.startswith("RC ")]
        assert line, r.stdout[-500:] + r.stderr[-1000:]
        assert line[0] == f"RC {rc} HEAVY -", (what, line[0])
        if needle:
            err = r.stderr.strip().splitlines()
            assert len(err) == 1 and err[0].startswith("fpga-flow: error:") and needle in err[0], r.stderr
        if dt < LIMIT_S:
            break
    if timed:
        assert min(times) < LIMIT_S, f"{what}: {[round(t, 2) for t in times]} s"
    assert not (cwd / "o").exists() and not (cwd / "sw").exists()


def test_import_cli_does_not_import_tensorflow():
    code = ("import sys, fpga_flow.cli, fpga_flow.config, fpga_flow.sweep, fpga_flow.accuracy, fpga_flow.progress; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-1000:]
    assert r.stdout.strip() == "[]", r.stdout
