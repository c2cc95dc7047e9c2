"""A user's QKeras model -> the layers the flow converts exactly (or a one-line refusal naming the layer).

``rewrite(model)`` returns ``(reference, converted, notes)``: ``reference`` is the user's model
(with an input quantizer put in front only when the user named one with --input-bits/--input-int;
on inputs already on that grid it is the identity), ``converted`` computes the same integer codes
with fpga_flow's exact layers, and ``notes`` lists every rewrite. The build saves ``reference`` as
the model that ``fpga-flow verify`` compares the C-simulation with, so each rewrite below is checked
against the user's ORIGINAL layers, not against our replacement.

Rewrites and why each is exact (the argument is per layer; tests/test_byom.py checks each one
code for code through the C-simulation against the original Keras model):

* ``MaxPooling2D`` (any pool/stride, 'valid' or 'same') -> ``StreamMaxPooling2D``: the same Keras
  class underneath (subclass, maths inherited); max is exact on the input type. Windows that
  the line buffer cannot emit ('same' trailing padding >= stride) are refused.
* ``GlobalAveragePooling2D`` / ``AveragePooling2D`` whose only consumer is a ``QActivation(q)`` ->
  ``ExactGlobalAveragePooling2D(q)`` / ``ExactAveragePooling2D(q)`` (named like the QActivation).
  Keras computes sum/n in float32 and q rounds half-to-even then clips. With input codes on grid
  2**-f (integers below 2**24, so every partial sum is exact in float32) and q's grid 2**-g,
  t = mean * 2**g is a multiple of 1/D, D = n * 2**max(f-g, 0); a value that is not a tie is at
  least 1/(2D) from one, float32's division error is at most |t| * 2**-23 (with slack for a
  reciprocal multiply), so when 2 * D * max|t| < 2**22 (checked per layer from the exact input
  interval, else refused) float32 rounding cannot move t across or onto a tie, and an exact tie
  is representable: the codes equal the exact pools' saturate(round_half_even(S/n)). 'same'
  average pooling divides by the cells inside the map on both sides (TF and the exact layer).
* ``QConv2DBatchnorm`` -> ``QConv2D`` whose float weights are QKeras' own
  ``get_folded_weights()`` (inv = rsqrt(moving_variance + eps) * gamma; kernel * inv;
  inv * (bias - moving_mean) + beta): the same TF ops in the same order as the layer's inference
  call (both folding modes use the moving statistics when training=False), followed by the same
  kernel/bias quantizers, so QConv2D quantizes identical float32 values to identical weights.
* ``Reshape((H,W,a,b)) -> Permute((1,2,4,3)) -> Reshape((H,W,C))`` -> ``ChannelShuffle(groups=a)``:
  output channel j*a + i takes input channel i*b + j on both sides; a permutation, no arithmetic.
* ``ZeroPadding2D`` whose only consumer is a 'valid' QConv2D/QDepthwiseConv2D/QConv2DBatchnorm and
  whose pads are exactly TF's 'same' pads for that kernel/stride/size -> the convolution with
  padding='same' (zero cells add zero products). All-zero padding is dropped. Anything else refused.
* ``Flatten`` (channels_last, row-major h, w, c) followed by ``QDense`` -> ``QConv2D`` with an HxW
  'valid' kernel (the dense kernel reshaped (H, W, C, N) in C order: the same products; the
  accumulator is exact so the order of the sum does not matter; weight quantizers are elementwise,
  alpha=1). Later QDense layers on that 1x1 map become 1x1 QConv2D; QActivation/Dropout/Add and
  Concatenate of 1x1 maps pass. The output is the same values in the same order (1x1xN vs N).
  QDense on a 4-D tensor (Keras applies it on the last axis) becomes a 1x1 QConv2D.
* Passed through (checked by kinds.check_supported): QActivation, QConv2D (groups only 1x1,
  rewritten by kinds.prepare into QGroupedConv1x1), QDepthwiseConv2D, QDense on vectors, Add,
  Concatenate, Dropout, InputLayer, and the fpga_flow extension layers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import FlowError
from . import kinds
from .extensions import custom_objects, gap, register
from .extensions.avgpool import ExactAveragePooling2D
from .extensions.channel_shuffle import ChannelShuffle
from .extensions.gap import ExactGlobalAveragePooling2D
from .extensions.maxpool import StreamMaxPooling2D, window_reason
from .layer_kind import fused_activation, kernel_vs_stride

# layer kinds (records of kinds.py; a node's class name is looked up there, kinds.for_keras)
ELEMENTWISE = (kinds.QUANTIZER, kinds.DROPOUT)
CONVS = (kinds.CONV, kinds.DEPTHWISE, kinds.CONV_BN)
# the refused kinds these rewrites turn into exact layers (when the pattern around them allows it)
REWRITTEN = (kinds.FLOAT_GLOBAL_POOL, kinds.FLOAT_AVG_POOL, kinds.CONV_BN, kinds.RESHAPE, kinds.FLATTEN)
ACCEPTED = ("QActivation, QConv2D, QConv2DBatchnorm, QDepthwiseConv2D, QDense, MaxPooling2D, "
            "GlobalAveragePooling2D/AveragePooling2D followed by a QActivation, Add, Concatenate, Dropout, "
            "ZeroPadding2D before a convolution, Flatten before QDense, Reshape->Permute->Reshape channel shuffle")


@dataclass
class Node:
    name: str
    cls: str                      # the Keras class name (messages; its kind: kind())
    inputs: list
    layer: object = None          # the user's layer (None for a new one)
    make: object = None           # callable -> a fresh Keras layer
    weights: object = None        # callable -> weights for the fresh layer (None: the user's)
    shape: tuple = ()             # output shape without batch
    view: tuple | None = None     # this node's 4-D output stands for a vector (a Flatten was removed)
    flat: dict = field(default_factory=dict)  # input name -> map shape read through a removed Flatten
    notes: list = field(default_factory=list)

    def kind(self):
        return kinds.for_keras(self.cls)


def _where(n: Node) -> str:
    return f"layer '{n.name}' ({n.cls})"


def _shape(s):
    if isinstance(s, list):
        if len(s) != 1:
            raise FlowError(f"layers with several outputs are not supported ({s})")
        s = s[0]
    return tuple(int(v) if v is not None else None for v in s[1:])


def graph(model) -> list[Node]:
    """The model as a list of nodes in topological order (Sequential or functional)."""
    import tensorflow as tf

    cfg = model.get_config()
    nodes: list[Node] = []
    if isinstance(model, tf.keras.Sequential):
        prev = model.inputs[0].name.split(":")[0]
        lays = list(model.layers)
        nodes.append(Node(prev, tf.keras.layers.InputLayer.__name__, [], shape=_shape(model.input_shape)))
        for layer in lays:
            nodes.append(Node(layer.name, type(layer).__name__, [prev], layer=layer, shape=_shape(layer.output_shape)))
            prev = layer.name
        return nodes
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise FlowError(f"model '{model.name}' has {len(model.inputs)} input(s) and {len(model.outputs)} output(s); "
                        "the flow builds models with exactly one of each")
    for lc in cfg["layers"]:
        name, cls = lc["name"], lc["class_name"]
        layer = model.get_layer(name)
        cls = type(layer).__name__
        inb = lc.get("inbound_nodes") or []
        if len(inb) > 1:
            raise FlowError(f"layer '{name}' ({cls}) is called {len(inb)} times (a shared layer); the FPGA needs one "
                            "instance per call: give each call its own layer")
        ins = []
        for e in (inb[0] if inb else []):
            if isinstance(e, (list, tuple)) and e and isinstance(e[0], str):
                ins.append(e[0])
            else:
                raise FlowError(f"layer '{name}' ({cls}) is called with arguments the flow cannot read (a TF op "
                                f"or nested call); use Keras layers: {ACCEPTED}")
        if hasattr(layer, "layers"):  # a model used as a layer
            raise FlowError(f"layer '{name}' ({cls}) is a nested model; flatten it into one functional model")
        nodes.append(Node(name, cls, ins, layer=layer, shape=_shape(layer.output_shape)))
    out = cfg["output_layers"][0][0]
    if nodes[-1].name != out:  # keep the output last (Keras' order is topological already)
        nodes = [n for n in nodes if n.name != out] + [n for n in nodes if n.name == out]
    return nodes


def _by_name(nodes):
    return {n.name: n for n in nodes}


def _consumers(nodes, name):
    return [n for n in nodes if name in n.inputs]


def _replace_input(nodes, old, new):
    for n in nodes:
        n.inputs = [new if i == old else i for i in n.inputs]


def _qstr(q):
    return None if q is None else (q if isinstance(q, str) else str(q))


# ------------------------------------------------------------------ passes

def add_input_quantizer(nodes, input_bits=None, input_int=None, model_name="model") -> bool:
    first = [n for n in nodes if n.kind() is not kinds.INPUT]
    has = bool(first) and first[0].kind() is kinds.QUANTIZER and first[0].inputs == [nodes[0].name] \
        and len(_consumers(nodes, nodes[0].name)) == 1
    if has:
        if input_bits is not None or input_int is not None:
            raise FlowError(f"model '{model_name}' already has an input quantizer '{first[0].name}' "
                            f"({first[0].layer.get_config()['activation']}); drop --input-bits/--input-int")
        return False
    if input_bits is None or input_int is None:
        raise FlowError(f"model '{model_name}' has no input quantizer (the first layer after the input is "
                        f"'{first[0].name}' ({first[0].cls})), so the input grid is unknown; add "
                        "QActivation(quantized_bits(8,0,alpha=1)) after the Input, or pass --input-bits B --input-int I")
    if not 2 <= int(input_bits) <= 32 or not -8 <= int(input_int) < int(input_bits):
        raise FlowError(f"--input-bits {input_bits} --input-int {input_int}: use 2..32 bits and an integer part "
                        "below the bits, e.g. --input-bits 8 --input-int 0")
    from qkeras import QActivation, quantized_bits

    names = {n.name for n in nodes}
    name = "input_quantizer"
    while name in names:
        name += "_"
    q = f"quantized_bits({int(input_bits)},{int(input_int)},alpha=1)"
    inp = nodes[0].name
    _replace_input(nodes, inp, name)
    nodes.insert(1, Node(name, QActivation.__name__, [inp], make=lambda q=q, name=name: QActivation(q, name=name),
                         shape=nodes[0].shape, notes=[f"input quantizer {q} added (--input-bits/--input-int)"]))
    return True


def _refuse(n: Node) -> None:
    """A refused kind (kinds.REFUSED, the one table) that no rewrite below turns into exact layers."""
    kind = n.kind()
    if kind is not None and kind.refuse and kind not in REWRITTEN:
        raise FlowError(f"{_where(n)}: {kind.refuse}")


def _window_check(n: Node, kind: str, pool, strides, padding, in_shape):

    if padding not in ("valid", "same"):
        raise FlowError(f"{_where(n)}: padding {padding!r} is not supported; use 'valid' or 'same'")
    r = window_reason(kind, padding, in_shape[0], in_shape[1], tuple(pool), tuple(strides))
    if r:
        raise FlowError(f"{_where(n)}: {r}")


def _same_pads(n_in, k, s):
    out = -(-n_in // s)
    total = max((out - 1) * s + k - n_in, 0)
    return total // 2, total - total // 2


def rewrite_nodes(nodes: list[Node]) -> list[str]:
    """Rewrite in place; returns notes (one per rewrite)."""
    from qkeras import QConv2D


    notes = []
    by = _by_name(nodes)
    i = 0
    while i < len(nodes):
        n = nodes[i]
        i += 1
        if n.layer is None:
            continue
        _refuse(n)
        kind = n.kind()
        c = n.layer.get_config()
        if c.get("data_format", "channels_last") not in ("channels_last", None):
            raise FlowError(f"{_where(n)}: data_format {c['data_format']!r}; the flow streams channels_last maps")
        if kind in CONVS and kernel_vs_stride(n.layer):  # found by benchmarks/fuzz_nets.py (1x1 stride 2: 20% exact)
            raise FlowError(f"{_where(n)}: {kernel_vs_stride(n.layer)}")
        ins = [by[x] for x in n.inputs]
        in_shape = ins[0].shape if ins else ()
        cons = _consumers(nodes, n.name)
        if kind is kinds.STOCK_POOL:  # MaxPooling2D
            _window_check(n, "max", n.layer.pool_size, n.layer.strides, n.layer.padding, in_shape)
            n.make = lambda c=c: StreamMaxPooling2D.from_config(c)
            n.weights = lambda: []
            notes.append(f"{n.name}: {n.cls} -> {StreamMaxPooling2D.__name__}")
        elif kind in (kinds.FLOAT_GLOBAL_POOL, kinds.FLOAT_AVG_POOL):
            if len(cons) != 1 or cons[0].kind() is not kinds.QUANTIZER:
                got = ", ".join(f"'{x.name}' ({x.cls})" for x in cons) or "none (model output)"
                raise FlowError(f"{_where(n)}: average pooling needs a quantizer as its only consumer (Keras averages in "
                                f"float32, nothing defines the rounding); consumers: {got}; put a "
                                "QActivation(quantized_bits(...)) right after it")
            q = cons[0]
            qs = str(q.layer.get_config()["activation"])
            if kind is kinds.FLOAT_GLOBAL_POOL:
                if c.get("keepdims"):
                    raise FlowError(f"{_where(n)}: keepdims=True is not supported; use keepdims=False (the default)")
                q.make = lambda qs=qs, name=q.name: ExactGlobalAveragePooling2D(quantizer=qs, name=name)
                n_cells = in_shape[0] * in_shape[1]
                exact = ExactGlobalAveragePooling2D.__name__
            else:
                pool, strides, pad = tuple(n.layer.pool_size), tuple(n.layer.strides), n.layer.padding
                _window_check(n, "average", pool, strides, pad, in_shape)
                q.make = lambda qs=qs, name=q.name, pool=pool, strides=strides, pad=pad: ExactAveragePooling2D(
                    pool_size=list(pool), strides=list(strides), padding=pad, quantizer=qs, name=name)
                n_cells = pool[0] * pool[1]
                exact = ExactAveragePooling2D.__name__
            q.cls, q.layer, q.inputs = exact, None, list(n.inputs)
            q.weights = lambda: []
            q.notes = [("float32_mean", n.name, n_cells)]
            nodes.remove(n)
            i -= 1
            by = _by_name(nodes)
            notes.append(f"{n.name} + {q.name}: {n.cls} + QActivation({qs}) -> {exact}")
        elif kind is kinds.CONV_BN:
            _fold_batchnorm(n, c, QConv2D)
            notes.append(f"{n.name}: QConv2DBatchnorm -> QConv2D with QKeras' folded weights")
        elif kind is kinds.RESHAPE:
            r2 = _channel_shuffle(n, nodes, by, ChannelShuffle, in_shape)
            notes.append(f"{n.name} -> .. -> {r2}: Reshape -> Permute -> Reshape -> ChannelShuffle")
            by = _by_name(nodes)
            i -= 1
        elif kind is kinds.ZEROPAD:
            _fold_padding(n, nodes, cons, in_shape, c)
            notes.append(f"{n.name}: ZeroPadding2D folded into the next convolution's padding='same'")
            by = _by_name(nodes)
            i -= 1
        elif kind is kinds.FLATTEN:
            if len(in_shape) == 3:
                for x in cons:
                    x.flat[n.inputs[0]] = in_shape
            _replace_input(nodes, n.name, n.inputs[0])
            nodes.remove(n)
            by = _by_name(nodes)
            i -= 1
            notes.append(f"{n.name}: Flatten removed (the next QDense reads the map row-major)")
        elif kind is kinds.DENSE:
            _dense(n, _in_view(n, ins[0]), ins[0], c, QConv2D, notes)
        elif kind in ELEMENTWISE or (kind is not None and kind.join):  # Add, Concatenate
            views = [_in_view(n, x) for x in ins]
            if any(v is not None for v in views):
                if kind in ELEMENTWISE:
                    n.view = views[0]
                else:
                    if any(v is None or tuple(v[:2]) != (1, 1) for v in views):
                        raise FlowError(f"{_where(n)}: joins flattened maps that are not 1x1 (or a flattened map with a "
                                        "vector); only vectors from QDense layers can be joined after Flatten")
                    n.view = (1, 1, None)
        elif kind in (kinds.CONV, kinds.DEPTHWISE, kinds.INPUT) or (kind is not None and kind.extension is not None):
            if any(_in_view(n, x) is not None for x in ins):
                raise FlowError(f"{_where(n)}: follows a Flatten; only QDense (optionally after QActivation/Dropout) "
                                "may read a flattened map")
        else:
            raise FlowError(f"{_where(n)}: layer type not supported by fpga_flow; accepted: {ACCEPTED}")
    return notes


def _in_view(n: Node, src: Node):
    return n.flat.get(src.name) or src.view


def _fold_batchnorm(n: Node, c: dict, QConv2D) -> None:
    layer = n.layer
    if fused_activation(layer):
        raise FlowError(f"{_where(n)}: {fused_activation(layer)}")
    if layer.kernel_quantizer_internal is None or layer.bias_quantizer_internal is None:
        raise FlowError(f"{_where(n)}: the folded {'kernel' if layer.kernel_quantizer_internal is None else 'bias'} has "
                        "no quantizer, so QKeras computes with float values; give it kernel_quantizer and bias_quantizer")
    keys = set(QConv2D(1, 1).get_config())
    qc = {k: v for k, v in c.items() if k in keys}
    qc.update(use_bias=True, name=n.name, activation=None, bias_initializer="zeros",
              kernel_quantizer=_qstr(layer.kernel_quantizer_internal), bias_quantizer=_qstr(layer.bias_quantizer_internal))
    for k in ("kernel_range", "bias_range"):
        qc.pop(k, None)
    n.make = lambda qc=qc: QConv2D.from_config(qc)
    n.weights = lambda layer=layer: [np.asarray(w) for w in layer.get_folded_weights()]
    n.cls = QConv2D.__name__


def _channel_shuffle(n, nodes, by, ChannelShuffle, in_shape):
    bad = f"{_where(n)}: {kinds.RESHAPE.refuse}"
    c1 = _consumers(nodes, n.name)
    if len(in_shape) != 3 or len(n.shape) != 4 or tuple(n.shape[:2]) != tuple(in_shape[:2]) or len(c1) != 1 \
            or c1[0].kind() is not kinds.PERMUTE or tuple(c1[0].layer.dims) != (1, 2, 4, 3):
        raise FlowError(bad)
    p = c1[0]
    c2 = _consumers(nodes, p.name)
    if len(c2) != 1 or c2[0].kind() is not kinds.RESHAPE or tuple(c2[0].shape) != tuple(in_shape):
        raise FlowError(bad)
    r2 = c2[0]
    a = int(n.shape[2])
    r2.make = lambda a=a, name=r2.name: ChannelShuffle(a, name=name)
    r2.weights = lambda: []
    r2.cls, r2.layer, r2.inputs = ChannelShuffle.__name__, None, list(n.inputs)
    nodes.remove(n)
    nodes.remove(p)
    return r2.name


def _fold_padding(n, nodes, cons, in_shape, c):
    (t, b), (l, r) = [tuple(int(v) for v in p) for p in n.layer.padding]
    if (t, b, l, r) == (0, 0, 0, 0):
        _replace_input(nodes, n.name, n.inputs[0])
        nodes.remove(n)
        return
    hint = "use padding='same' in the convolution instead"
    if len(cons) != 1 or cons[0].kind() not in CONVS or cons[0].layer is None:
        raise FlowError(f"{_where(n)}: zero padding is only folded into a following convolution (its only consumer); "
                        f"before {', '.join(repr(x.name) for x in cons)} it would change max/average pooling; {hint}")
    conv = cons[0]
    cc = conv.layer.get_config()
    k, s = tuple(cc["kernel_size"]), tuple(cc["strides"])
    want = (*_same_pads(in_shape[0], k[0], s[0]), *_same_pads(in_shape[1], k[1], s[1]))
    if cc["padding"] != "valid" or (t, b, l, r) != want or tuple(cc.get("dilation_rate", (1, 1))) != (1, 1):
        raise FlowError(f"{_where(n)}: pads {((t, b), (l, r))} are not the 'same' pads {((want[0], want[1]), (want[2], want[3]))} "
                        f"of '{conv.name}' ({conv.cls} {k[0]}x{k[1]}/{s[0]}, padding={cc['padding']!r}) on "
                        f"{in_shape[0]}x{in_shape[1]}; only those fold exactly into the streamed convolution; {hint}")
    conv.pad_same = True
    _replace_input(nodes, n.name, n.inputs[0])
    nodes.remove(n)


def _dense(n, view, src, c, QConv2D, notes):
    """QDense reading a flattened map (view) or a 4-D tensor -> QConv2D; on vectors unchanged."""
    if view is None and len(src.shape) == 1:
        return
    if view is None:  # Dense on a 4-D tensor: the last axis
        kh, kw = 1, 1
    else:
        kh, kw = (int(view[0]), int(view[1])) if view[0] is not None else (1, 1)
    layer = n.layer
    if fused_activation(layer):
        raise FlowError(f"{_where(n)}: {fused_activation(layer)}")
    keys = set(QConv2D(1, 1).get_config())
    qc = {k: v for k, v in c.items() if k in keys}
    qc.update(filters=int(c["units"]), kernel_size=[kh, kw], strides=[1, 1], padding="valid", name=n.name,
              activation=None, kernel_quantizer=_qstr(layer.kernel_quantizer_internal),
              bias_quantizer=_qstr(layer.bias_quantizer_internal) if layer.use_bias else None)
    for k in ("kernel_range", "bias_range"):
        qc.pop(k, None)

    def weights(layer=layer, kh=kh, kw=kw):
        w = [np.asarray(x) for x in layer.get_weights()]
        k = w[0]
        return [k.reshape(kh, kw, k.shape[0] // (kh * kw), k.shape[1])] + w[1:]

    n.make = lambda qc=qc: QConv2D.from_config(qc)
    n.weights = weights
    n.cls = QConv2D.__name__
    n.view = (1, 1, int(c["units"])) if view is not None else None
    notes.append(f"{n.name}: QDense -> QConv2D {kh}x{kw}")


# ------------------------------------------------------------------ build

def build_model(nodes: list[Node], name: str):
    """A fresh functional model from the nodes (new layer objects, weights copied)."""
    import tensorflow as tf


    tensors = {}
    made = []
    with tf.keras.utils.custom_object_scope(custom_objects()):
        for n in nodes:
            if n.kind() is kinds.INPUT:
                tensors[n.name] = tf.keras.Input(shape=n.shape, name=n.name)
                continue
            if n.make is not None:
                layer = n.make()
            else:
                cfg = n.layer.get_config()
                if getattr(n, "pad_same", False):
                    cfg = dict(cfg, padding="same")
                layer = type(n.layer).from_config(cfg)
            if getattr(n, "pad_same", False) and n.make is not None:
                cfg = layer.get_config()
                layer = type(layer).from_config(dict(cfg, padding="same"))
            ins = [tensors[x] for x in n.inputs]
            tensors[n.name] = layer(ins if len(ins) > 1 or getattr(n.kind(), "join", False) else ins[0])
            made.append((n, layer))
    model = tf.keras.Model(tensors[nodes[0].name], tensors[nodes[-1].name], name=name)
    for n, layer in made:
        w = n.weights() if n.weights is not None else (n.layer.get_weights() if n.layer is not None else [])
        if w:
            layer.set_weights(w)
    return model


def _check_float32_means(converted, nodes) -> None:
    """The float32 mean argument of the module docstring, per rewritten average pooling."""
    info = kinds.infer(converted)
    for n in nodes:
        for note in n.notes:
            if not (isinstance(note, tuple) and note[0] == "float32_mean"):
                continue
            _, src, cells = note
            x = info[n.inputs[0]]
            f, g = x.spec.frac, info[n.name].spec.frac
            xmax = max(abs(x.lo), abs(x.hi))
            codes = cells * xmax * 2.0**f
            d = cells * 2.0 ** max(f - g, 0)
            tmax = xmax * 2.0**g
            if codes >= 2**24 or 2 * d * tmax >= 2**22:
                raise FlowError(f"layer '{src}' ({'global ' if n.kind() is gap.KIND else ''}average pooling): "
                                f"the float32 mean of {cells} cells of {x.spec.cpp()} cannot be proven to round like the "
                                f"exact mean on the grid of '{n.name}' (bound {2 * d * tmax:.3g} >= 2**22); use fpga_flow's "
                                f"{n.cls}(quantizer=...) in the model, or a narrower input to the pool")


def rewrite(model, *, input_bits=None, input_int=None):
    """(reference, converted, notes): see the module docstring."""

    register()
    nodes = graph(model)
    added = add_input_quantizer(nodes, input_bits, input_int, model.name)
    reference = build_model(nodes, model.name) if added else model
    if added:
        nodes = graph(reference)
    notes = rewrite_nodes(nodes)
    if not notes:
        converted = reference
    else:
        converted = build_model(nodes, model.name)
        out_ref, out_conv = reference.output_shape, converted.output_shape
        if int(np.prod(out_ref[1:])) != int(np.prod(out_conv[1:])):
            raise RuntimeError(f"rewrite changed the output size: {out_ref} -> {out_conv}")
    kinds.check_supported(converted)
    _check_float32_means(converted, nodes)
    return reference, converted, [x for x in notes if isinstance(x, str)]
