"""Tests for nnfilter.colour: published CIEDE2000 data, sRGB -> Lab reference values, PSNR and chunked stats."""

import math

import numpy as np
import pytest
from PIL import Image

from nnfilter.colour import ciede2000, colour_stats, delta_e00, psnr, srgb_to_lab

# The 34 test pairs of Table 1 in G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula:
# implementation notes, supplementary test data, and mathematical observations", Color Res. Appl. 30(1):21-30, 2005.
# Transcribed from scikit-image's copy of that table, skimage/color/tests/ciede2000_test_data.txt
# (scikit-image @e866696), and cross-checked against colour-science 0.4.7 `delta_E(..., method="CIE 2000")`
# (max difference 5e-5, i.e. the table's 4-decimal rounding).
# Columns: L1, a1, b1, L2, a2, b2, expected dE00.
SHARMA_2005 = np.array(
    [
        (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
        (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
        (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
        (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
        (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
        (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
        (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
        (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
        (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
        (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
        (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
        (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
        (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
        (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
        (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
        (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
        (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
        (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
        (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
        (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
        (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
        (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
        (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
        (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
        (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
        (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
        (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
    ]
)

# sRGB (uint8) -> Lab for this module's definition (IEC 61966-2-1 chromaticities, D65 x=0.3127 y=0.3290, full
# precision matrix). Independently computed with colour-science 0.4.7:
# XYZ_to_Lab(normalised_primary_matrix(P, W) @ eotf_sRGB(rgb / 255), W).
SRGB_LAB_EXACT = [
    ((255, 0, 0), (53.237116, 80.090114, 67.203264)),
    ((0, 255, 0), (87.735519, -86.181597, 83.186620)),
    ((0, 0, 255), (32.300873, 79.195270, -107.855466)),
    ((128, 128, 128), (53.585013, 0.0, 0.0)),
    ((10, 200, 30), (70.500495, -70.512432, 64.945615)),
]

# The same colours from scikit-image 0.26 `rgb2lab` (a slightly different matrix and white point: 0.412453...,
# Xn=0.95047, Zn=1.08883). Implementations differ by ~0.02 here, so this is a loose, independent sanity check.
SRGB_LAB_SKIMAGE = [
    ((255, 0, 0), (53.240588, 80.092308, 67.202751)),
    ((0, 255, 0), (87.735099, -86.183030, 83.179703)),
    ((0, 0, 255), (32.295673, 79.185591, -107.857300)),
    ((10, 200, 30), (70.500132, -70.513831, 64.940840)),
]


def _image_pair() -> tuple[np.ndarray, np.ndarray]:
    """A 64x48 RGB gradient image and a shifted, tinted copy, as uint8 (48, 64, 3) arrays."""
    grad = Image.linear_gradient("L").resize((64, 48))
    rgb = Image.merge("RGB", (grad, grad.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grad.rotate(90)))
    true = np.asarray(rgb)
    pred = np.clip(true.astype(np.int16) + np.array([12, -5, 30]), 0, 255).astype(np.uint8)
    return pred, true


# --- CIEDE2000 -------------------------------------------------------------------------------------------------


def test_ciede2000_sharma_table_all_pairs():
    got = ciede2000(SHARMA_2005[:, 0:3], SHARMA_2005[:, 3:6])
    assert got.shape == (34,)
    np.testing.assert_allclose(got, SHARMA_2005[:, 6], rtol=0, atol=1e-4)


def test_ciede2000_of_one_pair_is_a_scalar():
    (l1, a1, b1, l2, a2, b2, expected) = SHARMA_2005[0]
    got = ciede2000(np.array([l1, a1, b1]), np.array([l2, a2, b2]))
    assert got.shape == ()
    assert abs(float(got) - expected) < 1e-4


def test_ciede2000_symmetric_on_table():
    forward = ciede2000(SHARMA_2005[:, 0:3], SHARMA_2005[:, 3:6])
    backward = ciede2000(SHARMA_2005[:, 3:6], SHARMA_2005[:, 0:3])
    np.testing.assert_allclose(forward, backward, rtol=0, atol=1e-12)


def test_ciede2000_zero_on_identical():
    rng = np.random.default_rng(0)
    lab = np.column_stack([rng.uniform(0, 100, 500), rng.uniform(-128, 128, (500, 2))])
    lab[:10, 1:] = 0.0  # neutral colours, where the hue is undefined
    np.testing.assert_array_equal(ciede2000(lab, lab), 0.0)


def test_ciede2000_broadcasts():
    lab = SHARMA_2005[:6, 0:3].reshape(2, 3, 3)
    got = ciede2000(lab, np.array([50.0, 0.0, -82.7485]))
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got.ravel(), SHARMA_2005[:6, 6], atol=1e-4)


def test_ciede2000_rejects_wrong_last_axis():
    with pytest.raises(ValueError, match=r"lab2 must have shape \(\.\.\., 3\), got \(4, 2\)"):
        ciede2000(np.zeros((4, 3)), np.zeros((4, 2)))


# --- sRGB -> Lab -----------------------------------------------------------------------------------------------


def test_srgb_white_and_black():
    white = srgb_to_lab(np.array([255, 255, 255], dtype=np.uint8))
    black = srgb_to_lab(np.array([0, 0, 0], dtype=np.uint8))
    np.testing.assert_allclose(white, [100.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(black, [0.0, 0.0, 0.0], atol=1e-12)


def test_srgb_greys_are_neutral():
    grey = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    lab = srgb_to_lab(grey)
    np.testing.assert_allclose(lab[:, 1:], 0.0, atol=1e-9)
    assert np.all(np.diff(lab[:, 0]) > 0), "L* must rise with grey level"


@pytest.mark.parametrize(("rgb", "lab"), SRGB_LAB_EXACT)
def test_srgb_to_lab_reference_values(rgb, lab):
    np.testing.assert_allclose(srgb_to_lab(np.array(rgb, dtype=np.uint8)), lab, atol=1e-5)


@pytest.mark.parametrize(("rgb", "lab"), SRGB_LAB_SKIMAGE)
def test_srgb_to_lab_close_to_scikit_image(rgb, lab):
    np.testing.assert_allclose(srgb_to_lab(np.array(rgb, dtype=np.uint8)), lab, atol=0.02)


def test_srgb_red_commonly_quoted_value():
    np.testing.assert_allclose(
        srgb_to_lab(np.array([255, 0, 0], dtype=np.uint8)), [53.24, 80.09, 67.20], atol=5e-3
    )


def test_srgb_to_lab_uint8_and_float_agree():
    rgb = np.arange(256 * 3, dtype=np.uint8).reshape(16, 16, 3)
    from_u8 = srgb_to_lab(rgb)
    assert from_u8.shape == (16, 16, 3)
    np.testing.assert_allclose(from_u8, srgb_to_lab(rgb / 255.0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(from_u8, srgb_to_lab((rgb / 255.0).astype(np.float32)), rtol=0, atol=1e-3)


def test_srgb_linear_segment_is_continuous():
    # The piecewise curve meets at 0.04045 and the Lab curve at epsilon: values just either side stay close.
    c = np.array([[0.04045 - 1e-9] * 3, [0.04045 + 1e-9] * 3])
    lab = srgb_to_lab(c)
    assert abs(lab[0, 0] - lab[1, 0]) < 1e-5


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((2, 4), dtype=np.uint8), r"rgb must have shape \(\.\.\., 3\), got \(2, 4\)"),
        (np.zeros((2, 3), dtype=np.int16), "rgb must be uint8 or float in \\[0, 1\\], got dtype int16"),
        (np.full((2, 3), 1.5), r"rgb float values must be in \[0, 1\], got range \[1.5, 1.5\]"),
        (np.full((2, 3), np.nan), r"rgb float values must be in \[0, 1\]"),
    ],
)
def test_srgb_to_lab_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        srgb_to_lab(bad)


# --- delta_e00 -------------------------------------------------------------------------------------------------


def test_delta_e00_zero_and_symmetric():
    pred, true = _image_pair()
    assert delta_e00(true, true).shape == (48, 64)
    np.testing.assert_array_equal(delta_e00(true, true), 0.0)
    forward = delta_e00(pred, true)
    np.testing.assert_allclose(forward, delta_e00(true, pred), rtol=0, atol=1e-12)
    assert forward.max() > 1.0


def test_delta_e00_matches_lab_path():
    pred, true = _image_pair()
    np.testing.assert_array_equal(delta_e00(pred, true), ciede2000(srgb_to_lab(pred), srgb_to_lab(true)))


def test_delta_e00_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3\) and \(3, 3\)"):
        delta_e00(np.zeros((2, 3), np.uint8), np.zeros((3, 3), np.uint8))


# --- PSNR ------------------------------------------------------------------------------------------------------


def test_psnr_identical_is_inf():
    _, true = _image_pair()
    assert psnr(true, true) == math.inf


def test_psnr_hand_computed():
    # One value of four is off by 255: MSE = 255^2 / 4, so PSNR = 10 log10(4) = 6.0206 dB.
    assert psnr(np.zeros(4, np.uint8), np.array([0, 0, 0, 255], np.uint8)) == pytest.approx(
        6.020599913, abs=1e-9
    )
    # Every value off by 1 (both signs): MSE = 1, PSNR = 20 log10(255) = 48.1308 dB. Checks no uint8 wrap-around.
    a = np.array([[10, 20, 30], [40, 50, 60]], np.uint8)
    b = a + np.array([[1, 1, 1], [0, 0, 0]], np.uint8)
    b[1] -= 1
    assert psnr(a, b) == pytest.approx(48.1308036087, abs=1e-9)


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (
            np.zeros(3, np.float32),
            np.zeros(3, np.uint8),
            "psnr needs uint8 arrays, got dtypes float32 and uint8",
        ),
        (np.zeros(3, np.uint8), np.zeros(4, np.uint8), r"same shape, got \(3,\) and \(4,\)"),
        (np.zeros(0, np.uint8), np.zeros(0, np.uint8), "at least one value"),
    ],
)
def test_psnr_rejects_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        psnr(a, b)


# --- colour_stats ----------------------------------------------------------------------------------------------


def test_colour_stats_matches_direct_computation():
    pred, true = _image_pair()
    stats = colour_stats(pred, true)
    assert set(stats) == {"psnr", "de00_mean", "de00_p95", "de00_p99"}
    assert all(isinstance(v, float) for v in stats.values())
    de = delta_e00(pred, true).ravel()
    assert stats["psnr"] == pytest.approx(psnr(pred, true), abs=1e-12)
    assert stats["de00_mean"] == pytest.approx(de.mean(), abs=1e-9)
    assert stats["de00_p95"] == pytest.approx(np.percentile(de, 95), abs=1e-4)
    assert stats["de00_p99"] == pytest.approx(np.percentile(de, 99), abs=1e-4)
    assert 0 < stats["de00_mean"] <= stats["de00_p95"] <= stats["de00_p99"]


@pytest.mark.parametrize("chunk_pixels", [1, 7, 1000, 3072, 10**6])
def test_colour_stats_chunked_equals_whole(chunk_pixels):
    pred, true = _image_pair()  # 3072 pixels
    whole = colour_stats(pred, true, chunk_pixels=10**7)
    chunked = colour_stats(pred, true, chunk_pixels=chunk_pixels)
    assert chunked["psnr"] == whole["psnr"]  # from an integer sum of squares: exact in any order
    # ΔE00 per pixel goes through sin, cos, atan2 and powers, which numpy computes with SIMD kernels on
    # whole vectors and scalar code on their tails: a pixel's value may differ in its last bits with
    # the chunk it is in (seen: a relative 6e-12 on the mean on an AMD EPYC). rel=1e-9 is far above
    # that and far below any difference that would matter (a ΔE00 of 1e-9).
    assert chunked["de00_mean"] == pytest.approx(whole["de00_mean"], rel=1e-9)
    assert chunked["de00_p95"] == pytest.approx(whole["de00_p95"], rel=1e-9)
    assert chunked["de00_p99"] == pytest.approx(whole["de00_p99"], rel=1e-9)


def test_colour_stats_identical():
    _, true = _image_pair()
    stats = colour_stats(true, true)
    assert stats == {"psnr": math.inf, "de00_mean": 0.0, "de00_p95": 0.0, "de00_p99": 0.0}


def test_colour_stats_rejects_bad_chunk():
    _, true = _image_pair()
    with pytest.raises(ValueError, match="chunk_pixels must be > 0, got 0"):
        colour_stats(true, true, chunk_pixels=0)
