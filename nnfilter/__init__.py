"""nnfilter: learn a photo look from one before/after pair and apply it to any photo."""

__version__ = "0.1.0"
