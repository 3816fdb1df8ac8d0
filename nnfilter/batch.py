"""Running a batch: each job of a ``Plan`` filters one image file into one new file, in this
process or in worker processes, into a ``Report``; Ctrl-C stops it between files.

Each job is ``onefile.run_job``. ``run_batch`` runs every job by a serial or a pool strategy (the
same interface), in job order, so what a batch writes and reports does not depend on the number
of workers. ``CtrlC`` is the one object that handles SIGINT.

Nothing here prints or knows about click: the caller is told of each outcome through a callback.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from .images import ImageReading, PixelMemory
from .onefile import Outcome, Settings, run_job
from .plan import Job, Plan, Problem

if TYPE_CHECKING:
    import multiprocessing.context
    from concurrent.futures import Future, ProcessPoolExecutor

    from .look import Look

#: Jobs handed to the pool ahead of the one being waited for, per worker.
AHEAD_PER_WORKER = 2


@dataclass
class Report:
    """How a batch went: inputs done, skipped and failed, and whether it was interrupted."""

    done: list[Job] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    failed: list[Problem] = field(default_factory=list)
    interrupted: bool = False
    megapixels: float = 0.0
    #: Jobs the plan had to run, and inputs it refused (counted in ``failed`` from the start).
    planned: int = 0
    refused: int = 0

    @classmethod
    def from_plan(cls, plan: Plan) -> Report:
        """A report that starts with the plan's skipped and refused inputs."""
        return cls(
            skipped=list(plan.skipped),
            failed=list(plan.failed),
            planned=len(plan.jobs),
            refused=len(plan.failed),
        )

    def add(self, outcome: Outcome) -> None:
        """Count one finished job."""
        if outcome.error is None:
            self.done.append(outcome.job)
            self.megapixels += outcome.megapixels
        else:
            self.failed.append(Problem(outcome.job.src, outcome.error))

    @property
    def not_processed(self) -> int:
        """Jobs of the plan neither done nor failed (those left by an interrupted batch)."""
        return self.planned - (len(self.done) + len(self.failed) - self.refused)

    def summary(self) -> str:
        """The line that ends a run, e.g. "3 done, 1 skipped, 0 failed"."""
        text = f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed"
        if self.interrupted:
            text = f"interrupted: {text}, {self.not_processed} not processed"
        return text

    @property
    def return_code(self) -> int:
        """``EXIT_INTERRUPTED`` if interrupted, else ``EXIT_ERROR`` if any input failed, else ``EXIT_OK``."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_ERROR if self.failed else EXIT_OK


# --- Ctrl-C --------------------------------------------------------------------------------------------


class CtrlC:
    """Owns SIGINT inside ``with`` (unless it is ignored, as under nohup, or this is not the main
    thread, where Ctrl-C stays a ``KeyboardInterrupt``).

    The first Ctrl-C only sets ``pressed``: the batch stops between files. A second one raises
    ``KeyboardInterrupt`` while a file is written in this process (see ``abandonable``), and is
    ignored otherwise. The handler runs no callback of anyone's.
    """

    def __init__(self) -> None:
        self._pressed = threading.Event()
        self._busy = False
        self._wake: threading.Event | None = None
        self._previous: Any = None

    @property
    def pressed(self) -> bool:
        """Whether Ctrl-C was pressed."""
        return self._pressed.is_set()

    def __enter__(self) -> CtrlC:
        try:
            if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # nohup, `cmd &`: stay ignored
                self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main thread
            pass
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._pressed.is_set():
            if self._busy:
                raise KeyboardInterrupt
            return
        self._pressed.set()
        if self._wake is not None:
            self._wake.set()

    @contextmanager
    def abandonable(self, on_first: Callable[[], None] | None = None) -> Iterator[None]:
        """While a file is written in this process: a second Ctrl-C abandons it. ``on_first`` is
        called once if the first Ctrl-C comes meanwhile, from a thread that waits for it (so that
        the caller can say so while the file is still being written)."""
        wake = self._wake = threading.Event()
        watcher = None
        if on_first is not None and not self.pressed:

            def watch() -> None:
                wake.wait()
                if self._busy:
                    on_first()

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
        self._busy = True
        try:
            yield
        finally:
            self._busy = False
            wake.set()
            self._wake = None
            if watcher is not None:
                watcher.join()


# --- strategies ----------------------------------------------------------------------------------------

#: Told when a Ctrl-C stops the batch with files still being written: True when a second Ctrl-C can
#: abandon the one being written (in this process), False with workers (who always finish theirs).
OnInterrupt = Callable[[bool], None]


class _Strategy(Protocol):
    def run(self, jobs: deque[Job], ctrl_c: CtrlC, on_interrupt: OnInterrupt | None) -> Iterator[Outcome]:
        """Yield an outcome per job, in job order, until the jobs run out or ``ctrl_c`` is pressed."""

    def close(self) -> None:
        """Let go of what ``run`` started (worker processes)."""


class _Serial:
    """Every file filtered in this process on ``threads`` threads, the first perhaps already being read."""

    def __init__(
        self, look: Look, settings: Settings, threads: int, first_reading: ImageReading | None
    ) -> None:
        self.look, self.settings, self.threads, self._reading = look, settings, threads, first_reading
        self._memory = PixelMemory()

    def run(self, jobs: deque[Job], ctrl_c: CtrlC, on_interrupt: OnInterrupt | None) -> Iterator[Outcome]:
        notice = None if on_interrupt is None else lambda: on_interrupt(True)
        while jobs and not ctrl_c.pressed:
            reading, self._reading = self._reading, None
            with ctrl_c.abandonable(notice):
                outcome = run_job(self.look, jobs[0], self.settings, reading, self.threads, self._memory)
            jobs.popleft()
            yield outcome

    def close(self) -> None:
        pass


class _Worker:
    """What a worker process keeps for every job: the look, the settings, the batch's stop flag,
    and the memory its photos are decoded into."""

    def __init__(self, look: Look, settings: Settings, stop: Any) -> None:
        self.look, self.settings, self.stop = look, settings, stop
        self.memory = PixelMemory()


_worker: _Worker | None = None  # per worker process, set by _init_worker (the pool's initializer)


def _init_worker(look: Look, settings: Settings, stop: Any) -> None:
    """Keep the look for every job of this worker; leave Ctrl-C to the main process.

    The main process decides what happens on Ctrl-C (it sets ``stop``, so queued jobs are not
    started, and waits for the files being written), so a terminal's SIGINT to the whole process
    group must not kill workers halfway.
    """
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = _Worker(look, settings, stop)


def _work(job: Job) -> Outcome:
    assert _worker is not None, "worker not initialised"
    if _worker.stop.is_set():
        return Outcome(job, cancelled=True)
    return run_job(_worker.look, job, _worker.settings, memory=_worker.memory)


def pool_context() -> multiprocessing.context.BaseContext:
    """The start method for workers: "fork" while this process runs no thread but its own, else
    "forkserver" where there is one, else "spawn".

    Forked workers start at once with the look and every module loaded (a fork server first
    imports nnfilter anew before the first file starts), and they inherit this process's
    open files; but a child forked beside other threads (tqdm's monitor, BLAS, a reader) could
    inherit a lock one of them holds. ``ProcessPoolExecutor`` forks all its workers before it starts
    a thread of its own since Python 3.10.5 (gh-90622); before, it forked them as jobs came.
    """
    import multiprocessing  # here, not at the top: a single file does without it

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and sys.version_info >= (3, 10, 5) and _no_other_threads():
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, "nnfilter.look"])  # workers start with all imported
        return context
    return multiprocessing.get_context("spawn")


def _no_other_threads() -> bool:
    """Whether this process runs no thread but the calling one, native threads included (as Linux's
    /proc lists them; False where it cannot tell)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


class _Pool:
    """Files filtered in ``workers`` processes, each given the look once; at most
    ``AHEAD_PER_WORKER * workers`` jobs are handed out ahead of the one waited for."""

    def __init__(self, look: Look, settings: Settings, workers: int) -> None:
        self.look, self.settings, self.workers = look, settings, workers
        self._pool: ProcessPoolExecutor | None = None
        self._stop_flag: Any = None  # the workers' multiprocessing.Event

    def run(self, jobs: deque[Job], ctrl_c: CtrlC, on_interrupt: OnInterrupt | None) -> Iterator[Outcome]:
        from concurrent.futures import wait

        pending: deque[tuple[Job, Future, ProcessPoolExecutor]] = deque()
        stopping = False

        def stop_if_pressed() -> None:
            """Start no more jobs: drop those not handed out, and let workers skip those queued."""
            nonlocal stopping
            if stopping or not ctrl_c.pressed:
                return
            stopping = True
            jobs.clear()
            if self._stop_flag is not None:
                self._stop_flag.set()
            for _, future, _ in pending:
                future.cancel()
            if on_interrupt is not None and pending:
                on_interrupt(False)

        while jobs or pending:
            stop_if_pressed()
            self._fill(jobs, pending)
            if not pending:  # a Ctrl-C before the first jobs were handed out: none to wait for
                break
            job, future, pool = pending[0]
            while not future.done():  # wake up now and then to notice a Ctrl-C
                wait([future], timeout=0.1)
                stop_if_pressed()
            outcome = None if future.cancelled() else self._result(job, future, pool)
            pending.popleft()
            if outcome is not None and not outcome.cancelled:
                yield outcome

    def close(self) -> None:
        """Shut the pool down, cancelling whatever was not started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _fill(self, jobs: deque[Job], pending: deque[tuple[Job, Future, ProcessPoolExecutor]]) -> None:
        if not jobs:
            return
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            context = pool_context()
            self._stop_flag = context.Event()
            look = self.look.shared_with_forks() if context.get_start_method() == "fork" else self.look
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(look, self.settings, self._stop_flag),
            )
        while jobs and len(pending) < AHEAD_PER_WORKER * self.workers:
            job = jobs.popleft()
            pending.append((job, self._pool.submit(_work, job), self._pool))

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


def run_batch(
    look: Look,
    jobs: Sequence[Job],
    settings: Settings,
    report: Report,
    workers: int = 1,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_interrupt: OnInterrupt | None = None,
    first_reading: ImageReading | None = None,
) -> None:
    """Run the jobs into ``report``, calling ``on_outcome`` after each is counted.

    A single job is filtered in this process, its strips on ``workers`` threads; with ``workers``
    == 1 every file is, on one thread; otherwise files are filtered in a pool of that many
    processes, one thread each. The first file filtered here is read from ``first_reading`` if given. The first Ctrl-C stops
    the batch between files: no job is started after it, the files being written are finished and
    counted, and ``report.interrupted`` is set, so every output on disk is complete. In this process,
    a second Ctrl-C abandons the file being written (its temporary file is removed); workers always
    finish theirs. ``on_interrupt`` is told when the batch starts waiting for files being written.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    strategy: _Strategy
    if len(jobs) == 1:
        strategy = _Serial(look, settings, workers, first_reading)
    elif workers == 1:
        strategy = _Serial(look, settings, 1, first_reading)
    else:
        strategy = _Pool(look, settings, workers)
    with CtrlC() as ctrl_c:
        try:
            for outcome in strategy.run(deque(jobs), ctrl_c, on_interrupt):
                report.add(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
        except KeyboardInterrupt:  # a second Ctrl-C, or one where SIGINT could not be owned
            report.interrupted = True
        finally:
            strategy.close()
    report.interrupted = report.interrupted or ctrl_c.pressed
