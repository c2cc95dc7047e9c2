"""Reports a person looks at (issue 26): the build's html report is one self-contained page whose numbers
are labelled and equal report.md's; its charts show every weighted layer inside the axes and every
process against the slowest; the sweep writes sweep.html whose rows equal each point's report.json.
(The same pages in a real browser: tests/test_report_browser.py, slow.)"""
import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import CONFIGS, ROOT

SMALL = str(CONFIGS / "squeezenet1_1_32_w8_test.yml")
# reports committed in reports/ by real runs (make report-default, make reports): the default build and two
# 224x224 builds whose largest layer dwarfs the others (SqueezeNet's conv10, ShuffleNet's last stage)
COMMITTED = ["squeezenet1_1_224_w8_zcu104",
             pytest.param("fmnist_squeezenet1_1_w8_zcu104", marks=pytest.mark.slow),  # (drawing takes seconds:
             pytest.param("shufflenet_g3_w1.0_224_w8_zcu102", marks=pytest.mark.slow)]  # the default suite draws two)


class _Page(HTMLParser):
    """Every tag with its attributes, and the tables as lists of rows of cell texts (and cell classes)."""

    def __init__(self):
        super().__init__()
        self.tags, self.tables = [], []
        self._cell = None
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
            self.tables[-1].append(self._row)
        elif tag in ("td", "th"):
            self._cell = [a.get("class", ""), ""]
            self._row.append(self._cell)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data

    def table(self, first_header: str) -> list[list[str]]:
        """The table whose first header cell starts with ``first_header``: its rows of cell texts."""
        for t in self.tables:
            if t and t[0] and t[0][0][1].strip().startswith(first_header):
                return [[" ".join(c[1].split()) for c in row] for row in t]
        raise AssertionError(f"no table starting with {first_header!r}")


