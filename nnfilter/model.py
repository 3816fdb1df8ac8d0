"""The network maths: a small multilayer perceptron and its backpropagation, as pure numpy functions.

A model maps a pixel's RGBA/255 (shape ``(n, 4)``) to a new RGBA/255. Hidden layers use one of
``ACTIVATIONS``; the output layer is always a sigmoid so that the output stays in [0, 1].

With a ``skip`` matrix S (4, 4) the output is ``sigmoid(z + logit(x) @ S)``: a learned linear
path in logit space beside the hidden layers. It starts as the identity (S = I, zero output
weights), so training learns a *correction* to "leave the colour alone", and far from the training
colours the linear path keeps extrapolation tame; yet, being learned, it can also mix channels, as
sepia or black-and-white looks need. (A fixed ``logit(x)`` term was measured too: fine for tone
curves, but a look that mixes channels then misses by ~8 levels on new images.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_CHANNELS = 4
LOGIT_EPS = 1.0 / 1024.0


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # In place, as 0.5 tanh(z / 2) + 0.5: equal to 1 / (1 + exp(-z)), and never overflows.
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5
    return z


def _tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=z)


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0, out=z)


def _leaky_relu(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, LEAKY_SLOPE * z)


LEAKY_SLOPE = 0.01

ACTIVATIONS = {
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "relu": _relu,
    "leaky-relu": _leaky_relu,
}

# Each derivative is written in terms of the activation's *output* a (as in scikit-learn's
# ``_base.py``): it multiplies ``delta`` in place by f'(z) without needing z.
DERIVATIVES = {
    "sigmoid": lambda a, delta: np.multiply(delta, a * (1 - a), out=delta),
    "tanh": lambda a, delta: np.multiply(delta, 1 - a * a, out=delta),
    "relu": lambda a, delta: np.multiply(delta, a > 0, out=delta),
    "leaky-relu": lambda a, delta: np.multiply(delta, np.where(a > 0, 1.0, LEAKY_SLOPE), out=delta),
}

# Uniform init bounds sqrt(factor / (fan_in + fan_out)): Glorot's factor 6 for tanh (and the
# ReLUs); since sigmoid(z) = (1 + tanh(z / 2)) / 2, a sigmoid unit behaves like a tanh unit with
# half its weights, so it gets twice tanh's bound (factor 24; scikit-learn's 2 trained 1.5x slower).
_INIT_FACTOR = {"sigmoid": 24.0, "tanh": 6.0, "relu": 6.0, "leaky-relu": 6.0}


@dataclass
class MLP:
    """A multilayer perceptron: per-layer weights ``(fan_in, fan_out)`` and biases ``(fan_out,)``."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str = "sigmoid"
    skip: np.ndarray | None = None

    @property
    def layer_sizes(self) -> list[int]:
        """Sizes of every layer, input and output included, e.g. ``[4, 16, 16, 4]``."""
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    def parameters(self) -> list[np.ndarray]:
        """All arrays that training updates, in the order gradients are returned."""
        params = [p for w, b in zip(self.weights, self.biases) for p in (w, b)]
        return params if self.skip is None else [*params, self.skip]

    def flatten(self) -> np.ndarray:
        """Move all parameters into one float32 vector and make the model's arrays views of it.

        Optimizers then update every parameter with a few whole-vector operations instead of a
        few per array, which is most of the time of a step on a network this small.
        """
        flat = np.concatenate([p.ravel() for p in self.parameters()]).astype(np.float32)
        views, start = [], 0
        for p in self.parameters():
            views.append(flat[start : start + p.size].reshape(p.shape))
            start += p.size
        n = len(self.weights)
        self.weights, self.biases = views[0 : 2 * n : 2], views[1 : 2 * n : 2]
        if self.skip is not None:
            self.skip = views[-1]
        return flat

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in self.layer_sizes)
        return f"MLP({sizes}, activation={self.activation!r}, skip={self.skip is not None})"


