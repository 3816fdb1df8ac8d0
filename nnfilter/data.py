"""Training data: uint8 before/after pixels → colour samples for the network.

A 12-megapixel photo holds only a few hundred thousand distinct colours, and a smooth look
changes nearby colours alike. So pixels are grouped into cells of a ``2**bits``-per-channel
RGBA grid: each occupied cell becomes one sample, whose input is the mean source colour of its
pixels, whose target is the mean of their target colours (which also averages JPEG noise away)
and whose count is kept so that the loss can weigh cells by how often they occur.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import PairMismatchError

DEFAULT_CELL_BITS = 6


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


def check_pair(source: np.ndarray, target: np.ndarray) -> None:
    """Refuse a before/after pair whose images are not the same size."""
    if source.shape[:2] != target.shape[:2]:
        sh, sw = source.shape[:2]
        th, tw = target.shape[:2]
        raise PairMismatchError(
            f"before and after differ in size: {sw}x{sh} and {tw}x{th} (they must show the same scene)"
        )


def cell_keys(rgba: np.ndarray, bits: int) -> np.ndarray:
    """Each pixel's cell index in a ``2**bits``-per-channel RGBA grid, shape (n,).

    >>> cell_keys(np.array([[255, 0, 0, 255]], dtype=np.uint8), 1).tolist()
    [9]
    """
    shift = 8 - bits
    q = (rgba >> shift).astype(np.int64)
    return ((q[:, 0] << bits | q[:, 1]) << bits | q[:, 2]) << bits | q[:, 3]


def pair_samples(
    source: np.ndarray, target: np.ndarray, bits: int = DEFAULT_CELL_BITS
) -> ColourSamples:
    """Group the pixels of one or more before/after pairs into colour cells.

    Parameters
    ----------
    source, target : uint8 arrays of shape (n_pixels, 4), the same pixels before and after.
    bits : cell size, ``2**bits`` cells per channel (8 keeps every distinct colour apart).
    """
    keys = cell_keys(source, bits)
    occupied, index, counts = np.unique(keys, return_inverse=True, return_counts=True)
    n = len(occupied)
    inputs = np.empty((n, 4), dtype=np.float32)
    targets = np.empty((n, 4), dtype=np.float32)
    for c in range(4):
        inputs[:, c] = np.bincount(index, weights=source[:, c], minlength=n) / counts
        targets[:, c] = np.bincount(index, weights=target[:, c], minlength=n) / counts
    inputs /= 255
    targets /= 255
    return ColourSamples(inputs, targets, counts.astype(np.float32))


def split_validation(
    samples: ColourSamples, share: float, rng: np.random.Generator
) -> tuple[ColourSamples, ColourSamples]:
    """Hold a random ``share`` of the colour cells out of training, to measure generalisation.

    Cells, not pixels, are held out: a held-out colour is one the network never saw.
    """
    n_val = int(round(len(samples) * share)) if len(samples) > 1 else 0
    order = rng.permutation(len(samples))
    return samples.subset(np.sort(order[n_val:])), samples.subset(np.sort(order[:n_val]))

