"""Report of a built directory: model size (counted) and on-chip resources (estimated).

Parameters and weight bits are counted from the QKeras model and its quantizers (measured). The
memory / DSP / LUT / cycle numbers come from fpga_flow.resources (an ESTIMATE, labelled so in every
output); a vendor synthesis report, when one exists in the project, is shown beside them.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .. import outdir, project
from ..config import DEFAULTS
from ..hls.fixed import quantizer_spec
from ..hls.kinds import is_weighted
from ..hls.precision import kernel_quantizer
from ..resources.memory import SRL_DEPTH
from ..resources.parts import label as part_label
from . import plots, vendor


def collect(out) -> dict:
    m = project.load_manifest(out)
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
        "min_packing": float(hls.get("min_packing", DEFAULTS["hls"]["min_packing"])),
        "memory": res.get("memory"), "resource_layers": res.get("layers", []), "fifos": res.get("fifos", []),
        "part_resources": res.get("part"),
        "synthesis": vendor.read(Path(out) / project.PROJECT),
        "backend": hls["backend"], "input_shape": m["input_shape"],
        "quantization": m["config"]["quantization"],
        "params": int(tot_params), "float_params": m.get("float_params"), "weight_bits": int(tot_bits), "weight_megabytes": round(tot_bits / 8 / 1e6, 4),
        "max_accumulator_bits": m.get("max_accumulator_bits"), "timings_s": m.get("timings_s", {}),
        "layers": rows,
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
            f"and only reported (every FIFO of depth <= {SRL_DEPTH} is an SRL: one LUT per bit of its pixel word). No vendor "
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
            + (f" — below the {100 * d.get('min_packing', DEFAULTS['hls']['min_packing']):g}% target "
               "(hls.min_packing): no fitting plan reaches it" if mem.get("packing_below_target") else ""),
            f"- throughput: **{mem['fps']} frames/s** at {1000 / d['clock_period_ns']:.0f} MHz "
            f"({mem['cycles_per_frame']:,} cycles/frame, slowest layer `{mem['slowest_layer']}`); "
            f"latency about {mem['latency_ms']} ms (estimate)",
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
    if d.get("fifos"):
        deep = [f for f in d["fifos"] if f["backlog"]]
        lines += ["", f"## FIFOs ({len(d['fifos'])} streams; depth 2 unless a branch must wait)", "",
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


def to_html(d: dict, out_dir: Path) -> Path:
    """report.html + utilisation.png + memory_by_layer.png into ``out_dir`` (written in a temp dir,
    then renamed into place)."""
    # only a report folder this writer made (its marker file) or an empty one is replaced; one writer at a time
    with outdir.claim(out_dir, force=True, owned=outdir.is_report_dir, what="report") as out_dir:
        _write_html(d, out_dir)
    return out_dir / "report.html"


def _write_html(d: dict, out_dir: Path) -> None:
    import jinja2

    tmp = outdir.make_tmp(out_dir)
    try:
        (tmp / outdir.REPORT_MARKER).write_text("written by fpga-flow report --format html; the folder is "
                                                "replaced on the next html report into it\n")
        if d.get("memory"):
            plots.utilisation(d, tmp / "utilisation.png")
            plots.memory_by_layer(d, tmp / "memory_by_layer.png")
        env = jinja2.Environment(loader=jinja2.PackageLoader("fpga_flow.report", "templates"),
                                 autoescape=jinja2.select_autoescape(["html"]))
        est = {}
        for r in d.get("resource_layers", []):
            est[r["layer"]] = {"bram": sum(m["bram18k"] for m in r["memories"]),
                               "uram": sum(m["uram"] for m in r["memories"]), "dsp": r["dsp"], "cycles": r["cycles"]}
        html = env.get_template("report.html.j2").render(d=d, m=d.get("memory"), est=est)
        (tmp / "report.html").write_text(html)
        outdir.replace_dir(tmp, out_dir, owned=outdir.is_report_dir, force=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def to_json(d: dict) -> str:
    return json.dumps(d, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else str(o))
