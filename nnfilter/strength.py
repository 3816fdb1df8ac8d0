"""The strength knob: a look blended with the original colours, 0 = unchanged, 1 = the look, up to 2.

The blend is done on the sRGB-encoded values that images hold, ``(1 - s) * original + s * look``,
as an editor's layer opacity is: measured on the six benchmark looks (``python -m benchmarks.blend_space``),
a half-strength blend there lies as evenly between the original and the look in ΔE00 as one in CIELAB
does, and more evenly than one in linear light. The form is exact at both ends: strength 0 gives
the original and 1 the look, bit for bit. Above 1 the look is extrapolated and clipped to [0, 1].
"""

from __future__ import annotations

from numbers import Real

import numpy as np

STRENGTH_RANGE = (0.0, 2.0)
"""The strengths accepted: 0 (the original) to 2 (the look's change doubled)."""


def check_strength(strength: float) -> float:
    """Return ``strength`` as a float, or raise ValueError naming it and the range.

    >>> check_strength(0.5)
    0.5
    """
    low, high = STRENGTH_RANGE
    if isinstance(strength, bool) or not isinstance(strength, Real) or not low <= strength <= high:  # NaN too
        msg = f"strength must be from {low:g} to {high:g}, got {strength!r}"
        raise ValueError(msg)
    return float(strength)


def blend(original: np.ndarray, looked: np.ndarray, strength: float) -> np.ndarray:
    """The look at ``strength``: ``(1 - strength) * original + strength * looked``, clipped to [0, 1].

    Parameters
    ----------
    original, looked : float arrays of the same shape, e.g. (n, 4), values in [0, 1]
        The colours before and after the look.
    strength : float, 0 to 2

    Returns
    -------
    blended : array of that shape and dtype; ``looked`` itself (not a copy) when strength is 1.

    >>> blend(np.array([0.2, 0.5]), np.array([0.6, 0.9]), 0.5).tolist()
    [0.4, 0.7]
    """
    if strength == 1:
        return looked
    out = looked * np.asarray(strength, looked.dtype)
    out += original * np.asarray(1 - strength, looked.dtype)
    return np.clip(out, 0, 1, out=out)
