"""Batch filtering: which input goes to which output, and filtering files one by one or in parallel.

Three parts, none of which prints or knows about click:

- ``plan_batch``: command-line paths, folders and listed paths -> a ``Plan`` of (input, output) jobs,
  with the relative layout, name suffix and output type, and the per-file refusals decided up front
  (not an image, output exists, output is an input, two inputs with one output).
- ``filter_file``: one image file -> one filtered image file, EXIF and ICC profile kept, written
  atomically.
- ``Runner``: runs the jobs in this process or in worker processes and yields one ``Outcome`` per
  job, in job order, so what a batch writes and reports does not depend on the number of workers.

>>> output_name(Path("a.jpg"), suffix="-look", extension=".png")
'a-look.png'
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NnfilterError
from .images import DEFAULT_MAX_PIXELS, OUTPUT_FORMATS, ImageReading, is_image_file, open_image, save_image

if TYPE_CHECKING:
    import multiprocessing.context
    from concurrent.futures import Future, ProcessPoolExecutor

    from .look import Look

#: ``--format`` names and the extension each one writes (``jpeg`` and ``jpg`` are the same type).
FORMAT_EXTENSIONS = {ext[1:]: ext for ext in OUTPUT_FORMATS}

#: How ``atomic_write`` names its temporary files; such leftovers are never taken as inputs.
TEMP_PREFIX = ".nnfilter-"

#: Jobs handed to the pool ahead of the one being waited for, per worker.
AHEAD_PER_WORKER = 2

Problem = tuple[Path, str]
"""An input path and a one-line message that names it and says what happened."""


@dataclass(frozen=True)
class Job:
    """Filter the image ``src`` into the new file ``dst``."""

    src: Path
    dst: Path


@dataclass
class Plan:
    """What a batch will do: the jobs to run, and the inputs already skipped or refused."""

    jobs: list[Job] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    failed: list[Problem] = field(default_factory=list)
    #: Subfolders of folder inputs that were not entered because ``recursive`` was off.
    ignored_folders: int = 0


@dataclass
class Report:
    """How a batch went: inputs done, skipped and failed, and whether it was interrupted."""

    done: list[Job] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    failed: list[Problem] = field(default_factory=list)
    interrupted: bool = False
    #: Jobs neither done nor failed when the batch was interrupted.
    not_processed: int = 0
    megapixels: float = 0.0

    @classmethod
    def from_plan(cls, plan: Plan) -> Report:
        """A report that starts with the plan's skipped and refused inputs."""
        return cls(skipped=list(plan.skipped), failed=list(plan.failed))

    def add(self, outcome: Outcome) -> None:
        """Count one finished job."""
        if outcome.error is None:
            self.done.append(outcome.job)
            self.megapixels += outcome.megapixels
        else:
            self.failed.append((outcome.job.src, outcome.error))

    def summary(self) -> str:
        """The line that ends a run, e.g. "3 done, 1 skipped, 0 failed"."""
        text = f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed"
        if self.interrupted:
            text = f"interrupted: {text}, {self.not_processed} not processed"
        return text

    @property
    def return_code(self) -> int:
        """130 if interrupted, else 1 if any input failed, else 0."""
        if self.interrupted:
            return 130
        return 1 if self.failed else 0


# --- planning ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """An input file and its path relative to the output folder (before renaming)."""

    path: Path
    rel: Path


def is_single_file(inputs: Sequence[Path], listed: Sequence[Path] | None, output: Path | None) -> bool:
    """Whether ``-o`` names the output file itself: one input that is not a folder, no list, and an
    ``output`` that is neither an existing folder nor written with a trailing slash."""
    if len(inputs) != 1 or listed is not None or output is None or inputs[0].is_dir():
        return False
    return not (output.is_dir() or os.fsdecode(output).endswith(("/", os.sep)))


def output_name(src: Path, suffix: str = "", extension: str | None = None) -> str:
    """The output file name for ``src``: its stem, then ``suffix``, then ``extension`` or its own."""
    return f"{src.stem}{suffix}{src.suffix if extension is None else extension}"


