"""Vendor tools when present: C synthesis through hls4ml's build script, and its report parsed with
hls4ml.report (beside the fpga_flow estimate). No vendor tool exists on the flow's own machines."""
from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from pathlib import Path

from ..errors import FlowError

TOOLS = ("vitis_hls", "vivado_hls")
KEYS = ("BRAM_18K", "URAM", "DSP", "FF", "LUT", "BestLatency", "WorstLatency", "IntervalMin", "IntervalMax",
        "EstimatedClockPeriod", "TargetClockPeriod")


def find_tool(backend: str) -> str | None:
    order = ("vitis_hls", "vivado_hls") if backend.lower() == "vitis" else ("vivado_hls", "vitis_hls")
    for t in order:
        if shutil.which(t):
            return t
    return None


def synthesize(prj: Path, backend: str, timeout: int = 24 * 3600) -> dict:
    """Run C synthesis (hls4ml's build_prj.tcl, csim off) in ``prj``; return the parsed report."""
    tool = find_tool(backend)
    if tool is None:
        raise FlowError(f"no {' or '.join(TOOLS)} on PATH: C synthesis needs AMD/Xilinx Vitis HLS (or Vivado HLS); "
                        "install it or source its settings64.sh, then re-run 'fpga-flow synth'")
    cmd = [tool, "-f", "build_prj.tcl", "reset=1", "csim=0", "synth=1", "cosim=0", "validation=0", "export=0",
           "vsynth=0"] if tool == "vitis_hls" else [tool, "-f", "build_prj.tcl",
                                                     "reset=1 csim=0 synth=1 cosim=0 validation=0 export=0 vsynth=0"]
    r = subprocess.run(cmd, cwd=prj, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-20:])
        raise RuntimeError(f"{tool} failed in {prj}:\n{tail}")
    rep = read(prj)
    if rep is None:
        raise RuntimeError(f"{tool} finished but no csynth.xml was found under {prj}")
    return rep


def read(prj: Path) -> dict | None:
    """The C-synthesis numbers of a synthesized project (hls4ml.report), or None if never synthesized."""
    prj = Path(prj)
    if not prj.is_dir() or not any(prj.glob("*_prj/solution*/syn/report/*_csynth.xml")):
        return None
    from hls4ml.report import parse_vivado_report

    with contextlib.redirect_stdout(io.StringIO()):
        rep = parse_vivado_report(str(prj)) or {}
    syn = rep.get("CSynthesisReport")
    if not syn:
        return None
    return {k: syn[k] for k in KEYS if k in syn} | {f"Available{k}": syn[f"Available{k}"]
                                                     for k in ("BRAM_18K", "URAM", "DSP", "FF", "LUT")
                                                     if f"Available{k}" in syn}
