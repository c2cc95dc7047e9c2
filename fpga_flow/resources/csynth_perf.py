"""The performance side of real csynth reports, and the layer records of a calibration case.

Two readers, both plain text (no vendor tool, no TensorFlow, no hls4ml):

* ``read_perf(rpt)``: the 'Performance Estimates > Latency' section of one csynth ``.rpt`` (Vitis HLS
  2022.1 ... 2025.2 and Vivado HLS 2020.1 print the same tables): the module's latency and interval
  [min, max] and pipeline type, its sub-instances (module, latency, interval) and its loop table
  (name, latency [min, max], iteration latency, achieved/target II, trip count, pipelined). A
  data-dependent iteration latency prints as ``4 ~ 55``; it is kept as the pair (4, 55).
* ``case_records(case_dir)``: the layers of a calibration case's hls4ml project as the plain node
  records ``fpga_flow.hls.describe.describe`` writes (kind = hls4ml class, inputs, outputs with
  shape/pixels, geometry, reuse_factor, strategy), read from the project's own
  ``firmware/parameters.h`` (each layer's ``configN`` struct: the template arguments), ``defines.h``
  (stream word types: channels per word, element width) and ``myproject.cpp`` (which nnet function
  each layer calls, on which streams). Every number of a record is a line of the written project.

``hls4ml.report.parse_vivado_report`` reads the same reports but needs the whole project tree
(``vivado_hls.app``/``project.tcl`` next to the solution), which the calibration snapshots lack, and
it keeps only the top module's summary; the loop tables are needed here.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path


def _num(s: str | None) -> int | None:
    s = (s or "").strip().replace(",", "")
    return int(s) if re.fullmatch(r"-?\d+", s) else None


def _range(s: str | None) -> tuple[int, int] | None:
    """'4 ~ 55' -> (4, 55); '5' -> (5, 5); '-' / '?' -> None."""
    s = (s or "").strip()
    m = re.fullmatch(r"(\d+)\s*~\s*(\d+)", s)
    if m:
        return int(m.group(1)), int(m.group(2))
    v = _num(s)
    return None if v is None else (v, v)


@dataclass
class Loop:
    name: str
    latency: tuple[int, int] | None
    iteration: tuple[int, int] | None   # iteration latency; (4, 55) for '4 ~ 55'
    ii: int | None                      # achieved initiation interval (None: '-', not pipelined)
    ii_target: int | None
    trip: tuple[int, int] | None
    pipelined: bool


@dataclass
class Instance:
    instance: str
    module: str
    latency: tuple[int, int] | None
    interval: tuple[int, int] | None
    pipeline: str


@dataclass
class Perf:
    module: str
    latency: tuple[int, int] | None
    interval: tuple[int, int] | None
    pipeline: str
    instances: list[Instance] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    version: str = ""
    clock_ns: float | None = None
    path: Path | None = None


def _rows(lines: list[str], start: int) -> tuple[list[list[str]], int]:
    """Cells of the '|...|' rows of the ascii table starting at or after line `start`."""
    i = start
    while i < len(lines) and not lines[i].strip().startswith(("+", "|")):
        if lines[i].strip() and not lines[i].strip().startswith("*"):
            return [], i
        if lines[i].strip() == "N/A":
            return [], i + 1
        i += 1
    rows = []
    while i < len(lines) and lines[i].strip().startswith(("+", "|")):
        ln = lines[i].strip()
        i += 1
        if ln.startswith("|"):
            rows.append([c.strip() for c in ln.strip("|").split("|")])
    return rows, i


def read_perf(rpt: str | Path) -> Perf:
    """Latency/interval summary, instance table and loop table of one csynth .rpt."""
    rpt = Path(rpt)
    text = rpt.read_text(errors="replace")
    head = re.search(r"HLS Report for '([^']+)'", text)
    ver = re.search(r"\* Version:\s+(\S+)", text[:2000])
    clk = re.search(r"\|ap_clk\s*\|\s*([\d.]+)\s*ns", text)
    start = text.find("+ Latency:")
    end = text.find("== Utilization Estimates", start)
    lines = text[start:end if end > 0 else len(text)].splitlines() if start >= 0 else []
    perf = Perf(module=head.group(1) if head else rpt.stem, latency=None, interval=None, pipeline="",
                version=ver.group(1) if ver else "", clock_ns=float(clk.group(1)) if clk else None, path=rpt)
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if s.startswith("* Summary"):
            rows, i = _rows(lines, i + 1)
            for c in rows:  # the data row: latency min, max, absolute min, max, interval min, max, type
                if len(c) >= 7 and (_num(c[0]) is not None or c[0] == "?"):
                    perf.latency = _range(f"{c[0]} ~ {c[1]}") if _num(c[0]) is not None else None
                    perf.interval = _range(f"{c[4]} ~ {c[5]}") if _num(c[4]) is not None else None
                    perf.pipeline = c[6]
            continue
        if s.startswith("* Instance"):
            rows, i = _rows(lines, i + 1)
            for c in rows:
                if len(c) >= 9 and (_num(c[2]) is not None or c[2] == "?"):
                    perf.instances.append(Instance(c[0], c[1], _range(f"{c[2]} ~ {c[3]}") if _num(c[2]) is not None
                                                   else None, _range(f"{c[6]} ~ {c[7]}") if _num(c[6]) is not None
                                                   else None, c[8]))
            continue
        if s.startswith("* Loop"):
            rows, i = _rows(lines, i + 1)
            for c in rows:
                m = re.match(r"\s*[-o] (.+)", c[0])  # '- Name' (a loop) or ' o Name' (a nested loop)
                if len(c) >= 8 and m and (_num(c[1]) is not None or c[1] == "?"):
                    perf.loops.append(Loop(m.group(1).strip(),
                                           _range(f"{c[1]} ~ {c[2]}") if _num(c[1]) is not None else None,
                                           _range(c[3]), _num(c[4]), _num(c[5]), _range(c[6]),
                                           c[7].lower() == "yes"))
            continue
        i += 1
    return perf


# ----------------------------------------------------------------------------- module names

# nnet functions as Vitis names their modules (longest first: dense_resource_rf_gt_nin_rem0 before dense)
FUNCTIONS = ("compute_output_buffer_2d", "compute_output_buffer_1d", "shift_line_buffer",
             "dense_resource_rf_gt_nin_rem0", "dense_resource_rf_gt_nin", "dense_resource_rf_leq_nin",
             "dense_resource", "dense_latency_wrapper", "dense_latency", "dense_wrapper", "dense",
             "conv_2d_cl", "conv_1d_cl", "pooling2d_cl", "pooling1d_cl", "global_pooling2d_cl",
             "global_pooling1d_cl", "zeropad2d_cl", "zeropad1d_cl", "concatenate3d", "concatenate2d",
             "concatenate1d", "clone_stream", "softmax_stable", "softmax_latency", "softmax_legacy", "softmax",
             "normalize", "hard_tanh", "hard_sigmoid", "relu", "linear", "sigmoid", "tanh", "add")
_CONFIG_RE = re.compile(r"_((?:[a-z]+_)*?config\d+(?:_mult)?)(?:_s$|_Pipeline_|_U0$|$)")


def module_function(module: str) -> str:
    """The nnet function a Vitis module name instantiates ('conv_2d_cl_array_..._config6_s' -> 'conv_2d_cl')."""
    for f in FUNCTIONS:
        if module == f or module.startswith(f + "_"):
            return f
    return ""


def module_config(module: str) -> str:
    """The config struct of a module name ('relu_..._relu_config4_s' -> 'relu_config4')."""
    m = _CONFIG_RE.search(module)
    return m.group(1) if m else ""


@dataclass
class CasePerf:
    case: str
    top: Perf
    modules: dict[str, Perf]   # module name -> its own report (where the snapshot has one)


def find_top(case_dir: Path) -> Path | None:
    from .hls_count import find_top_reports

    tops = find_top_reports(Path(case_dir))
    return tops[0] if len(tops) == 1 else None


def load_case_perf(case_dir: str | Path) -> CasePerf | None:
    """The top report and every per-module report of a case (None without exactly one top report)."""
    case_dir = Path(case_dir)
    top = find_top(case_dir)
    if top is None:
        return None
    mods = {}
    for p in top.parent.glob("*_csynth.rpt"):
        if p == top or p.name == "csynth.rpt":
            continue
        perf = read_perf(p)
        mods[perf.module] = perf
    return CasePerf(case_dir.name, read_perf(top), mods)


# ----------------------------------------------------------------------------- the written project

def _find(case_dir: Path, name: str) -> Path | None:
    hits = sorted(p for p in case_dir.rglob(name) if "nnet_utils" not in p.parts)
    return hits[0] if hits else None


_STRUCT_RE = re.compile(r"struct\s+(\w+)\s*(?::\s*(?:public\s+)?nnet::(\w+)\s*)?\{(.*?)\n\};", re.S)
_DEFINE_RE = re.compile(r"#define\s+(\w+)\s+(\d+)\s*$", re.M)
_CONST_RE = re.compile(r"static\s+const\s+(?:unsigned|int|bool|nnet::\w+)\s+(\w+)\s*=\s*([^;]+);")
_TYPEDEF_ARRAY_RE = re.compile(r"typedef\s+nnet::array<\s*(ap_u?(?:fixed|int))<\s*(\d+)[^>]*>\s*,\s*([\d*\s]+)>\s*(\w+)\s*;")
_TYPEDEF_RE = re.compile(r"typedef\s+(ap_u?(?:fixed|int))<\s*(\d+)[^>]*>\s+(\w+)\s*;")
_CALL_RE = re.compile(r"nnet::(\w+)<([^;]*?)>\(([^;]*?)\);\s*//\s*(\S+)")
_ALIAS_RE = re.compile(r"auto&\s+(\w+)\s*=\s*(\w+)\s*;")


def _const_value(expr: str, env: dict):
    expr = expr.strip()
    if expr in ("true", "false"):
        return expr == "true"
    m = re.fullmatch(r"nnet::(\w+)(?:::(\w+))?", expr)
    if m:
        return m.group(2) or m.group(1)
    try:  # arithmetic on earlier constants (kernel_size = filt_height * filt_width)
        return int(eval(expr, {"__builtins__": {}, "DIV_ROUNDUP": lambda a, b: -(-a // b),
                               "MIN": min, "MAX": max}, dict(env)))
    except Exception:
        return expr


def parse_configs(parameters_h: str, defines_h: str = "") -> dict[str, dict]:
    """Every ``struct X : nnet::base {...}`` of parameters.h: {'config6': {'_base': 'conv2d_config', ...}};
    ``#define N_LAYER_15 16`` constants of defines.h resolve expressions that use them."""
    macros = {k: int(v) for k, v in _DEFINE_RE.findall(defines_h)}
    out = {}
    for name, base, body in _STRUCT_RE.findall(parameters_h):
        env: dict = dict(macros)
        env["_base"] = base
        for k, v in _CONST_RE.findall(body):
            env[k] = _const_value(v, env)
        km = re.search(r"using\s+kernel\s*=\s*nnet::(\w+)", body)
        if km:
            env["_kernel"] = km.group(1)
        out[name] = {k: v for k, v in env.items() if k not in macros or k == "_base"}
    return out


