"""Boundary tests of the FIFO depths (resources/fifo.py) and of the deadlock-free minimum that the plan
enforces (resources/fit.py): the counting functions on small geometries counted by hand, the depths of
the real 32x32 SqueezeNet build derived by hand from its row widths, and a user's depth at the minimum
accepted, one below refused, through the plan, the config file and ``--set``."""
import re

import numpy as np
import pytest
import yaml

from conftest import CONFIGS, plan
from fastkit import cli_main, one_line_error, sq32  # noqa: F401 (fixture)

from fpga_flow import project
from fpga_flow.errors import FlowError
from fpga_flow.resources import fifo, fit
from fpga_flow.resources.parts import resolve

pytestmark = pytest.mark.fast


def _rec(counting, geometry, out_shape, name="l"):
    return {"name": name, "fifo": {"counting": counting, "read_ahead": 0}, "geometry": geometry,
            "outputs": [{"name": name, "shape": out_shape}]}


# f[k] = items written after k items read. Each expected list is counted by hand from the raster order.
def test_zero_pad_writes_padding_before_and_after_its_reads():
    # 2x2 -> 4x4 (pad 1 all round): the top row (4) and the left pad (1) before the first pixel; input
    # pixel k sits at padded index (row+1)*4 + col+1: 5, 6, 9, 10; the rest (bottom row) after the last read
    g = {"in_width": 2, "out_width": 4, "out_height": 4, "pad_top": 1, "pad_left": 1}
    assert list(fifo.counting_function(_rec("zero_pad", g, [4, 4, 1]), 4)) == [5, 6, 9, 10, 16]
    # pad only bottom/right: nothing before the first pixel
    g = {"in_width": 2, "out_width": 3, "out_height": 3, "pad_top": 0, "pad_left": 0}
    assert list(fifo.counting_function(_rec("zero_pad", g, [3, 3, 1]), 4)) == [0, 1, 3, 4, 9]


def test_conv_window_writes_when_the_window_closes():
    # 3x3 valid stride 1 on 4x4 -> 2x2: output (i, j) needs input (i+2, j+2), the (4(i+2) + j+2 + 1)-th item
    g = {"filt_height": 3, "filt_width": 3, "stride_height": 1, "stride_width": 1, "in_width": 4,
         "out_height": 2, "out_width": 2}
    f = fifo.counting_function(_rec("conv_window", g, [2, 2, 1]), 16)
    assert list(f) == [0] * 11 + [1, 2, 2, 2, 3, 4]
    # stride 2, 3x3 on 5x5 -> 2x2: needs input (2i+2, 2j+2): items 13, 15, 23, 25
    g = dict(g, stride_height=2, stride_width=2, in_width=5)
    f = fifo.counting_function(_rec("conv_window", g, [2, 2, 1]), 25)
    assert [int(np.searchsorted(f, n)) for n in (1, 2, 3, 4)] == [13, 15, 23, 25]
    # 1x1 stride 1: one output per input
    g = {"filt_height": 1, "filt_width": 1, "stride_height": 1, "in_width": 3}
    assert list(fifo.counting_function(_rec("conv_window", g, [3, 3, 1]), 9)) == list(range(10))


def test_pool_window_clips_at_the_last_row_and_column():
    # 2x2 stride 2 on 4x4 -> 2x2: needs input (2i+1, 2j+1): items 6, 8, 14, 16
    g = {"pool_height": 2, "pool_width": 2, "stride_height": 2, "stride_width": 2, "in_height": 4, "in_width": 4,
         "out_height": 2, "out_width": 2, "pad_top": 0, "pad_left": 0}
    f = fifo.counting_function(_rec("pool_window", g, [2, 2, 1]), 16)
    assert [int(np.searchsorted(f, n)) for n in (1, 2, 3, 4)] == [6, 8, 14, 16]
    # 'same' 3x3 stride 2 on 4x4 (pad bottom/right 1): the last window row/column would be input row 4,
    # which does not exist: clipped to row/column 3. Needs (2,2) (2,3) (3,2) (3,3): items 11, 12, 15, 16
    g = dict(g, pool_height=3, pool_width=3)
    f = fifo.counting_function(_rec("pool_window", g, [2, 2, 1]), 16)
    assert [int(np.searchsorted(f, n)) for n in (1, 2, 3, 4)] == [11, 12, 15, 16]
    # padding on top/left moves every window up/left by one: (1,1) (1,3) (3,1) (3,3): items 6, 8, 14, 16
    g = dict(g, pad_top=1, pad_left=1)
    f = fifo.counting_function(_rec("pool_window", g, [2, 2, 1]), 16)
    assert [int(np.searchsorted(f, n)) for n in (1, 2, 3, 4)] == [6, 8, 14, 16]


