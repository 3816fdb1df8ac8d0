"""16-bit images and the maths on them: a look or a LUT applied at full precision, in strips.

A ``DeepImage`` holds 16-bit-per-channel RGB or RGBA pixels (Pillow holds 16 bits only for
greyscale). The network sees them as ``value / 65535`` and its float32 output is rounded to the
nearest of 65536 levels, strip by strip in place, so memory beyond the image stays at a few strips
whatever its size; no colour table is used (a photo at 16 bits may hold as many colours as pixels).

Reading and writing such files is in ``images16``; this module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .apply import in_threads
from .model import MLP, one_blas_thread, predict
from .strength import blend

FULL = 65535
#: Pixels filtered at a time by one thread: a strip's float32 copies stay at a few MiB.
STRIP_PIXELS = 1 << 16
#: Output formats that hold 16 bits per channel (the others get 8).
DEEP_FORMATS = ("PNG", "TIFF")


@dataclass
class DeepImage:
    """A 16-bit RGB or RGBA image: ``pixels`` uint16 (height, width, 3 or 4), straight alpha,
    ``info`` what a writer needs ("exif", "icc_profile", as ``images.open_image`` gives them)."""

    pixels: np.ndarray
    info: dict[str, bytes] = field(default_factory=dict)
    format: str | None = None

    @property
    def mode(self) -> str:
        return "RGBA" if self.pixels.shape[2] == 4 else "RGB"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow's ``Image.size``."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    def copy(self) -> DeepImage:
        return DeepImage(self.pixels.copy(), dict(self.info), self.format)

    def to_pillow(self) -> Image.Image:
        """The image rounded to 8 bits, as a Pillow RGB or RGBA image with the same ``info``."""
        image = Image.fromarray(to_8bit(self.pixels), self.mode)
        image.info = dict(self.info)
        image.format = self.format
        return image

    @classmethod
    def from_pillow(cls, image: Image.Image) -> DeepImage:
        """An 8-bit RGB or RGBA Pillow image widened to 16 bits (``v * 257``: 255 -> 65535)."""
        return cls(to_16bit(np.asarray(image)), dict(image.info), image.format)


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """uint16 values rounded to the nearest of 256 levels (``round(v * 255 / 65535)``).

    >>> to_8bit(np.array([0, 128, 129, 32896, 65535], np.uint16)).tolist()
    [0, 0, 1, 128, 255]
    """
    return ((pixels.astype(np.uint32) * 255 + FULL // 2) // FULL).astype(np.uint8)


def to_16bit(pixels: np.ndarray) -> np.ndarray:
    """uint8 values widened to 16 bits exactly (``v * 257``), so that ``to_8bit`` undoes it.

    >>> to_16bit(np.array([0, 1, 255], np.uint8)).tolist()
    [0, 257, 65535]
    """
    return pixels.astype(np.uint16) * np.uint16(257)


def unpremultiply(pixels: np.ndarray) -> np.ndarray:
    """RGBA uint16 with associated (premultiplied) alpha made straight, in place; alpha 0 stays black."""
    alpha = pixels[..., 3:].astype(np.float32)
    rgb = pixels[..., :3].astype(np.float32) * FULL
    np.divide(rgb, alpha, out=rgb, where=alpha > 0)
    pixels[..., :3] = np.rint(np.clip(rgb, 0, FULL))
    return pixels


def network_on_pixels(model: MLP, pixels: np.ndarray, keep_alpha: bool, strength: float = 1.0) -> np.ndarray:
    """The network on uint16 pixels (n, 3 or 4): uint16 (n, 4), each value
    ``round(65535 * network(v / 65535))`` in float32 (within 1 level of the network in float64),
    blended with the input at ``strength`` (``strength.blend``).

    With ``keep_alpha`` the network sees each pixel as opaque and its alpha (65535 for RGB) is
    kept; otherwise the network's alpha is used.
    """
    x = np.empty((len(pixels), 4), np.float32)
    x[:, : pixels.shape[1]] = pixels
    if keep_alpha or pixels.shape[1] == 3:
        x[:, 3] = FULL
    x /= FULL
    y = blend(x, predict(model, x), strength)
    y *= FULL
    out = np.rint(y, out=y).astype(np.uint16)
    if keep_alpha:
        out[:, 3] = pixels[:, 3] if pixels.shape[1] == 4 else FULL
    return out


def apply_network(
    model: MLP, image: DeepImage, keep_alpha: bool = True, threads: int = 1, strength: float = 1.0
) -> DeepImage:
    """Filter a 16-bit image with the network, in place, in strips on ``threads`` threads.

    An RGB image stays RGB unless a look that learned alpha gives some pixel transparency.
    """
    pixels = image.pixels
    if not keep_alpha and pixels.shape[2] == 3:
        pixels = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), FULL, np.uint16)], axis=2)
    channels = pixels.shape[2]

    def filter_rows(flat: np.ndarray) -> None:
        flat[...] = network_on_pixels(model, flat, keep_alpha, strength)[:, :channels]

    with one_blas_thread():
        for_each_strip(pixels, filter_rows, threads)
    if channels == 4 and image.pixels.shape[2] == 3 and (pixels[..., 3] == FULL).all():
        pixels = pixels[..., :3]
    return DeepImage(pixels, image.info, image.format)


def trilinear(table: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """A 3D LUT at float RGB (n, 3) in [0, 1], interpolated trilinearly as Pillow's Color3DLUT
    does: (n, 3) float32. ``table`` is ``table[b, g, r]`` of shape (size, size, size, 3).

    >>> grid = np.linspace(0, 1, 2, dtype=np.float32)
    >>> b, g, r = np.meshgrid(grid, grid, grid, indexing="ij")
    >>> identity = np.stack([r, g, b], axis=-1)
    >>> trilinear(identity, np.array([[0.25, 0.5, 1.0]], np.float32)).tolist()
    [[0.25, 0.5, 1.0]]
    """
    size = table.shape[0]
    scaled = np.clip(rgb, 0, 1) * np.float32(size - 1)
    low = np.minimum(scaled.astype(np.intp), size - 2)
    frac = (scaled - low).astype(np.float32)
    flat = table.reshape(-1, 3)
    base = (low[:, 2] * size + low[:, 1]) * size + low[:, 0]
    out = np.zeros((len(rgb), 3), np.float32)
    for corner in range(8):
        dr, dg, db = corner & 1, (corner >> 1) & 1, (corner >> 2) & 1
        weight = np.ones(len(rgb), np.float32)
        for axis, step in enumerate((dr, dg, db)):
            weight *= frac[:, axis] if step else 1 - frac[:, axis]
        out += weight[:, None] * flat[base + (db * size + dg) * size + dr]
    return out


def apply_table(table: np.ndarray, image: DeepImage, threads: int = 1) -> DeepImage:
    """Filter a 16-bit image with a 3D LUT (see ``trilinear``), in place, in strips; alpha is kept."""

    def filter_rows(flat: np.ndarray) -> None:
        rgb = flat[:, :3].astype(np.float32) / FULL
        out = trilinear(table, rgb)
        out *= FULL
        flat[:, :3] = np.rint(np.clip(out, 0, FULL, out=out))

    for_each_strip(image.pixels, filter_rows, threads)
    return image


def for_each_strip(pixels: np.ndarray, filter_rows: Callable[[np.ndarray], None], threads: int) -> None:
    """Call ``filter_rows`` on each horizontal strip of about ``STRIP_PIXELS`` of ``pixels`` (h, w, c),
    C-contiguous, as a view (n, c) to change in place, on ``threads`` threads (``apply.in_threads``;
    numpy releases the GIL). The first error raised in a thread is raised here once all have stopped."""
    if not pixels.flags.c_contiguous:
        raise ValueError("pixels must be C-contiguous to be filtered in place")
    height, width, channels = pixels.shape
    rows = max(1, STRIP_PIXELS // max(width, 1))
    in_threads(
        range(0, height, rows),
        lambda top: filter_rows(pixels[top : top + rows].reshape(-1, channels)),
        threads,
    )


def output_depth(image: Image.Image | DeepImage, fmt: str, depth: int | None) -> int:
    """The bits per channel to write: ``depth`` if given, else the input's; 8 where the format
    (JPEG, WebP) holds no more.

    >>> output_depth(DeepImage(np.zeros((1, 1, 3), np.uint16)), "JPEG", 16)
    8
    """
    if fmt not in DEEP_FORMATS:
        return 8
    if depth is not None:
        return depth
    return 16 if isinstance(image, DeepImage) else 8
