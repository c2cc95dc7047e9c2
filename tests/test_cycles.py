"""The cycle model (fpga_flow/resources/cycles.py) on the designs the flow writes, and against every
modelled process of the real csynth reports in shared/calibration (docs/throughput.md).

The unit tests at the top need no report: they run on a verbatim report excerpt kept here, on the
design a real build describes (session fixture ``build_dir``) and on the records the flow described
for a ShuffleNet (tests/data/cycles/, re-derived by a slow test). The calibration tests read the
reports at test time (they skip when shared/calibration is absent, as tests/test_calibration.py)."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from fpga_flow.resources import csynth_perf as cp
from fpga_flow.resources import cycles as cy

ROOT = Path(__file__).resolve().parents[1]
CAL = ROOT.parent / "shared" / "calibration"
needs_cal = pytest.mark.skipif(not CAL.is_dir(), reason=f"calibration reports not found at {CAL}")
SHUFFLENET_NODES = ROOT / "tests" / "data" / "cycles" / "shufflenet_v1_g3_w0.5_32_nodes.json"
SN_CFG = dict(name="shufflenet_v1", size=32, groups=3, width=0.5)

# tsopeter_best_model_hls4ml110_vitis2024.2, conv_2d_cl_..._config6_s_csynth.rpt, lines 1-52, verbatim
TSOPETER_CONV6 = """
================================================================
== Vitis HLS Report for 'conv_2d_cl_array_ap_ufixed_2u_array_ap_fixed_19_9_5_3_0_4u_config6_s'
================================================================
* Date:           Sun May  4 16:56:32 2025

* Version:        2024.2 (Build 5238294 on Nov  8 2024)
* Project:        myproject_prj
* Solution:       solution1 (Vivado IP Flow Target)
* Product family: artix7
* Target device:  xc7a35t-cpg236-1


================================================================
== Performance Estimates
================================================================
+ Timing: 
    * Summary: 
    +--------+----------+-----------+------------+
    |  Clock |  Target  | Estimated | Uncertainty|
    +--------+----------+-----------+------------+
    |ap_clk  |  30.00 ns|  15.647 ns|     8.10 ns|
    +--------+----------+-----------+------------+

+ Latency: 
    * Summary: 
    +---------+---------+----------+----------+------+-------+---------+
    |  Latency (cycles) |  Latency (absolute) |   Interval   | Pipeline|
    |   min   |   max   |    min   |    max   |  min |  max  |   Type  |
    +---------+---------+----------+----------+------+-------+---------+
    |     3601|    49501|  0.108 ms|  1.485 ms|  3601|  49501|       no|
    +---------+---------+----------+----------+------+-------+---------+

    + Detail: 
        * Instance: 
        +----------------------------------------------------------------------------------+-----------------------------------------------------------------------+---------+---------+-----------+----------+-----+-----+---------+
        |                                                                                  |                                                                       |  Latency (cycles) |  Latency (absolute)  |  Interval | Pipeline|
        |                                     Instance                                     |                                 Module                                |   min   |   max   |    min    |    max   | min | max |   Type  |
        +----------------------------------------------------------------------------------+-----------------------------------------------------------------------+---------+---------+-----------+----------+-----+-----+---------+
        |grp_compute_output_buffer_2d_array_array_ap_fixed_19_9_5_3_0_4u_config6_s_fu_176  |compute_output_buffer_2d_array_array_ap_fixed_19_9_5_3_0_4u_config6_s  |        2|       53|  60.000 ns|  1.590 us|    2|   53|       no|
        +----------------------------------------------------------------------------------+-----------------------------------------------------------------------+---------+---------+-----------+----------+-----+-----+---------+

        * Loop: 
        +----------------------------------+---------+---------+----------+-----------+-----------+------+----------+
        |                                  |  Latency (cycles) | Iteration|  Initiation Interval  | Trip |          |
        |             Loop Name            |   min   |   max   |  Latency |  achieved |   target  | Count| Pipelined|
        +----------------------------------+---------+---------+----------+-----------+-----------+------+----------+
        |- ReadInputHeight_ReadInputWidth  |     3600|    49500|    4 ~ 55|          -|          -|   900|        no|
        +----------------------------------+---------+---------+----------+-----------+-----------+------+----------+
