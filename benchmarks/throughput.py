"""Throughput before/after (issue 23): every shipped config planned twice, in the same run.

before: hls4ml's line-buffer convolution (hls.conv_kernel: hls4ml) and every weight in a ROM of the
        bitstream (hls.uram_weights: off): the design the flow wrote before fpga_flow's kernels and the
        weight-load path; where it does not fit the shipped budget, the budget it needed (0.95 for
        SqueezeNet 1.1 on ZCU104, as the shipped config had) is tried too and said.
after:  the shipped config as it is (fpga_flow's sliding window + matrix-vector unit, weights in URAM
        where the part has it).

Both are planned by the same fitter with the same cycle model (resources/cycles.py: calibrated on
real csynth reports for hls4ml's kernels, derived from the loops for fpga_flow's); every number is an
ESTIMATE (no vendor tool ran). Planning only: nothing is written or compiled.

    .venv/bin/python benchmarks/throughput.py [--json reports/throughput.json] > reports/throughput.md
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["squeezenet1_1_224_w8_zcu104", "squeezenet1_1_224_w8_zcu102", "squeezenet1_0_bypass_224_w8_zcu102",
           "shufflenet_g3_w1.0_224_w8_zcu102", "shufflenet_g8_w0.5_224_w8_zcu104", "fmnist_squeezenet1_1_w8_zcu104"]
BEFORE = ["hls.conv_kernel=hls4ml", "hls.uram_weights=off"]


def plan(cfg_name: str, overrides: list[str]) -> dict:
    from fpga_flow import config, flow
    from fpga_flow.errors import FitError
    from fpga_flow.resources import fit

    cfg = config.load(ROOT / "hls_configs" / f"{cfg_name}.yml", overrides)
    with tempfile.TemporaryDirectory() as td:
        b = flow.Build(cfg, Path(td) / "never-written")
        t0 = time.perf_counter()
        try:
            flow.run(b, until="plan")
        except FitError:
            pass  # b.plan holds the refused plan: reported as not fitting
        seconds = time.perf_counter() - t0
    m = fit.summary(b.plan, b.part, float(b.cfg.hls.memory_budget))
    return {"config": cfg_name, "overrides": overrides, "budget": float(b.cfg.hls.memory_budget), "fits": bool(b.plan.fits),
            "cycles_per_frame": m["cycles_per_frame"], "fps": m["fps"], "slowest_layer": m["slowest_layer"],
            "hls_bram18k": m["hls_bram18k"], "bram18k_available": m["bram18k_available"], "uram": m["uram"],
            "uram_available": m["uram_available"], "dsp": m["dsp"], "dsp_available": m["dsp_available"],
            "mac_efficiency": m["mac_efficiency"], "latency_ms": m["latency_ms"], "plan_seconds": round(seconds, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", help="also write the rows as JSON here")
    ap.add_argument("configs", nargs="*", default=CONFIGS)
    args = ap.parse_args(argv)
    rows = []
    for c in args.configs:
        before = plan(c, BEFORE)
        if not before["fits"]:
            at95 = plan(c, BEFORE + ["hls.memory_budget=0.95"])
            before = dict(at95, note="fits only at budget 0.95" if at95["fits"] else "does not fit at 0.95 either")
        after = plan(c, [])
        rows.append({"config": c, "before": before, "after": after,
                     "fps_ratio": round(after["fps"] / before["fps"], 2) if before["fps"] else None})
        print(f"{c}: before {before['fps']} fps, after {after['fps']} fps", file=sys.stderr, flush=True)
    out = ["# Throughput before / after (issue 23), ESTIMATES", "",
           "Command: `.venv/bin/python benchmarks/throughput.py --json reports/throughput.json > reports/throughput.md`",
           "", "Before: hls4ml's line-buffer convolution, every weight in a bitstream ROM (`--set hls.conv_kernel=hls4ml "
           "--set hls.uram_weights=off`). After: the shipped config (fpga_flow's sliding window + matrix-vector unit, "
           "weights in URAM where the part has it, filled through the weight-load port). Both planned in this run by "
           "the same fitter and the same cycle model (resources/cycles.py: calibrated on real csynth reports for "
           "hls4ml's kernels, docs/throughput.md; derived from the loop structure for fpga_flow's). BRAM18K is the "
           "HLS C-synthesis count that decides fits. 200 MHz clock. No vendor tool ran.", "",
           "| config | design | fits (budget) | cycles/frame | frames/s | slowest layer | BRAM18K | URAM | DSP | MAC eff. |",
           "|---|---|---|---:|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        for label, d in (("before", r["before"]), ("after", r["after"])):
            fits = f"{'yes' if d['fits'] else 'no'} ({d['budget']:.2f})" + (f", {d['note']}" if d.get("note") else "")
            eff = "" if d["mac_efficiency"] is None else f"{d['mac_efficiency']:.3f}"
            out.append(f"| {r['config']} | {label} | {fits} | {d['cycles_per_frame']:,} | {d['fps']:,} | "
                       f"{d['slowest_layer']} | {d['hls_bram18k']:,}/{d['bram18k_available']:,} | "
                       f"{d['uram']}/{d['uram_available']} | {d['dsp']:,}/{d['dsp_available']:,} | {eff} |")
    out += ["", "frames/s after / before: " + ", ".join(f"{r['config']} {r['fps_ratio']}x" for r in rows), ""]
    print("\n".join(out))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
