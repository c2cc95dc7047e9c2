"""On-chip memory model, FIFO depths, fit-to-part, reports and the vendor-report parser."""
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QConv2D

from conftest import CONFIGS, ROOT, small_cfg
from fpga_flow import config, flow
from fpga_flow.errors import FlowError
from fpga_flow.hls.extensions.grouped_conv import QGroupedConv1x1
from fpga_flow.resources import design, fifo, fit
from fpga_flow.resources.estimate import estimate_layer
from fpga_flow.resources.memory import Memory, bram18k, place, uram
from fpga_flow.resources.parts import custom, resolve


@pytest.mark.parametrize("depth,width,want", [
    (512, 36, 1), (513, 36, 2), (1024, 18, 1), (2048, 9, 1), (4096, 4, 1), (16384, 1, 1), (8192, 2, 1),
    (1152, 1024, 2 * 57), (64, 2000, 56), (1000, 8, 1), (4097, 8, 3),
])
def test_bram18k_aspect_ratios(depth, width, want):
    assert bram18k(depth, width) == want


def test_placement_rules_and_efficiency():
    # Vitis HLS makes every FIFO of depth <= 2 a shift register (csynth.xml IMPL="srl", calibration cases)
    assert place(Memory("l", "fifo", 2, 512, "fifo")).impl == "srl"
    # a wide FIFO too deep for LUTRAM: BRAM, counted as the real reports count a 64 x 400 FIFO (23)
    m = place(Memory("l", "fifo", 200, 400, "fifo"))
    assert (m.impl, m.hls_bram18k) == ("bram", 23)
    # shallow wide FIFO: LUTRAM, 0 BRAM18K (in BRAM it would cost a block per 18 bits of width)
    m = place(Memory("l", "fifo", 60, 512, "fifo"))
    assert (m.impl, m.hls_bram18k) == ("lutram", 0)
    m = place(Memory("l", "fifo", 20, 64, "fifo"))
    assert (m.impl, m.luts, m.bram18k) == ("srl", 64, 0)
    m = place(Memory("l", "weights", 64, 100, "rom"))
    assert (m.impl, m.luts) == ("lutram", 100)
    m = place(Memory("l", "weights", 512, 36, "rom"))
    assert (m.impl, m.bram18k, m.to_dict()["efficiency"]) == ("bram", 1, 1.0)
    m = place(Memory("l", "weights", 4096, 72, "rom"), use_uram=True)
    assert (m.impl, m.uram, m.capacity_bits) == ("uram", 1, 4096 * 72)
    assert uram(4097, 73) == 4
    assert place(Memory("l", "line_buffer", 226, 8, "shift", copies=6)).impl == "srl"


def _tiny(tmp_path, groups=1):
    inp = tf.keras.Input((6, 6, 16), name="image")
    x = QActivation("quantized_bits(8,0,alpha=1)", name="inq")(inp)
    q = dict(kernel_quantizer="quantized_bits(8,0,alpha=1)", bias_quantizer="quantized_bits(8,3,alpha=1)")
    if groups > 1:
        y = QGroupedConv1x1(32, groups, name="pw", **q)(x)
    else:
        y = QConv2D(32, 1, name="pw", **q)(x)
    return tf.keras.Model(inp, y)


def _describe(model, tmp_path, part="zcu104", rf=16):
    from fpga_flow.hls.convert import convert

    _, _, plan, nodes = convert(model, tmp_path / "prj", part=part, reuse_factor=rf)
    return plan, nodes


def test_hand_computable_weight_memories(tmp_path):
    plan, nodes = _describe(_tiny(tmp_path), tmp_path, rf=16)
    rec = next(r for r in nodes if r["name"] == "pw")
    assert rec["weights"]["count"] == 16 * 32 and rec["reuse_factor"] == 16
    e = estimate_layer(rec, 16)  # 512 weights / RF 16: 16 words of 32 weights x 8 bits -> LUTRAM
    w = next(m for m in e.memories if m.kind == "weights")
    assert (w.depth, w.width) == (16, 256)
    assert place(w).impl == "lutram" and w.luts == 256
    e = estimate_layer(rec, 512)  # one weight per word: 512 x 8 -> one BRAM18K in 2Kx9 mode
    w = place(next(m for m in e.memories if m.kind == "weights"))
    assert (w.depth, w.width, w.impl, w.bram18k) == (512, 8, "bram", 1)
    assert e.dsp == 1 and e.cycles == 36 + 36 * 512
    # the group conv's ROM holds only its g diagonal blocks
    _, nodes4 = _describe(_tiny(tmp_path, groups=4), tmp_path / "g")
    rec4 = next(r for r in nodes4 if r["name"] == "pw")
    assert rec4["weights"]["count"] == 16 * 32 // 4


