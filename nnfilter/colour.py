"""Colour science for judging a look: sRGB to CIELAB, CIEDE2000, PSNR and summary stats.

Everything here is a pure function over numpy arrays: no file I/O, no printing, no click.
"""

from __future__ import annotations

import numpy as np

#: Pixels per chunk in `colour_stats`; bounds the float64 temporaries to a few hundred MB.
CHUNK_PIXELS = 1 << 20

# sRGB primaries and white point, CIE 1931 xy, as IEC 61966-2-1 defines them: red, green, blue, D65.
SRGB_PRIMARIES_XY = ((0.6400, 0.3300), (0.3000, 0.6000), (0.1500, 0.0600))
D65_XY = (0.3127, 0.3290)


def _xy_to_xyz(x: float, y: float) -> np.ndarray:
    """XYZ of chromaticity (x, y) at Y = 1, shape (3,)."""
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def _rgb_to_xyz_matrix(primaries_xy: tuple, white_xy: tuple) -> np.ndarray:
    """Linear RGB -> XYZ matrix, shape (3, 3), scaled so RGB (1, 1, 1) is the white at Y = 1."""
    columns = np.stack([_xy_to_xyz(x, y) for x, y in primaries_xy], axis=1)
    return columns * np.linalg.solve(columns, _xy_to_xyz(*white_xy))


# The standard sRGB linear RGB -> XYZ (D65) matrix, derived at full precision from the chromaticities rather than
# the 4-decimal table (0.4124 0.3576 0.1805 / ...), so that sRGB white is exactly the Lab white point.
# Derived: [[0.4123908, 0.3575843, 0.1804808], [0.2126390, 0.7151687, 0.0721923], [0.0193308, 0.1191948, 0.9505322]].
SRGB_TO_XYZ = _rgb_to_xyz_matrix(SRGB_PRIMARIES_XY, D65_XY)
# D65 reference white XYZ at Y = 1: (0.950456, 1.0, 1.089058).
D65_WHITE = _xy_to_xyz(*D65_XY)

# CIE constants for the L* curve, in their exact rational form.
LAB_EPSILON = 216 / 24389
LAB_KAPPA = 24389 / 27

_POW25_7 = 25.0**7


def _srgb_decode(c: np.ndarray) -> np.ndarray:
    """Undo the sRGB transfer curve (IEC 61966-2-1): encoded values in [0, 1] -> linear light, same shape."""
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


# Linear light of every uint8 code value, so uint8 images decode by table lookup.
_SRGB_U8_TO_LINEAR = _srgb_decode(np.arange(256) / 255.0)


