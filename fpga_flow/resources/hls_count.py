"""What the HLS tool itself counts as BRAM_18K for FIFOs and ROMs, calibrated on real csynth reports.

``memory.py`` predicts what Vivado finally places; this module reproduces the *C-synthesis report*
(the number a user sees first and the one hls4ml's own report shows). The rules were read off, FIFO by
FIFO and ROM by ROM, from the csynth reports in ``shared/calibration`` (public hls4ml projects; see each
case's CASE.md). "Evidence" says which report rows a rule reproduces exactly; the parser below and
``tests/test_calibration.py`` re-check every number against the reports.

BRAM18K primitives used below (one BRAM18K = 18 Kib): true-dual-port shapes TDP = 16Kx1, 8Kx2, 4Kx4,
2Kx9, 1Kx18; the simple-dual-port shape 512x36 (the 36-bit read port needs both ports of the block).

Rule F0 - streams are packed (Vitis HLS). ``hls::stream<nnet::array<T,N>>`` becomes ONE FIFO of width
    N*bits(T) ("Aggregating fifo (hls::stream) variable 'layer9_out' with compact=bit mode in 100-bits",
    vitis_hls.log of tsopeter/lenet5; every Vitis FIFO table lists e.g. layer2_out 132 bit = 6 ch x 22 bit).
    Vivado HLS 2020.1 (tutorial part 6) instead made one FIFO per channel (layerX_out_V_data_<c>_V_U).

Rule F1 - SRL or memory (Vitis HLS, ``config_storage fifo -impl auto`` defaults, UG1399:
    auto_srl_max_bits=1024, auto_srl_max_depth=2). A FIFO is a shift register (0 BRAM) when
    depth <= 2 or depth*width <= 1024 bits; otherwise it is bound to "memory" (Vivado Default RAMs).
    Evidence: the IMPL="srl"/"memory" attribute of every FIFO BindNode in the csynth.xml of lenet5,
    pixel x2, tsopeter x2, ece226 and dune (69 FIFOs, all agree, including the edge cases
    9x114=1026 bits -> memory and 25x30=750, 9x36=324, 24x32=768 -> srl) and the "Implementing FIFO ...
    using Shift Registers / Vivado Default RAMs" lines of the tsopeter vitis_hls.log.

Rule F2 - memory FIFOs on every family but Virtex UltraScale+ (Zynq UltraScale+ incl. Kria K26, Artix-7;
    assumed for the families no report covers): TRUE-DUAL-PORT aspect ratios only (never 512x36), with
    the width split over several shapes when that is cheaper: BRAM18K = min over ways to cover `width`
    bits with columns of the TDP shapes of sum(ceil(depth/shape_depth)). Shallow wide FIFOs therefore
    cost ceil(width/18) blocks (16x128 -> 8, 64x400 -> 23, 16x256 -> 15, 9x114 -> 7, 1024x1024 -> 57,
    25x512 -> 29), and very deep ones mix shapes: 65536x16 -> 60 (= 9+4+2+1 bit columns: 32+16+8+4;
    plain 1Kx18 gives 64), 64260x512 -> 1796 (= 28x18-bit columns x 63 + one 9-bit column x 32;
    ceil-rule gives 1827), 3937x512 -> 114. No LUTRAM fallback on these families: 16x128 (lenet),
    16x256 (alexnet), 25x512 (kv260), 9x114 (tsopeter) all take BRAM. Evidence: every memory FIFO of
    alexnet (xczu7ev, 2022.1), lenet5 (xczu9eg, 2023.2), kv260 (xck26, 2025.2, up to 1344 bits wide),
    tsopeter best+nas (xc7a35t, 2024.2) and the wide/deep FIFOs of dune (xcvu11p, 2023.1, see F4).

Rule F4 - memory FIFOs on Virtex UltraScale+ (the product family of VU13P, VU11P and the Alveo U250 and
    U55C), Vitis HLS: a memory FIFO of depth <= 1024 and width <= 256 costs ceil(nextpow2(width)/32)
    BRAM18K whatever its depth (U55C: 900x256, 225x256, 169x256, 36x256 -> 8; 900x96, 169x96 -> 4;
    ece226 (U250): 128x256 -> 8, 130x144 -> 8; pixel (VU13P): 150x16 -> 1, 104x48 -> 2, 104x80 -> 4,
    104x128 -> 4). 900x256 in 8 BRAM18K is below the physical minimum (230,400 bits > 8 x 18,432): an
    estimator convention of the tool on this family, not a mapping. Small memory FIFOs cost 0 (LUTRAM):
    IP flow (pixel, 2023.1) depth <= 64, or depth <= 128 and <= 4096 bits (48x128, 24x208, 6x208,
    104x32 -> 0; 104x48 -> 2); kernel flow (U55C, 2022.2) depth <= 16 (16x384, 16x144, 4x384 -> 0;
    36x256 -> 8; dune, kernel flow: 28x512 -> 29). Wider or deeper FIFOs follow F2 (dune: 28x512,
    112x512 -> 29, 180x1024, 720x1024 -> 57, 65536x16 -> 60: all F2).
    WHAT DECIDES IT: the product family, not the tool version. The two rules alternate with the family
    across the versions: 2022.1 zynquplus F2 (alexnet 16x256 -> 15), 2022.2 virtexuplus F4 (U55C
    36x256 -> 8), 2023.1 virtexuplus F4 (pixel), 2023.2 zynquplus F2 (lenet 64x128 -> 8 where F4 gives 4),
    2024.1 virtexuplus F4 (ece226 128x256 -> 8), 2024.2 artix7 F2 (tsopeter 169x76 -> 5 where F4 gives
    4), 2025.2 zynquplus F2 (kv260 25x512 -> 29 where F4 gives 0): a rule keyed on the version would flip at
    every one of these versions, one keyed on the family never does (tests/test_calibration.py swaps the
    rules and checks that both sides break). Against what: the FIFO tables of these 10 Vitis reports
    (115 FIFOs), i.e. the same reports F4 was read off; no Virtex UltraScale+ report was held out, and
    the 256-bit bound and the flow-dependent LUTRAM threshold rest on one report each (dune; pixel vs
    U55C). Before this rule the pixel reports had a profile of their own ("vitis-2023.1-ip", 13 FIFOs)
    and ece226's two 128x256 FIFOs were "unexplained": both are F4.

Rule F3 - Vivado HLS 2020.1: one FIFO per channel; depth <= 16 -> SRL (0 BRAM); deeper -> TDP shapes
    as F2 (36x16, 169x6, 900x16 -> 1 each). Evidence: all 886 per-channel FIFOs of the two SVHN
    tutorial reports (xcu250; depths 1, 4, 16 -> 0; 36, 169, 225, 900 -> 1). The threshold lies in 17..35.

Rule R1 - ROMs read once per cycle (hls4ml Resource-strategy weights, ``#pragma HLS RESOURCE
    core=ROM_nP_BRAM``, and the softmax invert / sigmoid tables): simple-dual-port shapes allowed,
    i.e. cover the width with {TDP shapes, 512x36}: depth <= 512 costs ceil(width/36)
    (dune 128x888 -> 25, 288x2040 -> 57, 288x1016 -> 29, 144x2040 -> 57, 144x25 -> 1; tsopeter
    50x58 -> 2, 66x63 -> 2, 45x34 -> 1, 50x22/50x28/54x4/50x5 -> 1) and 1024 deep tables cost the 1Kx18
    count (1024x18 -> 1 in alexnet 2022.1, dune 2023.1, lenet5 2023.2; 1024x10 -> 1 in both pixel).
    Vitis 2024.1+ counted 1024x18 as 2 (ece226 invert_table), i.e. only 512x36 blocks:
    ceil(depth/512)*ceil(width/36) (version >= 2024.1; one row of evidence beyond depth 512).
    A ROM bound to BRAM by pragma costs at least 1 even when tiny (50x5 -> 1).
Rule R2 - ROMs read by k > 1 lookups per cycle (rom_np; the softmax exp_table is read n_in times):
    copies of a TRUE-dual-port ROM (TDP shapes as F2): Vitis >= 2023.1 (and Vivado HLS) ceil(k/2)
    copies (dune 1024x17, k=3 -> 2; ece226 1024x11, k=6 -> 3); Vitis 2022.x k-1 copies (alexnet
    1024x17, k=10 -> 9; held out: the U55C (2022.2) softmax instance, 10 inputs, has no sub-report,
    and its instance total, 10 = 9 + 1 for the inverse table, is reproduced). NOT reproduced: lenet5
    (2023.2) 1024x17 k=10 -> 4 (rule 5), kv260 (2025.2) softmax of 10 inputs: 2 in all (rule 6).
    Softmax instances without a sub-report (U55C, kv260, the Vivado 2020 tutorial) are estimated from the
    module name (n inputs, hls4ml's 1024-word tables: softmax_tables()).
Rule R3 - auto-bound ROM/RAM of <= 1024 bits -> LUTs (0 BRAM) (outidx 50x1 -> 0; the smallest BRAM
    table seen is 10,240 bits, so the threshold is only bracketed: assumed equal to F1's 1024 bits).
    hls4ml line buffers / pooling buffers (``ap_shift_reg``: names with line_buffer, pooling2d_buf,
    conv_2d_buffer) are shift registers: 0 BRAM at any size (all 1,000+ such rows: 0).

Totals: csynth BRAM_18K = FIFO table + Instance table (+ Memory table of the top); estimating every
FIFO (F1-F4) and every memory row of every sub-module report (R1-R3, times instance multiplicity)
reproduces the csynth totals of all 12 designs in shared/calibration within 2% (tests/test_calibration.py).

Profile: (tool, product family, flow target, version) select the rules; ``profile_for(part, tool)``
gives the one of a parts.Part, ``CaseReport.profile`` the one a report was made with.

Parsing: csynth.xml gives the totals (xml.etree; ``hls4ml.report.parse_vivado_report`` needs the full
project tree with hls.app/project.tcl, which these snapshots lack) and, for Vitis >= 2023, the
storage BindNodes (impl srl/memory/bram per FIFO/ROM). Per-FIFO depth/width and per-memory
words/bits/banks are only in the .rpt text tables (``* FIFO:``, ``* Memory:``, ``* Instance:``).
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

TDP_SHAPES: tuple[tuple[int, int], ...] = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18))
SDP_SHAPES: tuple[tuple[int, int], ...] = TDP_SHAPES + ((512, 36),)
SRL_MAX_BITS = 1024  # config_storage fifo -auto_srl_max_bits default
SRL_MAX_DEPTH = 2  # config_storage fifo -auto_srl_max_depth default
VIVADO_SRL_MAX_DEPTH = 16  # Vivado HLS 2020.1: observed 16 -> SRL, 36 -> BRAM
TOOLS = ("vitis", "vivado")
FLOWS = ("vivado", "vitis")  # Vitis HLS solution flow target: Vivado IP flow (hls4ml's build_prj.tcl) | kernel flow
# product families whose memory FIFOs follow rule F4 (every other family: F2, the larger count)
F4_FAMILIES = ("virtexuplus", "virtexuplusHBM", "virtexuplus58g")
F4_MAX_WIDTH = 256  # widest F4 FIFO seen (dune's 512/1024-bit FIFOs on xcvu11p follow F2)
F4_MAX_DEPTH = 1024


# ----------------------------------------------------------------------------- block counting

@lru_cache(maxsize=4096)
def cover_bram18k(depth: int, width: int, shapes: tuple[tuple[int, int], ...] = TDP_SHAPES) -> int:
    """Fewest BRAM18K holding depth x width when the width may be split over columns of `shapes`."""
    if depth <= 0 or width <= 0:
        return 0
    best = [0] * (width + 1)
    for r in range(1, width + 1):
        best[r] = min(math.ceil(depth / d) + best[max(0, r - w)] for d, w in shapes)
    return best[width]


def fifo_impl(depth: int, width: int, tool: str = "vitis") -> str:
    """'srl' (shift register, 0 BRAM) or 'memory' (RAM-based FIFO) as the HLS tool binds it."""
    if tool == "vivado":
        return "srl" if depth <= VIVADO_SRL_MAX_DEPTH else "memory"
    if depth <= SRL_MAX_DEPTH or depth * width <= SRL_MAX_BITS:
        return "srl"
    return "memory"


def fifo_rule(tool: str = "vitis", family: str = "") -> str:
    """Which FIFO rule applies: 'F3' (Vivado HLS, per channel), 'F4' (Vitis, Virtex UltraScale+),
    'F2' (Vitis, every other family and unknown ones)."""
    if tool not in TOOLS:
        raise ValueError(f"tool must be one of {TOOLS}")
    if tool == "vivado":
        return "F3"
    return "F4" if family in F4_FAMILIES else "F2"


def fifo_bram18k(depth: int, width: int, tool: str = "vitis", family: str = "", flow: str = "vivado") -> int:
    """BRAM_18K the csynth FIFO table shows for one FIFO of `depth` words of `width` bits.

    For Vitis pass the packed width (channels x bits); for tool='vivado' (Vivado HLS <= 2020) call it
    once per channel FIFO with the element width. family: the part's product family (rule F4 on
    Virtex UltraScale+, F2 otherwise); flow: the solution's flow target (F4's LUTRAM threshold).
    """
    rule = fifo_rule(tool, family)
    if flow not in FLOWS:
        raise ValueError(f"flow must be one of {FLOWS}")
    if depth <= 0 or width <= 0 or fifo_impl(depth, width, tool) == "srl":
        return 0
    if rule == "F4":
        lutram = (depth <= 64 or (depth <= 128 and depth * width <= 4096)) if flow == "vivado" else depth <= 16
        if lutram:
            return 0
        if width <= F4_MAX_WIDTH and depth <= F4_MAX_DEPTH:
            return math.ceil((1 << (width - 1).bit_length()) / 32)
    return cover_bram18k(depth, width, TDP_SHAPES)


def _ver(version: str | None) -> tuple[int, int]:
    m = re.match(r"(\d{4})\.(\d)", version or "")
    return (int(m.group(1)), int(m.group(2))) if m else (9999, 9)


def rom_bram18k(depth: int, width: int, reads: int = 1, impl: str = "auto", version: str | None = None,
                tool: str = "vitis") -> int:
    """BRAM_18K the csynth Memory table shows for one ROM of `depth` words x `width` bits.

    reads: lookups per clock cycle (1 for weights/invert/sigmoid tables; n_in for the softmax exp table).
    impl: 'bram' when a pragma binds it to BRAM (hls4ml Resource weights: always >= 1 block),
    'auto' otherwise (<= 1024 bits -> LUTs). version: tool version 'YYYY.N' (None = newest behaviour).
    """
    if depth <= 0 or width <= 0:
        return 0
    if impl != "bram" and depth * width <= SRL_MAX_BITS:
        return 0
    if reads > 1:
        copies = reads - 1 if tool == "vitis" and _ver(version) < (2023, 1) else math.ceil(reads / 2)
        n = copies * cover_bram18k(depth, width, TDP_SHAPES)
    elif tool == "vitis" and _ver(version) >= (2024, 1):
        n = math.ceil(depth / 512) * math.ceil(width / 36)
    else:
        n = cover_bram18k(depth, width, SDP_SHAPES)
    return n  # >= 1 here: a pragma-bound ROM skipped the LUT threshold above, so even 50x5 costs a block


@dataclass(frozen=True)
class Profile:
    """What decides the HLS memory count of a design: the tool, the part's product family, the
    solution's flow target and the tool version (module docstring: rules F1-F4, R1-R3)."""

    tool: str = "vitis"  # vitis | vivado (Vivado HLS <= 2020.1: one FIFO per channel)
    family: str = ""  # vendor product family of the part ("" = unknown: rule F2, the larger count)
    flow: str = "vivado"  # vivado (IP flow: what hls4ml's build_prj.tcl opens) | vitis (kernel flow)
    version: str | None = None  # 'YYYY.N' (None: newest behaviour)

    def __post_init__(self):
        fifo_rule(self.tool, self.family)  # validates tool
        if self.flow not in FLOWS:
            raise ValueError(f"flow must be one of {FLOWS}")

    @property
    def fifo_rule(self) -> str:
        return fifo_rule(self.tool, self.family)

    def fifo(self, depth: int, width: int) -> int:
        return fifo_bram18k(depth, width, self.tool, self.family, self.flow)

    def rom(self, depth: int, width: int, reads: int = 1, impl: str = "auto") -> int:
        return rom_bram18k(depth, width, reads, impl, self.version, "vivado" if self.tool == "vivado" else "vitis")

    def to_dict(self) -> dict:
        return {"tool": self.tool, "family": self.family, "flow": self.flow, "version": self.version,
                "fifo_rule": self.fifo_rule}


