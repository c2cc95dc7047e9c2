"""The checks of the fitter (resources/fit.py) on both sides: user reuse factors and FIFO depths that
name no layer/stream or are invalid are refused naming them, valid ones are kept; 'fits' is decided by
<= on each resource (a part with exactly the blocks the plan needs fits, one block fewer does not);
weights go to URAM only with the weight-load path. On the design records of the real 32x32 SqueezeNet build."""
import pytest

from fastkit import sq32  # noqa: F401 (fixture)

from conftest import plan
from fpga_flow import project
from fpga_flow.errors import FlowError
from fpga_flow.resources import fit
from fpga_flow.resources.parts import custom, resolve

pytestmark = pytest.mark.fast

RF = 256  # one reuse factor for every layer (the nearest valid one per layer): no search, a fast plan; deep
# enough that weight ROMs need block RAM (<= 64 words would be LUTRAM)


@pytest.fixture(scope="module")
def nodes(sq32):
    return project.load_manifest(sq32)["design"]


def test_fixed_reuse_factors_checked(nodes):
    part = resolve("zcu104")
    with pytest.raises(FlowError, match="hls.reuse_factors: no weighted layer named 'fire2_concat'"):
        plan(nodes, part, uniform_rf=RF, fixed_rf={"fire2_concat": 4})
    rec = next(r for r in nodes if r["name"] == "fire2_squeeze1x1")
    valid = fit.candidates(rec)
    # fpga_flow's MVU folds any sf * nf (sf <= 64 input folds, nf <= 16 output folds): 67 is the first
    # reuse factor with no folding (prime, above both)
    bad = next(v for v in range(2, max(valid)) if not fit.is_valid(rec, v))
    assert bad == 67
    with pytest.raises(FlowError, match=rf"fire2_squeeze1x1={bad} is not valid for this layer; nearest valid"):
        plan(nodes, part, uniform_rf=RF, fixed_rf={"fire2_squeeze1x1": bad})
    for v in (min(valid), max(valid)):
        assert plan(nodes, part, uniform_rf=RF, fixed_rf={"fire2_squeeze1x1": v}).reuse["fire2_squeeze1x1"] == v
    # the nearest valid ones are named: four valid factors, none valid one nearer than the farthest named
    with pytest.raises(FlowError) as e:
        plan(nodes, part, uniform_rf=RF, fixed_rf={"fire2_squeeze1x1": bad})
    named = [int(x) for x in str(e.value).split("nearest valid: [")[1].rstrip("]").split(",")]
    assert len(named) == 4 and all(fit.is_valid(rec, v) for v in named) and named == sorted(named)
    assert not any(abs(v - bad) < max(abs(x - bad) for x in named) for v in valid if v not in named)
    # each layer's factor is checked against that layer: one valid for fire9 only is accepted there
    first = fit.weighted_layers(nodes)[0]
    last = next(r for r in nodes if r["name"] == "fire9_expand3x3")
    only = next(v for v in fit.candidates(last) if not fit.is_valid(first, v))
    assert plan(nodes, part, uniform_rf=RF, fixed_rf={"fire9_expand3x3": only}).reuse["fire9_expand3x3"] == only
    # an unknown layer: the first eight layer names are listed
    with pytest.raises(FlowError) as e:
        plan(nodes, part, uniform_rf=RF, fixed_rf={"nope": 4})
    names = sorted(r["name"] for r in fit.weighted_layers(nodes))
    assert str(e.value).endswith(f"layers: {names[:8]}...")


def _part(bram, dsp, uram=0):
    return custom({"name": "edge", "bram18k": bram, "uram": uram, "dsp": dsp, "lut": 10**7, "ff": 10**7})


def test_fits_is_decided_on_each_boundary(nodes):
    base = plan(nodes, resolve("zcu104"), uniform_rf=RF)
    b, d = base.totals["hls_bram18k"], base.totals["dsp"]
    assert b > 0 and d > 0
    # budget 1.0: exactly enough blocks and DSPs fits; one fewer of either does not
    assert plan(nodes, _part(b, d), budget=1.0, uniform_rf=RF).fits is True
    assert plan(nodes, _part(b - 1, d), budget=1.0, uniform_rf=RF).fits is False
    assert plan(nodes, _part(b, d - 1), budget=1.0, uniform_rf=RF).fits is False
    # the budget scales the limit: 0.5 of twice the need fits, of one block less than that does not
    assert plan(nodes, _part(2 * b, 2 * d), budget=0.5, uniform_rf=RF).fits is True
    assert plan(nodes, _part(2 * b - 1, 2 * d), budget=0.5, uniform_rf=RF).fits is False
    # the totals do not depend on the part's size (same plan, same counts)
    p = plan(nodes, _part(b - 1, d), budget=1.0, uniform_rf=RF)
    assert (p.totals["hls_bram18k"], p.totals["dsp"]) == (b, d)


