"""fpga-flow: QKeras SqueezeNet/ShuffleNet -> hls4ml HLS C++, bit-exact C-simulation, reports.

Commands (each a step of the flow; `fpga-flow COMMAND --help` for details):
  models   list the model zoo (first word of each line is the name)
  config   CONFIG.yml: the config with every default filled in; --schema: its JSON Schema
  build    CONFIG.yml --out DIR: QKeras model + hls4ml project + C-sim library + flow.json
  verify   DIR: C-simulation vs QKeras, integer codes of every output; exit 0 only if 100% identical
  report   DIR: parameters, weight bits/bytes, per-layer table (md or json)
  train    CONFIG.yml: float + quantization-aware training on Fashion-MNIST (weights + provenance)
  accuracy CONFIG.yml...: float / QKeras / C-sim top-1 on the Fashion-MNIST test set (reports/accuracy.*)
  demo     build + verify + report on the shipped default config
  clean    DIR: list and remove what killed runs left (temporaries whose process is gone)

Errors in the input (unknown model/part, malformed YAML, bits out of range, missing files, existing
output without --force, an output another run is writing) print one line and exit 2. A verification
mismatch exits 1. Ctrl-C exits 130, SIGTERM 143, both after removing the run's temporary directory.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
from pathlib import Path

# TensorFlow logs to stderr as it loads unless told not to (errors must stay one line)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Only light modules are imported here (the output-directory rules, the parts database): `--help` and
# `parts` answer without the config schema (pydantic) or numpy, and no command imports TensorFlow, QKeras
# or hls4ml before its inputs are checked (tests/test_fast_cli.py). The modules a command runs on are
# imported inside it: the config schema first, the flow last.
from . import outdir, progress, project
from .errors import FitError, FlowError, Terminated
from .resources import parts

DEFAULT_CONFIG = "hls_configs/fmnist_squeezenet1_1_w8_zcu104.yml"


def _quiet():
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


class _Parser(argparse.ArgumentParser):
    """argparse with the flow's error format: one line on stderr, exit 2."""

    def error(self, message):
        hint = f"{self.prog} --help"
        self.exit(2, f"fpga-flow: error: {message.strip().splitlines()[0]}; see '{hint}'\n")


