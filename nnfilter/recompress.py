"""A JPEG AFTER with what its compression did to it taken off.

JPEG keeps the luma of every pixel but halves the chroma (4:2:0) and quantises the detail of
both: an AFTER's colours at edges and in small details are pulled towards their neighbours', and a
fit to its colour cells learns that pull as if it were the look. What the compression did is
known, though: the file holds its quantisation tables and its subsampling (``images.JpegCoding``).
So training first predicts the AFTER from what JPEG keeps (the pair's prior with its chroma fitted
to 8×8-block means, ``prior.fit_prior``), compresses that prediction as the AFTER was compressed
(``recompressed``) and takes what the compression did to the prediction off the AFTER
(``debiased``): where the prediction is near the look, so is what JPEG does to it (the 4:2:0
blur exactly). On the coffee cup's sepia the AFTER's chroma goes from 2.0 / 1.5 levels rms off the
exact look (Cb / Cr) to 0.6 / 0.6.

That first prediction is only as good as the blocks' prior, and where it is off (a colour the
photo shows in few pixels, at edges and in small details) so is the mending. So the prior is then
fitted to the mended cells, chroma and all, as to a lossless AFTER, and the AFTER mended again by
its better prediction, ``MENDING_REFITS`` times; the network learns the last mended cells. A
photo's few pixels of a colour are what tells the prior how the look treats that colour, and
mending them keeps what the blocks average away: on the realworld benchmark (``--quick``), trained
on the coffee cup with digiKam's instant, the held-out blue water (Aqua) went from 4.40 to 1.88
ΔE00 (1.08 with a lossless AFTER), and the mean over the looks from 1.071 to 0.968 with three
refits (0.975 with one, 0.978 with two, 0.969 with six). The prior fitted to the mended cells
once, without mending again, was measured at 1.375 on the coffee cup's looks, against 1.30 with
three refits. What the cells keep of the JPEG's noise costs elsewhere: the coffee cup's sepia on
the night sky went from 0.73 to 1.34, its tone curve from 0.68 to 0.89 (since the network's
centred start and cells weighed by count^0.45, 1.24 and 0.93; see benchmarks/RESULTS.md).

A refit's prediction is the prior with the membrane of what the mended cells show beyond it
(``membrane.fit_beyond``, as the prior anchors take it): what a look does that no sum of curves
holds is then predicted too, and mended as the rest. On the realworld benchmark one JPEG pair went
from 0.902 to 0.889 mean ΔE00, three pairs from 0.523 to 0.518 (digiKam's vintage 1.09 to 1.03)
and the largest JPEG − lossless gap from 0.31 to 0.27; the coffee cup's looks on the night sky
traded: tone curve 1.24 to 0.89, saturation 1.15 to 0.77, sepia 0.91 to 1.20, hue shift 0.92 to 1.25.
"""

from __future__ import annotations

import io
from typing import NamedTuple

import numpy as np
from PIL import Image

from .data import cell_keys
from .images import JpegCoding
from .membrane import prior_with_membrane
from .prior import Prior, apply_curves, unclipped_rgb

#: After the first mending, by the prior fitted to the blocks, the times the prior is fitted to
#: the mended cells and the AFTER mended again by it (see the module's docstring).
MENDING_REFITS = 3
#: Colours the prior predicts at a time (its ramps take 109 floats a colour).
PREDICT_COLOURS = 1 << 16


def recompressed(rgb: np.ndarray, coding: JpegCoding, ycbcr: bool) -> np.ndarray:
    """Pixels (height, width, 3) on the uint8 scale compressed as ``coding`` says and decoded as
    the AFTER was: as unclipped RGB from the YCbCr with ``ycbcr`` (``prior.unclipped_rgb``), else
    as the decoder's RGB; float32.
    """
    image = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", qtables=coding.quantization, subsampling=coding.subsampling)
    with Image.open(buffer) as decoded:
        mode = "YCbCr" if ycbcr else "RGB"
        decoded.draft(mode, None)
        pixels = np.asarray(decoded)
    return unclipped_rgb(pixels) if ycbcr else pixels.astype(np.float32)


class Palette(NamedTuple):
    """A uint8 RGB image's distinct colours (colours, 3) in [0, 1], float32, and each pixel's
    index into them (height, width): the prior is evaluated once per colour (a photo holds a few
    hundred thousand), and every mending of a pair reuses them."""

    colours: np.ndarray
    index: np.ndarray

    @classmethod
    def of(cls, image: np.ndarray) -> Palette:
        keys = cell_keys(image.reshape(-1, 3), 8)
        present = np.zeros(1 << 24, bool)
        present[keys] = True
        colours = np.flatnonzero(present)
        slot = np.empty(1 << 24, np.int32)
        slot[colours] = np.arange(len(colours), dtype=np.int32)
        rgb = (colours[:, None] >> np.array([16, 8, 0])) & 255
        return cls(rgb.astype(np.float32) / np.float32(255), slot[keys].reshape(image.shape[:2]))


def debiased(
    before: Palette,
    after: np.ndarray,
    prior: Prior,
    coding: JpegCoding | None,
    membrane: np.ndarray | None = None,
) -> np.ndarray:
    """A JPEG AFTER (height, width, 3: the decoder's uint8 RGB, or floats on the uint8 scale, its
    unclipped YCbCr colours) with what its compression did taken off, float32: after -
    recompressed(prediction) + prediction, the prediction the ``prior`` on the BEFORE, given as
    its ``Palette``, with the ``membrane`` of what the cells showed beyond it if given. Without a
    ``coding`` (not a JPEG) the AFTER as it is."""
    if coding is None:
        return after
    prediction = _predicted(prior, membrane, before)
    return after - recompressed(prediction, coding, after.dtype.kind == "f") + prediction


def _predicted(prior: Prior, membrane: np.ndarray | None, before: Palette) -> np.ndarray:
    """The prior's RGB (and the ``membrane``'s, if given) for an image given as its ``Palette``, on
    the uint8 scale, float32 (height, width, 3): evaluated per colour, in strips (the ramps take
    109 floats a colour)."""
    colours = before.colours
    out = np.empty(colours.shape, np.float32)
    for start in range(0, len(colours), PREDICT_COLOURS):
        strip = colours[start : start + PREDICT_COLOURS]
        rgba = apply_curves(prior, strip) if membrane is None else prior_with_membrane(prior, membrane, strip)
        out[start : start + PREDICT_COLOURS] = rgba[:, :3] * np.float32(255)
    # Rows gathered as 12-byte items: numpy gathers 2-D rows 2.5 times slower.
    rows = out.view(np.dtype((np.void, out.itemsize * 3))).ravel()
    return rows[before.index].view(np.float32).reshape(*before.index.shape, 3)
