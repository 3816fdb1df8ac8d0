"""The options of the train and apply commands, as decorators: what ``cli`` parses, kept apart from
what it does with them. Imports no numpy."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .config import (
    ACTIVATION_NAMES,
    AUTO_STEPS,
    DEFAULT_LR,
    HIDDEN_MORE_PAIRS,
    HIDDEN_ONE_PAIR,
    LOSS_NAMES,
    MAX_LAYERS,
    MAX_UNITS,
    OPTIMIZER_NAMES,
    TrainConfig,
)
from .images import DEFAULT_MAX_PIXELS
from .plan import FORMAT_EXTENSIONS


class LayerSizes(click.ParamType):
    """Comma-separated hidden layer sizes, e.g. ``16,16``."""

    name = "SIZES"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            sizes = [int(part) for part in str(value).split(",")]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of layer sizes like 16,16", param, ctx)
        if not 1 <= len(sizes) <= MAX_LAYERS or any(not 1 <= s <= MAX_UNITS for s in sizes):
            self.fail(f"{value!r}: 1 to {MAX_LAYERS} layers of 1 to {MAX_UNITS} neurons each", param, ctx)
        return sizes


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN (which compares false with both bounds), and names
    the range when the value is not a number at all."""

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        else:
            number = super().convert(value, param, ctx)
        if number != number:
            self.fail(f"{value!r} is not a number in the range {self._describe_range()}.", param, ctx)
        return number


DEFAULTS = TrainConfig()
strength_option = click.option(
    "--strength",
    type=FiniteFloatRange(0, 2),
    default=1.0,
    show_default=True,
    help="How much of the look: 0 leaves the colours alone, 1 is the look, 0.5 half of it, "
    "up to 2 doubles its change (clipped); blended on the sRGB values, as layer opacity is.",
)
max_pixels_option = click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Refuse images with more pixels than this (guards against decompression bombs).",
)


def _all(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """One decorator applying ``decorators`` as if stacked in this order above a function."""

    def decorate(function: Any) -> Any:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate


#: BEFORE AFTER, --pair, -o, --force, the training options (``TrainConfig``'s fields), --report, --max-pixels.
train_options = _all(
    click.argument("before", type=click.Path(path_type=Path), required=False),
    click.argument("after", type=click.Path(path_type=Path), required=False),
    click.option(
        "--pair",
        "pairs",
        nargs=2,
        multiple=True,
        type=click.Path(path_type=Path),
        metavar="BEFORE AFTER",
        help="A before/after pair; repeat to teach one look from several photos.",
    ),
    click.option(
        "-o",
        "--output",
        type=click.Path(path_type=Path),
        help="Model file to write (.npz). Default: the default model path (see above).",
    ),
    click.option(
        "--force", is_flag=True, help="Overwrite an existing model given with -o (never an input image)."
    ),
    click.option(
        "--hidden",
        type=LayerSizes(),
        default=None,
        help="Hidden layer sizes, comma-separated "
        f"(default: {','.join(map(str, HIDDEN_ONE_PAIR))} for one pair, "
        f"{','.join(map(str, HIDDEN_MORE_PAIRS))} for more).",
    ),
    click.option(
        "--activation",
        type=click.Choice(sorted(ACTIVATION_NAMES)),
        default=DEFAULTS.activation,
        show_default=True,
        help="Activation of the hidden layers (the output is always a sigmoid).",
    ),
    click.option(
        "--loss",
        type=click.Choice(sorted(LOSS_NAMES)),
        default=DEFAULTS.loss,
        show_default=True,
        help="Training loss: squared error or cross-entropy.",
    ),
    click.option(
        "--optimizer",
        type=click.Choice(sorted(OPTIMIZER_NAMES)),
        default=DEFAULTS.optimizer,
        show_default=True,
        help="sgd (with --momentum) or adam.",
    ),
    click.option(
        "--lr",
        type=FiniteFloatRange(min=0, min_open=True, max=100),
        help=f"Learning rate, > 0 (default: {DEFAULT_LR['adam']} for adam, {DEFAULT_LR['sgd']} for sgd),"
        " lowered along a cosine curve over the epochs.",
    ),
    click.option(
        "--momentum",
        type=FiniteFloatRange(0, 1, max_open=True),
        default=DEFAULTS.momentum,
        show_default=True,
        help="Momentum for sgd, in [0, 1).",
    ),
    click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=DEFAULTS.batch_size,
        show_default=True,
        help="Colour samples per gradient step.",
    ),
    click.option(
        "--epochs",
        type=click.IntRange(min=1),
        help=f"Passes over the training colours (default: enough for about {AUTO_STEPS} steps a pair).",
    ),
    click.option(
        "--error",
        "error_threshold",
        type=FiniteFloatRange(min=0),
        default=0.0,
        show_default=True,
        help="Stop once the training error (mean squared, on 0..1) is below this.",
    ),
    click.option(
        "--seed",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Random seed: the same pair, options and seed give the same model.",
    ),
    click.option(
        "--report",
        type=click.Path(path_type=Path, file_okay=False),
        help="Also write, into this folder: before | learned | after pictures of each pair "
        "(BEFORE-compare.png; numbered 1-, 2-, ... when BEFOREs share a name), "
        "the loss curve (loss.png) and the eval table (eval.txt).",
    ),
    click.option(
        "--align",
        "align_pairs",
        is_flag=True,
        help="Line each AFTER up with its BEFORE first (shift, scale, rotation up to ~3°: for a cropped, "
        "resized or straightened edit) and train on their overlap; says what it found.",
    ),
    max_pixels_option,
)

