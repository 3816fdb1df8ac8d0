"""The Python API the CLI is built on: learn a look from before/after pairs, save, load, apply.

look, result = learn_look([(before_image, after_image)])
look.apply(photo).save("photo-look.jpg")
look.save("look.npz")
look = Look.load("look.npz")
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import __version__, coverage, lut
from .apply import ColourTable, apply_lut, apply_to_image, apply_to_pixels, opaque_colour_fn
from .data import ColourSamples, check_pair, pair_samples
from .deep import DeepImage, apply_network, apply_table, network_on_pixels, to_16bit
from .errors import ModelFormatError
from .files import sha256_of
from .images import DEFAULT_MAX_PIXELS, JpegCoding, jpeg_coding, normalize_mode, pixel_array
from .membrane import fit_beyond
from .model import MLP, one_blas_thread
from .modelfile import load_model, save_model
from .pairs import OpenedPair, open_training_pairs
from .prior import Blocks, Prior, block_means, fit_prior, prior_inputs, unclipped_rgb
from .recompress import MENDING_REFITS, Palette, debiased
from .strength import blend, check_strength
from .train import EpochReport, TrainConfig, TrainResult, train

ImageLike = Image.Image | DeepImage | np.ndarray


@dataclass
class Look:
    """A trained network with its metadata: what ``nnfilter train`` makes and ``apply`` uses."""

    model: MLP
    metadata: dict[str, Any] = field(default_factory=dict)
    #: How much of the look is applied: 0 the original colours, 1 the look, up to 2 (``strength.blend``).
    #: It is how the look is used, not part of it: ``save`` does not record it.
    strength: float = 1.0
    # The network's output per colour, filled as images are applied and reused for the next ones.
    _table: ColourTable | None = field(default=None, repr=False, compare=False)

    @property
    def coverage(self) -> np.ndarray | None:
        """The cells of the 16³ RGB grid the training pairs covered (a mask), if recorded."""
        text = self.metadata.get("coverage")
        return None if text is None else coverage.from_hex(text)

    def unseen_share(self, image: ImageLike) -> float | None:
        """The share of an image's pixels in colour cells the training pairs never showed."""
        covered = self.coverage
        if covered is None:
            return None
        pixels = _pixels(image)
        if pixels.dtype == np.uint16:
            pixels = (pixels >> 8).astype(np.uint8)
        return float(coverage.unseen_mask(covered, pixels.reshape(-1, pixels.shape[-1])).mean())

    @property
    def learned_alpha(self) -> bool:
        """Whether the training pairs changed alpha, so the network's alpha output is used (an
        older model file sets it whenever its pairs had transparency)."""
        return bool(self.metadata.get("learned_alpha", False))

    def with_strength(self, strength: float) -> Look:
        """This look at another strength, 0 to 2 (``strength.blend``); ValueError outside."""
        return replace(self, strength=check_strength(strength), _table=None)

    def shared_with_forks(self) -> Look:
        """This look with a colour table in memory shared with the processes forked after it (a
        batch's workers): one table filled for all of them, not one each."""
        if self.learned_alpha:
            return self
        return replace(self, _table=ColourTable(self.model, self.strength, shared=True))

    def colour_fn(self, rgb: np.ndarray) -> np.ndarray:
        """The look at its strength on opaque colours, RGB in [0, 1] (n, 3) -> (n, 3): what a LUT holds."""
        return opaque_colour_fn(self.model, self.strength)(rgb)

    def apply(
        self,
        image: ImageLike,
        method: str = "auto",
        threads: int | None = None,
        words: np.ndarray | None = None,
    ) -> ImageLike:
        """Filter a Pillow image (RGB/RGBA; other modes converted as files are read, by
        ``images.normalize_mode``), a ``DeepImage`` (at 16 bits, by the network on every pixel) or
        a uint8 array.

        An array of shape (..., 4) is RGBA, (..., 3) RGB; the result has the same shape.
        A Pillow image is filtered in place when it is RGB or RGBA, a ``DeepImage`` always.
        ``words``: an RGB image's pixels in an ``images.PixelMemory`` (``PixelMemory.words``).
        """
        if not isinstance(image, (Image.Image, DeepImage, np.ndarray)):
            raise TypeError(
                f"Look.apply filters a Pillow image, a DeepImage or an array, not {type(image).__name__}"
            )
        if threads is not None and not (
            isinstance(threads, Integral) and not isinstance(threads, bool) and threads >= 1
        ):
            raise ValueError(f"threads must be an integer >= 1 (or None), got {threads!r}")
        keep_alpha = not self.learned_alpha
        if isinstance(image, DeepImage):
            return apply_network(self.model, image, keep_alpha, threads or os.cpu_count() or 1, self.strength)
        if isinstance(image, np.ndarray):
            return _apply_array(self.model, image, keep_alpha, self.strength)
        image = normalize_mode(image)
        if self._table is None and keep_alpha and method != "exact":
            self._table = ColourTable(self.model, self.strength)
        return apply_to_image(
            self.model, image, keep_alpha, method, threads, self._table, self.strength, words
        )

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (as for workers a fork server starts; forked ones share it, see
        ``shared_with_forks``) without its colour table: a cache of up to 64 MiB that each process
        fills anew."""
        return {**self.__dict__, "_table": None}

    def save(self, path: str | Path, overwrite: bool = False) -> None:
        """Write the look to a .npz model file, atomically."""
        save_model(self.model, self.metadata, Path(path), overwrite)

    @classmethod
    def load(cls, path: str | Path) -> Look:
        """Read a model file (never unpickles; a bad file raises ``ModelFormatError``)."""
        model, metadata = load_model(Path(path))
        look = cls(model, metadata)
        try:
            _ = look.coverage  # decodes the mask: a bad one raises here, not on first use
        except (ValueError, TypeError):
            raise ModelFormatError(f"{path}: bad coverage mask in the metadata") from None
        return look


@dataclass
class CubeLook:
    """A 3D LUT (e.g. read from a .cube file) applied like a learned look; alpha is kept."""

    table: np.ndarray

    def with_strength(self, strength: float) -> CubeLook:
        """This LUT at another strength, 0 to 2 (``strength.blend``); ValueError outside.

        Blending the table's entries with their grid points is exact for every colour: trilinear
        interpolation is linear, and it reproduces the identity.
        """
        strength = check_strength(strength)
        identity = lut.grid_points(len(self.table)).reshape(self.table.shape)
        return CubeLook(blend(identity, self.table.astype(np.float32), strength))

    def apply(
        self, image: Image.Image | DeepImage, threads: int | None = None, words: np.ndarray | None = None
    ) -> Image.Image | DeepImage:
        """Filter a Pillow image (RGB/RGBA; other modes as ``Look.apply`` takes them), in place when
        it can; a ``DeepImage`` in place, interpolated at 16 bits. (``words``, as ``Look.apply`` takes them,
        are not needed: Pillow's LUT filter reads the image itself.)"""
        if isinstance(image, DeepImage):
            return apply_table(self.table, image, threads or os.cpu_count() or 1)
        image = normalize_mode(image)
        return apply_lut(image, lut.lut_filter(self.table), threads)

    def shared_with_forks(self) -> CubeLook:
        """This LUT: Pillow's filter keeps no table to share (``Look.shared_with_forks``)."""
        return self

    def unseen_share(self, image: ImageLike) -> None:
        """A LUT covers every colour: there is nothing unseen to report."""
        return None


def _apply_array(model: MLP, array: np.ndarray, keep_alpha: bool, strength: float) -> np.ndarray:
    rgba = _rgba(array)
    if rgba.dtype == np.uint16:
        out = network_on_pixels(model, rgba.reshape(-1, 4), keep_alpha, strength).reshape(rgba.shape)
    else:
        out = apply_to_pixels(model, rgba, keep_alpha, strength=strength)
    return out[..., : array.shape[-1]]


def _pixels(image: ImageLike) -> np.ndarray:
    """A Pillow image or uint8 array as uint8 pixels (..., 3) for RGB or (..., 4) for RGBA; a
    ``DeepImage`` or uint16 array as uint16 pixels."""
    if isinstance(image, DeepImage):
        return image.pixels
    if isinstance(image, Image.Image):
        return pixel_array(image)
    if image.dtype not in (np.uint8, np.uint16) or image.ndim < 2 or image.shape[-1] not in (3, 4):
        raise ValueError(
            f"expected a uint8 or uint16 array of shape (..., 3) or (..., 4), got {image.dtype} {image.shape}"
        )
    return image


def _rgba(image: ImageLike) -> np.ndarray:
    """A Pillow image or array (..., 3 or 4) as an RGBA array (..., 4) of its type (uint8, uint16)."""
    pixels = _pixels(image)
    return _with_alpha(pixels, np.iinfo(pixels.dtype).max)


def _changes_alpha(source: np.ndarray, target: np.ndarray) -> bool:
    """Whether a pair (..., 3 or 4) teaches a change of alpha: its AFTER holds alpha (one saved
    without, as a JPEG, says nothing of it) that differs from the BEFORE's (opaque if it has none)."""
    if target.shape[-1] != 4:
        return False
    if source.shape[-1] == 4:
        return not np.array_equal(source[..., 3], target[..., 3])
    return bool((target[..., 3] != np.iinfo(target.dtype).max).any())


def _both_with_alpha(source: np.ndarray, target: np.ndarray, opaque: float) -> tuple[np.ndarray, np.ndarray]:
    """A pair (..., 4) each: a BEFORE without alpha made ``opaque``, an AFTER without alpha given
    its BEFORE's (it says nothing of alpha)."""
    source = _with_alpha(source, opaque)
    if target.shape[-1] == 3:
        target = np.concatenate([target, source[..., 3:].astype(target.dtype)], axis=-1)
    return source, target


def _with_alpha(pixels: np.ndarray, opaque: float) -> np.ndarray:
    """Pixels (..., 3 or 4) with an alpha of ``opaque`` added to RGB ones, (..., 4)."""
    if pixels.shape[-1] == 3:
        alpha = np.full(pixels.shape[:-1] + (1,), opaque, pixels.dtype)
        pixels = np.concatenate([pixels, alpha], axis=-1)
    return pixels


def _after_pixels(after: ImageLike, jpeg_after: bool) -> np.ndarray:
    """An AFTER's pixels as ``_pixels`` gives them; a JPEG's YCbCr (mode "YCbCr") as its RGB,
    unclipped floats on the uint8 scale for a ``jpeg_after`` fit, else as Pillow converts it."""
    if isinstance(after, Image.Image) and after.mode == "YCbCr":
        return unclipped_rgb(np.asarray(after)) if jpeg_after else np.asarray(after.convert("RGB"))
    return _pixels(after)


def _at_16_bits(pixels: np.ndarray) -> np.ndarray:
    """Pixels on the 16-bit scale: uint16 as they are, uint8 widened (``to_16bit``), floats on the
    uint8 scale times 257."""
    if pixels.dtype == np.uint16:
        return pixels
    return pixels * np.float32(257) if pixels.dtype.kind == "f" else to_16bit(pixels)


def _in_a_row(
    pixels: Sequence[tuple[np.ndarray, np.ndarray]], channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs' BEFORE pixels in a row, and their AFTER pixels (n, channels); with one pair (the
    usual case) views, not copies of 36 MB per 12 MP."""
    return tuple(
        np.concatenate([p.reshape(-1, channels) for p in side])
        if len(side) > 1
        else side[0].reshape(-1, channels)
        for side in zip(*pixels, strict=True)
    )


def _mended_samples(
    pixels: Sequence[tuple[np.ndarray, np.ndarray]],
    palettes: Sequence[Palette],
    codings: Sequence[JpegCoding | None],
    prior: Prior,
    channels: int,
    membrane: np.ndarray | None,
) -> ColourSamples:
    """The pairs' colour samples with each JPEG AFTER's compression taken off by the ``prior``'s
    prediction on its BEFORE (with the ``membrane``'s, if given), the BEFORE given also as its
    ``palette`` (``recompress.debiased``)."""
    mended = [
        (before, debiased(palette, after, prior, coding, membrane))
        for (before, after), palette, coding in zip(pixels, palettes, codings, strict=True)
    ]
    samples = pair_samples(*_in_a_row(mended, channels))
    np.clip(samples.targets, 0, 1, out=samples.targets)  # beyond [0, 1] where the JPEG clipped
    return samples


def learn_look(
    pairs: Sequence[tuple[ImageLike, ImageLike]],
    config: TrainConfig | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    metadata: dict[str, Any] | None = None,
    jpeg_after: bool | None = None,
) -> tuple[Look, TrainResult]:
    """Train a look from (before, after) pairs of Pillow images, ``DeepImage``s or uint8 or uint16
    arrays of one size each; with any 16-bit one, all are taken at 16 bits.

    With ``jpeg_after`` (default: whether any AFTER is a Pillow image read from a JPEG, as
    ``Image.open`` gives it; an array never is) the prior takes its chroma from 8×8-block means
    of the pairs, which JPEG keeps, not from the colour cells, which it biases (see ``prior``).
    When every JPEG AFTER says how it was compressed (``images.jpeg_coding``: opened by
    ``images.open_image(jpeg_ycbcr=True)``, as ``nnfilter train`` opens it), its compression is
    undone (``recompress``) and the prior and the network learn its mended cells; else the network
    is trained on the cells' luma with the prior's chroma. A JPEG AFTER is best given as the YCbCr
    it stores: its colours are then taken unclipped (``prior.unclipped_rgb``).

    It all runs on one BLAS thread (``one_blas_thread``), as ``train`` does: a product split over
    threads rounds differently, and training carries a difference of one rounding in the prior on
    to a different network (on the realworld benchmark, up to 2 ΔE00 on a held-out photo), so the
    same pairs and seed give the same look however many cores the machine has.
    """
    with one_blas_thread():
        return _learn_look(pairs, config or TrainConfig(), on_epoch, metadata, jpeg_after)


def _learn_look(
    pairs: Sequence[tuple[ImageLike, ImageLike]],
    config: TrainConfig,
    on_epoch: Callable[[EpochReport], None] | None,
    metadata: dict[str, Any] | None,
    jpeg_after: bool | None,
) -> tuple[Look, TrainResult]:
    pairs = list(pairs)
    if not pairs:
        raise ValueError("a look is learned from one (before, after) pair or more, got none")
    jpegs = [getattr(after, "format", None) == "JPEG" for _, after in pairs]
    if jpeg_after is None:
        jpeg_after = any(jpegs)
    pixels = [(_pixels(before), _after_pixels(after, jpeg_after)) for before, after in pairs]
    codings = [jpeg_coding(after) if jpeg else None for (_, after), jpeg in zip(pairs, jpegs, strict=True)]
    if any(p.dtype == np.uint16 for pair in pixels for p in pair):
        pixels = [tuple(_at_16_bits(p) for p in pair) for pair in pixels]
    for source, target in pixels:
        check_pair(source.shape[1::-1], target.shape[1::-1])
    if any(_changes_alpha(source, target) for source, target in pixels):
        full = np.iinfo(pixels[0][0].dtype).max
        pixels = [_both_with_alpha(source, target, full) for source, target in pixels]
    else:  # the look keeps alpha as it is: it learns colours, and applying keeps each pixel's alpha
        pixels = [tuple(np.ascontiguousarray(p[..., :3]) for p in pair) for pair in pixels]
    mend = (
        jpeg_after
        and any(jpegs)
        and all(c is not None for c, jpeg in zip(codings, jpegs, strict=True) if jpeg)
        and all(p.dtype != np.uint16 and p.shape[-1] == 3 for pair in pixels for p in pair)
    )
    channels = pixels[0][0].shape[-1]
    source, target = _in_a_row(pixels, channels)
    learned_alpha = channels == 4
    samples = pair_samples(source, target)
    # Each sample's input is the mean colour of its cell's pixels, so it lies in the same (larger)
    # coverage cell as they do: the cells' colours give the pixels' coverage at a fraction of the cost.
    covered = coverage.covered_cells(np.floor(samples.inputs[:, :3] * 255 + 1e-3).astype(np.uint8))
    blocks = None
    if jpeg_after:
        inputs = prior_inputs(samples.inputs[:, :3], samples.targets, samples.counts)
        parts = [block_means(source, target, inputs) for source, target in pixels]
        features, colours = (np.concatenate(p) for p in zip(*(part[1:] for part in parts), strict=True))
        blocks = Blocks(inputs, features, colours)
    if mend:
        # First by the prior fitted to the blocks, then MENDING_REFITS times by one fitted to the
        # mended cells with the membrane of what they show beyond it (see ``recompress``).
        palettes = [Palette.of(before) for before, _ in pixels]
        for fit_blocks in (blocks, *[None] * MENDING_REFITS):
            weights = samples.counts**config.count_power
            rgb = samples.inputs[:, :3]
            prior = fit_prior(rgb, samples.targets, weights, inputs, fit_blocks)
            membrane = fit_beyond(prior, rgb, samples.targets, weights) if fit_blocks is None else None
            samples = _mended_samples(pixels, palettes, codings, prior, channels, membrane)
    result = train(samples, config, on_epoch, None if mend else blocks, len(pairs))
    # The model kept is the epoch of the lowest validation error (``train``): its errors are reported.
    best = min(result.history, key=lambda report: report.validation_error) if result.history else None
    meta = {
        "nnfilter_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": asdict(replace(config, hidden=config.hidden_for(len(pairs)))),
        "learned_alpha": learned_alpha,
        "prior_chroma": "mended cells" if mend else "JPEG blocks" if jpeg_after else "colour cells",
        "jpeg_undone": mend,
        "pixels": int(len(source)),
        "coverage": coverage.to_hex(covered),
        "coverage_share": float(covered.mean()),
        "epochs_run": len(result.history),
        "stop_reason": result.stop_reason,
        "train_error": best.train_error if best else None,
        "validation_error": best.validation_error if best else None,
        **(metadata or {}),
    }
    return Look(result.model, meta), result


def learn_look_from_files(
    pairs: Sequence[tuple[Path, Path]],
    config: TrainConfig | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[Look, TrainResult]:
    """Train a look from (before, after) image files, read and lined up as ``nnfilter train`` does
    (``pairs.open_training_pairs``: a pair of large JPEGs at half size, one of two sizes of one
    aspect ratio at the smaller); records their names and SHA-256."""
    return learn_look_from_pairs(open_training_pairs(pairs, max_pixels), config, on_epoch)


def learn_look_from_pairs(
    pairs: Sequence[OpenedPair],
    config: TrainConfig | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> tuple[Look, TrainResult]:
    """Train a look from opened image files (see ``open_pairs``); records their names and SHA-256."""
    files = [
        {
            "before": pair.before_path.name,
            "before_sha256": sha256_of(pair.before_path),
            "after": pair.after_path.name,
            "after_sha256": sha256_of(pair.after_path),
            "size": list(pair.before.size),
            **pair.geometry,
        }
        for pair in pairs
    ]
    images = [(pair.before, pair.after) for pair in pairs]
    return learn_look(images, config, on_epoch, {"training_pairs": files})