def init_mlp(
    hidden: list[int], activation: str, rng: np.random.Generator, residual: bool = True
) -> MLP:
    """A new RGBA → RGBA network with weights initialised to suit ``activation``.

    With ``residual`` the model gets a skip path S = I and a zero output layer, so the untrained
    model is the identity.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if not hidden or any(h < 1 for h in hidden):
        raise ValueError(f"hidden layer sizes must be >= 1, got {hidden}")
    sizes = [N_CHANNELS, *hidden, N_CHANNELS]
    weights, biases = [], []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        is_output = i == len(sizes) - 2
        factor = 2.0 if is_output else _INIT_FACTOR[activation]
        bound = np.sqrt(factor / (fan_in + fan_out))
        if is_output and residual:
            w = np.zeros((fan_in, fan_out))
        else:
            w = rng.uniform(-bound, bound, (fan_in, fan_out))
        weights.append(w.astype(np.float32))
        biases.append(np.zeros(fan_out, dtype=np.float32))
    skip = np.eye(N_CHANNELS, dtype=np.float32) if residual else None
    return MLP(weights, biases, activation, skip)


def logit(x: np.ndarray) -> np.ndarray:
    """The inverse of the sigmoid, with x clipped to [LOGIT_EPS, 1 - LOGIT_EPS] to stay finite."""
    x = np.clip(x, LOGIT_EPS, 1 - LOGIT_EPS)
    return np.log(x / (1 - x))


def forward(model: MLP, x: np.ndarray, x_logit: np.ndarray | None = None) -> list[np.ndarray]:
    """Every layer's output for a batch ``x`` of shape (n, 4), input first, for backprop.

    ``x_logit`` is ``logit(x)`` when the caller has it already (training computes it once).
    """
    activations = [x]
    hidden_fn = ACTIVATIONS[model.activation]
    last = len(model.weights) - 1
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        z = activations[-1] @ w
        z += b
        if i == last:
            if model.skip is not None:
                z += (logit(x) if x_logit is None else x_logit) @ model.skip
            activations.append(_sigmoid(z))
        else:
            activations.append(hidden_fn(z))
    return activations


def predict(model: MLP, x: np.ndarray) -> np.ndarray:
    """The network's output for ``x`` of shape (n, 4), keeping no intermediate layers."""
    hidden_fn = ACTIVATIONS[model.activation]
    a = x
    for w, b in zip(model.weights[:-1], model.biases[:-1]):
        z = a @ w
        z += b
        a = hidden_fn(z)
    z = a @ model.weights[-1]
    z += model.biases[-1]
    if model.skip is not None:
        z += logit(x) @ model.skip
    return _sigmoid(z)


def _weighted_mse(out: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    return float(np.dot(w, ((out - y) ** 2).sum(axis=1)) / (w.sum() * out.shape[1]))


def _weighted_cross_entropy(out: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    a = np.clip(out, 1e-7, 1 - 1e-7)
    per_sample = -(y * np.log(a) + (1 - y) * np.log(1 - a)).sum(axis=1)
    return float(np.dot(w, per_sample) / (w.sum() * out.shape[1]))


LOSSES = {"mse": _weighted_mse, "cross-entropy": _weighted_cross_entropy}


def error(out: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The (weighted) mean squared error over samples and channels, on the [0, 1] scale."""
    if weights is None:
        weights = np.ones(len(out), dtype=out.dtype)
    return _weighted_mse(out, y, weights)


def backward(
    model: MLP,
    activations: list[np.ndarray],
    y: np.ndarray,
    sample_weight: np.ndarray,
    loss: str,
    x_logit: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Gradients of the weighted loss with respect to ``model.parameters()``.

    ``activations`` is what ``forward`` returned for the batch, ``y`` the targets (n, 4) and
    ``sample_weight`` (n,) each sample's weight; the loss is normalised by the weights' sum.
    """
    out = activations[-1]
    scale = (sample_weight / (sample_weight.sum() * out.shape[1]))[:, None].astype(out.dtype)
    # Output deltas dL/dz for a sigmoid output layer:
    #   cross-entropy: dL/da = (a - y) / (a (1 - a)), times sigmoid' = a (1 - a)  ->  (a - y)
    #   squared error: dL/da = 2 (a - y), times sigmoid' = a (1 - a)          ->  2 (a - y) a (1 - a)
    delta = out - y
    if loss == "mse":
        delta *= 2 * out * (1 - out)
    elif loss != "cross-entropy":
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    delta *= scale
    if model.skip is None:
        skip_grad = []
    else:
        skip_grad = [(logit(activations[0]) if x_logit is None else x_logit).T @ delta]
    derivative = DERIVATIVES[model.activation]
    grads: list[np.ndarray] = []
    for i in range(len(model.weights) - 1, -1, -1):
        grads.append(delta.sum(axis=0))
        grads.append(activations[i].T @ delta)
        if i > 0:
            delta = derivative(activations[i], delta @ model.weights[i].T)
    grads.reverse()
    return grads + skip_grad
