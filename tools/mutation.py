"""Mutation testing of the core modules with mutmut (pinned in requirements.lock): ``make mutation``.

For each module: a scratch copy of the package and tests in build/mutation/<module>/ (the worktree is
never mutated), a [tool.mutmut] section selecting the module, its fast tests (``make test-fast``'s files,
targeted per module) and, where the issue asks for part of a module, the functions to mutate; the session
fixture (the SqueezeNet 32x32 build, tests/fastkit.py) is built once from the unmutated code into
FPGA_FLOW_TEST_CACHE, so that each mutant's pytest run only reads it. Then ``mutmut run`` (forked
workers, each mutant against the tests that reach the mutated function) and the verdicts read back from
mutmut's own records. Survivors are listed with their diff and, when tools/mutation_equivalent.txt holds
one for that diff, the reason the mutant is equivalent; any other survivor is flagged UNEXPLAINED.

    .venv/bin/python tools/mutation.py --modules csim,audit,fifo --report reports/mutation.txt
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
MUTMUT = str(ROOT / ".venv" / "bin" / "mutmut")

# module -> source file, test files + -k expression (the fast tests that exercise it, minus the ones that
# rebuild a project or start a subprocess per run: those add minutes per mutant and test the same code
# through a longer path), and the functions to mutate (None: the whole file)
MODULES = {
    "csim": dict(file="fpga_flow/verify/csim.py", tests=["tests/test_fast_verify.py"], k="not cli_verify",
                 functions=["_spec", "quantize_to", "first_divergent_layer", "degenerate_reason", "verify"]),
    "audit": dict(file="fpga_flow/verify/audit.py", tests=["tests/test_fast_audit.py"],
                  k="not build_stops and not command_line", functions=None),
    "fifo": dict(file="fpga_flow/resources/fifo.py", tests=["tests/test_fast_fifo.py"],
                 k="not config_and_set and not set_accepts", functions=None),
    "hls_count": dict(file="fpga_flow/resources/hls_count.py",
                      tests=["tests/test_hls_count_rules.py", "tests/test_calibration.py"],
                      k="not stock and not estimate_command and not docs_table", functions=None),
    "fit": dict(file="fpga_flow/resources/fit.py", tests=["tests/test_fast_fit.py", "tests/test_fast_fifo.py"],
                k="not config_and_set and not set_accepts", functions=["plan", "evaluate"]),
    "outdir": dict(file="fpga_flow/outdir.py",
                   tests=["tests/test_fast_outdir.py", "tests/test_safety.py", "tests/test_concurrency.py"],
                   k="test_fast_outdir or test_replace_ or (test_concurrency and not two_concurrent and not killed)",
                   functions=None),
}
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault", None: "not checked"}


def _selection(spec: dict) -> list[str]:
    """pytest arguments selecting a module's fast tests."""
    return list(spec["tests"]) + (["-k", spec["k"]] if spec["k"] else [])


def _toml_list(xs):
    return "[" + ", ".join(json.dumps(x) for x in xs) + "]"


