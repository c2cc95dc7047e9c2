"""Dataflow C-simulation (verify/dataflow.py): the written firmware with every FIFO bounded to its
planned depth and every layer in its own thread completes, bit-exact with QKeras; a FIFO below its
need is reported as a deadlock naming it; the analytic depths (resources/fifo.py) see the
frame-end bursts of stride-2 'same' layers."""
import pytest

from conftest import small_cfg
from fpga_flow import project
from fpga_flow import flow
from fpga_flow.data import images
from fpga_flow.resources import fifo
from fpga_flow.verify import dataflow

SQ = dict(name="squeezenet1_1", size=32)
SQ_BYPASS = dict(name="squeezenet1_1", size=32, bypass="simple")
SN_SIZE = 64  # stage 2 at 16x16 -> 8x8: the shortcut FIFO of its stride-2 unit needs 4 at C level


@pytest.fixture(scope="module")
def shufflenet_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("df_sn") / "out"
    flow.build(small_cfg("shufflenet_v1", size=SN_SIZE, groups=3, width=0.5), out, compile_lib=False)
    return out


def _builds(build_dir, shufflenet_build):
    return {"squeezenet": build_dir(**SQ), "squeezenet-bypass": build_dir(**SQ_BYPASS), "shufflenet": shufflenet_build,
            "squeezenet-hls4ml": build_dir(**SQ, conv_kernel="hls4ml")}


def _largest_join(out):
    """The deepest join input (a stream the plan sized for a branch's backlog, not for pace)."""
    planned = dataflow.planned_depths(out)
    joins = {f["var"] for f in project.load_manifest(out)["resources"]["fifos"] if f["backlog"] > 0}
    name = max((s for s in planned if s in joins), key=lambda s: planned[s])  # first of the largest
    assert planned[name] > 2
    return name, planned[name]


@pytest.mark.parametrize("case", [pytest.param("squeezenet", marks=pytest.mark.slow), "squeezenet-bypass", "shufflenet"])
def test_planned_depths_pass_dataflow_check(build_dir, shufflenet_build, case):
    out = _builds(build_dir, shufflenet_build)[case]
    size = project.load_manifest(out)["input_shape"][0]
    res = dataflow.run_dataflow(out, images.photos(3, (size, size, 3)))
    assert not res["deadlock"] and res["blocked"] == [] and res["waits"] == []
    assert res["exact_fraction"] == 1.0 and res["n_values"] == 3 * 10 and res["passed"]
    planned = dataflow.planned_depths(out)
    assert set(res["max_occupancy"]) >= set(planned)
    assert all(res["max_occupancy"][s] <= d for s, d in planned.items())
    name, depth = _largest_join(out)
    assert 1 <= res["max_occupancy"][name] <= depth
    assert res["processes"] > 50 and res["run_seconds"] < 60


@pytest.mark.parametrize("case,depth", [("squeezenet-bypass", 2), ("shufflenet", 2), ("squeezenet-hls4ml", 1)])
def test_lowered_join_fifo_deadlocks_and_is_named(build_dir, shufflenet_build, case, depth):
    """The largest join FIFO at 2 deadlocks; the report names it. (Plain SqueezeNet 32x32 with hls4ml's
    conv kernel: its fire modules' 1x1 branches hold the 3x3 branch's 8-item lead in their depth-2
    chain FIFOs, so it takes 1; with fpga_flow's kernels even 1 completes at C level: the 1x1 branch's
    processes and chain FIFOs hold the whole lead, the planned depth is the RTL margin.)"""
    out = _builds(build_dir, shufflenet_build)[case]
    name, _ = _largest_join(out)
    size = project.load_manifest(out)["input_shape"][0]
    res = dataflow.run_dataflow(out, images.photos(2, (size, size, 3)), {name: depth}, compare=False)
    assert res["deadlock"] and not res["passed"]
    assert name in res["blocked"], res["blocked"]
    assert res["exact_fraction"] is None
    # the wait-for cycle closes: each process waits on a stream whose other end is the next one
    (cycle,) = [c for c in res["cycles"] if any(w["stream"] == name for w in c)]
    assert len(cycle) >= 3 and any(w["op"] == "read" for w in cycle)
    assert res["depths"][name] == depth


@pytest.mark.slow  # the same search, and minimal-1 deadlocking, from the CLI: tests/test_dataflow_cli.py
def test_minimal_depths_below_planned(build_dir):
    out = build_dir(**SQ)
    res = dataflow.minimal_depths(out, images.photos(2, (32, 32, 3)))
    assert not res["planned_deadlock"] and res["streams"]
    for s, v in res["streams"].items():
        assert 1 <= v["minimal"] <= v["planned"], (s, v)
        assert v["word_bits"] > 0
    assert 0 < res["minimal_bits"] <= res["planned_bits"] <= res["total_planned_bits"]
    # minimal really is minimal: one less deadlocks
    s, v = next(iter(res["streams"].items()))
    if v["minimal"] > 1:
        x = dataflow.model_inputs(out, images.photos(2, (32, 32, 3)))
        assert dataflow.run_streams(out, x, {s: v["minimal"] - 1})["deadlock"]


