"""How good a look is: apply it to BEFORE photos and compare with their AFTER, in PSNR and ΔE00."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .colour import colour_stats
from .data import check_pair
from .look import Look


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


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).reshape(-1, 3)


def evaluate(look: Look, pairs: list[tuple[str, Image.Image, Image.Image]]) -> list[PairScore]:
    """Score ``look`` on (name, before, after) pairs; the last score is "overall", over all pixels."""
    scores, predictions, truths = [], [], []
    for name, before, after in pairs:
        check_pair(before.size, after.size, (name, "its after"))
        unseen = look.unseen_share(before)
        predicted = _rgb(look.apply(before.copy()))
        truth = _rgb(after)
        scores.append(PairScore.from_pixels(name, predicted, truth, unseen))
        predictions.append(predicted)
        truths.append(truth)
    if len(pairs) > 1:
        pixels = sum(len(p) for p in predictions)
        unseen_values = [s.unseen_share for s in scores]
        unseen = None
        if None not in unseen_values:
            unseen = sum(u * len(p) for u, p in zip(unseen_values, predictions, strict=True)) / pixels
        overall = PairScore.from_pixels(
            "overall", np.concatenate(predictions), np.concatenate(truths), unseen
        )
        scores.append(overall)
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
