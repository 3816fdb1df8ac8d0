"""What a training run can be asked for: the options, their names and defaults, without numpy.

The command line builds its options from this module before any maths is imported, so that
``nnfilter apply`` can start reading a photo while numpy and the model load (see ``cli``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

#: Hidden-layer activations (``model.ACTIVATIONS`` implements them), losses (``model.LOSSES``)
#: and optimizers (``train.OPTIMIZERS``).
ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky-relu")
LOSS_NAMES = ("mse", "cross-entropy")
OPTIMIZER_NAMES = ("sgd", "adam")

DEFAULT_LR = {"sgd": 0.5, "adam": 0.04}
# Without --epochs, train for about this many gradient steps a training pair (see benchmarks/RESULTS.md).
AUTO_STEPS = 15000
AUTO_EPOCHS_RANGE = (10, 2000)
# Without --hidden, the hidden layers for one training pair, and for more (more colours to learn:
# see benchmarks/RESULTS.md, "Seed to seed").
HIDDEN_ONE_PAIR = (16, 16)
HIDDEN_MORE_PAIRS = (32, 32)
#: How many hidden layers, and how many units each, a network may have.
MAX_LAYERS, MAX_UNITS = 8, 1024


def _number(value: object) -> bool:
    """Whether ``value`` is a real number (not a bool), finite."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: object) -> bool:
    """Whether ``value`` is an integer (not a bool; numpy's count)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


@dataclass
class TrainConfig:
    """Everything that decides what model a training run makes (with the data and the seed)."""

    #: Hidden layer sizes; None: ``HIDDEN_ONE_PAIR`` or ``HIDDEN_MORE_PAIRS`` (``hidden_for``).
    hidden: list[int] | None = None
    activation: str = "sigmoid"
    loss: str = "mse"
    optimizer: str = "adam"
    lr: float | None = None
    momentum: float = 0.9
    batch_size: int = 64
    epochs: int | None = None
    error_threshold: float = 0.0
    seed: int = 0
    validation_share: float = 0.1
    residual: bool = True
    #: Each colour cell weighs (its pixel count) ** this: rare colours more than their count alone
    #: (chosen on the realworld benchmark, see benchmarks/RESULTS.md).
    count_power: float = 0.45
    #: The prior anchors' weight, as a share of the samples' (``data.with_prior_anchors``); 0: none.
    prior_weight: float = 1.0

    def __post_init__(self) -> None:
        """Refuse, with a ``ValueError`` naming the field, what the command line's options refuse."""
        checks = [
            (
                "hidden",
                self.hidden is None
                or isinstance(self.hidden, (list, tuple))
                and 1 <= len(self.hidden) <= MAX_LAYERS
                and all(_whole(s) and 1 <= s <= MAX_UNITS for s in self.hidden),
                f"None or a list of 1 to {MAX_LAYERS} layer sizes from 1 to {MAX_UNITS}",
            ),
            ("activation", self.activation in ACTIVATION_NAMES, f"one of {', '.join(ACTIVATION_NAMES)}"),
            ("loss", self.loss in LOSS_NAMES, f"one of {', '.join(LOSS_NAMES)}"),
            ("optimizer", self.optimizer in OPTIMIZER_NAMES, f"one of {', '.join(OPTIMIZER_NAMES)}"),
            ("lr", self.lr is None or _number(self.lr) and 0 < self.lr <= 100, "None or in (0, 100]"),
            ("momentum", _number(self.momentum) and 0 <= self.momentum < 1, "in [0, 1)"),
            ("batch_size", _whole(self.batch_size) and self.batch_size >= 1, "an integer >= 1"),
            (
                "epochs",
                self.epochs is None or _whole(self.epochs) and self.epochs >= 1,
                "None or an integer >= 1",
            ),
            ("error_threshold", _number(self.error_threshold) and self.error_threshold >= 0, "a number >= 0"),
            ("seed", _whole(self.seed) and self.seed >= 0, "an integer >= 0"),
            (
                "validation_share",
                _number(self.validation_share) and 0 <= self.validation_share < 1,
                "in [0, 1)",
            ),
            ("residual", isinstance(self.residual, bool), "True or False"),
            ("count_power", _number(self.count_power), "a finite number"),
            ("prior_weight", _number(self.prior_weight) and self.prior_weight >= 0, "a number >= 0"),
        ]
        for name, good, allowed in checks:
            if not good:
                raise ValueError(f"{name} must be {allowed}, got {getattr(self, name)!r}")

    def learning_rate(self) -> float:
        """The learning rate in force: the given one, or the optimizer's default."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def hidden_for(self, pairs: int = 1) -> list[int]:
        """The hidden layer sizes in force for ``pairs`` training pairs: the given ones, or the
        default for that many pairs.

        >>> TrainConfig().hidden_for(1), TrainConfig().hidden_for(3), TrainConfig(hidden=[8]).hidden_for(3)
        ([16, 16], [32, 32], [8])
        """
        if self.hidden is not None:
            return list(self.hidden)
        return list(HIDDEN_ONE_PAIR if pairs <= 1 else HIDDEN_MORE_PAIRS)

    def epochs_for(self, n_samples: int, pairs: int = 1) -> int:
        """The number of epochs in force: the given one, or about ``AUTO_STEPS`` gradient steps for
        each of the ``pairs`` the samples come from (more pairs show more colours to learn).

        >>> TrainConfig().epochs_for(64 * 1000), TrainConfig().epochs_for(64 * 1000, pairs=3)
        (15, 45)
        >>> TrainConfig(epochs=3).epochs_for(10)
        3
        """
        if self.epochs is not None:
            return self.epochs
        steps_per_epoch = max(1, -(-n_samples // self.batch_size))
        low, high = AUTO_EPOCHS_RANGE
        return min(max(round(AUTO_STEPS * pairs / steps_per_epoch), low), high)
