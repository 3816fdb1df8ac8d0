"""The command line: parses arguments, reports progress and errors; the work is done elsewhere.

Exit codes: 0 success; 1 an error (bad image or model, training diverged, a file could not be
written, or some files of a batch failed); 2 a usage error (bad option or argument);
130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from . import __version__
from .batch import Report, run_batch
from .config import TrainConfig
from .errors import (
    EXIT_INTERRUPTED,
    ImageTooLargeError,
    NnfilterError,
    OutputExistsError,
    PairMismatchError,
    PlanError,
    TrainingDivergedError,
    interruption,
)
from .files import describe, refuse_input
from .images import ImageReading, PixelMemory
from .onefile import Outcome, Settings
from .options import apply_options, max_pixels_option, strength_option, train_options
from .plan import FORMAT_EXTENSIONS, Problem, plan_batch
from .prefetch import Prefetch
from .train_job import Trained, train_to_file

# The modules that do the maths import numpy, which is slow to load: each command imports them when
# it needs them, so that `apply` can start reading its photo first, and --help and usage errors are
# quick.
if TYPE_CHECKING:
    from .look import CubeLook, Look
    from .train import EpochReport


def default_model_path() -> Path:
    """Where `train` saves and `apply` reads a model when no path is given.

    ``$NNFILTER_MODEL`` if set, else ``$XDG_DATA_HOME/nnfilter/default.npz``
    (``~/.local/share/nnfilter/default.npz`` when XDG_DATA_HOME is unset).
    """
    if os.environ.get("NNFILTER_MODEL"):
        return Path(os.environ["NNFILTER_MODEL"])
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "nnfilter" / "default.npz"


def _load_look(model: Path | None) -> Look:
    """The model given with -m, else the default one, with a hint when there is none yet."""
    path = model or default_model_path()
    if model is None and not path.exists():
        raise NnfilterError(
            f"no model given (-m) and none at the default path {path}: "
            "train one first with `nnfilter train BEFORE AFTER`"
        )
    from .look import Look

    return Look.load(path)


def _load_lut(path: Path) -> CubeLook:
    """A .cube LUT given with --lut, as a look."""
    from .look import CubeLook
    from .lut import read_cube

    return CubeLook(read_cube(path))


def _hint(exc: BaseException | None) -> str:
    """The options that would help with ``exc``, as text to append to its message ("" if none)."""
    if isinstance(exc, OutputExistsError):
        return " (use --force to overwrite)"
    if isinstance(exc, TrainingDivergedError) and exc.lr is not None:
        return f"; try a smaller --lr than {exc.lr:g}"
    if isinstance(exc, ImageTooLargeError):
        return " (use --max-pixels)"
    if isinstance(exc, PairMismatchError):
        return ALIGN_HINTS.get(exc.kind, "")
    return ""


#: What train and eval add, naming --align, to a pair that did not line up
#: (``PairMismatchError.kind``) or a note that it may not (``pairs.Note.kind``).
ALIGN_HINTS = {
    "shapes": "; if AFTER was cropped or rotated, use --align",
    "not_lined_up": ": if AFTER was shifted, cropped or rotated, use --align",
}


#: The options that would help with a planned input's ``Problem``, by its ``kind``.
PROBLEM_HINTS = {
    "exists": " (use --force or --skip-existing)",
    "extension": f"; use --format ({', '.join(sorted(FORMAT_EXTENSIONS))})",
    "outside_base": " (paths keep their layout relative to --base)",
}

#: What apply says of a ``PlanError``, by its ``kind``, in terms of its options.
PLAN_USAGE = {
    "suffix": "--suffix goes into file names and cannot hold a folder separator, got {suffix!r}",
    "no_input": "no INPUT given (files, folders, or - to read a list from stdin)",
    "single_output": "-o {output} names the output file (its extension picks the type); --suffix and "
    "--format name outputs in a folder: give -o an existing folder or end it with /",
    "no_output": "give -o (output file or folder), or --suffix to write each output beside its input",
    "output_is_file": "-o {output}: is a file, but several inputs or a folder need an output folder",
}


def _problem_line(problem: Problem) -> str:
    return f"{problem.message}{PROBLEM_HINTS.get(problem.kind, '')}"


def _fail(exc: BaseException) -> click.ClickException:
    return click.ClickException(f"{exc}{_hint(exc)}")


class _Commands(click.Group):
    """nnfilter's commands: the one place where a Ctrl-C ends a run, with exit code 130 (not click's
    "Aborted!" and 1) and the ``Interrupted`` message saying what was left undone, if any."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            click.echo(str(exc) or "interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