def profile_for(part=None, tool: str = "vitis", version: str | None = None, flow: str = "vivado") -> Profile:
    """The Profile of a parts.Part (its ``family``; a custom part without one gets rule F2)."""
    return Profile(tool, getattr(part, "family", "") or "", flow, version)


def softmax_tables(n: int) -> list[tuple[str, int, int, int]]:
    """hls4ml's softmax lookup tables (name, words, bits, reads per cycle): the exp table is read once
    per input in the same cycle, the inverse table once; 1024 words (hls4ml's table_size default);
    widths as the reports list them for the default ap_fixed<18,8> table types (exp values are
    non-negative: the tool keeps 17 bits)."""
    return [("exp_table", 1024, 17, max(1, n)), ("invert_table", 1024, 18, 1)]


# ----------------------------------------------------------------------------- report parsing

@dataclass
class FifoRow:
    name: str
    depth: int
    width: int
    bram18k: int
    impl: str = ""  # from csynth.xml BindNode when present: srl | memory


@dataclass
class MemRow:
    name: str
    module: str  # module whose report lists it
    words: int
    bits: int
    banks: int
    bram18k: int  # as reported, per instance of `module`
    count: int = 1  # how many instances of `module` the design holds
    kind: str = "rom"  # shift | weights | table | rom
    reads: int = 1
    impl: str = "auto"

    @property
    def bram18k_total(self) -> int:
        return self.bram18k * self.count


