"""The train command's work: before/after files -> a look saved as a model file, and its report.

Refuses an output it could not write before training, makes the model's folder, saves atomically,
and writes the report folder if asked. Nothing here prints or knows about click; a Ctrl-C comes out
as an ``Interrupted`` that says what was left undone. Imports no numpy until it trains.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import Interrupted, OutputError, interruption
from .files import check_destination, make_folder, refuse_input
from .images import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from .config import TrainConfig
    from .look import Look
    from .pairs import Note
    from .train import EpochReport


@dataclass(frozen=True)
class Trained:
    """A look trained and saved at ``path``."""

    look: Look
    path: Path
    #: A file was at ``path`` before and has been replaced.
    replaced: bool
    #: Ctrl-C stopped the training: the best model so far was saved, and no report written.
    interrupted: bool


def train_to_file(
    pairs: Sequence[tuple[Path, Path]],
    config: TrainConfig,
    path: Path,
    *,
    overwrite: bool = False,
    report: Path | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_saved: Callable[[Trained], None] | None = None,
    align_pairs: bool = False,
    on_note: Callable[[Note], None] | None = None,
) -> Trained:
    """Learn the look of the (before, after) image files and save it as the model file ``path``.

    ``path`` is checked before training (an input file is refused, an existing file too unless
    ``overwrite``) and its folder made if missing. ``report`` (a folder, see
    ``report.write_train_report``) is checked before training too, and written after ``on_saved``
    is told that the model is saved. Pairs are lined up first (resized, or aligned with
    ``align_pairs``: see ``pairs.line_up``), which tells ``on_note`` what it did.

    Raises
    ------
    NnfilterError
        A pair cannot be read or does not line up, training diverged, or a file cannot be written.
    Interrupted
        Ctrl-C before the first epoch ended or while saving: no model saved.
    """
    inputs = [file for pair in pairs for file in pair]
    refuse_input(path, inputs)
    check_destination(path, overwrite)  # refused now, not after the training
    if report is not None:
        from .report import check_report

        check_report(report, [before.name for before, _ in pairs], [*inputs, path], training=True)
    with interruption("interrupted before training started: no model saved"):
        from .look import learn_look_from_pairs
        from .pairs import open_training_pairs

        opened = open_training_pairs(pairs, max_pixels, align_pairs, on_note)
        look, result = learn_look_from_pairs(opened, config, on_epoch)
    if not result.history:
        raise Interrupted("interrupted before the first epoch ended: no model saved")
    replaced = path.exists()
    if os.path.exists(path.parent) and not path.parent.is_dir():
        raise OutputError(f"{path}: {path.parent} is not a folder")
    make_folder(path.parent, f"{path}: cannot make folder {path.parent}")
    with interruption(f"interrupted while saving: {path} not written"):  # atomic_write left no temp file
        look.save(path, overwrite=overwrite)
    trained = Trained(look, path, replaced, result.interrupted)
    if on_saved is not None:
        on_saved(trained)
    if report is not None and not result.interrupted:
        from .report import write_train_report

        write_train_report(report, look, result.history, [pair.named for pair in opened])
    return trained
