"""Image I/O: every mode converts right, bad files are named errors, saves are atomic and keep metadata."""

import errno
import os

import numpy as np
import pytest
from conftest import assert_image_similar, png_header_only
from PIL import Image, ImageCms, ImageFilter, JpegImagePlugin

from nnfilter.errors import ImageError, OutputError, OutputExistsError
from nnfilter.files import atomic_write, sha256_of
from nnfilter.images import (
    DEFAULT_MAX_PIXELS,
    ImageReading,
    PixelMemory,
    jpeg_coding,
    normalize_mode,
    not_an_image,
    open_image,
    to_rgba_array,
)
from nnfilter.prior import unclipped_rgb
from nnfilter.recompress import recompressed
from nnfilter.saving import save_image

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _pixels(image):
    return np.asarray(image).tolist()


def _noise(size=(32, 32), mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    channels = len(mode)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8))


def _exif(**tags):
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[int(tag[1:])] = value
    return exif.tobytes()


def _temps(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".nnfilter-"))


# --- modes ---------------------------------------------------------------------------------------------


def _open_saved(tmp_path, image, name, **params):
    path = tmp_path / name
    image.save(path, **params)
    return open_image(path)


def test_greyscale_and_bilevel_become_rgb(tmp_path):
    grey = Image.new("L", (2, 1))
    grey.putpixel((1, 0), 200)
    out = _open_saved(tmp_path, grey, "grey.png")
    assert (out.mode, out.format) == ("RGB", "PNG")
    assert _pixels(out) == [[[0, 0, 0], [200, 200, 200]]]

    bilevel = Image.new("1", (2, 1))
    bilevel.putpixel((0, 0), 1)
    assert _pixels(_open_saved(tmp_path, bilevel, "bw.png")) == [[[255, 255, 255], [0, 0, 0]]]


def test_palette_becomes_rgb_or_rgba_with_transparency(tmp_path):
    palette = Image.new("P", (2, 1))
    palette.putpalette([10, 20, 30, 200, 100, 50])
    palette.putpixel((1, 0), 1)
    out = _open_saved(tmp_path, palette, "p.png")
    assert out.mode == "RGB"
    assert _pixels(out) == [[[10, 20, 30], [200, 100, 50]]]

    out = _open_saved(tmp_path, palette, "p_trns.png", transparency=0)
    assert out.mode == "RGBA"
    assert _pixels(out) == [[[10, 20, 30, 0], [200, 100, 50, 255]]]

    out = _open_saved(tmp_path, palette, "p_trns.gif", transparency=0)
    assert out.mode == "RGBA" and out.getpixel((0, 0))[3] == 0 and out.getpixel((1, 0))[3] == 255


def test_alpha_modes_become_rgba(tmp_path):
    out = _open_saved(tmp_path, Image.new("LA", (1, 1), (90, 40)), "la.png")
    assert (out.mode, out.getpixel((0, 0))) == ("RGBA", (90, 90, 90, 40))

    out = _open_saved(tmp_path, Image.new("RGBA", (1, 1), (1, 2, 3, 4)), "rgba.png")
    assert (out.mode, out.getpixel((0, 0))) == ("RGBA", (1, 2, 3, 4))

    rgb = Image.new("RGB", (2, 1), (5, 6, 7))
    rgb.putpixel((1, 0), (8, 9, 10))
    out = _open_saved(tmp_path, rgb, "rgb_trns.png", transparency=(5, 6, 7))
    assert _pixels(out) == [[[5, 6, 7, 0], [8, 9, 10, 255]]]

    grey = Image.new("L", (2, 1), 7)
    out = _open_saved(tmp_path, grey, "l_trns.png", transparency=7)
    assert out.mode == "RGBA" and out.getpixel((0, 0)) == (7, 7, 7, 0)


def test_in_memory_alpha_modes():
    assert normalize_mode(Image.new("PA", (1, 1), (0, 100))).mode == "RGBA"
    assert normalize_mode(Image.new("La", (1, 1), (64, 128))).getpixel((0, 0)) == (127, 127, 127, 128)
    assert normalize_mode(Image.new("RGBa", (1, 1), (64, 32, 0, 128))).getpixel((0, 0)) == (127, 63, 0, 128)
    assert normalize_mode(Image.new("RGBX", (1, 1), (1, 2, 3, 0))).getpixel((0, 0)) == (1, 2, 3)


