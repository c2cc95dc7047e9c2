"""Throughput (issue 23): fpga_flow's sliding-window generator + matrix-vector unit (hls/extensions/
sliding_window.py, stream_conv.py), their folding with padding, the weight-load path of URAM weights
(hls/weight_load.py), and the fitter that folds every layer to the pace of the slowest
(resources/fit.py). Each claim is checked on a written project: C-sim codes equal QKeras', the pragmas
and loop trip counts the cycle model assumes are in the written C++, the audit reads the load path."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QConv2D

from conftest import fit_args
from fpga_flow import config, flow, project
from fpga_flow.data import images
from fpga_flow.resources import cycles, fifo, fit, parts
from fpga_flow.verify import audit, csim, dataflow

L = tf.keras.layers
CONFIGS = Path(__file__).resolve().parents[1] / "hls_configs"


def kq(b=6, i=0):
    return f"quantized_bits({b},{i},alpha=1)"


def fold_model(seed=4):
    """Four convolutions whose forced reuse factors hit every case of the MVU: fully parallel (RF 1),
    fully serial (one multiplier), outputs padded, inputs padded; a stride-2 and a non-square window."""
    tf.keras.utils.set_random_seed(seed)
    x0 = L.Input((9, 9, 5), name="image")
    x = QActivation(kq(8, 0), name="inq")(x0)
    x = QConv2D(7, 3, padding="same", kernel_quantizer=kq(), bias_quantizer=kq(8, 2), name="c1")(x)
    x = QActivation("quantized_relu(6,2)", name="r1")(x)
    x = QConv2D(6, 3, strides=2, kernel_quantizer=kq(), bias_quantizer=kq(8, 2), name="c2")(x)  # 9x9 -> 4x4
    x = QActivation("quantized_relu(6,2)", name="r2")(x)
    x = QConv2D(10, 1, kernel_quantizer=kq(), bias_quantizer=kq(8, 2), name="c3")(x)
    x = QActivation("quantized_relu(6,2)", name="r3")(x)
    x = QConv2D(4, (1, 3), padding="same", kernel_quantizer=kq(), bias_quantizer=kq(8, 2), name="c4")(x)
    x = QActivation(kq(8, 3), name="out")(x)
    return tf.keras.Model(x0, x, name="folds")


# (n_in, n_out) of c1..c4 = (45, 7), (63, 6), (6, 10), (30, 4)
FOLD_RF = {"c1": 1, "c2": 63 * 6, "c3": 7, "c4": 7}


def _cfg(model, **hls):
    return config.validate({"model": {"name": "squeezenet1_1"}, "hls": {"part": "zcu104", **hls}})


def _config_struct(fw, layer):
    """The static consts of the config struct the layer's call in myproject.cpp uses."""
    cpp = (fw / "myproject.cpp").read_text()
    cfg = re.search(rf"<[^;]*?(config\d+)>\([^;]*\); // {layer}\n", cpp).group(1)
    body = re.search(rf"struct {cfg} : [^{{]*\{{(.*?)\n\}};", (fw / "parameters.h").read_text(), re.S).group(1)
    return {k: int(v) for k, v in re.findall(r"static const unsigned (\w+) = (\d+);", body)}


@pytest.fixture(scope="module")
def folds(tmp_path_factory):
    out = tmp_path_factory.mktemp("folds") / "out"
    flow.build_keras_model(fold_model(), out, cfg=_cfg(fold_model(), reuse_factors=FOLD_RF))
    return out


def test_every_fold_of_the_mvu_is_bit_exact(folds):
    fw = folds / project.PROJECT / "firmware"
    folded = {n: _config_struct(fw, n) for n in FOLD_RF}
    # the cases the forced reuse factors select (resources/estimate.py, mvu_fold), as written
    c1, c2, c3, c4 = (folded[n] for n in ("c1", "c2", "c3", "c4"))
    assert (c1["simd"], c1["pe"], c1["reuse_factor"]) == (45, 7, 1)  # fully parallel
    assert (c2["simd"], c2["pe"], c2["reuse_factor"]) == (1, 1, 378)  # one multiplier
    assert c3["pe"] * c3["nf"] > c3["n_out"] and c3["simd"] * c3["sf"] == c3["n_in"]  # outputs padded
    assert c4["simd"] * c4["sf"] > c4["n_in"]  # inputs padded
    for c in (c1, c2, c3, c4):
        assert c["sf"] * c["nf"] == c["reuse_factor"] and c["simd"] * c["pe"] == c["block_factor"]
    res = csim.verify(folds, images.load("random", 6, [9, 9, 5], seed=1))
    assert res["exact_fraction"] == 1.0 and not res["degenerate"] and res["n_values"] == 6 * 64, res
    # every layer, not only the output: the per-layer trace of one image equals QKeras' codes
    ref = project.load_qmodel(folds / project.QMODEL)
    x = csim.quantize_to(csim.input_spec(ref), images.to_model_input(images.load("random", 1, [9, 9, 5], seed=2)))
    first, rows = csim.first_divergent_layer(folds, ref, project.load_manifest(folds), x)
    assert first is None and {r["layer"] for r in rows} >= set(FOLD_RF), rows
    # the written project with bounded FIFOs, one thread per process: no deadlock, same codes
    df = dataflow.run_dataflow(folds, images.load("random", 2, [9, 9, 5], seed=3))
    assert not df["deadlock"] and df["exact_fraction"] == 1.0, df
    assert audit.audit(folds)["ok"]


