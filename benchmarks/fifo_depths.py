"""FIFO depths: analytic (planned, resources/fifo.py) vs the minimal depths found by executing the
written firmware in the dataflow C-simulation (verify/dataflow.py), per stream and in total bits.

    python benchmarks/fifo_depths.py BUILD_DIR [BUILD_DIR ...] [--images 2] [--all] [--json OUT]

BUILD_DIR: an 'fpga-flow build' output. Per join FIFO (planned depth > 2; --all: every stream) the
smallest depth that completes with all other streams at their planned depths (binary search).
The planned depths must themselves pass (else the deadlock is printed). Minimal depths are C-level
(no RTL pipeline read-ahead): the analytic margin above them is what covers RTL timing.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--images", type=int, default=2, help="consecutive images per run (default 2)")
    ap.add_argument("--all", action="store_true", help="search every stream, not only the join FIFOs")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--no-search", action="store_true",
                    help="only the dataflow check and the stock/analytic totals (the search runs the simulation "
                         "~5 times per join FIFO: minutes per 224x224 build)")
    args = ap.parse_args(argv)

    from fpga_flow import project
    from fpga_flow.data import images
    from fpga_flow.verify import dataflow

    results = {}
    for d in args.dirs:
        m = project.load_manifest(d)
        shape = m["input_shape"]
        imgs = images.photos(args.images, shape) if args.images <= len(images.PHOTOS) else \
            images.random_images(args.images, shape, 0)
        t0 = time.perf_counter()
        check = dataflow.run_dataflow(d, imgs)
        print(f"\n{m['model']} ({d}): planned depths: deadlock={check['deadlock']} exact={check['exact_fraction']} "
              f"run {check['run_seconds']} s (compile {check['compile_seconds']} s, {check['processes']} processes)")
        streams = list(dataflow.planned_depths(d)) if args.all else None
        res = {"streams": {}, "planned_bits": 0, "minimal_bits": 0, "total_planned_bits": 0, "runs": 0,
               "searched": False} if args.no_search else dict(dataflow.minimal_depths(d, imgs, streams), searched=True)
        res["check"] = {k: check[k] for k in ("deadlock", "blocked", "exact_fraction", "n_values", "run_seconds",
                                              "compile_seconds")}
        if res.get("planned_deadlock"):
            print(f"  planned depths deadlock; full FIFOs on the wait cycle: {res['blocked']}")
        elif not res["searched"]:
            print("  (no minimal-depth search: --no-search)")
        else:
            print(f"  {'stream':<16} {'design name':<34} {'planned':>7} {'minimal':>7} {'max occ':>7} {'bits':>6}")
            for s, v in res["streams"].items():
                print(f"  {s:<16} {v['name']:<34} {v['planned']:>7} {v['minimal']:>7} {v['max_occupancy']:>7} "
                      f"{v['word_bits']:>6}")
            print(f"  these streams: planned {res['planned_bits']:,} bits, minimal {res['minimal_bits']:,} bits; "
                  f"all FIFOs planned {res['total_planned_bits']:,} bits; {res['runs']} runs, "
                  f"{time.perf_counter() - t0:.1f} s")
        res["summary"] = _summary(d, res, check)
        results[d] = res
    print("\nFIFO memory per build: stock hls4ml's default depths (each stream as deep as its feature map), "
          "the analytic depths we write, and the execution-minimal depths (searched streams at their minimum, "
          "the rest as planned); BRAM18K by the HLS C-synthesis count (stock: Vitis' automatic SRL/BRAM choice; "
          "ours: the plan's bound primitives). ESTIMATES of memory, measured depths and times.")
    print(f"{'build':44s} {'stock Mbit':>10s} {'analytic Mbit':>13s} {'minimal Mbit':>12s} {'stock BRAM':>10s} "
          f"{'analytic BRAM':>13s} {'minimal BRAM':>12s} {'check s':>8s}")
    for d, r in results.items():
        s_ = r["summary"]
        mb = f"{s_['minimal_bits'] / 1e6:12.3f}" if r["searched"] else f"{'not run':>12s}"
        mbr = f"{s_['minimal_bram18k']:12d}" if r["searched"] else f"{'not run':>12s}"
        print(f"{Path(d).name[:44]:44s} {s_['stock_bits'] / 1e6:10.3f} {s_['analytic_bits'] / 1e6:13.3f} "
              f"{mb} {s_['stock_bram18k']:10d} {s_['analytic_bram18k']:13d} {mbr} {s_['check_seconds']:8.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def _summary(d, res, check) -> dict:
    """Bits and HLS-count BRAM18K of all FIFOs at stock / analytic / minimal depths."""
    from fpga_flow import project
    from fpga_flow.resources import hls_count as hc
    from fpga_flow.resources.fifo import streams
    from fpga_flow.resources.memory import Memory, place

    m = project.load_manifest(d)
    st = streams(m["design"])
    planned = {v["var"]: v for v in st.values()}
    depth_plan = m["plan"]["fifo_depths"]
    minimal = {var: r["minimal"] for var, r in res.get("streams", {}).items()}
    out = {"stock_bits": 0, "analytic_bits": 0, "minimal_bits": 0, "stock_bram18k": 0, "analytic_bram18k": 0,
           "minimal_bram18k": 0, "check_seconds": float(check["run_seconds"]) + float(check["compile_seconds"])}
    for name, v in st.items():
        w = int(v["word_bits"])
        dp = int(depth_plan.get(name, 2))
        dm = int(minimal.get(v["var"], dp))
        out["stock_bits"] += int(v["pixels"]) * w
        out["analytic_bits"] += dp * w
        out["minimal_bits"] += dm * w
        out["stock_bram18k"] += hc.fifo_bram18k(int(v["pixels"]), w)
        out["analytic_bram18k"] += place(Memory(v["producer"], "fifo", dp, w, "fifo")).hls_bram18k
        out["minimal_bram18k"] += place(Memory(v["producer"], "fifo", dm, w, "fifo")).hls_bram18k
    return out


if __name__ == "__main__":
    sys.exit(main())