def test_sixteen_bit_greyscale_keeps_the_top_byte(tmp_path):
    values = [0, 255, 256, 32768, 65535]
    expected = [[[v >> 8] * 3 for v in values]]  # 32768 -> 128, 65535 -> 255: scaled, not clipped
    for mode, name in [("I;16", "g16.png"), ("I;16B", "g16b.tif"), ("I", "g32.tif")]:
        image = Image.new(mode, (len(values), 1))
        for x, v in enumerate(values):
            image.putpixel((x, 0), v)
        out = _open_saved(tmp_path, image, name)
        assert out.mode == "RGB", mode
        assert _pixels(out) == expected, mode

    signed = Image.fromarray(np.array([[-5, 70000]], dtype=np.int32))
    assert _pixels(normalize_mode(signed)) == [[[0, 0, 0], [255, 255, 255]]]


def test_sixteen_bit_transparency_becomes_alpha():
    image = Image.new("I;16", (2, 1), 1000)
    image.putpixel((1, 0), 40000)
    image.info["transparency"] = 1000
    assert _pixels(normalize_mode(image)) == [[[3, 3, 3, 0], [156, 156, 156, 255]]]


def test_float_is_clipped_and_rounded(tmp_path):
    image = Image.fromarray(np.array([[-5.0, 127.6, 300.0, np.nan]], dtype=np.float32))
    out = _open_saved(tmp_path, image, "f.tif")
    assert _pixels(out) == [[[0] * 3, [128] * 3, [255] * 3, [0] * 3]]


def test_cmyk_becomes_rgb(tmp_path):
    cmyk = Image.new("CMYK", (2, 1), (0, 0, 0, 0))
    cmyk.putpixel((1, 0), (0, 255, 255, 0))
    out = _open_saved(tmp_path, cmyk, "cmyk.tif")
    assert _pixels(out) == [[[255, 255, 255], [255, 0, 0]]]
    jpeg = _open_saved(tmp_path, cmyk, "cmyk.jpg", quality=100)
    assert jpeg.mode == "RGB"
    assert_image_similar(jpeg, np.array(_pixels(out)), 7)


def test_colour_spaces_become_rgb():
    rgb = Image.new("RGB", (1, 1), (200, 30, 90))
    for mode in ("YCbCr", "HSV"):
        out = normalize_mode(rgb.convert(mode))
        assert out.mode == "RGB"
        assert np.abs(np.subtract(out.getpixel((0, 0)), (200, 30, 90))).max() <= 3, mode
    lab = Image.new("LAB", (1, 1), (128, 128, 128))  # L* = 50, neutral
    assert normalize_mode(lab).getpixel((0, 0)) == (119, 119, 119)


def test_rgb_is_returned_without_a_copy():
    rgb = Image.new("RGB", (1, 1))
    assert normalize_mode(rgb) is rgb


# --- orientation, metadata, frames ---------------------------------------------------------------------


def test_exif_orientation_is_applied_and_reset(tmp_path):
    image = Image.new("RGB", (2, 1), (255, 0, 0))
    image.putpixel((1, 0), (0, 0, 255))
    path = tmp_path / "rotated.png"
    image.save(path, exif=_exif(t274=8, t271="Maker"))
    out = open_image(path)
    assert out.size == (1, 2)
    assert _pixels(out) == [[[0, 0, 255]], [[255, 0, 0]]]  # rotated 90 degrees counter-clockwise
    kept = Image.Exif()
    kept.load(out.info["exif"])
    assert 274 not in kept and kept[271] == "Maker"


# --- decoding into a PixelMemory -----------------------------------------------------------------------


def test_jpegs_decoded_into_pixel_memory_are_the_photos_and_its_words_their_pixels(tmp_path):
    big, small = tmp_path / "big.jpg", tmp_path / "small.jpg"
    _noise((40, 30), seed=1).save(big, quality=90)
    _noise((24, 16), seed=2).save(small, quality=90)
    memory = PixelMemory()
    first = ImageReading(big, background=False, memory=memory).result()
    assert _pixels(first) == _pixels(open_image(big))
    rgb = np.asarray(first).astype(np.uint32)
    packed = 0xFF000000 | rgb[..., 2] << 16 | rgb[..., 1] << 8 | rgb[..., 0]
    assert np.array_equal(memory.words(first), packed.ravel())
    # In the same memory: the first is not valid any more.
    second = ImageReading(small, background=False, memory=memory).result()
    assert memory.words(first) is None
    assert _pixels(second) == _pixels(open_image(small))
    memory.words(second)[0] = 0xFF0000FF  # the words are the image's pixels, not a copy
    assert second.getpixel((0, 0)) == (255, 0, 0)


