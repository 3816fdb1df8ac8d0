"""Speed and memory of nnfilter on real photo sizes (issue 7), against plain Pillow and baselines.

    python -m benchmarks.speed            full run (~10-15 min on 2 cores), writes benchmarks/RESULTS.md
    python -m benchmarks.speed --quick    fewer runs and files, a smoke test; writes benchmarks/work/speed-quick.md

Run it with the Python of an environment where nnfilter is installed as users install it, e.g.
``python -m venv /tmp/bench && /tmp/bench/bin/pip install . scikit-learn && /tmp/bench/bin/python -m
benchmarks.speed``: an editable install (``pip install -e``) costs every process ~20 ms more to start
(its import hook), and the report says which kind it measured.

Inputs are made once into benchmarks/work/inputs/ (git-ignored) from sample_images/: Lanczos
upscales to 12, 24 and 100 MP with mild noise (photo-like distinct colour counts), saved as
JPEG q92 (4:2:0, as cameras write), and their "after" made with ``benchmarks.looks.colour_grade``
and saved as JPEG q90. Every command is a whole process (start-up included) under
``/usr/bin/time -v`` (wall time and peak RSS); the cases that are compared are interleaved
(A B, B A, ...) because the machine is shared and noisy, and ratios are taken in the same run.

Quality is the mean CIEDE2000 of the model, applied as ``nnfilter apply`` does (its fast path), to a
held-out 2 MP photo (a mosaic of test1-3), against the exact look of that photo. It is computed on the
photo's distinct colours weighted by their pixel counts, which is the same number as per pixel.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, features

from nnfilter import Look
from nnfilter.apply import apply_to_image
from nnfilter.colour import delta_e00
from nnfilter.images import open_image, save_image

from .looks import colour_grade

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"
BENCH = ROOT / "benchmarks"
WORK = BENCH / "work"
INPUTS = WORK / "inputs"
RESULTS = BENCH / "RESULTS.md"

BIN = Path(sys.executable).parent
NNFILTER = str(BIN / "nnfilter") if (BIN / "nnfilter").exists() else None
PYTHON = sys.executable
TIME = "/usr/bin/time"

NOISE_SIGMA = 2.5  # gives ~0.35 M distinct colours at 12 MP (a real 12 MP photo: ~0.3 M)
INPUTS_VERSION = f"1 sigma={NOISE_SIGMA}"
SOURCES = ["before.jpg", "test1.jpg", "test2.jpg", "test3.jpg"]
SIZE_12, SIZE_24, SIZE_100, SIZE_2 = (4000, 3000), (6000, 4000), (10000, 10000), (1732, 1155)
SUBSAMPLE = 50_000  # pixels for scikit-learn


@dataclass(frozen=True)
class Plan:
    train_runs: int
    curve: tuple[float, ...]
    apply_runs: int
    batch_files: int
    batch_runs: int
    memory_runs: int
    folder_files: int
    folder_runs: int
    sklearn_budget: float


FULL = Plan(
    train_runs=5,
    curve=(0.25, 0.5, 2, 4, 10),
    apply_runs=11,
    batch_files=20,
    batch_runs=3,
    memory_runs=2,
    folder_files=200,
    folder_runs=5,
    sklearn_budget=30.0,
)
QUICK = Plan(
    train_runs=2,
    curve=(0.5, 2),
    apply_runs=2,
    batch_files=4,
    batch_runs=1,
    memory_runs=1,
    folder_files=40,
    folder_runs=1,
    sklearn_budget=5.0,
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- running processes ----------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    rss_mb: float
    cpu: float  # user + system time / wall, in %, of the process and the children it waited for
    stdout: str = ""


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for measured processes: bytecode cached (as in a normal install), plus ``extra``."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache")
    env.update(extra or {})
    return env


def shown(cmd: list[str], extra_env: dict[str, str] | None = None) -> str:
    """A command as a person would type it in benchmarks/work (venv on PATH)."""
    words = ["nnfilter" if w == NNFILTER else "python" if w == PYTHON else w for w in cmd]
    prefix = "".join(f"{k}={v} " for k, v in (extra_env or {}).items())
    return prefix + shlex.join(words)


def run(cmd: list[str], extra_env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` in benchmarks/work under /usr/bin/time -v: its wall time and peak RSS."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        proc = subprocess.run(
            [TIME, "-v", "-o", report.name, *cmd],
            cwd=WORK,
            env=subprocess_env(extra_env),
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        text = report.read()
    if proc.returncode != 0:
        raise RuntimeError(f"`{shown(cmd, extra_env)}` failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", text)
    return Run(
        wall,
        int(match.group(1)) / 1024 if match else float("nan"),
        float(cpu.group(1)) if cpu else float("nan"),
        proc.stdout,
    )


@dataclass
class Case:
    name: str
    cmd: list[str]
    extra_env: dict[str, str] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)

    @property
    def walls(self) -> list[float]:
        return [r.wall for r in self.runs]

    @property
    def rss(self) -> list[float]:
        return [r.rss_mb for r in self.runs]

    @property
    def cpu(self) -> float:
        return med([r.cpu for r in self.runs])

    @property
    def command(self) -> str:
        return shown(self.cmd, self.extra_env)


def interleave(cases: list[Case], runs: int) -> list[Case]:
    """Run every case ``runs`` times, alternating the order (A B C, C B A, ...)."""
    for i in range(runs):
        for case in cases if i % 2 == 0 else cases[::-1]:
            case.runs.append(run(case.cmd, case.extra_env))
            log(f"  {case.name}: {case.runs[-1].wall:.2f} s, {case.runs[-1].rss_mb:.0f} MB")
    return cases


def med(xs: list[float]) -> float:
    return float(np.median(xs))


def spread(xs: list[float], unit: str = "s", digits: int = 2) -> str:
    """Median (min–max) of several runs; a single run as is."""
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f} {unit} (1 run)"
    return f"{med(xs):.{digits}f} {unit} ({min(xs):.{digits}f}–{max(xs):.{digits}f}, {len(xs)} runs)"


def ratio(a: list[float], b: list[float]) -> str:
    """Ratio of medians, with the range of the ratios of runs made side by side."""
    paired = [x / y for x, y in zip(a, b, strict=True)]
    text = f"{med(a) / med(b):.2f}×"
    if len(paired) > 1:
        text += f" (per run {min(paired):.2f}–{max(paired):.2f}×)"
    return text


@dataclass
class Verdict:
    target: str
    met: bool | None  # None: not measured
    measured: str

    def line(self) -> str:
        state = "not measured" if self.met is None else "**met**" if self.met else "**not met**"
        return f"- {self.target}: {state} (measured {self.measured})"


# --- inputs ---------------------------------------------------------------------------------------------


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def upscale(source: str, size: tuple[int, int]) -> np.ndarray:
    """A sample photo, centre-cropped to the aspect of ``size``, Lanczos-upscaled to it."""
    with Image.open(SAMPLES / source) as image:
        image = image.convert("RGB")
    w, h = image.size
    width, height = size
    if w * height > h * width:
        cw, ch = round(h * width / height), h
    else:
        cw, ch = w, round(w * height / width)
    left, top = (w - cw) // 2, (h - ch) // 2
    return np.asarray(image.crop((left, top, left + cw, top + ch)).resize(size, Image.LANCZOS))


def noisy(rgb: np.ndarray, seed: int, flips: int = 0) -> np.ndarray:
    """``rgb`` with Gaussian noise of NOISE_SIGMA levels (mirrored when flips & 1, upside down when & 2)."""
    if flips & 1:
        rgb = rgb[:, ::-1]
    if flips & 2:
        rgb = rgb[::-1]
    out = np.empty(rgb.shape, np.uint8)
    rng = np.random.default_rng(seed)
    step = max(1, (1 << 22) // (rgb.shape[1] * 3))  # rows at a time, to keep memory small at 100 MP
    for top in range(0, rgb.shape[0], step):
        block = rng.standard_normal(rgb[top : top + step].shape, dtype=np.float32)
        block *= NOISE_SIGMA
        block += rgb[top : top + step]
        block += 0.5
        np.clip(block, 0, 255, out=block)
        out[top : top + step] = block
    return out


def save_jpeg(rgb: np.ndarray, path: Path, quality: int) -> None:
    """A JPEG with Pillow's default 4:2:0 chroma, as cameras and editors write."""
    temp = path.with_name(path.name + ".part")
    Image.fromarray(rgb).save(temp, "JPEG", quality=quality)
    temp.replace(path)


