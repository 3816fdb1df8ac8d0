"""A membrane over the RGB cube: what the colour cells show beyond the additive prior, carried on
smoothly to the colours they do not show.

The prior anchors (``data.with_prior_anchors``) tell the network what to do where the pair shows
nothing. The prior alone continues only what a sum of curves can hold: what a look does beyond
that (a saturated red whose green is lifted more than a dark brown's) the network learns where the
pair shows it and would drop at the edge of the pair's colours. The membrane is a lattice of
residuals (``MEMBRANE_SIZE``³ nodes, trilinear in between) fitted to the cells' residuals from the
prior with a penalty on the differences of neighbouring nodes (``MEMBRANE_SMOOTHING``): inside the
pair's colours it follows the residuals, outside it carries the nearest ones on level, blending
between them, and a tiny ridge (``MEMBRANE_RIDGE``) lets it fade towards the prior far from every
colour shown. Inside the pair's colours the prior with its membrane (``prior_with_membrane``) is
also the better prediction of the AFTER that mending a JPEG AFTER starts from (``recompress``).

Chosen on the realworld benchmark (``--quick``, 24 looks, one JPEG pair; the anchors on the prior
alone: 0.944 mean ΔE00, 37 held-out photo means over 3.0): a 9³ lattice with a penalty of 1e-5 gave
0.903 and 30; 1e-4, 0.918; 1e-6, 0.915; 1e-3, 0.935. A 13³ lattice (1e-4) gave 0.926; a penalty on
second differences instead (linear continuation), 0.897 at 1e-5 but the coffee cup's tone curve on
the night sky 1.46 (0.93 without, 1.24 with this membrane), 0.991 at 1e-6.
"""

from __future__ import annotations

import numpy as np

from .prior import Prior, apply_curves

MEMBRANE_SIZE = 9
MEMBRANE_SMOOTHING = 1e-5
MEMBRANE_RIDGE = 1e-6


def _trilinear(rgb: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The lattice nodes (8, n) around colours ``rgb`` (n, 3) in [0, 1] and their trilinear weights
    (8, n)."""
    position = np.clip(rgb.astype(np.float64), 0, 1) * (size - 1)
    low = np.minimum(position.astype(np.intp), size - 2)
    share = position - low
    first = (low[:, 0] * size + low[:, 1]) * size + low[:, 2]
    along = (1 - share, share)  # each axis's weight of the lower node, of the upper
    nodes, weights = [], []
    for r, g, b in np.ndindex(2, 2, 2):
        nodes.append(first + (r * size + g) * size + b)
        weights.append(along[r][:, 0] * along[g][:, 1] * along[b][:, 2])
    return np.array(nodes), np.array(weights)


def _difference_penalty(size: int) -> np.ndarray:
    """The sum of squared differences of neighbouring nodes along R, G and B, as a matrix over the
    ``size``³ nodes."""
    difference = np.diff(np.eye(size), axis=0)
    along = difference.T @ difference
    eye = np.eye(size)
    return (
        np.kron(np.kron(along, eye), eye)
        + np.kron(np.kron(eye, along), eye)
        + np.kron(eye, np.kron(eye, along))
    )


def fit_membrane(rgb: np.ndarray, residuals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The membrane's nodes (``MEMBRANE_SIZE``³, k): weighted least squares of ``residuals`` (n, k)
    of colours ``rgb`` (n, 3) in [0, 1], the differences of neighbouring nodes penalised."""
    size = MEMBRANE_SIZE
    n_nodes = size**3
    nodes, corner_weights = _trilinear(rgb, size)
    share = weights.astype(np.float64) / weights.sum()
    weighted = corner_weights * share
    pairs = (nodes[:, None] * n_nodes + nodes[None]).ravel()
    gram = np.bincount(pairs, (weighted[:, None] * corner_weights[None]).ravel(), n_nodes * n_nodes)
    right = np.column_stack(
        [np.bincount(nodes.ravel(), (weighted * column).ravel(), n_nodes) for column in residuals.T]
    )
    system = gram.reshape(n_nodes, n_nodes) + MEMBRANE_SMOOTHING * _difference_penalty(size)
    system[np.diag_indices(n_nodes)] += MEMBRANE_RIDGE
    return np.linalg.solve(system, right)


def membrane_at(membrane: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The ``membrane``'s residuals (n, k) at colours ``rgb`` (n, 3) in [0, 1]."""
    nodes, weights = _trilinear(rgb, MEMBRANE_SIZE)
    out = weights[0][:, None] * membrane[nodes[0]]
    for corner_nodes, corner_weights in zip(nodes[1:], weights[1:], strict=True):
        out += corner_weights[:, None] * membrane[corner_nodes]  # corner by corner: no (8, n, k) gather
    return out


def fit_beyond(prior: Prior, rgb: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The membrane of what colours ``rgb`` (n, 3) in [0, 1] with ``targets`` (n, 3 or more) and
    ``weights`` show beyond the ``prior``'s RGB."""
    return fit_membrane(rgb, targets[:, :3] - apply_curves(prior, rgb)[:, :3], weights)


def prior_with_membrane(prior: Prior, membrane: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """What the ``prior`` gives at colours ``rgb`` (n, 3) in [0, 1], with the ``membrane``'s
    residuals added to its RGB and that clipped to [0, 1]."""
    out = apply_curves(prior, rgb)
    out[:, :3] = np.clip(out[:, :3] + membrane_at(membrane, rgb), 0, 1)
    return out
