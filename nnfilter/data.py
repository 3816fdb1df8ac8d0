"""Training data: uint8 or uint16 before/after pixels → colour samples for the network.

A 12-megapixel photo holds only a few hundred thousand distinct colours, and a smooth look
changes nearby colours alike. So pixels are grouped into cells of a ``2**bits``-per-channel
RGBA grid: each occupied cell becomes one sample, whose input is the mean source colour of its
pixels, whose target is the mean of their target colours (which also averages JPEG noise away)
and whose count is kept so that the loss can weigh cells by how often they occur. Where the
pairs show no colour, prior anchors (``with_prior_anchors``) continue the look as the additive
prior fitted to the cells (``prior``) does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import PairMismatchError
from .membrane import fit_beyond, prior_with_membrane
from .prior import Prior

DEFAULT_CELL_BITS = 5
# Prior anchors lie at the centres of the cells of this grid (per channel) that no sample falls in.
ANCHOR_GRID = 16


@dataclass
class ColourSamples:
    """Per-cell training samples: inputs and targets (n, 4) in [0, 1], pixel counts (n,)."""

    inputs: np.ndarray
    targets: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)

    def subset(self, index: np.ndarray) -> ColourSamples:
        """The samples at ``index``."""
        return ColourSamples(self.inputs[index], self.targets[index], self.counts[index])


def check_pair(
    before_size: tuple[int, int], after_size: tuple[int, int], names: tuple[str, str] = ("before", "after")
) -> None:
    """Refuse a before/after pair whose images are not the same size (width, height), naming both."""
    if tuple(before_size) != tuple(after_size):
        (bw, bh), (aw, ah) = before_size, after_size
        msg = (
            f"{names[0]} is {bw}x{bh} but {names[1]} is {aw}x{ah}: "
            "before and after must be the same size (sizes are as shown, after EXIF rotation)"
        )
        raise PairMismatchError(msg)


def cell_keys(rgba: np.ndarray, bits: int) -> np.ndarray:
    """Each pixel's cell index in a ``2**bits``-per-channel RGB(A) grid, shape (n,), for uint8 or
    uint16 pixels.

    The indices are ``np.intp``, the type ``np.bincount`` counts with (any other it converts, each call).

    >>> cell_keys(np.array([[255, 0, 0, 255]], dtype=np.uint8), 1).tolist()
    [9]
    """
    q = rgba >> rgba.dtype.type(8 * rgba.dtype.itemsize - bits)
    narrow = np.uint16 if bits * rgba.shape[1] <= 16 else np.uint32  # less memory to go through
    keys = q[:, 0].astype(narrow)
    for c in range(1, rgba.shape[1]):
        keys <<= bits
        keys |= q[:, c]
    return keys.astype(np.intp)


def pair_samples(source: np.ndarray, target: np.ndarray, bits: int = DEFAULT_CELL_BITS) -> ColourSamples:
    """Group the pixels of one or more before/after pairs into colour cells.

    Parameters
    ----------
    source, target : uint8 arrays of shape (n_pixels, 4), the same pixels before and after,
        or (n_pixels, 3) for opaque pixels (alpha 255), which saves work on large photos; or
        both uint16 (alpha 65535), whose means then keep their 16 bits.
    bits : cell size, ``2**bits`` cells per channel (1 to 6).
    """
    if not 1 <= bits <= 6:
        raise ValueError(f"cell bits must be 1 to 6, got {bits}")
    channels = source.shape[1]
    full = np.iinfo(source.dtype).max
    keys = cell_keys(source, bits)
    n_cells = 1 << (channels * bits)
    counts = np.bincount(keys, minlength=n_cells)
    occupied = np.flatnonzero(counts)
    inputs = np.ones((len(occupied), 4), dtype=np.float32)
    targets = np.ones((len(occupied), 4), dtype=np.float32)

    def channel_means(job: tuple[np.ndarray, np.ndarray, int]) -> None:
        pixels, out, c = job
        sums = np.bincount(keys, weights=pixels[:, c], minlength=n_cells)
        out[:, c] = sums[occupied] / (full * counts[occupied])

    from concurrent.futures import ThreadPoolExecutor  # here: applying a look does without it

    jobs = [
        (pixels, out, c) for pixels, out in ((source, inputs), (target, targets)) for c in range(channels)
    ]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:  # np.bincount releases the GIL
        list(pool.map(channel_means, jobs))
    return ColourSamples(inputs, targets, counts[occupied].astype(np.float32))


def split_validation(
    samples: ColourSamples, share: float, rng: np.random.Generator
) -> tuple[ColourSamples, ColourSamples]:
    """Hold a random ``share`` of the colour cells out of training, to measure generalisation.

    Cells, not pixels, are held out: a held-out colour is one the network never saw.
    """
    n_val = int(round(len(samples) * share)) if len(samples) > 1 else 0
    order = rng.permutation(len(samples))
    return samples.subset(np.sort(order[n_val:])), samples.subset(np.sort(order[:n_val]))


def with_prior_anchors(
    samples: ColourSamples, weights: np.ndarray, share: float, prior: Prior | None
) -> tuple[ColourSamples, np.ndarray]:
    """The samples and their loss weights, plus anchors where the samples show nothing: the centre
    of every cell of an ``ANCHOR_GRID``³ RGB grid that holds no sample, opaque, whose target is
    what the additive ``prior`` fitted to the samples (to RGBA) gives there plus the ``membrane``
    of the samples' residuals from it; they stand for no pixels (count 0). Each anchor weighs
    ``share`` of the samples' total weight over the grid's cell count (0: no anchors), so that all
    of them together weigh up to ``share`` for a pair of one colour and little for a pair that
    shows most colours.

    A network fitted to a photo of few colours is free to do anything far from them, and with a
    JPEG AFTER's colour-correlated errors it does: a blue sky learned from a brown photo came out
    teal. The anchors ask it, where the pair says nothing, to continue the look as the prior
    does, which extrapolates tamely (see README, "Quality"), with what the pair showed beyond the
    prior carried on smoothly from its nearest colours.
    """
    if share <= 0 or len(samples) == 0:
        return samples, weights
    grid = ANCHOR_GRID
    cell = np.minimum((samples.inputs[:, :3] * grid).astype(np.intp), grid - 1)
    occupied = np.zeros(grid**3, bool)
    occupied[(cell[:, 0] * grid + cell[:, 1]) * grid + cell[:, 2]] = True
    centres = (np.indices((grid,) * 3).reshape(3, -1).T + 0.5) / grid
    anchors = np.column_stack([centres[~occupied], np.ones(np.count_nonzero(~occupied))])  # r, g, b order
    if len(anchors) == 0:
        return samples, weights
    membrane = fit_beyond(prior, samples.inputs[:, :3], samples.targets, weights)
    predicted = prior_with_membrane(prior, membrane, anchors[:, :3])
    anchor_weight = share * float(weights.sum()) / grid**3
    return (
        ColourSamples(
            np.concatenate([samples.inputs, anchors.astype(np.float32)]),
            np.concatenate([samples.targets, predicted.astype(np.float32)]),
            np.concatenate([samples.counts, np.zeros(len(anchors), np.float32)]),
        ),
        np.concatenate([weights, np.full(len(anchors), anchor_weight, weights.dtype)]),
    )
