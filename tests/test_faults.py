"""Bad input, hostile files and faults, through the real CLI (issue 6; the table is in README.md, "Errors").

Every row ends in exit 1 (an error) or 2 (a usage error) with one "Error: ..." line on stderr that
names the file (or option) and the problem, no traceback, and no lost or half-written file; or, for
the odd-but-valid inputs, in a normal exit 0.
"""

from __future__ import annotations

import io
import os
import re
import resource
import shutil
import signal
import subprocess
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    HANG_GUARD_SECONDS,
    NNFILTER,
    colour_field,
    gamma,
    invoke,
    open_terminal,
    png_header_only,
    read_until,
    sepia,
)
from PIL import Image

SUMMARY = re.compile(r"^\d+ done, \d+ skipped, \d+ failed")


# --- helpers -------------------------------------------------------------------------------------------


def assert_ok(invoked):
    """``invoked``, the result of conftest's ``invoke``, exited 0 with no traceback."""
    result, why = invoked
    assert result.exit_code == 0, why
    assert "Traceback" not in result.output, why


def assert_error(invoked, code, *names):
    """Exit ``code``, one "Error:" line on stderr naming each of ``names``, no traceback.

    Exit 1: stderr is that one line, except that `apply` follows it with its batch summary line.
    Exit 2: click's usage lines come first, the "Error:" line is the last.
    """
    result, why = invoked
    assert result.exit_code == code, why
    assert isinstance(result.exception, SystemExit), why  # anything else is an uncaught exception
    assert "Traceback" not in result.output, why
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.lower().startswith("error:")]
    assert len(errors) == 1, why
    if code == 2:
        assert lines[-1] == errors[0], why
    else:
        assert all(line == errors[0] or SUMMARY.match(line) for line in lines), why
    for name in names:
        assert str(name) in errors[0], why
    return errors[0]


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".nnfilter-"))


def save(array: np.ndarray, path: Path, **params) -> Path:
    Image.fromarray(array).save(path, **params)
    return path


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture
def photo(tmp_path) -> Path:
    return save(colour_field(40, 30, seed=2), tmp_path / "photo.png")


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    before = colour_field(40, 30, seed=3)
    return save(before, tmp_path / "before.png"), save(gamma(before), tmp_path / "after.png")


def train_args(before, after, out, *extra):
    return ("train", before, after, "-o", out, "--hidden", "8", "--epochs", "2", *extra)


# --- images: refused ----------------------------------------------------------------------------------


def _missing(tmp_path):
    return tmp_path / "missing.jpg", "no such file"


def _folder(tmp_path):
    (tmp_path / "folder.jpg").mkdir()
    return tmp_path / "folder.jpg", "is a folder"


