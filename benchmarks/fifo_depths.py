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
    args = ap.parse_args(argv)

    from fpga_flow import flow
    from fpga_flow.verify import dataflow, inputs

    results = {}
    for d in args.dirs:
        m = flow.load_manifest(d)
        shape = m["input_shape"]
        imgs = inputs.photos(args.images, shape) if shape[-1] in (1, 3) and args.images <= 14 else \
            inputs.random_images(args.images, shape, 0)
        t0 = time.perf_counter()
        check = dataflow.run_dataflow(d, imgs)
        print(f"\n{m['model']} ({d}): planned depths: deadlock={check['deadlock']} exact={check['exact_fraction']} "
              f"run {check['run_seconds']} s (compile {check['compile_seconds']} s, {check['processes']} processes)")
        streams = list(dataflow.planned_depths(d)) if args.all else None
        res = dataflow.minimal_depths(d, imgs, streams)
        res["check"] = {k: check[k] for k in ("deadlock", "blocked", "exact_fraction", "n_values", "run_seconds",
                                              "compile_seconds")}
        if res.get("planned_deadlock"):
            print(f"  planned depths deadlock; full FIFOs on the wait cycle: {res['blocked']}")
        else:
            print(f"  {'stream':<16} {'design name':<34} {'planned':>7} {'minimal':>7} {'max occ':>7} {'bits':>6}")
            for s, v in res["streams"].items():
                print(f"  {s:<16} {v['name']:<34} {v['planned']:>7} {v['minimal']:>7} {v['max_occupancy']:>7} "
                      f"{v['word_bits']:>6}")
            print(f"  these streams: planned {res['planned_bits']:,} bits, minimal {res['minimal_bits']:,} bits; "
                  f"all FIFOs planned {res['total_planned_bits']:,} bits; {res['runs']} runs, "
                  f"{time.perf_counter() - t0:.1f} s")
        results[d] = res
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
