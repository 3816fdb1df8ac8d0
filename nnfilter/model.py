"""The network maths: a small multilayer perceptron and its backpropagation, as pure numpy functions.

A model maps a pixel's RGBA/255 (shape ``(n, 4)``) to a new RGBA/255. Hidden layers use one of
``ACTIVATIONS``; the output layer is always a sigmoid so that the output stays in [0, 1].

With a ``skip`` matrix S (4, 4) the output is ``sigmoid(z + logit(x) @ S)``: a learned linear
path in logit space beside the hidden layers. It starts as the identity (S = I, zero output
weights), so training learns a *correction* to "leave the colour alone", and far from the training
colours the linear path keeps extrapolation tame; yet, being learned, it can also mix channels, as
sepia or black-and-white looks need. (A fixed ``logit(x)`` term was measured too: fine for tone
curves, but a look that mixes channels then misses by ~8 levels on new images.)

With a ``prior`` as well (curves, see ``prior``) the skip path takes the prior's RGB instead of
the input's, ``sigmoid(z + logit(p(x)) @ S)``, and alpha as before: the untrained model is then the
prior fitted to the pair, and training learns a correction to it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from .prior import Prior, apply_ramps, curve_ramps

N_CHANNELS = 4
LOGIT_EPS = 1.0 / 1024.0

_blas_controller = None


def one_blas_thread() -> AbstractContextManager:
    """A context in which BLAS runs on one thread: its threads only slow products as small as a
    network this size makes (training's batches of 64, applying's chunks). The one way nnfilter
    limits BLAS; the library scan threadpoolctl makes is done once per process, not per call."""
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


def split_views(vector: np.ndarray, shapes: Iterable[tuple[int, ...]]) -> list[np.ndarray]:
    """Views of consecutive blocks of a flat ``vector``, one per shape, in order.

    >>> [v.tolist() for v in split_views(np.arange(5), [(2,), (1, 3)])]
    [[0, 1], [[2, 3, 4]]]
    """
    views, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        views.append(vector[start : start + size].reshape(shape))
        start += size
    return views


#: 1 as a 0-d array: numpy takes an array operand faster than a Python number, which it converts
#: on every call (a large share of a call on a training step's small arrays). It is exact in every float
#: type, so results are the same as with the number.
ONE = np.array(1.0, np.float32)
ONE.flags.writeable = False


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # In place, as 1 / (1 + exp(-z)); see _sigmoid_of_negated.
    return _sigmoid_of_negated(np.negative(z, out=z))


def _sigmoid_of_negated(z: np.ndarray) -> np.ndarray:
    # In place, for z already negated: 1 / (1 + exp(z)). Through exp, not tanh (0.5 tanh(z / 2) +
    # 0.5): numpy has a vectorised exp on every x86-64 CPU but a vectorised tanh only with
    # AVX-512 (and tanh would need a multiplication and an addition more).
    # exp overflows to inf far out, giving 0 as it should: callers ignore the warning.
    np.exp(z, out=z)
    np.add(z, ONE, out=z)
    return np.divide(ONE, z, out=z)


def _tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=z)


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0, out=z)


def _leaky_relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, LEAKY_SLOPE * z, out=z)  # the slope is below 1


LEAKY_SLOPE = 0.01

ACTIVATIONS = {
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "relu": _relu,
    "leaky-relu": _leaky_relu,
}

# Every activation works in place (training writes each layer's output into a buffer).
# Each derivative is written in terms of the activation's *output* a (as in scikit-learn's
# ``_base.py``): it multiplies ``delta`` in place by f'(z) without needing z.
DERIVATIVES = {
    "sigmoid": lambda a, delta: np.multiply(delta, a * np.subtract(ONE, a), out=delta),
    "tanh": lambda a, delta: np.multiply(delta, 1 - a * a, out=delta),
    "relu": lambda a, delta: np.multiply(delta, a > 0, out=delta),
    "leaky-relu": lambda a, delta: np.multiply(delta, np.where(a > 0, 1.0, LEAKY_SLOPE), out=delta),
}

# Uniform init bounds sqrt(factor / (fan_in + fan_out)): Glorot's factor 6 for tanh (and the
# ReLUs); since sigmoid(z) = (1 + tanh(z / 2)) / 2, a sigmoid unit behaves like a tanh unit with
# half its weights, so it gets twice tanh's bound (factor 24; scikit-learn's 2 trained 1.5x slower).
_INIT_FACTOR = {"sigmoid": 24.0, "tanh": 6.0, "relu": 6.0, "leaky-relu": 6.0}
#: For the squashing activations, the first hidden layer's bounds are this many times those, and
#: every hidden unit is centred: its step at a random colour in the first layer, at the middle of
#: the layer below's outputs in the others (see ``init_mlp``).
FIRST_LAYER_SPREAD = {"sigmoid": 10.0, "tanh": 10.0}
_MIDDLE_OUTPUT = {"sigmoid": 0.5, "tanh": 0.0}


@dataclass
class MLP:
    """A multilayer perceptron: per-layer weights ``(fan_in, fan_out)`` and biases ``(fan_out,)``,
    the optional skip matrix (4, 4) and the prior (to RGB) its skip path takes."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str = "sigmoid"
    skip: np.ndarray | None = None
    prior: Prior | None = None

    @property
    def layer_sizes(self) -> list[int]:
        """Sizes of every layer, input and output included, e.g. ``[4, 16, 16, 4]``."""
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    def parameters(self) -> list[np.ndarray]:
        """All arrays that training updates, in the order gradients are returned."""
        params = [p for w, b in zip(self.weights, self.biases, strict=True) for p in (w, b)]
        return params if self.skip is None else [*params, self.skip]

    def flatten(self) -> np.ndarray:
        """Move all parameters into one float32 vector and make the model's arrays views of it.

        Optimizers then update every parameter with a few whole-vector operations instead of a
        few per array, which is most of the time of a step on a network this small.
        """
        flat = np.concatenate([p.ravel() for p in self.parameters()]).astype(np.float32)
        views = split_views(flat, [p.shape for p in self.parameters()])
        n = len(self.weights)
        self.weights, self.biases = views[0 : 2 * n : 2], views[1 : 2 * n : 2]
        if self.skip is not None:
            self.skip = views[-1]
        return flat

    def stacked(self, vector: np.ndarray) -> list[np.ndarray]:
        """Per layer, the view of ``vector`` (laid out as ``flatten()`` lays the parameters) holding
        its weights with its bias as one more row below them, and for the output layer the skip
        matrix below that: shape (fan_in + 1, fan_out), or (fan_in + 1 + 4, 4).

        With a row of ones (and logit(x)) below a layer's input, one column a sample, one product
        then applies weights, bias (and skip): ``[W; b; S].T @ [a; 1; logit(x)] = W.T a + b + S.T logit(x)``.
        ``vector`` may be the parameters themselves or a gradient laid out alike.
        """
        last = len(self.weights) - 1
        skip_rows = 0 if self.skip is None else self.skip.shape[0]
        return split_views(
            vector,
            [
                (w.shape[0] + 1 + (skip_rows if i == last else 0), w.shape[1])
                for i, w in enumerate(self.weights)
            ],
        )

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in self.layer_sizes)
        return (
            f"MLP({sizes}, activation={self.activation!r}, skip={self.skip is not None}, "
            f"prior={self.prior is not None})"
        )