def _check_rgb(rgb: np.ndarray, name: str) -> np.ndarray:
    """Return `rgb` as an array after checking it is (..., 3) uint8, uint16 or float in [0, 1]."""
    rgb = np.asarray(rgb)
    if rgb.ndim == 0 or rgb.shape[-1] != 3:
        msg = f"{name} must have shape (..., 3), got {rgb.shape}"
        raise ValueError(msg)
    if rgb.dtype in (np.uint8, np.uint16):
        return rgb
    if not np.issubdtype(rgb.dtype, np.floating):
        msg = f"{name} must be uint8 or float in [0, 1], got dtype {rgb.dtype}"
        raise ValueError(msg)
    if rgb.size:
        lo, hi = float(rgb.min()), float(rgb.max())
        if not (lo >= 0.0 and hi <= 1.0):
            msg = f"{name} float values must be in [0, 1], got range [{lo}, {hi}]"
            raise ValueError(msg)
    return rgb


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return two uint8 (or two uint16) (..., 3) arrays of the same shape, or raise ValueError naming
    what is wrong."""
    a, b = np.asarray(a), np.asarray(b)
    for name, arr in (("first image", a), ("second image", b)):
        if arr.dtype not in (np.uint8, np.uint16) or arr.dtype != a.dtype:
            msg = f"{name} must be uint8 (or both uint16), got dtype {arr.dtype}"
            raise ValueError(msg)
        if arr.ndim == 0 or arr.shape[-1] != 3:
            msg = f"{name} must have shape (..., 3), got {arr.shape}"
            raise ValueError(msg)
    if a.shape != b.shape:
        msg = f"images must have the same shape, got {a.shape} and {b.shape}"
        raise ValueError(msg)
    return a, b


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB to CIELAB (D65 white).

    sRGB transfer curve (IEC 61966-2-1) -> linear RGB -> XYZ (standard sRGB matrix) -> L*a*b* with the CIE
    epsilon = 216/24389 and kappa = 24389/27.

    Parameters
    ----------
    rgb : ndarray of shape (..., 3)
        uint8 or uint16 code values, or floats in [0, 1].

    Returns
    -------
    lab : ndarray of shape (..., 3), float64
        L* in [0, 100], a*, b*.

    Examples
    --------
    >>> srgb_to_lab(np.array([255, 255, 255], dtype=np.uint8)).round(6) + 0.0
    array([100.,   0.,   0.])
    """
    rgb = _check_rgb(rgb, "rgb")
    if rgb.dtype == np.uint8:
        linear = _SRGB_U8_TO_LINEAR[rgb]
    elif rgb.dtype == np.uint16:
        linear = _srgb_decode(rgb / 65535.0)
    else:
        linear = _srgb_decode(rgb.astype(np.float64))
    xyz_n = linear @ (SRGB_TO_XYZ / D65_WHITE[:, None]).T  # XYZ already divided by the white point
    f = np.where(xyz_n > LAB_EPSILON, np.cbrt(xyz_n), (LAB_KAPPA * xyz_n + 16.0) / 116.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), axis=-1)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) between two sets of L*a*b* colours.

    Follows Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
    supplementary test data, and mathematical observations", eqs. (1)-(22), including their hue rules:
    h' = 0 when a' = b = 0; dh' = 0 and the mean hue is h'1 + h'2 when C'1 C'2 = 0; dh' and the mean hue are
    taken the short way round the circle when |h'1 - h'2| > 180.

    Parameters
    ----------
    lab1, lab2 : array_like of shape (..., 3)
        L*a*b* colours; the leading shapes must broadcast.

    Returns
    -------
    delta_e : ndarray of shape (...), float64
        The difference for each pair; symmetric in its arguments.
    """
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    for name, lab in (("lab1", lab1), ("lab2", lab2)):
        if lab.ndim == 0 or lab.shape[-1] != 3:
            msg = f"{name} must have shape (..., 3), got {lab.shape}"
            raise ValueError(msg)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]

    # (2)-(7): a' rescaled by G, then C' and h' (degrees, [0, 360)).
    c_bar = 0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))
    c_bar7 = c_bar**7
    g = 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + _POW25_7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.where(c1p == 0.0, 0.0, np.degrees(np.arctan2(b1, a1p)) % 360.0)
    h2p = np.where(c2p == 0.0, 0.0, np.degrees(np.arctan2(b2, a2p)) % 360.0)

    # (8)-(11): differences; dh' wraps to (-180, 180] and is 0 for a neutral colour.
    dLp = L2 - L1
    dCp = c2p - c1p
    cc = c1p * c2p
    neutral = cc == 0.0
    dh = h2p - h1p
    dhp = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dhp = np.where(neutral, 0.0, dhp)
    dHp = 2.0 * np.sqrt(cc) * np.sin(np.radians(dhp) / 2.0)

    # (12)-(14): means; the mean hue goes the short way round, and is the plain sum for a neutral colour.
    Lp_bar = 0.5 * (L1 + L2)
    Cp_bar = 0.5 * (c1p + c2p)
    h_sum = h1p + h2p
    far = np.abs(h1p - h2p) > 180.0
    hp_bar = np.where(far, np.where(h_sum < 360.0, h_sum + 360.0, h_sum - 360.0), h_sum) / 2.0
    hp_bar = np.where(neutral, h_sum, hp_bar)

    # (15)-(22): weighting functions and the rotation term.
    t = (
        1.0
        - 0.17 * np.cos(np.radians(hp_bar - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * hp_bar))
        + 0.32 * np.cos(np.radians(3.0 * hp_bar + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * hp_bar - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((hp_bar - 275.0) / 25.0) ** 2))
    cp_bar7 = Cp_bar**7
    r_c = 2.0 * np.sqrt(cp_bar7 / (cp_bar7 + _POW25_7))
    l50 = (Lp_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * l50 / np.sqrt(20.0 + l50)
    s_c = 1.0 + 0.045 * Cp_bar
    s_h = 1.0 + 0.015 * Cp_bar * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c

    dl, dc, dh_ = dLp / s_l, dCp / s_c, dHp / s_h
    return np.sqrt(dl * dl + dc * dc + dh_ * dh_ + r_t * dc * dh_)


def delta_e00(rgb1: np.ndarray, rgb2: np.ndarray) -> np.ndarray:
    """Per-pixel CIEDE2000 between two sRGB images.

    Parameters
    ----------
    rgb1, rgb2 : ndarray of shape (..., 3), uint8
        Same shape, e.g. (height, width, 3) or (n_pixels, 3).

    Returns
    -------
    delta_e : ndarray of shape (...), float64
    """
    rgb1, rgb2 = _check_pair(rgb1, rgb2)
    return ciede2000(srgb_to_lab(rgb1), srgb_to_lab(rgb2))


def _sum_sq_diff(a: np.ndarray, b: np.ndarray) -> int:
    """Exact sum of squared differences of two uint8 arrays of the same shape (any shape)."""
    d = a.astype(np.int32) - b.astype(np.int32)
    return int(np.einsum("i,i->", d.ravel(), d.ravel(), dtype=np.int64))


def _psnr_from_sse(sse: int, n_values: int, peak: int = 255) -> float:
    """PSNR in dB for data of that ``peak`` (255, 65535), from the summed squared error over `n_values` values."""
    if sse == 0:
        return float("inf")
    return float(10.0 * np.log10(float(peak) ** 2 * n_values / sse))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 arrays, over every value (all channels).

    Parameters
    ----------
    a, b : ndarray of any shape, uint8
        Same shape, not empty.

    Returns
    -------
    psnr : float
        10 log10(255^2 / MSE); inf when the arrays are identical.

    Examples
    --------
    >>> psnr(np.zeros(4, np.uint8), np.array([0, 0, 0, 255], np.uint8))
    6.020599913279624
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        msg = f"psnr needs uint8 arrays, got dtypes {a.dtype} and {b.dtype}"
        raise ValueError(msg)
    if a.shape != b.shape:
        msg = f"arrays must have the same shape, got {a.shape} and {b.shape}"
        raise ValueError(msg)
    if a.size == 0:
        msg = "psnr needs at least one value, got empty arrays"
        raise ValueError(msg)
    return _psnr_from_sse(_sum_sq_diff(a, b), a.size)


def colour_stats(
    rgb_pred: np.ndarray, rgb_true: np.ndarray, chunk_pixels: int = CHUNK_PIXELS
) -> dict[str, float]:
    """Summary of how far a prediction is from the truth: PSNR and the mean, p95 and p99 of per-pixel CIEDE2000.

    Works through the pixels `chunk_pixels` at a time, so float64 temporaries stay bounded; only the per-pixel
    differences are kept, as float32 (4 bytes a pixel), for the percentiles.

    Parameters
    ----------
    rgb_pred, rgb_true : ndarray of shape (..., 3), both uint8 or both uint16
        Same shape, at least one pixel.
    chunk_pixels : int
        Pixels per chunk, > 0.

    Returns
    -------
    stats : dict
        ``{"psnr": dB, "de00_mean": ..., "de00_p95": ..., "de00_p99": ...}``, all floats.
    """
    rgb_pred, rgb_true = _check_pair(rgb_pred, rgb_true)
    if chunk_pixels <= 0:
        msg = f"chunk_pixels must be > 0, got {chunk_pixels}"
        raise ValueError(msg)
    pred = rgb_pred.reshape(-1, 3)
    true = rgb_true.reshape(-1, 3)
    n = pred.shape[0]
    if n == 0:
        msg = "colour_stats needs at least one pixel, got empty images"
        raise ValueError(msg)

    de = np.empty(n, dtype=np.float32)
    de_sum = 0.0
    sse = 0
    for start in range(0, n, chunk_pixels):
        stop = min(start + chunk_pixels, n)
        p, t = pred[start:stop], true[start:stop]
        chunk = ciede2000(srgb_to_lab(p), srgb_to_lab(t))
        de_sum += float(chunk.sum())
        de[start:stop] = chunk
        sse += _sum_sq_diff(p, t)
    p95, p99 = np.percentile(de, [95.0, 99.0])
    return {
        "psnr": _psnr_from_sse(sse, pred.size, np.iinfo(pred.dtype).max),
        "de00_mean": de_sum / n,
        "de00_p95": float(p95),
        "de00_p99": float(p99),
    }
