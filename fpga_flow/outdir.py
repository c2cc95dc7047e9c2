"""Output directories: the flow never deletes or overwrites what it did not create.

Rules (every command that writes a directory goes through here):

* A new output directory is written in a temporary sibling (``.NAME.tmp-XXXX``) and moved into
  place only when complete, so a failed or interrupted run leaves nothing half-written at ``NAME``.
* An existing directory is replaced only when the caller allows it (``--force`` for builds) **and**
  the directory is one the flow made (``owned``: a build holds ``flow.json`` written by fpga-flow;
  an html report folder holds the marker file the report writer leaves). An empty directory holds
  nothing to lose and may be used as well. Anything else is refused with exit 2 and left untouched.
* Replacing is crash-safe: on Linux the new directory and the old one are swapped with one
  ``renameat2(RENAME_EXCHANGE)`` system call, so at every instant ``NAME`` is either the complete
  old or the complete new directory; the old one (now at the temporary name) is deleted afterwards.
  Where the kernel or file system cannot exchange, two renames run with SIGINT/SIGTERM deferred;
  if the process still dies between them, the old directory is at ``.NAME.old-PID`` and the new one
  at ``.NAME.tmp-XXXX`` (both complete).
* Write access is checked first: the temporary sibling is created before any expensive work.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Callable

from .errors import FlowError

MANIFEST = "flow.json"
REPORT_MARKER = ".fpga-flow-report"


def is_build_dir(d: Path) -> bool:
    """True if ``d`` holds a flow.json that fpga-flow wrote (a JSON object with its version key)."""
    m = Path(d) / MANIFEST
    try:
        data = json.loads(m.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "fpga_flow_version" in data


def is_report_dir(d: Path) -> bool:
    return (Path(d) / REPORT_MARKER).is_file()


def _is_empty_dir(d: Path) -> bool:
    try:
        return d.is_dir() and not any(d.iterdir())
    except OSError:
        return False


def check_target(out, *, force: bool, owned: Callable[[Path], bool] = is_build_dir, what: str = "build",
                 flag: str = "--force") -> Path:
    """Resolve ``out`` and decide whether the flow may write it; raise FlowError (exit 2) if not.

    ``force`` False: ``out`` must not exist (or be an empty directory). ``force`` True: an existing
    ``out`` must be a directory the flow made (``owned``) or empty."""
    out = Path(out).expanduser().resolve()
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise FlowError(f"{out} exists and is not a directory; choose another --out (nothing was changed)")
        if not _is_empty_dir(out):
            if not force:
                raise FlowError(f"{out} already exists; pass {flag} to replace it (only a {what} directory made "
                                "by fpga-flow is replaced) or choose another --out")
            if not owned(out):
                raise FlowError(f"{out} is not a {what} directory made by fpga-flow ("
                                f"{'no flow.json written by fpga-flow' if owned is is_build_dir else 'no ' + REPORT_MARKER}"
                                "); refusing to replace it: choose another --out (nothing was changed)")
    probe_writable(out.parent)
    return out


def _nearest_existing(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def probe_writable(parent: Path) -> None:
    """Create and remove a temporary directory where the output's temporary sibling will go: the
    same operation the build does, so a read-only or missing location fails before any work."""
    parent = Path(parent)
    base = _nearest_existing(parent)
    if not base.is_dir():
        raise FlowError(f"cannot create {parent}: {base} is not a directory; choose another --out")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        d = tempfile.mkdtemp(prefix=".fpga-flow-probe-", dir=parent)
        os.rmdir(d)
    except OSError as e:
        raise FlowError(f"cannot write in {parent} ({e.strerror or e}); choose a writable --out") from None


def make_tmp(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as e:
        raise FlowError(f"cannot write in {out.parent} ({e.strerror or e}); choose a writable --out") from None


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE). False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    r = fn(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), _RENAME_EXCHANGE)
    if r == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(tmp: Path, out: Path, owned: Callable[[Path], bool] = is_build_dir) -> None:
    """Move the complete directory ``tmp`` to ``out``; an existing ``out`` (checked by check_target
    before the work, and again here: something may have appeared there meanwhile) is swapped out
    atomically and then deleted."""
    if not out.exists():
        tmp.rename(out)
        return
    if not (out.is_dir() and (_is_empty_dir(out) or owned(out))):
        raise FlowError(f"{out} changed during the run and is no longer a directory fpga-flow may replace; "
                        "nothing was replaced; run again with another --out")
    if _exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old directory
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    with _signals_deferred():
        out.rename(old)
        tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


class _signals_deferred:
    """Hold SIGINT/SIGTERM while the block runs and deliver them afterwards (Python handlers are
    swapped; a signal mask would not do: another thread may take a process-directed signal)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.pending, self.saved = [], {}
        try:
            for s in self.SIGNALS:
                self.saved[s] = signal.signal(s, lambda signum, frame: self.pending.append(signum))
        except ValueError:  # not the main thread: handlers cannot be changed (nor do signals land here)
            pass
        return self

    def __exit__(self, *exc):
        for s, h in self.saved.items():
            signal.signal(s, h)
        for s in dict.fromkeys(self.pending):
            os.kill(os.getpid(), s)  # now handled as usual (KeyboardInterrupt, termination, ...)
        return False
