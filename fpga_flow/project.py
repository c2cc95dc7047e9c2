"""A built directory, as the flow writes it and every later command reads it:

    DIR/flow.json            manifest: config, exact types, the design description, the plan, timings
    DIR/qkeras_model.h5      the model verify compares with (a user's own model: as given)
    DIR/float_model.h5       the float twin (zoo models)
    DIR/hls4ml_prj/          the written HLS project (firmware/, build_lib.sh, the C-sim library)
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from .errors import FlowError
from .outdir import MANIFEST  # noqa: F401  (the build directory's manifest: one name, outdir's)

QMODEL = "qkeras_model.h5"
FMODEL = "float_model.h5"
PROJECT = "hls4ml_prj"


def load_manifest(out: str | Path) -> dict:
    out = Path(out)
    m = out / MANIFEST
    if not m.is_file() or not out.is_dir():
        raise FlowError(f"{out} is not a built flow directory ({MANIFEST} missing); run 'fpga-flow build CONFIG --out {out}' first")
    try:
        return json.loads(m.read_text())
    except json.JSONDecodeError:
        raise FlowError(f"{m} is corrupt; rebuild with 'fpga-flow build ... --force'") from None


def load_qmodel(path):
    """A saved QKeras model (QKeras and fpga_flow layers), or a one-line FlowError."""
    from qkeras.utils import load_qmodel as _load

    from .hls.extensions import custom_objects  # the extension layers' Keras classes: loads TF and hls4ml

    try:
        return _load(str(path), custom_objects=custom_objects(), compile=False)
    except (OSError, ValueError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise FlowError(f"{path}: cannot be loaded as a QKeras model ({type(e).__name__}: {first}); "
                        "use a model saved with model.save('NAME.h5') from QKeras and fpga_flow layers") from None


def library_path(out: str | Path) -> Path | None:
    libs = sorted((Path(out) / PROJECT / "firmware").glob("myproject-*.so"))
    return libs[-1] if libs else None


def compile_library(out: str | Path, timeout: int = 1800) -> Path:
    """g++ the C-simulation library with hls4ml's own build_lib.sh (in a subprocess)."""
    prj = Path(out) / PROJECT
    if not (prj / "build_lib.sh").is_file():
        raise FlowError(f"{prj} has no build_lib.sh; rebuild with 'fpga-flow build ... --force'")
    for old in (prj / "firmware").glob("myproject-*.so"):
        old.unlink()
    # in its own process group: interrupted, terminated or timed out, this run takes g++ down with it
    # (else g++ would go on writing into a directory the run is deleting)
    p = subprocess.Popen(["bash", "build_lib.sh"], cwd=prj, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        so, se = p.communicate(timeout=timeout)
    except BaseException:
        _stop_group(p)
        raise
    lib = library_path(out)
    if p.returncode != 0 or lib is None:
        tail = "\n".join((so + se).strip().splitlines()[-15:])
        raise RuntimeError(f"C-simulation library failed to compile in {prj}:\n{tail}")
    return lib


def _stop_group(p: subprocess.Popen) -> None:
    """SIGTERM to the process group (g++ then deletes its temporary files), SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 10.0)):
        deadline = time.monotonic() + grace
        try:
            os.killpg(p.pid, sig)
            while time.monotonic() < deadline:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=0.05)
                os.killpg(p.pid, 0)  # ProcessLookupError once every process of the group is gone
        except (ProcessLookupError, PermissionError):
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.wait(timeout=1)


def ensure_library(out: str | Path) -> Path:
    return library_path(out) or compile_library(out)
