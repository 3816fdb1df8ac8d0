"""Applying a model to pixels and images, in bounded memory.

Two ways give the same picture (within a level; ``tests/test_apply.py`` checks it):

- ``exact``: the network on every pixel, in float32 chunks of ``CHUNK_PIXELS``.
- ``lut``: the network evaluated once on a ``LUT_SIZE``³ RGB grid, then applied by Pillow's
  ``Color3DLUT`` (trilinear, in C). This needs one alpha for the whole image: a look learned from
  opaque pairs never depends on alpha (it is applied at alpha 1 and the image's alpha is kept), and
  a look that learned alpha can use it only when the image's alpha is the same everywhere.

Images are filtered in horizontal strips written back in place, so memory beyond the image itself
stays at one strip, whatever the image size.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, ImageFilter

from .lut import grid_points
from .model import MLP, predict

CHUNK_PIXELS = 65536
STRIP_PIXELS = 1 << 20
LUT_SIZE = 65


def apply_to_pixels(
    model: MLP, rgba: np.ndarray, keep_alpha: bool = True, chunk: int = CHUNK_PIXELS
) -> np.ndarray:
    """Filter uint8 pixels of shape (..., 4) exactly, ``chunk`` pixels at a time.

    With ``keep_alpha`` the network sees every pixel as opaque and the input alpha is kept: that
    is how a look learned from opaque pairs is applied.
    """
    flat = rgba.reshape(-1, 4)
    out = np.empty_like(flat)
    for start in range(0, len(flat), chunk):
        block = flat[start : start + chunk]
        x = block.astype(np.float32) / 255
        if keep_alpha:
            x[:, 3] = 1
        y = predict(model, x)
        out[start : start + chunk] = np.rint(y * 255)
        if keep_alpha:
            out[start : start + chunk, 3] = block[:, 3]
    return out.reshape(rgba.shape)


def lut_table(model: MLP, alpha: float = 1.0, size: int = LUT_SIZE) -> np.ndarray:
    """The network on a size³ RGB grid at one alpha: float32 (size, size, size, 4), b-g-r order."""
    grid = grid_points(size)
    out = np.empty((len(grid), 4), np.float32)
    for start in range(0, len(grid), CHUNK_PIXELS):
        rgb = grid[start : start + CHUNK_PIXELS]
        x = np.concatenate([rgb, np.full((len(rgb), 1), alpha, np.float32)], axis=1)
        out[start : start + CHUNK_PIXELS] = predict(model, x)
    return out.reshape(size, size, size, 4)


def lut_filter(model: MLP, alpha: int = 255, keep_alpha: bool = True) -> ImageFilter.Color3DLUT:
    """The network baked into a Pillow ``Color3DLUT`` for pixels of one ``alpha`` (0-255).

    With ``keep_alpha`` (a look learned from opaque pairs) the table is made at alpha 1 and has
    three channels, so Pillow keeps each pixel's alpha. Otherwise it has four channels (RGB in,
    RGBA out) when the network changes that alpha. Build it once and reuse it: it costs more
    than filtering a small photo.
    """
    table = lut_table(model, 1.0 if keep_alpha else alpha / 255)
    if keep_alpha or (np.rint(table[..., 3] * 255) == alpha).all():
        return ImageFilter.Color3DLUT(LUT_SIZE, table[..., :3].reshape(-1), channels=3)
    return ImageFilter.Color3DLUT(LUT_SIZE, table.reshape(-1), channels=4, target_mode="RGBA")


def apply_to_image(
    model: MLP,
    image: Image.Image,
    keep_alpha: bool = True,
    method: str = "auto",
    threads: int | None = None,
    opaque_lut: ImageFilter.Color3DLUT | None = None,
) -> Image.Image:
    """Filter an "RGB" or "RGBA" image; returns an image of the same size, mode kept.

    ``image`` may be modified in place and returned. ``method`` is "lut", "exact" or "auto"
    (the LUT wherever it applies). ``threads`` defaults to the number of cores.
    ``opaque_lut`` is ``lut_filter(model, 255, keep_alpha)`` made beforehand, to reuse across images.
    """
    threads = threads or os.cpu_count() or 1
    if image.mode not in ("RGB", "RGBA"):
        raise ValueError(f"image mode must be RGB or RGBA, got {image.mode}")
    if method not in ("auto", "lut", "exact"):
        raise ValueError(f"method must be auto, lut or exact, got {method!r}")
    alpha = _constant_alpha(image)
    if method == "exact" or (method == "auto" and not keep_alpha and alpha is None):
        return _filter_strips(image, lambda strip: _exact_strip(model, strip, keep_alpha), threads)
    if not keep_alpha and alpha is None:
        raise ValueError("the LUT method needs an image of one alpha for a look that learned alpha")
    lut = opaque_lut if opaque_lut is not None and (keep_alpha or alpha == 255) else None
    lut = lut or lut_filter(model, alpha, keep_alpha)
    return apply_lut(image, lut, threads)


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


def _filter_strips(image: Image.Image, filter_strip, threads: int) -> Image.Image:
    """Run ``filter_strip`` over horizontal strips of ``image`` and paste each result back.

    ``threads`` strips are filtered at a time (Pillow's filters release the GIL), so memory beyond
    the image stays at ``threads`` strips.
    """
    width, height = image.size
    rows = max(1, STRIP_PIXELS // max(width, 1))
    boxes = [(0, top, width, min(top + rows, height)) for top in range(0, height, rows)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for start in range(0, len(boxes), threads):
            group = boxes[start : start + threads]
            results = pool.map(lambda box: filter_strip(image.crop(box)), group)
            for box, result in zip(group, results):
                image.paste(result, box)
    return image