def parse_types(defines_h: str) -> dict[str, dict]:
    """Stream word types of defines.h: {'layer5_t': {'size': 2, 'bits': 6}} (channels per word, element bits)."""
    out = {}
    for _, bits, size, name in _TYPEDEF_ARRAY_RE.findall(defines_h):
        out[name] = {"size": int(eval(size, {"__builtins__": {}})), "bits": int(bits)}
    for _, bits, name in _TYPEDEF_RE.findall(defines_h):
        out.setdefault(name, {"size": 1, "bits": int(bits), "scalar": True})
    return out


# nnet function -> the hls4ml class name describe() writes as the record's kind
# nnet function called in a written project -> (the hls4ml class its record names as "kind", as
# describe() does, and the form its shapes are read in); records are told apart by their function
FUNCTIONS = {
    "conv_2d_cl": ("Conv2D", "window2d"), "pooling2d_cl": ("Pooling2D", "window2d"),
    "conv_1d_cl": ("Conv1D", "window1d"), "pooling1d_cl": ("Pooling1D", "window1d"),
    "zeropad2d_cl": ("ZeroPadding2D", "pad2d"), "zeropad1d_cl": ("ZeroPadding1D", "pad1d"),
    "global_pooling2d_cl": ("GlobalPooling2D", "global"), "global_pooling1d_cl": ("GlobalPooling1D", "global"),
    "dense": ("Dense", "dense"), "clone_stream": ("Clone", "clone"),
    "concatenate3d": ("Concatenate", "concat"), "concatenate2d": ("Concatenate", "concat"),
    "concatenate1d": ("Concatenate", "concat"), "add": ("Merge", "merge"),
    "softmax": ("Softmax", "elementwise"), "normalize": ("BatchNormalization", "elementwise"),
    "relu": ("Activation", "activation"), "linear": ("Activation", "activation"), "sigmoid": ("Activation", "activation"),
    "tanh": ("Activation", "activation"), "hard_tanh": ("HardActivation", "activation"),
    "hard_sigmoid": ("HardActivation", "activation"),
}
WEIGHTED_FUNCTIONS = ("conv_2d_cl", "conv_1d_cl", "dense")  # their config holds reuse_factor and strategy
_GEOMETRY_KEYS = ("in_height", "in_width", "n_chan", "out_height", "out_width", "n_filt", "filt_height",
                  "filt_width", "stride_height", "stride_width", "pad_top", "pad_bottom", "pad_left", "pad_right",
                  "pool_height", "pool_width", "n_in", "n_out", "groups", "n_in_g", "height", "width")


