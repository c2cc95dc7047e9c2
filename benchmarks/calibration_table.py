"""The HLS estimate against every real csynth report in shared/calibration: one row per design
(case, part and family, tool, FIFOs exact, BRAM18K and DSP real vs estimated).

    python benchmarks/calibration_table.py [--cal DIR] [--out reports/calibration]

Writes OUT.md (the table docs/memory-and-storage.md shows) and OUT.json. DSPs of the cases whose
committed model TensorFlow 2.14 loads come from the weights (stock hls4ml conversion with the
committed config, as 'fpga-flow estimate' does); the others from the firmware (see
tests/calibration_cases.py, the calibration harness the tests share). About a minute (four hls4ml
conversions).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # calibration_cases: the tests' harness


def stock_estimates(cal: Path, log=print) -> dict:
    """case -> estimate_stock() of every case whose committed model loads here."""
    import calibration_cases as C
    from fpga_flow.hls.stock_estimate import _load_keras, estimate_stock

    out = {}
    for d in C.stock_cases(cal):
        try:
            model = _load_keras(next(d.glob("keras_model.*")))
        except Exception as e:  # e.g. a Keras-3 QKeras model (lenet5)
            log(f"{d.name}: model does not load here ({type(e).__name__}); DSPs from the firmware")
            continue
        rep = C.load_case(d)[0]
        with contextlib.redirect_stdout(sys.stderr):  # hls4ml's conversion log
            out[d.name] = estimate_stock(next(d.glob("keras_model.*")), d / "hls4ml_config.yml",
                                         version=rep.version, model=model)
    return out


def main(argv=None) -> int:
    import calibration_cases as C

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cal", default=str(C.default_dir()))
    ap.add_argument("--out", default="reports/calibration")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    cal = Path(a.cal)
    stock = stock_estimates(cal, log=lambda m: print(m, file=sys.stderr))
    rows = C.summary(cal, stock)
    md = C.markdown(rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out + ".md").write_text(md + "\n")
    Path(a.out + ".json").write_text(json.dumps(rows, indent=1) + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
