"""The HLS rules of fpga_flow.resources.hls_count (BRAM18K) and hls_dsp (DSP) against real csynth reports.

Every expected number below is read from the vendor reports in shared/calibration at test time;
the rules are only applied to the depths, widths, words, bits, layer shapes and weights those
cases contain.
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import calibration_cases as C
from fpga_flow.resources import hls_count as hc
from fpga_flow.resources import hls_dsp as hd

ROOT = Path(__file__).resolve().parents[1]
CAL = Path(__file__).resolve().parents[2] / "shared" / "calibration"

pytestmark = [pytest.mark.fast, pytest.mark.skipif(
    not CAL.is_dir(), reason=f"calibration reports not found at {CAL} (shared/ sits beside the clone in CI)")]

DESIGNS = [  # every design of shared/calibration (the Vivado 2020 tutorial folder holds two)
    "alexnet_cifar10_cestmerneil_hls4ml071_vitis2022.1", "alveo_u55c_svhn_cnn_alexyang_vitis2022.2",
    "dune_apa_cnn_jmitrevs_hls4ml071_vitis2023.1", "ece226_har_conv1d_hls4ml120_vitis2024.1",
    "kv260_mnist_cnn_baseline_lolbraa_vitis2025.2", "lenet5_guessoum_hls4ml110_vitis2023.2",
    "pixel_cnn_large_alezander9_hls4ml080_vitis2023.1", "pixel_pruned_cnn_alezander9_hls4ml080_vitis2023.1",
    "tsopeter_best_model_hls4ml110_vitis2024.2", "tsopeter_nas_tmp_prj_hls4ml110_vitis2024.2",
    "vivado2020_tutorial_part6_svhn_cnn/pruned_cnn", "vivado2020_tutorial_part6_svhn_cnn/quantized_pruned_cnn",
]


def _reports():
    reps = []
    for d in sorted(p for p in CAL.iterdir() if p.is_dir()):
        reps.extend(C.load_case(d))
    return reps


@pytest.fixture(scope="module")
def reports():
    reps = _reports()
    assert reps, "no csynth reports parsed"
    return reps


def _find(reports, key):
    case, _, design = key.partition("/")
    return next(r for r in reports if r.case == case and (not design or r.design == design))


def _vitis(reports):
    return [r for r in reports if r.tool == "vitis"]


def _fifo_table(reps, prof_of):
    lines, ok_all, n_all = [], 0, 0
    lines.append(f"{'case':52s} {'family':12s} {'rule':4s} {'exact':>7s} {'real':>6s} {'est':>6s}")
    for r in reps:
        prof = prof_of(r)
        ok = sum(prof.fifo(f.depth, f.width) == f.bram18k for f in r.fifos)
        est = sum(prof.fifo(f.depth, f.width) for f in r.fifos)
        lines.append(f"{(r.case + ' ' + r.design)[:52]:52s} {prof.family:12s} {prof.fifo_rule:4s} "
                     f"{ok:3d}/{len(r.fifos):<3d} {r.fifo_bram18k:6d} {est:6d}")
        ok_all += ok
        n_all += len(r.fifos)
    return ok_all, n_all, "\n".join(lines)


# ----------------------------------------------------------------------------- parsing

def test_parser_reads_all_cases(reports):
    assert sorted(f"{r.case}/{r.design}" if r.case.startswith("vivado2020") else r.case for r in reports) == DESIGNS
    for r in reports:
        assert r.fifos, r.case
        assert r.totals.get("BRAM_18K", 0) > 0, r.case
        assert r.family, r.case  # the report's product family: what selects the FIFO rule
        # the FIFO rows add up to the report's own FIFO summary line: the table parse is complete
        assert r.fifo_bram18k == r.summary["FIFO"]["BRAM_18K"], r.case
    lenet = _find(reports, "lenet5_guessoum_hls4ml110_vitis2023.2")
    row = next(f for f in lenet.fifos if f.name == "layer2_out_U")
    assert (row.depth, row.width, row.bram18k) == (576, 132, 8)
    assert lenet.totals["BRAM_18K"] == 58
    u55c = _find(reports, "alveo_u55c_svhn_cnn_alexyang_vitis2022.2")
    assert (u55c.family, u55c.flow, u55c.part) == ("virtexuplus", "vitis", "xcu55c-fsvh2892-2L-e")


def _tops():
    return [top for d in sorted(p for p in CAL.iterdir() if p.is_dir()) for top in hc.find_top_reports(d)]


PIXEL = "pixel_pruned_cnn_alezander9_hls4ml080_vitis2023.1"
SIGMOID = "sigmoid_array_array_ap_fixed_16_6_5_3_0_1u_sigmoid_config18"  # an instance of it holds a 1024x10 table


def _copy_reports(case: str, tmp_path: Path) -> Path:
    """The report folder of a case, copied so that a test can edit it; returns the copied top .rpt."""
    top = hc.find_top_reports(CAL / case)[0]
    shutil.copytree(top.parent, tmp_path / "report")
    return tmp_path / "report" / top.name


def test_xml_and_rpt_totals_agree(reports):
    """Each design's totals come from its csynth.xml; the .rpt summary of the same run gives the same
    numbers (the DSP column is 'DSP' whatever the tool calls it: DSP48E in Vivado HLS 2020)."""
    checked = 0
    for top in _tops():
        text = top.read_text()
        summary = hc.rpt_summary(text)
        # the summary and the detail tables parse the same from the utilisation section on
        util = text[text.find("== Utilization Estimates"):]
        assert hc.rpt_summary(util) == summary, top
        assert hc.rpt_tables(util) == hc.rpt_tables(text), top
        # the detail tables are those of the utilisation section only (the Interface section that follows
        # has a "* Summary:" table of RTL ports)
        assert {"FIFO", "Instance", "Memory"} <= {r["Name"] for r in hc.rpt_tables(text)["Summary"]}, top
        assert "DSP" in summary["Total"], top
        xml = top.with_suffix(".xml")
        if xml.is_file():
            tot = hc._xml_totals(xml)
            assert tot and tot["BRAM_18K"] == summary["Total"]["BRAM_18K"], top
            assert tot.get("DSP", tot.get("DSP48E")) == summary["Total"]["DSP"], top
            checked += 1
    assert checked >= 9  # the three without a top csynth.xml: U55C and the two Vivado 2020 designs
    assert any("DSP48E" in t.read_text() for t in _tops())  # the Vivado 2020 header is among them


def test_parse_report_names_case_design_and_instances(reports):
    top = hc.find_top_reports(CAL / PIXEL)[0]
    rep = hc.parse_report(top)
    assert (rep.case, rep.design) == (top.parent.name, "myproject")
    # instances without a sub-report keep their instance path as the report lists it
    for r in reports:
        for path, module, b in r.opaque:
            assert path.endswith("_U0") and module.endswith("_s") and b > 0, (r.case, path)
    u55c = _find(reports, "alveo_u55c_svhn_cnn_alexyang_vitis2022.2")
    assert [p for p, _, _ in u55c.opaque] == ["softmax_array_array_ap_fixed_16_6_5_3_0_10u_softmax_config25_U0"]


def test_a_module_report_parses_as_its_own_design():
    sub = hc.find_top_reports(CAL / PIXEL)[0].parent / f"{SIGMOID}_s_csynth.rpt"
    rep = hc.parse_report(sub)
    (m,) = rep.memories
    assert (m.name, m.module, m.words, m.bits, m.banks, m.bram18k, m.count) == (
        "sigmoid_table_U", f"{SIGMOID}_s", 1024, 10, 1, 1, 1)


def test_memory_impl_is_the_binding_csynth_xml_records(reports):
    """Where csynth.xml binds a memory, that binding is the row's impl, not the guess from its name:
    dune's w9/w16/w18 weights are named like pragma-bound ROMs but the tool bound them 'auto'."""
    differs = 0
    for top in _tops():
        storage = hc._xml_storage(top.parent / "csynth.xml")
        for m in hc.parse_report(top).memories:
            bound = storage.get(m.name, {}).get("IMPL")
            if bound and m.kind != "shift":
                assert m.impl == ("bram" if bound == "bram" else "auto"), (top, m.name, bound)
                differs += m.impl != hc.classify_memory(m.name, m.module)[2]
    assert differs >= 3