@dataclass
class CaseReport:
    case: str
    design: str
    tool: str  # vitis | vivado
    version: str
    flow: str  # vivado (IP) | vitis (kernel)
    part: str
    totals: dict[str, int]
    summary: dict[str, dict[str, int]]
    family: str = ""  # the report's "Product family"
    fifos: list[FifoRow] = field(default_factory=list)
    memories: list[MemRow] = field(default_factory=list)
    opaque: list[tuple[str, str, int]] = field(default_factory=list)  # (path, module, BRAM) w/o report

    @property
    def profile(self) -> Profile:
        """The Profile (tool, family, flow, version) this report was made with."""
        return Profile(self.tool, self.family, self.flow, self.version or None)

    @property
    def fifo_bram18k(self) -> int:
        return sum(f.bram18k for f in self.fifos)

    @property
    def memory_bram18k(self) -> int:
        return sum(m.bram18k_total for m in self.memories)

    def estimate(self, profile: Profile | None = None) -> dict[str, int]:
        """Rule-based BRAM18K from the depths/widths/words/bits this design contains. Instances without
        a sub-report: hls4ml softmax tables are estimated from the module name (n inputs); any other
        such instance's BRAM is taken as reported ('opaque_reported')."""
        prof = profile or self.profile
        fifo = sum(prof.fifo(f.depth, f.width) for f in self.fifos)
        mem = sum(estimate_memory(m, prof) * m.count for m in self.memories)
        named = opaque = 0
        for _, module, b in self.opaque:
            n = softmax_n(module)
            if n:
                named += sum(prof.rom(w, bits, reads) for _, w, bits, reads in softmax_tables(n))
            else:
                opaque += b
        return {"fifo": fifo, "memory": mem + named, "memory_from_name": named, "opaque_reported": opaque,
                "total": fifo + mem + named + opaque}


