"""How right a learned look is on photos it was not trained on (issue: eval quality bar).

For each reference look: train with default options on sample_images/before.jpg and the look
applied to it (saved as a JPEG, quality 90, 4:2:0, as an edited photo is), then apply the model to
the three other sample photos and compare with the exact look of each: mean CIEDE2000 (ΔE00).
``--train test1.jpg`` trains on the coffee cup instead, a photo of few colours (issue 13's case:
its looks on test3.jpg, the night sky).

    python -m benchmarks.quality [--train before.jpg] [--seeds 3] [--hidden 16,16] [--epochs N] ...

Each figure is the mean over training seeds 0..N-1: how a network extrapolates to colours it never
saw varies from seed to seed, and one seed can flatter or wrong a choice.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nnfilter import TrainConfig, learn_look
from nnfilter.colour import delta_e00
from nnfilter.images import open_image

from .looks import LOOKS

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
PHOTOS = ["before.jpg", "test1.jpg", "test2.jpg", "test3.jpg"]


def rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def jpeg_after(pixels: np.ndarray, folder: Path) -> Image.Image:
    """Pixels saved as a JPEG (quality 90, 4:2:0) and opened as ``nnfilter train`` opens an AFTER."""
    path = folder / "after.jpg"
    Image.fromarray(pixels).save(path, "JPEG", quality=90)
    return open_image(path, jpeg_ycbcr=True)


def score_looks(config: TrainConfig, training: str = "before.jpg") -> dict[str, dict[str, float]]:
    """Per look: mean ΔE00 on each held-out photo (the sample photos but ``training``), their mean,
    the training pair's, train seconds (with the config's seed)."""
    before = rgb(SAMPLES / training)
    held_out = {name: rgb(SAMPLES / name) for name in PHOTOS if name != training}
    results = {}
    for name, look_fn in LOOKS.items():
        with tempfile.TemporaryDirectory(prefix="nnfilter-quality-") as folder:
            after = jpeg_after(look_fn(before), Path(folder))
        start = time.perf_counter()
        look, _ = learn_look([(before, after)], config)
        seconds = time.perf_counter() - start
        row = {
            photo: float(delta_e00(look.apply(pixels), look_fn(pixels)).mean())
            for photo, pixels in held_out.items()
        }
        row["held-out mean"] = float(np.mean([row[p] for p in held_out]))
        row["training pair"] = float(delta_e00(look.apply(before), look_fn(before)).mean())
        row["train s"] = seconds
        results[name] = row
    return results


def markdown(results: dict[str, dict[str, float]]) -> str:
    columns = list(next(iter(results.values())))
    lines = ["| look | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.2f}" for c in columns) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=lambda s: [int(x) for x in s.split(",")])
    for field in ("epochs", "batch_size"):
        parser.add_argument(f"--{field.replace('_', '-')}", type=int)
    for field in ("lr", "count_power"):
        parser.add_argument(f"--{field.replace('_', '-')}", type=float)
    parser.add_argument("--activation")
    parser.add_argument("--no-residual", dest="residual", action="store_false", default=None)
    parser.add_argument("--seeds", type=int, default=3, help="average over seeds 0..N-1 (default 3)")
    parser.add_argument("--train", choices=PHOTOS, default="before.jpg", help="the training photo")
    args = parser.parse_args()
    seeds, training = args.seeds, args.train
    options = {k: v for k, v in vars(args).items() if v is not None and k not in ("seeds", "train")}
    print(f"trained on {training}, options: {options or 'defaults'}, mean of seeds 0-{seeds - 1}")
    runs = [score_looks(TrainConfig(**options, seed=seed), training) for seed in range(seeds)]
    print(
        markdown(
            {
                look: {
                    column: float(np.mean([run[look][column] for run in runs])) for column in runs[0][look]
                }
                for look in runs[0]
            }
        )
    )


if __name__ == "__main__":
    main()