def test_report_with_a_byte_that_is_not_utf8_parses_the_same(tmp_path):
    """Reports written under a Latin-1 locale carry bytes that are not UTF-8 (e.g. a micro sign)."""
    top = _copy_reports(PIXEL, tmp_path)
    before = hc.parse_report(top, case="c")
    for f in (top, top.parent / f"{SIGMOID}_s_csynth.rpt"):
        f.write_bytes(f.read_bytes().replace(b"* Date:", b"* Date: 5\xb5s", 1))
    after = hc.parse_report(top, case="c")
    assert (after.fifos, after.memories, after.totals) == (before.fifos, before.memories, before.totals)
    assert after.memory_bram18k == before.memory_bram18k > 0


def test_instance_count_and_banks_multiply_a_memory(tmp_path):
    """A module instanced twice counts its memories twice; a banked memory counts each bank (the report
    copied and edited: the sigmoid instance listed twice in the top, its table split in 2 banks)."""
    top = _copy_reports(PIXEL, tmp_path)
    base = hc.parse_report(top, case="c")
    text = top.read_text()
    rows = [ln for ln in text.splitlines() if ln.strip().startswith(f"|{SIGMOID}_U0")]
    row = rows[-1]  # the utilisation section's Instance table (the first is the latency table's)
    top.write_text(text.replace(row + "\n", row + "\n" + row.replace("_U0 ", "_U1 ") + "\n"))
    sub = top.parent / f"{SIGMOID}_s_csynth.rpt"
    st = sub.read_text()
    cut = st.find("* Memory:")
    sub.write_text(st[:cut] + st[cut:].replace("|  1024|   10|     1|", "|  1024|   10|     2|", 1))
    rep = hc.parse_report(top, case="c")
    (m0,) = [m for m in base.memories if m.name == "sigmoid_table_U"]
    (m,) = [m for m in rep.memories if m.name == "sigmoid_table_U"]
    assert (m0.count, m0.banks, m.count, m.banks) == (1, 1, 2, 2)
    assert rep.estimate()["memory"] == base.estimate()["memory"] + 3 * hc.estimate_memory(m0, base.profile)


