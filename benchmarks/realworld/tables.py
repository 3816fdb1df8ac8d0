"""The report's tables: per look, per held-out photo and per training photo, from the records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def select(records: Iterable[dict], **match: object) -> list[dict]:
    return [r for r in records if all(r[k] == v for k, v in match.items())]


def average(records: Sequence[dict], key: str) -> float | None:
    values = [r[key] for r in records if r[key] is not None]
    return float(np.mean(values)) if values else None


def cell(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table, less the columns this run measured nothing for (all "—")."""
    rows = [list(row) for row in rows]
    keep = [i for i in range(len(header)) if i == 0 or any(row[i] != "—" for row in rows)]
    return [
        "| " + " | ".join(header[i] for i in keep) + " |",
        "|---" + "|---:" * (len(keep) - 1) + "|",
        *("| " + " | ".join(row[i] for i in keep) + " |" for row in rows),
    ]


NNFILTER_RUNS = {
    "JPEG": {"method": "nnfilter", "after": "JPEG", "pairs": "one"},
    "lossless": {"method": "nnfilter", "after": "lossless", "pairs": "one"},
    "3 pairs": {"method": "nnfilter", "after": "JPEG", "pairs": "three"},
}


def others(records: list[dict]) -> list[str]:
    """The labels of the methods other than nnfilter's default run, in the order run."""
    return list(dict.fromkeys(r["method"] for r in records if r["method"] != "nnfilter"))


def look_tables(records: list[dict], looks: Sequence[str]) -> list[str]:
    """Per look: nnfilter's figures, then every method's mean (p99) with the JPEG AFTER, one pair."""
    rows, peer_rows = [], []
    peers = others(records)
    for name in [*looks, None]:
        scope = records if name is None else select(records, look=name)
        label = "**mean over looks**" if name is None else name
        row = [label]
        for runs in NNFILTER_RUNS.values():
            chosen = select(scope, **runs)
            row += [cell(average(chosen, "mean")), cell(average(chosen, "p99"))]
        jpeg = select(scope, **NNFILTER_RUNS["JPEG"])
        rows.append(row + [share(average(jpeg, "unseen")), cell(average(jpeg, "train_s"))])
        peer_rows.append(
            [label]
            + [
                f"{cell(average(chosen, 'mean'))} ({cell(average(chosen, 'p99'), 1)})"
                for chosen in (
                    select(scope, method=m, after="JPEG", pairs="one") for m in ["nnfilter", *peers]
                )
            ]
        )
    train_s = [
        cell(average(select(records, method=m, after="JPEG", pairs="one"), "train_s"))
        for m in ["nnfilter", *peers]
    ]
    peer_rows.append(["train s (mean)", *train_s])
    return [
        "### Per look: nnfilter",
        "",
        "Mean over the training photos and the held-out photos of each photo's mean and p99 ΔE00; unseen: "
        "share of held-out pixels in colours the training pair never showed (one pair; it depends on the "
        "photos, not the look); train s: seconds per training (one pair, JPEG).",
        "",
        *table(
            [
                "look",
                "JPEG mean",
                "JPEG p99",
                "lossless mean",
                "lossless p99",
                "3 pairs mean",
                "3 pairs p99",
                "unseen",
                "train s",
            ],
            rows,
        ),
        "",
        "### Per look: nnfilter and peers (one pair, JPEG AFTER)",
        "",
        "Mean ΔE00 (p99), averaged as above.",
        "",
        *table(["look", "nnfilter", *peers], peer_rows),
    ]


def photo_table(records: list[dict], title: str, key: str, names: Sequence[str]) -> list[str]:
    """Per held-out photo (``key`` 'photo') or per training photo ('training'), over every look."""
    peers = others(records)
    rows = []
    for name in names:
        scope = select(records, **{key: name})
        jpeg = select(scope, **NNFILTER_RUNS["JPEG"])
        if not jpeg:
            continue
        rows.append(
            [
                name,
                cell(average(jpeg, "mean")),
                cell(average(jpeg, "p99")),
                cell(max(r["mean"] for r in jpeg)),
                share(average(jpeg, "unseen")),
                cell(average(select(scope, **NNFILTER_RUNS["lossless"]), "mean")),
                cell(average(select(scope, **NNFILTER_RUNS["3 pairs"]), "mean")),
                *(cell(average(select(scope, method=m, after="JPEG", pairs="one"), "mean")) for m in peers),
            ]
        )
    return [
        title,
        "",
        *table(
            [
                key,
                "JPEG mean",
                "JPEG p99",
                "JPEG worst mean",
                "unseen",
                "lossless mean",
                "3 pairs mean",
                *(f"{m} mean" for m in peers),
            ],
            rows,
        ),
    ]
