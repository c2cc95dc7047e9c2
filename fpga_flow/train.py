"""Step 'train': float baseline, then quantization-aware training (QAT) per bit width, on Fashion-MNIST.

``fpga-flow train CONFIG.yml`` reads the config's ``model`` and ``quantization`` sections (the same
keys as a build) and its ``train`` section:

* float stage: the family's float training model (SqueezeNet: Conv+ReLU, no batch-norm, as in the
  paper; ShuffleNet: Conv+BN+ReLU) trained from He-normal weights with Adam and a cosine learning
  rate, on the 60,000 training images with augmentation (random shift by up to ``augment.shift``
  pixels with zero fill, random horizontal flip). Saved as ``<out>/<tag>_float.h5``.
* QAT stage, one per entry of ``variants`` (e.g. w8/w6/w4, each a set of quantization overrides):
  the deployed QKeras model starts from the float weights (ShuffleNet: batch-norm folded first, so
  QAT trains the folded integers that the FPGA stores) and is fine-tuned with straight-through
  gradients through every quantizer and the exact pooling layers. Saved as ``<out>/<tag>_<variant>.h5``
  (a QKeras model that ``weights.source`` of a build config loads).
  A variant with ``rescale: true`` first applies the family's ``rescale_for_quantization``: exact
  power-of-two rescaling of the float layers so the weights fill the low-bit grid, and per-layer
  integer bits of weights, biases and activations calibrated on the first 2,000 training images
  (SqueezeNet: ``models.squeezenet``; ShuffleNet, on the batch-norm-folded weights:
  ``models.shufflenet``). The resulting ``layer_int`` / ``layer_weight_int`` / ``score_int`` are
  recorded in the provenance, and builds of that variant (``fpga-flow accuracy``) read them there.
  SqueezeNet's rescale multiplies the class scores by a power of two; QAT's losses divide it out
  (``loss_score_divisor``). ``qat_temperature`` (default 1) divides the scores further in the losses.
* provenance ``<out>/<tag>.json``: command, seed, epochs, seconds per epoch and the machine they
  were measured on (CPU count, GPUs, OS), test top-1 of the float model and of each QKeras model on
  the full 10,000-image test set, file hashes.

Determinism: one seed sets Python/NumPy/TF seeds and TF op determinism; the data order and
augmentation come from that seed. Checkpoints (weights after every epoch) go to
``checkpoint_dir``; ``--resume`` continues a stage from its last checkpoint (the optimizer restarts).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .config import FlowConfig, Quantization, tag_of, variant_quant
from .data import fashion_mnist as fm
from .data.images import to_model_input
from .errors import FlowError
from .models import build, family
from .models.weights_init import copy_weights
from .project import load_qmodel

# knowledge distillation from the float model during QAT (variant key distill: true)
DISTILL_ALPHA, DISTILL_T = 0.5, 2.0


# ---------------------------------------------------------------------------------------------- data


def _dataset(x_u8, y, *, batch, seed, augment, shuffle):
    """``augment``: config.Augment (train.augment)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x_u8, y.astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(len(x_u8), seed=seed, reshuffle_each_iteration=True)
    size = x_u8.shape[1]
    shift, flip = augment.shift, augment.flip

    def prep(x, label):
        x = tf.cast(x, tf.float32)
        if shift:
            x = tf.pad(x, [[shift, shift], [shift, shift], [0, 0]])
            x = tf.image.random_crop(x, (size, size, x.shape[-1]))
        if flip:
            x = tf.image.random_flip_left_right(x)
        return x / 128.0 - 1.0, label

    def plain(x, label):
        return tf.cast(x, tf.float32) / 128.0 - 1.0, label

    ds = ds.map(prep if shuffle and (shift or flip) else plain, num_parallel_calls=1, deterministic=True)
    return ds.batch(batch).prefetch(2)


