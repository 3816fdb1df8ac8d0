"""nnfilter's own exceptions: the core raises these, the CLI turns them into one-line errors."""

#: The exit code of a run stopped by Ctrl-C: 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED = 130


class NnfilterError(Exception):
    """Base class of every error nnfilter reports to its user."""


class ImageError(NnfilterError):
    """An image could not be read or is not usable (missing, not an image, damaged, too large)."""


class PairMismatchError(NnfilterError):
    """A before/after pair whose images do not line up."""


class ModelFormatError(NnfilterError):
    """A model file that is not an nnfilter model, is damaged, or is from a newer format."""


class LutFormatError(NnfilterError):
    """A LUT file that is malformed or of an unsupported kind."""


class TrainingDivergedError(NnfilterError):
    """Training blew up (non-finite or exploding loss or weights)."""


class OutputError(NnfilterError):
    """An output could not be written, or would overwrite something it must not."""