def test_cycle_model_reads_the_loops_the_written_cpp_has(folds):
    """The MVU and SWG cycles of the plan are n_items * reuse_factor and in_height * in_width (plus the
    pipeline depth): the trip counts of their single loops, each pipelined at II=1 in the header the
    project includes."""
    fw = folds / project.PROJECT / "firmware"
    mvu_h = (fw / "nnet_utils" / "nnet_stream_mvu.h").read_text()
    swg_h = (fw / "nnet_utils" / "nnet_sliding_window.h").read_text()
    assert re.search(r"ItemLoop:\n\s*for \(unsigned t = 0; t < CONFIG_T::n_items \* RF; t\+\+\) \{\n\s*#pragma HLS "
                     r"PIPELINE II=1\n", mvu_h)
    assert re.search(r"PixelLoop:\n\s*for \(unsigned p = 0; p < CONFIG_T::in_height \* CONFIG_T::in_width; p\+\+\) "
                     r"\{\n\s*#pragma HLS PIPELINE II=1\n", swg_h)
    # no other loop to pay for: every other loop is fully unrolled inside the pipelined one
    for h, main in ((mvu_h, "ItemLoop"), (swg_h, "PixelLoop")):
        lines = h.splitlines()
        loops = [i for i, ln in enumerate(lines) if re.match(r"\s*for \(", ln)]
        assert loops and all("#pragma HLS UNROLL" in lines[i + 1] for i in loops if lines[i - 1].strip() != f"{main}:")
        assert h.count("#pragma HLS PIPELINE") == 1
    m = project.load_manifest(folds)
    rows = {r["layer"]: r for r in m["resources"]["layers"]}
    for name in FOLD_RF:
        c = _config_struct(fw, name)
        simd = c["simd"]
        assert rows[name]["cycles"] == c["n_items"] * c["reuse_factor"] + cycles.mvu_pipeline_depth(simd), name
    for r in m["design"]:
        if r["kind"] == "HSlidingWindow2D":
            c = _config_struct(fw, r["name"])
            assert rows[r["name"]]["cycles"] == c["in_height"] * c["in_width"] + cycles.SWG_PIPELINE_DEPTH