def prepare(name: str, spec: dict, base: Path) -> Path:
    d = base / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for sub in ("fpga_flow", "tests", "hls_configs", "weights"):
        shutil.copytree(ROOT / sub, d / sub, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # the calibration tests find ../shared/calibration two levels above their file: from d/tests and from
    # mutmut's d/mutants/tests (without it they skip, and the report parsers look untested)
    shared = ROOT.parent / "shared"
    for where in (base, d):
        if shared.is_dir() and not (where / "shared").exists():
            (where / "shared").symlink_to(shared)
    sel = _selection(spec)
    pyproject = (ROOT / "pyproject.toml").read_text()
    pyproject += f"""
[tool.mutmut]
source_paths = ["fpga_flow"]
only_mutate = ["*{spec['file']}"]
also_copy = ["hls_configs", "weights"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "fast"]
pytest_add_cli_args_test_selection = {_toml_list(sel)}
process_isolation = "forkserver"
forkserver_warmup = "collect"
use_git_change_detection = false
"""
    (d / "pyproject.toml").write_text(pyproject)
    return d


def mutant_patterns(spec: dict) -> list[str]:
    if not spec["functions"]:
        return []
    mod = spec["file"][:-3].replace("/", ".")
    return [f"{mod}.x_{f}__mutmut_*" for f in spec["functions"]]


def sample_names(d: Path, spec: dict, every: int) -> list[str]:
    """Every ``every``-th generated mutant of the selected functions (sorted by function and number)."""
    import fnmatch

    codes = json.loads((d / "mutants" / (spec["file"] + ".meta")).read_text())["exit_code_by_key"]
    pats = mutant_patterns(spec) or ["*"]
    keys = sorted((k for k in codes if any(fnmatch.fnmatch(k, p) for p in pats)),
                  key=lambda s: (s.rsplit("__mutmut_", 1)[0], int(s.rsplit("_", 1)[1])))
    return keys[::every]


def _env(d: Path) -> dict:
    return dict(os.environ, FPGA_FLOW_TEST_CACHE=str(d / "cache"), TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1")


def _build_fixture(d: Path, env: dict) -> None:
    """The shared fixture, from the unmutated code (the tests only read it)."""
    subprocess.run([PY, "-c", "import sys; sys.path[:0] = ['.', 'tests'];"
                    "from conftest import small_cfg; from fpga_flow import flow; import os;"
                    "flow.build(small_cfg(name='squeezenet1_1', size=32), os.path.join(os.environ['FPGA_FLOW_TEST_CACHE'],"
                    " 'squeezenet1_1_32'))"], cwd=d, env=env, check=True, capture_output=True)


def recheck_survivors(result: dict, spec: dict, base: Path) -> dict:
    """The survivors of an earlier campaign (``result``, from reports/mutation.json) against the tests as
    they are now: the module copied afresh, its mutants generated (mutmut numbers them per function, so
    a name means the same edit while the function is unchanged: each survivor's diff is compared with
    the recorded one, and a survivor whose function changed is left as it was), each written into the
    source and its tests run (recheck). Killed ones leave the survivor list."""
    name = result["module"]
    d = prepare(name, spec, base)
    env = _env(d)
    _build_fixture(d, env)
    subprocess.run([MUTMUT, "run", "--max-children", "2", "*__mutmut_0"], cwd=d, env=env,
                   capture_output=True, text=True)  # generates the mutants (and mutmut's test stats)
    keys = json.loads((d / "mutants" / (spec["file"] + ".meta")).read_text())["exit_code_by_key"]
    diffs: dict[str, list[str]] = {}

    def diff_of(k):
        if k not in diffs:
            diffs[k] = _diff_lines(subprocess.run([MUTMUT, "show", k], cwd=d, env=env,
                                                  capture_output=True, text=True).stdout)
        return diffs[k]

    same, renamed, used = [], {}, set()
    for s in result["survivors"]:
        # the same edit: by name while the function is unchanged, else the mutant of that function with the
        # same diff (mutmut renumbers a function's mutants when its source changes)
        if s["mutant"] in keys and diff_of(s["mutant"]) == s["diff"]:
            same.append(s["mutant"])
            used.add(s["mutant"])
            continue
        prefix = s["mutant"].rsplit("__mutmut_", 1)[0] + "__mutmut_"
        match = [k for k in sorted(keys, key=lambda k: int(k.rsplit("_", 1)[1])) if k.startswith(prefix)
                 and k not in used and diff_of(k) == s["diff"]]
        if match:
            renamed[s["mutant"]] = match[0]
            used.add(match[0])
            same.append(match[0])
    t0 = time.time()
    killed = recheck(d, spec, env, same)
    out = dict(result)
    survivors = [dict(s, mutant=renamed.get(s["mutant"], s["mutant"])) for s in result["survivors"]]
    out["survivors"] = [s for s in survivors if s["mutant"] not in killed]
    for k, v in killed.items():
        st = next(s["status"] for s in survivors if s["mutant"] == k)
        if st == "survived":
            out["survived"] -= 1
        else:
            out["other"] = {**out["other"], st: out["other"].get(st, 0) - 1}
        out[v] += 1
    out["other"] = {k: v for k, v in out["other"].items() if v}
    out["later_recheck"] = {"checked": len(same), "changed": len(result["survivors"]) - len(same),
                            "renumbered": renamed, "seconds": round(time.time() - t0),
                            "killed": sorted(set(result.get("later_recheck", {}).get("killed", [])) | set(killed))}
    return out


def run_module(name: str, spec: dict, base: Path, children: int, sample: int = 1, collect: bool = False) -> dict:
    d = base / name
    env = _env(d)
    if collect:  # read the verdicts of a campaign run earlier in d (e.g. by hand, with a sample of names)
        return collect_module(name, spec, d, env, sample, None, None, None)
    d = prepare(name, spec, base)
    t0 = time.time()
    _build_fixture(d, env)
    t_fixture = time.time() - t0
    t0 = time.time()
    names = mutant_patterns(spec)
    if sample > 1:  # generate the mutants (mutmut does so before its first run), then run a systematic sample
        subprocess.run([MUTMUT, "run", "--max-children", str(children),
                        "*__mutmut_0"], cwd=d, env=env, capture_output=True, text=True)
        names = sample_names(d, spec, sample)
    r = subprocess.run([MUTMUT, "run", "--max-children", str(children), *names],
                       cwd=d, env=env, capture_output=True, text=True)
    t_run = time.time() - t0
    (d / "mutmut_run.log").write_text(r.stdout + "\n" + r.stderr)
    (d / "run_seconds.txt").write_text(f"{t_run:.0f}\n")
    return collect_module(name, spec, d, env, sample, t_fixture, t_run, r.returncode)


def collect_module(name, spec, d, env, sample, t_fixture, t_run, returncode) -> dict:
    import fnmatch

    codes = json.loads((d / "mutants" / (spec["file"] + ".meta")).read_text())["exit_code_by_key"]
    pats = mutant_patterns(spec) or ["*"]
    codes = {k: v for k, v in codes.items() if any(fnmatch.fnmatch(k, p) for p in pats)}
    generated = len(codes)
    if sample > 1:
        chosen = set(sample_names(d, spec, sample))
        codes = {k: v for k, v in codes.items() if k in chosen}
    not_checked = sum(1 for v in codes.values() if v is None)  # a campaign stopped before these ran
    codes = {k: v for k, v in codes.items() if v is not None}
    if t_run is None and (d / "run_seconds.txt").is_file():
        t_run = float((d / "run_seconds.txt").read_text())
    verdicts = {k: STATUS.get(v, "suspicious") for k, v in codes.items()}
    rechecked = recheck(d, spec, env, [k for k, v in verdicts.items() if v in ("survived", "no tests")])
    verdicts.update(rechecked)
    survivors = []
    for k in sorted((k for k, v in verdicts.items() if v not in ("killed", "timeout")),
                    key=lambda s: (s.rsplit("__mutmut_", 1)[0], int(s.rsplit("_", 1)[1]))):
        show = subprocess.run([MUTMUT, "show", k], cwd=d, env=env,
                              capture_output=True, text=True).stdout
        survivors.append({"mutant": k, "status": verdicts[k], "diff": _diff_lines(show)})
    return {"module": name, "file": spec["file"], "functions": spec["functions"], "tests": spec["tests"], "k": spec["k"],
            "mutants": len(verdicts), "killed": sum(v == "killed" for v in verdicts.values()),
            "timeout": sum(v == "timeout" for v in verdicts.values()),
            "survived": sum(v == "survived" for v in verdicts.values()),
            "other": {s: sum(v == s for v in verdicts.values()) for s in set(verdicts.values())
                      if s not in ("killed", "timeout", "survived")},
            "fixture_seconds": round(t_fixture or 0), "run_seconds": round(t_run or 0), "returncode": returncode,
            "generated": generated, "sample": sample, "not_checked": not_checked, "survivors": survivors,
            "rechecked_killed": len(rechecked)}


def recheck(d: Path, spec: dict, env: dict, names: list[str]) -> dict[str, str]:
    """Each mutant mutmut let survive (or found no test for), written into the copy's source with
    'mutmut apply' and its test selection run directly (python -m pytest in the copy): the ones that
    fail there are killed. mutmut attributes a function only to the tests that call it during their own
    call phase, so code run by a module-scoped fixture (the calibration reports parsed once per module)
    looked untested or survived although every test on it fails."""
    src = d / spec["file"]
    orig = src.read_text()
    sel = _selection(spec)
    killed = {}
    for k in names:
        try:
            subprocess.run([MUTMUT, "apply", k], cwd=d, env=env, capture_output=True)
            if src.read_text() == orig:
                continue  # could not be applied
            r = subprocess.run([PY, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "fast", *sel],
                               cwd=d, env=env, capture_output=True, text=True, timeout=600)
            if r.returncode == 1 or r.returncode < 0:  # tests failed, or the run died (a mutant signalling it)
                killed[k] = "killed"
        except subprocess.TimeoutExpired:
            killed[k] = "timeout"
        finally:
            src.write_text(orig)  # the next mutant (and the copy afterwards) starts from the original
    return killed


def _diff_lines(show: str) -> list[str]:
    return [l for l in show.splitlines() if l.startswith(("-", "+")) and not l.startswith(("---", "+++"))]


def load_reasons() -> list[tuple[str, str, str, str]]:
    """tools/mutation_equivalent.txt: blocks of 'function: NAME', '- old line', '+ new line', then either
    'why: ...' (the mutant is equivalent: excluded from the score) or 'missed: ...' (it is not: it counts
    as a survivor the tests should kill, and this says why none does yet)."""
    p = ROOT / "tools" / "mutation_equivalent.txt"
    out, cur = [], {}
    if not p.is_file():
        return out
    for line in p.read_text().splitlines():
        if line.startswith("function:"):
            cur = {"function": line.split(":", 1)[1].strip(), "diff": []}
        elif line.startswith(("- ", "+ ")) and cur:
            cur["diff"].append(line[0] + line[2:].strip())
        elif line.startswith(("why:", "missed:")) and cur:
            kind = "equivalent" if line.startswith("why:") else "missed"
            out.append((cur["function"], "\n".join(cur["diff"]), kind, line.split(":", 1)[1].strip()))
            cur = {}
    return out


def _explanation(s: dict, reasons) -> tuple[str, str] | None:
    fn = re.sub(r"__mutmut_\d+$", "", s["mutant"].rsplit(".", 1)[1])[2:].replace("\u01c1", ".")  # xǁClassǁmethod
    num = s["mutant"].rsplit("_", 1)[1]
    diff = "\n".join(l[0] + l[1:].strip() for l in s["diff"])
    for f, d, kind, why in reasons:  # 'function: NAME#N' names one mutant where two have the same diff
        if f.split("#")[0] == fn and d == diff and ("#" not in f or f.split("#")[1] == num):
            return kind, why
    return None


def report(results: list[dict], path: Path) -> str:
    reasons = load_reasons()
    lines = ["Mutation testing (mutmut 3.8.1) of the core modules against the fast tests (make test-fast files)",
             f"modules: {','.join(r['module'] for r in results)}; made by make mutation MODULES=... (tools/mutation.py, 2 worker "
             "processes on a shared 2-core machine), one campaign per module, merged (the exact commands: notes at the end)", ""]
    lines.append(f"{'module':10s} {'mutants':>8s} {'killed':>7s} {'timeout':>8s} {'survived':>9s} {'equiv.':>7s} "
                 f"{'missed':>7s} {'unexpl.':>8s} {'score*':>7s} {'time':>8s}")
    for r in results:
        kinds = [(_explanation(s, reasons) or ("unexplained",))[0] for s in r["survivors"]]
        eq = kinds.count("equivalent")
        non_eq = r["mutants"] - eq
        score = (r["killed"] + r["timeout"]) / non_eq if non_eq else 1.0
        r["equivalent"], r["score"] = eq, score
        r["missed"], r["unexplained"] = kinds.count("missed"), kinds.count("unexplained")
        lines.append(f"{r['module']:10s} {r['mutants']:8d} {r['killed']:7d} {r['timeout']:8d} {len(r['survivors']):9d} "
                     f"{eq:7d} {r['missed']:7d} {r['unexplained']:8d} {score:7.1%} {r['run_seconds'] // 60:4d} min")
    lines += ["", "* score = (killed + timeout) / (mutants - equivalent survivors): the share of non-equivalent mutants "
              "the tests kill.", "  survived: not killed (incl. mutants no test reaches); equiv.: shown equivalent (reason "
              "given); missed: not equivalent, reason given why no test kills it yet; unexpl.: neither.", "  time: mutmut run (test stats + every mutant), without the fixture build.", ""]
    for r in results:
        lines.append(f"== {r['module']}: {r['file']}" + (f", functions {', '.join(r['functions'])}" if r["functions"] else
                                                          ", every function"))
        lines.append(f"   tests: {' '.join(r['tests'])}" + (f" -k '{r['k']}'" if r["k"] else ""))
        if r.get("sample", 1) > 1:
            lines.append(f"   SAMPLE: 1 in every {r['sample']} of the {r['generated']} mutants generated in these functions "
                         "(sorted by function and number), to fit the campaign into the session; the score is that "
                         "sample's")
        if r.get("rechecked_killed"):
            lines.append(f"   RECHECKED: {r['rechecked_killed']} mutants mutmut let survive (or found no test for) fail their "
                         "tests when written into the source and run directly (tools/mutation.py recheck: code run by "
                         "module-scoped fixtures is not attributed to the tests by mutmut); counted as killed")
        if r.get("later_recheck"):
            lr = r["later_recheck"]
            lines.append(f"   LATER TESTS: survivors rechecked after tests were added for them (make mutation-recheck, "
                         f"{lr['checked']} in the last recheck): {len(lr['killed'])} killed in all "
                         f"({', '.join(k.rsplit('.', 1)[1] for k in lr['killed']) or '-'})"
                         + (f"; {len(lr.get('renumbered', {}))} found under a new number (their function changed since; "
                            "listed under the new one)" if lr.get("renumbered") else "")
                         + (f"; {lr['changed']} not found again (their line changed since)" if lr["changed"] else ""))
        if r.get("not_checked"):
            lines.append(f"   STOPPED: {r['not_checked']} further mutants of the selection were not run (time); the "
                         "numbers are those of the mutants checked")
        lines.append(f"   {r['mutants']} mutants: {r['killed']} killed, {r['timeout']} timeout, {r['survived']} survived"
                     + (f", {r['other']}" if r["other"] else "") + f"; fixture {r['fixture_seconds']} s, run "
                     f"{r['run_seconds']} s (mutmut exit {r['returncode']})")
        for s in r["survivors"]:
            e = _explanation(s, reasons)
            lines.append(f"   - {s['mutant']} [{s['status']}]")
            lines += [f"       {l}" for l in s["diff"]]
            if e and e[0] == "equivalent":
                lines.append(f"       equivalent: {e[1]}")
            elif e:
                lines.append(f"       NOT EQUIVALENT, missed (counted against the score): {e[1]}")
            else:
                lines.append("       UNEXPLAINED (not equivalent as far as known: a test should kill it)")
        lines.append("")
    notes = ROOT / "tools" / "mutation_notes.txt"
    if notes.is_file():
        lines += ["", notes.read_text().rstrip()]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    (path.with_suffix(".json")).write_text(json.dumps(results, indent=1) + "\n")
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", default=",".join(MODULES), help=f"comma-separated, of {', '.join(MODULES)}")
    ap.add_argument("--report", default="reports/mutation.txt")
    ap.add_argument("--children", type=int, default=2)
    ap.add_argument("--work", default="build/mutation")
    ap.add_argument("--sample", default="", help="module=N,...: run every N-th mutant of that module only")
    ap.add_argument("--collect", action="store_true", help="do not run: read the verdicts of an earlier run in --work")
    ap.add_argument("--recheck-survivors", action="store_true", help="do not run a campaign: check the survivors "
                    "of --modules in the saved JSON against the tests as they are now (after tests were added)")
    ap.add_argument("--merge", default="", help="with --rereport: take these modules' results from another saved "
                    "campaign's JSON (a run made with --report elsewhere) into --report")
    ap.add_argument("--rereport", action="store_true", help="only rewrite the report from the saved JSON "
                    "(after editing tools/mutation_equivalent.txt)")
    a = ap.parse_args(argv)
    names = [m.strip() for m in a.modules.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODULES]
    if unknown:
        print(f"mutation: unknown module(s) {unknown}; choose from {', '.join(MODULES)}", file=sys.stderr)
        return 2
    out = ROOT / a.report
    if a.rereport:  # every module of the saved campaign (--modules does not drop the others)
        results = json.loads(out.with_suffix(".json").read_text())
        if a.merge:
            new = {r["module"]: r for r in json.loads(Path(a.merge).read_text()) if r["module"] in names}
            results = [new.pop(r["module"], r) for r in results] + list(new.values())
    elif a.recheck_survivors:
        results = json.loads(out.with_suffix(".json").read_text())
        for i, r in enumerate(results):
            if r["module"] in names:
                print(f"[mutation] {r['module']}: rechecking {len(r['survivors'])} survivors", flush=True)
                results[i] = recheck_survivors(r, MODULES[r["module"]], ROOT / a.work)
                print(f"[mutation] {r['module']}: {results[i]['later_recheck']}", flush=True)
    else:
        results = []
        for n in names:
            print(f"[mutation] {n}: {MODULES[n]['file']}", flush=True)
            samples = dict((kv.split("=")[0], int(kv.split("=")[1])) for kv in a.sample.split(",") if "=" in kv)
            results.append(run_module(n, MODULES[n], ROOT / a.work, a.children, samples.get(n, 1), a.collect))
            print(f"[mutation] {n}: {results[-1]['mutants']} mutants, {results[-1]['killed']} killed, "
                  f"{results[-1]['survived']} survived, {results[-1]['run_seconds']} s", flush=True)
        old = out.with_suffix(".json")
        if old.is_file():  # keep the other modules' results of an earlier campaign
            prev = [r for r in json.loads(old.read_text()) if r["module"] not in names]
            results = prev + results
    print(report(results, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