def estimate_memory(m: MemRow, profile: Profile | None = None) -> int:
    if m.kind == "shift":
        return 0
    prof = profile or Profile()
    return m.banks * prof.rom(m.words, m.bits, m.reads, m.impl)


def _int(s: str | None) -> int:
    m = re.match(r"-?\d+", (s or "").strip().replace(",", ""))
    return int(m.group(0)) if m else 0


def rpt_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """The '* Name:' tables of a csynth .rpt 'Utilization Estimates > Detail' section (rows as dicts)."""
    out: dict[str, list[dict[str, str]]] = {}
    start = text.find("== Utilization Estimates")
    if start < 0:
        return out
    end = text.find("\n================================================================\n== ", start + 30)
    lines = text[start: end if end > 0 else len(text)].splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"\s*\* (\w[\w ]*):\s*$", lines[i])
        i += 1
        if not m:
            continue
        rows: list[dict[str, str]] = []
        header: list[str] | None = None
        while i < len(lines) and lines[i].strip().startswith(("+", "|")):
            ln = lines[i].strip()
            i += 1
            if ln.startswith("+"):
                continue
            cells = [c.strip() for c in ln.strip("|").split("|")]
            if header is None:
                header = cells
            elif cells[0] != "Total":
                rows.append(dict(zip(header, cells)))
        out[m.group(1).strip()] = rows
    return out


