"""nnfilter and its peers: each learns from runs of (before, after) pairs and maps colours."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nnfilter import TrainConfig, learn_look
from nnfilter.images import open_image

from .data import ROOT, log, read_photo
from .photos import as_rows, to_uint8
from .plan import Step

BASELINE_COMMIT = "807222c"
BASELINE_TREE = ROOT / "benchmarks" / "work" / f"baseline-{BASELINE_COMMIT}"
SKLEARN_PIXELS = 20_000
GMIC_CLUT = "2,4,{folder},{name},50"  # save as PNG, 64³, into folder/name, colour samples' influence 50%
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # each worker one core

Pairs = list[tuple[np.ndarray, np.ndarray]]


@dataclass
class Fit:
    """A method's output for the colours it was asked to map, its training time, its unseen share."""

    outputs: np.ndarray
    seconds: float
    unseen_share: Callable[[np.ndarray], float | None] = lambda pixels: None


@dataclass(frozen=True)
class Context:
    """What a method may need besides the pairs: the training options, a scratch folder."""

    options: dict
    step: Step
    folder: Path
    jpegs: dict[str, bytes]  # the JPEG AFTER files of the training photos, by name

    @property
    def config(self) -> TrainConfig:
        return TrainConfig(**{**self.options, **dict(self.step.overrides)})


def fit_nnfilter(runs: list[Pairs], colours: np.ndarray, context: Context) -> list[Fit]:
    """This checkout's nnfilter, with the options given on the command line; a JPEG AFTER read
    from its file as ``nnfilter train`` reads it."""
    fits = []
    for training, pairs in zip(context.step.trainings, runs, strict=True):
        start = time.perf_counter()
        if context.step.after == "JPEG":
            pairs = [
                (before, jpeg_after(context, name)) for (before, _), name in zip(pairs, training, strict=True)
            ]
        look, _ = learn_look(pairs, context.config)
        seconds = time.perf_counter() - start
        fits.append(Fit(look.apply(colours), seconds, look.unseen_share))
    return fits


def jpeg_after(context: Context, name: str) -> Image.Image:
    """A training photo's JPEG AFTER, written to a file and opened as ``nnfilter train`` opens it."""
    path = context.folder / f"{name}-after.jpg"
    path.write_bytes(context.jpegs[name])
    return open_image(path, jpeg_ycbcr=True)