@dataclass
class CaseProject:
    case: str
    records: list[dict]
    configs: dict[str, dict]
    types: dict[str, dict]
    calls: list[dict]            # one per nnet call of myproject.cpp: function, template args, streams, comment


def read_project(case_dir: str | Path) -> CaseProject | None:
    """The layer records of a case's written hls4ml project (None when it ships no parameters.h)."""
    case_dir = Path(case_dir)
    ph, dh = _find(case_dir, "parameters.h"), _find(case_dir, "defines.h") or _find(case_dir, "defines3.h")
    top = find_top(case_dir)
    cpp = None
    if top is not None:
        name = top.name[: -len("_csynth.rpt")]
        cpp = _find(case_dir, f"{name}.cpp")
    cpp = cpp or _find(case_dir, "myproject.cpp")
    if ph is None or dh is None or cpp is None:
        return None
    defines = dh.read_text(errors="replace")
    configs = parse_configs(ph.read_text(errors="replace"), defines)
    types = parse_types(defines)
    src = cpp.read_text(errors="replace")
    body = src[src.find("NETWORK INSTANTIATION"):] if "NETWORK INSTANTIATION" in src else src
    alias = dict(_ALIAS_RE.findall(body))
    calls, records = [], []
    var_shape: dict[str, list[int]] = {}
    for fn, targs, args, comment in _CALL_RE.findall(body):
        if fn not in FUNCTIONS:
            continue
        targs = [t.strip() for t in targs.split(",")]
        args = [a.strip() for a in args.split(",")]
        cfg_name = targs[-1] if fn != "clone_stream" else ""
        cfg = configs.get(cfg_name, {})
        calls.append({"function": fn, "targs": targs, "args": args, "layer": comment, "config": cfg_name})
        rec = _record(fn, targs, args, comment, cfg_name, cfg, types, alias, var_shape)
        if rec is not None:
            records.append(rec)
    return CaseProject(case_dir.name, records, configs, types, calls)


