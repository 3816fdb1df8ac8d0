"""How good a look is: apply it to BEFORE photos and compare with their AFTER, in PSNR and ΔE00."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .colour import colour_stats
from .data import check_pair
from .deep import DeepImage, to_16bit
from .look import Look

if TYPE_CHECKING:
    from .pairs import Note


@dataclass
class PairScore:
    """One pair's scores: PSNR (dB), ΔE00 mean/p95/p99, and the share of unseen colours."""

    name: str
    psnr: float
    de00_mean: float
    de00_p95: float
    de00_p99: float
    unseen_share: float | None

    @classmethod
    def from_pixels(cls, name: str, predicted: np.ndarray, truth: np.ndarray, unseen: float | None):
        stats = colour_stats(predicted, truth)
        return cls(name, stats["psnr"], stats["de00_mean"], stats["de00_p95"], stats["de00_p99"], unseen)


def _rgb(image: Image.Image | DeepImage) -> np.ndarray:
    """RGB pixels (n, 3): uint8, or uint16 for a 16-bit image."""
    if isinstance(image, DeepImage):
        return image.pixels[..., :3].reshape(-1, 3)
    return np.asarray(image.convert("RGB")).reshape(-1, 3)


def _same_depth(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Pixel arrays at one depth: 16 bits if any is (the 8-bit ones widened exactly)."""
    if len({a.dtype for a in arrays}) == 1:
        return arrays
    return [to_16bit(a) if a.dtype == np.uint8 else a for a in arrays]


def evaluate(
    look: Look, pairs: list[tuple[str, Image.Image | DeepImage, Image.Image | DeepImage]]
) -> list[PairScore]:
    """Score ``look`` on (name, before, after) pairs; the last score is "overall", over all pixels.

    A pair with a 16-bit image is scored at 16 bits (an 8-bit BEFORE is then filtered at 16 bits).
    """
    scores, predictions, truths = [], [], []
    for name, before, after in pairs:
        check_pair(before.size, after.size, (name, "its after"))
        unseen = look.unseen_share(before)
        if isinstance(after, DeepImage) and not isinstance(before, DeepImage):
            before = DeepImage.from_pillow(before.convert("RGBA" if before.mode == "RGBA" else "RGB"))
        predicted, truth = _same_depth([_rgb(look.apply(before.copy())), _rgb(after)])
        scores.append(PairScore.from_pixels(name, predicted, truth, unseen))
        predictions.append(predicted)
        truths.append(truth)
    if len(pairs) > 1:
        pixels = sum(len(p) for p in predictions)
        unseen_values = [s.unseen_share for s in scores]
        unseen = None
        if None not in unseen_values:
            unseen = sum(u * len(p) for u, p in zip(unseen_values, predictions, strict=True)) / pixels
        widened = _same_depth(predictions + truths)
        predicted, truth = np.concatenate(widened[: len(pairs)]), np.concatenate(widened[len(pairs) :])
        overall = PairScore.from_pixels("overall", predicted, truth, unseen)
        scores.append(overall)
    return scores


def evaluate_files(
    look: Look,
    files: list[tuple[Path, Path]],
    max_pixels: int | None,
    report: Path | None = None,
    align_pairs: bool = False,
    on_note: Callable[[Note], None] | None = None,
) -> list[PairScore]:
    """Score ``look`` on (before, after) image files, as ``evaluate``, each pair lined up as
    training lines it up (``pairs.line_up``, which tells ``on_note`` what it did); with ``report``,
    also write that folder's pictures (``report.write_eval_report``)."""
    from .pairs import line_up, open_pairs
    from .report import check_report, write_eval_report

    if report is not None:
        check_report(report, [before.name for before, _ in files], [file for pair in files for file in pair])
    opened = open_pairs(files, max_pixels, check_sizes=False)
    pairs = [pair.named for pair in line_up(opened, align_pairs, on_note)]
    scores = evaluate(look, pairs)
    if report is not None:
        write_eval_report(report, look, pairs)
    return scores


def score_table(scores: list[PairScore]) -> str:
    """A plain-text table of scores, one row per pair."""
    header = f"{'pair':<28} {'PSNR dB':>8} {'ΔE00 mean':>10} {'p95':>6} {'p99':>6} {'unseen':>7}"
    rows = [header]
    for s in scores:
        unseen = "-" if s.unseen_share is None else f"{100 * s.unseen_share:.1f}%"
        rows.append(
            f"{s.name[:28]:<28} {s.psnr:>8.2f} {s.de00_mean:>10.2f} {s.de00_p95:>6.2f} "
            f"{s.de00_p99:>6.2f} {unseen:>7}"
        )
    return "\n".join(rows)
