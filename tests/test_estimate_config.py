"""`fpga-flow estimate` reads the whole hls4ml config: Backend (-> HLS tool and FIFO rule), Part /
XilinxPart / Board (-> the part and its product family), --part, ClockPeriod, IOType, per-layer
settings; and on a Vivado-backend config it counts one FIFO per channel, as Vivado HLS did in the
real hls4ml tutorial reports."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from calibration_cases import load_case
from fpga_flow.errors import FlowError
from fpga_flow.hls.stock_estimate import settings

ROOT = Path(__file__).resolve().parents[1]
CAL = Path(__file__).resolve().parents[2] / "shared" / "calibration"


def test_backend_selects_the_tool_and_the_part_comes_from_the_config():
    s = settings({"Backend": "Vitis", "Part": "xczu7ev-fbvb900-2-i", "IOType": "io_stream", "ClockPeriod": "3.3"})
    assert (s["tool"], s["part"].name, s["part"].family, s["clock_period_ns"]) == \
        ("vitis", "xczu7ev-fbvb900-2-i", "zynquplus", 3.3)
    s = settings({"Backend": "Vivado", "Part": "xcku035-fbva676-1-c"})
    assert (s["tool"], s["part"].device, s["part"].bram18k, s["io_type"]) == ("vivado", "xcku035", 1080, "io_parallel")
    # hls4ml < 0.8's key, used when Part is absent; Part wins when both are there (as in hls4ml >= 0.8)
    s = settings({"Backend": "Vivado", "XilinxPart": "xc7a35t-cpg236-1"})
    assert s["part"].device == "xc7a35t" and s["part_source"] == "XilinxPart"
    s = settings({"Backend": "Vitis", "Part": "xcvu13p-flga2577-2-e", "XilinxPart": "xcku040-ffva1156-2-e"})
    assert s["part"].device == "xcvu13p" and any("XilinxPart" in n for n in s["notes"])
    # VivadoAccelerator: the board decides the part (hls4ml overrides Part with it)
    s = settings({"Backend": "VivadoAccelerator", "AcceleratorConfig": {"Board": "pynq-z2"}, "Part": "xcu250-figd2104-2L-e"})
    assert (s["tool"], s["part"].name) == ("vivado", "xc7z020clg400-1") and s["notes"]
    s = settings({"Backend": "VivadoAccelerator", "Board": "alveo-u50"})
    assert s["part"].device == "xcu50"
    # no part at all: hls4ml's default part, still with 'fits'
    s = settings({"Backend": "Vitis"})
    assert s["part"].name == "xcvu13p-flga2577-2-e"
    # --part overrides everything
    s = settings({"Backend": "VivadoAccelerator", "Board": "pynq-z2"}, part="KV260")
    assert s["part"].device == "xck26" and s["part_source"] == "--part"


@pytest.mark.parametrize("cfg,needle", [
    ({"Backend": "Quartus"}, "Backend 'Quartus' is not estimated"),
    ({"Backend": "Vitis", "Part": "xczu7ev-foo"}, "nearest: xczu7ev"),
    ({"Backend": "Vitis", "ClockPeriod": "fast"}, "ClockPeriod"),
    ({"Backend": "Vitis", "IOType": "io_serial"}, "IOType"),
])
def test_config_errors_are_one_line(cfg, needle):
    with pytest.raises(FlowError) as e:
        settings(cfg)
    assert needle in str(e.value) and "\n" not in str(e.value)


def _svhn_cnn():
    """The hls4ml tutorial part 6 SVHN CNN on 32x32x3 as the graph of the two Vivado HLS 2020.1 reports
    in shared/calibration/vivado2020_tutorial_part6_svhn_cnn shows it: conv 16-16-24, each straight into
    its ReLU (the reports have two 900-deep streams per first conv: the tutorial's BatchNormalization
    after each conv is folded into it there; hls4ml 1.3.0 keeps a separate BatchNormalization, so it is
    left out here), 2x2 max pool, dense 42-64 with BatchNormalization + ReLU, dense 10, softmax.
    Weights are random: the FIFOs do not depend on them."""
    import tensorflow as tf
    from tensorflow.keras import layers as L

    tf.keras.utils.set_random_seed(0)
    x = x_in = L.Input((32, 32, 3))
    for i, f in enumerate((16, 16, 24)):
        x = L.Conv2D(f, 3, name=f"conv_{i}")(x)
        x = L.Activation("relu", name=f"conv_act_{i}")(x)
        x = L.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = L.Flatten()(x)
    for i, n in enumerate((42, 64)):
        x = L.Dense(n, use_bias=False, name=f"dense_{i}")(x)
        x = L.BatchNormalization(name=f"bn_dense_{i}")(x)
        x = L.Activation("relu", name=f"dense_act_{i}")(x)
    x = L.Dense(10, name="output_dense")(x)
    x = L.Activation("softmax", name="output_softmax")(x)
    return tf.keras.Model(x_in, x)


@pytest.mark.skipif(not CAL.is_dir(), reason=f"calibration reports not found at {CAL}")
def test_vivado_backend_counts_one_fifo_per_channel_as_the_real_report(tmp_path):
    """'fpga-flow estimate' on a Vivado-backend config (the tutorial's: part xcu250, io_stream,
    ap_fixed<16,6>): tool vivado, the config's part, one FIFO per channel, and the per-channel FIFOs
    that take BRAM are the ones Vivado HLS 2020.1 listed (depth and width per channel, count), with the
    same FIFO BRAM18K (96)."""
    pytest.importorskip("hls4ml")
    model = _svhn_cnn()
    mfile = tmp_path / "svhn.h5"
    model.save(mfile)
    cfg = {"Backend": "Vivado", "Part": "xcu250-figd2104-2L-e", "ClockPeriod": 5, "IOType": "io_stream",
           "HLSConfig": {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}}
    cfile = tmp_path / "hls4ml_config.yml"
    cfile.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "estimate", str(mfile), "--hls4ml-config", str(cfile),
                        "--json"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert res["tool"] == "vivado" and res["backend"] == "Vivado" and res["profile"]["fifo_rule"] == "F3"
    assert res["part"] == "xcu250-figd2104-2L-e" and res["bram18k_available"] == 5376 and res["fits"] is True
    fifos = [m for m in res["memories"] if m["kind"] == "fifo"]
    assert res["fifos"] == sum(m["count"] for m in fifos) > len(fifos)  # per channel, not per stream
    rep = next(x for x in load_case(CAL / "vivado2020_tutorial_part6_svhn_cnn") if x.design == "pruned_cnn")
    real = Counter((f.depth, f.width) for f in rep.fifos if f.bram18k)
    est = Counter()
    for m in fifos:
        if m["hls_bram18k"]:
            est[(m["depth"], m["width"])] += m["count"]
    assert est == real  # {(900,16): 32, (225,16): 16, (169,16): 32, (36,16): 16}
    assert res["fifo_hls_bram18k"] == rep.fifo_bram18k == 96
    # the same model under the Vitis backend: packed FIFOs (one per stream), Virtex UltraScale+ rule F4
    import contextlib

    from fpga_flow.hls.stock_estimate import estimate_stock

    cfg["Backend"] = "Vitis"
    cfile.write_text(yaml.safe_dump(cfg))
    with contextlib.redirect_stdout(sys.stderr):
        vit = estimate_stock(mfile, cfile, part="xczu7ev-ffvc1156-1-e", model=model)
    assert vit["tool"] == "vitis" and vit["part"] == "xczu7ev-ffvc1156-1-e" and vit["part_source"] == "--part"
    assert vit["profile"]["fifo_rule"] == "F2" and vit["bram18k_available"] == 624
    assert all(m["count"] == 1 for m in vit["memories"] if m["kind"] == "fifo")
    assert vit["fifos"] == len(fifos)


@pytest.mark.skipif(not CAL.is_dir(), reason=f"calibration reports not found at {CAL}")
def test_per_layer_strategy_and_reuse_factor_of_the_config_are_honoured(tmp_path):
    """ece226's own config (Latency, RF 1) with one per-layer override (conv1: Resource, ReuseFactor 27):
    conv1 gets hls4ml's Resource weight ROM (27 words of 16 x 16-bit weights) and the Resource DSP count
    (16 products per cycle, 16x16 bits: 16 DSPs); the other layers are unchanged."""
    pytest.importorskip("hls4ml")
    import contextlib

    from fpga_flow.hls.stock_estimate import estimate_stock, read_hls4ml_yml

    d = CAL / "ece226_har_conv1d_hls4ml120_vitis2024.1"
    cfg = read_hls4ml_yml(d / "hls4ml_config.yml")
    with contextlib.redirect_stdout(sys.stderr):
        base = estimate_stock(d / "keras_model.keras", d / "hls4ml_config.yml")
    cfg["HLSConfig"]["LayerName"] = {"conv1": {"Strategy": "Resource", "ReuseFactor": 27}}
    cfile = tmp_path / "cfg.yml"
    cfile.write_text(yaml.safe_dump(cfg))
    with contextlib.redirect_stdout(sys.stderr):
        res = estimate_stock(d / "keras_model.keras", cfile)
    conv = {x["name"]: x for x in res["layers"]}["conv1"]
    assert (conv["strategy"], conv["reuse_factor"], conv["dsp"]) == ("resource", 27, 16)
    rom = [m for m in res["memories"] if m["kind"] == "weights"]
    assert [(m["layer"], m["depth"], m["width"]) for m in rom] == [("conv1", 27, 16 * 16)]
    assert base["layers"][1:] and {x["name"]: x["dsp"] for x in res["layers"] if x["name"] != "conv1"} == \
        {x["name"]: x["dsp"] for x in base["layers"] if x["name"] != "conv1"}
    assert base["part"] == res["part"] == "xcu250-figd2104-2L-e" and res["clock_period_ns"] == 5.0