def test_stride2_shortcut_backlog_seen(shufflenet_build):
    """The stride-2 units' shortcut pool writes its last output row while the 3x3 branch waits for
    its bottom padding row (written in a burst at frame end): a backlog of about one output row,
    which sampling per network-input pixel missed (it gave 0 and depth 2)."""
    nodes = project.load_manifest(shufflenet_build)["design"]
    info = fifo.analyse(nodes)
    pools = [r for r in nodes if r["kind"] == "HExactAvgPool2D"]
    assert len(pools) == 3
    for r in pools:
        w = r["geometry"]["out_width"]
        s = info[r["outputs"][0]["name"]]
        assert s["backlog"] >= w - 1, (r["name"], s["backlog"], w)
        assert s["required_depth"] == s["backlog"] + s["margin"] and s["margin"] >= fifo.JOIN_SLACK
        assert s["fork"].startswith("clone_")


def test_parse_firmware_and_wait_cycles():
    src = """
#include "x.h"
void myproject(
    hls::stream<input_t> &inp,
    hls::stream<result_t> &out
) {
    #pragma HLS DATAFLOW
    static bool loaded = false;
    hls::stream<a_t> s1("s1");
    #pragma HLS STREAM variable=s1 depth=2
    hls::stream<a_t> s2("s2");
    #pragma HLS STREAM variable=s2 depth=7
    #pragma HLS bind_storage variable=s2 type=fifo impl=srl
    nnet::relu<input_t, a_t, cfg1>(inp, s1); // relu1
#ifndef __SYNTHESIS__
    nnet::save_layer_output<a_t>(s1, "relu1", 4);
#endif
    nnet::conv<a_t, a_t, cfg2>(
        s1, s2, w2, b2); // conv2
    nnet::pool<a_t, result_t, cfg3>(s2, out); // pool3
}
"""
    p = dataflow.parse_firmware(src)
    assert p["top"] == "myproject" and p["ports"] == [("input_t", "inp"), ("result_t", "out")]
    assert {k: v["depth"] for k, v in p["streams"].items()} == {"s1": 2, "s2": 7}
    assert [q["name"] for q in p["processes"]] == ["relu1", "conv2", "pool3"]
    assert p["processes"][1]["streams"] == ["s1", "s2"]
    assert "static bool loaded" in p["prefix"]
    code = dataflow.generate(p, 12, 3)
    assert 'set_depth(dfsim::depth_of("s2", 7))' in code and "save_layer_output" not in code
    waits = [{"process": "conv2", "stream": "s2", "op": "write"}, {"process": "pool3", "stream": "out", "op": "write"},
             {"process": "output", "stream": "out", "op": "read"}, {"process": "relu1", "stream": "s1", "op": "write"}]
    # conv2 -> pool3 (full s2) -> output (full out)... output waits on out (read) -> pool3: a 2-cycle
    cycles = dataflow.wait_cycles(waits, p["processes"], p["ports"])
    assert [sorted(w["process"] for w in c) for c in cycles] == [["output", "pool3"]]
    with pytest.raises(Exception, match="unexpected statement"):
        dataflow.parse_firmware(src.replace("nnet::pool", "other::pool"))


@pytest.mark.slow
@pytest.mark.parametrize("cfg", ["squeezenet1_1_224_w8_zcu104.yml", "squeezenet1_0_bypass_224_w8_zcu102.yml",
                                 "shufflenet_g3_w1.0_224_w8_zcu102.yml", "shufflenet_g8_w0.5_224_w8_zcu104.yml"])
def test_shipped_config_dataflow(tmp_path, cfg):
    """Full size: the planned depths pass the dataflow check on 2 consecutive photos, bit-exact
    (ShuffleNet g3 w1.0: ~20 s compile, ~5 s run); the stride-2 shortcut at the old depth 2 deadlocks."""
    from conftest import CONFIGS
    from fpga_flow import config

    out = tmp_path / "out"
    flow.build(config.load(CONFIGS / cfg), out, compile_lib=False)
    res = dataflow.run_dataflow(out, images.photos(2, (224, 224, 3)))
    assert res["passed"] and res["exact_fraction"] == 1.0 and res["n_values"] == 2000, \
        {k: res[k] for k in ("deadlock", "blocked", "exact_fraction")}
    names = dataflow.stream_names(out)
    shortcut = [v for v, n in names.items() if n == "stage2_unit1_shortcut_pool"]
    if shortcut:
        r = dataflow.run_dataflow(out, images.photos(1, (224, 224, 3)), {shortcut[0]: 2}, compare=False)
        assert r["deadlock"] and shortcut[0] in r["blocked"]
