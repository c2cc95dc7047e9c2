"""Inject an error of exactly one LSB into one weight or bias code of a written hls4ml project
(the C-sim reads firmware/weights/<var>.txt at run time; the .h holds the same values for synthesis:
both are edited, so the project stays self-consistent)."""
from __future__ import annotations

import re
from pathlib import Path


def layer_arrays(prj: Path, layer: str) -> tuple[str, str | None]:
    """(weight var, bias var) that myproject.cpp passes to the call of ``layer``."""
    cpp = (Path(prj) / "firmware" / "myproject.cpp").read_text()
    m = re.search(r"nnet::\w+<[^;]*>\(([^;]*)\);\s*//\s*" + re.escape(layer) + r"\s*$", cpp, re.M)
    assert m, f"no call of {layer} in myproject.cpp"
    args = [a.strip() for a in m.group(1).split(",")]
    w = next(a for a in args if re.fullmatch(r"w\d+", a))
    b = next((a for a in args if re.fullmatch(r"b\d+", a)), None)
    return w, b


def array_type(prj: Path, var: str) -> tuple[int, int, bool]:
    """(width, integer bits, signed) of the C++ type of weight/bias array ``var``."""
    fw = Path(prj) / "firmware"
    t = re.search(rf"^(\w+) {var}\[\d+\];", (fw / "weights" / f"{var}.h").read_text(), re.M).group(1)
    m = re.search(rf"typedef ap_(u?)fixed<(\d+),(-?\d+)[^>]*> {t};", (fw / "defines.h").read_text())
    assert m, f"type {t} of {var} not found in defines.h"
    return int(m.group(2)), int(m.group(3)), m.group(1) != "u"


def one_lsb(prj: Path, var: str, index: int = 0) -> dict:
    """Change element ``index`` of array ``var`` by exactly one LSB of its type (up, or down at the
    top of the range); return what was changed."""
    prj = Path(prj)
    width, integer, signed = array_type(prj, var)
    frac = width - integer
    lsb = 2.0 ** -frac
    code_max = 2 ** (width - 1) - 1 if signed else 2 ** width - 1
    txt = prj / "firmware" / "weights" / f"{var}.txt"
    vals = [v.strip() for v in txt.read_text().split(",") if v.strip()]
    old = float(vals[index])
    code = round(old / lsb)
    assert code * lsb == old, f"{var}[{index}]={old} is not on its grid {lsb}"
    new_code = code + 1 if code < code_max else code - 1
    new = new_code * lsb
    digits = max(4, frac)
    new_s = f"{new:.{digits}f}"
    vals[index] = new_s
    txt.write_text(", ".join(vals))
    h = prj / "firmware" / "weights" / f"{var}.h"
    text = h.read_text()
    m = re.search(rf"({var}\[\d+\] = \{{)([^}}]*)(\}};)", text)
    if m:
        hv = [v.strip() for v in m.group(2).split(",")]
        hv[index] = new_s
        h.write_text(text[:m.start(2)] + ", ".join(hv) + text[m.end(2):])
    return {"var": var, "index": index, "old": old, "new": new, "lsb": lsb, "old_code": code, "new_code": new_code}