def test_weights_in_uram_go_through_the_load_path(tmp_path):
    """A part with no BRAM: the weights that need a block memory go to URAM, the project gets the load
    port, and the C-simulation only has those weights through it (weights.bin -> load loop -> arrays)."""
    part = {"name": "xczu7ev-ffvc1156-2-e", "bram18k": 0, "uram": 40, "dsp": 1728, "lut": 230400, "ff": 460800}
    out = tmp_path / "uram"
    flow.build_keras_model(fold_model(), out, cfg=_cfg(fold_model(), part=part, reuse_factors=FOLD_RF))
    m = project.load_manifest(out)
    wl = m["weight_load"]
    in_uram = {r["layer"] for r in m["resources"]["layers"] for mm in r["memories"]
               if mm["kind"] == "weights" and mm["impl"] == "uram"}
    assert in_uram == {"c2"} and [a["layer"] for a in wl["arrays"]] == ["c2"]  # the one ROM deeper than 64 words
    fw = out / project.PROJECT / "firmware"
    var = wl["arrays"][0]["var"]
    assert not (fw / "weights" / f"{var}.txt").exists()
    assert re.search(rf"^\w+ {var}\[\d+\]; // fpga_flow: in URAM", (fw / "weights" / f"{var}.h").read_text(), re.M)
    cpp = (fw / "myproject.cpp").read_text()
    assert f"#pragma HLS bind_storage variable={var} type=ram_1p impl=uram" in cpp
    assert re.search(r"void myproject\(\n.*hls::stream<weight_word_t> &weights_in,\n\s*bool load_weights\n\)", cpp, re.S)
    assert (fw / "weights" / "weights.bin").stat().st_size == 8 * wl["words"]
    assert audit.audit(out)["ok"]
    x = images.load("random", 4, [9, 9, 5], seed=5)
    res = csim.verify(out, x)
    assert res["exact_fraction"] == 1.0 and not res["degenerate"], res
    df = dataflow.run_dataflow(out, x[:2])
    assert not df["deadlock"] and df["exact_fraction"] == 1.0

    # one code changed in weights.bin: the C-sim is no longer exact, and the trace names c2
    bad = shutil.copytree(out, tmp_path / "bad_bin")
    b = bytearray((bad / project.PROJECT / "firmware" / "weights" / "weights.bin").read_bytes())
    b[0] ^= 0x01  # the least significant bit of c2's first weight code
    (bad / project.PROJECT / "firmware" / "weights" / "weights.bin").write_bytes(bytes(b))
    res = csim.verify(bad, x)
    assert res["exact_fraction"] < 1.0 and res["first_divergent_layer"] in ("c2", "r2"), res
    # a truncated weights.bin is refused by the load path, not read as zeros
    (bad / project.PROJECT / "firmware" / "weights" / "weights.bin").write_bytes(bytes(b[:-8]))
    with pytest.raises(RuntimeError, match="weights.bin has the wrong size"):
        csim.run_csim(bad, images.to_model_input(x[:1]))
    # the audit reads the load path: an array it does not fill is a disagreement naming the layer
    noload = shutil.copytree(out, tmp_path / "noload")
    top = noload / project.PROJECT / "firmware" / "myproject.cpp"
    top.write_text(re.sub(rf"\n\s*nnet::fpga_flow_load_array<[^;]*\({'weights_in'}, {var}\);", "", top.read_text()))
    r = audit.audit(noload)
    assert not r["ok"] and any(d.startswith("c2:") and "not filled by the load path" in d for d in r["disagreements"])
    # URAM weights given bitstream contents, or loaded from a text file in C-simulation: each named (the
    # load loop itself left intact, so the checks do not depend on a load-order finding)
    contents = shutil.copytree(out, tmp_path / "contents")
    h = contents / project.PROJECT / "firmware" / "weights" / f"{var}.h"
    h.write_text(re.sub(rf"^(\w+ {var}\[\d+\]);", r"\1 = {0};", h.read_text(), flags=re.M))
    r = audit.audit(contents)
    assert [d for d in r["disagreements"] if "bitstream contents" in d] == [
        f"c2: {var} in URAM has bitstream contents in weights/{var}.h (UltraScale+ URAM has none)"], r["disagreements"]
    txt = shutil.copytree(out, tmp_path / "txt")
    top = txt / project.PROJECT / "firmware" / "myproject.cpp"
    m = re.search(r"\n(\s*)nnet::fpga_flow_load_array<", top.read_text())
    top.write_text(top.read_text()[:m.start()] + f"\n{m.group(1)}nnet::load_weights_from_txt<weight_word_t, 8>({var}, "
                   f"\"{var}.txt\");" + top.read_text()[m.start():])
    r = audit.audit(txt)
    assert any(d.startswith("c2:") and "from a text file" in d for d in r["disagreements"]), r["disagreements"]


def test_uram_weights_off_keeps_every_weight_in_the_bitstream(build_dir):
    nodes = project.load_manifest(build_dir(name="squeezenet1_1", size=32))["design"]
    part = parts.custom({"name": "xczu7ev-ffvc1156-2-e", "bram18k": 100, "uram": 96, "dsp": 1728,
                         "lut": 230400, "ff": 460800})
    on, off = (config.HlsSection(uram_weights=v, min_packing=0.0) for v in ("auto", "off"))
    assert on.uram_roles == ("fifo", "weights") and off.uram_roles == ("fifo",)
    assert config.HlsSection(backend="Vivado").uram_roles == ()
    p = fit.plan(nodes, part, **off.fit_args())
    assert not any(mm.impl == "uram" for e in p.layers for mm in e.memories)
    p = fit.plan(nodes, part, **on.fit_args())
    assert any(mm.impl == "uram" for e in p.layers for mm in e.memories if mm.kind == "weights")


def _simulate(needs: np.ndarray, n_in: int, pace: int, depth: int) -> int:
    """Cycle by cycle, the written kernels' behaviour: the window producer's pipelined loop reads one
    input per cycle and writes output j in the cycle it reads input needs[j] (a stalled write stalls
    its loop until the FIFO of ``depth`` has room); the MVU takes an item from the FIFO when it is
    idle and is busy ``pace`` cycles with it. Returns the cycle the MVU finishes the last item."""
    fifo_items = produced = read = busy_until = consumed = t = 0
    pending = False
    n = len(needs)
    while consumed < n:
        t += 1
        if busy_until <= t and fifo_items:
            fifo_items -= 1
            busy_until = t + pace
            consumed += 1
        if not pending and read < n_in:
            read += 1
            pending = produced < n and read >= needs[produced]
        if pending and fifo_items < depth:
            fifo_items += 1
            produced += 1
            pending = False
    return busy_until


