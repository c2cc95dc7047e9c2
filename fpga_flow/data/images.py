"""Images as uint8 arrays (N, H, W, C) for verification and calibration, and the map from pixels
to model inputs.

Sources: real photos shipped inside scikit-image (no downloads), a folder of PNG/JPEG files, a
.npy array, seeded random pixels, or Fashion-MNIST (fpga_flow.data.fashion_mnist). Photos fit any
channel count C: C = 1 is the luminance, C >= 2 the RGB channels taken in turn (R, G, B, R, ...).
Pixels p in 0..255 become x = p/128 - 1, which lies exactly on the grid of the default 8-bit input
quantizer quantized_bits(8,0) ([-1, 1 - 2**-7]).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FlowError
from . import fashion_mnist as fm

# Photographs that ship inside scikit-image's wheel (colour first, then greyscale).
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
          "camera", "coins", "moon", "brick", "grass", "gravel", "clock")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def _fit(img: np.ndarray, shape) -> np.ndarray:
    """Centre-crop to the target aspect ratio, resize, and convert channels; returns uint8 HxWxC.

    C = 1: the luminance; C >= 2: the RGB channels in turn (a grey image's grey in every channel)."""
    from skimage.color import gray2rgb, rgb2gray, rgba2rgb
    from skimage.transform import resize

    h, w, c = (int(v) for v in shape)
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] in (1, 2):  # grey, grey + alpha
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = (rgba2rgb(img) * 255).astype(np.uint8)
    if c == 1 and img.ndim == 3:
        img = (rgb2gray(img) * 255).astype(np.uint8)
    if c > 1:
        if img.ndim == 2:
            img = gray2rgb(img)
        img = img[..., [k % 3 for k in range(c)]]
    ih, iw = img.shape[:2]
    target = w / h
    if iw / ih > target:
        nw = int(round(ih * target))
        x0 = (iw - nw) // 2
        img = img[:, x0:x0 + nw]
    else:
        nh = int(round(iw / target))
        y0 = (ih - nh) // 2
        img = img[y0:y0 + nh]
    out = resize(img, (h, w), order=1, anti_aliasing=True, preserve_range=True)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.reshape(h, w, c)


def photos(n: int, shape) -> np.ndarray:
    import skimage.data

    if n > len(PHOTOS):
        raise FlowError(f"--images {n}: only {len(PHOTOS)} photos ship with scikit-image; use --images {len(PHOTOS)} "
                        "or --source FOLDER")
    return np.stack([_fit(getattr(skimage.data, name)(), shape) for name in PHOTOS[:n]])


def random_images(n: int, shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def folder(path: Path, n: int, shape) -> np.ndarray:
    from skimage.io import imread

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FlowError(f"no PNG/JPEG images in {path}; put images there or use --source photos")
    out = []
    for p in files[:n]:
        try:
            out.append(_fit(imread(p), shape))
        except Exception as e:  # unreadable file: name it
            raise FlowError(f"cannot read image {p}: {e}; remove or replace it") from None
    return np.stack(out)


def npy(path: Path, n: int, shape) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:
        raise FlowError(f"cannot read {path} as a .npy array: {e}; save it with numpy.save") from None
    if a.ndim == len(shape):
        a = a[None]
    if tuple(a.shape[1:]) != tuple(shape):
        raise FlowError(f"{path} holds arrays of shape {list(a.shape[1:])}, the model needs {list(shape)}; resize them")
    a = a[:n]
    if a.dtype == np.uint8:
        return a
    return a.astype(np.float32)  # already model inputs (float); quantized by the input quantizer


def load(source: str, n: int, shape, seed: int = 0) -> np.ndarray:
    if n < 1:
        raise FlowError(f"--images {n} is invalid; use a positive number")
    if source == "photos":
        return photos(n, shape)
    if source == "random":
        return random_images(n, shape, seed)
    if source in ("fmnist-sample", "fmnist"):
        return fmnist(source, n, shape)[0]
    p = Path(source)
    if p.is_dir():
        return folder(p, n, shape)
    if p.suffix == ".npy" and p.is_file():
        return npy(p, n, shape)
    raise FlowError(f"--source {source!r}: not 'photos', 'random', 'fmnist-sample', 'fmnist', a folder of images, or an existing .npy file")


def load_labelled(source: str, n: int, shape, seed: int = 0):
    """(images, labels or None): labels for the Fashion-MNIST sources, None for the others."""
    if source in ("fmnist-sample", "fmnist"):
        return fmnist(source, n, shape)
    return load(source, n, shape, seed), None


def fmnist(source: str, n: int, shape, data_dir=None):
    """(uint8 images padded to ``shape``, labels) from the shipped Fashion-MNIST test sample
    ('fmnist-sample', 1,000 images) or the full test set of the Debian package ('fmnist')."""
    h, w, c = (int(v) for v in shape)
    if h != w or c != 1 or h < fm.SIDE:
        raise FlowError(f"--source {source}: Fashion-MNIST images are 28x28x1 (padded), the model takes "
                        f"{list(shape)}; use a model with input_shape [32, 32, 1]")
    x, y = fm.load_sample() if source == "fmnist-sample" else fm.load("test", data_dir)
    return fm.to_model(x[:n], h), y[:n]


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 model inputs (p/128 - 1); float arrays pass through unchanged."""
    if images.dtype == np.uint8:
        return (images.astype(np.float32) / 128.0 - 1.0).astype(np.float32)
    return images.astype(np.float32)