def init_mlp(hidden: list[int], activation: str, rng: np.random.Generator, residual: bool = True) -> MLP:
    """A new RGBA → RGBA network with weights initialised to suit ``activation``.

    With ``residual`` the model gets a skip path S = I and a zero output layer, so the untrained
    model is the identity.

    A sigmoid or tanh unit of the first hidden layer gets ``FIRST_LAYER_SPREAD`` times the usual
    weights and a bias that puts its step at a random colour of the RGB cube (alpha 1); a unit of
    a later hidden layer, a bias that puts it at the middle of its inputs' range. With the
    usual weights over inputs in [0, 1] the units start nearly linear: what they add to a prior
    that already fits the pair's straight trends is near zero, so is their gradient, and the
    correction a look needs beyond the prior was learned only late, if at all. On the realworld
    benchmark (``--quick``) the mean went from 0.968 to 0.952 ΔE00 (dk-vintage trained on
    LadyBird 1.64 to 1.38; see benchmarks/RESULTS.md).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if not hidden or any(h < 1 for h in hidden):
        raise ValueError(f"hidden layer sizes must be >= 1, got {hidden}")
    sizes = [N_CHANNELS, *hidden, N_CHANNELS]
    weights, biases = [], []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        is_output = i == len(sizes) - 2
        factor = 2.0 if is_output else _INIT_FACTOR[activation]
        bound = np.sqrt(factor / (fan_in + fan_out))
        if is_output and residual:
            w = np.zeros((fan_in, fan_out))
        else:
            spread = FIRST_LAYER_SPREAD.get(activation, 1.0) if i == 0 else 1.0
            w = rng.uniform(-bound * spread, bound * spread, (fan_in, fan_out))
        bias = np.zeros(fan_out)
        if activation in FIRST_LAYER_SPREAD and not is_output:
            if i == 0:
                centres = rng.uniform(0, 1, (fan_in, fan_out))
                centres[3] = 1  # opaque
            else:
                centres = np.full((fan_in, fan_out), _MIDDLE_OUTPUT[activation])
            bias = -(w * centres).sum(axis=0)
        weights.append(w.astype(np.float32))
        biases.append(bias.astype(np.float32))
    skip = np.eye(N_CHANNELS, dtype=np.float32) if residual else None
    return MLP(weights, biases, activation, skip)


def logit(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The inverse of the sigmoid, with x clipped to [LOGIT_EPS, 1 - LOGIT_EPS] to stay finite;
    into ``out`` if given (it may be ``x``)."""
    out = np.clip(x, LOGIT_EPS, 1 - LOGIT_EPS, out=out)
    out /= 1 - out
    return np.log(out, out=out)


