"""Report of a built directory: model size (counted) and on-chip resources (estimated).

Parameters and weight bits are counted from the QKeras model and its quantizers (measured). The
memory / DSP / LUT / cycle numbers come from fpga_flow.resources (an ESTIMATE, labelled so in every
output); a vendor synthesis report, when one exists in the project, is shown beside them.
"""
from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np

from .. import outdir, project
from ..config import HlsSection
from ..hls.fixed import quantizer_spec
from ..hls.kinds import is_weighted
from ..hls.precision import kernel_quantizer
from ..resources.memory import SRL_DEPTH
from ..resources.parts import label as part_label
from . import plots, vendor
from .measured import read_measured


def collect(out, *, verify_json=None, dataflow_json=None) -> dict:
    """The report of built directory ``out``; ``verify_json`` / ``dataflow_json``: saved results of
    ``fpga-flow verify --json`` (and ``--dataflow``) shown as the measured part (default: DIR/verify.json
    and DIR/dataflow.json when the flow wrote them there, e.g. ``fpga-flow demo``)."""
    m = project.load_manifest(out)
    if verify_json is None and (Path(out) / "verify.json").is_file():
        verify_json = Path(out) / "verify.json"
    if dataflow_json is None and (Path(out) / "dataflow.json").is_file():
        dataflow_json = Path(out) / "dataflow.json"
    measured = {"verify": read_measured(verify_json, "--verify-json", dataflow=False),
                "dataflow": read_measured(dataflow_json, "--dataflow-json", dataflow=True)}
    model = project.load_qmodel(Path(out) / project.QMODEL)
    rows = []
    tot_params = tot_bits = 0
    for layer in model.layers:
        cls = type(layer).__name__
        row = {"layer": layer.name, "class": cls, "output_shape": [int(s) for s in layer.output_shape[1:]],
               "params": 0, "weight_bits": None, "bias_bits": None, "storage_bits": 0,
               "type": m["types"].get(layer.name, {}).get("type")}
        if is_weighted(layer):  # group convs hold only their g diagonal blocks
            # a user's QConv2DBatchnorm is deployed folded (hls/rewrite.py): its folded kernel and bias
            folded = hasattr(layer, "get_folded_weights")
            k = [w.numpy() for w in layer.get_folded_weights()] if folded else layer.get_weights()
            wb = quantizer_spec(kernel_quantizer(layer), what=layer.name, allow_symmetric=True).width
            row["weight_bits"] = wb
            bits = k[0].size * wb
            params = k[0].size
            if folded or layer.use_bias:
                bb = quantizer_spec(layer.bias_quantizer_internal, what=layer.name, allow_symmetric=True).width
                row["bias_bits"] = bb
                bits += k[1].size * bb
                params += k[1].size
            row["params"], row["storage_bits"] = int(params), int(bits)
            tot_params += params
            tot_bits += bits
        rows.append(row)
    res = m.get("resources") or {}
    rf = (m.get("plan") or {}).get("reuse_factors", {})
    for row in rows:
        if row["layer"] in rf:
            row["reuse_factor"] = rf[row["layer"]]
    # each layer's weight memory: the C++ array holding it and where the plan puts it (bound so in
    # myproject.cpp; fpga-flow audit checks the written project against it)
    design = {r["name"]: r for r in m.get("design", [])}
    by_layer = {r["layer"]: r for r in res.get("layers", [])}
    for r in res.get("layers", []):
        r.setdefault("layer_kind", design.get(r["layer"], {}).get("layer_kind"))  # its record's name (hls/kinds.py)
        for mem in r.get("memories", []):
            key = {"weights": "weight_var", "bias": "bias_var"}.get(mem.get("kind"))
            if key and not mem.get("var") and design.get(r["layer"], {}).get(key):
                mem["var"] = design[r["layer"]][key]
    for row in rows:
        w = next((mem for mem in by_layer.get(row["layer"], {}).get("memories", []) if mem.get("kind") == "weights"),
                 None)
        if w is not None:
            row["weight_memory"] = {"var": w.get("var"), "impl": w.get("impl"), "depth": w.get("depth"),
                                    "width": w.get("width")}
    hls = m["config"]["hls"]
    return {
        "model": m["model"], "keras_name": m["keras_name"], "part": part_label(hls["part"]),
        "clock_period_ns": hls["clock_period_ns"],
        "min_packing": float(hls.get("min_packing", HlsSection.model_fields["min_packing"].default)),  # older flow.json
        "memory": res.get("memory"), "resource_layers": res.get("layers", []), "fifos": res.get("fifos", []),
        "part_resources": res.get("part"),
        "synthesis": vendor.read(Path(out) / project.PROJECT),
        "backend": hls["backend"], "input_shape": m["input_shape"],
        "quantization": m["config"]["quantization"],
        "params": int(tot_params), "float_params": m.get("float_params"), "weight_bits": int(tot_bits), "weight_megabytes": round(tot_bits / 8 / 1e6, 4),
        "max_accumulator_bits": m.get("max_accumulator_bits"), "timings_s": m.get("timings_s", {}),
        "layers": rows,
        "measured": measured,
        "weight_load": m.get("weight_load"),
        "note": ("params and bits are counted from the QKeras model (measured); memory, DSP, LUT, cycles and FPS "
                 "are estimates of fpga_flow.resources: 'hls_bram18k' (decides fits) is what a Vitis HLS C-synthesis "
                 "report would count for the memories as bound in the written project (rules calibrated on real csynth "
                 "reports of public hls4ml projects), 'bram18k' an uncalibrated post-implementation guess; no vendor "
                 "tool ran"),
    }


