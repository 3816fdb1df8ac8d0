"""Making the benchmark's photos once into benchmarks/work/inputs/ (git-ignored)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..looks import colour_grade
from .heldout import distinct_colours
from .plan import FULL, INPUTS, SAMPLES, WORK, Plan, log

NOISE_SIGMA = 2.5  # gives ~0.35 M distinct colours at 12 MP (a real 12 MP photo: ~0.3 M)
INPUTS_VERSION = f"1 sigma={NOISE_SIGMA}"
SOURCES = ["before.jpg", "test1.jpg", "test2.jpg", "test3.jpg"]
SIZE_12, SIZE_24, SIZE_100, SIZE_2 = (4000, 3000), (6000, 4000), (10000, 10000), (1732, 1155)


@dataclass
class Inputs:
    """What the measurements read: the folders made for this plan, and facts about the photos."""

    batch: Path  # batch_files photos of 24 MP
    folder: Path  # folder_files photos of 2 MP
    distinct_12: int  # distinct colours of the 12 MP before photo
    sizes_mb: dict[str, float]

    def description(self) -> str:
        sizes = ", ".join(f"{k} {v:.1f} MB" for k, v in self.sizes_mb.items())
        return (
            "- inputs (`benchmarks/work/inputs/`, made by the benchmark): sample photos Lanczos-upscaled with "
            f"Gaussian noise σ = {NOISE_SIGMA} levels, JPEG q92 4:2:0; the after images by "
            f"`benchmarks.looks.colour_grade`, JPEG q90. The 12 MP before photo has "
            f"{self.distinct_12 / 1e6:.2f} M distinct colours. File sizes: {sizes} (smoother than camera "
            "files of the same size, so Pillow's decode is, if anything, cheaper here than on real photos)."
        )


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


def prepare_inputs(plan: Plan) -> Inputs:
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
    sizes = {
        name: (INPUTS / name).stat().st_size / 1e6 for name in ("B12.jpg", "A12.jpg", "B24.jpg", "H100.jpg")
    }
    sizes["pool24 (each, mean)"] = float(np.mean([p.stat().st_size for p in pool24])) / 1e6
    sizes["pool2 (each, mean)"] = float(np.mean([p.stat().st_size for p in pool2])) / 1e6
    return Inputs(batch, folder, len(distinct_colours(load_rgb(INPUTS / "B12.jpg"))[0]), sizes)
