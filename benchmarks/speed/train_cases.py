"""Training: the whole command against its target, quality against time, scikit-learn, and where
the time goes inside the process."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np

from nnfilter import Look, TrainConfig
from nnfilter.data import pair_samples
from nnfilter.images import open_image
from nnfilter.pairs import open_pairs
from nnfilter.train import train

from .heldout import Target
from .inputs import load_rgb
from .measure import Case, interleave, med, ratio, run, spread, timed
from .plan import INPUTS, WORK, Plan, log, nnfilter_cmd
from .report import Section, Verdict

TRAIN_TARGET_S = 2.0  # issue 15: a 12 MP JPEG pair, default options, on every machine of its kind
SUBSAMPLE = 50_000  # pixels for scikit-learn


@dataclass
class TrainFigures:
    """What later sections compare with: the default run's median wall time, held-out ΔE00, epochs."""

    wall: float
    held_out_de: float
    epochs: int


@dataclass
class CurvePoint:
    factor: float  # × the default epochs
    epochs: int
    walls: list[float]
    held_out_de: float
    train_photo_de: float


def train_cmd(output: str, *options: str) -> list[str]:
    return nnfilter_cmd("train", "inputs/B12.jpg", "inputs/A12.jpg", "-o", output, "--force", *options)


def section_train(plan: Plan, held_out: Target, train_photo: Target) -> tuple[Section, TrainFigures]:
    blas_threads = str(os.cpu_count())
    log(f"train: default options, interleaved with OPENBLAS_NUM_THREADS={blas_threads} (diagnostic)")
    default = Case("default", train_cmd("models/m.npz"))
    blas_n = Case(
        f"OPENBLAS_NUM_THREADS={blas_threads}",
        train_cmd("models/m-blas.npz"),
        {"OPENBLAS_NUM_THREADS": blas_threads},
    )
    interleave([default, blas_n], plan.train_runs)
    info = json.loads(run(nnfilter_cmd("info", "--json", "models/m.npz")).stdout)
    epochs = int(info["epochs_run"])

    def point(factor: float, n: int, walls: list[float], path: str) -> CurvePoint:
        look = Look.load(WORK / path)
        return CurvePoint(factor, n, walls, held_out.of_look(look), train_photo.of_look(look))

    curve = [point(1.0, epochs, default.walls, "models/m.npz")]
    for factor in plan.curve:
        n = max(1, round(factor * epochs))
        log(f"train: --epochs {n} ({factor}x)")
        path = f"models/m-x{factor:g}.npz"
        curve.append(point(factor, n, [run(train_cmd(path, "--epochs", str(n))).wall], path))
    curve.sort(key=lambda p: p.factor)

    lines = [
        "### Train: a 12 MP pair, default options",
        "",
        f"    {default.command}",
        "",
        f"Default options ran **{epochs} epochs** (`epochs_run` from `nnfilter info --json`) on "
        f"{info['pixels'] / 1e6:.1f} MP (the pixels trained on). Whole process, wall time: **{spread(default.walls)}**, "
        f"peak RSS {spread(default.rss, 'MB', 0)}.",
        f"Same command with `OPENBLAS_NUM_THREADS={blas_threads}` (diagnostic, interleaved: OpenBLAS starts its "
        f"threads, which the command line otherwise asks it not to): {spread(blas_n.walls)}, "
        f"ratio default / with BLAS threads {ratio(default.walls, blas_n.walls)}.",
        "",
        "Quality vs time (`--epochs N`; mean ΔE00 against the exact look; held-out: the model applied as "
        "`nnfilter apply` does (`Look.apply`) to a 2 MP photo it never saw; training photo: the 12 MP before "
        "photo vs its exact look, not the JPEG after):",
        "",
        "| epochs | × default | wall time | held-out ΔE00 | training-photo ΔE00 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in curve:
        wall = spread(p.walls) if len(p.walls) > 1 else f"{p.walls[0]:.2f} s"
        lines.append(
            f"| {p.epochs} | {p.factor:g}× | {wall} | {p.held_out_de:.3f} | {p.train_photo_de:.3f} |"
        )
    base, longest = curve[[p.factor for p in curve].index(1.0)], curve[-1]
    gap = base.held_out_de - longest.held_out_de
    verdicts = [
        Verdict(
            f"train a 12 MP pair with default options in ≤ {TRAIN_TARGET_S:g} s",
            default.wall <= TRAIN_TARGET_S,
            f"{default.wall:.2f} s median",
        ),
        Verdict(
            f"default within 0.1 ΔE00 of the {longest.factor:g}× run (held-out)",
            gap <= 0.1 if longest.factor >= 10 else None,
            f"{base.held_out_de:.3f} vs {longest.held_out_de:.3f}: {gap:+.3f}"
            + ("" if longest.factor >= 10 else " (quick: no 10× run)")
            + f"; on the training photo {base.train_photo_de:.3f} vs {longest.train_photo_de:.3f}: "
            f"{base.train_photo_de - longest.train_photo_de:+.3f}",
        ),
    ]
    return Section(lines, verdicts), TrainFigures(default.wall, base.held_out_de, epochs)


def section_train_breakdown(plan: Plan) -> Section:
    """Where a training run's time goes, step by step in this process (as `learn_look_from_files`)."""
    log("train: where the time goes (in this process)")
    runs = max(1, plan.train_runs)
    paths = (INPUTS / "B12.jpg", INPUTS / "A12.jpg")

    def decode() -> tuple[np.ndarray, np.ndarray]:  # as `nnfilter train` does: at half size (8 MP or more)
        (pair,) = open_pairs([paths], halve_large_jpegs=True)
        return tuple(np.asarray(image).reshape(-1, 3) for image in (pair.before, pair.after))

    t_decode, (before, after) = timed(decode, runs)
    t_one, _ = timed(lambda: open_image(paths[0], reduce=2), runs)
    t_cells, samples = timed(lambda: pair_samples(before, after), runs)
    t_loop, result = timed(lambda: train(samples, TrainConfig()), runs)
    steps = result.steps
    return Section(
        [
            "### Train: where the time goes (12 MP pair, default options, in one process)",
            "",
            "| step | time |",
            "|---|---:|",
            f"| decode the pair at half size (`pairs.open_pairs`, two threads) | {spread(t_decode)} |",
            f"| decode one photo alone at half size | {spread(t_one)} |",
            f"| cells (`data.pair_samples`: {before.shape[0] / 1e6:.1f} MP → {len(samples):,} samples) | "
            f"{spread(t_cells)} |",
            f"| gradient loop (`train.train`: {len(result.history)} epochs, {steps:,} steps, "
            f"{1e6 * med(t_loop) / steps:.0f} µs a step) | {spread(t_loop)} |",
            "",
            "The rest of the whole process is Python's and the libraries' start-up (see the apply section's "
            "start-up rows), hashing the two files and writing the model.",
        ]
    )


def section_sklearn(plan: Plan, held_out: Target, reference: TrainFigures) -> Section:
    lines = ["### Train: scikit-learn MLPRegressor on a 50k-pixel subsample", ""]
    try:
        import sklearn
        from sklearn.neural_network import MLPRegressor
    except ImportError:
        return Section(
            lines
            + [
                "Skipped: scikit-learn is not installed (`pip install scikit-learn`; a benchmark-only "
                "dependency, not nnfilter's)."
            ]
        )
    log("train: scikit-learn")
    start = time.perf_counter()
    before, after = load_rgb(INPUTS / "B12.jpg"), load_rgb(INPUTS / "A12.jpg")
    rng = np.random.default_rng(0)
    pick = rng.choice(before.shape[0] * before.shape[1], SUBSAMPLE, replace=False)
    x = before.reshape(-1, 3)[pick] / 255.0
    y = after.reshape(-1, 3)[pick] / 255.0
    prep = time.perf_counter() - start
    net = MLPRegressor(hidden_layer_sizes=(16, 16), activation="logistic", random_state=0)
    held_x = held_out.colours / 255.0
    fit, epoch, points, reached = 0.0, 0, [], None
    while fit < plan.sklearn_budget:
        start = time.perf_counter()
        net.partial_fit(x, y)  # one epoch (Adam, batches of 200)
        fit += time.perf_counter() - start
        epoch += 1
        if epoch <= 10 or epoch % 5 == 0:
            predicted = np.clip(np.rint(net.predict(held_x) * 255), 0, 255).astype(np.uint8)
            de = held_out.mean_de(predicted)
            points.append((epoch, prep + fit, de))
            if de <= reference.held_out_de:
                reached = points[-1]
                break
    same_time = [p for p in points if p[1] <= reference.wall]
    lines += [
        f'scikit-learn {sklearn.__version__}, `MLPRegressor(hidden_layer_sizes=(16, 16), activation="logistic")` '
        f"(otherwise defaults: Adam, lr 0.001, batches of 200), RGB → RGB, trained with `partial_fit` "
        f"(one epoch each) on {SUBSAMPLE:,} random pixels of the same 12 MP pair, in this process. "
        f"Time = reading the pair and sampling ({prep:.2f} s) + fitting (held-out evaluation not counted); "
        f"held-out ΔE00 as above.",
        "",
    ]
    if reached:
        lines.append(
            f"- reached nnfilter's default quality ({reference.held_out_de:.3f}) after epoch {reached[0]}: "
            f"**{reached[1]:.1f} s**, vs {reference.wall:.2f} s for `nnfilter train` "
            f"({reached[1] / reference.wall:.1f}×)."
        )
    else:
        best = min(points, key=lambda p: p[2])
        lines.append(
            f"- did **not** reach nnfilter's default quality ({reference.held_out_de:.3f}) within "
            f"{plan.sklearn_budget:.0f} s of fitting ({epoch} epochs, {prep + fit:.1f} s in all): best held-out "
            f"ΔE00 {best[2]:.3f} (epoch {best[0]}, {best[1]:.1f} s)."
        )
    if same_time:
        p = same_time[-1]
        lines.append(
            f"- in nnfilter's default time ({reference.wall:.2f} s) it reached held-out ΔE00 "
            f"**{p[2]:.3f}** (epoch {p[0]}, {p[1]:.2f} s) vs nnfilter's {reference.held_out_de:.3f}."
        )
    else:
        lines.append(
            f"- its first epoch already took longer than nnfilter's whole default run "
            f"({points[0][1]:.2f} s, ΔE00 {points[0][2]:.3f})."
        )
    return Section(lines)