def load_data(cfg: FlowConfig, input_shape):
    d = cfg.train.data_dir
    (xtr, ytr), (xte, yte) = fm.load("train", d), fm.load("test", d)
    if cfg.train.subset:
        xtr, ytr = xtr[:cfg.train.subset], ytr[:cfg.train.subset]
    h, w, c = input_shape
    if h != w or c != 1:
        raise FlowError(f"Fashion-MNIST training needs a square 1-channel input, got {list(input_shape)}; "
                        "set model.input_shape: [32, 32, 1]")
    return fm.to_model(xtr, h), ytr, fm.to_model(xte, h), yte


def top1(model, x_u8, y, batch=500) -> float:
    pred = model.predict(to_model_input(x_u8), batch_size=batch, verbose=0)
    return float(np.mean(np.argmax(pred.reshape(len(y), -1), 1) == y))


# ------------------------------------------------------------------------------------------ training


def _epoch_clock():
    """A Keras callback that records the wall-clock seconds of every epoch in ``.seconds``."""
    import tensorflow as tf

    class EpochClock(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(round(time.perf_counter() - self.t0, 1))

    return EpochClock()


def _distill_loss(score_scale: float = 1.0):
    """Loss on labels packed as [label, teacher scores...]: (1 - a) * cross-entropy(label) +
    a * T^2 * KL(softmax(teacher / T) || softmax(student / T)) (Hinton et al. 2015), on the scores
    divided by ``score_scale`` (the rescale's power of two times ``qat_temperature``; see _ce_loss)."""
    import tensorflow as tf

    def loss(packed, scores):
        y = tf.cast(packed[:, 0], tf.int32)
        t = packed[:, 1:] / score_scale
        scores = scores / score_scale
        ce = tf.keras.losses.sparse_categorical_crossentropy(y, scores, from_logits=True)
        p_t = tf.nn.softmax(t / DISTILL_T)
        kl = tf.reduce_sum(p_t * (tf.nn.log_softmax(t / DISTILL_T) - tf.nn.log_softmax(scores / DISTILL_T)), -1)
        return (1 - DISTILL_ALPHA) * ce + DISTILL_ALPHA * DISTILL_T ** 2 * kl

    def acc(packed, scores):
        return tf.cast(tf.equal(tf.cast(packed[:, 0], tf.int64), tf.argmax(scores, -1)), tf.float32)

    return loss, acc


def _ce_loss(score_scale: float = 1.0):
    """Cross-entropy on the class scores divided by ``score_scale``. SqueezeNet's rescale multiplies
    the scores by a power of two (the prediction is unchanged); unscaled, softmax would see logits
    2**k times the float model's (temperature 2**-k), and QAT would optimise a different objective
    from the float training's. A variant's ``qat_temperature`` T multiplies ``score_scale`` (softmax
    of scores / T: T > 1 gives softer targets)."""
    import tensorflow as tf

    def loss(y, scores):
        return tf.keras.losses.sparse_categorical_crossentropy(y, scores / score_scale, from_logits=True)

    return loss


def _with_teacher(ds, teacher):
    """(x, label) batches -> (x, [label, teacher scores]) for _distill_loss."""
    import tensorflow as tf

    def pack(x, y):
        t = tf.reshape(teacher(x, training=False), [tf.shape(x)[0], -1])
        return x, tf.concat([tf.cast(y[:, None], tf.float32), t], axis=1)

    return ds.map(pack, num_parallel_calls=1, deterministic=True)


def _fit(model, ds, *, epochs, lr, steps, ckpt: Path, resume: bool, log, distill: bool, score_scale: float):
    import tensorflow as tf

    start = 0
    state = ckpt.with_suffix(".json")
    seconds = []
    if resume and ckpt.is_file() and state.is_file():
        st = json.loads(state.read_text())
        model.load_weights(ckpt)
        start, seconds = int(st["epoch"]), list(st["epoch_seconds"])
        log(f"      resumed from {ckpt} after epoch {start}")
    sched = tf.keras.optimizers.schedules.CosineDecay(lr, max(1, epochs * steps))
    opt = tf.keras.optimizers.Adam(sched)
    if start:
        opt.iterations.assign(start * steps)
    if distill:
        loss, acc = _distill_loss(score_scale)
        model.compile(optimizer=opt, loss=loss, metrics=[acc])
    else:
        model.compile(optimizer=opt, loss=_ce_loss(score_scale), metrics=["accuracy"])
    clock = _epoch_clock()
    ckpt.parent.mkdir(parents=True, exist_ok=True)

    class Save(tf.keras.callbacks.Callback):
        def on_epoch_end(cb, epoch, logs=None):
            model.save_weights(ckpt)
            state.write_text(json.dumps({"epoch": epoch + 1, "epoch_seconds": seconds + clock.seconds}))

    if start < epochs:
        model.fit(ds, epochs=epochs, initial_epoch=start, callbacks=[clock, Save()],
                  verbose=1 if sys.stderr.isatty() else 2)
    return seconds + clock.seconds


def _seed(seed: int):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def machine(**extra) -> dict:
    """Where a timed run ran (recorded beside its times; no host name): CPU count, OS, architecture."""
    return {"cpus": os.cpu_count(), "system": platform.system(), "arch": platform.machine(), **extra}


def train(cfg: FlowConfig, *, stage: str = "all", variants: list[str] | None = None, resume: bool = False,
          command: str = "", log=print) -> dict:
    """Run the float and/or QAT stages of ``cfg`` (a loaded flow config with a train section)."""
    import tensorflow as tf

    t = cfg.train
    name = cfg.model.name
    margs = cfg.model.model_dump(mode="json", exclude={"name"})
    tag = tag_of(cfg)
    out = Path(t.out)
    ck = Path(t.checkpoint_dir)
    prov_path = out / f"{tag}.json"
    prov = json.loads(prov_path.read_text()) if prov_path.is_file() else {}
    variants = list(variants or t.variants)
    unknown = [v for v in variants if v not in t.variants]
    if unknown:
        raise FlowError(f"unknown variant(s) {unknown}; the config defines {list(t.variants)}")

    base_q = cfg.quantization
    shape = list(cfg.model.input_shape)
    xtr, ytr, xte, yte = load_data(cfg, shape)
    prov.update({"model": name, "model_args": margs, "tag": tag, "dataset": "Fashion-MNIST (60k train / 10k test)",
                 "input": f"28x28 zero-padded to {'x'.join(map(str, shape))}, p/128 - 1", "seed": t.seed,
                 "batch_size": t.batch_size, "augment": t.augment.model_dump(), "train_images": int(len(xtr))})
    host = machine(gpus=len(tf.config.list_physical_devices("GPU")))
    steps = int(np.ceil(len(xtr) / t.batch_size))
    out.mkdir(parents=True, exist_ok=True)
    fpath = out / f"{tag}_float.h5"

    if stage in ("float", "all"):
        _seed(t.seed)
        fmodel = build(name, cfg.model, base_q, quantized=False)
        ds = _dataset(xtr, ytr, batch=t.batch_size, seed=t.seed, augment=t.augment, shuffle=True)
        log(f"[float] {name} ({fmodel.count_params():,} params), {t.epochs} epochs x {steps} steps")
        secs = _fit(fmodel, ds, epochs=t.epochs, lr=t.lr, steps=steps, ckpt=ck / f"{tag}_float.h5",
                    resume=resume, log=log, distill=False, score_scale=1.0)
        fmodel.save(fpath, include_optimizer=False)
        acc = top1(fmodel, xte, yte)
        prov["float"] = {"file": fpath.name, "sha256": _sha(fpath), "epochs": t.epochs, "lr": t.lr,
                         "epoch_seconds": secs, "test_top1": acc, "n_test": int(len(yte)), "command": command,
                         "params": int(fmodel.count_params()), "machine": host}
        log(f"[float] test top-1 {acc:.4f}; {np.mean(secs) if secs else 0:.0f} s/epoch -> {fpath}")
        prov_path.write_text(json.dumps(prov, indent=1) + "\n")

    if stage in ("qat", "all"):
        if not fpath.is_file():
            raise FlowError(f"{fpath} not found; run the float stage first ('fpga-flow train CONFIG --stage float')")
        trained_f = load_qmodel(fpath)
        float_sha = _sha(fpath)  # which float model each variant was fine-tuned from
        fam = family(name)
        prov.setdefault("qat", {})
        for v in variants:
            _seed(t.seed)
            tv = t.variants[v]
            q = variant_quant(cfg, v, calibrated=False)
            fresh_f = build(name, cfg.model, q, quantized=False)
            copy_weights(trained_f, fresh_f)
            rescale, score_log2 = None, 0
            if tv.rescale:
                if not hasattr(fam, "rescale_for_quantization"):
                    raise FlowError(f"train.variants.{v}.rescale is not supported for {name}; remove it")
                rescale = fam.rescale_for_quantization(fresh_f, q, to_model_input(xtr[:2000]))
                score_log2 = rescale.pop("score_log2", 0)  # the loss undoes it (_ce_loss)
                q = Quantization(**{**q.to_dict(), **rescale})
                log(f"[qat {v}] power-of-two rescaled; calibrated integer bits per layer: "
                    f"{min(rescale['layer_int'].values())}..{max(rescale['layer_int'].values())}")
            qmodel = build(name, cfg.model, q, quantized=True)
            if hasattr(fam, "fold_batchnorm"):
                fam.fold_batchnorm(fresh_f, qmodel)  # QAT trains the folded (deployed) weights
            else:
                copy_weights(fresh_f, qmodel)
            before = top1(qmodel, xte, yte)
            epochs = tv.qat_epochs if tv.qat_epochs is not None else t.qat_epochs
            lr = tv.qat_lr if tv.qat_lr is not None else t.qat_lr
            ds = _dataset(xtr, ytr, batch=t.batch_size, seed=t.seed + 1, augment=t.augment, shuffle=True)
            distill = tv.distill
            temperature = float(tv.qat_temperature)
            if distill:  # teacher: the float model (rescaled with the student: same score scale)
                ds = _with_teacher(ds, fresh_f)
            log(f"[qat {v}] {q.weight_bits}-bit weights / {q.act_bits}-bit activations; "
                f"post-training-quantized top-1 {before:.4f}; {epochs} epochs" + (", distilled from float" if distill else "")
                + (f", softmax temperature {temperature:g}" if temperature != 1 else ""))
            secs = _fit(qmodel, ds, epochs=epochs, lr=lr, steps=steps, ckpt=ck / f"{tag}_{v}.h5",
                        resume=resume, log=log, distill=distill,
                        score_scale=2.0 ** score_log2 * temperature)
            path = out / f"{tag}_{v}.h5"
            qmodel.save(path, include_optimizer=False)
            acc = top1(qmodel, xte, yte)
            prov["qat"][v] = {"file": path.name, "sha256": _sha(path), "quantization": q.to_dict(),
                              **({"rescale": rescale, "loss_score_divisor": 2 ** score_log2} if rescale else {}),
                              **({"distill": {"teacher": "float model", "alpha": DISTILL_ALPHA, "temperature": DISTILL_T}}
                                 if distill else {}),
                              "qat_temperature": temperature, "float_sha256": float_sha, "epochs": epochs, "lr": lr, "epoch_seconds": secs,
                              "ptq_test_top1": before, "test_top1": acc, "n_test": int(len(yte)), "command": command,
                              "params": int(qmodel.count_params()), "machine": host}
            log(f"[qat {v}] test top-1 {acc:.4f} (float {prov.get('float', {}).get('test_top1', float('nan')):.4f}); "
                f"{np.mean(secs) if secs else 0:.0f} s/epoch -> {path}")
            prov_path.write_text(json.dumps(prov, indent=1) + "\n")
            tf.keras.backend.clear_session()
    return prov
