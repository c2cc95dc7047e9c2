"""Fit a design to a part: per-layer reuse factors and FIFO depths (ESTIMATES, see memory.py).

Objective: the highest frame rate (the slowest layer sets it: dataflow throughput = clock / max
per-layer cycles, each layer's cycles from resources/cycles.py) such that the whole design, weights +
line buffers + FIFOs, fits the part's BRAM18K, URAM and DSPs within ``budget`` (hls.memory_budget); or,
with ``target_fps``, the smallest design that meets a frame rate.

Search: for a bound T on per-layer cycles, every weighted layer takes, among its valid reuse factors
(fpga_flow's MVU: any folding, mvu.py; hls4ml's kernels: hls4ml's rule, reuse.py) with cycles <= T,
the one with the smallest normalized resource cost (several weightings of BRAM, DSP and LUT are
tried); a binary search finds the smallest T that fits. Memories move from BRAM to URAM (best BRAM
saved per URAM first) only as far as needed to fit, and only memories of a kind in ``uram_roles``
(config.HlsSection.uram_roles: "fifo", and "weights" with the weight-load path, hls/weight_load.py: UltraScale+ URAM has no
initial contents from the bitstream, so weights there are filled at start-up; a line buffer the
written project does not bind would land wherever HLS puts it; the Vivado backend gets no roles).
FIFO depths come from the dataflow analysis (fifo.py) and, for window streams into an MVU, from the
MVU's pace (fifo.pace_depth, after the reuse factors are chosen). Reuse factors or FIFO depths fixed
by the user (``hls.reuse_factors``, ``hls.fifo_depths``) are kept and checked (a FIFO below its
deadlock-free minimum is refused). Every setting is an argument without a default: the flow passes
the hls section's (config.HlsSection.fit_args), the one place they have defaults.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import FlowError
from .reuse import closest_valid, valid_reuse_factors
from . import cycles as cycle_model
from . import fifo
from .estimate import LayerEstimate, estimate_layer
from .mvu import mvu_fold, mvu_reuse_factors
from .memory import Memory, place
from .memory import uram as uram_count
from .parts import PARTS

BASE_LUTS_PER_LAYER = 150  # control logic per dataflow process (rough)


@dataclass
class Plan:
    reuse: dict[str, int]
    depths: dict[str, int]
    layers: list[LayerEstimate]
    fifos: list[Memory]
    totals: dict
    fits: bool
    streams: dict
    uram_roles: tuple


def weighted_layers(nodes):
    return [r for r in nodes if "weights" in r]


def candidates(rec) -> list[int]:
    """Valid reuse factors: fpga_flow's MVU (its useful ones, estimate.mvu_reuse_factors), else
    hls4ml's rule on design.mult_size (for a depthwise that is (9C, 1): the divisors of 9C, since
    hls4ml caps its reuse loop at n_in and larger RFs would change nothing)."""
    if rec.get("estimate") == "mvu":
        return list(mvu_reuse_factors(*rec["mult_size"]))
    return list(valid_reuse_factors(*rec["mult_size"]))


def is_valid(rec, rf: int) -> bool:
    """Whether the layer's kernel accepts reuse factor ``rf`` (the MVU: any folding, estimate.mvu_fold;
    hls4ml's kernels: hls4ml's rule)."""
    if rec.get("estimate") == "mvu":
        try:
            mvu_fold(*rec["mult_size"], int(rf))
            return True
        except ValueError:
            return False
    return int(rf) in valid_reuse_factors(*rec["mult_size"])


def nearest(rec, rf: int) -> int:
    """The valid reuse factor of ``rec`` nearest to ``rf`` (the smaller one on a tie, as hls4ml does)."""
    if rec.get("estimate") != "mvu":
        return closest_valid(*rec["mult_size"], int(rf))
    return min(candidates(rec), key=lambda v: (abs(v - int(rf)), v))


def paced_depths(nodes, reuse: dict[str, int], depths: dict[str, int], stream_info: dict) -> dict[str, int]:
    """``depths`` with every stream from a window producer into an MVU deepened so the MVU is never
    starved (fifo.pace_depth at the MVU's reuse factor); depths fixed by the user are kept."""
    by_name = {r["name"]: r for r in nodes}
    out = dict(depths)
    for name, s in stream_info.items():
        if s.get("fixed"):
            continue
        paces = [int(reuse[c]) for c in s["consumers"] if by_name[c].get("estimate") == "mvu" and c in reuse]
        if paces:
            out[name] = max(out[name], fifo.pace_depth(s["run"], min(paces)))
    return out


def evaluate(nodes, reuse: dict[str, int], depths: dict[str, int], stream_info: dict, part, budget: float,
             clock_ns: float, uram_roles: tuple) -> Plan:
    depths = paced_depths(nodes, reuse, depths, stream_info)
    layers = [estimate_layer(r, reuse.get(r["name"])) for r in nodes if not r["source"]]
    fifos = [Memory(s["producer"], "fifo", depths[name], s["word_bits"], "fifo", stream=name, var=s.get("var", ""))
             for name, s in stream_info.items()]
    mems = [m for e in layers for m in e.memories] + fifos
    for m in mems:
        place(m)
    # fits is judged on the count Vitis HLS C-synthesis would report (memory.py, hls_count.py)
    bram = sum(m.hls_bram18k for m in mems)
    limit_b, limit_u = budget * part.bram18k, budget * part.uram
    uram = 0
    if bram > limit_b and part.uram:
        def uram_cost(m):
            return uram_count(m.depth, m.width) * m.copies

        movable = sorted((m for m in mems if m.impl == "bram" and m.uram_ok and m.kind in uram_roles),
                         key=lambda m: -m.hls_bram18k / max(1, uram_cost(m)))
        for m in movable:
            if bram <= limit_b:
                break
            cost = uram_cost(m)
            if uram + cost > limit_u:
                continue
            bram -= m.hls_bram18k
            place(m, use_uram=True)
            uram += m.uram
    dsp = sum(e.dsp for e in layers)
    luts = (sum(m.luts for m in mems) + sum(e.mult_luts + e.extra_luts for e in layers)
            + BASE_LUTS_PER_LAYER * len(layers))
    ffs = sum(m.ffs for m in mems)
    cycles = max((e.cycles for e in layers), default=1)
    slowest = max(layers, key=lambda e: e.cycles).layer if layers else None
    latency = cycle_model.network_cycles(nodes, reuse)["latency_cycles"]
    # LUT is a rough estimate. Its floor (one SRL LUT per bit of every shallow stream FIFO, the line
    # buffers, per-layer control) does not depend on the plan; the logic the plan itself chooses, products
    # on LUTs (<= 4-bit operands) and weight ROMs in LUTRAM, is bounded by what the budget leaves beside
    # that floor (else a narrow-weight plan goes parallel on logic: 4-bit SqueezeNet 1.1 @224 reached 398%,
    # then 157% of ZCU104's LUTs, found by the sweep report). Where the floor alone exceeds the budget
    # (ShuffleNet @224's whole-pixel stream words) no plan can change it: the plan's own logic is then
    # bounded by the budget alone, and the totals and the report say that the LUT floor is over
    # (totals['lut_floor_over_budget']).
    plan_luts = sum(e.mult_luts for e in layers) + sum(m.luts for m in mems if m.kind in ("weights", "bias"))
    lut_room = budget * part.lut - (luts - plan_luts)
    lut_bound = lut_room if lut_room > 0 else budget * part.lut
    fits = bram <= limit_b and uram <= limit_u and dsp <= budget * part.dsp and plan_luts <= lut_bound
    totals = {
        "bram18k": int(sum(m.bram18k for m in mems)), "uram": int(uram), "dsp": int(dsp), "lut": int(luts),
        "plan_lut": int(plan_luts), "lut_floor_over_budget": bool(lut_room <= 0),
        "ff": int(ffs), "hls_bram18k": int(bram),
        "cycles_per_frame": int(cycles), "slowest_layer": slowest, "macs": int(sum(e.macs for e in layers)),
        "fps": round(1e9 / (cycles * clock_ns), 2), "latency_cycles": int(latency),
        "latency_ms": round(latency * clock_ns / 1e6, 3),
    }
    return Plan(dict(reuse), dict(depths), layers, fifos, totals, fits, stream_info, tuple(uram_roles))


# weightings of (BRAM18K, DSP, LUT) in a layer's cost, each normalised by the part's total: balanced
# first; the BRAM-heavy one finds the plans that fit when block RAM is the binding constraint
# (a deep ROM in 1Kx18 shapes or a wide shallow one can waste blocks that another RF does not)
COST_WEIGHTS = ((1.0, 1.0, 1.0), (8.0, 1.0, 1.0), (1.0, 4.0, 1.0), (1.0, 16.0, 1.0))


def _layer_cost(rec, rf, part, weights=COST_WEIGHTS[0]):
    e = estimate_layer(rec, rf)
    bram = 0
    luts = e.mult_luts
    for m in e.memories:
        place(m)
        bram += m.hls_bram18k
        luts += m.luts
    wb, wd, wl = weights
    return (wb * bram / max(1, part.bram18k) + wd * e.dsp / max(1, part.dsp) + wl * luts / max(1, part.lut)), e.cycles


def plan(nodes, part, *, budget: float, clock_ns: float, uniform_rf: int | None, fixed_rf: dict[str, int],
         fixed_depths: dict[str, int], min_packing: float, uram_roles: tuple, target_fps: float | None) -> Plan:
    """Choose reuse factors and FIFO depths; ``Plan.fits`` says whether the best plan fits.

    Among fitting plans, the fastest one whose weight packing efficiency (weight bits / bits of the
    BRAM/URAM holding them) is at least ``min_packing`` is chosen; if none reaches it, the fastest
    fitting plan (``totals['packing_below_target']`` is then set). With ``target_fps`` (FINN's
    target_fps), the smallest design whose slowest layer meets it: every layer at its cheapest reuse
    factor within the cycle bound clock / target_fps (``totals['target_fps']``; when even that does not
    fit, or the bound is below what the layers without weights need, the plan does not fit and
    ``totals['target_max_fps']`` gives the fastest plan that fits, if any).
    """
    fixed_rf = dict(fixed_rf)
    wl = weighted_layers(nodes)
    names = {r["name"] for r in wl}
    for name, rf in fixed_rf.items():
        if name not in names:
            raise FlowError(f"hls.reuse_factors: no weighted layer named {name!r}; layers: {sorted(names)[:8]}...")
        rec = next(r for r in wl if r["name"] == name)
        if not is_valid(rec, rf):
            near = sorted(candidates(rec), key=lambda v: abs(v - rf))[:4]
            raise FlowError(f"hls.reuse_factors.{name}={rf} is not valid for this layer; nearest valid: {sorted(near)}")
    info = fifo.analyse(nodes)
    depths = {k: v["required_depth"] for k, v in info.items()}
    for name, d in fixed_depths.items():
        if name not in info:
            raise FlowError(f"hls.fifo_depths: no stream named {name!r}; streams are named after their producer's output")
        if int(d) < info[name]["required_depth"]:
            raise FlowError(f"hls.fifo_depths.{name}={d} is below its deadlock-free minimum "
                            f"{info[name]['required_depth']} (branch backlog {info[name]['backlog']}); raise it")
        depths[name] = int(d)
        info[name]["fixed"] = True

    if uniform_rf is not None:

        reuse = {r["name"]: fixed_rf.get(r["name"], nearest(r, uniform_rf)) for r in wl}
        return evaluate(nodes, reuse, depths, info, part, budget, clock_ns, uram_roles)

    if target_fps is not None:
        bound = int(1e9 / (float(target_fps) * clock_ns))
        results = [_search(nodes, wl, fixed_rf, part, depths, info, budget, clock_ns, uram_roles, 0.0, w, bound)
                   for w in COST_WEIGHTS]
        fitting = [p for p in results if p.fits]
        if fitting:
            best = min(fitting, key=lambda p: p.totals["hls_bram18k"] / max(1, part.bram18k) + p.totals["dsp"] / max(
                1, part.dsp) + p.totals["uram"] / max(1, part.uram))
            best.totals["target_fps"] = float(target_fps)
            return best
        fastest = plan(nodes, part, budget=budget, clock_ns=clock_ns, uniform_rf=None, fixed_rf=fixed_rf,
                       fixed_depths=fixed_depths, min_packing=0.0, uram_roles=uram_roles, target_fps=None)
        results[0].fits = False
        results[0].totals.update(target_fps=float(target_fps),
                                 target_max_fps=fastest.totals["fps"] if fastest.fits else None)
        return results[0]
    results = [_search(nodes, wl, fixed_rf, part, depths, info, budget, clock_ns, uram_roles, min_packing, w)
               for w in COST_WEIGHTS]
    fitting = [p for p in results if p.fits]
    if not fitting:
        return results[0]
    # the fastest fitting plan that meets the packing target, else the fastest fitting plan
    packed = [p for p in fitting if not p.totals.get("packing_below_target", False)]
    return max(packed or fitting, key=lambda p: p.totals["fps"])


def _search(nodes, wl, fixed_rf, part, depths, info, budget, clock_ns, uram_roles, min_packing, weights,
            bound: int | None = None) -> Plan:
    """The fastest fitting plan for one cost weighting (binary search on the per-layer cycle bound);
    with ``bound``, the plan at that cycle bound (each layer its cheapest reuse factor within it)."""
    table = {}
    for r in wl:
        opts = [fixed_rf[r["name"]]] if r["name"] in fixed_rf else candidates(r)
        table[r["name"]] = [(rf, *_layer_cost(r, rf, part, weights)) for rf in opts]
    fixed_cycles = max([e.cycles for e in (estimate_layer(r) for r in nodes if not r["source"] and "weights" not in r)]
                       + [1])
    ts = sorted({c for opts in table.values() for _, _, c in opts} | {fixed_cycles})
    ts = [t for t in ts if t >= fixed_cycles and all(any(c <= t for _, _, c in o) for o in table.values())]

    def choose(t):
        return {name: min((o for o in opts if o[2] <= t), key=lambda o: (o[1], -o[0]))[0] for name, opts in table.items()}

    if bound is not None:
        within = [t for t in ts if t <= bound]
        p = evaluate(nodes, choose(within[-1] if within else ts[0]), depths, info, part, budget, clock_ns, uram_roles)
        p.fits = p.fits and bool(within)
        return p

    lo, hi = 0, len(ts) - 1
    best = evaluate(nodes, choose(ts[hi]), depths, info, part, budget, clock_ns, uram_roles)
    if not best.fits:
        return best
    while lo < hi:
        mid = (lo + hi) // 2
        p = evaluate(nodes, choose(ts[mid]), depths, info, part, budget, clock_ns, uram_roles)
        if p.fits:
            best, hi = p, mid
        else:
            lo = mid + 1
    if packing(best) >= min_packing:
        return best
    seen = set()
    for t in ts[lo + 1:]:
        reuse = choose(t)
        key = tuple(sorted(reuse.items()))
        if key in seen:
            continue
        seen.add(key)
        p = evaluate(nodes, reuse, depths, info, part, budget, clock_ns, uram_roles)
        if p.fits and packing(p) >= min_packing:
            return p
    best.totals["packing_below_target"] = True
    return best


def packing(p: Plan) -> float:
    w = [m for e in p.layers for m in e.memories if m.kind == "weights" and m.impl in ("bram", "uram")]
    cap = sum(m.capacity_bits for m in w)
    return sum(m.bits for m in w) / cap if cap else 1.0


def summary(p: Plan, part, budget: float) -> dict:
    """JSON-able memory/DSP/latency summary (every number an estimate)."""
    mems = [m for e in p.layers for m in e.memories] + p.fifos
    by_kind = {}
    for m in mems:
        k = by_kind.setdefault(m.kind if m.kind != "bias" else "weights",
                               {"bits": 0, "hls_bram18k": 0, "bram18k": 0, "uram": 0, "luts": 0, "ffs": 0})
        k["bits"] += m.bits
        k["hls_bram18k"] += m.hls_bram18k
        k["bram18k"] += m.bram18k
        k["uram"] += m.uram
        k["luts"] += m.luts
        k["ffs"] += m.ffs
    w = [m for m in mems if m.kind == "weights"]
    w_bits = sum(m.bits for m in w)
    w_cap = sum(m.capacity_bits for m in w if m.impl in ("bram", "uram"))
    w_bits_in_blocks = sum(m.bits for m in w if m.impl in ("bram", "uram"))
    t = p.totals
    return {
        "estimate": True,
        # fits: BRAM18K by the HLS C-synthesis count (hls_bram18k), URAM and DSP within the budget;
        # bram18k is the post-implementation guess, shown beside it
        "fits": p.fits, "fits_by": "hls_bram18k", "budget": budget,
        "bram18k": t["bram18k"], "bram18k_available": part.bram18k, "uram": t["uram"], "uram_available": part.uram,
        "dsp": t["dsp"], "dsp_available": part.dsp, "lut": t["lut"], "lut_available": part.lut,
        "ff": t["ff"], "ff_available": part.ff, "ff_pct": _pct(t["ff"], part.ff),
        "bram18k_pct": _pct(t["bram18k"], part.bram18k), "uram_pct": _pct(t["uram"], part.uram),
        "dsp_pct": _pct(t["dsp"], part.dsp), "lut_pct": _pct(t["lut"], part.lut),
        "hls_bram18k": t["hls_bram18k"], "hls_bram18k_pct": _pct(t["hls_bram18k"], part.bram18k),
        "by_kind": by_kind,
        "weight_bits": w_bits,
        "weight_packing_efficiency": round(w_bits_in_blocks / w_cap, 4) if w_cap else None,
        "packing_below_target": bool(t.get("packing_below_target", False)),
        "weight_bits_in_lut_or_ff": w_bits - w_bits_in_blocks,
        "cycles_per_frame": t["cycles_per_frame"], "slowest_layer": t["slowest_layer"], "fps": t["fps"],
        # multiply-accumulates per frame / (cycles per frame x DSPs): how busy the DSPs are (1 = every DSP
        # does one useful MAC every cycle); products on LUTs (<= 4-bit operands) count as MACs without a DSP
        "macs_per_frame": t["macs"], "mac_efficiency": round(t["macs"] / (t["cycles_per_frame"] * t["dsp"]), 4)
        if t["dsp"] else None,
        "latency_cycles": t["latency_cycles"], "latency_ms": t["latency_ms"],
    }


def _pct(a, b):
    return round(100.0 * a / b, 1) if b else (0.0 if a == 0 else math.inf)


def consumers_table(p: Plan, n: int = 10) -> list[dict]:
    rows = {}
    for m in [m for e in p.layers for m in e.memories] + p.fifos:
        r = rows.setdefault(m.layer, {"layer": m.layer, "hls_bram18k": 0, "bram18k": 0, "uram": 0, "bits": 0})
        r["hls_bram18k"] += m.hls_bram18k
        r["bram18k"] += m.bram18k
        r["uram"] += m.uram
        r["bits"] += m.bits
    return sorted(rows.values(), key=lambda r: -(r["hls_bram18k"] + 16 * r["uram"]))[:n]


def refusal(p: Plan, part, budget: float, nodes, clock_ns: float, how: str = "even at the largest reuse factors") -> str:
    """The message of a build that cannot fit: totals, largest consumers, and what would fit."""
    import copy


    t = p.totals
    lines = [f"design does not fit {part.name} ({part.board}) within {budget:.0%} {how} "
             f"(estimate): BRAM18K {t['hls_bram18k']} (HLS C-synthesis count) of {int(budget * part.bram18k)} allowed "
             f"({part.bram18k}), "
             f"URAM {t['uram']} of {int(budget * part.uram)} ({part.uram}), DSP {t['dsp']} of {int(budget * part.dsp)} "
             f"({part.dsp}), LUT (rough) {t['lut']} of {int(budget * part.lut)} ({part.lut})",
             "largest memory consumers (estimate):",
             f"  {'layer':34s} {'BRAM18K':>8s} {'URAM':>5s} {'kbit':>8s}"]
    for r in consumers_table(p):
        lines.append(f"  {r['layer']:34s} {r['hls_bram18k']:8d} {r['uram']:5d} {r['bits'] / 1000:8.1f}")
    lines.append("what would fit (estimate):")
    for bits in (6, 4, 3):
        n2 = copy.deepcopy(nodes)
        for r in n2:
            if "weights" in r and r["weights"]["bits"] > bits:
                r["weights"]["bits"] = bits
        q = plan(n2, part, budget=budget, clock_ns=clock_ns, uniform_rf=None, fixed_rf={}, fixed_depths={},
                 min_packing=0.0, uram_roles=p.uram_roles, target_fps=None)
        verdict = "fits" if q.fits else "still does not fit"
        lines.append(f"  weight_bits {bits} on {part.name}: BRAM18K {q.totals['hls_bram18k']}, URAM {q.totals['uram']}, "
                     f"DSP {q.totals['dsp']} -> {verdict}")
        if q.fits:
            break
    bigger = []
    for other in PARTS.values():
        if other.name == part.name or (other.bram18k + 16 * other.uram) <= (part.bram18k + 16 * part.uram):
            continue
        q = plan(nodes, other, budget=budget, clock_ns=clock_ns, uniform_rf=None, fixed_rf={}, fixed_depths={},
                 min_packing=0.0, uram_roles=p.uram_roles, target_fps=None)
        if q.fits:
            bigger.append(f"{other.name} ({other.board}): BRAM18K {q.totals['hls_bram18k']}/{other.bram18k}, "
                          f"URAM {q.totals['uram']}/{other.uram}, {q.totals['fps']} fps")
    lines += [f"  part {b}" for b in bigger] or ["  no listed part is large enough"]
    lines.append("use --part with one of these, fewer weight bits (quantization.weight_bits), a larger "
                 "hls.memory_budget" + ("" if how.startswith("even") else ", or hls.reuse_factor: auto"))
    return "\n".join(lines)
