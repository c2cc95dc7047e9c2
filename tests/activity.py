"""How much a network's quantized activations actually vary on given inputs (a test helper).

A bit-exactness check on a net whose activations are all zero or all saturated proves little;
this measures, per quantizer layer, the number of distinct codes and the zero/saturated fractions.
"""
from __future__ import annotations

import numpy as np

from fpga_flow.hls import kinds
from fpga_flow.hls.fixed import quantizer_spec
from fpga_flow.verify.csim import keras_layer_outputs


def activation_stats(model, x) -> dict[str, dict]:
    qlayers = [l for l in model.layers if kinds.for_keras(l) is kinds.QUANTIZER]
    outs = keras_layer_outputs(model, {l.name for l in qlayers}, x)
    stats = {}
    for l in qlayers:
        s = quantizer_spec(l.activation, what=l.name, activation=True)
        codes = np.rint(outs[l.name].astype(np.float64) * 2.0**s.frac)
        stats[l.name] = {
            "distinct_codes": int(len(np.unique(codes))),
            "zero_fraction": float(np.mean(codes == 0)),
            "saturated_fraction": float(np.mean((codes == s.code_max) | (s.signed & (codes == s.code_min)))),
        }
    return stats
