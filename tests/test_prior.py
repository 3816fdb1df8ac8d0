"""The additive prior that the anchors continue a look with."""

import io

import numpy as np
from PIL import Image

from nnfilter.data import ColourSamples, pair_samples
from nnfilter.prior import additive_fit, additive_predict, fit_to_pixels, with_prior_anchors


def narrow_samples(look, n=2000, seed=0):
    """Samples of warm browns only (as the coffee-cup photo), with ``look`` as their targets."""
    rng = np.random.default_rng(seed)
    rgb = rng.uniform([0.4, 0.2, 0.05], [0.9, 0.5, 0.3], (n, 3))
    inputs = np.column_stack([rgb, np.ones(n)]).astype(np.float32)
    targets = np.column_stack([look(rgb), np.ones(n)]).astype(np.float32)
    return ColourSamples(inputs, targets, rng.integers(1, 50, n).astype(np.float32))


MIXING = np.array([[0.8, 0.1, 0.1], [0.05, 0.9, 0.0], [0.1, 0.0, 0.7]])


def mixed(rgb):
    return rgb @ MIXING.T + 0.05


def test_prior_continues_a_channel_mixing_into_colours_never_shown():
    samples = narrow_samples(mixed)
    coefficients = additive_fit(samples, np.sqrt(samples.counts))
    far = np.array([[0.1, 0.3, 0.9], [0.2, 0.8, 0.3], [0.95, 0.95, 0.95]])  # sky blue, green, white
    np.testing.assert_allclose(additive_predict(coefficients, far)[:, :3], mixed(far), atol=2e-3)


def test_prior_follows_a_tone_curve_where_the_samples_show_it():
    def curve(rgb):
        return rgb**0.6

    samples = narrow_samples(curve)
    coefficients = additive_fit(samples, np.sqrt(samples.counts))
    seen = samples.inputs[:200, :3].astype(np.float64)
    gap = np.abs(additive_predict(coefficients, seen)[:, :3] - curve(seen))
    assert gap.mean() < 0.002 and gap.max() < 0.02  # half a level on average: knots are 1/8 apart


def test_anchors_fill_only_empty_cells_with_the_priors_prediction():
    samples = narrow_samples(mixed)
    weights = np.sqrt(samples.counts)
    anchored, anchor_weights = with_prior_anchors(samples, weights, 0.05)
    anchors = anchored.inputs[len(samples) :, :3]
    assert 0 < len(anchors) < 16**3
    np.testing.assert_allclose(anchored.targets[len(samples) :, :3], np.clip(mixed(anchors), 0, 1), atol=2e-3)
    # 0.05 of the samples' weight over the whole grid: the empty cells' part of it.
    expected = 0.05 * weights.sum() * len(anchors) / 16**3
    assert np.isclose(anchor_weights[len(samples) :].sum(), expected, rtol=1e-5)
    assert np.all(anchored.counts[len(samples) :] == 0)


SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


def sepia(rgb):
    return np.clip(rgb @ SEPIA.T, 0, 1)


def brown_photo(seed=0, size=(192, 256)):
    """A textured photo of warm browns (the coffee cup's colours): smooth blobs plus fine grain."""
    rng = np.random.default_rng(seed)

    def field():
        coarse = rng.integers(0, 256, (12, 16), np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize(size[::-1], Image.BICUBIC)) / 255
        return smooth + rng.normal(0, 0.05, size)

    shade, warmth = field(), field()
    rgb = np.stack(
        [0.3 + 0.4 * shade + 0.2 * warmth, 0.2 + 0.3 * shade, 0.1 + 0.2 * shade - 0.1 * warmth], axis=-1
    )
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def jpeg_q90(rgb):
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)  # Pillow's default: 4:2:0
    return np.asarray(Image.open(buffer).convert("RGB"))


FAR = np.array(
    [[0.1, 0.3, 0.9], [0.2, 0.8, 0.3], [0.5, 0.5, 0.5], [0.05, 0.1, 0.3]]
)  # sky, green, grey, navy


def far_error(coefficients):
    return np.abs(additive_predict(coefficients, FAR)[:, :3] - sepia(FAR)).max()


def cells_fit(before, after):
    samples = pair_samples(before.reshape(-1, 3), after.reshape(-1, 3))
    return additive_fit(samples, np.sqrt(samples.counts))


def test_a_jpeg_afters_blurred_chroma_flattens_the_look_less_far_from_the_photo():
    blind, aware = [], []
    for seed in range(3):
        before = brown_photo(seed)
        after = jpeg_q90(np.round(sepia(before / 255) * 255).astype(np.uint8))
        blind.append(far_error(cells_fit(before, after)))
        aware.append(far_error(fit_to_pixels([(before, after)], 0.5, np.random.default_rng(0))))
    assert np.mean(aware) < 0.75 * np.mean(blind), (aware, blind)


def test_a_lossless_after_continues_the_look_to_far_colours():
    before = brown_photo(seed=1)
    after = np.round(sepia(before / 255) * 255).astype(np.uint8)
    assert far_error(fit_to_pixels([(before, after)], 0.5, np.random.default_rng(0))) < 0.01