def _data(text: str) -> None:
    """A line of data on stdout; a stdout that cannot take it (a full disk) is a one-line error, not
    a traceback (a closed pipe, ``| head``, is left to click, which ends quietly)."""
    try:
        click.echo(text)
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise
        raise click.ClickException(f"cannot write the output ({describe(exc)})") from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nnfilter")
def main() -> None:
    """Learn a photo look from a before/after pair and apply it to other photos.

    \b
      nnfilter train BEFORE.jpg AFTER.jpg -o look.npz
      nnfilter apply photo.jpg -m look.npz -o photo-look.jpg

    Exit codes: 0 success, 1 error, 2 usage error, 130 interrupted.
    """


@main.command()
@train_options
@click.pass_context
def train(ctx, before, after, pairs, output, force, report, align_pairs, max_pixels, **options) -> None:
    """Learn the look that turns BEFORE into AFTER and save it as a model.

    BEFORE and AFTER are the same photo before and after editing (same size, any format Pillow
    reads; of the same shape within 1%, the larger is scaled down to the smaller; cropped, shifted
    or slightly rotated, with --align); --pair adds more pairs of the same look, so it learns from more colours.
    A pair of two JPEGs of 8 megapixels or more is read at half its width and height: a quarter
    of the work, and on the photos measured the look came out closer on other photos (JPEG's
    noise averages out). Without -o
    the model goes to the default model path ($NNFILTER_MODEL, else
    $XDG_DATA_HOME/nnfilter/default.npz, i.e. ~/.local/share/nnfilter/default.npz), replacing
    the one there; `nnfilter apply` uses it when given no -m.

    When done, it says what share of the colour space (cells of a 16³ RGB grid) the pairs
    covered; `nnfilter eval` and `apply --warn-coverage` tell how much of another photo lies
    outside it. Exit codes: 0 saved, 1 error or training diverged, 2 usage error, 130 Ctrl-C
    (the best model so far is saved).
    """
    if before is not None and after is None:
        raise click.BadParameter("BEFORE needs its AFTER", param_hint="BEFORE AFTER")
    pairs = ([(before, after)] if before is not None else []) + list(pairs)
    if not pairs:
        raise click.UsageError("give a BEFORE AFTER pair (or --pair BEFORE AFTER)")
    if options["optimizer"] != "sgd" and ctx.get_parameter_source("momentum") is not ParameterSource.DEFAULT:
        raise click.UsageError(f"--momentum is for --optimizer sgd, not {options['optimizer']}")
    config = TrainConfig(**options)
    path = output or default_model_path()

    with _progress_bar(total=config.epochs, desc="train", unit="epoch") as bar:

        def on_epoch(report: EpochReport) -> None:
            if bar is not None:
                bar.total = report.epochs
                bar.set_postfix(loss=f"{report.train_error:.2e}", val=f"{report.validation_error:.2e}")
                bar.update()

        def on_saved(trained: Trained) -> None:
            if bar is not None:  # the bar ends before the lines that follow it
                bar.close()
            meta = trained.look.metadata
            summary = (
                f"{meta['epochs_run']} epoch{'s' * (meta['epochs_run'] != 1)}, "
                f"training error {meta['train_error']:.3g}, "
                f"validation error {meta['validation_error']:.3g}"
            )
            if trained.interrupted:
                click.echo(f"interrupted: saved the best model so far to {path} ({summary})", err=True)
                return
            verb = "replaced" if trained.replaced and output is None else "saved"
            click.echo(f"{verb} {path} ({summary})", err=True)
            share = 100 * meta["coverage_share"]
            click.echo(
                f"the pairs cover {share:.1f}% of the colour space (cells of a 16³ RGB grid)", err=True
            )

        try:
            trained = train_to_file(
                pairs,
                config,
                path,
                overwrite=force or output is None,
                report=report,
                max_pixels=max_pixels,
                on_epoch=on_epoch,
                on_saved=on_saved,
                align_pairs=align_pairs,
                on_note=lambda note: _say(bar, f"{note.text}{ALIGN_HINTS.get(note.kind, '')}"),
            )
        except NnfilterError as exc:
            raise _fail(exc) from None
    if trained.interrupted:
        ctx.exit(EXIT_INTERRUPTED)
    if report is not None:
        click.echo(f"report in {report}", err=True)


