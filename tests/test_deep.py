"""16-bit files (issue 17): read, filtered and written at full precision, with their metadata."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import colour_field, invoke
from PIL import Image, ImageCms, TiffImagePlugin

from nnfilter.data import pair_samples
from nnfilter.deep import FULL, DeepImage, apply_network, apply_table, network_on_pixels, to_8bit, to_16bit
from nnfilter.images import open_image
from nnfilter.images16 import save_deep
from nnfilter.look import Look
from nnfilter.lut import lut_filter
from nnfilter.model import LOGIT_EPS, init_mlp, predict

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def smooth16(width: int, height: int, seed: int) -> np.ndarray:
    """A uint16 RGB image of smooth waves, with every 16-bit level the waves pass through."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    channels = [
        0.5 + 0.5 * np.sin(2 * np.pi * (rng.uniform(1, 4) * x + rng.uniform(1, 4) * y) + rng.uniform(0, 6))
        for _ in range(3)
    ]
    return np.rint(np.stack(channels, axis=-1) * FULL).astype(np.uint16)


def identity_look() -> Look:
    """A look that leaves colours alone: the skip path alone, sigmoid(logit(x)) = x."""
    model = init_mlp([4], "sigmoid", np.random.default_rng(0))
    model.weights[-1][:] = 0
    model.biases[-1][:] = 0
    return Look(model, {"learned_alpha": False})


def write_tiff(path, pixels, **options):
    tifffile.imwrite(path, pixels, photometric="rgb", **options)
    return path


def ramp(first: int, step: int) -> np.ndarray:
    """4096 levels from ``first`` by ``step`` in a 64x64 RGB image (the channels in other orders)."""
    levels = (first + step * np.arange(4096)).astype(np.uint16)
    return np.stack([levels, levels[::-1], np.roll(levels, 1000)], axis=-1).reshape(64, 64, 3)


# --- precision ------------------------------------------------------------------------------------------


def test_a_4096_level_ramp_survives_an_identity_look(tmp_path):
    model_path = tmp_path / "identity.npz"
    identity_look().save(model_path)
    src = write_tiff(tmp_path / "ramp.tif", ramp(20000, 1), compression="zlib")
    result, info = invoke("apply", src, "-m", model_path, "-o", tmp_path / "out.tif")
    assert result.exit_code == 0, info
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.dtype == np.uint16
    assert np.abs(out.astype(int) - ramp(20000, 1)).max() <= 1
    assert len(np.unique(out[..., 0])) == 4096  # 8 bits would have left 16


def test_a_full_range_ramp_loses_levels_only_where_the_skip_path_clips():
    # The network's skip path takes logit(x) with x clipped to [1/1024, 1 - 1/1024]: the 64
    # darkest and brightest of 65536 levels are one value there (README, "16-bit files").
    pixels = ramp(0, 16).reshape(-1, 3)
    out = network_on_pixels(identity_look().model, pixels, keep_alpha=True)[:, :3]
    inside = (pixels >= FULL * LOGIT_EPS) & (pixels <= FULL * (1 - LOGIT_EPS))
    assert np.abs(out[inside].astype(int) - pixels[inside]).max() <= 1
    assert len(np.unique(out[inside[:, 0], 0])) == np.count_nonzero(inside[:, 0]) == 4096 - 8
    # 0, 16, 32 and 48 come out at 64's level, 65472 to 65520 at 65471: 7 levels lost of 4096.
    assert len(np.unique(out[:, 0])) == 4096 - 7


def test_output_is_within_one_level_of_the_network_in_float64(model_file):
    look = Look.load(model_file)
    rng = np.random.default_rng(3)
    random = rng.integers(0, FULL + 1, (20000, 3))
    pixels = np.concatenate([random, ramp(0, 16).reshape(-1, 3)]).astype(np.uint16)
    x = np.column_stack([pixels / FULL, np.ones(len(pixels))])
    exact = np.rint(predict(look.model, x) * FULL)
    ours = network_on_pixels(look.model, pixels, keep_alpha=True)
    assert np.abs(ours[:, :3] - exact[:, :3]).max() <= 1


def test_strips_and_threads_change_nothing(model_file):
    look = Look.load(model_file)
    pixels = smooth16(300, 500, seed=1)  # several strips
    whole = network_on_pixels(look.model, pixels.reshape(-1, 3), keep_alpha=True)[:, :3]
    threaded = apply_network(look.model, DeepImage(pixels.copy()), threads=2).pixels
    # Products over fewer columns may round their last float32 bit otherwise, and so a level.
    assert np.abs(threaded.reshape(-1, 3).astype(int) - whole).max() <= 1


def test_widened_8_bit_pixels_give_the_8_bit_training_samples():
    rgb = colour_field(40, 30, seed=5).reshape(-1, 3)
    target = 255 - rgb
    narrow, wide = pair_samples(rgb, target), pair_samples(to_16bit(rgb), to_16bit(target))
    assert np.array_equal(narrow.counts, wide.counts)
    np.testing.assert_allclose(wide.inputs, narrow.inputs, atol=1e-6)
    np.testing.assert_allclose(wide.targets, narrow.targets, atol=1e-6)