def test_what_is_not_an_upright_rgb_jpeg_is_not_left_in_pixel_memory(tmp_path):
    _noise((8, 6), seed=3).save(tmp_path / "rotated.jpg", quality=90, exif=_exif(t274=6))
    _noise((8, 6), seed=4).save(tmp_path / "photo.png")
    _noise((8, 6), seed=5).convert("L").save(tmp_path / "grey.jpg", quality=90)
    memory = PixelMemory()
    for name in ("rotated.jpg", "photo.png", "grey.jpg"):
        image = ImageReading(tmp_path / name, background=False, memory=memory).result()
        assert memory.words(image) is None, name
        assert _pixels(image) == _pixels(open_image(tmp_path / name)), name


def test_a_jpeg_decoded_as_it_is_opened_is_not_given_pixel_memory(tmp_path, monkeypatch):
    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "red.jpg")
    Image.new("RGB", (8, 8), (0, 200, 0)).save(tmp_path / "green.jpg")
    memory = PixelMemory()
    ImageReading(tmp_path / "red.jpg", background=False, memory=memory).result()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4)  # above Pillow's limit: decoded when opened
    green = ImageReading(tmp_path / "green.jpg", background=False, memory=memory).result()
    assert abs(green.getpixel((3, 3))[1] - 200) < 4 and memory.words(green) is None


def test_corrupt_exif_still_opens(tmp_path):
    path = tmp_path / "bad_exif.jpg"
    Image.new("RGB", (2, 1)).save(path, exif=b"Exif\x00\x00MM\x00\x3f\x00\x00\x00\x08")  # not a TIFF header
    out = open_image(path)
    assert out.size == (2, 1)
    assert "exif" not in out.info  # dropped: it cannot be trusted, nor written back

    path = tmp_path / "garbage_exif.jpg"
    Image.new("RGB", (2, 1)).save(path, exif=b"Exif\x00\x00garbage!")
    assert open_image(path).size == (2, 1)


def test_only_writer_metadata_is_kept(tmp_path):
    path = tmp_path / "meta.png"
    Image.new("RGB", (1, 1)).save(path, icc_profile=SRGB_ICC, exif=_exif(t271="Maker"), dpi=(300, 300))
    out = open_image(path)
    assert set(out.info) == {"exif", "icc_profile"}
    assert out.info["icc_profile"] == SRGB_ICC


def test_non_rgb_icc_profile_is_dropped(tmp_path):
    grey_profile = bytes(16) + b"GRAY" + bytes(108)
    path = tmp_path / "grey_icc.png"
    Image.new("L", (1, 1)).save(path, icc_profile=grey_profile)
    assert "icc_profile" not in open_image(path).info


def test_animated_gif_and_multipage_tiff_give_the_first_frame(tmp_path):
    red, blue = Image.new("RGB", (2, 2), (255, 0, 0)), Image.new("RGB", (2, 2), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue], duration=100, loop=0)
    red.save(tmp_path / "pages.tif", save_all=True, append_images=[blue])
    red.save(tmp_path / "anim.webp", save_all=True, append_images=[blue], lossless=True)
    for name in ("anim.gif", "pages.tif", "anim.webp"):
        out = open_image(tmp_path / name)
        assert out.getpixel((0, 0))[:3] == (255, 0, 0), name


# --- refusals ------------------------------------------------------------------------------------------


def test_decompression_bomb_is_refused_from_the_header(tmp_path):
    path = png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match=r"bomb\.png: 10000000000 pixels .*exceeds the limit of 400000000"):
        open_image(path)
    assert Image.MAX_IMAGE_PIXELS == limit  # Pillow's global is as it was
    assert not_an_image(path) is None


def test_max_pixels_is_our_limit(tmp_path):
    path = tmp_path / "four.png"
    Image.new("RGB", (4, 4)).save(path)
    assert open_image(path, max_pixels=16).size == (4, 4)
    with pytest.raises(ImageError, match=r"16 pixels \(4x4\) exceeds the limit of 15$"):
        open_image(path, max_pixels=15)
    assert DEFAULT_MAX_PIXELS >= 200_000_000


