"""Boundary tests of the storage audit (verify/audit.py): each kind of finding (FIFO binding, FIFO
depth, ROM binding, bias partition, reshape factor, a kernel pragma on our weights), made by a one-line
edit of a real written project (tests/storage_faults.py), fails ``fpga-flow audit DIR`` with exit 1
naming the layer; and the same edits made while ``build`` writes the project stop the build at its
audit step (exit 1, nothing published)."""
import json
import re

import pytest

from conftest import CONFIGS
from fastkit import cli, cli_main, copy_project, sq32, sq32_vivado  # noqa: F401 (fixtures)
from storage_faults import FAULTS, _top

from fpga_flow import project
from fpga_flow.verify import audit

pytestmark = pytest.mark.fast


def test_fresh_build_audits_clean_through_the_cli(sq32, capsys):
    rc, out, _ = cli_main(capsys, "audit", sq32)
    assert rc == 0 and "stores every memory as planned" in out
    rc, out, _ = cli_main(capsys, "audit", sq32, "--json")
    r = json.loads(out)
    assert rc == 0 and r["ok"] is True and r["passed"] is True and r["disagreements"] == []
    assert r["checked"] == {"weights": 26, "biases": 26, "fifos": len(project.load_manifest(sq32)["resources"]["fifos"]),
                            "line_buffers": r["checked"]["line_buffers"]}
    planned_lb = sum(1 for row in project.load_manifest(sq32)["resources"]["layers"] for m in row["memories"]
                     if m["kind"] == "line_buffer")
    assert r["backend"] == "Vitis" and r["checked"]["line_buffers"] == planned_lb >= 4  # 3x3 convs' and pools'
    # fpga_flow's kernels: the sliding windows' and pools' row RAMs, each bound in its own kernel's header
    assert {m["note"] for m in r["memories"] if m["kind"] == "line_buffer"} == {"row RAMs (window kernel)"}
    pools = [m for m in r["memories"] if m["kind"] == "line_buffer" and m["var"] == "line_buf"]
    assert pools and all(m["binding"] == m["plan_impl"] == "lutram" and m["pragma"] for m in pools)
    # every weight ROM as planned: words x width from the written array, type and reshape factor
    for m in (m for m in r["memories"] if m["kind"] == "weights"):
        assert (m["depth"], m["width"], m["binding"]) == (m["plan_depth"], m["plan_width"], m["plan_impl"]), m
    # each cited pragma is on the line it cites
    lines = (sq32 / project.PROJECT / "firmware" / "myproject.cpp").read_text().splitlines()
    for m in r["memories"]:
        for cite in (m.get("pragma") or "").split("; "):
            hit = re.match(r"myproject.cpp:(\d+): (.*)$", cite)
            if hit:
                assert lines[int(hit.group(1)) - 1].strip() == hit.group(2), cite


def test_vivado_project_audits_with_its_own_pragmas(sq32_vivado, tmp_path):
    """The Vivado backend binds with RESOURCE pragmas (pooling row RAMs included): a clean audit, and a ROM
    bound to another core is found."""
    r = audit.audit(sq32_vivado)
    assert r["ok"], r["disagreements"]
    assert r["backend"] == "Vivado"
    pools = [m for m in r["memories"] if m["kind"] == "line_buffer" and m["var"] == "line_buf"]
    assert pools and all(m["binding"] == m["plan_impl"] for m in pools)
    dst = copy_project(sq32_vivado, tmp_path / "viv", library=False)
    top = dst / project.PROJECT / "firmware" / "myproject.cpp"
    text = top.read_text()
    m = re.search(r"#pragma HLS RESOURCE variable=(w\d+) core=ROM_1P_LUTRAM", text)
    assert m, "no LUTRAM ROM binding in the Vivado project"
    top.write_text(text.replace(m.group(0), m.group(0).replace("LUTRAM", "BRAM"), 1))
    r = audit.audit(dst)
    assert not r["ok"] and len(r["disagreements"]) == 1 and f"{m.group(1)} bound as rom impl=bram" in r["disagreements"][0]


