"""The package's structure: its layering (import-linter contract in pyproject.toml), the layer-kind
registry as the one place that looks layer classes up (each extension's record in its own module),
and the flow as a list of named steps whose single conversion writes the same project as converting
at the planned reuse factors directly."""
import ast
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


# ---- class names are looked up in one place: the layer-kind registry ----------------------------------
# Every form of matching a layer by its class is caught, in every module of fpga_flow/: a class name
# compared (==, !=, in, not in, is) or tested as a prefix/suffix/substring of a class name expression,
# and isinstance/issubclass/type(...) is on a Keras, QKeras, hls4ml or fpga_flow layer class. Only
# hls/kinds.py maps names to records (for_keras, for_hls: a dict lookup, none of these forms).
ALLOWED = {"hls/kinds.py"}
_NAME_SOURCES = ("__name__", "class_name", "cls")  # expressions that hold a class name


def _known_class_names() -> set[str]:
    """Class names of every layer the flow may meet: Keras', QKeras', hls4ml's and the registry's."""
    import inspect

    import qkeras
    import tensorflow as tf
    from hls4ml.model.layers import layer_map

    names = {n for n, c in vars(tf.keras.layers).items() if inspect.isclass(c)}
    names |= {n for n, c in vars(qkeras).items() if inspect.isclass(c) and issubclass(c, tf.keras.layers.Layer)}
    names |= set(layer_map) | {c.__name__ for c in layer_map.values()}
    names |= {c for k in kinds.KINDS for c in k.keras + k.hls}
    return names - {"Layer"}  # a custom layer's base class, not a kind


