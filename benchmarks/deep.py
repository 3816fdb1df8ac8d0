"""16-bit apply against its floor (issue 17): `nnfilter apply` on a 24 MP 16-bit TIFF, against a
process that only reads and writes the same file with the same libraries.

    python -m benchmarks.deep [--runs 3] [--work benchmarks/work/deep]

Makes (once) a 6000x4000 16-bit RGB TIFF (Deflate, predictor) of smooth gradients and noise, and a
model (the default 16-16 network, trained a few epochs on a crop). Then, interleaved, `--runs`
times each, as whole processes timed from outside:

- ``floor``: tifffile reads the file and writes it again, Deflate and predictor, as nnfilter does;
- ``apply``: ``nnfilter apply IN.tif -m look.npz -o OUT.tif --force`` (the network on every pixel).

Prints the medians in seconds, and the CPU.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .speed.provenance import cpu_model

WIDTH, HEIGHT = 6000, 4000
FLOOR = """
import sys, tifffile
pixels = tifffile.imread(sys.argv[1])
tifffile.imwrite(sys.argv[2], pixels, photometric="rgb", compression="zlib", predictor=True)
"""


def make_inputs(work: Path) -> tuple[Path, Path]:
    """The 24 MP 16-bit TIFF and a model for it, made once."""
    import tifffile

    work.mkdir(parents=True, exist_ok=True)
    photo, model = work / "photo24.tif", work / "look.npz"
    if not photo.exists():
        rng = np.random.default_rng(0)
        y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
        channels = [0.5 + 0.5 * np.sin(x / (700 + 300 * c) + y / (500 + 200 * c) + c) for c in range(3)]
        rgb = np.stack(channels, axis=-1) + rng.normal(0, 0.002, (HEIGHT, WIDTH, 3)).astype(np.float32)
        pixels = np.rint(np.clip(rgb, 0, 1) * 65535).astype(np.uint16)
        tifffile.imwrite(photo, pixels, photometric="rgb", compression="zlib", predictor=True)
    if not model.exists():
        crop = tifffile.imread(photo)[:400, :600]
        after = np.rint(65535 * (crop / 65535.0) ** 0.7).astype(np.uint16)
        tifffile.imwrite(work / "before.tif", crop, photometric="rgb")
        tifffile.imwrite(work / "after.tif", after, photometric="rgb")
        run([_nnfilter(), "train", work / "before.tif", work / "after.tif", "-o", model, "--epochs", "20"])
    return photo, model


def _nnfilter() -> str:
    return str(Path(sys.executable).with_name("nnfilter"))


def run(args: list) -> float:
    """Wall-clock seconds of a whole process."""
    start = time.perf_counter()
    subprocess.run([str(a) for a in args], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("benchmarks/work/deep"))
    options = parser.parse_args()
    photo, model = make_inputs(options.work)
    out = options.work / "out.tif"
    commands = {
        "floor (tifffile read + write)": [sys.executable, "-c", FLOOR, photo, options.work / "floor.tif"],
        "nnfilter apply (16-bit)": [_nnfilter(), "apply", photo, "-m", model, "-o", out, "--force"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(options.runs):
        for name, command in commands.items():
            times[name].append(run(command))
    print(f"CPU: {cpu_model()}; {options.runs} interleaved runs each, whole processes")
    for name, values in times.items():
        print(
            f"{name:32} median {statistics.median(values):6.2f} s  (runs: {', '.join(f'{v:.2f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
