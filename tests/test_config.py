"""The one typed config (fpga_flow/config.py, issue 25): its JSON Schema is valid and documents every
key the shipped configs use with its default; every shipped config validates against it (jsonschema,
independently of pydantic) and the schema agrees with the flow on refused values; an unknown key in
any section is one line naming it and the nearest valid key; 'fpga-flow config CFG.yml' prints the
config the flow uses, every default filled in. Fast: no TensorFlow (the CLI in this process)."""
import contextlib
import copy
import io
import json

import jsonschema
import pytest
import yaml

from conftest import CONFIGS, ROOT

SHIPPED = sorted(CONFIGS.glob("*.yml"))
SCHEMA_FILE = CONFIGS / "flow_config.schema.json"


def cli(*argv):
    """(exit code, stdout, stderr lines) of fpga-flow in this process."""
    from fpga_flow import cli as fcli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = fcli.main([str(a) for a in argv])
        except SystemExit as e:  # argparse
            rc = e.code
    return rc, out.getvalue(), [l for l in err.getvalue().splitlines() if l.strip()]


@pytest.fixture(scope="module")
def schema():
    rc, out, err = cli("config", "--schema")
    assert rc == 0 and not err, err
    return json.loads(out)


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _section(schema, node, value):
    """The object schema of ``node`` for ``value``: $refs, null alternatives and the model union resolved."""
    node = _resolve(schema, node)
    alts = node.get("oneOf") or node.get("anyOf")
    if alts:
        objs = [_resolve(schema, a) for a in alts if _resolve(schema, a).get("type") == "object"]
        for o in objs:  # the model union: the member whose name enum (or path) fits
            name = o["properties"].get("name", {})
            if ("path" in value) == ("path" in o["properties"]) and ("enum" not in name or value.get("name") in name["enum"]):
                return o
        return objs[0]
    return node


def _keys(schema, node, value, path=()):
    """(dotted key, property schema) of every key used in ``value``, recursively."""
    sec = _section(schema, node, value)
    for k, v in value.items():
        props = sec.get("properties", {})
        prop = props.get(k) if k in props else _resolve(schema, sec.get("additionalProperties") or {}) or None
        yield ".".join(path + (str(k),)), prop
        if prop is None:
            continue
        target = _section(schema, prop, v) if isinstance(v, dict) else None
        if isinstance(v, dict) and target is not None and (target.get("properties") or target.get("additionalProperties")):
            yield from _keys(schema, target, v, path + (str(k),))


def test_schema_is_valid_json_schema_and_committed(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema") and set(schema["properties"]) == {
        "model", "quantization", "weights", "hls", "train"}
    assert schema["additionalProperties"] is False
    # the copy editors read (hls_configs/*.yml name it) is the schema the flow checks with
    assert json.loads(SCHEMA_FILE.read_text()) == schema, "regenerate: fpga-flow config --schema > " + str(SCHEMA_FILE)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_key_of_every_shipped_config_is_in_the_schema_with_its_default(schema, path):
    raw = yaml.safe_load(path.read_text())
    seen = dict(_keys(schema, schema, raw))
    missing = [k for k, p in seen.items() if p is None]
    assert not missing, f"{path.name}: keys not in the schema: {missing}"
    required = {"model.name", "model.path"}
    for k, p in seen.items():
        if k.count(".") == 0 or k.startswith("train.variants.") and k.count(".") == 2:
            continue  # a section, or a variant's name (a mapping key the user picks)
        p = {**_resolve(schema, p), **p}  # a $ref's siblings: its default, description and fix
        assert "default" in p or k in required, (path.name, k)
        assert p.get("fix") and p.get("description"), (path.name, k)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_validates_against_the_schema(schema, path):
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


# values the flow refuses: the schema refuses them too (it is the same description of a config)
REFUSED = [("model", "bypass", "fancy"), ("model", "stem_stride", 0), ("model", "classes", "ten"),
           ("model", "colour", 1), ("quantization", "weight_bits", 40), ("quantization", "act_int", True),
           ("quantization", "weigth_bits", 8), ("weights", "calibration_images", 0), ("hls", "backend", "Quartus"),
           ("hls", "reuse_factor", 0), ("hls", "fifo_depths", {"a": 0}), ("hls", "memory_budget", 2),
           ("hls", "partt", "zcu104"), ("train", "epochs", -1), ("train", "epoch", 3)]


@pytest.mark.parametrize("section,key,value", REFUSED)
def test_the_schema_and_the_flow_refuse_the_same_values(schema, section, key, value):
    from fpga_flow import config
    from fpga_flow.errors import FlowError

    raw = yaml.safe_load((CONFIGS / "fmnist_squeezenet1_1.yml").read_text())
    raw.setdefault(section, {})[key] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, schema)
    with pytest.raises(FlowError, match=rf"{section}\.{key}"):
        config.validate(copy.deepcopy(raw))


