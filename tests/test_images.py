"""fpga_flow.data.images: photos fit any input shape (any channel count), and pixels map onto the input grid."""
import numpy as np
import pytest

from fpga_flow.data import images
from fpga_flow.errors import FlowError


@pytest.mark.parametrize("c", [1, 2, 3, 4, 5, 8])
def test_photos_fit_any_channel_count(c):
    x = images.load("photos", 3, (12, 20, c))
    assert x.shape == (3, 12, 20, c) and x.dtype == np.uint8
    assert len(np.unique(x)) > 50  # real photos, not a constant


def test_channels_beyond_three_repeat_rgb_and_grey_photos_fill_every_channel():
    rgb = images.photos(1, (16, 16, 3))  # astronaut: a colour photo
    four = images.photos(1, (16, 16, 4))
    assert np.array_equal(four[..., :3], rgb) and np.array_equal(four[..., 3], rgb[..., 0])  # R, G, B, R
    two = images.photos(1, (16, 16, 2))
    assert np.array_equal(two, rgb[..., :2])
    grey = images.photos(images.PHOTOS.index("camera") + 1, (16, 16, 5))[-1]  # a greyscale photo
    assert all(np.array_equal(grey[..., k], grey[..., 0]) for k in range(5))


def test_grey_alpha_and_single_channel_arrays_fit():
    rng = np.random.default_rng(0)
    la = rng.integers(0, 256, size=(30, 40, 2), dtype=np.uint8)  # grey + alpha (e.g. an LA PNG)
    g1 = la[..., :1]
    for img in (la, g1):
        for c in (1, 3, 4):
            out = images._fit(img, (8, 8, c))
            assert out.shape == (8, 8, c) and out.dtype == np.uint8
    assert np.array_equal(images._fit(la, (8, 8, 1)), images._fit(la[..., 0], (8, 8, 1)))  # alpha dropped


def test_too_many_photos_is_one_line_error():
    with pytest.raises(FlowError, match="--images"):
        images.photos(len(images.PHOTOS) + 1, (8, 8, 3))


def test_pixels_map_onto_the_8bit_input_grid():
    x = images.to_model_input(np.array([0, 128, 255], np.uint8))
    assert x.dtype == np.float32 and x.tolist() == [-1.0, 0.0, 1 - 2 ** -7]
    f = np.array([0.25], np.float32)
    assert images.to_model_input(f).tolist() == [0.25]  # float model inputs pass through