@main.command()
@apply_options
@click.pass_context
def apply(
    ctx,
    inputs,
    model,
    lut,
    warn_coverage,
    output,
    recursive,
    null,
    base,
    suffix,
    format_,
    jobs,
    quality,
    depth,
    force,
    skip_existing,
    dry_run,
    quiet,
    verbose,
    strength,
    max_pixels,
) -> None:
    """Filter images with a learned look.

    \b
      nnfilter apply -m look.npz photo.jpg -o photo-look.jpg
      nnfilter apply -m look.npz -r photos/ -o filtered/
      find photos -name '*.jpg' -print0 | nnfilter apply -m look.npz -0 - -o out/
      nnfilter apply -m look.npz *.jpg --suffix -look          # beside the inputs

    INPUT is an image file, a folder (the image files in it, by content; --recursive for
    subfolders), or - to read a list of paths from stdin, one per line (or NUL-separated with -0;
    folders in the list are ignored, a path to nothing fails). A file in a folder or list that is
    named as an image (.jpg, .png, ...) but is not one (empty, text) fails, with its reason; other
    files (sidecars, .DS_Store) are skipped, and --verbose names them. The output folder is never
    taken as input, nor is a file named as another input's output (an earlier run's, beside its
    input: skipped; never overwritten, even with --force).

    With one input file, -o is the output file, unless it is an existing folder or ends with /.
    Otherwise -o is a folder: an input folder's layout is kept under it, listed paths keep theirs
    relative to --base (and INPUT files too when --base is given), and folders are made as needed.
    Without -o, each output is written beside its input, which needs --suffix.

    Size, alpha (a JPEG holds none: a warning says when transparency is dropped), EXIF and ICC
    profile are kept. Each output is written to a temporary file and renamed, so none is ever
    left half-written, even on Ctrl-C. An existing output is refused (counted as failed) unless
    --force or --skip-existing; an input is never overwritten. One bad file does not stop the
    batch: it is named on stderr and the run ends with a summary line ("N done, N skipped, N
    failed") on stderr. Only --dry-run writes to stdout.

    Exit codes: 0 all done (or skipped), 1 some inputs failed (or a bad model), 2 usage error,
    130 interrupted (Ctrl-C: files being written are finished, the rest are left for a re-run
    with --skip-existing).
    """
    if force and skip_existing:
        raise click.UsageError("--force and --skip-existing exclude each other")
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    if list(inputs).count(Path("-")) > 1:
        raise click.UsageError("- (read paths from stdin) can be given only once")
    if null and Path("-") not in inputs:
        raise click.UsageError("-0 is for the list read from stdin: give - as an INPUT")
    if Path("-") in inputs and sys.stdin is None:
        raise click.UsageError("- reads the paths from stdin, but stdin is closed")
    existing = "overwrite" if force else "skip" if skip_existing else "refuse"
    try:
        with interruption("interrupted while listing the inputs: nothing written"):
            listed = _read_path_list(sys.stdin.buffer, null) if Path("-") in inputs else None
            paths = [path for path in inputs if path != Path("-")]
            plan = plan_batch(
                paths,
                output,
                listed=listed,
                base=base,
                recursive=recursive,
                suffix=suffix,
                format=format_,
                existing=existing,
            )
    except PlanError as exc:
        raise click.UsageError(PLAN_USAGE[exc.kind].format(**exc.values)) from None
    if lut is not None and model is not None:
        raise click.UsageError("give a model (-m) or a LUT (--lut), not both")
    if lut is not None and warn_coverage is not None:
        raise click.UsageError("--warn-coverage needs a model (-m): a LUT does not know the training colours")
    # One photo, and cores to spare: decode it while numpy and the look load, if
    # it is not decoding already (``prefetch``, started by ``nnfilter`` before this module loaded).
    reading = None
    if len(plan.jobs) == 1 and jobs > 1 and not dry_run:
        prefetched = ctx.find_object(Prefetch)
        if prefetched is not None:
            reading = prefetched.take(plan.jobs[0].src, max_pixels)
        if reading is None:
            reading = ImageReading(plan.jobs[0].src, max_pixels, deep=True, memory=PixelMemory())
    try:
        look = (_load_lut(lut) if lut is not None else _load_look(model)).with_strength(strength)
    except NnfilterError as exc:
        raise _fail(exc) from None

    report = Report.from_plan(plan)
    for problem in plan.skipped:
        if verbose:
            click.echo(f"skipped: {problem.message}", err=True)
    for problem in plan.failed:
        click.echo(f"error: {_problem_line(problem)}", err=True)
    if plan.ignored_folders and not quiet:
        click.echo(f"note: {plan.ignored_folders} subfolder(s) not entered (use --recursive)", err=True)
    if dry_run:
        for job in plan.jobs:
            _data(f"{job.src} -> {job.dst}")
        click.echo(
            f"dry run: {len(plan.jobs)} to do, {len(plan.skipped)} skipped, {len(plan.failed)} failed",
            err=True,
        )
        ctx.exit(report.return_code)

    settings = Settings(
        quality=quality,
        overwrite=force,
        max_pixels=max_pixels,
        make_folders=not plan.single_file,
        warn_coverage=warn_coverage,
        depth=None if depth is None else int(depth),
    )
    _run_batch(look, plan, settings, jobs, report, quiet, verbose, reading)
    if not plan.single_file and (report.return_code != 0 or not quiet):
        click.echo(report.summary(), err=True)
    ctx.exit(report.return_code)