def _empty(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    return tmp_path / "empty.jpg", "empty file"


def _text(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a photo\n")
    return tmp_path / "notes.jpg", "not an image"


def _truncated(fmt, ext):
    def make(tmp_path):
        buffer = io.BytesIO()
        Image.fromarray(colour_field(64, 48, seed=4)).save(buffer, fmt)
        data = buffer.getvalue()
        path = tmp_path / f"cut{ext}"
        path.write_bytes(data[: len(data) // 2])
        return path, "truncated"

    return make


def _bomb(tmp_path):
    return png_header_only(
        tmp_path / "bomb.png", 100_000, 100_000, zlib.compress(b"\0" * 64)
    ), "exceeds the limit"


def _tiff16(name, problem, cut=False, dtype=np.uint16, **options):
    """A 16-bit (or float, 32-bit) TIFF written by tifffile, whole or cut short."""

    def make(tmp_path):
        import tifffile

        rgb = colour_field(64, 48, seed=4).astype(np.uint16) * 257
        data = rgb.astype(dtype)
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, data, photometric="rgb", **options)
        path = tmp_path / f"{name}.tif"
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2] if cut else buffer.getvalue())
        return path, problem

    return make


BAD_IMAGES = {
    "missing": _missing,
    "folder": _folder,
    "empty": _empty,
    "text-named-jpg": _text,
    "truncated-jpeg": _truncated("JPEG", ".jpg"),
    "truncated-png": _truncated("PNG", ".png"),
    "decompression-bomb": _bomb,
    "truncated-16-bit-tiff": _tiff16("cut16", "truncated or damaged", cut=True, compression="zlib"),
    "float-tiff": _tiff16("float", "unsupported TIFF (32-bit floating-point samples", dtype=np.float32),
    "32-bit-tiff": _tiff16("deep32", "unsupported TIFF (32-bit samples", dtype=np.uint32),
    "jpeg-in-tiff-16-bit": _tiff16(
        "jpeg16", "unsupported TIFF (12-bit samples, JPEG compression", compression="jpeg"
    ),
}


@pytest.mark.parametrize("make", BAD_IMAGES.values(), ids=BAD_IMAGES.keys())
@pytest.mark.parametrize("role", ["before", "after"])
def test_bad_image_in_train(tmp_path, pair, make, role):
    bad, problem = make(tmp_path)
    before, after = (bad, pair[1]) if role == "before" else (pair[0], bad)
    line = assert_error(invoke(*train_args(before, after, tmp_path / "m.npz")), 1, bad.name)
    assert problem in line
    assert not (tmp_path / "m.npz").exists() and temps(tmp_path) == []


# (`apply` takes a folder as a batch of the images in it, so "folder" is not a bad input there.)
@pytest.mark.parametrize(
    "make",
    [make for key, make in BAD_IMAGES.items() if key != "folder"],
    ids=[key for key in BAD_IMAGES if key != "folder"],
)
@pytest.mark.parametrize("jobs", ["1", "2"])  # with 2, the photo is read while the model loads
def test_bad_image_in_apply(tmp_path, model_file, make, jobs):
    bad, problem = make(tmp_path)
    out = tmp_path / "out.png"
    line = assert_error(invoke("apply", bad, "-m", model_file, "-o", out, "--jobs", jobs), 1, bad.name)
    assert problem in line
    assert not out.exists() and temps(tmp_path) == []


UNSUPPORTED_TIFFS = ["float-tiff", "32-bit-tiff", "jpeg-in-tiff-16-bit"]


@pytest.mark.parametrize("key", UNSUPPORTED_TIFFS)
def test_an_unsupported_tiff_is_refused_alike_in_a_folder_and_named(tmp_path, model_file, key):
    photos = tmp_path / "photos"
    photos.mkdir()
    bad, problem = BAD_IMAGES[key](photos)
    save(colour_field(20, 10, seed=1), photos / "good.png")
    named = assert_error(invoke("apply", bad, "-m", model_file, "-o", tmp_path / "one.png"), 1, bad.name)
    result, why = invoke("apply", photos, "-m", model_file, "-o", tmp_path / "out")
    assert result.exit_code == 1 and "Traceback" not in result.output, why
    in_folder = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert in_folder == [named], why
    assert problem in named and result.stderr.splitlines()[-1] == "1 done, 0 skipped, 1 failed", why


def test_bomb_is_refused_before_decoding(tmp_path, model_file):
    bomb = png_header_only(tmp_path / "bomb.png", 100_000, 100_000, zlib.compress(b"\0" * 64))
    # The file holds only a header: the message shows it was judged by its header's size.
    line = assert_error(invoke("apply", bomb, "-m", model_file, "-o", tmp_path / "o.png"), 1, "bomb.png")
    assert "10000000000 pixels" in line and "--max-pixels" in line


def test_default_limit_lets_a_200_megapixel_file_through(tmp_path, model_file):
    # Only the header is real: the size check passes, then decoding finds the data missing.
    big = png_header_only(tmp_path / "medium-format.png", 16_384, 12_288, zlib.compress(b"\0" * 64))  # 201 MP
    line = assert_error(invoke("apply", big, "-m", model_file, "-o", tmp_path / "o.png"), 1, big.name)
    assert "exceeds the limit" not in line and "truncated" in line


def test_max_pixels_sets_the_limit(tmp_path, model_file, pair):
    photo = save(colour_field(20, 10, seed=5), tmp_path / "small.png")  # 200 pixels
    line = assert_error(
        invoke("apply", photo, "-m", model_file, "-o", tmp_path / "a.png", "--max-pixels", "199"),
        1,
        "small.png",
    )
    assert "200 pixels (20x10) exceeds the limit of 199" in line
    assert_ok(invoke("apply", photo, "-m", model_file, "-o", tmp_path / "b.png", "--max-pixels", "200"))
    # train checks both images (40x30 = 1200 pixels)
    line = assert_error(
        invoke(*train_args(*pair, tmp_path / "m.npz", "--max-pixels", "1199")), 1, "before.png"
    )
    assert "exceeds the limit of 1199" in line
    assert_ok(invoke(*train_args(*pair, tmp_path / "m.npz", "--max-pixels", "1200")))


def test_a_parallel_batch_goes_on_past_one_too_large_image(tmp_path, model_file):
    # The refusal comes back from a worker process inside its outcome (pickled): it must not
    # break the pool and fail the other files.
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        save(colour_field(20, 10, seed=i), photos / f"p{i}.png")  # 200 pixels
    big = save(colour_field(40, 30, seed=9), photos / "big.png")  # 1200 pixels
    out = tmp_path / "out"
    result, why = invoke("apply", photos, "-m", model_file, "-o", out, "-j", "2", "--max-pixels", "1000")
    assert result.exit_code == 1, why
    assert "Traceback" not in result.output and "worker process died" not in result.output, why
    errors = [line for line in result.stderr.splitlines() if line.lower().startswith("error:")]
    assert errors == [f"error: {big}: 1200 pixels (40x30) exceeds the limit of 1000 (use --max-pixels)"], why
    assert result.stderr.splitlines()[-1] == "4 done, 0 skipped, 1 failed", why
    assert sorted(p.name for p in out.iterdir()) == [f"p{i}.png" for i in range(4)]
    assert temps(out) == [] and temps(photos) == []


def test_different_sizes_name_both_files_and_sizes(tmp_path):
    before = save(colour_field(40, 30, seed=1), tmp_path / "before.png")
    after = save(colour_field(41, 30, seed=1), tmp_path / "after.png")
    line = assert_error(
        invoke(*train_args(before, after, tmp_path / "m.npz")), 1, "before.png", "after.png", "40x30", "41x30"
    )
    assert "same size" in line
    assert not (tmp_path / "m.npz").exists()


def _exif_rotated(path: Path, array: np.ndarray, orientation: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array).save(path, exif=exif.tobytes(), quality=95)
    return path


def test_exif_rotated_source_with_unrotated_target(tmp_path):
    stored = colour_field(60, 40, seed=6)  # stored 60x40, shown 40x60 (orientation 6: rotate 90 CW)
    before = _exif_rotated(tmp_path / "rotated.jpg", stored, 6)
    after = save(gamma(stored), tmp_path / "unrotated.png")  # 60x40, as the pixels are stored
    assert_error(
        invoke(*train_args(before, after, tmp_path / "m.npz")),
        1,
        "rotated.jpg",
        "40x60",
        "unrotated.png",
        "60x40",
    )
    assert not (tmp_path / "m.npz").exists()
    # A target that is upright, like the rotated source, matches it.
    upright = save(gamma(np.rot90(stored, -1).copy()), tmp_path / "upright.png")
    assert_ok(invoke(*train_args(before, upright, tmp_path / "m.npz")))


# --- images: odd but valid -----------------------------------------------------------------------------


def _corrupt_exif(tmp_path, name, seed):
    # An IFD that claims 65535 entries in a 14-byte block.
    path = tmp_path / f"{name}.jpg"
    Image.fromarray(colour_field(40, 30, seed)).save(
        path, exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff"
    )
    return path


def _one_pixel(tmp_path, name, seed):
    colour = (10, 20, 30) if seed % 2 else (200, 120, 30)
    path = tmp_path / f"{name}.png"
    Image.new("RGB", (1, 1), colour).save(path)
    return path


def _sixteen_bit(tmp_path, name, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path / f"{name}.png"
    Image.fromarray(rng.integers(0, 65536, (30, 40), dtype=np.uint16)).save(path)
    with Image.open(path) as image:
        assert image.mode.startswith("I;16")
    return path


def _cmyk(tmp_path, name, seed):
    path = tmp_path / f"{name}.jpg"
    Image.fromarray(colour_field(40, 30, seed)).convert("CMYK").save(path)
    with Image.open(path) as image:
        assert image.mode == "CMYK"
    return path


def _palette_transparent(tmp_path, name, seed):
    path = tmp_path / f"{name}.gif"
    Image.fromarray(colour_field(40, 30, seed)).quantize(32).save(path, transparency=0)
    with Image.open(path) as image:
        assert image.mode == "P" and "transparency" in image.info
    return path


def _animated(ext):
    def make(tmp_path, name, seed):
        path = tmp_path / f"{name}{ext}"
        frames = [Image.fromarray(colour_field(40, 30, seed + k)) for k in range(3)]
        frames[0].save(
            path,
            save_all=True,
            append_images=frames[1:],
            duration=100,
            loop=0,
            **({"lossless": True} if ext == ".webp" else {}),
        )
        with Image.open(path) as image:
            assert image.n_frames == 3
        return path

    return make


def _la(tmp_path, name, seed):
    path = tmp_path / f"{name}.png"
    grey = colour_field(40, 30, seed)
    Image.fromarray(grey[..., :2].copy(), "LA").save(path)
    with Image.open(path) as image:
        assert image.mode == "LA"
    return path


ODD_IMAGES = {
    "corrupt-exif": _corrupt_exif,
    "1x1": _one_pixel,
    "16-bit-png": _sixteen_bit,
    "cmyk-jpeg": _cmyk,
    "palette-gif-transparent": _palette_transparent,
    "animated-gif": _animated(".gif"),
    "animated-webp": _animated(".webp"),
    "la-png": _la,
}


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")  # from the test's own Image.open
@pytest.mark.parametrize("make", ODD_IMAGES.values(), ids=ODD_IMAGES.keys())
def test_odd_images_train_and_apply(tmp_path, make):
    before, after = make(tmp_path, "before", 1), make(tmp_path, "after", 2)
    model = tmp_path / "m.npz"
    assert_ok(invoke(*train_args(before, after, model)))
    out = tmp_path / "out.png"
    assert_ok(invoke("apply", before, "-m", model, "-o", out))
    with Image.open(before) as source, Image.open(out) as result:
        assert result.size == source.size


def test_corrupt_exif_is_dropped_not_copied(tmp_path, model_file):
    photo = _corrupt_exif(tmp_path, "photo", 1)
    out = tmp_path / "out.jpg"
    assert_ok(invoke("apply", photo, "-m", model_file, "-o", out))
    with Image.open(out) as result:
        assert "exif" not in result.info


@pytest.mark.parametrize("ext", [".gif", ".webp"])
def test_animation_uses_the_first_frame(tmp_path, model_file, ext):
    animated = _animated(ext)(tmp_path, "anim", 7)
    with Image.open(animated) as image:  # the first frame, as decoded
        first = save(np.asarray(image.convert("RGB")), tmp_path / "first.png")
    assert_ok(invoke("apply", animated, "-m", model_file, "-o", tmp_path / "a.png"))
    assert_ok(invoke("apply", first, "-m", model_file, "-o", tmp_path / "b.png"))
    with Image.open(tmp_path / "a.png") as got, Image.open(tmp_path / "b.png") as expected:
        assert np.array_equal(np.asarray(got.convert("RGB")), np.asarray(expected))


def test_transparency_is_kept(tmp_path, model_file):
    gif = _palette_transparent(tmp_path, "pal", 1)
    la = _la(tmp_path, "la", 1)
    for source in (gif, la):
        out = tmp_path / f"{source.stem}-out.png"
        assert_ok(invoke("apply", source, "-m", model_file, "-o", out))
        with Image.open(out) as image:
            assert image.mode == "RGBA"


# --- models --------------------------------------------------------------------------------------------


def good_arrays(model_file: Path) -> dict[str, np.ndarray]:
    with np.load(model_file) as npz:
        return {key: npz[key] for key in npz.files}


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


def run_model_command(command: str, model: Path, tmp_path: Path):
    if command == "info":
        return invoke("info", model)
    photo = save(colour_field(8, 6, seed=1), tmp_path / "p.png")
    return invoke("apply", photo, "-m", model, "-o", tmp_path / "out.png")


MODEL_COMMANDS = pytest.mark.parametrize("command", ["info", "apply"])


@MODEL_COMMANDS
def test_model_not_a_zip(tmp_path, command):
    bad = tmp_path / "look.npz"
    bad.write_text("a look I made\n")
    line = assert_error(run_model_command(command, bad, tmp_path), 1, bad)
    assert "not an nnfilter model (not an .npz file)" in line and "allow_pickle" not in line


@MODEL_COMMANDS
def test_model_zip_that_is_not_an_npz(tmp_path, command):
    bad = tmp_path / "look.npz"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("readme.txt", "hello")
        archive.writestr("W0.npy", "not an array")
    assert "not an nnfilter model" in assert_error(run_model_command(command, bad, tmp_path), 1, bad)


@MODEL_COMMANDS
def test_model_missing_file_and_folder(tmp_path, command):
    assert "no such" in assert_error(
        run_model_command(command, tmp_path / "gone.npz", tmp_path), 1, "gone.npz"
    )
    (tmp_path / "dir.npz").mkdir()
    assert "folder" in assert_error(run_model_command(command, tmp_path / "dir.npz", tmp_path), 1, "dir.npz")


def test_model_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "look.npz"
    os.mkfifo(fifo)
    assert "not a regular file" in assert_error(invoke("info", fifo), 1, fifo)


class PickleBomb:
    """Unpickling this creates ``marker``: the proof that a loader ran code from the file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@MODEL_COMMANDS
@pytest.mark.parametrize("key", ["W0", "metadata", "extra"])
def test_pickled_object_array_is_never_unpickled(tmp_path, model_file, command, key):
    marker, control = tmp_path / "pwned", tmp_path / "control"
    bad = write_npz(
        tmp_path / "look.npz", {**good_arrays(model_file), key: np.array([PickleBomb(marker)], dtype=object)}
    )
    line = assert_error(run_model_command(command, bad, tmp_path), 1, bad)
    assert "pickled Python objects, which are never loaded" in line
    assert not marker.exists()
    # The payload is live: numpy with pickles allowed does run it.
    live = write_npz(tmp_path / "live.npz", {key: np.array([PickleBomb(control)], dtype=object)})
    with np.load(live, allow_pickle=True) as npz:
        npz[key]
    assert control.exists()


@MODEL_COMMANDS
@pytest.mark.parametrize("key", ["format_version", "layer_sizes", "metadata", "W0", "b0", "W1", "b1"])
def test_model_missing_array(tmp_path, model_file, command, key):
    arrays = good_arrays(model_file)
    del arrays[key]
    bad = write_npz(tmp_path / "look.npz", arrays)
    assert_error(run_model_command(command, bad, tmp_path), 1, bad)


WRONG_SHAPES = {
    "W0-transposed": lambda a: {"W0": a["W0"].T.copy()},
    "b1-too-long": lambda a: {"b1": np.zeros(5, np.float32)},
    "S-3x3": lambda a: {"S": np.eye(3, dtype=np.float32)},
    "P-2d": lambda a: {"P": a["P"][0].copy()},
    "P-one-knot": lambda a: {"P": a["P"][:, :1].copy()},
    "P-4-outputs": lambda a: {"P": np.zeros((6, 9, 4), np.float32)},
    "P-format-2-curves-in-format-3": lambda a: {"P": a["P"][:4].copy()},
    "W1-integers": lambda a: {"W1": a["W1"].astype(np.int32)},
    "layer_sizes-2d": lambda a: {"layer_sizes": a["layer_sizes"][None, :]},
    "layer_sizes-too-few": lambda a: {"layer_sizes": np.array([4, 4])},
    "format_version-array": lambda a: {"format_version": np.array([1])},
    "metadata-float": lambda a: {"metadata": a["metadata"].astype(np.float32)},
    "metadata-not-json": lambda a: {"metadata": np.frombuffer(b"{nope", np.uint8)},
    "metadata-deeply-nested": lambda a: {"metadata": np.frombuffer(b"[" * 100_000, np.uint8)},
    "activation-unknown": lambda a: {"metadata": np.frombuffer(b'{"activation": "swish"}', np.uint8)},
    "activation-a-list": lambda a: {"metadata": np.frombuffer(b'{"activation": []}', np.uint8)},
}


@MODEL_COMMANDS
@pytest.mark.parametrize("change", WRONG_SHAPES.values(), ids=WRONG_SHAPES.keys())
def test_model_wrong_shapes_and_types(tmp_path, model_file, command, change):
    arrays = good_arrays(model_file)
    bad = write_npz(tmp_path / "look.npz", {**arrays, **change(arrays)})
    assert_error(run_model_command(command, bad, tmp_path), 1, bad)


@MODEL_COMMANDS
@pytest.mark.parametrize("key", ["W0", "b0", "W1", "b1", "S", "P"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_model_non_finite_weights(tmp_path, model_file, command, key, value):
    arrays = good_arrays(model_file)
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] = value
    bad = write_npz(tmp_path / "look.npz", arrays)
    line = assert_error(run_model_command(command, bad, tmp_path), 1, bad, key)
    assert "NaN or infinite" in line


@MODEL_COMMANDS
def test_model_prior_without_skip_matrix(tmp_path, model_file, command):
    arrays = good_arrays(model_file)
    del arrays["S"]
    bad = write_npz(tmp_path / "look.npz", arrays)
    line = assert_error(run_model_command(command, bad, tmp_path), 1, bad)
    assert "a prior needs S" in line


@MODEL_COMMANDS
def test_model_future_format_version(tmp_path, model_file, command):
    bad = write_npz(tmp_path / "look.npz", {**good_arrays(model_file), "format_version": np.array(99)})
    line = assert_error(run_model_command(command, bad, tmp_path), 1, bad)
    assert "model format 99 is newer" in line and "upgrade nnfilter" in line


@MODEL_COMMANDS
@pytest.mark.parametrize("sizes", [[3, 8, 4], [4, 8, 3], [5, 8, 5]])
def test_model_layout_not_rgba_to_rgba(tmp_path, model_file, command, sizes):
    arrays = good_arrays(model_file)
    rng = np.random.default_rng(0)
    arrays.update(
        layer_sizes=np.array(sizes),
        W0=rng.random((sizes[0], 8), np.float32),
        W1=rng.random((8, sizes[-1]), np.float32),
        b1=np.zeros(sizes[-1], np.float32),
    )
    bad = write_npz(tmp_path / "look.npz", arrays)
    line = assert_error(run_model_command(command, bad, tmp_path), 1, bad)
    assert f"maps {sizes[0]} to {sizes[-1]} channels" in line


def test_model_zip_bomb_is_refused_before_inflating(tmp_path, model_file):
    # A W0 member that inflates to 256 MiB from about 1 MB: refused from the zip directory.
    bad = tmp_path / "look.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (4, 1 << 24)}
    )
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for key, array in good_arrays(model_file).items():
            if key != "W0":
                buffer = io.BytesIO()
                np.save(buffer, array)
                archive.writestr(f"{key}.npy", buffer.getvalue())
        with archive.open("W0.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            block = bytes(1 << 24)
            for _ in range(16):
                member.write(block)
    assert bad.stat().st_size < 4 << 20
    line = assert_error(invoke("info", bad), 1, bad)
    assert "too large" in line


# --- options -------------------------------------------------------------------------------------------

BAD_OPTIONS = [
    ("train", ["--lr", "0"], "--lr", "0<x<=100"),
    ("train", ["--lr", "nan"], "--lr", "0<x<=100"),
    ("train", ["--hidden", "0"], "--hidden", "1 to 8 layers of 1 to 1024"),
    ("train", ["--hidden", "a,b"], "--hidden", "16,16"),
    ("train", ["--hidden", "16,,16"], "--hidden", "16,16"),
    ("train", ["--epochs", "-1"], "--epochs", "x>=1"),
    ("train", ["--batch-size", "0"], "--batch-size", "x>=1"),
    ("train", ["--momentum", "1"], "--momentum", "0<=x<1"),
    ("train", ["--momentum", "nan"], "--momentum", "0<=x<1"),
    ("train", ["--error", "nan"], "--error", "x>=0"),
    ("train", ["--max-pixels", "0"], "--max-pixels", "x>=1"),
    ("apply", ["--quality", "101"], "--quality", "1<=x<=100"),
    ("apply", ["--quality", "0"], "--quality", "1<=x<=100"),
]


@pytest.mark.parametrize(
    "command, option, name, allowed", BAD_OPTIONS, ids=[" ".join(row[1]) for row in BAD_OPTIONS]
)
def test_option_out_of_range_is_a_usage_error(tmp_path, pair, model_file, command, option, name, allowed):
    if command == "train":
        args = ["train", *pair, "-o", tmp_path / "m.npz", *option]
    else:
        args = ["apply", pair[0], "-m", model_file, "-o", tmp_path / "out.jpg", *option]
    line = assert_error(invoke(*args), 2, name, allowed)
    assert line.startswith(f"Error: Invalid value for '{name}'")
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "out.jpg").exists()


def test_an_option_the_rest_leaves_unused_is_a_usage_error(tmp_path, pair, model_file):
    line = assert_error(
        invoke("train", *pair, "-o", tmp_path / "m.npz", "--momentum", "0.5"), 2, "--momentum"
    )
    assert "--optimizer sgd, not adam" in line and not (tmp_path / "m.npz").exists()
    cube = tmp_path / "look.cube"
    assert invoke("export", model_file, "-o", cube, "--size", "5")[0].exit_code == 0
    args = ["apply", pair[0], "--lut", cube, "--warn-coverage=0.1", "-o", tmp_path / "out.jpg"]
    line = assert_error(invoke(*args), 2, "--warn-coverage")
    assert "needs a model" in line and not (tmp_path / "out.jpg").exists()


# --- training faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "look, options",
    [
        (gamma, ["--optimizer", "sgd", "--lr", "100"]),  # the error explodes
        (gamma, ["--lr", "50"]),  # Adam: the error jumps 17x in the first epoch
        (sepia, ["--lr", "50"]),  # Adam: finite, but never better than the start
        (sepia, ["--optimizer", "sgd", "--lr", "100"]),  # ends worse than it started
    ],
    ids=["gamma-sgd-100", "gamma-adam-50", "sepia-adam-50", "sepia-sgd-100"],
)
def test_diverging_training_saves_nothing(tmp_path, look, options):
    source = colour_field(96, 64, seed=1)
    before, after = save(source, tmp_path / "b.png"), save(look(source), tmp_path / "a.png")
    model = tmp_path / "look.npz"
    line = assert_error(invoke("train", before, after, "-o", model, "--epochs", "30", *options), 1)
    assert "diverged" in line and "smaller --lr" in line
    assert not model.exists() and temps(tmp_path) == []


def test_a_saturated_model_that_a_trivial_one_beats_is_not_saved(tmp_path):
    # With this rate the network saturates: its error drops below where it started (the inverted
    # colours are far from the identity) but stays above a flat colour's, and far above a straight
    # line per channel's (zero); the message names the first trivial model that beats it.
    source = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    before, after = save(source, tmp_path / "b.png"), save(255 - source, tmp_path / "a.png")
    model = tmp_path / "look.npz"
    line = assert_error(invoke("train", before, after, "-o", model, "--optimizer", "sgd", "--lr", "100"), 1)
    assert "training diverged" in line and "is no better than" in line and "smaller --lr" in line
    assert re.search(r"after \d+ epochs? the model's error", line), line
    assert not model.exists() and temps(tmp_path) == []
    assert_ok(invoke("train", before, after, "-o", model))  # the defaults learn it


def test_default_rates_do_not_count_as_diverged(tmp_path):
    source = colour_field(96, 64, seed=1)
    before = save(source, tmp_path / "b.png")
    for look in (gamma, sepia, lambda rgb: 255 - rgb, lambda rgb: rgb):
        after = save(look(source), tmp_path / "a.png")
        for optimizer in ("adam", "sgd"):
            assert_ok(
                invoke(
                    "train",
                    before,
                    after,
                    "-o",
                    tmp_path / "m.npz",
                    "--force",
                    "--optimizer",
                    optimizer,
                    "--epochs",
                    "5",
                )
            )


def test_ctrl_c_saves_the_best_model_so_far(tmp_path):
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)  # many colour cells: slow epochs
    before, after = save(source, tmp_path / "b.png"), save(gamma(source), tmp_path / "a.png")
    model = tmp_path / "look.npz"
    leader, follower = open_terminal()  # on a terminal, the progress bar shows each epoch as it ends
    with subprocess.Popen(
        [NNFILTER, "train", before, after, "-o", model, "--epochs", "1000"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # even if ignored here
    ) as process:
        os.close(follower)
        read_until(leader, lambda text: re.search(r"\| *[1-9]\d*/1000", text) is not None)
        process.send_signal(signal.SIGINT)
        stderr = read_until(leader, lambda text: False)
        process.wait(timeout=HANG_GUARD_SECONDS)
    os.close(leader)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted: saved the best model so far" in stderr.splitlines()[-1], stderr
    assert_ok(invoke("info", model))
    assert temps(tmp_path) == []


def test_ctrl_c_while_reading_or_saving_exits_130(tmp_path, pair, monkeypatch):
    import nnfilter.pairs
    from nnfilter.look import Look

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    model = tmp_path / "look.npz"
    with monkeypatch.context() as patch:
        patch.setattr(nnfilter.pairs, "open_pairs", interrupt)
        result, why = invoke(*train_args(*pair, model))
    assert result.exit_code == 130 and "no model saved" in result.stderr, why
    monkeypatch.setattr(Look, "save", interrupt)
    result, why = invoke(*train_args(*pair, model))
    assert result.exit_code == 130 and "not written" in result.stderr, why
    assert not model.exists() and temps(tmp_path) == []


def test_ctrl_c_while_a_command_loads_its_look_exits_130(tmp_path, photo, model_file, monkeypatch):
    from nnfilter.look import Look

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Look, "load", interrupt)
    out = tmp_path / "out.png"
    for args in (["apply", photo, "-m", model_file, "-o", out], ["info", model_file]):
        result, why = invoke(*args)
        assert result.exit_code == 130, why
        assert result.stderr.strip() == "interrupted" and "Aborted" not in result.output
    assert not out.exists() and temps(tmp_path) == []


# --- output faults -------------------------------------------------------------------------------------


def test_output_exists_is_untouched(tmp_path, pair, model_file, photo):
    existing = tmp_path / "out.png"
    existing.write_bytes(b"keep me")
    assert "exists" in assert_error(invoke("apply", photo, "-m", model_file, "-o", existing), 1, existing)
    model = tmp_path / "look.npz"
    model.write_bytes(b"keep me too")
    assert "exists (use --force to overwrite)" in assert_error(invoke(*train_args(*pair, model)), 1, model)
    assert existing.read_bytes() == b"keep me" and model.read_bytes() == b"keep me too"
    assert temps(tmp_path) == []


def test_output_under_a_file_used_as_folder(tmp_path, pair, model_file, photo):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    for args in (
        ("apply", photo, "-m", model_file, "-o", tmp_path / "notes.txt" / "out.png"),
        train_args(*pair, tmp_path / "notes.txt" / "look.npz"),
    ):
        line = assert_error(invoke(*args), 1, "notes.txt")
        assert "not a folder" in line
    assert (tmp_path / "notes.txt").read_text() == "a file, not a folder"


def test_output_in_an_unwritable_folder(tmp_path, pair, model_file, photo):
    for args in (
        ("apply", photo, "-m", model_file, "-o", "/proc/nnfilter-test.png"),
        train_args(*pair, "/proc/nnfilter-test.npz"),
    ):
        line = assert_error(invoke(*args), 1, "/proc/nnfilter-test")
        assert "cannot write" in line


def test_output_that_is_a_folder(tmp_path, pair, model_file, photo):
    folder = tmp_path / "look.npz"
    folder.mkdir()
    for force in ([], ["--force"]):
        assert "is a folder" in assert_error(invoke(*train_args(*pair, folder, *force)), 1, folder)
    # apply -o FOLDER writes FOLDER/photo.png; if that is itself a folder, it is refused.
    (tmp_path / "out" / "photo.png").mkdir(parents=True)
    line = assert_error(
        invoke("apply", photo, "-m", model_file, "-o", tmp_path / "out", "--force"), 1, "photo.png"
    )
    assert "is a folder" in line
    assert list((tmp_path / "out").iterdir()) == [tmp_path / "out" / "photo.png"]
    assert temps(tmp_path) == []


def test_output_to_a_device_is_refused(tmp_path, pair):
    line = assert_error(invoke(*train_args(*pair, "/dev/full", "--force")), 1, "/dev/full")
    assert "not a regular file" in line


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("command", [["info"], ["info", "--json"], ["eval", "-m"]])
def test_data_that_stdout_cannot_take_is_one_error_line(tmp_path, pair, model_file, command):
    args = [NNFILTER, *command, model_file, *(pair if command[0] == "eval" else [])]
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            args, stdout=full, stderr=subprocess.PIPE, text=True, timeout=HANG_GUARD_SECONDS
        )
    assert done.returncode == 1, done.stderr
    assert done.stderr == "Error: cannot write the output (No space left on device)\n"


def test_a_closed_stdout_is_no_error(tmp_path, pair, model_file):
    for command in (
        ["info", model_file],
        ["apply", pair[0], "-m", model_file, "-o", tmp_path / "out.png", "-q"],
    ):
        done = subprocess.run(["sh", "-c", '"$@" >&-', "sh", NNFILTER, *map(str, command)],
                              stderr=subprocess.PIPE, text=True, timeout=HANG_GUARD_SECONDS)  # fmt: skip
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert (tmp_path / "out.png").is_file()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 16 KiB tmpfs (needs root, or CAP_SYS_ADMIN); skipped where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _big_photo(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    return save(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), tmp_path / "noise.png")  # ~58 KB


def test_full_disk_tmpfs(tmp_path, tiny_disk, pair, model_file):
    photo = _big_photo(tmp_path)
    existing = tiny_disk / "out.png"
    existing.write_bytes(b"keep me")
    line = assert_error(invoke("apply", photo, "-m", model_file, "-o", existing, "--force"), 1, existing)
    assert "No space left on device" in line
    new = tiny_disk / "new.png"
    assert_error(invoke("apply", photo, "-m", model_file, "-o", new), 1, new)
    model = tiny_disk / "look.npz"
    line = assert_error(invoke(*train_args(*pair, model, "--hidden", "128,128")), 1, model)
    assert "No space left on device" in line
    assert existing.read_bytes() == b"keep me" and not new.exists() and not model.exists()
    assert temps(tiny_disk) == []


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, 16 << 10))


def test_full_disk_file_size_limit(tmp_path, pair, model_file):
    """The same failure without root: RLIMIT_FSIZE makes a write past 16 KiB fail with EFBIG."""
    photo = _big_photo(tmp_path)
    existing = tmp_path / "out.png"
    existing.write_bytes(b"keep me")
    runs = [
        [NNFILTER, "apply", photo, "-m", model_file, "-o", existing, "--force"],
        [NNFILTER, *train_args(*pair, tmp_path / "look.npz", "--hidden", "128,128")],
    ]
    for args in runs:
        done = subprocess.run(args, capture_output=True, text=True, preexec_fn=_limit_file_size, timeout=60)
        errors = [line for line in done.stderr.splitlines() if line.lower().startswith("error:")]
        assert done.returncode == 1 and len(errors) == 1, done.stderr
        assert "Traceback" not in done.stderr and "File too large" in errors[0], done.stderr
    assert existing.read_bytes() == b"keep me" and not (tmp_path / "look.npz").exists()
    assert temps(tmp_path) == []