def _dask_args(p) -> None:
    p.add_argument("--scheduler", metavar="local[:N]|tcp://HOST:PORT",
                   help="run the C-simulation on a Dask cluster: local (a LocalCluster, one worker per core), local:N, "
                        "or the address of a running 'dask scheduler' (default: --jobs local processes, no Dask)")
    p.add_argument("--project", choices=("ship", "shared"), default="ship",
                   help="with --scheduler: ship the project to every worker (default), or shared: the build "
                        "directory is at the same path on every worker")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fpga-flow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    sub.add_parser("models", help="list the model zoo, one model per line (name first)")

    c = sub.add_parser("config", help="a config with every default filled in, or the JSON Schema of configs",
                       description="With CONFIG.yml: the config as the flow will use it (every section, every default "
                                   "filled in, the part resolved to its part number, --set/--part applied), checked "
                                   "like 'build' checks it. With --schema: the JSON Schema (draft 2020-12) of a "
                                   "flow config: every key with its type, default, description and 'fix' (the hint "
                                   "printed when a value is wrong); editors validate hls_configs/*.yml with it.")
    c.add_argument("config", nargs="?", help="YAML flow config, e.g. hls_configs/squeezenet1_1_224_w8_zcu104.yml")
    c.add_argument("--schema", action="store_true", help="print the JSON Schema of flow configs")
    c.add_argument("--json", action="store_true", help="print the config as JSON (default: YAML)")
    c.add_argument("--part", help="FPGA part number or board name; overrides hls.part")
    c.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value")

    b = sub.add_parser("build", help="build the QKeras model, hls4ml project and C-sim library into DIR",
                       description="Build the QKeras model (and float twin), convert it with hls4ml "
                                   "(io_stream, exact types, fpga_flow extensions), write the project "
                                   "(firmware/, build_prj.tcl, weights) and compile the C-simulation library. "
                                   "Written into a temporary directory and renamed to DIR at the end.")
    b.add_argument("config", nargs="?",
                   help="YAML flow config, e.g. hls_configs/squeezenet1_1_224_w8_zcu104.yml (optional with --model: "
                        "then only its hls section is used)")
    b.add_argument("--model", metavar="PATH.h5|.keras",
                   help="build your own saved QKeras model (functional or sequential) instead of a zoo model: its own "
                        "quantizers are used, standard layers are rewritten into the flow's exact layers where that is "
                        "provably exact, anything else is refused naming the layer (docs/your-own-model.md)")
    b.add_argument("--input-bits", type=int, metavar="B",
                   help="with --model, for a model without an input quantizer: the input grid quantized_bits(B, I, alpha=1)")
    b.add_argument("--input-int", type=int, metavar="I", help="with --model: integer bits of that input grid")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument("--part", help="FPGA part number or board name (ZCU104, zcu102, xc7z020clg400-1, ...); "
                                  "overrides hls.part")
    b.add_argument("--force", action="store_true",
                   help="replace DIR if it is a build directory made by fpga-flow (holds its flow.json); "
                        "any other existing directory is refused")
    b.add_argument("--check", action="store_true",
                   help="only check: the config against the schema, the part, the weights file, --out, and that "
                        "the QKeras model builds; writes nothing")
    b.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set model.bypass=simple --set quantization.weight_bits=6")

    v = sub.add_parser("verify", help="C-simulation vs QKeras on real or random inputs",
                       description="Run the C-simulation library (in a subprocess) and the QKeras model on the "
                                   "same inputs, put on the input quantizer's grid, and compare the integer codes "
                                   "of every output value. On a mismatch, trace one image layer by layer and name "
                                   "the first divergent layer. Exit 0 only if exact_fraction == 1.0.")
    v.add_argument("dir", help="a directory made by 'fpga-flow build'")
    v.add_argument("--images", type=int, default=4, help="number of images (default 4)")
    v.add_argument("--source", default="photos",
                   help="photos (scikit-image's bundled photographs), random, fmnist-sample (the shipped 1,000 "
                        "Fashion-MNIST test images, with top-1 accuracy), fmnist (the full test set of the Debian "
                        "package), a FOLDER of PNG/JPEG images, or FILE.npy (uint8 pixels or float model inputs "
                        "of the model's input shape)")
    v.add_argument("--jobs", type=int, default=1, help="parallel C-sim processes (default 1)")
    v.add_argument("--seed", type=int, default=0, help="seed for --source random")
    v.add_argument("--dataflow", action="store_true",
                   help="dataflow C-simulation instead: the written firmware with bounded blocking FIFOs of the "
                        "planned depths, every process in its own thread, image after image; reports deadlock "
                        "(and the streams on the wait-for cycle), FIFO occupancies and exactness "
                        "(fpga_flow/verify/dataflow.py)")
    v.add_argument("--depth", action="append", default=[], metavar="STREAM=N",
                   help="with --dataflow: run with this FIFO depth (C++ stream name, e.g. layer15_out, or the "
                        "plan's stream name) for this run only; repeatable")
    _dask_args(v)
    v.add_argument("--json", action="store_true",
                   help="print one JSON object (exact_fraction, n_values, first_divergent_layer, ...) on stdout")

    r = sub.add_parser("report", help="parameters, weight bits and per-layer table of a built DIR",
                       description="The plan of a built DIR in numbers: parameters and weight bits (counted), resources "
                                   "against the part, per-layer memories, cycles and FIFOs (estimates), and what was "
                                   "measured (C-sim exactness, dataflow check) when given. --format html writes one "
                                   "self-contained report.html (plots embedded) into --out, with the plots beside it as PNG.")
    r.add_argument("dir")
    r.add_argument("--format", choices=("md", "json", "html"), default="md",
                   help="md/json to stdout; html writes report.html (+ the plots as PNG) into --out (default DIR/report)")
    r.add_argument("--out", help="output folder for --format html")
    r.add_argument("--verify-json", metavar="FILE",
                   help="the saved output of 'fpga-flow verify DIR --json', shown as measured (default: DIR/verify.json "
                        "if the flow wrote one, e.g. demo)")
    r.add_argument("--dataflow-json", metavar="FILE",
                   help="the saved output of 'fpga-flow verify DIR --dataflow --json': deadlock check and the measured "
                        "FIFO occupancies (default: DIR/dataflow.json if present)")
    fs = sub.add_parser("fifo-search", help="per FIFO, the smallest depth that does not deadlock (dataflow C-sim)",
                        description="For every stream planned deeper than 2 (the join inputs; --all: every stream), "
                                    "binary-search the smallest depth with which the dataflow C-simulation of --images "
                                    "images completes, the other streams at their planned depths. Prints analytic "
                                    "(planned) vs minimal depth per stream and in bits. Not a joint minimum, and no "
                                    "RTL read-ahead margin: the planned depths are what the project uses.")
    fs.add_argument("dir")
    fs.add_argument("--images", type=int, default=2)
    fs.add_argument("--all", action="store_true", help="search every stream, not only the join inputs")
    fs.add_argument("--json", action="store_true")
    au = sub.add_parser("audit", help="check the written project's memories against the plan (storage pragmas, depths)",
                        description="Read the written project (myproject.cpp, parameters.h, the kernels each layer "
                                    "instantiates, with their pragmas) and list every memory: C++ variable, depth x "
                                    "width, binding and the pragma that decides it; compare with the plan in flow.json. "
                                    "Exit 1 naming the layer on any disagreement (also run at the end of build). "
                                    "What a vendor tool then does with the pragmas is not checked here.")
    au.add_argument("dir")
    au.add_argument("--json", action="store_true", help="print one JSON object (ok, disagreements, memories)")
    sy = sub.add_parser("synth", help="C synthesis with vitis_hls/vivado_hls when on PATH (else exit 2)")
    sy.add_argument("dir")

    t = sub.add_parser("train", help="float baseline + quantization-aware training on Fashion-MNIST",
                       description="Train the config's model on Fashion-MNIST (IDX files of the Debian package "
                                   "dataset-fashion-mnist or --data-dir): the float model, then QAT for every "
                                   "variant in train.variants. Writes <train.out>/<tag>_float.h5, <tag>_<variant>.h5 "
                                   "and the provenance record <tag>.json (see fpga_flow/train.py).")
    t.add_argument("config", help="YAML config with a train section, e.g. hls_configs/fmnist_squeezenet1_1.yml")
    t.add_argument("--stage", choices=("all", "float", "qat"), default="all")
    t.add_argument("--variant", action="append", help="QAT only these variants (default: all in the config)")
    t.add_argument("--data-dir", help="folder with the four Fashion-MNIST *-ubyte(.gz) files")
    t.add_argument("--resume", action="store_true", help="continue each stage from its last checkpoint")
    t.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=2")

    a = sub.add_parser("accuracy", help="float vs QKeras vs C-sim top-1 on the Fashion-MNIST test set",
                       description="For each trained variant of each training config: build it, run the float "
                                   "model, the QKeras model and the C-simulation (parallel worker processes) on the "
                                   "test set, and merge the rows into OUT/accuracy.json + accuracy.md.")
    a.add_argument("configs", nargs="+", help="training configs (with a train section)")
    a.add_argument("--variant", action="append", help="only these variants (default: every trained one)")
    a.add_argument("--csim-images", type=int, help="C-simulate only the first N test images (default: all 10,000)")
    a.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel C-sim processes (default: all cores)")
    a.add_argument("--data-dir", help="folder with the four Fashion-MNIST *-ubyte(.gz) files")
    a.add_argument("--out", default="reports", help="folder for accuracy.json/accuracy.md (default reports)")
    a.add_argument("--build-dir", default="build/accuracy", help="where the variant builds go (default build/accuracy)")
    _dask_args(a)

    e = sub.add_parser("estimate", help="HLS BRAM18K and DSPs of any Keras/QKeras model converted by stock hls4ml",
                       description="Convert MODEL with stock hls4ml 1.3.0 and exactly the given hls4ml config (the "
                                   "hls4ml_config.yml hls4ml writes, or one in its format: Backend, Part, IOType, "
                                   "HLSConfig) and print every memory (FIFOs, weight ROMs, lookup tables) with the "
                                   "BRAM18K, and every layer with the DSPs, that the HLS C-synthesis report would count "
                                   "for the config's backend (Vivado/VivadoAccelerator: Vivado HLS, one FIFO per "
                                   "channel; Vitis) and part (Part, XilinxPart, Board or --part), by the rules of "
                                   "fpga_flow/resources/hls_count.py and hls_dsp.py (calibrated on real csynth "
                                   "reports). An ESTIMATE: no vendor tool runs. Nothing is written.")
    e.add_argument("model", help="a saved Keras/QKeras model (.h5 or .keras)")
    e.add_argument("--hls4ml-config", required=True, help="hls4ml config YAML (Backend, Part, IOType, HLSConfig, ...)")
    e.add_argument("--part", help="part number or board (overrides the config's Part/XilinxPart/Board; "
                                  "'fpga-flow parts' lists them)")
    e.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    pa = sub.add_parser("parts", help="list the known FPGA devices (BRAM18K, URAM, DSP, LUT, FF) and boards",
                        description="Every device the flow knows, with its resources from the vendor data sheet "
                                    "(cited per row), its product family (which decides the HLS memory rules), a "
                                    "default part number, the boards that carry it, and the calibration report whose "
                                    "'Available' row confirms the numbers. Any package/speed/temperature grade of a "
                                    "listed device is accepted wherever a part is asked for.")
    pa.add_argument("filter", nargs="?", help="case-insensitive text to match (device, family, board, data sheet) or a "
                                              "full part number (selects its device)")
    pa.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    w = sub.add_parser("sweep", help="build (and verify) every point of a grid of config values, on Dask workers",
                       description="Build every combination of the --grid values (and verify each on --verify N images), "
                                   "on Dask workers with --scheduler or one after another here; write DIR/sweep.json, "
                                   "sweep.md, sweep.html (self-contained: the Pareto plot of frames/s against HLS BRAM18K and DSP, one "
                                   "row per point), sweep.png and points/NN/report.json of each built point. A failing point is a row "
                                   "with its reason.")
    w.add_argument("config", help="base YAML flow config")
    w.add_argument("--grid", action="append", default=[], metavar="SECTION.KEY=V1,V2,...", required=True,
                   help="values of one key, e.g. --grid quantization.weight_bits=8,6,4 --grid hls.part=zcu104,zcu102")
    w.add_argument("--verify", type=int, default=0, metavar="N", help="verify each point on N images (default 0: build only)")
    w.add_argument("--scheduler", metavar="local[:N]|tcp://HOST:PORT", help="Dask cluster for the points (default: here)")
    w.add_argument("--out", required=True, help="output folder (sweep.json, sweep.md, sweep.html, sweep.png, points/)")
    w.add_argument("--force", action="store_true", help="replace --out if it holds a sweep made by fpga-flow")

    d = sub.add_parser("demo", help="build + verify + report on the shipped default config")
    d.add_argument("--config", default=DEFAULT_CONFIG)
    d.add_argument("--out", default="build/demo")
    d.add_argument("--images", type=int, default=1000, help="images to verify on (default 1000)")
    d.add_argument("--source", default=None,
                   help="fmnist-sample for 32x32x1 models (default), photos otherwise; any verify --source")
    d.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel C-sim processes (default: all cores)")
    _dask_args(d)
    d.add_argument("--force", action="store_true",
                   help="replace --out if it is a directory made by fpga-flow (holds its flow.json)")

    c = sub.add_parser("clean", help="list and remove what killed runs left behind (only if their process is gone)",
                       description="List the temporary directories, lock files and scratch directories of fpga-flow "
                                   "runs in DIR, in its subfolders and beside it (those of DIR as an --out), with "
                                   "their owner (pid, host) and state, and remove the stale ones: those whose process "
                                   "is provably gone (same host, no process with that pid and start time). Anything "
                                   "whose owner runs, is on another host or is not recorded is listed and kept.")
    c.add_argument("dir", help="an output directory (--out, need not exist) or the folder that holds outputs; "
                               "the system temporary folder for scratch directories")
    c.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    return p


