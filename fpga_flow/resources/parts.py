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
# documented short forms: the device name without package and speed grade (xczu7ev, xc7z020, ...),
# matched exactly; any other spelling is an error, never a prefix guess (another package or speed
# grade of the same device is another part: give it as a custom part mapping)
SHORT = {p.split("-")[0]: p for p in PARTS}
SHORT["xc7z020"] = "xc7z020clg400-1"


def resolve(name_or_board) -> Part:
    """A Part from a full part number, its documented short form (xczu7ev), a board name (ZCU104),
    a mapping describing a custom part (name, bram18k, uram, dsp, lut, ff; optional board), or the
    path of a YAML file holding such a mapping. Names are matched exactly (case-insensitive)."""
    if isinstance(name_or_board, dict):
        return custom(name_or_board)
    if not isinstance(name_or_board, str):
        raise FlowError(f"hls.part={name_or_board!r} is invalid; use a part number, a board name or a mapping "
                        "{name, bram18k, uram, dsp, lut, ff} for a custom part")
    key = name_or_board.strip()
    low = key.lower()
    full = {p.lower(): p for p in PARTS}
    if low in full:
        return PARTS[full[low]]
    if low in BOARDS:
        return PARTS[BOARDS[low]]
    if low in SHORT:
        return PARTS[SHORT[low]]
    if key.endswith((".yml", ".yaml")) and Path(key).is_file():
        import yaml

        try:
            d = yaml.safe_load(Path(key).read_text())
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
            raise FlowError(f"custom part file {key} is not readable YAML ({type(e).__name__}); fix it") from None
        return custom(d)
    known = ", ".join(sorted(PARTS)) + "; boards: " + ", ".join(sorted(BOARDS))
    raise FlowError(f"unknown part or board {key!r}; use one of {known}, or a mapping/YAML file describing a "
                    "custom part (name, bram18k, uram, dsp, lut, ff)")


def label(part) -> str:
    """The name to print for hls.part (a part number, or a custom part's name)."""
    return str(part.get("name", "custom")) if isinstance(part, dict) else str(part)


def custom(d: dict) -> Part:
    """A custom part: ``name`` is the part number the vendor tool knows (it goes into the project);
    bram18k, uram, dsp, lut, ff are the device's totals (non-negative integers)."""
    need = ("name", "bram18k", "uram", "dsp", "lut", "ff")
    if not isinstance(d, dict):
        raise FlowError(f"custom part must be a mapping with keys {list(need)}")
    missing = [k for k in need if k not in d]
    unknown = sorted(set(d) - set(need) - {"board"})
    if missing or unknown:
        raise FlowError(f"custom part: {'missing keys ' + str(missing) if missing else 'unknown keys ' + str(unknown)}; "
                        f"give exactly {list(need)} (and optionally board)")
    name = d["name"]
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name.strip()):
        raise FlowError(f"custom part: name={name!r} must be the part number as the vendor tool knows it, "
                        "e.g. xcku115-flvb2104-2-e")
    vals = []
    for k in need[1:]:
        v = d[k]
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise FlowError(f"custom part: {k}={v!r} must be a non-negative integer (the device's total)")
        vals.append(v)
    if vals[0] + vals[1] == 0:
        raise FlowError("custom part: bram18k and uram are both 0; the flow stores weights on chip, give the "
                        "device's block RAM count")
    return Part(name.strip(), str(d.get("board", "custom")), *vals)