@pytest.mark.parametrize("name", ["big.png", "big.tif", "big.webp", "big.gif", "big.jpg"])
def test_images_above_pillows_own_limit_open(tmp_path, monkeypatch, name):
    # Stands in for a 200 MP file: Pillow's global limit made tiny, ours left at its default.
    path = tmp_path / name
    Image.new("RGB", (8, 8), (0, 200, 0)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4)
    out = open_image(path)
    assert out.size == (8, 8) and abs(out.getpixel((3, 3))[1] - 200) < 4
    assert Image.MAX_IMAGE_PIXELS == 4
    assert not_an_image(path) is None


@pytest.mark.parametrize("name, params", [("cut.jpg", {"quality": 95}), ("cut.png", {})])
def test_truncated_images_are_refused(tmp_path, name, params):
    path = tmp_path / name
    _noise((64, 64)).save(path, **params)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=rf"{name}: image is truncated or damaged \(.+\)"):
        open_image(path)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("hello, not a photo\n"), "not an image file"),
        (lambda p: p.mkdir(), "is a folder, not an image file"),
        (lambda p: None, "no such file"),
        (lambda p: os.mkfifo(p), "not a regular file"),
    ],
)
def test_non_images_are_refused_with_named_messages(tmp_path, make, message):
    path = tmp_path / "photo.jpg"
    make(path)
    with pytest.raises(ImageError) as info:
        open_image(path)
    assert str(info.value) == f"{path}: {message}"
    assert not_an_image(path) is not None


def test_reading_in_the_background_gives_what_open_image_gives(tmp_path):
    path = tmp_path / "rotated.jpg"
    _noise((48, 20)).save(path, quality=90, exif=_exif(t274=6, t271="Maker"), icc_profile=SRGB_ICC)
    expected = open_image(path)
    reading = ImageReading(path)
    got = reading.result()
    assert (
        (got.mode, got.size, got.format)
        == (expected.mode, expected.size, "JPEG")
        == ("RGB", (20, 48), "JPEG")
    )
    assert got.tobytes() == expected.tobytes() and got.info == expected.info
    assert set(got.info) == {"exif", "icc_profile"}


def test_reduce_decodes_a_jpeg_at_a_fraction_of_its_size_and_other_formats_in_full(tmp_path):
    smooth = Image.linear_gradient("L").resize((200, 120)).convert("RGB")
    smooth.save(tmp_path / "smooth.jpg", quality=95)
    smooth.save(tmp_path / "smooth.png")
    half = open_image(tmp_path / "smooth.jpg", reduce=2)
    assert (half.mode, half.size) == ("RGB", (100, 60))
    full = np.asarray(open_image(tmp_path / "smooth.jpg"), float)
    box = full.reshape(60, 2, 100, 2, 3).mean(axis=(1, 3))
    assert np.abs(np.asarray(half, float) - box).max() <= 3  # each pixel about its 2x2 block's mean
    assert open_image(tmp_path / "smooth.png", reduce=2).size == (200, 120)
    with pytest.raises(ValueError, match="reduce must be"):
        open_image(tmp_path / "smooth.jpg", reduce=3)


def test_jpeg_ycbcr_opens_a_colour_jpeg_as_the_ycbcr_it_stores_upright_and_other_images_as_rgb(tmp_path):
    path = tmp_path / "rotated.jpg"
    _noise((48, 20)).save(path, quality=90, exif=_exif(t274=6))
    rgb = open_image(path)
    stored = open_image(path, jpeg_ycbcr=True)
    assert (
        (stored.mode, stored.size, stored.format)
        == ("YCbCr", rgb.size, "JPEG")
        == ("YCbCr", (20, 48), "JPEG")
    )
    # The same pixels: Pillow's conversion and the decoder's round a level apart at most.
    gap = np.abs(np.asarray(stored.convert("RGB"), int) - np.asarray(rgb, int))
    assert gap.max() <= 2 and gap.mean() < 0.5
    assert open_image(path, reduce=2, jpeg_ycbcr=True).size == (10, 24)
    Image.new("L", (8, 8), 90).save(tmp_path / "grey.jpg")
    _noise((8, 8)).save(tmp_path / "noise.png")
    assert open_image(tmp_path / "grey.jpg", jpeg_ycbcr=True).mode == "RGB"
    assert open_image(tmp_path / "noise.png", jpeg_ycbcr=True).mode == "RGB"