def test_at_end_and_one_to_one_and_unknown():
    assert list(fifo.counting_function(_rec("at_end", {}, [10]), 4)) == [0, 0, 0, 0, 1]
    assert list(fifo.counting_function(_rec("one_to_one", {}, [2, 2, 3]), 4)) == [0, 1, 2, 3, 4]
    # a flat output is one item: written once, whatever is read
    assert list(fifo.counting_function(_rec("one_to_one", {}, [10]), 3)) == [0, 1, 1, 1]
    with pytest.raises(ValueError, match="unknown FIFO counting model 'bogus'"):
        fifo.counting_function(_rec("bogus", {}, [1]), 1)


# SqueezeNet 1.1 at 32x32: conv1 3x3/2 -> 15x15, pool 3x3/2 -> 7x7 (fire2, fire3), pool -> 3x3 (fire4,
# fire5), pool -> 1x1 (fire6..9). In a Fire module the 3x3 branch (ZeroPadding2D -> conv -> ReLU) writes
# its first pixel when the padded pixel (2,2), i.e. input pixel (1,1), the (W+2)-th, has arrived; the 1x1
# branch has then written W+2 pixels: backlog W+1 on the 1x1 branch's join input (W >= 2; at W = 1 the
# padding burst after the only pixel lets both write together: no backlog). Margin: the join's own 2 +
# the 3x3 branch's read-ahead: ZeroPadding2D 2 + Resource conv 0 + ReLU 2 = 6.
FIRE_W = {2: 7, 3: 7, 4: 3, 5: 3, 6: 1, 7: 1, 8: 1, 9: 1}
# The margin of a fire module's 1x1 join input, by hand: 2 (the join's own loop) + the read-ahead of the
# 3x3 branch from the fork: ZeroPadding2D 2, sliding window 2, the MVU's pipeline depth at reuse factor 1
# minus the item it holds (8 + ceil(log2(9*C + 1)) - 1, C = squeeze channels 16/32/48/64: 15/16/16/17),
# ReLU 2. So 23, 24, 24, 25.
FIRE_MARGIN = {2: 23, 3: 23, 4: 24, 5: 24, 6: 24, 7: 24, 8: 25, 9: 25}


def test_squeezenet_32_join_depths_by_hand(sq32):
    nodes = project.load_manifest(sq32)["design"]
    info = fifo.analyse(nodes)
    for n, w in FIRE_W.items():
        one, three = info[f"fire{n}_relu_expand1x1"], info[f"fire{n}_relu_expand3x3"]
        if w >= 2:
            m = FIRE_MARGIN[n]
            assert (one["backlog"], one["margin"], one["required_depth"]) == (w + 1, m, w + 1 + m), (n, one)
            assert one["fork"] == f"clone_fire{n}_relu_squeeze1x1"
        else:
            assert (one["backlog"], one["required_depth"]) == (0, fifo.CHAIN_DEPTH), (n, one)
        assert (three["backlog"], three["required_depth"]) == (0, fifo.CHAIN_DEPTH), (n, three)
    joins = {f"fire{n}_relu_expand1x1" for n in FIRE_W}
    assert all(v["required_depth"] == 2 and v["backlog"] == 0 for k, v in info.items() if k not in joins)
    # internal FIFOs only: not the network input (a port) nor the output (a port)
    produced = [o["name"] for r in nodes if not r["source"] for o in r["outputs"]]
    assert set(info) == set(produced) - {produced[-1]}
    # what the plan stored: the deadlock-free depth, deeper only where a window producer crosses a run of
    # inputs without output ahead of a slower consumer (paced, tests/test_throughput.py checks its value)
    planned = project.load_manifest(sq32)["plan"]["fifo_depths"]
    assert set(planned) == set(info)
    assert all(planned[k] >= v["required_depth"] for k, v in info.items())
    deeper = {k for k, v in info.items() if planned[k] > v["required_depth"]}
    assert deeper and all(info[k]["run"] > 0 for k in deeper), deeper


