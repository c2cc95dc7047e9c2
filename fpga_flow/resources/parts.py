"""FPGA parts and board aliases (public datasheet numbers; see shared notes memory-and-parts.md)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import FlowError


@dataclass(frozen=True)
class Part:
    name: str
    board: str
    bram18k: int
    uram: int
    dsp: int
    lut: int
    ff: int

    def to_dict(self):
        return asdict(self)


PARTS = {p.name: p for p in (
    Part("xc7z020clg400-1", "PYNQ-Z2", 280, 0, 220, 53_200, 106_400),
    Part("xczu3eg-sbva484-1-e", "Ultra96-V2", 432, 0, 360, 70_560, 141_120),
    Part("xczu7ev-ffvc1156-2-e", "ZCU104", 624, 96, 1_728, 230_400, 460_800),
    Part("xczu9eg-ffvb1156-2-e", "ZCU102", 1_824, 0, 2_520, 274_080, 548_160),
    Part("xcu250-figd2104-2L-e", "Alveo U250", 5_376, 1_280, 12_288, 1_728_000, 3_456_000),
    Part("xcvu9p-flga2104-2L-e", "VCU118 / U200", 4_320, 960, 6_840, 1_182_240, 2_364_480),
)}

BOARDS = {
    "pynq-z2": "xc7z020clg400-1", "ultra96": "xczu3eg-sbva484-1-e", "ultra96-v2": "xczu3eg-sbva484-1-e",
    "zcu104": "xczu7ev-ffvc1156-2-e", "zcu102": "xczu9eg-ffvb1156-2-e", "u250": "xcu250-figd2104-2L-e",
    "alveo-u250": "xcu250-figd2104-2L-e", "vcu118": "xcvu9p-flga2104-2L-e", "u200": "xcvu9p-flga2104-2L-e",
}
# short names users type: the part number without package/speed grade
SHORT = {p.split("-")[0][:7]: p for p in PARTS}


def resolve(name_or_board) -> Part:
    """A Part from a full part number, its short form (xczu7ev), a board name (ZCU104), or a dict
    describing a custom part (name, bram18k, uram, dsp, lut, ff)."""
    if isinstance(name_or_board, dict):
        return custom(name_or_board)
    key = str(name_or_board).strip()
    if key in PARTS:
        return PARTS[key]
    low = key.lower()
    if low in BOARDS:
        return PARTS[BOARDS[low]]
    for short, full in SHORT.items():
        if low.startswith(short):
            return PARTS[full]
    if key.endswith((".yml", ".yaml")) and Path(key).is_file():
        import yaml

        return custom(yaml.safe_load(Path(key).read_text()))
    known = ", ".join(sorted(PARTS)) + "; boards: " + ", ".join(sorted(BOARDS))
    raise FlowError(f"unknown part or board {key!r}; use one of {known}, or a YAML file describing a custom part")


def custom(d: dict) -> Part:
    need = ("name", "bram18k", "uram", "dsp", "lut", "ff")
    if not isinstance(d, dict) or any(k not in d for k in need):
        raise FlowError(f"custom part needs keys {list(need)}")
    try:
        return Part(str(d["name"]), str(d.get("board", "custom")), *(int(d[k]) for k in need[1:]))
    except (TypeError, ValueError):
        raise FlowError("custom part: bram18k, uram, dsp, lut, ff must be integers") from None
