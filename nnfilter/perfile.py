"""One picklable function per file, for running a look on an engine that spreads work over machines
(Dask, Ray Data, Spark): each call filters one image file into the output folder, as `nnfilter apply`
would, and returns a small record of what it did.

>>> filter_one = FileFilter("look.npz", "out", base="photos", suffix="-look")
>>> filter_one.destination("photos/2024/a.jpg").as_posix()
'out/2024/a-look.jpg'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import OutputExistsError
from .images import DEFAULT_MAX_PIXELS
from .onefile import Settings, run_job
from .plan import FORMAT_EXTENSIONS, Job, output_name
from .saving import OUTPUT_FORMATS
from .strength import check_strength

if TYPE_CHECKING:
    from .look import Look

#: The look loaded in this process from each model file (by real path), with the file's (size,
#: modification time) when read: each worker process reads a model once, however many files it is
#: given, again only if the file changes, and keeps only its latest look.
_LOOKS: dict[str, tuple[tuple[int, int], Look]] = {}


@dataclass(frozen=True)
class FileResult:
    """What one call did: "done" (``dst`` written), "skipped" (``dst`` was there) or "failed" (``error``)."""

    src: str
    dst: str
    status: str
    error: str | None = None
    megapixels: float = 0.0


@dataclass(frozen=True)
class FileFilter:
    """Filter one image file into ``output`` with the model file ``model``; picklable, so it can be
    shipped to worker processes on other machines (paths must mean the same there).

    The output keeps the input's path relative to ``base``, named as `nnfilter apply` names it
    (``suffix``, ``format``: "jpg", "png", ... in any case), and is filtered as `nnfilter apply`
    filters it (``quality``, ``strength``, ``depth``, ``max_pixels``: its options of those names),
    to the same bytes. It is written atomically: a re-run after a crash, or a second worker on the
    same file at once, skips the outputs already there (unless ``overwrite``), so calling it twice
    on a file is harmless. An input is never overwritten, even with ``overwrite``.

    Without ``base``, an output is named by its input's file name alone: two inputs of the same
    name in different folders get ONE output, and the second is reported "skipped" (or, with
    ``overwrite``, replaces the first). Give ``base`` whenever names can repeat.

    A file's failure is returned, not raised; a model file that cannot be read raises
    (``NnfilterError`` or ``OSError``), and settings out of range raise ``ValueError`` at once.
    """

    model: str | os.PathLike[str]
    output: str | os.PathLike[str]
    base: str | os.PathLike[str] | None = None
    suffix: str = ""
    format: str | None = None
    quality: int | None = None
    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    strength: float = 1.0
    depth: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.suffix, str) or "/" in self.suffix or os.sep in self.suffix:
            raise ValueError(f"suffix must be a string without a folder separator, got {self.suffix!r}")
        if self.format is not None:
            if not isinstance(self.format, str) or self.format.lower() not in FORMAT_EXTENSIONS:
                formats = ", ".join(sorted(FORMAT_EXTENSIONS))
                raise ValueError(f"format must be one of {formats} (or None), got {self.format!r}")
            object.__setattr__(self, "format", self.format.lower())
        if self.quality is not None and not (
            isinstance(self.quality, int) and not isinstance(self.quality, bool) and 1 <= self.quality <= 100
        ):
            raise ValueError(f"quality must be an integer from 1 to 100 (or None), got {self.quality!r}")
        if self.max_pixels is not None and not (isinstance(self.max_pixels, int) and self.max_pixels >= 1):
            raise ValueError(f"max_pixels must be an integer >= 1 (or None), got {self.max_pixels!r}")
        if self.depth is not None and self.depth not in (8, 16):
            raise ValueError(f"depth must be 8, 16 or None, got {self.depth!r}")
        object.__setattr__(self, "strength", check_strength(self.strength))

    def destination(self, src: str | os.PathLike[str]) -> Path:
        """Where ``src``'s output goes."""
        src = Path(src)
        rel = Path(src.name) if self.base is None else Path(os.path.relpath(src, self.base))
        extension = None if self.format is None else FORMAT_EXTENSIONS[self.format]
        return Path(self.output) / rel.parent / output_name(src, self.suffix, extension)

    def __call__(self, src: str | os.PathLike[str]) -> FileResult:
        """Filter ``src``; return what happened to it."""
        dst = self.destination(src)
        shown = (os.fspath(src), os.fspath(dst))
        if self.base is not None:
            rel = Path(os.path.relpath(src, self.base))
            if rel.parts[:1] == (os.pardir,):
                return FileResult(*shown, "failed", f"{src}: not under {self.base}")
            if rel == Path(os.curdir):
                return FileResult(*shown, "failed", f"{src}: is the base folder itself, not a file in it")
        if dst.suffix.lower() not in OUTPUT_FORMATS:
            return FileResult(*shown, "failed", f"{src}: cannot write {dst.suffix!r} files")
        if os.path.realpath(dst) == os.path.realpath(src):
            return FileResult(*shown, "failed", f"{src}: the output is the input; refusing to overwrite it")
        if not self.overwrite and os.path.lexists(dst):
            return FileResult(*shown, "skipped")
        settings = Settings(
            self.quality, self.overwrite, self.max_pixels, make_folders=True, depth=self.depth
        )
        # The look is read after the check above: another worker may write dst meanwhile.
        outcome = run_job(self._look(), Job(Path(src), dst), settings)
        if isinstance(outcome.cause, OutputExistsError) and not self.overwrite:
            return FileResult(*shown, "skipped")  # another worker wrote it first
        if outcome.error is not None:
            return FileResult(*shown, "failed", outcome.error)
        return FileResult(*shown, "done", megapixels=outcome.megapixels)

    def _look(self) -> Look:
        """The model at ``strength``, read once per process (again only if its file changes)."""
        from .look import Look

        path = os.path.realpath(self.model)
        st = os.stat(path)
        stamp = (st.st_size, st.st_mtime_ns)
        cached = _LOOKS.get(path)
        if cached is None or cached[0] != stamp:
            cached = _LOOKS[path] = (stamp, Look.load(path))
        look = cached[1]
        if look.strength != self.strength:
            look = look.with_strength(self.strength)
            _LOOKS[path] = (stamp, look)
        return look
