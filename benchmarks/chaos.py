"""Fault injection: concurrent fpga-flow runs on a few shared output directories, killed at random.

    .venv/bin/python benchmarks/chaos.py [--rounds 30] [--ops 12] [--parallel 3] [--seed 1] \\
        [--work build/chaos] [--report reports/chaos.txt]

Every round launches ``--ops`` real ``fpga-flow`` commands (each its own process, staggered by
0-4 s, at most ``--parallel`` heavy ones at a time; a sweep or a Dask verify counts twice) on the
output directories A and B (builds), M (demo) and S (sweep) under WORK/outs, drawn at random:

    build  hls_configs/squeezenet1_1_32_w8_test.yml --out A|B [--force] [--set quantization.weight_bits=8|6|4]
           --set weights.seed=<op id>         (the seed names the run that published a build directory)
    verify A|B|M --images 2 --source random --json [--scheduler local:2]
    report A|B|M --format md|json|html        audit A|B|M
    sweep  ... --grid quantization.weight_bits=8,6 --out S --scheduler local:2 [--verify 1] [--force]
    demo   --config ... --out M --images 2 --source random --jobs 1 [--force]
    clean  WORK/outs | WORK/tmp               (concurrently with the rest: must not touch a live run's files)
    build/sweep/demo into WORK/outs/user --force   (a user's directory: must be refused, exit 2, untouched)

60% of the heavy runs get a signal (SIGINT, SIGTERM or SIGKILL, equally likely) at a random time in
their expected duration (as measured alone); 80% of the sweeps and Dask verifies get one of their
Dask worker processes killed (SIGKILL or SIGTERM) at a random time after the workers have started.
Only signals that reached a live process are counted as kills. Before a round a target may be
deleted (as a user would), so that new-directory races happen too.

After every round (once nothing runs; orphaned processes are given 30 s, then killed) the checks,
each failure a violation:

* every published build directory (A, B, M) passes ``fpga-flow audit`` and holds a valid flow.json
  (M's verify.json/report.json, if there, valid JSON; verify.json exact); S holds a valid sweep.json;
* the run that published each build directory (its weights.seed) exited 0 or was killed, never one
  that was refused; a build/demo without --force exited 0 at most once per target and round, and
  never when the target was there at the start of the round; a build/demo that exited 0 finds its
  own project at its --out right after;
* the sentinel tree (WORK/sentinel, WORK/outs/notes.txt, WORK/outs/keep/, WORK/outs/user/) is
  byte-identical and WORK/outs holds nothing but the targets, the sentinels and the flow's own
  temporaries/lock files of the targets;
* every verify that exited 0 reported exact_fraction 1.0 (and passed); no run that no signal
  reached exited 1 (a verify whose Dask worker was killed may: its tasks can run out of retries);
  every exit 2 gives one line starting "fpga-flow: error:" and nothing else on stderr but, for a
  verify that failed after it started, its C-sim progress bar; no traceback;
* after a clean run no stale temporary, probe, scratch directory or lock file of the flow remains
  (odd rounds: for every target with stale leftovers beside or inside it, the same kind of run
  again with --force, unkilled, must remove them as "the next run of the same --out"; every round
  then ``fpga-flow clean`` on WORK/outs and WORK/tmp).

WORK/ops.jsonl records every run (command, exit code, signal, stderr tail).

The report (``--report``) gives rounds, operations, kills by signal and target, exit codes, the
one-line messages seen and the violations (must be 0). TMPDIR of the runs is WORK/tmp.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import hashlib
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fpga_flow import outdir  # noqa: E402  (light: no TensorFlow)

SMALL = str(ROOT / "hls_configs" / "squeezenet1_1_32_w8_test.yml")
MARKER = ".fpga-flow-chaos"
TARGETS = ("A", "B", "M", "S")
SIGNALS = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGKILL: "SIGKILL"}
EXPECTED_S = {"build": 25, "verify": 14, "verify-dask": 30, "report": 10, "audit": 2, "sweep": 35, "demo": 35,
              "clean": 1, "refused": 2}
WEIGHT = {"build": 1, "verify": 1, "verify-dask": 2, "report": 1, "audit": 0, "sweep": 2, "demo": 1, "clean": 0,
          "refused": 0}
MIX = [("build", 34), ("verify", 12), ("verify-dask", 6), ("report", 10), ("audit", 6), ("sweep", 8), ("demo", 10),
       ("clean", 6), ("refused", 8)]
PROGRESS = re.compile(r"^\s*C-sim( \(dask\))?:\s+\d+%\|")  # tqdm's progress lines of verify
MESSAGES = {  # one-line errors the runs may legitimately give, by what they say
    "busy (another run holds the --out)": "is being written by another fpga-flow run",
    "exists (no --force)": "already exists; pass",
    "refused (not made by fpga-flow)": "made by fpga-flow (",
    "replaced while read": "was replaced by another fpga-flow run while",
    "not built (yet)": "is not a built flow directory",
    "appeared meanwhile (publish re-check)": "appeared while this run was working",
}


@dataclass
class Op:
    id: int
    round: int
    kind: str
    target: str | None
    argv: list[str]
    force: bool = False
    seed: int | None = None
    weight: int = 1
    proc: subprocess.Popen | None = None
    t_start: float = 0.0
    t_end: float = 0.0
    rc: int | None = None
    out: str = ""
    err: str = ""
    kill_at: float | None = None
    kill_sig: int | None = None
    kill_sent: bool = False
    killed: str | None = None              # the signal name, if it reached a live process
    worker_kill_at: float | None = None
    worker_kill_sig: int | None = None
    worker_killed: list = field(default_factory=list)
    worker_kill_done: bool = False
    hung: bool = False
    workers_seen: float | None = None        # when its Dask worker processes were first seen


def _prctl_subreaper():
    """Orphans of the runs (a killed build's g++, a killed sweep's Dask workers) become our children,
    so they can be waited for and, if they linger, killed."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _child_setup():
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as from a terminal (a background parent passes SIG_IGN on)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _tree_hash(paths: list[Path], base: Path) -> dict[str, str]:
    h = {}
    for p in paths:
        for f in sorted([p] if p.is_file() else p.rglob("*")):
            if f.is_file():
                h[str(f.relative_to(base))] = hashlib.sha256(f.read_bytes()).hexdigest()
            elif f.is_dir():
                h[str(f.relative_to(base)) + "/"] = "dir"
    return h


