"""The flow as named steps, each callable on its own:

    build_models -> convert (hls.convert) -> compile_library -> verify (verify.csim) -> report

``build`` chains the first three into an output directory, written in a temporary sibling and
renamed into place, so a failed build leaves nothing half-written.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from . import __version__, outdir
from .errors import FlowError

MANIFEST = "flow.json"
QMODEL = "qkeras_model.h5"
FMODEL = "float_model.h5"
PROJECT = "hls4ml_prj"


def build_models(cfg: dict):
    """Step 'build': the QKeras model and its float twin, with the configured weights."""
    from .models import build, family
    from .models.quant import QuantSpec
    from .verify import inputs

    import tensorflow as tf

    quant = QuantSpec.from_dict(cfg["quantization"])
    margs = {k: v for k, v in cfg["model"].items() if k != "name"}
    name = cfg["model"]["name"]
    w = cfg["weights"]
    tf.keras.utils.set_random_seed(int(w.get("seed", 0)))
    qmodel = build(name, margs, quant, quantized=True)
    fmodel = build(name, margs, quant, quantized=False)
    src = w.get("source", "random")
    fam = family(name)
    if src == "random":
        shape = qmodel.input_shape[1:]
        n = int(w.get("calibration_images", 4))
        imgs = inputs.photos(n, shape) if shape[-1] in (1, 3) else inputs.random_images(n, shape, 1)
        fam.init_random(qmodel, fmodel, inputs.to_model_input(imgs), seed=int(w.get("seed", 0)))
    else:
        trained = load_qmodel(src)
        check_quantizers(trained, qmodel, src)
        try:
            fam.init_from_deployed(trained, qmodel, fmodel)
        except (ValueError, KeyError) as e:
            raise FlowError(f"weights.source {src}: does not match the configured model ({str(e).splitlines()[0]}); "
                            "use the config the weights were trained with") from None
    return qmodel, fmodel


def check_models(cfg: dict):
    """``build --check``: the configured QKeras model (architecture only, no weights initialised)
    and, for a weights file, that it loads and was trained with the configured quantizers; for a
    user's model (model.path), that it loads and every layer is accepted (rewritten or refused)."""
    if cfg["model"].get("path"):
        return user_models(cfg)[1]
    from .models import build
    from .models.quant import QuantSpec

    quant = QuantSpec.from_dict(cfg["quantization"])
    margs = {k: v for k, v in cfg["model"].items() if k != "name"}
    qmodel = build(cfg["model"]["name"], margs, quant, quantized=True)
    src = cfg["weights"].get("source", "random")
    if src != "random":
        check_quantizers(load_qmodel(src), qmodel, src)
    return qmodel


def quantizers(model) -> dict[str, dict[str, str]]:
    """{layer: {config key: quantizer}} of every quantizer in ``model`` (QKeras and fpga_flow layers)."""
    out = {}
    for layer in model.layers:
        c = layer.get_config()
        q = {k: str(v) for k, v in c.items() if "quantizer" in k and v is not None}
        if type(layer).__name__ == "QActivation":
            q["activation"] = str(c["activation"])
        if q:
            out[layer.name] = q
    return out


def check_quantizers(trained, qmodel, src) -> None:
    """Refuse weights trained with other quantizers than the configured model's (the same weights
    would then compute something else, silently)."""
    want, have = quantizers(qmodel), quantizers(trained)
    for name, q in want.items():
        for k, v in q.items():
            got = have.get(name, {}).get(k)
            if got is not None and got != v:
                raise FlowError(f"weights.source {src}: layer {name} was trained with {k}={got}, the config builds {v}; "
                                "set the quantization section to the values the weights were trained with (their training "
                                "provenance <tag>.json records them, per-layer layer_int included)")