def cmd_models(args) -> int:
    from .config import FAMILY_OPTIONS, MODELS

    for name, (fam, desc) in MODELS.items():
        print(f"{name}  {desc}\n    options: {', '.join(sorted(set(FAMILY_OPTIONS[fam].model_fields) - {'name'}))}")
    return 0


def cmd_config(args) -> int:
    from . import config

    if args.schema:
        if args.config or args.set or args.part:
            raise FlowError("--schema prints the schema of every config; drop CONFIG.yml/--set/--part")
        schema = config.json_schema()
        if args.json:
            return schema
        print(json.dumps(schema, indent=1))
        return 0
    if args.config is None:
        raise FlowError("config needs CONFIG.yml or --schema; e.g. 'fpga-flow config hls_configs/squeezenet1_1_224_w8_zcu104.yml'")
    data = config.dump(config.load(args.config, args.set, args.part))
    if args.json:
        return data
    import yaml

    print(f"# {args.config} as the flow uses it: every default filled in ('fpga-flow config --schema' documents each key)")
    print(yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120), end="")
    return 0


def cmd_build(args) -> int:
    from . import config

    if args.model:
        cfg = config.for_model(args.model, args.set, args.part, args.input_bits, args.input_int, config=args.config)
    elif args.config is None:
        raise FlowError("build needs a CONFIG.yml or --model PATH.h5; e.g. 'fpga-flow build --model my_net.h5 --out DIR'")
    elif args.input_bits is not None or args.input_int is not None:
        raise FlowError("--input-bits/--input-int go with --model (or model.input_bits/input_int with model.path)")
    else:
        cfg = config.load(args.config, args.set, args.part)
    out = Path(args.out)
    target = outdir.check_target(out, force=args.force)  # at once; flow.run checks it again before writing

    if args.check:
        from . import flow  # loads TensorFlow and hls4ml (seconds): only once the whole config and --out are checked

        qmodel = flow.check_models(cfg)
        print(f"ok: {cfg.model.name} ({qmodel.count_params():,} params) for {cfg.hls.part_info.name}; "
              f"would write {target}/")
        return 0
    # one build per --out: checked and locked before TensorFlow loads, so a second build of the same --out
    # is refused at once, naming this one (flow.run holds the same lock again, until the publish)
    with outdir.claim(out, force=args.force):
        from . import flow  # loads TensorFlow and hls4ml (seconds): imported when a command needs it

        m = flow.build(cfg, out, force=args.force)
    print(f"built {m['keras_name']} ({m['params']:,} params) for {cfg.hls.part_info.name} in {out}/ "
          f"[{', '.join(f'{k} {v}s' for k, v in m['timings_s'].items())}]")
    for note in m.get("rewrites", []):
        print(f"  rewritten: {note}")
    print(f"  hls4ml project: {out / project.PROJECT}/  (synthesize with build_prj.tcl)")
    return 0


