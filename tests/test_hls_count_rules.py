"""The HLS BRAM18K rules (resources/hls_count.py) and the placement thresholds (resources/memory.py),
without the shared calibration reports: every threshold on both sides of its boundary. Where a row of a
real report shows the shape, it is named; the report-based checks of the same rules are in
tests/test_calibration.py (which skips when the reports are absent)."""
import pytest

from fpga_flow.resources import hls_count as hc
from fpga_flow.resources.memory import Memory, place

pytestmark = pytest.mark.fast


def test_rules_unit():
    # shapes the reports show (each pair is a report row; moved here from test_calibration.py, whose
    # module-wide skip caught it although it reads no report)
    assert hc.fifo_bram18k(1, 1264) == 0
    assert hc.fifo_bram18k(9, 114) == 7 and hc.fifo_bram18k(9, 36) == 0
    assert hc.fifo_bram18k(65536, 16) == 60
    assert hc.fifo_bram18k(64260, 512) == 1796
    assert hc.fifo_bram18k(900, 256, family="virtexuplus", flow="vitis") == 8  # U55C
    assert hc.fifo_bram18k(16, 256, family="zynquplus") == 15  # alexnet (xczu7ev)
    assert hc.fifo_bram18k(128, 256, family="virtexuplus") == 8  # ece226 (U250)
    assert hc.fifo_bram18k(28, 512, family="virtexuplus", flow="vitis") == 29  # dune (xcvu11p)
    assert hc.rom_bram18k(128, 888, impl="bram", version="2023.1") == 25
    assert hc.rom_bram18k(1024, 18, version="2023.2") == 1
    assert hc.rom_bram18k(1024, 18, version="2024.1") == 2
    assert hc.rom_bram18k(50, 5, impl="bram") == 1 and hc.rom_bram18k(50, 1) == 0
    with pytest.raises(ValueError):
        hc.fifo_bram18k(10, 10, tool="quartus")


def test_srl_depth_threshold_both_sides():
    """Vitis config_storage defaults (UG1399): auto_srl_max_depth=2: depth 2 is a shift register at any
    width, depth 3 is one only within the bits threshold."""
    assert hc.fifo_impl(2, 100_000) == "srl" and hc.fifo_bram18k(2, 100_000) == 0
    assert hc.fifo_impl(1, 4096) == "srl"
    assert hc.fifo_impl(3, 100_000) == "memory" and hc.fifo_bram18k(3, 100_000) > 0


def test_srl_bits_threshold_both_sides():
    """auto_srl_max_bits=1024: depth x width <= 1024 bits is a shift register, 1025 and up memory
    (report rows: 9x114 = 1026 bits -> memory, 25x30 = 750 -> srl)."""
    assert hc.fifo_impl(4, 256) == "srl" and hc.fifo_impl(32, 32) == "srl"  # 1024 bits
    assert hc.fifo_impl(5, 205) == "memory" and hc.fifo_impl(1025, 1) == "memory"  # 1025 bits
    assert hc.fifo_impl(1024, 1) == "srl"
    assert hc.fifo_bram18k(4, 256) == 0 and hc.fifo_bram18k(1025, 1) == 1
    assert hc.fifo_impl(3, 342) == "memory" and hc.fifo_impl(3, 341) == "srl"  # 1026 / 1023 bits


def test_vivado_srl_depth_threshold_both_sides():
    """Vivado HLS 2020.1, one FIFO per channel: depth 16 -> SRL (0), 17 -> memory (reports: 16 -> 0, 36 -> 1)."""
    assert hc.fifo_impl(16, 4096, "vivado") == "srl" and hc.fifo_bram18k(16, 4096, "vivado") == 0
    assert hc.fifo_impl(17, 1, "vivado") == "memory" and hc.fifo_bram18k(17, 1, "vivado") == 1
    assert hc.fifo_bram18k(36, 16, "vivado") == 1


