"""Progress bars (issue 26): a long command shows one on a terminal (run here under a pseudo-terminal),
and prints nothing but its JSON with --json on that same terminal; non-interactive output gets none."""
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from conftest import ROOT

BAR = re.compile(r"C-sim:\s+\d+%\|[^|\r\n]*\|\s*\d+/(\d+)")


def _under_pty(args, timeout=300) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on a pseudo-terminal; everything it wrote, as a user sees it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120x40 terminal
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TERM="xterm")
    p = subprocess.Popen([sys.executable, "-m", "fpga_flow.cli", *map(str, args)], stdin=slave, stdout=slave,
                         stderr=slave, cwd=ROOT, env=env, close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)
    return p.returncode, out.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def built(build_dir):
    return build_dir(name="squeezenet1_1", size=32)


def test_verify_shows_a_progress_bar_on_a_terminal_and_only_json_with_json(built):
    rc, out = _under_pty(["verify", built, "--images", 8, "--jobs", 2, "--source", "random"])
    assert rc == 0, out[-2000:]
    bars = BAR.findall(out)
    assert bars and set(bars) == {"8"}, out[-2000:]  # tqdm's bar over the 8 images, drawn on the terminal
    assert "exact_fraction 1.000000" in out

    rc, out = _under_pty(["verify", built, "--images", 8, "--jobs", 2, "--source", "random", "--json"])
    assert rc == 0, out[-2000:]
    res = json.loads(out)  # the whole terminal output is one JSON object: no bar, no log line
    assert res["n_images"] == 8 and res["exact_fraction"] == 1.0
    assert "\r" not in out.replace("\r\n", "\n")


def test_no_bar_in_non_interactive_output(built, capfd):
    """Captured (not a terminal) output: the C-simulation over many images, which draws the bar on a
    terminal, writes nothing to stdout or stderr."""
    import numpy as np

    from fpga_flow import progress, project
    from fpga_flow.verify import csim

    assert not progress.enabled()
    shape = project.load_manifest(built)["input_shape"]
    x = np.random.default_rng(0).uniform(-1, 1, (6, *shape)).astype(np.float32)
    y = csim.run_csim(built, x, jobs=2)
    out, err = capfd.readouterr()
    assert y.shape == (6, 10)
    assert out == "" and err == ""
