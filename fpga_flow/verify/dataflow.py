"""Dataflow C-simulation: the written firmware with bounded FIFOs and concurrent processes.

Plain C-simulation cannot check FIFO depths: its ``hls::stream`` is unbounded and the top
function's layers run one after another. Here the firmware (``hls4ml_prj/firmware/myproject.cpp``
and its headers) is compiled a second time, with

* ``fpga_flow/verify/cpp/hls_stream.h`` first on the include path: a bounded, blocking
  ``hls::stream`` whose capacity is the stream's planned depth (its ``#pragma HLS STREAM
  variable=X depth=N`` in myproject.cpp) or an override;
* the top function rewritten (``dfsim_network.cpp``): the streams it declares become persistent
  (static), and every dataflow process (each ``nnet::`` call of the top function) runs in its own
  thread, called once per image for N images, as the processes of a DATAFLOW region do in hardware.
  An input feeder and an output drain thread stand for the AXI-stream ports (depth 2 each).

Deadlock detection (``verify/cpp/hls_stream.h``): all stream operations take one global mutex; a
thread that must wait (write to a full / read from an empty stream) counts itself blocked, and the
thread that satisfies it takes it off the count, so "blocked == live threads" is exact: every live
process waits on a condition no running process can change. The waits (process, stream, read or
write) are then reported and the run stops. The run is a subprocess with a time limit, so a crash
or hang cannot take the caller down.

Covered: the C++ of every process as written (its real read/write order, including the padding,
line-buffer start-up and frame-end behaviour of every template), with the planned depths, across
consecutive images, and bit-exactness of the outputs against QKeras (codes, as ``verify``).
Not covered: RTL timing. In hardware a pipelined loop may read a few items ahead of the writes of
earlier iterations (its pipeline depth in iterations); the C model performs each iteration's reads
and writes in program order. fifo.py adds a margin for that read-ahead (see its docstring); only
RTL co-simulation or hardware can confirm it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np

from .. import outdir, project
from .. import progress as progress_bars
from ..data.images import to_model_input
from ..errors import FlowError
from ..hls.precision import input_spec
from .csim import _spec, quantize_to

CPP_DIR = Path(__file__).parent / "cpp"
PORT_DEPTH = 2
WORK = "dataflow"  # build_dir/dataflow/: generated source, binary


# ----------------------------------------------------------------------------- parsing

def _top_function(src: str) -> tuple[str, list[tuple[str, str]], str]:
    """(name, [(stream element type, port name)], body) of the top function in myproject.cpp."""
    m = re.search(r"\bvoid\s+(\w+)\s*\(([^)]*)\)\s*\{", src)
    if not m:
        raise FlowError("myproject.cpp: top function not found")
    ports = re.findall(r"hls::stream<\s*([\w:<>, ]+?)\s*>\s*&\s*(\w+)", m.group(2))
    depth, i = 1, m.end()
    while depth:
        c = src[i]
        depth += (c == "{") - (c == "}")
        i += 1
    return m.group(1), ports, src[m.end():i - 1]


def parse_firmware(myproject_cpp: str) -> dict:
    """The top function's structure: ports, internal streams with planned depths, processes."""
    name, ports, body = _top_function(myproject_cpp)
    if len(ports) < 2:
        raise FlowError(f"myproject.cpp: {name}() needs an input and an output hls::stream port")
    lines = body.splitlines()
    first = next((i for i, l in enumerate(lines) if re.match(r"\s*(static\s+)?hls::stream<", l)), None)
    if first is None:
        raise FlowError("myproject.cpp: the top function declares no hls::stream (not io_stream?)")
    prefix = "\n".join(lines[:first])
    streams: dict[str, dict] = {}
    procs: list[dict] = []
    stmt = ""
    for raw in lines[first:]:
        line = raw.strip()
        if not stmt:
            if not line or line.startswith("//"):
                continue
            if line.startswith("#pragma"):
                m = re.search(r"HLS\s+STREAM\s+variable=(\w+)\s+depth=(\d+)", line)
                if m and m.group(1) in streams:
                    streams[m.group(1)]["depth"] = int(m.group(2))
                continue
            if line.startswith("#"):  # #ifndef __SYNTHESIS__ / #endif around trace calls
                continue
            m = re.match(r"(?:static\s+)?hls::stream<\s*(.+?)\s*>\s+(\w+)\s*(?:\(.*\))?\s*;", line)
            if m:
                streams[m.group(2)] = {"type": m.group(1), "depth": None}
                continue
        stmt += " " + line
        if not re.search(r";\s*(//.*)?$", line):
            continue
        code, _, comment = stmt.partition("//")
        code, stmt = code.strip(), ""
        if re.match(r"nnet::(save_layer_output|load_weights_from_txt)\b", code):
            continue
        if not code.startswith("nnet::"):
            raise FlowError(f"myproject.cpp: unexpected statement in the dataflow region: {code[:120]}")
        args = re.search(r"\((.*)\)\s*;$", code).group(1)
        known = set(streams) | {p for _, p in ports}
        used = list(dict.fromkeys(w for w in re.findall(r"\b(\w+)\b", args) if w in known))  # argument order
        pname = comment.strip() or f"process{len(procs)}"
        procs.append({"name": pname, "call": code, "streams": used})
    missing = [s for s, v in streams.items() if v["depth"] is None]
    if missing:
        raise FlowError(f"myproject.cpp: no '#pragma HLS STREAM ... depth=' for {missing[:5]}")
    return {"top": name, "ports": ports, "prefix": prefix, "streams": streams, "processes": procs}


