"""Training: optimizers and the mini-batch loop, reporting progress through a callback."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .config import TrainConfig
from .data import ColourSamples, split_validation, with_prior_anchors
from .errors import TrainingDivergedError
from .model import (
    MLP,
    backward_pass,
    error,
    forward_pass,
    init_mlp,
    layer_inputs,
    one_blas_thread,
    output_delta,
    predict,
)
from .prior import Blocks, Prior, fit_prior, prior_inputs, with_prior_chroma


class SGD:
    """Stochastic gradient descent with (optional) classical momentum."""

    def __init__(self, params: list[np.ndarray], lr: float, momentum: float = 0.0):
        self.lr = lr
        self.momentum = np.array(momentum, params[0].dtype)  # an array: numpy takes it faster (see model.ONE)
        self.velocities = [np.zeros_like(p) for p in params]
        self._scratch = [np.empty_like(p) for p in params]

    def update_params(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Move every parameter in place one step against its gradient."""
        for p, v, g, t in zip(params, self.velocities, grads, self._scratch, strict=True):
            v *= self.momentum
            v -= np.multiply(self.lr, g, out=t)  # v = momentum v - lr g
            p += v

    @classmethod
    def from_config(cls, params: list[np.ndarray], config: TrainConfig) -> SGD:
        return cls(params, config.learning_rate(), config.momentum)