def rpt_summary(text: str) -> dict[str, dict[str, int]]:
    """Rows of the rpt 'Summary' utilisation table: {'FIFO': {'BRAM_18K': 53, ...}, 'Total': {...}}."""
    start = text.find("== Utilization Estimates")
    seg = text[start: text.find("+ Detail", start)] if start >= 0 else ""
    header = None
    out: dict[str, dict[str, int]] = {}
    for ln in seg.splitlines():
        ln = ln.strip()
        if not ln.startswith("|"):
            continue
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if header is None:
            header = cells
            continue
        out[cells[0]] = {("DSP" if h.startswith("DSP") else h): _int(c) for h, c in zip(header[1:], cells[1:])}
    return out


def rpt_header(text: str) -> dict[str, str]:
    head = text[:1500]
    tool = "vivado" if "Vivado HLS Report" in head else "vitis"
    ver = re.search(r"\* Version:\s+(\S+)", head)
    part = re.search(r"\* Target device:\s+(\S+)", head)
    flow = "vitis" if "Vitis Kernel Flow" in head else "vivado"
    top = re.search(r"HLS Report for '([^']+)'", head)
    fam = re.search(r"\* Product family:\s+(\S+)", head)
    return {"tool": tool, "version": ver.group(1) if ver else "", "part": part.group(1) if part else "",
            "flow": flow, "top": top.group(1) if top else "", "family": fam.group(1) if fam else ""}


