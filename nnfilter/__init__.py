"""nnfilter: learn a photo look from one before/after pair and apply it to any photo."""

__version__ = "0.1.0"

from .errors import NnfilterError  # noqa: E402
from .look import Look, learn_look, learn_look_from_files  # noqa: E402
from .train import TrainConfig  # noqa: E402

__all__ = ["Look", "NnfilterError", "TrainConfig", "learn_look", "learn_look_from_files"]
