"""The additive prior: each output channel a sum of one smooth curve of each of R, G, B, the luma,
the chroma Cb and Cr, and the pair's three look directions.

Such a model learns tone curves, channel mixing and saturation from the colours a photo shows
and continues them to colours it does not: a blue sky far from a brown photo's colours gets the
blue curve that the photo's bluer pixels showed, and where no pixel reached, the curves go on
straight (a penalty on their second differences decides there). Training fits it to the colour
cells first; the network's skip path starts from it and the anchors (``data.with_prior_anchors``)
hold the network to it, and to what the cells showed beyond it (``membrane``), where the pair
shows nothing. The curves of Cb and Cr let it bend what it does by how colourful a colour is and
towards which hue (a wash-out that greys strong colours more than weak ones, a cast that only
blues take): on one photo of the realworld benchmark, the prior alone went from 1.43 to 1.24 mean
ΔE00 on held-out photos with them.

A look direction is, for one output channel, the straight line in RGB along which the pair's
pixels best predict it (``look_directions``: the affine least-squares fit's coefficients). A look
that is a curve of some mix of the channels other than the luma (digiKam's wash-outs: a sepia tone
curve of a mix that counts blue far less) is no sum of curves of R, G, B and the luma, but it is
one curve of its direction. On the realworld benchmark (``--quick``) the defaults went from 1.234
to 1.134 mean ΔE00 with them (dk-washout 2.41 to 1.82; one direction for the luma gave 1.208 and
three more for the AFTER's Y, Cb and Cr 1.141, of the prior alone). But every further curve also
weakens the curvature penalty where it duplicates another (a sum of curves bends more cheaply
than one), and the coffee cup's sepia on the night sky went from 1.44 to 1.79: a ridge on the
directions' curves (``DIRECTION_RIDGE``, towards 0) keeps them for what the fixed inputs cannot
do. With 1e-3: 1.173 and the sepia 1.45 (1e-4: 1.147 and 1.55; ten times the curvature penalty
instead: 1.198 and 1.50). The directions' fit itself has a ridge in RGB's variance
(``DIRECTION_SPREAD``): a photo of one colour or of colours along a line fixes no direction
across it.

A ``Prior`` is its inputs, rows over R, G, B and 1 (``FIXED_INPUTS`` then the look directions),
and its curves (inputs, knots + 1, outputs): for each input its value at evenly spaced knots on
[0, 1] for each output channel, linear in between. Priors of model files of formats 2 and 3 have
the first four and six fixed inputs.

A JPEG AFTER keeps the luma of every pixel but not its chroma: 4:2:0 halves it and the DCT
quantises away most of its detail, so a colour cell's mean chroma is pulled towards its
neighbours' on the photo, and a fit to the cells learns that pull as if it were the look (a brown
photo taught the sky to turn teal). What JPEG keeps of the chroma is its mean over blocks (over
16×16 pixels exactly: a chroma DCT block's DC term; over 8×8, nearly), and the prior is linear in
its curves, so ``fit_prior`` fits the chroma to block means (``block_means``: the curves' inputs
and the AFTER averaged over each block) and only the luma (and alpha) to the cells. The blocks are
weighted as the cells are, rare colours more than their count alone (``block_weights``). On the
realworld benchmark (``--quick``) 8×8 blocks so weighted gave 1.42 mean ΔE00, 16×16 blocks all
alike 1.55, 4×4 1.39; but the coffee cup's sepia on the night sky, 0.9 with 16×16 blocks, is 1.1
with 8×8 and 2.8 with 4×4 (smaller blocks keep more of what the JPEG blurs). The network is then
trained on the cells with the prior's chroma (``with_prior_chroma``): on its own it learned the
cells' blurred chroma back where the pair shows colours. When the AFTER says how it was
compressed, training undoes that instead (``recompress``): the prior fitted to the blocks is then
only the first prediction of the AFTER, and the prior and the network are fitted to the mended
cells as to a lossless AFTER.

A JPEG decoder's RGB is clipped to [0, 255], and JPEG's noise overshoots there: a saturated
colour's mean loses what its clipped pixels would have had (on the coffee cup with pilgram's
kelvin, 38% of the pixels clip and the blocks' chroma means are off by 0.6 levels on average,
against 0.0 in the YCbCr the file stores). So training reads a JPEG AFTER as its YCbCr and takes
its colours unclipped (``unclipped_rgb``), for the blocks and the cells alike. On the realworld
benchmark (``--quick``): 1.173 to 1.105 mean ΔE00 (trained on the coffee cup, 1.79 to 1.62; the
unclipped blocks alone gave 1.65); the coffee cup's saturation on the night sky 3.27 to 1.81.

Knots and penalty were chosen on the realworld benchmark (``--quick``, mean ΔE00 over its looks)
and the coffee cup's six looks on the night sky (``looks.py`` trained on test1 with a JPEG AFTER,
mean on test3): knots every 1/8 with a penalty of 1e-3 gave 1.37 and 1.48; every 1/12, 1.23 and
1.41. A smaller penalty, 3e-4, gave 1.20 but 1.65 (the sepia went from 1.0 to 2.6: the chroma bent
to what the JPEG left), and 3e-4 for the cells with 1e-3 for the blocks 1.24 and 1.44. Every 1/6
or 1/16 (penalty 1e-4) did worse than 1/12: 1.35, 1.28 against 1.21.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

#: Knots every 1/12, and the curvature penalty of the fit (see the module's docstring for how
#: they were chosen).
PRIOR_KNOTS = 12
PRIOR_SMOOTHING = 1e-3
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # Rec. 601, as JPEG's YCbCr
#: JPEG's RGB -> Y, Cb, Cr (without Cb and Cr's offset of 1/2).
RGB_TO_YCBCR = np.array([LUMA_WEIGHTS, [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
#: Colour rows @ this: Y, Cb, Cr rows (Cb and Cr without their offset); and back.
_TO_YCBCR = RGB_TO_YCBCR.T
_FROM_YCBCR = np.linalg.inv(_TO_YCBCR)
#: The inputs every prior has, as rows over R, G, B and 1: R, G, B, the luma, Cb and Cr (offset into
#: [0, 1]); a fitted prior adds its three look directions.
FIXED_INPUTS = np.column_stack([np.vstack([np.eye(3), RGB_TO_YCBCR]), [0, 0, 0, 0, 0.5, 0.5]])
N_INPUTS = len(FIXED_INPUTS) + 3
#: A ridge on the look directions' curves (towards 0), and on the directions' fit (in RGB's
#: variance): see the module's docstring.
DIRECTION_RIDGE = 1e-3
DIRECTION_SPREAD = 1e-4
#: Chroma is fitted to means over blocks of this many pixels square (4×4 of 4:2:0's chroma samples).
CHROMA_BLOCK = 8
#: Blocks are weighted by (how many blocks' mean colours share a cell of this grid) ** -power.
BLOCK_WEIGHT_LEVELS = 32
BLOCK_WEIGHT_POWER = 0.5
#: ``block_means`` takes the pair in bands of whole block rows of about this many pixels.
BAND_PIXELS = 1 << 17


class Prior(NamedTuple):
    """The additive prior: its curves' inputs as rows over R, G, B and 1 (inputs, 4), and the curves
    (inputs, knots + 1, outputs)."""

    inputs: np.ndarray
    curves: np.ndarray


class Blocks(NamedTuple):
    """A pair's ``block_means``: the inputs they were taken for (inputs, 4), the mean of the curves'
    design matrix over each block (blocks, inputs (knots + 1)) and the mean AFTER RGB in [0, 1]
    (blocks, 3)."""

    inputs: np.ndarray
    features: np.ndarray
    colours: np.ndarray


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


def look_directions(rgb: np.ndarray, targets: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The pair's look directions (3, 4), inputs over R, G, B and 1 scaled onto [0, 1]: for each of
    the output channels R, G, B, the coefficients of the affine least-squares fit of it to the
    colours ``rgb`` (n, 3) over their pixels (``targets`` (n, 3 or more), ``counts`` pixels each),
    with a ridge of ``DIRECTION_SPREAD``. A channel the colours do not predict (one colour, or a
    constant output) takes the luma.

    >>> corners = np.vstack([np.zeros(3), np.eye(3)])
    >>> (look_directions(corners, corners[:, [1, 0, 2]], np.ones(4)).round(2) + 0).tolist()[0]
    [0.0, 1.0, 0.0, 0.0]
    """
    share = counts.astype(np.float64) / counts.sum()
    colours, outputs = rgb.astype(np.float64), targets[:, :3].astype(np.float64)
    colours = colours - share @ colours
    outputs = outputs - share @ outputs
    spread = (colours * share[:, None]).T @ colours + DIRECTION_SPREAD * np.eye(3)
    fitted = np.linalg.solve(spread, (colours * share[:, None]).T @ outputs)
    rows = []
    for coefficients in fitted.T:
        if np.abs(coefficients).sum() < 1e-3:
            coefficients = np.array(LUMA_WEIGHTS)
        low, high = np.minimum(coefficients, 0).sum(), np.maximum(coefficients, 0).sum()
        rows.append(np.append(coefficients, -low) / (high - low))
    return np.array(rows)