def test_16_bit_training_samples_keep_the_low_bits():
    rgb = np.full((10, 3), 1000, np.uint16)
    rgb[5:] = 1003  # one cell, mean 1001.5: not a multiple of 257
    samples = pair_samples(rgb, rgb)
    assert samples.inputs[0, 0] == pytest.approx(1001.5 / FULL, abs=1e-7)


def test_lut_at_16_bits_agrees_with_pillows_at_8(model_file):
    from nnfilter.apply import opaque_colour_fn
    from nnfilter.lut import bake_table

    table = bake_table(opaque_colour_fn(Look.load(model_file).model), 17)
    rgb8 = colour_field(64, 48, seed=6)
    pillow = np.asarray(Image.fromarray(rgb8).filter(lut_filter(table)))
    ours = to_8bit(apply_table(table, DeepImage(to_16bit(rgb8))).pixels)
    assert np.abs(ours.astype(int) - pillow).max() <= 1
    deep = apply_table(table, DeepImage(ramp(20000, 1))).pixels
    assert len(np.unique(deep[..., 0])) > 1000  # interpolated at 16 bits, not 8


# --- files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [None, "lzw", "zlib"])
@pytest.mark.parametrize("channels", [3, 4])
def test_tiff_is_read_at_full_precision(tmp_path, compression, channels):
    pixels = smooth16(40, 30, seed=2)
    if channels == 4:
        pixels = np.concatenate([pixels, pixels[..., :1]], axis=2)
    extra = {"extrasamples": ["unassalpha"]} if channels == 4 else {}
    path = write_tiff(tmp_path / "a.tif", pixels, compression=compression, **extra)
    image = open_image(path, deep=True)
    assert isinstance(image, DeepImage) and np.array_equal(image.pixels, pixels)
    assert np.array_equal(np.asarray(open_image(path)), pixels >> 8)  # the 8-bit reading is unchanged


def test_planar_tiff_and_16_bit_png_are_read(tmp_path):
    pixels = smooth16(40, 30, seed=2)
    planar = write_tiff(tmp_path / "planar.tif", np.moveaxis(pixels, 2, 0), planarconfig="separate")
    assert np.array_equal(open_image(planar, deep=True).pixels, pixels)
    save_deep(DeepImage(pixels), tmp_path / "a.png", "PNG")
    with Image.open(tmp_path / "a.png") as png:
        assert png.tile[0].args == "RGB;16B"  # a real 16-bit PNG
    assert np.array_equal(open_image(tmp_path / "a.png", deep=True).pixels, pixels)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pillow_applies_it(tmp_path, orientation):
    pixels = smooth16(6, 4, seed=3)
    path = write_tiff(tmp_path / "o.tif", pixels, extratags=[(274, "H", 1, orientation, True)])
    deep = open_image(path, deep=True)
    assert np.array_equal(deep.pixels >> 8, np.asarray(open_image(path)))
    exif = Image.Exif()
    exif.load(deep.info.get("exif", b""))
    assert 0x0112 not in exif  # applied, so not written again


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Maker", "Model 16"
    exif.get_ifd(0x8769)[0x829A] = TiffImagePlugin.IFDRational(1, 250)  # exposure time
    return exif


@pytest.mark.parametrize("ext", [".tif", ".png"])
def test_icc_and_exif_are_kept_on_16_bit_outputs(tmp_path, model_file, ext):
    src = tmp_path / "src.tif"
    save_deep(DeepImage(smooth16(40, 30, seed=4)), src, "TIFF", exif=_exif().tobytes(), icc_profile=SRGB)
    out = tmp_path / f"out{ext}"
    result, info = invoke("apply", src, "-m", model_file, "-o", out)
    assert result.exit_code == 0, info
    image = open_image(out, deep=True)
    assert isinstance(image, DeepImage) and image.info["icc_profile"] == SRGB
    exif = Image.Exif()
    exif.load(image.info["exif"])
    assert exif[0x010F] == "Maker" and exif[0x0110] == "Model 16"
    assert exif.get_ifd(0x8769)[0x829A] == TiffImagePlugin.IFDRational(1, 250)
    if ext == ".tif":
        with tifffile.TiffFile(out) as tiff:  # a reader of its own agrees
            assert tiff.pages.first.tags["Make"].value == "Maker"
            assert np.array_equal(tiff.pages.first.asarray(), image.pixels)


def test_a_tiff_from_tifffile_keeps_its_tags_and_turns_upright(tmp_path, model_file):
    tags = [(271, "s", 0, "Maker", True), (274, "H", 1, 6, True)]
    src = write_tiff(tmp_path / "src.tif", smooth16(40, 30, seed=4), iccprofile=SRGB, extratags=tags)
    result, info = invoke("apply", src, "-m", model_file, "-o", tmp_path / "out.tif")
    assert result.exit_code == 0, info
    out = open_image(tmp_path / "out.tif", deep=True)
    assert out.size == (30, 40) and out.info["icc_profile"] == SRGB
    exif = Image.Exif()
    exif.load(out.info["exif"])
    assert exif[0x010F] == "Maker" and 0x0112 not in exif