def layer_inputs(
    model: MLP,
    x: np.ndarray,
    prior_ramps: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    empty: Callable[[tuple[int, ...], np.dtype], np.ndarray] = np.empty,
) -> list[np.ndarray]:
    """Buffers for a forward pass of ``x`` (n, 4), one column a sample: each layer's input as
    ``model.stacked`` expects it, then the output (4, n).

    The input layer's is ``[x; 1]`` (5, n); a hidden layer's ``[a; 1]``, its activations a still to
    be written; the output layer's, with a skip path, ``[a; 1; logit(x)]`` (with a prior, the
    prior's RGB in place of x's). Columns, not rows, are samples so that each layer's activations
    are one contiguous block (faster on small batches). ``prior_ramps`` are the prior's
    ``curve_ramps`` in the buffers' float type, if already prepared; ``empty(shape, dtype)`` makes
    the buffers (``Workspace.empty`` to reuse memory).
    """
    n, dtype = len(x), np.result_type(x, *model.parameters())
    sizes = model.layer_sizes
    inputs = []
    for i, size in enumerate(sizes[:-1]):
        skip = model.skip is not None and i == len(sizes) - 2
        a = empty((size + 1 + (N_CHANNELS if skip else 0), n), dtype)
        a[size] = 1
        inputs.append(a)
    inputs.append(empty((sizes[-1], n), dtype))
    inputs[0][: sizes[0]] = x.T
    if model.skip is not None:
        seen = inputs[-2][-N_CHANNELS:]
        if model.prior is None:
            seen[:] = x.T
        else:
            ramps = prior_ramps if prior_ramps is not None else curve_ramps(model.prior, dtype)
            apply_ramps(ramps, x[:, :3].astype(dtype, copy=False), out=seen, empty=empty)
            seen[3] = x[:, 3]  # over the prior's row of padding
        logit(seen, out=seen)
    return inputs


