"""How a look trained on one photo holds up with the distance from its colours, against simpler
continuations: ``python -m benchmarks.realworld.distance [--train test1] [--looks a,b]``.

For each look, trained on one photo with the JPEG AFTER (defaults), the held-out photos' pixels
are binned by the distance of their cell of ``nnfilter.coverage``'s 16³ grid from the nearest
cell the training photo occupies, and each bin's mean ΔE00 against the exact look is given for
nnfilter, its prior alone, a 3×4 affine fit of the same JPEG pair and the identity (what G'MIC
relaxes towards far from the pair). Prints a Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from nnfilter import learn_look
from nnfilter.colour import delta_e00
from nnfilter.coverage import GRID, GRID_BITS, covered_cells
from nnfilter.images import open_image
from nnfilter.prior import apply_curves

from .data import log, look_function, look_names, photo_paths, read_photo
from .methods import fit_affine
from .photos import Photo, decoded, jpeg_file, to_uint8

#: Bins of distance in grid cells: the pair's own cells, their neighbours (diagonals too), up to 3
#: cells (48 levels) away, further.
BINS = ((0.0, 0.5), (0.5, 1.8), (1.8, 3.0), (3.0, np.inf))
BIN_NAMES = ("seen", "next to seen", "2-3 cells away", "further")


def cell_distances(covered: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Each colour's distance, in cells, from its cell to the nearest ``covered`` one."""
    centres = np.indices((GRID,) * 3).reshape(3, -1).T
    seen = centres[covered].astype(np.float32)
    cells = (colours >> (8 - GRID_BITS)).astype(np.float32)
    out = np.empty(len(cells))
    for start in range(0, len(cells), 4096):
        chunk = cells[start : start + 4096]
        out[start : start + 4096] = np.sqrt(((chunk[:, None] - seen[None]) ** 2).sum(-1).min(1))
    return out


def binned_errors(
    train: str, looks: list[str], folder: Path
) -> tuple[list[float], dict[str, dict[str, list[float]]]]:
    """The held-out pixels' share in each of ``BINS``, and per look and method their mean ΔE00 in
    each (nan in an empty bin)."""
    paths = photo_paths()
    before = read_photo(paths[train])
    photos = [Photo.read(name, path) for name, path in paths.items() if name != train]
    colours = np.concatenate([p.colours() for p in photos])
    counts = np.concatenate([p.counts for p in photos]).astype(np.float64)
    distance = cell_distances(covered_cells(before.reshape(-1, 3)), colours)
    masks = [(distance >= low) & (distance < high) for low, high in BINS]
    shares = [float(counts[m].sum() / counts.sum()) for m in masks]
    results = {}
    for name in looks:
        log(f"{name}: training on {train}, scoring on {len(photos)} photos")
        look = look_function(name)
        jpeg = jpeg_file(look(before))
        (folder / "after.jpg").write_bytes(jpeg)
        learned, _ = learn_look([(before, open_image(folder / "after.jpg", jpeg_ycbcr=True))])
        exact = look(colours[None])[0]
        outputs = {
            "nnfilter": learned.apply(colours[None].copy())[0],
            "its prior alone": to_uint8(apply_curves(learned.model.prior, colours / 255)[:, :3]),
            "affine": fit_affine([[(before, decoded(jpeg))]], colours, None)[0].outputs,
            "identity": colours,
        }
        results[name] = {
            method: [
                float(delta_e00(out[m], exact[m]) @ counts[m] / counts[m].sum()) if m.any() else np.nan
                for m in masks
            ]
            for method, out in outputs.items()
        }
    return shares, results


def report(train: str, shares: list[float], results: dict[str, dict[str, list[float]]]) -> str:
    """The Markdown table: per look and method the bins' means, and their mean over the looks."""
    looks = list(results)
    methods = list(results[looks[0]])
    lines = [
        f"Trained on {train} (JPEG AFTER, defaults); mean ΔE00 of the held-out pixels by their cell's distance "
        "from the training photo's cells (16³ grid)",
        "",
        "| look | method | " + " | ".join(BIN_NAMES) + " |",
        "|---|---|" + "---:|" * len(BINS),
        "| (share of the pixels) | | " + " | ".join(f"{s:.0%}" for s in shares) + " |",
    ]
    for method in methods:
        mean = np.mean([results[look][method] for look in looks], axis=0)
        lines.append(
            f"| **mean of {len(looks)}** | {method} | " + " | ".join(f"**{x:.2f}**" for x in mean) + " |"
        )
    for look in looks:
        for method in methods:
            lines.append(
                f"| {look} | {method} | " + " | ".join(f"{x:.2f}" for x in results[look][method]) + " |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", default="test1", help="the training photo (default test1, the coffee cup)")
    parser.add_argument("--looks", help="comma list (default all 24)")
    args = parser.parse_args()
    looks = args.looks.split(",") if args.looks else look_names()
    with tempfile.TemporaryDirectory() as folder:
        print(report(args.train, *binned_errors(args.train, looks, Path(folder))))


if __name__ == "__main__":
    main()
