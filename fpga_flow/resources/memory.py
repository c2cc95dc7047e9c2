"""Mapping one memory (depth x width bits) onto FPGA primitives. Estimates, not measurements.

Block RAM rule (FINN's published BRAM18K estimator for its weight memories; aspect ratios 16Kx1,
8Kx2, 4Kx4, 2Kx9, 1Kx18, 512x36 of one 18,432-bit BRAM18K):
    w=1: ceil(d/16384); w=2: ceil(d/8192); w<=4: ceil(d/4096)*ceil(w/4); w<=9: ceil(d/2048)*ceil(w/9);
    w<=18 or d>512: ceil(d/1024)*ceil(w/18); else ceil(d/512)*ceil(w/36).
UltraRAM: 4K x 72 per URAM (294,912 bits): ceil(d/4096)*ceil(w/72).

What the implementation does with small memories (the number predicted here is the
post-implementation mapping; ``hls_bram18k`` is what an HLS C-synthesis report would count, which
puts every memory deeper than 2 in BRAM):
* depth <= 2: registers (flip-flops);
* FIFOs of depth <= 32 and hls4ml's conv line buffers (ap_shift_reg) of any depth: SRL32 shift
  registers, width * ceil(depth/32) LUTs;
* ROMs / line-buffer RAMs of depth <= 64: distributed (LUT) memory, width * ceil(depth/64) LUTs;
* otherwise BRAM18K (or URAM when the fitter assigns it).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

BRAM18K_BITS = 18_432
URAM_BITS = 294_912
SRL_DEPTH = 32
LUTRAM_DEPTH = 64


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
    note: str = ""
    uram_ok: bool = field(default=False, repr=False)

    @property
    def bits(self) -> int:
        return self.depth * self.width * self.copies

    @property
    def capacity_bits(self) -> int:
        """Bits of the primitives holding it (BRAM/URAM); LUT/FF memories count as their own size."""
        if self.impl == "bram":
            return self.bram18k * BRAM18K_BITS
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


def place(m: Memory, use_uram: bool = False) -> Memory:
    """Decide the primitive for ``m`` (in place) and fill its counts."""
    m.bram18k = m.uram = m.luts = m.ffs = 0
    n = m.copies
    m.hls_bram18k = bram18k(m.depth, m.width) * n if m.depth > 2 else 0
    if m.role == "shift":
        m.hls_bram18k = 0
    if m.depth <= 2:
        m.impl, m.ffs = "ff", m.depth * m.width * n
    elif m.role == "shift" or (m.role == "fifo" and m.depth <= SRL_DEPTH):
        m.impl, m.luts = "srl", m.width * math.ceil(m.depth / SRL_DEPTH) * n
    elif m.role != "fifo" and m.depth <= LUTRAM_DEPTH:
        m.impl, m.luts = "lutram", m.width * math.ceil(m.depth / LUTRAM_DEPTH) * n
    elif use_uram:
        m.impl, m.uram = "uram", uram(m.depth, m.width) * n
    else:
        m.impl, m.bram18k = "bram", bram18k(m.depth, m.width) * n
    m.uram_ok = m.depth > LUTRAM_DEPTH
    return m
