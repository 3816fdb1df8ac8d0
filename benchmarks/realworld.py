"""How right a learned look is on real photos it was not trained on, with looks made by people.

    python -m benchmarks.realworld            all peers, JPEG and lossless AFTERs, one and three pairs
    python -m benchmarks.realworld --quick    nnfilter with JPEG AFTERs and one pair only (a few minutes)
    python -m benchmarks.realworld --sizes    also nnfilter with --hidden 32,32 and 64,64 (slow)

    --looks dk-punch,pg-lark   --peers gmic,sklearn,affine,baseline | all | none   --json PATH
    --workers 2   and every TrainConfig field as an option: --hidden 32,32 --epochs 50 --no-residual ...

Looks: digiKam's nine 16³ colour LUTs and the global (per-pixel) Instagram-style filters of pilgram.
Photos: the 12 nature photos of Debian's mate-backgrounds and the 5 sample photos, ~1 MP each. See
``benchmarks.realworld_data`` (which fetches and caches them) and benchmarks/README.md.

Each look is learnt from one photo and its exact look saved as a JPEG (quality 90, 4:2:0) and read
back ("JPEG"), or kept exact ("lossless"), for each of the training photos in ``TRAINING`` (the
coffee cup's narrow warm colours among them); and from the three pairs at once ("three pairs"). The
learnt look is applied to every photo of the set it was not trained on and compared with that
photo's exact look: mean and 99th percentile of CIEDE2000 over the pixels, and the share of pixels
in colours the training pairs never showed (``Look.unseen_share``). Peers learn from the same
BEFORE / JPEG AFTER pair and are scored alike: G'MIC's CLUT from a before/after pair, scikit-learn's
MLPRegressor, a 3×4 affine least-squares fit, and this project's defaults at ``BASELINE_COMMIT``.

Every method here is a per-pixel colour map, so each is applied to the photos' distinct colours
and the figures weigh colours by their pixel counts: the same numbers as over the pixels, at a
fraction of the cost. Markdown tables go to stdout (and benchmarks/work/realworld/last_run.md),
progress to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import types
import typing
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

import nnfilter
from nnfilter import TrainConfig, learn_look
from nnfilter.colour import delta_e00

from .realworld_data import (
    CACHE,
    GLOBAL_TOLERANCE,
    ROOT,
    log,
    look_function,
    look_names,
    package_version,
    photo_paths,
    pilgram_verdicts,
    read_photo,
)

TRAINING = ("test1", "TwoWings", "LadyBird")  # the coffee cup (narrow warm colours), two outdoor photos
PEERS = ("gmic", "sklearn", "affine", "baseline")
SIZES = ((32, 32), (64, 64))
BASELINE_COMMIT = "807222c"
BASELINE_TREE = ROOT / "benchmarks" / "work" / f"baseline-{BASELINE_COMMIT}"
REPORT = CACHE / "last_run.md"
JPEG_QUALITY = 90
SKLEARN_PIXELS = 20_000
GMIC_CLUT = "2,4,{folder},{name},50"  # save as PNG, 64³, into folder/name, colour samples' influence 50%
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # each worker one core

Pairs = list[tuple[np.ndarray, np.ndarray]]


# --- photos and scores --------------------------------------------------------------------------------


@dataclass
class Photo:
    """A photo, with the index of the first pixel of each of its distinct colours and their counts."""

    name: str
    pixels: np.ndarray
    first: np.ndarray
    counts: np.ndarray

    @classmethod
    def read(cls, name: str, path: Path) -> Photo:
        pixels = read_photo(path)
        flat = pixels.reshape(-1, 3).astype(np.uint32)
        keys = flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2]
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        return cls(name, pixels, first, counts)

    def colours(self, image: np.ndarray | None = None) -> np.ndarray:
        """The photo's distinct colours (n, 3), or those pixels of ``image``, a filtered copy of it."""
        return (self.pixels if image is None else image).reshape(-1, 3)[self.first]


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value whose share of the weight at or below it is at least ``q``: the percentile
    of the pixels (inverted CDF) when values are per colour and weights their pixel counts."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order[np.searchsorted(cumulative, q * cumulative[-1])]])