def plan_batch(
    inputs: Sequence[Path],
    output: Path | None,
    *,
    listed: Sequence[Path] | None = None,
    base: Path = Path("."),
    recursive: bool = False,
    suffix: str = "",
    format: str | None = None,
    existing: str = "refuse",
) -> Plan:
    """Decide which output each input gets, and which inputs are skipped or refused.

    Parameters
    ----------
    inputs : sequence of Path
        Files and folders from the command line, in order. A folder gives the image files in it
        (by content, ``is_image_file``), in name order; with ``recursive``, those of its subfolders
        too, keeping their layout. A named file is always tried (and fails if it is not an image).
    output : Path or None
        The output file (see ``is_single_file``), or the output folder, or None to write each output
        beside its input (then ``suffix`` must be given).
    listed : sequence of Path or None
        Paths read from a list (stdin). Folders in it are ignored (``find`` prints them), files that
        are not images are skipped, and each output keeps the path relative to ``base``.
    base : Path
        What listed paths are relative to; a listed file outside it is refused.
    recursive : bool
        Descend into subfolders of folder inputs.
    suffix : str
        Added to each output name before the extension ("-look": a.jpg -> a-look.jpg).
    format : str or None
        A key of ``FORMAT_EXTENSIONS``: write that type with its extension instead of the input's.
    existing : str
        What to do when an output exists: "refuse" (the input fails), "overwrite" or "skip".

    Returns
    -------
    Plan
        Jobs in input order. Never two jobs with one output, and no output that is one of the input
        files (both refused, naming the other file).

    Raises
    ------
    ValueError
        The arguments cannot make a plan (a usage error): no input, an existing file given as the
        output folder, no output and no suffix, suffix or format with an output file, a suffix
        with a "/".
    """
    if existing not in ("refuse", "overwrite", "skip"):
        raise ValueError(f"existing must be refuse, overwrite or skip, got {existing!r}")
    if format is not None and format not in FORMAT_EXTENSIONS:
        raise ValueError(f"format must be one of {', '.join(sorted(FORMAT_EXTENSIONS))}, got {format!r}")
    if "/" in suffix or os.sep in suffix:
        raise ValueError(f"--suffix goes into file names and cannot hold a folder separator, got {suffix!r}")
    if not inputs and listed is None:
        raise ValueError("no INPUT given (files, folders, or - to read a list from stdin)")
    single = is_single_file(inputs, listed, output)
    if single and (suffix or format):
        raise ValueError(
            f"-o {output} names the output file (its extension picks the type); --suffix and --format "
            "name outputs in a folder: give -o an existing folder or end it with /"
        )
    if output is None and not suffix:
        raise ValueError("give -o (output file or folder), or --suffix to write each output beside its input")
    if output is not None and not single and os.path.lexists(output) and not output.is_dir():
        raise ValueError(f"-o {output}: is a file, but several inputs or a folder need an output folder")

    plan = Plan()
    sources = _collect(inputs, listed, base, recursive, output if not single else None, plan)
    extension = None if format is None else FORMAT_EXTENSIONS[format]
    input_files = {os.path.realpath(s.path) for s in sources}
    input_files.update(os.path.realpath(path) for path, _ in plan.skipped)
    first_source: dict[str, Path] = {}
    seen: set[tuple[str, str]] = set()
    for source in sources:
        src = source.path
        if single:
            dst = output
        else:
            if extension is None and src.suffix.lower() not in OUTPUT_FORMATS:
                shown = repr(src.suffix) if src.suffix else "no extension"
                plan.failed.append(
                    (
                        src,
                        f"{src}: cannot write {shown} files; use --format "
                        f"({', '.join(sorted(FORMAT_EXTENSIONS))})",
                    )
                )
                continue
            name = output_name(src, suffix, extension)
            folder = src.parent if output is None else output / source.rel.parent
            dst = folder / name
        key = os.path.realpath(dst)
        if (os.path.realpath(src), key) in seen:
            continue  # the same file given twice
        seen.add((os.path.realpath(src), key))
        if key in input_files:
            message = f"{src} -> {dst}: the output is an input file; refusing to overwrite it"
            plan.failed.append((src, message))
            continue
        if key in first_source:
            plan.failed.append((src, f"{src} -> {dst}: same output as {first_source[key]}"))
            continue
        first_source[key] = src
        if os.path.lexists(dst):
            if existing == "skip":
                plan.skipped.append((src, f"{src}: output {dst} exists"))
                continue
            if existing == "refuse":
                plan.failed.append((src, f"{src} -> {dst}: exists (use --force or --skip-existing)"))
                continue
        plan.jobs.append(Job(src, dst))
    return plan


