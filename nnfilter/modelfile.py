"""The model file: a ``.npz`` of plain numeric arrays plus JSON metadata, never a pickle.

Arrays: ``format_version`` (scalar int), ``layer_sizes`` (int, e.g. ``[4, 16, 16, 4]``),
``W0``, ``b0``, ``W1``, ``b1``, ... (float32), the optional skip matrix ``S`` (4, 4), the optional
prior whose RGB the skip path takes (``model``; only with ``S``): its curves ``P``
(inputs, knots + 1, 3) and their inputs ``PI`` (inputs, 4), and ``metadata`` (the UTF-8 bytes of a
JSON object holding ``activation`` and what the training run recorded).

Format 2 added ``P`` with curves of R, G, B and the luma (4, knots + 1, 3); format 3 added curves
of Cb and Cr; format 4 added the look directions (``prior``) and ``PI``, and still reads formats 2
and 3, whose inputs are the first four and six of ``prior.FIXED_INPUTS``. A model without ``P`` is
written as format 1, which every nnfilter reads.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFormatError
from .files import check_regular_file, describe, write_bytes
from .model import ACTIVATIONS, MLP, N_CHANNELS
from .prior import FIXED_INPUTS, N_INPUTS, Prior

FORMAT_VERSION = 4
#: How many curves a prior has, by the format that introduced it.
PRIOR_INPUTS = {2: 4, 3: len(FIXED_INPUTS), 4: N_INPUTS}
MAX_LAYERS = 16
MAX_LAYER_SIZE = 4096
MAX_PRIOR_KNOTS = 256
#: No array of a valid model is bigger than a float64 MAX_LAYER_SIZE² matrix (plus its .npy header);
#: a larger zip member is refused from the zip directory, before it is inflated (zip bombs).
MAX_MEMBER_BYTES = MAX_LAYER_SIZE * MAX_LAYER_SIZE * 8 + (1 << 16)


def model_to_bytes(model: MLP, metadata: dict[str, Any]) -> bytes:
    """The .npz bytes of ``model`` with ``metadata`` (which must be JSON-serialisable)."""
    meta = {**metadata, "activation": model.activation}
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION if model.prior is not None else 1),
        "layer_sizes": np.array(model.layer_sizes, dtype=np.int64),
        "metadata": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
    }
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        arrays[f"W{i}"] = w.astype(np.float32)
        arrays[f"b{i}"] = b.astype(np.float32)
    if model.skip is not None:
        arrays["S"] = model.skip.astype(np.float32)
    if model.prior is not None:
        arrays["P"] = model.prior.curves.astype(np.float32)
        arrays["PI"] = model.prior.inputs.astype(np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def save_model(model: MLP, metadata: dict[str, Any], path: Path, overwrite: bool = False) -> None:
    """Write the model atomically (temporary file + rename); refuse to overwrite unless asked."""
    write_bytes(Path(path), model_to_bytes(model, metadata), overwrite)


def load_model(path: Path) -> tuple[MLP, dict[str, Any]]:
    """Read and check a model file; any problem is one ``ModelFormatError`` naming the file."""
    name = str(path)
    check_regular_file(path, name, "model file", ModelFormatError)
    try:
        # Opened here, not by np.load, which leaks its file when the zip directory is unreadable.
        with open(path, "rb") as file:
            if file.read(4) != b"PK\x03\x04":  # np.load would take it for a pickle, suggest allow_pickle
                raise ModelFormatError(f"{name}: not an nnfilter model (not an .npz file)")
            file.seek(0)
            with np.load(file, allow_pickle=False) as npz:
                for member in npz.zip.infolist():
                    if member.file_size > MAX_MEMBER_BYTES:
                        raise ModelFormatError(
                            f"{name}: not an nnfilter model ({member.filename} is too large: "
                            f"{member.file_size} bytes)"
                        )
                arrays = {key: npz[key] for key in npz.files}
        for key, value in arrays.items():
            if not isinstance(value, np.ndarray):  # NpzFile returns a member without .npy magic raw
                raise ModelFormatError(f"{name}: not an nnfilter model ({key} is not an array)")
    except ModelFormatError:
        raise
    except OSError as exc:
        if exc.filename is None:  # not from the file system
            raise ModelFormatError(f"{name}: not an nnfilter model or damaged ({describe(exc)})") from None
        raise ModelFormatError(f"{name}: cannot read ({describe(exc)})") from None
    except Exception as exc:  # zip and .npy parsing of a hostile file fail in many ways
        if "allow_pickle" in str(exc):
            raise ModelFormatError(
                f"{name}: not an nnfilter model (it holds pickled Python objects, which are never loaded)"
            ) from None
        raise ModelFormatError(f"{name}: not an nnfilter model or damaged ({describe(exc)})") from None
    return _model_from_arrays(arrays, name)


def _model_from_arrays(arrays: dict[str, np.ndarray], name: str) -> tuple[MLP, dict[str, Any]]:
    def fail(problem: str) -> ModelFormatError:
        return ModelFormatError(f"{name}: {problem}")

    if "format_version" not in arrays or "layer_sizes" not in arrays:
        raise fail("not an nnfilter model (no format_version or layer_sizes)")
    version = arrays["format_version"]
    if version.shape != () or version.dtype.kind not in "iu":
        raise fail("not an nnfilter model (bad format_version)")
    if int(version) > FORMAT_VERSION:
        raise fail(
            f"model format {int(version)} is newer than this nnfilter reads ({FORMAT_VERSION}); "
            "upgrade nnfilter"
        )
    if int(version) < 1:
        raise fail(f"unknown model format {int(version)}")
    sizes = arrays["layer_sizes"]
    if sizes.ndim != 1 or sizes.dtype.kind not in "iu" or not 3 <= len(sizes) <= MAX_LAYERS:
        raise fail("bad layer_sizes")
    sizes = [int(s) for s in sizes]
    if sizes[0] != N_CHANNELS or sizes[-1] != N_CHANNELS:
        raise fail(f"the network maps {sizes[0]} to {sizes[-1]} channels, not RGBA to RGBA")
    if any(not 1 <= s <= MAX_LAYER_SIZE for s in sizes):
        raise fail(f"layer sizes must be 1 to {MAX_LAYER_SIZE}, got {sizes}")
    meta = _metadata(arrays.get("metadata"), fail)
    weights, biases = [], []

    def checked(key: str, shape: tuple[int, ...]) -> np.ndarray:
        array = arrays.get(key)
        if array is None:
            raise fail(f"missing array {key}")
        if array.shape != shape or array.dtype.kind != "f":
            raise fail(f"array {key} has shape {array.shape} ({array.dtype}), expected {shape} floats")
        if not np.isfinite(array).all():
            raise fail(f"array {key} holds NaN or infinite values")
        return array.astype(np.float32)

    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        weights.append(checked(f"W{i}", (fan_in, fan_out)))
        biases.append(checked(f"b{i}", (fan_out,)))
    skip = checked("S", (N_CHANNELS, N_CHANNELS)) if "S" in arrays else None
    prior = None
    if "P" in arrays:
        shape = arrays["P"].shape
        knots = shape[1] if len(shape) == 3 else 0
        if int(version) < min(PRIOR_INPUTS):
            raise fail(
                f"array P in a model of format {int(version)}: priors came with format {min(PRIOR_INPUTS)}"
            )
        if skip is None or not 2 <= knots <= MAX_PRIOR_KNOTS + 1:
            raise fail(f"array P has shape {shape}: a prior needs S and 2 to {MAX_PRIOR_KNOTS + 1} knots")
        n_inputs = PRIOR_INPUTS.get(int(version), N_INPUTS)
        curves = checked("P", (n_inputs, knots, 3))
        inputs = (
            checked("PI", (n_inputs, 4)) if int(version) >= 4 else FIXED_INPUTS[:n_inputs].astype(np.float32)
        )
        prior = Prior(inputs, curves)
    return MLP(weights, biases, meta["activation"], skip, prior), meta


def _metadata(raw: np.ndarray | None, fail) -> dict[str, Any]:
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise fail("missing or bad metadata")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, or nested too deep to parse
        raise fail("metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise fail("metadata is not a JSON object")
    if not isinstance(meta.get("activation"), str) or meta["activation"] not in ACTIVATIONS:
        raise fail(f"unknown activation {meta.get('activation')!r}")
    return meta