def cmd_verify(args) -> int:
    from .data import images
    from .verify import csim

    m = project.load_manifest(args.dir)
    if args.dataflow:
        return _verify_dataflow(args, m)
    if args.depth:
        raise FlowError("--depth works with --dataflow only (plain C-simulation has unbounded streams)")
    if args.jobs < 1:
        raise FlowError(f"--jobs {args.jobs} is invalid; use a positive number")
    if args.seed < 0:
        raise FlowError(f"--seed {args.seed} is invalid; use a non-negative integer")
    imgs, labels = images.load_labelled(args.source, args.images, m["input_shape"], seed=args.seed)
    res = csim.verify(args.dir, imgs, jobs=args.jobs, source=args.source, labels=labels, scheduler=args.scheduler,
                      project=args.project)
    if args.json:
        return res
    print(f"{res['model']}: {res['n_images']} images from {args.source}, {res['n_values']} output values")
    print(f"  exact_fraction {res['exact_fraction']:.6f}  ({res['n_mismatched_values']} mismatched, "
          f"{res['images_exact']}/{res['n_images']} images identical)")
    print(f"  top-1 agreement: C-sim vs QKeras {res['top1_agreement_qkeras']:.3f}, "
          f"vs float twin {res.get('top1_agreement_float', float('nan')):.3f}")
    print(f"  C-sim {res['csim_seconds_per_image']} s/image, QKeras {res['qkeras_seconds_per_image']} s/image")
    if res.get("workers"):
        print(f"  Dask: {res['workers']} workers ({res['scheduler']}), {res['images_per_second']} images/s, "
              f"{res['tasks']} tasks of {res['batch']} images, project {res['project']}")
    if "csim_top1" in res:
        print(f"  top-1 accuracy on these images: QKeras {res['qkeras_top1']:.4f}, C-sim {res['csim_top1']:.4f}")
    if res["first_divergent_layer"]:
        print(f"  FIRST DIVERGENT LAYER: {res['first_divergent_layer']}")
    if res["degenerate"]:
        print(f"  NOT VERIFIED: {res['degenerate_reason']}")
    return 0 if res["passed"] else 1


