"""Lining up a before/after pair whose AFTER was shifted, cropped, scaled or slightly rotated.

The geometry is a similarity: a point p = (x, y) of AFTER (pixel centres at i + 0.5) shows the point
``q = scale · R(rotation) · p + shift`` of BEFORE. It is found on the luminance of both images,
reduced to at most ``WORK_SIDE`` pixels a side, in three steps:

1. for each candidate scale (1, and the ratios of the images' widths and heights, each ±6%) and
   rotation (-3° to 3° in steps of 1°), BEFORE is warped onto AFTER's grid (at half the work size)
   and the shift comes from phase correlation (numpy FFTs; its whitened spectrum ignores how the look changed the tones);
   the candidate with the sharpest correlation peak wins;
2. scale and rotation are refined by finer searches around it (steps of 0.9°, 0.3° and 0.09°,
   and 2%, 0.7% and 0.2%), keeping what raises the match; the shift is found to a tenth of a
   pixel by fitting a parabola through the peak;
3. ``match`` scores the result: the correlation of the two images' fine detail (luminance less its
   local mean) where they overlap, 1 for a perfect match, about 0 for unrelated photos.

Everything here is pure numpy over arrays; the caller decides what a low match means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORK_SIDE = 256
"""The largest side, in pixels, of the reduced luminance the transform is searched on."""

MIN_SIDE = 16
"""The shortest side, in pixels, an image must keep at the work size (see ``alignable``)."""

MIN_MATCH = 0.5
"""Below this ``match`` a pair is taken not to show the same scene in the same place."""

_ROTATIONS = np.radians(np.arange(-3.0, 3.5, 1.0))
_SCALE_STEPS = (0.94, 1.0, 1.06)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class Similarity:
    """AFTER point p shows BEFORE point ``scale · R(rotation) · p + shift`` (rotation in degrees)."""

    scale: float = 1.0
    rotation: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)

    def matrix(self) -> np.ndarray:
        """The 2×2 matrix scale · R(rotation)."""
        angle = np.radians(self.rotation)
        c, s = np.cos(angle), np.sin(angle)
        return self.scale * np.array([[c, -s], [s, c]])

    def __str__(self) -> str:
        dx, dy = self.shift
        return f"shift {dx:+.1f},{dy:+.1f} px, scale {self.scale:.3f}, rotation {self.rotation:+.2f}°"


@dataclass(frozen=True)
class Alignment:
    """The transform found and how well the pair matches after it (``match``, 1 is perfect)."""

    transform: Similarity
    match: float


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of uint8 RGB(A) pixels (h, w, 3 or 4), float32 (h, w) in 0..255."""
    return rgb[..., :3].astype(np.float32) @ LUMA