def _progress_bar(quiet: bool = False, **options):
    """A context giving a tqdm progress bar on stderr, or None where tqdm would draw none (quiet,
    or stderr is not a terminal). tqdm is imported only then, as it slows start-up."""
    if quiet or not sys.stderr.isatty():
        return nullcontext()
    from tqdm import tqdm

    # No monitor thread (it only hurries bars that update seldom): a batch's workers are forked
    # from a process without other threads (``batch.pool_context``).
    tqdm.monitor_interval = 0
    return tqdm(file=sys.stderr, **options)


def _say(bar, message: str) -> None:
    """A line on stderr, above the progress bar ``bar`` if there is one."""
    if bar is None:
        click.echo(message, err=True)
    else:
        bar.write(message, file=sys.stderr)


def _read_path_list(stream, null: bool) -> list[Path]:
    """Paths from a binary stream, NUL- or newline-separated (a CR before a newline dropped, as
    Windows tools end lines); empty entries are dropped."""
    data = stream.read()
    items = data.split(b"\0") if null else [line.removesuffix(b"\r") for line in data.split(b"\n")]
    return [Path(os.fsdecode(item)) for item in items if item]


def _run_batch(look, plan, settings, jobs, report, quiet, verbose, reading=None) -> None:
    """Filter the plan's jobs into ``report``, with a progress bar and a line per failure on stderr."""

    def record(outcome: Outcome) -> None:
        if outcome.error is not None:
            _say(bar, f"error: {outcome.error}{_hint(outcome.cause)}")
        for warning in outcome.warnings:
            _say(bar, f"warning: {warning}")
        if outcome.error is None and verbose:
            _say(bar, f"wrote {outcome.job.dst}")
        if bar is not None:
            bar.update()
            elapsed = bar.format_dict["elapsed"]
            if elapsed > 0:
                bar.set_postfix_str(f"{report.megapixels / elapsed:.3g} MP/s", refresh=False)

    def on_interrupt(abandonable: bool) -> None:
        if abandonable:
            _say(bar, "interrupted: finishing the file being written (Ctrl-C again to abandon it)")
        else:
            _say(bar, "interrupted: finishing the files being written")

    with _progress_bar(quiet, total=len(plan.jobs), unit="file", dynamic_ncols=True) as bar:
        run_batch(look, plan.jobs, settings, report, jobs, record, on_interrupt, reading)


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON (for scripts).")
def info(model, as_json) -> None:
    """Print a model's architecture and metadata."""
    from .look import Look

    try:
        look = Look.load(model)
    except NnfilterError as exc:
        raise _fail(exc) from None
    sizes = look.model.layer_sizes
    if as_json:
        _data(json.dumps({"layer_sizes": sizes, **look.metadata}, indent=2, sort_keys=True))
        return
    skip = "" if look.model.skip is None else " with a skip path"
    if look.model.prior is not None:
        skip += " from an additive prior"
    _data(f"network: {'-'.join(map(str, sizes))} ({look.model.activation}, sigmoid output{skip})")
    for key, value in sorted(look.metadata.items()):
        if key not in ("activation", "coverage"):  # the coverage mask is for --json
            _data(f"{key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="LUT file to write: .cube, or .png for a HaldCLUT.",
)
@click.option(
    "--format",
    "format_",
    type=click.Choice(["cube", "hald"]),
    help="cube or hald (default: from the extension of -o; .png means hald).",
)
@click.option(
    "--size",
    type=click.IntRange(2, 65),
    default=33,
    show_default=True,
    help=".cube grid points per axis, 2-65.",
)
@click.option(
    "--level",
    type=click.IntRange(2, 16),
    default=8,
    show_default=True,
    help="HaldCLUT level L, 2-16: an L³×L³ image holding an L²-per-axis LUT "
    "(8: a 512×512 image of a 64³ LUT).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output (never the model).")