def colour_scores(predicted: np.ndarray, exact: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Mean and 99th-percentile ΔE00 over a photo's pixels, from its colours and their counts."""
    de = delta_e00(predicted, exact)
    return float(de @ counts / counts.sum()), weighted_quantile(de, counts, 0.99)


def jpeg_roundtrip(pixels: np.ndarray) -> np.ndarray:
    """Pixels saved as a JPEG at ``JPEG_QUALITY`` with 4:2:0 chroma (Pillow's default) and read back."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling="4:2:0")
    return np.asarray(Image.open(buffer).convert("RGB"))


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (or beyond) as uint8 levels, rounded and clipped."""
    return np.clip(np.rint(unit * 255), 0, 255).astype(np.uint8)


def as_rows(colours: np.ndarray, width: int = 1024) -> np.ndarray:
    """Colours (n, 3) as the rows of an image ``width`` wide, the last row padded with black."""
    rows = -(-len(colours) // width)
    image = np.zeros((rows * width, 3), dtype=np.uint8)
    image[: len(colours)] = colours
    return image.reshape(rows, width, 3)


# --- methods: each learns from runs of (before, after) pairs and maps colours -------------------------


@dataclass
class Fit:
    """A method's output for the colours it was asked to map, its training time, its unseen share."""

    outputs: np.ndarray
    seconds: float
    unseen_share: Callable[[np.ndarray], float | None] = lambda pixels: None


@dataclass(frozen=True)
class Step:
    """One method on one kind of AFTER, for each of its trainings (tuples of training photos)."""

    method: str
    after: str  # "JPEG" or "lossless"
    trainings: tuple[tuple[str, ...], ...]
    overrides: tuple[tuple[str, object], ...] = ()  # TrainConfig fields, for nnfilter

    @property
    def label(self) -> str:
        hidden = dict(self.overrides).get("hidden")
        return self.method if hidden is None else f"{self.method} {','.join(map(str, hidden))}"

    def describe(self) -> str:
        pairs = "one pair" if len(self.trainings[0]) == 1 else f"{len(self.trainings[0])} pairs"
        return f"{self.label} ({self.after} AFTER, {pairs})"


@dataclass(frozen=True)
class Context:
    """What a method may need besides the pairs: the training options, a scratch folder."""

    options: dict
    step: Step
    folder: Path

    @property
    def config(self) -> TrainConfig:
        return TrainConfig(**{**self.options, **dict(self.step.overrides)})


def fit_nnfilter(runs: list[Pairs], colours: np.ndarray, context: Context) -> list[Fit]:
    """This checkout's nnfilter, with the options given on the command line."""
    fits = []
    for pairs in runs:
        start = time.perf_counter()
        look, _ = learn_look(pairs, context.config)
        seconds = time.perf_counter() - start
        fits.append(Fit(look.apply(colours), seconds, look.unseen_share))
    return fits


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


def fit_affine(runs: list[Pairs], colours: np.ndarray, context: Context) -> list[Fit]:
    """A 3×4 affine map (RGB and 1 → RGB) fitted by least squares to all pixels."""
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


# --- one look, in a worker process --------------------------------------------------------------------


@dataclass
class PhotoSet:
    """The photos, and all their distinct colours in a row (photo k's are ``colours[bounds[k]:bounds[k+1]]``)."""

    photos: dict[str, Photo]
    colours: np.ndarray
    bounds: np.ndarray

    @classmethod
    def read(cls, paths: dict[str, Path]) -> PhotoSet:
        photos = {name: Photo.read(name, path) for name, path in paths.items()}
        colours = np.concatenate([photo.colours() for photo in photos.values()])
        return cls(photos, colours, np.cumsum([0] + [len(photo.counts) for photo in photos.values()]))

    def split(self, outputs: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs for ``colours``, by photo."""
        return {name: outputs[self.bounds[k] : self.bounds[k + 1]] for k, name in enumerate(self.photos)}


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
    afters = {"lossless": exact, "JPEG": {name: jpeg_roundtrip(image) for name, image in exact.items()}}
    records = []
    for step in task.steps:
        runs = [
            [(photos.photos[t].pixels, afters[step.after][t]) for t in training]
            for training in step.trainings
        ]
        with tempfile.TemporaryDirectory(prefix="nnfilter-realworld-") as folder:
            fits = METHODS[step.method](runs, photos.colours, Context(task.options, step, Path(folder)))
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


# --- plan, options ------------------------------------------------------------------------------------


def plan_steps(quick: bool, sizes: bool, peers: Sequence[str]) -> tuple[Step, ...]:
    """The steps of a run: nnfilter JPEG one pair always; lossless and three pairs unless quick."""
    one = tuple((t,) for t in TRAINING)
    steps = [Step("nnfilter", "JPEG", one)]
    if not quick:
        steps += [Step("nnfilter", "lossless", one), Step("nnfilter", "JPEG", (TRAINING,))]
    if sizes:
        steps += [Step("nnfilter", "JPEG", one, (("hidden", list(size)),)) for size in SIZES]
    steps += [Step(peer, "JPEG", one) for peer in peers]
    return tuple(steps)


def option_type(kind: object) -> Callable[[str], object]:
    """How to parse a command-line value for a TrainConfig field of type ``kind``."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (types.UnionType, typing.Union) and len(args) == 1:
        return option_type(args[0])
    if typing.get_origin(kind) is list and args in ([int], [float], [str]):
        return lambda text: [args[0](x) for x in text.split(",")]
    if kind in (int, float, str):
        return kind
    raise TypeError(f"TrainConfig field of type {kind}: teach benchmarks.realworld.option_type to parse it")


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field (so new fields come with no change here), default: unset."""
    group = parser.add_argument_group("training options (TrainConfig fields; nnfilter only, but --seed all)")
    hints = typing.get_type_hints(TrainConfig)
    defaults = TrainConfig()
    for field in (f for f in dataclasses.fields(TrainConfig) if f.init):
        flag = "--" + field.name.replace("_", "-")
        text = f"default {getattr(defaults, field.name)}"
        if hints[field.name] is bool:
            group.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, help=text)
        else:
            group.add_argument(flag, dest=field.name, type=option_type(hints[field.name]), help=text)


def listed(text: str | None, known: Sequence[str], what: str) -> list[str]:
    """A comma list ('all' and 'none' allowed) checked against ``known``."""
    if text in (None, "all"):
        return list(known)
    if text == "none":
        return []
    names = text.split(",")
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


# --- tables -------------------------------------------------------------------------------------------


def select(records: Iterable[dict], **match: object) -> list[dict]:
    return [r for r in records if all(r[k] == v for k, v in match.items())]


def average(records: Sequence[dict], key: str) -> float | None:
    values = [r[key] for r in records if r[key] is not None]
    return float(np.mean(values)) if values else None


def cell(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table, less the columns this run measured nothing for (all "—")."""
    rows = [list(row) for row in rows]
    keep = [i for i in range(len(header)) if i == 0 or any(row[i] != "—" for row in rows)]
    return [
        "| " + " | ".join(header[i] for i in keep) + " |",
        "|---" + "|---:" * (len(keep) - 1) + "|",
        *("| " + " | ".join(row[i] for i in keep) + " |" for row in rows),
    ]


NNFILTER_RUNS = {
    "JPEG": {"method": "nnfilter", "after": "JPEG", "pairs": "one"},
    "lossless": {"method": "nnfilter", "after": "lossless", "pairs": "one"},
    "3 pairs": {"method": "nnfilter", "after": "JPEG", "pairs": "three"},
}


def others(records: list[dict]) -> list[str]:
    """The labels of the methods other than nnfilter's default run, in the order run."""
    return list(dict.fromkeys(r["method"] for r in records if r["method"] != "nnfilter"))


def look_tables(records: list[dict], looks: Sequence[str]) -> list[str]:
    """Per look: nnfilter's figures, then every method's mean (p99) with the JPEG AFTER, one pair."""
    rows, peer_rows = [], []
    peers = others(records)
    for name in [*looks, None]:
        scope = records if name is None else select(records, look=name)
        label = "**mean over looks**" if name is None else name
        row = [label]
        for runs in NNFILTER_RUNS.values():
            chosen = select(scope, **runs)
            row += [cell(average(chosen, "mean")), cell(average(chosen, "p99"))]
        jpeg = select(scope, **NNFILTER_RUNS["JPEG"])
        rows.append(row + [share(average(jpeg, "unseen")), cell(average(jpeg, "train_s"))])
        peer_rows.append(
            [label]
            + [
                f"{cell(average(chosen, 'mean'))} ({cell(average(chosen, 'p99'), 1)})"
                for chosen in (
                    select(scope, method=m, after="JPEG", pairs="one") for m in ["nnfilter", *peers]
                )
            ]
        )
    train_s = [
        cell(average(select(records, method=m, after="JPEG", pairs="one"), "train_s"))
        for m in ["nnfilter", *peers]
    ]
    peer_rows.append(["train s (mean)", *train_s])
    return [
        "### Per look: nnfilter",
        "",
        "Mean over the training photos and the held-out photos of each photo's mean and p99 ΔE00; unseen: "
        "share of held-out pixels in colours the training pair never showed (one pair; it depends on the "
        "photos, not the look); train s: seconds per training (one pair, JPEG).",
        "",
        *table(
            [
                "look",
                "JPEG mean",
                "JPEG p99",
                "lossless mean",
                "lossless p99",
                "3 pairs mean",
                "3 pairs p99",
                "unseen",
                "train s",
            ],
            rows,
        ),
        "",
        "### Per look: nnfilter and peers (one pair, JPEG AFTER)",
        "",
        "Mean ΔE00 (p99), averaged as above.",
        "",
        *table(["look", "nnfilter", *peers], peer_rows),
    ]


def photo_table(records: list[dict], title: str, key: str, names: Sequence[str]) -> list[str]:
    """Per held-out photo (``key`` 'photo') or per training photo ('training'), over every look."""
    peers = others(records)
    rows = []
    for name in names:
        scope = select(records, **{key: name})
        jpeg = select(scope, **NNFILTER_RUNS["JPEG"])
        if not jpeg:
            continue
        rows.append(
            [
                name,
                cell(average(jpeg, "mean")),
                cell(average(jpeg, "p99")),
                cell(max(r["mean"] for r in jpeg)),
                share(average(jpeg, "unseen")),
                cell(average(select(scope, **NNFILTER_RUNS["lossless"]), "mean")),
                cell(average(select(scope, **NNFILTER_RUNS["3 pairs"]), "mean")),
                *(cell(average(select(scope, method=m, after="JPEG", pairs="one"), "mean")) for m in peers),
            ]
        )
    return [
        title,
        "",
        *table(
            [
                key,
                "JPEG mean",
                "JPEG p99",
                "JPEG worst mean",
                "unseen",
                "lossless mean",
                "3 pairs mean",
                *(f"{m} mean" for m in peers),
            ],
            rows,
        ),
    ]


# --- targets ------------------------------------------------------------------------------------------


def verdict(text: str, met: bool | None, measured: str) -> str:
    state = "not measured" if met is None else "met" if met else "not met"
    return f"- {text}: **{state}**" + (f" ({measured})" if measured else "")


def per_look(records: list[dict], looks: Sequence[str], **match: object) -> dict[str, float]:
    """Each look's mean ΔE00 over the records that match (looks with none left out)."""
    means = {name: average(select(records, look=name, **match), "mean") for name in looks}
    return {name: value for name, value in means.items() if value is not None}


def worst(means: dict[str, float]) -> str:
    name = max(means, key=means.get)
    return f"worst {name} {means[name]:.2f}"


def targets(records: list[dict], looks: Sequence[str]) -> list[str]:
    """The targets, each met / not met with the figures measured."""
    jpeg = per_look(records, looks, **NNFILTER_RUNS["JPEG"])
    lines = [
        verdict("one pair, JPEG AFTER: mean ΔE00 < 1.5 on every look", max(jpeg.values()) < 1.5, worst(jpeg)),
        verdict(
            "one pair, JPEG AFTER: mean ΔE00 < 1.0 averaged over looks",
            np.mean(list(jpeg.values())) < 1.0,
            f"{np.mean(list(jpeg.values())):.3f}",
        ),
    ]
    runs = select(records, **NNFILTER_RUNS["JPEG"])
    top = max(runs, key=lambda r: r["mean"])
    above = sum(r["mean"] > 3.0 for r in runs)
    lines.append(
        verdict(
            "one pair, JPEG AFTER: no held-out photo's mean ΔE00 above 3.0 (any look, any training photo)",
            above == 0,
            f"{above} of {len(runs)} above; worst {top['photo']} with "
            f"{top['look']} trained on {top['training']}: {top['mean']:.2f}",
        )
    )
    three = per_look(records, looks, **NNFILTER_RUNS["3 pairs"])
    lines.append(
        verdict(
            "three pairs, JPEG AFTERs: mean ΔE00 < 1.0 on every look",
            max(three.values()) < 1.0 if three else None,
            worst(three) if three else "",
        )
    )
    lossless = per_look(records, looks, **NNFILTER_RUNS["lossless"])
    if lossless:
        gaps = {name: jpeg[name] - lossless[name] for name in lossless}
        far = max(gaps, key=lambda n: abs(gaps[n]))
        lines.append(
            verdict(
                "JPEG AFTER within 0.3 ΔE00 of the lossless AFTER, look by look",
                abs(gaps[far]) <= 0.3,
                f"largest gap {far}: {gaps[far]:+.2f}, mean gap {np.mean(list(gaps.values())):+.3f}",
            )
        )
    else:
        lines.append(verdict("JPEG AFTER within 0.3 ΔE00 of the lossless AFTER, look by look", None, ""))
    default = np.mean(list(jpeg.values()))
    for size in SIZES:
        label = f"nnfilter {','.join(map(str, size))}"
        sized = per_look(records, looks, method=label, after="JPEG", pairs="one")
        text = f"--hidden {','.join(map(str, size))} not worse than the default by more than 0.2, over looks"
        if sized:
            gap = np.mean(list(sized.values())) - default
            lines.append(
                verdict(text, gap <= 0.2, f"{np.mean(list(sized.values())):.3f} vs {default:.3f}: {gap:+.3f}")
            )
        else:
            lines.append(verdict(text, None, "run with --sizes"))
    peers = [m for m in others(records) if not m.startswith("nnfilter")]
    if peers:
        beaten = {m: per_look(records, looks, method=m, after="JPEG", pairs="one") for m in peers}
        lost = {m: [n for n in jpeg if jpeg[n] >= beaten[m][n]] for m in peers}
        wins = ", ".join(f"{m} {len(jpeg) - len(lost[m])}/{len(jpeg)}" for m in peers)
        details = []
        for m, names in lost.items():
            ties = sum(jpeg[n] == beaten[m][n] for n in names)
            if len(names) > 6:
                details.append(f"vs {m}: {len(names)} looks, {ties} of them ties")
            elif names:
                details.append(
                    f"vs {m}: " + ", ".join(f"{n} {jpeg[n]:.2f} ≥ {beaten[m][n]:.2f}" for n in names)
                )
        lines.append(
            verdict(
                "better than every peer on every look (one pair, JPEG AFTER)",
                not details,
                f"looks won: {wins}" + (f"; not better {'; '.join(details)}" if details else ""),
            )
        )
    else:
        lines.append(verdict("better than every peer on every look", None, "no peers run"))
    return lines


# --- the run ------------------------------------------------------------------------------------------


def code_version() -> str:
    """The commit, and which files of nnfilter/ had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--", "nnfilter").splitlines()]
    suffix = f", with uncommitted changes: {', '.join(changed)}" if changed else ""
    return f"commit {git('rev-parse', '--short', 'HEAD').strip()}{suffix}"


def code_digest() -> str:
    """A digest of the nnfilter package's files as they are now, to tell whether they change during a run."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted(Path(nnfilter.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:8]


def tool_versions(peers: Sequence[str]) -> str:
    """The versions of the data packages and the peers' tools."""
    import pilgram

    parts = [
        package_version("digikam-data"),
        package_version("mate-backgrounds"),
        f"pilgram {pilgram.__version__}",
    ]
    if "gmic" in peers:
        out = subprocess.run(["gmic", "-version"], capture_output=True, text=True).stdout
        version = re.search(r"Version (\d[\d.]*)", re.sub(r"\x1b\[[\d;]*m", "", out))
        parts.append(f"G'MIC {version.group(1) if version else '?'}")
    if "sklearn" in peers:
        import sklearn

        parts.append(f"scikit-learn {sklearn.__version__}")
    return ", ".join(parts)


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


def report(records: list[dict], looks: Sequence[str], photos: Sequence[str], header: list[str]) -> str:
    """The Markdown report: header, targets, tables."""
    return (
        "\n".join(
            [
                *header,
                "",
                "### Targets",
                "",
                *targets(records, looks),
                "",
                *look_tables(records, looks),
                "",
                *photo_table(
                    records,
                    "### Per held-out photo (over looks and the training photos it was held out from)",
                    "photo",
                    photos,
                ),
                "",
                *photo_table(
                    records, "### Per training photo (over looks and held-out photos)", "training", TRAINING
                ),
            ]
        )
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="nnfilter, JPEG AFTER, one pair only (no peers unless --peers names some)",
    )
    parser.add_argument("--sizes", action="store_true", help="also nnfilter with --hidden 32,32 and 64,64")
    parser.add_argument(
        "--peers", help=f"comma list of {', '.join(PEERS)}, or all / none (default all, none with --quick)"
    )
    parser.add_argument(
        "--looks",
        help="comma list of looks (default all: dk-NAME for digiKam's LUTs, "
        "pg-NAME for pilgram's global filters; the report's header lists them)",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--json", type=Path, help="write every record (and the report) here")
    add_train_options(parser)
    args = parser.parse_args()
    options = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if getattr(args, f.name, None) is not None
    }

    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    paths = photo_paths()
    all_looks = look_names()
    looks = listed(args.looks, all_looks, "looks")
    peers = listed(args.peers if args.peers or not args.quick else "none", PEERS, "peers")
    if "baseline" in peers:
        baseline_tree()
    steps = plan_steps(args.quick, args.sizes, peers)
    code, digest = code_version(), code_digest()
    log(f"{len(looks)} looks × {len(steps)} steps, {len(paths)} photos, {args.workers} workers")
    records = run_all([Task(name, steps, options) for name in looks], paths, args.workers)
    order = {name: i for i, name in enumerate(looks)}
    records.sort(key=lambda r: order[r["look"]])

    changed = code_digest() != digest
    if changed:
        log("warning: nnfilter's files changed during the run: its figures may mix versions")
    verdicts = pilgram_verdicts()
    dropped = ", ".join(f"{n} ({d})" for n, d in verdicts.items() if f"pg-{n}" not in all_looks)
    header = [
        f"## Real-world looks: `python -m benchmarks.realworld{' ' if sys.argv[1:] else ''}"
        f"{shlex.join(sys.argv[1:])}`",
        "",
        f"- {when}; {(time.perf_counter() - started) / 60:.1f} min on {args.workers} workers "
        f"(`nproc` = {os.cpu_count()}; load average {load_at_start:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end: train s figures are as noisy as the machine is busy)",
        f"- code: {code} (nnfilter imported from {Path(nnfilter.__file__).parent}, files digest {digest}"
        + (
            f"; **they changed during the run, to {code_digest()}: the figures may mix versions**)"
            if changed
            else ", unchanged during the run)"
        )
        + f"; options: {options or 'defaults'}; baseline: defaults at {BASELINE_COMMIT}",
        f"- data: {tool_versions(peers)}",
        f"- looks ({len(looks)}): {', '.join(looks)}; pilgram filters left out as not global "
        f"(max level change under the shuffle test): {dropped}",
        f"- photos ({len(paths)}, ~1 MP): {', '.join(paths)}; trained on {', '.join(TRAINING)} (see steps), "
        "each scored on every photo it was not trained on",
        f"- steps: {', '.join(s.describe() for s in steps)}",
    ]
    text = report(records, looks, list(paths), header)
    print(text)
    REPORT.write_text(text)
    log(f"report written to {REPORT.relative_to(ROOT)}")
    if args.json:
        args.json.write_text(
            json.dumps({"header": header, "records": records, "report": text}, indent=1) + "\n"
        )
        log(f"records written to {args.json}")


if __name__ == "__main__":
    main()
