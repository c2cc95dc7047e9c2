"""Output-directory safety (outdir.py): every command that can write refuses to replace a directory it
did not make (build, demo, report --format html --out, sweep, accuracy --out), exit 2 with one line and
the directory untouched; and the rules of check_target / replace_dir on both sides of each condition."""
import errno
import fcntl
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CONFIGS
from fastkit import cli_main, copy_project, dead_owner, one_line_error, sq32  # noqa: F401 (fixture)

from fpga_flow import outdir
from fpga_flow.errors import FlowError

pytestmark = pytest.mark.fast

SMALL = CONFIGS / "squeezenet1_1_32_w8_test.yml"


def _user_dir(p: Path) -> Path:
    p.mkdir()
    (p / "thesis.txt").write_text("mine")
    return p


def _snapshot(p: Path) -> dict:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}


def _siblings(p: Path) -> list[str]:
    return sorted(x.name for x in p.parent.iterdir())


COMMANDS = {
    "build": lambda d: ["build", SMALL, "--out", d, "--force"],
    "demo": lambda d: ["demo", "--out", d, "--force", "--images", 1],
    "sweep": lambda d: ["sweep", SMALL, "--grid", "hls.part=zcu104", "--out", d, "--force"],
    "accuracy": lambda d: ["accuracy", CONFIGS / "fmnist_squeezenet1_1.yml", "--out", d, "--csim-images", 1],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_commands_refuse_a_users_directory(tmp_path, capsys, command):
    d = _user_dir(tmp_path / "d")
    if command == "accuracy":  # accuracy writes two files into --out: one of the user's own name is refused
        (d / "accuracy.json").write_text('{"mine": 1}')
    before = _snapshot(d)
    rc, _, err = cli_main(capsys, *COMMANDS[command](d))
    one_line_error(rc, err, str(d.resolve()) if command != "accuracy" else "accuracy.json")
    assert _snapshot(d) == before and _siblings(d) == ["d"]


def test_accuracy_refuses_a_markdown_table_it_did_not_write(tmp_path, capsys):
    d = _user_dir(tmp_path / "d")
    (d / "accuracy.md").write_text("my notes")
    rc, _, err = cli_main(capsys, *COMMANDS["accuracy"](d))
    one_line_error(rc, err, "accuracy.md exists without accuracy.json")
    assert (d / "accuracy.md").read_text() == "my notes"


def test_build_and_demo_refuse_without_force_even_their_own(sq32, tmp_path, capsys):
    own = copy_project(sq32, tmp_path / "b", library=False)
    before = _snapshot(own)
    for args in (["build", SMALL, "--out", own], ["demo", "--out", own, "--images", 1]):
        rc, _, err = cli_main(capsys, *args)
        one_line_error(rc, err, "already exists", "--force")
    assert _snapshot(own) == before and _siblings(own) == ["b"]


def test_html_report_refuses_a_build_and_a_users_directory(sq32, tmp_path, capsys):
    """A build directory is fpga-flow's, but not a report folder: 'report --format html --out' into it
    would delete the build. Refused, as is a user's folder and a file."""
    build = copy_project(sq32, tmp_path / "b", library=False)
    user = _user_dir(tmp_path / "u")
    f = tmp_path / "f.txt"
    f.write_text("x")
    snap_b, snap_u = _snapshot(build), _snapshot(user)
    for target, needle in ((build, "not a report directory"), (user, "not a report directory"), (f, "not a directory")):
        rc, _, err = cli_main(capsys, "report", sq32, "--format", "html", "--out", target)
        one_line_error(rc, err, needle)
    assert _snapshot(build) == snap_b and _snapshot(user) == snap_u and f.read_text() == "x"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["b", "f.txt", "u"]


def test_sweep_refuses_a_build_directory(sq32, tmp_path, capsys):
    build = copy_project(sq32, tmp_path / "b", library=False)
    snap = _snapshot(build)
    rc, _, err = cli_main(capsys, *COMMANDS["sweep"](build))
    one_line_error(rc, err, "is not a sweep directory made by fpga-flow")
    assert _snapshot(build) == snap


# ------------------------------------------------------------------ the rules, one condition at a time

def _build_like(d: Path, tag: str = "old") -> Path:
    d.mkdir()
    (d / "flow.json").write_text(json.dumps({"fpga_flow_version": "0", "tag": tag}))
    return d


def test_check_target_each_condition(tmp_path):
    new = tmp_path / "new"
    assert outdir.check_target(new, force=False) == new.resolve() and not new.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert outdir.check_target(empty, force=False) == empty.resolve()  # an empty folder holds nothing to lose
    own = _build_like(tmp_path / "own")
    with pytest.raises(FlowError, match=r"already exists; pass --force to replace it \(only a build directory made "
                                        r"by fpga-flow is replaced\) or choose another --out$"):
        outdir.check_target(own, force=False)
    assert outdir.check_target(own, force=True) == own.resolve()
    user = _user_dir(tmp_path / "user")
    with pytest.raises(FlowError, match="is not a build directory made by fpga-flow \\(no flow.json written by"):
        outdir.check_target(user, force=True)
    with pytest.raises(FlowError, match="is not a report directory made by fpga-flow \\(no .fpga-flow-report\\)"):
        outdir.check_target(own, force=True, owned=outdir.is_report_dir, what="report")
    (user / outdir.REPORT_MARKER).write_text("")
    assert outdir.check_target(user, force=True, owned=outdir.is_report_dir, what="report") == user.resolve()
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(FlowError, match="exists and is not a directory"):
        outdir.check_target(f, force=True)
    with pytest.raises(FlowError, match="pass --again"):
        outdir.check_target(own, force=False, flag="--again")


def test_is_build_dir_needs_the_flows_own_manifest(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    assert not outdir.is_build_dir(d)
    for text, want in (('{"fpga_flow_version": "0.1"}', True), ('{"version": 1}', False), ('["fpga_flow_version"]', False),
                       ("{not json", False), ('"fpga_flow_version"', False)):
        (d / "flow.json").write_text(text)
        assert outdir.is_build_dir(d) is want, text


def test_replace_dir_each_condition(tmp_path):
    # nothing there: renamed into place
    out = tmp_path / "out"
    tmp = _build_like(tmp_path / ".out.tmp-1", "new")
    outdir.replace_dir(tmp, out)
    assert json.loads((out / "flow.json").read_text())["tag"] == "new" and not tmp.exists()
    # the flow's own, there when the run publishes: refused without --force (another run may have
    # published it meanwhile), both left as they are
    tmp = _build_like(tmp_path / ".out.tmp-2", "newer")
    with pytest.raises(FlowError, match=r"appeared while this run was working \(another process wrote it\); nothing "
                                        r"was replaced: choose another --out, or pass --force to replace a directory "
                                        r"made by fpga-flow$"):
        outdir.replace_dir(tmp, out)
    assert json.loads((out / "flow.json").read_text())["tag"] == "new" and (tmp / "flow.json").is_file()
    # with --force: swapped, the old one deleted, no sibling left
    outdir.replace_dir(tmp, out, force=True)
    assert json.loads((out / "flow.json").read_text())["tag"] == "newer"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out"]
    # an empty folder: replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    outdir.replace_dir(_build_like(tmp_path / ".empty.tmp-1"), empty)
    assert (empty / "flow.json").is_file()
    # a user's folder that appeared meanwhile: refused, both left as they are
    user = _user_dir(tmp_path / "user")
    tmp = _build_like(tmp_path / ".user.tmp-1")
    with pytest.raises(FlowError, match="appeared while this run was working"):
        outdir.replace_dir(tmp, user)
    with pytest.raises(FlowError, match="no longer a directory fpga-flow may replace"):  # not even with --force
        outdir.replace_dir(tmp, user, force=True)
    assert _snapshot(user) == {"thesis.txt": b"mine"} and (tmp / "flow.json").is_file()
    # a file: refused
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(FlowError):
        outdir.replace_dir(tmp, f, force=True)
    assert f.read_text() == "x"


def test_make_tmp_and_probe(tmp_path):
    t = outdir.make_tmp(tmp_path / "sub" / "out")
    assert t.parent == tmp_path / "sub" and t.name.startswith(".out.tmp-") and t.is_dir()
    outdir.probe_writable(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(FlowError, match="is not a directory"):
        outdir.probe_writable(blocker / "sub")
    with pytest.raises(FlowError, match="cannot write in /proc"):
        outdir.probe_writable(Path("/proc/fpga_flow_probe"))
    with pytest.raises(FlowError, match=r"cannot write in /proc \("):  # a directory that takes no new entries
        outdir.probe_writable(Path("/proc"))


# ------------------------------------------------------------------ owners, locks, clean (outdir.py internals)

def test_refusals_say_what_to_do(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(FlowError, match=rf"^cannot write in {blocker} \(Not a directory\); choose a writable --out$"):
        with outdir.lock(blocker / "out"):
            pass
    user = _user_dir(tmp_path / "user")
    with pytest.raises(FlowError, match=r"is not a table directory made by fpga-flow \(not made by fpga-flow\); "
                                        r"refusing to replace it: choose another --out \(nothing was changed\)$"):
        outdir.check_target(user, force=True, owned=lambda p: False, what="table")
    e = outdir._busy(tmp_path / "out", "pid 7 on h")
    assert str(e).endswith("(pid 7 on h); wait for it to finish or choose another --out (nothing was changed)")
    assert e.holder == "pid 7 on h"
    assert outdir._describe_holder({}) == "pid ? on ?, since ?: ?"


def test_lock_record_names_this_run(tmp_path, monkeypatch):

    monkeypatch.setattr(sys, "argv", ["/opt/venv/bin/fpga-flow", "build", "cfg.yml", "--out", "a\n  b"])
    with outdir.lock(tmp_path / "out"):
        rec = json.loads((tmp_path / ".out.lock").read_text())
    me = outdir.current_owner()
    assert {k: rec[k] for k in ("pid", "host", "start", "boot")} == {"pid": me.pid, "host": me.host, "start": me.start,
                                                                      "boot": me.boot}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rec["since"]) and rec["command"] == "fpga-flow build cfg.yml --out a b"
    for argv, want in ((["-m", "report"], "fpga-flow report"), (["-c"], "fpga-flow"), ([], "python"),
                       (["/usr/bin/cli.py", "x"], "fpga-flow x"), (["/usr/bin/python3", "s.py"], "python3 s.py")):
        monkeypatch.setattr(sys, "argv", argv)
        assert outdir._command() == want, argv


def test_host_names_are_safe_for_file_names(monkeypatch):
    monkeypatch.setattr(outdir.socket, "gethostname", lambda: "lab pc#3.example")
    assert outdir._host() == "lab_pc_3.example"
    monkeypatch.setattr(outdir.socket, "gethostname", lambda: "")
    assert outdir._host() == "localhost"


def test_a_dead_processs_record_and_a_zombie_are_dead(tmp_path):

    dead = dead_owner()
    rec = {"pid": dead.pid, "start": dead.start, "boot": dead.boot, "host": dead.host}
    assert outdir._record_of_the_dead(rec) is True
    me = outdir.current_owner()
    assert outdir._record_of_the_dead({"pid": me.pid, "start": me.start, "boot": me.boot, "host": me.host}) is False
    assert outdir._record_of_the_dead({"pid": dead.pid}) is False  # incomplete: not provably dead
    # a child that exited but was not reaped yet (a zombie) is dead
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        t0 = time.time()
        while "Z" not in Path(f"/proc/{p.pid}/stat").read_text().split(")")[1][:3] and time.time() - t0 < 30:
            time.sleep(0.05)
        assert outdir._start_ticks(p.pid) is None
        assert outdir.Owner(p.pid, 0, me.boot, me.host).state() == outdir.STALE
    finally:
        p.wait()
    assert outdir._start_ticks(os.getpid()) == me.start > 0


def test_a_held_lock_with_a_dead_record_is_not_described_as_that_record(tmp_path):
    """The holder locks first and writes its record right after: in between, the file still holds the
    record of the killed run before it. That record is not reported as the holder."""

    dead = dead_owner()
    path = tmp_path / ".out.lock"
    path.write_text(json.dumps({"pid": dead.pid, "start": dead.start, "boot": dead.boot, "host": dead.host,
                                "since": "2026-01-01 00:00:00", "command": "fpga-flow build"}))
    assert outdir._lock_holder(path) is None  # not held
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert outdir._lock_holder(path) == f"a process that has not written its record into {path} yet"
        lf = outdir._leftover(tmp_path, ".out.lock")
        assert (lf.kind, lf.state, lf.holder) == ("lock", "in use", f"a process that has not written its record into {path} yet")
    finally:
        os.close(fd)
    lf = outdir._leftover(tmp_path, ".out.lock")
    assert (lf.target, lf.state, lf.holder, lf.why()) == ("out", outdir.STALE, "", "lock file of a run that is gone (not held)")


def test_lock_retries_while_the_lock_file_is_being_replaced(tmp_path, monkeypatch):
    """Locking a lock file its holder removed as it let go: try again (a few times), then say so."""
    real = outdir._same_file
    calls = []

    def first_moved(fd, path):
        calls.append(path)
        return len(calls) > 1 and real(fd, path)

    monkeypatch.setattr(outdir, "_same_file", first_moved)
    with outdir.lock(tmp_path / "a"):
        assert len(calls) == 2
    monkeypatch.setattr(outdir, "_same_file", lambda fd, path: False)
    with pytest.raises(FlowError, match=r"could not lock .*\.b\.lock \(it kept changing\); run again"):
        with outdir.lock(tmp_path / "b"):
            pass


def test_remove_stale_and_clean_remove_only_what_is_stale(tmp_path):
    dead, me = dead_owner(), outdir.current_owner()
    f = tmp_path / "F"
    f.mkdir()
    out = _build_like(f / "out", "v1")
    stale_tmp = f / f".out.tmp-{dead.tag}-abcd1234"
    stale_tmp.mkdir()
    (stale_tmp / "a").write_text("123")
    (stale_tmp / "b").write_text("45678")
    live_tmp = f / f".out.tmp-{me.tag}-efgh5678"
    live_tmp.mkdir()
    stale_probe = f / f".fpga-flow-probe-{dead.tag}-abcd1234"
    stale_probe.mkdir()
    (f / ".out.lock").write_text("{}")  # a lock file nobody holds
    assert outdir.size_of(stale_tmp) == 8 and outdir.size_of(stale_tmp / "b") == 5
    removed = outdir.remove_stale(out)
    assert sorted(lf.path.name for lf in removed) == sorted([stale_tmp.name, stale_probe.name])
    assert live_tmp.is_dir() and (f / ".out.lock").is_file()  # a live run's temporary and lock files stay
    # clean: the folder, each subfolder one level down, and beside it
    for sub in ("s1", "s2"):
        (f / sub).mkdir()
        (f / sub / f".x.tmp-{dead.tag}-abcd1234").mkdir()
    done = sorted((str(lf.path.relative_to(f)), what, lf.size) for lf, what in outdir.clean(f))
    assert done == sorted([(".out.lock", "removed", 2), (live_tmp.name, "kept", 0),
                           (f"s1/.x.tmp-{dead.tag}-abcd1234", "removed", 0),
                           (f"s2/.x.tmp-{dead.tag}-abcd1234", "removed", 0)])
    left = sorted(p.name for p in f.rglob("*") if p.name.startswith("."))
    assert left == [live_tmp.name] and not (f / "s1" / f".x.tmp-{dead.tag}-abcd1234").exists()
    assert not (f / "s2" / f".x.tmp-{dead.tag}-abcd1234").exists()
    # an output that is not there: its leftovers beside it, by name
    gone = f / f".gone.tmp-{dead.tag}-abcd1234"
    gone.mkdir()
    assert [(lf.path.name, what) for lf, what in outdir.clean(f / "gone", dry_run=True)] == [(gone.name, "would remove")]
    assert [(lf.path.name, what) for lf, what in outdir.clean(f / "gone")] == [(gone.name, "removed")]
    assert not gone.exists() and (out / "flow.json").is_file()


def test_replace_dir_refuses_a_link_and_undoes_a_swap_that_raced(tmp_path):
    build = _build_like(tmp_path / "real", "old")
    link = tmp_path / "link"
    link.symlink_to(build)
    tmp = _build_like(tmp_path / ".link.tmp-1", "new")
    with pytest.raises(FlowError, match="no longer a directory fpga-flow may replace; nothing was replaced; run "
                                        "again with another --out"):
        outdir.replace_dir(tmp, link, force=True)
    assert link.is_symlink() and json.loads((build / "flow.json").read_text())["tag"] == "old"
    # the directory changed between the check and the swap (its manifest gone): swapped back, refused
    out = _build_like(tmp_path / "out", "old")
    tmp = _build_like(tmp_path / ".out.tmp-2", "new")
    answers = iter([True, False])
    with pytest.raises(FlowError, match=r"changed during the run and is no longer a directory fpga-flow may replace; "
                                        r"nothing was replaced; run again with another --out$"):
        outdir.replace_dir(tmp, out, owned=lambda p: next(answers), force=True)
    assert json.loads((out / "flow.json").read_text())["tag"] == "old"
    assert json.loads((tmp / "flow.json").read_text())["tag"] == "new"


def test_make_tmp_and_write_atomic_write_beside_the_target(tmp_path, monkeypatch):
    t = outdir.make_tmp(tmp_path / "out")  # the parent exists already
    assert t.parent == tmp_path and t.name.startswith(f".out.tmp-{outdir.current_owner().tag}-")
    seen = []
    real = os.replace
    monkeypatch.setattr(outdir.os, "replace", lambda a, b: (seen.append(Path(a)), real(a, b))[1])
    outdir.write_atomic(tmp_path / "r.json", "{}")
    # beside the target (one file system: the rename is atomic), named for clean to find
    assert seen[0].parent == tmp_path and seen[0].name.startswith(f".r.json.tmp-{outdir.current_owner().tag}-")
    assert (tmp_path / "r.json").read_text() == "{}"


def test_lock_file_and_written_files_are_readable_not_executable(tmp_path):
    old = os.umask(0o022)
    try:
        with outdir.lock(tmp_path / "out"):
            assert (tmp_path / ".out.lock").stat().st_mode & 0o777 == 0o644
        outdir.write_atomic(tmp_path / "r.json", "{}")
        assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_lock_held_through_another_descriptor_names_the_output(tmp_path, monkeypatch):

    out = tmp_path / "out"
    fd = os.open(tmp_path / ".out.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.pwrite(fd, json.dumps({"pid": 12345, "host": "elsewhere", "start": 1, "boot": "1", "since": "then",
                              "command": "fpga-flow build x"}).encode(), 0)
    try:
        with pytest.raises(FlowError) as e:
            with outdir.lock(out):
                pass
        assert str(e.value).startswith(f"{out} is being written by another fpga-flow run (pid 12345 on elsewhere, since "
                                       "then: fpga-flow build x)")
        assert str(outdir.busy(out)) == str(e.value) and outdir.busy(tmp_path / "free") is None
        # the holder lets go between our attempt and the look at it: taken on the next try
        real = outdir._lock_holder
        monkeypatch.setattr(outdir, "_lock_holder", lambda path: os.close(fd) or monkeypatch.setattr(
            outdir, "_lock_holder", real))
        with outdir.lock(out):
            assert json.loads((tmp_path / ".out.lock").read_text())["pid"] == os.getpid()
    finally:
        with pytest.raises(OSError):
            os.close(fd)  # closed above by the patched look


def test_command_and_host_records_are_bounded(monkeypatch):

    monkeypatch.setattr(sys, "argv", ["/x/__main__.py", "report", "-v"])
    assert outdir._command() == "fpga-flow report -v"
    monkeypatch.setattr(sys, "argv", ["fpga-flow", "build", "y" * 400])
    assert outdir._command() == ("fpga-flow build " + "y" * 400)[:300]
    assert outdir._describe_holder({"pid": 1, "host": "h", "since": "t", "command": "c"}) == "pid 1 on h, since t: c"
    monkeypatch.setattr(outdir.socket, "gethostname", lambda: "Lab-PC." + "x" * 80)
    assert outdir._host() == ("Lab-PC." + "x" * 80)[:63]


def test_owner_records_of_a_reused_pid_and_an_unknown_boot(tmp_path):
    me = outdir.current_owner()
    # the pid now belongs to a process that started later than the record's: dead
    assert outdir._record_of_the_dead({"pid": me.pid, "start": me.start + 1, "boot": me.boot, "host": me.host}) is True
    # a record without a boot id ("0": not known) is judged by the process alone
    assert outdir.Owner(me.pid, me.start, "0", me.host).state() == outdir.ALIVE


def test_start_ticks_of_a_process_named_like_a_zombie():
    """/proc/PID/stat is 'pid (comm) state ...': a name holding ') Z' must not read as a zombie."""

    code = ("import ctypes, sys, time; ctypes.CDLL(None).prctl(15, b'a) Z b', 0, 0, 0); print('ok', flush=True); "
            "time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ok"
        assert "a) Z b" in Path(f"/proc/{p.pid}/stat").read_text()
        start = outdir._start_ticks(p.pid)
        assert start and start > 0
        t0 = time.time()
        assert outdir.Owner(p.pid, start, outdir.current_owner().boot, outdir.current_owner().host).state() == outdir.ALIVE
        assert time.time() - t0 < 5
    finally:
        p.kill()
        p.wait()


def test_start_ticks_where_proc_does_not_answer(monkeypatch):
    """Where /proc/PID/stat cannot be read: with /proc there the process is taken as gone; without /proc
    (another Unix) existence is asked of the kernel (kill 0) and the start is unknown (0)."""
    real_read, real_exists = Path.read_text, Path.exists

    def read(self, *a, **k):
        if str(self).startswith("/proc/") and str(self).endswith("/stat"):
            raise PermissionError(13, "Permission denied")
        return real_read(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", read)
    assert outdir._start_ticks(os.getpid()) is None
    monkeypatch.setattr(Path, "exists", lambda self: False if str(self) == "/proc/self/stat" else real_exists(self))
    assert outdir._start_ticks(os.getpid()) == 0
    assert outdir._start_ticks(dead_owner().pid) is None
    # asking never signals the process asked about (kill with signal 0 only)

    code = ("import signal, time; signal.signal(signal.SIGHUP, lambda *a: print('hup', flush=True)); "
            "signal.signal(signal.SIGTERM, lambda *a: print('term', flush=True)); print('ok', flush=True); time.sleep(3)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ok"
        assert outdir._start_ticks(child.pid) == 0
    finally:
        out, _ = child.communicate(timeout=30)
    assert out.strip() == ""


def test_publish_without_renameat2_flags(tmp_path, monkeypatch):
    """Kernels or file systems without RENAME_NOREPLACE: a plain rename, only where nothing is at out (a
    dangling symbolic link counts as something)."""
    monkeypatch.setattr(outdir, "_renameat2", lambda a, b, flags: False)
    tmp = _build_like(tmp_path / ".out.tmp-1", "new")
    assert outdir._publish_new(tmp, tmp_path / "out") is True and not tmp.exists()
    assert json.loads((tmp_path / "out" / "flow.json").read_text())["tag"] == "new"
    tmp = _build_like(tmp_path / ".out.tmp-2", "newer")
    assert outdir._publish_new(tmp, tmp_path / "out") is False and tmp.is_dir()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert outdir._publish_new(tmp, tmp_path / "dangling") is False and (tmp_path / "dangling").is_symlink()
    # replace without the exchange: the old copy renamed aside, then deleted
    monkeypatch.setattr(outdir, "_exchange", lambda a, b: False)
    outdir.replace_dir(tmp, tmp_path / "out", force=True)
    assert json.loads((tmp_path / "out" / "flow.json").read_text())["tag"] == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "out"]


def test_renameat2_reports_a_failure_with_its_cause(tmp_path):

    with pytest.raises(FileNotFoundError) as e:
        outdir._renameat2(tmp_path / "nope", tmp_path / "b", outdir._RENAME_NOREPLACE)
    assert (e.value.errno, e.value.strerror, e.value.filename) == (errno.ENOENT, os.strerror(errno.ENOENT),
                                                                   str(tmp_path / "b"))
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        assert outdir._same_file(fd, tmp_path) is True and outdir._same_file(fd, tmp_path / "nope") is False
    finally:
        os.close(fd)


def test_a_directory_that_cannot_be_listed_is_not_empty(tmp_path, monkeypatch):
    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refuse)
    assert outdir._is_empty_dir(tmp_path) is False


def test_make_tmp_and_probe_name_their_owner_and_say_why_they_fail(tmp_path, monkeypatch):
    t = outdir.make_tmp(tmp_path / "a" / "b" / "out")  # two folders that do not exist yet
    assert t.parent == tmp_path / "a" / "b"
    with pytest.raises(FlowError, match=r"^cannot write in /proc \(No such file or directory\); choose a writable --out$"):
        outdir.make_tmp(Path("/proc/out"))
    with pytest.raises(FlowError, match=r"^cannot write in /proc \(No such file or directory\); choose a writable --out$"):
        outdir.probe_writable(Path("/proc"))
    seen = []
    real = os.rmdir
    monkeypatch.setattr(outdir.os, "rmdir", lambda d: (seen.append(Path(d).name), real(d))[1])
    outdir.probe_writable(tmp_path)
    assert seen[0].startswith(f".fpga-flow-probe-{outdir.current_owner().tag}-")  # what clean recognises
    assert outdir._leftover(tmp_path, seen[0]).kind == "probe"


def test_write_atomic_leaves_nothing_when_the_rename_fails(tmp_path, monkeypatch):
    def fail(a, b):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outdir.os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        outdir.write_atomic(tmp_path / "r.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_signals_deferred_does_not_swallow_errors():
    with pytest.raises(ZeroDivisionError):
        with outdir._signals_deferred():
            1 / 0


def test_clean_each_kind_of_leftover(tmp_path, monkeypatch):
    """clean on a folder: a stale probe (no output of its own), a stale old copy of an output that is gone
    (kept: the only copy), a leftover of another output beside (not touched when cleaning one output), a
    symlinked folder (not followed), an output whose lock another run holds (kept), a dry run listing all."""

    dead = dead_owner()
    f = tmp_path / "F"
    f.mkdir()
    probe = f / f".fpga-flow-probe-{dead.tag}-abcd1234"
    old = f / f".gone.old-{dead.tag}"
    old.mkdir()
    older = f / ".legacy.tmp-abcd1234"  # an older fpga-flow's temporary: owner not recorded
    older.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / f".x.tmp-{dead.tag}-abcd1234").mkdir()
    (f / "link").symlink_to(elsewhere)
    busy_tmp = f / f".busy.tmp-{dead.tag}-abcd1234"
    later = f / f".zz.tmp-{dead.tag}-abcd1234"
    beside = tmp_path / f".other.tmp-{dead.tag}-abcd1234"  # another output's, beside F: not F's to clean
    beside.mkdir()
    for d in (probe, busy_tmp, later):
        d.mkdir()
    fd = os.open(f / ".busy.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.pwrite(fd, json.dumps({"pid": 7, "host": "elsewhere", "start": 1, "boot": "1", "since": "t", "command": "c"}).encode(), 0)
    try:
        dry = {lf.path.name: what for lf, what in outdir.clean(f, dry_run=True)}
        assert dry == {probe.name: "would remove", old.name: "kept", older.name: "kept", busy_tmp.name: "would remove",
                       later.name: "would remove", ".busy.lock": "kept"}, dry
        done = {lf.path.name: (what, lf.state, lf.why()) for lf, what in outdir.clean(f)}
        assert done[probe.name][0] == "removed" and done[later.name][0] == "removed"
        assert done[old.name] == ("kept", outdir.PREVIOUS, f"the previous copy of gone, left by an interrupted "
                                  f"replacement ({dead}) while gone is missing: rename it back to gone or delete it")
        assert done[older.name][2] == ("made by an older fpga-flow (owner not recorded); remove it by hand if no run "
                                       "of it is going on")
        assert done[busy_tmp.name][:2] == ("kept", "in use") and "pid 7 on elsewhere" in done[busy_tmp.name][2]
        assert sorted(p.name for p in f.iterdir()) == sorted([old.name, older.name, busy_tmp.name, ".busy.lock", "link"])
        assert (elsewhere / f".x.tmp-{dead.tag}-abcd1234").is_dir()  # behind the link: not touched
        assert beside.is_dir()
    finally:
        os.close(fd)
    # cleaning one output takes only its own leftovers from beside it
    mine = f / f".mine.tmp-{dead.tag}-abcd1234"
    mine.mkdir()
    assert [(lf.path.name, what) for lf, what in outdir.clean(f / "mine")] == [(mine.name, "removed")]
    assert busy_tmp.is_dir()
    # a lock that cannot be taken for another reason: kept, the reason recorded
    monkeypatch.setattr(outdir, "_acquire", lambda path, out: (_ for _ in ()).throw(FlowError("disk gone")))
    done = {lf.path.name: (what, lf.holder) for lf, what in outdir.clean(f)}
    assert done[busy_tmp.name] == ("kept", "disk gone")