def test_report_cut_short_parses_to_empty_tables(tmp_path):
    """A top report without its utilisation section (the tool stopped) and without csynth.xml: no rows,
    empty totals, no crash."""
    top = hc.find_top_reports(CAL / PIXEL)[0]
    text = top.read_text()
    cut = tmp_path / "report" / top.name
    cut.parent.mkdir()
    cut.write_text(text[: text.find("== Utilization Estimates")])
    rep = hc.parse_report(cut, case="c")
    assert (rep.totals, rep.fifos, rep.memories, rep.opaque, rep.version) == ({}, [], [], [], "2023.1")
    # cut right after the last border of the FIFO table: that table is complete
    fifo_end = text.find("\n\n", text.find("* FIFO:", text.find("== Utilization Estimates")))
    cut.write_text(text[:fifo_end])
    full = hc.parse_report(top, case="c")
    rows = [(f.name, f.depth, f.width, f.bram18k) for f in hc.parse_report(cut, case="c").fifos]
    assert rows == [(f.name, f.depth, f.width, f.bram18k) for f in full.fifos] and len(rows) > 3  # no xml: no impl


def test_srl_vs_memory_matches_xml_binding(reports):
    """Rule F1 against the IMPL the tool wrote into csynth.xml for each FIFO."""
    checked = bad = 0
    for r in _vitis(reports):
        for f in r.fifos:
            if f.impl:
                checked += 1
                bad += hc.fifo_impl(f.depth, f.width) != f.impl
    assert checked >= 65  # alexnet (2022.1), U55C, kv260 have no csynth.xml
    assert bad == 0