@pytest.mark.parametrize("background", [True, False])
def test_reading_errors_are_raised_by_result_as_open_image_raises_them(tmp_path, background):
    cut = tmp_path / "cut.jpg"
    _noise((64, 64)).save(cut, quality=95)
    cut.write_bytes(cut.read_bytes()[:2000])
    big = png_header_only(tmp_path / "big.png", 5, 4)
    for path, limit in [(cut, None), (tmp_path / "missing.jpg", None), (big, 19)]:
        with pytest.raises(ImageError) as expected:
            open_image(path, limit)
        reading = ImageReading(path, limit, background=background)  # keeps the error for result()
        with pytest.raises(ImageError) as got:
            reading.result()
        assert str(got.value) == str(expected.value)


def test_missing_parent_is_no_such_file(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        open_image(tmp_path / "nope" / "a.png")


def test_not_an_image_sniffs_content(tmp_path):
    png_named_txt = tmp_path / "really_a_png.txt"
    Image.new("RGB", (1, 1)).save(png_named_txt, format="PNG")
    assert not_an_image(png_named_txt) is None
    assert not_an_image(str(png_named_txt)) is None


# --- arrays --------------------------------------------------------------------------------------------


def test_rgba_array():
    rgb = _noise((5, 3))
    array = to_rgba_array(rgb)
    assert array.shape == (3, 5, 4) and array.dtype == np.uint8
    assert (array[..., 3] == 255).all()
    assert np.array_equal(array[..., :3], np.asarray(rgb))
    array[0, 0] = 0  # a fresh, writable array
    rgba = _noise((5, 3), "RGBA", seed=1)
    assert np.array_equal(to_rgba_array(rgba), np.asarray(rgba))
    assert to_rgba_array(Image.new("L", (1, 1), 9)).tolist() == [[[9, 9, 9, 255]]]


# --- saving --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.png", "out.tif", "out.tiff", "OUT.PNG"])
def test_lossless_formats_round_trip_rgba(tmp_path, name):
    image = _noise((7, 5), "RGBA")
    save_image(image, tmp_path / name)
    assert open_image(tmp_path / name).tobytes() == image.tobytes()


def test_webp_keeps_alpha(tmp_path):
    image = Image.new("RGBA", (4, 4), (10, 200, 30, 0))
    save_image(image, tmp_path / "a.webp")
    assert open_image(tmp_path / "a.webp").getpixel((0, 0))[3] == 0


def test_rgba_into_jpeg_drops_alpha(tmp_path):
    save_image(Image.new("RGBA", (4, 4), (10, 200, 30, 0)), tmp_path / "a.jpg")
    out = open_image(tmp_path / "a.jpg")
    assert out.mode == "RGB" and np.abs(np.subtract(out.getpixel((1, 1)), (10, 200, 30))).max() < 4


def test_format_overrides_the_extension(tmp_path):
    save_image(Image.new("RGB", (1, 1)), tmp_path / "out.data", format="png")
    assert open_image(tmp_path / "out.data").format == "PNG"


@pytest.mark.parametrize(
    "name, why", [("out.xyz", "unknown image extension '.xyz'"), ("out", "no image extension")]
)
def test_unknown_extension_is_refused(tmp_path, name, why):
    with pytest.raises(OutputError, match=rf"{name}: {why} \(use .*\.jpg"):
        save_image(Image.new("RGB", (1, 1)), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_jpeg_quality_is_honoured(tmp_path):
    image = _noise((64, 64))
    sizes = {}
    for quality in (30, 95, None):
        path = tmp_path / f"q{quality}.jpg"
        save_image(image, path, quality=quality)
        sizes[quality] = path.stat().st_size
    assert sizes[30] < sizes[95] == sizes[None]  # default is 95
    with Image.open(tmp_path / "q95.jpg") as high, Image.open(tmp_path / "q30.jpg") as low:
        assert JpegImagePlugin.get_sampling(high) == 0  # 4:4:4
        assert JpegImagePlugin.get_sampling(low) == 2  # 4:2:0
    with pytest.raises(ValueError, match="quality must be from 1 to 100, got 0"):
        save_image(image, tmp_path / "q0.jpg", quality=0)


@pytest.mark.parametrize("name", ["out.jpg", "out.png", "out.webp"])
def test_exif_and_icc_are_written_byte_for_byte(tmp_path, name):
    exif = _exif(t271="Maker", t305="nnfilter")
    save_image(_noise((8, 8)), tmp_path / name, exif=exif, icc_profile=SRGB_ICC)
    assert open_image(tmp_path / name).info == {"exif": exif, "icc_profile": SRGB_ICC}
    with Image.open(tmp_path / name) as out:
        assert out.info["exif"].endswith(exif[6:])  # WebP stores it without the "Exif\0\0" prefix


def test_tiff_keeps_exif_tags_and_icc_but_not_layout_tags(tmp_path):
    exif = _exif(t271="Maker", t256=999, t257=999, t259=7)
    save_image(_noise((8, 6)), tmp_path / "out.tif", exif=exif, icc_profile=SRGB_ICC)
    with Image.open(tmp_path / "out.tif") as out:
        assert out.size == (8, 6)
        assert out.getexif()[271] == "Maker"
        assert out.info["icc_profile"] == SRGB_ICC
    assert np.array_equal(np.asarray(open_image(tmp_path / "out.tif")), np.asarray(_noise((8, 6))))


def test_an_8_bit_tiffs_exif_is_read_from_its_own_tags_as_a_16_bit_ones_is(tmp_path):
    exif = Image.Exif()
    exif[271], exif[306], exif[0x0112] = "TiffCam", "2020:01:01 00:00:00", 6  # Make, DateTime, turned
    _noise((8, 6)).save(tmp_path / "in.tif", exif=exif)
    opened = open_image(tmp_path / "in.tif")
    assert opened.size == (6, 8)  # turned upright
    save_image(opened, tmp_path / "out.jpg", exif=opened.info["exif"])
    with Image.open(tmp_path / "out.jpg") as out:
        tags = out.getexif()
        assert tags[271] == "TiffCam" and tags[306] == "2020:01:01 00:00:00" and 0x0112 not in tags
        assert not {256, 257, 273} & set(tags)  # the TIFF's own layout tags stay behind


def test_tiff_leaves_out_an_exifs_own_tiff_data_as_16_bit_tiffs_do(tmp_path):
    # XMP, IPTC and ICC tags in an EXIF are another file's TIFF data, not EXIF.
    exif = _exif(t271="Maker", t700=b"<x:xmpmeta/>", t33723=b"iptc", t34675=b"not a profile")
    save_image(_noise((8, 6)), tmp_path / "out.tif", exif=exif, icc_profile=SRGB_ICC)
    with Image.open(tmp_path / "out.tif") as out:
        tags = out.getexif()
        assert tags[271] == "Maker" and not {700, 33723} & set(tags)
        assert out.info["icc_profile"] == SRGB_ICC


def test_no_metadata_unless_passed(tmp_path):
    image = Image.new("RGB", (1, 1))
    image.info["icc_profile"] = SRGB_ICC
    for name in ("out.png", "out.tif", "out.jpg"):
        save_image(image, tmp_path / name)
        with Image.open(tmp_path / name) as out:
            assert "icc_profile" not in out.info and "exif" not in out.info, name


def test_open_save_open_keeps_orientation_and_metadata(tmp_path):
    source = tmp_path / "in.jpg"
    Image.new("RGB", (4, 2)).save(source, exif=_exif(t274=6, t271="Maker"), icc_profile=SRGB_ICC)
    image = open_image(source)
    save_image(image, tmp_path / "out.jpg", exif=image.info["exif"], icc_profile=image.info["icc_profile"])
    again = open_image(tmp_path / "out.jpg")
    assert again.size == (2, 4)
    assert again.info == image.info


def test_existing_destination_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError) as info:
        save_image(Image.new("RGB", (1, 1)), path)
    assert str(info.value) == f"{path}: exists" and info.value.path == str(path)  # the CLI adds the hint
    assert path.read_bytes() == b"precious"
    path.chmod(0o640)
    save_image(Image.new("RGB", (1, 1)), path, overwrite=True)
    assert open_image(path).size == (1, 1)
    assert path.stat().st_mode & 0o777 == 0o640  # the replaced file's permissions are kept
    assert _temps(tmp_path) == []


def test_new_files_get_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        save_image(Image.new("RGB", (1, 1)), tmp_path / "out.png")
    finally:
        os.umask(old)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o640  # not tempfile's 0o600


def test_folder_and_special_destinations_are_refused(tmp_path):
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(OutputError, match=r"dir\.png: is a folder"):
        save_image(Image.new("RGB", (1, 1)), tmp_path / "dir.png", overwrite=True)
    os.mkfifo(tmp_path / "fifo.png")
    with pytest.raises(OutputError, match="not a regular file"):
        save_image(Image.new("RGB", (1, 1)), tmp_path / "fifo.png", overwrite=True)
    assert _temps(tmp_path) == []


def test_missing_folder_is_refused(tmp_path):
    path = tmp_path / "missing" / "out.png"
    with pytest.raises(OutputError, match=rf"out\.png: folder {tmp_path / 'missing'} does not exist"):
        save_image(Image.new("RGB", (1, 1)), path)
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_no_temp_and_the_destination_intact(tmp_path):
    path = tmp_path / "out.jpg"
    path.write_bytes(b"precious")
    too_long = b"Exif\x00\x00" + bytes(70_000)  # JPEG holds at most 64 KB of EXIF: fails mid-save
    with pytest.raises(OutputError, match=r"out\.jpg: cannot save as JPEG \(EXIF data is too long\)"):
        save_image(_noise((8, 8)), path, exif=too_long, overwrite=True)
    assert path.read_bytes() == b"precious"
    assert _temps(tmp_path) == []


def test_atomic_write_cleans_up_on_disk_full_and_ctrl_c(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")

    def disk_full(file):
        file.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OutputError, match=r"model\.npz: cannot write \(No space left on device\)"):
        atomic_write(path, disk_full, overwrite=True)
    assert path.read_bytes() == b"old" and _temps(tmp_path) == []

    def interrupted(file):
        file.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, interrupted, overwrite=True)
    assert path.read_bytes() == b"old" and _temps(tmp_path) == []

    def own_error(file):
        raise OutputError("mine")

    with pytest.raises(OutputError, match="^mine$"):
        atomic_write(path, own_error, overwrite=True)
    assert _temps(tmp_path) == []

    atomic_write(path, lambda file: file.write(b"new"), overwrite=True)
    assert path.read_bytes() == b"new" and _temps(tmp_path) == []


