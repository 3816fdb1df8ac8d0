"""Quality as the speed benchmark measures it: a model's mean ΔE00 on a photo's distinct colours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from nnfilter import Look
from nnfilter.colour import delta_e00

from ..looks import colour_grade


def distinct_colours(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct colours of an RGB image (n, 3) uint8 and their pixel counts (n,)."""
    flat = rgb.reshape(-1, 3)
    keys = flat[:, 0].astype(np.uint32) << 16 | flat[:, 1].astype(np.uint32) << 8 | flat[:, 2]
    counts = np.bincount(keys, minlength=1 << 24)
    present = np.flatnonzero(counts).astype(np.uint32)
    colours = np.stack([present >> 16, (present >> 8) & 255, present & 255], axis=1).astype(np.uint8)
    return colours, counts[present]


@dataclass
class Target:
    """The distinct colours of a photo, their counts, and the exact look of each."""

    colours: np.ndarray
    counts: np.ndarray
    truth: np.ndarray

    @classmethod
    def of(cls, rgb: np.ndarray) -> Target:
        colours, counts = distinct_colours(rgb)
        return cls(colours, counts, colour_grade(colours))

    def mean_de(self, predicted: np.ndarray) -> float:
        return float(np.average(delta_e00(predicted, self.truth), weights=self.counts))

    def of_look(self, look: Look) -> float:
        """The look's mean ΔE00 on this photo, applied as `nnfilter apply` does (an RGB image, method auto)."""
        image = Image.fromarray(np.ascontiguousarray(self.colours[None]))
        return self.mean_de(np.asarray(look.apply(image)).reshape(-1, 3))