def test_parsing_helpers_on_small_cpp():
    """The C++ reading the audit rests on, on snippets whose answers are counted by hand."""
    text = "void f(int a) { if (a) { g(); } }\nvoid h(int);\n"
    assert audit._body_end(text, text.index("{")) == text.index("}\n") + 1
    assert audit._body_end("{ { }", 0) == 5  # unbalanced: the end of the text
    assert audit._strip_comments("a // x {\nb /* y\n} */ c") == "a \nb \n c"
    assert audit._calls_in("nnet::dense<T, C>(x, w); foo<a>(b); bar(c);") == {"dense", "foo"}


def test_a_plan_that_disagrees_with_the_written_depth_is_found(sq32, tmp_path):
    """flow.json's plan.fifo_depths is the depth the audit wants: a plan edited to one more item than the
    project was written with is a disagreement naming that FIFO's layer."""
    dst = copy_project(sq32, tmp_path / "plan", library=False)
    m = project.load_manifest(dst)
    m["plan"]["fifo_depths"]["fire2_relu_expand1x1"] += 1
    want = m["plan"]["fifo_depths"]["fire2_relu_expand1x1"]
    (dst / "flow.json").write_text(json.dumps(m))
    r = audit.audit(dst)
    assert not r["ok"] and len(r["disagreements"]) == 1
    assert r["disagreements"][0].startswith("fire2_relu_expand1x1: FIFO") and f"planned {want}" in r["disagreements"][0]


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_each_kind_of_finding_fails_audit_naming_the_layer(sq32, tmp_path, capsys, kind):
    dst = copy_project(sq32, tmp_path / kind, library=False)
    layer, needle = FAULTS[kind](dst / project.PROJECT, project.load_manifest(dst)["design"])
    r = audit.audit(dst)
    assert r["ok"] is False
    named = [d for d in r["disagreements"] if d.startswith(layer + ":")]
    assert named and any(needle in d for d in named), (layer, needle, r["disagreements"])
    if kind != "kernel_partition":  # one edit, one finding, on that layer only
        assert len(r["disagreements"]) == 1, r["disagreements"]
    else:  # the kernel is shared: every ROM layer that reaches it, and nothing else
        roms = {m["layer"] for m in r["memories"] if m["kind"] == "weights" and m["plan_impl"] in ("bram", "lutram", "uram")}
        assert {d.split(":")[0] for d in r["disagreements"]} <= roms and len(named) == 1
    with pytest.raises(audit.StorageAuditFailed, match=layer):
        audit.check(dst)
    rc, out, err = cli_main(capsys, "audit", dst)
    assert rc == 1 and f"  {layer}: " in out and needle in out
    n = len(r["disagreements"])
    assert f"storage audit: {n} disagreement(s) between the written project and the plan" in out
    rc, out, _ = cli_main(capsys, "audit", dst, "--json")
    assert rc == 1 and json.loads(out)["passed"] is False


def test_audit_exits_1_from_the_command_line(sq32, tmp_path):
    """The installed command, as a user runs it: exit 1 and the layer on stdout."""
    dst = copy_project(sq32, tmp_path / "depth", library=False)
    layer, needle = FAULTS["fifo_depth"](dst / project.PROJECT, project.load_manifest(dst)["design"])
    r = cli("audit", dst)
    assert r.returncode == 1 and f"  {layer}: " in r.stdout and needle in r.stdout, r.stdout[-1500:]


def test_build_stops_at_its_audit_step_naming_every_layer(tmp_path, capsys, monkeypatch):
    """All six faults made by the project writer itself (hls.convert.write wrapped: the plan is written,
    then edited as a buggy writer would): 'fpga-flow build' must exit 1 at its audit step with a finding
    for each edited layer, and publish nothing."""
    from fpga_flow.hls import convert as hls_convert

    real_write = hls_convert.write
    expected = []

    def buggy_write(hls_model, prj, layers, fifos, nodes, backend):
        real_write(hls_model, prj, layers, fifos, nodes, backend)
        for fault in FAULTS.values():
            expected.append(fault(prj, nodes))

    monkeypatch.setattr(hls_convert, "write", buggy_write)
    out = tmp_path / "b"
    rc, _, err = cli_main(capsys, "build", CONFIGS / "squeezenet1_1_32_w8_test.yml", "--out", out)
    assert rc == 1, err[-3000:]
    assert len(expected) == len(FAULTS)
    assert "storage audit:" in err
    for layer, needle in expected:
        assert any(l.strip().startswith(layer + ":") and needle in l for l in err.splitlines()), (layer, needle)
    assert not out.exists() and list(tmp_path.iterdir()) == []  # the temporary directory is gone too