def planned_depths(build_dir: str | Path) -> dict[str, int]:
    """{stream: depth} as written in the project's myproject.cpp."""
    src = (Path(build_dir) / project.PROJECT / "firmware" / "myproject.cpp").read_text()
    return {k: v["depth"] for k, v in parse_firmware(src)["streams"].items()}


def generate(parsed: dict, n_in: int, n_out: int, weight_load: dict | None = None) -> str:
    """C++ source of dfsim_network() (see verify/cpp/dfsim_main.h); ``weight_load``: the manifest's
    weight-load path (weights in URAM), whose arrays are filled from weights.bin before the run, through
    the same load loop as the top function's load port (hls/weight_load.py)."""
    (in_t, in_name), (out_t, out_name) = parsed["ports"][0], parsed["ports"][-1]
    o = [f"#define DFSIM_N_IN {n_in}", f"#define DFSIM_N_OUT {n_out}", '#include "dfsim_main.h"',
         '#include "myproject.h"', '#include "parameters.h"', "",
         "void dfsim_network(int n_images, const double *x, double *y, std::vector<dfsim::Proc> &procs, "
         "const char *report) {", "    (void)report;",
         "    // the top function's code before its streams (weights loaded from WEIGHTS_DIR)",
         parsed["prefix"]]
    if weight_load:
        o += ["    // weights in URAM: through the load loop, from weights.bin (hls/weight_load.py)", "    {",
              "        hls::stream<weight_word_t> words;",
              f'        if (nnet::fpga_flow_read_weights(WEIGHTS_DIR "/weights.bin", words) != {weight_load["words"]}) {{',
              '            fprintf(stderr, "weights.bin cannot be read or has the wrong size\\n");', "            exit(3);",
              "        }"]
        o += [f"        nnet::fpga_flow_load_array<{e['type']}, {e['elements']}, {e['bits']}>(words, {e['var']});"
              for e in weight_load["arrays"]]
        o += ["    }"]
    o += ["    // its streams, persistent across images, bounded to the planned depths"]
    for t, p in parsed["ports"]:
        o.append(f'    static hls::stream<{t}> {p}("{p}"); {p}.set_depth(dfsim::depth_of("{p}", {PORT_DEPTH}));')
    for s, v in parsed["streams"].items():
        o.append(f'    static hls::stream<{v["type"]}> {s}("{s}"); {s}.set_depth(dfsim::depth_of("{s}", {v["depth"]}));')
    o.append("    // one thread per dataflow process, one call per image")
    o.append('    procs.push_back({"input", [=] { for (int i = 0; i < n_images; i++) '
             f'nnet::convert_data<double, {in_t}, DFSIM_N_IN>(const_cast<double *>(x) + (size_t)i * DFSIM_N_IN, {in_name}); }}}});')
    for p in parsed["processes"]:
        o.append(f'    procs.push_back({{{json.dumps(p["name"])}, [=] {{ for (int i = 0; i < n_images; i++) {p["call"]} }}}});')
    o.append('    procs.push_back({"output", [=] { for (int i = 0; i < n_images; i++) '
             f'nnet::convert_data<{out_t}, double, DFSIM_N_OUT>({out_name}, y + (size_t)i * DFSIM_N_OUT); }}}});')
    o.append("}")
    return "\n".join(o) + "\n"


