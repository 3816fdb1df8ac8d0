"""The additive prior: a look as a sum of per-channel curves, fitted to a pair and continued to
the colours it does not show (the anchors of ``data.with_prior_anchors`` carry it to the network).

Each output channel is a sum of one curve of each of R, G, B and the luma (piecewise linear,
second differences penalised). Such a model learns tone curves, channel mixing and saturation
from the colours a photo shows and continues them to colours it does not.

``fit_to_pixels`` fits it to the pairs' pixels knowing how an AFTER saved as JPEG lost its chroma:
JPEG keeps the chroma at half resolution (4:2:0) and quantises away its fine detail, so each
pixel's AFTER chroma is close to a block average of the chroma the look gave its neighbours.
Regressing that blurred chroma on each pixel's own sharp colour flattens the fitted chroma slopes
(on a photo of few colours, toward its mean colour), an error that grows far from the photo's
colours. The fit instead asks each pixel's predicted luma to match the AFTER's and the block
average of the predicted chroma to match the AFTER's chroma, for the block size that explains the
AFTER's chroma best (1: a lossless AFTER, whose chroma is sharp).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .data import ColourSamples, cell_keys

# Anchors lie at the centres of the cells of this grid (per channel) that no sample falls in.
ANCHOR_GRID = 16
# Curves with knots every 1/8, and their curvature penalty.
KNOTS = 8
SMOOTHING = 1e-3
# What the data leave open (the curves' constants add up; a photo of one colour fixes no slope)
# this tiny ridge settles as the identity would: each channel its own straight curve, alpha 1.
RIDGE = 1e-8
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # Rec. 601, as JPEG's YCbCr
RGB_TO_YCBCR = np.array([LUMA_WEIGHTS, [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
# ``fit_to_pixels``: the chroma block sizes tried (each divides the largest, JPEG's 8×8 block),
# and how many of the largest blocks it fits to (at most), spread over the pairs.
CHROMA_BLOCKS = (1, 2, 4, 8)
MAX_BLOCKS = 1024


def hat_basis(x: np.ndarray, knots: int) -> np.ndarray:
    """Piecewise-linear ("hat") basis functions of values in [0, 1] at ``knots + 1`` evenly spaced
    knots, shape (n, knots + 1): a curve through values at the knots is this matrix times them.

    >>> hat_basis(np.array([0.0, 0.25, 1.0]), 2).tolist()
    [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
    """
    t = np.clip(x, 0, 1) * knots
    left = np.minimum(t.astype(np.intp), knots - 1)
    right_share = t - left
    basis = np.zeros((len(x), knots + 1))
    rows = np.arange(len(x))
    basis[rows, left] = 1 - right_share
    basis[rows, left + 1] = right_share
    return basis


def features(rgb: np.ndarray) -> np.ndarray:
    """The prior's design matrix for RGB colours (n, 3) in [0, 1]: a hat basis of each of R, G, B
    and the luma, shape (n, 4 * (KNOTS + 1))."""
    channels = [rgb[:, 0], rgb[:, 1], rgb[:, 2], rgb @ np.array(LUMA_WEIGHTS)]
    return np.column_stack([hat_basis(c, KNOTS) for c in channels])


def _penalty_and_identity() -> tuple[np.ndarray, np.ndarray]:
    """The curvature penalty over the 4 curves, and the coefficients of the identity look (RGBA)."""
    n_knots = KNOTS + 1
    second_difference = np.diff(np.eye(n_knots), 2, axis=0)
    penalty = np.kron(np.eye(4), second_difference.T @ second_difference)
    identity = np.zeros((4 * n_knots, 4))
    for c in range(3):
        identity[c * n_knots : (c + 1) * n_knots, c] = np.linspace(0, 1, n_knots)
    identity[:n_knots, 3] = 1
    return penalty, identity


def _regularised(gram: np.ndarray) -> np.ndarray:
    penalty, _ = _penalty_and_identity()
    return gram + SMOOTHING * penalty + RIDGE * np.eye(len(gram))


def additive_fit(samples: ColourSamples, weights: np.ndarray) -> np.ndarray:
    """Fit each output channel to colour samples by weighted least squares (curvature penalised):
    the coefficients, shape (4 * (KNOTS + 1), 4), for the four output channels (alpha included, as
    a function of the colour). Where no sample reached, the curves go on straight."""
    x = features(samples.inputs[:, :3].astype(np.float64))
    w = weights / weights.sum()
    _, identity = _penalty_and_identity()
    gram = _regularised((x * w[:, None]).T @ x)
    return np.linalg.solve(gram, (x * w[:, None]).T @ samples.targets.astype(np.float64) + RIDGE * identity)


def additive_predict(coefficients: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The additive prior's RGBA for RGB colours (n, 3) in [0, 1], clipped to [0, 1]."""
    return np.clip(features(rgb.astype(np.float64)) @ coefficients, 0, 1)


def _sample_blocks(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``MAX_BLOCKS`` random 8×8 blocks (on JPEG's grid) of the pairs, spread over them by
    size: before and after pixels, each (blocks, 8, 8, channels) in [0, 1]."""
    size = CHROMA_BLOCKS[-1]
    grids = [(s.shape[0] // size, s.shape[1] // size) for s, _ in pairs]
    total = sum(rows * cols for rows, cols in grids)
    befores, afters = [], []
    for (source, target), (rows, cols) in zip(pairs, grids, strict=True):
        n = rows * cols
        if n == 0:
            continue
        picked = rng.choice(n, size=min(n, max(1, round(MAX_BLOCKS * n / total))), replace=False)
        full = float(np.iinfo(source.dtype).max)
        offsets = np.arange(size)
        ys = (picked // cols * size)[:, None, None] + offsets[None, :, None]
        xs = (picked % cols * size)[:, None, None] + offsets[None, None, :]
        befores.append(source[ys, xs] / full)
        afters.append(target[ys, xs] / full)
    return np.concatenate(befores), np.concatenate(afters)


def _block_means(x: np.ndarray, block: int) -> np.ndarray:
    """Per (blocks, 8, 8, k) array, each ``block``×``block`` sub-block's mean, broadcast back."""
    n, size, _, k = x.shape
    sub = size // block
    means = x.reshape(n, sub, block, sub, block, k).mean(axis=(2, 4), keepdims=True)
    return np.broadcast_to(means, (n, sub, block, sub, block, k)).reshape(x.shape)


def fit_to_pixels(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], count_power: float, rng: np.random.Generator
) -> np.ndarray | None:
    """Fit the prior to pairs of opaque (height, width, 3 or 4) uint8 or uint16 arrays, with the
    AFTER's chroma as a block average (see the module's docstring): the coefficients, as
    ``additive_fit``'s (alpha 1); None when no pair holds a whole 8×8 block.

    Pixels weigh their colour cell's pixel count to the power ``count_power - 1``, so that cells
    weigh as the network's training weighs them.
    """
    if not any(min(source.shape[:2]) >= CHROMA_BLOCKS[-1] for source, _ in pairs):
        return None
    before, after = _sample_blocks(pairs, rng)
    shape = before.shape[:3]
    x = features(before[..., :3].reshape(-1, 3)).reshape(*shape, -1)
    keys = cell_keys(np.round(before[..., :3].reshape(-1, 3) * 255).astype(np.uint8), 5)
    w = np.bincount(keys)[keys].astype(np.float64) ** (count_power - 1)
    w /= w.sum()
    ycbcr = after[..., :3].reshape(-1, 3) @ RGB_TO_YCBCR.T
    x_sharp = x.reshape(len(w), -1)
    _, identity = _penalty_and_identity()
    k = x_sharp.shape[1]
    regularisation = np.kron(np.eye(3), _regularised(np.zeros((k, k))))
    # Errors in Y, Cb, Cr weigh as the RGB errors they make (the samples' fit is in RGB, too).
    metric = np.linalg.inv(RGB_TO_YCBCR @ RGB_TO_YCBCR.T)

    weighted_sharp = x_sharp * w[:, None]
    sharp_gram = weighted_sharp.T @ x_sharp
    best = None
    for block in CHROMA_BLOCKS:
        x_chroma = x_sharp if block == 1 else _block_means(x, block).reshape(len(w), -1)
        designs = (x_sharp, x_chroma, x_chroma)  # for the Y, Cb and Cr equations
        weighted = (weighted_sharp, *[x_chroma * w[:, None]] * 2)
        cross = weighted_sharp.T @ x_chroma
        chroma_gram = weighted[1].T @ x_chroma
        grams = [
            [sharp_gram, cross, cross],
            [cross.T, chroma_gram, chroma_gram],
            [cross.T, chroma_gram, chroma_gram],
        ]
        # Output channel c's coefficients are column c; the three equations mix them.
        gram, rhs = regularisation.copy(), RIDGE * identity[:, :3].T.reshape(-1)
        for i, j in np.ndindex(3, 3):
            row_i, row_j = RGB_TO_YCBCR[i], RGB_TO_YCBCR[j]
            gram += metric[i, j] * np.kron(np.outer(row_i, row_j), grams[i][j])
            rhs += metric[i, j] * np.kron(row_i, weighted[i].T @ ycbcr[:, j])
        rgb_coefficients = np.linalg.solve(gram, rhs).reshape(3, k).T
        errors = (
            np.column_stack(
                [d @ rgb_coefficients @ row for d, row in zip(designs, RGB_TO_YCBCR, strict=True)]
            )
            - ycbcr
        )
        residual = float(w @ np.einsum("ni,ij,nj->n", errors, metric, errors))
        if best is None or residual < best[0]:
            best = (residual, rgb_coefficients)
    return np.column_stack([best[1], identity[:, 3]])


def with_prior_anchors(
    samples: ColourSamples, weights: np.ndarray, share: float, coefficients: np.ndarray | None = None
) -> tuple[ColourSamples, np.ndarray]:
    """The samples and their loss weights, plus anchors where the samples show nothing: the centre
    of every cell of an ``ANCHOR_GRID``³ RGB grid that holds no sample, opaque, whose target is what
    the additive prior of ``coefficients`` (by default ``additive_fit`` to the samples) predicts
    there; they stand for no pixels (count 0). Each anchor weighs ``share`` of the samples' total weight over the grid's cell
    count (0: no anchors), so that all of them together weigh up to ``share`` for a pair of one
    colour and little for a pair that shows most colours.

    A network fitted to a photo of few colours is free to do anything far from them, and with a
    JPEG AFTER's colour-correlated errors it does: a blue sky learned from a brown photo came out
    teal. The anchors ask it, where the pair says nothing, to continue the look as a model of
    per-channel curves would, which extrapolates tamely (see README, "Quality").
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
    if coefficients is None:
        coefficients = additive_fit(samples, weights.astype(np.float64))
    predicted = additive_predict(coefficients, anchors[:, :3])
    anchor_weight = share * float(weights.sum()) / grid**3
    return (
        ColourSamples(
            np.concatenate([samples.inputs, anchors.astype(np.float32)]),
            np.concatenate([samples.targets, predicted.astype(np.float32)]),
            np.concatenate([samples.counts, np.zeros(len(anchors), np.float32)]),
        ),
        np.concatenate([weights, np.full(len(anchors), anchor_weight, weights.dtype)]),
    )
