"""The flow as an ordered list of named steps (as FINN's build_dataflow_steps), each a function
``step_x(b: Build) -> None`` that reads and fills fields of one :class:`Build` record:

    models    the QKeras model (zoo: built from the config, weights loaded; a user's: loaded and
              rewritten into exact layers, hls/rewrite.py) and its float twin
    convert   the one hls4ml conversion with exact types (hls/convert.py, hls/kinds.py)
    plan      the design description and the resource plan fitted to the part (resources/fit.py);
              refused with numbers when nothing fits
    write     the plan applied to the converted graph (reuse factors, FIFO depths), the exactness
              audit, the project written with every memory's storage pragma, models + flow.json
    audit     the written project read back against the plan (verify/audit.py); exit 1 on a difference
    compile   the C-simulation library (g++, hls4ml's build_lib.sh)
    publish   the temporary directory renamed into place (outdir.replace_dir: nothing half-written)
    verify    C-simulation vs QKeras on ``b.images`` (verify/csim.py), when images are given
    report    report.md, report.json, report/ (html + png) (report/design.py)

``build`` walks the steps up to ``publish``; ``demo`` walks them all; ``fpga-flow accuracy`` and
``sweep`` walk the same list (``run(b, until=..., skip=...)``). A user can cut or reorder the list:
``run(b, steps=("models", "convert", "plan"))`` plans without writing anything.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import __version__, config, outdir, project
from .data import images as image_data
from .errors import FitError, FlowError
from .hls import convert as hls_convert
from .hls import kinds
from .hls.describe import describe
from .hls.precision import float32_reference_margin
from .hls.rewrite import rewrite
from .models import build as build_model
from .models import family
from .report import design as design_report
from .resources import fit
from .resources.parts import Part
from .verify import audit as storage_audit
from .verify import csim

@dataclass
class Build:
    """Everything one walk of the flow knows; each step reads some fields and sets others."""

    cfg: config.FlowConfig                     # the typed config (config.load / for_model / validate): validated once
    out: Path                                  # the output directory (checked before any work)
    force: bool = False
    model_name: str | None = None              # the name in flow.json and reports (default: model.name)
    work: Path | None = None                   # the temporary sibling of ``out`` the build is written in
    # models
    qmodel: Any = None                         # the model converted (a user's: its exact rewrite)
    fmodel: Any = None                         # float twin (zoo models)
    reference: Any = None                      # the model verify compares with (default qmodel)
    rewrites: list[str] = field(default_factory=list)
    # convert / plan / write
    converted: Any = None                      # qmodel after kinds.prepare (extension layers in)
    info: dict | None = None                   # exact type per Keras layer
    hls_model: Any = None
    nodes: list[dict] | None = None            # the design description (hls/describe.py)
    plan: Any = None                           # resources.fit.Plan
    manifest: dict | None = None
    # verify / report
    images: np.ndarray | None = None
    labels: np.ndarray | None = None
    verify_options: dict = field(default_factory=dict)  # csim.verify keywords (source, jobs, scheduler, ...)
    verify_result: dict | None = None
    report: dict | None = None
    timings: dict = field(default_factory=dict)

    def __post_init__(self):
        self.out = Path(self.out)
        self.cfg = config.validate(self.cfg)  # a FlowConfig as it is; a plain mapping (the Python API) checked here

    @property
    def part(self) -> Part:
        """The part, resolved once when the config was validated (config.HlsSection.part_info)."""
        return self.cfg.hls.part_info


# ---- the steps ----------------------------------------------------------------------------------------

def step_models(b: Build) -> None:
    """The QKeras model and its float twin (zoo), or the user's model and its exact rewrite."""
    if b.cfg.user_model:
        b.reference, b.qmodel, b.rewrites = user_models(b.cfg)
    else:
        b.qmodel, b.fmodel = zoo_models(b.cfg)


