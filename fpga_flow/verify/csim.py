"""C-simulation vs QKeras, compared as integer codes of every output value.

* Inputs are put on the input quantizer's grid first (numpy round-half-even + saturate), then the
  same float values go to QKeras and to the C-sim library.
* The C-sim library runs in a subprocess (fpga_flow.verify.worker) with a time limit; a C++ assert
  becomes an error message, not a dead Python process. Images are split over ``jobs`` workers;
  on a terminal a progress bar counts the finished images (fpga_flow.progress).
* On any mismatch, the first mismatching image is re-run with hls4ml's per-layer trace and compared
  layer by layer with the Keras model: the first layer whose codes differ is named.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .. import outdir, progress
from ..data.images import to_model_input
from ..errors import FlowError
from ..hls.fixed import FixedSpec
from ..hls.precision import input_spec
from ..project import FMODEL, QMODEL, ensure_library, load_manifest, load_qmodel
from .distributed import Cluster, run_csim_dask


def _spec(cpp: str) -> FixedSpec:
    # 'ap_ufixed<8,3,AP_RND_CONV,AP_SAT>' -> FixedSpec
    signed = not cpp.startswith("ap_ufixed")
    args = cpp[cpp.index("<") + 1:-1].split(",")
    if len(args) >= 4:
        return FixedSpec(signed, int(args[0]), int(args[1]), args[2].replace("AP_", ""), args[3].replace("AP_", ""))
    return FixedSpec(signed, int(args[0]), int(args[1]))


def quantize_to(spec: FixedSpec, x: np.ndarray) -> np.ndarray:
    """Round half to even and saturate onto ``spec``'s grid (what the input quantizer does)."""
    c = np.clip(np.rint(np.asarray(x, np.float64) * 2.0**spec.frac), spec.code_min, spec.code_max)
    return (c * 2.0**-spec.frac).astype(np.float32)


def run_csim(out: str | Path, x: np.ndarray, *, trace: bool = False, jobs: int = 1, timeout: float = 3600):
    """C-sim outputs (n, output_size) for model inputs ``x``; with trace, also {layer: array}."""
    m = load_manifest(out)
    if list(x.shape[1:]) != list(m["input_shape"]):
        raise FlowError(f"inputs have shape {list(x.shape[1:])}, the model needs {m['input_shape']}")
    lib = ensure_library(out)
    firmware = lib.parent
    n = x.shape[0]
    jobs = max(1, min(int(jobs), n))
    chunks = np.array_split(np.arange(n), jobs)
    with outdir.scratch("csim") as td:
        procs, logs = [], []
        for j, idx in enumerate(chunks):
            td_j = Path(td) / str(j)
            td_j.mkdir()
            np.save(td_j / "x.npy", x[idx])
            job = {"lib": str(lib), "firmware": str(firmware), "inputs": str(td_j / "x.npy"),
                   "outputs": str(td_j / "y.npy"), "output_size": m["output_size"], "progress": str(td_j / "done"),
                   "trace": {"layers": m["traced_layers"], "out": str(td_j / "trace.npz")} if trace else None}
            (td_j / "job.json").write_text(json.dumps(job))
            env = dict(os.environ, OMP_NUM_THREADS="1")
            # output into files, not pipes: a chatty worker cannot block on a full pipe while we wait on another
            logs.append(open(td_j / "log.txt", "w+"))
            procs.append(subprocess.Popen([sys.executable, "-m", "fpga_flow.verify.worker", str(td_j / "job.json")],
                                          stdout=logs[-1], stderr=subprocess.STDOUT, text=True, env=env))
        deadline = time.monotonic() + timeout
        try:
            with progress.bar(total=n, desc="C-sim", unit="img", leave=False) as bar:
                while True:
                    running = [p for p in procs if p.poll() is None]
                    failed = [(j, p) for j, p in enumerate(procs) if p.returncode not in (None, 0)]
                    done = sum((Path(td) / str(j) / "done").stat().st_size
                               for j in range(len(procs)) if (Path(td) / str(j) / "done").exists())
                    bar.update(done - bar.n)
                    if failed:
                        j, p = failed[0]
                        logs[j].seek(0)
                        msg = logs[j].read().strip().splitlines()
                        raise RuntimeError("C-simulation crashed (exit code %d): %s" % (p.returncode, " | ".join(msg[-4:])))
                    if not running:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"C-simulation exceeded {timeout:.0f} s")
                    time.sleep(0.05)
        finally:
            for p in procs:  # none is left running when we return or raise (crash, timeout, Ctrl-C)
                if p.poll() is None:
                    p.kill()
                    p.wait()
            for f in logs:
                f.close()
        ys, traces = [], {}
        for j in range(len(procs)):
            td_j = Path(td) / str(j)
            ys.append(np.load(td_j / "y.npy"))
            if trace and (td_j / "trace.npz").exists():
                with np.load(td_j / "trace.npz") as z:
                    for k in z.files:
                        traces.setdefault(k, []).append(z[k])
        y = np.concatenate(ys)
        if trace:
            return y, {k: np.concatenate(v) for k, v in traces.items()}
        return y