def _depth_overrides(args_depth, build_dir) -> dict[str, int]:
    from .verify import dataflow

    names = dataflow.stream_names(build_dir)  # C++ var -> plan stream name
    by_plan = {v: k for k, v in names.items()}
    planned = dataflow.planned_depths(build_dir)
    out = {}
    for item in args_depth:
        key, _, val = item.partition("=")
        key = key.strip()
        if not val.strip().isdigit() or int(val) < 1:
            raise FlowError(f"--depth {item!r}: use STREAM=N with N >= 1, e.g. --depth layer15_out=2")
        var = key if key in planned else by_plan.get(key)
        if var is None:
            raise FlowError(f"--depth {item!r}: no stream {key!r} in this project; streams: "
                            f"{', '.join(sorted(planned)[:6])}, ... (fpga-flow audit lists them)")
        out[var] = int(val)
    return out


def _verify_dataflow(args, m):
    from .data import images
    from .verify import dataflow

    if args.scheduler:
        raise FlowError("--dataflow runs on this machine; drop --scheduler")
    overrides = _depth_overrides(args.depth, args.dir)
    imgs, _ = images.load_labelled(args.source, args.images, m["input_shape"], seed=args.seed)
    res = dataflow.run_dataflow(args.dir, imgs, overrides)
    res = dict(res, source=args.source, model=m["model"])
    if args.json:
        return res
    print(f"{m['model']}: dataflow C-simulation of {res['n_images']} images from {args.source}, "
          f"{res['processes']} processes, {len(res['depths'])} bounded FIFOs"
          + (f", overrides {res['overrides']}" if res["overrides"] else ""))
    if res["deadlock"]:
        print(f"  DEADLOCK: full FIFOs on the wait-for cycle: {', '.join(res['blocked']) or '?'}")
        for w in res["waits"][:12]:
            print(f"    {w['process']} waits to {w['op']} {w['stream']}")
    else:
        print(f"  no deadlock; exact_fraction {res['exact_fraction']} over {res['n_values']} values")
        deep = sorted(res["max_occupancy"].items(), key=lambda kv: -kv[1])[:5]
        print("  fullest FIFOs (items / depth): " + ", ".join(f"{k} {v}/{res['depths'].get(k, '?')}" for k, v in deep))
    print(f"  compile {res['compile_seconds']} s, run {res['run_seconds']} s")
    return 0 if res["passed"] else 1


def cmd_fifo_search(args):
    from .data import images
    from .verify import dataflow

    m = project.load_manifest(args.dir)
    if args.images < 1:
        raise FlowError(f"--images {args.images} is invalid; use a positive number")
    imgs = images.load("random", args.images, m["input_shape"])
    streams = list(dataflow.planned_depths(args.dir)) if args.all else None
    res = dataflow.minimal_depths(args.dir, imgs, streams)
    if args.json:
        return dict(res, passed=not res.get("planned_deadlock", False))
    if res.get("planned_deadlock"):
        print(f"the planned depths deadlock: {', '.join(res['blocked'])}")
        return 1
    print(f"{'stream':24s} {'plan name':36s} {'analytic':>8s} {'minimal':>8s} {'bits':>8s}")
    for var, r in res["streams"].items():
        print(f"{var:24s} {str(r['name'])[:36]:36s} {r['planned']:8d} {r['minimal']:8d} {r['word_bits']:8d}")
    print(f"searched streams: analytic {res['planned_bits']:,} bits, minimal {res['minimal_bits']:,} bits "
          f"(all FIFOs at analytic depths: {res['total_planned_bits']:,} bits); {res['runs']} runs, {res['seconds']} s")
    return 0


def cmd_report(args) -> int:
    project.load_manifest(args.dir)  # a missing or corrupt build directory is refused before TensorFlow loads
    from .report.measured import read_measured

    for f, flag, df in ((args.verify_json, "--verify-json", False), (args.dataflow_json, "--dataflow-json", True)):
        if f is not None and not Path(f).is_file():
            raise FlowError(f"{flag} {f}: file not found; pass the file 'fpga-flow verify ... --json' wrote")
        read_measured(f, flag, dataflow=df)  # a wrong file is refused before TensorFlow loads
    out = Path(args.out) if args.out else Path(args.dir) / "report"
    if args.format == "html":  # the folder is refused at once if it is not ours
        outdir.check_target(out, force=True, owned=outdir.is_report_dir, what="report")
    from .report import design  # loads TensorFlow and hls4ml (seconds): imported when a command needs it

    if args.format == "html":
        # writing into the build directory: its lock too
        inside = Path(args.dir).is_dir() and Path(args.dir).resolve() in out.resolve().parents
        with outdir.lock(args.dir) if inside else contextlib.nullcontext():
            d = design.collect(args.dir, verify_json=args.verify_json, dataflow_json=args.dataflow_json)
            path = design.to_html(d, out)
        print(f"wrote {path} (self-contained; the plots also as {', '.join(p + '.png' for p in design.PLOTS)})")
    else:
        d = design.collect(args.dir)
        print(design.to_json(d) if args.format == "json" else design.to_markdown(d))
    return 0


def cmd_audit(args):
    from .verify import audit

    project.load_manifest(args.dir)
    r = audit.audit(args.dir)
    if args.json:
        return dict(r, passed=r["ok"])
    print(audit.to_text(r))
    return 0 if r["ok"] else 1


