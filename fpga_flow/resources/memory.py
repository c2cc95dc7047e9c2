"""Mapping one memory (depth x width bits) onto FPGA primitives. Estimates, not measurements.

Two counts per memory:

* ``hls_bram18k``: what a Vitis HLS C-synthesis report would count for the memory as the written
  project binds it (fpga_flow/resources/hls_count.py: rules read off real csynth reports FIFO by
  FIFO and ROM by ROM, tests/test_calibration.py). ``fits`` is decided on this count: a design that
  fits by it fits after implementation (Vivado uses the same or fewer blocks: see the calibration
  cases with both reports).
    - weight/bias ROMs bound to BRAM (read one word per clock): rule R1, 512x36 allowed;
    - FIFOs and RAMs bound to BRAM (read and written in the same clock): true-dual-port shapes only,
      the width split over 16Kx1..1Kx18 columns (rule F2); e.g. 60 x 512 bits -> 29 BRAM18K;
    - memories bound to SRL / LUTRAM / registers, and hls4ml's ap_shift_reg line buffers: 0;
* ``bram18k``: a post-implementation guess (FINN's published estimator for block RAM: aspect ratios
  16Kx1 .. 512x36, packing a memory into the fewest blocks), shown beside the HLS count and labelled;
  not calibrated (no post-implementation report of an hls4ml io_stream design with bound memories).
  w=1: ceil(d/16384); w=2: ceil(d/8192); w<=4: ceil(d/4096)*ceil(w/4); w<=9: ceil(d/2048)*ceil(w/9);
  w<=18 or d>512: ceil(d/1024)*ceil(w/18); else ceil(d/512)*ceil(w/36).
UltraRAM: 4K x 72 per URAM (294,912 bits): ceil(d/4096)*ceil(w/72).

Where the plan puts each memory (``impl``; the written project binds it so, hls/storage.py, and
``fpga-flow audit`` checks the binding):
* ROMs of depth <= 2: registers (flip-flops);
* FIFOs of depth <= 32 (Vitis HLS makes every FIFO of depth <= 2 a shift register, rule F1) and hls4ml's conv line buffers (ap_shift_reg) of any depth: SRL32 shift
  registers, width * ceil(depth/32) LUTs;
* FIFOs of depth 33..128 and our pooling row RAMs (any depth): LUTRAM (RAM64M, 4 LUTs per 3 bits
  per 64 words): in BRAM a wide shallow memory that is written and read every clock costs one block
  per 18 bits of width;
* ROMs of depth <= 64: distributed (LUT) ROM, width * ceil(depth/64) LUTs;
* otherwise BRAM18K (or URAM when the fitter assigns it: only memories the written project can bind
  to URAM and that need no initial contents, i.e. FIFOs; UltraScale+ URAM cannot be initialised by
  the bitstream, so a weight ROM there would need a load path, which the flow does not build).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from . import hls_count as hc

BRAM18K_BITS = 18_432
URAM_BITS = 294_912
SRL_DEPTH = 32
LUTRAM_DEPTH = 64
# FIFOs deeper than an SRL32 but shallow: LUTRAM (a wide, shallow FIFO in BRAM costs a block per 18
# bits of width whatever its depth, rule F2 of hls_count: 60 x 512 bits -> 29 BRAM18K)
FIFO_LUTRAM_DEPTH = 128


def bram18k(depth: int, width: int) -> int:
    if depth <= 0 or width <= 0:
        return 0
    if width == 1:
        return math.ceil(depth / 16384)
    if width == 2:
        return math.ceil(depth / 8192)
    if width <= 4:
        return math.ceil(depth / 4096) * math.ceil(width / 4)
    if width <= 9:
        return math.ceil(depth / 2048) * math.ceil(width / 9)
    if width <= 18 or depth > 512:
        return math.ceil(depth / 1024) * math.ceil(width / 18)
    return math.ceil(depth / 512) * math.ceil(width / 36)


def uram(depth: int, width: int) -> int:
    if depth <= 0 or width <= 0:
        return 0
    return math.ceil(depth / 4096) * math.ceil(width / 72)


@dataclass
class Memory:
    """One memory of a layer and where it lands."""

    layer: str
    kind: str  # weights | bias | line_buffer | fifo
    depth: int
    width: int
    role: str = "rom"  # rom | ram | fifo | shift (ap_shift_reg: always SRL)
    copies: int = 1
    impl: str = ""  # ff | srl | lutram | bram | uram
    bram18k: int = 0
    uram: int = 0
    luts: int = 0
    ffs: int = 0
    hls_bram18k: int = 0
    note: str = ""  # what the memory is made of, for a reader ("ap_shift_reg per channel")
    stream: str = ""  # FIFOs: the stream (hls4ml output name) it holds
    var: str = ""  # the C++ variable that holds it in the written project (weights, biases, FIFOs)
    uram_ok: bool = field(default=False, repr=False)

    @property
    def bits(self) -> int:
        return self.depth * self.width * self.copies

    @property
    def capacity_bits(self) -> int:
        """Bits of the primitives holding it (BRAM by the HLS count, URAM); LUT/FF memories count as
        their own size."""
        if self.impl == "bram":
            return self.hls_bram18k * BRAM18K_BITS
        if self.impl == "uram":
            return self.uram * URAM_BITS
        return self.bits

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("uram_ok", None)
        d["bits"] = self.bits
        d["capacity_bits"] = self.capacity_bits
        d["efficiency"] = round(self.bits / self.capacity_bits, 4) if self.capacity_bits else None
        return d


def place(m: Memory, use_uram: bool = False, profile: "hc.Profile | None" = None) -> Memory:
    """Decide the primitive for ``m`` (in place) and fill its counts. ``profile``: the part's HLS
    memory-rule profile (hls_count.profile_for(part, tool)); None keeps the default rules."""
    m.bram18k = m.uram = m.luts = m.ffs = 0
    n = m.copies
    if m.depth <= 2 and m.role == "rom":
        m.impl, m.ffs = "ff", m.depth * m.width * n
    elif m.role == "shift" or (m.role == "fifo" and m.depth <= SRL_DEPTH):
        m.impl, m.luts = "srl", m.width * math.ceil(m.depth / SRL_DEPTH) * n
    elif m.role == "ram" or (m.role == "fifo" and m.depth <= FIFO_LUTRAM_DEPTH and not use_uram):
        # read and written every clock: RAM64M (4 LUTs: 3 bits x 64 words, simple dual port)
        m.impl, m.luts = "lutram", 4 * math.ceil(m.width / 3) * math.ceil(m.depth / LUTRAM_DEPTH) * n
    elif m.role == "rom" and m.depth <= LUTRAM_DEPTH:
        m.impl, m.luts = "lutram", m.width * math.ceil(m.depth / LUTRAM_DEPTH) * n
    elif use_uram:
        m.impl, m.uram = "uram", uram(m.depth, m.width) * n
    else:
        m.impl, m.bram18k = "bram", bram18k(m.depth, m.width) * n
    m.uram_ok = m.depth > LUTRAM_DEPTH
    m.hls_bram18k = hls_count(m, profile)
    return m


def hls_count(m: Memory, profile: "hc.Profile | None" = None) -> int:
    """BRAM18K that Vitis HLS C-synthesis would report for ``m`` as placed (module docstring).

    With a ``profile`` the ROM rules follow its tool and version. FIFOs and RAMs the plan binds to BRAM
    keep the true-dual-port count (rule F2) on every family: the family-dependent rules of hls_count
    (F4 on Virtex UltraScale+) were read off FIFOs the tool bound by itself; no report shows an
    explicitly bound one, and F2 is the larger count."""
    n = m.copies
    if m.impl == "bram":
        if m.role == "rom":
            return (profile.rom(m.depth, m.width, 1, "bram") if profile else hc.rom_bram18k(m.depth, m.width, 1, "bram")) * n
        return hc.cover_bram18k(m.depth, m.width, hc.TDP_SHAPES) * n
    return 0