def stacked(pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """All pairs' before and after pixels in two (n, 3) arrays."""
    return tuple(np.concatenate([p.reshape(-1, 3) for p in side]) for side in zip(*pairs, strict=True))


def fit_sklearn(runs: list[Pairs], colours: np.ndarray, context: Context) -> list[Fit]:
    """scikit-learn's MLPRegressor, hidden (16, 16), otherwise defaults, on a random pixel sample."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    seed = context.config.seed
    fits = []
    for pairs in runs:
        before, after = stacked(pairs)
        pick = np.random.default_rng(seed).choice(
            len(before), min(SKLEARN_PIXELS, len(before)), replace=False
        )
        model = MLPRegressor(hidden_layer_sizes=(16, 16), random_state=seed)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(before[pick] / 255, after[pick] / 255)
        seconds = time.perf_counter() - start
        fits.append(Fit(to_uint8(model.predict(colours / 255)), seconds))
    return fits


def fit_affine(runs: list[Pairs], colours: np.ndarray, context: Context | None) -> list[Fit]:
    """A 3×4 affine map (RGB and 1 → RGB) fitted by least squares to all pixels (``context`` is
    not needed: ``distance`` calls it without one)."""
    fits = []
    for pairs in runs:
        before, after = stacked(pairs)
        start = time.perf_counter()
        design = np.column_stack([before / 255, np.ones(len(before))])
        matrix, *_ = np.linalg.lstsq(design, after / 255, rcond=None)
        seconds = time.perf_counter() - start
        fits.append(Fit(to_uint8(np.column_stack([colours / 255, np.ones(len(colours))]) @ matrix), seconds))
    return fits


def gmic(*args: str) -> None:
    """Run G'MIC quietly, raising on failure."""
    subprocess.run(
        ["gmic", "-v", "-1", *args], check=True, capture_output=True, env={**os.environ, **WORKER_ENV}
    )


def fit_gmic(runs: list[Pairs], colours: np.ndarray, context: Context) -> list[Fit]:
    """G'MIC's "CLUT from After - Before Layers": ``gmic after before fx_clut_from_ab`` makes a 64³
    CLUT from the pair (colours it did not see fall back towards identity), ``map_clut`` applies it."""
    folder = context.folder
    Image.fromarray(as_rows(colours)).save(folder / "colours.png")
    fits = []
    for i, pairs in enumerate(runs):
        ((before, after),) = pairs
        Image.fromarray(before).save(folder / "before.png")
        Image.fromarray(after).save(folder / "after.png")
        start = time.perf_counter()
        gmic(
            str(folder / "after.png"),
            str(folder / "before.png"),
            "fx_clut_from_ab",
            GMIC_CLUT.format(folder=folder, name=f"clut{i}.png"),
        )
        seconds = time.perf_counter() - start
        gmic(
            str(folder / "colours.png"),
            str(folder / f"clut{i}.png"),
            "map_clut[0]",
            "[1]",
            "round[0]",
            "cut[0]",
            "0,255",
            "output[0]",
            str(folder / "mapped.png"),
        )
        fits.append(Fit(read_photo(folder / "mapped.png").reshape(-1, 3)[: len(colours)], seconds))
    return fits


BASELINE_SCRIPT = """
import json, sys, time
from pathlib import Path
import numpy as np
import nnfilter
from nnfilter import TrainConfig, learn_look

folder = Path(sys.argv[1])
job = json.loads((folder / "job.json").read_text())
if not Path(nnfilter.__file__).resolve().is_relative_to(Path(job["tree"]).resolve()):
    sys.exit(f"the baseline imported {nnfilter.__file__}, not the worktree's")
colours = np.load(folder / "colours.npy")
for i, files in enumerate(job["runs"]):
    pairs = [(np.load(folder / before), np.load(folder / after)) for before, after in files]
    start = time.perf_counter()
    look, _ = learn_look(pairs, TrainConfig(seed=job["seed"]))
    (folder / f"seconds{i}.txt").write_text(str(time.perf_counter() - start))
    np.save(folder / f"out{i}.npy", look.apply(colours))
"""


def baseline_tree() -> Path:
    """A git worktree of ``BASELINE_COMMIT`` in benchmarks/work (made once)."""
    if not (BASELINE_TREE / "nnfilter").is_dir():
        log(f"making a worktree of {BASELINE_COMMIT} in {BASELINE_TREE.relative_to(ROOT)}")
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(BASELINE_TREE), BASELINE_COMMIT],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=BASELINE_TREE, check=True, capture_output=True, text=True
    ).stdout
    if not head.startswith(BASELINE_COMMIT):
        raise RuntimeError(f"{BASELINE_TREE} is at {head[:7]}, not {BASELINE_COMMIT}")
    return BASELINE_TREE


def fit_baseline(runs: list[Pairs], colours: np.ndarray, context: Context) -> list[Fit]:
    """nnfilter's defaults at ``BASELINE_COMMIT`` (with the same seed), in one subprocess for all runs."""
    folder = context.folder
    np.save(folder / "colours.npy", colours)
    files = []
    for i, pairs in enumerate(runs):
        files.append([])
        for j, (before, after) in enumerate(pairs):
            names = (f"before{i}_{j}.npy", f"after{i}_{j}.npy")
            np.save(folder / names[0], before)
            np.save(folder / names[1], after)
            files[-1].append(names)
    job = {"tree": str(BASELINE_TREE), "seed": context.config.seed, "runs": files}
    (folder / "job.json").write_text(json.dumps(job))
    env = {**os.environ, **WORKER_ENV, "PYTHONPATH": str(BASELINE_TREE)}
    subprocess.run(
        [sys.executable, "-c", BASELINE_SCRIPT, str(folder)], cwd=BASELINE_TREE, env=env, check=True
    )
    return [
        Fit(np.load(folder / f"out{i}.npy"), float((folder / f"seconds{i}.txt").read_text()))
        for i in range(len(runs))
    ]


METHODS: dict[str, Callable[[list[Pairs], np.ndarray, Context], list[Fit]]] = {
    "nnfilter": fit_nnfilter,
    "gmic": fit_gmic,
    "sklearn": fit_sklearn,
    "affine": fit_affine,
    "baseline": fit_baseline,
}