JOINS = {"fire2_relu_expand1x1": 8 + FIRE_MARGIN[2], "fire4_relu_expand1x1": 4 + FIRE_MARGIN[4]}  # 31, 28
BACKLOG = {"fire2_relu_expand1x1": 8, "fire4_relu_expand1x1": 4}


@pytest.mark.parametrize("stream,minimum", sorted(JOINS.items()))
def test_plan_accepts_the_minimum_and_refuses_one_less(sq32, stream, minimum):
    nodes = project.load_manifest(sq32)["design"]
    part = resolve("zcu104")
    p = plan(nodes, part, uniform_rf=64, fixed_depths={stream: minimum})
    assert p.depths[stream] == minimum
    assert plan(nodes, part, uniform_rf=64, fixed_depths={stream: minimum + 5}).depths[stream] == minimum + 5
    with pytest.raises(FlowError, match=rf"hls.fifo_depths.{stream}={minimum - 1} is below its deadlock-free "
                                        rf"minimum {minimum} \(branch backlog {BACKLOG[stream]}\)"):
        plan(nodes, part, uniform_rf=64, fixed_depths={stream: minimum - 1})
    with pytest.raises(FlowError, match="no stream named 'layer14_out'"):  # plan names, not C++ names
        plan(nodes, part, uniform_rf=64, fixed_depths={"layer14_out": 40})


def test_config_and_set_refuse_one_below_the_minimum(tmp_path, capsys):
    """Through the command line: the config file's hls.fifo_depths and --set, each one below the
    minimum, are refused with one line naming the stream and the minimum, exit 2, nothing written."""
    cfg = yaml.safe_load((CONFIGS / "squeezenet1_1_32_w8_test.yml").read_text())
    cfg["hls"]["fifo_depths"] = {"fire2_relu_expand1x1": 30}
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(cfg))
    rc, _, err = cli_main(capsys, "build", path, "--out", tmp_path / "o1")
    one_line_error(rc, err, "hls.fifo_depths.fire2_relu_expand1x1=30", "deadlock-free minimum 31")
    rc, _, err = cli_main(capsys, "build", CONFIGS / "squeezenet1_1_32_w8_test.yml", "--out", tmp_path / "o2",
                          "--set", "hls.fifo_depths={fire4_relu_expand1x1: 27}")
    one_line_error(rc, err, "hls.fifo_depths.fire4_relu_expand1x1=27", "deadlock-free minimum 28")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yml"]


def test_set_accepts_the_minimum_and_writes_it(tmp_path, capsys):
    out = tmp_path / "b"
    rc, _, err = cli_main(capsys, "build", CONFIGS / "squeezenet1_1_32_w8_test.yml", "--out", out,
                          "--set", "hls.fifo_depths={fire4_relu_expand1x1: 28, fire2_relu_expand1x1: 32}")
    assert rc == 0, err[-2000:]
    m = project.load_manifest(out)
    assert m["plan"]["fifo_depths"]["fire4_relu_expand1x1"] == 28
    assert m["plan"]["fifo_depths"]["fire2_relu_expand1x1"] == 32
    cpp = (out / project.PROJECT / "firmware" / "myproject.cpp").read_text()
    var = {o["name"]: o["var"] for r in m["design"] for o in r["outputs"]}
    assert re.search(rf"#pragma HLS STREAM variable={var['fire4_relu_expand1x1']} depth=28\n", cpp)
    assert re.search(rf"#pragma HLS STREAM variable={var['fire2_relu_expand1x1']} depth=32\n", cpp)


