"""Where the benchmark works, what it runs, and how many times."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_images"
BENCH = ROOT / "benchmarks"
WORK = BENCH / "work"
INPUTS = WORK / "inputs"
RESULTS = BENCH / "RESULTS.md"

BIN = Path(sys.executable).parent
NNFILTER = str(BIN / "nnfilter") if (BIN / "nnfilter").exists() else None
PYTHON = sys.executable
TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Plan:
    train_runs: int
    curve: tuple[float, ...]
    apply_runs: int
    batch_files: int
    batch_runs: int
    memory_runs: int
    folder_files: int
    folder_runs: int
    sklearn_budget: float


FULL = Plan(
    train_runs=5,
    curve=(0.25, 0.5, 2, 4, 10),
    apply_runs=11,
    batch_files=20,
    batch_runs=3,
    memory_runs=2,
    folder_files=200,
    folder_runs=5,
    sklearn_budget=30.0,
)
QUICK = Plan(
    train_runs=2,
    curve=(0.5, 2),
    apply_runs=2,
    batch_files=4,
    batch_runs=1,
    memory_runs=1,
    folder_files=40,
    folder_runs=1,
    sklearn_budget=5.0,
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def nnfilter_cmd(*args: str) -> list[str]:
    """The installed command, or ``python -m nnfilter`` when there is none."""
    return [NNFILTER, *args] if NNFILTER else [PYTHON, "-m", "nnfilter", *args]


def pillow_cmd(*args: str) -> list[str]:
    """The Pillow-only floor (``benchmarks/pillow_rw.py``), run from benchmarks/work."""
    return [PYTHON, "../pillow_rw.py", *args]
