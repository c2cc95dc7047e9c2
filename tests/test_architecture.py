"""The package's structure: its layering (import-linter contract in pyproject.toml), the layer-kind
registry as the one place that knows layer classes, and the flow as a list of named steps whose
single conversion writes the same project as converting at the planned reuse factors directly."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, small_cfg

from fpga_flow import flow, project
from fpga_flow.hls import extensions, kinds
from fpga_flow.resources import estimate, fifo


def test_import_layers_contract_holds():
    """pyproject.toml [tool.importlinter]: every module imports only from the layers below it (lazy
    imports included: import-linter reads every import statement)."""
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "1 kept, 0 broken" in r.stdout


# where a layer's class may be named: its record (kinds.py), the user-model rewrites (rewrite.py
# matches multi-layer Keras spellings such as Reshape -> Permute -> Reshape), the extension modules
# themselves and the model zoo that builds layers
CLASS_NAME_ALLOWED = {"hls/kinds.py", "hls/rewrite.py"}
CLASS_MATCH = re.compile(r"(type\([^)]*\)\.__name__|class_name|\.cls)\s*(==|!=|in\b|not in\b)\s*[\(\"']")


def test_no_class_name_matching_outside_the_registry():
    found = []
    pkg = ROOT / "fpga_flow"
    for p in sorted(pkg.rglob("*.py")):
        rel = p.relative_to(pkg).as_posix()
        if rel in CLASS_NAME_ALLOWED or rel.startswith(("hls/extensions/", "models/")):
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if CLASS_MATCH.search(line):
                found.append(f"{rel}:{i}: {line.strip()}")
    assert not found, "class-name matching outside hls/kinds.py:\n" + "\n".join(found)


def test_every_kind_names_models_that_exist():
    """Each record names a FIFO counting function and a resource model the lower layer implements,
    and every extension module has exactly one record."""
    for k in kinds.KINDS + (kinds.OTHER,):
        assert k.counting in fifo.COUNTING, k.name
        assert k.estimate in estimate.MODELS, k.name
        if k.weighted and not k.refuse:
            assert k.mult_size is not None and k.type_rule is not None, k.name
    assert sorted(m.__name__ for m in kinds.EXTENSIONS) == sorted(m.__name__ for m in extensions.MODULES)
    for m in extensions.MODULES:
        (rec,) = [k for k in kinds.KINDS if k.extension is m]
        assert m.KERAS_CLASS.__name__ in rec.keras
        # an extension's IR layer is its record's hls class (grouped_conv parses into stream_conv's)
        if getattr(m, "HLS_LAYER", None):
            assert m.HLS_LAYER[0] in rec.hls, m.__name__
        else:
            assert not rec.hls and kinds.for_hls(extensions.stream_conv.HLS_LAYER[0]).extension is extensions.stream_conv


def test_steps_can_be_cut_and_leave_nothing_behind(tmp_path):
    """run(steps=...) walks only those steps; a walk cut before 'publish' keeps no output directory
    and no temporary sibling."""
    assert flow.STEP_NAMES == ("models", "convert", "plan", "write", "audit", "compile", "publish", "verify",
                               "report")
    b = flow.Build(small_cfg(size=32), tmp_path / "out")
    flow.run(b, until="plan")
    assert b.plan is not None and b.plan.fits and b.plan.reuse and b.manifest is None
    assert set(b.timings) == {"models", "convert", "plan"}
    assert list(tmp_path.iterdir()) == []  # converted in a temporary sibling, removed at the end
    with pytest.raises(Exception, match="unknown flow step"):
        flow.run(flow.Build(small_cfg(size=32), tmp_path / "x"), steps=("models", "synthesize"))


FIRMWARE = ("firmware/myproject.cpp", "firmware/parameters.h", "firmware/nnet_utils/nnet_dense_resource.h")


@pytest.mark.parametrize("kw", [pytest.param(dict(name="squeezenet1_1", size=32), marks=pytest.mark.slow),
                                dict(name="shufflenet_v1", size=32, groups=3, width=0.5)])
def test_planned_reuse_factors_written_as_if_converted_with_them(tmp_path, kw):
    """The flow converts once and sets the plan's reuse factors on that graph (hls/convert.apply_plan,
    re-running hls4ml's template flow). The written project equals one converted directly at those
    reuse factors (every layer fixed in hls.reuse_factors), file for file."""
    a = flow.Build(small_cfg(**kw), tmp_path / "a")
    flow.run(a, until="publish", skip=("compile",))
    assert len(set(a.plan.reuse.values())) > 1  # the plan chose more than one reuse factor
    cfg = small_cfg(**kw)
    cfg["hls"]["reuse_factors"] = dict(a.plan.reuse)
    b = flow.Build(cfg, tmp_path / "b")
    flow.run(b, until="publish", skip=("compile",))
    assert b.plan.reuse == a.plan.reuse and b.plan.depths == a.plan.depths
    for f in FIRMWARE:
        assert (tmp_path / "a" / project.PROJECT / f).read_text() == (tmp_path / "b" / project.PROJECT / f).read_text(), f
    weights = sorted(p.name for p in (tmp_path / "a" / project.PROJECT / "firmware" / "weights").iterdir())
    for w in weights:
        pa = tmp_path / "a" / project.PROJECT / "firmware" / "weights" / w
        assert pa.read_bytes() == (tmp_path / "b" / project.PROJECT / "firmware" / "weights" / w).read_bytes(), w
