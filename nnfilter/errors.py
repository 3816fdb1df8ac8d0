"""nnfilter's own exceptions: the core raises these, the CLI turns them into one-line errors.

Messages name files and values, never command-line options: the CLI adds such hints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Exit codes: success; an error (or some files of a batch failed); a run stopped by Ctrl-C
#: (128 + SIGINT, as shells report it). Usage errors exit 2, click's own code.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class NnfilterError(Exception):
    """Base class of every error nnfilter reports to its user.

    Every one survives pickling (a worker process sends it back inside its outcome): a copy is
    rebuilt from its ``args`` and attributes, not by calling ``__init__`` again, whose arguments
    differ from ``args`` in the subclasses.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.args), self.__dict__


def _rebuild(cls: type[NnfilterError], args: tuple[Any, ...]) -> NnfilterError:
    """An instance of ``cls`` with ``args``, its ``__init__`` not called (pickle then sets its attributes)."""
    error = cls.__new__(cls)
    error.args = args
    return error


class ImageError(NnfilterError):
    """An image could not be read or is not usable (missing, not an image, damaged, too large)."""


class ImageTooLargeError(ImageError):
    """An image with more pixels than the ``limit`` it was opened with."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class PairMismatchError(NnfilterError):
    """A before/after pair whose images do not line up.

    ``kind`` says how, for a caller that words a hint in its own terms: "shapes" for sizes of
    different shapes that lining up (``pairs.line_up``) did not make agree, None for the others.
    """

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


class ModelFormatError(NnfilterError):
    """A model file that is not an nnfilter model, is damaged, or is from a newer format."""


class LutFormatError(NnfilterError):
    """A LUT file that is malformed or of an unsupported kind."""


class TrainingDivergedError(NnfilterError):
    """Training blew up (non-finite or exploding loss or weights) at learning rate ``lr``."""

    def __init__(self, message: str, lr: float | None = None) -> None:
        super().__init__(message)
        self.lr = lr


class OutputError(NnfilterError):
    """An output could not be written, or would overwrite something it must not."""


class OutputExistsError(OutputError):
    """An output exists and was not to be replaced; ``path`` names it."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: exists")
        self.path = path


class PlanError(NnfilterError):
    """The inputs and output options of a batch cannot make a plan (which output each input gets).

    ``kind`` names the rule broken and ``values`` the arguments involved, for a caller that words
    it in its own terms (the CLI names its options).
    """

    def __init__(self, message: str, kind: str, **values: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.values = values


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C, with a message saying what it left undone ("... no model saved")."""


@contextmanager
def interruption(message: str) -> Iterator[None]:
    """Turn a Ctrl-C inside ``with`` into an ``Interrupted`` carrying ``message``."""
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(message) from None