# ----------------------------------------------------------------------------- compile / run

def compile_dataflow(build_dir: str | Path, *, timeout: float = 1800) -> tuple[Path, dict, float]:
    """Generate and g++ the dataflow simulator (cached by source hash); (binary, parsed, seconds)."""
    build_dir = Path(build_dir)
    m = project.load_manifest(build_dir)
    fw = (build_dir / project.PROJECT / "firmware").resolve()
    parsed = parse_firmware((fw / "myproject.cpp").read_text())
    src = generate(parsed, int(np.prod(m["input_shape"])), int(m["output_size"]), m.get("weight_load"))
    work = build_dir / WORK
    work.mkdir(exist_ok=True)
    h = hashlib.sha256(src.encode())
    for f in sorted(CPP_DIR.glob("*.h")) + [fw / "parameters.h", fw / "defines.h", fw / "myproject.h"]:
        h.update(f.read_bytes())
    for f in sorted((fw / "nnet_utils").glob("*.h")):
        h.update(f.name.encode() + str(f.stat().st_size).encode())
    key = h.hexdigest()[:16]
    exe = work / f"dfsim-{key}"
    if exe.is_file():
        return exe, parsed, 0.0
    # several checks may run at once on one build directory: each compiles into its own temporary
    # (its owner in its name; a killed one's is removed by the next compile) and renames it into place
    outdir.remove_stale(exe)
    for old in work.glob("dfsim-*"):
        if old != exe:
            old.unlink(missing_ok=True)
    outdir.write_atomic(work / "dfsim_network.cpp", src)
    tmp = work / f".{exe.name}.tmp-{outdir.current_owner().tag}-{os.urandom(4).hex()}"
    cmd = ["g++", "-O2", "-std=c++17", "-pthread", "-Wno-unknown-pragmas", "-w",
           f"-I{CPP_DIR.resolve()}", f"-I{fw / 'ap_types'}", f"-I{fw}",
           f'-DWEIGHTS_DIR="{fw / "weights"}"', str((work / "dfsim_network.cpp").resolve()), "-o", str(tmp.resolve())]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-20:])
            raise RuntimeError(f"dataflow simulator failed to compile ({work / 'dfsim_network.cpp'}):\n{tail}")
        os.replace(tmp, exe)
    finally:
        tmp.unlink(missing_ok=True)
    return exe, parsed, time.perf_counter() - t0


def run_streams(build_dir: str | Path, x: np.ndarray, depth_overrides: dict[str, int] | None = None, *,
                timeout: float = 600) -> dict:
    """Run the simulator on model inputs ``x`` (already on the input grid); the raw report plus
    ``y`` (outputs, None on deadlock), ``depths`` (effective), ``compile_seconds``."""
    exe, parsed, t_compile = compile_dataflow(build_dir)
    planned = {k: v["depth"] for k, v in parsed["streams"].items()}
    over = {k: int(v) for k, v in (depth_overrides or {}).items()}
    unknown = sorted(set(over) - set(planned) - {p for _, p in parsed["ports"]})
    if unknown:
        raise FlowError(f"depth overrides for unknown streams: {unknown[:5]}")
    if any(v < 1 for v in over.values()):
        raise FlowError("depth overrides must be >= 1")
    n = len(x)
    with outdir.scratch("dataflow") as td:
        td = Path(td)
        (td / "depths.txt").write_text("".join(f"{k} {v}\n" for k, v in over.items()))
        np.ascontiguousarray(np.asarray(x, np.float64).reshape(n, -1)).tofile(td / "x.bin")
        t0 = time.perf_counter()
        try:
            r = subprocess.run([str(exe.resolve()), "depths.txt", "x.bin", str(n), "y.bin", "report.json"],
                               cwd=td, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"dataflow simulation exceeded {timeout:.0f} s (neither finished nor deadlocked)") from None
        wall = time.perf_counter() - t0
        if r.returncode != 0 or not (td / "report.json").is_file():
            msg = (r.stderr or r.stdout).strip().splitlines()
            raise RuntimeError("dataflow simulation crashed (exit code %d): %s" % (r.returncode, " | ".join(msg[-4:])))
        rep = json.loads((td / "report.json").read_text())
        y = np.fromfile(td / "y.bin", np.float64).reshape(n, -1) if rep["completed"] else None
    rep.update(y=y, parsed=parsed, wall_seconds=round(wall, 3), compile_seconds=round(t_compile, 2),
               depths={k: over.get(k, v) for k, v in planned.items()})
    return rep