def test_virtex_ultrascale_plus_fifo_rule_boundaries():
    """Rule F4 (Vitis on Virtex UltraScale+, resources/hls_count.py): LUTRAM when shallow (IP flow: <= 64
    deep at any width, <= 128 deep within 4,096 bits; kernel flow: <= 16 deep), else up to 256 bits and
    1,024 deep ceil(next power of two of the width / 32) BRAM18K, beyond that the true-dual-port cover."""
    f4 = dict(family="virtexuplus")
    assert hc.fifo_bram18k(64, 1000, **f4) == 0 and hc.fifo_bram18k(65, 63, **f4) == 0  # 4,095 bits
    assert hc.fifo_bram18k(128, 32, **f4) == 0 and hc.fifo_bram18k(128, 33, **f4) == 2  # 4,096 / 4,224 bits
    assert hc.fifo_bram18k(129, 31, **f4) == 1  # deeper than 128
    assert hc.fifo_bram18k(16, 256, **f4, flow="vitis") == 0 and hc.fifo_bram18k(17, 256, **f4, flow="vitis") == 8
    # the width rounded up to a power of two, 32 bits per block
    assert [hc.fifo_bram18k(200, w, **f4) for w in (32, 33, 64, 65, 128, 129, 256)] == [1, 2, 2, 4, 4, 8, 8]
    # beyond 256 bits or 1,024 words: the true-dual-port cover (F2)
    assert hc.fifo_bram18k(200, 257, **f4) == hc.cover_bram18k(200, 257, hc.TDP_SHAPES) == 15
    assert hc.fifo_bram18k(1024, 16, **f4) == 1 and hc.fifo_bram18k(1025, 16, **f4) == hc.cover_bram18k(1025, 16)
    # report rows (pixel cases, xcvu13p, IP flow): 150x16 -> 1, 104x48 -> 2, 104x80 -> 4, 104x128 -> 4;
    # U55C (kernel flow): 900x256 -> 8
    assert [hc.fifo_bram18k(d, w, **f4) for d, w in ((150, 16), (104, 48), (104, 80), (104, 128))] == [1, 2, 4, 4]
    assert hc.fifo_bram18k(900, 256, **f4, flow="vitis") == 8
    # any other family (Zynq UltraScale+, K26, Artix-7): F2 only, 256 bits -> 15 at any depth
    assert hc.fifo_bram18k(900, 256, family="zynquplus", flow="vitis") == 15 == hc.fifo_bram18k(16, 256)


# RAMB18 aspect ratios (UG573): 16Kx1, 8Kx2, 4Kx4, 2Kx9, 1Kx18 (true dual port) and 512x36 (simple dual
# port). Each boundary below: the largest memory one block holds, and one word or bit more.
@pytest.mark.parametrize("depth,width,tdp,sdp", [
    (16384, 1, 1, 1), (16385, 1, 2, 2),
    (8192, 2, 1, 1), (8193, 2, 2, 2),
    (4096, 4, 1, 1), (4097, 4, 2, 2),
    (2048, 9, 1, 1), (2049, 9, 2, 2),
    (1024, 18, 1, 1), (1025, 18, 2, 2), (1024, 19, 2, 2),  # 19 bits: a 1Kx18 and a 1Kx1 column
    (512, 36, 2, 1), (513, 36, 2, 2), (512, 37, 3, 2),  # 512x37: 512x36 + one 16Kx1 column
    (0, 8, 0, 0), (8, 0, 0, 0),
])
def test_block_shapes_both_sides(depth, width, tdp, sdp):
    assert hc.cover_bram18k(depth, width, hc.TDP_SHAPES) == tdp
    assert hc.cover_bram18k(depth, width, hc.SDP_SHAPES) == sdp


def test_rom_thresholds_both_sides():
    # auto-bound tables of <= 1024 bits go to LUTs (0); 1025 bits need a block
    assert hc.rom_bram18k(32, 32) == 0 and hc.rom_bram18k(1024, 1) == 0
    assert hc.rom_bram18k(41, 25) == 1 and hc.rom_bram18k(1025, 1, version="2023.2") == 1
    assert hc.rom_bram18k(1025, 1) == 3  # newest (2024.1+): 512x36 blocks only, ceil(1025/512)
    # bound to BRAM by pragma: at least one block however small (report: 50x5 -> 1)
    assert hc.rom_bram18k(2, 2, impl="bram") == 1 and hc.rom_bram18k(2, 2) == 0
    assert hc.rom_bram18k(0, 8, impl="bram") == 0
    # read once per cycle: 512x36 allowed (2023.x): 512x36 -> 1, 512x37 -> 2; 1024x18 -> 1
    assert hc.rom_bram18k(512, 36, version="2023.2") == 1 and hc.rom_bram18k(512, 37, version="2023.2") == 2
    # k lookups per cycle: ceil(k/2) true-dual-port copies (reports: 1024x17 k=3 -> 2, 1024x11 k=6 -> 3)
    assert hc.rom_bram18k(1024, 17, reads=2) == 1 and hc.rom_bram18k(1024, 17, reads=3) == 2
    assert hc.rom_bram18k(1024, 11, reads=6) == 3 and hc.rom_bram18k(512, 36, reads=2) == 2


