"""Applying a model to pixels and images, in bounded memory.

Two ways give the same picture (``tests/test_apply.py`` checks it):

- ``exact``: the network on every pixel, in float32 chunks of ``CHUNK_PIXELS``.
- ``table``: the network evaluated once per distinct colour. An opaque photo holds at most 2^24
  colours and a real one a few hundred thousand, so a ``ColourTable`` evaluates the colours an
  image holds (and remembers them for the next image), then maps every pixel with one array
  lookup. This needs one alpha for the whole image: a look learned from opaque pairs never depends
  on alpha (it is applied at alpha 1 and the image's alpha is kept), and a look that learned alpha
  can use it only when the image's alpha is the same everywhere. (A 65³ ``Color3DLUT`` was
  measured too: as fast, but its trilinear interpolation missed by up to 5 levels in dark colours,
  where the network's logit skip path bends sharply.)

Images are filtered in horizontal strips written back in place, so memory beyond the image itself
stays at a few strips plus the table (64 MiB), whatever the image size.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, ImageFilter
from threadpoolctl import threadpool_limits

from .model import MLP, predict

CHUNK_PIXELS = 65536
STRIP_PIXELS = 1 << 20
PACKED = np.dtype("<u4")  # an RGBA pixel as Pillow's raw bytes, read as one little-endian integer


def apply_to_pixels(
    model: MLP, rgba: np.ndarray, keep_alpha: bool = True, chunk: int = CHUNK_PIXELS
) -> np.ndarray:
    """Filter uint8 pixels of shape (..., 4) exactly, ``chunk`` pixels at a time.

    With ``keep_alpha`` the network sees every pixel as opaque and the input alpha is kept: that
    is how a look learned from opaque pairs is applied.
    """
    flat = rgba.reshape(-1, 4)
    out = np.empty_like(flat)
    with threadpool_limits(limits=1, user_api="blas"):  # its threads only slow products this small
        for start in range(0, len(flat), chunk):
            block = flat[start : start + chunk]
            x = block.astype(np.float32) / 255
            if keep_alpha:
                x[:, 3] = 1
            out[start : start + chunk] = np.rint(predict(model, x) * 255)
            if keep_alpha:
                out[start : start + chunk, 3] = block[:, 3]
    return out.reshape(rgba.shape)


def opaque_colour_fn(model: MLP) -> Callable[[np.ndarray], np.ndarray]:
    """The look as a function of opaque colours, RGB in [0, 1] (n, 3) -> RGB (n, 3): what
    ``lut.bake_table`` evaluates on a grid to export the look as a 3D LUT."""

    def colour_fn(rgb: np.ndarray) -> np.ndarray:
        x = np.concatenate([rgb, np.ones((len(rgb), 1), np.float32)], axis=1)
        with threadpool_limits(limits=1, user_api="blas"):
            return predict(model, x)[:, :3]

    return colour_fn


class ColourTable:
    """The network's output for every RGB colour met so far, at one input alpha.

    Outputs are packed as little-endian RGBA uint32, the layout of Pillow's raw "RGBX"/"RGBA"
    bytes, so a strip of pixels maps through ``numpy.take`` with no float copy of the image.
    With ``keep_alpha`` the network sees alpha 1 and each pixel keeps its own alpha.
    """

    def __init__(self, model: MLP, alpha: int = 255, keep_alpha: bool = True):
        self.model, self.alpha, self.keep_alpha = model, alpha, keep_alpha
        self.outputs = np.zeros(1 << 24, PACKED)
        self.known = np.zeros(1 << 24, bool)
        self._pending = np.zeros(1 << 24, bool)

    def mark(self, keys: np.ndarray) -> None:
        """Note the colours among ``keys`` (0xBBGGRR) that are not known yet."""
        unknown = keys[~self.known[keys]]
        if len(unknown):
            self._pending[unknown] = True

    def evaluate_marked(self) -> None:
        """Run the network on the colours ``mark`` noted, in chunks, with single-threaded BLAS
        (its threads only slow down products this small)."""
        new = np.flatnonzero(self._pending).astype(np.uint32)
        with threadpool_limits(limits=1, user_api="blas"):
            for start in range(0, len(new), CHUNK_PIXELS):
                colours = new[start : start + CHUNK_PIXELS]
                x = np.empty((len(colours), 4), np.float32)
                for channel in range(3):
                    x[:, channel] = (colours >> (8 * channel)) & 255
                x[:, 3] = 255 if self.keep_alpha else self.alpha
                x /= 255
                y = np.rint(predict(self.model, x) * 255).astype(np.uint32)
                self.outputs[colours] = y[:, 0] | y[:, 1] << 8 | y[:, 2] << 16 | y[:, 3] << 24
        self.known[new] = True
        self._pending[new] = False

    def changes_alpha(self) -> bool:
        """Whether the network gives any known colour another alpha than its input's."""
        return not self.keep_alpha and bool(
            ((self.outputs[self.known] >> 24) != self.alpha).any()
        )

    def map_strip(self, strip: Image.Image, mode: str) -> Image.Image:
        """``strip`` (RGB or RGBA) filtered into an image of ``mode``; its colours must be known."""
        raw = _packed(strip)
        out = self.outputs[raw & 0xFFFFFF]
        if self.keep_alpha and strip.mode == "RGBA":
            out &= 0xFFFFFF
            out |= raw & 0xFF000000
        raw_mode = "RGBA" if mode == "RGBA" else "RGBX"
        return Image.frombuffer(mode, strip.size, out, "raw", raw_mode, 0, 1)

    def apply(self, image: Image.Image, threads: int) -> Image.Image:
        """Filter an RGB or RGBA image whose alpha is ``self.alpha`` everywhere (any alpha with
        ``keep_alpha``), in strips, in place when its mode is kept."""
        for box in _strips(image):
            self.mark(_packed(image.crop(box)) & 0xFFFFFF)
        self.evaluate_marked()
        mode = "RGBA" if self.changes_alpha() else image.mode
        if mode != image.mode:
            image = image.convert(mode)
        return _filter_strips(image, lambda strip: self.map_strip(strip, mode), threads)


