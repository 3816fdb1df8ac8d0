"""The steps of a run (which method, which AFTER, which trainings) and the command-line options."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nnfilter import TrainConfig

TRAINING = ("test1", "TwoWings", "LadyBird")  # the coffee cup (narrow warm colours), two outdoor photos
PEERS = ("gmic", "sklearn", "affine", "baseline")
SIZES = ((32, 32), (64, 64))


@dataclass(frozen=True)
class Step:
    """One method on one kind of AFTER, for each of its trainings (tuples of training photos)."""

    method: str
    after: str  # "JPEG" or "lossless"
    trainings: tuple[tuple[str, ...], ...]
    overrides: tuple[tuple[str, object], ...] = ()  # TrainConfig fields, for nnfilter

    @property
    def label(self) -> str:
        hidden = dict(self.overrides).get("hidden")
        return self.method if hidden is None else f"{self.method} {','.join(map(str, hidden))}"

    def describe(self) -> str:
        pairs = "one pair" if len(self.trainings[0]) == 1 else f"{len(self.trainings[0])} pairs"
        return f"{self.label} ({self.after} AFTER, {pairs})"


def plan_steps(quick: bool, sizes: bool, peers: Sequence[str]) -> tuple[Step, ...]:
    """The steps of a run: nnfilter JPEG one pair always; lossless and three pairs unless quick."""
    one = tuple((t,) for t in TRAINING)
    steps = [Step("nnfilter", "JPEG", one)]
    if not quick:
        steps += [Step("nnfilter", "lossless", one), Step("nnfilter", "JPEG", (TRAINING,))]
    if sizes:
        steps += [Step("nnfilter", "JPEG", one, (("hidden", list(size)),)) for size in SIZES]
    steps += [Step(peer, "JPEG", one) for peer in peers]
    return tuple(steps)


def option_type(kind: object) -> Callable[[str], object]:
    """How to parse a command-line value for a TrainConfig field of type ``kind``."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (types.UnionType, typing.Union) and len(args) == 1:
        return option_type(args[0])
    if typing.get_origin(kind) is list and args in ([int], [float], [str]):
        return lambda text: [args[0](x) for x in text.split(",")]
    if kind in (int, float, str):
        return kind
    raise TypeError(
        f"TrainConfig field of type {kind}: teach benchmarks.realworld.plan.option_type to parse it"
    )


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field (so new fields come with no change here), default: unset."""
    group = parser.add_argument_group("training options (TrainConfig fields; nnfilter only, but --seed all)")
    hints = typing.get_type_hints(TrainConfig)
    defaults = TrainConfig()
    for field in (f for f in dataclasses.fields(TrainConfig) if f.init):
        flag = "--" + field.name.replace("_", "-")
        text = f"default {getattr(defaults, field.name)}"
        if hints[field.name] is bool:
            group.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, help=text)
        else:
            group.add_argument(flag, dest=field.name, type=option_type(hints[field.name]), help=text)


def listed(text: str | None, known: Sequence[str], what: str) -> list[str]:
    """A comma list ('all' and 'none' allowed) checked against ``known``."""
    if text in (None, "all"):
        return list(known)
    if text == "none":
        return []
    names = text.split(",")
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return names
