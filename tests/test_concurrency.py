"""One writer per output directory, no debris after a kill (issue 27).

The two must-show tests run real builds of the 32x32 test config in subprocesses (about 20 s each);
the rest exercise fpga_flow/outdir.py directly with real processes, locks and directories (no
TensorFlow)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT
from fastkit import dead_owner
from test_cli import SMALL, assert_one_line_error, run

from fpga_flow import outdir
from fpga_flow.errors import FlowError

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def _cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fpga_flow.cli", *map(str, args)], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(pred, timeout=120.0):
    t0 = time.time()
    while not pred():
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.1)


def _names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# ------------------------------------------------------------------ the must-show tests (real builds)

def test_two_concurrent_builds_into_one_new_out(tmp_path):
    """Both start while D does not exist: one publishes, the other exits 2 at once naming the first;
    D is the winner's project, complete (its storage audit passes), and nothing else is left."""
    out = tmp_path / "D"
    a = _cli("build", SMALL, "--out", out)
    b = _cli("build", SMALL, "--set", "quantization.weight_bits=4", "--out", out)
    bits = {a.pid: 8, b.pid: 4}
    results = {p.pid: (p,) + p.communicate(timeout=600) for p in (a, b)}
    rcs = sorted(p.returncode for p, _, _ in results.values())
    assert rcs == [0, 2], {pid: (p.returncode, err[-1500:]) for pid, (p, _, err) in results.items()}
    winner = next(p for p, _, _ in results.values() if p.returncode == 0)
    loser, _, loser_err = next(r for r in results.values() if r[0].returncode == 2)
    # one line naming the other process: its pid, host and command
    assert_one_line_error(type("R", (), {"returncode": 2, "stderr": loser_err})(),
                          "is being written by another fpga-flow run", f"pid {winner.pid} on ", "build", "--out")
    assert "built squeezenet1_1" in results[winner.pid][1]
    m = json.loads((out / "flow.json").read_text())
    assert m["config"]["quantization"].get("weight_bits", 8) == bits[winner.pid]  # the winner's project (8: the default)
    r = run("audit", out)
    assert r.returncode == 0 and "stores every memory as planned" in r.stdout, r.stdout[-2000:]
    assert _names(tmp_path) == ["D"]  # no temporary, probe or lock file left