def step_convert(b: Build) -> None:
    h = b.cfg.hls
    b.hls_model, b.info, b.converted = hls_convert.convert(
        b.qmodel, b.work / project.PROJECT, part_name=b.part.name, backend=h.backend,
        clock_period=float(h.clock_period_ns), reuse_factor=h.reuse_factor, strategy=h.strategy,
        fixed_rf=h.reuse_factors, conv_kernel=h.conv_kernel, max_window=h.max_window_values)


def step_plan(b: Build) -> None:
    """Describe the converted graph and fit reuse factors, FIFO depths and storage to the part."""
    h = b.cfg.hls
    b.nodes = describe(b.hls_model)
    b.plan = fit.plan(b.nodes, b.part, **h.fit_args())
    if not b.plan.fits and h.target_fps is not None:
        best = b.plan.totals.get("target_max_fps")
        raise FitError(f"hls.target_fps={h.target_fps:g}: no design meeting it fits {b.part.name} within "
                       f"{float(h.memory_budget):.0%} (estimate); "
                       + (f"the fastest design that fits gives {best:g} frames/s: lower the target"
                          if best else "no design fits at any rate: see 'fpga-flow build' without target_fps")
                       + ", or use a larger part or fewer weight bits")
    if not b.plan.fits:
        how = ("even at the largest reuse factors" if h.reuse_factor == "auto" and not h.reuse_factors
               else f"with the reuse factors set in the config (hls.reuse_factor={h.reuse_factor}"
                    + (f", {len(h.reuse_factors)} fixed per layer)" if h.reuse_factors else ")"))
        raise FitError(fit.refusal(b.plan, b.part, float(h.memory_budget), b.nodes, float(h.clock_period_ns), how))


def step_write(b: Build) -> None:
    """Apply the plan to the converted graph, write the project with its storage pragmas, save the
    models and the manifest."""
    b.nodes = hls_convert.apply_plan(b.hls_model, b.converted, b.info, b.plan)
    b.manifest = manifest(b)
    res = b.manifest["resources"]  # the plan's memories in flow.json's form: what storage.write binds
    b.manifest["weight_load"] = hls_convert.write(b.hls_model, b.work / project.PROJECT, res["layers"], res["fifos"],
                                                  b.nodes, b.cfg.hls.backend)
    (b.reference if b.reference is not None else b.qmodel).save(b.work / project.QMODEL)
    if b.fmodel is not None:
        b.fmodel.save(b.work / project.FMODEL)
    _save_manifest(b)  # read back by the audit step


def step_audit(b: Build) -> None:
    """The written project read back: every memory stored as planned, or StorageAuditFailed (exit 1)."""
    storage_audit.check(b.work)


def step_compile(b: Build) -> None:
    project.compile_library(b.work)


def step_publish(b: Build) -> None:
    """Rename the finished temporary directory into place (an existing build only with --force),
    its manifest with the timings of the steps before."""
    b.manifest["timings_s"] = dict(b.timings)
    _save_manifest(b)
    outdir.replace_dir(b.work, b.out, force=b.force)  # checks the target again: never over what it may not replace
    b.work = None


def step_verify(b: Build) -> None:
    """C-simulation vs QKeras on the given images (nothing to do without images)."""
    if b.images is None:
        return
    b.verify_result = csim.verify(b.out, b.images, labels=b.labels, **b.verify_options)
    outdir.write_atomic(b.out / "verify.json", json.dumps(b.verify_result, indent=1))  # whole or not at all


def step_report(b: Build) -> None:
    d = design_report.collect(b.out)
    outdir.write_atomic(b.out / "report.md", design_report.to_markdown(d))
    outdir.write_atomic(b.out / "report.json", design_report.to_json(d))
    design_report.to_html(d, b.out / "report")
    b.report = d


STEPS: tuple[tuple[str, Callable[[Build], None]], ...] = (
    ("models", step_models), ("convert", step_convert), ("plan", step_plan), ("write", step_write),
    ("audit", step_audit), ("compile", step_compile), ("publish", step_publish), ("verify", step_verify),
    ("report", step_report),
)
STEP_NAMES = tuple(n for n, _ in STEPS)
WRITING = ("convert", "write", "audit", "compile", "publish")  # steps that work in the temporary directory


