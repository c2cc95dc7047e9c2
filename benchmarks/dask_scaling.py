"""C-sim throughput on Dask: images/s with 1 and 2 LocalCluster workers on this machine, and the
scaling ratio (fpga_flow verify --scheduler local:N).

Model: SqueezeNet 1.1, 224x224x3, 1000 classes, 8-bit, calibrated random weights (seed 0), fitted to
ZCU104. Inputs: random uint8 images (seed 0) on the input quantizer's grid. Each cluster unpacks
and compiles the shipped project once per worker before the timed run (reported apart); tasks of
2 images (each task starts one C-sim process that loads the weights once); the codes of both runs
are compared with each other (exactly once per image).

    python benchmarks/dask_scaling.py [--images 8] [--size 224]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import warnings

warnings.filterwarnings("ignore")

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args(argv)

    from fpga_flow import project

    from fpga_flow import config, flow
    from fpga_flow.hls.precision import input_spec
    from fpga_flow.data import images
    from fpga_flow.verify import csim
    from fpga_flow.verify.distributed import Cluster, run_csim_dask

    cfg = config.validate({
        "model": {"name": "squeezenet1_1", "input_shape": [args.size, args.size, 3], "classes": 1000},
        "hls": {"part": "zcu104", "reuse_factor": "auto", "memory_budget": 0.95}})  # as the shipped config
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "b"
        flow.build(cfg, out)
        q = project.load_qmodel(out / project.QMODEL)
        x = csim.quantize_to(input_spec(q), images.to_model_input(
            images.random_images(args.images, (args.size, args.size, 3), 0)))
        res, ys = {}, {}
        for n in (1, 2):
            with Cluster(f"local:{n}") as client:
                ys[n], st = run_csim_dask(client, out, x, mode="ship", batch=2, progress=False)
                res[n] = (st["csim_wall_seconds"], st)
        assert np.array_equal(ys[1], ys[2])
    print(f"SqueezeNet 1.1 {args.size}x{args.size}x3, {args.images} images, Dask LocalCluster on this machine "
          f"({os.cpu_count()} cores), one single-threaded worker process per worker, project shipped")
    print(f"{'workers':>8s} {'seconds':>9s} {'images/s':>9s} {'s/image':>8s} {'compile s (once per worker, apart)':>36s}")
    for n, (dt, st) in res.items():
        print(f"{n:8d} {dt:9.2f} {args.images / dt:9.3f} {dt / args.images:8.3f} {st['prepare_seconds']:36.1f}")
    print(f"scaling 2 workers / 1 worker: {res[1][0] / res[2][0]:.2f}x (ideal 2.00x); same codes from both runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
