"""The targets, each met / not met with the figures measured."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .plan import SIZES
from .tables import NNFILTER_RUNS, average, others, select


def verdict(text: str, met: bool | None, measured: str) -> str:
    state = "not measured" if met is None else "met" if met else "not met"
    return f"- {text}: **{state}**" + (f" ({measured})" if measured else "")


def per_look(records: list[dict], looks: Sequence[str], **match: object) -> dict[str, float]:
    """Each look's mean ΔE00 over the records that match (looks with none left out)."""
    means = {name: average(select(records, look=name, **match), "mean") for name in looks}
    return {name: value for name, value in means.items() if value is not None}


def worst(means: dict[str, float]) -> str:
    name = max(means, key=means.get)
    return f"worst {name} {means[name]:.2f}"


def targets(records: list[dict], looks: Sequence[str]) -> list[str]:
    """The targets, each met / not met with the figures measured."""
    jpeg = per_look(records, looks, **NNFILTER_RUNS["JPEG"])
    lines = [
        verdict("one pair, JPEG AFTER: mean ΔE00 < 1.5 on every look", max(jpeg.values()) < 1.5, worst(jpeg)),
        verdict(
            "one pair, JPEG AFTER: mean ΔE00 < 1.0 averaged over looks",
            np.mean(list(jpeg.values())) < 1.0,
            f"{np.mean(list(jpeg.values())):.3f}",
        ),
    ]
    runs = select(records, **NNFILTER_RUNS["JPEG"])
    top = max(runs, key=lambda r: r["mean"])
    above = sum(r["mean"] > 3.0 for r in runs)
    lines.append(
        verdict(
            "one pair, JPEG AFTER: no held-out photo's mean ΔE00 above 3.0 (any look, any training photo)",
            above == 0,
            f"{above} of {len(runs)} above; worst {top['photo']} with "
            f"{top['look']} trained on {top['training']}: {top['mean']:.2f}",
        )
    )
    three = per_look(records, looks, **NNFILTER_RUNS["3 pairs"])
    lines.append(
        verdict(
            "three pairs, JPEG AFTERs: mean ΔE00 < 1.0 on every look",
            max(three.values()) < 1.0 if three else None,
            worst(three) if three else "",
        )
    )
    lossless = per_look(records, looks, **NNFILTER_RUNS["lossless"])
    if lossless:
        gaps = {name: jpeg[name] - lossless[name] for name in lossless}
        far = max(gaps, key=lambda n: abs(gaps[n]))
        lines.append(
            verdict(
                "JPEG AFTER within 0.3 ΔE00 of the lossless AFTER, look by look",
                abs(gaps[far]) <= 0.3,
                f"largest gap {far}: {gaps[far]:+.2f}, mean gap {np.mean(list(gaps.values())):+.3f}",
            )
        )
    else:
        lines.append(verdict("JPEG AFTER within 0.3 ΔE00 of the lossless AFTER, look by look", None, ""))
    default = np.mean(list(jpeg.values()))
    for size in SIZES:
        label = f"nnfilter {','.join(map(str, size))}"
        sized = per_look(records, looks, method=label, after="JPEG", pairs="one")
        text = f"--hidden {','.join(map(str, size))} not worse than the default by more than 0.2, over looks"
        if sized:
            gap = np.mean(list(sized.values())) - default
            lines.append(
                verdict(text, gap <= 0.2, f"{np.mean(list(sized.values())):.3f} vs {default:.3f}: {gap:+.3f}")
            )
        else:
            lines.append(verdict(text, None, "run with --sizes"))
    peers = [m for m in others(records) if not m.startswith("nnfilter")]
    if peers:
        beaten = {m: per_look(records, looks, method=m, after="JPEG", pairs="one") for m in peers}
        lost = {m: [n for n in jpeg if jpeg[n] >= beaten[m][n]] for m in peers}
        wins = ", ".join(f"{m} {len(jpeg) - len(lost[m])}/{len(jpeg)}" for m in peers)
        details = []
        for m, names in lost.items():
            ties = sum(jpeg[n] == beaten[m][n] for n in names)
            if len(names) > 6:
                details.append(f"vs {m}: {len(names)} looks, {ties} of them ties")
            elif names:
                details.append(
                    f"vs {m}: " + ", ".join(f"{n} {jpeg[n]:.2f} ≥ {beaten[m][n]:.2f}" for n in names)
                )
        lines.append(
            verdict(
                "better than every peer on every look (one pair, JPEG AFTER)",
                not details,
                f"looks won: {wins}" + (f"; not better {'; '.join(details)}" if details else ""),
            )
        )
    else:
        lines.append(verdict("better than every peer on every look", None, "no peers run"))
    return lines
