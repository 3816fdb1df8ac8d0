"""The photos of the set, by their distinct colours, and how a method's colours are scored."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nnfilter.colour import delta_e00

from .data import read_photo

JPEG_QUALITY = 90


@dataclass
class Photo:
    """A photo, with the index of the first pixel of each of its distinct colours and their counts."""

    name: str
    pixels: np.ndarray
    first: np.ndarray
    counts: np.ndarray

    @classmethod
    def read(cls, name: str, path: Path) -> Photo:
        pixels = read_photo(path)
        flat = pixels.reshape(-1, 3).astype(np.uint32)
        keys = flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2]
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        return cls(name, pixels, first, counts)

    def colours(self, image: np.ndarray | None = None) -> np.ndarray:
        """The photo's distinct colours (n, 3), or those pixels of ``image``, a filtered copy of it."""
        return (self.pixels if image is None else image).reshape(-1, 3)[self.first]


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value whose share of the weight at or below it is at least ``q``: the percentile
    of the pixels (inverted CDF) when values are per colour and weights their pixel counts."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order[np.searchsorted(cumulative, q * cumulative[-1])]])


def colour_scores(predicted: np.ndarray, exact: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Mean and 99th-percentile ΔE00 over a photo's pixels, from its colours and their counts."""
    de = delta_e00(predicted, exact)
    return float(de @ counts / counts.sum()), weighted_quantile(de, counts, 0.99)


def jpeg_file(pixels: np.ndarray) -> bytes:
    """Pixels saved as a JPEG at ``JPEG_QUALITY`` with 4:2:0 chroma (Pillow's default)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling="4:2:0")
    return buffer.getvalue()


def decoded(jpeg: bytes) -> np.ndarray:
    """A JPEG file's RGB pixels, as a program reading it gets them."""
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (or beyond) as uint8 levels, rounded and clipped."""
    return np.clip(np.rint(unit * 255), 0, 255).astype(np.uint8)


def as_rows(colours: np.ndarray, width: int = 1024) -> np.ndarray:
    """Colours (n, 3) as the rows of an image ``width`` wide, the last row padded with black."""
    rows = -(-len(colours) // width)
    image = np.zeros((rows * width, 3), dtype=np.uint8)
    image[: len(colours)] = colours
    return image.reshape(rows, width, 3)


@dataclass
class PhotoSet:
    """The photos, and all their distinct colours in a row (photo k's are ``colours[bounds[k]:bounds[k+1]]``)."""

    photos: dict[str, Photo]
    colours: np.ndarray
    bounds: np.ndarray

    @classmethod
    def read(cls, paths: dict[str, Path]) -> PhotoSet:
        photos = {name: Photo.read(name, path) for name, path in paths.items()}
        colours = np.concatenate([photo.colours() for photo in photos.values()])
        return cls(photos, colours, np.cumsum([0] + [len(photo.counts) for photo in photos.values()]))

    def split(self, outputs: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs for ``colours``, by photo."""
        return {name: outputs[self.bounds[k] : self.bounds[k + 1]] for k, name in enumerate(self.photos)}
