"""The html reports in a real browser (issue 26): headless Chromium (Debian's chromium, installed by
`make test-slow`) opens each page offline from its file; any console error, uncaught exception,
failed or external load, or <img> that did not decode fails the test; a full-page screenshot is
saved. Slow: builds at 224x224 and a browser (fpga_flow/report/browser.py does the driving)."""
import json
import shutil

import pytest

from conftest import CONFIGS

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                                 reason="no chromium (make test-slow installs Debian's chromium as root)")]


def _check_page(html, shot, n_images):
    from fpga_flow.report import browser

    res = browser.check(html, shot)
    assert res["loaded"], res
    for key in ("console_errors", "exceptions", "log_errors", "failed_loads", "external_requests", "broken_images"):
        assert res[key] == [], (key, res[key])
    assert len(res["images"]) == n_images
    for img in res["images"]:  # decoded by the browser, and laid out at a readable size
        assert img["complete"] and img["naturalWidth"] > 300 and img["naturalHeight"] > 200, img
        assert img["data_uri"] and img["shownWidth"] > 300, img
    assert res["ok"]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    return res


@pytest.mark.parametrize("cfg", ["fmnist_squeezenet1_1_w8_zcu104", "shufflenet_g8_w0.5_224_w8_zcu104"])
def test_build_report_in_chromium(cfg, tmp_path):
    """The default build's report (shipped trained weights) and a ShuffleNet 224 report."""
    from fpga_flow import config, flow
    from fpga_flow.report import design

    out = tmp_path / "b"
    flow.build(config.load(CONFIGS / f"{cfg}.yml"), out, compile_lib=False)  # the report needs no C-sim library
    d = design.collect(out)
    html = design.to_html(d, tmp_path / "html")
    res = _check_page(html, tmp_path / "page.png", n_images=3)
    assert res["title"].startswith(d["keras_name"])
    assert res["page_height"] > 2000  # summary, three charts, tables


def test_sweep_report_in_chromium(tmp_path):
    from fpga_flow import sweep

    out = tmp_path / "sw"
    sweep.sweep(str(CONFIGS / "squeezenet1_1_32_w8_test.yml"), ["quantization.weight_bits=8,4"], out, log=lambda m: None)
    _check_page(out / "sweep.html", tmp_path / "sweep.png", n_images=1)


def test_the_check_fails_on_a_broken_page(tmp_path):
    """The check can fail: a console error, an exception, an image that does not decode and an external
    asset are each caught (and the page is not ok)."""
    from fpga_flow.report import browser

    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><html><head><title>bad</title></head><body>'
                    '<img src="data:image/png;base64,AAAA" alt="broken">'
                    '<img src="https://example.invalid/x.png" alt="external">'
                    '<script>console.error("boom"); null.x;</script></body></html>')
    res = browser.check(page, tmp_path / "bad.png")
    assert not res["ok"]
    assert any("boom" in e for e in res["console_errors"]), res["console_errors"]
    assert res["exceptions"], res
    assert [u for u in res["external_requests"] if "example.invalid" in u]
    assert len(res["broken_images"]) == 2
    assert json.dumps(res)  # the result is plain data (the CLI prints it with --json)
