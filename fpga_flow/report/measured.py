"""What a report shows as measured: saved results of ``fpga-flow verify --json`` (C-sim vs QKeras) and
``fpga-flow verify --dataflow --json`` (bounded FIFOs, deadlock check), read and checked without
TensorFlow (the CLI refuses a wrong file before loading it)."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import FlowError

VERIFY_KEYS = ("source", "n_images", "n_values", "exact_fraction", "images_exact", "passed", "degenerate",
               "degenerate_reason", "first_divergent_layer", "qkeras_top1", "csim_top1", "top1_agreement_qkeras",
               "csim_seconds_per_image", "workers", "jobs")
DATAFLOW_KEYS = ("source", "n_images", "n_values", "deadlock", "blocked", "exact_fraction", "processes",
                 "max_occupancy", "depths", "overrides", "run_seconds", "passed")


def read_measured(path, what: str, *, dataflow: bool) -> dict | None:
    """The result of ``fpga-flow verify --json`` (``dataflow``: with --dataflow) saved at ``path``, as
    the report shows it (``file``: where it was read); None if ``path`` is None; FlowError (naming
    ``what``, the option that gave it) if it is not such a result."""
    if path is None:
        return None
    p = Path(path)
    cmd = f"fpga-flow verify DIR{' --dataflow' if dataflow else ''} --json > FILE"
    try:
        res = json.loads(p.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise FlowError(f"{what} {p}: cannot be read as JSON ({type(e).__name__}); pass the file written by "
                        f"'{cmd}'") from None
    need = ("deadlock", "exact_fraction") if dataflow else ("exact_fraction", "n_values", "n_images")
    if not isinstance(res, dict) or any(k not in res for k in need):
        raise FlowError(f"{what} {p}: not the output of '{cmd}' (it needs {', '.join(need)}); pass that file")
    keys = DATAFLOW_KEYS if dataflow else VERIFY_KEYS
    return {k: res[k] for k in keys if k in res} | {"file": str(p)}