def test_rom_version_boundary():
    """Vitis 2024.1 and later count one-read ROMs in 512x36 blocks only; 2023.2 and earlier (and the
    Vivado profile) cover with every shape; no version means the newest behaviour."""
    assert hc.rom_bram18k(1024, 18, version="2023.2") == 1
    assert hc.rom_bram18k(1024, 18, version="2024.1") == 2 and hc.rom_bram18k(1024, 18, version="2024.2") == 2
    assert hc.rom_bram18k(1024, 18) == 2  # newest
    assert hc.rom_bram18k(1024, 18, version="2024.1", tool="vivado") == 1
    assert hc.rom_bram18k(2048, 9, version="2023.2") == 1 and hc.rom_bram18k(2048, 9, version="2024.1") == 4
    assert hc._ver("2023.2") == (2023, 2) and hc._ver("2024.1") == (2024, 1) and hc._ver(None) == (9999, 9)


# ------------------------------------------------------------------ memory.place: where the plan puts a memory

def _place(kind, depth, width, role, **kw):
    m = place(Memory("l", kind, depth, width, role, **kw))
    return m.impl, m.hls_bram18k


def test_place_rom_thresholds_both_sides():
    assert _place("weights", 2, 500, "rom") == ("ff", 0)  # depth <= 2: registers
    assert _place("weights", 3, 500, "rom")[0] == "lutram"
    assert _place("weights", 64, 500, "rom") == ("lutram", 0)  # <= 64 words: distributed ROM
    impl, blocks = _place("weights", 65, 500, "rom")
    assert impl == "bram" and blocks == hc.rom_bram18k(65, 500, 1, "bram") == 14  # ceil(500/36)


def test_place_fifo_thresholds_both_sides():
    assert _place("fifo", 32, 512, "fifo") == ("srl", 0)  # SRL32
    assert _place("fifo", 33, 512, "fifo") == ("lutram", 0)
    assert _place("fifo", 128, 512, "fifo") == ("lutram", 0)
    impl, blocks = _place("fifo", 129, 512, "fifo")
    assert impl == "bram" and blocks == 29  # TDP only: ceil(512/18) 1Kx18 columns
    m = place(Memory("l", "fifo", 129, 512, "fifo"), use_uram=True)
    assert (m.impl, m.uram, m.hls_bram18k) == ("uram", 8, 0)  # ceil(512/72) URAM288
    # what the fitter may move to URAM: deeper than 64 words
    assert place(Memory("l", "fifo", 64, 8, "fifo")).uram_ok is False
    assert place(Memory("l", "fifo", 65, 8, "fifo")).uram_ok is True


def test_place_shift_and_ram_and_copies():
    assert _place("line_buffer", 100_000, 64, "shift") == ("srl", 0)  # ap_shift_reg at any depth
    assert _place("line_buffer", 3, 8, "ram") == ("lutram", 0)  # pooling row RAMs: LUTRAM at any depth
    m = place(Memory("l", "weights", 65, 500, "rom", copies=3))
    assert m.hls_bram18k == 3 * 14 and m.bits == 3 * 65 * 500


# ------------------------------------------------------------------ naming, profiles and the parser's helpers

def test_classify_memory_by_hls4ml_names():
    """Each kind of memory row the reports list, by the names hls4ml and the tool give it (every name is a
    row of a report in shared/calibration): line buffers are shift registers, wN_U Resource weights are
    pragma-bound ROMs, the softmax exp table is read once per input."""
    sm = "softmax_array_array_ap_fixed_16_6_5_3_0_10u_softmax_config25_s"
    assert hc.classify_memory("void_pooling2d_cl_stream_stream_array_ap_fixed_4u_0_line_buffer_3_U",
                              "pooling2d_cl_array") == ("shift", 1, "auto")
    assert hc.classify_memory("p_ZZN4nnet26conv_2d_buffer_resource_clINS_5arrayI9ap_ufixedILi6E_9_U",
                              "shift_line_buffer") == ("shift", 1, "auto")
    assert hc.classify_memory("w12_U", "dense_resource") == ("weights", 1, "bram")
    assert hc.classify_memory("exp_table_U", sm) == ("table", 10, "auto")
    assert hc.classify_memory("exp_table_U", "softmax_legacy_s") == ("table", 1, "auto")
    assert hc.classify_memory("invert_table_U", sm) == ("table", 1, "auto")
    assert hc.classify_memory("sigmoid_table_U", "sigmoid_s") == ("table", 1, "auto")
    assert hc.classify_memory("outidx_U", "dense_resource") == ("rom", 1, "auto")