"""


def _squeezenet_nodes(build_dir, conv_kernel="hls4ml"):
    """The 32x32 SqueezeNet the flow writes, with hls4ml's conv kernel (the calibrated one) or
    fpga_flow's sliding window + MVU (conv_kernel='stream', the default build)."""
    return json.loads((build_dir(name="squeezenet1_1", size=32, conv_kernel=conv_kernel) / "flow.json").read_text())["design"]


def _nodes(build_dir, design):
    if design == "shufflenet":
        return _shufflenet_nodes()
    return _squeezenet_nodes(build_dir, "stream" if design == "squeezenet-stream" else "hls4ml")


def _shufflenet_nodes():
    return json.loads(SHUFFLENET_NODES.read_text())


# ----------------------------------------------------------------------------------- no report needed

def test_read_perf_parses_a_verbatim_report_excerpt(tmp_path):
    p = tmp_path / "conv_csynth.rpt"
    p.write_text(TSOPETER_CONV6)
    perf = cp.read_perf(p)
    assert perf.module == "conv_2d_cl_array_ap_ufixed_2u_array_ap_fixed_19_9_5_3_0_4u_config6_s"
    assert perf.version == "2024.2" and perf.clock_ns == 30.0
    assert (perf.latency, perf.interval, perf.pipeline) == ((3601, 49501), (3601, 49501), "no")
    (inst,) = perf.instances
    assert inst.module.startswith("compute_output_buffer_2d") and inst.latency == (2, 53)
    (loop,) = perf.loops
    assert (loop.name, loop.latency, loop.iteration, loop.ii, loop.trip, loop.pipelined) == \
        ("ReadInputHeight_ReadInputWidth", (3600, 49500), (4, 55), None, (900, 900), False)
    assert cp.module_function(perf.module) == "conv_2d_cl" and cp.module_config(perf.module) == "config6"
    # the per-branch count: 13x13 outputs take the long branch, the other 731 pixels the short one
    assert cp.branch_count(perf, inst, 169) == (169 * 55 + 731 * 4 + 1, "ReadInputHeight_ReadInputWidth: "
                                                                         "169 x 55 + 731 x 4 + 1")


@pytest.mark.parametrize("design", ["squeezenet", "squeezenet-stream", "shufflenet"])
def test_every_node_the_flow_writes_has_a_model(build_dir, design):
    nodes = _nodes(build_dir, design)
    net = cy.network_cycles(nodes)
    for rec in nodes:
        c = net["per_layer"][rec["name"]]
        assert cy.model_name(rec) != "generic", (rec["name"], rec["kind"])
        if c["model"] != "source":
            assert c["latency"] >= 1 and c["interval"] >= 1 and 0 < c["first_out"] <= c["latency"], (rec["name"], c)
    kinds = {r["kind"] for r in nodes}
    want = {"squeezenet": {"Conv2D", "HStreamMaxPool2D", "HExactGlobalAvgPool2D", "ZeroPadding2D", "Clone"},
            "squeezenet-stream": {"HStreamConv", "HSlidingWindow2D", "HStreamMaxPool2D", "ZeroPadding2D", "Clone"},
            "shufflenet": {"HStreamConv", "HSlidingWindow2D", "HChannelShuffle", "HExactAvgPool2D", "Merge"}}
    assert want[design] <= kinds