# ----------------------------------------------------------------------------- FIFOs

def test_fifo_bram18k_exact_every_fifo_of_every_case(reports):
    """Rules F1-F4 with each report's profile (tool, product family, flow): every FIFO of every design,
    the 886 per-channel FIFOs of the two Vivado HLS designs included."""
    ok, n, table = _fifo_table(reports, lambda r: r.profile)
    vok, vn, _ = _fifo_table(_vitis(reports), lambda r: r.profile)
    print("\nFIFO BRAM18K, every design\n" + table + f"\nexact {ok}/{n} = {ok / n:.1%} (Vitis: {vok}/{vn})")
    assert vn >= 110 and n >= 1000
    assert ok / n >= 0.90 and vok / vn >= 0.90


def test_fifo_rule_is_decided_by_the_part_family_not_the_tool_version(reports):
    """Swap the FIFO rule of every Vitis report (F4 for the Zynq UltraScale+/Artix-7 ones, F2 for the
    Virtex UltraScale+ ones): the memory FIFOs on which the two rules differ stop matching on both
    sides, while their own family's rule matches all of them, across every tool version."""
    own = swapped = n = 0
    versions = {"F2": set(), "F4": set()}
    for r in _vitis(reports):
        prof = r.profile
        other = replace(prof, family="zynquplus" if prof.fifo_rule == "F4" else "virtexuplus")
        for f in r.fifos:
            if prof.fifo(f.depth, f.width) == other.fifo(f.depth, f.width):
                continue  # this FIFO does not tell the rules apart
            n += 1
            own += prof.fifo(f.depth, f.width) == f.bram18k
            swapped += other.fifo(f.depth, f.width) == f.bram18k
            versions[prof.fifo_rule].add(r.version)
    print(f"\n{n} discriminating FIFOs: own family's rule exact {own}, swapped rule exact {swapped}; "
          f"versions F2 {sorted(versions['F2'])}, F4 {sorted(versions['F4'])}")
    assert n >= 40 and own == n and swapped == 0
    # the two rules interleave in time: a version threshold cannot separate them
    assert min(versions["F2"]) < max(versions["F4"]) and min(versions["F4"]) < max(versions["F2"])


def test_fifo_vivado_hls_2020_per_channel(reports):
    reps = [r for r in reports if r.tool == "vivado"]
    assert len(reps) == 2
    ok, n, table = _fifo_table(reps, lambda r: r.profile)
    print("\n" + table)
    assert all(f.name.count("_V_data_") == 1 for r in reps for f in r.fifos)  # one FIFO per channel
    assert ok == n


# ----------------------------------------------------------------------------- ROMs

def _listed_roms(reports):
    """Memory rows that are not hls4ml shift-register buffers and hold > 1 Kib or any BRAM."""
    for r in _vitis(reports):
        for m in r.memories:
            if m.kind != "shift" and (m.words * m.bits > 1024 or m.bram18k > 0):
                yield r, m


def test_rom_bram18k_one_read(reports):
    """Rules R1/R3: weights, invert and sigmoid tables, exact."""
    rows = [(r, m) for r, m in _listed_roms(reports) if m.reads == 1]
    lines, bad = [], []
    for r, m in rows:
        est = hc.estimate_memory(m, r.profile)
        lines.append(f"{r.case[:40]:40s} {m.name[:16]:16s} {m.words:5d}x{m.bits:<5d} {m.impl:5s} "
                     f"real {m.bram18k:3d} est {est:3d}")
        if est != m.bram18k:
            bad.append(lines[-1])
    print("\n" + "\n".join(lines))
    assert len(rows) >= 15
    assert not bad, bad