_SHIFT_RE = re.compile(r"line_buffer|pooling2d_buf|conv_2d_buffer|p_ZZN4nnet")
_WEIGHT_RE = re.compile(r"^w\d+(_\d+)?_U$")
_SOFTMAX_N_RE = re.compile(r"_(\d+)u_softmax")


def softmax_n(module: str) -> int:
    """Inputs of an hls4ml softmax instance from its module name (softmax_..._10u_softmax_config7_s), else 0."""
    m = _SOFTMAX_N_RE.search(module) if module.startswith("softmax") else None
    return int(m.group(1)) if m else 0


def classify_memory(name: str, module: str) -> tuple[str, int, str]:
    """(kind, reads per cycle, impl) of a memory row, from hls4ml's naming."""
    if _SHIFT_RE.search(name):
        return "shift", 1, "auto"
    if _WEIGHT_RE.match(name):  # hls4ml >= 1.0 Resource dense: '#pragma HLS RESOURCE core=ROM_nP_BRAM'
        return "weights", 1, "bram"
    if name.startswith("exp_table"):
        m = _SOFTMAX_N_RE.search(module)
        return "table", int(m.group(1)) if m else 1, "auto"
    if "table" in name:
        return "table", 1, "auto"
    return "rom", 1, "auto"


def _xml_storage(xml_path: Path) -> dict[str, dict[str, str]]:
    """RTL name -> BindNode attributes of storage bindings (fifo/rom/ram) in an aggregated csynth.xml."""
    out: dict[str, dict[str, str]] = {}
    if not xml_path.is_file():
        return out
    for node in ET.parse(xml_path).iter("BindNode"):
        if node.get("BINDTYPE") == "storage":
            out.setdefault(node.get("RTLNAME", ""), dict(node.attrib))
    return out