def wait_cycles(waits: list[dict], processes: list[dict], ports: list[tuple[str, str]]) -> list[list[dict]]:
    """The wait-for cycles of a deadlock: a blocked process waits for the process at the other end
    of its stream; every blocked process waits on one stream, so following these edges from any
    process ends in a cycle. Processes outside a cycle are only starved or backed up by it."""
    users: dict[str, list[str]] = {}
    for p in processes:
        for s in p["streams"]:
            users.setdefault(s, []).append(p["name"])
    users.setdefault(ports[0][1], []).append("input")
    users.setdefault(ports[-1][1], []).append("output")
    wait_of = {w["process"]: w for w in waits}
    nxt = {}
    for name, w in wait_of.items():
        other = [u for u in users.get(w["stream"], []) if u != name]
        if other and other[0] in wait_of:
            nxt[name] = other[0]
    cycles, seen = [], set()
    for start in wait_of:
        path, pos = [], {}
        p = start
        while p in nxt and p not in pos and p not in seen:
            pos[p] = len(path)
            path.append(p)
            p = nxt[p]
        if p in pos:  # a new cycle
            cycles.append([wait_of[q] for q in path[pos[p]:]])
        seen.update(path)
    return cycles


def run_dataflow(build_dir: str | Path, images: np.ndarray, depth_overrides: dict[str, int] | None = None, *,
                 timeout: float = 600, compare: bool = True) -> dict:
    """Dataflow C-simulation of ``images`` (uint8 pixels or float model inputs) with the planned
    FIFO depths (``depth_overrides``: {stream: depth} for this run only).

    Result: ``deadlock`` (bool); ``blocked``: the full streams on the deadlock's wait-for cycle(s),
    sorted (the FIFOs whose depth closes the cycle; empty without deadlock); ``cycles`` (each a list
    of {process, stream, op}); ``waits`` (every blocked process: [{process, stream, op}], op 'write'
    = stream full, 'read' = empty); ``max_occupancy`` ({stream: items}),
    ``depths`` ({stream: depth used}), ``exact_fraction`` and ``n_values`` (outputs vs QKeras codes,
    None on deadlock or with compare=False), ``n_images``, ``processes``, ``passed``, and
    ``compile_seconds``, ``run_seconds`` (the simulator's wall time), ``keras_seconds``."""
    build_dir = Path(build_dir)
    m = project.load_manifest(build_dir)
    model = project.load_qmodel(build_dir / project.QMODEL)
    x = quantize_to(input_spec(model), to_model_input(images))
    if list(x.shape[1:]) != list(m["input_shape"]):
        raise FlowError(f"inputs have shape {list(x.shape[1:])}, the model needs {m['input_shape']}")
    rep = run_streams(build_dir, x, depth_overrides, timeout=timeout)
    cycles = wait_cycles(rep["waits"], rep["parsed"]["processes"], rep["parsed"]["ports"]) if rep["deadlock"] else []
    full = sorted({w["stream"] for c in cycles for w in c if w["op"] == "write"})
    res = {
        "deadlock": bool(rep["deadlock"]), "blocked": full, "cycles": cycles, "waits": rep["waits"],
        "max_occupancy": {k: v["max_occupancy"] for k, v in rep["streams"].items()},
        "depths": rep["depths"], "overrides": dict(depth_overrides or {}),
        "n_images": int(len(x)), "processes": rep["processes"], "stream_ops": rep["stream_ops"],
        "exact_fraction": None, "n_values": None,
        "compile_seconds": rep["compile_seconds"], "run_seconds": rep["wall_seconds"], "keras_seconds": None,
    }
    if rep["completed"] and compare:
        out_spec = _spec(m["types"][model.layers[-1].name]["type"])
        t0 = time.perf_counter()
        yk = model.predict(x, batch_size=8, verbose=0).astype(np.float64)
        res["keras_seconds"] = round(time.perf_counter() - t0, 2)
        kc = np.rint(yk * 2.0**out_spec.frac).reshape(len(x), -1)
        cc = np.rint(rep["y"] * 2.0**out_spec.frac).reshape(len(x), -1)
        same = kc == cc
        res.update(exact_fraction=float(same.mean()), n_values=int(same.size),
                   n_mismatched_values=int((~same).sum()))
    res["passed"] = (not res["deadlock"]) and rep["completed"] and (res["exact_fraction"] in (None, 1.0))
    return res


# ----------------------------------------------------------------------------- minimal depths