class Chaos:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = Path(args.work).resolve()
        self.outs = self.work / "outs"
        self.tmp = self.work / "tmp"
        self.ops: list[Op] = []
        self.violations: list[str] = []
        self.rounds: list[dict] = []
        self.orphans_killed = 0
        self.orphans_exited = 0
        self.clean_runs = collections.Counter()
        self.clean_publishers: dict[int, tuple[str, int]] = {}  # seed -> (target, exit code) of the clean runs' builds
        self.clean_seed: dict[str, int] = {}
        self.stale_kinds = collections.Counter()
        self.env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TMPDIR=str(self.tmp), PYTHONUNBUFFERED="1")
        self.fpga = [sys.executable, "-m", "fpga_flow.cli"]

    # ---- set-up ---------------------------------------------------------------------------------------
    def setup(self):
        if self.work.exists():
            if not (self.work / MARKER).is_file():
                sys.exit(f"{self.work} exists and was not made by this benchmark; choose another --work")
            shutil.rmtree(self.work)
        self.outs.mkdir(parents=True)
        self.tmp.mkdir()
        (self.work / MARKER).write_text("made by benchmarks/chaos.py; deleted by its next run\n")
        rng = random.Random(12345)
        sent = self.work / "sentinel"
        for i in range(40):
            d = sent / f"d{i % 5}" / f"e{i % 3}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i}.bin").write_bytes(rng.randbytes(rng.randint(0, 4096)))
        (self.outs / "notes.txt").write_text("the user's notes beside the outputs\n")
        (self.outs / "keep").mkdir()
        (self.outs / "keep" / "thesis.tex").write_text("\\documentclass{article}\n")
        (self.outs / "user").mkdir()
        (self.outs / "user" / "data.csv").write_text("a,b\n1,2\n")
        (self.outs / "user" / "flow.json").write_text('{"mine": true}\n')  # not written by fpga-flow
        self.sentinel_paths = [sent, self.outs / "notes.txt", self.outs / "keep", self.outs / "user"]
        self.sentinel = _tree_hash(self.sentinel_paths, self.work)

    # ---- operations -------------------------------------------------------------------------------------
    def make_op(self, rnd: int) -> Op:
        kinds, weights = zip(*MIX)
        kind = self.rng.choices(kinds, weights)[0]
        oid = len(self.ops) + 1
        rng = self.rng
        force = rng.random() < 0.5
        if kind == "build":
            t = rng.choice("AB")
            argv = ["build", SMALL, "--out", str(self.outs / t), "--set", f"weights.seed={oid}"]
            bits = rng.choice([8, 8, 6, 4])
            if bits != 8:
                argv += ["--set", f"quantization.weight_bits={bits}"]
            op = Op(oid, rnd, kind, t, argv + (["--force"] if force else []), force=force, seed=oid)
        elif kind in ("verify", "verify-dask"):
            t = rng.choice("ABM")
            argv = ["verify", str(self.outs / t), "--images", "2", "--source", "random", "--json"]
            op = Op(oid, rnd, kind, t, argv + (["--scheduler", "local:2"] if kind == "verify-dask" else []))
        elif kind == "report":
            t = rng.choice("ABM")
            op = Op(oid, rnd, kind, t, ["report", str(self.outs / t), "--format", rng.choice(["md", "json", "html"])])
        elif kind == "audit":
            t = rng.choice("ABM")
            op = Op(oid, rnd, kind, t, ["audit", str(self.outs / t)])
        elif kind == "sweep":
            force = rng.random() < 0.75  # mostly replacing S: a sweep that runs its points can be hit
            argv = ["sweep", SMALL, "--grid", "quantization.weight_bits=8,6", "--out", str(self.outs / "S"),
                    "--scheduler", "local:2"] + (["--verify", "1"] if rng.random() < 0.5 else [])
            op = Op(oid, rnd, kind, "S", argv + (["--force"] if force else []), force=force)
        elif kind == "demo":
            argv = ["demo", "--config", SMALL, "--out", str(self.outs / "M"), "--images", "2", "--source", "random",
                    "--jobs", "1"]
            # the demo's weights.seed cannot be set on its command line: its seed is read from flow.json's config
            op = Op(oid, rnd, kind, "M", argv + (["--force"] if force else []), force=force)
        elif kind == "clean":
            op = Op(oid, rnd, kind, None, ["clean", str(rng.choice([self.outs, self.tmp]))])
        else:  # a user's directory given to a writing command: refused, untouched
            argv = rng.choice([["build", SMALL, "--out", str(self.outs / "user"), "--force"],
                               ["demo", "--config", SMALL, "--out", str(self.outs / "keep"), "--force"],
                               ["sweep", SMALL, "--grid", "quantization.weight_bits=8", "--out", str(self.outs / "user"),
                                "--force"]])
            op = Op(oid, rnd, kind, None, argv)
        op.weight = WEIGHT[kind]
        exp = EXPECTED_S[kind]
        if op.weight and rng.random() < self.args.kill_rate:
            op.kill_sig = rng.choice(list(SIGNALS))
            op.kill_at = rng.uniform(0.3, exp)
        if kind in ("sweep", "verify-dask") and rng.random() < 0.8:
            op.worker_kill_sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
            op.worker_kill_at = rng.uniform(0, 0.6 * exp)  # after the workers have started
        self.ops.append(op)
        return op

    def start(self, op: Op):
        op.t_start = time.monotonic()
        op.proc = subprocess.Popen(self.fpga + op.argv, cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, preexec_fn=_child_setup)
        # read in threads: a full pipe would block the run
        import threading

        def drain(stream, attr):
            setattr(op, attr, stream.read())

        op._threads = [threading.Thread(target=drain, args=(op.proc.stdout, "out"), daemon=True),
                       threading.Thread(target=drain, args=(op.proc.stderr, "err"), daemon=True)]
        for t in op._threads:
            t.start()

    def maybe_kill(self, op: Op, now: float):
        p = op.proc
        if op.kill_at is not None and not op.kill_sent and now - op.t_start >= op.kill_at:
            op.kill_sent = True
            if p.poll() is None:
                try:
                    os.kill(p.pid, op.kill_sig)
                    op.killed = SIGNALS[op.kill_sig]
                except ProcessLookupError:
                    pass
        if op.worker_kill_at is not None and not op.worker_kill_done:
            try:
                kids = [c for c in psutil.Process(p.pid).children(recursive=True)
                        if "spawn_main" in " ".join(c.cmdline())]
            except psutil.Error:
                kids = []
            if kids and op.workers_seen is None:
                op.workers_seen = now
            if kids and now - op.workers_seen >= op.worker_kill_at:
                victim = self.rng.choice(kids)
                try:
                    victim.send_signal(op.worker_kill_sig)
                    op.worker_killed.append(SIGNALS[op.worker_kill_sig])
                except psutil.Error:
                    pass
                op.worker_kill_done = True
            elif now - op.t_start > 3 * EXPECTED_S[op.kind] or p.poll() is not None:
                op.worker_kill_done = True  # no worker showed up in time: none killed

    def finish(self, op: Op):
        op.rc = op.proc.returncode
        op.t_end = time.monotonic()
        for t in op._threads:
            t.join(timeout=30)
        with open(self.work / "ops.jsonl", "a") as f:  # every run, for the record
            f.write(json.dumps({"id": op.id, "round": op.round, "argv": op.argv, "rc": op.rc, "killed": op.killed,
                                "kill_at_s": op.kill_at if op.killed else None, "worker_killed": op.worker_killed,
                                "seconds": round(op.t_end - op.t_start, 1), "stderr_tail": op.err[-1500:]}) + "\n")
        # a build that exited 0 finds its own project at its --out right after (the demo's seed is the
        # config's: the demo cannot be told apart by it)
        if op.kind == "build" and op.rc == 0:
            seed = self.published_seed(op.target)
            if seed != op.seed:
                self.violation(op, f"exited 0 but {op.target} holds the project of run {seed}")

    # ---- checks ------------------------------------------------------------------------------------
    def violation(self, op: Op | None, what: str):
        where = f"round {op.round} op {op.id} ({' '.join(op.argv)[:160]})" if op else "check"
        self.violations.append(f"{where}: {what}")

    def published_seed(self, t: str):
        try:
            return json.loads((self.outs / t / "flow.json").read_text())["config"]["weights"]["seed"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def check_op(self, op: Op):
        # the C-sim progress bar (tqdm, on stderr) may come before an error found after the work started
        err_lines = [l for l in op.err.replace("\r", "\n").splitlines() if l.strip() and not PROGRESS.match(l)]
        signalled = op.killed is not None
        if op.rc == 2:
            if len(err_lines) != 1 or not err_lines[0].startswith("fpga-flow: error:") or "Traceback" in op.err:
                self.violation(op, f"exit 2 without a one-line error: {op.err[-600:]!r}")
            elif op.kind in ("build", "demo", "sweep", "refused") and not any(v in err_lines[0] for v in MESSAGES.values()):
                self.violation(op, f"unexpected refusal: {err_lines[0][:300]}")
        if op.kind == "refused":
            if op.rc != 2 or "made by fpga-flow (" not in op.err:
                self.violation(op, f"a user's directory was not refused (exit {op.rc}): {op.err[-300:]!r}")
        if op.kind in ("verify", "verify-dask") and op.rc == 0:
            try:
                res = json.loads(op.out)
                if res.get("exact_fraction") != 1.0 or not res.get("passed"):
                    self.violation(op, f"verify exited 0 with exact_fraction {res.get('exact_fraction')}")
            except ValueError:
                self.violation(op, f"verify exited 0 without its JSON: {op.out[-300:]!r}")
        if op.rc == 1 and not signalled:
            if not (op.kind == "verify-dask" and op.worker_killed):
                self.violation(op, f"exit 1 with no signal sent to it: {op.err[-800:]!r}")
        if op.rc not in (0, 1, 2) and not signalled:
            self.violation(op, f"exit {op.rc} with no signal sent to it: {op.err[-800:]!r}")
        if op.kind == "clean" and op.rc != 0:
            self.violation(op, f"clean exited {op.rc}: {op.err[-400:]!r}")

    def check_round(self, rnd: int, ops: list[Op], existed: dict[str, bool]):
        n0 = len(self.violations)
        # published directories complete and valid
        for t in ("A", "B", "M"):
            d = self.outs / t
            if not d.exists():
                continue
            if not outdir.is_build_dir(d):
                self.violation(None, f"round {rnd}: {t} exists without a valid flow.json: {sorted(os.listdir(d))}")
                continue
            r = subprocess.run(self.fpga + ["audit", str(d)], cwd=ROOT, env=self.env, capture_output=True, text=True)
            if r.returncode != 0:
                self.violation(None, f"round {rnd}: audit of {t} exited {r.returncode}: {(r.stdout + r.stderr)[-600:]}")
            for name in ("verify.json", "report.json"):
                if (d / name).exists():
                    try:
                        v = json.loads((d / name).read_text())
                        if name == "verify.json" and v.get("exact_fraction") != 1.0:
                            self.violation(None, f"round {rnd}: {t}/verify.json exact_fraction {v.get('exact_fraction')}")
                    except ValueError:
                        self.violation(None, f"round {rnd}: {t}/{name} is not valid JSON (half-written)")
            seed = self.published_seed(t)
            by = {o.seed: (o.target, o.rc) for o in self.ops if o.seed is not None}
            by.update(self.clean_publishers)
            if t in "AB":
                pub_target, pub_rc = by.get(seed, (None, None))
                if pub_target != t or pub_rc == 2:
                    self.violation(None, f"round {rnd}: {t} holds the project of run {seed}, which "
                                         f"{'is not a build of ' + t if pub_target != t else 'was refused (exit 2)'}")
        s = self.outs / "S"
        if s.exists():
            try:
                meta = json.loads((s / "sweep.json").read_text())
                assert meta["fpga_flow_version"] and len(meta["rows"]) == 2
                assert (s / "sweep.md").is_file() and (s / "sweep.png").is_file()
            except (OSError, ValueError, KeyError, AssertionError, TypeError) as e:
                self.violation(None, f"round {rnd}: S is not a complete sweep ({type(e).__name__}: {e})")
        # no non-forced double publish, none over what was there
        for t in TARGETS:
            wins = [o for o in ops if o.target == t and o.kind in ("build", "demo", "sweep") and not o.force and o.rc == 0]
            if existed[t] and wins:
                self.violation(wins[0], f"exited 0 without --force though {t} existed before the round")
            if len(wins) > 1:
                self.violation(wins[1], f"a second run without --force exited 0 on {t} (the first: op {wins[0].id})")
        # the user's files
        now = _tree_hash(self.sentinel_paths, self.work)
        if now != self.sentinel:
            changed = sorted(set(now.items()) ^ set(self.sentinel.items()))[:5]
            self.violation(None, f"round {rnd}: the sentinel tree changed: {changed}")
        for name in os.listdir(self.outs):
            if name in TARGETS or name in ("notes.txt", "keep", "user"):
                continue
            lf = outdir._leftover(self.outs, name)
            if lf is None or (lf.target not in TARGETS and lf.kind != "probe"):
                self.violation(None, f"round {rnd}: unexpected entry in outs: {name}")
        return len(self.violations) - n0

    def leftovers(self) -> list[outdir.Leftover]:
        found = outdir.scan(self.outs) + outdir.scan(self.tmp)
        for t in TARGETS:
            if (self.outs / t).is_dir():
                found += outdir.scan(self.outs / t)
        return found

    def reap_orphans(self, running_pids: set[int]):
        """Wait up to 30 s for processes the runs left (reparented to us), then kill them."""
        def orphans():
            try:
                return [c for c in psutil.Process().children() if c.pid not in running_pids]
            except psutil.Error:
                return []
        found = orphans()
        deadline = time.monotonic() + 30
        while found and time.monotonic() < deadline:
            gone, alive = psutil.wait_procs(found, timeout=1)
            self.orphans_exited += len(gone)
            found = orphans()
        for c in found:
            for k in [c] + c.children(recursive=True):
                try:
                    k.kill()
                    self.orphans_killed += 1
                except psutil.Error:
                    pass
        psutil.wait_procs(found, timeout=10)

    def of_target(self, lf: outdir.Leftover, t: str) -> bool:
        """A leftover of output t: beside it (its temporaries, its lock file) or inside it (temporaries
        of the files written into it, the lock of its report/ folder)."""
        return (lf.path.parent == self.outs and lf.target == t) or lf.path.parent == self.outs / t

    def place(self, lf: outdir.Leftover) -> str:
        if lf.path.parent == self.outs:
            return f"beside {lf.target}"
        return f"inside {lf.path.parent.name}" if lf.path.parent.parent == self.outs else "in TMPDIR"

    def next_run(self, t: str, rnd: int) -> list[str]:
        """The same kind of run on output t, unkilled (what a user runs after a crash)."""
        if t in "AB":
            seed = 10**6 + 10 * rnd + "AB".index(t)
            self.clean_seed[t] = seed
            return ["build", SMALL, "--out", str(self.outs / t), "--force", "--set", f"weights.seed={seed}"]
        if t == "M":
            return ["demo", "--config", SMALL, "--out", str(self.outs / t), "--images", "2", "--source", "random",
                    "--jobs", "1", "--force"]
        return ["sweep", SMALL, "--grid", "quantization.weight_bits=8,6", "--out", str(self.outs / t), "--force"]

    def clean_run(self, rnd: int) -> dict:
        stats = {"stale_before": 0, "removed_by_next_run": 0, "removed_by_clean": 0}
        stale = [lf for lf in self.leftovers() if lf.state == outdir.STALE]
        stats["stale_before"] = len(stale)
        self.stale_kinds.update(f"{lf.kind} {self.place(lf)}" for lf in stale)
        if rnd % 2 == 1:  # the next run of the same --out removes what killed runs of it left
            for t in TARGETS:
                mine = [lf for lf in stale if self.of_target(lf, t)]
                if not mine:
                    continue
                argv = self.next_run(t, rnd)
                r = subprocess.run(self.fpga + argv, cwd=ROOT, env=self.env, capture_output=True, text=True)
                if t in "AB":
                    self.clean_publishers[self.clean_seed[t]] = (t, r.returncode)
                self.clean_runs[argv[0] + " --force"] += 1
                left = [lf for lf in self.leftovers() if self.of_target(lf, t)]
                if r.returncode != 0 or left:
                    self.violation(None, f"round {rnd}: the next run of {t} ({argv[0]}) exited {r.returncode} and "
                                         f"left {[lf.path.name for lf in left]}: {r.stderr[-400:]}")
                stats["removed_by_next_run"] += len([lf for lf in mine if not lf.path.exists()])
        for d in (self.outs, self.tmp):
            r = subprocess.run(self.fpga + ["clean", str(d)], cwd=ROOT, env=self.env, capture_output=True, text=True)
            self.clean_runs["clean"] += 1
            if r.returncode != 0:
                self.violation(None, f"round {rnd}: clean {d} exited {r.returncode}: {r.stderr[-300:]}")
            stats["removed_by_clean"] += sum(l.startswith("removed") for l in r.stdout.splitlines())
        left = self.leftovers()
        if left:
            self.violation(None, f"round {rnd}: after the clean run, left: "
                                 f"{[(lf.path.name, lf.state) for lf in left][:6]}")
        return stats

    # ---- a round ------------------------------------------------------------------------------------
    def round(self, rnd: int):
        t0 = time.monotonic()
        # as a user would: sometimes delete a build directory, so that new-directory races happen
        if rnd > 1 and self.rng.random() < 0.4:
            t = self.rng.choice("ABMS")
            if (self.outs / t).exists():
                shutil.rmtree(self.outs / t)
        existed = {t: (self.outs / t).is_dir() and any((self.outs / t).iterdir()) for t in TARGETS}
        pending = [self.make_op(rnd) for _ in range(self.args.ops)]
        running: list[Op] = []
        next_start = time.monotonic()
        while pending or running:
            now = time.monotonic()
            while pending and now >= next_start and sum(o.weight for o in running) + pending[0].weight <= self.args.parallel:
                op = pending.pop(0)
                self.start(op)
                running.append(op)
                next_start = now + self.rng.uniform(0, 4)
            for op in list(running):
                self.maybe_kill(op, now)
                if now - op.t_start > max(300, 10 * EXPECTED_S[op.kind]) and not op.hung:
                    op.hung = True  # a run that never ends is a failure too: recorded, then killed
                    self.violation(op, f"still running after {now - op.t_start:.0f} s: killed")
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(op.proc.pid, signal.SIGKILL)
                if op.proc.poll() is not None:
                    self.finish(op)
                    running.remove(op)
            time.sleep(0.1)
        ops = [o for o in self.ops if o.round == rnd]
        self.reap_orphans(set())
        for op in ops:
            self.check_op(op)
        stale_debris = len([lf for lf in self.leftovers() if lf.state == outdir.STALE])
        v = self.check_round(rnd, ops, existed)
        cs = self.clean_run(rnd)
        row = {"round": rnd, "ops": len(ops), "kills": sum(o.killed is not None for o in ops),
               "worker_kills": sum(len(o.worker_killed) for o in ops),
               "exit0": sum(o.rc == 0 for o in ops), "exit2": sum(o.rc == 2 for o in ops),
               "published": [t for t in TARGETS if (self.outs / t).exists()], "stale_after_round": stale_debris,
               **cs, "violations": len(self.violations), "seconds": round(time.monotonic() - t0)}
        self.rounds.append(row)
        print(f"round {rnd}: {row}", flush=True)

    # ---- the report ---------------------------------------------------------------------------------
    def report(self, wall: float) -> str:
        ops = self.ops
        kinds = collections.Counter(o.kind for o in ops)
        kills = collections.Counter(o.killed for o in ops if o.killed)
        wkills = collections.Counter(s for o in ops for s in o.worker_killed)
        late = sum(1 for o in ops if o.kill_sig and not o.killed)
        by_kind_sig = collections.Counter((o.kind, o.killed) for o in ops if o.killed)
        rcs = collections.defaultdict(collections.Counter)
        for o in ops:
            rcs[o.kind][o.rc] += 1
        msgs = collections.Counter()
        for o in ops:
            if o.rc == 2:
                line = o.err.strip().splitlines()[-1] if o.err.strip() else ""
                msgs[next((k for k, v in MESSAGES.items() if v in line), "other: " + line[:100])] += 1
        killed_rc = collections.Counter((o.killed, o.rc) for o in ops if o.killed)
        exit1_killed = [o for o in ops if o.killed and o.rc == 1]
        tmp_other = collections.Counter("TensorFlow __autograph_generated_file*.py" if n.startswith("__autograph")
                                        else "gcc cc*.s/.o temporary" if n.startswith("cc") else n
                                        for n in os.listdir(self.tmp) if n != "dask-scratch-space")
        overlaps = sum(1 for i, x in enumerate(ops) for y in ops[i + 1:]
                       if x.target and x.target == y.target and x.t_start < y.t_end and y.t_start < x.t_end)
        verify_ok = [o for o in ops if o.kind.startswith("verify") and o.rc == 0]

        def exact(o):
            try:
                return json.loads(o.out).get("exact_fraction") == 1.0
            except ValueError:
                return False

        a = self.args
        L = [f"# fpga-flow chaos benchmark (issue 27): concurrent runs on shared output directories, random kills",
             f"# command: .venv/bin/python benchmarks/chaos.py --rounds {a.rounds} --ops {a.ops} --parallel {a.parallel} "
             f"--seed {a.seed} --kill-rate {a.kill_rate} --work {a.work} --report {a.report}",
             f"# machine: {platform.node()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python "
             f"{platform.python_version()}; shared with other jobs; wall time {wall / 60:.1f} min",
             f"# config: {Path(SMALL).relative_to(ROOT)} (32x32 SqueezeNet 1.1); all runs are real fpga-flow processes",
             "",
             f"rounds: {len(self.rounds)}",
             f"operations: {len(ops)} ({', '.join(f'{k} {n}' for k, n in kinds.most_common())})",
             f"kills: {sum(kills.values()) + sum(wkills.values())} = {sum(kills.values())} runs "
             f"({', '.join(f'{s} {kills[s]}' for s in SIGNALS.values())}) + {sum(wkills.values())} Dask worker processes "
             f"({', '.join(f'{s} {wkills[s]}' for s in ('SIGKILL', 'SIGTERM'))}); {late} more signals were due after "
             "their run had exited (not counted)",
             f"violations: {len(self.violations)}",
             "",
             f"runs on the same output that overlapped in time: {overlaps} pairs",
             "kills by command and signal: " + ", ".join(f"{k} {s} {n}" for (k, s), n in sorted(by_kind_sig.items())),
             "exit codes of the killed runs (signal: code x n; negative = died of that signal): " + ", ".join(
                 f"{s}: {rc} x {n}" for (s, rc), n in sorted(killed_rc.items(), key=lambda x: (x[0][0], str(x[0][1])))),
             "exit codes by command: " + "; ".join(
                 f"{k}: " + ", ".join(f"{rc} x {n}" for rc, n in sorted(c.items(), key=lambda x: str(x[0])))
                 for k, c in sorted(rcs.items())),
             "one-line refusals (exit 2) by message: " + ", ".join(f"{k} {n}" for k, n in msgs.most_common()),
             f"verifies that exited 0: {len(verify_ok)}, all exact_fraction 1.0: "
             f"{all(exact(o) for o in verify_ok)}",
             f"clean runs after the rounds: {dict(self.clean_runs)}; stale leftovers found after the rounds: "
             f"{sum(r['stale_after_round'] for r in self.rounds)}, removed by the next run of their --out (unkilled, --force): "
             f"{sum(r['removed_by_next_run'] for r in self.rounds)}, by fpga-flow clean: "
             f"{sum(r['removed_by_clean'] for r in self.rounds)}",
             "stale leftovers by kind and place: " + (", ".join(f"{k} {n}" for k, n in self.stale_kinds.most_common())
                                                      or "none"),
             f"processes the killed runs left behind (reparented to the benchmark): {self.orphans_exited} exited by "
             f"themselves within 30 s, {self.orphans_killed} killed by the benchmark after 30 s",
             "killed runs that exited 1 (allowed; their last stderr line): " + ("; ".join(
                 f"op {o.id} {o.kind} {o.killed} at {o.kill_at:.1f} s: "
                 f"{(o.err.strip().splitlines() or [''])[-1][:160]}" for o in exit1_killed) or "none"),
             "other files in the runs' TMPDIR at the end (not fpga-flow's temporaries; not removed): " + (
                 ", ".join(f"{k} x {n}" for k, n in tmp_other.most_common()) or "none"),
             "",
             "| round | ops | kills | worker kills | exit 0 | exit 2 | published after | stale leftovers | removed by next run | removed by clean | violations (cumulative) | s |",
             "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
        for r in self.rounds:
            L.append(f"| {r['round']} | {r['ops']} | {r['kills']} | {r['worker_kills']} | {r['exit0']} | {r['exit2']} | "
                     f"{','.join(r['published'])} | {r['stale_after_round']} | {r['removed_by_next_run']} | "
                     f"{r['removed_by_clean']} | {r['violations']} | {r['seconds']} |")
        L += ["", "violations:" + ("" if self.violations else " none")] + [f"- {v}" for v in self.violations]
        L += ["", "What the checks are: see the docstring of benchmarks/chaos.py. Stale = the owner recorded in the "
                  "temporary's name (pid, start ticks, boot id, host) is provably gone; a run's own lock file counts as "
                  "a leftover only when no process holds it."]
        return "\n".join(L) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--ops", type=int, default=12, help="operations per round")
    ap.add_argument("--parallel", type=int, default=3, help="heavy runs at a time")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kill-rate", type=float, default=0.6, help="share of the heavy runs sent a signal")
    ap.add_argument("--work", default="build/chaos")
    ap.add_argument("--report", default="reports/chaos.txt")
    args = ap.parse_args(argv)
    _prctl_subreaper()
    c = Chaos(args)
    c.setup()
    t0 = time.monotonic()
    for rnd in range(1, args.rounds + 1):
        c.round(rnd)
    text = c.report(time.monotonic() - t0)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(text)
    print(text)
    return 1 if c.violations else 0


if __name__ == "__main__":
    sys.exit(main())
