"""The membrane: what the cells show beyond the prior, carried on to colours they do not show."""

import numpy as np
from conftest import colour_field
from PIL import Image

from nnfilter.data import ColourSamples, pair_samples, with_prior_anchors
from nnfilter.images import jpeg_coding, open_image
from nnfilter.membrane import fit_beyond, fit_membrane, membrane_at
from nnfilter.prior import apply_curves, fit_curves, prior_inputs, unclipped_rgb
from nnfilter.recompress import Palette, debiased


def cluster(centre, n, seed):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(centre, 0.04, (n, 3)), 0, 1)


def test_the_membrane_follows_the_residuals_and_carries_them_on_level():
    reds = cluster([0.7, 0.15, 0.1], 500, 0)
    residual = np.tile([0.0, 0.05, -0.03], (500, 1))
    membrane = fit_membrane(reds, residual, np.ones(500))
    np.testing.assert_allclose(membrane_at(membrane, reds), residual, atol=2e-3)
    # Redder colours next to them take the same residual; a blue far off has it faded to the prior.
    redder = np.array([[0.8, 0.1, 0.05], [0.85, 0.05, 0.02]])
    np.testing.assert_allclose(membrane_at(membrane, redder), residual[:2], atol=5e-3)
    assert np.abs(membrane_at(membrane, np.array([[0.1, 0.2, 0.9]]))).max() < 0.01


def test_between_two_colours_the_membrane_blends_their_residuals():
    reds, blues = cluster([0.8, 0.2, 0.1], 300, 1), cluster([0.1, 0.2, 0.8], 300, 2)
    rgb = np.vstack([reds, blues])
    residual = np.repeat([[0.04], [-0.04]], 300, axis=0)
    membrane = fit_membrane(rgb, residual, np.ones(600))
    at_reds, between, at_blues = membrane_at(
        membrane, np.array([[0.8, 0.2, 0.1], [0.45, 0.2, 0.45], [0.1, 0.2, 0.8]])
    )[:, 0]
    assert at_reds > 0.035 and at_blues < -0.035
    assert abs(between) < 0.01  # halfway: neither colour's residual


def product_look(rgb):
    """A look with a product of the three channels, which no sum of curves holds."""
    return np.clip(rgb + 2 * np.prod(rgb - 0.5, axis=-1, keepdims=True) * [1, -1, 1], 0, 1)


def test_anchors_next_to_the_pair_take_what_it_showed_beyond_the_prior():
    # The product look on the colours of a grey cube's middle: the anchors just outside it get
    # the product the prior misses (measured a quarter of the prior's error there).
    low, high = 0.3, 0.7
    rgb = np.random.default_rng(3).uniform(low, high, (3000, 3))
    inputs = np.column_stack([rgb, np.ones(3000)]).astype(np.float32)
    targets = np.column_stack([product_look(rgb), np.ones(3000)]).astype(np.float32)
    samples = ColourSamples(inputs, targets, np.ones(3000, np.float32))
    weights = np.ones(3000)
    prior = fit_curves(rgb, targets, weights, prior_inputs(rgb, targets, samples.counts))
    anchored, _ = with_prior_anchors(samples, weights, 1.0, prior)
    anchors = anchored.inputs[3000:, :3].astype(np.float64)
    outside = np.maximum(anchors - high, low - anchors).max(axis=1)
    near = outside <= 0.05
    exact = product_look(anchors[near])
    membrane_error = np.abs(anchored.targets[3000:, :3][near] - exact).mean()
    prior_error = np.abs(apply_curves(prior, anchors[near])[:, :3] - exact).mean()
    assert membrane_error < 0.5 * prior_error, (membrane_error, prior_error)


def test_the_prior_with_its_membrane_mends_a_jpeg_after_closer_than_the_prior_alone(tmp_path):
    # Mending takes off what JPEG did to a prediction of the AFTER (``recompress``): the closer
    # the prediction, the closer the mended AFTER to the look (measured 1.9 levels off, mean over
    # the pixels' channels, against 4.6 by the prior alone and 5.7 unmended).
    before = colour_field(128, 96, seed=5)
    exact = np.rint(product_look(before / 255) * 255)
    Image.fromarray(exact.astype(np.uint8)).save(tmp_path / "after.jpg", quality=90)
    read = open_image(tmp_path / "after.jpg", jpeg_ycbcr=True)
    after = unclipped_rgb(np.asarray(read))
    samples = pair_samples(before.reshape(-1, 3), exact.astype(np.uint8).reshape(-1, 3))
    rgb, weights = samples.inputs[:, :3], samples.counts
    prior = fit_curves(rgb, samples.targets, weights, prior_inputs(rgb, samples.targets, weights))
    membrane = fit_beyond(prior, rgb, samples.targets, weights)
    palette, coding = Palette.of(before), jpeg_coding(read)
    alone, with_membrane = (
        np.abs(debiased(palette, after, prior, coding, m) - exact).mean() for m in (None, membrane)
    )
    assert with_membrane < 0.6 * alone, (with_membrane, alone)
