"""The report: targets met or not, sections of Markdown, and RESULTS.md's speed section."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .plan import RESULTS


@dataclass
class Verdict:
    """One target and what was measured against it."""

    target: str
    met: bool | None  # None: not measured
    measured: str

    def line(self) -> str:
        state = "not measured" if self.met is None else "**met**" if self.met else "**not met**"
        return f"- {self.target}: {state} (measured {self.measured})"


@dataclass
class Section:
    """A part of the report: its Markdown lines and the verdicts it measured."""

    lines: list[str]
    verdicts: list[Verdict] = field(default_factory=list)


def write_results(section: str) -> None:
    """Put ``section`` (which starts with "## Speed") into RESULTS.md, keeping every other section."""
    if RESULTS.exists():
        text = RESULTS.read_text()
    else:
        text = (
            "# Benchmark results\n\n## Speed\n\n## Quality\n\n"
            "_To come: figures from `python -m benchmarks.quality`._\n"
        )
    match = re.search(r"^## Speed\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if match:
        text = text[: match.start()] + section + "\n" + text[match.end() :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)
