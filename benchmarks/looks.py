"""Reference looks, as a photographer would make them, for the sample pair and the benchmarks.

Each look maps uint8 RGB pixels (..., 3) to uint8 RGB pixels of the same shape, deterministically.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

LUMA = np.array([0.299, 0.587, 0.114])


def _unit(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) / 255


def _uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def _s_curve(x: np.ndarray, strength: float = 0.35, lift: float = 0.05) -> np.ndarray:
    s = 0.5 - 0.5 * np.cos(np.pi * x)
    return lift + (0.98 - lift) * ((1 - strength) * x + strength * s)


def tone_curve(rgb: np.ndarray) -> np.ndarray:
    """An S-curve for contrast with lifted blacks (a faded, matte look)."""
    return _uint8(_s_curve(_unit(rgb)))


def colour_grade(rgb: np.ndarray) -> np.ndarray:
    """Teal shadows and orange highlights over a gentle S-curve, with a little more saturation."""
    x = _s_curve(_unit(rgb), strength=0.25, lift=0.03)
    luma = x @ LUMA
    shadows, highlights = ((1 - luma) ** 2)[..., None], (luma**2)[..., None]
    x = x + shadows * np.array([-0.07, 0.02, 0.06]) + highlights * np.array([0.06, 0.01, -0.07])
    luma = (x @ LUMA)[..., None]
    return _uint8(luma + 1.15 * (x - luma))


def sample_look(rgb: np.ndarray) -> np.ndarray:
    """The bundled demo look (``sample_images/after.jpg``), meant to be seen at a glance: a strong
    S-curve with faded blacks, deep teal shadows and warm orange highlights, and 30% more saturation.
    Not one of ``LOOKS``: the benchmarks keep their figures."""
    x = _s_curve(_unit(rgb), strength=0.6, lift=0.08)
    luma = x @ LUMA
    shadows, highlights = ((1 - luma) ** 2)[..., None], (luma**2)[..., None]
    x = x + shadows * np.array([-0.14, 0.04, 0.12]) + highlights * np.array([0.16, 0.04, -0.16])
    luma = (x @ LUMA)[..., None]
    return _uint8(luma + 1.3 * (x - luma))


SEPIA_MATRIX = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


def sepia(rgb: np.ndarray) -> np.ndarray:
    """The classic sepia matrix (values above white clip)."""
    return _uint8(_unit(rgb) @ SEPIA_MATRIX.T)


def bw_tint(rgb: np.ndarray) -> np.ndarray:
    """Black and white with a warm tint in the midtones."""
    luma = (_unit(rgb) @ LUMA)[..., None]
    return _uint8(luma + 4 * luma * (1 - luma) * np.array([0.05, 0.01, -0.05]))


def saturation(rgb: np.ndarray) -> np.ndarray:
    """Saturation up by 40% around each pixel's luma."""
    x = _unit(rgb)
    luma = (x @ LUMA)[..., None]
    return _uint8(luma + 1.4 * (x - luma))


def hue_shift(rgb: np.ndarray, degrees: float = 25) -> np.ndarray:
    """Every hue turned by 25 degrees (in Pillow's HSV), saturation and value kept."""
    shape = rgb.shape
    image = Image.fromarray(np.ascontiguousarray(rgb.reshape(-1, 1, 3)), "RGB").convert("HSV")
    hsv = np.asarray(image).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + round(degrees * 256 / 360)) % 256
    return np.asarray(Image.fromarray(hsv, "HSV").convert("RGB")).reshape(shape)


LOOKS = {
    "tone-curve": tone_curve,
    "colour-grade": colour_grade,
    "sepia": sepia,
    "bw-tint": bw_tint,
    "saturation": saturation,
    "hue-shift": hue_shift,
}
