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

from .images import DEFAULT_MAX_PIXELS
from .onefile import Settings, run_job
from .plan import FORMAT_EXTENSIONS, Job, output_name
from .saving import OUTPUT_FORMATS

if TYPE_CHECKING:
    from .look import Look

#: Looks loaded in this process, by model file (path, size, modification time): each worker process
#: reads the model once, however many files it is given.
_LOOKS: dict[tuple[str, int, int], Look] = {}


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

    The output keeps the input's path relative to ``base`` (or just its name without ``base``),
    named as `nnfilter apply` names it (``suffix``, ``format``), and is written atomically: a
    re-run after a crash or on a second worker skips the outputs already there (unless
    ``overwrite``), so calling it twice on a file is harmless. A file's failure is returned, not
    raised; a model file that cannot be read raises (``NnfilterError`` or ``OSError``).
    """

    model: str | os.PathLike[str]
    output: str | os.PathLike[str]
    base: str | os.PathLike[str] | None = None
    suffix: str = ""
    format: str | None = None
    quality: int | None = None
    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS

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
        if self.base is not None and Path(os.path.relpath(src, self.base)).parts[0] == os.pardir:
            return FileResult(*shown, "failed", f"{src}: not under {self.base}")
        if dst.suffix.lower() not in OUTPUT_FORMATS:
            return FileResult(*shown, "failed", f"{src}: cannot write {dst.suffix!r} files")
        if not self.overwrite and os.path.lexists(dst):
            return FileResult(*shown, "skipped")
        settings = Settings(self.quality, self.overwrite, self.max_pixels, make_folders=True)
        outcome = run_job(self._look(), Job(Path(src), dst), settings)
        if outcome.error is not None:
            return FileResult(*shown, "failed", outcome.error)
        return FileResult(*shown, "done", megapixels=outcome.megapixels)

    def _look(self) -> Look:
        """The model, read once per process (again only if its file changes)."""
        from .look import Look

        st = os.stat(self.model)
        key = (os.path.realpath(self.model), st.st_size, st.st_mtime_ns)
        if key not in _LOOKS:
            _LOOKS[key] = Look.load(self.model)
        return _LOOKS[key]
