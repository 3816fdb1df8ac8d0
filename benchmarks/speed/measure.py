"""Running whole processes under ``/usr/bin/time -v``, interleaved, and summarising their runs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .plan import NNFILTER, PYTHON, TIME, WORK, log


@dataclass
class Run:
    wall: float
    rss_mb: float
    cpu: float  # user + system time / wall, in %, of the process and the children it waited for
    stdout: str = ""


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for measured processes: bytecode cached (as in a normal install), plus ``extra``."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache")
    env.update(extra or {})
    return env


def shown(cmd: list[str], extra_env: dict[str, str] | None = None) -> str:
    """A command as a person would type it in benchmarks/work (venv on PATH)."""
    words = ["nnfilter" if w == NNFILTER else "python" if w == PYTHON else w for w in cmd]
    prefix = "".join(f"{k}={v} " for k, v in (extra_env or {}).items())
    return prefix + shlex.join(words)


def run(cmd: list[str], extra_env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` in benchmarks/work under /usr/bin/time -v: its wall time and peak RSS."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        proc = subprocess.run(
            [TIME, "-v", "-o", report.name, *cmd],
            cwd=WORK,
            env=subprocess_env(extra_env),
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        text = report.read()
    if proc.returncode != 0:
        raise RuntimeError(f"`{shown(cmd, extra_env)}` failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", text)
    return Run(
        wall,
        int(match.group(1)) / 1024 if match else float("nan"),
        float(cpu.group(1)) if cpu else float("nan"),
        proc.stdout,
    )


@dataclass
class Case:
    """A command measured several times."""

    name: str
    cmd: list[str]
    extra_env: dict[str, str] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)

    @property
    def walls(self) -> list[float]:
        return [r.wall for r in self.runs]

    @property
    def rss(self) -> list[float]:
        return [r.rss_mb for r in self.runs]

    @property
    def wall(self) -> float:
        return med(self.walls)

    @property
    def cpu(self) -> float:
        return med([r.cpu for r in self.runs])

    @property
    def command(self) -> str:
        return shown(self.cmd, self.extra_env)


def interleave(cases: list[Case], runs: int) -> list[Case]:
    """Run every case ``runs`` times, alternating the order (A B C, C B A, ...)."""
    for i in range(runs):
        for case in cases if i % 2 == 0 else cases[::-1]:
            case.runs.append(run(case.cmd, case.extra_env))
            log(f"  {case.name}: {case.runs[-1].wall:.2f} s, {case.runs[-1].rss_mb:.0f} MB")
    return cases


def timed(fn: Callable[[], object], runs: int) -> tuple[list[float], object]:
    """Wall times of ``runs`` calls of ``fn`` in this process, and its last result."""
    walls, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - start)
    return walls, result


def med(xs: list[float]) -> float:
    return float(np.median(xs))


def spread(xs: list[float], unit: str = "s", digits: int = 2) -> str:
    """Median (min–max) of several runs; a single run as is."""
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f} {unit} (1 run)"
    return f"{med(xs):.{digits}f} {unit} ({min(xs):.{digits}f}–{max(xs):.{digits}f}, {len(xs)} runs)"


def ratio(a: list[float], b: list[float]) -> str:
    """Ratio of medians, with the range of the ratios of runs made side by side."""
    paired = [x / y for x, y in zip(a, b, strict=True)]
    text = f"{med(a) / med(b):.2f}×"
    if len(paired) > 1:
        text += f" (per run {min(paired):.2f}–{max(paired):.2f}×)"
    return text