def _collect(
    inputs: Sequence[Path],
    listed: Sequence[Path] | None,
    base: Path,
    recursive: bool,
    output_folder: Path | None,
    plan: Plan,
) -> list[_Source]:
    """The input files, each with its path under the output folder; skips and refusals go into ``plan``."""
    out = os.path.realpath(output_folder) if output_folder is not None else None

    def in_output(path: Path) -> bool:
        return out is not None and os.path.realpath(path).startswith(out + os.sep)

    sources: list[_Source] = []
    for path in inputs:
        if not path.is_dir():
            sources.append(_Source(path, Path(path.name)))  # tried even if not an image: the user named it
            continue
        for file, rel in _walk(path, recursive, out, plan):
            if file.name.startswith(TEMP_PREFIX):
                plan.skipped.append((file, f"{file}: temporary file of an interrupted nnfilter run"))
            elif not is_image_file(file):
                plan.skipped.append((file, f"{file}: not an image file"))
            else:
                sources.append(_Source(file, rel))
    root = os.path.abspath(base)
    for path in listed or ():
        if path.is_dir():
            continue
        # Outputs beside their inputs need no layout, so no base either.
        rel = os.path.relpath(os.path.abspath(path), root) if out is not None else path.name
        if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
            plan.failed.append(
                (path, f"{path}: not under {base} (listed paths keep their layout relative to --base)")
            )
        elif in_output(path):
            plan.skipped.append((path, f"{path}: in the output folder"))
        elif path.name.startswith(TEMP_PREFIX):
            plan.skipped.append((path, f"{path}: temporary file of an interrupted nnfilter run"))
        elif not is_image_file(path):
            plan.skipped.append((path, f"{path}: not an image file"))
        else:
            sources.append(_Source(path, Path(rel)))
    return sources


def _walk(folder: Path, recursive: bool, exclude: str | None, plan: Plan) -> Iterator[tuple[Path, Path]]:
    """Files under ``folder`` in name order, with their paths relative to it.

    Symlinked folders are not followed; the folder ``exclude`` (the output) is never entered.
    """
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        if not recursive:
            plan.ignored_folders += len(dirnames)
            dirnames.clear()
        elif exclude is not None:
            dirnames[:] = [d for d in dirnames if os.path.realpath(os.path.join(dirpath, d)) != exclude]
        for name in sorted(filenames):
            file = Path(dirpath) / name
            yield file, file.relative_to(folder)


# --- filtering -----------------------------------------------------------------------------------------


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
) -> tuple[float, float | None]:
    """Filter the image file ``src`` into ``dst``; return its megapixels and, if asked (and the
    look knows its coverage), the share of its pixels in colours the training never showed.

    EXIF and ICC profile are kept; ``dst``'s extension picks the type; ``dst`` is written to a
    temporary file and renamed, so it is never left half-written, even on Ctrl-C. ``reading``,
    if given, is ``src`` already being read (an ``ImageReading`` with the same ``max_pixels``).

    Raises
    ------
    ImageError
        ``src`` cannot be read as an image (missing, not an image, truncated, too large).
    OutputError
        ``dst`` cannot be written, or exists and ``overwrite`` is off.
    """
    image = reading.result() if reading is not None else open_image(src, max_pixels)
    megapixels = image.width * image.height / 1e6
    exif, icc = image.info.get("exif"), image.info.get("icc_profile")
    unseen = look.unseen_share(image) if check_coverage else None
    result = look.apply(image, threads=threads)
    save_image(result, dst, quality=quality, exif=exif, icc_profile=icc, overwrite=overwrite)
    return megapixels, unseen


