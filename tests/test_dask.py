"""C-simulation on Dask (issue 18): same codes as local runs, every image exactly once even when a
worker dies mid-run, and the CLI flag."""
import json
import os
import threading
import time

import numpy as np
import pytest

from test_cli import run

pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def small(build_dir):
    return build_dir(name="squeezenet1_1", size=32)


def _inputs(out, n, seed=1):
    from fpga_flow import project
    from fpga_flow import flow
    from fpga_flow.data import images
    from fpga_flow.verify import csim

    m = project.load_qmodel(out / project.QMODEL)
    x = images.to_model_input(images.random_images(n, (32, 32, 3), seed))
    return csim.quantize_to(csim.input_spec(m), x)


def test_dask_shipped_project_matches_local_csim(small):
    from fpga_flow.verify import csim
    from fpga_flow.verify.distributed import Cluster, run_csim_dask

    x = _inputs(small, 6)
    local = csim.run_csim(small, x, jobs=1)
    with Cluster("local:2") as client:
        y, stats = run_csim_dask(client, small, x, mode="ship", batch=2, progress=False)
    assert np.array_equal(y, local)  # the workers compiled their own copy of the shipped project
    assert stats["workers"] == 2 and stats["tasks"] == 3 and stats["project"] == "ship"


def test_dask_worker_lost_mid_run_costs_a_retry_not_an_image(small):
    from fpga_flow.verify import csim
    from fpga_flow.verify.distributed import Cluster, run_csim_dask

    x = _inputs(small, 12, seed=2)
    local = csim.run_csim(small, x, jobs=2)
    with Cluster("local:2") as client:
        result = {}

        def go():
            result["y"], result["stats"] = run_csim_dask(client, small, x, mode="shared", batch=1, progress=False)

        t = threading.Thread(target=go)
        t.start()
        # wait until tasks run, then kill one worker process (its nanny starts a new one)
        t0 = time.time()
        while not client.processing() or not any(client.processing().values()):
            assert time.time() - t0 < 60
            time.sleep(0.05)
        busy = next(a for a, tasks in client.processing().items() if tasks)
        try:
            client.run(lambda: os._exit(1), workers=[busy], nanny=False)
        except Exception:
            pass  # the worker died while answering
        t.join(timeout=600)
        assert not t.is_alive()
        assert busy not in client.scheduler_info()["workers"]  # that worker really died
    assert np.array_equal(result["y"], local)  # all 12 images, each once, same codes


def test_verify_cli_with_scheduler(small):
    r = run("verify", small, "--images", 4, "--source", "random", "--scheduler", "local:2", "--project", "shared",
            "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert res["exact_fraction"] == 1.0 and res["workers"] == 2 and res["n_images"] == 4
    assert res["images_per_second"] > 0
    r = run("verify", small, "--scheduler", "lokal:2")
    assert r.returncode == 2 and "--scheduler" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_sweep_on_dask_rows_table_and_plot(tmp_path):
    from conftest import CONFIGS

    out = tmp_path / "sw"
    r = run("sweep", CONFIGS / "squeezenet1_1_32_w8_test.yml", "--grid", "hls.part=zcu104,nopart",
            "--grid", "quantization.weight_bits=6", "--scheduler", "local:2", "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads((out / "sweep.json").read_text())
    rows = {r["point"]["hls.part"]: r for r in meta["rows"]}
    assert rows["zcu104"]["status"] == "ok" and "exact_fraction" not in rows["zcu104"]  # --verify 0: build only
    # the row's values are those of that point's own build (built here, its flow.json read back)
    from fpga_flow import config, flow, project

    point = tmp_path / "point"
    flow.build(config.load(CONFIGS / "squeezenet1_1_32_w8_test.yml", ["hls.part=zcu104", "quantization.weight_bits=6"]),
               point, compile_lib=False)
    m = project.load_manifest(point)
    mem = m["resources"]["memory"]
    want = {"params": m["params"], "part": m["resources"]["part"]["name"], "hls_bram18k": mem["hls_bram18k"],
            "bram18k": mem["bram18k"], "bram18k_available": mem["bram18k_available"], "uram": mem["uram"],
            "dsp": mem["dsp"], "fits": mem["fits"], "fps": mem["fps"], "weight_mb": round(mem["weight_bits"] / 8e6, 4)}
    assert {k: rows["zcu104"][k] for k in want} == want
    assert m["config"]["quantization"]["weight_bits"] == 6 and want["hls_bram18k"] > 0 and want["fps"] > 0
    assert rows["nopart"]["status"] == "refused" and "unknown part" in rows["nopart"]["reason"]
    assert meta["workers"] == 2 and (out / "sweep.png").stat().st_size > 1000
    assert "| 6 | zcu104 | ok |" in (out / "sweep.md").read_text() or "| zcu104 | 6 | ok |" in (out / "sweep.md").read_text()
    # the sweep folder is the flow's: a second sweep needs --force, a user's folder is refused
    user = tmp_path / "mine"
    user.mkdir()
    (user / "a.txt").write_text("x")
    r = run("sweep", CONFIGS / "squeezenet1_1_32_w8_test.yml", "--grid", "hls.part=zcu104", "--out", user, "--force")
    assert r.returncode == 2 and (user / "a.txt").read_text() == "x"