# A hand-made graph: in -> Clone -> (fast: II=1 activation | pad 1 -> 3x3 conv) -> join -> head. The
# conv's output (0,0) needs padded pixel (2,2) = input (1,1), the 6th item of its 4-wide input: backlog
# W+1 = 5 on the fast input. Margin: 2 (join) + read-ahead of the slow branch from the fork: pad 3 +
# conv 5 = 10 (the read-aheads are this graph's own numbers, not the registry's).
def _graph():
    def node(name, inputs, outs, counting="one_to_one", ra=2, in_shape=(4, 4, 2), geometry=None, source=False):
        return {"name": name, "source": source, "inputs": inputs, "in_shape": list(in_shape),
                "outputs": [{"name": o, "var": o + "_v", "shape": list(s), "word_bits": 16} for o, s in outs],
                "fifo": {"counting": counting, "read_ahead": ra}, "geometry": geometry or {}}
    return [
        node("in", [], [("in", (4, 4, 2))], source=True),
        node("clone", ["in"], [("c1", (4, 4, 2)), ("c2", (4, 4, 2))]),
        node("fast", ["c1"], [("f", (4, 4, 2))]),
        node("pad", ["c2"], [("p", (6, 6, 2))], "zero_pad", 3,
             geometry={"in_width": 4, "out_width": 6, "out_height": 6, "pad_top": 1, "pad_left": 1}),
        node("conv", ["p"], [("v", (4, 4, 2))], "conv_window", 5, in_shape=(6, 6, 2),
             geometry={"filt_height": 3, "filt_width": 3, "stride_height": 1, "stride_width": 1, "in_width": 6,
                       "out_height": 4, "out_width": 4}),
        node("join", ["f", "v"], [("j", (4, 4, 4))]),
        node("head", ["j"], [("o", (10,))], "at_end", 0, in_shape=(4, 4, 4)),
    ]


def test_hand_graph_backlog_margin_and_streams():
    nodes = _graph()
    info = fifo.analyse(nodes)
    assert set(info) == {"c1", "c2", "f", "p", "v", "j"}  # not the input port, not the output port
    assert info["c1"]["consumers"] == ["fast"] and info["j"]["producer"] == "join"
    f = info["f"]
    assert (f["backlog"], f["margin"], f["required_depth"], f["fork"]) == (5, 10, 15, "clone")
    assert (info["v"]["backlog"], info["v"]["required_depth"]) == (0, 2)
    assert all(info[s]["required_depth"] == 2 and info[s]["margin"] == 0 for s in ("c1", "c2", "p", "j"))
    assert info["c1"]["fork"] is None and info["v"]["fork"] == "clone"
    # the read-ahead of a path adds up (pad 3 + conv 5), and stops at the fork's outputs
    by_name = {r["name"]: r for r in nodes}
    producer_of = {o["name"]: r["name"] for r in nodes for o in r["outputs"]}
    assert fifo._path_read_ahead(by_name, producer_of, "v", {"c1", "c2"}, {}) == 8
    assert fifo._path_read_ahead(by_name, producer_of, "j", {"c1", "c2"}, {}) == 2 + 8  # the larger input path
    assert fifo._path_read_ahead(by_name, producer_of, "c2", {"c1", "c2"}, {}) == 0
    # counts along the fork's axis: after m clone items, the conv has written what the window allows
    c = fifo.propagate(nodes, "c2", 16)
    assert list(c["c2"]) == list(range(17)) and c["v"][6] == 1 and c["v"][5] == 0 and c["v"][16] == 16
    assert "f" not in c  # the other branch does not descend from c2
    j = fifo.propagate(nodes, "in", 16)["j"]  # a join advances with its slower input
    assert j[6] == 1 and j[16] == 16


