"""Colour coverage: which cells of a coarse RGB grid the training pairs showed the network.

Outside the colours it was trained on, a network extrapolates. Training records the occupied
cells of a ``GRID``³ RGB grid (16³ = 4096 cells of 16 levels per channel); a new photo's pixels
in cells never seen are where its look is a guess.
"""

from __future__ import annotations

import numpy as np

GRID_BITS = 4
GRID = 1 << GRID_BITS


def cell_index(pixels: np.ndarray) -> np.ndarray:
    """Each pixel's cell in the RGB grid, shape (n,), for uint8 pixels (n, 3 or 4) (alpha ignored).

    >>> cell_index(np.array([[0, 0, 0], [255, 255, 255], [16, 0, 0]], np.uint8)).tolist()
    [0, 4095, 256]
    """
    q = (pixels[:, :3] >> (8 - GRID_BITS)).astype(np.uint16)
    return (q[:, 0] << (2 * GRID_BITS)) | (q[:, 1] << GRID_BITS) | q[:, 2]


def covered_cells(pixels: np.ndarray) -> np.ndarray:
    """A boolean mask (GRID**3,) of the cells that hold at least one of ``pixels``."""
    return np.bincount(cell_index(pixels), minlength=GRID**3) > 0


def unseen_mask(covered: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Per pixel, True where its cell is not in the ``covered`` mask."""
    return ~covered[cell_index(pixels)]


def to_hex(covered: np.ndarray) -> str:
    """The mask packed into a hex string (1024 characters), to store in a model's metadata.

    >>> mask = np.zeros(GRID**3, bool); mask[[0, 4095]] = True
    >>> bool((from_hex(to_hex(mask)) == mask).all())
    True
    """
    return np.packbits(covered).tobytes().hex()


def from_hex(text: str) -> np.ndarray:
    """The mask stored by ``to_hex``; ValueError if the text is not one."""
    mask = np.unpackbits(np.frombuffer(bytes.fromhex(text), np.uint8)).astype(bool)
    if mask.shape != (GRID**3,):
        raise ValueError(f"coverage mask must hold {GRID**3} cells, got {mask.shape[0]}")
    return mask