def cmd_synth(args) -> int:
    from .report import vendor

    m = project.load_manifest(args.dir)
    rep = vendor.synthesize(Path(args.dir) / project.PROJECT, m["config"]["hls"]["backend"])
    print(json.dumps(rep, indent=1))
    print(f"C synthesis done; 'fpga-flow report {args.dir}' shows it beside the estimate", file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    from . import config

    cfg = config.load(args.config, args.set)
    if cfg.train is None:
        raise FlowError(f"{args.config} has no train section; use a training config such as "
                        "hls_configs/fmnist_squeezenet1_1.yml")
    if args.data_dir:
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"data_dir": args.data_dir})})
    from .train import train  # TensorFlow loads inside, once training starts

    train(cfg, stage=args.stage, variants=args.variant, resume=args.resume, command=" ".join(["fpga-flow", *sys.argv[1:]]))
    return 0


def cmd_accuracy(args) -> int:
    from . import accuracy, config  # TensorFlow and hls4ml load inside accuracy.measure, after the checks below

    if args.jobs < 1 or (args.csim_images is not None and args.csim_images < 1):
        raise FlowError("--jobs and --csim-images must be positive numbers")
    out = Path(args.out)
    cfgs = [config.load(c) for c in args.configs]
    accuracy.check_out(out)
    outdir.probe_writable(out)
    for c, path in zip(cfgs, args.configs):
        if c.train is None:
            raise FlowError(f"{path} has no train section; pass training configs such as hls_configs/fmnist_squeezenet1_1.yml")
    unknown = [v for v in args.variant or [] if all(v not in c.train.variants for c in cfgs)]
    if unknown:
        raise FlowError(f"--variant {unknown[0]} is in none of the configs; they define "
                        f"{sorted({v for c in cfgs for v in c.train.variants})}")
    with outdir.lock(out):  # one accuracy run per --out: its rows are read, merged and written back
        return _accuracy(args, out, cfgs, accuracy)


def _accuracy(args, out: Path, cfgs: list, accuracy) -> int:
    from . import config

    rows_path = out / "accuracy.json"
    failed = []
    for cfg in cfgs:
        variants = args.variant or [v for v in cfg.train.variants if config.weights_path(cfg, v).is_file()]
        if not variants:
            print(f"fpga-flow: note: no trained weights for {config.tag_of(cfg)} "
                  f"in {cfg.train.out}; skipped (run 'fpga-flow train' on its config)", file=sys.stderr)
        for v in variants:
            if v not in cfg.train.variants:
                continue
            row = accuracy.measure(cfg, v, Path(args.build_dir), n_csim=args.csim_images, jobs=args.jobs,
                                   data_dir=args.data_dir, scheduler=args.scheduler, project=args.project)
            if not row["passed"]:
                failed.append(f"{row['model']} {row['variant']}")
            rows = accuracy.merge(rows_path, [row])
            outdir.write_atomic(rows_path, json.dumps(rows, indent=1) + "\n")
            outdir.write_atomic(out / "accuracy.md", accuracy.to_markdown(rows))
    print(f"wrote {rows_path} and {out / 'accuracy.md'}")
    if failed:
        print(f"fpga-flow: C-sim not verified exact for {', '.join(failed)} (see exact_fraction/degenerate in "
              f"{rows_path})", file=sys.stderr)
    return 1 if failed else 0


def cmd_demo(args) -> int:
    """Walk flow.STEPS: the build steps, then verify and report on the built directory."""
    from . import config

    if args.images < 1 or args.jobs < 1:
        raise FlowError("--images and --jobs must be positive numbers")
    cfg = config.load(args.config)
    # one run per --out, held through build, verify and report (they all write into it); before TensorFlow loads
    with outdir.claim(args.out, force=args.force):
        return _demo(args, cfg)


def _demo(args, cfg) -> int:
    out = Path(args.out)
    outdir.check_target(out, force=args.force)  # at once; flow.run checks it again before writing
    from . import flow  # loads TensorFlow and hls4ml (seconds): only once the config and --out are checked

    b = flow.Build(cfg, out, force=args.force)  # flow.run checks --out before any work or output
    print(f"[1/3] build {args.config} -> {out}/ (steps {', '.join(flow.STEP_NAMES[:flow.STEP_NAMES.index('publish') + 1])})",
          flush=True)
    flow.run(b, until="publish")
    m = b.manifest
    print(f"      {m['keras_name']}: {m['params']:,} params; {m['timings_s']}", flush=True)
    shape = m["input_shape"]
    source = args.source or ("fmnist-sample" if list(shape) == [32, 32, 1] else "photos")
    what = {"fmnist-sample": "shipped Fashion-MNIST test images", "photos": "scikit-image photos"}.get(source, source)
    print(f"[2/3] verify on {args.images} {what} (C-sim vs QKeras, integer codes; {args.jobs} processes)", flush=True)
    from .data import images

    b.images, b.labels = images.load_labelled(source, args.images, shape)
    b.verify_options = {"source": source, "jobs": args.jobs, "scheduler": args.scheduler, "project": args.project}
    flow.run(b, steps=("verify",))
    res = b.verify_result
    print(f"      exact_fraction {res['exact_fraction']} over {res['n_values']} values of {res['n_images']} images; "
          f"C-sim {res['csim_seconds_per_image']} s/image", flush=True)
    if res["degenerate"]:
        print(f"      NOT VERIFIED: {res['degenerate_reason']}", flush=True)
    if b.labels is not None:
        print(f"      top-1 on these images: QKeras {res['qkeras_top1']:.4f}, C-sim {res['csim_top1']:.4f}", flush=True)
    print("[3/3] report", flush=True)
    flow.run(b, steps=("report",))
    d = b.report
    mem = d["memory"]
    print(f"      {d['params']:,} params, {d['weight_megabytes']} MB of weights; estimate on {d['part']}: "
          f"BRAM18K {mem['hls_bram18k']}/{mem['bram18k_available']} (HLS C-synthesis count; post-implementation "
          f"guess {mem['bram18k']}), URAM {mem['uram']}/{mem['uram_available']}, "
          f"DSP {mem['dsp']}/{mem['dsp_available']}, fits={mem['fits']}, {mem['fps']} frames/s")
    print(f"outputs in {out.resolve()}/: {project.PROJECT}/ (HLS project), verify.json, report.md, report.json, "
          "report/report.html (+ PNG plots)")
    return 0 if res["passed"] else 1


