"""Design-space sweeps: every point of a grid of config overrides built (and optionally verified),
on Dask workers or in this process.

    fpga-flow sweep CONFIG --grid quantization.weight_bits=8,6,4 --grid hls.part=zcu104,zcu102 \\
        [--verify N] [--scheduler local:2] --out DIR

One row per point: the overrides, parameters, weight MB, HLS-count and post-implementation BRAM18K,
URAM, DSP, fits, frames/s (all resource numbers ESTIMATES, see fpga_flow/resources/), and, with
``--verify N``, the exact fraction on N images. A point that fails (an input the model refuses, a
design that does not fit, a C-sim mismatch) is a row with its status and reason, not a crash.
DIR holds sweep.json, sweep.md and sweep.png (HLS BRAM18K against frames/s, one marker per part).
Each point is built in a temporary directory on the worker that runs it and deleted afterwards:
the sweep keeps the table, not the projects (rebuild a point with 'fpga-flow build ... --set ...').
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from pathlib import Path

import yaml

from . import __version__, config, flow, outdir
from .data import images
from .errors import FitError, FlowError
from .verify.distributed import Cluster

SWEEP = outdir.SWEEP_MANIFEST


def parse_grid(items: list[str]) -> list[tuple[str, list]]:
    """['quantization.weight_bits=8,6'] -> [('quantization.weight_bits', [8, 6])] (YAML scalars)."""
    grid = []
    for item in items:
        if "=" not in item:
            raise FlowError(f"--grid {item!r}: use SECTION.KEY=V1,V2,..., e.g. --grid quantization.weight_bits=8,6,4")
        key, vals = item.split("=", 1)
        if len(key.split(".")) != 2:
            raise FlowError(f"--grid {item!r}: the key must be SECTION.KEY, e.g. hls.part")
        values = [yaml.safe_load(v) for v in vals.split(",") if v.strip()]
        if not values:
            raise FlowError(f"--grid {item!r}: give at least one value")
        grid.append((key.strip(), values))
    if not grid:
        raise FlowError("give at least one --grid SECTION.KEY=V1,V2,...")
    return grid


def points(grid) -> list[dict]:
    keys = [k for k, _ in grid]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in grid))]


is_sweep_dir = outdir.is_sweep_dir  # holds a sweep.json written by fpga-flow


def run_point(config_path: str, overrides: dict, n_verify: int) -> dict:
    """Build (and verify) one point in a temporary directory; a row, never an exception."""
    import logging
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    row = {"point": overrides, "status": "ok", "reason": None}
    t0 = time.perf_counter()
    # a scratch directory owned by this (worker) process: a killed worker's is removed by the next point
    with outdir.scratch("sweep") as tmp:
        _build_point(tmp, config_path, overrides, n_verify, row)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def _build_point(tmp: Path, config_path: str, overrides: dict, n_verify: int, row: dict) -> None:
    try:
        cfg = config.load(config_path, [f"{k}={json.dumps(v)}" for k, v in overrides.items()])
        b = flow.Build(cfg, tmp / "b")  # the flow's steps: build ones (compile only to verify), then verify
        flow.run(b, until="publish", skip=() if n_verify > 0 else ("compile",))
        m = b.manifest
        mem = m["resources"]["memory"]
        row.update(params=m["params"], weight_mb=round(mem["weight_bits"] / 8e6, 4),
                   part=m["resources"]["part"]["name"], hls_bram18k=mem["hls_bram18k"],
                   bram18k=mem["bram18k"], bram18k_available=mem["bram18k_available"], uram=mem["uram"],
                   dsp=mem["dsp"], fits=mem["fits"], fps=mem["fps"])
        if n_verify > 0:
            shape = m["input_shape"]
            src = "fmnist-sample" if list(shape) == [32, 32, 1] else "photos"
            b.images, b.labels = images.load_labelled(src, n_verify, shape)
            b.verify_options = {"source": src}
            flow.run(b, steps=("verify",))
            res = b.verify_result
            row.update(exact_fraction=res["exact_fraction"], verified_images=res["n_images"],
                       degenerate=res["degenerate"])
            if not res["passed"]:
                row.update(status="not exact", reason=res.get("degenerate_reason") or
                           f"first divergent layer {res['first_divergent_layer']}")
    except FitError as e:
        row.update(status="does not fit", reason=str(e).splitlines()[0])
    except FlowError as e:
        row.update(status="refused", reason=str(e))
    except Exception as e:  # a flow bug on this point: the row says so, the sweep goes on
        row.update(status="failed", reason=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def sweep(config_path: str, grid_items: list[str], out: str | Path, *, n_verify: int = 0,
          scheduler: str | None = None, force: bool = False, log=print) -> list[dict]:
    config.load(config_path)  # the base config must be valid before anything runs
    grid = parse_grid(grid_items)
    pts = points(grid)
    # one sweep per --out: checked and locked (a second one is refused naming this one) until published
    with outdir.claim(out, force=force, owned=is_sweep_dir, what="sweep") as target:
        return _sweep(config_path, grid, pts, target, n_verify=n_verify, scheduler=scheduler, force=force, log=log)


def _sweep(config_path, grid, pts, target: Path, *, n_verify, scheduler, force, log) -> list[dict]:
    rows: list[dict] = []
    t0 = time.perf_counter()
    if scheduler:
        from dask.distributed import as_completed

        with Cluster(scheduler) as client:
            futs = {client.submit(run_point, str(Path(config_path).resolve()), p, n_verify, pure=False, retries=1): p
                    for p in pts}
            for f in as_completed(futs):
                try:
                    rows.append(f.result())
                except Exception as e:  # the worker itself failed twice on this point
                    rows.append({"point": futs[f], "status": "failed", "reason": f"worker: {type(e).__name__}: {e}"})
                log(f"[{len(rows)}/{len(pts)}] {rows[-1]['point']}: {rows[-1]['status']}")
            workers = len(client.scheduler_info().get("workers", {}))
    else:
        workers = 0
        for p in pts:
            rows.append(run_point(config_path, p, n_verify))
            log(f"[{len(rows)}/{len(pts)}] {p}: {rows[-1]['status']}")
    order = {json.dumps(p, sort_keys=True): i for i, p in enumerate(pts)}
    rows.sort(key=lambda r: order[json.dumps(r["point"], sort_keys=True)])
    meta = {"fpga_flow_version": __version__, "config": str(config_path), "grid": grid, "verify_images": n_verify,
            "scheduler": scheduler, "workers": workers, "seconds": round(time.perf_counter() - t0, 1),
            "estimate": "resource numbers are ESTIMATES (hls_bram18k: the count Vitis HLS C-synthesis would report, "
                        "calibrated on public csynth reports; bram18k: post-implementation estimate)",
            "rows": rows}
    tmp = outdir.make_tmp(target)
    try:
        (tmp / SWEEP).write_text(json.dumps(meta, indent=1) + "\n")
        (tmp / "sweep.md").write_text(to_markdown(meta))
        plot(rows, tmp / "sweep.png")
        outdir.replace_dir(tmp, target, owned=is_sweep_dir, force=force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rows


def to_markdown(meta: dict) -> str:
    keys = [k for k, _ in meta["grid"]]
    lines = [f"# Sweep of {meta['config']}", "",
             f"{len(meta['rows'])} points, {meta['workers'] or 'no'} Dask workers, {meta['seconds']} s. "
             f"{meta['estimate']}.", "",
             "| " + " | ".join(keys) + " | status | params | weight MB | HLS BRAM18K | BRAM18K (impl) | URAM | DSP | "
             "fits | frames/s | exact | reason |",
             "|" + "---|" * (len(keys) + 11)]
    for r in meta["rows"]:
        g = lambda k: "" if r.get(k) is None else (f"{r[k]:,}" if isinstance(r[k], int) and not isinstance(r[k], bool)
                                                   else str(r[k]))
        lines.append("| " + " | ".join(str(r["point"].get(k)) for k in keys) +
                     f" | {r['status']} | {g('params')} | {g('weight_mb')} | {g('hls_bram18k')} | {g('bram18k')} | "
                     f"{g('uram')} | {g('dsp')} | {g('fits')} | {g('fps')} | {g('exact_fraction')} | "
                     f"{(r.get('reason') or '')[:100]} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ok = [r for r in rows if r.get("fps") is not None]
    for i, part in enumerate(sorted({r["part"] for r in ok})):
        pts = [r for r in ok if r["part"] == part]
        ax.scatter([r["hls_bram18k"] for r in pts], [r["fps"] for r in pts],
                   marker="os^Dv"[i % 5], label=part, alpha=0.8)
        for r in pts:
            ax.annotate(",".join(f"{v}" for v in r["point"].values()), (r["hls_bram18k"], r["fps"]),
                        fontsize=6)
        avail = pts[0].get("bram18k_available")
        if avail:
            ax.axvline(avail, ls=":", lw=0.8, color=ax.collections[-1].get_facecolor()[0])
    ax.set_xlabel("BRAM18K, HLS C-synthesis count (ESTIMATE); dotted: the part's total")
    ax.set_ylabel("frames/s (ESTIMATE)")
    ax.set_yscale("log")
    ax.set_title(f"sweep: {len(ok)} of {len(rows)} points built", fontsize=9)
    if ok:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
