"""Training pairs: opening before/after files, and lining each pair up (resized or aligned).

``open_pairs`` opens them (two images decoded at once), ``line_up`` makes each pair's two images
line up pixel for pixel, telling ``on_note`` what it did. Messages name files and values; a
``kind`` (``Note.kind``, ``PairMismatchError.kind``) says which case it is, for a caller that adds
its own hint (the CLI names --align).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import align
from .data import check_pair
from .deep import DeepImage
from .errors import PairMismatchError
from .images import DEFAULT_MAX_PIXELS, jpeg_size, open_image, pixel_array

#: A pair of JPEGs of this many pixels or more is trained on at half its width and height
#: (``open_pairs(halve_large_jpegs=True)``): the decoder does a quarter of the work, the cells a
#: quarter, and 2 MP or more of colours remain, with JPEG's noise averaged over 2×2 pixels
#: (benchmarks/RESULTS.md, "Training a large JPEG pair at half size").
HALF_DECODE_PIXELS = 8_000_000


@dataclass(frozen=True)
class Note:
    """What lining up did or found, in one line, and its kind (for a caller's hint):
    "not_lined_up" for a same-size pair whose content does not line up, "" for the others."""

    text: str
    kind: str = ""


@dataclass
class OpenedPair:
    """A before/after pair of image files, opened (same size, checked)."""

    before_path: Path
    after_path: Path
    before: Image.Image | DeepImage
    #: Mode "YCbCr" for a JPEG opened with ``open_pairs(jpeg_ycbcr_afters=True)``.
    after: Image.Image | DeepImage
    #: How the pair was made to line up (resized, aligned), recorded in the model's metadata.
    geometry: dict[str, Any] = field(default_factory=dict)

    @property
    def named(self) -> tuple[str, Image.Image | DeepImage, Image.Image | DeepImage]:
        """(BEFORE's file name, before, after in RGB): a pair as scores and reports take it."""
        return self.before_path.name, self.before, _in_rgb(self.after)


def open_pairs(
    pairs: Sequence[tuple[Path, Path]],
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    check_sizes: bool = True,
    halve_large_jpegs: bool = False,
    jpeg_ycbcr_afters: bool = False,
) -> list[OpenedPair]:
    """Open (before, after) image files, each pair's two at once, and check each pair's sizes
    (unless ``check_sizes`` is false: ``line_up`` then makes them agree). With
    ``halve_large_jpegs``, a pair of two JPEGs of the same size and ``HALF_DECODE_PIXELS`` or more
    is decoded at half size, which its ``geometry`` records. With ``jpeg_ycbcr_afters`` a colour
    JPEG AFTER is opened as the YCbCr it stores (``open_image(jpeg_ycbcr=True)``), as training
    reads it."""
    from concurrent.futures import ThreadPoolExecutor  # here: applying a look does without it

    opened = []
    for before_path, after_path in pairs:
        size = jpeg_size(before_path) if halve_large_jpegs else None
        halve = size is not None and size[0] * size[1] >= HALF_DECODE_PIXELS and jpeg_size(after_path) == size
        reduce = 2 if halve else 1
        with ThreadPoolExecutor(max_workers=2) as pool:  # Pillow decodes without the GIL
            read = partial(open_image, max_pixels=max_pixels, deep=True, reduce=reduce)
            readings = [
                pool.submit(read, before_path),
                pool.submit(read, after_path, jpeg_ycbcr=jpeg_ycbcr_afters),
            ]
            before, after = (reading.result() for reading in readings)
        if check_sizes:
            check_pair(before.size, after.size, (str(before_path), str(after_path)))
        geometry = {"decoded_at": "1/2"} if halve else {}
        opened.append(OpenedPair(Path(before_path), Path(after_path), before, after, geometry))
    return opened


def line_up(
    pairs: Sequence[OpenedPair], align_pairs: bool = False, on_note: Callable[[Note], None] | None = None
) -> list[OpenedPair]:
    """Opened pairs (``open_pairs(..., check_sizes=False)``) made to line up.

    Without ``align_pairs``, a pair of sizes with the same aspect ratio (within 1%) is trained at
    the smaller size, the larger image box-filtered down; other sizes raise ``PairMismatchError``;
    a pair whose content does not line up (as it is, or once scaled) is noted. With
    ``align_pairs`` each pair is lined up (``align.estimate``) and cut to a rectangle inside their
    overlap; one that cannot be raises ``PairMismatchError``. ``on_note`` receives a ``Note`` for each thing done or found.
    """
    tell = on_note or (lambda note: None)

    def note(text: str, kind: str = "") -> None:
        tell(Note(text, kind))

    lined_up = []
    for pair in pairs:
        before, after = pair.before, pair.after
        if align_pairs or before.size != after.size:
            if DeepImage in (type(before), type(after)):
                note(f"{pair.before_path}, {pair.after_path}: resized or aligned at 8 bits, not 16")
            pair = replace(pair, before=_eight_bit(before), after=_eight_bit(after))
            before, after = pair.before, pair.after
        if align_pairs:
            lined_up.append(_aligned(pair, note))
            continue
        if before.size != after.size and _same_aspect(before.size, after.size):
            pair = _to_smaller(pair, note)
        else:
            try:
                check_pair(before.size, after.size, (str(pair.before_path), str(pair.after_path)))
            except PairMismatchError as exc:
                raise PairMismatchError(str(exc), kind="shapes") from None
        score = _identity_match(_eight_bit(pair.before), _eight_bit(pair.after))
        if score is not None and score < align.MIN_MATCH:
            note(
                f"warning: {pair.before_path} and {pair.after_path} do not line up (match {score:.2f}, "
                f"{align.MIN_MATCH} expected)",
                "not_lined_up",
            )
        lined_up.append(pair)
    return lined_up


def open_training_pairs(
    pairs: Sequence[tuple[Path, Path]],
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    align_pairs: bool = False,
    on_note: Callable[[Note], None] | None = None,
) -> list[OpenedPair]:
    """(before, after) image files opened as ``nnfilter train`` reads them (large JPEG pairs at half
    size, JPEG AFTERs as their YCbCr) and lined up (``line_up``)."""
    opened = open_pairs(pairs, max_pixels, check_sizes=False, halve_large_jpegs=True, jpeg_ycbcr_afters=True)
    return line_up(opened, align_pairs, on_note)


def _eight_bit(image: Image.Image | DeepImage) -> Image.Image:
    """An RGB(A) Pillow image, a 16-bit one rounded to 8 bits (what resizing and alignment work on)."""
    return image.to_pillow() if isinstance(image, DeepImage) else _in_rgb(image)


def _in_rgb(image: Image.Image | DeepImage) -> Image.Image | DeepImage:
    """A JPEG opened as YCbCr in RGB, as Pillow converts it (its format kept, its ``jpeg_coding``
    not: these pixels, and any resized or aligned from them, are no longer the file's decode);
    other images as they are."""
    if not isinstance(image, Image.Image) or image.mode != "YCbCr":
        return image
    rgb = image.convert("RGB")
    rgb.format = image.format
    rgb.info.pop("jpeg_coding", None)
    return rgb


def _same_aspect(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two sizes (w, h) have the same aspect ratio, within 1%."""
    return abs((a[0] / a[1]) / (b[0] / b[1]) - 1) <= 0.01


def _to_smaller(pair: OpenedPair, note: Callable[[str], None]) -> OpenedPair:
    """The pair at the smaller one's size, the larger box-filtered down."""
    before, after = pair.before, pair.after
    if before.width * before.height > after.width * after.height:
        larger, old = pair.before_path, before.size
        before = before.resize(after.size, Image.Resampling.BOX)
    else:
        larger, old = pair.after_path, after.size
        after = after.resize(before.size, Image.Resampling.BOX)
    note(
        f"{larger} is {old[0]}x{old[1]}: resized to {before.width}x{before.height} (box filter) "
        "to match the other image of its pair"
    )
    return OpenedPair(pair.before_path, pair.after_path, before, after, {"resized_to": list(before.size)})


def _luminance(image: Image.Image) -> np.ndarray:
    return align.luminance(np.asarray(image.convert("RGB")))


def _identity_match(before: Image.Image, after: Image.Image) -> float | None:
    """``align.match`` of a same-size pair as it is, on both images reduced to the work size; None
    for a pair too small or too flat to tell (a 1×1 image, one colour): they get no warning."""
    factor = max(1, -(-max(before.size) // align.WORK_SIDE))
    small = [np.asarray(im.convert("L").reduce(factor), np.float32) for im in (before, after)]
    if min(small[0].shape) < 16 or min(float(lum.std()) for lum in small) < 1:
        return None
    return align.match(small[0], small[1], align.Similarity())


def _aligned(pair: OpenedPair, note: Callable[[str], None]) -> OpenedPair:
    """The pair lined up: BEFORE resampled onto AFTER's grid, both cut to the largest rectangle
    inside their overlap; ``PairMismatchError`` if they do not match or are too small to align."""
    for path, image in (pair.before_path, pair.before), (pair.after_path, pair.after):
        if not align.alignable((image.height, image.width)):
            raise PairMismatchError(
                f"{path} is {image.width}x{image.height}: too small to align (each side needs "
                f"{align.MIN_SIDE} pixels or more, also once the longer is reduced to {align.WORK_SIDE})"
            )
    found = align.estimate(_luminance(pair.before), _luminance(pair.after))
    if found.match < align.MIN_MATCH:
        raise PairMismatchError(
            f"{pair.before_path} and {pair.after_path} could not be aligned (best match {found.match:.2f}, "
            f"{align.MIN_MATCH} needed): are they the same photo?"
        )
    source, target = pixel_array(pair.before), pixel_array(pair.after)
    transform = found.transform
    factor = int(transform.scale)  # BEFORE at a higher resolution: box-filter it down first
    if factor >= 2:
        source = align.reduce(source, factor)
        dx, dy = transform.shift
        transform = align.Similarity(transform.scale / factor, transform.rotation, (dx / factor, dy / factor))
    warped, inside = align.warp(source, transform, target.shape[:2])
    top, bottom, left, right = align.inner_box(inside)
    before = Image.fromarray(np.clip(np.rint(warped[top:bottom, left:right]), 0, 255).astype(np.uint8))
    after = Image.fromarray(target[top:bottom, left:right])
    share = (bottom - top) * (right - left) / inside.size
    t = found.transform
    note(
        f"aligned {pair.before_path} onto {pair.after_path}: {t}; match {found.match:.2f} "
        f"over {share:.0%} of {pair.after_path.name}"
    )
    geometry = {
        "alignment": {"scale": t.scale, "rotation": t.rotation, "shift": list(t.shift)},
        "match": found.match,
    }
    return OpenedPair(pair.before_path, pair.after_path, before, after, geometry)