def run(b: Build, *, steps: tuple[str, ...] | None = None, until: str | None = None,
        skip: tuple[str, ...] = ()) -> Build:
    """Walk ``steps`` (default: STEPS in order, up to and including ``until``, without ``skip``).
    The steps before ``publish`` write into a temporary sibling of ``b.out``, removed on any failure;
    a walk with such steps holds ``b.out`` (outdir.claim: checked, locked against every other run,
    cleared of dead runs' temporaries) from before its first step to its end."""
    names = list(steps or STEP_NAMES)
    unknown = [n for n in list(names) + list(skip) + ([until] if until else []) if n not in STEP_NAMES]
    if unknown:
        raise FlowError(f"unknown flow step(s) {unknown}; the steps are {list(STEP_NAMES)}")
    if until:
        names = names[:names.index(until) + 1]
    names = [n for n in names if n not in skip]
    funcs = dict(STEPS)
    writing = any(n in names for n in WRITING)
    with outdir.claim(b.out, force=b.force) if writing else contextlib.nullcontext(b.out) as b.out:  # before any work
        return _walk(b, names, funcs)


def _walk(b: Build, names: list[str], funcs: dict) -> Build:
    try:
        for n in names:
            if n in WRITING and b.work is None:  # the temporary sibling, from the first step that writes
                b.work = outdir.make_tmp(b.out)
            t0 = time.perf_counter()
            funcs[n](b)
            b.timings[n] = round(time.perf_counter() - t0, 2)
    except BaseException:
        if b.work is not None:
            shutil.rmtree(b.work, ignore_errors=True)
            b.work = None
        raise
    if b.work is not None and "publish" not in names:  # cut before publishing: nothing is kept
        shutil.rmtree(b.work, ignore_errors=True)
        b.work = None
    return b


def build(cfg: config.FlowConfig, out: str | Path, *, force: bool = False, compile_lib: bool = True) -> dict:
    """Build the configured models, the hls4ml project and the C-sim library into ``out`` (a zoo
    model by model.name, or the user's saved QKeras model at model.path); returns the manifest."""
    b = Build(cfg, Path(out), force=force)
    run(b, until="publish", skip=() if compile_lib else ("compile",))
    return b.manifest


def build_keras_model(qmodel, out: str | Path, *, cfg: config.FlowConfig | dict | None = None, fmodel=None,
                      force: bool = False, compile_lib: bool = True) -> dict:
    """Build an in-memory QKeras model (a zoo or test model) with the flow's steps after 'models';
    ``cfg``: its hls section is used (default: every default; its model section then only stands in)."""
    b = Build(cfg if cfg is not None else {"model": {"name": "squeezenet1_1"}}, Path(out), force=force, qmodel=qmodel,
              fmodel=fmodel, model_name=None if cfg is not None else qmodel.name)
    run(b, until="publish", skip=("models",) + (() if compile_lib else ("compile",)))
    return b.manifest


# ---- models -------------------------------------------------------------------------------------------

def zoo_models(cfg: config.FlowConfig):
    """The QKeras model and its float twin, with the configured weights."""
    import tensorflow as tf

    name, w = cfg.model.name, cfg.weights
    tf.keras.utils.set_random_seed(w.seed)
    qmodel = build_model(name, cfg.model, cfg.quantization, quantized=True)
    fmodel = build_model(name, cfg.model, cfg.quantization, quantized=False)
    src = w.source
    fam = family(name)
    if src == "random":
        shape = qmodel.input_shape[1:]
        imgs = image_data.photos(w.calibration_images, shape)
        fam.init_random(qmodel, fmodel, image_data.to_model_input(imgs), seed=w.seed)
    else:
        trained = project.load_qmodel(src)
        check_quantizers(trained, qmodel, src)
        try:
            fam.init_from_deployed(trained, qmodel, fmodel)
        except (ValueError, KeyError) as e:
            raise FlowError(f"weights.source {src}: does not match the configured model ({str(e).splitlines()[0]}); "
                            "use the config the weights were trained with") from None
    return qmodel, fmodel


