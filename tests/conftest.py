import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "hls_configs"


def small_cfg(name="squeezenet1_1", size=32, bypass=None, classes=10, rf="auto", backend="Vitis", groups=None,
              width=None, conv_kernel="stream", part="zcu104", hls=None, **quant):
    """A validated FlowConfig of a small zoo model (``hls``: more hls keys)."""
    from fpga_flow import config

    model = {"name": name, "input_shape": [size, size, 3], "classes": classes}
    model.update({k: v for k, v in (("bypass", bypass), ("groups", groups), ("width", width)) if v is not None})
    return config.validate({"model": model, "quantization": quant,
                            "hls": {"part": part, "reuse_factor": rf, "backend": backend, "conv_kernel": conv_kernel,
                                    **(hls or {})}})


def fit_args(**hls) -> dict:
    """resources.fit.plan's keyword arguments as the flow passes them: an hls section's (defaults and
    ``hls`` keys; config.HlsSection.fit_args)."""
    from fpga_flow import config

    return config.HlsSection(**hls).fit_args()


def plan(nodes, part, **kw):
    """resources.fit.plan with an hls section's defaults (weights kept in the bitstream: uram_weights off)
    and ``kw`` (fit.plan's own keywords) over them."""
    from fpga_flow.resources import fit

    return fit.plan(nodes, part, **{**fit_args(uram_weights="off"), **kw})


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory):
    """Builds are expensive (g++ ~10-15 s); share one per configuration across the session."""
    cache = {}

    def get(**kw):
        key = tuple(sorted(kw.items()))
        if key not in cache:
            from fpga_flow import flow

            out = tmp_path_factory.mktemp("build") / "out"
            flow.build(small_cfg(**kw), out)
            cache[key] = out
        return cache[key]

    return get


@pytest.fixture(scope="session")
def photos32():
    from fpga_flow.data import images

    return images.photos(4, (32, 32, 3))


def copy_build(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