def _packed(strip: Image.Image) -> np.ndarray:
    """Each pixel of an RGB or RGBA image as a uint32 0xAABBGGRR (alpha 255 for RGB)."""
    return np.frombuffer(strip.tobytes("raw", "RGBA"), PACKED)


def apply_to_image(
    model: MLP,
    image: Image.Image,
    keep_alpha: bool = True,
    method: str = "auto",
    threads: int | None = None,
    table: ColourTable | None = None,
) -> Image.Image:
    """Filter an "RGB" or "RGBA" image; returns an image of the same size (RGBA if the look
    gives an RGB image transparency).

    ``image`` may be modified in place and returned. ``method`` is "table", "exact" or "auto"
    (the table wherever it applies). ``threads`` defaults to the number of cores. ``table`` is a
    ``ColourTable(model, 255, keep_alpha)`` to reuse across images.
    """
    threads = threads or os.cpu_count() or 1
    if image.mode not in ("RGB", "RGBA"):
        raise ValueError(f"image mode must be RGB or RGBA, got {image.mode}")
    if method not in ("auto", "table", "exact"):
        raise ValueError(f"method must be auto, table or exact, got {method!r}")
    alpha = _constant_alpha(image)
    if method == "exact" or (method == "auto" and not keep_alpha and alpha is None):
        if not keep_alpha:  # the network gives every pixel an alpha
            image = image.convert("RGBA")
        return _filter_strips(image, lambda strip: _exact_strip(model, strip, keep_alpha), threads)
    if not keep_alpha and alpha is None:
        raise ValueError("the table method needs an image of one alpha for a look that learned alpha")
    if table is None or not (keep_alpha or alpha == table.alpha):
        table = ColourTable(model, alpha if alpha is not None else 255, keep_alpha)
    return table.apply(image, threads)


def apply_lut(
    image: Image.Image, lut: ImageFilter.Color3DLUT, threads: int | None = None
) -> Image.Image:
    """Filter an "RGB" or "RGBA" image with a Pillow 3D LUT, in strips, in place where it can.

    A 3-channel LUT keeps alpha; a 4-channel one (RGB in, RGBA out) returns an RGBA image.
    """
    threads = threads or os.cpu_count() or 1
    if lut.channels == 3:
        return _filter_strips(image, lambda strip: strip.filter(lut), threads)
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    return _filter_strips(rgba, lambda strip: strip.convert("RGB").filter(lut), threads)


def _constant_alpha(image: Image.Image) -> int | None:
    """The image's alpha when it is the same on every pixel (255 for RGB), else None."""
    if image.mode == "RGB":
        return 255
    low, high = image.getchannel("A").getextrema()
    return low if low == high else None


def _exact_strip(model: MLP, strip: Image.Image, keep_alpha: bool) -> Image.Image:
    rgba = np.asarray(strip.convert("RGBA"))
    out = apply_to_pixels(model, rgba, keep_alpha)
    return Image.fromarray(out if strip.mode == "RGBA" else out[..., :3])


def _strips(image: Image.Image) -> list[tuple[int, int, int, int]]:
    """Boxes of horizontal strips of about ``STRIP_PIXELS`` that cover the image."""
    width, height = image.size
    rows = max(1, STRIP_PIXELS // max(width, 1))
    return [(0, top, width, min(top + rows, height)) for top in range(0, height, rows)]


def _filter_strips(image: Image.Image, filter_strip, threads: int) -> Image.Image:
    """Run ``filter_strip`` over horizontal strips of ``image`` and paste each result back.

    ``threads`` strips are filtered at a time (Pillow and numpy release the GIL), so memory beyond
    the image stays at ``threads`` strips.
    """
    boxes = _strips(image)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for start in range(0, len(boxes), threads):
            group = boxes[start : start + threads]
            results = pool.map(lambda box: filter_strip(image.crop(box)), group)
            for box, result in zip(group, results):
                image.paste(result, box)
    return image
