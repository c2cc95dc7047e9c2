"""Output-directory safety (outdir.py): every command that can write refuses to replace a directory it
did not make (build, demo, report --format html --out, sweep, accuracy --out), exit 2 with one line and
the directory untouched; and the rules of check_target / replace_dir on both sides of each condition."""
import json
from pathlib import Path

import pytest

from conftest import CONFIGS
from fastkit import cli_main, copy_project, one_line_error, sq32  # noqa: F401 (fixture)

from fpga_flow import outdir
from fpga_flow.errors import FlowError

pytestmark = pytest.mark.fast

SMALL = CONFIGS / "squeezenet1_1_32_w8_test.yml"


def _user_dir(p: Path) -> Path:
    p.mkdir()
    (p / "thesis.txt").write_text("mine")
    return p


def _snapshot(p: Path) -> dict:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}


def _siblings(p: Path) -> list[str]:
    return sorted(x.name for x in p.parent.iterdir())


COMMANDS = {
    "build": lambda d: ["build", SMALL, "--out", d, "--force"],
    "demo": lambda d: ["demo", "--out", d, "--force", "--images", 1],
    "sweep": lambda d: ["sweep", SMALL, "--grid", "hls.part=zcu104", "--out", d, "--force"],
    "accuracy": lambda d: ["accuracy", CONFIGS / "fmnist_squeezenet1_1.yml", "--out", d, "--csim-images", 1],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_commands_refuse_a_users_directory(tmp_path, capsys, command):
    d = _user_dir(tmp_path / "d")
    if command == "accuracy":  # accuracy writes two files into --out: one of the user's own name is refused
        (d / "accuracy.json").write_text('{"mine": 1}')
    before = _snapshot(d)
    rc, _, err = cli_main(capsys, *COMMANDS[command](d))
    one_line_error(rc, err, str(d.resolve()) if command != "accuracy" else "accuracy.json")
    assert _snapshot(d) == before and _siblings(d) == ["d"]


def test_accuracy_refuses_a_markdown_table_it_did_not_write(tmp_path, capsys):
    d = _user_dir(tmp_path / "d")
    (d / "accuracy.md").write_text("my notes")
    rc, _, err = cli_main(capsys, *COMMANDS["accuracy"](d))
    one_line_error(rc, err, "accuracy.md exists without accuracy.json")
    assert (d / "accuracy.md").read_text() == "my notes"


def test_build_and_demo_refuse_without_force_even_their_own(sq32, tmp_path, capsys):
    own = copy_project(sq32, tmp_path / "b", library=False)
    before = _snapshot(own)
    for args in (["build", SMALL, "--out", own], ["demo", "--out", own, "--images", 1]):
        rc, _, err = cli_main(capsys, *args)
        one_line_error(rc, err, "already exists", "--force")
    assert _snapshot(own) == before and _siblings(own) == ["b"]


def test_html_report_refuses_a_build_and_a_users_directory(sq32, tmp_path, capsys):
    """A build directory is fpga-flow's, but not a report folder: 'report --format html --out' into it
    would delete the build. Refused, as is a user's folder and a file."""
    build = copy_project(sq32, tmp_path / "b", library=False)
    user = _user_dir(tmp_path / "u")
    f = tmp_path / "f.txt"
    f.write_text("x")
    snap_b, snap_u = _snapshot(build), _snapshot(user)
    for target, needle in ((build, "not a report directory"), (user, "not a report directory"), (f, "not a directory")):
        rc, _, err = cli_main(capsys, "report", sq32, "--format", "html", "--out", target)
        one_line_error(rc, err, needle)
    assert _snapshot(build) == snap_b and _snapshot(user) == snap_u and f.read_text() == "x"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["b", "f.txt", "u"]


def test_sweep_refuses_a_build_directory(sq32, tmp_path, capsys):
    build = copy_project(sq32, tmp_path / "b", library=False)
    snap = _snapshot(build)
    rc, _, err = cli_main(capsys, *COMMANDS["sweep"](build))
    one_line_error(rc, err, "is not a sweep directory made by fpga-flow")
    assert _snapshot(build) == snap


# ------------------------------------------------------------------ the rules, one condition at a time

def _build_like(d: Path, tag: str = "old") -> Path:
    d.mkdir()
    (d / "flow.json").write_text(json.dumps({"fpga_flow_version": "0", "tag": tag}))
    return d


def test_check_target_each_condition(tmp_path):
    new = tmp_path / "new"
    assert outdir.check_target(new, force=False) == new.resolve() and not new.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert outdir.check_target(empty, force=False) == empty.resolve()  # an empty folder holds nothing to lose
    own = _build_like(tmp_path / "own")
    with pytest.raises(FlowError, match="already exists; pass --force"):
        outdir.check_target(own, force=False)
    assert outdir.check_target(own, force=True) == own.resolve()
    user = _user_dir(tmp_path / "user")
    with pytest.raises(FlowError, match="is not a build directory made by fpga-flow \\(no flow.json written by"):
        outdir.check_target(user, force=True)
    with pytest.raises(FlowError, match="is not a report directory made by fpga-flow \\(no .fpga-flow-report\\)"):
        outdir.check_target(own, force=True, owned=outdir.is_report_dir, what="report")
    (user / outdir.REPORT_MARKER).write_text("")
    assert outdir.check_target(user, force=True, owned=outdir.is_report_dir, what="report") == user.resolve()
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(FlowError, match="exists and is not a directory"):
        outdir.check_target(f, force=True)
    with pytest.raises(FlowError, match="pass --again"):
        outdir.check_target(own, force=False, flag="--again")


def test_is_build_dir_needs_the_flows_own_manifest(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    assert not outdir.is_build_dir(d)
    for text, want in (('{"fpga_flow_version": "0.1"}', True), ('{"version": 1}', False), ('["fpga_flow_version"]', False),
                       ("{not json", False), ('"fpga_flow_version"', False)):
        (d / "flow.json").write_text(text)
        assert outdir.is_build_dir(d) is want, text


def test_replace_dir_each_condition(tmp_path):
    # nothing there: renamed into place
    out = tmp_path / "out"
    tmp = _build_like(tmp_path / ".out.tmp-1", "new")
    outdir.replace_dir(tmp, out)
    assert json.loads((out / "flow.json").read_text())["tag"] == "new" and not tmp.exists()
    # the flow's own: swapped, the old one deleted, no sibling left
    tmp = _build_like(tmp_path / ".out.tmp-2", "newer")
    outdir.replace_dir(tmp, out)
    assert json.loads((out / "flow.json").read_text())["tag"] == "newer"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out"]
    # an empty folder: replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    outdir.replace_dir(_build_like(tmp_path / ".empty.tmp-1"), empty)
    assert (empty / "flow.json").is_file()
    # a user's folder that appeared meanwhile: refused, both left as they are
    user = _user_dir(tmp_path / "user")
    tmp = _build_like(tmp_path / ".user.tmp-1")
    with pytest.raises(FlowError, match="no longer a directory fpga-flow may replace"):
        outdir.replace_dir(tmp, user)
    assert _snapshot(user) == {"thesis.txt": b"mine"} and (tmp / "flow.json").is_file()
    # a file: refused
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(FlowError):
        outdir.replace_dir(tmp, f)
    assert f.read_text() == "x"


def test_make_tmp_and_probe(tmp_path):
    t = outdir.make_tmp(tmp_path / "sub" / "out")
    assert t.parent == tmp_path / "sub" and t.name.startswith(".out.tmp-") and t.is_dir()
    outdir.probe_writable(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(FlowError, match="is not a directory"):
        outdir.probe_writable(blocker / "sub")
    with pytest.raises(FlowError, match="cannot write in /proc"):
        outdir.probe_writable(Path("/proc/fpga_flow_probe"))
