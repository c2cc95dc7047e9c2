"""Output directories: the flow never deletes or overwrites what it did not create, one run at a
time writes each output, and a killed run leaves nothing that a later run cannot safely remove.

Rules (every command that writes a directory goes through here):

* **One writer per output.** ``claim(out)`` checks ``out`` (below), takes an advisory
  ``flock(LOCK_EX)`` on ``.NAME.lock`` beside it, checks it again under the lock and holds the lock
  until the run has published (``lock(out)`` alone for a folder a command writes files into, such as
  ``accuracy --out``). A second run of the same output is refused at once (exit 2) with a line naming
  the run that holds it: pid, host, start and command, which the holder writes into the lock file.
  The kernel releases a flock when the process that holds it dies, however it dies (``kill -9``
  included), so a crashed run never blocks the next one; the lock file itself is removed by the run
  that held it (one left by a killed run is reused and removed by the next run, or by ``clean``).
* A new output directory is written in a temporary sibling and moved into place only when
  complete, so a failed or interrupted run leaves nothing half-written at ``NAME``. The temporary's
  name records its owner at the instant it is created (``mkdtemp``), so no temporary ever exists
  without its owner: ``.NAME.tmp-PID-START-BOOT-HOST-XXXXXXXX`` (START: the process's start time in
  clock ticks since boot, ``/proc/PID/stat``, which tells a reused pid apart; BOOT: the first 8 hex
  digits of the kernel's boot id; HOST: the host name).
* **Stale temporaries.** A temporary is stale when its owner is provably dead: same host and boot,
  and no process PID that started at START (or the machine has restarted since). The next run of
  the same output removes the stale temporaries of that output while it holds the lock, and
  ``fpga-flow clean DIR`` lists and removes them. A temporary whose owner is alive, one made on
  another host (its processes cannot be seen from here) and one without a recorded owner (made by
  an older fpga-flow) are never touched; ``clean`` lists them with the reason.
* An existing directory is replaced only when the caller allows it (``--force`` for builds) **and**
  the directory is one the flow made (``owned``: a build holds ``flow.json`` written by fpga-flow;
  an html report folder holds the marker file the report writer leaves). An empty directory holds
  nothing to lose and may be used as well. Anything else is refused with exit 2 and left untouched.
* **Publishing re-checks the target**, since something may have appeared there while the run
  worked: a new directory is moved into place with ``renameat2(RENAME_NOREPLACE)`` (it never lands
  on something that appeared meanwhile); a directory found there is replaced only with ``force``
  and only if it is one the flow may replace (checked again after the swap: if it changed in
  between, the swap is undone).
* Replacing is crash-safe: on Linux the new directory and the old one are swapped with one
  ``renameat2(RENAME_EXCHANGE)`` system call, so at every instant ``NAME`` is either the complete
  old or the complete new directory; the old one (now at the temporary name) is deleted afterwards.
  Where the kernel or file system cannot exchange, two renames run with SIGINT/SIGTERM deferred;
  if the process still dies between them, the old directory is at ``.NAME.old-OWNER`` and the new
  one at ``.NAME.tmp-...`` (both complete); ``clean`` then lists the old copy and never deletes it
  while ``NAME`` is missing.
* Write access is checked first: a probe directory is created where the temporary sibling will go
  before any expensive work.
* Scratch directories of the C-simulation, the dataflow check and sweep points
  (``scratch(kind)``: ``fpga_flow_KIND_OWNER-XXXXXXXX`` in the system temporary folder) record their
  owner the same way; each new one removes the stale ones of its kind first.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .errors import FlowError

MANIFEST = "flow.json"
REPORT_MARKER = ".fpga-flow-report"
SWEEP_MANIFEST = "sweep.json"


def _made_by_flow(d: Path, name: str) -> bool:
    """True if ``d/name`` is a JSON object with fpga-flow's version key (written by fpga-flow)."""
    try:
        data = json.loads((Path(d) / name).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "fpga_flow_version" in data


def is_build_dir(d: Path) -> bool:
    """True if ``d`` holds a flow.json that fpga-flow wrote (a JSON object with its version key)."""
    return _made_by_flow(d, MANIFEST)


def is_sweep_dir(d: Path) -> bool:
    """True if ``d`` holds a sweep.json that ``fpga-flow sweep`` wrote."""
    return _made_by_flow(d, SWEEP_MANIFEST)


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
                why = {is_build_dir: f"no {MANIFEST} written by fpga-flow", is_report_dir: f"no {REPORT_MARKER}",
                       is_sweep_dir: f"no {SWEEP_MANIFEST} written by fpga-flow"}.get(owned, "not made by fpga-flow")
                raise FlowError(f"{out} is not a {what} directory made by fpga-flow ({why}); refusing to replace it: "
                                "choose another --out (nothing was changed)")
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
        d = tempfile.mkdtemp(prefix=f".fpga-flow-probe-{current_owner().tag}-", dir=parent)
        os.rmdir(d)
    except OSError as e:
        raise FlowError(f"cannot write in {parent} ({e.strerror or e}); choose a writable --out") from None


def make_tmp(out: Path) -> Path:
    """The temporary sibling ``.NAME.tmp-OWNER-XXXXXXXX`` of ``out`` (its owner in its name)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{current_owner().tag}-", dir=out.parent))
    except OSError as e:
        raise FlowError(f"cannot write in {out.parent} ({e.strerror or e}); choose a writable --out") from None


def write_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary sibling with its owner in its name
    (``.NAME.tmp-OWNER-XXXXXXXX``), renamed over ``path`` when written."""
    path = Path(path)
    remove_stale(path)  # what a killed writer of this file left (only if its owner is gone)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{current_owner().tag}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---- owners: who made a temporary, and whether that process still runs ---------------------------

ALIVE, STALE, OTHER_HOST, UNKNOWN = "alive", "stale", "other host", "owner not recorded"
PREVIOUS = "previous copy"  # a stale old copy whose output is missing: kept


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:8].lower() or "0"
    except OSError:
        return "0"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:63] or "localhost"


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot); None if no such process runs (a
    zombie counts as dead); 0 where /proc is not there to tell (the process exists)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        if Path("/proc/self/stat").exists():
            return None
        try:  # no /proc: existence only
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return 0
    fields = data[data.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3, starttime field 22
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


@dataclass(frozen=True)
class Owner:
    """The process that made a temporary or holds a lock."""

    pid: int
    start: int  # clock ticks since boot at which it started (/proc/PID/stat); 0: not known
    boot: str   # first 8 hex digits of the kernel's boot id; "0": not known
    host: str

    @property
    def tag(self) -> str:
        return f"{self.pid}-{self.start}-{self.boot}-{self.host}"

    def state(self) -> str:
        """ALIVE, STALE (provably dead) or OTHER_HOST."""
        me = current_owner()
        if self.host != me.host:
            return OTHER_HOST
        if "0" not in (self.boot, me.boot) and self.boot != me.boot:
            return STALE  # the machine has restarted since: every process of that boot is gone
        start = _start_ticks(self.pid)
        if start is None:
            return STALE
        if self.start and start and start != self.start:
            return STALE  # the pid now belongs to a process that started later
        return ALIVE

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


_ME: dict[int, Owner] = {}


def current_owner() -> Owner:
    pid = os.getpid()
    if pid not in _ME:
        _ME.clear()  # a forked child is another owner
        _ME[pid] = Owner(pid, _start_ticks(pid) or 0, _boot_id(), _host())
    return _ME[pid]


_TAG = r"(?P<pid>\d+)-(?P<start>\d+)-(?P<boot>[0-9a-f]{1,8})-(?P<host>[A-Za-z0-9._-]+)"
_RAND = r"[a-z0-9_]{8}"  # tempfile's random part
_PATTERNS = (  # (kind, pattern); a tagged name is tried before the older untagged one
    ("tmp", re.compile(rf"^\.(?P<target>.+)\.tmp-{_TAG}-{_RAND}$")),
    ("old", re.compile(rf"^\.(?P<target>.+)\.old-{_TAG}$")),
    ("probe", re.compile(rf"^\.fpga-flow-probe-{_TAG}-{_RAND}$")),
    ("scratch", re.compile(rf"^fpga_flow_(?P<scratch>[a-z]+)_{_TAG}-{_RAND}$")),
    ("lock", re.compile(r"^\.(?P<target>.+)\.lock$")),
    ("tmp", re.compile(rf"^\.(?P<target>.+)\.tmp-{_RAND}$")),  # older fpga-flow: owner not recorded
)


@dataclass
class Leftover:
    """A temporary, an old copy, a probe, a scratch directory or a lock file of the flow."""

    path: Path
    kind: str                # tmp | old | probe | scratch | lock
    target: str | None       # the output it belongs to (a name in the same folder)
    owner: Owner | None      # from its name (None: lock files, and temporaries of older versions)
    state: str               # ALIVE | STALE | OTHER_HOST | UNKNOWN | "in use" (a held lock)
    holder: str = ""         # a held lock: who holds it
    size: int = 0            # bytes (set by clean)

    def why(self) -> str:
        if self.state == "in use":
            return f"held by {self.holder}" if self.kind == "lock" else f"{self.target} is being written by {self.holder}"
        if self.kind == "lock":
            return "lock file of a run that is gone (not held)"
        if self.state == PREVIOUS:
            return (f"the previous copy of {self.target}, left by an interrupted replacement ({self.owner}) while "
                    f"{self.target} is missing: rename it back to {self.target} or delete it")
        if self.state == STALE:
            return f"{self.owner} is no longer running"
        if self.state == ALIVE:
            return f"{self.owner} is running"
        if self.state == OTHER_HOST:
            return f"made on another host ({self.owner}); its processes cannot be seen from here: remove it there"
        return "made by an older fpga-flow (owner not recorded); remove it by hand if no run of it is going on"


def _leftover(folder: Path, name: str, locks: bool = True) -> Leftover | None:
    for kind, pat in _PATTERNS:
        m = pat.match(name)
        if not m:
            continue
        g = m.groupdict()
        path = folder / name
        if kind == "lock":
            if not locks:
                return None
            holder = _lock_holder(path)
            return Leftover(path, kind, g["target"], None, STALE if holder is None else "in use", holder or "")
        owner = Owner(int(g["pid"]), int(g["start"]), g["boot"], g["host"]) if g.get("pid") else None
        return Leftover(path, kind, g.get("target"), owner, owner.state() if owner else UNKNOWN)
    return None


def scan(folder: Path, target: str | None = None, *, locks: bool = True) -> list[Leftover]:
    """The flow's temporaries, old copies, probes, scratch directories and (with ``locks``) lock
    files in ``folder`` (only those of the output named ``target`` when given)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    found = [_leftover(Path(folder), n, locks) for n in names if n.startswith((".", "fpga_flow_"))]
    return [f for f in found if f is not None and (target is None or f.target == target)]


def _remove(p: Path) -> None:
    """Delete ``p`` (a file or a whole tree); a tree some orphaned child process still writes into
    (a killed build's g++) is deleted again until it is gone."""
    for attempt in range(10):
        if not (p.exists() or p.is_symlink()):
            return
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        time.sleep(0.02 * attempt)


def remove_stale(out: Path) -> list[Leftover]:
    """Remove the stale temporaries of ``out`` (and stale write probes beside it): only those whose
    owner is provably gone, so whoever calls it removes nothing a live run uses; the run that holds
    ``out``'s lock calls it as it starts. An old copy (``.NAME.old-...``) is removed only when ``out``
    exists."""
    out = Path(out)
    removed = []
    for lf in scan(out.parent, locks=False):
        if lf.state != STALE or lf.kind == "scratch" or (lf.target != out.name and lf.kind != "probe"):
            continue
        if lf.kind == "old" and not out.exists():
            continue  # the previous copy of out, the only one there is: never deleted (clean lists it)
        _remove(lf.path)
        removed.append(lf)
    return removed


@contextlib.contextmanager
def scratch(kind: str, base: str | Path | None = None) -> Iterator[Path]:
    """A scratch directory ``fpga_flow_KIND_OWNER-XXXXXXXX`` in ``base`` (default: the system's
    temporary folder), removed afterwards; the stale ones of the same kind go first."""
    base = Path(base or tempfile.gettempdir())
    for lf in scan(base, locks=False):
        if lf.kind == "scratch" and lf.state == STALE and lf.path.name.startswith(f"fpga_flow_{kind}_"):
            _remove(lf.path)
    d = Path(tempfile.mkdtemp(prefix=f"fpga_flow_{kind}_{current_owner().tag}-", dir=base))
    try:
        yield d
    finally:
        _remove(d)


# ---- the lock: one writer per output ----------------------------------------------------------------

def lock_file(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def _same_file(fd: int, path: Path) -> bool:
    try:
        st, fst = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def _command() -> str:
    argv = list(sys.argv)
    prog = os.path.basename(argv[0]) if argv else "python"
    if prog in ("fpga-flow", "cli.py", "__main__.py", "-m", "-c"):
        prog = "fpga-flow"
    text = " ".join([prog, *argv[1:]])
    return re.sub(r"\s+", " ", text)[:300]


def _describe_holder(info: dict) -> str:
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')}, since {info.get('since', '?')}: "
            f"{info.get('command', '?')}")


def _record_of_the_dead(info: dict) -> bool:
    try:
        return Owner(int(info["pid"]), int(info["start"]), str(info["boot"]), str(info["host"])).state() == STALE
    except (KeyError, ValueError, TypeError):
        return False


def _lock_holder(path: Path) -> str | None:
    """Who holds the lock file ``path`` ("pid N on HOST, since T: COMMAND"); None if nobody does."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            return None  # nobody holds it
        for _ in range(40):  # the holder writes its record right after locking: give it a moment
            try:
                info = json.loads(os.pread(fd, 4096, 0).decode() or "null")
            except (ValueError, OSError):
                info = None
            if isinstance(info, dict) and not _record_of_the_dead(info):  # (a killed holder's, not yet overwritten)
                return _describe_holder(info)
            time.sleep(0.025)
        return f"a process that has not written its record into {path} yet"
    finally:
        os.close(fd)


def _busy(out: Path, holder: str) -> FlowError:
    e = FlowError(f"{out} is being written by another fpga-flow run ({holder}); wait for it to finish "
                  "or choose another --out (nothing was changed)")
    e.holder = holder
    return e


def busy(out) -> FlowError | None:
    """The refusal to give when another process holds ``out``'s lock (a run writing it), else None;
    takes nothing."""
    out = Path(out).expanduser().resolve()
    holder = _lock_holder(lock_file(out))
    return _busy(out, holder) if holder is not None else None


def _acquire(path: Path, out: Path) -> int:
    """flock(LOCK_EX|LOCK_NB) on the lock file ``path`` and write this process's record into it;
    FlowError naming the holder when another process holds it."""
    for _ in range(50):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise FlowError(f"cannot write in {path.parent} ({e.strerror or e}); choose a writable --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _lock_holder(path)
            if holder is None:
                time.sleep(0.01)
                continue  # released meanwhile: try again
            raise _busy(out, holder) from None
        if not _same_file(fd, path):
            os.close(fd)  # its holder removed it as it let go (we locked a file no longer at path): again
            time.sleep(0.01)
            continue
        me = current_owner()
        record = {"pid": me.pid, "host": me.host, "start": me.start, "boot": me.boot,
                  "since": time.strftime("%Y-%m-%d %H:%M:%S"), "command": _command()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        return fd
    raise FlowError(f"could not lock {path} (it kept changing); run again")


def _release(fd: int, path: Path) -> None:
    try:
        if _same_file(fd, path):
            os.unlink(path)  # still holding the lock: whoever opened it meanwhile sees it gone and retries
    except OSError:
        pass
    finally:
        os.close(fd)


_HELD: dict[Path, list] = {}  # resolved output -> [fd, thread id, depth]: locks this process holds
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def lock(out, *, clean: bool = True) -> Iterator[Path]:
    """Hold ``out``'s lock (``.NAME.lock`` beside it) for the block; re-entrant in the thread that
    holds it. With ``clean``, the stale temporaries of ``out`` are removed once it is held.
    Another process (or thread) holding it: FlowError naming it, at once."""
    out = Path(out).expanduser().resolve()
    me = threading.get_ident()
    with _HELD_GUARD:
        held = _HELD.get(out)
        if held is not None:
            if held[1] != me:
                raise _busy(out, f"pid {os.getpid()}, this process, another thread")
            held[2] += 1
    if held is not None:
        try:
            yield out
        finally:
            with _HELD_GUARD:
                held[2] -= 1
        return
    path = lock_file(out)
    fd = _acquire(path, out)
    with _HELD_GUARD:
        _HELD[out] = [fd, me, 1]
    try:
        if clean:
            remove_stale(out)
        yield out
    finally:
        with _HELD_GUARD:
            _HELD.pop(out, None)
        _release(fd, path)


@contextlib.contextmanager
def claim(out, *, force: bool, owned: Callable[[Path], bool] = is_build_dir, what: str = "build",
          flag: str = "--force") -> Iterator[Path]:
    """Check ``out`` (check_target), take its lock, check it again under the lock (another run may
    have published there meanwhile) and hold the lock for the block; yields the resolved path."""
    out = check_target(out, force=force, owned=owned, what=what, flag=flag)
    with lock(out):
        check_target(out, force=force, owned=owned, what=what, flag=flag)
        yield out


def identity(d) -> tuple[int, int] | None:
    """(device, inode) of directory ``d``: changes when a run replaces ``d``."""
    try:
        st = os.stat(d)
    except OSError:
        return None
    return st.st_dev, st.st_ino


# ---- clean -------------------------------------------------------------------------------------------

def clean(path, *, dry_run: bool = False) -> list[tuple[Leftover, str]]:
    """The flow's leftovers in ``path``, in its subfolders (one level) and beside it (those of
    ``path`` as an output), each with what was done: "removed", "would remove" or "kept". Only
    stale ones are removed, each while holding the lock of the output it belongs to."""
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        found = scan(path)
        with contextlib.suppress(OSError):
            for sub in sorted(path.iterdir()):
                if sub.is_dir() and not sub.is_symlink() and _leftover(path, sub.name, False) is None:
                    found += scan(sub)
        if path.parent != path:
            found += scan(path.parent, target=path.name)
    elif path.parent.is_dir() and not path.exists():
        found = scan(path.parent, target=path.name)
    else:
        raise FlowError(f"{path}: no such directory; give an output directory (--out) or the folder that holds it")
    done = []
    for lf in found:
        lf.size = size_of(lf.path)
        if lf.state != STALE:
            done.append((lf, "kept"))
            continue
        target = lf.path.parent / lf.target if lf.target else None
        if lf.kind == "old" and not target.exists():
            lf.state = PREVIOUS
            done.append((lf, "kept"))
            continue
        if dry_run:
            done.append((lf, "would remove"))
            continue
        if target is None:
            _remove(lf.path)
            done.append((lf, "removed"))
            continue
        try:
            with lock(target, clean=False):  # nothing else writes the output meanwhile
                if lf.kind != "lock":  # a lock file goes as this lock is let go
                    _remove(lf.path)
        except FlowError as e:
            lf.state, lf.holder = "in use", getattr(e, "holder", str(e))
            done.append((lf, "kept"))
            continue
        done.append((lf, "removed"))
    return done


def size_of(p: Path) -> int:
    total = 0
    try:
        if p.is_file():
            return p.stat().st_size
        for root, _, files in os.walk(p):
            for f in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(root, f)).st_size
    except OSError:
        pass
    return total


# ---- publishing ----------------------------------------------------------------------------------

_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2(a: Path, b: Path, flags: int) -> bool:
    """renameat2(a, b, flags); False where the kernel or file system does not support ``flags``."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    r = fn(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), flags)
    if r == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE). False where unsupported."""
    return _renameat2(a, b, _RENAME_EXCHANGE)


def _publish_new(tmp: Path, out: Path) -> bool:
    """Rename ``tmp`` to ``out`` if nothing is at ``out`` (atomically where the kernel can); False
    if something is there."""
    try:
        if _renameat2(tmp, out, _RENAME_NOREPLACE):
            return True
    except FileExistsError:
        return False
    if out.exists() or out.is_symlink():
        return False
    tmp.rename(out)
    return True


def replace_dir(tmp: Path, out: Path, owned: Callable[[Path], bool] = is_build_dir, *, force: bool = False) -> None:
    """Move the complete directory ``tmp`` to ``out``. Checked again here, since something may have
    appeared at ``out`` while the run worked: an existing ``out`` is replaced only if it is empty, or
    with ``force`` if the flow made it (``owned``); it is swapped out atomically and then deleted."""
    if _publish_new(tmp, out):
        return
    empty = _is_empty_dir(out)
    if not empty and not force:
        raise FlowError(f"{out} appeared while this run was working (another process wrote it); nothing was "
                        "replaced: choose another --out, or pass --force to replace a directory made by fpga-flow")
    if not (out.is_dir() and not out.is_symlink() and (empty or owned(out))):
        raise FlowError(f"{out} changed during the run and is no longer a directory fpga-flow may replace; "
                        "nothing was replaced; run again with another --out")
    if _exchange(tmp, out):
        if not (_is_empty_dir(tmp) or owned(tmp)):  # it changed between the check and the swap: undo
            _exchange(tmp, out)
            raise FlowError(f"{out} changed during the run and is no longer a directory fpga-flow may replace; "
                            "nothing was replaced; run again with another --out")
        _remove(tmp)  # tmp now holds the old directory
        return
    old = out.parent / f".{out.name}.old-{current_owner().tag}"
    with _signals_deferred():
        out.rename(old)
        tmp.rename(out)
    _remove(old)


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
