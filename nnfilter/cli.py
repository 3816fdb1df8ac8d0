"""The command line: parses arguments, reports progress and errors; the work is done elsewhere.

Exit codes: 0 success; 1 an error (bad image or model, training diverged, a file could not be
written, or some files of a batch failed); 2 a usage error (bad option or argument);
130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from tqdm import tqdm

from . import __version__
from .errors import NnfilterError
from .images import DEFAULT_MAX_PIXELS, open_image, save_image
from .look import Look, learn_look_from_files
from .model import ACTIVATIONS, LOSSES
from .train import OPTIMIZERS, EpochReport, TrainConfig

EXIT_INTERRUPTED = 130


def default_model_path() -> Path:
    """Where `train` saves and `apply` reads a model when no path is given.

    ``$NNFILTER_MODEL`` if set, else ``$XDG_DATA_HOME/nnfilter/default.npz``
    (``~/.local/share/nnfilter/default.npz`` when XDG_DATA_HOME is unset).
    """
    if os.environ.get("NNFILTER_MODEL"):
        return Path(os.environ["NNFILTER_MODEL"])
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "nnfilter" / "default.npz"


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
        if not 1 <= len(sizes) <= 8 or any(not 1 <= s <= 1024 for s in sizes):
            self.fail(f"{value!r}: 1 to 8 layers of 1 to 1024 neurons each", param, ctx)
        return sizes


def _fail(exc: BaseException) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nnfilter")
def main() -> None:
    """Learn a photo look from a before/after pair and apply it to other photos.

    \b
      nnfilter train BEFORE.jpg AFTER.jpg -o look.npz
      nnfilter apply photo.jpg -m look.npz -o photo-look.jpg

    Exit codes: 0 success, 1 error, 2 usage error, 130 interrupted.
    """


DEFAULTS = TrainConfig()
max_pixels_option = click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Refuse images with more pixels than this (guards against decompression bombs).",
)


@main.command()
@click.argument("before", type=click.Path(path_type=Path))
@click.argument("after", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Model file to write (.npz). Default: see `nnfilter train --help` below.")
@click.option("--force", is_flag=True, help="Overwrite an existing model given with -o.")
@click.option("--hidden", type=LayerSizes(), default=",".join(map(str, DEFAULTS.hidden)),
              show_default=True, help="Hidden layer sizes, comma-separated.")
@click.option("--activation", type=click.Choice(sorted(ACTIVATIONS)), default=DEFAULTS.activation,
              show_default=True, help="Activation of the hidden layers (the output is always a sigmoid).")
@click.option("--loss", type=click.Choice(sorted(LOSSES)), default=DEFAULTS.loss, show_default=True,
              help="Training loss: squared error or cross-entropy.")
@click.option("--optimizer", type=click.Choice(sorted(OPTIMIZERS)), default=DEFAULTS.optimizer,
              show_default=True, help="sgd (with --momentum) or adam.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True, max=100),
              help="Learning rate, > 0 (default: 0.01 for adam, 0.5 for sgd).")
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), default=DEFAULTS.momentum,
              show_default=True, help="Momentum for sgd, in [0, 1).")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size,
              show_default=True, help="Colour samples per gradient step.")
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True,
              help="Most passes over the training colours.")
@click.option("--error", "error_threshold", type=click.FloatRange(min=0), default=0.0,
              show_default=True, help="Stop once the training error (mean squared, on 0..1) is below this.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed: the same pair, options and seed give the same model.")
@max_pixels_option
def train(before, after, output, force, max_pixels, **options) -> None:
    """Learn the look that turns BEFORE into AFTER and save it as a model.

    BEFORE and AFTER are the same photo before and after editing (same size, any format Pillow
    reads). Without -o the model goes to the default model path ($NNFILTER_MODEL, else
    $XDG_DATA_HOME/nnfilter/default.npz, i.e. ~/.local/share/nnfilter/default.npz), replacing the
    one there; `nnfilter apply` uses it when given no -m.
    """
    config = TrainConfig(**options)
    path = output or default_model_path()
    if output is not None and output.exists() and not force:
        raise click.ClickException(f"{output}: exists (use --force to overwrite)")

    with tqdm(total=config.epochs, desc="train", unit="epoch", disable=None) as bar:

        def on_epoch(report: EpochReport) -> None:
            bar.set_postfix(loss=f"{report.train_error:.2e}", val=f"{report.validation_error:.2e}")
            bar.update()

        try:
            look, result = learn_look_from_files([(before, after)], config, on_epoch, max_pixels)
        except NnfilterError as exc:
            raise _fail(exc) from None
    if not result.history:
        click.echo("interrupted before the first epoch ended: no model saved", err=True)
        sys.exit(EXIT_INTERRUPTED)
    replacing = output is None and path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        look.save(path, overwrite=force or output is None)
    except (NnfilterError, OSError) as exc:
        raise _fail(exc) from None
    meta = look.metadata
    summary = (
        f"{meta['epochs_run']} epochs, training error {meta['train_error']:.3g}, "
        f"validation error {meta['validation_error']:.3g}"
    )
    if result.interrupted:
        click.echo(f"interrupted: saved the best model so far to {path} ({summary})", err=True)
        sys.exit(EXIT_INTERRUPTED)
    verb = "replaced" if replacing else "saved"
    click.echo(f"{verb} {path} ({summary})", err=True)


@main.command()
@click.argument("input", type=click.Path(path_type=Path))
@click.option("-m", "--model", type=click.Path(path_type=Path),
              help="Model file (default: the one `nnfilter train` saved last, see `train --help`).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output image; its extension picks the format.")
@click.option("--quality", type=click.IntRange(1, 100), help="JPEG/WebP quality, 1-100 (default 95).")
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
@max_pixels_option
def apply(input, model, output, quality, force, max_pixels) -> None:
    """Filter the image INPUT with a learned look and write OUTPUT.

    Size, alpha, EXIF and ICC profile are kept. The output is written to a temporary file and
    renamed, so it is never left half-written; the input is never overwritten.
    """
    try:
        if output.exists() and output.resolve() == input.resolve():
            raise click.ClickException(f"{output}: is the input; refusing to overwrite it")
        look = Look.load(model or default_model_path())
        image = open_image(input, max_pixels)
        exif, icc = image.info.get("exif"), image.info.get("icc_profile")
        result = look.apply(image)
        save_image(result, output, quality=quality, exif=exif, icc_profile=icc, overwrite=force)
    except NnfilterError as exc:
        raise _fail(exc) from None


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON (for scripts).")
def info(model, as_json) -> None:
    """Print a model's architecture and metadata."""
    try:
        look = Look.load(model)
    except NnfilterError as exc:
        raise _fail(exc) from None
    sizes = look.model.layer_sizes
    if as_json:
        click.echo(json.dumps({"layer_sizes": sizes, **look.metadata}, indent=2, sort_keys=True))
        return
    click.echo(f"network: {'-'.join(map(str, sizes))} ({look.model.activation}, "
               f"sigmoid output{' with a skip path' if look.model.skip is not None else ''})")
    for key, value in sorted(look.metadata.items()):
        if key != "activation":
            click.echo(f"{key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")