def test_weights_go_to_uram_only_with_the_load_path(nodes):
    base = plan(nodes, resolve("zcu104"), uniform_rf=RF)
    b, d = base.totals["hls_bram18k"], base.totals["dsp"]
    # too few blocks, plenty of URAM: without the weight-load path FIFOs may move (none here is deep
    # enough to help), weights never
    p = plan(nodes, _part(b - 1, d, uram=1000), budget=1.0, uniform_rf=RF)
    assert not any(m.impl == "uram" for e in p.layers for m in e.memories)
    assert p.fits is False and p.totals["uram"] == 0
    # with it (hls.uram_weights: auto on Vitis), a weight memory moves and the plan fits
    p = plan(nodes, _part(b - 1, d, uram=1000), budget=1.0, uniform_rf=RF, uram_roles=("fifo", "weights"))
    moved = [m for e in p.layers for m in e.memories if m.impl == "uram"]
    assert moved and {m.kind for m in moved} == {"weights"} and p.fits is True
    # with enough blocks nothing moves
    p = plan(nodes, _part(b, d, uram=1000), budget=1.0, uniform_rf=RF, uram_roles=("fifo", "weights"))
    assert p.fits and p.totals["uram"] == 0


def test_logic_the_plan_chooses_leaves_room_for_the_lut_floor(nodes):
    """4-bit weights put every product on LUTs. With the fastest plan (LUTs plenty) as reference: on a
    part whose budget leaves the floor (FIFOs, line buffers, control: what no plan changes) some room, the
    chosen plan's whole LUT estimate stays within the budget, and it is slower; on a part whose floor alone
    is over the budget, the totals say so."""
    import copy

    n4 = copy.deepcopy(nodes)
    for r in n4:
        if "weights" in r:
            r["weights"]["bits"] = 4

    def part(lut):
        return custom({"name": "edge", "bram18k": 10**5, "uram": 0, "dsp": 10**5, "lut": lut, "ff": 10**8})

    free = plan(n4, part(10**8), min_packing=0.0)
    floor = free.totals["lut"] - free.totals["plan_lut"]
    assert free.fits and free.totals["dsp"] == 0 and free.totals["plan_lut"] > floor / 10  # products on LUTs
    lut = int((floor + free.totals["plan_lut"] / 4) / 0.9)  # the budget leaves a quarter of the free plan's logic
    tight = plan(n4, part(lut), min_packing=0.0)
    assert tight.fits and tight.totals["lut"] <= 0.9 * lut and not tight.totals["lut_floor_over_budget"]
    assert tight.totals["fps"] < free.totals["fps"]
    small = int(floor / 0.9) - 1
    over = plan(n4, part(small), min_packing=0.0)
    assert over.totals["lut_floor_over_budget"] and over.totals["lut"] > 0.9 * small