def test_rom_bram18k_multi_read(reports):
    """Rule R2 (softmax exp_table read n_in times per cycle): 3 of the 4 listed exp tables."""
    rows = [(r, m) for r, m in _listed_roms(reports) if m.reads > 1]
    res = {r.case: (m.reads, m.bram18k, hc.estimate_memory(m, r.profile)) for r, m in rows}
    print("\n" + "\n".join(f"{c[:45]:45s} reads {v[0]:2d} real {v[1]} est {v[2]}" for c, v in res.items()))
    assert len(res) == 4
    exact = {c for c, v in res.items() if v[1] == v[2]}
    assert exact == {"alexnet_cifar10_cestmerneil_hls4ml071_vitis2022.1",
                     "dune_apa_cnn_jmitrevs_hls4ml071_vitis2023.1", "ece226_har_conv1d_hls4ml120_vitis2024.1"}


def test_softmax_without_sub_report_estimated_from_its_name(reports):
    """The U55C (2022.2) softmax instance has no sub-report: its 10 BRAM18K equal the 2022.x rule
    (exp table read 10 times: 9 copies, + 1 inverse table), read off alexnet (2022.1) only."""
    u55c = _find(reports, "alveo_u55c_svhn_cnn_alexyang_vitis2022.2")
    (_, module, real), = u55c.opaque
    assert hc.softmax_n(module) == 10
    est = u55c.estimate()
    assert est["memory_from_name"] == real == 10 and est["opaque_reported"] == 0


# ----------------------------------------------------------------------------- totals

@pytest.mark.parametrize("key", DESIGNS)
def test_total_hls_bram18k_within_2pct(reports, key):
    """Every design's csynth BRAM18K total from the rules (FIFOs and every memory row): within 2% (the
    largest deviation observed is lenet5's 1 block of 58, 1.7%; the issue asked for 15%)."""
    r = _find(reports, key)
    est = r.estimate()
    real = r.totals["BRAM_18K"]
    print(f"\n{key}: real FIFO {r.fifo_bram18k} est {est['fifo']}; real memory {real - r.fifo_bram18k} "
          f"est {est['memory']}; real total {real} est {est['total']}")
    assert est["opaque_reported"] == 0  # every BRAM counted by a rule, none copied from the report
    assert abs(est["total"] - real) <= 0.02 * real


def test_memory_rows_add_up_to_instance_bram(reports):
    """The walk over sub-module reports finds every BRAM the top Instance table counts."""
    for r in _vitis(reports):
        inst = r.summary.get("Instance", {}).get("BRAM_18K", 0)
        assert r.memory_bram18k + sum(b for _, _, b in r.opaque) == inst, r.case
        assert r.fifo_bram18k + inst + r.summary.get("Memory", {}).get("BRAM_18K", 0) == r.totals["BRAM_18K"]


# ----------------------------------------------------------------------------- DSPs

def test_multiplier_binding_by_operand_width(reports):
    """Rule D1 against every multiplier the sub-module reports list (mul_<a>_<b>_...: operand widths,
    and the DSPs the tool bound it to)."""
    seen = {}
    for rpt in CAL.rglob("*csynth.rpt"):
        for m in re.finditer(r"^\s*\|(mul_(\d+)n?s_(\d+)n?s_\d+_\d+_\d+)_U\d+\s*\|\s*\w+\s*\|\s*\d+\|\s*(\d+)\|",
                             rpt.read_text(errors="replace"), re.M):
            key = (int(m.group(2)), int(m.group(3)))
            seen.setdefault(key, set()).add(int(m.group(4)))
    assert len(seen) >= 25 and sum(1 for k in seen if max(k) <= 10) >= 5  # both sides of the threshold
    wrong = {k: v for k, v in seen.items() if v != {hd.product_dsp(*k)}}
    print(f"\n{len(seen)} operand-width pairs: " + ", ".join(f"{a}x{b}:{sorted(v)}" for (a, b), v in sorted(seen.items())))
    assert not wrong, wrong


def _firmware_rows(case):
    d = CAL / case
    rep = C.load_case(d)[0]
    files = C.firmware_files(d, rep.design)
    return rep, hd.read_firmware(*files), C.instance_dsp(hc.find_top_reports(d)[0])


