"""The HLS estimate against every real report in ``shared/calibration``: one row per design (the
calibration harness of tests/test_calibration.py and benchmarks/calibration_table.py; not part of
the flow, so it lives beside the tests).

For each design: its part (and product family), tool and version, the real csynth BRAM18K and DSP
totals, and the estimate:

* BRAM18K: the rules of ``hls_count`` applied to the depths/widths/words/bits the report lists
  (FIFO by FIFO, ROM by ROM; softmax instances without a sub-report from their module name);
* DSP: the rules of ``hls_dsp`` on the design's own firmware (myproject.cpp, parameters.h,
  defines.h: layer shapes, reuse factors, strategies, operand widths). Constant weights (Latency
  strategy, or reuse factor 1) need their values: taken from the committed model converted by stock
  hls4ml with the committed config (``stock_estimate``), or, for a model TensorFlow 2.14 cannot load,
  from its weights file (BatchNormalization scales); where neither exists the DSPs are not estimable
  and the row gives the bounds the firmware allows.

``benchmarks/calibration_table.py`` prints the table (docs/memory-and-storage.md holds a copy);
``tests/test_calibration.py`` checks it.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from fpga_flow.resources import hls_count as hc
from fpga_flow.resources import hls_dsp


def default_dir() -> Path:
    """shared/calibration beside the clone (where CI and the tests find it)."""
    return Path(__file__).resolve().parents[2] / "shared" / "calibration"


def load_case(case_dir: Path) -> list[hc.CaseReport]:
    """Every design of a calibration case folder (the Vivado 2020 tutorial folder holds two)."""
    case_dir = Path(case_dir)
    out = []
    for top in hc.find_top_reports(case_dir):
        design = top.name[: -len("_myproject_csynth.rpt")] if top.name.endswith("_myproject_csynth.rpt") \
            and top.name != "myproject_csynth.rpt" else ""
        out.append(hc.parse_report(top, case=case_dir.name, design=design))
    return out


def firmware_files(case_dir: Path, design: str = "myproject") -> tuple[Path, Path, Path] | None:
    """(top .cpp, parameters.h, defines.h) of a case's hls4ml firmware, if committed."""
    for cpp in sorted(Path(case_dir).rglob("*.cpp")):
        if cpp.stem not in (design, "myproject") or "nnet::" not in cpp.read_text(errors="replace"):
            continue
        params = cpp.parent / "parameters.h"
        defines = sorted(cpp.parent.glob("defines*.h"))
        if params.is_file() and defines:
            return cpp, params, defines[0]
    return None


def instance_dsp(top_rpt: Path) -> dict[int, int]:
    """config number -> DSPs of that layer instance, from the top report's Instance table."""
    out: dict[int, int] = {}
    for r in hc.rpt_tables(Path(top_rpt).read_text(errors="replace")).get("Instance", []):
        m = re.search(r"config(\d+)", r.get("Module", ""))
        key = next((k for k in r if k.startswith("DSP")), None)
        if m and key:
            out[int(m.group(1))] = out.get(int(m.group(1)), 0) + hc._int(r[key])
    return out


def keras3_bn_scales(model_file: Path) -> list:
    """gamma / sqrt(moving_variance + epsilon) of every BatchNormalization of a Keras-3 ``.keras`` file,
    in layer order (read with h5py: no TensorFlow)."""
    import h5py
    import numpy as np

    with zipfile.ZipFile(model_file) as z:
        cfg = json.loads(z.read("config.json"))
        tmp = z.read("model.weights.h5")
    import io

    f = h5py.File(io.BytesIO(tmp), "r")
    deps = f["_layer_checkpoint_dependencies"] if "_layer_checkpoint_dependencies" in f else f["layers"]
    eps = [lay["config"].get("epsilon", 1e-3) for lay in cfg["config"]["layers"]
           if lay["class_name"] == "BatchNormalization"]
    names = sorted((k for k in deps if re.fullmatch(r"batch_normalization(_\d+)?", k)),
                   key=lambda k: 0 if k == "batch_normalization" else int(k.rsplit("_", 1)[1]))
    out = []
    for name, e in zip(names, eps):
        v = [np.asarray(deps[name]["vars"][str(i)]) for i in range(4)]
        gamma, _, _, var = v
        out.append(gamma / np.sqrt(var + e))
    return out


def _weights_file(case_dir: Path):
    return next(iter(sorted(Path(case_dir).glob("keras_model.*"))), None)


