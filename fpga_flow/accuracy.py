"""Accuracy table: float vs QKeras vs C-simulation top-1 on the Fashion-MNIST test set (measured).

For every trained variant of a training config (``fpga-flow train``): build it with the flow (the
QKeras model from ``<train.out>/<tag>_<variant>.h5``, hls4ml project, C-sim library), run the float
model, the QKeras model and the C-simulation on the test images, and record top-1 of each, the
exact fraction of C-sim output codes equal to QKeras', the number of images whose top-1 differ,
parameters and deployed weight megabytes, and the C-sim time (parallel worker processes).

Rows are merged into ``accuracy.json`` by (model, variant), so variants can be measured in
separate runs; ``accuracy.md`` is regenerated from the json each time.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .config import FlowConfig, tag_of, variant_quant, weights_path
from .data import fashion_mnist as fm
from .errors import FlowError
from .project import QMODEL, load_qmodel
from .train import machine, top1


def variant_config(cfg: FlowConfig, variant: str) -> FlowConfig:
    """The build config of one trained variant: its quantization, weights from train.out."""
    path = weights_path(cfg, variant)
    if not path.is_file():
        raise FlowError(f"{path} not found; train it first: fpga-flow train CONFIG --variant {variant}")
    return cfg.model_copy(update={"quantization": variant_quant(cfg, variant),
                                  "weights": cfg.weights.model_copy(update={"source": str(path)})})


def measure(cfg: FlowConfig, variant: str, build_dir: Path, *, n_csim: int | None = None, jobs: int | None = None,
            data_dir=None, log=print, scheduler: str | None = None, project: str = "ship") -> dict:
    import tensorflow as tf

    from . import flow  # loads TensorFlow and hls4ml: the command's inputs are checked before this
    from .hls.extensions import custom_objects  # imports hls4ml

    jobs = jobs or os.cpu_count() or 1
    vcfg = variant_config(cfg, variant)
    xte, yte = fm.load("test", data_dir or cfg.train.data_dir)
    out = build_dir / f"{tag_of(cfg)}_{variant}"
    log(f"[{tag_of(cfg)} {variant}] build -> {out}")
    b = flow.Build(vcfg, out, force=True)  # the flow's steps: build ones now, verify + report below
    flow.run(b, until="publish")
    m = b.manifest
    x_u8 = fm.to_model(xte, m["input_shape"][0])
    prov_path = Path(cfg.train.out) / f"{tag_of(cfg)}.json"
    prov = json.loads(prov_path.read_text()) if prov_path.is_file() else {}
    fpath = Path(cfg.train.out) / f"{tag_of(cfg)}_float.h5"
    if fpath.is_file():
        float_top1 = top1(tf.keras.models.load_model(fpath, custom_objects=custom_objects(), compile=False), x_u8, yte)
    elif "float" in prov:  # float models are not shipped: their test top-1 as measured after training
        float_top1 = float(prov["float"]["test_top1"])
    else:
        raise FlowError(f"{fpath} not found and no float result in {prov_path}; run 'fpga-flow train' first")

    n = len(x_u8) if n_csim is None else min(int(n_csim), len(x_u8))
    log(f"[{tag_of(cfg)} {variant}] C-sim on {n} test images with {jobs} processes")
    # the flow's own comparison (integer codes, per-layer trace of the first mismatching image)
    b.images, b.labels = x_u8[:n], yte[:n]
    b.verify_options = {"jobs": jobs, "source": "fmnist", "scheduler": scheduler, "project": project}
    flow.run(b, steps=("verify", "report"))
    res, rep = b.verify_result, b.report
    qkeras_top1 = res["qkeras_top1"] if n == len(x_u8) else top1(load_qmodel(out / QMODEL), x_u8, yte)
    q = vcfg.quantization
    row = {
        "model": tag_of(cfg), "variant": variant, "bits": q.weight_bits,
        "act_bits": q.act_bits, "head_bits": q.head_bits,
        "stem_bits": q.stem_bits, "n_test": int(len(x_u8)), "input_shape": [int(v) for v in m["input_shape"]],
        "per_layer_ranges": bool(q.layer_int or q.layer_weight_int),
        "float_top1": float_top1,
        "qkeras_top1": qkeras_top1,
        "csim_top1": res["csim_top1"],
        "n_csim": int(n),
        "qkeras_top1_on_csim_images": res["qkeras_top1"],
        "exact_fraction": res["exact_fraction"], "n_values": res["n_values"],
        "degenerate": res["degenerate"], "passed": res["passed"],
        "top1_disagreements": res["top1_disagreements"], "first_divergent_layer": res["first_divergent_layer"],
        "params": int(rep["params"]), "float_params": rep.get("float_params"),
        "weight_mb": rep["weight_megabytes"], "float_weight_mb": round(4 * (rep.get("float_params") or 0) / 1e6, 4),
        "output_type": res["output_type"],
        "csim_seconds": res["csim_seconds"], "csim_jobs": int(res.get("workers") or jobs), "csim_images_per_s": round(n / res["csim_seconds"], 2),
        "float_epochs": prov.get("float", {}).get("epochs"),
        "float_epoch_seconds": _mean(prov.get("float", {}).get("epoch_seconds")),
        "qat_epochs": prov.get("qat", {}).get(variant, {}).get("epochs"),
        "qat_epoch_seconds": _mean(prov.get("qat", {}).get(variant, {}).get("epoch_seconds")),
        # where the times were taken: this run (C-sim) and the training runs (their provenance)
        "machine": machine(), "float_machine": prov.get("float", {}).get("machine"),
        "qat_machine": prov.get("qat", {}).get(variant, {}).get("machine"),
        "weights": str(weights_path(cfg, variant)),
        "part": vcfg.hls.part_info.name,
        "bram18k": rep["memory"]["bram18k"], "uram": rep["memory"]["uram"], "dsp": rep["memory"]["dsp"],
        "fits": rep["memory"]["fits"],
    }
    log(f"[{tag_of(cfg)} {variant}] float {row['float_top1']:.4f} qkeras {row['qkeras_top1']:.4f} "
        f"csim {row['csim_top1']:.4f} exact {row['exact_fraction']} ({row['csim_images_per_s']} images/s)")
    return row


def _mean(v):
    return round(float(np.mean(v)), 1) if v else None


def describe_machine(mc: dict | None) -> str:
    """'2 CPUs, no GPU (Linux x86_64)' from a ``train.machine()`` record; 'not recorded' for rows
    measured before the record existed."""
    if not mc:
        return "not recorded"
    gpus = mc.get("gpus")
    gpu = "" if gpus is None else (", no GPU" if gpus == 0 else f", {gpus} GPU{'s' if gpus > 1 else ''}")
    return f"{mc.get('cpus', '?')} CPUs{gpu} ({mc.get('system', '?')} {mc.get('arch', '?')})"


def _distinct(values, none: str = "not recorded") -> str:
    """The distinct values in first-seen order, joined ('a', 'a or b'); ``none`` if there are none."""
    return " or ".join(dict.fromkeys(values)) or none


def check_out(out: Path) -> None:
    """--out may hold accuracy.json/accuracy.md only as written by this command (rows are merged
    into them); anything else there under those names is the user's and is not overwritten."""
    rows_path, md = Path(out) / "accuracy.json", Path(out) / "accuracy.md"
    if rows_path.exists():
        try:
            rows = json.loads(rows_path.read_text())
            ok = isinstance(rows, list) and all(isinstance(r, dict) and {"model", "variant", "exact_fraction"} <= set(r)
                                                 for r in rows)
        except (OSError, ValueError):
            ok = False
        if not ok:
            raise FlowError(f"{rows_path} exists and is not an accuracy table written by fpga-flow; "
                            "choose another --out (nothing was changed)")
    elif md.exists():
        raise FlowError(f"{md} exists without accuracy.json (not written by fpga-flow); choose another --out")


