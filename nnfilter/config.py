"""What a training run can be asked for: the options, their names and defaults, without numpy.

The command line builds its options from this module before any maths is imported, so that
``nnfilter apply`` can start reading a photo while numpy and the model load (see ``cli``).
"""

from __future__ import annotations

from dataclasses import dataclass

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