def test_item_counts_of_shapes():
    assert fifo._n_items([3, 3, 8]) == 9 and fifo._n_items([7, 4]) == 7 and fifo._n_items([10]) == 1
    # a 1-D feature map ([width, channels]) is width items; a flat vector one item
    g = {"filt_height": 1, "filt_width": 1, "stride_height": 1, "in_width": 5}
    assert list(fifo.counting_function(_rec("conv_window", g, [5, 4]), 6)) == [0, 1, 2, 3, 4, 5, 5]
    assert list(fifo.counting_function(_rec("at_end", {}, [10]), 2)) == [0, 0, 1]
    # a 1x1 conv with stride 2 is not one-to-one: it writes on every other pixel of every other row
    g = {"filt_height": 1, "filt_width": 1, "stride_height": 2, "stride_width": 2, "in_width": 4,
         "out_height": 2, "out_width": 2}
    f = fifo.counting_function(_rec("conv_window", g, [2, 2, 1]), 16)
    assert [int(np.searchsorted(f, n)) for n in (1, 2, 3, 4)] == [1, 3, 9, 11]
    # a 1xK window (kh == 1, kw > 1) is a window, not one-to-one: 1x3 on 1x4 -> 1x2 needs items 3, 4
    g = {"filt_height": 1, "filt_width": 3, "stride_height": 1, "stride_width": 1, "in_width": 4,
         "out_height": 1, "out_width": 2}
    assert list(fifo.counting_function(_rec("conv_window", g, [1, 2, 1]), 4)) == [0, 0, 0, 1, 2]


def test_backlog_of_one_gets_its_margin():
    """A branch one item behind (pad right 1 -> 1x2 conv on a 1x5 row: output j needs padded item j+2,
    i.e. input item j+2): backlog exactly 1, so the fast input needs 1 + margin (2 + pad 3 + conv 5),
    not the chain depth 2."""
    g = _graph()[:3]  # in, clone (c1, c2), fast
    for r in g:
        r["in_shape"] = [1, 5, 2]
        for o in r["outputs"]:
            o["shape"] = [1, 5, 2]
    g += [
        {"name": "pad", "source": False, "inputs": ["c2"], "in_shape": [1, 5, 2],
         "outputs": [{"name": "p", "var": "p_v", "shape": [1, 6, 2], "word_bits": 16}],
         "fifo": {"counting": "zero_pad", "read_ahead": 3},
         "geometry": {"in_width": 5, "out_width": 6, "out_height": 1, "pad_top": 0, "pad_left": 0}},
        {"name": "conv", "source": False, "inputs": ["p"], "in_shape": [1, 6, 2],
         "outputs": [{"name": "v", "var": "v_v", "shape": [1, 5, 2], "word_bits": 16}],
         "fifo": {"counting": "conv_window", "read_ahead": 5},
         "geometry": {"filt_height": 1, "filt_width": 2, "stride_height": 1, "stride_width": 1, "in_width": 6,
                      "out_height": 1, "out_width": 5}},
        {"name": "join", "source": False, "inputs": ["f", "v"], "in_shape": [1, 5, 2],
         "outputs": [{"name": "j", "var": "j_v", "shape": [1, 5, 4], "word_bits": 32}],
         "fifo": {"counting": "one_to_one", "read_ahead": 2}, "geometry": {}},
        {"name": "head", "source": False, "inputs": ["j"], "in_shape": [1, 5, 4],
         "outputs": [{"name": "o", "var": "o_v", "shape": [10], "word_bits": 80}],
         "fifo": {"counting": "at_end", "read_ahead": 0}, "geometry": {}},
        # an activation after the flat head: the head's count (0, then 1 at the end) is an item count too
        {"name": "act", "source": False, "inputs": ["o"], "in_shape": [10],
         "outputs": [{"name": "a", "var": "a_v", "shape": [10], "word_bits": 80}],
         "fifo": {"counting": "one_to_one", "read_ahead": 2}, "geometry": {}},
    ]
    info = fifo.analyse(g)
    assert (info["f"]["backlog"], info["f"]["margin"], info["f"]["required_depth"]) == (1, 10, 11)
    assert info["v"]["required_depth"] == 2 and info["o"]["required_depth"] == 2
    assert list(fifo.propagate(g, "in", 5)["a"]) == [0, 0, 0, 0, 0, 1]
