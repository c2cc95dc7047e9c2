"""The HLS BRAM18K rules of fpga_flow.resources.hls_count against real csynth reports.

Every expected number below is read from the vendor reports in shared/calibration at test time;
the rules are only applied to the depths, widths, words and bits those reports list.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from fpga_flow.resources import hls_count as hc

CAL = Path(__file__).resolve().parents[2] / "shared" / "calibration"

pytestmark = pytest.mark.skipif(
    not CAL.is_dir(), reason=f"calibration reports not found at {CAL} (shared/ sits beside the clone in CI)")

# Known, documented deviations (see the hls_count docstring). strict xfail: if a rule change starts
# reproducing them, the test says so.
PIXEL = ("pixel_cnn_large_alezander9_hls4ml080_vitis2023.1", "pixel_pruned_cnn_alezander9_hls4ml080_vitis2023.1")
TOTAL_DEVIATIONS = {
    # Vitis 2024.1 counted the two 128x256 FIFOs as 8 BRAM18K each (rule: 15); unexplained.
    "ece226_har_conv1d_hls4ml120_vitis2024.1",
}


def _reports():
    reps = []
    for d in sorted(p for p in CAL.iterdir() if p.is_dir()):
        reps.extend(hc.load_case(d))
    return reps


@pytest.fixture(scope="module")
def reports():
    reps = _reports()
    assert reps, "no csynth reports parsed"
    return reps


def _vitis(reports):
    return [r for r in reports if r.tool == "vitis"]


def _fifo_table(reps, tool_of):
    lines, ok_all, n_all = [], 0, 0
    lines.append(f"{'case':52s} {'profile':16s} {'exact':>7s} {'real':>6s} {'est':>6s}")
    for r in reps:
        tool = tool_of(r)
        ok = sum(hc.fifo_bram18k(f.depth, f.width, tool) == f.bram18k for f in r.fifos)
        est = sum(hc.fifo_bram18k(f.depth, f.width, tool) for f in r.fifos)
        lines.append(f"{(r.case + ' ' + r.design)[:52]:52s} {tool:16s} {ok:3d}/{len(r.fifos):<3d} "
                     f"{r.fifo_bram18k:6d} {est:6d}")
        ok_all += ok
        n_all += len(r.fifos)
    return ok_all, n_all, "\n".join(lines)


def test_parser_reads_all_cases(reports):
    names = {r.case for r in reports}
    for case in ("lenet5_guessoum_hls4ml110_vitis2023.2", "tsopeter_best_model_hls4ml110_vitis2024.2",
                 "dune_apa_cnn_jmitrevs_hls4ml071_vitis2023.1", "alexnet_cifar10_cestmerneil_hls4ml071_vitis2022.1"):
        assert case in names
    for r in reports:
        assert r.fifos, r.case
        assert r.totals.get("BRAM_18K", 0) > 0, r.case
        # the FIFO rows add up to the report's own FIFO summary line: the table parse is complete
        assert r.fifo_bram18k == r.summary["FIFO"]["BRAM_18K"] if "FIFO" in r.summary else True
    lenet = next(r for r in reports if r.case.startswith("lenet5"))
    row = next(f for f in lenet.fifos if f.name == "layer2_out_U")
    assert (row.depth, row.width, row.bram18k) == (576, 132, 8)
    assert lenet.totals["BRAM_18K"] == 58


def test_srl_vs_memory_matches_xml_binding(reports):
    """Rule F1 against the IMPL the tool wrote into csynth.xml for each FIFO."""
    checked = bad = 0
    for r in _vitis(reports):
        for f in r.fifos:
            if f.impl:
                checked += 1
                bad += hc.fifo_impl(f.depth, f.width) != f.impl
    assert checked >= 65  # alexnet (2022.1) has no csynth.xml
    assert bad == 0


def test_fifo_bram18k_exact_single_rule(reports):
    """Rules F1+F2 (tool='vitis'), every Vitis report except the two pixel ones (whose profile is fitted)."""
    reps = [r for r in _vitis(reports) if r.case not in PIXEL]
    ok, n, table = _fifo_table(reps, lambda r: "vitis")
    print("\nFIFO BRAM18K, single Vitis rule\n" + table + f"\nexact {ok}/{n} = {ok / n:.1%}")
    assert n >= 55
    assert ok / n >= 0.90


def test_fifo_bram18k_exact_all_vitis(reports):
    """Every Vitis io_stream FIFO with the profile matching its report (pixel: fitted rule F2')."""
    reps = _vitis(reports)
    ok, n, table = _fifo_table(reps, lambda r: r.profile)
    plain_ok, _, _ = _fifo_table(reps, lambda r: "vitis")
    print("\nFIFO BRAM18K, all Vitis reports\n" + table
          + f"\nexact {ok}/{n} = {ok / n:.1%} (single rule without the 2023.1-ip profile: {plain_ok}/{n})")
    assert n >= 85
    assert ok / n >= 0.90


def test_fifo_vivado_hls_2020_per_channel(reports):
    reps = [r for r in reports if r.tool == "vivado"]
    assert reps
    ok, n, table = _fifo_table(reps, lambda r: "vivado")
    print("\n" + table)
    assert all(f.name.count("_V_data_") == 1 for r in reps for f in r.fifos)  # one FIFO per channel
    assert ok == n


def _listed_roms(reports):
    """Memory rows that are not hls4ml shift-register buffers and hold > 1 Kib or any BRAM."""
    for r in _vitis(reports):
        for m in r.memories:
            if m.kind != "shift" and (m.words * m.bits > 1024 or m.bram18k > 0):
                yield r, m


def test_rom_bram18k_one_read(reports):
    """Rules R1/R3: weights, invert and sigmoid tables, exact."""
    rows = [(r, m) for r, m in _listed_roms(reports) if m.reads == 1]
    lines = []
    bad = []
    for r, m in rows:
        est = hc.estimate_memory(m, r.version, r.profile)
        lines.append(f"{r.case[:40]:40s} {m.name[:16]:16s} {m.words:5d}x{m.bits:<5d} {m.impl:5s} "
                     f"real {m.bram18k:3d} est {est:3d}")
        if est != m.bram18k:
            bad.append(lines[-1])
    print("\n" + "\n".join(lines))
    assert len(rows) >= 15
    assert not bad, bad


def test_rom_bram18k_multi_read(reports):
    """Rule R2 (softmax exp_table read n_in times per cycle). Reproduces 2 of the 4 exp tables."""
    rows = [(r, m) for r, m in _listed_roms(reports) if m.reads > 1]
    res = {r.case: (m.reads, m.bram18k, hc.estimate_memory(m, r.version, r.profile)) for r, m in rows}
    print("\n" + "\n".join(f"{c[:45]:45s} reads {v[0]:2d} real {v[1]} est {v[2]}" for c, v in res.items()))
    assert len(res) == 4
    exact = {c for c, v in res.items() if v[1] == v[2]}
    assert exact == {"dune_apa_cnn_jmitrevs_hls4ml071_vitis2023.1", "ece226_har_conv1d_hls4ml120_vitis2024.1"}


def _total_row(r):
    est = r.estimate()
    real = r.totals["BRAM_18K"]
    return real, est["total"], est


@pytest.mark.parametrize("case", [
    "alexnet_cifar10_cestmerneil_hls4ml071_vitis2022.1",
    "dune_apa_cnn_jmitrevs_hls4ml071_vitis2023.1",
    pytest.param("ece226_har_conv1d_hls4ml120_vitis2024.1",
                 marks=pytest.mark.xfail(strict=True, reason="2024.1 counted 128x256 FIFOs as 8 (rule 15)")),
    "lenet5_guessoum_hls4ml110_vitis2023.2",
    "pixel_cnn_large_alezander9_hls4ml080_vitis2023.1",
    "pixel_pruned_cnn_alezander9_hls4ml080_vitis2023.1",
    "tsopeter_best_model_hls4ml110_vitis2024.2",
    "tsopeter_nas_tmp_prj_hls4ml110_vitis2024.2",
])
def test_total_hls_bram18k_within_2pct(reports, case):
    """Observed (today's rules): lenet5 59 vs 58 (1.7%), alexnet 370 vs 374 (1.1%), the other five exact.
    The bound sits just above the largest observed deviation (was 15%)."""
    r = next(x for x in reports if x.case == case)
    real, est, parts = _total_row(r)
    print(f"\n{case}: real FIFO {r.fifo_bram18k} est {parts['fifo']}; real memory {r.memory_bram18k} "
          f"est {parts['memory']}; real total {real} est {est}")
    assert parts["opaque_reported"] == 0  # every instance's memories came from a sub-report
    assert abs(est - real) <= 0.02 * real


def test_memory_rows_add_up_to_instance_bram(reports):
    """The walk over sub-module reports finds every BRAM the top Instance table counts."""
    for r in _vitis(reports):
        inst = r.summary.get("Instance", {}).get("BRAM_18K", 0)
        assert r.memory_bram18k == inst, r.case
        assert r.fifo_bram18k + inst + r.summary.get("Memory", {}).get("BRAM_18K", 0) == r.totals["BRAM_18K"]


# test_rules_unit (no report data) lives in tests/test_hls_count_rules.py, outside this module's skip.


# ----------------------------------------------------------------------------- stock hls4ml estimate
STOCK_CASES = [  # cases whose committed model loads in TF 2.14 (lenet5's Keras-3 .keras does not)
    ("tsopeter_best_model_hls4ml110_vitis2024.2", "2024.2"),
    ("tsopeter_nas_tmp_prj_hls4ml110_vitis2024.2", "2024.2"),
    ("pixel_pruned_cnn_alezander9_hls4ml080_vitis2023.1", "2023.1"),
]


@pytest.mark.parametrize("case,version", STOCK_CASES)
def test_stock_estimate_fifos_match_report(reports, case, version):
    pytest.importorskip("hls4ml")
    pytest.importorskip("tensorflow")
    from fpga_flow.resources.stock_estimate import estimate_stock

    rep = next(r for r in reports if r.case == case)
    d = CAL / case
    model = next(d.glob("keras_model.*"))
    est = estimate_stock(model, d / "hls4ml_config.yml", tool=rep.profile, version=version)
    got = {m["name"] + "_U": (m["depth"], m["width"]) for m in est["memories"] if m["kind"] == "fifo"}
    real = {f.name: (f.depth, f.width) for f in rep.fifos}
    print(f"\n{case}: FIFO est {est['fifo_hls_bram18k']} real {rep.fifo_bram18k}; "
          f"total est {est['hls_bram18k']} real {rep.totals['BRAM_18K']}; dsp est {est['dsp']} "
          f"real {rep.totals.get('DSP')}")
    assert got == real  # same FIFOs, depths and packed widths as the tool synthesized
    # observed: all three exact (FIFO 26/21/3, total 32/26/4 BRAM18K), so exact is required (was 15%)
    assert est["fifo_hls_bram18k"] == rep.fifo_bram18k
    assert est["hls_bram18k"] == rep.totals["BRAM_18K"]


def test_estimate_command_reproduces_a_real_csynth_total(reports):
    """'fpga-flow estimate MODEL --hls4ml-config CFG --json' on a calibration case (stock hls4ml,
    exactly the author's config): its HLS BRAM18K equals the real C-synthesis report's."""
    import json
    import subprocess
    import sys

    case = "tsopeter_best_model_hls4ml110_vitis2024.2"
    d = CAL / case
    rep = next(r for r in reports if r.case == case)
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "estimate", str(d / "keras_model.keras"),
                        "--hls4ml-config", str(d / "hls4ml_config.yml"), "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert res["hls_bram18k"] == rep.totals["BRAM_18K"]
    assert res["fifo_hls_bram18k"] == rep.fifo_bram18k
    assert {"dsp", "fits", "memories"} <= set(res)