@dataclass(frozen=True)
class Outcome:
    """One job's result: its megapixels when done, or a one-line ``error`` naming the input."""

    job: Job
    megapixels: float = 0.0
    error: str | None = None
    #: A note about a file that was done (e.g. colours outside the training's coverage).
    warning: str | None = None
    #: Not started: the batch was stopped first.
    cancelled: bool = False


@dataclass(frozen=True)
class Settings:
    """How every file of a batch is filtered and written."""

    quality: int | None = None
    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    make_folders: bool = True
    #: Warn when more than this share of an image's pixels has colours the training never showed.
    warn_coverage: float | None = None
    #: Threads that filter one image (None: all cores); the CLI gives a batch 1 (its cores run files).
    threads: int | None = None


def run_job(look: Look, job: Job, settings: Settings, reading: ImageReading | None = None) -> Outcome:
    """Filter one job's file (``reading``: its source already being read, see ``filter_file``); any
    failure becomes the outcome's ``error`` (Ctrl-C passes through)."""
    try:
        if settings.make_folders:
            try:
                job.dst.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                reason = exc.strerror or exc
                return Outcome(job, error=f"{job.src} -> {job.dst}: cannot make its folder ({reason})")
        megapixels, unseen = filter_file(
            look,
            job.src,
            job.dst,
            settings.quality,
            settings.overwrite,
            settings.max_pixels,
            check_coverage=settings.warn_coverage is not None,
            threads=settings.threads,
            reading=reading,
        )
    except NnfilterError as exc:
        return Outcome(job, error=_failure_line(job, str(exc)))
    except Exception as exc:  # a bug or MemoryError: name the file, keep the batch going
        return Outcome(job, error=f"{job.src}: unexpected {type(exc).__name__} ({exc})")
    warning = None
    if unseen is not None and unseen > settings.warn_coverage:
        warning = (
            f"{job.src}: {100 * unseen:.1f}% of its pixels have colours the training pairs "
            "never showed (the look is a guess there, often 2 to 4 ΔE00 off; train with a pair "
            "that has them)"
        )
    return Outcome(job, megapixels, warning=warning)


