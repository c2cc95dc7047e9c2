"""Shared pieces of the fast core suite (``make test-fast``, marker ``fast``).

``sq32``: the session's SqueezeNet 1.1 32x32 build (tests/conftest.py ``build_dir``: built once per test
run and shared with the rest of the suite). Tests never change it: they work on copies.

For the mutation campaign (``make mutation``, tools/mutation.py) every mutant runs a fresh pytest
session; there FPGA_FLOW_TEST_CACHE names a folder where the campaign built this fixture once, from the
unmutated code, before the first mutant (the modules under mutation only read it).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, small_cfg

SQ32 = dict(name="squeezenet1_1", size=32)


SQ32_VIVADO = dict(name="squeezenet1_1", size=32, backend="Vivado", weight_bits=4, act_bits=4, act_int=2, bias_bits=6)


def _cached(request, name: str, kw: dict) -> Path:
    cache = os.environ.get("FPGA_FLOW_TEST_CACHE")
    if cache:
        d = Path(cache) / name
        if not (d / "flow.json").is_file():
            from fpga_flow import flow

            flow.build(small_cfg(**kw), d)
        return d
    return request.getfixturevalue("build_dir")(**kw)


@pytest.fixture(scope="session")
def sq32(request):
    return _cached(request, "squeezenet1_1_32", SQ32)


@pytest.fixture(scope="session")
def sq32_vivado(request):
    """The same network for the Vivado backend, 4-bit (as tests/test_storage.py and test_csim_exact.py build it)."""
    return _cached(request, "squeezenet1_1_32_vivado", SQ32_VIVADO)


def copy_project(src: Path, dst: Path, library: bool = True) -> Path:
    """A copy of a build (without its C-sim library unless ``library``)."""
    ignore = None if library else shutil.ignore_patterns("*.so")
    return Path(shutil.copytree(src, dst, ignore=ignore))


def cli(*args, cwd=ROOT, timeout=900):
    """``fpga-flow ARGS`` in a subprocess, as a user runs it (exit code, stdout, stderr)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "fpga_flow.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def cli_main(capsys, *args) -> tuple[int, str, str]:
    """``fpga-flow ARGS`` through the same entry point (fpga_flow.cli.main), in this process: no
    second TensorFlow import. Returns (exit code, stdout, stderr)."""
    from fpga_flow import cli as cli_mod

    capsys.readouterr()
    rc = cli_mod.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc: int, err: str, *needles: str) -> str:
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert rc == 2, (rc, err[-2000:])
    assert len(lines) == 1 and lines[0].startswith("fpga-flow: error:"), err[-2000:]
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def dead_owner():
    """An outdir.Owner of this host and boot whose process has exited (a finished child's pid)."""
    from fpga_flow import outdir

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    start = outdir._start_ticks(p.pid)  # may already be a zombie (None): any start will do, the pid is gone
    p.wait()
    me = outdir.current_owner()
    return outdir.Owner(p.pid, start or 1, me.boot, me.host)
