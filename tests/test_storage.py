"""The written project stores every weight array and FIFO as the resource plan says (hls/storage.py),
the storage audit (verify/audit.py) checks it, and C-sim stays bit-exact."""
import json
import re
import shutil

import pytest

from conftest import fit_args
from fpga_flow import project

from fpga_flow import flow
from fpga_flow.data import images
from fpga_flow.hls.storage import parse_binding
from fpga_flow.verify import audit, csim

SQ = dict(name="squeezenet1_1", size=32)
SQ_VIVADO = dict(name="squeezenet1_1", size=32, backend="Vivado", weight_bits=4, act_bits=4, act_int=2, bias_bits=6)
SHUFFLE = dict(name="shufflenet_v1", size=32, groups=3, width=0.5)


def _fw(out):
    return out / project.PROJECT / "firmware"


def _report_weight_memories(out):
    from fpga_flow.report import design

    d = json.loads(design.to_json(design.collect(out)))
    mems = {}
    for r in d["resource_layers"]:
        for m in r["memories"]:
            if m["kind"] == "weights":
                mems[m["var"]] = (r["layer"], m)
    rows = {r["layer"]: r for r in d["layers"] if "weight_memory" in r}
    return mems, rows


@pytest.mark.parametrize("case", ["vitis", "vivado"])
def test_every_weight_array_is_bound_as_the_report_says(build_dir, case):
    out = build_dir(**(SQ if case == "vitis" else SQ_VIVADO))
    fw = _fw(out)
    cpp = (fw / "myproject.cpp").read_text()
    assert "pointwise_conv_2d_cl" not in cpp
    assert "ROM_nP_BRAM" not in (fw / "nnet_utils" / "nnet_dense_resource.h").read_text()
    mems, rows = _report_weight_memories(out)
    arrays = {var: int(n) for h in (fw / "weights").glob("w*.h")
              for var, n in re.findall(r"^\w+ (w\d+)\[(\d+)\];", h.read_text(), re.M)}
    assert len(arrays) == 26 and set(arrays) == set(mems)
    impls = set()
    for var, n in arrays.items():
        layer, m = mems[var]
        assert rows[layer]["weight_memory"]["var"] == var and rows[layer]["weight_memory"]["impl"] == m["impl"]
        lines = [l.strip() for l in cpp.splitlines() if re.search(rf"variable={var}\b", l)]
        binds = [parse_binding(l) for l in lines if parse_binding(l)]
        reshape = [l for l in lines if "ARRAY_RESHAPE" in l]
        assert len(reshape) == 1, (var, lines)
        assert not any("ARRAY_PARTITION" in l for l in lines), (var, lines)
        if m["impl"] == "ff":
            assert binds == [] and "complete" in reshape[0]
            continue
        assert len(binds) == 1 and binds[0][0] == var and binds[0][1] == "rom", (var, lines)
        assert binds[0][2] == m["impl"], (layer, var, binds, m["impl"])
        # words of block_factor weights: the plan's ROM shape
        bf = int(re.search(r"factor=(\d+)", reshape[0]).group(1))
        assert -(-n // bf) == m["depth"], (var, bf, m)
        impls.add(m["impl"])
        kw = "bind_storage" if case == "vitis" else "RESOURCE"
        assert any(kw in l for l in lines)
    # both kinds occur and are bound as planned (the 4-bit Vivado case fits its ROMs in LUTRAM)
    assert {"lutram", "bram"} <= impls if case == "vitis" else impls


def test_every_conv_is_the_matrix_vector_unit_on_a_rom(build_dir):
    """hls.conv_kernel=stream (default): every QConv2D is fpga_flow's MVU (a ROM of reuse_factor words,
    read one word per clock), KxK ones behind a sliding-window generator; no stock conv kernel."""
    out = build_dir(**SQ)
    cpp = (_fw(out) / "myproject.cpp").read_text()
    m = project.load_manifest(out)
    convs = {r["name"]: r for r in m["design"] if "weights" in r}
    windows = {r["name"]: r for r in m["design"] if r["kind"] == "HSlidingWindow2D"}
    assert len(convs) == 26 and {r["kind"] for r in convs.values()} == {"HStreamConv"}
    assert len(windows) == 9  # conv1 and the eight expand3x3 (the other 17 are 1x1: no window)
    for n, r in convs.items():
        assert re.search(rf"nnet::stream_mvu_cl<[^;]*\); // {n}\n", cpp), n
    for n in windows:
        assert re.search(rf"nnet::sliding_window2d_cl<[^;]*\); // {n}\n", cpp), n
    assert "conv_2d_cl" not in cpp and "pointwise_conv_2d_cl" not in cpp


def test_1x1_convs_use_the_resource_rom_kernel_with_hls4mls_conv(build_dir):
    """hls.conv_kernel=hls4ml: hls4ml's line-buffer conv, 1x1 ones too (not the pointwise kernel)."""
    out = build_dir(**SQ, conv_kernel="hls4ml")
    cpp = (_fw(out) / "myproject.cpp").read_text()
    m = project.load_manifest(out)
    ones = {r["name"]: r["kind"] for r in m["design"] if "weights" in r and r["geometry"].get("filt_height") == 1}
    assert len(ones) == 17 and set(ones.values()) == {"Conv2D"}  # 8 fire modules x (squeeze, expand1x1) + conv10
    for n in ones:
        assert re.search(rf"nnet::conv_2d_cl<[^;]*\); // {n}\n", cpp), n
    assert audit.audit(out)["ok"]


def test_audit_passes_on_a_fresh_build(build_dir):
    out = build_dir(**SQ)
    r = audit.audit(out)
    assert r["ok"], r["disagreements"]
    assert r["checked"]["weights"] == 26 and r["checked"]["biases"] == 26 and r["checked"]["fifos"] > 50
    for mem in r["memories"]:
        if mem["kind"] == "weights":
            assert mem["pragma"] and mem["var"] in mem["pragma"] and mem["binding"] == mem["plan_impl"]
            assert (mem["depth"], mem["width"]) == (mem["plan_depth"], mem["plan_width"])
            assert not any("ARRAY_PARTITION" in k for k in mem["kernel_pragmas"])
    assert "as planned" in audit.to_text(r)


def _copy(out, tmp_path, name):
    dst = shutil.copytree(out, tmp_path / name, ignore=shutil.ignore_patterns("*.so"))
    return dst, _fw(dst) / "myproject.cpp"


def _layer_of(out, var):
    mems, _ = _report_weight_memories(out)
    return mems[var][0], mems[var][1]["impl"]


def test_audit_names_the_layer_of_an_edited_pragma(build_dir, tmp_path):
    out = build_dir(**SQ)
    # a binding changed by hand
    dst, top = _copy(out, tmp_path, "bind")
    cpp = top.read_text()
    m = re.search(r"#pragma HLS bind_storage variable=(w\d+) type=rom_1p impl=lutram", cpp)
    layer, _ = _layer_of(out, m.group(1))
    top.write_text(cpp.replace(m.group(0), m.group(0).replace("impl=lutram", "impl=bram"), 1))
    r = audit.audit(dst)
    assert not r["ok"] and len(r["disagreements"]) == 1
    assert r["disagreements"][0].startswith(layer + ":") and "lutram" in r["disagreements"][0]
    with pytest.raises(audit.StorageAuditFailed, match=layer):
        audit.check(dst)
    # a complete partition on a planned BRAM ROM
    dst, top = _copy(out, tmp_path, "part")
    cpp = top.read_text()
    m = re.search(r"#pragma HLS bind_storage variable=(w\d+) type=rom_1p impl=bram\n", cpp)
    layer, _ = _layer_of(out, m.group(1))
    top.write_text(cpp.replace(m.group(0), f"#pragma HLS ARRAY_PARTITION variable={m.group(1)} complete\n", 1))
    r = audit.audit(dst)
    assert not r["ok"] and all(d.startswith(layer + ":") for d in r["disagreements"])
    assert any("partitioned" in d for d in r["disagreements"]) and any("0 storage bindings" in d for d in r["disagreements"])
    # a kernel that partitions what it receives (as stock pointwise_conv_2d_cl does)
    dst, _ = _copy(out, tmp_path, "kernel")
    h = _fw(dst) / "nnet_utils" / "nnet_stream_mvu.h"
    s = h.read_text()
    assert "#pragma HLS ARRAY_RESHAPE variable=weights block factor=BF" in s
    h.write_text(s.replace("#pragma HLS ARRAY_RESHAPE variable=weights block factor=BF",
                           "#pragma HLS ARRAY_PARTITION variable=weights complete", 1))
    r = audit.audit(dst)
    assert not r["ok"] and any("partitions the weights" in d for d in r["disagreements"])
    # a FIFO depth other than planned
    dst, top = _copy(out, tmp_path, "fifo")
    cpp = top.read_text()
    m = re.search(r"#pragma HLS STREAM variable=(\w+) depth=(\d+)\n    #pragma HLS bind_storage", cpp)
    producer = next(r["name"] for r in project.load_manifest(out)["design"] for o in r["outputs"] if o["var"] == m.group(1))
    top.write_text(cpp.replace(m.group(0), m.group(0).replace(f"depth={m.group(2)}", "depth=3"), 1))
    r = audit.audit(dst)
    assert not r["ok"] and r["disagreements"][0].startswith(producer + ":") and "depth 3" in r["disagreements"][0]


def test_fitter_puts_weights_in_uram_only_with_the_load_path(build_dir):
    from fpga_flow.resources import fit
    from fpga_flow.resources.parts import custom

    nodes = project.load_manifest(build_dir(**SQ))["design"]
    # little BRAM, plenty of URAM: without the load path only FIFOs may move there
    part = custom({"name": "uram-heavy", "bram18k": 60, "uram": 400, "dsp": 2000, "lut": 500_000, "ff": 1_000_000})
    p = fit.plan(nodes, part, **fit_args(uram_weights="off", min_packing=0.0))
    mems = [m for e in p.layers for m in e.memories] + p.fifos
    assert not any(m.impl == "uram" and m.kind != "fifo" for m in mems)
    # with it (hls.uram_weights: auto on Vitis) weight memories do, and nothing else but FIFOs
    p = fit.plan(nodes, part, **fit_args(uram_weights="auto", min_packing=0.0))
    mems = [m for e in p.layers for m in e.memories] + p.fifos
    assert any(m.impl == "uram" and m.kind == "weights" for m in mems) and p.fits
    assert {m.kind for m in mems if m.impl == "uram"} <= {"fifo", "weights"}
    # what the written project binds: FIFOs in URAM; weights in URAM as a RAM (filled by the load path),
    # never on the Vivado backend (no load path is written there)
    from fpga_flow.hls.storage import fifo_binding, rom_binding

    assert fifo_binding("Vitis", "layer14_out", "uram") == "#pragma HLS bind_storage variable=layer14_out type=fifo impl=uram"
    assert rom_binding("Vitis", "w3", "uram") == "#pragma HLS bind_storage variable=w3 type=ram_1p impl=uram"
    with pytest.raises(ValueError, match="uram"):
        rom_binding("Vivado", "w3", "uram")


# ShuffleNet's C-sim exactness with the storage pragmas is also covered by test_shufflenet's zoo test
@pytest.mark.parametrize("case", ["squeezenet1_1", pytest.param("shufflenet_g3_w0.5", marks=pytest.mark.slow)])
def test_csim_stays_bit_exact(build_dir, case):
    kw = SQ if case == "squeezenet1_1" else SHUFFLE
    out = build_dir(**kw)
    r = audit.audit(out)
    assert r["ok"], r["disagreements"]
    res = csim.verify(out, images.photos(3, (32, 32, 3)))
    assert res["exact_fraction"] == 1.0 and res["first_divergent_layer"] is None, res
    if case != "squeezenet1_1":
        cpp = (_fw(out) / "myproject.cpp").read_text()
        assert "pointwise_conv_2d_cl" not in cpp
        kinds = {m["kernel"] for m in r["memories"] if m["kind"] == "weights"}
        assert kinds == {"dense", "stream_mvu_cl"}, kinds  # grouped and depthwise convs are MVUs too
