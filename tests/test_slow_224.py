"""Full-size checks (224x224, 1000 classes): the shipped configs are bit-exact on real photos.
Slow (~1-2 min each): run with `make test-slow`."""
import json
import subprocess
import sys

import pytest

from conftest import CONFIGS, ROOT


@pytest.mark.slow
@pytest.mark.parametrize("cfg", ["squeezenet1_1_224_w8_zcu104.yml", "squeezenet1_0_bypass_224_w8_zcu102.yml",
                                 "shufflenet_g3_w1.0_224_w8_zcu102.yml", "shufflenet_g8_w0.5_224_w8_zcu104.yml"])
def test_shipped_config_exact_on_photos(tmp_path, cfg):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "build", str(CONFIGS / cfg), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "verify", str(out), "--images", "4",
                        "--source", "photos", "--json", "--jobs", "2"], capture_output=True, text=True, cwd=ROOT)
    res = json.loads(r.stdout)
    assert r.returncode == 0 and res["exact_fraction"] == 1.0 and res["n_values"] == 4000
