"""'fpga-flow fifo-search' and 'fpga-flow verify --dataflow --depth' from the command line, on a small
Fire-like join (squeeze -> 1x1 | 3x3 'same' -> concat, 5x16x8): the minimal depth the search reports for
the join FIFO completes the dataflow C-simulation, one less deadlocks naming that FIFO."""
import json

import numpy as np
import pytest

from conftest import small_cfg
from fastkit import cli_main
from test_resources import _fire_like

from fpga_flow import flow, project
from fpga_flow.resources import fifo


@pytest.fixture(scope="module")
def fire_build(tmp_path_factory):
    # 16 wide: the 1x1 branch runs 17 items ahead of the 3x3 one, more than the branch's other FIFOs
    # and processes hold, so the join FIFO itself needs depth (at 7 wide the chain absorbs it all)
    model = _fire_like(16)
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if layer.weights:
            k, b = layer.get_weights()
            layer.set_weights([rng.uniform(-0.5, 0.5, k.shape), rng.uniform(-0.5, 0.5, b.shape)])
    out = tmp_path_factory.mktemp("fire") / "out"
    flow.build_keras_model(model, out, cfg=small_cfg(rf=16), compile_lib=False)
    return out


def test_fifo_search_and_dataflow_depth_from_the_cli(fire_build, tmp_path, capsys):
    """Through fpga_flow.cli.main (the installed command's entry point), in this process."""
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(1).uniform(-1, 1, (2, 5, 16, 8)).astype(np.float32))
    m = project.load_manifest(fire_build)
    var = {o["name"]: o["var"] for r in m["design"] for o in r["outputs"]}["a"]

    rc, stdout, stderr = cli_main(capsys, "fifo-search", fire_build, "--images", 2, "--json")
    assert rc == 0, stderr[-2000:]
    res = json.loads(stdout)
    assert res["passed"] is True and res["planned_deadlock"] is False
    assert set(res["streams"]) == {var}  # the one join FIFO (planned deeper than 2)
    row = res["streams"][var]
    # planned: the branch backlog + the join's margin (its own 2 + the 3x3 branch's RTL read-ahead)
    need = fifo.analyse(m["design"])["a"]
    assert row["name"] == "a" and row["planned"] == m["plan"]["fifo_depths"]["a"] == need["required_depth"]
    assert need["backlog"] > 0 and need["margin"] > fifo.JOIN_SLACK
    minimal = row["minimal"]
    assert 2 <= minimal <= row["planned"] and row["max_occupancy"] <= row["planned"]

    # the minimum found completes (by the plan's stream name) ...
    rc, stdout, stderr = cli_main(capsys, "verify", fire_build, "--dataflow", "--source", x, "--depth", f"a={minimal}", "--json")
    assert rc == 0, stderr[-2000:]
    ok = json.loads(stdout)
    assert ok["passed"] and not ok["deadlock"] and ok["depths"][var] == minimal and ok["exact_fraction"] == 1.0
    # ... and one less deadlocks, naming that FIFO (by its C++ name)
    rc, stdout, stderr = cli_main(capsys, "verify", fire_build, "--dataflow", "--source", x, "--depth", f"{var}={minimal - 1}", "--json")
    assert rc == 1, stderr[-2000:]
    dl = json.loads(stdout)
    assert dl["deadlock"] and not dl["passed"] and var in dl["blocked"] and dl["depths"][var] == minimal - 1
    # --depth is for --dataflow only, and must name a stream
    rc, stdout, stderr = cli_main(capsys, "verify", fire_build, "--depth", "a=3")
    assert rc == 2 and "--depth works with --dataflow only" in stderr
    rc, stdout, stderr = cli_main(capsys, "verify", fire_build, "--dataflow", "--depth", "nope=3")
    assert rc == 2 and "no stream 'nope'" in stderr
