"""Shared test helpers: generated images with many colours, known looks to learn."""

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image


def colour_field(width: int, height: int, seed: int) -> np.ndarray:
    """A uint8 RGB image (height, width, 3) of smooth waves that together cover most of the RGB cube."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 2 * np.pi)
        channels.append(0.5 + 0.5 * np.sin(2 * np.pi * (fx * x + fy * y * rng.choice([-1, 1])) + phase))
    rgb = np.stack(channels, axis=-1) + rng.normal(0, 0.01, (height, width, 3))
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


def sepia(rgb: np.ndarray) -> np.ndarray:
    """The classic sepia matrix, clipped."""
    return np.clip(np.rint(rgb.astype(np.float64) @ SEPIA.T), 0, 255).astype(np.uint8)


def gamma(rgb: np.ndarray, g: float = 0.6) -> np.ndarray:
    """A gamma curve on every channel."""
    return np.rint(255 * (rgb / 255.0) ** g).astype(np.uint8)


@pytest.fixture
def pair_files(tmp_path):
    """A before/after PNG pair (gamma look) and a different test photo, as files."""
    before = colour_field(96, 64, seed=1)
    paths = {
        "before": tmp_path / "before.png",
        "after": tmp_path / "after.png",
        "photo": tmp_path / "photo.png",
    }
    Image.fromarray(before).save(paths["before"])
    Image.fromarray(gamma(before)).save(paths["after"])
    Image.fromarray(colour_field(80, 60, seed=2)).save(paths["photo"])
    return paths


# --- comparing images -------------------------------------------------------------------------------------


def _levels(image) -> np.ndarray:
    """An image file, Pillow image or array as an int array of its levels (images converted to RGB/RGBA)."""
    if isinstance(image, (str, Path)):
        with Image.open(image) as opened:
            return _levels(opened)
    if isinstance(image, Image.Image):
        image = image if image.mode in ("RGB", "RGBA") else image.convert("RGB")
    return np.asarray(image).astype(np.int64)


def assert_image_similar(a, b, max_level: int = 255, share: float = 0.0, mean: float | None = None, what=""):
    """``a`` and ``b`` (image files, Pillow images or arrays) have the same shape, at most ``share`` of
    their values differ by more than ``max_level`` levels, and (if given) their mean difference is at
    most ``mean`` levels (Pillow's ``assert_image_similar`` compares the mean only)."""
    a, b = _levels(a), _levels(b)
    assert a.shape == b.shape, f"{what}: got shape {a.shape}, expected {b.shape}"
    diff = np.abs(a - b)
    over = float((diff > max_level).mean())
    why = (
        f"{what}: differ by up to {diff.max()} levels, {diff.mean():.3f} on average, "
        f"{100 * over:.3f}% of values by more than {max_level}"
    )
    assert over <= share, why
    assert mean is None or diff.mean() <= mean, why


# --- real programs that read our files (ffmpeg, ImageMagick, OpenColorIO) ----------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _version(exe: str, flag: str) -> str:
    try:
        run = subprocess.run([exe, flag], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ""
    return run.stdout if run.returncode == 0 else ""


def _require(tool: str, exe: str | None, package: str) -> str:
    if exe is not None:
        return exe
    message = f"{tool} not found (apt-get install {package})"
    if _in_ci():
        pytest.fail(f"{message}; CI is set, so this test may not be skipped")
    pytest.skip(message)


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    found = exe if exe and _version(exe, "-version").startswith("ffmpeg version") else None
    return _require("ffmpeg", found, "ffmpeg")


@pytest.fixture(scope="session")
def imagemagick() -> str:
    """ImageMagick 7's magick, else 6's convert; a convert that isn't ImageMagick (a stand-in) does not count."""
    for name in ("magick", "/usr/bin/convert", "convert"):
        exe = shutil.which(name)
        if exe and "Version: ImageMagick" in _version(exe, "-version"):
            return exe
    return _require("ImageMagick", None, "imagemagick")


@pytest.fixture(scope="session")
def ocioconvert() -> str:
    """OpenColorIO's ocioconvert, which applies a LUT file to an image (through OpenImageIO)."""
    exe = shutil.which("ocioconvert")
    found = exe if exe and "--lut" in _version(exe, "--help") else None
    return _require("ocioconvert", found, "opencolorio-tools")


def run(args: list[str], cwd) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, (
        f"{args} exited {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    )


# The installed command, beside this Python (the venv's bin).
NNFILTER = Path(sys.executable).with_name("nnfilter")


# --- files -------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(path: Path, width: int, height: int, pixel_data: bytes | None = None) -> Path:
    """A tiny PNG whose IHDR declares ``width`` x ``height`` 8-bit RGB pixels, with no pixel data
    (or only the compressed ``pixel_data`` given, far too little)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = b"" if pixel_data is None else _png_chunk(b"IDAT", pixel_data)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + idat + _png_chunk(b"IEND", b""))
    return path


# --- the CLI -------------------------------------------------------------------------------------------


def invoke(*args, input=None):
    """Run the CLI in-process (exceptions not caught); return the result and a message with exit
    code, stdout and stderr for the assert."""
    from nnfilter.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)
    return result, f"exit {result.exit_code}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    """The model the tests share, trained once per session by `nnfilter train` (a few epochs): the
    gamma look of ``pair_files``."""
    folder = tmp_path_factory.mktemp("model")
    before = colour_field(96, 64, seed=1)
    Image.fromarray(before).save(folder / "before.png")
    Image.fromarray(gamma(before)).save(folder / "after.png")
    path = folder / "look.npz"
    result, info = invoke("train", folder / "before.png", folder / "after.png", "-o", path, "--epochs", "20")
    assert result.exit_code == 0, info
    return path


# --- waiting for a process to show something -------------------------------------------------------------

# How long to wait for a process to show what a test waits for: a guard against a hang, not a speed bound
# (each wait is for something that takes a second or less on a quiet machine).
HANG_GUARD_SECONDS = 60


def open_terminal() -> tuple[int, int]:
    """A pseudo-terminal of 24 rows and 100 columns, as in an interactive shell: (leader, follower)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # without a width, no bar
    return leader, follower


def read_until(fd: int, done: Callable[[str], bool], timeout: float = HANG_GUARD_SECONDS) -> str:
    """Read text from a pipe or terminal until ``done(text so far)`` holds or the writer closes it."""
    text, deadline = "", time.monotonic() + timeout
    while not done(text):
        remaining = deadline - time.monotonic()
        ready = remaining > 0 and select.select([fd], [], [], remaining)[0]
        assert ready, f"nothing more after {timeout} s; read so far: {text!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # a terminal reads as an error once the process on it has ended
            chunk = b""
        if not chunk:
            break
        text += chunk.decode(errors="replace")
    return text