def test_totals_agree_with_the_plans_own_listing(nodes):
    """What the report shows per layer and per memory adds up to its totals; the frame rate and the
    latency follow the clock; the slowest layer is the one with the most cycles."""
    part = resolve("zcu104")
    p = plan(nodes, part, uniform_rf=RF, clock_ns=5.0)
    t = p.totals
    mems = [m for e in p.layers for m in e.memories] + p.fifos
    assert p.reuse == {r["name"]: p.reuse[r["name"]] for r in fit.weighted_layers(nodes)} and len(p.reuse) == 26
    assert {f.stream for f in p.fifos} == set(p.streams) and all(p.depths[f.stream] == f.depth for f in p.fifos)
    # each FIFO listed under the layer that writes it, with the C++ variable the audit looks its pragmas up by
    assert all((f.layer, f.kind, f.var) == (p.streams[f.stream]["producer"], "fifo", p.streams[f.stream]["var"])
               and f.var for f in p.fifos)
    assert t["hls_bram18k"] == sum(m.hls_bram18k for m in mems if m.impl != "uram") > 0
    assert t["bram18k"] == sum(m.bram18k for m in mems) > 0
    assert t["ff"] == sum(m.ffs for m in mems) > 0 and t["uram"] == sum(m.uram for m in mems) == 0
    assert t["dsp"] == sum(e.dsp for e in p.layers) and t["macs"] == sum(e.macs for e in p.layers) > 0
    floor = sum(m.luts for m in mems if m.kind not in ("weights", "bias")) + sum(e.extra_luts for e in p.layers) \
        + fit.BASE_LUTS_PER_LAYER * len(p.layers)
    assert t["plan_lut"] == sum(e.mult_luts for e in p.layers) + sum(m.luts for m in mems if m.kind in ("weights", "bias"))
    assert t["lut"] == floor + t["plan_lut"] and t["lut_floor_over_budget"] is False
    slow = max(p.layers, key=lambda e: e.cycles)
    assert (t["cycles_per_frame"], t["slowest_layer"]) == (slow.cycles, slow.layer)
    assert t["latency_cycles"] > t["cycles_per_frame"]
    assert t["fps"] == round(1e9 / (slow.cycles * 5.0), 2) and t["latency_ms"] == round(t["latency_cycles"] * 5e-6, 3)
    q = plan(nodes, part, uniform_rf=RF, clock_ns=10.0)  # half the clock: half the frame rate, twice the latency
    assert q.totals["cycles_per_frame"] == t["cycles_per_frame"] and q.totals["fps"] == round(t["fps"] / 2, 2)
    assert q.totals["latency_ms"] == round(2 * t["latency_ms"], 3)
    assert p.uram_roles == ("fifo",) and q.fits == p.fits  # conftest.plan: weights kept in the bitstream


def test_target_fps_meets_the_target_with_a_smaller_design_or_names_the_fastest(nodes):
    part = resolve("zcu104")
    fastest = plan(nodes, part, min_packing=0.0)
    f = fastest.totals["fps"]
    assert fastest.fits and "target_fps" not in fastest.totals
    small = plan(nodes, part, target_fps=f / 4)
    assert small.fits and small.totals["target_fps"] == f / 4 and f / 4 <= small.totals["fps"] < f
    assert small.totals["dsp"] < fastest.totals["dsp"]
    smaller = plan(nodes, part, target_fps=f / 16)
    assert smaller.fits and smaller.totals["fps"] >= f / 16 and smaller.totals["dsp"] <= small.totals["dsp"]
    over = plan(nodes, part, target_fps=2 * f)  # unreachable on this part: refused, the fastest named
    assert over.fits is False and over.totals["target_fps"] == 2 * f and over.totals["target_max_fps"] == f
    tiny = _part(1, 1)  # nothing fits at all: no fastest plan to name
    assert plan(nodes, tiny, target_fps=1.0).totals["target_max_fps"] is None


def test_packing_target_out_of_reach_keeps_the_fastest_fitting_plan(nodes):
    part = resolve("zcu104")
    free = plan(nodes, part, min_packing=0.0)
    strict = plan(nodes, part, min_packing=1.01)  # no memory is more than full
    assert strict.fits and strict.totals["packing_below_target"] is True and "packing_below_target" not in free.totals
    assert strict.totals["fps"] == free.totals["fps"]