@pytest.mark.parametrize("design", ["squeezenet"])  # the flow's ShuffleNet has no hls4ml conv left
def test_window_condition_writes_the_outputs_keras_computed(build_dir, design):
    """The model's long-branch pixels are those where hls4ml's compute_output_buffer_2d counters close a
    window; over a frame they must be exactly the output pixels hls4ml/Keras gave the layer (strided
    3x3, padded via ZeroPadding2D, 1x1)."""
    nodes = _nodes(build_dir, design)
    checked = 0
    for rec in nodes:
        if cy.model_name(rec) != "conv_line_buffer":
            continue
        g = rec["geometry"]
        closes = cy._closing(g["in_height"], g["in_width"], g["filt_height"], g["filt_width"],
                             g["stride_height"], g["stride_width"], g["in_height"] * g["in_width"])
        assert sum(closes) == rec["outputs"][0]["pixels"] == g["out_height"] * g["out_width"], rec["name"]
        c = cy.layer_cycles(rec)
        if c["model"] == "conv_line_buffer_resource":  # short + long iterations = one per input pixel
            d = c["detail"]
            assert c["latency"] == (d["in_pixels"] - d["out_pixels"]) * d["short"] + d["out_pixels"] * d["long"] + 1
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("design", ["squeezenet", "squeezenet-stream", "shufflenet"])
def test_network_timing(build_dir, design):
    nodes = _nodes(build_dir, design)
    net = cy.network_cycles(nodes)
    per = net["per_layer"]
    procs = {n: c for n, c in per.items() if c["model"] not in ("source", "alias")}
    assert net["cycles_per_frame"] == max(c["interval"] for c in procs.values()) == procs[net["slowest_layer"]]["interval"]
    # a frame cannot take longer than every process one after another, nor less than the slowest one
    assert net["cycles_per_frame"] <= net["latency_cycles"] <= sum(c["latency"] for c in procs.values())
    by_var = {k: r["name"] for r in nodes for o in r["outputs"] for k in (o["name"], o["var"])}
    for rec in nodes:
        for i in rec["inputs"]:
            p = by_var.get(i)
            if p is not None:  # a consumer starts after its producer's first output and ends after it ends
                assert per[rec["name"]]["start"] >= per[p]["start"] + per[p]["first_out"]
                assert per[rec["name"]]["end"] > per[p]["end"]


def test_reuse_factor_overrides(build_dir):
    nodes = _squeezenet_nodes(build_dir)
    net = cy.network_cycles(nodes)
    slow = next(r for r in nodes if r["name"] == net["slowest_layer"])
    rf = slow["reuse_factor"]
    doubled = cy.network_cycles(nodes, {slow["name"]: 2 * rf})
    assert doubled["per_layer"][slow["name"]]["latency"] == cy.layer_cycles(dict(slow, reuse_factor=2 * rf))["latency"] \
        == cy.layer_cycles(slow, 2 * rf)["latency"]
    assert doubled["cycles_per_frame"] > net["cycles_per_frame"] and doubled["latency_cycles"] > net["latency_cycles"]
    assert all(doubled["per_layer"][n]["latency"] == c["latency"] for n, c in net["per_layer"].items()
               if n != slow["name"])


def test_latency_strategy_is_pipelined_and_never_faster_than_its_dependence(build_dir):
    """A Latency-strategy conv pipelines the pixel loop: one pixel per II cycles, II >= the reuse factor
    and >= the carried-dependence II; Resource at RF 1 is scheduled the same way."""
    rec = next(r for r in _squeezenet_nodes(build_dir) if r["kind"] == "Conv2D" and r["geometry"]["filt_height"] == 3)
    px = rec["geometry"]["in_height"] * rec["geometry"]["in_width"]
    for strategy, rf in (("latency", 1), ("latency", 4), ("resource", 1)):
        c = cy.layer_cycles(dict(rec, strategy=strategy, reuse_factor=rf))
        d = c["detail"]
        assert c["model"] == "conv_line_buffer_pipelined" and d["ii"] == max(rf, d["ii_dependence"]) >= 2
        assert (px - 1) * d["ii"] < c["latency"] < px * d["ii"] + 10
    res = cy.layer_cycles(dict(rec, strategy="resource", reuse_factor=4))
    assert res["model"] == "conv_line_buffer_resource" and not res["detail"]["pipelined"]


# ----------------------------------------------------------------------------------- against the reports

def _rows():
    return cp.calibration_rows(CAL) if CAL.is_dir() else []


def _row_param(r):
    marks = [pytest.mark.xfail(strict=True, reason=r.deviation)] if r.deviation else []
    name = f"{r.case.split('_')[0]}-{r.config or r.layer}-{r.kind}"
    return pytest.param(r, id=name, marks=marks)


ROWS = _rows()