KINDS = ("weights", "line_buffer", "fifo")


def to_markdown(d: dict) -> str:
    mem = d.get("memory") or {}
    lines = [
        f"# {d['keras_name']} ({d['model']})",
        "",
        f"- part: `{d['part']}`, backend: {d['backend']}, input: {'x'.join(map(str, d['input_shape']))}, "
        f"clock {d['clock_period_ns']} ns",
        f"- parameters: **{d['params']:,}** deployed (what the FPGA stores)"
        + (f"; {d['float_params']:,} in the training model (e.g. batch-norm scale/shift before folding)"
           if d.get("float_params") not in (None, d["params"]) else ""),
        f"- weight storage at the configured widths: **{d['weight_bits']:,} bits = {d['weight_megabytes']:.3f} MB** (counted)",
        f"- widest exact accumulator: {d['max_accumulator_bits']} bits",
    ]
    if mem:
        lines += [
            "",
            f"## On-chip resources (ESTIMATE) — fits: **{'yes' if mem['fits'] else 'no'}** "
            f"(budget {mem['budget']:.0%} of each)",
            "",
            "| resource | used (estimate) | available | % |",
            "|---|---:|---:|---:|",
            f"| BRAM18K, HLS C-synthesis count (decides fits) | {mem['hls_bram18k']:,} | {mem['bram18k_available']:,} | "
            f"{mem['hls_bram18k_pct']} |",
            f"| BRAM18K, post-implementation guess | {mem['bram18k']:,} | {mem['bram18k_available']:,} | {mem['bram18k_pct']} |",
            f"| URAM | {mem['uram']:,} | {mem['uram_available']:,} | {mem['uram_pct']} |",
            f"| DSP | {mem['dsp']:,} | {mem['dsp_available']:,} | {mem['dsp_pct']} |",
            f"| LUT (rough) | {mem['lut']:,} | {mem['lut_available']:,} | {mem['lut_pct']} |",
            f"| FF in memories (rough) | {mem['ff']:,} | {mem['ff_available']:,} | {mem['ff_pct']} |",
            "",
            "Fits is decided on the BRAM18K count a Vitis HLS C-synthesis report would give for the memories as "
            "the written project binds them (rules calibrated FIFO by FIFO and ROM by ROM on the csynth reports of "
            "public hls4ml projects: fpga_flow/resources/hls_count.py, tests/test_calibration.py), URAM and DSP. "
            "The post-implementation guess (FINN's block-RAM packing rule) is not calibrated. LUT and FF are rough "
            f"and only reported (every FIFO of depth <= {SRL_DEPTH} is an SRL: one LUT per bit of its pixel word); the "
            "logic the plan chooses (products of <= 4-bit operands, weight ROMs in LUTRAM) is bounded in fits. No vendor "
            "tool ran.",
            "",
        ]
        over = [k for k in ("lut", "ff") if mem[f"{k}_pct"] > 100]
        if over:
            lines += [f"**WARNING (rough estimate): {' and '.join(k.upper() for k in over)} exceed the part** "
                      f"({', '.join(k.upper() + ' ' + str(mem[k + '_pct']) + '%' for k in over)}); "
                      "the many whole-pixel stream words of this dataflow (one FIFO per layer boundary) would not "
                      "fit in logic as they are: fusing one-to-one layers or narrower stream words is needed before "
                      "implementation.", ""]
        lines += [
            f"- weight packing efficiency (weight bits / bits of the BRAM+URAM holding them): "
            f"**{_pct(mem['weight_packing_efficiency'])}** (estimate)"
            + (f" — below the {100 * d['min_packing']:g}% target "
               "(hls.min_packing): no fitting plan reaches it" if mem.get("packing_below_target") else ""),
            f"- throughput: **{mem['fps']} frames/s** at {1000 / d['clock_period_ns']:.0f} MHz "
            f"({mem['cycles_per_frame']:,} cycles/frame, slowest layer `{mem['slowest_layer']}`); "
            f"latency about {mem['latency_ms']} ms (estimate)",
            f"- MAC efficiency: **{_pct(mem.get('mac_efficiency'))}** ({mem.get('macs_per_frame', 0):,} multiply-accumulates "
            f"per frame / ({mem['cycles_per_frame']:,} cycles x {mem['dsp']:,} DSPs); estimate)",
            "",
            "| memory kind | bits | BRAM18K (HLS count) | BRAM18K (impl. guess) | URAM | LUTs (LUTRAM/SRL) | FFs |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for k in KINDS:
            v = mem["by_kind"].get(k, {"bits": 0, "hls_bram18k": 0, "bram18k": 0, "uram": 0, "luts": 0, "ffs": 0})
            lines.append(f"| {k} | {v['bits']:,} | {v['hls_bram18k']:,} | {v['bram18k']:,} | {v['uram']:,} | "
                         f"{v['luts']:,} | {v['ffs']:,} |")
        syn = d.get("synthesis")
        if syn:
            lines += ["", "## Vendor C-synthesis report beside the estimate", "",
                      "| resource | estimate | C-synthesis |", "|---|---:|---:|"]
            for key, est in (("BRAM_18K", mem["hls_bram18k"]), ("URAM", mem["uram"]), ("DSP", mem["dsp"]),
                             ("LUT", mem["lut"]), ("FF", None)):
                lines.append(f"| {key} | {'' if est is None else f'{est:,}'} | {syn.get(key, '')} |")
    lines += [
        "",
        "## Layers",
        "",
        "| layer | class | output | params | w bits | b bits | storage bits | RF | weights (var: impl) | BRAM18K (HLS) | URAM | DSP | cycles | C++ type |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    est = {r["layer"]: r for r in d.get("resource_layers", [])}
    for r in d["layers"]:
        e = est.get(r["layer"], {})
        mems = e.get("memories", [])
        lines.append(
            f"| {r['layer']} | {r['class']} | {'x'.join(map(str, r['output_shape']))} | {r['params']:,} | "
            f"{r['weight_bits'] or ''} | {r['bias_bits'] or ''} | {r['storage_bits']:,} | {r.get('reuse_factor', '')} | "
            f"{_wmem(r)} | {sum(m['hls_bram18k'] for m in mems) if mems else ''} | "
            f"{sum(m['uram'] for m in mems) if mems else ''} | "
            f"{e.get('dsp', '') or ''} | {e.get('cycles', '') or ''} | {r['type'] or ''} |")
    procs = [r for r in d.get("resource_layers", []) if r.get("busy_fraction") is not None]
    if procs:
        lines += ["", "## Throughput (ESTIMATE): every dataflow process, cycles per frame against the slowest", "",
                  "| process | kind | RF | cycles/frame | busy | MACs/frame | DSP |", "|---|---|---:|---:|---:|---:|---:|"]
        for r in procs:
            lines.append(f"| {r['layer']} | {r['kind']} | {r.get('reuse_factor') or ''} | {r['cycles']:,} | "
                         f"{100 * r['busy_fraction']:.1f}% | {r.get('macs', 0):,} | {r['dsp'] or ''} |")
    if d.get("fifos"):
        deep = [f for f in d["fifos"] if f["backlog"] or f["depth"] > 2]
        lines += ["", f"## FIFOs ({len(d['fifos'])} streams; depth 2 unless a branch must wait or a window stream feeds a slower MVU)", "",
                  "| stream (producer) | depth | width bits | backlog | impl | BRAM18K (HLS) | URAM |",
                  "|---|---:|---:|---:|---|---:|---:|"]
        for f in deep:
            lines.append(f"| {f['stream']} ({f['layer']}) | {f['depth']} | {f['width']} | {f['backlog']} | {f['impl']} | "
                         f"{f['hls_bram18k']} | {f['uram']} |")
    lines += ["", d["note"], ""]
    return "\n".join(lines)


def _wmem(r) -> str:
    w = r.get("weight_memory")
    return f"{w.get('var') or '?'}: {w.get('impl')}" if w else ""


def _pct(x):
    return "n/a" if x is None else f"{100 * x:.1f}%"


PLOTS = ("utilisation", "memory_by_layer", "cycles_by_layer")


def html_context(d: dict) -> dict:
    """What the html template shows besides ``d``: the plots as PNG data (embedded as data: URIs), the
    weighted layers' memories, the FIFO summary, the per-layer table rows with both BRAM18K counts."""
    ctx = {"images": {}, "plot_info": {}, "weighted": [], "fifo_rows": [], "fifo_summary": None, "layer_rows": []}
    if d.get("memory"):
        for name in PLOTS:
            png, info = getattr(plots, name)(d)
            ctx["images"][name] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            ctx["plot_info"][name] = info
            ctx.setdefault("png", {})[name] = png
        ctx["weighted"] = plots.weighted_layers(d)
    fifos = d.get("fifos") or []
    if fifos:
        occ = ((d.get("measured") or {}).get("dataflow") or {}).get("max_occupancy") or {}
        ctx["fifo_rows"] = [dict(f, max_occupancy=occ.get(f.get("var"))) for f in fifos
                            if f["backlog"] or f["depth"] > 2]
        ctx["fifo_summary"] = {
            "streams": len(fifos), "bits": sum(f["bits"] for f in fifos),
            "hls_bram18k": sum(f["hls_bram18k"] for f in fifos), "bram18k": sum(f["bram18k"] for f in fifos),
            "uram": sum(f["uram"] for f in fifos), "luts": sum(f["luts"] for f in fifos),
            "depth2": sum(f["depth"] <= 2 and not f["backlog"] for f in fifos),
            "impl": {k: sum(f["impl"] == k for f in fifos) for k in sorted({f["impl"] for f in fifos})}}
    est = {r["layer"]: r for r in d.get("resource_layers", [])}
    for r in d["layers"]:
        e = est.get(r["layer"], {})
        mems = e.get("memories", [])
        ctx["layer_rows"].append(dict(r, hls_bram18k=sum(m["hls_bram18k"] for m in mems) if mems else None,
                                      bram18k=sum(m["bram18k"] for m in mems) if mems else None,
                                      uram=sum(m["uram"] for m in mems) if mems else None,
                                      dsp=e.get("dsp"), cycles=e.get("cycles"), kind=e.get("kind")))
    return ctx


def to_html(d: dict, out_dir: Path) -> Path:
    """``out_dir``/report.html: one self-contained page (its plots embedded as data: URIs, no external
    asset, opens offline), and the same plots beside it as PNG files. Written in a temporary directory,
    then renamed into place; only a folder this writer made (its marker file) or an empty one is replaced,
    one writer at a time."""
    with outdir.claim(out_dir, force=True, owned=outdir.is_report_dir, what="report") as out_dir:
        _write_html(d, out_dir)
    return out_dir / "report.html"


def _write_html(d: dict, out_dir: Path) -> None:
    import jinja2

    tmp = outdir.make_tmp(out_dir)
    try:
        (tmp / outdir.REPORT_MARKER).write_text("written by fpga-flow report --format html; the folder is "
                                                "replaced on the next html report into it\n")
        ctx = html_context(d)
        for name, png in ctx.pop("png", {}).items():
            (tmp / f"{name}.png").write_bytes(png)
        env = jinja2.Environment(loader=jinja2.PackageLoader("fpga_flow.report", "templates"),
                                 autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
        env.filters["n"] = _num
        html = env.get_template("report.html.j2").render(d=d, m=d.get("memory"), **ctx)
        (tmp / "report.html").write_text(html)
        outdir.replace_dir(tmp, out_dir, owned=outdir.is_report_dir, force=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _num(v, digits: int | None = None) -> str:
    """1234567 -> '1,234,567'; None -> ''; floats with ``digits`` decimals."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):,.{digits}f}" if digits is not None else f"{float(v):,}"
    return str(v)


def to_json(d: dict) -> str:
    return json.dumps(d, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else str(o))
