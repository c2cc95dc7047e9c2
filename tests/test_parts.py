"""The parts database against every real report in shared/calibration, part-number resolution, and
`fpga-flow parts`. Fast (no TensorFlow)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fpga_flow.errors import FlowError
from fpga_flow.resources import parts as P

ROOT = Path(__file__).resolve().parents[1]
CAL = Path(__file__).resolve().parents[2] / "shared" / "calibration"
needs_cal = pytest.mark.skipif(not CAL.is_dir(), reason=f"calibration reports not found at {CAL}")


def _int(s: str) -> int:
    return int(s.strip().replace(",", ""))


def _csynth_available():
    """(file, target device, product family, {BRAM_18K, DSP, FF, LUT, URAM}) of every csynth .rpt that
    prints an 'Available' row (the whole-device row, not 'Available SLR')."""
    out = []
    for rpt in sorted(CAL.rglob("*csynth.rpt")):
        text = rpt.read_text(errors="replace")
        dev = re.search(r"\* Target device:\s+(\S+)", text)
        fam = re.search(r"\* Product family:\s+(\S+)", text)
        head = re.search(r"^\|\s*Name\s*\|\s*BRAM_18K\s*\|\s*(DSP\w*)\s*\|\s*FF\s*\|\s*LUT\s*\|\s*URAM\s*\|", text, re.M)
        row = re.search(r"^\|Available\s*\|([^\n]*)\|\s*$", text, re.M)
        if dev and row and head:
            vals = [_int(c) for c in row.group(1).split("|")]
            out.append((rpt, dev.group(1), fam.group(1) if fam else "",
                        dict(zip(("BRAM_18K", "DSP", "FF", "LUT", "URAM"), vals))))
    return out


def _vivado_available():
    """(file, device, {bram18k, dsp, lut, ff, uram}) from Vivado synth/route utilisation reports."""
    out = []
    for rpt in sorted(CAL.rglob("*.rpt")):
        text = rpt.read_text(errors="replace")
        dev = re.search(r"^\| Device\s+:\s+(\S+)", text, re.M)
        if not dev or "Block RAM Tile" not in text:
            continue
        got = {}
        for key, name in (("lut", r"CLB LUTs\*?"), ("ff", r"CLB Registers"), ("bram36", r"Block RAM Tile"),
                          ("uram", r"URAM"), ("dsp", r"DSPs")):
            m = re.search(rf"^\|\s*{name}\s*\|([^\n]*)\|\s*$", text, re.M)
            cells = [c.strip() for c in m.group(1).split("|")]
            got[key] = _int(cells[-2])  # the Available column (before Util%)
        got["bram18k"] = 2 * got.pop("bram36")
        out.append((rpt, dev.group(1), got))
    return out


@needs_cal
def test_every_csynth_available_row_equals_the_database():
    rows = _csynth_available()
    assert len(rows) >= 100  # every per-module report prints it too
    devices = set()
    for rpt, dev, fam, avail in rows:
        p = P.resolve(dev)
        devices.add(p.device)
        assert (p.bram18k, p.dsp, p.ff, p.lut, p.uram) == (avail["BRAM_18K"], avail["DSP"], avail["FF"],
                                                            avail["LUT"], avail["URAM"]), (rpt, dev)
        if fam:  # the family that selects the HLS memory rules is the report's product family
            assert p.family == fam, (rpt, p.family, fam)
    # the devices marked 'checked' in the database are exactly the ones these reports cover
    assert {d for d, v in P.DEVICES.items() if v.checked} <= devices
    assert devices == {"xc7a35t", "xczu7ev", "xczu9eg", "xck26", "xcu55c", "xcu250", "xcvu11p", "xcvu13p"}
    for d in devices:
        assert P.DEVICES[d].checked, d


@needs_cal
def test_hls4ml_baseline_jsons_and_vivado_reports_agree():
    # hls4ml's own Vitis 2024.1 baselines were synthesized for its default part (CASE.md)
    p = P.resolve(P.HLS4ML_DEFAULT_PART)
    jsons = sorted((CAL / "hls4ml_baselines_vitis2024.1").glob("*.json"))
    assert jsons
    for f in jsons:
        r = json.loads(f.read_text())["CSynthesisReport"]
        assert (p.bram18k, p.dsp, p.ff, p.lut, p.uram) == tuple(
            int(r[f"Available{k}"]) for k in ("BRAM_18K", "DSP", "FF", "LUT", "URAM")), f
    viv = _vivado_available()
    assert len(viv) >= 4  # alexnet, ece226 (synth + route), two tutorial designs
    for rpt, dev, got in viv:
        q = P.resolve(dev)  # includes Vivado 2020's 'xcu250figd2104-2L' spelling
        assert {"bram18k": q.bram18k, "dsp": q.dsp, "lut": q.lut, "ff": q.ff, "uram": q.uram} == got, rpt


def test_any_package_or_speed_grade_resolves_through_its_device():
    zcu104 = P.resolve("ZCU104")
    for name in ("xczu7ev-ffvc1156-1-e", "xczu7ev-fbvb900-2-i", "XCZU7EV-FBVB900-1-I", "xczu7eg-ffvf1517-3-e"):
        p = P.resolve(name)
        assert p.name == name  # the vendor tool gets the part as written
        assert (p.bram18k, p.uram, p.dsp, p.lut, p.ff, p.family) == (624, 96, 1728, 230_400, 460_800, "zynquplus")
    assert P.resolve("xczu7ev-ffvc1156-2-e").name == zcu104.name == "xczu7ev-ffvc1156-2-e"
    assert P.resolve("XCZU7EV-FFVC1156-2-E").name == "xczu7ev-ffvc1156-2-e"  # a default part: canonical spelling
    # 7-series spellings: package glued to the device, industrial 'i', the report's hyphenated form
    for name in ("xc7a35tcpg236-1", "xc7a35t-cpg236-1", "xc7a35ticsg324-1L"):
        assert P.resolve(name).device == "xc7a35t"
    assert P.resolve("Arty A7-35").name == "xc7a35ticsg324-1L"
    assert P.resolve("xcku035").device == "xcku035" and P.resolve("xcku035-sfva784-1-i").bram18k == 1080


def test_boards_resolve_by_name():
    want = {"ZCU104": "xczu7ev", "zcu102": "xczu9eg", "KV260": "xck26", "Ultra96-V2": "xczu3eg",
            "pynq-z2": "xc7z020", "Arty A7-100": "xc7a100t", "U55C": "xcu55c", "alveo-u250": "xcu250",
            "Alveo U280": "xcu280", "u50": "xcu50", "U200": "xcu200", "VCU118": "xcvu9p", "ZCU111": "xczu28dr"}
    for board, dev in want.items():
        assert P.resolve(board).device == dev, board
    # hls4ml's VivadoAccelerator board keys all resolve to the part hls4ml uses for them
    boards = json.loads((Path(__import__("hls4ml").__file__).parent / "backends" / "vivado_accelerator"
                         / "supported_boards.json").read_text()) if _has_hls4ml() else {}
    for key, info in boards.items():
        assert P.resolve(key).name == info["part"], key


def _has_hls4ml() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("hls4ml") is not None
    except Exception:
        return False


def test_unknown_part_names_the_three_nearest():
    for guess, first in (("xczu7ev-foo", "xczu7ev"), ("zcu10", "ZCU10"), ("xc7z021", "xc7z020")):
        with pytest.raises(FlowError) as e:
            P.resolve(guess)
        msg = str(e.value)
        near = re.search(r"nearest: ([^)]*)\)", msg).group(1).split(", ")
        assert len(near) == 3 and near[0].startswith(first), msg
        assert "\n" not in msg


def test_database_covers_the_families_hls4ml_users_target():
    fams = {d.family for d in P.DEVICES.values()}
    assert {"zynq", "artix7", "kintex7", "virtex7", "kintexu", "virtexu", "kintexuplus", "virtexuplus",
            "zynquplus", "zynquplusRFSOC", "versal"} <= fams
    for dev in ("xcu50", "xcu55c", "xcu200", "xcu250", "xcu280", "xck26", "xczu7ev", "xc7a35t", "xcku035"):
        assert dev in P.DEVICES
    for d in P.DEVICES.values():
        assert d.bram18k > 0 and d.dsp > 0 and d.lut > 0 and d.ff >= d.lut, d
        assert d.bram18k % 2 == 0  # whole 36 Kb blocks
        assert d.datasheet.startswith("DS"), d
        assert P.resolve(d.default_part).device == d.device  # every default part number parses back


def test_cli_parts_json_and_filter():
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "parts", "--json"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["count"] == len(res["devices"]) >= 60
    assert len({d["device"] for d in res["devices"]}) == res["count"]
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "parts", "xczu7ev-fbvb900-2-i"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and "xczu7ev" in r.stdout and "ZCU104" in r.stdout
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "parts", "nosuchpart"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "nearest:" in r.stderr