@needs_cal
def test_every_process_of_the_reports_is_compared():
    """Each dataflow process of each case that ships its project (parameters.h) has a row: nothing is
    silently left out; the kinds the flow writes are among them."""
    for d in sorted(p for p in CAL.iterdir() if p.is_dir()):
        perf, proj = cp.load_case_perf(d), cp.read_project(d)
        if perf is None or proj is None:
            continue
        n = sum(1 for r in ROWS if r.case == d.name)
        assert n == len(perf.top.instances) > 0, d.name
    kinds = {r.kind for r in ROWS}
    assert {"Conv2D", "Conv1D", "DepthwiseConv2D", "Dense", "Pooling2D", "ZeroPadding2D", "ZeroPadding1D",
            "Activation", "Softmax", "GlobalPooling1D", "Concatenate"} <= kinds
    assert len(ROWS) >= 100


@needs_cal
@pytest.mark.parametrize("row", [_row_param(r) for r in ROWS])
def test_process_estimate_against_csynth(row):
    """Within 10% (or 2 cycles) of the per-branch count formed from the process's own loop table, and
    inside csynth's [min, max] when the latency is data-dependent."""
    assert row.agrees, (f"{row.case} {row.layer} ({row.config}, {row.kind}): csynth {row.csynth}, per-branch "
                        f"{row.branch} ({row.how}), estimate {row.estimate} ({row.error:+.1%})")


@needs_cal
def test_line_buffer_conv_branches_are_the_modelled_ones():
    """Every Resource line-buffer conv of the reports: its pixel loop runs once per input pixel (trip
    count = in_height*in_width of its project), is not pipelined, and prints '4 ~ RF+5' (dune config3:
    RF+6): the constants CONV_RES_SHORT and CONV_RES_LONG_OVER_RF, row by row."""
    seen = 0
    for d in sorted(p for p in CAL.iterdir() if p.is_dir()):
        perf, proj = cp.load_case_perf(d), cp.read_project(d)
        if perf is None or proj is None:
            continue
        for r in proj.records:
            if r["kind"] not in ("Conv2D", "Conv1D") or r.get("strategy") != "resource" or r["reuse_factor"] <= 1:
                continue
            mod = next(m for name, m in perf.modules.items() if cp.module_function(name) == r["function"]
                       and cp.module_config(name) == r["config"])
            (loop,) = mod.loops
            g = r["geometry"]
            assert loop.trip == (g["in_height"] * g["in_width"],) * 2 and not loop.pipelined, (d.name, r["config"])
            short, long_ = loop.iteration
            assert short == cy.CONV_RES_SHORT, (d.name, r["config"])
            assert long_ - r["reuse_factor"] in (cy.CONV_RES_LONG_OVER_RF, cy.CONV_RES_LONG_OVER_RF + 1), (d.name, r["config"])
            assert mod.latency[0] == loop.latency[0] + cy.CONV_RES_MODULE_OVERHEAD
            seen += 1
    assert seen == 11  # tsopeter_best x4, tsopeter_nas x3, dune x4


NETS = cp.network_rows(CAL) if CAL.is_dir() else []


def _net_param(n):
    marks = [pytest.mark.xfail(strict=True, reason=n.deviation)] if n.deviation else []
    return pytest.param(n, id=n.case.split("_")[0] + ("-" + n.case.split("_")[1] if "tsopeter" in n.case else ""),
                        marks=marks)


@needs_cal
@pytest.mark.parametrize("net", [_net_param(n) for n in NETS])
def test_cycles_per_frame_against_top_interval(net):
    """network_cycles' cycles per frame (the slowest process) against the interval of the top report:
    inside its range for a data-dependent design, else within 1% (csynth adds 0..1 to the slowest)."""
    lo, hi = net.csynth_interval
    if net.data_dependent:
        assert lo <= net.cycles_per_frame <= hi
    else:
        assert abs(net.cycles_per_frame - hi) <= max(2, 0.01 * hi), (net.cycles_per_frame, hi)


