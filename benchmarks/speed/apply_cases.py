"""Applying: one photo, batches on one core and on all, the fast path against the exact one and
where the time goes, memory, folders of small photos, and a naive baseline."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from nnfilter import Look
from nnfilter.apply import apply_to_image
from nnfilter.images import open_image
from nnfilter.saving import save_image

from .inputs import Inputs
from .measure import Case, interleave, med, ratio, spread, timed
from .plan import INPUTS, PYTHON, WORK, Plan, log, nnfilter_cmd, pillow_cmd
from .report import Section, Verdict

# Issue 15's targets, on every machine of its kind: against Pillow reading and writing the same files.
APPLY_RATIO = 1.8  # one 24 MP JPEG → JPEG, whole process
BATCH_RATIO = 1.4  # a batch of 24 MP photos, --jobs 1 against one Pillow process
BATCH_CORES_RATIO = 1.4  # the same on N cores: --jobs N against N Pillow processes splitting the files
MEMORY_RATIO = 1.25  # peak RSS applying to 100 MP
EXACT_SHARE, EXACT_WORST = 0.999, 2  # the fast path against the exact network


@dataclass
class ApplyFigures:
    nn_wall: float
    pillow_wall: float


@dataclass
class AccuracyFigures:
    fast_s: float
    exact_s: float
    method: str


def apply_cmd(src: str, out: str, *options: str) -> list[str]:
    return nnfilter_cmd("apply", "-m", "models/m.npz", src, "-o", out, "--force", *options)


def section_apply(plan: Plan) -> tuple[Section, ApplyFigures]:
    log("apply: one 24 MP JPEG")
    nn = Case("nnfilter apply", apply_cmd("inputs/B24.jpg", "out/apply-nn.jpg"))
    pil = Case("Pillow read+write", pillow_cmd("inputs/B24.jpg", "out/apply-pillow.jpg"))
    nn_j1 = Case("nnfilter apply --jobs 1 (one core)", [*nn.cmd, "--jobs", "1"])
    version = Case("start-up: nnfilter --version", nnfilter_cmd("--version"))
    imp_nn = Case(
        "start-up: import what apply uses (nnfilter.cli, nnfilter.look)",
        [PYTHON, "-c", "import nnfilter.cli, nnfilter.look"],
        {"OPENBLAS_NUM_THREADS": "1"},
    )
    imp_pil = Case("start-up: import PIL.Image", [PYTHON, "-c", "import PIL.Image"])
    single = interleave([nn, pil, nn_j1, version, imp_nn, imp_pil], plan.apply_runs)
    lines = ["### Apply: one 24 MP JPEG → JPEG, end to end", ""]
    lines += [f"    {c.command}" for c in single[:3]] + [""]
    lines += ["| process | wall time | CPU | peak RSS |", "|---|---:|---:|---:|"]
    lines += [f"| {c.name} | {spread(c.walls)} | {c.cpu:.0f}% | {med(c.rss):.0f} MB |" for c in single]
    lines += [
        "",
        f"Ratio nnfilter / Pillow: **{ratio(nn.walls, pil.walls)}**; with `--jobs 1`: "
        f"{ratio(nn_j1.walls, pil.walls)}. Importing what apply uses costs "
        f"{imp_nn.wall - imp_pil.wall:.2f} s more than importing Pillow; with cores to spare, "
        "`apply` on one photo decodes it meanwhile, from before the command line loads (`--jobs 1` does not).",
    ]
    verdict = Verdict(
        f"apply a 24 MP JPEG end to end in ≤ {APPLY_RATIO:g}× Pillow read+write",
        nn.wall <= APPLY_RATIO * pil.wall,
        f"{nn.wall / pil.wall:.2f}×: {nn.wall:.2f} s vs {pil.wall:.2f} s",
    )
    return Section(lines, [verdict]), ApplyFigures(nn.wall, pil.wall)


def section_batch(plan: Plan, inputs: Inputs) -> Section:
    cores = os.cpu_count() or 1
    log(f"apply: a batch of {plan.batch_files} 24 MP JPEGs, on one core and on {cores}")
    folder = str(inputs.batch.relative_to(WORK))
    nn1 = Case("nnfilter apply FOLDER --jobs 1", apply_cmd(folder, "out/batch-nn-j1", "--jobs", "1"))
    pil1 = Case("Pillow loop, one process", pillow_cmd("--dir", folder, "out/batch-pillow"))
    nn_n = Case(
        f"nnfilter apply FOLDER (default --jobs = cores = {cores})", apply_cmd(folder, "out/batch-nn")
    )
    pil_n = Case(
        f"Pillow, {cores} processes splitting the files",
        pillow_cmd("--dir", folder, "out/batch-pillow-n", "--processes", str(cores)),
    )
    cases = interleave([nn1, pil1, nn_n, pil_n], plan.batch_runs)
    lines = [f"### Apply: a batch of {plan.batch_files} photos of 24 MP (one command each run)", ""]
    lines += [f"    {c.command}" for c in cases] + [""]
    lines += ["| process | wall time | per photo | CPU¹ | peak RSS¹ |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {c.name} | {spread(c.walls)} | {c.wall / plan.batch_files:.2f} s | {c.cpu:.0f}% | {med(c.rss):.0f} MB |"
        for c in cases
    ]
    lines += [
        "",
        "¹ Summed over the processes for CPU, the largest one for RSS: nnfilter's forked workers and the "
        "Pillow processes (a `--jobs N` whose workers come from multiprocessing's fork server, as when "
        "the main process runs other threads, would show the main process's only).",
        "",
        f"Like with like: nnfilter `--jobs 1` / one Pillow process: **{ratio(nn1.walls, pil1.walls)}**; "
        f"nnfilter `--jobs {cores}` / {cores} Pillow processes: **{ratio(nn_n.walls, pil_n.walls)}**. "
        f"(nnfilter on {cores} cores / Pillow on one: {ratio(nn_n.walls, pil1.walls)}.)",
    ]
    verdicts = [
        Verdict(
            f"batch of {plan.batch_files} × 24 MP, `--jobs 1`, in ≤ {BATCH_RATIO:g}× a one-process Pillow loop",
            nn1.wall <= BATCH_RATIO * pil1.wall,
            f"{nn1.wall / pil1.wall:.2f}×: {nn1.wall:.1f} s vs {pil1.wall:.1f} s",
        ),
        Verdict(
            f"the same with `--jobs {cores}` (= cores) in ≤ {BATCH_CORES_RATIO:g}× {cores} Pillow processes "
            "splitting the files",
            nn_n.wall <= BATCH_CORES_RATIO * pil_n.wall,
            f"{nn_n.wall / pil_n.wall:.2f}×: {nn_n.wall:.1f} s vs {pil_n.wall:.1f} s",
        ),
    ]
    return Section(lines, verdicts)


def _max_channel_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    diff = np.zeros(a.shape[:2], np.uint8)
    for c in range(3):
        np.maximum(diff, np.abs(a[..., c].astype(np.int16) - b[..., c]).astype(np.uint8), out=diff)
    return diff


def section_accuracy_and_breakdown(plan: Plan) -> tuple[Section, AccuracyFigures]:
    method = "table"
    log(f"apply: {method} vs exact on 24 MP, and where the time goes (in this process)")
    saved = Look.load(WORK / "models" / "m.npz")
    model = saved.model
    runs = max(1, plan.apply_runs // 2)
    t_open, image = timed(lambda: open_image(INPUTS / "B24.jpg"), runs)
    other = open_image(sorted((INPUTS / "pool24").iterdir())[1])  # another 24 MP photo (coffee)

    def first_then_next(threads: int | None) -> tuple[float, float]:
        look = Look(model, saved.metadata)  # a fresh look: builds its table on first use
        first, _ = timed(lambda: look.apply(image.copy(), threads=threads), 1)
        then, _ = timed(lambda: look.apply(other.copy(), threads=threads), 1)
        return first[0], then[0]

    pairs = [first_then_next(None) for _ in range(runs)]
    pairs1 = [first_then_next(1) for _ in range(runs)]
    t_copy, _ = timed(lambda: other.copy(), runs)
    t_fast, fast_out = timed(lambda: apply_to_image(model, image.copy(), True, method), runs)
    t_save, _ = timed(lambda: save_image(fast_out, WORK / "out" / "breakdown.jpg", overwrite=True), runs)
    t_encode, _ = timed(
        lambda: fast_out.save(WORK / "out" / "breakdown-plain.jpg", quality=95, subsampling=0), runs
    )
    t_exact, exact_out = timed(lambda: apply_to_image(model, image.copy(), True, "exact"), 1)

    src = np.asarray(image)
    diff = _max_channel_difference(np.asarray(fast_out)[..., :3], np.asarray(exact_out)[..., :3])
    within1, worst = float((diff <= 1).mean()), int(diff.max())
    histogram = np.bincount(diff.ravel(), minlength=worst + 1)
    extreme = (src.min(axis=2) < 8) | (src.max(axis=2) > 247)  # a channel within 8 levels of black or white
    off = diff > 1
    mpx = image.width * image.height / 1e6
    cached1 = med([p[1] for p in pairs1]) - med(t_copy)

    def row(name: str, walls: list[float]) -> str:
        return f"| {name} | {spread(walls)} |"

    lines = [
        "### Apply: where the time goes (24 MP, in one process)",
        "",
        "| step | time |",
        "|---|---:|",
        row("`open_image` (decode, EXIF transpose)", t_open),
        row("`Look.apply`, first photo (builds the look's table), default threads", [p[0] for p in pairs]),
        row("`Look.apply`, another 24 MP photo with the same `Look` (as in a batch)", [p[1] for p in pairs]),
        row("`Look.apply`, first photo, one thread", [p[0] for p in pairs1]),
        row(
            f"`Look.apply`, another photo, one thread: the mapping per core, {mpx / cached1:.0f} Mpx/s "
            "(copy of the photo not counted)",
            [p[1] for p in pairs1],
        ),
        row(f'`apply_to_image(..., "{method}")`, a fresh table ({mpx / med(t_fast):.0f} Mpx/s)', t_fast),
        row("`save_image` JPEG q95 4:4:4 (temp file, fsync, rename)", t_save),
        row("Pillow `save(quality=95, subsampling=0)` alone", t_encode),
        row(f'`apply_to_image(..., "exact")` ({mpx / med(t_exact):.1f} Mpx/s)', t_exact),
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
            f'fast path ("{method}") within 1 level of exact on ≥ {100 * EXACT_SHARE:g}% of pixels',
            within1 >= EXACT_SHARE,
            f"{100 * within1:.4f}%",
        ),
        Verdict(
            f'fast path ("{method}") never more than {EXACT_WORST} levels from exact',
            worst <= EXACT_WORST,
            f"max {worst}",
        ),
    ]
    return Section(lines, verdicts), AccuracyFigures(med(t_fast), med(t_exact), method)


def section_memory(plan: Plan) -> Section:
    log("memory: 100 MP apply vs Pillow")
    nn = Case("nnfilter apply", apply_cmd("inputs/H100.jpg", "out/h100-nn.jpg"))
    pil = Case("Pillow read+write", pillow_cmd("inputs/H100.jpg", "out/h100-pillow.jpg"))
    interleave([nn, pil], plan.memory_runs)
    log("memory: train on a 24 MP pair")
    tr = Case(
        "nnfilter train (24 MP pair)",
        nnfilter_cmd("train", "inputs/B24.jpg", "inputs/A24.jpg", "-o", "models/m24.npz", "--force"),
    )
    interleave([tr], plan.memory_runs)
    peak_ratio = med(nn.rss) / med(pil.rss)
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
        f"Ratio of peaks, apply / Pillow: **{peak_ratio:.3f}×** "
        f"(Pillow holds the 100 MP RGB image in 4 bytes a pixel, {10000 * 10000 * 4 / 2**20:.0f} MB).",
    ]
    verdicts = [
        Verdict(
            f"apply to 100 MP peaks at ≤ {MEMORY_RATIO:g}× Pillow alone",
            peak_ratio <= MEMORY_RATIO,
            f"{peak_ratio:.3f}×: {med(nn.rss):.0f} MB vs {med(pil.rss):.0f} MB",
        ),
        Verdict("train on a 24 MP pair under 2 GB", max(tr.rss) < 2048, f"{max(tr.rss):.0f} MB"),
    ]
    return Section(lines, verdicts)


def section_folders(plan: Plan, inputs: Inputs) -> Section:
    log(f"folders: {plan.folder_files} photos of 2 MP, --jobs 2 vs --jobs 1")
    folder = str(inputs.folder.relative_to(WORK))
    j2 = Case("--jobs 2", apply_cmd(folder, "out/folder-j2", "--jobs", "2"))
    j1 = Case("--jobs 1", apply_cmd(folder, "out/folder-j1", "--jobs", "1"))
    interleave([j2, j1], plan.folder_runs)
    speedup = j1.wall / j2.wall
    per_run = [a / b for a, b in zip(j1.walls, j2.walls, strict=True)]
    saved = Look.load(WORK / "models" / "m.npz")
    photos = sorted(inputs.folder.iterdir())[:6]
    t_open, image = timed(lambda: open_image(photos[0]), 5)
    t_first, t_next = [], []
    for _ in range(3):
        look = Look(saved.model, saved.metadata)  # fresh: builds its table on the first photo
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
        "| jobs | wall time | photos/s | CPU |",
        "|---|---:|---:|---:|",
        *[
            f"| {c.name} | {spread(c.walls)} | {plan.folder_files / c.wall:.1f} | {c.cpu:.0f}% |"
            for c in (j2, j1)
        ],
        "",
        f"Speed-up `--jobs 2` over `--jobs 1`: **{speedup:.2f}×** (per run {min(per_run):.2f}–{max(per_run):.2f}×). "
        "`--jobs 1` is one core: one process filtering each file in one thread; `--jobs 2` adds the start of "
        "its worker pool (processes forked with the look loaded) and one colour table that they share.",
        "",
        f"One {image.width}×{image.height} photo of this folder, in one process: `open_image` "
        f"{med(t_open) * 1000:.0f} ms, `save_image` {med(t_save) * 1000:.0f} ms; open + `Look.apply` "
        f"{med(t_first) * 1000:.0f} ms for a look's first photo (which builds its table), "
        f"{med(t_next) * 1000:.0f} ms for each next photo with the same look (medians).",
    ]
    verdict = Verdict(
        f"`--jobs 2` ≥ 1.7× faster than `--jobs 1` on {plan.folder_files} × 2 MP",
        speedup >= 1.7,
        f"{speedup:.2f}×",
    )
    return Section(lines, [verdict])


def section_naive(apply: ApplyFigures, accuracy: AccuracyFigures) -> Section:
    log("naive: float64 forward pass over every pixel of 24 MP")
    case = interleave(
        [Case("naive", [PYTHON, "../naive_forward.py", "models/m.npz", "inputs/B24.jpg", "out/naive.jpg"])], 1
    )[0]
    times = json.loads(case.runs[0].stdout)
    return Section(
        [
            "### Baseline: naive float64 forward pass over every pixel (24 MP, no LUT, no chunks)",
            "",
            "    " + case.command,
            "",
            "| | naive float64 | nnfilter |",
            "|---|---:|---:|",
            f"| network over 24 MP | {times['forward_s']:.2f} s | {accuracy.fast_s:.2f} s {accuracy.method} "
            f"path, {accuracy.exact_s:.2f} s exact path (float32 chunks) |",
            f"| whole process, read + filter + write | {case.runs[0].wall:.2f} s | {apply.nn_wall:.2f} s "
            "(`nnfilter apply`, median) |",
            f"| peak RSS | {case.runs[0].rss_mb:.0f} MB | see the tables above |",
        ]
    )
