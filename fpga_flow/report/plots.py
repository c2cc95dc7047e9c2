"""PNG plots of the resource estimate (matplotlib, Agg backend)."""
from __future__ import annotations

from pathlib import Path

from ..resources.memory import BRAM18K_BITS, URAM_BITS

URAM_IN_BRAM18K = URAM_BITS // BRAM18K_BITS  # one URAM counted as this many BRAM18K in the plots (16)
KIND_COLORS = {"weights": "#4C72B0", "line_buffer": "#DD8452", "fifo": "#55A868"}


def memory_by_layer(d: dict, path: Path) -> Path:
    """Per-layer stacked bars (weights / line buffers / FIFOs) in BRAM18K equivalents (URAM_IN_BRAM18K each URAM),
    with the running total against the budget on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mem = d["memory"]
    per = {}
    for r in d["resource_layers"]:
        for m in r["memories"]:
            per.setdefault(r["layer"], {}).setdefault(m["kind"] if m["kind"] != "bias" else "weights", 0)
            per[r["layer"]][m["kind"] if m["kind"] != "bias" else "weights"] += m["hls_bram18k"] + URAM_IN_BRAM18K * m["uram"]
    for f in d["fifos"]:
        per.setdefault(f["layer"], {}).setdefault("fifo", 0)
        per[f["layer"]]["fifo"] += f["hls_bram18k"] + URAM_IN_BRAM18K * f["uram"]
    order = [r["layer"] for r in d["resource_layers"]]
    layers = [n for n in order if sum(per.get(n, {}).values()) > 0]
    fig, ax = plt.subplots(figsize=(max(8, 0.22 * len(layers)), 5))
    bottom = [0] * len(layers)
    for kind, color in KIND_COLORS.items():
        vals = [per[n].get(kind, 0) for n in layers]
        ax.bar(range(len(layers)), vals, bottom=bottom, color=color, label=kind)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, rotation=90, fontsize=6)
    ax.set_ylabel(f"BRAM18K per layer, HLS count (1 URAM = {URAM_IN_BRAM18K})")
    ax2 = ax.twinx()
    total, run = 0, []
    for b in bottom:
        total += b
        run.append(total)
    ax2.plot(range(len(layers)), run, color="black", lw=1.2, label="running total")
    cap = mem["budget"] * (mem["bram18k_available"] + URAM_IN_BRAM18K * mem["uram_available"])
    ax2.axhline(cap, color="red", ls="--", lw=1, label=f"budget {mem['budget']:.0%} of BRAM18K+{URAM_IN_BRAM18K}*URAM")
    ax2.set_ylabel("running total")
    ax2.set_ylim(0, max(cap, total) * 1.1)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    ax.set_title(f"{d['keras_name']} on {d['part']}: on-chip memory per layer (ESTIMATE)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def utilisation(d: dict, path: Path) -> Path:
    """Gauges: BRAM18K / URAM / DSP / LUT used in % of the part, with the budget line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mem = d["memory"]
    names = ["BRAM18K (HLS count)", "URAM", "DSP", "LUT (rough)"]
    pct = [mem["hls_bram18k_pct"], mem["uram_pct"], mem["dsp_pct"], mem["lut_pct"]]
    avail = [mem["bram18k_available"], mem["uram_available"], mem["dsp_available"], mem["lut_available"]]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    colors = ["#C44E52" if p > 100 * mem["budget"] else "#4C72B0" for p in pct]
    ax.barh(names, [min(p, 150) if a else 0 for p, a in zip(pct, avail)], color=colors)
    ax.barh(names, [100] * 4, fill=False, edgecolor="grey")
    ax.axvline(100 * mem["budget"], color="red", ls="--", lw=1)
    for i, (p, a) in enumerate(zip(pct, avail)):
        ax.text(min(p, 150) + 1 if a else 1, i, f"{p}%" if a else "none on part", va="center", fontsize=8)
    ax.set_xlim(0, 160)
    ax.set_xlabel("% of the part (ESTIMATE); red line = budget")
    ax.set_title(f"{d['part']}: fits = {mem['fits']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
