"""Storage audit: the memories of the WRITTEN project against the resource plan.

``audit(build_dir)`` reads what was written (``hls4ml_prj/firmware/myproject.cpp``, ``parameters.h``,
``defines.h``, ``weights/*.h`` and the kernels under ``firmware/nnet_utils/`` that each layer's call
reaches, with their pragmas, including pragmas on the arrays they receive) and the plan stored in
``flow.json`` (``design``, ``plan``, ``resources``), lists every memory (C++ variable, depth x width,
binding, the pragma line that decides it) and reports every disagreement, naming the layer:

* weight arrays: the top function's reshape factor equals the plan's words (``reuse_factor`` words of
  ``block_factor`` weights) and its binding (``bind_storage``/``RESOURCE``) is the primitive the
  plan chose (exactly one; none for a ROM the plan keeps in registers); no kernel the layer
  instantiates partitions the array (``ARRAY_PARTITION variable=weights``) when the plan stores it
  in a memory, binds it itself (a template ``RESOURCE``/``bind_storage``), or reshapes it with another
  factor; no call to stock ``pointwise_conv_2d_cl``; the array's size is the design's weight count;
  every weight array written belongs to a planned layer; biases are partitioned into registers;
* FIFOs: the written ``#pragma HLS STREAM depth`` equals the planned depth; FIFOs the plan puts in
  SRL/LUTRAM/BRAM/URAM carry that binding (depth-2 FIFOs, flip-flops in the plan, carry none);
* line buffers: stock convolutions' ``ap_shift_reg`` are listed (shift registers; a plan that put
  one in URAM is a disagreement); the pooling extensions' row RAMs (``line_buf`` in
  nnet_stream_maxpool.h) must carry the binding of the plan's impl for the backend.

Not checked: what a vendor tool finally does with the pragmas (no synthesis here), pragmas in code
paths the templates' constant branches exclude (they are all read: conservative), and memories the
plan does not model (HLS-internal registers, the top-level AXI ports).

``audit`` returns a dict (``ok``, ``disagreements``, ``memories``, ``not_bound``); ``check`` raises
:class:`StorageAuditFailed` (exit code 1) when ``ok`` is false.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..hls.storage import block_factor, parse_binding

FORBIDDEN_CALLS = {"pointwise_conv_2d_cl": "stock pointwise_conv_2d_cl partitions its weights completely",
                   "pointwise_conv_1d_cl": "stock pointwise_conv_1d_cl partitions its weights completely"}
MEMORY_IMPLS = ("bram", "lutram", "uram")


class StorageAuditFailed(Exception):
    """The written project stores memories other than the plan says (exit code 1)."""

    exit_code = 1


def audit(build_dir) -> dict:
    """Audit a built directory (flow.json + hls4ml_prj/) and return the listing and disagreements."""
    build_dir = Path(build_dir)
    m = json.loads((build_dir / "flow.json").read_text())
    res = m.get("resources") or {}
    backend = m["config"]["hls"]["backend"]
    return audit_project(build_dir / m.get("project", "hls4ml_prj"), m["design"], res.get("layers", []),
                         res.get("fifos", []), backend, (m.get("plan") or {}).get("fifo_depths"), m.get("weight_load"))


def check(build_dir) -> dict:
    r = audit(build_dir)
    if not r["ok"]:
        raise StorageAuditFailed(summary(r))
    return r


def summary(r: dict) -> str:
    lines = [f"storage audit: {len(r['disagreements'])} disagreement(s) between the written project and the plan"]
    lines += [f"  {d}" for d in r["disagreements"]]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- reading

class Project:
    """The written firmware, parsed just enough for the audit."""

    def __init__(self, prj: Path):
        fw = Path(prj) / "firmware"
        self.fw = fw
        self.top_text = (fw / "myproject.cpp").read_text()
        self.top_lines = self.top_text.splitlines()
        self.params = (fw / "parameters.h").read_text()
        self.defines = (fw / "defines.h").read_text() if (fw / "defines.h").is_file() else ""
        self.configs = {name: _struct_fields(body) for name, body in
                        re.findall(r"struct (\w+) : [^{]*\{(.*?)\n\};", self.params, re.S)}
        # calls: (function, config, [args], layer, line number)
        self.calls = []
        for i, line in enumerate(self.top_lines, 1):
            c = re.search(r"nnet::(\w+)<[^;]*?(config\d+)>\(([^;]*)\);\s*//\s*(\w+)", line)
            if c:
                self.calls.append((c.group(1), c.group(2), [a.strip() for a in c.group(3).split(",")], c.group(4), i))
        # top-level pragmas by variable
        self.pragmas: dict[str, list[tuple[int, str]]] = {}
        for i, line in enumerate(self.top_lines, 1):
            s = line.strip()
            if not s.startswith("#pragma"):
                continue
            v = re.search(r"variable\s*=\s*([\w,]+)", s)
            if v:
                for var in v.group(1).split(","):
                    self.pragmas.setdefault(var, []).append((i, s))
        self.weight_arrays = {}
        for h in sorted((fw / "weights").glob("*.h")):
            for t, var, n in re.findall(r"^(\w+) (\w+)\[(\d+)\];", h.read_text(), re.M):
                self.weight_arrays[var] = (t, int(n))
        self.functions = _functions(fw / "nnet_utils")
        self.classes = _classes(fw / "nnet_utils")

    def headers_reached(self, func: str) -> set[str]:
        """The nnet_utils headers holding ``func`` and every function it calls, transitively."""
        files, seen, todo = set(), set(), [func]
        while todo:
            f = todo.pop()
            if f in seen:
                continue
            seen.add(f)
            for d in self.functions.get(f, []):
                files.add(d["file"])
                todo.extend(_calls_in(d["body"]))
        return files

    def row_ram_binding(self, backend: str, headers: set[str]):
        """(file:line, (var, type, impl)) of the binding of the row memories ``line_buf`` of fpga_flow's
        window kernels (sliding window, pools) for ``backend`` (Vitis: the ``__VITIS_HLS__`` branch's
        bind_storage; Vivado: RESOURCE), in ``headers`` (the ones the layer's call reaches)."""
        want = "bind_storage" if backend == "Vitis" else "RESOURCE"
        for h in sorted((self.fw / "nnet_utils").glob("*.h")):
            if h.name not in headers:
                continue
            text = h.read_text()
            if "line_buf[" not in text:
                continue
            for i, line in enumerate(text.splitlines(), 1):
                s = line.strip()
                if s.startswith("#pragma") and want in s:
                    b = parse_binding(s)
                    if b and b[0] == "line_buf":
                        return f"{h.name}:{i}", b
        return None, None

    def type_width(self, typename: str) -> int | None:
        m = re.search(rf"typedef\s+ap_u?(?:fixed|int)<(\d+)[^>]*>\s+{re.escape(typename)};", self.defines)
        return int(m.group(1)) if m else None

    def where(self, line_no: int) -> str:
        return f"myproject.cpp:{line_no}"


def _struct_fields(body: str) -> dict:
    f = {k: int(v) for k, v in re.findall(r"static const [\w:]+ (\w+) = (\d+);", body)}
    k = re.search(r"using kernel = nnet::(\w+)<", body)
    if k:
        f["kernel"] = k.group(1)
    impl = re.search(r"conv_implementation implementation = nnet::conv_implementation::(\w+);", body)
    if impl:
        f["implementation"] = impl.group(1)
    return f


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _body_end(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


def _functions(d: Path) -> dict[str, list[dict]]:
    """name -> [{file, params, body, line}] of every function definition in the written headers."""
    out: dict[str, list[dict]] = {}
    for h in sorted(Path(d).glob("*.h")):
        text = _strip_comments(h.read_text())
        for m in re.finditer(r"\b(?:static\s+)?(?:inline\s+)?void\s+(\w+)\s*\(", text):
            # parameter list: up to the matching ')'
            depth, i = 0, m.end() - 1
            while i < len(text):
                if text[i] == "(":
                    depth += 1
                elif text[i] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            params = text[m.end():i]
            j = i + 1
            while j < len(text) and text[j] in " \t\n":
                j += 1
            if j >= len(text) or text[j] != "{":
                continue  # a declaration
            body = text[j:_body_end(text, j)]
            out.setdefault(m.group(1), []).append({"file": h.name, "params": params, "body": body,
                                                   "line": text.count("\n", 0, j) + 1, "offset": j,
                                                   "text": text})
    return out


def _classes(d: Path) -> dict[str, dict]:
    out = {}
    for h in sorted(Path(d).glob("*.h")):
        text = _strip_comments(h.read_text())
        for m in re.finditer(r"\bclass\s+(\w+)\s*:[^{]*\{", text):
            out[m.group(1)] = {"file": h.name, "body": text[m.end() - 1:_body_end(text, m.end() - 1)]}
    return out


def _calls_in(body: str) -> set[str]:
    return set(re.findall(r"\b(?:nnet::)?(\w+)\s*<[^;(){}]*>\s*\(", body))


def kernel_chain(p: Project, func: str, cfg_name: str) -> tuple[list[tuple[str, dict, str]], list[str]]:
    """Every function definition the layer's weights reach from the top-level call ``func``:
    [(name, definition, config it sees)], and problems (unknown kernels)."""
    problems = []
    defs = [d for d in p.functions.get(func, []) if "hls::stream" in d["params"]]
    if not defs:
        return [], [f"kernel nnet::{func} (stream version) not found in the written nnet_utils/"]
    mult = f"{cfg_name}_mult" if f"{cfg_name}_mult" in p.configs else cfg_name
    seen, todo, chain = set(), [(func, d, cfg_name) for d in defs], []
    while todo:
        name, d, cfg = todo.pop()
        key = (name, d["file"], d["line"])
        if key in seen:
            continue
        seen.add(key)
        chain.append((name, d, cfg))
        body = d["body"]
        for callee in _calls_in(body):
            for d2 in p.functions.get(callee, []):
                if "weights" in d2["params"] and callee != "dense":
                    todo.append((callee, d2, cfg))
        if re.search(r"template\s+kernel\s*<", body):
            kcfg = mult if "mult_config" in body else cfg_name
            kname = p.configs.get(kcfg, {}).get("kernel")
            cls = p.classes.get(kname or "")
            if cls is None:
                problems.append(f"kernel class {kname!r} of {kcfg} not found in the written nnet_utils/")
                continue
            for callee in _calls_in(cls["body"]):
                for d2 in p.functions.get(callee, []):
                    if "weights" in d2["params"]:
                        todo.append((callee, d2, kcfg))
    return chain, problems


def _kernel_block_factor(name: str, cfg: dict) -> int | None:
    """The value of ``block_factor`` / ``BF`` in the kernel ``name`` for config ``cfg``."""
    rf = cfg.get("reuse_factor")
    if not rf:
        return None
    if name.startswith("dense_resource"):
        n = cfg["n_in"] * cfg["n_out"]
        return -(-n // rf)
    if name.startswith("depthwise_product_resource"):
        return -(-cfg["n_in"] // min(rf, cfg["n_in"]))
    if name in ("grouped_pointwise_conv_cl", "stream_mvu_cl"):
        return cfg.get("block_factor")
    return None


def _weight_pragmas(d: dict) -> list[tuple[int, str]]:
    """Pragma lines of a kernel body that act on its ``weights`` argument: (line, text)."""
    out = []
    base = d["line"]
    for k, line in enumerate(d["body"].splitlines()):
        s = line.strip()
        if s.startswith("#pragma") and re.search(r"variable\s*=\s*[\w,]*\bweights\b", s.replace(" = ", "=")):
            out.append((base + k, re.sub(r"\s+", " ", s)))
    return out


# ------------------------------------------------------------------------------------------------ audit

def audit_project(prj, nodes: list[dict], layers: list[dict], fifos: list[dict], backend: str,
                  depths: dict | None = None, weight_load: dict | None = None) -> dict:
    """Audit the written project ``prj`` against the plan (flow.json's ``design`` = ``nodes``,
    ``resources.layers`` = ``layers``, ``resources.fifos`` = ``fifos``, ``weight_load``: the
    weight-load path the build wrote for the URAM weights, hls/weight_load.py)."""
    p = Project(Path(prj))
    bad: list[str] = []
    mems: list[dict] = []
    not_bound: list[dict] = []
    by_name = {r["name"]: r for r in nodes}
    calls_by_layer = {c[3]: c for c in p.calls}

    for func, _, _, layer, line in p.calls:
        if func in FORBIDDEN_CALLS:
            bad.append(f"{layer}: calls nnet::{func} ({p.where(line)}): {FORBIDDEN_CALLS[func]}")

    planned_vars = set()
    for row in layers:
        name = row["layer"]
        rec = by_name.get(name)
        w = next((m for m in row["memories"] if m["kind"] == "weights"), None)
        b = next((m for m in row["memories"] if m["kind"] == "bias"), None)
        for lb in (m for m in row["memories"] if m["kind"] == "line_buffer"):
            if lb["role"] == "shift":
                entry = {"layer": name, "kind": "line_buffer", "var": None, "depth": lb["depth"],
                         "width": lb["width"], "copies": lb["copies"], "plan_impl": lb["impl"], "binding": None,
                         "pragma": None, "note": "ap_shift_reg shift registers (stock line buffer)"}
                mems.append(entry)
                not_bound.append(entry)
                if lb["impl"] == "uram":
                    bad.append(f"{name}: line buffer planned in URAM, but ap_shift_reg line buffers are shift registers")
                continue
            # fpga_flow's window kernels' row RAMs (sliding window, pools): bound inside the header of the
            # kernel the layer's call reaches (static line_buf)
            call = calls_by_layer.get(name)
            where, binding = p.row_ram_binding(backend, p.headers_reached(call[0]) if call else set())
            entry = {"layer": name, "kind": "line_buffer", "var": "line_buf", "depth": lb["depth"],
                     "width": lb["width"], "copies": lb["copies"], "plan_impl": lb["impl"],
                     "binding": binding[2] if binding else None, "pragma": where, "note": "row RAMs (window kernel)"}
            mems.append(entry)
            if binding is None:
                bad.append(f"{name}: the window kernel's row RAM line_buf has no {backend} binding in the "
                           "firmware/nnet_utils/ header its call reaches (plan: " + lb["impl"] + ")")
            elif binding[2] != lb["impl"]:
                bad.append(f"{name}: row RAM line_buf is bound impl={binding[2]} ({where}), the plan says {lb['impl']}")
        if w is None or rec is None or "weights" not in rec:
            continue
        call = calls_by_layer.get(name)
        if call is None:
            bad.append(f"{name}: no call of this layer in myproject.cpp")
            continue
        func, cfg_name, args, _, call_line = call
        wvar = next((a for a in args if re.fullmatch(r"w\d+", a)), None)
        bvar = next((a for a in args if re.fullmatch(r"b\d+", a)), None)
        if wvar is None:
            bad.append(f"{name}: no weight array among the call's arguments ({p.where(call_line)})")
            continue
        planned_vars.add(wvar)
        if w.get("var") and w["var"] != wvar:
            bad.append(f"{name}: plan names weight array {w['var']}, the written call passes {wvar}")
        n_planned = int(rec["weights"]["count"])
        t, n_written = p.weight_arrays.get(wvar, (None, None))
        if n_written is None:
            bad.append(f"{name}: weight array {wvar} not found in firmware/weights/")
        elif n_written != n_planned:
            bad.append(f"{name}: weight array {wvar} has {n_written} elements, the design {n_planned}")
        bits = p.type_width(t) if t else None
        bf_plan = block_factor(rec, row["reuse_factor"])
        impl = w["impl"]

        # the top function's pragmas on the array
        tp = p.pragmas.get(wvar, [])
        reshapes = [(ln, s) for ln, s in tp if re.search(r"ARRAY_RESHAPE", s, re.I)]
        parts = [(ln, s) for ln, s in tp if re.search(r"ARRAY_PARTITION", s, re.I)]
        binds = [(ln, s, parse_binding(s)) for ln, s in tp if parse_binding(s)]
        written_bf, written_impl, deciding = None, None, None
        if len(reshapes) != 1:
            bad.append(f"{name}: {len(reshapes)} ARRAY_RESHAPE pragmas on {wvar} in the top function (want 1)")
        else:
            ln, s = reshapes[0]
            f = re.search(r"factor\s*=\s*(\d+)", s)
            written_bf = n_written if re.search(r"\bcomplete\b", s) else (int(f.group(1)) if f else None)
        if impl == "ff":
            if written_bf is not None and n_written and -(-n_written // written_bf) > 2:
                bad.append(f"{name}: plan keeps {wvar} in registers, the top reshapes it into "
                           f"{-(-n_written // written_bf)} words")
            if binds:
                bad.append(f"{name}: plan keeps {wvar} in registers, but {p.where(binds[0][0])} binds it: {binds[0][1]}")
            written_impl = "ff" if written_bf is not None and not binds else (binds[0][2][2] if binds else None)
            deciding = reshapes[0] if reshapes else None
        else:
            if written_bf is not None and written_bf != bf_plan:
                bad.append(f"{name}: {wvar} reshaped into words of {written_bf} weights ({p.where(reshapes[0][0])}), "
                           f"the plan's words hold {bf_plan} (RF {row['reuse_factor']})")
            if parts:
                bad.append(f"{name}: {wvar} is partitioned in the top function ({p.where(parts[0][0])}: {parts[0][1]}) "
                           f"but the plan stores it in {impl}")
            if len(binds) != 1:
                bad.append(f"{name}: {len(binds)} storage bindings of {wvar} in the top function (want 1: {impl})")
            if binds:
                ln, s, (_, typ, got) = binds[0]
                written_impl, deciding = got, (ln, s)
                want_typ = "ram" if impl == "uram" else "rom"  # URAM weights: a RAM the load path fills
                if got != impl or typ != want_typ:
                    bad.append(f"{name}: {wvar} bound as {typ} impl={got} ({p.where(ln)}: {s}); the plan says "
                               f"{want_typ} in {impl}")

        # the kernels the call reaches, with their pragmas on the weights they receive
        chain, problems = kernel_chain(p, func, cfg_name)
        bad += [f"{name}: {x}" for x in problems]
        kernel_pragmas = []
        for kname, d, kcfg in chain:
            for ln, s in _weight_pragmas(d):
                where = f"nnet_utils/{d['file']}:{ln}"
                kernel_pragmas.append(f"{where}: {s}")
                if re.search(r"ARRAY_PARTITION", s, re.I) and impl in MEMORY_IMPLS:
                    bad.append(f"{name}: kernel {kname} partitions the weights ({where}: {s}) that the plan stores in {impl}")
                elif re.search(r"\bRESOURCE\b|bind_storage", s, re.I):
                    bad.append(f"{name}: kernel {kname} binds the weights itself ({where}: {s}); the plan says {impl}")
                elif re.search(r"ARRAY_RESHAPE", s, re.I) and impl != "ff":
                    f = re.search(r"factor\s*=\s*(\w+)", s)
                    kbf = _kernel_block_factor(kname, p.configs.get(kcfg, {})) if f and not f.group(1).isdigit() \
                        else (int(f.group(1)) if f else None)
                    if kbf is None:
                        bad.append(f"{name}: cannot evaluate the reshape factor of kernel {kname} ({where}: {s})")
                    elif kbf != bf_plan:
                        bad.append(f"{name}: kernel {kname} reshapes the weights into words of {kbf} ({where}), "
                                   f"the plan's words hold {bf_plan}")
        depth = -(-n_written // written_bf) if written_bf and n_written else None
        mems.append({"layer": name, "kind": "weights", "var": wvar, "elements": n_written,
                     "depth": depth, "width": written_bf * bits if written_bf and bits else None,
                     "plan_depth": w["depth"], "plan_width": w["width"], "plan_impl": impl, "binding": written_impl,
                     "pragma": f"{p.where(deciding[0])}: {deciding[1]}" if deciding else None,
                     "kernel": func, "kernel_pragmas": kernel_pragmas})
        if b is not None and bvar:
            planned_vars.add(bvar)
            bp = [(ln, s) for ln, s in p.pragmas.get(bvar, []) if re.search(r"ARRAY_PARTITION.*\bcomplete\b", s, re.I)]
            if not bp:
                bad.append(f"{name}: bias array {bvar} is not partitioned into registers in the top function")
            mems.append({"layer": name, "kind": "bias", "var": bvar, "elements": p.weight_arrays.get(bvar, (0, None))[1],
                         "depth": 1, "width": b["width"], "plan_impl": b["impl"], "binding": "ff" if bp else None,
                         "pragma": f"{p.where(bp[0][0])}: {bp[0][1]}" if bp else None})

    for var in p.weight_arrays:
        if var not in planned_vars:
            owner = next((c[3] for c in p.calls if var in c[2]), "?")
            bad.append(f"{owner}: array {var} is written but not in the plan")

    # FIFOs
    for f in fifos:
        var = f.get("var") or _stream_var(nodes, f.get("stream") or f.get("note"))
        stream = f.get("stream") or f.get("note")
        tp = p.pragmas.get(var, [])
        st = [(ln, s) for ln, s in tp if re.search(r"#pragma HLS STREAM", s, re.I)]
        want_depth = (depths or {}).get(stream, f["depth"])
        written_depth = None
        if len(st) != 1:
            bad.append(f"{f['layer']}: FIFO {var} has {len(st)} STREAM depth pragmas (want 1)")
        else:
            d = re.search(r"depth\s*=\s*(\d+)", st[0][1])
            written_depth = int(d.group(1)) if d else None
            if written_depth != want_depth or written_depth != f["depth"]:
                bad.append(f"{f['layer']}: FIFO {var} depth {written_depth} ({p.where(st[0][0])}), planned {want_depth}")
        binds = [(ln, s, parse_binding(s)) for ln, s in tp if parse_binding(s)]
        got = binds[0][2][2] if binds else None
        if f["impl"] in ("srl", "lutram", "bram", "uram"):
            if len(binds) != 1 or got != f["impl"] or binds[0][2][1] != "fifo":
                bad.append(f"{f['layer']}: FIFO {var} planned in {f['impl']}, written binding: "
                           f"{binds[0][1] if binds else 'none'}")
        elif binds:
            bad.append(f"{f['layer']}: FIFO {var} planned in {f['impl']} (no binding), written: {binds[0][1]}")
        mems.append({"layer": f["layer"], "kind": "fifo", "var": var, "depth": written_depth, "width": f["width"],
                     "plan_depth": f["depth"], "plan_impl": f["impl"], "binding": got,
                     "pragma": "; ".join(f"{p.where(ln)}: {s}" for ln, s in st + [(b[0], b[1]) for b in binds]) or None})
        if got is None:
            not_bound.append({"layer": f["layer"], "kind": "fifo", "var": var, "plan_impl": f["impl"],
                              "note": "depth <= 2: flip-flops, no memory primitive to bind"})

    bad += load_path_findings(p, layers, weight_load)
    return {"ok": not bad, "backend": backend, "disagreements": bad, "memories": mems, "not_bound": not_bound,
            "checked": {"weights": sum(1 for m in mems if m["kind"] == "weights"),
                        "biases": sum(1 for m in mems if m["kind"] == "bias"),
                        "fifos": sum(1 for m in mems if m["kind"] == "fifo"),
                        "line_buffers": sum(1 for m in mems if m["kind"] == "line_buffer")}}


def load_path_findings(p: Project, layers: list[dict], weight_load: dict | None) -> list[str]:
    """The weight-load path of the weights the plan puts in URAM (hls/weight_load.py): each such array
    is declared without bitstream contents, not loaded from a text file in C-simulation, filled by the
    load loop of the top function in the recorded order, and weights.bin holds exactly the recorded
    words; the top function has the load port. No URAM weights: no load path may be written."""
    uram = [(row["layer"], m["var"]) for row in layers for m in row["memories"]
            if m["kind"] == "weights" and m["impl"] == "uram"]
    loads = re.findall(r"nnet::fpga_flow_load_array<(\w+), (\d+), (\d+)>\(weights_in, (\w+)\);", p.top_text)
    if not uram:
        return ["top: a weight-load path is written but the plan puts no weights in URAM"] if loads or weight_load else []
    bad = []
    if not weight_load:
        return [f"{uram[0][0]}: weights planned in URAM but flow.json records no weight-load path"]
    if not re.search(r"\bvoid myproject\([^)]*hls::stream<weight_word_t> &weights_in,\s*bool load_weights\s*\)", p.top_text):
        bad.append("top: myproject() has no weights_in/load_weights load port")
    recorded = [e["var"] for e in weight_load["arrays"]]
    loaded = [v for _, _, _, v in loads]
    for layer, var in uram:
        if var not in loaded:
            bad.append(f"{layer}: weights {var} planned in URAM are not filled by the load path (no "
                       f"fpga_flow_load_array of it in myproject.cpp)")
        h = (p.fw / "weights" / f"{var}.h").read_text() if (p.fw / "weights" / f"{var}.h").is_file() else ""
        if re.search(rf"\b{var}\[\d+\]\s*=\s*\{{", h):
            bad.append(f"{layer}: {var} in URAM has bitstream contents in weights/{var}.h (UltraScale+ URAM has none)")
        if re.search(rf"load_weights_from_txt<\w+, \d+>\({var},", p.top_text):
            bad.append(f"{layer}: the C-simulation loads {var} from a text file, not through the load path")
    if loaded != recorded and set(loaded) == {v for _, v in uram}:
        bad.append(f"top: the load loop fills {loaded} in this order, weights.bin holds {recorded} (flow.json)")
    words = sum(e["words"] for e in weight_load["arrays"])
    binf = p.fw / "weights" / "weights.bin"
    if not binf.is_file() or binf.stat().st_size != 8 * words:
        bad.append(f"top: firmware/weights/weights.bin holds {binf.stat().st_size if binf.is_file() else 'no'} bytes, "
                   f"the load path reads {8 * words}")
    return bad


def _stream_var(nodes, stream):
    for r in nodes:
        for o in r["outputs"]:
            if o["name"] == stream:
                return o["var"]
    return stream


def to_text(r: dict) -> str:
    """Human-readable listing (one line per memory) followed by the disagreements."""
    lines = [f"{'layer':28s} {'kind':11s} {'var':14s} {'depth x width':>16s} {'plan':7s} {'bound':7s} pragma"]
    for m in r["memories"]:
        dw = f"{m.get('depth')} x {m.get('width')}" if m.get("depth") is not None else ""
        lines.append(f"{m['layer']:28s} {m['kind']:11s} {str(m.get('var') or '-'):14s} {dw:>16s} "
                     f"{m['plan_impl']:7s} {str(m.get('binding') or '-'):7s} {m.get('pragma') or m.get('note') or ''}")
    lines.append(summary(r) if not r["ok"] else "storage audit: the written project stores every memory as planned")
    return "\n".join(lines)