@pytest.mark.parametrize("stride,kernel,pace", [(2, 3, 5), (2, 3, 12), (1, 3, 3), (2, 7, 20), (3, 5, 12), (2, 3, 4)])
def test_window_fifo_depth_keeps_the_mvu_busy(stride, kernel, pace):
    """fifo.pace_depth against a cycle-by-cycle simulation of window producer -> FIFO -> MVU: the
    smallest depth with which the pair finishes as early as with an unbounded FIFO is found by
    simulation; the planned depth is never below it, and when the MVU is the slower of the two (the
    case the depth is for) at most one item above it (the RTL handshake margin)."""
    w = 28
    out = (w - kernel) // stride + 1
    rec = {"name": "win", "fifo": {"counting": "conv_window"}, "in_shape": [w, w, 4],
           "outputs": [{"shape": [out, out, kernel * kernel * 4]}],
           "geometry": {"filt_height": kernel, "filt_width": kernel, "stride_height": stride, "stride_width": stride,
                        "out_height": out, "out_width": out, "in_width": w, "in_height": w}}
    f = fifo.counting_function(rec, w * w)
    needs = np.searchsorted(f, np.arange(1, out * out + 1))
    unbounded = _simulate(needs, w * w, pace, 10**6)
    tight = next(d for d in range(1, 200) if _simulate(needs, w * w, pace, d) <= unbounded)
    planned = fifo.pace_depth(fifo.longest_run(rec), pace)
    assert planned >= tight, (tight, planned)
    mvu_bound = out * pace >= stride * w  # per output row: the MVU's cycles vs the window producer's
    if mvu_bound:
        assert unbounded <= needs[0] + out * out * pace + 2  # never starved: its own cycles after the first window
        assert planned <= max(fifo.CHAIN_DEPTH, tight + 1), (tight, planned)
    if mvu_bound and tight > 2:  # a real gap: the chain depth would starve the MVU
        assert _simulate(needs, w * w, pace, 2) > unbounded


def test_target_fps_gives_the_smallest_design_that_meets_it(build_dir):
    nodes = project.load_manifest(build_dir(name="squeezenet1_1", size=32))["design"]
    part = parts.resolve("zcu104")
    fastest = fit.plan(nodes, part, **fit_args(uram_weights="off", min_packing=0.0))
    target = fastest.totals["fps"] / 3
    small = fit.plan(nodes, part, **fit_args(uram_weights="off", target_fps=target))
    assert small.fits and small.totals["fps"] >= target and small.totals["target_fps"] == target
    assert small.totals["dsp"] < fastest.totals["dsp"] / 2
    # every layer is at its cheapest reuse factor within the bound: one notch faster is never cheaper
    too_fast = fit.plan(nodes, part, **fit_args(uram_weights="off", target_fps=fastest.totals["fps"] * 1.5))
    assert not too_fast.fits and too_fast.totals["target_max_fps"] == fastest.totals["fps"]


@pytest.mark.parametrize("cfg,fps_min", [("squeezenet1_1_224_w8_zcu104", 600), ("squeezenet1_1_224_w8_zcu102", 1000)])
def test_shipped_224_plans_meet_the_throughput_targets(cfg, fps_min, tmp_path):
    """The shipped 224x224 SqueezeNet 1.1 configs, planned (no files written): fit by the HLS count
    with BRAM18K and URAM each within 90%, the frame-rate targets of issue 23 from the calibrated
    cycle model, MAC efficiency >= 0.8; on ZCU104 some weights are in URAM (the load path)."""
    b = flow.run(flow.Build(config.load(CONFIGS / f"{cfg}.yml"), tmp_path / "never-written"), until="plan")
    assert not (tmp_path / "never-written").exists() and not list(tmp_path.iterdir())
    mem = fit.summary(b.plan, b.part, float(b.cfg.hls.memory_budget))
    assert b.plan.fits and mem["hls_bram18k"] <= 0.9 * mem["bram18k_available"]
    assert mem["uram"] <= 0.9 * mem["uram_available"]
    assert mem["fps"] >= fps_min and mem["mac_efficiency"] >= 0.8, mem
    uram_weights = [m for e in b.plan.layers for m in e.memories if m.kind == "weights" and m.impl == "uram"]
    assert bool(uram_weights) == (b.part.uram > 0)