def dsp_from_firmware(case_dir: Path, rep: hc.CaseReport) -> dict:
    """DSP estimate of a design from its firmware; constant-weight layers from committed BN weights
    where possible, else left open (bounds)."""
    files = firmware_files(case_dir, rep.design)
    if files is None:
        return {"dsp": None, "dsp_lo": None, "dsp_hi": None, "rows": [], "source": "no firmware committed"}
    rows = hls_dsp.read_firmware(*files)
    model = _weights_file(case_dir)
    open_rows = [r for r in rows if r["dsp"] is None]
    source = "firmware"
    if open_rows and model is not None and model.suffix == ".keras" and zipfile.is_zipfile(model) \
            and all(r["func"] == "normalize" for r in open_rows):
        scales = keras3_bn_scales(model)
        norm = [r for r in rows if r["func"] == "normalize"]
        if len(scales) == len(norm):
            for r, s in zip(norm, scales):
                codes = hls_dsp.weight_codes(s, r["w_frac"])
                r["dsp"] = hls_dsp.const_layer_dsp(codes, r["in_bits"], r["w_bits"])
                r["how"] = f"{codes.size} constant scales from the committed weights (D2)"
            source = "firmware + committed BatchNormalization weights"
    known = sum(r["dsp"] for r in rows if r["dsp"] is not None)
    if any(r["dsp"] is None for r in rows):
        hi = known + sum(r.get("dsp_max", 0) for r in rows if r["dsp"] is None)
        return {"dsp": None, "dsp_lo": known, "dsp_hi": hi, "rows": rows,
                "source": "firmware; constant weights' values not available: bounds only"}
    return {"dsp": known, "dsp_lo": known, "dsp_hi": known, "rows": rows, "source": source}


def stock_cases(cal: Path) -> list[Path]:
    """Cases whose committed model and hls4ml config are there (whether TF loads the model is tried)."""
    return [d for d in sorted(cal.iterdir()) if d.is_dir() and _weights_file(d) and (d / "hls4ml_config.yml").is_file()]


def summary(cal: Path | None = None, stock: dict | None = None) -> list[dict]:
    """One row per design (see module docstring). ``stock``: case -> estimate_stock() result, for the
    cases whose models were converted (their DSPs then come from the weights)."""
    cal = Path(cal or default_dir())
    stock = stock or {}
    rows = []
    for d in sorted(p for p in cal.iterdir() if p.is_dir()):
        for rep in load_case(d):
            prof = rep.profile
            est = rep.estimate()
            fw = dsp_from_firmware(d, rep)
            row = {"case": rep.case, "design": rep.design, "part": rep.part, "family": rep.family,
                   "tool": f"{'Vitis HLS' if rep.tool == 'vitis' else 'Vivado HLS'} {rep.version}",
                   "flow": rep.flow, "fifo_rule": prof.fifo_rule,
                   "fifos": len(rep.fifos), "fifos_exact": sum(prof.fifo(f.depth, f.width) == f.bram18k for f in rep.fifos),
                   "bram18k_real": rep.totals.get("BRAM_18K"), "bram18k_est": est["total"],
                   "dsp_real": rep.totals.get("DSP"), "dsp_est": fw["dsp"], "dsp_lo": fw["dsp_lo"],
                   "dsp_hi": fw["dsp_hi"], "dsp_source": fw["source"]}
            s = stock.get(rep.case)
            if s is not None:
                row.update(dsp_est=s["dsp"], dsp_lo=s["dsp"], dsp_hi=s["dsp"],
                           dsp_source="weights: committed model converted by stock hls4ml (fpga-flow estimate)",
                           stock_bram18k=s["hls_bram18k"])
            rows.append(row)
    return rows


def _pct(est, real):
    return f"{(est - real) / real:+.0%}" if est is not None and real else ""


def markdown(rows: list[dict]) -> str:
    out = ["| case | part (family) | tool | FIFOs exact | BRAM18K real | BRAM18K est (report's shapes) | "
           "BRAM18K est (from the model) | DSP real | DSP est |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        name = r["case"] + ("" if r["design"] in ("myproject", "") or r["case"].startswith("alexnet")
                            else f" ({r['design']})")
        if r["dsp_est"] is not None:
            dsp = f"{r['dsp_est']} ({_pct(r['dsp_est'], r['dsp_real'])})"
        elif r["dsp_lo"] is not None:
            dsp = f"n/a without the weight values: {r['dsp_lo']}..{r['dsp_hi']}"
        else:
            dsp = "n/a (no firmware, no model)"
        sb = r.get("stock_bram18k")
        model = f"{sb} ({_pct(sb, r['bram18k_real'])})" if sb is not None else "-"
        out.append(f"| {name} | {r['part']} ({r['family']}) | {r['tool']} | {r['fifos_exact']}/{r['fifos']} | "
                   f"{r['bram18k_real']} | {r['bram18k_est']} ({_pct(r['bram18k_est'], r['bram18k_real'])}) | "
                   f"{model} | {r['dsp_real']} | {dsp} |")
    return "\n".join(out)
