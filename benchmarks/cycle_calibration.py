"""The cycle model (fpga_flow/resources/cycles.py) against every modelled process of the real csynth
reports in shared/calibration: prints the markdown tables of docs/throughput.md.

    python benchmarks/cycle_calibration.py [CALIBRATION_DIR] > /tmp/t.md

Per process: csynth's latency [min, max] (the top report's instance row), the per-branch count formed
from the process's own loop table (a data-dependent loop 'a ~ b': b on the iterations that write an
output, a on the others, plus the overheads the table shows; otherwise the fixed latency), the
estimate from the layer record read off the project's parameters.h/defines.h/myproject.cpp, and the
error. Then per design: cycles per frame and latency of network_cycles against the top report.
No vendor tool runs; nothing is written.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CAL = ROOT.parent / "shared" / "calibration"


def _short(case: str) -> str:
    return case.split("_hls4ml")[0].split("_vitis")[0]


def _fmt(r: tuple[int, int]) -> str:
    return f"{r[0]:,}" if r[0] == r[1] else f"{r[0]:,} .. {r[1]:,}"


def module_table(rows) -> str:
    out = ["| case | layer (module config) | kind | csynth latency [min, max] | per-branch count | estimate | error "
           "| model | agrees |", "|---|---|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        ok = "yes" if r.agrees else ("**no**: " + r.deviation if r.deviation else "**NO (undocumented)**")
        cfg = f" ({r.config})" if r.config else ""
        out.append(f"| {_short(r.case)} | {r.layer}{cfg} | {r.kind} | {_fmt(r.csynth)} | {r.branch:,} | {r.estimate:,} "
                   f"| {r.error:+.1%} | {r.model} | {ok} |")
    return "\n".join(out)


def branch_table(rows) -> str:
    out = ["| case | layer (config) | how the per-branch count was formed |", "|---|---|---|"]
    for r in rows:
        if r.how not in ("fixed", "fixed (design total)"):
            out.append(f"| {_short(r.case)} | {r.layer} ({r.config}) | {r.how} |")
    return "\n".join(out)


def network_table(nets) -> str:
    out = ["| case | csynth top latency | model latency | error | csynth top interval | model cycles/frame "
           "| slowest layer | note |", "|---|---:|---:|---:|---:|---:|---|---|"]
    for n in nets:
        lat_err = (n.latency - n.csynth_latency[1]) / n.csynth_latency[1]
        note = n.deviation or ("data-dependent: csynth's top latency is its worst case" if n.data_dependent else "")
        out.append(f"| {_short(n.case)} | {_fmt(n.csynth_latency)} | {n.latency:,} | {lat_err:+.1%} "
                   f"| {_fmt(n.csynth_interval)} | {n.cycles_per_frame:,} | {n.slowest_layer} | {note} |")
    return "\n".join(out)


def summary(rows) -> str:
    agree = [r for r in rows if r.agrees]
    big = [r for r in agree if r.branch >= 20]
    worst = max(big, key=lambda r: abs(r.error)) if big else None
    loops = [r for r in rows if ": " in r.how and " x " in r.how]  # a data-dependent loop 'a ~ b'
    lines = [f"- {len(rows)} processes of {len({r.case for r in rows})} designs; {len(agree)} within 10% (or 2 cycles) "
             f"of the per-branch count and inside csynth's range; {len(rows) - len(agree)} documented deviations.",
             f"- {len(loops)} processes with a data-dependent loop (Resource line-buffer convs): worst error "
             f"{max((abs(r.error) for r in loops if r.agrees), default=0):.1%}."]
    if worst is not None:
        lines.append(f"- Worst agreeing error on a process of >= 20 cycles: {worst.error:+.1%} "
                     f"({_short(worst.case)} {worst.layer}, {worst.kind}: {worst.estimate} vs {worst.branch}).")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cal = Path(argv[0]) if argv else DEFAULT_CAL
    if not cal.is_dir():
        print(f"error: calibration reports not found at {cal}; pass the directory", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from fpga_flow.resources import csynth_perf as cp

    rows = cp.calibration_rows(cal)
    nets = cp.network_rows(cal)
    print("### Summary\n")
    print(summary(rows))
    print("\n### Every modelled process\n")
    print(module_table(rows))
    print("\n### Per-branch counts of the data-dependent processes\n")
    print(branch_table(rows))
    print("\n### Networks (top report)\n")
    print(network_table(nets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
