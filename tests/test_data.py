"""Training data: the additive prior that the anchors continue a look with."""

import numpy as np

from nnfilter.data import ColourSamples, with_prior_anchors
from nnfilter.prior import (
    FIXED_INPUTS,
    LUMA_WEIGHTS,
    PRIOR_KNOTS,
    RGB_TO_YCBCR,
    Blocks,
    apply_curves,
    block_means,
    block_weights,
    fit_curves,
    fit_prior,
    hat_basis,
    look_directions,
    prior_inputs,
    with_prior_chroma,
)


def narrow_samples(look, n=2000, seed=0):
    """Samples of warm browns only (as the coffee-cup photo), with ``look`` as their targets."""
    rng = np.random.default_rng(seed)
    rgb = rng.uniform([0.4, 0.2, 0.05], [0.9, 0.5, 0.3], (n, 3))
    inputs = np.column_stack([rgb, np.ones(n)]).astype(np.float32)
    targets = np.column_stack([look(rgb), np.ones(n)]).astype(np.float32)
    return ColourSamples(inputs, targets, rng.integers(1, 50, n).astype(np.float32))


def prior_of(samples, inputs=None):
    rgb = samples.inputs[:, :3]
    inputs = prior_inputs(rgb, samples.targets, samples.counts) if inputs is None else inputs
    return fit_curves(rgb, samples.targets, np.sqrt(samples.counts), inputs)


MIXING = np.array([[0.8, 0.1, 0.1], [0.05, 0.9, 0.0], [0.1, 0.0, 0.7]])


def mixed(rgb):
    return rgb @ MIXING.T + 0.05


def test_prior_continues_a_channel_mixing_into_colours_never_shown():
    samples = narrow_samples(mixed)
    curves = prior_of(samples)
    far = np.array([[0.1, 0.3, 0.9], [0.2, 0.8, 0.3], [0.95, 0.95, 0.95]])  # sky blue, green, white
    np.testing.assert_allclose(apply_curves(curves, far)[:, :3], mixed(far), atol=2e-3)


def washout(rgb):
    """A sepia tone curve of a mix that counts blue far less than the luma does (as digiKam's
    wash-out): no sum of curves of R, G, B and the luma."""
    tone = np.sqrt(rgb @ np.array([0.55, 0.42, 0.03]))[:, None]
    return tone * np.array([1.0, 0.9, 0.75]) + 0.05


def test_the_look_directions_are_the_pixels_affine_fit_scaled_onto_0_to_1():
    samples = narrow_samples(mixed)
    directions = look_directions(samples.inputs[:, :3], samples.targets, samples.counts)
    # mixed's rows are all positive, so each direction is its row over the row's sum, offset 0
    # (to the fit's small ridge).
    np.testing.assert_allclose(directions[:, :3], MIXING / MIXING.sum(axis=1, keepdims=True), atol=0.01)
    np.testing.assert_allclose(directions[:, 3], 0, atol=0.01)
    one_colour = look_directions(np.full((5, 3), 0.4), np.full((5, 3), 0.6), np.ones(5))
    np.testing.assert_allclose(one_colour[:, :3], np.tile(LUMA_WEIGHTS, (3, 1)), atol=1e-6)


def test_a_curve_of_a_mix_of_channels_is_learned_along_its_direction():
    rng = np.random.default_rng(0)
    rgb, others = rng.uniform(0, 1, (2000, 3)), rng.uniform(0, 1, (500, 3))
    samples = ColourSamples(
        np.column_stack([rgb, np.ones(2000)]).astype(np.float32),
        np.column_stack([washout(rgb), np.ones(2000)]).astype(np.float32),
        rng.integers(1, 50, 2000).astype(np.float32),
    )
    with_directions = np.abs(apply_curves(prior_of(samples), others)[:, :3] - washout(others)).mean()
    fixed_only = np.abs(apply_curves(prior_of(samples, FIXED_INPUTS), others)[:, :3] - washout(others)).mean()
    assert with_directions < 0.5 * fixed_only  # measured 0.0005 against 0.0017


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
    inputs, features, colours = block_means(before, after, FIXED_INPUTS)
    assert inputs is FIXED_INPUTS and features.shape == (6, 6 * (PRIOR_KNOTS + 1)) and colours.shape == (6, 3)
    corner = (slice(16, 20), slice(8, 11))  # the last block: 4 x 3 pixels
    np.testing.assert_allclose(colours[5], after[corner].reshape(-1, 3).mean(axis=0) / 255)
    rows = curves_design(before[corner].reshape(-1, 3) / 255)
    np.testing.assert_allclose(features[5], rows.mean(axis=0), atol=1e-6)


def test_with_prior_chroma_keeps_the_luma_and_alpha_and_takes_the_priors_chroma():
    samples = narrow_samples(mixed)
    prior = prior_of(samples)
    rgb = samples.inputs[:, :3]
    targets = samples.targets.copy()
    targets[:, :3] = np.clip(targets[:, :3] + [0.05, -0.04, 0.03], 0, 1)  # off the prior's chroma
    targets[:, 3] = 0.7
    fixed = with_prior_chroma(rgb, targets, prior)
    to_ycbcr = RGB_TO_YCBCR.T
    np.testing.assert_allclose(fixed[:, :3] @ to_ycbcr[:, 0], targets[:, :3] @ to_ycbcr[:, 0], atol=1e-5)
    prior_chroma = apply_curves(prior, rgb.astype(np.float64))[:, :3] @ to_ycbcr[:, 1:]
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
    blocks = Blocks(FIXED_INPUTS, curves_design(rgb), mixed(rgb))
    far = np.array([[0.1, 0.3, 0.9], [0.2, 0.8, 0.3]])
    weights = np.sqrt(cells.counts)
    from_cells = apply_curves(fit_prior(rgb, cells.targets, weights, FIXED_INPUTS), far)[:, :3]
    from_blocks = apply_curves(fit_prior(rgb, cells.targets, weights, FIXED_INPUTS, blocks), far)[:, :3]
    assert np.abs(from_cells - mixed(far)).max() > 0.05
    np.testing.assert_allclose(from_blocks, mixed(far), atol=5e-3)
