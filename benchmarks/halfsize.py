"""Training a large JPEG pair at half size: held-out quality of full-size and half-size decoding.

    python -m benchmarks.halfsize [--looks dk-vintage,pg-kelvin] [--workers 2]

``nnfilter train`` decodes a pair of two JPEGs of ``pairs.HALF_DECODE_PIXELS`` or more at half
their width and height (``Image.draft``). This measures what that does to a look on photos it was
not trained on: each look of ``benchmarks.realworld`` (made by people) is trained, with default
options, on each large camera photo of Debian's ``lomiri-wallpapers-16.04`` and
``lomiri-wallpapers-20.04`` (8–20 MP; licences as the packages' copyright files state them, in
``PHOTOS``; the BEFORE is the photo's own JPEG, the AFTER its exact look saved as JPEG q90 4:2:0), once decoded in
full and once at half size, through ``open_pairs`` as the train command calls it; each model is
scored (mean ΔE00 against the exact look) on the realworld benchmark's 17 photos of ~1 MP.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nnfilter.look import learn_look_from_pairs
from nnfilter.pairs import open_pairs

from .realworld.data import debian_package, log, look_function, look_names, photo_paths, read_photo
from .realworld.photos import JPEG_QUALITY, PhotoSet, colour_scores
from .realworld.worker import look_on_colours

#: The camera photos of 8 MP or more in those packages (the others there are drawings and renders),
#: with their licences: Bridge, Dragonfly CC-BY-SA 4.0; Wine, sunset CC-BY 4.0; seeding CC0 1.0;
#: Kleiber CC-BY-SA 3.0.
PHOTOS = {
    "lomiri-wallpapers-16.04": (
        "Bridge_by_Sander_Klootwijk",
        "Dragonfly_by_Bolly",
        "Wine_by_Jakkub_Mede",
        "seeding_by_Clements_Engelhardt",
        "sunset_by_Aitzol_Berasategi",
    ),
    "lomiri-wallpapers-20.04": ("Kleiber_by_Lukas_Baubkus",),
}
HELD_OUT: dict[str, PhotoSet] = {}  # each worker's, read once


def large_photos() -> dict[str, Path]:
    return {
        name: debian_package(package) / "usr/share/backgrounds" / f"{name}.jpg"
        for package, names in PHOTOS.items()
        for name in names
    }


def score_look(look_name: str) -> list[dict]:
    """One look trained on every large photo, full size and half size, scored on the held-out set."""
    if not HELD_OUT:
        HELD_OUT["set"] = PhotoSet.read(photo_paths())
    held_out = HELD_OUT["set"]
    look = look_function(look_name)
    targets = held_out.split(look_on_colours(look, held_out.colours))
    records = []
    for name, before_path in large_photos().items():
        with tempfile.TemporaryDirectory(prefix="nnfilter-halfsize-") as folder:
            after_path = Path(folder) / "after.jpg"
            buffer = io.BytesIO()
            Image.fromarray(look(read_photo(before_path))).save(buffer, "JPEG", quality=JPEG_QUALITY)
            after_path.write_bytes(buffer.getvalue())
            for halve in (False, True):
                start = time.perf_counter()
                pairs = open_pairs(
                    [(before_path, after_path)], halve_large_jpegs=halve, jpeg_ycbcr_afters=True
                )
                learned, _ = learn_look_from_pairs(pairs)
                seconds = time.perf_counter() - start
                outputs = held_out.split(learned.apply(held_out.colours))
                means = [
                    colour_scores(outputs[photo], targets[photo], held_out.photos[photo].counts)[0]
                    for photo in outputs
                ]
                records.append(
                    {
                        "look": look_name,
                        "photo": name,
                        "decode": "half" if halve else "full",
                        "mean": float(np.mean(means)),
                        "seconds": seconds,
                    }
                )
    return records


def table(records: list[dict], key: str) -> list[str]:
    rows = sorted({r[key] for r in records})
    lines = [
        f"| {key} | full size | half size | half − full | train s, full / half |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in [*rows, None]:
        chosen = [r for r in records if row is None or r[key] == row]
        full, half = (
            {f: np.mean([r[f] for r in chosen if r["decode"] == d]) for f in ("mean", "seconds")}
            for d in ("full", "half")
        )
        label = "**mean**" if row is None else row
        lines.append(
            f"| {label} | {full['mean']:.2f} | {half['mean']:.2f} | {half['mean'] - full['mean']:+.2f} "
            f"| {full['seconds']:.1f} / {half['seconds']:.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--looks", help="comma list (default: every look of benchmarks.realworld)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    looks = args.looks.split(",") if args.looks else look_names()
    for path in large_photos().values():  # fetched here, not by several workers at once
        assert path.exists(), path
    photo_paths()
    import multiprocessing

    start = time.perf_counter()
    records = []
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for done, result in enumerate(pool.imap_unordered(score_look, looks), 1):
            records += result
            log(f"{result[0]['look']} done ({done}/{len(looks)}, {time.perf_counter() - start:.0f} s)")
    print(
        f"`python -m benchmarks.halfsize{' --looks ' + args.looks if args.looks else ''}`: "
        f"{len(looks)} looks × {len(large_photos())} photos, {time.perf_counter() - start:.0f} s\n"
    )
    print("\n".join(table(records, "look")) + "\n")
    print("\n".join(table(records, "photo")))


if __name__ == "__main__":
    main()