def user_models(cfg: config.FlowConfig):
    """(reference, converted, rewrite notes) of the user's model at model.path (hls/rewrite.py)."""
    m = cfg.model
    return rewrite(project.load_qmodel(m.path), input_bits=m.input_bits, input_int=m.input_int)


def check_models(cfg: config.FlowConfig):
    """``build --check``: the configured QKeras model (architecture only, no weights initialised)
    and, for a weights file, that it loads and was trained with the configured quantizers; for a
    user's model (model.path), that it loads and every layer is accepted (rewritten or refused)."""
    if cfg.user_model:
        return user_models(cfg)[1]
    qmodel = build_model(cfg.model.name, cfg.model, cfg.quantization, quantized=True)
    src = cfg.weights.source
    if src != "random":
        check_quantizers(project.load_qmodel(src), qmodel, src)
    return qmodel


def quantizers(model) -> dict[str, dict[str, str]]:
    """{layer: {config key: quantizer}} of every quantizer in ``model`` (QKeras and fpga_flow layers)."""
    out = {}
    for layer in model.layers:
        c = layer.get_config()
        q = {k: str(v) for k, v in c.items() if "quantizer" in k and v is not None}
        if kinds.for_keras(layer) is kinds.QUANTIZER:  # QActivation: its activation is the quantizer
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


# ---- the manifest -------------------------------------------------------------------------------------

def manifest(b: Build) -> dict:
    qmodel, fmodel, plan = b.qmodel, b.fmodel, b.plan
    traced = [{"name": l.name, "shape": [int(s) for s in l.get_output_variable().shape]}
              for l in b.hls_model.get_layers() if l.get_attr("function_cpp") and l.get_attr("trace", False)]
    return {
        "fpga_flow_version": __version__,
        "model": b.model_name or b.cfg.model.name,
        "keras_name": qmodel.name,
        "config": config.dump(b.cfg),
        # deployed (what the FPGA stores: BN folded into conv biases) and training-model counts
        "params": int(sum(int(np.prod(w.shape)) for w in qmodel.trainable_weights)),
        "float_params": (int(sum(int(np.prod(w.shape)) for w in fmodel.trainable_weights))
                         if fmodel is not None else None),
        "input_shape": [int(s) for s in qmodel.input_shape[1:]],
        "output_size": int(np.prod(qmodel.output_shape[1:])),
        "types": {name: {"type": t.spec.cpp(), "lo": t.lo, "hi": t.hi} for name, t in b.info.items()},
        "max_accumulator_bits": float32_reference_margin(b.info),
        "traced_layers": traced,
        # what the written project contains and the resource plan for it (every number an estimate)
        "design": b.nodes,
        "plan": {"reuse_factors": plan.reuse, "fifo_depths": plan.depths},
        "resources": resource_summary(plan, b.part, float(b.cfg.hls.memory_budget)),
        "project": project.PROJECT,
        "rewrites": list(b.rewrites),
        "timings_s": dict(b.timings),
    }


def _save_manifest(b: Build) -> None:
    (b.work / project.MANIFEST).write_text(json.dumps(b.manifest, indent=1))


def resource_summary(plan, part: Part, budget: float) -> dict:
    slowest = max((e.cycles for e in plan.layers), default=1)
    return {"part": part.to_dict(), "memory": fit.summary(plan, part, budget),
            "layers": [_layer_row(e, slowest) for e in plan.layers],
            "fifos": [dict(m.to_dict(), backlog=plan.streams[m.stream]["backlog"]) for m in plan.fifos]}


def _layer_row(e, slowest: int) -> dict:
    """One layer of the plan; ``busy_fraction``: its cycles per frame over the slowest layer's (the
    share of the frame interval it works; estimate)."""
    return {"layer": e.layer, "kind": e.kind, "reuse_factor": e.reuse_factor, "cycles": e.cycles,
            "busy_fraction": round(e.cycles / slowest, 4), "macs": e.macs, "dsp": e.dsp,
            "luts": e.mult_luts + e.extra_luts, "memories": [m.to_dict() for m in e.memories]}