def forward_pass(
    layers: list[np.ndarray],
    inputs: list[np.ndarray],
    activation: str,
    negated: list[np.ndarray] | None = None,
) -> np.ndarray:
    """The forward pass in place: each layer's ``z = layer.T @ input`` (weights, bias and skip at
    once, see ``MLP.stacked``), through its activation, into the next layer's input.

    ``inputs`` are buffers as ``layer_inputs`` makes them; returns the output (4, n). ``negated``,
    the same layers times -1 (a negated copy of the vector, laid out alike), saves each sigmoid
    layer one pass over its output: training's steps are short enough for it to count.
    Negation is exact in floating point, so the output is the same either way.
    """
    hidden_fn = ACTIVATIONS[activation]
    last = len(layers) - 1
    with np.errstate(over="ignore"):  # a sigmoid's exp far out (see _sigmoid_of_negated)
        for i, layer in enumerate(layers):
            out = inputs[i + 1][: layer.shape[1]]
            if negated is not None and (i == last or activation == "sigmoid"):
                _sigmoid_of_negated(np.dot(negated[i].T, inputs[i], out=out))
            else:
                z = np.dot(layer.T, inputs[i], out=out)
                _sigmoid(z) if i == last else hidden_fn(z)
    return inputs[-1]


def forward(model: MLP, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's input for a batch ``x`` of shape (n, 4), then the output (4, n), for backprop:
    ``layer_inputs``'s buffers, filled."""
    inputs = layer_inputs(model, x)
    forward_pass(model.stacked(_parameter_vector(model)), inputs, model.activation)
    return inputs


def _parameter_vector(model: MLP) -> np.ndarray:
    return np.concatenate([p.ravel() for p in model.parameters()])


def predict(model: MLP, x: np.ndarray) -> np.ndarray:
    """The network's output for ``x`` of shape (n, 4): the forward pass's last layer, (n, 4)."""
    return Predictor(model, np.result_type(x, *model.parameters()))(x)


class Workspace:
    """Arrays carved out of one buffer that is kept from call to call.

    A forward pass of a few thousand colours needs buffers of a few hundred KiB each; fresh ones
    come from the system with every call, and their page faults cost more than the arithmetic
    (a quarter of a 4096-colour chunk's time, measured). ``start`` hands the buffer out again from its
    start, so the arrays of the call before are overwritten.
    """

    ALIGN = 64

    def __init__(self) -> None:
        self._buffer = np.empty(0, np.uint8)
        self._used = 0

    def start(self) -> None:
        """Begin a call: the arrays handed out so far are free; the buffer grows to the most that
        a call has asked for."""
        if self._used > len(self._buffer):
            self._buffer = np.empty(self._used, np.uint8)
        self._used = 0

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised C-contiguous array, as ``np.empty``: from the buffer while it lasts."""
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        start, self._used = self._used, self._used + -(-nbytes // self.ALIGN) * self.ALIGN
        if self._used > len(self._buffer):
            return np.empty(shape, dtype)
        return self._buffer[start : start + nbytes].view(dtype).reshape(shape)


class Predictor:
    """``predict`` for batch after batch of inputs of one float type: what does not depend on the
    inputs (the stacked and negated layers, the prior's ramps) is prepared once, and each thread
    reuses its ``Workspace``. Applying a look calls it per strip of new colours, where preparing
    them each call cost more than the few hundred colours."""

    def __init__(self, model: MLP, dtype: np.dtype = np.float32):
        self.model, self.dtype = model, np.dtype(dtype)
        vector = _parameter_vector(model).astype(self.dtype)
        self.layers = model.stacked(vector)
        self.negated = model.stacked(-vector)
        self.prior_ramps = None if model.prior is None else curve_ramps(model.prior, self.dtype)
        self._workspaces = threading.local()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The output (n, 4) for ``x`` (n, 4), in this predictor's float type: valid until this
        thread's next call."""
        workspace = getattr(self._workspaces, "workspace", None)
        if workspace is None:
            workspace = self._workspaces.workspace = Workspace()
        workspace.start()
        x = x.astype(self.dtype, copy=False)
        inputs = layer_inputs(self.model, x, self.prior_ramps, workspace.empty)
        return forward_pass(self.layers, inputs, self.model.activation, self.negated).T


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


def _mse_delta(out: np.ndarray, residual: np.ndarray, scale: np.ndarray) -> np.ndarray:
    # dL/da = 2 (a - y), times sigmoid' = a (1 - a)  ->  2 (a - y) a (1 - a)
    delta = np.subtract(ONE, out)
    delta *= out
    delta *= residual
    delta *= 2 * scale
    return delta


def _cross_entropy_delta(out: np.ndarray, residual: np.ndarray, scale: np.ndarray) -> np.ndarray:
    # dL/da = (a - y) / (a (1 - a)), times sigmoid' = a (1 - a)  ->  (a - y)
    return residual * scale


#: Per loss, dL/dz of the sigmoid output layer (see ``output_delta``); the keys are ``LOSSES``'.
OUTPUT_DELTAS = {"mse": _mse_delta, "cross-entropy": _cross_entropy_delta}


def output_delta(out: np.ndarray, residual: np.ndarray, scale: np.ndarray, loss: str) -> np.ndarray:
    """dL/dz of the sigmoid output layer, from its output ``a`` (4, n), the ``residual`` a - y and
    each sample's share of the loss, ``scale`` (1, n): its weight over 4 times the weights' sum."""
    try:
        delta_fn = OUTPUT_DELTAS[loss]
    except KeyError:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}") from None
    return delta_fn(out, residual, scale)


def backward_pass(
    layers: list[np.ndarray],
    inputs: list[np.ndarray],
    delta: np.ndarray,
    activation: str,
    grads: list[np.ndarray],
) -> None:
    """Backpropagation from the output layer's ``delta`` (dL/dz, (4, n)) and the forward pass's
    ``inputs``: each layer's gradient ``input @ delta.T`` (weights, bias and skip rows at once) into
    ``grads`` (shaped as ``layers``); then the delta of the layer below: ``W @ delta`` times the
    derivative of its activation."""
    derivative = DERIVATIVES[activation]
    for i in range(len(layers) - 1, -1, -1):
        np.dot(inputs[i], delta.T, out=grads[i])
        if i > 0:
            fan_in = layers[i - 1].shape[1]
            delta = derivative(inputs[i][:fan_in], np.dot(layers[i][:fan_in], delta))


def backward(
    model: MLP, inputs: list[np.ndarray], y: np.ndarray, sample_weight: np.ndarray, loss: str
) -> list[np.ndarray]:
    """Gradients of the weighted loss with respect to ``model.parameters()``.

    ``inputs`` is what ``forward`` returned for the batch, ``y`` the targets (n, 4) and
    ``sample_weight`` (n,) each sample's weight; the loss is normalised by the weights' sum.
    """
    out = inputs[-1]
    scale = (sample_weight / (sample_weight.sum() * len(out)))[None, :].astype(out.dtype)
    params = _parameter_vector(model)
    grad = np.empty_like(params, dtype=out.dtype)
    backward_pass(
        model.stacked(params),
        inputs,
        output_delta(out, out - y.T, scale, loss),
        model.activation,
        model.stacked(grad),
    )
    return split_views(grad, [p.shape for p in model.parameters()])
