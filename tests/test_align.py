"""Pairs that don't line up: generated from a sample photo by shifting, cropping, scaling ×0.5 and
rotating 1°, with the demo look on the AFTER; and an unrelated pair."""

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import NNFILTER, colour_field, invoke
from PIL import Image

from nnfilter import align

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
SIDE = 320  # small, so that each estimate is quick


def photo() -> Image.Image:
    with Image.open(SAMPLES / "before.jpg") as image:
        return image.convert("RGB")


def graded(image: Image.Image) -> Image.Image:
    """A strong global look (an S-curve and a warm cast), as an editor's AFTER would have."""
    x = np.asarray(image, dtype=np.float64) / 255
    x = 0.5 - 0.5 * np.cos(np.pi * x)
    return Image.fromarray(np.rint(255 * np.clip(x * [1.08, 1.0, 0.88], 0, 1)).astype(np.uint8))


def rotation(degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[c, -s], [s, c]])


def pairs() -> dict[str, tuple[Image.Image, Image.Image, align.Similarity | None]]:
    """BEFORE, AFTER and the true transform (AFTER point -> BEFORE point) of each generated pair."""
    src = photo()
    before = src.crop((0, 0, SIDE, SIDE))
    # Pillow's rotate(1) about the centre c, then a crop of 8 px a side: q = R(1°)(p + 8 - c) + c.
    centre = SIDE / 2
    rotated = before.rotate(1.0, resample=Image.Resampling.BICUBIC).crop((8, 8, SIDE - 8, SIDE - 8))
    return {
        "shifted": (before, graded(src.crop((17, 9, SIDE + 17, SIDE + 9))), align.Similarity(1, 0, (17, 9))),
        "cropped": (
            before,
            graded(before.crop((21, 12, SIDE - 6, SIDE - 30))),
            align.Similarity(1, 0, (21, 12)),
        ),
        "scaled": (
            before,
            graded(before.resize((SIDE // 2,) * 2, Image.Resampling.BOX)),
            align.Similarity(2, 0),
        ),
        "rotated": (
            before,
            graded(rotated),
            align.Similarity(1, 1.0, tuple(rotation(1) @ ([8 - centre] * 2) + centre)),
        ),
        "unrelated": (
            before,
            graded(Image.open(SAMPLES / "test1.jpg").convert("RGB").resize((SIDE, SIDE))),
            None,
        ),
    }


PAIRS = pairs()


def corner_error(found: align.Similarity, truth: align.Similarity, size: tuple[int, int]) -> float:
    """The farthest apart, over AFTER's corners, that the two transforms put a corner in BEFORE (px)."""
    w, h = size
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], float)
    where = [corners @ t.matrix().T + np.asarray(t.shift) for t in (found, truth)]
    return float(np.abs(where[0] - where[1]).max())


def lum(image: Image.Image) -> np.ndarray:
    return align.luminance(np.asarray(image))


@pytest.mark.parametrize("name", ["shifted", "cropped", "scaled", "rotated"])
def test_estimate_finds_the_transform(name):
    before, after, truth = PAIRS[name]
    found = align.estimate(lum(before), lum(after))
    error = corner_error(found.transform, truth, after.size)
    assert error <= 1.0 and found.match >= 0.8, (
        f"{name}: {found.transform} (error {error:.2f} px), match {found.match:.2f}"
    )


def test_unrelated_photos_do_not_match():
    before, after, _ = PAIRS["unrelated"]
    found = align.estimate(lum(before), lum(after))
    assert found.match < align.MIN_MATCH, f"{found.transform}, match {found.match:.2f}"


def test_match_of_a_pair_as_it_is():
    before, after, _ = PAIRS["shifted"]
    assert align.match(lum(before), lum(after), align.Similarity()) < align.MIN_MATCH
    assert align.match(lum(before), lum(graded(before)), align.Similarity()) > 0.9


def test_warp_by_the_identity_is_the_image():
    image = np.asarray(photo().crop((0, 0, 40, 30)))
    warped, inside = align.warp(image, align.Similarity(), (30, 40))
    assert inside.all() and np.array_equal(np.rint(warped).astype(np.uint8), image)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Each generated pair as PNG files: name -> (before, after)."""
    tmp_path = tmp_path_factory.mktemp("pairs")
    paths = {}
    for name, (before, after, _) in PAIRS.items():
        paths[name] = (tmp_path / f"{name}-before.png", tmp_path / f"{name}-after.png")
        before.save(paths[name][0])
        after.save(paths[name][1])
    return paths


def train(tmp_path, before, after, *options):
    return invoke("train", before, after, "-o", tmp_path / "look.npz", "--epochs", 2, *options)


def test_train_align_reports_the_transform_and_trains(files, tmp_path):
    result, info = train(tmp_path, *files["rotated"], "--align")
    assert result.exit_code == 0, info
    line = next(line for line in result.stderr.splitlines() if line.startswith("aligned "))
    found = re.search(r"rotation ([-+][0-9.]+)°; match ([0-9.]+) over", line)
    assert found and abs(float(found[1]) - 1) <= 0.15 and float(found[2]) >= 0.8, info


def test_train_align_refuses_an_unrelated_pair(files, tmp_path):
    done = subprocess.run(
        [NNFILTER, "train", *files["unrelated"], "-o", tmp_path / "look.npz", "--epochs", "2", "--align"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "could not be aligned" in done.stderr, done.stderr
    assert not (tmp_path / "look.npz").exists()


def test_without_align_a_shifted_pair_gets_a_hint(files, tmp_path):
    result, info = train(tmp_path, *files["shifted"])
    assert result.exit_code == 0, info
    hints = [line for line in result.stderr.splitlines() if "use --align" in line]
    assert len(hints) == 1 and hints[0].startswith("warning:") and "do not line up" in hints[0], info
    result, info = train(tmp_path, *files["shifted"], "--align", "--force")
    assert result.exit_code == 0 and "do not line up" not in result.stderr, info


def test_without_align_a_cropped_pair_is_refused_with_the_hint(files, tmp_path):
    result, info = train(tmp_path, *files["cropped"])
    assert result.exit_code == 1 and "use --align" in result.stderr, info


def test_a_smaller_after_of_the_same_shape_is_resized(files, tmp_path):
    result, info = train(tmp_path, *files["scaled"])
    assert result.exit_code == 0, info
    assert f"is {SIDE}x{SIDE}: resized to {SIDE // 2}x{SIDE // 2} (box filter)" in result.stderr, info
    assert "do not line up" not in result.stderr, info


@pytest.mark.parametrize("size", [(1, 1), (1, 50), (50, 1), (15, 40), (20, 5000)])
def test_train_align_refuses_images_too_small_to_align(tmp_path, size):
    width, height = size
    before = Image.fromarray(colour_field(width, height, seed=1))
    before.save(tmp_path / "before.png")
    before.save(tmp_path / "after.png")
    result, info = train(tmp_path, tmp_path / "before.png", tmp_path / "after.png", "--align")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), info
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output, info
    assert f"before.png is {width}x{height}: too small to align" in result.stderr, info
    assert not (tmp_path / "look.npz").exists()