def cmd_estimate(args):
    from .hls import stock_estimate

    for f, what in ((args.model, "model"), (args.hls4ml_config, "--hls4ml-config")):
        if not Path(f).is_file():
            raise FlowError(f"{what} {f}: file not found")
    try:
        cfg = stock_estimate.read_hls4ml_yml(args.hls4ml_config)
    except Exception as e:
        raise FlowError(f"--hls4ml-config {args.hls4ml_config}: not a readable YAML mapping ({type(e).__name__})") from None
    st = stock_estimate.settings(cfg, args.part)  # backend, part, clock, IOType: one-line errors before TF loads
    try:
        model = stock_estimate._load_keras(args.model)
    except Exception as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise FlowError(f"{args.model}: cannot be loaded as a Keras/QKeras model ({type(e).__name__}: {first})") from None
    res = stock_estimate.estimate_stock(args.model, args.hls4ml_config, part=args.part, model=model)
    res["estimate"] = ("ESTIMATE of the HLS C-synthesis report: BRAM18K by fpga_flow/resources/hls_count.py, DSP by "
                       "fpga_flow/resources/hls_dsp.py, rules read off the csynth reports of public hls4ml projects "
                       "(tests/test_calibration.py); no vendor tool ran")
    if args.json:
        return res
    prof = res["profile"]
    print(f"backend {res['backend']} -> {'Vivado HLS ' + res['tool_version'] if res['tool'] == 'vivado' else 'Vitis HLS'}"
          f" ({'one FIFO per channel' if res['tool'] == 'vivado' else 'one packed FIFO per stream'}); part "
          f"{res['part']} ({res['part_source']}; device {res['device']}, family {res['family'] or 'unknown'}, FIFO rule "
          f"{prof['fifo_rule']}); {res['io_type']}, clock {res['clock_period_ns']} ns")
    for n in res["notes"]:
        print(f"note: {n}")
    print(f"{'memory':40s} {'kind':8s} {'count':>5s} {'depth':>7s} {'width':>7s} {'BRAM18K':>8s}")
    for r in res["memories"]:
        print(f"{r['name'][:40]:40s} {r['kind']:8s} {r['count']:5d} {r['depth']:7d} {r['width']:7d} {r['hls_bram18k']:8d}")
    print(f"{'layer':40s} {'class':18s} {'DSP':>6s}  how")
    for x in res["layers"]:
        if x["dsp"] or x["dsp_rule"]:
            print(f"{x['name'][:40]:40s} {x['class'][:18]:18s} {x['dsp']:6d}  {x['dsp_rule']}")
    print(f"total (estimate): HLS BRAM18K {res['hls_bram18k']} of {res['bram18k_available']} (FIFOs "
          f"{res['fifo_hls_bram18k']} in {res['fifos']} FIFOs, ROMs/tables {res['rom_hls_bram18k']}); DSP {res['dsp']} of "
          f"{res['dsp_available']} on {res['part']}; fits: {'yes' if res['fits'] else 'no'}")
    if res.get("cycles_per_frame"):
        print(f"cycles (estimate, resources/cycles.py on the kernels the written project calls): "
              f"{res['cycles_per_frame']:,} per frame ({res['fps']} frames/s at {res['clock_period_ns']} ns, slowest "
              f"layer {res['slowest_layer']}), latency {res['latency_cycles']:,}")
    return 0


def cmd_parts(args):
    rows = parts.listing(args.filter)
    if not rows:
        raise FlowError(f"no device matches {args.filter!r} (nearest: {', '.join(parts.nearest(args.filter))}); "
                        "run 'fpga-flow parts' without a filter to list all")
    if args.json:
        return {"count": len(rows), "devices": rows,
                "note": "resources per device from the vendor data sheet named in 'datasheet'; 'checked_against' "
                        "names the calibration csynth report whose Available row equals them"}
    print(f"{'device':11s} {'family':15s} {'BRAM18K':>7s} {'URAM':>5s} {'DSP':>6s} {'LUT':>9s} {'FF':>9s}  "
          f"{'default part':27s} {'data sheet':6s} boards / checked")
    for r in rows:
        extra = ", ".join(r["boards"])
        if r["checked_against"]:
            extra += ("; " if extra else "") + "checked: " + r["checked_against"]
        print(f"{r['device']:11s} {r['family']:15s} {r['bram18k']:7d} {r['uram']:5d} {r['dsp']:6d} {r['lut']:9d} "
              f"{r['ff']:9d}  {r['default_part']:27s} {r['datasheet']:6s} {extra}")
    print(f"{len(rows)} device(s); any package/speed/temperature grade of a listed device resolves (e.g. "
          "xczu7ev-fbvb900-1-i); BRAM18K counts each 36 Kb block as two")
    return 0