@strength_option
@click.pass_context
def export(ctx, model, output, format_, size, level, force, strength) -> None:
    """Export a learned look as a 3D LUT for other colour tools.

    A .cube file (Adobe/Resolve 3D LUT, red fastest, values in [0, 1]) is read by DaVinci Resolve,
    Premiere, Photoshop, ffmpeg (lut3d), OBS and more; a HaldCLUT PNG by ImageMagick (-hald-clut),
    ffmpeg (haldclut), G'MIC, darktable and RawTherapee.

    --strength is baked into the LUT. LUTs map RGB to RGB: the look is baked at full opacity and a
    LUT leaves alpha untouched.
    A model trained on a pair whose alpha changes also learned alpha; that part cannot be exported.
    """
    named = {".cube": "cube", ".png": "hald"}.get(output.suffix.lower())
    if format_ is None and named is None:
        raise click.BadParameter(
            f"cannot tell the format from {output.name!r}: use .cube or .png, or --format",
            param_hint="'-o'",
        )
    if format_ is not None and named is not None and format_ != named:
        raise click.BadParameter(
            f"{output.name!r} is named as a {named} file, but --format is {format_}",
            param_hint="'-o'",
        )
    format_ = format_ or named
    unused = "--level" if format_ == "cube" else "--size"
    if ctx.get_parameter_source(unused.lstrip("-")) is not ParameterSource.DEFAULT:
        raise click.UsageError(f"{unused} is for {'HaldCLUT' if format_ == 'cube' else '.cube'} files")
    from .look import Look
    from .lut import bake_table, write_cube, write_hald

    try:
        refuse_input(output, [model])
        look = Look.load(model).with_strength(strength)
        if format_ == "cube":
            write_cube(output, bake_table(look.colour_fn, size), output.stem, force)
        else:
            write_hald(output, bake_table(look.colour_fn, level * level), force)
    except NnfilterError as exc:
        raise _fail(exc) from None
    if look.learned_alpha:
        click.echo("note: this look also changes alpha, which a LUT cannot hold", err=True)
    click.echo(f"wrote {output}", err=True)


@main.command("eval")
@click.argument(
    "images",
    nargs=-1,
    required=True,
    metavar="BEFORE AFTER [BEFORE AFTER]...",
    type=click.Path(path_type=Path),
)
@click.option(
    "-m",
    "--model",
    type=click.Path(path_type=Path),
    help="Model file (default: the one `nnfilter train` saved last).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON (for scripts).")
@click.option(
    "--report",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write, into this folder, before | learned | after pictures (BEFORE-compare.png; "
    "numbered 1-, 2-, ... when BEFOREs share a name) and the photos with colours the training "
    "never showed highlighted in magenta (BEFORE-unseen.png).",
)
@click.option(
    "--align",
    "align_pairs",
    is_flag=True,
    help="Line each AFTER up with its BEFORE first, as train --align does, and score their overlap.",
)
@max_pixels_option
def eval_(images, model, as_json, report, align_pairs, max_pixels) -> None:
    """Score a look on before/after pairs it should reproduce.

    Applies the model to each BEFORE and compares the result with its AFTER: PSNR (dB, higher is
    better) and the CIEDE2000 colour difference ΔE00 per pixel (mean, 95th and 99th percentile;
    about 1 is the smallest difference a person notices). "unseen" is the share of BEFORE's
    pixels whose colours the training pairs never showed: there the look is extrapolated, and a
    training pair with those colours (train --pair) is the cure. (Measured on looks made by people,
    learned from one photo with a JPEG AFTER: photos with over half their pixels unseen came out
    1.2 ΔE00 off on average, one in ten over 2.3; those with under a third 0.6; see the README,
    "Quality".) A pair is lined up as train lines it up: of the same aspect ratio within 1%, the
    larger image is scaled down to the smaller; with --align, shifted, scaled and rotated.
    """
    if len(images) % 2:
        raise click.BadParameter(
            "give BEFORE AFTER pairs: an even number of images", param_hint="BEFORE AFTER"
        )
    from .evaluate import evaluate_files, score_table

    try:
        scores = evaluate_files(
            _load_look(model),
            list(zip(images[::2], images[1::2], strict=True)),
            max_pixels,
            report,
            align_pairs,
            on_note=lambda note: click.echo(f"{note.text}{ALIGN_HINTS.get(note.kind, '')}", err=True),
        )
    except NnfilterError as exc:
        raise _fail(exc) from None
    if as_json:
        _data(json.dumps([asdict(s) for s in scores], indent=2))
    else:
        _data(score_table(scores))
