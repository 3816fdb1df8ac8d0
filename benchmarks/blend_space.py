"""Which colour space the strength knob should blend in: sRGB values, linear light or CIELAB.

For each look of ``benchmarks.looks`` on ``sample_images/before.jpg``, blends the original and the
look at strengths 0.25, 0.5 and 0.75 in each space and measures, in ΔE00, how far along the way from
the original to the look each blended pixel lies (pixels the look moves by more than 2 ΔE00):
``evenness`` is the mean of |ΔE(original, blend) / (ΔE(original, blend) + ΔE(blend, look)) - s| at
s = 0.5 (0 is perfectly even), and the two ratios are the median ΔE(original, blend) / ΔE(original, look)
at s = 0.25 and 0.75 (ideal: 0.25 and 0.75). Run ``python -m benchmarks.blend_space``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from nnfilter.colour import _srgb_decode, ciede2000, srgb_to_lab

from .looks import LOOKS

BEFORE = Path(__file__).resolve().parent.parent / "sample_images" / "before.jpg"


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0, 1)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def blended_lab(x: np.ndarray, y: np.ndarray, s: float) -> dict[str, np.ndarray]:
    """The blend at strength ``s`` of sRGB colours x and y (n, 3) in [0, 1], per space, as CIELAB."""
    lin_x, lin_y = _srgb_decode(x), _srgb_decode(y)
    return {
        "sRGB": srgb_to_lab(np.clip((1 - s) * x + s * y, 0, 1)),
        "linear": srgb_to_lab(_srgb_encode((1 - s) * lin_x + s * lin_y)),
        "CIELAB": (1 - s) * srgb_to_lab(x) + s * srgb_to_lab(y),
    }


def main() -> None:
    with Image.open(BEFORE) as image:
        before = np.asarray(image.convert("RGB")).reshape(-1, 3)
    x = before / 255.0
    print(f"{'look':13s} {'space':7s} evenness  s=0.25  s=0.75")
    for name, look in LOOKS.items():
        y = look(before) / 255.0
        lab_x, lab_y = srgb_to_lab(x), srgb_to_lab(y)
        full = ciede2000(lab_x, lab_y)
        moved = full > 2
        rows: dict[str, list[float]] = {}
        for s in (0.5, 0.25, 0.75):
            for space, lab in blended_lab(x[moved], y[moved], s).items():
                there = ciede2000(lab_x[moved], lab)
                if s == 0.5:
                    rest = ciede2000(lab, lab_y[moved])
                    rows.setdefault(space, []).append(float(np.mean(np.abs(there / (there + rest) - s))))
                else:
                    rows[space].append(float(np.median(there / full[moved])))
        for space, (evenness, quarter, three_quarters) in rows.items():
            print(f"{name:13s} {space:7s} {evenness:8.3f}  {quarter:6.3f}  {three_quarters:6.3f}")


if __name__ == "__main__":
    main()
