"""Training data: the additive prior that the anchors continue a look with."""

import numpy as np

from nnfilter.data import ColourSamples, with_prior_anchors
from nnfilter.prior import (
    LUMA_WEIGHTS,
    PRIOR_KNOTS,
    RGB_TO_YCBCR,
    apply_curves,
    block_means,
    block_weights,
    fit_curves,
    fit_prior,
    hat_basis,
    with_prior_chroma,
)


def narrow_samples(look, n=2000, seed=0):
    """Samples of warm browns only (as the coffee-cup photo), with ``look`` as their targets."""
    rng = np.random.default_rng(seed)
    rgb = rng.uniform([0.4, 0.2, 0.05], [0.9, 0.5, 0.3], (n, 3))
    inputs = np.column_stack([rgb, np.ones(n)]).astype(np.float32)
    targets = np.column_stack([look(rgb), np.ones(n)]).astype(np.float32)
    return ColourSamples(inputs, targets, rng.integers(1, 50, n).astype(np.float32))


def prior_of(samples):
    return fit_curves(samples.inputs[:, :3], samples.targets, np.sqrt(samples.counts))


MIXING = np.array([[0.8, 0.1, 0.1], [0.05, 0.9, 0.0], [0.1, 0.0, 0.7]])


def mixed(rgb):
    return rgb @ MIXING.T + 0.05


def test_prior_continues_a_channel_mixing_into_colours_never_shown():
    samples = narrow_samples(mixed)
    curves = prior_of(samples)
    far = np.array([[0.1, 0.3, 0.9], [0.2, 0.8, 0.3], [0.95, 0.95, 0.95]])  # sky blue, green, white
    np.testing.assert_allclose(apply_curves(curves, far)[:, :3], mixed(far), atol=2e-3)


def test_prior_follows_a_tone_curve_where_the_samples_show_it():
    def curve(rgb):
        return rgb**0.6

    samples = narrow_samples(curve)
    seen = samples.inputs[:200, :3].astype(np.float64)
    gap = np.abs(apply_curves(prior_of(samples), seen)[:, :3] - curve(seen))
    assert gap.mean() < 0.002 and gap.max() < 0.02  # half a level on average


def test_anchors_fill_only_empty_cells_with_the_priors_prediction():
    samples = narrow_samples(mixed)
    weights = np.sqrt(samples.counts)
    anchored, anchor_weights = with_prior_anchors(samples, weights, 0.05, prior_of(samples))
    anchors = anchored.inputs[len(samples) :, :3]
    assert 0 < len(anchors) < 16**3
    np.testing.assert_allclose(anchored.targets[len(samples) :, :3], np.clip(mixed(anchors), 0, 1), atol=2e-3)
    # 0.05 of the samples' weight over the whole grid: the empty cells' part of it.
    expected = 0.05 * weights.sum() * len(anchors) / 16**3
    assert np.isclose(anchor_weights[len(samples) :].sum(), expected, rtol=1e-5)
    assert np.all(anchored.counts[len(samples) :] == 0)


def curves_design(rgb):
    """The prior's design matrix, written out: hat bases of R, G, B, Y, Cb + 1/2 and Cr + 1/2."""
    ycbcr = rgb @ RGB_TO_YCBCR.T + [0, 0.5, 0.5]
    return np.column_stack([hat_basis(v, PRIOR_KNOTS) for v in np.column_stack([rgb, ycbcr]).T])


def test_block_means_average_the_curves_inputs_and_the_after_over_each_block():
    rng = np.random.default_rng(1)
    before = rng.integers(0, 256, (20, 11, 3), dtype=np.uint8)  # blocks of 8: 3 rows of 2, cut at the edges
    after = rng.integers(0, 256, (20, 11, 3), dtype=np.uint8)
    features, colours = block_means(before, after)
    assert features.shape == (6, 6 * (PRIOR_KNOTS + 1)) and colours.shape == (6, 3)
    corner = (slice(16, 20), slice(8, 11))  # the last block: 4 x 3 pixels
    np.testing.assert_allclose(colours[5], after[corner].reshape(-1, 3).mean(axis=0) / 255)
    rows = curves_design(before[corner].reshape(-1, 3) / 255)
    np.testing.assert_allclose(features[5], rows.mean(axis=0), atol=1e-6)


def test_with_prior_chroma_keeps_the_luma_and_alpha_and_takes_the_priors_chroma():
    samples = narrow_samples(mixed)
    curves = prior_of(samples)
    rgb = samples.inputs[:, :3]
    targets = samples.targets.copy()
    targets[:, :3] = np.clip(targets[:, :3] + [0.05, -0.04, 0.03], 0, 1)  # off the prior's chroma
    targets[:, 3] = 0.7
    fixed = with_prior_chroma(rgb, targets, curves)
    to_ycbcr = RGB_TO_YCBCR.T
    np.testing.assert_allclose(fixed[:, :3] @ to_ycbcr[:, 0], targets[:, :3] @ to_ycbcr[:, 0], atol=1e-5)
    prior_chroma = apply_curves(curves[..., :3], rgb.astype(np.float64)) @ to_ycbcr[:, 1:]
    np.testing.assert_allclose(fixed[:, :3] @ to_ycbcr[:, 1:], prior_chroma, atol=1e-5)
    assert np.all(fixed[:, 3] == np.float32(0.7)) and fixed.dtype == targets.dtype
    assert np.abs(fixed - targets).max() > 0.02


def test_a_block_weighs_more_the_fewer_blocks_share_its_colour():
    brown, blue = [0.5, 0.3, 0.2], [0.1, 0.2, 0.8]
    weights = block_weights(curves_design(np.array([brown, brown, brown, blue])))
    assert weights[0] == weights[1] == weights[2] < weights[3]


def test_the_prior_takes_chroma_from_blocks_and_luma_from_cells():
    # Cells whose chroma is pulled towards grey, as a JPEG's neighbours pull it, but block means
    # that keep it: the curves follow the blocks' chroma and the cells' luma.
    samples = narrow_samples(mixed)
    blurred = samples.targets.copy()
    luma = blurred[:, :3] @ np.array(LUMA_WEIGHTS, np.float32)
    blurred[:, :3] = luma[:, None] + 0.5 * (blurred[:, :3] - luma[:, None])
    cells = ColourSamples(samples.inputs, blurred, samples.counts)
    rgb = samples.inputs[:, :3].astype(np.float64)
    blocks = (
        curves_design(rgb),
        mixed(rgb),
    )
    far = np.array([[0.1, 0.3, 0.9], [0.2, 0.8, 0.3]])
    from_cells = apply_curves(fit_prior(rgb, cells.targets, np.sqrt(cells.counts)), far)[:, :3]
    from_blocks = apply_curves(fit_prior(rgb, cells.targets, np.sqrt(cells.counts), blocks), far)[:, :3]
    assert np.abs(from_cells - mixed(far)).max() > 0.05
    np.testing.assert_allclose(from_blocks, mixed(far), atol=5e-3)
