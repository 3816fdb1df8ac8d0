"""Training and eval reports: pictures drawn with Pillow (a before | learned | after strip, the loss
curve, a photo with its unseen colours highlighted) and the folders that hold them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from .coverage import unseen_mask
from .deep import DeepImage
from .files import check_can_make, make_folder, refuse_input, write_bytes
from .saving import save_image
from .train import EpochReport

if TYPE_CHECKING:
    from .look import Look

Pair = tuple[str, Image.Image | DeepImage, Image.Image | DeepImage]
"""A named before/after pair of images (a 16-bit one is pictured at 8 bits)."""

PANEL_WIDTH = 480
HIGHLIGHT = (255, 0, 255)
#: What a training report holds beside the pictures of its pairs: the loss curve, the eval table.
LOSS_FILE, TABLE_FILE = "loss.png", "eval.txt"


def _pillow(image: Image.Image | DeepImage) -> Image.Image:
    """A picture of an image: a 16-bit one rounded to 8 bits."""
    return image.to_pillow() if isinstance(image, DeepImage) else image


def _fit(image: Image.Image, width: int) -> Image.Image:
    scale = min(1.0, width / image.width)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def side_by_side(images: list[Image.Image], labels: list[str], width: int = PANEL_WIDTH) -> Image.Image:
    """The images scaled to ``width`` each, in a row, each with its label above it."""
    panels = [_fit(image, width) for image in images]
    label_height = 18
    height = max(p.height for p in panels) + label_height
    sheet = Image.new("RGB", (sum(p.width for p in panels), height), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for panel, label in zip(panels, labels, strict=True):
        sheet.paste(panel, (x, label_height))
        draw.text((x + 4, 3), label, fill="black")
        x += panel.width
    return sheet


def loss_plot(history: list[EpochReport], size: tuple[int, int] = (640, 360)) -> Image.Image:
    """Training (blue) and validation (orange) error per epoch, on a log scale."""
    width, height = size
    left, right, top, bottom = 60, 16, 16, 36
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    values = [v for r in history for v in (r.train_error, r.validation_error) if v > 0]
    if not values:
        draw.text((left, top), "no epochs to plot", fill="black")
        return image
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    high = max(high, low + 1)
    epochs = max(len(history), 2)

    def point(epoch: int, value: float) -> tuple[float, float]:
        x = left + (width - left - right) * (epoch - 1) / (epochs - 1)
        fraction = (math.log10(max(value, 10.0**low)) - low) / (high - low)
        return x, height - bottom - (height - top - bottom) * fraction

    for decade in range(low, high + 1):
        y = point(1, 10.0**decade)[1]
        draw.line([(left, y), (width - right, y)], fill=(225, 225, 225))
        draw.text((4, y - 6), f"1e{decade}", fill="black")
    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    draw.text((left, height - bottom + 6), "1", fill="black")
    draw.text((width - right - 30, height - bottom + 6), f"{len(history)}", fill="black")
    draw.text((width // 2 - 60, height - bottom + 18), "epoch (error: MSE)", fill="black")
    for attribute, colour in (("train_error", (31, 119, 180)), ("validation_error", (255, 127, 14))):
        line = [point(r.epoch, getattr(r, attribute)) for r in history]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        draw.text(
            (width - right - 130, top + (8 if attribute == "train_error" else 22)),
            attribute.replace("_", " "),
            fill=colour,
        )
    return image


def highlight_unseen(image: Image.Image, covered: np.ndarray) -> Image.Image:
    """The image faded to grey, with the pixels whose colours training never saw in magenta."""
    rgb = np.asarray(image.convert("RGB"))
    mask = unseen_mask(covered, rgb.reshape(-1, 3)).reshape(rgb.shape[:2])
    faded = np.asarray(image.convert("L").convert("RGB")) // 2 + 64
    faded[mask] = HIGHLIGHT
    return Image.fromarray(faded)


def _picture_stems(names: list[str]) -> list[str]:
    """The report pictures' name stems for pairs whose BEFOREs have file names ``names``: the
    BEFORE's stem, numbered from 1 when two share one."""
    stems = [Path(name).stem for name in names]
    if len(set(stems)) < len(stems):
        stems = [f"{number}-{stem}" for number, stem in enumerate(stems, 1)]
    return stems


def check_report(
    folder: Path, before_names: list[str], inputs: Sequence[Path], training: bool = False
) -> None:
    """Before any work: refuse a report in ``folder`` (for pairs whose BEFOREs have the file names
    ``before_names``) that would replace one of the ``inputs``, or a folder that cannot be made."""
    files = [f"{stem}-{kind}.png" for stem in _picture_stems(before_names) for kind in ("compare", "unseen")]
    for name in [*files, *((LOSS_FILE, TABLE_FILE) if training else ())]:
        refuse_input(folder / name, inputs)
    check_can_make(folder, f"{folder}: cannot make the report folder")


def write_train_report(folder: Path, look: Look, history: list[EpochReport], pairs: list[Pair]) -> None:
    """The loss curve, before | learned | after pictures and the eval table of the training pairs
    (``check_report`` first)."""
    from .evaluate import evaluate, score_table

    write_eval_report(folder, look, pairs)
    save_image(loss_plot(history), folder / LOSS_FILE, overwrite=True)
    write_bytes(folder / TABLE_FILE, (score_table(evaluate(look, pairs)) + "\n").encode(), overwrite=True)


def write_eval_report(folder: Path, look: Look, pairs: list[Pair]) -> None:
    """Pictures of each pair: before | learned | after, and any unseen colours highlighted
    (``check_report`` first)."""
    make_folder(folder, f"{folder}: cannot make the report folder")
    covered = look.coverage
    for stem, (_, before, after) in zip(_picture_stems([name for name, _, _ in pairs]), pairs, strict=True):
        learned = _pillow(look.apply(before.copy()))
        before, after = _pillow(before), _pillow(after)
        sheet = side_by_side([before, learned, after], ["before", "learned", "after"])
        save_image(sheet, folder / f"{stem}-compare.png", overwrite=True)
        if covered is not None and look.unseen_share(before):
            save_image(highlight_unseen(before, covered), folder / f"{stem}-unseen.png", overwrite=True)
