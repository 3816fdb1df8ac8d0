"""The additive prior: each output channel a sum of one smooth curve of each of R, G, B and the luma.

Such a model learns tone curves, channel mixing and saturation from the colours a photo shows
and continues them to colours it does not: a blue sky far from a brown photo's colours gets the
blue curve that the photo's bluer pixels showed, and where no pixel reached, the curves go on
straight (a penalty on their second differences decides there). Training fits it to the colour
cells first; the network's skip path starts from it and the anchors (``data.with_prior_anchors``)
hold the network to it where the pair shows nothing.

Curves are arrays (4, knots + 1, outputs): for each input (R, G, B, luma) its value at evenly
spaced knots on [0, 1] for each output channel, linear in between.
"""

from __future__ import annotations

import numpy as np

#: Knots every 1/8, and the curvature penalty of the fit.
PRIOR_KNOTS = 8
PRIOR_SMOOTHING = 1e-3
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # Rec. 601, as JPEG's YCbCr
N_INPUTS = 4  # R, G, B and the luma


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


def _inputs(rgb: np.ndarray) -> np.ndarray:
    """What the curves take, for RGB (n, 3): R, G, B and the luma, (n, 4) in ``rgb``'s float type."""
    to_inputs = np.column_stack([np.eye(3), LUMA_WEIGHTS]).astype(rgb.dtype)
    return rgb @ to_inputs


def fit_curves(rgb: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The curves (4, knots + 1, outputs) that best map colours ``rgb`` (n, 3) to ``targets``
    (n, outputs) by weighted least squares, curvature penalised.

    What the data leave open (the curves' constants add up; a photo of one colour fixes no slope)
    a tiny ridge settles as the identity would: each of the first three outputs its own channel's
    straight curve, any further output (alpha) the constant 1.
    """
    x = np.column_stack([hat_basis(v, PRIOR_KNOTS) for v in _inputs(rgb.astype(np.float64)).T])
    w = weights.astype(np.float64) / weights.sum()
    n_knots, outputs = PRIOR_KNOTS + 1, targets.shape[1]
    second_difference = np.diff(np.eye(n_knots), 2, axis=0)
    penalty = np.kron(np.eye(N_INPUTS), second_difference.T @ second_difference)
    identity = np.zeros((N_INPUTS, n_knots, outputs))
    for c in range(min(3, outputs)):
        identity[c, :, c] = np.linspace(0, 1, n_knots)
    identity[0, :, 3:] = 1
    ridge = 1e-8
    gram = (x * w[:, None]).T @ x + PRIOR_SMOOTHING * penalty + ridge * np.eye(x.shape[1])
    rhs = (x * w[:, None]).T @ targets.astype(np.float64) + ridge * identity.reshape(-1, outputs)
    return np.linalg.solve(gram, rhs).reshape(N_INPUTS, n_knots, outputs)


def apply_curves(curves: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The prior's colours for RGB (n, 3) in [0, 1]: (n, outputs) in ``rgb``'s float type, clipped
    to [0, 1]. (``np.interp`` per curve: measured faster than gathering segments by index.)

    >>> straight = fit_curves(np.eye(3), np.eye(3), np.ones(3))
    >>> apply_curves(straight, np.array([[0.2, 0.5, 0.9]])).round(3).tolist()
    [[0.2, 0.5, 0.9]]
    """
    knots = np.linspace(0, 1, curves.shape[1])
    out = np.zeros((len(rgb), curves.shape[2]))
    for values, curve in zip(_inputs(rgb).T, curves, strict=True):
        for channel, column in enumerate(curve.T):
            out[:, channel] += np.interp(values, knots, column)
    return np.clip(out, 0, 1).astype(rgb.dtype)