def test_reuse_factor_validity_and_fixed_settings(tmp_path):
    from hls4ml.backends import get_backend

    _, nodes = _describe(_tiny(tmp_path), tmp_path)
    rec = next(r for r in nodes if r["name"] == "pw")
    assert fit.candidates(rec) == get_backend("Vivado").get_valid_reuse_factors(16, 32)
    part = resolve("zcu104")
    with pytest.raises(FlowError, match="pw=5 is not valid.*nearest valid"):
        fit.plan(nodes, part, fixed_rf={"pw": 5})
    p = fit.plan(nodes, part, fixed_rf={"pw": 8})
    assert p.reuse["pw"] == 8
    _, nodes = _describe(_fire_like(7), tmp_path / "fire")
    with pytest.raises(FlowError, match="a=9 is below its deadlock-free minimum 14"):
        fit.plan(nodes, part, fixed_depths={"a": 9})
    assert fit.plan(nodes, part, fixed_depths={"a": 40}).depths["a"] == 40


def _fire_like(w):
    """squeeze -> (1x1 | 3x3 same) -> concat: the 1x1 branch must wait for the 3x3 line buffer."""
    inp = tf.keras.Input((5, w, 8), name="image")
    x = QActivation("quantized_bits(8,0,alpha=1)", name="inq")(inp)
    q = dict(kernel_quantizer="quantized_bits(8,0,alpha=1)", bias_quantizer="quantized_bits(8,3,alpha=1)")
    s = QActivation("quantized_relu(8,3)", name="s")(QConv2D(4, 1, name="sq", **q)(x))
    a = QActivation("quantized_relu(8,3)", name="a")(QConv2D(6, 1, name="e1", **q)(s))
    b = QActivation("quantized_relu(8,3)", name="b")(QConv2D(6, 3, padding="same", name="e3", **q)(s))
    return tf.keras.Model(inp, tf.keras.layers.Concatenate(name="cat")([a, b]))


@pytest.mark.parametrize("w", [7, 12])
def test_fifo_depths_follow_branch_latency(tmp_path, w):
    plan, nodes = _describe(_fire_like(w), tmp_path)
    info = fifo.analyse(nodes)
    # the 3x3 output (0,0) needs padded pixel (2,2): input (1,1), i.e. W+2 inputs, when the 1x1 branch
    # has produced W+2 outputs and the 3x3 branch 1: backlog W+1 on the 1x1 branch's join input
    assert info["a"]["backlog"] == w + 1
    # margin: the slack plus the read-ahead of the other branch's processes between fork and join
    # (hand count: its ZeroPadding2D and its ReLU, II=1 item loops, 2 items each)
    assert info["a"]["margin"] == fifo.JOIN_SLACK + 2 + 2
    assert info["a"]["required_depth"] == w + 1 + info["a"]["margin"]
    assert info["b"]["backlog"] == 0
    chain = [k for k, v in info.items() if k not in ("a", "b")]
    assert chain and all(info[k]["required_depth"] == fifo.CHAIN_DEPTH for k in chain)
    # the written project carries exactly these depths
    cpp = (tmp_path / "prj" / "firmware" / "myproject.cpp").read_text()
    for node in nodes:
        for o in node["outputs"]:
            if o["name"] in plan.depths:
                m = re.search(rf"#pragma HLS STREAM variable={o['var']} depth=(\d+)", cpp)
                assert m and int(m.group(1)) == plan.depths[o["name"]], o


def test_refuses_when_nothing_fits(tmp_path):
    tiny = custom({"name": "tiny-part", "bram18k": 1, "uram": 0, "dsp": 1, "lut": 1000, "ff": 2000})
    _, nodes = _describe(_fire_like(7), tmp_path)
    p = fit.plan(nodes, tiny)
    assert not p.fits
    msg = fit.refusal(p, tiny, 0.9, nodes, 5.0)
    assert "does not fit tiny-part" in msg and "largest memory consumers" in msg and "part xczu7ev" in msg


@pytest.fixture(scope="module")
def sq224(tmp_path_factory):
    """SqueezeNet 1.1 @224 (8-bit) built for ZCU102, without the C-sim library (the plan and the
    written project are what is checked here). It no longer fits ZCU104: its 9.9 Mbit of weights
    need more than ZCU104's BRAM, and weight ROMs may not go to URAM (no bitstream initialisation;
    see test_squeezenet11_w8_does_not_fit_zcu104_without_weight_uram)."""
    out = tmp_path_factory.mktemp("sq224") / "out"
    flow.build(config.load(CONFIGS / "squeezenet1_1_224_w8_zcu104.yml", part="zcu102"), out, compile_lib=False)
    return out


def test_squeezenet11_fits_zcu102_with_packing(sq224):
    from fpga_flow.report import basic

    d = json.loads(basic.to_json(basic.collect(sq224)))
    mem = d["memory"]
    assert mem["fits"] is True and mem["estimate"] is True and mem["fits_by"] == "hls_bram18k"
    assert mem["hls_bram18k"] <= 0.9 * 1824 and mem["uram"] == 0
    assert mem["bram18k_available"] == 1824 and mem["uram_available"] == 0
    assert mem["weight_packing_efficiency"] >= 0.8
    # weights, line buffers and FIFOs are all counted
    assert {"weights", "line_buffer", "fifo"} <= set(mem["by_kind"])
    assert mem["by_kind"]["weights"]["bits"] >= 1_235_496 * 8
    assert mem["by_kind"]["fifo"]["bits"] > 0 and mem["by_kind"]["line_buffer"]["bits"] > 0
    for key in ("hls_bram18k", "bram18k"):
        total = sum(m[key] for r in d["resource_layers"] for m in r["memories"]) + sum(f[key] for f in d["fifos"])
        assert total == mem[key], key
    assert mem["fps"] > 0 and mem["cycles_per_frame"] > 0 and mem["dsp"] <= 0.9 * 2520


