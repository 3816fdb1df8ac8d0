"""One look in a worker process (every step, scored on every held-out photo), and the pool of workers.

The pool spawns its workers, so what they run (``load_photos``, ``run_look``) is at module level here.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import GLOBAL_TOLERANCE, log, look_function
from .methods import METHODS, WORKER_ENV, Context
from .photos import PhotoSet, as_rows, colour_scores, decoded, jpeg_file
from .plan import TRAINING, Step

WORKER: dict[str, PhotoSet] = {}  # the photo set, read once by each worker process (``load_photos``)


def load_photos(paths: dict[str, Path]) -> None:
    """Worker initializer: read the photo set and their distinct colours."""
    WORKER["set"] = PhotoSet.read(paths)


def look_on_colours(look: Callable[[np.ndarray], np.ndarray], colours: np.ndarray) -> np.ndarray:
    """A per-pixel look applied to colours (n, 3), laid out as the rows of an image."""
    return look(as_rows(colours)).reshape(-1, 3)[: len(colours)]


def exact_looks(look: Callable[[np.ndarray], np.ndarray], photos: PhotoSet) -> tuple[dict, dict]:
    """The exact look of every photo's colours, and of the training photos' pixels, checked to agree."""
    targets = photos.split(look_on_colours(look, photos.colours))
    exact = {name: look(photos.photos[name].pixels) for name in TRAINING}
    for name, image in exact.items():
        gap = np.abs(photos.photos[name].colours(image).astype(np.int16) - targets[name]).max()
        if gap > GLOBAL_TOLERANCE:
            raise RuntimeError(f"the look is not a per-pixel map: {gap} levels apart on {name}")
    return targets, exact


@dataclass(frozen=True)
class Task:
    look: str
    steps: tuple[Step, ...]
    options: dict


def run_look(task: Task) -> list[dict]:
    """Every step for one look: one record per (step, training, held-out photo)."""
    photos = WORKER["set"]
    targets, exact = exact_looks(look_function(task.look), photos)
    jpegs = {name: jpeg_file(image) for name, image in exact.items()}
    afters = {"lossless": exact, "JPEG": {name: decoded(jpeg) for name, jpeg in jpegs.items()}}
    records = []
    for step in task.steps:
        runs = [
            [(photos.photos[t].pixels, afters[step.after][t]) for t in training]
            for training in step.trainings
        ]
        with tempfile.TemporaryDirectory(prefix="nnfilter-realworld-") as folder:
            context = Context(task.options, step, Path(folder), jpegs)
            fits = METHODS[step.method](runs, photos.colours, context)
        for training, fit in zip(step.trainings, fits, strict=True):
            for name, outputs in photos.split(fit.outputs).items():
                if name in training:
                    continue
                photo = photos.photos[name]
                mean, p99 = colour_scores(outputs, targets[name], photo.counts)
                records.append(
                    {
                        "look": task.look,
                        "method": step.label,
                        "after": step.after,
                        "pairs": "one" if len(training) == 1 else "three",
                        "training": "+".join(training),
                        "photo": name,
                        "mean": mean,
                        "p99": p99,
                        "unseen": fit.unseen_share(photo.pixels),
                        "train_s": fit.seconds,
                    }
                )
    return records


def run_all(tasks: list[Task], paths: dict[str, Path], workers: int) -> list[dict]:
    """Every task on a pool of worker processes (one core each), in completion order."""
    import multiprocessing

    os.environ.update(WORKER_ENV)  # the spawned workers start with it, before numpy loads
    records = []
    with multiprocessing.get_context("spawn").Pool(workers, load_photos, (paths,)) as pool:
        start = time.perf_counter()
        for done, result in enumerate(pool.imap_unordered(run_look, tasks), 1):
            records += result
            log(f"{result[0]['look']} done ({done}/{len(tasks)}, {time.perf_counter() - start:.0f} s)")
    return records