def keras_layer_outputs(model, names, x):
    import tensorflow as tf

    layers = [l for l in model.layers if l.name in names]
    probe = tf.keras.Model(model.inputs, [l.output for l in layers])
    outs = probe(x, training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return {l.name: np.asarray(o) for l, o in zip(layers, outs)}


def first_divergent_layer(out, model, manifest, x1) -> tuple[str | None, list[dict]]:
    """Trace one input through C-sim and Keras; return the first layer (topological) whose codes differ."""
    _, tr = run_csim(out, x1, trace=True)
    types = manifest["types"]
    names = [l.name for l in model.layers if l.name in tr and l.name in types]
    kouts = keras_layer_outputs(model, set(names), x1)
    rows = []
    first = None
    for name in names:
        spec = _spec(types[name]["type"])
        kc = np.rint(kouts[name].astype(np.float64) * 2.0**spec.frac).reshape(-1)
        if spec.saturation == "SAT":  # e.g. a conv writing its quantizer's type: the cast rounds and clips
            kc = np.clip(kc, spec.code_min, spec.code_max)
        cc = np.rint(tr[name].astype(np.float64) * 2.0**spec.frac).reshape(-1)
        if kc.size != cc.size:
            rows.append({"layer": name, "status": f"size {cc.size} vs {kc.size}"})
            first = first or name
            continue
        bad = int(np.sum(kc != cc))
        rows.append({"layer": name, "mismatched": bad, "values": int(kc.size)})
        if bad and first is None:
            first = name
    return first, rows


def degenerate_reason(codes: np.ndarray, x: np.ndarray) -> str | None:
    """Why a comparison of these output codes (images x values) proves nothing, or None.

    Equal codes on both sides only show that the C++ computes the model if the outputs carry
    information: a network whose every output is the same value (all zero: dead activations or
    wrong weights; all saturated) or whose output does not change between different inputs would
    'match' a broken C++ just as well."""
    codes = np.asarray(codes).reshape(len(codes), -1)
    values = np.unique(codes)
    if len(values) == 1:
        return (f"every output value of all {len(codes)} image(s) is the same code ({values[0]:g}): the outputs carry "
                "no information (dead or saturated activations, or wrong weights), so agreement proves nothing")
    flat = np.asarray(x).reshape(len(x), -1)
    if len(codes) >= 2 and np.all(codes == codes[0]) and not np.all(flat == flat[0]):
        return (f"all {len(codes)} images give the same output vector although the inputs differ: the outputs do not "
                "depend on the input, so agreement proves nothing")
    return None


def verify(out: str | Path, images: np.ndarray, *, jobs: int = 1, source: str = "", labels=None,
           scheduler: str | None = None, project: str = "ship") -> dict:
    """Compare C-sim with QKeras on ``images`` (uint8 pixels or float model inputs); with ``labels``
    also the top-1 accuracy of both. With ``scheduler`` (local, local:N, tcp://HOST:PORT) the C-sim
    runs on a Dask cluster (fpga_flow.verify.distributed), else in ``jobs`` local processes."""
    m = load_manifest(out)
    out = Path(out)
    model = load_qmodel(out / QMODEL)
    in_spec = input_spec(model)
    out_spec = _spec(m["types"][model.layers[-1].name]["type"])
    x = quantize_to(in_spec, to_model_input(images))

    t0 = time.perf_counter()
    yk = model.predict(x, batch_size=8, verbose=0).astype(np.float64)
    t_keras = time.perf_counter() - t0
    t0 = time.perf_counter()
    dask_stats = None
    if scheduler:
        with Cluster(scheduler) as client:
            yc, dask_stats = run_csim_dask(client, out, x, mode=project)
    else:
        yc = run_csim(out, x, jobs=jobs)
    t_csim = time.perf_counter() - t0

    kc = np.rint(yk * 2.0**out_spec.frac).reshape(len(x), -1)
    cc = np.rint(yc * 2.0**out_spec.frac).reshape(len(x), -1)
    on_grid = bool(np.array_equal(kc * 2.0**-out_spec.frac, yk.reshape(len(x), -1)))
    same = kc == cc
    res = {
        "model": m["model"], "source": source, "n_images": int(len(x)), "n_values": int(same.size),
        "exact_fraction": float(same.mean()), "n_mismatched_values": int((~same).sum()),
        "images_exact": int(np.all(same, axis=1).sum()),
        "qkeras_outputs_on_grid": on_grid, "output_type": out_spec.cpp(),
        "distinct_output_codes": int(len(np.unique(kc))),
        "first_divergent_layer": None,
        "csim_seconds": round(t_csim, 2),
        "csim_seconds_per_image": round(t_csim / len(x), 3), "qkeras_seconds_per_image": round(t_keras / len(x), 4),
        "jobs": jobs,
    }
    if dask_stats:
        res.update(dask_stats, scheduler=scheduler)
        res.pop("jobs")
    fpath = out / FMODEL
    if fpath.is_file():
        import tensorflow as tf

        from ..hls.extensions import custom_objects

        fmodel = tf.keras.models.load_model(fpath, custom_objects=custom_objects(), compile=False)
        yf = fmodel.predict(x, batch_size=8, verbose=0)
        res["top1_agreement_float"] = float(np.mean(np.argmax(yf, 1) == np.argmax(yc.reshape(len(x), -1), 1)))
    res["top1_agreement_qkeras"] = float(np.mean(np.argmax(kc, 1) == np.argmax(cc, 1)))
    res["top1_disagreements"] = int(np.sum(np.argmax(kc, 1) != np.argmax(cc, 1)))
    if labels is not None:
        labels = np.asarray(labels)[:len(x)]
        res["qkeras_top1"] = float(np.mean(np.argmax(kc, 1) == labels))
        res["csim_top1"] = float(np.mean(np.argmax(cc, 1) == labels))
    res["degenerate_reason"] = degenerate_reason(kc, x)
    res["degenerate"] = res["degenerate_reason"] is not None
    res["passed"] = res["exact_fraction"] == 1.0 and not res["degenerate"]
    if res["n_mismatched_values"]:
        i = int(np.argmin(np.all(same, axis=1)))
        first, rows = first_divergent_layer(out, model, m, x[i:i + 1])
        res["first_divergent_layer"] = first
        res["trace_image"] = i
        res["trace"] = rows
    return res
