"""Planning a batch: command-line paths, folders and listed paths -> which output each input gets.

Nothing is read but file headers and nothing is written: the per-file refusals (named as an image
but not one, output exists, output is an input, two inputs with one output) are decided here, up front.
Messages name files and values, never command-line options: a ``Problem``'s ``kind`` lets the CLI
add its hint.

>>> output_name(Path("a.jpg"), suffix="-look", extension=".png")
'a-look.png'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PlanError
from .files import TEMP_PREFIX
from .images import image_extensions, not_an_image
from .saving import OUTPUT_FORMATS

#: ``--format`` names and the extension each one writes (``jpeg`` and ``jpg`` are the same type).
FORMAT_EXTENSIONS = {ext[1:]: ext for ext in OUTPUT_FORMATS}

#: What to do with an output that exists already.
EXISTING_POLICIES = ("refuse", "overwrite", "skip")


@dataclass(frozen=True)
class Problem:
    """An input skipped or refused: its path, a one-line message naming it, and what kind of problem
    it is (for a caller's hint): "exists", "extension", "outside_base", or "" for the others."""

    path: Path
    message: str
    kind: str = ""


@dataclass(frozen=True)
class Job:
    """Filter the image ``src`` into the new file ``dst``."""

    src: Path
    dst: Path


@dataclass
class Plan:
    """What a batch will do: the jobs to run, and the inputs already skipped or refused."""

    jobs: list[Job] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    failed: list[Problem] = field(default_factory=list)
    #: Subfolders of folder inputs that were not entered because ``recursive`` was off.
    ignored_folders: int = 0
    #: Whether the output is one file named by the caller (see ``is_single_file``), not a folder.
    single_file: bool = False


@dataclass(frozen=True)
class _Source:
    """An input file and its path relative to the output folder (before renaming)."""

    path: Path
    rel: Path


def is_single_file(
    inputs: Sequence[Path], listed: Sequence[Path] | None, output: str | os.PathLike[str] | None
) -> bool:
    """Whether ``-o`` names the output file itself: one input that is not a folder, no list, and an
    ``output`` that is neither an existing folder nor written with a trailing slash (a ``Path``
    drops it: give the string as typed)."""
    if len(inputs) != 1 or listed is not None or output is None or inputs[0].is_dir():
        return False
    typed = os.fsdecode(output) or os.curdir
    return not (os.path.isdir(typed) or typed.endswith(("/", os.sep)))


def output_name(src: Path, suffix: str = "", extension: str | None = None) -> str:
    """The output file name for ``src``: its stem, then ``suffix``, then ``extension`` or its own."""
    return f"{src.stem}{suffix}{src.suffix if extension is None else extension}"


def plan_batch(
    inputs: Sequence[Path],
    output: str | os.PathLike[str] | None,
    *,
    listed: Sequence[Path] | None = None,
    base: Path | None = None,
    recursive: bool = False,
    suffix: str = "",
    format: str | None = None,
    existing: str = "refuse",
) -> Plan:
    """Decide which output each input gets, and which inputs are skipped or refused.

    Parameters
    ----------
    inputs : sequence of Path
        Files and folders from the command line, in order. A folder gives the image files in it
        (by content, ``not_an_image``), in name order; with ``recursive``, those of its subfolders
        too, keeping their layout. A file in it named as an image that is not one is refused; other
        files are skipped. A named file is always tried (and fails if it is not an image).
    output : str, Path or None
        The output file (see ``is_single_file``), or the output folder (made if missing), or None to
        write each output beside its input (then ``suffix`` must be given). A string ending with
        "/" is a folder even for one input file.
    listed : sequence of Path or None
        Paths read from a list (stdin). Folders in it are ignored (``find`` prints them), other files
        are taken as in folders, and each output keeps the path relative to ``base``.
    base : Path or None
        What listed paths (default: the current folder) and, if given, file arguments keep their
        layout relative to; such a file outside it is refused. File arguments without ``base``
        go straight into the output folder.
    recursive : bool
        Descend into subfolders of folder inputs.
    suffix : str
        Added to each output name before the extension ("-look": a.jpg -> a-look.jpg).
    format : str or None
        A key of ``FORMAT_EXTENSIONS``: write that type with its extension instead of the input's.
    existing : str
        One of ``EXISTING_POLICIES``, for an output that exists: "refuse" (the input fails),
        "overwrite" or "skip".

    Returns
    -------
    Plan
        Jobs in input order. Never two jobs with one output, and no output that is one of the input
        files (both refused, naming the other file); an input named as another's output is skipped
        as an earlier run's output, and the other's output then exists (unless ``existing`` is
        "overwrite": then it is refused as an input file).

    Raises
    ------
    PlanError
        The arguments cannot make a plan: no input, an existing file given as the output folder,
        no output and no suffix, suffix or format with an output file, a suffix with a "/".
    """
    if existing not in EXISTING_POLICIES:
        raise ValueError(f"existing must be refuse, overwrite or skip, got {existing!r}")
    if format is not None and format not in FORMAT_EXTENSIONS:
        raise ValueError(f"format must be one of {', '.join(sorted(FORMAT_EXTENSIONS))}, got {format!r}")
    single = _check_arguments(inputs, output, listed, suffix, format)
    output = None if output is None else Path(output)
    plan = Plan(single_file=single)
    sources = _collect(inputs, listed, base, recursive, output if not single else None, plan)
    extension = None if format is None else FORMAT_EXTENSIONS[format]
    # (source, destination, their real paths), each resolved once.
    planned: list[tuple[_Source, Path, str, str]] = []
    input_files = set()
    for source in sources:
        src = source.path
        real_src = os.path.realpath(src)
        input_files.add(real_src)
        if single:
            dst = output
        elif extension is None and src.suffix.lower() not in OUTPUT_FORMATS:
            what = f"{src.suffix!r} files" if src.suffix else "files without an extension"
            plan.failed.append(Problem(src, f"{src}: cannot write {what}", "extension"))
            continue
        else:
            folder = src.parent if output is None else output / source.rel.parent
            dst = folder / output_name(src, suffix, extension)
        planned.append((source, dst, real_src, os.path.realpath(dst)))
    # An earlier run's output among the inputs (written beside them, or into the input folder) is
    # the output of its input, not an input of its own: a second run must not filter it again.
    output_of = {real_dst: source.path for source, _, _, real_dst in planned}
    earlier = set()
    for source, _, real_src, _ in planned:
        if output_of.get(real_src, source.path) != source.path:
            earlier.add(real_src)
            plan.skipped.append(Problem(source.path, f"{source.path}: the output of {output_of[real_src]}"))
    input_files.update(os.path.realpath(problem.path) for problem in plan.skipped)
    first_source: dict[str, Path] = {}
    seen: set[tuple[str, str]] = set()
    for source, dst, real_src, key in planned:
        src = source.path
        if real_src in earlier:
            continue
        if (real_src, key) in seen:
            continue  # the same file given twice
        seen.add((real_src, key))
        # An earlier output exists as any output does, but is never overwritten: it may be a photo.
        if key in input_files and (key not in earlier or existing == "overwrite"):
            plan.failed.append(
                Problem(src, f"{src} -> {dst}: the output is an input file; refusing to overwrite it")
            )
        elif key in first_source:
            plan.failed.append(Problem(src, f"{src} -> {dst}: same output as {first_source[key]}"))
        else:
            first_source[key] = src
            if not os.path.lexists(dst) or existing == "overwrite":
                plan.jobs.append(Job(src, dst))
            elif existing == "skip":
                plan.skipped.append(Problem(src, f"{src}: output {dst} exists"))
            else:
                plan.failed.append(Problem(src, f"{src} -> {dst}: exists", "exists"))
    return plan


def _check_arguments(
    inputs: Sequence[Path],
    output: str | os.PathLike[str] | None,
    listed: Sequence[Path] | None,
    suffix: str,
    format: str | None,
) -> bool:
    """Refuse arguments that make no plan (``PlanError``); return whether ``output`` is one file."""
    if "/" in suffix or os.sep in suffix:
        msg = f"a suffix goes into file names and cannot hold a folder separator, got {suffix!r}"
        raise PlanError(msg, "suffix", suffix=suffix)
    if not inputs and listed is None:
        raise PlanError("no input given", "no_input")
    single = is_single_file(inputs, listed, output)
    output = None if output is None else Path(output)  # "FILE/" is FILE, a file, from here on
    if single and (suffix or format):
        msg = f"{output} names the output file: a suffix or a format is for outputs in a folder"
        raise PlanError(msg, "single_output", output=output)
    if output is None and not suffix:
        raise PlanError("give an output, or a suffix to write each output beside its input", "no_output")
    if output is not None and not single and os.path.lexists(output) and not output.is_dir():
        msg = f"{output}: is a file, but several inputs or a folder need an output folder"
        raise PlanError(msg, "output_is_file", output=output)
    return single


def _collect(
    inputs: Sequence[Path],
    listed: Sequence[Path] | None,
    base: Path,
    recursive: bool,
    output_folder: Path | None,
    plan: Plan,
) -> list[_Source]:
    """The input files, each with its path under the output folder; skips and refusals go into ``plan``."""
    out = os.path.realpath(output_folder) if output_folder is not None else None
    sources: list[_Source] = []
    for path in inputs:
        if not path.is_dir():  # tried even if not an image: the user named it
            rel = Path(path.name) if base is None else _relative(path, base, out, plan, named=True)
            if rel is not None:
                sources.append(_Source(path, rel))
        else:
            found = (_Source(file, rel) for file, rel in _walk(path, recursive, out, plan))
            sources.extend(_kept(found, plan))
    sources.extend(_kept(_listed(listed or (), base or Path(os.curdir), out, plan), plan))
    return sources


def _listed(listed: Sequence[Path], base: Path, out: str | None, plan: Plan) -> Iterator[_Source]:
    """The listed files under ``base`` and outside the output folder ``out``; folders are passed over,
    a path to nothing fails (the list named it)."""
    for path in listed:
        if path.is_dir():
            continue
        if not os.path.lexists(path):
            plan.failed.append(Problem(path, f"{path}: no such file"))
            continue
        rel = _relative(path, base, out, plan)
        if rel is not None:
            yield _Source(path, rel)


def _relative(path: Path, base: Path, out: str | None, plan: Plan, named: bool = False) -> Path | None:
    """``path`` relative to ``base``, for its place under the output folder ``out`` (its name alone
    when outputs go beside their inputs, which need no layout); None, with the reason in ``plan``,
    for a file outside ``base`` (refused) or inside ``out`` (skipped as an earlier output when
    listed, refused when ``named`` on the command line)."""
    if out is None:
        return Path(path.name)
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        plan.failed.append(Problem(path, f"{path}: not under {base}", "outside_base"))
        return None
    if os.path.realpath(path).startswith(out + os.sep):
        (plan.failed if named else plan.skipped).append(Problem(path, f"{path}: in the output folder"))
        return None
    return Path(rel)


def _kept(candidates: Iterable[_Source], plan: Plan) -> Iterator[_Source]:
    """The files found in folders or lists that are images: the skip rules of both, in one place.

    A file named as an image (``.jpg``, ``.png``, ...) that is not one (empty, text) is refused, so
    that a failed copy is heard of; other files (sidecars, ``.DS_Store``) are skipped. Pillow's
    list of extensions is asked for only then: it imports every plugin, which slows start-up.
    """
    for source in candidates:
        path = source.path
        if path.name.startswith(TEMP_PREFIX):
            plan.skipped.append(Problem(path, f"{path}: temporary file of an interrupted nnfilter run"))
        elif path.name.startswith("._"):
            plan.skipped.append(Problem(path, f"{path}: macOS metadata file (AppleDouble)"))
        elif (reason := not_an_image(path)) is None:
            yield source
        elif path.suffix.lower() in image_extensions():
            plan.failed.append(Problem(path, f"{path}: {reason}"))
        else:
            plan.skipped.append(Problem(path, f"{path}: not an image file"))


def _walk(folder: Path, recursive: bool, exclude: str | None, plan: Plan) -> Iterator[tuple[Path, Path]]:
    """Files under ``folder`` in name order, with their paths relative to it.

    Symlinked folders are not followed; the folder ``exclude`` (the output) is never entered.
    """
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        if not recursive:
            plan.ignored_folders += len(dirnames)
            dirnames.clear()
        elif exclude is not None:
            dirnames[:] = [d for d in dirnames if os.path.realpath(os.path.join(dirpath, d)) != exclude]
        for name in sorted(filenames):
            file = Path(dirpath) / name
            yield file, file.relative_to(folder)