def _record(fn, targs, args, comment, cfg_name, cfg, types, alias, var_shape) -> dict | None:
    kind, form = FUNCTIONS[fn]
    in_t = types.get(targs[0], {})
    n_stream_in = {"concatenate3d": 2, "concatenate2d": 2, "concatenate1d": 2, "add": 2}.get(fn, 1)
    ins = [alias.get(a, a) for a in args[:n_stream_in]]
    outs = args[n_stream_in:n_stream_in + (2 if fn == "clone_stream" else 1)]
    out_t = types.get(targs[1] if fn != "concatenate3d" and n_stream_in == 1 else targs[2], {})
    geo = {k: int(cfg[k]) for k in _GEOMETRY_KEYS if isinstance(cfg.get(k), int) and not isinstance(cfg.get(k), bool)}
    chan_in = in_t.get("size", 1)
    chan_out = out_t.get("size", 1)
    # output shape, from the config (the same numbers describe() copies from the hls4ml node)
    if form == "window2d":
        oshape = [geo["out_height"], geo["out_width"], geo.get("n_filt", geo.get("n_chan"))]
        ishape = [geo["in_height"], geo["in_width"], geo["n_chan"]]
    elif form == "window1d":
        ishape = [geo.get("in_width", geo.get("n_in")), geo["n_chan"]]
        oshape = [geo["out_width"], geo.get("n_filt", geo.get("n_chan"))]
    elif form == "pad2d":
        ishape = [geo["in_height"], geo["in_width"], geo["n_chan"]]
        oshape = [geo["out_height"], geo["out_width"], geo["n_chan"]]
    elif form == "pad1d":
        ishape = [geo["in_width"], geo["n_chan"]]
        oshape = [geo["out_width"], geo["n_chan"]]
    elif form == "global":
        n_in = geo.get("n_in", geo.get("in_height", 1) * geo.get("in_width", 1))
        ishape = [n_in, geo.get("n_filt", chan_in)]
        oshape = [geo.get("n_filt", chan_in)]
        if fn == "global_pooling1d_cl":
            geo.setdefault("n_in", n_in)
    elif form == "dense":
        ishape = [geo["n_in"] // max(1, chan_in), chan_in] if chan_in < geo["n_in"] else [geo["n_in"]]
        oshape = [geo["n_out"]]
    elif form == "clone":
        n = int(targs[2]) if len(targs) > 2 and targs[2].isdigit() else 0
        ishape = var_shape.get(ins[0]) or [n // max(1, chan_in), chan_in]
        oshape = list(ishape)
    elif form in ("concat", "merge"):
        sh = [var_shape.get(v) for v in ins]
        if fn == "concatenate1d" or any(s is None for s in sh):
            n = sum(math.prod(s) if s else 0 for s in sh) or geo.get("n_elem1_0", 0)
            oshape = [n] if fn == "concatenate1d" else (sh[0] or [])
            ishape = sh[0] or []
        else:
            ishape = sh[0]
            oshape = list(sh[0][:-1]) + ([sum(s[-1] for s in sh)] if form == "concat" else [sh[0][-1]])
    else:  # activations, softmax, normalize: n_in elements, chan_in per word
        n_in = geo.get("n_in", 0)
        if ins[0] in var_shape and math.prod(var_shape[ins[0]]) == n_in:
            ishape = list(var_shape[ins[0]])
        else:
            ishape = [n_in // max(1, chan_in), chan_in] if chan_in > 1 and n_in > chan_in else [n_in]
        oshape = list(ishape)
    for v, s in zip(outs, [oshape] * len(outs)):
        var_shape[v] = s
    px = int(math.prod(oshape[:-1])) if len(oshape) > 1 else 1
    rec = {"name": comment if fn != "clone_stream" else f"clone_{ins[0]}", "kind": kind, "function": fn,
           "config": cfg_name, "inputs": ins,
           "outputs": [{"name": v, "var": v, "shape": oshape, "elem_bits": out_t.get("bits", 0),
                        "word_bits": out_t.get("bits", 0) * chan_out, "pixels": px, "depth": None} for v in outs],
           "geometry": geo, "in_shape": ishape, "in_elem_bits": in_t.get("bits", 0),
           "in_word_size": chan_in, "out_word_size": chan_out}
    if fn in WEIGHTED_FUNCTIONS:
        rec["reuse_factor"] = int(cfg.get("reuse_factor", 1))
        rec["strategy"] = str(cfg.get("strategy", "latency")).lower()
    if form == "activation":
        rec["activation"] = fn
    if fn == "softmax":
        rec["implementation"] = str(cfg.get("implementation", "stable"))
    return rec


# ----------------------------------------------------------------------------------- calibration rows

TOLERANCE = 0.10
"""An estimate agrees with a report when it is within 10% of the per-branch count ..."""
ABS_FLOOR = 2
"""... or within 2 cycles of it (a 1..5-cycle module: one handshake cycle is already 20%)."""

# (case, config struct) -> why the model does not reproduce that row (tests: strict xfail; docs: listed)
KNOWN_DEVIATIONS = {
    **{("alexnet_cifar10_cestmerneil_hls4ml071_vitis2022.1", f"config{n}"):
       "hls4ml 0.7.1 inlines compute_output_buffer_2d (#pragma HLS INLINE; 1.3.0: INLINE OFF), so Vitis "
       "pipelined the pixel loop at II 1; the modelled 1.3.0 kernel has the carried kernel-window dependence"
       for n in (2, 7, 12, 16, 20)},
    ("alexnet_cifar10_cestmerneil_hls4ml071_vitis2022.1", "config26"):
        "hls4ml 0.7.1 / Vitis 2022.1 dense: 22 cycles, the adder-tree rule gives 25",
    ("alveo_u55c_svhn_cnn_alexyang_vitis2022.2", "config6"):
        "achieved II 5 for 144 products per output (adder-tree rule: 6)",
    ("alveo_u55c_svhn_cnn_alexyang_vitis2022.2", "config10"):
        "achieved II 5 for 144 products per output (adder-tree rule: 6)",
    ("pixel_cnn_large_alezander9_hls4ml080_vitis2023.1", "config6"):
        "Resource at RF 1 (auto-pipelined): achieved II 3 for 72 products (adder-tree rule: 5)",
    ("lenet5_guessoum_hls4ml110_vitis2023.2", "config5"):
        "Vitis 2023.2 achieved II 2 on the pooling pixel loop (target 1; II 1 in 2022.1, 2022.2, 2023.1, 2025.2)",
    ("lenet5_guessoum_hls4ml110_vitis2023.2", "config9"):
        "Vitis 2023.2 achieved II 2 on the pooling pixel loop (target 1; II 1 in 2022.1, 2022.2, 2023.1, 2025.2)",
    ("dune_apa_cnn_jmitrevs_hls4ml071_vitis2023.1", "config16"):
        "its DataPrepare loop was not pipelined (2 cycles per word; the template asks PIPELINE)",
}
NETWORK_DEVIATIONS = {
    "alexnet_cifar10_cestmerneil_hls4ml071_vitis2022.1": "its convs are hls4ml 0.7.1's inlined kernel (see the conv rows)",
}


@dataclass
class CalRow:
    case: str
    module: str
    config: str
    layer: str
    kind: str
    csynth: tuple[int, int]
    branch: int
    how: str            # how the per-branch count was formed from the report
    estimate: int
    model: str
    deviation: str = ""

    @property
    def error(self) -> float:
        return (self.estimate - self.branch) / max(1, self.branch)

    @property
    def agrees(self) -> bool:
        """Within TOLERANCE (or ABS_FLOOR cycles) of the per-branch count, and inside csynth's [min, max]
        when that range is a real range (min < max: a data-dependent module)."""
        close = abs(self.estimate - self.branch) <= max(TOLERANCE * self.branch, ABS_FLOOR)
        lo, hi = self.csynth
        inside = lo <= self.estimate <= hi if lo < hi else True
        return close and inside


def branch_count(perf: Perf | None, inst: Instance, n_long: int) -> tuple[int, str]:
    """The per-branch latency of one process from its report: a loop whose iteration latency prints as
    'a ~ b' (not pipelined) takes b on the n_long iterations that write an output and a on the others,
    plus the loop and module overheads the table shows (loop min - trip*a, module min - loop min).
    Without such a loop: the fixed latency, or (min < max from a rewinding sub-pipeline, called once
    per frame) the max."""
    if perf is not None and perf.latency is not None:
        for lp in perf.loops:
            it = lp.iteration
            if not lp.pipelined and it and it[0] != it[1] and lp.trip and lp.latency:
                a, b = it
                trip = lp.trip[0]
                loop_over = lp.latency[0] - trip * a
                mod_over = perf.latency[0] - lp.latency[0]
                count = n_long * b + (trip - n_long) * a + loop_over + mod_over
                return count, (f"{lp.name}: {n_long} x {b} + {trip - n_long} x {a}"
                               + (f" + {loop_over}" if loop_over else "") + f" + {mod_over}")
    lat = (perf.latency if perf is not None and perf.latency else inst.latency)
    if lat[0] == lat[1]:
        return lat[0], "fixed"
    return lat[1], "max (rewinding sub-pipeline, one call per frame)"


def case_rows(case_dir: str | Path) -> list[CalRow]:
    """One row per dataflow process of a case with a project (parameters.h) and per-process latencies."""
    from .cycles import network_cycles

    case_dir = Path(case_dir)
    perf = load_case_perf(case_dir)
    proj = read_project(case_dir) if perf is not None else None
    if perf is None or proj is None:
        return []
    by_cfg = {r["config"]: r for r in proj.records}
    net = network_cycles(proj.records)["per_layer"]  # network pass: word sizes through Reshape aliases
    rows = []
    for inst in perf.top.instances:
        cfg = module_config(inst.module)
        rec = by_cfg.get(cfg)
        if rec is None or inst.latency is None:
            continue
        n_long = rec["outputs"][0]["pixels"] if rec.get("outputs") else 0
        count, how = branch_count(perf.modules.get(inst.module), inst, n_long)
        c = net[rec["name"]]
        rows.append(CalRow(case_dir.name, inst.module, cfg, rec["name"], rec["kind"], inst.latency, count, how,
                           c["latency"], c["model"], KNOWN_DEVIATIONS.get((case_dir.name, cfg), "")))
    return rows


_BASELINE_RE = re.compile(r"test_depthwise2d io_stream: DepthwiseConv2D (\d+)x(\d+) on (\d+)x(\d+)x(\d+)[^\n]*?"
                          r"RF(\d+), (\w+)")


def baseline_rows(case_dir: str | Path) -> list[CalRow]:
    """hls4ml's own synthesis baselines hold totals only; the depthwise io_stream one is a single-process
    design, so its total is that process's latency (geometry from the test definition CASE.md quotes)."""
    import json

    from .cycles import layer_cycles

    case_dir = Path(case_dir)
    md = case_dir / "CASE.md"
    js = case_dir / "test_keras_api_test_depthwise2d_io_stream-Vitis.json"
    if not md.is_file() or not js.is_file():
        return []
    m = _BASELINE_RE.search(md.read_text())
    if not m:
        return []
    kh, kw, h, w, c, rf, strategy = m.groups()
    kh, kw, h, w, c, rf = map(int, (kh, kw, h, w, c, rf))
    oh, ow = h - kh + 1, w - kw + 1
    rec = {"name": "depthwise2d", "kind": "DepthwiseConv2D", "in_shape": [h, w, c],
           "outputs": [{"shape": [oh, ow, c], "pixels": oh * ow}], "reuse_factor": rf, "strategy": strategy.lower(),
           "geometry": {"in_height": h, "in_width": w, "n_chan": c, "out_height": oh, "out_width": ow, "n_filt": c,
                        "filt_height": kh, "filt_width": kw, "stride_height": 1, "stride_width": 1}}
    rep = json.loads(js.read_text())["CSynthesisReport"]
    lat = (int(rep["BestLatency"]), int(rep["WorstLatency"]))
    est = layer_cycles(rec)
    return [CalRow(case_dir.name, "myproject (whole design: one process)", "", "depthwise2d", "DepthwiseConv2D",
                   lat, lat[1] if lat[0] == lat[1] else lat[1], "fixed (design total)", est["latency"], est["model"])]


def calibration_rows(cal_dir: str | Path) -> list[CalRow]:
    """Every modelled process of every calibration case, with its report's numbers and the estimate."""
    rows = []
    for d in sorted(p for p in Path(cal_dir).iterdir() if p.is_dir()):
        rows.extend(case_rows(d))
        rows.extend(baseline_rows(d))
    return rows


@dataclass
class NetRow:
    case: str
    csynth_latency: tuple[int, int]
    csynth_interval: tuple[int, int]
    slowest_csynth: int            # the largest process latency csynth lists (max column)
    latency: int                   # network_cycles latency_cycles
    cycles_per_frame: int
    slowest_layer: str
    data_dependent: bool           # some process has a data-dependent latency (min < max)
    deviation: str = ""


def network_rows(cal_dir: str | Path) -> list[NetRow]:
    from .cycles import network_cycles

    rows = []
    for d in sorted(p for p in Path(cal_dir).iterdir() if p.is_dir()):
        perf = load_case_perf(d)
        proj = read_project(d) if perf is not None else None
        if perf is None or proj is None or perf.top.latency is None:
            continue
        net = network_cycles(proj.records)
        dd = any(i.latency and i.latency[0] != i.latency[1] for i in perf.top.instances)
        rows.append(NetRow(d.name, perf.top.latency, perf.top.interval,
                           max(i.latency[1] for i in perf.top.instances if i.latency),
                           net["latency_cycles"], net["cycles_per_frame"], net["slowest_layer"], dd,
                           NETWORK_DEVIATIONS.get(d.name, "")))
    return rows