def test_functions_finds_definitions_with_their_lines(tmp_path):
    (tmp_path / "k.h").write_text("// header\n"
                                  "template <class T> void decl_only(T x);\n"
                                  "template <class T>\n"
                                  "void kern(hls::stream<T> &in, T weights[4])\n"
                                  "{\n"
                                  "    #pragma HLS ARRAY_PARTITION variable=weights complete\n"
                                  "}\n"
                                  "void tail(int a)\n"
                                  "// end\n")
    fns = audit._functions(tmp_path)
    assert set(fns) == {"kern"}  # the declaration has no body
    (k,) = fns["kern"]
    assert k["file"] == "k.h" and k["line"] == 5 and "hls::stream" in k["params"] and k["body"].startswith("{")
    assert audit._weight_pragmas(k) == [(6, "#pragma HLS ARRAY_PARTITION variable=weights complete")]


def test_kernel_block_factor_rounds_up():
    """The words a kernel's symbolic 'block factor=block_factor' stands for, from its config: ceil(n / RF)."""
    kbf = audit._kernel_block_factor
    assert kbf("dense_resource_rf_leq_nin", {"reuse_factor": 3, "n_in": 4, "n_out": 5}) == 7  # ceil(20 / 3)
    assert kbf("dense_resource_rf_gt_nin_rem0", {"reuse_factor": 4, "n_in": 4, "n_out": 5}) == 5
    assert kbf("depthwise_product_resource", {"reuse_factor": 4, "n_in": 9}) == 3  # ceil(9 / 4)
    assert kbf("depthwise_product_resource", {"reuse_factor": 12, "n_in": 9}) == 1  # RF capped at n_in
    assert kbf("grouped_pointwise_conv_cl", {"reuse_factor": 2, "block_factor": 6}) == 6
    assert kbf("dense_resource_rf_leq_nin", {"n_in": 4, "n_out": 5}) is None and kbf("other", {"reuse_factor": 2}) is None


# ------------------------------------------------------------------ findings of the plan and the calls

L = "fire3_squeeze1x1"  # a weighted layer in the middle of the network (layers after it must still be audited)


def _manifest_edit(dst, fn):
    m = project.load_manifest(dst)
    fn(m)
    (dst / "flow.json").write_text(json.dumps(m))


def _memory(m, layer, kind):
    return next(mm for row in m["resources"]["layers"] if row["layer"] == layer for mm in row["memories"]
                if mm["kind"] == kind)


def _call_line(dst, layer):
    return next(i for i, ln in enumerate(_top(dst / project.PROJECT).read_text().splitlines(), 1) if ln.rstrip().endswith(f"// {layer}")
                and "nnet::" in ln)


def test_a_layer_without_its_call_is_named_and_the_rest_still_audited(sq32, tmp_path):
    dst = copy_project(sq32, tmp_path / "nocall", library=False)
    top = _top(dst / project.PROJECT)
    lines = top.read_text().splitlines(keepends=True)
    del lines[_call_line(dst, L) - 1]
    top.write_text("".join(lines))
    r = audit.audit(dst)
    assert f"{L}: no call of this layer in myproject.cpp" in r["disagreements"]
    # its arrays are now written but reached by no call; every other weighted layer is checked as before
    assert "?: array w16 is written but not in the plan" in r["disagreements"]
    assert r["checked"]["weights"] == 25 and len(r["disagreements"]) == 3, r["disagreements"]  # w16 and b16


def test_a_call_without_a_weight_array_is_named_at_its_line(sq32, tmp_path):
    dst = copy_project(sq32, tmp_path / "noarg", library=False)
    top = _top(dst / project.PROJECT)
    line = _call_line(dst, L)
    top.write_text(top.read_text().replace(", w16, b16); // fire3", ", weights16, b16); // fire3", 1))
    r = audit.audit(dst)
    assert f"{L}: no weight array among the call's arguments (myproject.cpp:{line})" in r["disagreements"], r
    assert audit.Project(dst / project.PROJECT).calls[0][4] == _call_line(dst, audit.Project(dst / project.PROJECT).calls[0][3])


def test_a_plan_naming_another_weight_array_is_named(sq32, tmp_path):
    dst = copy_project(sq32, tmp_path / "planvar", library=False)
    _manifest_edit(dst, lambda m: _memory(m, L, "weights").update(var="w999"))
    r = audit.audit(dst)
    assert r["disagreements"] == [f"{L}: plan names weight array w999, the written call passes w16"]


