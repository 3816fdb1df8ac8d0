"""nnfilter: learn a photo look from one before/after pair and apply it to any photo."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "FileFilter",
    "FileResult",
    "Look",
    "NnfilterError",
    "TrainConfig",
    "learn_look",
    "learn_look_from_files",
]

# Imported on first use (PEP 562), so that ``import nnfilter.cli`` does not import numpy: the
# command line reads a photo while numpy loads.
_EXPORTS = {
    "FileFilter": "perfile",
    "FileResult": "perfile",
    "Look": "look",
    "learn_look": "look",
    "learn_look_from_files": "look",
    "NnfilterError": "errors",
    "TrainConfig": "config",
}

if TYPE_CHECKING:
    from .config import TrainConfig
    from .errors import NnfilterError
    from .look import Look, learn_look, learn_look_from_files
    from .perfile import FileFilter, FileResult


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nnfilter' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