def reduce(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` (h, w, ...) averaged over ``factor``×``factor`` blocks (a box filter); rows and
    columns that do not fill a block are dropped.

    >>> reduce(np.arange(16.0).reshape(4, 4), 2).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    if factor == 1:
        return image.astype(np.float32)
    h, w = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor, *image.shape[2:])
    return blocks.astype(np.float32).mean(axis=(1, 3))


def sample(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear samples of ``image`` (h, w, ...) at continuous points (n, 2) as (x, y), pixel centres
    at i + 0.5; returns the samples (n, ...) float32 and a mask (n,) of the points inside the image."""
    h, w = image.shape[:2]
    x, y = points[:, 0] - 0.5, points[:, 1] - 0.5
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    x0 = np.clip(np.floor(x), 0, max(w - 2, 0)).astype(np.intp)
    y0 = np.clip(np.floor(y), 0, max(h - 2, 0)).astype(np.intp)
    fx, fy = np.clip(x - x0, 0, 1), np.clip(y - y0, 0, 1)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    if image.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]
    img = image.astype(np.float32, copy=False)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32), inside


def grid(shape: tuple[int, int]) -> np.ndarray:
    """The pixel centres of an image of ``shape`` (h, w) as points (h·w, 2), row by row."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.column_stack([xs.ravel() + 0.5, ys.ravel() + 0.5])


def warp(before: np.ndarray, transform: Similarity, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """BEFORE resampled onto AFTER's grid of ``shape`` (h, w): (h, w, ...) float32 and the mask
    (h, w) of the pixels whose BEFORE point lies inside BEFORE (the overlap)."""
    values = np.empty((*shape, *before.shape[2:]), np.float32)
    inside = np.empty(shape, bool)
    rows = max(1, (1 << 20) // max(shape[1], 1))  # a million points at a time bounds the memory
    for top in range(0, shape[0], rows):
        band = grid((min(rows, shape[0] - top), shape[1])) + np.array([0.0, top])
        band_values, band_inside = sample(before, band @ transform.matrix().T + np.asarray(transform.shift))
        values[top : top + rows] = band_values.reshape(-1, shape[1], *before.shape[2:])
        inside[top : top + rows] = band_inside.reshape(-1, shape[1])
    return values, inside


def _detail(lum: np.ndarray) -> np.ndarray:
    """Luminance less its 5×5 local mean: the fine detail that a shift of a pixel or two decorrelates."""
    pad = np.pad(lum, 2, mode="edge")
    sums = np.cumsum(np.cumsum(pad, axis=0), axis=1)
    sums = np.pad(sums, ((1, 0), (1, 0)))
    h, w = lum.shape
    local = (sums[5 : 5 + h, 5 : 5 + w] - sums[:h, 5 : 5 + w] - sums[5 : 5 + h, :w] + sums[:h, :w]) / 25
    return lum - local


def match(before_lum: np.ndarray, after_lum: np.ndarray, transform: Similarity) -> float:
    """How well AFTER matches BEFORE under ``transform``: the absolute correlation of their fine
    detail over the overlap (1 perfect, ~0 unrelated; absolute so that an inverting look matches)."""
    warped, inside = warp(before_lum, transform, after_lum.shape)
    inside[:2], inside[-2:], inside[:, :2], inside[:, -2:] = False, False, False, False
    if inside.sum() < 64:
        return 0.0
    a, b = _detail(after_lum)[inside], _detail(warped)[inside]
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return abs(float((a * b).sum()) / denominator) if denominator > 0 else 0.0


def _window(shape: tuple[int, int]) -> np.ndarray:
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1])).astype(np.float32)


def _phase_shift(after: np.ndarray, warped: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, float]:
    """The shift u (x, y) with ``warped(p + u) ≈ after(p)``, to a tenth of a pixel, and the height of
    the phase-correlation peak (the candidate's score)."""
    fa = np.fft.rfft2((after - after.mean()) * window)
    fb = np.fft.rfft2((warped - warped.mean()) * window)
    cross = fb * np.conj(fa)
    cross /= np.abs(cross) + 1e-9
    surface = np.abs(np.fft.irfft2(cross, s=after.shape))
    iy, ix = np.unravel_index(int(np.argmax(surface)), surface.shape)
    h, w = surface.shape

    def vertex(left: float, centre: float, right: float) -> float:
        bend = left - 2 * centre + right
        return 0.0 if bend == 0 else float(np.clip(0.5 * (left - right) / bend, -0.5, 0.5))

    dx = ix + vertex(surface[iy, ix - 1], surface[iy, ix], surface[iy, (ix + 1) % w])
    dy = iy + vertex(surface[iy - 1, ix], surface[iy, ix], surface[(iy + 1) % h, ix])
    dx, dy = (dx + w / 2) % w - w / 2, (dy + h / 2) % h - h / 2  # wrapped to -w/2..w/2
    return np.array([dx, dy]), float(surface[iy, ix])


def _with_shift(
    before: np.ndarray, after: np.ndarray, scale: float, angle: float
) -> tuple[Similarity, float]:
    """The best shift for a scale and rotation (radians): BEFORE warped without one, then phase-correlated."""
    guess = Similarity(scale, float(np.degrees(angle)))
    warped, inside = warp(before, guess, after.shape)
    warped[~inside] = warped[inside].mean() if inside.any() else 0.0
    u, peak = _phase_shift(after, warped, _window(after.shape))
    return Similarity(scale, guess.rotation, tuple(float(v) for v in guess.matrix() @ u)), peak


def _work_factor(shape: tuple[int, ...]) -> int:
    return max(1, -(-max(shape[:2]) // WORK_SIDE))


def alignable(shape: tuple[int, ...]) -> bool:
    """Whether an image of ``shape`` (h, w, ...) is large enough to align: both sides at least
    ``MIN_SIDE`` pixels once reduced to at most ``WORK_SIDE`` pixels a side.

    >>> alignable((16, 16)), alignable((15, 200)), alignable((20, 1000))
    (True, False, False)
    """
    factor = _work_factor(shape)
    return min(shape[0] // factor, shape[1] // factor) >= MIN_SIDE


def estimate(before_lum: np.ndarray, after_lum: np.ndarray) -> Alignment:
    """The similarity that lines AFTER up with BEFORE, from their luminance (h, w) at full size.

    Scales near 1 or near the ratio of the images' widths or heights are found (candidates at ±6%
    of each, then refined by up to about 3% more) and rotations up to about 3.5°; ``match`` says how well the result holds. ``ValueError`` if either
    image is not ``alignable``.
    """
    for lum in before_lum, after_lum:
        if not alignable(lum.shape):
            raise ValueError(f"a {lum.shape[1]}x{lum.shape[0]} image is too small to align")
    kb, ka = _work_factor(before_lum.shape), _work_factor(after_lum.shape)
    before, after = reduce(before_lum, kb), reduce(after_lum, ka)
    (bh, bw), (ah, aw) = before_lum.shape, after_lum.shape
    ratios = sorted({1.0, round(bw / aw, 4), round(bh / ah, 4)})
    # In work units a scale s (full size) is s·ka/kb; a shift t is t/kb.
    to_work = ka / kb
    # The coarse search runs at half the work size (a quarter of the cost), then the best shift is
    # measured again at the work size.
    small_before, small_after = reduce(before, 2), reduce(after, 2)
    coarse, best_peak = (1.0, 0.0), -1.0
    for ratio in ratios:
        for step in _SCALE_STEPS:
            for angle in _ROTATIONS:
                _, peak = _with_shift(small_before, small_after, ratio * step * to_work, angle)
                if peak > best_peak:
                    coarse, best_peak = (ratio * step * to_work, angle), peak
    best, _ = _with_shift(before, after, *coarse)
    # Refine scale and rotation around the best, finer each round, by the match itself: the peak's
    # height is biased by the part of the warp that falls outside BEFORE.
    best_match = match(before, after, best)
    for spread in (0.02, 0.007, 0.002):
        centre = best
        for scale in centre.scale * np.array([1 - spread, 1, 1 + spread]):
            for rotation in centre.rotation + np.array([-1, 0, 1]) * spread * 45:
                if scale == centre.scale and rotation == centre.rotation:
                    continue
                found, _ = _with_shift(before, after, float(scale), float(np.radians(rotation)))
                score = match(before, after, found)
                if score > best_match:
                    best, best_match = found, score
    full = Similarity(
        best.scale / to_work,
        best.rotation,
        (best.shift[0] * kb, best.shift[1] * kb),
    )
    # The work grids' pixel centres are not the full grids': a work point u is the full point ka·u
    # (AFTER) or kb·u (BEFORE), which the centres-at-i+0.5 convention keeps exact.
    return Alignment(full, best_match)


def inner_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """A large rectangle (top, bottom, left, right) all inside ``mask`` (h, w): the mask's bounding
    box, shrunk from the side with the most pixels outside until none is left (empty if none).

    >>> inner_box(np.pad(np.ones((3, 4), bool), 1))
    (1, 4, 1, 5)
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return 0, 0, 0, 0
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    while top < bottom and left < right:
        box = mask[top:bottom, left:right]
        outside = [(~box[0]).sum(), (~box[-1]).sum(), (~box[:, 0]).sum(), (~box[:, -1]).sum()]
        worst = int(np.argmax(outside))
        if outside[worst] == 0:
            break
        if worst == 0:
            top += 1
        elif worst == 1:
            bottom -= 1
        elif worst == 2:
            left += 1
        else:
            right -= 1
    return int(top), int(bottom), int(left), int(right)