def make_pair(source: str, size: tuple[int, int], before: Path, after: Path, seed: int) -> None:
    if not before.exists():
        save_jpeg(noisy(upscale(source, size), seed), before, 92)
    if not after.exists():
        save_jpeg(colour_grade(load_rgb(before)), after, 90)  # the edit is made from the decoded photo


def make_pool(folder: Path, count: int, size: tuple[int, int], prefix: str, seed: int) -> list[Path]:
    """``count`` distinct photos: the four samples, mirrored/flipped, each with its own noise."""
    folder.mkdir(parents=True, exist_ok=True)
    bases: dict[str, np.ndarray] = {}
    paths = []
    for i in range(count):
        path = folder / f"{prefix}{i + 1:03d}.jpg"
        paths.append(path)
        if path.exists():
            continue
        source = SOURCES[i % len(SOURCES)]
        if source not in bases:
            bases[source] = upscale(source, size)
        save_jpeg(noisy(bases[source], seed + i, (i // len(SOURCES)) % 4), path, 92)
    return paths


def linked_folder(pool: list[Path], count: int, name: str) -> Path:
    """A folder of hard links to the first ``count`` photos of a pool (no extra disk)."""
    folder = INPUTS / name
    if folder.exists() and sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in pool[:count]):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in pool[:count]:
        os.link(path, folder / path.name)
    return folder


def held_out_photo(path: Path) -> None:
    """A 2 MP photo the model never saw: test1 | test2 | test3 side by side, upscaled, with noise."""
    if path.exists():
        return
    height = 666
    parts = []
    for source in SOURCES[1:]:
        with Image.open(SAMPLES / source) as image:
            w, h = image.size
            parts.append(
                np.asarray(image.convert("RGB").resize((round(w * height / h), height), Image.LANCZOS))
            )
    save_jpeg(noisy(np.concatenate(parts, axis=1), 7), path, 92)


def prepare_inputs(plan: Plan) -> dict[str, object]:
    stamp = INPUTS / "version.txt"
    if stamp.exists() and stamp.read_text() != INPUTS_VERSION:
        shutil.rmtree(INPUTS)
    INPUTS.mkdir(parents=True, exist_ok=True)
    stamp.write_text(INPUTS_VERSION)
    for sub in ("models", "out"):
        (WORK / sub).mkdir(exist_ok=True)
    start = time.perf_counter()
    log("inputs: 12 and 24 MP pairs, held-out 2 MP photo")
    make_pair("before.jpg", SIZE_12, INPUTS / "B12.jpg", INPUTS / "A12.jpg", 12)
    make_pair("before.jpg", SIZE_24, INPUTS / "B24.jpg", INPUTS / "A24.jpg", 24)
    held_out_photo(INPUTS / "heldout-2mp.jpg")
    log("inputs: 24 MP batch pool")
    pool24 = make_pool(INPUTS / "pool24", FULL.batch_files, SIZE_24, "p", 1000)
    log("inputs: 2 MP folder pool")
    pool2 = make_pool(INPUTS / "pool2", FULL.folder_files, SIZE_2, "q", 5000)
    log("inputs: 100 MP photo")
    if not (INPUTS / "H100.jpg").exists():
        save_jpeg(noisy(upscale("before.jpg", SIZE_100), 100), INPUTS / "H100.jpg", 92)
    batch = linked_folder(pool24, plan.batch_files, f"batch24-{plan.batch_files}")
    folder = linked_folder(pool2, plan.folder_files, f"folder2-{plan.folder_files}")
    log(f"inputs ready ({time.perf_counter() - start:.0f} s)")
    b12 = load_rgb(INPUTS / "B12.jpg")
    return {
        "batch": batch,
        "folder": folder,
        "distinct_12": len(distinct_colours(b12)[0]),
        "sizes_mb": {
            name: (INPUTS / name).stat().st_size / 1e6
            for name in ("B12.jpg", "A12.jpg", "B24.jpg", "H100.jpg")
        }
        | {
            "pool24 (each, mean)": np.mean([p.stat().st_size for p in pool24]) / 1e6,
            "pool2 (each, mean)": np.mean([p.stat().st_size for p in pool2]) / 1e6,
        },
    }


# --- quality --------------------------------------------------------------------------------------------


def distinct_colours(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct colours of an RGB image (n, 3) uint8 and their pixel counts (n,)."""
    flat = rgb.reshape(-1, 3)
    keys = flat[:, 0].astype(np.uint32) << 16 | flat[:, 1].astype(np.uint32) << 8 | flat[:, 2]
    counts = np.bincount(keys, minlength=1 << 24)
    present = np.flatnonzero(counts).astype(np.uint32)
    colours = np.stack([present >> 16, (present >> 8) & 255, present & 255], axis=1).astype(np.uint8)
    return colours, counts[present]


@dataclass
class Target:
    """The distinct colours of a photo, their counts, and the exact look of each."""

    colours: np.ndarray
    counts: np.ndarray
    truth: np.ndarray

    @classmethod
    def of(cls, rgb: np.ndarray) -> Target:
        colours, counts = distinct_colours(rgb)
        return cls(colours, counts, colour_grade(colours))

    def mean_de(self, predicted: np.ndarray) -> float:
        return float(np.average(delta_e00(predicted, self.truth), weights=self.counts))


def look_output(look: Look, colours: np.ndarray) -> np.ndarray:
    """The model on these colours, applied as `nnfilter apply` does (an RGB image, method auto)."""
    return np.asarray(look.apply(Image.fromarray(np.ascontiguousarray(colours[None])))).reshape(-1, 3)


# --- sections -------------------------------------------------------------------------------------------


def nnfilter_cmd(*args: str) -> list[str]:
    return [NNFILTER, *args] if NNFILTER else [PYTHON, "-m", "nnfilter", *args]


def section_train(plan: Plan, held_out: Target, train_photo: Target) -> tuple[list[str], list[Verdict], dict]:
    blas_threads = str(os.cpu_count())
    log(f"train: default options, interleaved with OPENBLAS_NUM_THREADS={blas_threads} (diagnostic)")
    base = nnfilter_cmd("train", "inputs/B12.jpg", "inputs/A12.jpg", "-o", "models/m.npz", "--force")
    default = Case("default", base)
    blas_n = Case(
        f"OPENBLAS_NUM_THREADS={blas_threads}",
        nnfilter_cmd("train", "inputs/B12.jpg", "inputs/A12.jpg", "-o", "models/m-blas.npz", "--force"),
        {"OPENBLAS_NUM_THREADS": blas_threads},
    )
    interleave([default, blas_n], plan.train_runs)
    info = json.loads(run(nnfilter_cmd("info", "--json", "models/m.npz")).stdout)
    epochs = int(info["epochs_run"])

    def quality(path: str) -> tuple[float, float]:
        look = Look.load(WORK / path)
        return (
            held_out.mean_de(look_output(look, held_out.colours)),
            train_photo.mean_de(look_output(look, train_photo.colours)),
        )

    rows = [(1.0, epochs, default.walls, *quality("models/m.npz"))]
    for factor in plan.curve:
        n = max(1, round(factor * epochs))
        log(f"train: --epochs {n} ({factor}x)")
        path = f"models/m-x{factor:g}.npz"
        r = run(
            nnfilter_cmd(
                "train", "inputs/B12.jpg", "inputs/A12.jpg", "-o", path, "--force", "--epochs", str(n)
            )
        )
        rows.append((factor, n, [r.wall], *quality(path)))
    rows.sort()

    lines = [
        "### Train: a 12 MP pair, default options",
        "",
        f"    {default.command}",
        "",
        f"Default options ran **{epochs} epochs** (`epochs_run` from `nnfilter info --json`) on "
        f"{info['pixels'] / 1e6:.0f} MP. Whole process, wall time: **{spread(default.walls)}**, "
        f"peak RSS {spread(default.rss, 'MB', 0)}.",
        f"Same command with `OPENBLAS_NUM_THREADS={blas_threads}` (diagnostic, interleaved: OpenBLAS starts its "
        f"threads, which the command line otherwise asks it not to): {spread(blas_n.walls)}, "
        f"ratio default / with BLAS threads {ratio(default.walls, blas_n.walls)}.",
        "",
        "Quality vs time (`--epochs N`; mean ΔE00 against the exact look; held-out: the model applied as "
        "`nnfilter apply` does (`Look.apply`) to a 2 MP photo it never saw; training photo: the 12 MP before photo vs its exact look, "
        "not the JPEG after):",
        "",
        "| epochs | × default | wall time | held-out ΔE00 | training-photo ΔE00 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for factor, n, walls, de_held, de_train in rows:
        lines.append(
            f"| {n} | {factor:g}× | {spread(walls) if len(walls) > 1 else f'{walls[0]:.2f} s'} | "
            f"{de_held:.3f} | {de_train:.3f} |"
        )
    default_row = next(r for r in rows if r[0] == 1.0)
    longest = rows[-1]
    verdicts = [
        Verdict(
            "train a 12 MP pair with default options in ≤ 3 s",
            med(default.walls) <= 3.0,
            f"{med(default.walls):.2f} s median",
        )
    ]
    gap = default_row[3] - longest[3]
    verdicts.append(
        Verdict(
            f"default within 0.1 ΔE00 of the {longest[0]:g}× run (held-out)",
            gap <= 0.1 if longest[0] >= 10 else None,
            f"{default_row[3]:.3f} vs {longest[3]:.3f}: {gap:+.3f}"
            + ("" if longest[0] >= 10 else " (quick: no 10× run)")
            + f"; on the training photo {default_row[4]:.3f} vs {longest[4]:.3f}: {default_row[4] - longest[4]:+.3f}",
        )
    )
    return (
        lines,
        verdicts,
        {"default_wall": med(default.walls), "default_de": default_row[3], "epochs": epochs},
    )


def section_sklearn(plan: Plan, held_out: Target, reference: dict) -> list[str]:
    lines = ["### Train: scikit-learn MLPRegressor on a 50k-pixel subsample", ""]
    try:
        import sklearn
        from sklearn.neural_network import MLPRegressor
    except ImportError:
        return lines + [
            "Skipped: scikit-learn is not installed (`pip install scikit-learn`; a benchmark-only "
            "dependency, not nnfilter's)."
        ]
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
            if de <= reference["default_de"]:
                reached = points[-1]
                break
    same_time = [p for p in points if p[1] <= reference["default_wall"]]
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
            f"- reached nnfilter's default quality ({reference['default_de']:.3f}) after epoch {reached[0]}: "
            f"**{reached[1]:.1f} s**, vs {reference['default_wall']:.2f} s for `nnfilter train` "
            f"({reached[1] / reference['default_wall']:.1f}×)."
        )
    else:
        best = min(points, key=lambda p: p[2])
        lines.append(
            f"- did **not** reach nnfilter's default quality ({reference['default_de']:.3f}) within "
            f"{plan.sklearn_budget:.0f} s of fitting ({epoch} epochs, {prep + fit:.1f} s in all): best held-out "
            f"ΔE00 {best[2]:.3f} (epoch {best[0]}, {best[1]:.1f} s)."
        )
    if same_time:
        p = same_time[-1]
        lines.append(
            f"- in nnfilter's default time ({reference['default_wall']:.2f} s) it reached held-out ΔE00 "
            f"**{p[2]:.3f}** (epoch {p[0]}, {p[1]:.2f} s) vs nnfilter's {reference['default_de']:.3f}."
        )
    else:
        lines.append(
            f"- its first epoch already took longer than nnfilter's whole default run "
            f"({points[0][1]:.2f} s, ΔE00 {points[0][2]:.3f})."
        )
    return lines


def section_apply(plan: Plan, inputs: dict) -> tuple[list[str], list[Verdict], dict]:
    log("apply: one 24 MP JPEG")
    nn = Case(
        "nnfilter apply",
        nnfilter_cmd("apply", "-m", "models/m.npz", "inputs/B24.jpg", "-o", "out/apply-nn.jpg", "--force"),
    )
    pil = Case("Pillow read+write", [PYTHON, "../pillow_rw.py", "inputs/B24.jpg", "out/apply-pillow.jpg"])
    nn_j1 = Case("nnfilter apply --jobs 1 (one core)", [*nn.cmd, "--jobs", "1"])
    version = Case("start-up: nnfilter --version", nnfilter_cmd("--version"))
    imp_nn = Case(
        "start-up: import what apply uses (nnfilter.cli, nnfilter.look)",
        [PYTHON, "-c", "import nnfilter.cli, nnfilter.look"],
        {"OPENBLAS_NUM_THREADS": "1"},
    )
    imp_pil = Case("start-up: import PIL.Image", [PYTHON, "-c", "import PIL.Image"])
    single = interleave([nn, pil, nn_j1, version, imp_nn, imp_pil], plan.apply_runs)

    log(f"apply: a batch of {plan.batch_files} 24 MP JPEGs")
    folder = inputs["batch"].relative_to(WORK)
    b_nn1 = Case(
        "nnfilter apply FOLDER --jobs 1",
        nnfilter_cmd(
            "apply", "-m", "models/m.npz", str(folder), "-o", "out/batch-nn-j1", "--force", "--jobs", "1"
        ),
    )
    b_pil = Case(
        "Pillow loop, one process", [PYTHON, "../pillow_rw.py", "--dir", str(folder), "out/batch-pillow"]
    )
    b_nn = Case(
        "nnfilter apply FOLDER (default --jobs = cores)",
        nnfilter_cmd("apply", "-m", "models/m.npz", str(folder), "-o", "out/batch-nn", "--force"),
    )
    interleave([b_nn1, b_pil, b_nn], plan.batch_runs)

    lines = ["### Apply: one 24 MP JPEG → JPEG, end to end", ""]
    lines += [f"    {c.command}" for c in single[:3]] + [""]
    lines += ["| process | wall time | CPU | peak RSS |", "|---|---:|---:|---:|"]
    lines += [f"| {c.name} | {spread(c.walls)} | {c.cpu:.0f}% | {med(c.rss):.0f} MB |" for c in single]
    lines += [
        "",
        f"Ratio nnfilter / Pillow: **{ratio(nn.walls, pil.walls)}**; with `--jobs 1`: "
        f"{ratio(nn_j1.walls, pil.walls)}. Importing what apply uses costs "
        f"{med(imp_nn.walls) - med(imp_pil.walls):.2f} s more than importing Pillow; with cores to spare, "
        "`apply` on one photo decodes it meanwhile (`--jobs 1` does not).",
        "",
        f"### Apply: a batch of {plan.batch_files} photos of 24 MP (one process each run)",
        "",
    ]
    lines += [f"    {c.command}" for c in (b_nn1, b_pil, b_nn)] + [""]
    lines += ["| process | wall time | per photo | CPU¹ | peak RSS¹ |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {c.name} | {spread(c.walls)} | {med(c.walls) / plan.batch_files:.2f} s | {c.cpu:.0f}% | "
        f"{med(c.rss):.0f} MB |"
        for c in (b_nn1, b_pil, b_nn)
    ]
    lines += [
        "",
        "¹ `/usr/bin/time` does not see the worker processes of `--jobs 2` (they are children of "
        "multiprocessing's fork server): for that row CPU and RSS are the main process's only.",
    ]
    lines += [
        "",
        f"Ratio nnfilter `--jobs 1` / Pillow loop (one core each): **{ratio(b_nn1.walls, b_pil.walls)}**; "
        f"nnfilter default (`--jobs {os.cpu_count()}`, both cores) / Pillow loop (one core): "
        f"{ratio(b_nn.walls, b_pil.walls)}.",
    ]
    verdicts = [
        Verdict(
            "apply a 24 MP JPEG end to end in ≤ 2× Pillow read+write",
            med(nn.walls) <= 2 * med(pil.walls),
            f"{med(nn.walls) / med(pil.walls):.2f}×: {med(nn.walls):.2f} s vs {med(pil.walls):.2f} s",
        ),
        Verdict(
            f"batch of {plan.batch_files} × 24 MP in ≤ 1.3× a Pillow loop, `nnfilter apply FOLDER` as users "
            f"run it (default `--jobs {os.cpu_count()}`)",
            med(b_nn.walls) <= 1.3 * med(b_pil.walls),
            f"{med(b_nn.walls) / med(b_pil.walls):.2f}×: {med(b_nn.walls):.1f} s vs {med(b_pil.walls):.1f} s",
        ),
        Verdict(
            "the same with `--jobs 1` (one worker, like the Pillow loop's one process)",
            med(b_nn1.walls) <= 1.3 * med(b_pil.walls),
            f"{med(b_nn1.walls) / med(b_pil.walls):.2f}×: {med(b_nn1.walls):.1f} s vs {med(b_pil.walls):.1f} s",
        ),
    ]
    return lines, verdicts, {"apply_nn": med(nn.walls), "apply_pil": med(pil.walls)}


def timed(fn: Callable[[], object], runs: int) -> tuple[list[float], object]:
    walls, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - start)
    return walls, result


def section_accuracy_and_breakdown(plan: Plan) -> tuple[list[str], list[Verdict], dict]:
    method = "table"
    log(f"apply: {method} vs exact on 24 MP, and where the time goes (in this process)")
    saved = Look.load(WORK / "models" / "m.npz")
    model = saved.model
    runs = max(1, plan.apply_runs // 2)
    t_open, image = timed(lambda: open_image(INPUTS / "B24.jpg"), runs)
    other = open_image(sorted((INPUTS / "pool24").iterdir())[1])  # another 24 MP photo (coffee)

    def first_then_next() -> tuple[float, float]:
        look = Look(model, saved.metadata)  # a fresh look: builds its LUT/table on first use
        start = time.perf_counter()
        look.apply(image.copy())
        middle = time.perf_counter()
        look.apply(other.copy())
        return middle - start, time.perf_counter() - middle

    pairs = [first_then_next() for _ in range(runs)]
    t_first, t_next = [p[0] for p in pairs], [p[1] for p in pairs]
    t_fast, fast_out = timed(lambda: apply_to_image(model, image.copy(), True, method), runs)
    t_save, _ = timed(lambda: save_image(fast_out, WORK / "out" / "breakdown.jpg", overwrite=True), runs)
    t_encode, _ = timed(
        lambda: fast_out.save(WORK / "out" / "breakdown-plain.jpg", quality=95, subsampling=0), runs
    )
    t_exact, exact_out = timed(lambda: apply_to_image(model, image.copy(), True, "exact"), 1)
    t_fast1, _ = timed(lambda: apply_to_image(model, image.copy(), True, method, threads=1), runs)

    src = np.asarray(image)
    fast_px, exact_px = np.asarray(fast_out)[..., :3], np.asarray(exact_out)[..., :3]
    diff = np.zeros(fast_px.shape[:2], np.uint8)
    for c in range(3):
        np.maximum(
            diff, np.abs(fast_px[..., c].astype(np.int16) - exact_px[..., c]).astype(np.uint8), out=diff
        )
    within1 = float((diff <= 1).mean())
    worst = int(diff.max())
    histogram = np.bincount(diff.ravel(), minlength=worst + 1)
    extreme = (src.min(axis=2) < 8) | (src.max(axis=2) > 247)  # a channel within 8 levels of black or white
    off = diff > 1
    mpx = image.width * image.height / 1e6
    lines = [
        "### Apply: where the time goes (24 MP, in one process, default threads)",
        "",
        "| step | time |",
        "|---|---:|",
        f"| `open_image` (decode, EXIF transpose) | {spread(t_open)} |",
        f"| `Look.apply`, first photo (builds the look's {method}) | {spread(t_first)} |",
        f"| `Look.apply`, another 24 MP photo with the same `Look` (as in a batch) | {spread(t_next)} |",
        f'| `apply_to_image(..., "{method}")` ({mpx / med(t_fast):.0f} Mpx/s) | {spread(t_fast)} |',
        f"| `save_image` JPEG q95 4:4:4 (temp file, fsync, rename) | {spread(t_save)} |",
        f"| Pillow `save(quality=95, subsampling=0)` alone | {spread(t_encode)} |",
        f'| `apply_to_image(..., "exact")` ({mpx / med(t_exact):.1f} Mpx/s) | {spread(t_exact)} |',
        f'| `apply_to_image(..., "{method}", threads=1)` ({mpx / med(t_fast1):.0f} Mpx/s) | {spread(t_fast1)} |',
        "",
        f'### Apply: fast path (`"{method}"`) vs exact path (24 MP photo)',
        "",
        f'`nnfilter.apply.apply_to_image(model, image, True, "{method}")` vs `"exact"`, max abs difference over '
        "R, G, B per pixel:",
        "",
        f"- pixels within 1 level: **{100 * within1:.4f}%**; maximum difference: **{worst}**",
        f"- pixels per difference (0, 1, 2, ...): {', '.join(str(int(n)) for n in histogram)}",
        f"- where: {100 * extreme.mean():.1f}% of this photo's pixels have a channel below 8 or above 247; "
        f"{100 * off[extreme].mean():.2f}% of those are off by more than 1, "
        f"{100 * off[~extreme].mean():.3f}% of the other pixels.",
    ]
    verdicts = [
        Verdict(
            f'fast path ("{method}") within 1 level of exact on ≥ 99.9% of pixels',
            within1 >= 0.999,
            f"{100 * within1:.4f}%",
        ),
        Verdict(f'fast path ("{method}") never more than 2 levels from exact', worst <= 2, f"max {worst}"),
    ]
    return lines, verdicts, {"fast_s": med(t_fast), "exact_s": med(t_exact), "method": method}


def section_memory(plan: Plan) -> tuple[list[str], list[Verdict]]:
    log("memory: 100 MP apply vs Pillow")
    nn = Case(
        "nnfilter apply",
        nnfilter_cmd("apply", "-m", "models/m.npz", "inputs/H100.jpg", "-o", "out/h100-nn.jpg", "--force"),
    )
    pil = Case("Pillow read+write", [PYTHON, "../pillow_rw.py", "inputs/H100.jpg", "out/h100-pillow.jpg"])
    interleave([nn, pil], plan.memory_runs)
    log("memory: train on a 24 MP pair")
    tr = Case(
        "nnfilter train (24 MP pair)",
        nnfilter_cmd("train", "inputs/B24.jpg", "inputs/A24.jpg", "-o", "models/m24.npz", "--force"),
    )
    interleave([tr], plan.memory_runs)
    lines = [
        '### Memory (peak RSS, `/usr/bin/time -v` "Maximum resident set size")',
        "",
        "    " + nn.command,
        "    " + pil.command,
        "    " + tr.command,
        "",
        "| process | peak RSS | wall time |",
        "|---|---:|---:|",
        f"| nnfilter apply, 100 MP (10000×10000) JPEG | {spread(nn.rss, 'MB', 0)} | {spread(nn.walls)} |",
        f"| Pillow read+write, same file | {spread(pil.rss, 'MB', 0)} | {spread(pil.walls)} |",
        f"| nnfilter train, 24 MP pair, default options | {spread(tr.rss, 'MB', 0)} | {spread(tr.walls)} |",
        "",
        f"Ratio of peaks, apply / Pillow: **{med(nn.rss) / med(pil.rss):.2f}×** "
        f"(the 100 MP RGB image alone is {10000 * 10000 * 3 / 2**20:.0f} MB).",
    ]
    verdicts = [
        Verdict(
            "apply to 100 MP peaks at ≤ 1.5× Pillow alone",
            med(nn.rss) <= 1.5 * med(pil.rss),
            f"{med(nn.rss) / med(pil.rss):.2f}×: {med(nn.rss):.0f} MB vs {med(pil.rss):.0f} MB",
        ),
        Verdict("train on a 24 MP pair under 2 GB", max(tr.rss) < 2048, f"{max(tr.rss):.0f} MB"),
    ]
    return lines, verdicts


def section_folders(plan: Plan, inputs: dict) -> tuple[list[str], list[Verdict]]:
    log(f"folders: {plan.folder_files} photos of 2 MP, --jobs 2 vs --jobs 1")
    folder = str(inputs["folder"].relative_to(WORK))
    j2 = Case(
        "--jobs 2",
        nnfilter_cmd("apply", "-m", "models/m.npz", folder, "-o", "out/folder-j2", "--force", "--jobs", "2"),
    )
    j1 = Case(
        "--jobs 1",
        nnfilter_cmd("apply", "-m", "models/m.npz", folder, "-o", "out/folder-j1", "--force", "--jobs", "1"),
    )
    interleave([j2, j1], plan.folder_runs)
    speedup = med(j1.walls) / med(j2.walls)
    saved = Look.load(WORK / "models" / "m.npz")
    photos = sorted(inputs["folder"].iterdir())[:6]
    t_open, image = timed(lambda: open_image(photos[0]), 5)
    t_first, t_next = [], []
    for _ in range(3):
        look = Look(saved.model, saved.metadata)  # fresh: builds its LUT/table on the first photo
        t, out = timed(lambda look=look: look.apply(open_image(photos[0])), 1)
        t_first += t
        for photo in photos[1:]:
            t, _ = timed(lambda look=look, photo=photo: look.apply(open_image(photo)), 1)
            t_next += t
    t_save, _ = timed(lambda: save_image(out, WORK / "out" / "breakdown-2mp.jpg", overwrite=True), 5)
    lines = [
        f"### Folders: {plan.folder_files} photos of 2 MP",
        "",
        "    " + j2.command,
        "    " + j1.command,
        "",
        "| jobs | wall time | photos/s | CPU (main process) |",
        "|---|---:|---:|---:|",
        *[
            f"| {c.name} | {spread(c.walls)} | {plan.folder_files / med(c.walls):.1f} | {c.cpu:.0f}% |"
            for c in (j2, j1)
        ],
        "",
        f"Speed-up `--jobs 2` over `--jobs 1`: **{speedup:.2f}×** (per run "
        f"{min(a / b for a, b in zip(j1.walls, j2.walls, strict=True)):.2f}–{max(a / b for a, b in zip(j1.walls, j2.walls, strict=True)):.2f}×). "
        "`--jobs 1` is one core: one process filtering each file in one thread; `--jobs 2` adds the start of "
        "its worker pool (a fork server that imports nnfilter, ~0.3 s) and a colour table built by each worker.",
        "",
        f"One {image.width}×{image.height} photo of this folder, in one process: `open_image` "
        f"{med(t_open) * 1000:.0f} ms, `save_image` {med(t_save) * 1000:.0f} ms; open + `Look.apply` "
        f"{med(t_first) * 1000:.0f} ms for a look's first photo (which builds its table), "
        f"{med(t_next) * 1000:.0f} ms for each next photo with the same look (medians).",
    ]
    return lines, [
        Verdict(
            f"`--jobs 2` ≥ 1.7× faster than `--jobs 1` on {plan.folder_files} × 2 MP",
            speedup >= 1.7,
            f"{speedup:.2f}×",
        )
    ]


def section_naive(reference: dict) -> list[str]:
    log("naive: float64 forward pass over every pixel of 24 MP")
    case = interleave(
        [Case("naive", [PYTHON, "../naive_forward.py", "models/m.npz", "inputs/B24.jpg", "out/naive.jpg"])], 1
    )[0]
    times = json.loads(case.runs[0].stdout)
    return [
        "### Baseline: naive float64 forward pass over every pixel (24 MP, no LUT, no chunks)",
        "",
        "    " + case.command,
        "",
        "| | naive float64 | nnfilter |",
        "|---|---:|---:|",
        f"| network over 24 MP | {times['forward_s']:.2f} s | {reference['fast_s']:.2f} s {reference['method']} path, "
        f"{reference['exact_s']:.2f} s exact path (float32 chunks) |",
        f"| whole process, read + filter + write | {case.runs[0].wall:.2f} s | {reference['apply_nn']:.2f} s "
        "(`nnfilter apply`, median) |",
        f"| peak RSS | {case.runs[0].rss_mb:.0f} MB | see the tables above |",
    ]


# --- report ---------------------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    except (OSError, AttributeError):
        mem_kb = 0
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas_text = f"{blas['name']} {blas['version']}"
    except Exception:
        blas_text = "unknown"
    turbo = features.version("libjpeg_turbo") if features.check("libjpeg_turbo") else "no"
    return [
        f"- machine: `nproc` = {os.cpu_count()}, CPU: {cpu}, RAM: {mem_kb / 2**20:.1f} GiB, {platform.system()} "
        f"{platform.release()}",
        f"- software: Python {platform.python_version()}, numpy {np.__version__} (BLAS: {blas_text}), "
        f"Pillow {Image.__version__} (libjpeg-turbo {turbo})",
    ]


def install_kind() -> str:
    """How the measured `nnfilter` command is installed, and whether it is this checkout's code."""
    from importlib import metadata

    outside_checkout = [p for p in sys.path if p and Path(p).resolve() != ROOT]  # not its egg-info
    dist = next(iter(metadata.distributions(name="nnfilter", path=outside_checkout)), None)
    if dist is None:
        return "- nnfilter: not installed (run as `python -m nnfilter` from the checkout)"
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("dir_info", {}).get("editable"):
        return "- nnfilter: an editable install (`pip install -e`), whose import hook adds ~20 ms to each start-up"
    installed = {
        f.name: dist.locate_file(f).read_bytes()
        for f in dist.files or []
        if f.parts[0] == "nnfilter" and f.suffix == ".py"
    }
    checkout = {path.name: path.read_bytes() for path in (ROOT / "nnfilter").glob("*.py")}
    same = installed == checkout
    return "- nnfilter: a regular install (`pip install .`, as users install it)" + (
        "" if same else ", **whose files differ from this checkout's nnfilter/**"
    )


def code_version() -> str:
    """The commit measured, and whether nnfilter/ had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "diff", "HEAD", "--name-only", "--", "nnfilter"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "nnfilter"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "- code: unknown (not a git checkout)"
    if not changed:
        return f"- code: commit {commit}"
    import hashlib

    return (
        f"- code: commit {commit} with uncommitted changes in {', '.join(changed)} "
        f"(diff {hashlib.sha1(diff).hexdigest()[:8]})"
    )


def write_results(section: str) -> None:
    """Put ``section`` (which starts with "## Speed") into RESULTS.md, keeping every other section."""
    if RESULTS.exists():
        text = RESULTS.read_text()
    else:
        text = (
            "# Benchmark results\n\n## Speed\n\n## Quality\n\n"
            "_To come: figures from `python -m benchmarks.quality`._\n"
        )
    match = re.search(r"^## Speed\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if match:
        text = text[: match.start()] + section + "\n" + text[match.end() :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and files: a smoke test")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if not Path(TIME).exists():
        sys.exit(f"{TIME} is needed (GNU time: apt-get install time)")
    started = time.perf_counter()
    load_start = os.getloadavg()
    code_at_start = code_version()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    inputs = prepare_inputs(plan)
    held_out = Target.of(load_rgb(INPUTS / "heldout-2mp.jpg"))
    train_photo = Target.of(load_rgb(INPUTS / "B12.jpg"))
    bench_start = time.perf_counter()

    verdicts: list[Verdict] = []
    body: list[str] = []
    lines, v, ref = section_train(plan, held_out, train_photo)
    body += lines + [""]
    verdicts += v
    body += section_sklearn(plan, held_out, ref) + [""]
    lines, v, ref_apply = section_apply(plan, inputs)
    body += lines + [""]
    verdicts += v
    lines, v, ref_acc = section_accuracy_and_breakdown(plan)
    body += lines + [""]
    verdicts += v
    lines, v = section_memory(plan)
    body += lines + [""]
    verdicts += v
    lines, v = section_folders(plan, inputs)
    body += lines + [""]
    verdicts += v
    body += section_naive(ref_apply | ref_acc) + [""]

    sizes = ", ".join(f"{k} {v:.1f} MB" for k, v in inputs["sizes_mb"].items())
    elapsed = time.perf_counter() - started
    head = [
        "## Speed",
        "",
        f"`python -m benchmarks.speed{' --quick' if args.quick else ''}` (issue 7), {when}; "
        f"{elapsed / 60:.1f} min in all ({(time.perf_counter() - bench_start) / 60:.1f} min measuring).",
        "",
        *machine(),
        install_kind(),
        code_at_start
        if code_at_start == code_version()
        else f"{code_at_start}; **at the end: {code_version()[8:]}** (nnfilter/ changed during the run)",
        f"- load average (1 min) at start {load_start[0]:.2f}, at end {os.getloadavg()[0]:.2f}: the machine is "
        "shared, so cases that are compared were run interleaved and ratios come from the same run.",
        "- inputs (`benchmarks/work/inputs/`, made by the benchmark): sample photos Lanczos-upscaled with "
        f"Gaussian noise σ = {NOISE_SIGMA} levels, JPEG q92 4:2:0; the after images by "
        f"`benchmarks.looks.colour_grade`, JPEG q90. The 12 MP before photo has "
        f"{inputs['distinct_12'] / 1e6:.2f} M distinct colours. File sizes: {sizes} (smoother than camera "
        "files of the same size, so Pillow's decode is, if anything, cheaper here than on real photos).",
        "- commands run in `benchmarks/work/` with the venv's `bin` on the path; each is a whole process "
        "(start-up included) under `/usr/bin/time -v`, with Python bytecode cached as in a normal install. "
        "Times are medians (min–max) of the runs.",
        "",
        "### Targets",
        "",
        *[v.line() for v in verdicts],
        "",
    ]
    section = "\n".join(head + body).rstrip("\n") + "\n"
    print(section)
    if args.quick:
        (WORK / "speed-quick.md").write_text(section)
        log(f"written to {WORK / 'speed-quick.md'} (quick runs do not touch RESULTS.md)")
    else:
        write_results(section)
        log(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
