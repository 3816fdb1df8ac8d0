"""Training data: uint8 or uint16 before/after pixels → colour samples for the network.

A 12-megapixel photo holds only a few hundred thousand distinct colours, and a smooth look
changes nearby colours alike. So pixels are grouped into cells of a ``2**bits``-per-channel
RGBA grid: each occupied cell becomes one sample, whose input is the mean source colour of its
pixels, whose target is the mean of their target colours (which also averages JPEG noise away)
and whose count is kept so that the loss can weigh cells by how often they occur. Where the
pairs show no colour, anchors continue the look as a simpler model would (``prior``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import PairMismatchError

DEFAULT_CELL_BITS = 5


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

    from concurrent.futures import ThreadPoolExecutor  # here: applying a look does without it (10 ms)

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