def _failure_line(job: Job, message: str) -> str:
    """``message`` as one line that starts with the input; messages about the output also name it.

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


# Per worker process, set once by ``_init_worker``: the look, the settings, and the batch's stop flag.
_worker_look: Look | None = None
_worker_settings = Settings()
_worker_stop: Any = None


def _init_worker(look: Look, settings: Settings, stop: Any) -> None:
    """Keep the look for every job of this worker; leave Ctrl-C to the main process.

    The main process decides what happens on Ctrl-C (it sets ``stop``, so queued jobs are not
    started, and waits for the files being written), so a terminal's SIGINT to the whole process
    group must not kill workers halfway.
    """
    global _worker_look, _worker_settings, _worker_stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_look, _worker_settings, _worker_stop = look, settings, stop


def _work(job: Job) -> Outcome:
    assert _worker_look is not None, "worker not initialised"
    if _worker_stop.is_set():
        return Outcome(job, cancelled=True)
    return run_job(_worker_look, job, _worker_settings)


def pool_context() -> multiprocessing.context.BaseContext:
    """The start method for workers: "forkserver" where there is one, else "spawn".

    Never "fork": the main process may run threads (tqdm's monitor, BLAS), and a forked child
    could inherit a lock held by one of them.
    """
    import multiprocessing  # here, not at the top: a single file does without it (~10 ms of start-up)

    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, "nnfilter.look"])  # workers start with all imported
        return context
    return multiprocessing.get_context("spawn")


class Runner:
    """Runs jobs and yields an ``Outcome`` for each, in job order.

    With ``workers`` == 1 (or a single job) files are filtered in this process; otherwise in a pool
    of that many processes, each given the look once. At most ``AHEAD_PER_WORKER * workers`` jobs are
    handed out ahead. ``first_reading`` is the first job's source already being read (an
    ``ImageReading``), for a file filtered in this process.

    Inside ``with``, the runner owns Ctrl-C (SIGINT, unless it is ignored): the first one stops the
    batch between files. No job is started after it, the files being written are finished and
    yielded, then iteration ends with ``interrupted`` set, so every output on disk is complete and
    counted. In this process, a second Ctrl-C abandons the file being written (its temporary file
    is removed); workers always finish theirs. ``on_interrupt(abandonable)`` is called once when
    the runner starts waiting for files being written: ``abandonable`` is True in this process
    (called from the signal handler), False with workers (called from the loop)::

        with Runner(look, jobs, settings, workers) as runner:
            for outcome in runner:
                ...
        runner.interrupted
    """

    def __init__(
        self,
        look: Look,
        jobs: Sequence[Job],
        settings: Settings,
        workers: int = 1,
        on_interrupt: Callable[[bool], None] | None = None,
        first_reading: ImageReading | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.look, self.settings, self.on_interrupt = look, settings, on_interrupt
        self.workers = min(workers, max(len(jobs), 1))
        self.interrupted = False
        self._first_reading = first_reading
        self._todo: deque[Job] = deque(jobs)
        self._pending: deque[tuple[Job, Future, ProcessPoolExecutor]] = deque()
        self._pool: ProcessPoolExecutor | None = None
        self._stop_flag: Any = None  # the workers' multiprocessing.Event
        self._stopping = False
        self._busy = False  # filtering a file in this process
        self._previous_handler: Any = None

    def __enter__(self) -> Runner:
        try:
            if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # nohup, `cmd &`: stay ignored
                self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main thread: Ctrl-C stays a KeyboardInterrupt
            pass
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.close()
        finally:
            if self._previous_handler is not None:
                signal.signal(signal.SIGINT, self._previous_handler)
                self._previous_handler = None

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.interrupted:
            if self._busy:
                raise KeyboardInterrupt
            return
        self.interrupted = True
        if self._busy and self.on_interrupt is not None:
            self.on_interrupt(True)

    def __iter__(self) -> Iterator[Outcome]:
        if self.workers == 1:
            yield from self._run_here()
        else:
            yield from self._run_in_pool()

    def close(self) -> None:
        """Shut the pool down, cancelling whatever was not started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _run_here(self) -> Iterator[Outcome]:
        while self._todo and not self.interrupted:
            self._busy = True
            reading, self._first_reading = self._first_reading, None
            try:
                outcome = run_job(self.look, self._todo[0], self.settings, reading)
            except KeyboardInterrupt:  # a second Ctrl-C: this file is abandoned
                self.interrupted = True
                break
            finally:
                self._busy = False
            self._todo.popleft()
            yield outcome
        self._todo.clear()

    def _run_in_pool(self) -> Iterator[Outcome]:
        from concurrent.futures import wait

        while self._todo or self._pending:
            if self.interrupted:
                self._begin_stop()
            self._fill()
            job, future, pool = self._pending[0]
            while not future.done():  # wake up now and then to notice a Ctrl-C
                wait([future], timeout=0.1)
                if self.interrupted:
                    self._begin_stop()
            outcome = None if future.cancelled() else self._result(job, future, pool)
            self._pending.popleft()
            if outcome is not None and not outcome.cancelled:
                yield outcome

    def _begin_stop(self) -> None:
        """Start no more jobs: drop those not handed out, and let workers skip those queued."""
        if self._stopping:
            return
        self._stopping = True
        self._todo.clear()
        if self._stop_flag is not None:
            self._stop_flag.set()
        for _, future, _ in self._pending:
            future.cancel()
        if self.on_interrupt is not None and self._pending:
            self.on_interrupt(False)

    def _fill(self) -> None:
        if not self._todo:
            return
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            context = pool_context()
            self._stop_flag = context.Event()
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(self.look, self.settings, self._stop_flag),
            )
        while self._todo and len(self._pending) < AHEAD_PER_WORKER * self.workers:
            job = self._todo.popleft()
            self._pending.append((job, self._pool.submit(_work, job), self._pool))

    def _result(self, job: Job, future: Future, pool: ProcessPoolExecutor) -> Outcome:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return future.result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the jobs handed to its pool fail; the next
            # jobs go to a new pool.
            if pool is self._pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            return Outcome(job, error=f"{job.src}: worker process died (killed, or out of memory?)")