def prior_inputs(rgb: np.ndarray, targets: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The inputs (9, 4) of a prior of colours ``rgb`` (n, 3) with ``targets`` over ``counts``
    pixels: ``FIXED_INPUTS`` and the pair's ``look_directions``."""
    return np.vstack([FIXED_INPUTS, look_directions(rgb, targets, counts)])


def _input_values(inputs: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The curves' input values (n, inputs) for RGB (n, 3), in ``rgb``'s float type."""
    return rgb @ inputs[:, :3].T.astype(rgb.dtype) + inputs[:, 3].astype(rgb.dtype)


def _penalised_fit(
    basis: np.ndarray, targets: np.ndarray, weights: np.ndarray, identity: np.ndarray
) -> np.ndarray:
    """Weighted least squares of ``targets`` (n, k) on ``basis`` (n, inputs (knots + 1)), second
    differences of every curve penalised and the look directions' curves ridged towards 0; what the
    data leave open (the curves' constants add up;
    a photo of one colour fixes no slope) a tiny ridge settles as ``identity`` (inputs (knots + 1), k)."""
    n_knots = PRIOR_KNOTS + 1
    second_difference = np.diff(np.eye(n_knots), 2, axis=0)
    penalty = np.kron(np.eye(basis.shape[1] // n_knots), second_difference.T @ second_difference)
    direction_ridge = np.zeros(basis.shape[1])
    direction_ridge[len(FIXED_INPUTS) * n_knots :] = DIRECTION_RIDGE / PRIOR_SMOOTHING
    penalty += np.diag(direction_ridge)
    ridge = 1e-9
    weighted = basis * (weights / weights.sum())[:, None]
    gram = weighted.T @ basis + PRIOR_SMOOTHING * penalty + ridge * np.eye(basis.shape[1])
    return np.linalg.solve(gram, weighted.T @ targets + ridge * identity)


def _identity(n_inputs: int, outputs: int) -> np.ndarray:
    """The curves of leaving colours alone, flattened (inputs (knots + 1), outputs): each of the
    first three outputs its own channel's straight curve, any further output (alpha) the constant 1."""
    n_knots = PRIOR_KNOTS + 1
    identity = np.zeros((n_inputs, n_knots, outputs))
    for c in range(min(3, outputs)):
        identity[c, :, c] = np.linspace(0, 1, n_knots)
    identity[0, :, 3:] = 1
    return identity.reshape(-1, outputs)


def _basis(inputs: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The curves' design matrix for RGB (n, 3): a hat basis of each of ``inputs``."""
    values = _input_values(inputs, rgb.astype(np.float64))
    return np.column_stack([hat_basis(v, PRIOR_KNOTS) for v in values.T])


def fit_curves(rgb: np.ndarray, targets: np.ndarray, weights: np.ndarray, inputs: np.ndarray) -> Prior:
    """The prior of ``inputs`` that best maps colours ``rgb`` (n, 3) to ``targets`` (n, outputs)
    by weighted least squares, curvature penalised."""
    outputs = targets.shape[1]
    fitted = _penalised_fit(
        _basis(inputs, rgb),
        targets.astype(np.float64),
        weights.astype(np.float64),
        _identity(len(inputs), outputs),
    )
    return Prior(inputs, fitted.reshape(len(inputs), PRIOR_KNOTS + 1, outputs))


def block_means(
    source: np.ndarray, target: np.ndarray, inputs: np.ndarray, block: int = CHROMA_BLOCK
) -> Blocks:
    """A before/after pair of uint8 or uint16 images (height, width, 3 or 4) averaged over each
    ``block``×``block`` block, for the curves of ``inputs``.

    Taken in bands of whole block rows, so that the temporaries stay small (twice as fast on a
    3 MP pair as all at once).
    """
    band = block * max(1, BAND_PIXELS // (block * source.shape[1]))
    parts = [
        _band_means(source[top : top + band], target[top : top + band], inputs, block)
        for top in range(0, source.shape[0], band)
    ]
    return Blocks(inputs, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def _band_means(
    source: np.ndarray, target: np.ndarray, inputs: np.ndarray, block: int
) -> tuple[np.ndarray, np.ndarray]:
    """``block_means`` of a band of whole block rows. Per input, a pixel in the segment between
    knots j and j + 1 at share f of the way adds 1 - f to knot j and f to knot j + 1: the sums are
    a count and a sum of f per (block, segment)."""
    height, width = source.shape[:2]
    full = np.iinfo(source.dtype).max
    knots, across = PRIOR_KNOTS, -(-width // block)
    ids = ((np.arange(height) // block)[:, None] * across + np.arange(width) // block).ravel()
    n_blocks = int(ids[-1]) + 1
    counts = np.bincount(ids, minlength=n_blocks).astype(np.float64)[:, None]
    # Each input times ``knots``, (inputs, pixels): the position along its knots.
    values = (inputs[:, :3] * (knots / full)).astype(np.float32) @ source[..., :3].reshape(-1, 3).T.astype(
        np.float32
    )
    values += (inputs[:, 3] * knots).astype(np.float32)[:, None]
    np.clip(values, 0, knots, out=values)
    starts = np.minimum(np.floor(values), knots - 1)  # each pixel's segment, in float32
    values -= starts  # each pixel's share of the way along its segment
    starts += (ids * knots).astype(np.float32)  # (block, segment) cells: exact in float32
    cells_of_inputs = starts.astype(np.intp)
    sums = np.zeros((n_blocks, len(inputs), knots + 1))
    for i, cells in enumerate(cells_of_inputs):
        in_segment = np.bincount(cells, minlength=n_blocks * knots).reshape(n_blocks, knots)
        along = np.bincount(cells, weights=values[i], minlength=n_blocks * knots).reshape(n_blocks, knots)
        sums[:, i, :-1] += in_segment - along
        sums[:, i, 1:] += along
    after = target[..., :3].reshape(-1, 3)
    colour = np.bincount(
        (ids[:, None] * 3 + np.arange(3)).ravel(), weights=after.ravel(), minlength=3 * n_blocks
    )
    colour = colour.reshape(n_blocks, 3)
    return sums.reshape(n_blocks, -1) / counts, colour / (full * counts)


def fit_prior(
    rgb: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    inputs: np.ndarray,
    blocks: Blocks | None = None,
) -> Prior:
    """The prior of ``inputs`` to RGBA: fitted to the colour cells (``rgb`` (n, 3), ``targets``
    (n, 4), ``weights``), and with ``blocks`` (``block_means`` of the pairs for the same inputs)
    its chroma fitted to the blocks instead (weighted by ``block_weights``), and only luma and
    alpha to the cells."""
    prior = fit_curves(rgb, targets, weights, inputs)
    if blocks is None or len(blocks.features) == 0:
        return prior
    # The fit is linear in its targets, so the cells' Y is the Y of their RGB curves.
    curves = prior.curves
    ycbcr = curves[..., :3].reshape(-1, 3) @ _TO_YCBCR
    identity = _identity(len(inputs), 3) @ _TO_YCBCR
    ycbcr[:, 1:] = _penalised_fit(
        blocks.features, blocks.colours @ _TO_YCBCR[:, 1:], block_weights(blocks.features), identity[:, 1:]
    )
    curves[..., :3] = (ycbcr @ _FROM_YCBCR).reshape(len(inputs), PRIOR_KNOTS + 1, 3)
    return prior


def with_prior_chroma(rgb: np.ndarray, targets: np.ndarray, prior: Prior) -> np.ndarray:
    """``targets`` (n, 3 or 4) of colours ``rgb`` (n, 3) with their luma (and alpha) kept and their
    chroma the ``prior``'s, clipped to [0, 1].

    For a JPEG AFTER the cells' chroma is what JPEG pulled towards their neighbours', so the
    network is trained on this instead: it corrects the luma, which JPEG keeps, and its chroma
    follows the block-fitted prior. On the realworld benchmark (``--quick``) that gave 1.37 mean
    ΔE00 against 1.42 for the cells' own chroma, and 1.39 for their chroma moved by the difference
    of the prior fitted to the blocks and to the cells.
    """
    ycbcr = targets[:, :3].astype(np.float64) @ _TO_YCBCR
    ycbcr[:, 1:] = (apply_curves(prior, rgb.astype(np.float64))[:, :3] @ _TO_YCBCR)[:, 1:]
    out = targets.copy()
    out[:, :3] = np.clip(ycbcr @ _FROM_YCBCR, 0, 1)
    return out


def unclipped_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """A JPEG's YCbCr pixels (..., 3 uint8, as stored) as RGB on the uint8 scale, float32, not
    clipped to [0, 255] as a decoder's RGB is.

    >>> np.rint(unclipped_rgb(np.array([[250, 128, 200]], np.uint8))).tolist()
    [[351.0, 199.0, 250.0]]
    """
    stored = ycbcr.astype(np.float32) - np.array([0, 128, 128], np.float32)
    return stored @ _FROM_YCBCR.astype(np.float32)


def block_weights(features: np.ndarray) -> np.ndarray:
    """Weights of blocks (``block_means``' features): the fewer blocks whose mean colour shares its
    cell, the more a block weighs, so that a photo's few colourful blocks are not outvoted by its
    thousands of brown ones (as the cells' counts are damped for the luma)."""
    n_knots = PRIOR_KNOTS + 1
    mean_rgb = features.reshape(len(features), -1, n_knots)[:, :3] @ np.linspace(0, 1, n_knots)
    levels = BLOCK_WEIGHT_LEVELS
    cells = np.minimum((mean_rgb * levels).astype(np.intp), levels - 1) @ np.array(
        [levels * levels, levels, 1]
    )
    _, inverse, counts = np.unique(cells, return_inverse=True, return_counts=True)
    return counts[inverse].astype(np.float64) ** -BLOCK_WEIGHT_POWER


def apply_curves(prior: Prior, rgb: np.ndarray) -> np.ndarray:
    """The prior's colours for RGB (n, 3) in [0, 1]: (n, outputs) in ``rgb``'s float type, clipped
    to [0, 1].

    >>> straight = fit_curves(np.eye(3), np.eye(3), np.ones(3), FIXED_INPUTS)
    >>> apply_curves(straight, np.array([[0.2, 0.5, 0.9]])).round(3).tolist()
    [[0.2, 0.5, 0.9]]
    """
    out = apply_ramps(curve_ramps(prior, rgb.dtype), rgb)[: prior.curves.shape[2]]
    return np.clip(out, 0, 1, out=out).T


def curve_ramps(prior: Prior, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The curves as one matrix over ramps, what ``apply_ramps`` evaluates, prepared once for the
    many calls of applying a look.

    A curve linear between knots is its value at 0, plus its first slope times v, plus, at each
    inner knot t, its change of slope times max(v - t, 0). Returns, in ``dtype``: the inputs as
    rows over RGB and 1 (inputs, 4); the inner knots (knots - 1, 1); the matrix (outputs padded
    with rows of 0 to a multiple of 4, inputs · knots + 1) over the rows [each input; each input's
    ramps; 1]. (OpenBLAS multiplies by 4 rows faster than by 3.)
    """
    n_inputs, n_knots, outputs = prior.curves.shape
    curves = prior.curves
    knots = n_knots - 1
    slopes = np.diff(curves, axis=1) * knots
    kinks = np.diff(slopes, axis=1).reshape(-1, outputs)
    matrix = np.concatenate([slopes[:, 0], kinks, curves[:, 0].sum(axis=0)[None]]).T
    matrix = np.concatenate([matrix, np.zeros((-outputs % 4, matrix.shape[1]))])
    to_inputs = prior.inputs
    inner_knots = np.arange(1, knots)[:, None] / knots
    return tuple(np.ascontiguousarray(a, dtype) for a in (to_inputs, inner_knots, matrix))


def apply_ramps(
    ramps: tuple[np.ndarray, np.ndarray, np.ndarray],
    rgb: np.ndarray,
    out: np.ndarray | None = None,
    empty: Callable[[tuple[int, ...], np.dtype], np.ndarray] = np.empty,
) -> np.ndarray:
    """``apply_curves`` with the curves' ``curve_ramps`` (in ``rgb``'s float type), as (outputs, n),
    one column a colour, with the matrix's rows of padding (0) and not clipped (the network's
    logit clips them anyway): into ``out`` if given (C-contiguous); ``empty`` makes its working
    array.

    Two small matrix products and two passes over the ramps, whatever the number of knots: measured
    faster than a lookup of each input's segment on a table's strips of a few hundred colours and on
    chunks of 4096, and the same to float32 rounding.
    """
    to_inputs, inner_knots, matrix = ramps
    n_inputs, n = len(to_inputs), len(rgb)
    rows = empty((matrix.shape[1], n), rgb.dtype)
    values = rows[:n_inputs]
    np.dot(to_inputs[:, :3], rgb.T, out=values)
    values += to_inputs[:, 3:]
    np.clip(values, 0, 1, out=values)
    ramp_rows = rows[n_inputs:-1].reshape(n_inputs, len(inner_knots), n)
    np.subtract(values[:, None], inner_knots, out=ramp_rows)
    # max(ramp, 0) as a clip to [0, 1], which the ramps never exceed: numpy's maximum with a
    # number is not vectorised on AVX2 CPUs, clip is.
    np.clip(ramp_rows, 0, 1, out=ramp_rows)
    rows[-1] = 1
    return np.dot(matrix, rows, out=out)