@needs_cal
@pytest.mark.parametrize("net", [_net_param(n) for n in NETS])
def test_latency_against_top_latency(net):
    """What the comparison shows (docs/throughput.md): with fixed process latencies the model is above
    csynth's top latency, by 1-5% where one process dominates a long chain and up to 35% on the small
    pixel networks (csynth puts the top only 2..24 cycles above its slowest process; the model adds
    the pipeline drains and zero-padding bursts of every process after it). With data-dependent
    processes csynth's top latency is the worst case (tsopeter: 225,244.., conv1 alone 16,385..225,281);
    the per-branch model is far below it and above its own cycles per frame."""
    lo, hi = net.csynth_latency
    if net.data_dependent:
        assert net.cycles_per_frame <= net.latency < lo
    else:
        assert hi <= net.latency <= 1.35 * hi, (net.latency, hi)


@needs_cal
def test_docs_table_is_the_benchmark_output():
    """docs/throughput.md carries the output of benchmarks/cycle_calibration.py (regenerate it there)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cycle_calibration", ROOT / "benchmarks" / "cycle_calibration.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert mod.main([str(CAL)]) == 0
    doc = (ROOT / "docs" / "throughput.md").read_text()
    assert buf.getvalue().strip() in doc, "docs/throughput.md is out of date: python benchmarks/cycle_calibration.py"


# ----------------------------------------------------------------------------------- slow: conversions

@pytest.mark.slow
@needs_cal
@pytest.mark.parametrize("case", ["tsopeter_best_model_hls4ml110_vitis2024.2", "tsopeter_nas_tmp_prj_hls4ml110_vitis2024.2",
                                  "ece226_har_conv1d_hls4ml120_vitis2024.1",
                                  "pixel_cnn_large_alezander9_hls4ml080_vitis2023.1",
                                  "pixel_pruned_cnn_alezander9_hls4ml080_vitis2023.1"])
def test_describe_records_give_the_cycles_of_the_written_project(case, tmp_path):
    """The case's saved model converted by stock hls4ml 1.3.0 with its own hls4ml_config.yml, described by
    fpga_flow.hls.describe (the records the flow uses): the same cycles, layer by layer, as the records
    read off the project the authors synthesized (parameters.h). Table activations (sigmoid) differ:
    describe() does not record which activation a node computes."""
    import hls4ml

    from fpga_flow.hls.describe import describe
    from fpga_flow.hls.stock_estimate import _load_keras, read_hls4ml_yml

    d = CAL / case
    cfg = read_hls4ml_yml(next(d.rglob("hls4ml_config.yml")))
    model = _load_keras((sorted(d.rglob("*.keras")) + sorted(d.rglob("*.h5")))[0])
    hm = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg.get("HLSConfig", {}), io_type=cfg.get("IOType", "io_stream"),
        backend=cfg.get("Backend", "Vitis"), part=cfg.get("Part"), clock_period=cfg.get("ClockPeriod", 5),
        output_dir=str(tmp_path / "prj"))
    ours = cy.network_cycles(describe(hm))
    theirs = cy.network_cycles(cp.read_project(d).records)
    compared = 0
    for name, c in theirs["per_layer"].items():
        if name not in ours["per_layer"] or "sigmoid" in name:
            continue
        assert ours["per_layer"][name]["latency"] == c["latency"], (name, ours["per_layer"][name], c)
        compared += 1
    assert compared >= 5 and ours["cycles_per_frame"] == theirs["cycles_per_frame"]


@pytest.mark.slow
def test_shufflenet_records_are_what_the_flow_describes(tmp_path):
    """tests/data/cycles/ holds the records the flow's plan step described for a small ShuffleNet; the
    fields the cycle model reads are still what the flow produces (reuse factors come from the plan and
    are not compared)."""
    from conftest import small_cfg
    from fpga_flow import flow

    b = flow.Build(small_cfg(**SN_CFG), tmp_path / "out")
    flow.run(b, until="plan")
    keys = ("name", "kind", "inputs", "geometry", "in_shape", "strategy")
    fresh = [{k: r.get(k) for k in keys} | {"out": [o["shape"] for o in r["outputs"]]} for r in b.nodes]
    kept = [{k: r.get(k) for k in keys} | {"out": [o["shape"] for o in r["outputs"]]} for r in _shufflenet_nodes()]
    assert fresh == kept