def test_build_killed_with_sigkill_then_run_again(tmp_path):
    """kill -9 while g++ compiles: the temporary stays (nothing can run in a killed process), nothing
    is published; the same build again removes it (its owner is gone), succeeds, leaves no .tmp-."""
    out = tmp_path / "K"
    p = _cli("build", SMALL, "--out", out)
    tmps = lambda: [x for x in tmp_path.iterdir() if x.name.startswith(".K.tmp-")]
    _wait_for(lambda: any((t / "flow.json").exists() for t in tmps()))  # written: audit and compile follow
    time.sleep(1.5)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL
    left = tmps()
    assert len(left) == 1 and not out.exists()
    (lf,) = [x for x in outdir.scan(tmp_path, "K") if x.kind == "tmp"]
    assert lf.owner.pid == p.pid and lf.state == outdir.STALE  # its recorded owner, gone
    r = run("build", SMALL, "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert _names(tmp_path) == ["K"]  # the killed run's temporary and lock file are gone
    assert run("audit", out).returncode == 0


# ------------------------------------------------------------------ the lock

_HOLD = ("import sys, time\nfrom fpga_flow import outdir\ncm = outdir.lock(sys.argv[1])\ncm.__enter__()\n"
         "print('held', flush=True)\ntime.sleep(120)\n")


@pytest.mark.fast
def test_lock_names_its_holder_and_dies_with_it(tmp_path):
    out = tmp_path / "D"
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(FlowError, match=rf"being written by another fpga-flow run \(pid {p.pid} on .*since"):
            with outdir.lock(out):
                pass
        p.kill()  # SIGKILL: no cleanup code runs; the kernel releases the flock
        p.wait()
    finally:
        p.kill()
    assert (tmp_path / ".D.lock").is_file()  # what kill -9 leaves
    with outdir.lock(out):
        rec = json.loads((tmp_path / ".D.lock").read_text())
        assert rec["pid"] == os.getpid() and rec["host"] == outdir.current_owner().host
        with outdir.lock(out):  # re-entrant in the thread that holds it
            pass
        errors = []

        def other_thread():
            try:
                with outdir.lock(out):
                    pass
            except FlowError as e:
                errors.append(str(e))

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert errors and "this process, another thread" in errors[0]
    assert _names(tmp_path) == []  # the lock file goes with the lock


def _tmp(folder: Path, target: str, owner: outdir.Owner, rand="abcd1234") -> Path:
    d = folder / f".{target}.tmp-{owner.tag}-{rand}"
    d.mkdir()
    (d / "payload").write_text("x" * 100)
    return d


@pytest.mark.fast
def test_stale_temporaries_removed_only_when_their_owner_is_gone(tmp_path):
    me, dead = outdir.current_owner(), dead_owner()
    assert me.state() == outdir.ALIVE and dead.state() == outdir.STALE
    reused = outdir.Owner(me.pid, me.start - 1, me.boot, me.host)  # this pid, but started later: not its owner
    assert reused.state() == outdir.STALE
    elsewhere = outdir.Owner(dead.pid, dead.start, dead.boot, "another-host.example")
    rebooted = outdir.Owner(me.pid, me.start, "00000000", me.host)
    assert elsewhere.state() == outdir.OTHER_HOST and rebooted.state() == outdir.STALE
    out = tmp_path / "D"
    gone = [_tmp(tmp_path, "D", dead), _tmp(tmp_path, "D", reused, "efgh5678"), _tmp(tmp_path, "D", rebooted, "zz_z9999")]
    kept = [_tmp(tmp_path, "D", me), _tmp(tmp_path, "D", elsewhere), tmp_path / ".D.tmp-q1w2e3r4",  # untagged: older
            _tmp(tmp_path, "E", dead)]  # another output's: not this run's business
    kept[2].mkdir()
    old = tmp_path / f".D.old-{dead.tag}"  # the previous copy of D while D is missing: never deleted
    old.mkdir()
    with outdir.lock(out):
        pass
    assert all(not g.exists() for g in gone) and all(k.exists() for k in kept) and old.exists()
    # fpga-flow clean lists everything and removes the stale ones only (the other output's too)
    r = run("clean", tmp_path)
    assert r.returncode == 0, r.stderr
    assert not kept[3].exists() and kept[0].exists() and kept[1].exists() and kept[2].exists() and old.exists()
    lines = r.stdout.splitlines()
    assert any(l.startswith("removed") and kept[3].name in l and "no longer running" in l for l in lines)
    assert any(l.startswith("kept") and kept[0].name in l and f"pid {me.pid} on {me.host} is running" in l
               for l in lines)
    assert any(l.startswith("kept") and kept[1].name in l and "another host" in l for l in lines)
    assert any(l.startswith("kept") and kept[2].name in l and "owner not recorded" in l for l in lines)
    assert any(l.startswith("kept") and old.name in l for l in lines)
    out.mkdir()  # once D is there again, its old copy is superseded
    r = run("clean", out, "--dry-run")
    assert f"would remove {old}" in r.stdout and old.exists()
    r = run("clean", out)
    assert not old.exists()


@pytest.mark.fast
def test_clean_leaves_a_running_builds_temporary_alone(tmp_path):
    """A temporary whose owner holds the output's lock is 'in use' even to clean."""
    out = tmp_path / "D"
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        t = _tmp(tmp_path, "D", dead_owner())  # looks stale, but D's lock is held: clean waits for that run
        r = run("clean", tmp_path)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert any(l.startswith("kept") and ".D.lock" in l and f"held by pid {p.pid}" in l for l in lines), lines
        assert any(l.startswith("kept") and t.name in l and f"D is being written by pid {p.pid}" in l for l in lines)
        assert (tmp_path / ".D.lock").exists() and t.exists()
    finally:
        p.kill()
        p.wait()
    assert_one_line_error(run("clean", tmp_path / "no" / "such"), "no such directory")


@pytest.mark.fast
def test_publish_never_lands_on_what_appeared_meanwhile(tmp_path):
    """A directory that appeared at --out while the run worked, even one made by fpga-flow, is not
    replaced without --force; with --force only one the flow may replace is."""
    out = tmp_path / "D"
    new = tmp_path / ".D.tmp-new"
    new.mkdir()
    (new / "flow.json").write_text(json.dumps({"fpga_flow_version": "0", "tag": "new"}))
    out.mkdir()  # another run published here meanwhile
    (out / "flow.json").write_text(json.dumps({"fpga_flow_version": "0", "tag": "theirs"}))
    with pytest.raises(FlowError, match="appeared while this run was working"):
        outdir.replace_dir(new, out)
    assert json.loads((out / "flow.json").read_text())["tag"] == "theirs" and new.is_dir()
    outdir.replace_dir(new, out, force=True)
    assert json.loads((out / "flow.json").read_text())["tag"] == "new" and not new.exists()


@pytest.mark.fast
def test_scratch_and_atomic_writes_record_their_owner(tmp_path):
    dead = dead_owner()
    stale = tmp_path / f"fpga_flow_csim_{dead.tag}-abcd1234"
    stale.mkdir()
    with outdir.scratch("csim", tmp_path) as d:
        assert d.name.startswith(f"fpga_flow_csim_{outdir.current_owner().tag}-")
        assert not stale.exists()  # the dead run's scratch went first
        lf = outdir.scan(tmp_path)[0]
        assert lf.kind == "scratch" and lf.state == outdir.ALIVE
    assert not d.exists()
    f = tmp_path / "accuracy.json"
    outdir.write_atomic(f, "[]\n")
    assert f.read_text() == "[]\n" and _names(tmp_path) == ["accuracy.json"]
    dead_tmp = tmp_path / f".accuracy.json.tmp-{dead.tag}-abcd1234"
    dead_tmp.write_text("[")
    assert [(x.kind, x.target, x.state) for x in outdir.scan(tmp_path)] == [("tmp", "accuracy.json", outdir.STALE)]
    with outdir.lock(f):
        pass
    assert _names(tmp_path) == ["accuracy.json"]


def test_dask_prepare_survives_a_worker_killed_while_it_prepares():
    """verify --scheduler pins one unpack-and-compile task to each worker; a worker killed meanwhile
    (its replacement has a new address) used to leave that task waiting for ever (the chaos benchmark
    found verify hung for minutes). Now the task is dropped as its worker leaves."""
    from fpga_flow.verify.distributed import Cluster, _prepare

    with Cluster("local:2") as client:
        pids = client.run(os.getpid)  # address -> worker process id
        a, b = sorted(pids)
        pinned = {a: client.submit(time.sleep, 600, workers=[a], allow_other_workers=False, pure=False),
                  b: client.submit(time.sleep, 0.1, workers=[b], allow_other_workers=False, pure=False)}
        time.sleep(1.0)
        os.kill(pids[a], signal.SIGTERM)
        t0 = time.monotonic()
        _prepare(client, pinned)
        assert time.monotonic() - t0 < 60
        assert pinned[b].status == "finished" and pinned[a].cancelled()


@pytest.mark.fast
@pytest.mark.parametrize("argv", [
    ["demo", "--config", SMALL, "--out", "{out}", "--force"],
    ["sweep", SMALL, "--grid", "quantization.weight_bits=8", "--out", "{out}"],
    ["accuracy", str(ROOT / "hls_configs" / "fmnist_squeezenet1_1.yml"), "--out", "{out}", "--csim-images", "1"],
    ["report", "{out}", "--format", "html"],  # html into the build directory: that directory's lock
], ids=["demo", "sweep", "accuracy", "report-html"])
def test_every_writing_command_is_refused_while_another_run_holds_its_out(tmp_path, argv):
    out = tmp_path / "D"
    out.mkdir()
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        r = run(*[a.replace("{out}", str(out)) for a in argv])
        assert_one_line_error(r, "is being written by another fpga-flow run", f"pid {p.pid} on ")
    finally:
        p.kill()
        p.wait()
    assert _names(out) == [] and _names(tmp_path) == [".D.lock", "D"]  # nothing written (the lock file: kill -9)
