"""PNG plots of a build's plan and of a sweep (matplotlib, Agg backend).

Every function draws from the numbers of flow.json (report.design.collect) or of sweep.json, writes
the PNG and returns ``(png_bytes, info)``: ``info`` is read back from the drawn matplotlib axes
(limits, bar heights, tick labels), so a test can check what the picture shows (e.g. that every bar
lies inside its axis) without looking at pixels. Each axis carries one unit and names what its
numbers are (HLS C-synthesis count, post-implementation guess, estimate, measured).
"""
from __future__ import annotations

import io
from pathlib import Path

from ..resources.memory import BRAM18K_BITS, URAM_BITS

URAM_IN_BRAM18K = URAM_BITS // BRAM18K_BITS  # one URAM holds as many bits as 16 BRAM18K
WEIGHT_KINDS = ("weights", "bias")
LUT_IMPLS = ("lutram", "srl")

# per-layer memory panels: (key, axis label, colour)
MEMORY_PANELS = (
    ("hls_bram18k", "BRAM18K\n(HLS count)", "#4C72B0"),
    ("uram", "URAM\n(4K x 72)", "#8172B3"),
    ("luts", "LUTs as\nLUTRAM/SRL", "#DD8452"),
    ("ffs", "FFs", "#55A868"),
    ("dsp", "DSP", "#C44E52"),
)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path | None) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def _bars_info(ax) -> dict:
    """What an axis shows: its limits, its bars (height/width, value end) and its tick labels."""
    bars = [p for p in ax.patches if hasattr(p, "get_height")]
    return {"ylim": [float(v) for v in ax.get_ylim()], "xlim": [float(v) for v in ax.get_xlim()],
            "bar_tops": [float(p.get_y() + p.get_height()) for p in bars],
            "bar_ends": [float(p.get_x() + p.get_width()) for p in bars],
            "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
            "yticklabels": [t.get_text() for t in ax.get_yticklabels()],
            "ylabel": ax.get_ylabel(), "xlabel": ax.get_xlabel(), "title": ax.get_title()}


def weighted_layers(d: dict) -> list[dict]:
    """Every layer of the plan that holds weights, in dataflow order, with its memories summed by
    kind: BRAM18K (HLS count and post-implementation guess), URAM, LUTs (LUTRAM/SRL), FFs; and its
    DSPs. Weights and biases only (line buffers and FIFOs belong to their own processes)."""
    rows = []
    for r in d.get("resource_layers", []):
        mems = [m for m in r.get("memories", []) if m.get("kind") in WEIGHT_KINDS]
        if not any(m.get("kind") == "weights" for m in mems):
            continue
        rows.append({"layer": r["layer"], "kind": r.get("kind"), "reuse_factor": r.get("reuse_factor"),
                     "hls_bram18k": sum(m["hls_bram18k"] for m in mems), "bram18k": sum(m["bram18k"] for m in mems),
                     "uram": sum(m["uram"] for m in mems),
                     "luts": sum(m["luts"] for m in mems if m.get("impl") in LUT_IMPLS),
                     "ffs": sum(m["ffs"] for m in mems), "dsp": r.get("dsp") or 0,
                     "bits": sum(m.get("bits", 0) for m in mems),
                     "impl": "/".join(sorted({m["impl"] for m in mems if m.get("kind") == "weights"}))})
    return rows