def _strings(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [x for e in node.elts for x in _strings(e)]
    return []


def _holds_class_name(node) -> bool:
    src = ast.unparse(node)
    return any(re.search(rf"\b{w}\b", src) for w in _NAME_SOURCES)


def _class_ref(node, known) -> bool:
    """``L.ReLU``, ``QConv2D``, ``tf.keras.layers.Dense`` (or a tuple of them): a layer class by name."""
    if isinstance(node, ast.Tuple):
        return any(_class_ref(e, known) for e in node.elts)
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
    return name in known


def class_matches(source: str, known: set[str]) -> list[tuple[int, str]]:
    """(line, code) of every class-name match in ``source`` (the forms listed above)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        hit = False
        if isinstance(node, ast.Compare):
            operands = [node.left] + node.comparators
            consts = [x for o in operands for x in _strings(o)]
            hit = any(c in known for c in consts) or any(_class_ref(o, known) for o in operands)
            # "Global" in n.cls, "Pool" in kind: a piece of a class name tested as a substring (any case
            # on an expression that holds a class name)
            if isinstance(node.left, ast.Constant) and isinstance(node.left.value, str) and len(node.left.value) >= 3 \
                    and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) \
                    and not any(isinstance(c, (ast.Tuple, ast.List, ast.Set, ast.Dict)) for c in node.comparators):
                piece, anycase = node.left.value, any(_holds_class_name(c) for c in node.comparators)
                hit = hit or any(piece in k or (anycase and piece.lower() in k.lower()) for k in known)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("startswith", "endswith") and node.args:
                consts = _strings(node.args[0])
                test = str.startswith if node.func.attr == "startswith" else str.endswith
                hit = any(len(c) >= 3 and any(test(k, c) for k in known) for c in consts) and \
                    (_holds_class_name(node.func.value) or any(c in known for c in consts))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("isinstance", "issubclass") \
                and len(node.args) == 2:
            hit = hit or _class_ref(node.args[1], known)
        if hit:
            found.append((node.lineno, ast.unparse(node)[:120]))
    return found


def test_the_guard_catches_every_form_of_class_matching():
    """The checker below flags each form (so the package-wide test can fail) and not the registry's
    lookups, string building, or model containers."""
    known = _known_class_names()
    caught = ['type(layer).__name__ == "QConv2D"', 'n.cls != "Permute"', 'cls in ("Add", "Concatenate")',
              'layer.class_name not in WEIGHTED or cls in ["Dense"]', 'n.class_name.startswith("Pointwise")',
              'name.endswith("Conv2D")', '"Global" in n.cls', '"activation" in cls', '"Pool" in str(r["kind"])',
              'isinstance(layer, L.ReLU)',
              'isinstance(x, (QDense, tf.keras.layers.BatchNormalization))', 'type(layer) is QDepthwiseConv2D',
              'issubclass(c, MaxPooling2D)', 'x.__class__ == layers.Dense']
    for code in caught:
        assert class_matches(code, known), code
    clean = ['kinds.for_keras(layer) is kinds.CONV', 'kind in (kinds.ADD, kinds.CONCAT)', '_BY_KERAS.get(type(l).__name__)',
             'f"layer ({type(layer).__name__})"', 'name.endswith("_bypass_conv")', 's.startswith("#pragma")',
             'isinstance(model, tf.keras.Sequential)', 'isinstance(v, dict)', '"quantizer" in k',
             '{"class_name": "HStreamConv"}', 'n.cls = QConv2D.__name__']
    for code in clean:
        assert not class_matches(code, known), code


def test_no_class_name_matching_outside_the_registry():
    known = _known_class_names()
    pkg = ROOT / "fpga_flow"
    found = [f"{p.relative_to(pkg).as_posix()}:{line}: {code}" for p in sorted(pkg.rglob("*.py"))
             if p.relative_to(pkg).as_posix() not in ALLOWED for line, code in class_matches(p.read_text(), known)]
    assert not found, "class-name matching outside hls/kinds.py (ask kinds.for_keras / for_hls):\n" + "\n".join(found)


def test_every_kind_names_models_that_exist():
    """Each record names a FIFO counting function and a resource model the lower layer implements;
    every extension module holds exactly one record (its KIND) and the registry holds it; every
    refusal comes from the one table."""
    for k in kinds.KINDS + (kinds.OTHER,):
        assert k.counting in fifo.COUNTING, k.name
        assert k.estimate in estimate.MODELS, k.name
        if k.weighted and not k.refuse:  # a node of a written project: its reuse factors are planned
            assert k.mult_size is not None and (k.type_rule is not None or not k.keras), k.name
    assert kinds.EXTENSIONS == extensions.MODULES and len(extensions.MODULES) == 7
    assert [k.refuse is not None for k in kinds.KINDS].count(True) == len(kinds.REFUSED)
    for m in extensions.MODULES:
        (rec,) = [k for k in kinds.KINDS if k.extension is m]
        assert rec is m.KIND and not any(k is m.KIND for k in kinds.STOCK)
        assert m.KERAS_CLASS.__name__ in rec.keras
        # an extension's IR layer is its record's hls class (grouped_conv parses into stream_conv's)
        if getattr(m, "HLS_LAYER", None):
            assert m.HLS_LAYER[0] in rec.hls, m.__name__
        else:
            assert not rec.hls and kinds.for_hls(extensions.stream_conv.HLS_LAYER[0]).extension is extensions.stream_conv


def test_a_new_layer_kind_is_its_module_and_one_registration_line():
    """What docs/architecture.md shows: the registry, the Keras custom objects and the hls4ml
    registration all come from the modules imported on the one registration line of
    hls/extensions/__init__.py, each carrying its record."""
    line = [l for l in (ROOT / "fpga_flow/hls/extensions/__init__.py").read_text().splitlines()
            if l.startswith("from . import ")]
    assert len(line) == 1
    names = re.findall(r"\w+", line[0].split("#")[0][len("from . import "):])
    assert sorted(names) == sorted(m.__name__.rsplit(".", 1)[1] for m in extensions.MODULES)
    assert set(extensions.custom_objects()) == {c for m in extensions.MODULES for c in m.KIND.keras}
    assert {k for m in extensions.MODULES for k in m.KIND.keras} <= {c for k in kinds.KINDS for c in k.keras}


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
    b = flow.Build(small_cfg(**kw, hls={"reuse_factors": dict(a.plan.reuse)}), tmp_path / "b")
    flow.run(b, until="publish", skip=("compile",))
    assert b.plan.reuse == a.plan.reuse and b.plan.depths == a.plan.depths
    for f in FIRMWARE:
        assert (tmp_path / "a" / project.PROJECT / f).read_text() == (tmp_path / "b" / project.PROJECT / f).read_text(), f
    weights = sorted(p.name for p in (tmp_path / "a" / project.PROJECT / "firmware" / "weights").iterdir())
    for w in weights:
        pa = tmp_path / "a" / project.PROJECT / "firmware" / "weights" / w
        assert pa.read_bytes() == (tmp_path / "b" / project.PROJECT / "firmware" / "weights" / w).read_bytes(), w
