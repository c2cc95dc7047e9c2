"""Design-space sweeps: every point of a grid of config overrides built (and optionally verified),
on Dask workers or in this process.

    fpga-flow sweep CONFIG --grid quantization.weight_bits=8,6,4 --grid hls.part=zcu104,zcu102 \\
        [--verify N] [--scheduler local:2] --out DIR

One row per point: the overrides, parameters, weight MB, HLS-count and post-implementation BRAM18K,
URAM, DSP, fits, frames/s (all resource numbers ESTIMATES, see fpga_flow/resources/), and, with
``--verify N``, the exact fraction (and on labelled images the C-sim top-1) on N images (measured). A
point that fails (an input the model refuses, a design that does not fit, a C-sim mismatch) is a row
with its status and reason, not a crash. Every point's config is checked before anything is built
(a refused one is a row at once; TensorFlow and hls4ml load only when a point is built).

DIR holds sweep.json, sweep.md, sweep.html (one self-contained page: the Pareto plot of frames/s
against HLS BRAM18K and against DSP, and the table), sweep.png (the same plot) and points/NN/report.json
+ report.md: the report of each built point (``fpga-flow report --format json|md`` of its build).
Each point is built in a temporary directory on the worker that runs it and deleted afterwards:
the sweep keeps the table and the reports, not the projects (rebuild a point with
'fpga-flow build ... --set ...').
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import time
from pathlib import Path

import yaml

from . import __version__, config, outdir, progress
from .errors import FitError, FlowError
from .report import plots

SWEEP = outdir.SWEEP_MANIFEST
POINTS = "points"


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


def _overrides(point: dict) -> list[str]:
    return [f"{k}={json.dumps(v)}" for k, v in point.items()]


def run_point(config_path: str, overrides: dict, n_verify: int) -> dict:
    """Build (and verify) one point in a temporary directory; a row, never an exception. The row
    carries the point's report (report.design.collect of its build, as in report.json) under
    ``report``; sweep() writes it to points/NN/ and keeps its path instead."""
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
    from . import flow  # loads TensorFlow and hls4ml
    from .data import images
    from .report import design

    try:
        cfg = config.load(config_path, _overrides(overrides))
        b = flow.Build(cfg, tmp / "b")  # the flow's steps: build ones (compile only to verify), then verify
        flow.run(b, until="publish", skip=() if n_verify > 0 else ("compile",))
        m = b.manifest
        mem = m["resources"]["memory"]
        row.update(params=m["params"], weight_mb=round(mem["weight_bits"] / 8e6, 4),
                   part=m["resources"]["part"]["name"], hls_bram18k=mem["hls_bram18k"],
                   bram18k=mem["bram18k"], bram18k_available=mem["bram18k_available"], uram=mem["uram"],
                   uram_available=mem["uram_available"], dsp=mem["dsp"], dsp_available=mem["dsp_available"],
                   lut=mem["lut"], lut_available=mem["lut_available"], lut_pct=mem["lut_pct"],
                   fits=mem["fits"], fps=mem["fps"], cycles_per_frame=mem["cycles_per_frame"],
                   slowest_layer=mem["slowest_layer"])
        if n_verify > 0:
            shape = m["input_shape"]
            src = "fmnist-sample" if list(shape) == [32, 32, 1] else "photos"
            b.images, b.labels = images.load_labelled(src, n_verify, shape)
            b.verify_options = {"source": src}
            flow.run(b, steps=("verify",))
            res = b.verify_result
            row.update(exact_fraction=res["exact_fraction"], verified_images=res["n_images"],
                       degenerate=res["degenerate"], verify_source=src, csim_top1=res.get("csim_top1"))
            if not res["passed"]:
                row.update(status="not exact", reason=res.get("degenerate_reason") or
                           f"first divergent layer {res['first_divergent_layer']}")
        row["report"] = json.loads(design.to_json(design.collect(b.out)))
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
    if scheduler:
        from .verify.distributed import parse_scheduler

        parse_scheduler(scheduler)
    # every point's whole config (part included) checked here, before TensorFlow loads: a refused point is
    # a row at once and is not built
    rows: list[dict | None] = [None] * len(pts)
    todo = []
    for i, p in enumerate(pts):
        try:
            config.load(config_path, _overrides(p))
            todo.append(i)
        except FlowError as e:
            rows[i] = {"point": p, "status": "refused", "reason": str(e), "seconds": 0.0}
            log(f"[refused] {p}: {e}")
    t0 = time.perf_counter()
    workers = 0
    with progress.bar(total=len(todo), desc="sweep", unit="point") as bar:  # on a terminal only
        def done(i: int, row: dict) -> None:
            rows[i] = row
            bar.update(1)
            log(f"[{sum(r is not None for r in rows)}/{len(pts)}] {pts[i]}: {row['status']}"
                + (f", {row['fps']:,} frames/s, HLS BRAM18K {row['hls_bram18k']:,}, DSP {row['dsp']:,}"
                   if row.get("fps") is not None else "") + f" ({row.get('seconds', '?')} s)")

        if scheduler and todo:
            from dask.distributed import as_completed

            from .verify.distributed import Cluster

            with Cluster(scheduler) as client:
                futs = {client.submit(run_point, str(Path(config_path).resolve()), pts[i], n_verify, pure=False,
                                      retries=1): i for i in todo}
                for f in as_completed(futs):
                    i = futs[f]
                    try:
                        row = f.result()
                    except Exception as e:  # the worker itself failed twice on this point
                        row = {"point": pts[i], "status": "failed", "reason": f"worker: {type(e).__name__}: {e}"}
                    done(i, row)
                workers = len(client.scheduler_info().get("workers", {}))
        else:
            for i in todo:
                done(i, run_point(config_path, pts[i], n_verify))
    reports = {}
    for i, r in enumerate(rows):
        r["index"] = i
        rep = r.pop("report", None)
        if rep is not None:
            reports[i] = rep
            r["report"] = f"{POINTS}/{i:02d}/report.json"
    meta = {"fpga_flow_version": __version__, "config": str(config_path), "grid": grid, "verify_images": n_verify,
            "scheduler": scheduler, "workers": workers, "seconds": round(time.perf_counter() - t0, 1),
            "estimate": "resource numbers are ESTIMATES (hls_bram18k: the count Vitis HLS C-synthesis would report, "
                        "calibrated on public csynth reports; bram18k: post-implementation estimate); frames/s from "
                        "the calibrated cycle model; exact_fraction and csim_top1 are measured (C-sim vs QKeras)",
            "rows": rows}
    tmp = outdir.make_tmp(target)
    try:
        from .report import design  # the md of each point's report; loads TensorFlow (already loaded by the builds)

        (tmp / SWEEP).write_text(json.dumps(meta, indent=1) + "\n")
        (tmp / "sweep.md").write_text(to_markdown(meta))
        png, _ = plots.sweep_pareto(rows, tmp / "sweep.png")
        (tmp / "sweep.html").write_text(to_html(meta, png))
        for i, rep in reports.items():
            d = tmp / POINTS / f"{i:02d}"
            d.mkdir(parents=True)
            (d / "report.json").write_text(json.dumps(rep, indent=1))
            (d / "report.md").write_text(design.to_markdown(rep))
        outdir.replace_dir(tmp, target, owned=is_sweep_dir, force=force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rows


def to_html(meta: dict, pareto_png: bytes) -> str:
    """sweep.html: one self-contained page (the Pareto plot embedded as a data: URI), one table row per
    point; every cell of a built point comes from its row (the same numbers as its points/NN/report.json)."""
    import jinja2

    keys = [k for k, _ in meta["grid"]]
    built = [r for r in meta["rows"] if r.get("fps") is not None]
    fronts = {k: {built[i]["index"] for i in plots.pareto_front(built, k)} for k in ("hls_bram18k", "dsp")}
    env = jinja2.Environment(loader=jinja2.PackageLoader("fpga_flow.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    env.filters["n"] = lambda v: "" if v is None else (("yes" if v else "no") if isinstance(v, bool) else
                                                        f"{v:,}" if isinstance(v, (int, float)) else str(v))
    return env.get_template("sweep.html.j2").render(
        meta=meta, keys=keys, fronts=fronts, n_built=len(built),
        verified=any(r.get("exact_fraction") is not None for r in meta["rows"]),
        top1=any(r.get("csim_top1") is not None for r in meta["rows"]),
        pareto="data:image/png;base64," + base64.b64encode(pareto_png).decode("ascii"))


def to_markdown(meta: dict) -> str:
    keys = [k for k, _ in meta["grid"]]
    lines = [f"# Sweep of {meta['config']}", "",
             f"{len(meta['rows'])} points, {meta['workers'] or 'no'} Dask workers, {meta['seconds']} s. "
             f"{meta['estimate']}.", "",
             "| " + " | ".join(keys) + " | status | params | weight MB | HLS BRAM18K | BRAM18K (impl) | URAM | DSP | "
             "LUT % (rough) | fits | frames/s | exact | C-sim top-1 | reason |",
             "|" + "---|" * (len(keys) + 13)]
    for r in meta["rows"]:
        g = lambda k: "" if r.get(k) is None else (f"{r[k]:,}" if isinstance(r[k], int) and not isinstance(r[k], bool)
                                                   else str(r[k]))
        lines.append("| " + " | ".join(str(r["point"].get(k)) for k in keys) +
                     f" | {r['status']} | {g('params')} | {g('weight_mb')} | {g('hls_bram18k')} | {g('bram18k')} | "
                     f"{g('uram')} | {g('dsp')} | {g('lut_pct')}{' (over the part)' if (r.get('lut_pct') or 0) > 100 else ''} | "
                     f"{g('fits')} | {g('fps')} | {g('exact_fraction')} | "
                     f"{g('csim_top1')} | {(r.get('reason') or '')[:100]} |")
    return "\n".join(lines) + "\n"