def _bits(path) -> int:
    """Bits per channel of a written file, from its own header."""
    with Image.open(path) as image:
        if image.format == "TIFF":
            return image.tag_v2[258][0]
        args = image.tile[0].args
        return 16 if ";16" in (args if isinstance(args, str) else args[0]) else 8


def test_a_16_bit_photos_transparency_dropped_by_a_jpeg_output_is_warned_of(tmp_path, model_file):
    pixels = np.dstack([smooth16(40, 30, seed=1), np.full((30, 40), 30000, np.uint16)])
    write_tiff(tmp_path / "see-through.tif", pixels, extrasamples=[2])
    result, info = invoke("apply", tmp_path / "see-through.tif", "-m", model_file, "-o", tmp_path / "out.jpg")
    assert result.exit_code == 0 and "transparency was dropped" in result.stderr, info


def test_batch_of_mixed_8_and_16_bit_files(tmp_path, model_file):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(colour_field(40, 30, seed=1)).save(photos / "a8.png")
    Image.fromarray(colour_field(40, 30, seed=2)).save(photos / "b8.tif")
    Image.fromarray(colour_field(40, 30, seed=3)).save(photos / "c8.jpg", quality=95)
    write_tiff(photos / "d16.tif", smooth16(40, 30, seed=4), compression="lzw")
    save_deep(DeepImage(smooth16(40, 30, seed=5)), photos / "e16.png", "PNG")
    out = tmp_path / "out"
    result, info = invoke("apply", photos, "-m", model_file, "-o", out, "--jobs", "2")
    assert result.exit_code == 0, info
    assert {p.name: _bits(p) for p in out.iterdir()} == {
        "a8.png": 8,
        "b8.tif": 8,
        "c8.jpg": 8,
        "d16.tif": 16,
        "e16.png": 16,
    }
    result, info = invoke("apply", photos, "-m", model_file, "-o", out, "--depth", "16", "--force")
    assert result.exit_code == 0, info
    assert {p.name: _bits(p) for p in out.iterdir()} == {
        "a8.png": 16,
        "b8.tif": 16,
        "c8.jpg": 8,
        "d16.tif": 16,
        "e16.png": 16,
    }


def test_depth_8_rounds_a_16_bit_result(tmp_path, model_file):
    src = write_tiff(tmp_path / "src.tif", smooth16(40, 30, seed=4))
    result, info = invoke("apply", src, "-m", model_file, "-o", tmp_path / "deep.tif")
    assert result.exit_code == 0, info
    result, info = invoke("apply", src, "-m", model_file, "-o", tmp_path / "flat.tif", "--depth", "8")
    assert result.exit_code == 0, info
    deep, flat = tifffile.imread(tmp_path / "deep.tif"), tifffile.imread(tmp_path / "flat.tif")
    assert flat.dtype == np.uint8 and np.array_equal(flat, to_8bit(deep))


def test_train_apply_and_eval_round_trip_at_16_bits(tmp_path):
    before = smooth16(64, 48, seed=7)
    after = np.rint(FULL * (before / FULL) ** 0.6).astype(np.uint16)
    write_tiff(tmp_path / "before.tif", before, compression="zlib")
    write_tiff(tmp_path / "after.tif", after, compression="lzw")
    model = tmp_path / "look.npz"
    result, info = invoke(
        "train", tmp_path / "before.tif", tmp_path / "after.tif", "-o", model, "--epochs", "40"
    )
    assert result.exit_code == 0, info
    result, info = invoke("apply", tmp_path / "before.tif", "-m", model, "-o", tmp_path / "out.tif")
    assert result.exit_code == 0, info
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.dtype == np.uint16
    assert np.abs(out.astype(int) - after).mean() < 0.01 * FULL  # learned, within 1%
    assert len(np.unique(out[..., 0])) > 1000  # more levels than 8 bits hold
    result, info = invoke("eval", tmp_path / "before.tif", tmp_path / "after.tif", "-m", model, "--json")
    assert result.exit_code == 0, info
    assert "de00_mean" in result.stdout


def test_strength_0_leaves_a_16_bit_image_alone(model_file):
    pixels = smooth16(40, 30, seed=8)
    look = Look.load(model_file).with_strength(0)
    assert np.array_equal(look.apply(DeepImage(pixels.copy())).pixels, pixels)


def test_a_tiff_over_4_gib_is_refused_naming_the_file(tmp_path):
    # A real (sparse) file already 4 GiB long: what is written next starts past where TIFF offsets reach.
    from nnfilter.errors import OutputError
    from nnfilter.images16 import _write_tiff

    pixels = (colour_field(16, 8, seed=1).astype(np.uint16) * 257).reshape(8, 16, 3)
    with open(tmp_path / "big.tif", "wb") as file:
        file.seek(1 << 32)
        with pytest.raises(OutputError) as raised:
            _write_tiff(file, "big.tif", pixels, None, None, 1)
    assert str(raised.value) == "big.tif: over 4 GiB compressed: too large for a TIFF file"
