"""Reuse factors hls4ml accepts for a layer (its own validity rule, enumerated over divisors)."""
from __future__ import annotations

import bisect
from functools import lru_cache


@lru_cache(maxsize=None)
def valid_reuse_factors(n_in: int, n_out: int) -> tuple[int, ...]:
    from hls4ml.backends import get_backend

    be = get_backend("Vivado")
    n = n_in * n_out
    divs = set()
    i = 1
    while i * i <= n:
        if n % i == 0:
            divs.update((i, n // i))
        i += 1
    return tuple(rf for rf in sorted(divs) if be._validate_reuse_factor(n_in, n_out, rf))


def closest_valid(n_in: int, n_out: int, rf: int) -> int:
    """The valid reuse factor nearest to ``rf`` (the smaller one on a tie, as hls4ml does)."""
    valid = valid_reuse_factors(n_in, n_out)
    pos = bisect.bisect_left(valid, rf)
    if pos == 0:
        return valid[0]
    if pos == len(valid):
        return valid[-1]
    before, after = valid[pos - 1], valid[pos]
    return after if after - rf < rf - before else before


def layer_fan(layer) -> tuple[int, int]:
    """(n_in, n_out) of the matrix-vector product a QConv2D/QDense layer performs per pixel (fpga_flow's
    MVU layers say theirs: ``mvu_fan``)."""
    fan = getattr(layer, "mvu_fan", None)
    if fan is not None:
        return fan()
    k = layer.get_weights()[0]
    n_out = k.shape[-1]
    n_in = int(k.size // n_out)
    return n_in, n_out