class Adam:
    """Adam (Kingma & Ba 2014): per-parameter step sizes from running gradient moments.

    The moments are kept divided by (1 - beta): m' = m / (1 - beta1), v' = v / (1 - beta2), which
    makes them ``m' = beta1 m' + g``, ``v' = beta2 v' + g²``, and the step
    ``p -= lr sqrt(1 - beta2^t) / (1 - beta1^t) m / (sqrt(v) + epsilon)`` the same step with its
    constants folded: two numpy calls fewer per step, in a step of ~40.
    """

    def __init__(
        self,
        params: list[np.ndarray],
        lr: float,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ):
        self.lr, self.beta1, self.beta2, self.epsilon = lr, beta1, beta2, epsilon
        self.t = 0
        # The constants of every step, as arrays of the parameters' type (see model.ONE).
        dtype = params[0].dtype
        self._beta1, self._beta2 = np.array(beta1, dtype), np.array(beta2, dtype)
        self._epsilon = np.array(epsilon / math.sqrt(1 - beta2), dtype)
        self.ms = [np.zeros_like(p) for p in params]  # m / (1 - beta1)
        self.vs = [np.zeros_like(p) for p in params]  # v / (1 - beta2)
        self._scratch = [np.empty_like(p) for p in params]  # so that a step allocates nothing

    def update_params(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Move every parameter in place one Adam step."""
        self.t += 1
        beta1, beta2 = self.beta1, self.beta2
        root = math.sqrt(1 - beta2)
        step = self.lr * math.sqrt(1 - beta2**self.t) / (1 - beta1**self.t) * (1 - beta1) / root
        for p, m, v, g, t in zip(params, self.ms, self.vs, grads, self._scratch, strict=True):
            m *= self._beta1
            m += g
            v *= self._beta2
            v += np.square(g, out=t)
            np.sqrt(v, out=t)
            t += self._epsilon
            np.divide(m, t, out=t)
            t *= step
            p -= t

    @classmethod
    def from_config(cls, params: list[np.ndarray], config: TrainConfig) -> Adam:
        return cls(params, config.learning_rate())


#: The optimizers by name (``config.OPTIMIZER_NAMES``); each is made by ``from_config(params, config)``.
OPTIMIZERS = {"sgd": SGD, "adam": Adam}


@dataclass
class EpochReport:
    """What one epoch achieved: its number (of ``epochs``), training and validation error (MSE on [0, 1])."""

    epoch: int
    epochs: int
    train_error: float
    validation_error: float


@dataclass
class TrainResult:
    """The best model found, the per-epoch history, why training stopped and how many gradient
    steps its completed epochs took (batches of the samples and the prior anchors)."""

    model: MLP
    history: list[EpochReport]
    stop_reason: str
    steps: int

    @property
    def interrupted(self) -> bool:
        return self.stop_reason == "interrupted"


# Training is called diverged when its error rises this far above where it started,
# or a weight grows past MAX_WEIGHT (colours in [0, 1] never need such weights),
# or it ends no better than a trivial model (see _check_useful): with too large a rate, Adam or
# SGD often saturates the network and stays finite but useless.
DIVERGENCE_FACTOR = 10.0
MAX_WEIGHT = 1e4
IMPROVEMENT_TOLERANCE = 1e-4


def _check_diverged(train_error: float, start_error: float, model: MLP, lr: float) -> None:
    if not np.isfinite(train_error):
        raise TrainingDivergedError(f"training diverged: the error became {train_error}", lr)
    if train_error > DIVERGENCE_FACTOR * start_error + 1e-3:
        raise TrainingDivergedError(
            f"training diverged: the error rose from {start_error:.4g} to {train_error:.4g}", lr
        )
    largest = max(float(np.abs(p).max()) for p in model.parameters())
    if not np.isfinite(largest) or largest > MAX_WEIGHT:
        raise TrainingDivergedError("training diverged: the weights blew up", lr)


def trivial_errors(samples: ColourSamples, weights: np.ndarray) -> dict[str, float]:
    """The weighted mean squared errors of trivial models on the samples, by name: leaving every
    colour as it is, the best single colour, and the best straight line per channel (a x + b).

    >>> s = ColourSamples(np.array([[0.2] * 4, [0.6] * 4]), np.array([[0.8] * 4, [0.4] * 4]), np.ones(2))
    >>> {name: round(e, 6) for name, e in trivial_errors(s, np.ones(2)).items()}
    {'leaving the colours as they are': 0.2, 'one flat colour': 0.04, 'a straight line per channel': 0.0}
    """
    x, y = samples.inputs.astype(np.float64), samples.targets.astype(np.float64)
    w = weights.astype(np.float64)
    mean_x, mean_y = w @ x / w.sum(), w @ y / w.sum()
    variance = w @ (x - mean_x) ** 2
    covariance = w @ ((x - mean_x) * (y - mean_y))
    slope = np.divide(covariance, variance, out=np.zeros_like(covariance), where=variance > 1e-12)
    return {
        "leaving the colours as they are": error(x, y, w),
        "one flat colour": error(np.broadcast_to(mean_y, y.shape), y, w),
        "a straight line per channel": error(mean_y + slope * (x - mean_x), y, w),
    }


# How much worse than each trivial model a trained one may end (mean squared error on 0..1). It
# must beat leaving the colours alone (where it starts); a short training may trail the best
# single colour or line, but a network saturated by too large a rate trails them by far more
# (e.g. 0.061 against a line's 0.000 on an inverted random pair). 0.05 is ~57 levels RMS over RGB.
# A model that starts from the additive prior must not end far worse than it either.
PRIOR_START = "the additive prior it started from"
TRIVIAL_MARGINS = {
    "leaving the colours as they are": IMPROVEMENT_TOLERANCE,
    "one flat colour": 5e-2,
    "a straight line per channel": 5e-2,
    PRIOR_START: 5e-2,
}


def _check_useful(final_error: float, trivial: dict[str, float], lr: float, epochs: int) -> None:
    """Refuse a model that is no better than a trivial one: what a network saturated by too large
    a rate ends as (its error may still be below where training started), or one trained for too
    few ``epochs`` (the message says how many)."""
    for name, trivial_error in trivial.items():
        if final_error > trivial_error + TRIVIAL_MARGINS[name]:
            raise TrainingDivergedError(
                f"training diverged: after {epochs} epoch{'s' * (epochs != 1)} the model's error "
                f"({final_error:.4g}) is no better than {name} ({trivial_error:.4g})",
                lr,
            )


def cosine_schedule(epoch: int, epochs: int) -> float:
    """The share of the learning rate used in ``epoch`` (1-based): from 1 down towards 0.

    Large steps early find the shape of the look fast; small steps late settle its detail.

    >>> [round(cosine_schedule(e, 4), 2) for e in range(1, 5)]
    [1.0, 0.85, 0.5, 0.15]
    """
    return float(0.5 * (1 + np.cos(np.pi * (epoch - 1) / epochs)))


def train(
    samples: ColourSamples,
    config: TrainConfig,
    on_epoch: Callable[[EpochReport], None] | None = None,
    blocks: Blocks | None = None,
    pairs: int = 1,
) -> TrainResult:
    """Train a network on colour samples of ``pairs`` before/after pairs (without ``epochs``, the
    more pairs the longer: ``TrainConfig.epochs_for``); Ctrl-C stops early and keeps the best model
    so far.
    ``blocks``, the pairs' ``prior.block_means`` (for JPEG AFTERs not mended), give the prior its
    inputs and chroma (``prior.fit_prior``) and the cells the prior's chroma as targets
    (``prior.with_prior_chroma``); without them the prior's inputs are the cells' own
    (``prior.prior_inputs``), as for a lossless AFTER or a JPEG one mended (``recompress``).

    The best model is the one with the lowest validation error (training error when there is no
    validation share). Raises ``TrainingDivergedError`` when training blows up.
    """
    with one_blas_thread():
        return _train(samples, config, on_epoch, blocks, pairs)


class _Batches:
    """Per-sample arrays of ``rows`` values, held batch after batch in one buffer: each batch a
    (rows, batch size) contiguous block, one column a sample, as the model's passes take them."""

    def __init__(self, n: int, rows: int, batch_size: int, dtype: np.dtype):
        self.n_full, self.batch_size, self.rows = n // batch_size, batch_size, rows
        buffer = np.empty(rows * n, dtype)
        cut = rows * self.n_full * batch_size
        self.full = buffer[:cut].reshape(self.n_full, rows, batch_size)
        self.tail = buffer[cut:].reshape(rows, n - self.n_full * batch_size)
        self.batches = [*self.full, self.tail] if self.tail.size else list(self.full)

    def fill(self, values: np.ndarray) -> None:
        """Write ``values`` (n, rows), a row a sample, into the batches in order."""
        cut = self.n_full * self.batch_size
        self.full[...] = values[:cut].reshape(self.n_full, self.batch_size, self.rows).transpose(0, 2, 1)
        self.tail[...] = values[cut:].T

    def samples(self) -> np.ndarray:
        """The contents as (n, rows), a row a sample."""
        return np.concatenate([self.full.transpose(0, 2, 1).reshape(-1, self.rows), self.tail.T])


def _train(samples, config, on_epoch, blocks, pairs) -> TrainResult:
    rng = np.random.default_rng(config.seed)
    train_set, val_set = split_validation(samples, config.validation_share, rng)
    if len(val_set) == 0:
        val_set = train_set
    cells, cell_weights = train_set, train_set.counts**config.count_power
    prior = None
    if len(cells):
        rgb = cells.inputs[:, :3]
        inputs = blocks.inputs if blocks is not None else prior_inputs(rgb, cells.targets, cells.counts)
        prior = fit_prior(rgb, cells.targets, cell_weights, inputs, blocks)
    # A JPEG AFTER not mended: the cells' chroma is JPEG's blur.
    if blocks is not None and prior is not None:
        cells, val_set = (
            ColourSamples(s.inputs, with_prior_chroma(s.inputs[:, :3], s.targets, prior), s.counts)
            for s in (cells, val_set)
        )
    train_set, weights = with_prior_anchors(cells, cell_weights, config.prior_weight, prior)
    model = init_mlp(config.hidden_for(pairs), config.activation, rng, config.residual)
    trivial = trivial_errors(cells, cell_weights)
    if config.residual and prior is not None:
        model.prior = Prior(*(a.astype(np.float32) for a in (prior.inputs, prior.curves[..., :3])))
        trivial[PRIOR_START] = error(predict(model, cells.inputs), cells.targets, cell_weights)
    params = model.flatten()
    grad = np.zeros_like(params)
    # Per layer, its weights, bias (and skip) as one matrix: views of params, and of grad alike.
    layers, layer_grads = model.stacked(params), model.stacked(grad)
    lr = config.learning_rate()
    negated = np.empty_like(params)  # see forward_pass
    negated_layers = model.stacked(negated)
    optimizer = OPTIMIZERS[config.optimizer].from_config([params], config)
    n, n_channels = len(train_set), train_set.targets.shape[1]
    total_weight = float(weights.sum())
    # Divergence is judged from the worse of where training starts and leaving the colours alone:
    # a start from the prior may fit the pair so closely that Adam's first large steps rise 10-fold.
    start_error = max(
        error(predict(model, train_set.inputs), train_set.targets, weights),
        error(train_set.inputs, train_set.targets, weights),
    )

    # Each epoch, the layer inputs (see layer_inputs), targets and loss scales are shuffled into
    # batch-by-batch buffers, so that a step takes only views made once.
    unshuffled = layer_inputs(model, train_set.inputs)[:-1]
    dtype = unshuffled[0].dtype
    inputs = [_Batches(n, len(a), config.batch_size, dtype) for a in unshuffled]
    outputs, targets, residuals = (_Batches(n, n_channels, config.batch_size, dtype) for _ in range(3))
    scales = _Batches(n, 1, config.batch_size, dtype)
    batches = list(
        zip(
            zip(*(b.batches for b in (*inputs, outputs)), strict=True),
            targets.batches,
            residuals.batches,
            scales.batches,
            strict=True,
        )
    )
    starts = np.arange(0, n, config.batch_size)
    batch_sizes = np.diff(np.append(starts, n))

    best_model, best_error = copy.deepcopy(model), np.inf
    history: list[EpochReport] = []
    stop_reason = "epochs"
    epochs = config.epochs_for(n, pairs)
    activation, loss = model.activation, config.loss
    try:
        for epoch in range(1, epochs + 1):
            optimizer.lr = lr * cosine_schedule(epoch, epochs)
            order = rng.permutation(n)
            for batched, a in zip(inputs, unshuffled, strict=True):
                batched.fill(a.T[order])
            targets.fill(train_set.targets[order])
            ws = weights[order]
            # Each sample's share of its batch's loss: its weight over 4 times the batch's weight sum.
            scales.fill((ws / np.repeat(np.add.reduceat(ws, starts) * n_channels, batch_sizes))[:, None])
            for batch_inputs, y, residual, s in batches:
                np.negative(params, out=negated)
                out = forward_pass(layers, batch_inputs, activation, negated_layers)
                np.subtract(out, y, out=residual)
                delta = output_delta(out, residual, s, loss)
                backward_pass(layers, batch_inputs, delta, activation, layer_grads)
                optimizer.update_params([params], [grad])
            # The residuals as each batch was trained on: the epoch's weighted squared error.
            squared_error = float(np.dot(ws, np.square(residuals.samples()).sum(axis=1)))
            train_error = squared_error / (total_weight * n_channels)
            _check_diverged(train_error, start_error, model, lr)
            val_error = error(predict(model, val_set.inputs), val_set.targets)
            report = EpochReport(epoch, epochs, train_error, val_error)
            history.append(report)
            if val_error < best_error:
                best_model, best_error = copy.deepcopy(model), val_error
            if on_epoch is not None:
                on_epoch(report)
            if train_error < config.error_threshold:
                stop_reason = "error-threshold"
                break
    except KeyboardInterrupt:
        stop_reason = "interrupted"
    if stop_reason == "epochs":
        final_error = error(predict(best_model, cells.inputs), cells.targets, cell_weights)
        _check_useful(final_error, trivial, lr, len(history))
    return TrainResult(best_model, history, stop_reason, len(history) * len(batches))
