"""Start decoding the photo of ``nnfilter apply PHOTO ...`` before the command line has loaded.

Loading the command line (click, its options, our modules) takes longer than opening a photo, and
a process that filters one photo can only wait for its decoding. ``prefetch`` reads the raw
arguments and, when they name one photo file, starts an ``ImageReading`` of it at once; ``apply``
takes that reading if it is of the file and pixel limit its parsed arguments ask for, and reads
the photo itself otherwise. A wrong guess costs a decode, never a different result.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .images import DEFAULT_MAX_PIXELS, ImageReading, PixelMemory

#: ``apply``'s options that take a value, short names by their long ones (tests check them
#: against the command's own).
VALUE_OPTIONS = frozenset(
    {"--model", "--lut", "--output", "--base", "--suffix", "--format", "--jobs", "--quality"}
    | {"--depth", "--strength", "--max-pixels"}
)
FLAGS = frozenset({"--recursive", "--null", "--force", "--skip-existing", "--quiet", "--verbose"})
SHORT_NAMES = {"-m": "--model", "-o": "--output", "-j": "--jobs"}
SHORT_FLAGS = {"-r": "--recursive", "-0": "--null", "-q": "--quiet", "-v": "--verbose"}


class Prefetch:
    """A photo file being decoded, and the pixel limit it was opened with."""

    def __init__(self, path: str, max_pixels: int) -> None:
        self._real_path = os.path.realpath(path)
        self._max_pixels = max_pixels
        self._reading = ImageReading(path, max_pixels, deep=True, memory=PixelMemory())

    def take(self, path: str | os.PathLike[str], max_pixels: int | None) -> ImageReading | None:
        """The reading, if it is of ``path`` with ``max_pixels`` (as ``apply`` would start it)."""
        if max_pixels == self._max_pixels and os.path.realpath(path) == self._real_path:
            return self._reading
        return None


def prefetch(argv: Sequence[str]) -> Prefetch | None:
    """The reading of the one photo file that ``nnfilter`` with these arguments will filter in
    threads, or None when the arguments say otherwise or are not plain enough to tell (a folder,
    several inputs, ``-``, --dry-run, one job, an option that is unknown here or written some
    other way)."""
    if not argv or argv[0] != "apply":
        return None
    values: dict[str, str] = {}
    inputs: list[str] = []
    args = iter(argv[1:])
    for arg in args:
        if arg == "--":
            inputs.extend(args)
        elif arg == "-" or not arg.startswith("-"):
            inputs.append(arg)
        elif arg in FLAGS or arg in SHORT_FLAGS:
            continue
        elif arg in VALUE_OPTIONS or arg in SHORT_NAMES:
            values[SHORT_NAMES.get(arg, arg)] = next(args, "")
        else:
            name, equals, value = arg.partition("=")
            if not equals or name not in VALUE_OPTIONS:
                return None
            values[name] = value
    try:
        jobs = int(values.get("--jobs", os.cpu_count() or 1))
        max_pixels = int(values.get("--max-pixels", DEFAULT_MAX_PIXELS))
    except ValueError:
        return None
    if len(inputs) != 1 or inputs[0] == "-" or jobs < 2 or max_pixels < 1 or not os.path.isfile(inputs[0]):
        return None
    return Prefetch(inputs[0], max_pixels)