def test_uram_moves_stop_as_soon_as_it_fits_within_the_uram_budget(nodes):
    """Weights move to URAM best BRAM saved per URAM first, only until the BRAM limit is met, never past
    the URAM limit (each on both sides of its boundary); the totals are those of where each memory ended."""
    from fpga_flow.resources.memory import uram as uram_count

    base = plan(nodes, resolve("zcu104"), uniform_rf=RF)
    b, d = base.totals["hls_bram18k"], base.totals["dsp"]
    roles = ("fifo", "weights")
    before = {(e.layer, m.kind): m.hls_bram18k for e in base.layers for m in e.memories}
    movable = [(e.layer, m) for e in base.layers for m in e.memories if m.impl == "bram" and m.uram_ok]
    cost = {layer: uram_count(m.depth, m.width) * m.copies for layer, m in movable}
    ratio = {layer: m.hls_bram18k / max(1, cost[layer]) for layer, m in movable}

    def moved(p):
        return [e.layer for e in p.layers for m in e.memories if m.impl == "uram"]

    one = plan(nodes, _part(b - 1, d, uram=1000), budget=1.0, uniform_rf=RF, uram_roles=roles)
    (first,) = moved(one)  # one block over: one memory moves, the best ratio
    assert ratio[first] == max(ratio.values()) and one.fits
    saved = before[(first, "weights")]
    # exactly the blocks that move frees: one move, however much URAM is left; the URAM exactly its cost: fits
    assert moved(plan(nodes, _part(b - saved, d, uram=1000), budget=1.0, uniform_rf=RF, uram_roles=roles)) == [first]
    p = plan(nodes, _part(b - saved, d, uram=cost[first]), budget=1.0, uniform_rf=RF, uram_roles=roles)
    assert moved(p) == [first] and p.fits and p.totals["uram"] == cost[first]
    # a URAM budget smaller than the moves needed: never passed, and no memory that still fits in what is
    # left stays behind (a memory too large for the rest is skipped, not the end of the moves)
    for u in (2, 3, 5):
        small = plan(nodes, _part(b // 2, d, uram=u), budget=1.0, uniform_rf=RF, uram_roles=roles)
        left = u - small.totals["uram"]
        assert 0 <= left and not any(cost[layer] <= left for layer, _ in movable if layer not in moved(small)), u
    assert p.totals["hls_bram18k"] == b - saved == sum(m.hls_bram18k for e in p.layers for m in e.memories
                                                       if m.impl != "uram") + sum(f.hls_bram18k for f in p.fifos)
    # one URAM fewer: that memory is skipped, a cheaper one may go, the URAM limit is never passed
    q = plan(nodes, _part(b - saved, d, uram=cost[first] - 1), budget=1.0, uniform_rf=RF, uram_roles=roles)
    assert first not in moved(q) and q.totals["uram"] <= cost[first] - 1
    if any(c <= cost[first] - 1 for c in cost.values()):
        assert moved(q)
    # a part that needs several moves: the totals are the sums over where each memory ended
    many = plan(nodes, _part(b // 2, d, uram=1000), budget=1.0, uniform_rf=RF, uram_roles=roles)
    assert len(moved(many)) >= 2
    # best first: every memory moved saves at least as much BRAM per URAM as any left in BRAM
    assert min(ratio[x] for x in moved(many)) >= max(ratio[x] for x, _ in movable if x not in moved(many))
    mems = [m for e in many.layers for m in e.memories] + many.fifos
    assert many.totals["uram"] == sum(m.uram for m in mems) and many.totals["hls_bram18k"] == sum(
        m.hls_bram18k for m in mems if m.impl != "uram")


def test_lut_bound_on_both_sides(nodes):
    """4-bit products on LUTs, one reuse factor (one plan): the plan's own logic fits the LUTs the budget
    leaves beside the floor exactly, not one LUT fewer; a budget that leaves nothing beside the floor says so."""
    import copy

    n4 = copy.deepcopy(nodes)
    for r in n4:
        if "weights" in r:
            r["weights"]["bits"] = 4

    def at(lut):
        part = custom({"name": "edge", "bram18k": 10**5, "uram": 0, "dsp": 10**5, "lut": lut, "ff": 10**8})
        return plan(n4, part, budget=1.0, uniform_rf=RF)

    ref = at(10**8)
    pl = ref.totals["plan_lut"]
    floor = ref.totals["lut"] - pl
    assert pl > 1 and ref.totals["dsp"] == 0
    assert at(floor + pl).fits and not at(floor + pl - 1).fits
    room1 = at(floor + 1)
    assert room1.totals["lut_floor_over_budget"] is False and room1.fits is False
    none = at(floor)  # the floor alone takes the whole budget: said, and the plan's logic bounded by the budget
    assert none.totals["lut_floor_over_budget"] is True and none.fits == (pl <= floor)


def test_fixed_fifo_depths_are_kept_and_a_packing_target_is_met(nodes):
    """A depth the user fixes at a window stream's deadlock-free minimum is kept (not deepened to the MVU's
    pace); a packing target between the fastest plan's packing and the best reachable is met by a slower
    plan, not ignored for a faster one."""
    part = resolve("zcu104")
    free = plan(nodes, part, min_packing=0.0)
    paced = [s for s, d in free.depths.items() if d > free.streams[s]["required_depth"]]
    assert paced
    s = paced[0]
    need = free.streams[s]["required_depth"]
    fixed = plan(nodes, part, min_packing=0.0, fixed_depths={s: need})
    assert fixed.depths[s] == need and fixed.streams[s]["fixed"] is True
    # 0.9: on this network some cost weightings reach it and one does not (its plan, faster, is flagged)
    assert fit.packing(free) < 0.9
    packed = plan(nodes, part, min_packing=0.9)
    assert not packed.totals.get("packing_below_target") and fit.packing(packed) >= 0.9
    assert packed.totals["fps"] < free.totals["fps"] and packed.fits