# an unknown key in every section and sub-section: (YAML, the key, its nearest valid key)
UNKNOWN = [
    ("model: {name: squeezenet1_1, bypas: simple}", "model.bypas", "model.bypass"),
    ("model: {name: shufflenet_v1, group: 3}", "model.group", "model.groups"),
    ("model: {path: NET, input_bit: 8}", "model.input_bit", "model.input_bits"),
    ("model: {name: squeezenet1_1}\nquantization: {weigth_bits: 6}", "quantization.weigth_bits", "quantization.weight_bits"),
    ("model: {name: squeezenet1_1}\nweights: {sed: 1}", "weights.sed", "weights.seed"),
    ("model: {name: squeezenet1_1}\nhls: {fifo_depth: {}}", "hls.fifo_depth", "hls.fifo_depths"),
    ("model: {name: squeezenet1_1}\ntrain: {epoch: 2}", "train.epoch", "train.epochs"),
    ("model: {name: squeezenet1_1}\ntrain: {augment: {flp: true}}", "train.augment.flp", "train.augment.flip"),
    ("model: {name: squeezenet1_1}\ntrain: {variants: {w4: {act_bit: 4}}}", "train.variants.w4.act_bit",
     "train.variants.w4.act_bits"),
    ("modle: {name: squeezenet1_1}", None, "model"),
]


@pytest.mark.parametrize("text,key,near", UNKNOWN, ids=[u[1] or "section" for u in UNKNOWN])
def test_unknown_key_in_any_section_exits_2_naming_it_and_the_nearest(tmp_path, text, key, near):
    net = tmp_path / "net.h5"
    net.write_bytes(b"")  # model.path: the schema is checked before the file is read
    (tmp_path / "c.yml").write_text(text.replace("NET", str(net)) + "\n")
    rc, out, err = cli("build", tmp_path / "c.yml", "--out", tmp_path / "out")
    assert rc == 2 and len(err) == 1 and err[0].startswith("fpga-flow: error:"), err
    if key is None:
        assert "unknown section 'modle'" in err[0] and f"nearest valid section: {near!r}" in err[0], err
    else:
        assert f"unknown key {key!r}; nearest valid key: {near!r}" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yml", "net.h5"]  # nothing written


@pytest.mark.parametrize("path", [CONFIGS / "fmnist_squeezenet1_1.yml", CONFIGS / "squeezenet1_1_32_w8_test.yml"],
                         ids=lambda p: p.name)
def test_config_command_prints_every_default_as_the_flow_uses_it(schema, path, tmp_path):
    from fpga_flow import config

    rc, out, err = cli("config", path, "--set", "hls.part=zcu102")
    assert rc == 0, err
    printed = yaml.safe_load(out)
    cfg = config.load(path, ["hls.part=zcu102"])
    assert printed == config.dump(cfg)  # what the flow reads (Build.cfg) and writes into flow.json
    jsonschema.validate(printed, schema)
    for section in ("quantization", "weights", "hls"):  # every key, the unset ones at their defaults
        assert set(printed[section]) == set(_resolve(schema, schema["properties"][section])["properties"])
    assert printed["hls"]["part"] == "xczu9eg-ffvb1156-2-e"  # resolved once: the part number
    assert printed["model"]["pct3x3"] == 0.5 and printed["quantization"]["bias_int"] == 3
    if cfg.train is not None:
        assert printed["train"]["batch_size"] == 128 and printed["train"]["variants"]["w4"]["rescale"] is True
    # the printed config is a config: loaded back, the same
    (tmp_path / "printed.yml").write_text(out)
    assert config.dump(config.load(tmp_path / "printed.yml")) == printed


def test_config_command_input_errors():
    assert cli("config")[0] == 2
    rc, _, err = cli("config", CONFIGS / "fmnist_squeezenet1_1.yml", "--schema")
    assert rc == 2 and "drop CONFIG.yml" in err[0]


def test_readme_and_the_documented_config_point_to_the_schema():
    doc = (CONFIGS / "squeezenet1_1_224_w8_zcu104.yml").read_text()
    assert f"$schema={SCHEMA_FILE.name}" in doc.splitlines()[0] and "fpga-flow config --schema" in doc
    assert "fpga-flow config --schema" in (ROOT / "README.md").read_text()


def test_one_place_for_every_default():
    """The config module holds the defaults: the builders' and the steps' keyword arguments repeat
    none (no TRAIN_DEFAULTS, key lists or QuantSpec defaults left), and a build's config is typed."""
    import inspect

    from fpga_flow import config
    from fpga_flow.resources import fit

    src = "\n".join(p.read_text() for p in (ROOT / "fpga_flow").rglob("*.py"))
    for gone in ("TRAIN_DEFAULTS", "_SQUEEZENET_KEYS", "_SHUFFLENET_KEYS", "QuantSpec", "validate_train"):
        assert gone not in src, gone
    plan = inspect.signature(fit.plan).parameters
    assert all(p.default is inspect.Parameter.empty for n, p in plan.items())
    assert set(config.HlsSection().fit_args()) == set(plan) - {"nodes", "part"}
