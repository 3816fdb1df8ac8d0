"""The reference looks of benchmarks/looks.py, and the bundled sample photos."""

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_image_similar, colour_field
from PIL import Image

from benchmarks.looks import LOOKS

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
PHOTOS = ["before.jpg", "after.jpg", "test1.jpg", "test2.jpg", "test3.jpg", "test4.jpg"]


@pytest.mark.parametrize("name", sorted(LOOKS))
def test_look_is_deterministic_keeps_shape_and_leaves_input(name):
    rgb = colour_field(48, 32, seed=3)
    kept = rgb.copy()
    first, second = LOOKS[name](rgb), LOOKS[name](rgb)
    assert first.shape == rgb.shape and first.dtype == np.uint8
    assert np.array_equal(first, second)
    assert np.array_equal(rgb, kept), f"{name} changed its input"


@pytest.mark.parametrize("name", sorted(LOOKS))
def test_look_works_per_pixel_on_any_leading_shape(name):
    rgb = colour_field(16, 8, seed=4)
    flat = LOOKS[name](rgb.reshape(-1, 3))
    # The looks' matrix products run other BLAS kernels for other shapes, which may round a value at a
    # tie between two levels the other way: at most 1 level, on a few pixels.
    assert_image_similar(flat.reshape(rgb.shape), LOOKS[name](rgb), 1)
    assert_image_similar(flat.reshape(rgb.shape), LOOKS[name](rgb), 0, share=0.001)


@pytest.mark.parametrize("name", sorted(LOOKS))
def test_look_is_not_the_identity(name):
    rgb = colour_field(48, 32, seed=5)
    diff = np.abs(LOOKS[name](rgb).astype(int) - rgb)
    assert diff.mean() > 3 and diff.max() >= 10, f"{name}: mean {diff.mean():.2f}, max {diff.max()} levels"


def test_sample_photos_exist_are_small_rgb_and_the_pair_matches():
    sizes = {}
    for name in PHOTOS:
        with Image.open(SAMPLES / name) as image:
            assert image.format == "JPEG" and image.mode == "RGB", name
            assert image.width * image.height <= 1_000_000, f"{name} is {image.size}"
            sizes[name] = image.size
    assert sizes["before.jpg"] == sizes["after.jpg"]
