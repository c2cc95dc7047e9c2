"""Random small QKeras CNNs through `build --model`: each must be bit-exact in C-sim or refused by name.

    .venv/bin/python benchmarks/fuzz_nets.py --nets 200 [--start 0] [--images 8] [--json out.json]

Every net is drawn from the layer set `fpga_flow.hls.rewrite` accepts or refuses: random input
quantizer (or none, then --input-bits is passed), QConv2D / QConv2DBatchnorm (1x1..3x3, stride 1/2,
valid/same, ZeroPadding2D spellings), QDepthwiseConv2D, grouped 1x1 QConv2D + the Keras channel-shuffle
spelling, MaxPooling2D / AveragePooling2D+QActivation of random pool/stride/padding, branches joined by
Add or Concatenate, and a GlobalAveragePooling2D+QActivation or Flatten+QDense head; bit widths 2..8.
The model is saved to .h5 and built from the file like a user's (flow.build with model.path), then the
C-simulation is compared with the saved (original) model on random inputs.

Outcomes: exact (verified, informative outputs), degenerate (exact but the outputs carry no
information, so nothing is proven), refused (FlowError: one line naming the layer), and the
failures: INEXACT (accepted and wrong), DEADLOCK (the written FIFO depths deadlock in the dataflow
C-simulation, verify/dataflow.py, run on every accepted net) or CRASH (anything else). Prints the acceptance rate and every
failure; exit 1 if there is any failure.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _q(rng, act=True):
    b = int(rng.integers(2, 9))
    i = int(rng.integers(0, min(b, 4)))
    if act and rng.random() < 0.5:
        return f"quantized_relu({b},{i})"
    return f"quantized_bits({b},{i},alpha=1)"


def _wq(rng):
    b = int(rng.integers(2, 9))
    return f"quantized_bits({b},0,alpha=1)", f"quantized_bits({min(b + 4, 12)},{int(rng.integers(0, 4))},alpha=1)"


def random_net(seed: int):
    """(model, input_bits, input_int): a random small QKeras CNN (functional), weights set."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QConv2DBatchnorm, QDense, QDepthwiseConv2D

    L = tf.keras.layers
    rng = np.random.default_rng(seed)
    tf.keras.utils.set_random_seed(seed)
    h = int(rng.integers(5, 13))
    w = int(rng.integers(5, 13))
    c = int(rng.integers(1, 4))
    x0 = L.Input((h, w, c), name="image")
    in_bits = in_int = None
    if rng.random() < 0.85:
        b = int(rng.integers(3, 9))
        x = QActivation(f"quantized_bits({b},{int(rng.integers(0, 2))},alpha=1)", name="inq")(x0)
    else:
        x, in_bits, in_int = x0, int(rng.integers(3, 9)), 0
    k = [0]

    def nm(s):
        k[0] += 1
        return f"{s}{k[0]}"

    def act(t):
        return QActivation(_q(rng), name=nm("act"))(t)

    def conv(t, filters=None, ks=None, stride=None, padding=None):
        filters = filters or int(rng.integers(2, 9))
        ks = ks or int(rng.choice([1, 2, 3]))
        stride = stride or int(rng.choice([1, 1, 2]))
        if ks < stride and rng.random() < 0.9:  # mostly kernels >= stride (smaller ones are refused by name)
            ks = stride
        hh, ww = t.shape[1], t.shape[2]
        padding = padding or str(rng.choice(["valid", "same"]))
        if padding == "valid" and (hh < ks or ww < ks):
            padding = "same"
        kq, bq = _wq(rng)
        r = rng.random()
        if r < 0.2 and padding == "same":  # the Keras spelling: ZeroPadding2D + valid conv
            def pads(n):
                out = -(-n // stride)
                tot = max((out - 1) * stride + ks - n, 0)
                return (tot // 2, tot - tot // 2)
            t = L.ZeroPadding2D((pads(hh), pads(ww)), name=nm("zpad"))(t)
            padding = "valid"
        if r > 0.75:
            layer = QConv2DBatchnorm(filters, ks, strides=stride, padding=padding, kernel_quantizer=kq,
                                     bias_quantizer=bq, name=nm("convbn"))
            y = layer(t)
            layer.batchnorm.set_weights([rng.uniform(0.5, 1.5, filters), rng.normal(0, 0.2, filters),
                                         rng.normal(0, 0.3, filters), rng.uniform(0.3, 2.0, filters)])
            return y
        return QConv2D(filters, ks, strides=stride, padding=padding, kernel_quantizer=kq, bias_quantizer=bq,
                       name=nm("conv"))(t)

    def block(t):
        r = rng.random()
        hh = t.shape[1]
        if r < 0.3:
            return act(conv(t))
        if r < 0.42:
            kq, bq = _wq(rng)
            s = int(rng.choice([1, 2]))
            return act(QDepthwiseConv2D(3, strides=s, padding="same", depthwise_quantizer=kq, bias_quantizer=bq,
                                        name=nm("dw"))(t))
        if r < 0.55 and hh >= 2:
            p = int(rng.choice([2, 3]))
            s = int(rng.choice([1, 2, p]))
            pad = str(rng.choice(["valid", "same"])) if hh >= p and t.shape[2] >= p else "same"
            return L.MaxPooling2D(p, s, padding=pad, name=nm("maxpool"))(t)
        if r < 0.65 and hh >= 2:
            p = int(rng.choice([2, 3]))
            s = int(rng.choice([2, p]))
            pad = str(rng.choice(["valid", "same"])) if hh >= p and t.shape[2] >= p else "same"
            return act(L.AveragePooling2D(p, s, padding=pad, name=nm("avgpool"))(t))
        if r < 0.85:  # two branches joined
            f = int(rng.integers(2, 7))
            a = act(conv(t, filters=f, ks=1, stride=1, padding="same"))
            b = act(conv(t, filters=f, ks=3, stride=1, padding="same"))
            if rng.random() < 0.5:
                return L.Add(name=nm("add"))([a, b])
            return L.Concatenate(name=nm("cat"))([a, b])
        g = int(rng.choice([2, 3]))
        cin = t.shape[-1]
        t2 = t if cin % g == 0 else act(conv(t, filters=g * int(rng.integers(1, 3)), ks=1, stride=1))
        kq, bq = _wq(rng)
        f = g * int(rng.integers(1, 4))
        y = act(QConv2D(f, 1, groups=g, kernel_quantizer=kq, bias_quantizer=bq, name=nm("gconv"))(t2))
        hh, ww = y.shape[1], y.shape[2]
        y = L.Reshape((hh, ww, g, f // g), name=nm("shuf_a"))(y)
        y = L.Permute((1, 2, 4, 3), name=nm("shuf_b"))(y)
        return L.Reshape((hh, ww, f), name=nm("shuf_c"))(y)

    x = act(conv(x))
    for _ in range(int(rng.integers(1, 4))):
        x = block(x)
    if rng.random() < 0.5:
        x = L.GlobalAveragePooling2D(name="gap")(x)
        x = QActivation(_q(rng, act=False), name="gapq")(x)
        kq, bq = _wq(rng)
        if rng.random() < 0.5:
            x = QDense(int(rng.integers(2, 8)), kernel_quantizer=kq, bias_quantizer=bq, name="fc")(x)
    else:
        x = L.Flatten(name="flat")(x)
        kq, bq = _wq(rng)
        x = QDense(int(rng.integers(2, 12)), kernel_quantizer=kq, bias_quantizer=bq, name="fc1")(x)
        if rng.random() < 0.5:
            x = QActivation(_q(rng), name="fcq")(x)
            kq, bq = _wq(rng)
            x = QDense(int(rng.integers(2, 8)), kernel_quantizer=kq, bias_quantizer=bq, name="fc2")(x)
    model = tf.keras.Model(x0, x, name=f"fuzz{seed}")
    # weights spread over the quantizers' ranges, so outputs are not all zero
    for layer in model.layers:
        ws = layer.get_weights()
        if type(layer).__name__ in ("QConv2D", "QDense", "QDepthwiseConv2D", "QConv2DBatchnorm") and ws:
            new = [rng.uniform(-0.9, 0.9, ws[0].shape).astype(np.float32)]
            new += [rng.uniform(-0.5, 0.5, v.shape).astype(np.float32) if i == 0 else v for i, v in enumerate(ws[1:])]
            if type(layer).__name__ == "QConv2DBatchnorm":
                new = new[:1] + ws[1:] if not layer.use_bias else new[:2] + ws[2:]
            layer.set_weights(new)
    return model, in_bits, in_int


def check_net(seed: int, images: int = 8, workdir: str | None = None) -> dict:
    """Build the random net from its saved .h5 like a user's model; verify on random inputs."""
    from fpga_flow import config, flow
    from fpga_flow.data import images as inputs  # 'images' is this function's image count
    from fpga_flow.errors import FlowError
    from fpga_flow.verify import csim, dataflow

    t0 = time.perf_counter()
    td = Path(tempfile.mkdtemp(prefix=f"fuzz{seed}_", dir=workdir))
    res = {"seed": seed}
    try:
        model, ib, ii = random_net(seed)
        res["layers"] = len(model.layers)
        path = td / f"fuzz{seed}.h5"
        model.save(path)
        try:
            cfg = config.for_model(path, input_bits=ib, input_int=ii)
            m = flow.build(cfg, td / "out")
        except FlowError as e:
            msg = str(e)
            res.update(outcome="refused", message=msg, one_line="\n" not in msg)
            return res
        res["rewrites"] = m.get("rewrites", [])
        imgs = inputs.load("random", images, m["input_shape"], seed=seed)
        r = csim.verify(td / "out", imgs)
        res.update(exact_fraction=r["exact_fraction"], first_divergent_layer=r["first_divergent_layer"])
        if r["exact_fraction"] != 1.0:
            res["outcome"] = "INEXACT"
            return res
        res["outcome"] = "degenerate" if r["degenerate"] else "exact"
        # the written FIFO depths, executed: bounded streams, one thread per process, 2 images back to back
        d = dataflow.run_dataflow(td / "out", imgs[:2])
        res.update(dataflow_deadlock=d["deadlock"], dataflow_exact=d["exact_fraction"], dataflow_blocked=d["blocked"])
        if d["deadlock"]:
            res.update(outcome="DEADLOCK", message=f"dataflow deadlock, full/empty: {d['blocked'][:4]}")
        elif d["exact_fraction"] != 1.0:
            res.update(outcome="INEXACT", message="dataflow C-sim differs from the sequential C-sim")
    except Exception as e:  # noqa: BLE001 - a crash is a finding
        res.update(outcome="CRASH", message=f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
    finally:
        res["seconds"] = round(time.perf_counter() - t0, 1)
        shutil.rmtree(td, ignore_errors=True)
    return res


def summarize(results: list[dict]) -> dict:
    n = len(results)
    count = {k: sum(r["outcome"] == k for r in results) for k in ("exact", "degenerate", "refused", "INEXACT", "DEADLOCK",
                                                              "CRASH")}
    accepted = count["exact"] + count["degenerate"] + count["INEXACT"] + count["DEADLOCK"]
    return {"nets": n, **count, "acceptance_rate": round(accepted / n, 3) if n else 0.0,
            "failures": [r for r in results if r["outcome"] in ("INEXACT", "DEADLOCK", "CRASH")
                         or (r["outcome"] == "refused" and not r.get("one_line", True))]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", type=int, default=200)
    ap.add_argument("--start", type=int, default=0, help="first seed")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--json", help="write every result to this file")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fpga_flow import progress

    results = []
    with progress.bar(total=args.nets, desc="fuzz nets", unit="net") as bar:  # on a terminal only
        for seed in range(args.start, args.start + args.nets):
            r = check_net(seed, args.images)
            results.append(r)
            tail = r.get("message", "")[:150] if r["outcome"] in ("refused", "CRASH") else \
                f"exact_fraction={r.get('exact_fraction')} rewrites={len(r.get('rewrites', []))}"
            progress.write(f"seed {seed:4d} {r['outcome']:10s} {r['seconds']:5.1f}s {tail}")
            bar.update(1)
            bad = sum(x["outcome"] in ("INEXACT", "DEADLOCK", "CRASH") for x in results)
            bar.set_postfix_str(f"{sum(x['outcome'] == 'exact' for x in results)} exact, {bad} failures")
            if args.json:
                Path(args.json).write_text(json.dumps({"summary": summarize(results), "results": results}, indent=1))
    s = summarize(results)
    print(f"\n{s['nets']} nets: {s['exact']} exact, {s['degenerate']} degenerate (exact, uninformative), "
          f"{s['refused']} refused by name, {s['INEXACT']} INEXACT, {s['DEADLOCK']} DEADLOCK, {s['CRASH']} CRASH; "
          f"acceptance rate {s['acceptance_rate']:.1%}")
    for f in s["failures"]:
        print(f"  FAILURE seed {f['seed']}: {f['outcome']} {f.get('message', '')} {f.get('first_divergent_layer') or ''}")
    return 1 if s["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
