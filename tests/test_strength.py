"""--strength: 0 is the original, 1 the look, in between (and up to 2) the sRGB blend, in apply and export."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import NNFILTER, invoke
from PIL import Image

from nnfilter.look import Look
from nnfilter.lut import grid_points, read_cube
from nnfilter.model import predict
from nnfilter.strength import blend, check_strength

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


@pytest.fixture
def photo(tmp_path) -> Path:
    """A real photo (the sample cat, 451×300) as a PNG, so outputs compare without JPEG noise."""
    path = tmp_path / "photo.png"
    with Image.open(SAMPLES / "test2.jpg") as image:
        image.save(path)
    return path


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def expected(model_file: Path, photo: Path, strength: float) -> np.ndarray:
    """The blend worked out here in float64 from the network's own output: the oracle."""
    rgb = pixels(photo).reshape(-1, 3) / 255.0
    x = np.column_stack([rgb, np.ones(len(rgb))]).astype(np.float32)
    looked = predict(Look.load(model_file).model, x)[:, :3].astype(np.float64)
    out = np.clip((1 - strength) * rgb + strength * looked, 0, 1)
    return np.rint(out * 255).reshape(pixels(photo).shape)


def apply(model_file, photo, out, *options):
    result, info = invoke("apply", photo, "-m", model_file, "-o", out, *options)
    assert result.exit_code == 0, info
    return pixels(out)


def test_strength_zero_is_the_photo_and_one_the_look(model_file, photo, tmp_path):
    assert np.array_equal(apply(model_file, photo, tmp_path / "s0.png", "--strength", 0), pixels(photo))
    plain = apply(model_file, photo, tmp_path / "plain.png")
    assert np.array_equal(apply(model_file, photo, tmp_path / "s1.png", "--strength", 1), plain)
    assert not np.array_equal(plain, pixels(photo))


@pytest.mark.parametrize("strength", [0.5, 2])
def test_strength_is_the_exact_blend(model_file, photo, tmp_path, strength):
    out = apply(model_file, photo, tmp_path / "out.png", "--strength", strength)
    diff = np.abs(out - expected(model_file, photo, strength))
    # float32 against float64: a value on a rounding boundary may land a level apart, nothing more.
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999, f"max {diff.max()}, {(diff > 0).mean():.2%} off"


def test_installed_command_gives_the_same_blend(model_file, photo, tmp_path):
    ours = apply(model_file, photo, tmp_path / "runner.png", "--strength", 0.3)
    done = subprocess.run(
        [NNFILTER, "apply", photo, "-m", model_file, "-o", tmp_path / "cmd.png", "--strength", "0.3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert np.array_equal(pixels(tmp_path / "cmd.png"), ours)


def test_table_and_exact_paths_agree_at_a_strength(model_file, photo):
    look = Look.load(model_file).with_strength(0.7)
    with Image.open(photo) as image:
        fast = np.asarray(look.apply(image.convert("RGB")))
        exact = np.asarray(look.apply(image.convert("RGB"), method="exact"))
    # The two evaluate the network in different chunkings: a value on a rounding boundary may
    # land a level apart, nothing more (floats computed in different orders are never compared exactly).
    diff = np.abs(fast.astype(np.int64) - exact)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999, f"max {diff.max()}, {(diff > 0).mean():.2%} off"


def test_export_bakes_the_strength_into_the_cube(model_file, photo, tmp_path):
    for strength in (1, 0.5):
        result, info = invoke(
            "export", model_file, "-o", tmp_path / f"{strength}.cube", "--size", 9, "--strength", strength
        )
        assert result.exit_code == 0, info
    full, half = read_cube(tmp_path / "1.cube"), read_cube(tmp_path / "0.5.cube")
    identity = grid_points(9).reshape(full.shape)
    np.testing.assert_allclose(half, 0.5 * identity + 0.5 * full, rtol=0, atol=1.5e-6)  # 6 decimals each
    # and the baked LUT applies like the model at that strength
    result, info = invoke("export", model_file, "-o", tmp_path / "look.cube", "--size", 65, "--strength", 0.5)
    assert result.exit_code == 0, info
    by_lut = apply(model_file, photo, tmp_path / "lut.png", "--strength", 0.5)
    result, info = invoke("apply", photo, "--lut", tmp_path / "look.cube", "-o", tmp_path / "cube.png")
    assert result.exit_code == 0, info
    assert np.abs(pixels(tmp_path / "cube.png") - by_lut).mean() <= 1


def test_strength_of_a_cube_lut(model_file, photo, tmp_path):
    result, info = invoke("export", model_file, "-o", tmp_path / "look.cube", "--size", 17)
    assert result.exit_code == 0, info
    cube = tmp_path / "look.cube"
    result, info = invoke("apply", photo, "--lut", cube, "-o", tmp_path / "s0.png", "--strength", 0)
    assert result.exit_code == 0, info
    assert np.array_equal(pixels(tmp_path / "s0.png"), pixels(photo))
    for name, strength in ("s1.png", 1), ("s05.png", 0.5):
        result, info = invoke("apply", photo, "--lut", cube, "-o", tmp_path / name, "--strength", strength)
        assert result.exit_code == 0, info
    halfway = (pixels(photo) + pixels(tmp_path / "s1.png")) / 2
    assert np.abs(pixels(tmp_path / "s05.png") - halfway).max() <= 1


@pytest.mark.parametrize("command", ["apply", "export"])
@pytest.mark.parametrize("value", ["-0.1", "2.5", "nan", "half"])
def test_bad_strength_is_a_one_line_usage_error(model_file, tmp_path, command, value):
    target = ["x.png", "-m", model_file] if command == "apply" else [model_file, "-o", tmp_path / "x.cube"]
    result, info = invoke(command, *target, "--strength", value)
    assert result.exit_code == 2, info
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "'--strength'" in errors[0] and "0<=x<=2" in errors[0], info
    assert not (tmp_path / "x.cube").exists()


def test_blend_maths():
    x, y = np.array([0.2, 0.9], np.float32), np.array([0.6, 0.1], np.float32)
    assert blend(x, y, 0).tolist() == x.tolist() and blend(x, y, 1) is y
    np.testing.assert_allclose(blend(x, y, 2), [1.0, 0.0])  # 2y - x = (1.0, -0.7): clipped
    with pytest.raises(ValueError, match="strength must be from 0 to 2, got 3"):
        check_strength(3)
