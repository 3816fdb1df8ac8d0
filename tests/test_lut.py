"""3D LUTs: grid order, baking, .cube round trips and errors, HaldCLUT layout, and real clients (ffmpeg, ImageMagick).

The client tests run the real programs on files written here. They skip when a program is missing, unless CI is
set, where they fail instead (CI installs the Debian packages ffmpeg, imagemagick and opencolorio-tools).
"""

import os

import numpy as np
import pytest
from conftest import assert_image_similar, run
from PIL import Image, ImageFilter

from nnfilter.errors import LutFormatError, OutputError
from nnfilter.lut import (
    bake_table,
    grid_points,
    hald_image,
    hald_level_for,
    lut_filter,
    read_cube,
    write_cube,
    write_hald,
)

MIX = np.array([[0.80, 0.15, 0.05], [0.10, 0.85, 0.05], [0.05, 0.20, 0.75]], dtype=np.float32)


def identity(rgb: np.ndarray) -> np.ndarray:
    return rgb


def look(rgb: np.ndarray) -> np.ndarray:
    """A smooth, non-trivial look: gamma 0.8, a channel mix (rows sum to 1), a warm lift of the shadows."""
    out = (rgb**0.8) @ MIX.T
    out = out * np.float32(0.92) + np.array([0.06, 0.03, 0.0], dtype=np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def sample_image() -> Image.Image:
    """256×128 RGB: Pillow's gradient merge (128×128) above 128×128 seeded noise that covers the whole cube."""
    gradient = Image.linear_gradient("L")
    merged = Image.merge(
        "RGB",
        [
            gradient,
            gradient.transpose(Image.Transpose.ROTATE_90),
            gradient.transpose(Image.Transpose.ROTATE_180),
        ],
    ).resize((128, 128), Image.Resampling.NEAREST)
    noise = np.random.default_rng(0).integers(0, 256, size=(128, 128, 3), dtype=np.uint8)
    return Image.fromarray(np.concatenate([np.asarray(merged), noise]), mode="RGB")


def exact(image: Image.Image, colour_fn) -> np.ndarray:
    """``colour_fn`` applied to every pixel with no table, as float levels 0–255; shape (h, w, 3)."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3) / 255
    return (colour_fn(rgb) * 255).reshape(image.height, image.width, 3)


def levels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


# --- grid and baking ------------------------------------------------------------------------------------------------


def test_grid_points_is_red_fastest():
    assert grid_points(2).tolist() == [
        [0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1],
    ]  # fmt: skip
    points = grid_points(5)
    assert points.shape == (125, 3) and points.dtype == np.float32
    assert points[1 + 5 * 2 + 25 * 3].tolist() == [0.25, 0.5, 0.75]


def test_grid_points_matches_pillow_identity_table():
    pillow = ImageFilter.Color3DLUT.generate(9, lambda r, g, b: (r, g, b))
    np.testing.assert_allclose(grid_points(9).reshape(-1), pillow.table, atol=1e-7)


@pytest.mark.parametrize("size", [1, 257, 0, -3, 2.5, True])
def test_grid_points_rejects_size(size):
    with pytest.raises(ValueError, match=r"grid size must be an integer from 2 to 256, got"):
        grid_points(size)


def test_bake_table_order_and_shape():
    table = bake_table(identity, 4)
    assert table.shape == (4, 4, 4, 3) and table.dtype == np.float32
    b, g, r = 3, 1, 2
    assert table[b, g, r].tolist() == pytest.approx([r / 3, g / 3, b / 3])


def test_bake_table_chunked_equals_whole():
    whole = bake_table(look, 17, chunk=17**3)
    chunked = bake_table(look, 17, chunk=7)
    # The look's float32 power and matrix product run SIMD kernels on whole vectors and other code on
    # their tails, so a point's value may change in its last bits with the chunk it falls in (CPUs
    # differ in where): 1e-6 is a few float32 steps at 1.0, far below a level (1/255).
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(whole.reshape(-1, 3), look(grid_points(17)))


def test_bake_table_clips_to_unit_range():
    table = bake_table(lambda rgb: rgb * 3 - 1, 3)
    assert table.min() == 0.0 and table.max() == 1.0


@pytest.mark.parametrize(
    ("colour_fn", "match"),
    [
        (lambda rgb: rgb[:, :2], r"colour_fn must return shape \(8, 3\) for 8 points, got \(8, 2\)"),
        (lambda rgb: rgb / 0, "colour_fn returned NaN or infinity"),
    ],
)
def test_bake_table_checks_colour_fn(colour_fn, match):
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(ValueError, match=match):
        bake_table(colour_fn, 2)


# --- .cube files ----------------------------------------------------------------------------------------------------


def test_cube_round_trip(tmp_path):
    table = np.random.default_rng(1).random((9, 9, 9, 3), dtype=np.float32)
    path = tmp_path / "look.cube"
    write_cube(path, table, title="warm look")
    lines = path.read_text().splitlines()
    assert lines[:4] == ['TITLE "warm look"', "LUT_3D_SIZE 9", "DOMAIN_MIN 0 0 0", "DOMAIN_MAX 1 1 1"]
    assert len(lines) == 4 + 9**3
    assert lines[5] == " ".join(f"{v:.6f}" for v in table[0, 0, 1])  # second row: red index 1
    back = read_cube(path)
    assert back.shape == table.shape and back.dtype == np.float32
    np.testing.assert_allclose(back, table, rtol=0, atol=5e-7 + 1e-7)  # 6 decimals, then float32
    write_cube(tmp_path / "again.cube", back, title="warm look")
    assert (tmp_path / "again.cube").read_bytes() == path.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["again.cube", "look.cube"]  # no temp files left


def test_write_cube_clips_and_cleans_title(tmp_path):
    table = np.full((2, 2, 2, 3), -0.25, dtype=np.float32)
    table[1] = 1.5
    path = tmp_path / "clip.cube"
    write_cube(path, table, title='say "hi"\nthere')
    text = path.read_text()
    assert text.startswith("TITLE \"say 'hi' there\"\n")
    assert (
        "-" not in text and "0.000000 0.000000 0.000000\n" in text and "1.000000 1.000000 1.000000\n" in text
    )
    assert read_cube(path).tolist() == np.clip(table, 0, 1).tolist()


def test_write_cube_largest_size_round_trips(tmp_path):
    table = bake_table(look, 65)
    path = tmp_path / "big.cube"
    write_cube(path, table)
    np.testing.assert_allclose(read_cube(path), table, atol=6e-7)


@pytest.mark.parametrize(
    ("table", "match"),
    [
        (np.zeros((66, 66, 66, 3)), r"LUT size must be an integer from 2 to 65, got 66"),
        (np.zeros((1, 1, 1, 3)), r"LUT size must be an integer from 2 to 65, got 1"),
        (np.zeros((4, 4, 3, 3)), r"must have shape \(size, size, size, 3\), got \(4, 4, 3, 3\)"),
        (np.full((2, 2, 2, 3), np.nan), "finite values"),
    ],
)
def test_write_cube_rejects_table(tmp_path, table, match):
    with pytest.raises(ValueError, match=match):
        write_cube(tmp_path / "bad.cube", table)
    assert os.listdir(tmp_path) == []


def test_write_cube_failure_leaves_nothing(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(OutputError, match="folder"):
        write_cube(target, bake_table(identity, 2))
    assert os.listdir(tmp_path) == ["taken"] and os.listdir(target) == []
    with pytest.raises(OutputError):
        write_cube(tmp_path / "missing" / "look.cube", bake_table(identity, 2))
    existing = tmp_path / "old.cube"
    existing.write_text("keep me")
    with pytest.raises(OutputError, match="exists"):
        write_cube(existing, bake_table(identity, 2))
    assert existing.read_text() == "keep me"


def test_read_cube_accepts_comments_blanks_crlf_and_resolve_keywords(tmp_path):
    rows = [f"{r} {g} {b}" for b in (0, 1) for g in (0, 1) for r in (0, 1)]
    text = "\r\n".join(
        ["# made by hand", "", 'TITLE "x # not a comment"', "LUT_3D_INPUT_RANGE 0.0 1.0", "LUT_3D_SIZE 2",
         "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0", "  "]
        + [rows[0] + "  # black"] + rows[1:] + ["", "# end"]
    )  # fmt: skip
    path = tmp_path / "hand.cube"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # with a UTF-8 byte order mark
    np.testing.assert_array_equal(read_cube(path), bake_table(identity, 2))


def cube(size: int, rows: list[str] | None = None, header: str | None = None) -> str:
    if rows is None:
        rows = [" ".join(map(str, p)) for p in grid_points(size).tolist()]
    if header is None:
        header = f"LUT_3D_SIZE {size}"
    return "\n".join([header, *rows]) + "\n"


GOOD_ROWS = [" ".join(map(str, p)) for p in grid_points(2).tolist()]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"empty\.cube: no LUT_3D_SIZE line and no data \(empty file\?\)"),
        ("# nothing here\n\n", r"no LUT_3D_SIZE line and no data"),
        ("\n".join(GOOD_ROWS), r"empty\.cube: no LUT_3D_SIZE line$"),
        ("LUT_1D_SIZE 1024\n0 0 0\n", r"empty\.cube, line 1: 1D LUTs are not supported"),
        ("LUT_1D_INPUT_RANGE 0 1\nLUT_3D_SIZE 2\n", r"line 1: 1D LUTs are not supported"),
        (cube(2, header="LUT_3D_SIZE 70"), r"line 1: LUT_3D_SIZE must be an integer from 2 to 65, got '70'"),
        (cube(2, header="LUT_3D_SIZE 1"), r"LUT_3D_SIZE must be an integer from 2 to 65, got '1'"),
        (cube(2, header="LUT_3D_SIZE two"), r"LUT_3D_SIZE must be an integer from 2 to 65, got 'two'"),
        (cube(2, header="LUT_3D_SIZE \u00b2"), r"LUT_3D_SIZE must be an integer from 2 to 65, got '\u00b2'"),
        (cube(2, header="LUT_3D_SIZE"), r"LUT_3D_SIZE must be an integer from 2 to 65, got ''"),
        (
            cube(2, header="LUT_3D_SIZE 2\nLUT_3D_SIZE 2"),
            r"line 2: second LUT_3D_SIZE \(the first is on line 1\)",
        ),
        (cube(2, GOOD_ROWS[:-1]), r"empty\.cube: LUT_3D_SIZE 2 needs 8 rows, found 7"),
        (cube(2, GOOD_ROWS + ["1 1 1"]), r"line 10: more than the 8 rows of LUT_3D_SIZE 2"),
        (
            cube(2, GOOD_ROWS[:3] + ["0.5 abc 0"] + GOOD_ROWS[4:]),
            r"line 5: row has a value that is not a number",
        ),
        (
            cube(2, GOOD_ROWS[:3] + ["0.5 0.5"] + GOOD_ROWS[4:]),
            r"line 5: row needs 3 numbers, got 2: '0.5 0.5'",
        ),
        (cube(2, GOOD_ROWS[:3] + ["0 0 0 0"] + GOOD_ROWS[4:]), r"line 5: row needs 3 numbers, got 4"),
        (
            cube(2, GOOD_ROWS, header="Created with FooGrade v2\nLUT_3D_SIZE 2"),
            r"line 1: row needs 3 numbers, got 4: 'Created with FooGrade v2'",
        ),
        (cube(2, GOOD_ROWS[:3] + ["0.5 0.5", "0.5"] + GOOD_ROWS[4:]), r"line 5: row needs 3 numbers, got 2"),
        (cube(2, GOOD_ROWS[:7] + ["nan 1 1"]), r"line 9: row has a value that is not finite: 'nan 1 1'"),
        (cube(2, GOOD_ROWS[:7] + ["1 INF 1"]), r"line 9: row has a value that is not finite"),
        (cube(2, GOOD_ROWS[:7] + ["1 1e999 1"]), r"line 9: row has a value that is not finite"),
        (cube(2, GOOD_ROWS[:7] + ["1 1e300 1"]), r"line 9: row has a value too large for a LUT: '1 1e300 1'"),
        (
            cube(2, header="LUT_3D_SIZE 2\nDOMAIN_MIN -0.1 0 0"),
            r"line 2: DOMAIN_MIN -0.1 0 0 is not supported, only",
        ),
        (
            cube(2, header="LUT_3D_SIZE 2\nDOMAIN_MAX 1 1 2"),
            r"line 2: DOMAIN_MAX 1 1 2 is not supported, only.*1 1 1$",
        ),
        (cube(2, header="LUT_3D_SIZE 2\nDOMAIN_MAX 1 1"), r"line 2: DOMAIN_MAX needs 3 numbers, got 2"),
        (cube(2, header="LUT_3D_INPUT_RANGE 0 4\nLUT_3D_SIZE 2"), r"LUT_3D_INPUT_RANGE 0 4 is not supported"),
    ],
)
def test_read_cube_rejects_malformed(tmp_path, text, match):
    path = tmp_path / "empty.cube"
    path.write_text(text)
    with pytest.raises(LutFormatError, match=match) as info:
        read_cube(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))


def test_read_cube_rejects_a_big_file_with_one_bad_row(tmp_path):
    path = tmp_path / "big.cube"
    write_cube(path, bake_table(look, 33))
    lines = path.read_text().splitlines()
    lines[4 + 1000] = "0.1 0.2 O.3"  # letter O, row 1001
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LutFormatError, match=r"big\.cube, line 1005: row has a value that is not a number"):
        read_cube(path)


def test_read_cube_unreadable_files(tmp_path):
    missing = tmp_path / "missing.cube"
    with pytest.raises(
        LutFormatError, match=r"cannot read LUT file .*missing\.cube: No such file or directory"
    ):
        read_cube(missing)
    with pytest.raises(LutFormatError, match=r"cannot read LUT file .*: Is a directory"):
        read_cube(tmp_path)
    binary = tmp_path / "photo.cube"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(LutFormatError, match=r"photo\.cube: not a text \.cube file"):
        read_cube(binary)
    latin = tmp_path / "latin.cube"
    latin.write_bytes(b'TITLE "caf\xe9"\r\n' + cube(2, GOOD_ROWS).encode())
    assert read_cube(latin).shape == (2, 2, 2, 3)  # a title in Latin-1 (not UTF-8) is only a title
    latin.write_bytes(b'\xef\xbb\xbfTITLE "caf\xe9"\r\n' + cube(2, GOOD_ROWS).encode())
    assert read_cube(latin).shape == (2, 2, 2, 3)  # and after a UTF-8 byte order mark
    latin.write_bytes(cube(2, GOOD_ROWS).encode("utf-16"))
    with pytest.raises(LutFormatError, match=r"latin\.cube: a UTF-16 text file: save the \.cube as UTF-8"):
        read_cube(latin)


# --- Pillow ---------------------------------------------------------------------------------------------------------


def test_identity_lut_with_pillow_is_identity(tmp_path):
    path = tmp_path / "identity.cube"
    write_cube(path, bake_table(identity, 33))
    image = sample_image()
    out = image.filter(lut_filter(read_cube(path)))
    assert out.mode == "RGB" and out.size == image.size
    assert_image_similar(out, image, 1)


def test_lut_filter_passes_alpha_through():
    rgb = sample_image()
    alpha = Image.linear_gradient("L").resize(rgb.size)
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    table = bake_table(look, 33)
    out = rgba.filter(lut_filter(table))
    assert out.mode == "RGBA"
    assert out.getchannel("A").tobytes() == alpha.tobytes()
    assert out.convert("RGB").tobytes() == rgb.filter(lut_filter(table)).tobytes()


def test_lut_filter_rejects_large_table():
    with pytest.raises(ValueError, match="LUT size must be an integer from 2 to 65, got 81"):
        lut_filter(bake_table(identity, 81))


@pytest.mark.parametrize("size", [17, 33, 65])
def test_pillow_lut_close_to_exact(size):
    image = sample_image()
    error = mean_abs(levels(image.filter(lut_filter(bake_table(look, size)))), exact(image, look))
    assert error <= 1.0, f"size {size}: mean abs error {error:.3f} levels"


# --- HaldCLUT -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "level"), [(4, 2), (9, 3), (64, 8), (256, 16)])
def test_hald_level_for(size, level):
    assert hald_level_for(size) == level


@pytest.mark.parametrize("size", [33, 1, 0, -4, 289, 65, 64.0])
def test_hald_level_for_rejects(size):
    with pytest.raises(
        ValueError, match=r"HaldCLUT table size must be the square of a level from 2 to 16 .*, got"
    ):
        hald_level_for(size)


def test_hald_image_layout():
    image = hald_image(bake_table(identity, 4))  # level 2: 8×8 pixels, 64 entries
    assert image.mode == "RGB" and image.size == (8, 8)
    pixels = np.asarray(image).reshape(-1, 3)
    np.testing.assert_array_equal(pixels, np.rint(grid_points(4) * 255).astype(np.uint8))
    assert image.getpixel((1, 0)) == (85, 0, 0)  # red fastest along the first row
    assert image.getpixel((4, 0)) == (0, 85, 0)  # then green
    assert image.getpixel((0, 2)) == (0, 0, 85)  # blue slowest: entry 16 starts row 2


def test_write_hald(tmp_path):
    path = tmp_path / "look.png"
    write_hald(path, bake_table(look, 36))
    with Image.open(path) as reloaded:
        assert reloaded.format == "PNG" and reloaded.mode == "RGB" and reloaded.size == (216, 216)
    assert os.listdir(tmp_path) == ["look.png"]
    with pytest.raises(ValueError, match="HaldCLUT table size must be the square"):
        write_hald(tmp_path / "bad.png", bake_table(look, 33))
    assert os.listdir(tmp_path) == ["look.png"]


# --- real clients ---------------------------------------------------------------------------------------------------


def read_png(path) -> np.ndarray:
    with Image.open(path) as image:
        return levels(image)


@pytest.mark.parametrize("interp", ["tetrahedral", "trilinear"])
def test_ffmpeg_lut3d_applies_cube(tmp_path, ffmpeg, interp):
    image = sample_image()
    image.save(tmp_path / "in.png")
    table = bake_table(look, 33)
    write_cube(tmp_path / "look.cube", table)
    run([ffmpeg, "-v", "error", "-y", "-i", "in.png", "-vf", f"lut3d=file=look.cube:interp={interp}",
         "-pix_fmt", "rgb24", "out.png"], cwd=tmp_path)  # fmt: skip
    out = read_png(tmp_path / "out.png")
    assert out.shape == (image.height, image.width, 3)
    pillow = levels(image.filter(lut_filter(table)))
    vs_pillow, vs_exact = mean_abs(out, pillow), mean_abs(out, exact(image, look))
    assert vs_pillow <= 2 and vs_exact <= 2, (
        f"ffmpeg {interp}: {vs_pillow:.3f} vs Pillow, {vs_exact:.3f} vs exact"
    )


def hald_case(folder) -> tuple[Image.Image, np.ndarray]:
    """in.png and a level-8 hald.png of ``look`` in ``folder``; returns the image and the 64³ table."""
    image = sample_image()
    image.save(folder / "in.png")
    table = bake_table(look, 64)
    write_hald(folder / "hald.png", table)
    return image, table


def test_ffmpeg_haldclut_applies_hald(tmp_path, ffmpeg):
    image, table = hald_case(tmp_path)
    run([ffmpeg, "-v", "error", "-y", "-i", "in.png", "-i", "hald.png", "-filter_complex", "[0][1]haldclut",
         "-frames:v", "1", "-pix_fmt", "rgb24", "out.png"], cwd=tmp_path)  # fmt: skip
    out = read_png(tmp_path / "out.png")
    vs_pillow = mean_abs(
        out, levels(image.filter(lut_filter(table[::3, ::3, ::3])))
    )  # 22³ subgrid of the 64³
    vs_exact = mean_abs(out, exact(image, look))
    assert vs_exact <= 2 and vs_pillow <= 2, (
        f"ffmpeg haldclut: {vs_exact:.3f} vs exact, {vs_pillow:.3f} vs Pillow"
    )


def test_imagemagick_hald_clut_applies_hald(tmp_path, imagemagick):
    image, table = hald_case(tmp_path)
    run([imagemagick, "in.png", "hald.png", "-hald-clut", "out.png"], cwd=tmp_path)
    out = read_png(tmp_path / "out.png")
    vs_exact = mean_abs(out, exact(image, look))
    vs_pillow = mean_abs(out, levels(image.filter(lut_filter(table[::3, ::3, ::3]))))
    assert vs_exact <= 2 and vs_pillow <= 2, (
        f"ImageMagick: {vs_exact:.3f} vs exact, {vs_pillow:.3f} vs Pillow"
    )


@pytest.mark.parametrize("level", [2, 8])
def test_hald_identity_matches_ffmpeg_and_imagemagick(tmp_path, ffmpeg, imagemagick, level):
    ours = levels(hald_image(bake_table(identity, level * level)))
    run([imagemagick, f"hald:{level}", "im.png"], cwd=tmp_path)
    run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"haldclutsrc={level}", "-frames:v", "1", "-pix_fmt", "rgb24",
         "ff.png"], cwd=tmp_path)  # fmt: skip
    for name in ("im.png", "ff.png"):
        theirs = read_png(tmp_path / name)
        assert_image_similar(theirs, ours, 1, what=name)
