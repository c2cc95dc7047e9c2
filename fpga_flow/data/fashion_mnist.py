"""Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60,000 train / 10,000 test 28x28 grey images, 10 classes.

Read from the four IDX files that the Debian package ``dataset-fashion-mnist`` installs under
/usr/share/datasets/fashion-mnist/ (``*-ubyte.gz``; plain ``*-ubyte`` files are accepted too), or
from any folder given as ``data_dir``. Nothing is ever downloaded. Shapes, counts and the label
range are checked; a missing or malformed file is a one-line FlowError naming the fix.

A real sample of the test set (the first 1,000 images with labels, uint8) ships with the package
(``fashion_mnist_test_sample.npz``, provenance in ``fashion_mnist_test_sample.json``) so that the
demo and the tests run without the Debian package.

Model input used by the flow: the 28x28 image zero-padded by 2 pixels on every side to 32x32x1
(pixel 0 is the background), then ``p/128 - 1`` (data.images.to_model_input), which lies exactly
on the default quantized_bits(8,0) input grid.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import FlowError

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000)}
SAMPLE = Path(__file__).with_name("fashion_mnist_test_sample.npz")
SIDE = 28
PAD = 2  # 28 -> 32, the smallest input every zoo model accepts
MISSING_HINT = ("install it with 'apt-get install dataset-fashion-mnist' (files in /usr/share/datasets/fashion-mnist/) "
                "or pass --data-dir pointing at the four *-ubyte(.gz) IDX files")


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        p = folder / name
        if p.is_file():
            return p
    raise FlowError(f"Fashion-MNIST file {stem}(.gz) not found in {folder}; {MISSING_HINT}")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip or plain) as a uint8 array; magic number, rank and size checked."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise FlowError(f"cannot read {path}: {e}; reinstall dataset-fashion-mnist or fix --data-dir") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise FlowError(f"{path} is not an unsigned-byte IDX file (bad magic number); reinstall dataset-fashion-mnist")
    ndim = raw[3]
    head = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != head + int(np.prod(dims)):
        raise FlowError(f"{path} is truncated or padded ({len(raw) - head} data bytes for shape {list(dims)}); "
                        "reinstall dataset-fashion-mnist")
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(dims)


def load(split: str, data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 28, 28), labels uint8 (n,)) of ``split`` ('train' or 'test')."""
    if split not in FILES:
        raise FlowError(f"unknown Fashion-MNIST split {split!r}; use 'train' or 'test'")
    folder = Path(data_dir) if data_dir else DEFAULT_DIR
    if not folder.is_dir():
        raise FlowError(f"Fashion-MNIST folder {folder} not found; {MISSING_HINT}")
    img_stem, lab_stem, n = FILES[split]
    images = read_idx(_find(folder, img_stem))
    labels = read_idx(_find(folder, lab_stem))
    if images.shape != (n, SIDE, SIDE):
        raise FlowError(f"{split} images have shape {list(images.shape)}, expected [{n}, 28, 28]; "
                        "the files are not Fashion-MNIST's")
    if labels.shape != (n,):
        raise FlowError(f"{split} labels have shape {list(labels.shape)}, expected [{n}]; the files are not Fashion-MNIST's")
    if labels.max() > 9:
        raise FlowError(f"{split} labels range up to {int(labels.max())}, expected 0..9; the files are not Fashion-MNIST's")
    return images, labels


def available(data_dir: str | Path | None = None) -> bool:
    folder = Path(data_dir) if data_dir else DEFAULT_DIR
    return all(any((folder / (s + e)).is_file() for e in (".gz", "")) for f in FILES.values() for s in f[:2])


def load_sample() -> tuple[np.ndarray, np.ndarray]:
    """The shipped 1,000-image test sample (images uint8 (n, 28, 28), labels uint8 (n,))."""
    with np.load(SAMPLE, allow_pickle=False) as z:
        return z["images"], z["labels"]


def to_model(images: np.ndarray, size: int = SIDE + 2 * PAD) -> np.ndarray:
    """uint8 (n, 28, 28) -> uint8 (n, size, size, 1), zero-padded around the centre."""
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise FlowError(f"Fashion-MNIST images must be (n, 28, 28), got {list(images.shape)}")
    lo = (size - SIDE) // 2
    if lo < 0:
        raise FlowError(f"model input {size}x{size} is smaller than Fashion-MNIST's 28x28")
    out = np.zeros((len(images), size, size, 1), np.uint8)
    out[:, lo:lo + SIDE, lo:lo + SIDE, 0] = images
    return out


def write_sample(data_dir: str | Path | None = None, n: int = 1000, path: Path = SAMPLE) -> dict:
    """Write the shipped sample (the first ``n`` test images) and its provenance record."""
    folder = Path(data_dir) if data_dir else DEFAULT_DIR
    x, y = load("test", folder)
    np.savez_compressed(path, images=x[:n], labels=y[:n])
    prov = {
        "dataset": "Fashion-MNIST (Xiao et al. 2017, MIT licence)",
        "source": "Debian package dataset-fashion-mnist 0.0~git20200523.55506a9-1",
        "files": {name: hashlib.sha256(_find(folder, name).read_bytes()).hexdigest()
                  for name in FILES["test"][:2]},
        "selection": f"test split, images 0..{n - 1} in file order, uint8, unmodified",
        "class_counts": np.bincount(y[:n], minlength=10).tolist(),
        "command": "python -c 'from fpga_flow.data import fashion_mnist as f; f.write_sample()'",
    }
    path.with_suffix(".json").write_text(json.dumps(prov, indent=1) + "\n")
    return prov
