"""``python -m benchmarks.realworld [options]``: every look on the workers, then the report."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nnfilter
from nnfilter import TrainConfig

from . import __doc__ as package_doc
from .data import CACHE, ROOT, log, look_names, photo_paths, pilgram_verdicts
from .methods import BASELINE_COMMIT, baseline_tree
from .plan import PEERS, TRAINING, add_train_options, listed, plan_steps
from .provenance import code_digest, code_version, tool_versions
from .tables import look_tables, photo_table
from .targets import targets
from .worker import Task, run_all

REPORT = CACHE / "last_run.md"


def report(records: list[dict], looks: Sequence[str], photos: Sequence[str], header: list[str]) -> str:
    """The Markdown report: header, targets, tables."""
    return (
        "\n".join(
            [
                *header,
                "",
                "### Targets",
                "",
                *targets(records, looks),
                "",
                *look_tables(records, looks),
                "",
                *photo_table(
                    records,
                    "### Per held-out photo (over looks and the training photos it was held out from)",
                    "photo",
                    photos,
                ),
                "",
                *photo_table(
                    records, "### Per training photo (over looks and held-out photos)", "training", TRAINING
                ),
            ]
        )
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.realworld", description=package_doc.splitlines()[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="nnfilter, JPEG AFTER, one pair only (no peers unless --peers names some)",
    )
    parser.add_argument("--sizes", action="store_true", help="also nnfilter with --hidden 32,32 and 64,64")
    parser.add_argument(
        "--peers", help=f"comma list of {', '.join(PEERS)}, or all / none (default all, none with --quick)"
    )
    parser.add_argument(
        "--looks",
        help="comma list of looks (default all: dk-NAME for digiKam's LUTs, "
        "pg-NAME for pilgram's global filters; the report's header lists them)",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--json", type=Path, help="write every record (and the report) here")
    add_train_options(parser)
    args = parser.parse_args()
    options = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if getattr(args, f.name, None) is not None
    }

    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    paths = photo_paths()
    all_looks = look_names()
    looks = listed(args.looks, all_looks, "looks")
    peers = listed(args.peers if args.peers or not args.quick else "none", PEERS, "peers")
    if "baseline" in peers:
        baseline_tree()
    steps = plan_steps(args.quick, args.sizes, peers)
    code, digest = code_version(), code_digest()
    log(f"{len(looks)} looks × {len(steps)} steps, {len(paths)} photos, {args.workers} workers")
    records = run_all([Task(name, steps, options) for name in looks], paths, args.workers)
    order = {name: i for i, name in enumerate(looks)}
    records.sort(key=lambda r: order[r["look"]])

    changed = code_digest() != digest
    if changed:
        log("warning: nnfilter's files changed during the run: its figures may mix versions")
    verdicts = pilgram_verdicts()
    dropped = ", ".join(f"{n} ({d})" for n, d in verdicts.items() if f"pg-{n}" not in all_looks)
    header = [
        f"## Real-world looks: `python -m benchmarks.realworld{' ' if sys.argv[1:] else ''}"
        f"{shlex.join(sys.argv[1:])}`",
        "",
        f"- {when}; {(time.perf_counter() - started) / 60:.1f} min on {args.workers} workers "
        f"(`nproc` = {os.cpu_count()}; load average {load_at_start:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end: train s figures are as noisy as the machine is busy)",
        f"- code: {code} (nnfilter imported from {Path(nnfilter.__file__).parent}, files digest {digest}"
        + (
            f"; **they changed during the run, to {code_digest()}: the figures may mix versions**)"
            if changed
            else ", unchanged during the run)"
        )
        + f"; options: {options or 'defaults'}; baseline: defaults at {BASELINE_COMMIT}",
        f"- data: {tool_versions(peers)}",
        f"- looks ({len(looks)}): {', '.join(looks)}; pilgram filters left out as not global "
        f"(max level change under the shuffle test): {dropped}",
        f"- photos ({len(paths)}, ~1 MP): {', '.join(paths)}; trained on {', '.join(TRAINING)} (see steps), "
        "each scored on every photo it was not trained on",
        f"- steps: {', '.join(s.describe() for s in steps)}",
    ]
    text = report(records, looks, list(paths), header)
    print(text)
    REPORT.write_text(text)
    log(f"report written to {REPORT.relative_to(ROOT)}")
    if args.json:
        args.json.write_text(
            json.dumps({"header": header, "records": records, "report": text}, indent=1) + "\n"
        )
        log(f"records written to {args.json}")


if __name__ == "__main__":
    main()