def test_squeezenet11_w8_does_not_fit_zcu104_without_weight_uram(sq224):
    """Was asserted to fit ZCU104 while the fitter put weight ROMs in URAM, which the bitstream cannot
    initialise (and which the written project never bound). Weights are BRAM/LUTRAM only now."""
    nodes = flow.load_manifest(sq224)["design"]
    p = fit.plan(nodes, resolve("zcu104"))
    assert not p.fits and p.totals["hls_bram18k"] > 0.9 * 624
    assert not any(m.impl == "uram" for e in p.layers for m in e.memories)
    # the 9.88 Mbit of weights alone need 536 BRAM18K: the shipped config gives the fitter 95% of ZCU104
    assert p.totals["hls_bram18k"] >= 1_235_496 * 8 / 18_432
    q = fit.plan(nodes, resolve("zcu104"), budget=0.95)
    assert q.fits and q.totals["hls_bram18k"] <= 0.95 * 624


def test_written_project_carries_the_plan(sq224):
    m = flow.load_manifest(sq224)
    fw = sq224 / flow.PROJECT / "firmware"
    cpp, params = (fw / "myproject.cpp").read_text(), (fw / "parameters.h").read_text()
    calls = dict(re.findall(r"nnet::\w+<[^;]*?(config\d+)>\([^;]*\); // (\w+)", cpp))
    calls = {v: k for k, v in calls.items()}
    for layer, rf in m["plan"]["reuse_factors"].items():
        cfgname = calls[layer]
        block = re.search(rf"struct {cfgname} : [^{{]*{{(.*?)\n}};", params, re.S).group(1)
        assert f"static const unsigned reuse_factor = {rf};" in block, layer
    by_var = {o["name"]: o["var"] for r in m["design"] for o in r["outputs"]}
    for stream, depth in m["plan"]["fifo_depths"].items():
        assert f"#pragma HLS STREAM variable={by_var[stream]} depth={depth}\n" in cpp, stream
    # no FIFO keeps hls4ml's default whole-map depth any more
    assert max(m["plan"]["fifo_depths"].values()) < 224


def test_report_formats_and_pngs(sq224, tmp_path):
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "report", str(sq224), "--format", "json"],
                       capture_output=True, text=True, cwd=ROOT)
    d = json.loads(r.stdout)
    for key in ("params", "memory"):
        assert key in d
    for key in ("bram18k", "uram", "bram18k_available", "uram_available", "fits", "dsp", "fps", "estimate"):
        assert key in d["memory"], key
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "report", str(sq224), "--format", "html",
                        "--out", str(tmp_path / "html")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "html" / "report.html").read_text()
    assert "ESTIMATE" in html and "fits = yes" in html
    for png in ("utilisation.png", "memory_by_layer.png"):
        data = (tmp_path / "html" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    md = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "report", str(sq224)],
                        capture_output=True, text=True, cwd=ROOT).stdout
    assert "(ESTIMATE)" in md and "| BRAM18K, HLS C-synthesis count (decides fits) |" in md


def test_cli_refuses_small_part_with_table(tmp_path):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "build", str(CONFIGS / "squeezenet1_1_224_w8_zcu104.yml"),
                        "--out", str(out), "--part", "xc7z020clg400-1"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1
    assert "does not fit xc7z020clg400-1" in r.stderr and "largest memory consumers" in r.stderr
    assert "conv10" in r.stderr and "part xczu9eg" in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_synth_without_vendor_tool_exits_2(sq224, monkeypatch):
    env = {"PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "synth", str(sq224)], capture_output=True, text=True,
                       cwd=ROOT, env=env)
    assert r.returncode == 2 and "vitis_hls" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_vendor_report_parsed_beside_estimate(sq224, tmp_path):
    from fpga_flow.report import basic, vendor

    fixture = ROOT / "tests" / "data" / "csynth"
    rep = vendor.read(fixture)
    assert rep["BRAM_18K"] == "1201" and rep["DSP"] == "733" and rep["URAM"] == "15" and rep["LUT"] == "98765"
    assert rep["IntervalMax"] == "692401"
    out = shutil.copytree(sq224, tmp_path / "synthesized", ignore=shutil.ignore_patterns("firmware"))
    shutil.copytree(fixture / "myproject_prj", out / flow.PROJECT / "myproject_prj")
    md = basic.to_markdown(basic.collect(out))
    assert "Vendor C-synthesis report beside the estimate" in md
    assert re.search(r"\| BRAM_18K \| [\d,]+ \| 1201 \|", md)