#: INPUT..., the look (-m or --lut), where outputs go and how they are named, and how the batch runs.
apply_options = _all(
    click.argument("inputs", nargs=-1, metavar="INPUT...", type=click.Path(path_type=Path)),
    click.option(
        "-m",
        "--model",
        type=click.Path(path_type=Path),
        help="Model file (default: the one `nnfilter train` saved last, see `train --help`).",
    ),
    click.option(
        "--lut",
        type=click.Path(path_type=Path),
        help="Apply this .cube 3D LUT (from nnfilter export or any tool) instead of a model; alpha is kept.",
    ),
    click.option(
        "--warn-coverage",
        type=click.FloatRange(0, 1),
        is_flag=False,
        flag_value=0.05,
        help="Warn about each image with more than this share of its pixels in colours the "
        "training pairs never showed: --warn-coverage=0.2, or alone for 0.05 (then not just "
        "before an INPUT, which it would take as its value).",
    ),
    click.option(
        "-o",
        "--output",
        type=click.Path(),  # a string, which keeps the trailing / that makes it a folder
        help="Output file (one input file), else output folder, made if missing (end it with / "
        "to write one file into a folder).",
    ),
    click.option("-r", "--recursive", is_flag=True, help="Take images from subfolders of INPUT folders too."),
    click.option("-0", "--null", is_flag=True, help="The list read from - is NUL-separated (find -print0)."),
    click.option(
        "--base",
        type=click.Path(file_okay=False, path_type=Path),
        help="Paths read from - (default: the current folder) and, if given, INPUT files keep their "
        "layout relative to this folder under -o (without it, INPUT files go straight into -o).",
    ),
    click.option(
        "--suffix",
        default="",
        metavar="TEXT",
        help="Added to output names: --suffix -look writes a-look.jpg.",
    ),
    click.option(
        "--format",
        "format_",
        type=click.Choice(sorted(FORMAT_EXTENSIONS)),
        help="Write this type, with its extension (default: the input's).",
    ),
    click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=1),
        default=os.cpu_count() or 1,
        show_default="number of cores",
        help="Cores to use: files filtered in parallel worker processes (one file: its strips in threads).",
    ),
    click.option("--quality", type=click.IntRange(1, 100), help="JPEG/WebP quality, 1-100 (default 95)."),
    click.option(
        "--depth",
        type=click.Choice(["8", "16"]),
        help="Bits per channel of TIFF and PNG outputs (default: the input's; a 16-bit RGB(A) input "
        "is filtered at 16 bits either way, a 16-bit greyscale one at 8). JPEG and WebP always get 8.",
    ),
    click.option("--force", is_flag=True, help="Overwrite existing outputs."),
    click.option("--skip-existing", is_flag=True, help="Skip inputs whose output exists (to resume a run)."),
    click.option(
        "-n",
        "--dry-run",
        is_flag=True,
        help='Print the plan ("input -> output" lines) to stdout; write nothing.',
    ),
    click.option(
        "-q", "--quiet", is_flag=True, help="No progress bar; the summary only if something failed."
    ),
    click.option("-v", "--verbose", is_flag=True, help="Name each file written, and each skipped with why."),
    strength_option,
    max_pixels_option,
)