def model_inputs(build_dir: str | Path, images: np.ndarray) -> np.ndarray:
    """``images`` (uint8 pixels or float) on the model's input grid, as verify feeds them."""
    model = project.load_qmodel(Path(build_dir) / project.QMODEL)
    return quantize_to(input_spec(model), to_model_input(images))


def stream_widths(build_dir: str | Path) -> dict[str, int]:
    """{C++ stream variable: word bits} from the build's design description."""
    m = project.load_manifest(build_dir)
    nodes = m["design"]["nodes"] if isinstance(m["design"], dict) else m["design"]
    return {o["var"]: int(o["word_bits"]) for r in nodes for o in r["outputs"] if o.get("var")}


def stream_names(build_dir: str | Path) -> dict[str, str]:
    """{C++ stream variable: design stream name (its producer's output)}."""
    m = project.load_manifest(build_dir)
    nodes = m["design"]["nodes"] if isinstance(m["design"], dict) else m["design"]
    return {o["var"]: o["name"] for r in nodes for o in r["outputs"] if o.get("var")}


def minimal_depths(build_dir: str | Path, images: np.ndarray, streams: list[str] | None = None, *,
                   timeout: float = 600, progress=None) -> dict:
    """Per stream, the smallest depth with which the dataflow simulation of ``images`` completes,
    every other stream at its planned depth (binary search below the planned depth; if the planned
    depths deadlock, that deadlock is reported instead: ``planned_deadlock``, ``blocked``, ``cycles``).
    ``streams``: C++ stream names (default: every stream planned deeper than 2,
    i.e. the join inputs). Not a joint minimum: lowering several streams at once can deadlock.

    Result: ``streams`` {stream: {name, planned, minimal, word_bits, max_occupancy}},
    ``planned_bits`` / ``minimal_bits`` (sums over those streams), ``total_planned_bits`` (all
    streams), ``runs``, ``seconds``, ``planned_deadlock`` (the planned depths themselves deadlock)."""
    t0 = time.perf_counter()
    x = model_inputs(build_dir, images)
    planned = planned_depths(build_dir)
    widths, names = stream_widths(build_dir), stream_names(build_dir)
    if streams is None:
        streams = [s for s, d in planned.items() if d > 2]
    # on a terminal: one step per searched stream, the run in progress after it (fpga_flow.progress)
    bar = progress_bars.bar(total=len(streams), desc="fifo-search", unit="FIFO")
    bar.set_postfix_str("run 1: planned depths")
    cache: dict[tuple[str, int], bool] = {}
    try:
        base = run_streams(build_dir, x, timeout=timeout)
        runs = 1

        def ok(s: str, d: int) -> bool:
            nonlocal runs
            if (s, d) not in cache:
                runs += 1
                bar.set_postfix_str(f"run {runs}: {names.get(s, s)} at depth {d}")
                cache[(s, d)] = not run_streams(build_dir, x, {s: d}, timeout=timeout)["deadlock"]
                if progress:
                    progress(s, d, cache[(s, d)])
            return cache[(s, d)]

        if base["deadlock"]:  # nothing to minimise against: report the deadlock
            cycles = wait_cycles(base["waits"], base["parsed"]["processes"], base["parsed"]["ports"])
            return {"planned_deadlock": True, "cycles": cycles, "streams": {}, "runs": runs,
                    "blocked": sorted({w["stream"] for c in cycles for w in c if w["op"] == "write"}),
                    "seconds": round(time.perf_counter() - t0, 2)}
        out = {}
        for s in streams:
            hi = planned[s]
            lo = 0  # depth lo deadlocks (0 = impossible), hi completes
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if ok(s, mid):
                    hi = mid
                else:
                    lo = mid
            out[s] = {"name": names.get(s, s), "planned": planned[s], "minimal": hi, "word_bits": widths.get(s),
                      "max_occupancy": base["streams"].get(s, {}).get("max_occupancy")}
            bar.update(1)
    finally:
        bar.close()
    bits = lambda key: sum((v[key] or 0) * (v["word_bits"] or 0) for v in out.values())
    return {"streams": out, "planned_bits": bits("planned"), "minimal_bits": bits("minimal"),
            "total_planned_bits": sum(d * widths.get(s, 0) for s, d in planned.items()),
            "planned_deadlock": bool(base["deadlock"]), "n_images": int(len(x)), "runs": runs,
            "seconds": round(time.perf_counter() - t0, 2)}