def test_dsp_per_instance_from_firmware():
    """Rules D3 (Resource products) and D4 (softmax) on every instance the firmware alone decides
    (no weight values needed), against the instance's DSPs in the top report."""
    lines, n, exact, close = [], 0, 0, 0
    for case in ("dune_apa_cnn_jmitrevs_hls4ml071_vitis2023.1", "tsopeter_best_model_hls4ml110_vitis2024.2",
                 "tsopeter_nas_tmp_prj_hls4ml110_vitis2024.2", "alexnet_cifar10_cestmerneil_hls4ml071_vitis2022.1",
                 "alveo_u55c_svhn_cnn_alexyang_vitis2022.2", "ece226_har_conv1d_hls4ml120_vitis2024.1",
                 "lenet5_guessoum_hls4ml110_vitis2023.2"):
        _, rows, inst = _firmware_rows(case)
        for row in rows:
            if row["dsp"] is None or (row["dsp"] == 0 and not inst.get(row["config"])):
                continue
            real = inst.get(row["config"], 0)
            n += 1
            exact += row["dsp"] == real
            close += abs(row["dsp"] - real) <= max(1, 0.05 * real)
            lines.append(f"{case[:34]:34s} {row['func']:12s} config{row['config']:<3d} est {row['dsp']:4d} "
                         f"real {real:4d}  {row['how']}")
    print("\n" + "\n".join(lines) + f"\nexact {exact}/{n}, within max(1, 5%) {close}/{n}")
    assert n >= 20
    assert exact >= 0.85 * n
    assert close >= n - 1  # dune's softmax: 3 inputs, 1 DSP (rule D4 says 3)


def test_dsp_lenet5_batchnorm_scales_from_the_committed_weights():
    """Rule D2 with 8-bit constants: lenet5's two BatchNormalization layers (scales fixed<8,4>) from
    the weights committed with the report (TensorFlow 2.14 cannot load that Keras-3 model)."""
    case = "lenet5_guessoum_hls4ml110_vitis2023.2"
    rep, _, inst = _firmware_rows(case)
    res = C.dsp_from_firmware(CAL / case, rep)
    norm = [r for r in res["rows"] if r["func"] == "normalize"]
    assert [(r["dsp"], inst.get(r["config"], 0)) for r in norm] == [(0, 0), (8, 8)]
    assert res["dsp"] == rep.totals["DSP"] == 18


# ----------------------------------------------------------------------------- stock hls4ml estimate

@pytest.fixture(scope="module")
def stock(reports):
    """estimate_stock() of every case whose committed model TensorFlow 2.14 loads, converted once."""
    pytest.importorskip("hls4ml")
    pytest.importorskip("tensorflow")
    from fpga_flow.hls.stock_estimate import _load_keras, estimate_stock

    out = {}
    for d in C.stock_cases(CAL):
        try:
            model = _load_keras(next(d.glob("keras_model.*")))
        except Exception:
            continue  # lenet5: a Keras-3 QKeras model
        rep = next(r for r in reports if r.case == d.name)
        with contextlib.redirect_stdout(sys.stderr):
            out[d.name] = estimate_stock(next(d.glob("keras_model.*")), d / "hls4ml_config.yml",
                                         version=rep.version, model=model)
    return out


STOCK_CASES = ["ece226_har_conv1d_hls4ml120_vitis2024.1", "pixel_cnn_large_alezander9_hls4ml080_vitis2023.1",
               "pixel_pruned_cnn_alezander9_hls4ml080_vitis2023.1", "tsopeter_best_model_hls4ml110_vitis2024.2",
               "tsopeter_nas_tmp_prj_hls4ml110_vitis2024.2"]


def test_stock_estimate_covers_every_loadable_case(stock):
    assert sorted(stock) == STOCK_CASES


