"""One image file -> one filtered image file: what each job of a batch runs, in this process or a worker.

EXIF and ICC profile are kept and the output is written atomically; any failure becomes the
``Outcome``'s one-line error naming the input, so that a batch can count it and go on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from .errors import NnfilterError
from .files import describe, make_folder
from .images import DEFAULT_MAX_PIXELS, ImageReading, PixelMemory
from .plan import Job
from .saving import holds_alpha, save_image

if TYPE_CHECKING:
    from pathlib import Path

    from .deep import DeepImage
    from .look import Look


@dataclass(frozen=True)
class Settings:
    """How every file of a batch is filtered and written."""

    quality: int | None = None
    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    make_folders: bool = True
    #: Warn when more than this share of an image's pixels has colours the training never showed.
    warn_coverage: float | None = None
    #: Bits per channel to write into TIFF and PNG (None: the input's); JPEG and WebP get 8.
    depth: int | None = None


@dataclass(frozen=True)
class Outcome:
    """One job's result: its megapixels when done, or a one-line ``error`` naming the input."""

    job: Job
    megapixels: float = 0.0
    error: str | None = None
    #: The exception behind ``error``, when it was an ``NnfilterError`` (its values, for hints).
    cause: NnfilterError | None = None
    #: Notes about a file that was done (colours outside the training's coverage, alpha dropped).
    warnings: tuple[str, ...] = ()
    #: Not started: the batch was stopped first.
    cancelled: bool = False


def filter_file(
    look: Look,
    src: Path,
    dst: Path,
    quality: int | None = None,
    overwrite: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    check_coverage: bool = False,
    threads: int | None = None,
    reading: ImageReading | None = None,
    depth: int | None = None,
    memory: PixelMemory | None = None,
) -> tuple[float, float | None, bool]:
    """Filter the image file ``src`` into ``dst``; return its megapixels, if asked (and the look
    knows its coverage) the share of its pixels in colours the training never showed, and whether
    its transparency was dropped (``dst``'s type holds no alpha).

    EXIF and ICC profile are kept; ``dst``'s extension picks the type; ``dst`` is written to a
    temporary file and renamed, so it is never left half-written, even on Ctrl-C. ``reading``,
    if given, is ``src`` already being read (an ``ImageReading`` with the same ``max_pixels``
    and ``deep=True``, perhaps into a memory of its own); else ``src`` is read, an RGB JPEG into
    ``memory`` if given (``images.PixelMemory``, for files filtered one at a time). A 16-bit TIFF
    or PNG is filtered at 16 bits and written with ``depth`` bits per channel where ``dst``'s type
    holds them (see ``deep.output_depth``).

    Raises
    ------
    ImageError
        ``src`` cannot be read as an image (missing, not an image, truncated, too large).
    OutputError
        ``dst`` cannot be written, or exists and ``overwrite`` is off.
    """
    if reading is None:
        reading = ImageReading(src, max_pixels, background=False, deep=True, memory=memory)
    image = reading.result()
    megapixels = image.width * image.height / 1e6
    exif, icc = image.info.get("exif"), image.info.get("icc_profile")
    unseen = look.unseen_share(image) if check_coverage else None
    alpha_dropped = not holds_alpha(dst) and _transparent(image)
    if depth == 16 or not isinstance(image, Image.Image):  # a DeepImage
        from .images16 import filter_deep

        filter_deep(look, image, dst, depth, quality=quality, overwrite=overwrite, threads=threads)
        return megapixels, unseen, alpha_dropped
    words = reading.memory.words(image) if reading.memory is not None else None
    result = look.apply(image, threads=threads, words=words)
    save_image(result, dst, quality=quality, exif=exif, icc_profile=icc, overwrite=overwrite)
    return megapixels, unseen, alpha_dropped


def _transparent(image: Image.Image | DeepImage) -> bool:
    """Whether an 8-bit or 16-bit image has a pixel that is not opaque."""
    if isinstance(image, Image.Image):
        return image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255
    return image.mode == "RGBA" and int(image.pixels[..., 3].min()) < 65535


def run_job(
    look: Look,
    job: Job,
    settings: Settings,
    reading: ImageReading | None = None,
    threads: int | None = 1,
    memory: PixelMemory | None = None,
) -> Outcome:
    """Filter one job's file on ``threads`` threads (``reading``: its source already being read;
    ``memory``: where to decode it; see ``filter_file``); any failure becomes the outcome's
    ``error`` (Ctrl-C passes through)."""
    try:
        if settings.make_folders:
            make_folder(job.dst.parent, f"{job.dst}: cannot make its folder")
        megapixels, unseen, alpha_dropped = filter_file(
            look,
            job.src,
            job.dst,
            settings.quality,
            settings.overwrite,
            settings.max_pixels,
            check_coverage=settings.warn_coverage is not None,
            threads=threads,
            reading=reading,
            depth=settings.depth,
            memory=memory,
        )
    except NnfilterError as exc:
        return Outcome(job, error=_failure_line(job, str(exc)), cause=exc)
    except Exception as exc:  # a bug or MemoryError: name the file, keep the batch going
        return Outcome(job, error=f"{job.src}: unexpected {type(exc).__name__} ({describe(exc)})")
    warnings = []
    if unseen is not None and unseen > settings.warn_coverage:
        warnings.append(
            f"{job.src}: {100 * unseen:.1f}% of its pixels have colours the training pairs "
            "never showed (the look is a guess there: in nnfilter's benchmark, photos over half unseen "
            "came out 1.2 ΔE00 off on average, one in ten over 2.3; train with a pair that has them)"
        )
    if alpha_dropped:
        warnings.append(
            f"{job.dst}: {job.src}'s transparency was dropped, this type holds none (PNG, TIFF and WebP do)"
        )
    return Outcome(job, megapixels, warnings=tuple(warnings))


def _failure_line(job: Job, message: str) -> str:
    """``message`` as one line that starts with the input; messages about the output also name it.

    >>> from pathlib import Path
    >>> _failure_line(Job(Path("a.jpg"), Path("o/a.jpg")), "o/a.jpg: exists")
    'a.jpg -> o/a.jpg: exists'
    """
    message = " ".join(message.split())
    src, dst = os.fspath(job.src), os.fspath(job.dst)
    if message.startswith(src + ": "):
        return message
    if message.startswith(dst + ": "):
        return f"{src} -> {message}"
    return f"{src}: {message}"