def memory_by_layer(d: dict, path: Path | None = None) -> tuple[bytes, dict]:
    """Small multiples, one panel per kind (BRAM18K HLS count, URAM, LUTs as LUTRAM/SRL, FFs, and DSP),
    one bar per weighted layer, every panel on its own axis scaled to its largest bar (no second
    axis, no conversion between kinds)."""
    plt = _plt()
    mem = d["memory"]
    rows = weighted_layers(d)
    names = [r["layer"] for r in rows]
    avail = {"hls_bram18k": mem["bram18k_available"], "uram": mem["uram_available"], "luts": mem["lut_available"],
             "ffs": mem["ff_available"], "dsp": mem["dsp_available"]}
    n = max(1, len(rows))
    heights = [1.0 if any(r[key] for r in rows) else 0.45 for key, _, _ in MEMORY_PANELS]  # an empty kind: a thin panel
    fig, axes = plt.subplots(len(MEMORY_PANELS), 1, figsize=(max(11.0, 0.24 * n + 2), 2.0 * sum(heights) + 2.2),
                             sharex=True, gridspec_kw={"height_ratios": heights})
    info = {"layers": names, "panels": {}}
    x = list(range(len(rows)))
    for ax, (key, label, color) in zip(axes, MEMORY_PANELS):
        vals = [r[key] for r in rows]
        top = max(vals, default=0)
        ax.bar(x, vals, color=color, width=0.75)
        ax.set_ylim(0, top * 1.42 if top > 0 else 1)  # head room for the value written above each bar
        if top == 0:
            ax.set_yticks([])
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", lw=0.3, alpha=0.6)
        total = sum(vals)
        name = label.replace("\n", " ")
        ax.set_title(f"{name}: {total:,} in the weighted layers" +
                     (f", {avail[key]:,} on the part" if avail[key] else ", none on the part") +
                     ("" if top else f" (no layer uses {name.split(' (')[0]})"), loc="left", fontsize=7.5, pad=2)
        for i, v in enumerate(vals):
            if v:
                ax.text(i, v + top * 0.03, f"{v:,}", ha="center", va="bottom", fontsize=5.5, rotation=90)
        info["panels"][key] = dict(_bars_info(ax), values=vals)
    axes[-1].set_xticks(x)
    axes[-1].set_xticklabels(names, rotation=90, fontsize=6.5)
    info["xticklabels"] = [t.get_text() for t in axes[-1].get_xticklabels()]
    fig.suptitle(f"{d['keras_name']} on {d['part']}: weight memory and DSPs of every weighted layer (ESTIMATE)\n"
                 "one axis per kind; BRAM18K as Vitis HLS C-synthesis would count it", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    data = _save(fig, path)
    plt.close(fig)
    return data, info


# process colours in the cycles chart
_KIND_GROUPS = (("weighted", "#4C72B0", "MAC layers (matrix-vector units, dense)"),
                ("window", "#DD8452", "sliding windows / pooling"),
                ("other", "#A0A0A0", "activations, joins, copies, padding"))


# layer kinds (their records' names, hls/kinds.py and extensions/) drawn as windows / pooling
WINDOW_KINDS = ("sliding_window", "maxpool", "avgpool", "global_avgpool", "stock_pool")


def _group(r: dict, weighted: set[str]) -> str:
    if r["layer"] in weighted:
        return "weighted"
    return "window" if r.get("layer_kind") in WINDOW_KINDS else "other"


def cycles_by_layer(d: dict, path: Path | None = None) -> tuple[bytes, dict]:
    """Cycles per frame of every dataflow process against the slowest one (which sets the frame
    interval): horizontal bars in dataflow order, the slowest marked, a line at its cycles."""
    plt = _plt()
    mem = d["memory"]
    procs = [r for r in d.get("resource_layers", []) if r.get("cycles")]
    weighted = {r["layer"] for r in weighted_layers(d)}
    slowest = max((r["cycles"] for r in procs), default=1)
    n = max(1, len(procs))
    fig, ax = plt.subplots(figsize=(9.5, max(3.0, 0.125 * n + 1.4)))
    y = list(range(len(procs)))
    colors = []
    for r in procs:
        g = _group(r, weighted)
        colors.append("#C0392B" if r["cycles"] == slowest else dict((k, c) for k, c, _ in _KIND_GROUPS)[g])
    ax.barh(y, [r["cycles"] for r in procs], color=colors, height=0.75)
    ax.set_yticks(y)
    ax.set_yticklabels([r["layer"] for r in procs], fontsize=5.5)
    ax.invert_yaxis()
    ax.set_xlim(0, slowest * 1.18)
    ax.axvline(slowest, color="#C0392B", ls="--", lw=1)
    ax.text(slowest, -1.2, f" slowest: {mem.get('slowest_layer')}, {slowest:,} cycles/frame", color="#C0392B",
            fontsize=7, va="bottom", ha="right")
    for i, r in enumerate(procs):
        if r["cycles"] >= 0.5 * slowest:
            ax.text(r["cycles"], i, f" {100 * r['cycles'] / slowest:.0f}%", va="center", fontsize=5)
    ax.set_xlabel(f"cycles per frame (ESTIMATE, calibrated cycle model); frame interval = slowest process: "
                  f"{mem['cycles_per_frame']:,} cycles = {mem['fps']:,} frames/s at {1000 / d['clock_period_ns']:.0f} MHz",
                  fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for _, c, _ in _KIND_GROUPS] + \
        [plt.Rectangle((0, 0), 1, 1, color="#C0392B")]
    ax.legend(handles, [t for _, _, t in _KIND_GROUPS] + ["the slowest process"], fontsize=7, loc="lower right")
    ax.grid(axis="x", lw=0.3, alpha=0.6)
    ax.set_title(f"{d['keras_name']}: every dataflow process against the slowest (%: its busy share of the frame)",
                 fontsize=9)
    fig.tight_layout()
    info = dict(_bars_info(ax), slowest=slowest, processes=[r["layer"] for r in procs])
    data = _save(fig, path)
    plt.close(fig)
    return data, info


def utilisation(d: dict, path: Path | None = None) -> tuple[bytes, dict]:
    """Every resource in % of the part (estimates), with used/available written on each bar and the
    budget line; the two BRAM18K numbers side by side (HLS count decides fits)."""
    plt = _plt()
    mem = d["memory"]
    rows = [("BRAM18K, HLS C-synthesis count (decides fits)", mem["hls_bram18k"], mem["bram18k_available"], True),
            ("BRAM18K, post-implementation guess (uncalibrated)", mem["bram18k"], mem["bram18k_available"], False),
            ("URAM", mem["uram"], mem["uram_available"], True),
            ("DSP", mem["dsp"], mem["dsp_available"], True),
            ("LUT (rough)", mem["lut"], mem["lut_available"], False),
            ("FF in memories (rough)", mem["ff"], mem["ff_available"], False)]
    fig, ax = plt.subplots(figsize=(9.5, 3.2))
    names = [r[0] for r in rows]
    pct = [100 * u / a if a else 0.0 for _, u, a, _ in rows]
    budget = 100 * mem["budget"]
    colors = []
    for (_, _, a, decides), p in zip(rows, pct):
        colors.append("#C44E52" if p > budget and decides else ("#4C72B0" if decides else "#9DB4D6"))
    y = list(range(len(rows)))
    ax.barh(y, [min(p, 150) for p in pct], color=colors, height=0.65)
    ax.barh(y, [100] * len(rows), fill=False, edgecolor="grey", height=0.65)
    ax.axvline(budget, color="red", ls="--", lw=1)
    ax.text(budget, -0.55, f" budget {budget:.0f}%", color="red", fontsize=7, va="bottom")
    for i, ((_, u, a, _), p) in enumerate(zip(rows, pct)):
        ax.text(min(p, 150) + 1, i, f"{u:,} / {a:,} ({p:.1f}%)" if a else f"{u:,} (none on the part)",
                va="center", fontsize=7, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.5})
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=7.5)
    ax.set_ylim(len(rows) - 0.5, -0.9)  # first row on top, room above it for the budget label
    ax.set_xlim(0, 175)
    ax.set_xlabel("% of the part (ESTIMATE); dark bars decide fits, light ones are only reported", fontsize=8)
    ax.set_title(f"{d['part']}: fits = {'yes' if mem['fits'] else 'no'}", fontsize=9)
    fig.tight_layout()
    info = dict(_bars_info(ax), pct=pct)
    data = _save(fig, path)
    plt.close(fig)
    return data, info