def _xml_totals(xml_path: Path) -> dict[str, int]:
    if not xml_path.is_file():
        return {}
    res = ET.parse(xml_path).getroot().find("AreaEstimates/Resources")
    return {} if res is None else {c.tag: _int(c.text) for c in res}


def parse_report(top_rpt: Path, case: str = "", design: str = "") -> CaseReport:
    """FIFOs, memories (with instance multiplicity) and totals of one design from its top csynth .rpt."""
    report_dir = top_rpt.parent
    text = top_rpt.read_text(errors="replace")
    hdr = rpt_header(text)
    summary = rpt_summary(text)
    totals = _xml_totals(top_rpt.with_suffix(".xml")) or summary.get("Total", {})
    storage = _xml_storage(report_dir / "csynth.xml")
    rep = CaseReport(case=case or report_dir.name, design=design or hdr["top"], tool=hdr["tool"],
                     version=hdr["version"], flow=hdr["flow"], part=hdr["part"], totals=totals,
                     summary=summary, family=hdr["family"])
    for r in rpt_tables(text).get("FIFO", []):
        name = r.get("Name", "")
        rep.fifos.append(FifoRow(name, _int(r.get("Depth")), _int(r.get("Bits")), _int(r.get("BRAM_18K")),
                                 storage.get(name, {}).get("IMPL", "")))
    # walk the instance tree through the per-module reports
    top_mod = top_rpt.name[: -len("_csynth.rpt")]
    counts: dict[str, int] = {}
    stack = [(top_mod, top_rpt, 1)]
    seen_tables: dict[str, dict] = {}
    while stack:
        module, rpt, mult = stack.pop()
        counts[module] = counts.get(module, 0) + mult
        if module not in seen_tables:
            seen_tables[module] = rpt_tables(rpt.read_text(errors="replace"))
        for row in seen_tables[module].get("Instance", []):
            sub = row.get("Module", "")
            p = report_dir / f"{sub}_csynth.rpt"
            if p.is_file():
                stack.append((sub, p, mult))
            elif _int(row.get("BRAM_18K")):
                rep.opaque.append((row.get("Instance", ""), sub, _int(row.get("BRAM_18K")) * mult))
    for module, tables in seen_tables.items():
        for r in tables.get("Memory", []):
            name = r.get("Memory", "")
            kind, reads, impl = classify_memory(name, module)
            bound = storage.get(name, {}).get("IMPL")
            if bound and kind != "shift":  # the xml says how the tool bound it (bram by pragma, or auto)
                impl = "bram" if bound == "bram" else "auto"
            rep.memories.append(MemRow(name, module, _int(r.get("Words")), _int(r.get("Bits")),
                                       max(1, _int(r.get("Banks"))), _int(r.get("BRAM_18K")),
                                       counts[module], kind, reads, impl))
    return rep


def find_top_reports(case_dir: Path) -> list[Path]:
    """Top-level csynth .rpt of each hls4ml design in a calibration case folder."""
    case_dir = Path(case_dir)
    rpts = sorted(case_dir.rglob("*_csynth.rpt"))
    tops = [p for p in rpts if p.name == "myproject_csynth.rpt"]
    if not tops:
        tcl = case_dir / "project.tcl"
        if tcl.is_file():
            m = re.search(r'set project_name "([^"]+)"', tcl.read_text())
            if m:
                tops = [p for p in rpts if p.name == f"{m.group(1)}_csynth.rpt"]
    if not tops:
        tops = [p for p in rpts if p.name.endswith("_myproject_csynth.rpt")]
    return tops