def load_qmodel(path):
    from qkeras.utils import load_qmodel as _load

    from .hls.extensions import custom_objects

    try:
        return _load(str(path), custom_objects=custom_objects(), compile=False)
    except (OSError, ValueError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise FlowError(f"{path}: cannot be loaded as a QKeras model ({type(e).__name__}: {first}); "
                        "use a model saved with model.save('NAME.h5') from QKeras and fpga_flow layers") from None


def build(cfg: dict, out: str | Path, *, force: bool = False, compile_lib: bool = True) -> dict:
    """Build the configured models, the hls4ml project and the C-sim library into ``out``
    (a zoo model by model.name, or the user's saved QKeras model at model.path)."""
    out = _check_out(out, force)
    t0 = time.perf_counter()
    if cfg["model"].get("path"):
        reference, qmodel, notes = user_models(cfg)
        return build_keras(qmodel, out, cfg=cfg, force=force, compile_lib=compile_lib, model_name=cfg["model"]["name"],
                           t_build=time.perf_counter() - t0, reference=reference, rewrites=notes)
    qmodel, fmodel = build_models(cfg)
    return build_keras(qmodel, out, cfg=cfg, fmodel=fmodel, force=force, compile_lib=compile_lib,
                       model_name=cfg["model"]["name"], t_build=time.perf_counter() - t0)


def user_models(cfg: dict):
    """(reference, converted, rewrite notes) of the user's model at model.path (hls.rewrite)."""
    from .hls.rewrite import rewrite

    m = cfg["model"]
    model = load_qmodel(m["path"])
    return rewrite(model, input_bits=m.get("input_bits"), input_int=m.get("input_int"))


def _check_out(out, force) -> Path:
    """The output directory, checked before any work (see fpga_flow.outdir: only a build directory
    made by fpga-flow is replaced, and only with ``force``; the location must be writable)."""
    return outdir.check_target(out, force=force)


def build_keras(qmodel, out: str | Path, *, cfg: dict | None = None, fmodel=None, force: bool = False,
                compile_lib: bool = True, model_name: str | None = None, t_build: float = 0.0,
                reference=None, rewrites: list[str] | None = None) -> dict:
    """Steps convert + compile for any supported QKeras model (the zoo's or a user's).

    ``reference``: the model saved as the one ``verify`` compares with (default ``qmodel``); for a
    user's model it is the user's own model and ``qmodel`` its rewrite (hls.rewrite)."""
    from .config import DEFAULTS
    from .hls.convert import convert
    from .hls.precision import float32_reference_margin

    cfg = cfg or {**DEFAULTS, "model": {"name": model_name or qmodel.name}}
    out = _check_out(out, force)
    tmp = outdir.make_tmp(out)
    try:
        hls = cfg["hls"]
        t0 = time.perf_counter()
        hls_model, info, plan, nodes = convert(
            qmodel, tmp / PROJECT, part=hls["part"], backend=hls["backend"], clock_period=float(hls["clock_period_ns"]),
            reuse_factor=hls.get("reuse_factor", "auto"), strategy=hls["strategy"],
            budget=float(hls.get("memory_budget", 0.9)), min_packing=float(hls.get("min_packing", 0.8)),
            fixed_rf=hls.get("reuse_factors") or None, fifo_depths=hls.get("fifo_depths") or None)
        t_convert = time.perf_counter() - t0
        (reference if reference is not None else qmodel).save(tmp / QMODEL)
        if fmodel is not None:
            fmodel.save(tmp / FMODEL)
        traced = [{"name": l.name, "shape": [int(s) for s in l.get_output_variable().shape]}
                  for l in hls_model.get_layers() if l.get_attr("function_cpp") and l.get_attr("trace", False)]
        manifest = {
            "fpga_flow_version": __version__,
            "model": model_name or cfg["model"]["name"],
            "keras_name": qmodel.name,
            "config": cfg,
            # deployed (what the FPGA stores: BN folded into conv biases) and training-model counts
            "params": int(sum(int(np.prod(w.shape)) for w in qmodel.trainable_weights)),
            "float_params": (int(sum(int(np.prod(w.shape)) for w in fmodel.trainable_weights))
                             if fmodel is not None else None),
            "input_shape": [int(s) for s in qmodel.input_shape[1:]],
            "output_size": int(np.prod(qmodel.output_shape[1:])),
            "types": {name: {"type": t.spec.cpp(), "lo": t.lo, "hi": t.hi} for name, t in info.items()},
            "max_accumulator_bits": float32_reference_margin(info),
            "traced_layers": traced,
            # what the written project contains and the resource plan for it (every number an estimate)
            "design": nodes,
            "plan": {"reuse_factors": plan.reuse, "fifo_depths": plan.depths},
            "resources": resource_summary(plan, hls["part"], float(hls.get("memory_budget", 0.9))),
            "project": PROJECT,
            "rewrites": list(rewrites or []),
            "timings_s": {"build_models": round(t_build, 2), "convert_write": round(t_convert, 2)},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if compile_lib:
            t0 = time.perf_counter()
            compile_library(tmp)
            manifest["timings_s"]["compile"] = round(time.perf_counter() - t0, 2)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        outdir.replace_dir(tmp, out)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def resource_summary(plan, part_name: str, budget: float) -> dict:
    from .resources import fit
    from .resources.parts import resolve

    part = resolve(part_name)
    return {"part": part.to_dict(), "memory": fit.summary(plan, part, budget),
            "layers": [_layer_row(e) for e in plan.layers],
            "fifos": [dict(m.to_dict(), stream=m.note, backlog=plan.streams[m.note]["backlog"]) for m in plan.fifos]}


def _layer_row(e) -> dict:
    return {"layer": e.layer, "kind": e.kind, "reuse_factor": e.reuse_factor, "cycles": e.cycles, "dsp": e.dsp,
            "luts": e.mult_luts + e.extra_luts, "memories": [m.to_dict() for m in e.memories]}


def load_manifest(out: str | Path) -> dict:
    out = Path(out)
    m = out / MANIFEST
    if not m.is_file() or not out.is_dir():
        raise FlowError(f"{out} is not a built flow directory ({MANIFEST} missing); run 'fpga-flow build CONFIG --out {out}' first")
    try:
        return json.loads(m.read_text())
    except json.JSONDecodeError:
        raise FlowError(f"{m} is corrupt; rebuild with 'fpga-flow build ... --force'") from None


def library_path(out: str | Path) -> Path | None:
    libs = sorted((Path(out) / PROJECT / "firmware").glob("myproject-*.so"))
    return libs[-1] if libs else None


def compile_library(out: str | Path, timeout: int = 1800) -> Path:
    """Step 'compile': g++ the C-simulation library with hls4ml's own build_lib.sh (in a subprocess)."""
    prj = Path(out) / PROJECT
    if not (prj / "build_lib.sh").is_file():
        raise FlowError(f"{prj} has no build_lib.sh; rebuild with 'fpga-flow build ... --force'")
    for old in (prj / "firmware").glob("myproject-*.so"):
        old.unlink()
    r = subprocess.run(["bash", "build_lib.sh"], cwd=prj, capture_output=True, text=True, timeout=timeout)
    lib = library_path(out)
    if r.returncode != 0 or lib is None:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"C-simulation library failed to compile in {prj}:\n{tail}")
    return lib


def ensure_library(out: str | Path) -> Path:
    return library_path(out) or compile_library(out)