def merge(rows_path: Path, new: list[dict]) -> list[dict]:
    rows = json.loads(rows_path.read_text()) if rows_path.is_file() else []
    keys = {(r["model"], r["variant"]) for r in new}
    rows = [r for r in rows if (r["model"], r["variant"]) not in keys] + new
    rows.sort(key=lambda r: (r["model"], -r["bits"], -r["act_bits"], r["variant"]))  # widest first
    return rows


def to_markdown(rows: list[dict]) -> str:
    n_test = _distinct(f"{r['n_test']:,}" for r in rows)
    padded = _distinct(("x".join(map(str, r["input_shape"])) for r in rows if r.get("input_shape")),
                       none="the model's input size")
    per_image = _distinct((str(r["n_values"] // r["n_csim"]) for r in rows if r.get("n_values") and r.get("n_csim")),
                          none="the")
    lines = [
        "# Fashion-MNIST accuracy: float vs QKeras (QAT) vs C-simulation (measured)",
        "",
        f"Test set: the {n_test} Fashion-MNIST test images (28x28 zero-padded to {padded}, p/128 - 1).",
        "float = the trained float model (SqueezeNet: no BN; ShuffleNet: with BN); QKeras = the QAT model "
        "(ShuffleNet: BN folded); C-sim = the hls4ml C++ of that QKeras model, compiled and run in worker "
        f"processes. exact = share of C-sim output codes equal to QKeras' (all {per_image} logits of every simulated "
        "image); disagree = images whose C-sim top-1 differs from QKeras'. per-layer ranges = trained with "
        "`rescale: true` (power-of-two rescaling and per-layer integer bits calibrated before QAT, "
        "recorded in the weights' provenance). Weight MB at the deployed widths "
        "(weights + biases). Made by `make accuracy` (fpga-flow accuracy).",
        "",
        "| model | variant | W/A bits | float top-1 | QKeras top-1 | QKeras - float (pt) | C-sim images "
        "| C-sim top-1 | QKeras top-1 on them | exact | disagree | params | weight MB | C-sim images/s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        head = f", classifier {r['head_bits']}" if r.get("head_bits") else ""
        head += f", first layer {r['stem_bits']}" if r.get("stem_bits") else ""
        head += ", per-layer ranges" if r.get("per_layer_ranges") else ""
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['bits']}/{r['act_bits']}{head} | {100 * r['float_top1']:.2f}% "
            f"| {100 * r['qkeras_top1']:.2f}% | {100 * (r['qkeras_top1'] - r['float_top1']):+.2f} | {r['n_csim']:,} "
            f"| {100 * r['csim_top1']:.2f}% | {100 * r['qkeras_top1_on_csim_images']:.2f}% "
            f"| {r['exact_fraction']:.6f} | {r['top1_disagreements']} "
            f"| {r['params']:,} | {r['weight_mb']:.3f} | {r['csim_images_per_s']} ({r['csim_jobs']} proc) |")
    csim_on = _distinct(describe_machine(r.get("machine")) for r in rows)
    train_on = _distinct(describe_machine(r.get(k)) for r in rows for k in ("float_machine", "qat_machine"))
    lines += ["", f"C-sim top-1 is over the C-sim images (all {n_test} unless the column says fewer), beside the QKeras "
              f"top-1 on the same images. Times are wall-clock on the machine that ran each row (C-sim: {csim_on}); "
              "rows and epochs that ran while another job shared the cores are slower.", "",
              "## Training", "",
              f"Epoch times as recorded in the weights' provenance; trained on: {train_on}.", "",
              "| model | variant | float epochs | s/epoch (float) | QAT epochs | s/epoch (QAT) |",
              "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['variant']} | {r['float_epochs']} | {r['float_epoch_seconds']} "
                     f"| {r['qat_epochs']} | {r['qat_epoch_seconds']} |")
    return "\n".join(lines) + "\n"