def parse(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    return p


def assert_self_contained(page: _Page, n_images: int):
    """Every image embedded (a data: URI that decodes to a PNG), nothing else loaded: no script, no
    stylesheet link, no external url() in the CSS."""
    from PIL import Image

    imgs = [a for t, a in page.tags if t == "img"]
    assert len(imgs) == n_images
    for a in imgs:
        assert a["src"].startswith("data:image/png;base64,"), a["src"][:60]
        im = Image.open(io.BytesIO(base64.b64decode(a["src"].split(",", 1)[1])))
        assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200
        assert a.get("alt")
    for t, a in page.tags:
        assert t not in ("script", "link", "iframe", "object", "embed"), t
        for key in ("src", "href"):
            v = a.get(key)
            if v is not None and t != "img":
                assert not re.match(r"^[a-z]+://", v) and not v.startswith("//"), (t, v)


def _num(s: str):
    s = s.replace(",", "").strip()
    return None if s == "" else (float(s) if "." in s else int(s))


@pytest.fixture(scope="module")
def small_report(build_dir, tmp_path_factory):
    """The session's small build reported as html, with a saved verify result (its measured part)."""
    from fpga_flow.report import design

    tmp = tmp_path_factory.mktemp("html")
    v = tmp / "verify.json"
    v.write_text(json.dumps({"exact_fraction": 1.0, "n_values": 40, "n_images": 4, "passed": True,
                             "source": "photos", "jobs": 1, "model": "squeezenet1_1"}))
    d = design.collect(build_dir(name="squeezenet1_1", size=32), verify_json=v)
    out = design.to_html(d, tmp / "report")
    return d, out


def test_html_report_is_self_contained_and_labelled(small_report):
    from fpga_flow.report import design

    d, path = small_report
    html = path.read_text()
    page = parse(html)
    assert_self_contained(page, n_images=3)
    for png in ("utilisation.png", "memory_by_layer.png", "cycles_by_layer.png"):  # the same plots beside the page
        assert (path.parent / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    m = d["memory"]
    assert f"fits = {'yes' if m['fits'] else 'no'}" in html
    fits = {r[0]: r for r in page.table("resource")}
    assert _num(fits["BRAM18K, HLS C-synthesis count"][1]) == m["hls_bram18k"]
    assert "Decides fits" in fits["BRAM18K, HLS C-synthesis count"][4]
    assert _num(fits["BRAM18K, post-implementation"][1]) == m["bram18k"] and "guess" in fits["BRAM18K, post-implementation"][4]
    for sec in ("summary", "fits", "memory", "throughput", "fifos", "measured"):
        assert f'id="{sec}"' in html, sec
    # the verify result given is shown as measured; the dataflow check, not given, says so instead of a number
    assert d["measured"]["verify"]["n_images"] == 4 and d["measured"]["dataflow"] is None
    assert "exact 1.0" in html and "40 output values of 4 images (photos)" in html
    assert "not in this report" in html

    # the BRAM18K of each layer is the HLS count, as report.md shows it (issue: 29 in html vs 30 in md)
    md_rows = [l.split("|")[1:-1] for l in design.to_markdown(d).splitlines() if l.startswith("| ") and "|---" not in l]
    head = [c.strip() for c in next(r for r in md_rows if r[0].strip() == "layer")]
    col = head.index("BRAM18K (HLS)")
    md_bram = {r[0].strip(): r[col].strip() for r in md_rows if len(r) == len(head) and r[0].strip() != "layer"}
    layers = page.table("layer")
    hcol = layers[0].index("BRAM18K (HLS count)")
    html_bram = {r[0]: r[hcol] for r in layers[1:]}
    assert html_bram.keys() == md_bram.keys()
    assert all(html_bram[k] == md_bram[k] for k in md_bram), {k: (html_bram[k], md_bram[k]) for k in md_bram
                                                              if html_bram[k] != md_bram[k]}
    weighted = page.table("weighted layer")
    assert [r[0] for r in weighted[1:]] == [r["layer"] for r in d["resource_layers"]
                                            if any(x["kind"] == "weights" for x in r["memories"])]


def test_wrong_measured_files_refused(build_dir, tmp_path):
    """A file that is not a saved verify / dataflow result is refused by name (before any work)."""
    from fpga_flow.errors import FlowError
    from fpga_flow.report import design

    b = build_dir(name="squeezenet1_1", size=32)
    bad = tmp_path / "bad.json"
    bad.write_text('{"deadlock": false}')
    with pytest.raises(FlowError, match=r"--verify-json .*bad.json: not the output of 'fpga-flow verify DIR --json"):
        design.collect(b, verify_json=bad)
    with pytest.raises(FlowError, match=r"--dataflow-json .*: cannot be read as JSON"):
        design.collect(b, dataflow_json=tmp_path)


def _report(which, small_report) -> dict:
    """The report dict of the session's small build, or of a committed reports/<which>/report.json."""
    if which == "small build":
        return small_report[0]
    p = ROOT / "reports" / which / "report.json"
    if not p.is_file():
        pytest.skip(f"{p} not present")
    return json.loads(p.read_text())


def _weighted_from_plan(d):
    """Every layer of the plan with a weight memory, and its memories summed by kind (from flow.json's rows)."""
    rows = {}
    for r in d["resource_layers"]:
        if any(m["kind"] == "weights" for m in r["memories"]):
            mems = [m for m in r["memories"] if m["kind"] in ("weights", "bias")]
            rows[r["layer"]] = {"hls_bram18k": sum(m["hls_bram18k"] for m in mems), "uram": sum(m["uram"] for m in mems),
                                "luts": sum(m["luts"] for m in mems if m["impl"] in ("lutram", "srl")),
                                "ffs": sum(m["ffs"] for m in mems), "dsp": r["dsp"] or 0}
    return rows


@pytest.mark.parametrize("which", ["small build"] + COMMITTED)
def test_memory_chart_shows_every_weighted_layer_inside_its_axis(which, small_report):
    """One bar per weighted layer (the layers without block RAM too), on one axis per kind, every bar
    below the top of its axis: the largest (conv10 at 224) included. Read back from the drawn axes."""
    from fpga_flow.report import plots

    d = _report(which, small_report)
    want = _weighted_from_plan(d)
    png, info = plots.memory_by_layer(d)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert info["xticklabels"] == list(want), "every weighted layer, in dataflow order"
    assert set(info["panels"]) == {"hls_bram18k", "uram", "luts", "ffs", "dsp"}
    for key, p in info["panels"].items():
        assert p["values"] == [want[l][key] for l in want], key
        assert len(p["bar_tops"]) == len(want)
        assert max(p["bar_tops"]) <= p["ylim"][1] and p["ylim"][0] == 0, (key, max(p["bar_tops"]), p["ylim"])
        if max(p["values"]) > 0:  # the largest bar fills most of its axis: visible, not squashed
            assert max(p["bar_tops"]) >= 0.6 * p["ylim"][1], key
    if which == "squeezenet1_1_224_w8_zcu104":
        assert max(want, key=lambda l: want[l]["hls_bram18k"]) == "conv10"  # the bar off the axis


@pytest.mark.parametrize("which", ["small build"] + COMMITTED)
def test_cycles_chart_every_process_against_the_slowest(which, small_report):
    from fpga_flow.report import plots

    d = _report(which, small_report)
    procs = [r for r in d["resource_layers"] if r.get("cycles")]
    _, info = plots.cycles_by_layer(d)
    assert info["processes"] == [r["layer"] for r in procs]
    assert info["slowest"] == max(r["cycles"] for r in procs) == d["memory"]["cycles_per_frame"]
    assert sorted(info["bar_ends"]) == sorted(float(r["cycles"]) for r in procs)
    assert max(info["bar_ends"]) <= info["xlim"][1]


def _tiny_model_config(tmp_path) -> Path:
    """A small QKeras model of the user's own (conv, pool, dense), saved, and a flow config building it:
    a sweep point converts in seconds."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense

    L = tf.keras.layers
    kq = "quantized_bits(6,0,alpha=1)"
    tf.keras.utils.set_random_seed(3)
    model = tf.keras.Sequential([
        L.InputLayer((8, 8, 2)),
        QActivation("quantized_bits(8,0,alpha=1)", name="inq"),
        QConv2D(8, 3, padding="same", kernel_quantizer=kq, bias_quantizer="quantized_bits(8,2,alpha=1)", name="c1"),
        QActivation("quantized_relu(6,2)", name="r1"),
        L.MaxPooling2D(2, name="mp"),
        L.Flatten(name="flat"),
        QDense(10, kernel_quantizer=kq, bias_quantizer="quantized_bits(8,2,alpha=1)", name="d1"),
        QActivation("quantized_bits(8,3,alpha=1)", name="out"),
    ], name="tiny")
    model.save(tmp_path / "tiny.h5")
    cfg = tmp_path / "tiny.yml"
    cfg.write_text("model: {path: tiny.h5}\nhls: {part: zcu104, backend: Vitis}\n")
    return cfg


def test_sweep_html_rows_equal_each_points_report(tmp_path):
    """fpga-flow sweep's sweep.html: self-contained, the Pareto plot embedded, one row per point; every
    number of a built point equals its points/NN/report.json (written from that point's build) and its
    knobs equal sweep.json's; a refused point is a row with its reason and no report."""
    from fpga_flow import sweep

    cfg = _tiny_model_config(tmp_path)
    out = tmp_path / "sw"
    rows = sweep.sweep(str(cfg), ["hls.reuse_factor=1,8,0"], out, log=lambda m: None)
    assert [r["status"] for r in rows] == ["ok", "ok", "refused"], [r.get("reason") for r in rows]
    meta = json.loads((out / "sweep.json").read_text())
    html = (out / "sweep.html").read_text()
    page = parse(html)
    assert_self_contained(page, n_images=1)
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    trs = [t for t in page.tables if t and "hls.reuse_factor" in t[0][0][1]]
    assert len(trs) == 1
    body = trs[0][1:]
    assert len(body) == len(meta["rows"]) == 3
    for tr, r in zip(body, meta["rows"]):
        cells = {next((c for c in cls.split() if c not in ("l", "over")), None): " ".join(text.split())
                 for cls, text in tr}
        assert cells["knob"] == str(r["point"]["hls.reuse_factor"])
        assert cells["status"] == r["status"]
        if r["status"] != "ok":
            assert r.get("report") is None and "hls.reuse_factor=0 is invalid" in html
            continue
        rep = json.loads((out / r["report"]).read_text())  # the point's own report, from its build
        mem = rep["memory"]
        assert cells["fits"] == ("yes" if mem["fits"] else "no")
        for key in ("hls_bram18k", "bram18k", "uram", "dsp", "fps", "lut_pct"):
            assert _num(cells[key]) == mem[key], (key, cells[key], mem[key])
        assert _num(cells["params"]) == rep["params"]
        assert (out / r["report"]).with_suffix(".md").read_text().startswith(f"# {rep['keras_name']}")
    # the trade-off the sweep is for: a larger reuse factor, fewer DSPs and fewer frames/s
    by_rf = {r["point"]["hls.reuse_factor"]: r for r in meta["rows"] if r["status"] == "ok"}
    assert by_rf[8]["dsp"] < by_rf[1]["dsp"] and by_rf[8]["fps"] < by_rf[1]["fps"]
    head = [" ".join(c[1].split()) for c in trs[0][0]]
    fronts = [" ".join(row[head.index("Pareto front")][1].split()) for row in body[:2]]
    assert all("DSP" in f for f in fronts), fronts  # neither beats the other on DSP: both on that front