# ---- sweeps --------------------------------------------------------------------------------------------

def pareto_front(rows: list[dict], x_key: str, y_key: str = "fps", *, x_smaller: bool = True) -> list[int]:
    """Indices of the rows no other row beats: not (x at least as good and y at least as large, one
    of them strictly). ``x_smaller``: a smaller x is better (resources); else larger (accuracy)."""
    pts = [(i, r[x_key], r[y_key]) for i, r in enumerate(rows) if r.get(x_key) is not None and r.get(y_key) is not None]
    front = []
    for i, x, y in pts:
        better_x = (lambda a, b: a <= b) if x_smaller else (lambda a, b: a >= b)
        dominated = any(better_x(x2, x) and y2 >= y and (x2 != x or y2 != y) for j, x2, y2 in pts if j != i)
        if not dominated:
            front.append(i)
    return front


def sweep_pareto(rows: list[dict], path: Path | None = None) -> tuple[bytes, dict]:
    """Frames/s against HLS BRAM18K and against DSP (and against C-sim top-1 when the points were
    verified on labelled images), one marker style per part, the Pareto front of each panel joined."""
    plt = _plt()
    built = [r for r in rows if r.get("fps") is not None]
    panels = [("hls_bram18k", "BRAM18K, HLS C-synthesis count (ESTIMATE)", True, "bram18k_available"),
              ("dsp", "DSP (ESTIMATE)", True, "dsp_available")]
    if any(r.get("csim_top1") is not None for r in built):
        panels.append(("csim_top1", "C-sim top-1 on the verified images (MEASURED)", False, None))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False)
    parts = sorted({r.get("part") for r in built}, key=str)
    info = {"panels": {}}
    for ax, (key, label, smaller, avail_key) in zip(axes[0], panels):
        front = pareto_front(built, key, x_smaller=smaller)
        for k, part in enumerate(parts):
            pts = [r for r in built if r.get("part") == part and r.get(key) is not None]
            ax.scatter([r[key] for r in pts], [r["fps"] for r in pts], marker="os^Dv"[k % 5], s=36, alpha=0.85,
                       label=part, zorder=3)
        over = [r for r in built if (r.get("lut_pct") or 0) > 100 and r.get(key) is not None]
        if over:  # the LUT total is only reported: say where the rough estimate exceeds the part
            ax.scatter([r[key] for r in over], [r["fps"] for r in over], marker="o", s=170, facecolors="none",
                       edgecolors="#C0392B", linewidths=1.2, zorder=4, label="LUT (rough) over the part")
            avail = pts[0].get(avail_key) if (pts and avail_key) else None
            if avail:
                ax.axvline(avail, ls=":", lw=0.9, color="grey")
                ax.text(avail, 0.02, f" {part}: {avail:,}", rotation=90, fontsize=6, color="grey",
                        transform=ax.get_xaxis_transform(), va="bottom")
        for i, r in enumerate(built):
            if r.get(key) is not None:  # labels of neighbouring points alternate above and below their marker
                ax.annotate(_knobs(r), (r[key], r["fps"]), fontsize=6.5, xytext=(4, 4 if i % 2 == 0 else -10),
                            textcoords="offset points")
        fr = sorted((built[i] for i in front), key=lambda r: r[key])
        if fr:
            ax.plot([r[key] for r in fr], [r["fps"] for r in fr], color="#C0392B", lw=1, ls="--", marker="*", ms=9,
                    zorder=2, label="Pareto front")
        ax.margins(x=0.15, y=0.12)  # room for the labels of the outermost points
        ax.set_xlabel(label, fontsize=8)
        ax.set_ylabel("frames/s (ESTIMATE, cycle model)", fontsize=8)
        ax.grid(lw=0.3, alpha=0.6)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="best")
        info["panels"][key] = {"front": [_knobs(built[i]) for i in front], "points": len(built),
                               "xlim": [float(v) for v in ax.get_xlim()], "ylim": [float(v) for v in ax.get_ylim()]}
    fig.suptitle(f"sweep: frames/s against resources, {len(built)} of {len(rows)} points built", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    data = _save(fig, path)
    plt.close(fig)
    return data, info


def _knobs(r: dict) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in r["point"].items())