def cmd_sweep(args) -> int:
    from . import sweep  # TensorFlow and hls4ml load inside sweep.run_point, after the configs are checked

    if args.verify < 0:
        raise FlowError(f"--verify {args.verify} is invalid; use 0 (build only) or a number of images")
    rows = sweep.sweep(args.config, args.grid, args.out, n_verify=args.verify, scheduler=args.scheduler,
                       force=args.force, log=progress.write)
    ok = sum(r["status"] == "ok" for r in rows)
    print(f"{ok} of {len(rows)} points ok; wrote {Path(args.out).resolve()}/sweep.html, sweep.json, sweep.md, sweep.png "
          "and points/NN/report.json")
    return 0


def cmd_clean(args) -> int:
    done = outdir.clean(args.dir, dry_run=args.dry_run)
    if not done:
        print(f"nothing left by fpga-flow runs in or beside {Path(args.dir).resolve()}")
        return 0
    for lf, action in done:
        size = "" if not lf.size else f", {lf.size / 1e6:.1f} MB" if lf.size >= 1e5 else f", {lf.size:,} bytes"
        print(f"{action:12s} {lf.path}  ({lf.kind}{size}; {lf.why()})")
    n = sum(a == "removed" for _, a in done)
    w = sum(a == "would remove" for _, a in done)
    print(f"{n} removed, {w} would be removed, {len(done) - n - w} kept" if args.dry_run
          else f"{n} removed, {len(done) - n} kept")
    return 0


COMMANDS = {"models": cmd_models, "config": cmd_config, "build": cmd_build, "audit": cmd_audit, "fifo-search": cmd_fifo_search, "verify": cmd_verify, "report": cmd_report, "synth": cmd_synth,
            "train": cmd_train, "accuracy": cmd_accuracy, "demo": cmd_demo, "estimate": cmd_estimate, "parts": cmd_parts,
            "sweep": cmd_sweep, "clean": cmd_clean}
READERS = ("verify", "audit", "report", "fifo-search")  # read a build directory another run may replace


def _on_sigterm(signum, frame):
    raise Terminated()


def _replaced(args, ident) -> FlowError | None:
    """The error to give when the build directory a reading command started on was replaced (a
    rebuild with --force published meanwhile): its result may mix the two builds."""
    if ident is None or outdir.identity(args.dir) == ident:
        return None
    return FlowError(f"{args.dir} was replaced by another fpga-flow run while '{args.cmd}' read it; nothing is "
                     f"reported from the mix of the two: run '{args.cmd}' again")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    _quiet()
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # terminated like interrupted: cleaned up first
        signal.signal(signal.SIGTERM, _on_sigterm)
    want_json = getattr(args, "json", False)
    if want_json:
        progress.disable()  # stdout and stderr may be the same terminal: --json prints one JSON object, no bars
    ident = outdir.identity(args.dir) if args.cmd in READERS else None
    held = io.StringIO() if ident is not None and not want_json else None  # printed once known unmixed
    try:
        if getattr(args, "scheduler", None):
            from .verify.distributed import parse_scheduler

            parse_scheduler(args.scheduler)
        # keep stdout for results: hls4ml and TensorFlow chatter goes to stderr
        with contextlib.redirect_stdout(sys.stderr if want_json else held) if want_json or held is not None \
                else contextlib.nullcontext():
            rc = COMMANDS[args.cmd](args)
        replaced = _replaced(args, ident)
        if replaced:
            raise replaced
        if held is not None:
            sys.stdout.write(held.getvalue())
        if want_json:
            print(json.dumps(rc))
            return 0 if rc.get("passed", True) else 1
        return rc
    except FlowError as e:
        # a reader on a directory not built (yet) that another run is writing: say so rather than "not built"
        unbuilt = args.cmd in READERS and not outdir.is_build_dir(Path(args.dir))
        e = _replaced(args, ident) or (outdir.busy(args.dir) if unbuilt else None) or e
        print(f"fpga-flow: error: {e}", file=sys.stderr)
        return e.exit_code
    except Terminated:
        print("fpga-flow: terminated", file=sys.stderr)
        return 143
    except FitError as e:  # the flow ran; the answer is "does not fit", with the numbers
        print(f"fpga-flow: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("fpga-flow: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        replaced = _replaced(args, ident)
        if replaced:  # e.g. the C-sim library vanished with the old build
            print(f"fpga-flow: error: {replaced}", file=sys.stderr)
            return 2
        if getattr(e, "exit_code", None) == 1:  # e.g. StorageAuditFailed: the answer is "no", with the reasons
            print(f"fpga-flow: {e}", file=sys.stderr)
            return 1
        # a flow bug or a C-sim crash: one line unless debugging
        if os.environ.get("FPGA_FLOW_DEBUG"):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"fpga-flow: failed: {type(e).__name__}: {first} (set FPGA_FLOW_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
