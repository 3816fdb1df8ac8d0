"""``python -m benchmarks.speed [--quick]``: every measurement in turn, then the report."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

from . import __doc__ as package_doc
from .apply_cases import (
    section_accuracy_and_breakdown,
    section_apply,
    section_batch,
    section_folders,
    section_memory,
    section_naive,
)
from .heldout import Target
from .inputs import load_rgb, prepare_inputs
from .plan import FULL, INPUTS, QUICK, TIME, WORK, log
from .provenance import code_version, install_kind, machine
from .report import Section, write_results
from .train_cases import section_sklearn, section_train, section_train_breakdown


def main() -> None:
    parser = argparse.ArgumentParser(description=package_doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and files: a smoke test")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if not Path(TIME).exists():
        sys.exit(f"{TIME} is needed (GNU time: apt-get install time)")
    started = time.perf_counter()
    load_start = os.getloadavg()
    code_at_start = code_version()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    inputs = prepare_inputs(plan)
    held_out = Target.of(load_rgb(INPUTS / "heldout-2mp.jpg"))
    train_photo = Target.of(load_rgb(INPUTS / "B12.jpg"))
    bench_start = time.perf_counter()

    train, train_figures = section_train(plan, held_out, train_photo)
    apply, apply_figures = section_apply(plan)
    accuracy, accuracy_figures = section_accuracy_and_breakdown(plan)
    sections: list[Section] = [
        train,
        section_train_breakdown(plan),
        section_sklearn(plan, held_out, train_figures),
        apply,
        section_batch(plan, inputs),
        accuracy,
        section_memory(plan),
        section_folders(plan, inputs),
        section_naive(apply_figures, accuracy_figures),
    ]

    elapsed = time.perf_counter() - started
    code_at_end = code_version()
    head = [
        "## Speed",
        "",
        f"`python -m benchmarks.speed{' --quick' if args.quick else ''}` (issues 7 and 15), {when}; "
        f"{elapsed / 60:.1f} min in all ({(time.perf_counter() - bench_start) / 60:.1f} min measuring).",
        "",
        *machine(),
        install_kind(),
        code_at_start
        if code_at_start == code_at_end
        else f"{code_at_start}; **at the end: {code_at_end[8:]}** (a commit was made during the run)",
        f"- load average (1 min) at start {load_start[0]:.2f}, at end {os.getloadavg()[0]:.2f}: the machine is "
        "shared, so cases that are compared were run interleaved and ratios come from the same run.",
        inputs.description(),
        "- commands run in `benchmarks/work/` with the venv's `bin` on the path; each is a whole process "
        "(start-up included) under `/usr/bin/time -v`, with Python bytecode cached as in a normal install. "
        "Times are medians (min–max) of the runs.",
        "",
        "### Targets",
        "",
        *[v.line() for s in sections for v in s.verdicts],
        "",
    ]
    body = [line for s in sections for line in [*s.lines, ""]]
    section = "\n".join(head + body).rstrip("\n") + "\n"
    print(section)
    if args.quick:
        (WORK / "speed-quick.md").write_text(section)
        log(f"written to {WORK / 'speed-quick.md'} (quick runs do not touch RESULTS.md)")
    else:
        write_results(section)
        log(f"written to {WORK.parent / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