def test_softmax_inputs_from_the_module_name():
    assert hc.softmax_n("softmax_array_array_ap_fixed_16_6_5_3_0_10u_softmax_config25_s") == 10
    assert hc.softmax_n("softmax_array_array_ap_fixed_10u_softmax_config27_s") == 10
    assert hc.softmax_n("softmax_legacy_s") == 0  # a softmax whose inputs the name does not give
    assert hc.softmax_n("relu_array_ap_fixed_10u_relu_config4_s") == 0  # not a softmax
    # one input reads the exp table once per cycle (one block, not a dual-port copy)
    assert hc.softmax_tables(1) == [("exp_table", 1024, 17, 1), ("invert_table", 1024, 18, 1)]
    assert hc.softmax_tables(10)[0] == ("exp_table", 1024, 17, 10)


def test_estimate_adds_instances_without_a_report():
    """An instance without a sub-report: a softmax is estimated from its name, any other instance's BRAM
    is taken as reported and added (never subtracted) to the total."""
    sm = "softmax_array_array_ap_fixed_16_6_5_3_0_10u_softmax_config25_s"
    rep = hc.CaseReport("c", "d", "vitis", "2023.1", "vivado", "xczu9eg", {}, {}, family="zynquplus",
                        fifos=[hc.FifoRow("f", 900, 132, 0)],
                        opaque=[("ip_U0", "some_ip_s", 3), ("sm_U0", sm, 99), ("sm2_U0", sm, 99)])
    est = rep.estimate()
    prof = rep.profile
    named = prof.rom(1024, 17, 10) + prof.rom(1024, 18, 1)
    assert est["opaque_reported"] == 3 and est["memory_from_name"] == 2 * named == 12  # two softmax instances
    assert est["fifo"] == prof.fifo(900, 132) > 0
    assert est["total"] == est["fifo"] + 2 * named + 3


def test_profile_for_a_part():
    from fpga_flow.resources import parts

    u55c = parts.resolve("xcu55c-fsvh2892-2L-e")
    p = hc.profile_for(u55c, "vitis", "2022.2", "vitis")
    assert p == hc.Profile("vitis", u55c.family, "vitis", "2022.2") and p.fifo_rule == "F4"
    assert hc.profile_for(parts.resolve("xczu7ev-ffvc1156-2-e")).to_dict() == {
        "tool": "vitis", "family": "zynquplus", "flow": "vivado", "version": None, "fifo_rule": "F2"}
    assert hc.profile_for() == hc.Profile() and hc.profile_for().family == ""  # custom part: rule F2
    assert hc.profile_for(None, "vivado").fifo_rule == "F3"


def test_bad_tool_or_flow_is_named():
    assert hc.fifo_rule() == "F2"
    with pytest.raises(ValueError, match=r"tool must be one of \('vitis', 'vivado'\)"):
        hc.fifo_rule("quartus")
    with pytest.raises(ValueError, match=r"flow must be one of \('vivado', 'vitis'\)"):
        hc.fifo_bram18k(100, 100, flow="ip")
    with pytest.raises(ValueError, match="flow must be one of"):
        hc.Profile(flow="ip")


def test_rom_copy_rule_changes_at_2023_1():
    """k lookups per cycle: Vitis 2022.x keeps k-1 copies (alexnet 2022.1: 1024x17, k=10 -> 9), 2023.1 and
    later ceil(k/2) (dune 2023.1: 1024x17, k=3 -> 2)."""
    assert hc.rom_bram18k(1024, 17, reads=10, version="2022.2") == 9
    assert hc.rom_bram18k(1024, 17, reads=3, version="2022.2") == 2
    assert hc.rom_bram18k(1024, 17, reads=10, version="2023.1") == 5
    assert hc.rom_bram18k(1024, 17, reads=4, version="2022.1") == 3 and hc.rom_bram18k(1024, 17, reads=4, version="2023.1") == 2


def test_report_numbers_and_headers():
    assert hc._int("1,024") == 1024 and hc._int(" 58") == 58 and hc._int("-") == 0 and hc._int(None) == 0
    head = "== Vitis HLS Report for 'myproject'\n* Date: x\n* Project: myproject_prj\n"
    h = hc.rpt_header(head)  # a header without Version / Target device / Product family lines
    assert (h["tool"], h["version"], h["part"], h["family"], h["top"], h["flow"]) == (
        "vitis", "", "", "", "myproject", "vivado")
    assert hc.rpt_header("* Version: 2023.1\n")["top"] == "" and hc.rpt_header("")["version"] == ""
    # a Profile's one-read ROM: 2024.1+ counts 1024x17 in 512x36 blocks (2), not as a dual-read copy (1)
    assert hc.Profile().rom(1024, 17) == 2 and hc.Profile(version="2023.2").rom(1024, 17) == 1