@pytest.mark.parametrize("case", STOCK_CASES)
def test_stock_estimate_matches_report(reports, stock, case):
    """The committed model converted by stock hls4ml 1.3.0 with the committed config, estimated with
    the config's part: the same FIFOs (depth, packed width) as the report, the same FIFO and total BRAM18K
    (exact on all five), DSP totals within max(1, 4%) (observed: pixel_cnn_large 959 vs 928, +3.3%;
    tsopeter_nas 18 vs 19) and every layer's DSPs within max(1, 5%) of the report's instance (observed
    worst: pixel_cnn_large conv2 420 vs 401, +4.7%)."""
    rep = next(r for r in reports if r.case == case)
    est = stock[case]
    got = {m["name"] + "_U": (m["depth"], m["width"]) for m in est["memories"] if m["kind"] == "fifo"}
    real = {f.name: (f.depth, f.width) for f in rep.fifos}
    inst = C.instance_dsp(hc.find_top_reports(CAL / case)[0])
    lines = [f"{x['name']:24s} config{x['index']:<3} est {x['dsp']:4d} real {inst.get(x['index'], 0):4d}  {x['dsp_rule']}"
             for x in est["layers"] if x["dsp"] or inst.get(x["index"])]
    print(f"\n{case}: part {est['part']} ({est['family']}, rule {est['profile']['fifo_rule']}); FIFO est "
          f"{est['fifo_hls_bram18k']} real {rep.fifo_bram18k}; total est {est['hls_bram18k']} real "
          f"{rep.totals['BRAM_18K']}; DSP est {est['dsp']} real {rep.totals['DSP']}\n" + "\n".join(lines))
    assert est["part"].replace("-", "") == rep.part.replace("-", "")  # the config's part (7-series spelling aside)
    assert est["tool"] == "vitis" and est["family"] == rep.family
    assert got == real  # same FIFOs, depths and packed widths as the tool synthesized
    assert est["fifo_hls_bram18k"] == rep.fifo_bram18k
    assert est["hls_bram18k"] == rep.totals["BRAM_18K"]
    assert abs(est["dsp"] - rep.totals["DSP"]) <= max(1, 0.04 * rep.totals["DSP"])
    for x in est["layers"]:
        r = inst.get(x["index"], 0)
        assert abs(x["dsp"] - r) <= max(1, 0.05 * r), (x, r)
    assert est["fits"] is True


def test_docs_table_is_what_the_code_computes(stock):
    """docs/memory-and-storage.md holds the calibration table made by benchmarks/calibration_table.py:
    every row there equals what the rules compute now; the must-show bounds hold on every row."""
    rows = C.summary(CAL, stock)
    table = C.markdown(rows)
    docs = (ROOT / "docs" / "memory-and-storage.md").read_text()
    for line in table.splitlines()[2:]:
        assert line in docs, f"docs/memory-and-storage.md is stale (run benchmarks/calibration_table.py): {line}"
    n = sum(r["fifos"] for r in rows)
    ok = sum(r["fifos_exact"] for r in rows)
    assert ok / n >= 0.90
    for r in rows:  # the bounds are what the data shows: BRAM18K at most +2% (kv260 264 vs 259, the Vivado
        # 2020 designs 102 vs 100, lenet5 59 vs 58), DSP within max(1, 4%) (pixel_cnn_large +3.3%)
        assert abs(r["bram18k_est"] - r["bram18k_real"]) <= 0.02 * r["bram18k_real"], r
        if r["dsp_est"] is not None:
            assert abs(r["dsp_est"] - r["dsp_real"]) <= max(1, 0.04 * r["dsp_real"]), r
        elif r["dsp_lo"] is not None:
            assert r["dsp_lo"] <= r["dsp_real"] <= r["dsp_hi"], r
    assert sum(r["dsp_est"] is not None for r in rows) >= 7


def test_estimate_command_reproduces_a_real_csynth_total(reports):
    """'fpga-flow estimate MODEL --hls4ml-config CFG --json' on a calibration case (stock hls4ml,
    exactly the author's config): its HLS BRAM18K and DSP equal the real C-synthesis report's."""
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
    assert res["dsp"] == rep.totals["DSP"]
    assert res["part"] == "xc7a35tcpg236-1" and res["bram18k_available"] == 100 and res["fits"] is True