def test_atomic_write_temp_file_is_in_the_destination_folder(tmp_path):
    seen = []

    def write(file):
        seen.append(os.path.basename(file.name))
        assert _temps(tmp_path) == seen
        file.write(b"x")

    atomic_write(tmp_path / "out.cube", write)
    assert seen[0].startswith(".nnfilter-") and seen[0].endswith(".cube")
    assert (tmp_path / "out.cube").read_bytes() == b"x"


@pytest.mark.parametrize(("quality", "subsampling"), [(90, "4:2:0"), (75, "4:4:4")])
def test_a_jpegs_coding_compresses_its_own_pixels_back_to_what_it_decodes_to(tmp_path, quality, subsampling):
    path = tmp_path / "photo.jpg"
    pixels = np.asarray(_noise((40, 24)).filter(ImageFilter.GaussianBlur(2)))
    Image.fromarray(pixels).save(path, quality=quality, subsampling=subsampling)
    read = open_image(path, jpeg_ycbcr=True)
    coding = jpeg_coding(read)
    assert coding.subsampling == {"4:2:0": 2, "4:4:4": 0}[subsampling]
    assert jpeg_coding(Image.open(path)) is None  # only open_image records it
    np.testing.assert_array_equal(
        recompressed(pixels.astype(np.float32), coding, True), unclipped_rgb(np.asarray(read))
    )
    decoded = np.asarray(Image.open(path).convert("RGB"), np.float32)
    np.testing.assert_array_equal(recompressed(pixels.astype(np.float32), coding, False), decoded)
    assert jpeg_coding(open_image(path, reduce=2, jpeg_ycbcr=True)) is None  # halved: not as stored
    assert jpeg_coding(open_image(path)) is None  # open_image records it only for a YCbCr read
    _noise((40, 24)).save(tmp_path / "turned.jpg", exif=_exif(t274=6))
    assert jpeg_coding(open_image(tmp_path / "turned.jpg", jpeg_ycbcr=True)) is None  # not as stored


def test_a_file_gone_before_its_digest_is_taken_is_an_image_error_that_names_it(tmp_path):
    (tmp_path / "a.png").write_bytes(b"abc")
    assert sha256_of(tmp_path / "a.png") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    with pytest.raises(ImageError, match=r"gone\.png: cannot read \(No such file or directory\)$"):
        sha256_of(tmp_path / "gone.png")
