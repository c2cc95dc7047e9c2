"""The record of one kind of layer (:class:`LayerKind`), and the support checks, exact type rules and
geometry that several kinds share.

Every kind has one record: the stock hls4ml kinds in kinds.py, each of fpga_flow's extensions in its
own module in extensions/ (``KIND``, beside its Keras class, parser, IR layer and templates);
kinds.py assembles them into the registry. A record says, for its kind:

* ``keras``: the Keras/QKeras/fpga_flow class names of that kind, ``hls``: the hls4ml graph node
  class names it becomes (``Clone`` and ``ZeroPadding2D`` have no Keras class: hls4ml inserts them);
  kinds.py is the one place these names are looked up (``for_keras``, ``for_hls``);
* ``extension``: for our own layers, the module holding the record (and its Keras class, hls4ml parser,
  IR layer, templates and the C++ file beside it);
* ``check``: why a layer of this kind cannot be converted exactly (or None), and ``refuse``: for
  kinds we never convert, why and what to use instead (kinds.REFUSED: the one table of refusals);
* ``type_rule``: the exact output type (precision.py states the rules);
* ``prepare``: the rewrite into an extension with the same maths (stock hls4ml would get it wrong);
* geometry: ``weighted`` and ``mult_size`` (the per-pixel product hls4ml validates reuse factors on);
* FIFO model (resources/fifo.py): ``counting`` (which counting function its read/write order is),
  ``read_ahead`` (how far its pipelined loop reads before it writes, from its template), ``join``;
* ``estimate``: which resource model (resources/estimate.py) its template follows; storage is planned
  per memory of that estimate (resources/memory.py); ``cycles``: which cycle model (resources/cycles.py:
  calibrated on csynth reports for hls4ml's kernels, derived from the loops for ours).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .fixed import quantizer_spec, spec_for_range
from .precision import TensorInfo, consumers, kernel_quantizer, per_output_kernel, quantized_weights

STRATEGY_READ_AHEAD = {"resource": 0, "latency": 5}  # resources/fifo.py: the pixel loop pipelined or not


@dataclass(frozen=True)
class LayerKind:
    name: str
    keras: tuple[str, ...] = ()
    hls: tuple[str, ...] = ()
    doc: str = ""
    extension: object = None
    check: Callable | None = None       # (layer) -> reason it cannot be exact, or None
    refuse: str | None = None           # never converted: why, and what to use instead
    type_rule: Callable | None = None   # (layer, input infos, model, kind_of) -> TensorInfo
    prepare: Callable | None = None     # (layer, conv_kernel) -> the chain of layers with the same maths, or None
    weighted: bool = False
    mult_size: Callable | None = None   # (geometry, n_weights) -> (n_in, n_out)
    counting: str = "one_to_one"        # resources.fifo.COUNTING
    read_ahead: int | Callable | None = 2  # None: by strategy (STRATEGY_READ_AHEAD); callable: of the geometry
    join: bool = False
    estimate: str = "passthrough"       # resources.estimate.MODELS
    cycles: str = "generic"             # resources.cycles.MODELS: the cycle model its template follows
    source: bool = False                # the network input (a top-level port, not a process)
    quantizer: bool = False             # its output is a quantizer's (a weighted producer writes its type)

    def fifo_model(self, strategy: str | None, geometry: dict | None = None) -> dict:
        ra = self.read_ahead
        if ra is None:
            ra = STRATEGY_READ_AHEAD["resource" if (strategy or "resource").lower() == "resource" else "latency"]
        elif callable(ra):
            ra = int(ra(geometry or {}))
        return {"counting": self.counting, "read_ahead": ra, "join": self.join}


# ---- support checks shared by kinds -----------------------------------------------------------------

def fused_activation(layer) -> str | None:
    act = layer.get_config().get("activation")
    if act not in (None, "linear") and not (isinstance(act, dict) and act.get("class_name") == "linear"):
        return f"fused activation {act!r}; use activation=None and a separate QActivation"
    return None


def check_quantizers(layer) -> str | None:
    """A weighted layer's kernel and bias quantizers map exactly onto fixed point (else FlowError)."""
    where = f"layer '{layer.name}' ({type(layer).__name__})"
    quantizer_spec(kernel_quantizer(layer), what=f"{where} kernel_quantizer", allow_symmetric=True)
    if layer.use_bias:
        quantizer_spec(layer.bias_quantizer_internal, what=f"{where} bias_quantizer", allow_symmetric=True)
    return None


def kernel_vs_stride(layer) -> str | None:
    """A convolution whose kernel is smaller than its stride (checked on the user's layer and on ours)."""
    if any(k < st for k, st in zip(layer.kernel_size, layer.strides)):
        # hls4ml 1.3.0's io_stream line-buffer convolution computes wrong outputs when the kernel is
        # smaller than the stride (1x1/2 'same' 9x8: exact fraction 0.20; found by tests/test_byom.py)
        return (f"kernel {tuple(layer.kernel_size)} smaller than stride {tuple(layer.strides)} is computed wrongly by "
                "hls4ml's io_stream convolution; use stride 1 followed by a pooling layer, or a kernel at least as "
                "large as the stride")
    return None


# ---- exact type rules shared by kinds (precision.py's module docstring states them) ------------------

def quantizer_info(q) -> TensorInfo:
    return TensorInfo(q.code_min * 2.0**-q.frac, q.code_max * 2.0**-q.frac, q)


def rule_weighted(layer, ins, model, kind_of) -> TensorInfo:
    """An exact accumulator for the products and the bias; when the only consumer is a quantizer,
    the quantizer's type is written directly (RND_CONV/SAT)."""
    x = ins[0]
    k, b = quantized_weights(layer)
    wspec = quantizer_spec(kernel_quantizer(layer), what=layer.name, allow_symmetric=True)
    frac = x.spec.frac + wspec.frac
    k2 = per_output_kernel(layer, k)
    hi_t = np.maximum(k2 * x.hi, k2 * x.lo)
    lo_t = np.minimum(k2 * x.hi, k2 * x.lo)
    pos = np.maximum(hi_t, 0).sum(0)
    neg = np.minimum(lo_t, 0).sum(0)
    if b is not None:
        bspec = quantizer_spec(layer.bias_quantizer_internal, what=layer.name, allow_symmetric=True)
        frac = max(frac, bspec.frac)
        pos, neg = pos + b, neg + b
    lo, hi = float(min(neg.min(), 0.0)), float(max(pos.max(), 0.0))
    acc = spec_for_range(lo, hi, frac)
    nxt = consumers(model, layer)
    if len(nxt) == 1 and getattr(kind_of(nxt[0]), "quantizer", False):  # write the quantizer's type directly
        q = quantizer_spec(nxt[0].activation, what=f"layer '{nxt[0].name}'", activation=True)
        return TensorInfo(q.code_min * 2.0**-q.frac, q.code_max * 2.0**-q.frac, q, accum=acc)
    return TensorInfo(lo, hi, acc)


def rule_pass(layer, ins, model, kind_of) -> TensorInfo:
    return ins[0]


def rule_own_quantizer(layer, ins, model, kind_of) -> TensorInfo:
    return quantizer_info(layer.spec.exact())  # rounding/saturation done explicitly in its C++


# ---- geometry ---------------------------------------------------------------------------------------

def mult_dense(g, n_w):
    return g["n_in"], g["n_out"]