def test_a_missing_weight_header_is_named(sq32, tmp_path):
    dst = copy_project(sq32, tmp_path / "nohdr", library=False)
    (dst / project.PROJECT / "firmware" / "weights" / "w16.h").unlink()
    r = audit.audit(dst)
    assert f"{L}: weight array w16 not found in firmware/weights/" in r["disagreements"], r["disagreements"]
    (w,) = [m for m in r["memories"] if m["kind"] == "weights" and m["layer"] == L]
    assert w["width"] is None and w["elements"] is None  # nothing to read the type or size from


def test_a_window_kernel_row_ram_without_its_binding_names_each_layer(sq32, tmp_path):
    dst = copy_project(sq32, tmp_path / "norow", library=False)
    h = dst / project.PROJECT / "firmware" / "nnet_utils" / "nnet_stream_maxpool.h"
    text = h.read_text()
    pragma = "#pragma HLS bind_storage variable=line_buf type=ram_s2p impl=lutram"
    assert text.count(pragma) == 1
    h.write_text(text.replace(pragma, ""))
    r = audit.audit(dst)
    pools = sorted(row["layer"] for row in project.load_manifest(dst)["resources"]["layers"]
                   if row["layer"].startswith("pool") and any(m["kind"] == "line_buffer" for m in row["memories"]))
    assert pools and r["disagreements"] == [
        f"{p}: the window kernel's row RAM line_buf has no Vitis binding in the firmware/nnet_utils/ header its "
        "call reaches (plan: lutram)" for p in pools]


def test_line_buffers_are_listed_as_planned(sq32, tmp_path):
    """Every line buffer of the plan in the listing with its planned depth, width and copies; a stock
    (ap_shift_reg) line buffer, as hls.conv_kernel=hls4ml plans it, is listed as shift registers with no
    binding to check, and one planned in URAM is refused."""
    r = audit.audit(sq32)
    planned = {row["layer"]: m for row in project.load_manifest(sq32)["resources"]["layers"] for m in row["memories"]
               if m["kind"] == "line_buffer"}
    listed = {m["layer"]: m for m in r["memories"] if m["kind"] == "line_buffer"}
    assert set(listed) == set(planned)
    for name, m in planned.items():
        assert (listed[name]["depth"], listed[name]["width"], listed[name]["copies"], listed[name]["plan_impl"]) == (
            m["depth"], m["width"], m["copies"], m["impl"]), name
    dst = copy_project(sq32, tmp_path / "shift", library=False)
    _manifest_edit(dst, lambda m: _memory(m, "conv1_window", "line_buffer").update(role="shift", impl="srl", copies=6))
    r = audit.audit(dst)
    (lb,) = [m for m in r["memories"] if m["kind"] == "line_buffer" and m["layer"] == "conv1_window"]
    assert (lb["copies"], lb["width"], lb["binding"], lb["var"]) == (6, planned["conv1_window"]["width"], None, None)
    assert lb in r["not_bound"] and r["ok"]
    _manifest_edit(dst, lambda m: _memory(m, "conv1_window", "line_buffer").update(impl="uram"))
    assert audit.audit(dst)["disagreements"] == [
        "conv1_window: line buffer planned in URAM, but ap_shift_reg line buffers are shift registers"]


def test_a_rom_the_plan_keeps_in_registers(sq32, tmp_path):
    """Weights the plan keeps in registers (a ROM of <= 2 words): the written reshape into more words is
    named, and with no binding pragma the listing records registers."""
    dst = copy_project(sq32, tmp_path / "ff", library=False)
    _manifest_edit(dst, lambda m: _memory(m, L, "weights").update(impl="ff"))
    top = _top(dst / project.PROJECT)
    text = top.read_text()
    bind = "#pragma HLS bind_storage variable=w16 type=rom_1p impl=lutram"
    assert text.count(bind) == 1
    top.write_text(text.replace(bind, ""))
    r = audit.audit(dst)
    assert r["disagreements"] == [f"{L}: plan keeps w16 in registers, the top reshapes it into 40 words"], r
    (w,) = [m for m in r["memories"] if m["kind"] == "weights" and m["layer"] == L]
    assert w["binding"] == "ff"
