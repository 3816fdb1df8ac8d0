"""File-system plumbing shared by every writer and reader: atomic writes, regular-file checks, and
the one-line wording of an ``OSError``.

Nothing here knows about photos, models or LUTs: ``images``, ``modelfile`` and ``lut`` build on it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from typing import IO

from .errors import ImageError, NnfilterError, OutputError, OutputExistsError

#: How ``atomic_write`` names its temporary files; such leftovers are never taken as inputs.
TEMP_PREFIX = ".nnfilter-"


def describe(exc: BaseException) -> str:
    """What went wrong, as one line without the path the message already names.

    An ``OSError``'s ``strerror``, else the first line of the exception's text (at most 120
    characters), else its type's name.

    >>> describe(FileNotFoundError(2, "No such file or directory", "a.png"))
    'No such file or directory'
    >>> describe(ValueError("bad   header\\nmore"))
    'bad header'
    """
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)[:120]
    return " ".join(text.split())


def check_regular_file(
    path: str | os.PathLike[str], name: str, what: str = "image file", error: type = ImageError
) -> os.stat_result:
    """Refuse, with a message naming the file, a path that is missing, a folder, or not a regular
    file (a FIFO or device could block reading, or never end); return its ``os.stat``."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise error(f"{name}: no such file") from None
    except OSError as exc:
        raise error(f"{name}: cannot read ({describe(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{name}: is a folder, not {'an' if what[0] in 'aeiou' else 'a'} {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{name}: not a regular file")
    return st


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of a file, read in blocks; a file that cannot be read is an ``ImageError``
    that says why (training records its pairs' digests after reading them: one can go meanwhile)."""
    import hashlib  # here: only training needs it

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ImageError(f"{os.fsdecode(path)}: cannot read ({describe(exc)})") from exc
    return digest.hexdigest()


def make_folder(folder: str | os.PathLike[str], message: str) -> None:
    """Make ``folder`` and its parents if missing; on failure an ``OutputError`` of
    "``message`` (reason)"."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{message} ({describe(exc)})") from None


def check_can_make(folder: str | os.PathLike[str], message: str) -> None:
    """Refuse, before any work, a ``folder`` that ``make_folder`` could not make (or write in): the
    nearest existing folder on its path must be one this process may write in; on failure an
    ``OutputError`` of "``message`` (reason)". Nothing is made."""
    path = os.path.abspath(folder)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise OutputError(f"{message} ({os.fsdecode(path)} is not a folder)")
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{message} ({os.fsdecode(path)}: permission denied)")


def write_bytes(path: str | os.PathLike[str], data: bytes, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_write``)."""
    atomic_write(path, lambda file: file.write(data), overwrite)


def atomic_write(
    path: str | os.PathLike[str], write_fn: Callable[[IO[bytes]], None], overwrite: bool = False
) -> None:
    """Write a file through ``write_fn(binary_file)`` into a temporary file, then rename it into place.

    The temporary file (".nnfilter-<random><ext>") is made in the destination folder, with the usual
    umask permissions (or the mode of the file it replaces), flushed and fsynced, then ``os.replace``d
    over ``path``. On any failure, Ctrl-C included, it is removed and an existing destination is left
    untouched. ``NnfilterError`` from ``write_fn`` passes through; other exceptions become
    ``OutputError``; ``KeyboardInterrupt`` is re-raised as is.

    Raises
    ------
    OutputExistsError
        The destination exists and ``overwrite`` is off.
    OutputError
        Destination is a folder or a non-regular file, its folder is missing, or writing failed.
    """
    name = os.fsdecode(path)
    dest = os.fspath(path)
    mode = _check_destination(dest, name, overwrite)
    folder = os.path.dirname(dest) or os.curdir
    suffix = os.path.splitext(os.fsdecode(dest))[1]
    file, temp = _create_temp(folder, suffix, name)
    try:
        with file:
            write_fn(file)
            file.flush()
            os.fsync(file.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        if not overwrite and os.path.lexists(dest):  # appeared while we were writing
            raise OutputExistsError(name)
        os.replace(temp, dest)
    except BaseException as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(exc, NnfilterError) or not isinstance(exc, Exception):
            raise
        raise OutputError(f"{name}: cannot write ({describe(exc)})") from None


def check_destination(path: str | os.PathLike[str], overwrite: bool = False) -> None:
    """Refuse, before any work that would be lost, a destination that is a folder, or that exists
    while ``overwrite`` is off (``atomic_write`` checks these again, and more)."""
    name = os.fsdecode(path)
    if os.path.isdir(path):
        raise OutputError(f"{name}: is a folder")
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(name)


def refuse_input(path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse ``path`` as an output if it is one of the ``inputs`` (the same file by any name): an
    input is never overwritten, even with --force."""
    for source in inputs:
        try:
            same = os.path.samefile(path, source)
        except OSError:
            continue  # one of them does not exist: not the same file
        if same:
            raise OutputError(f"{os.fsdecode(path)}: the output is an input file; refusing to overwrite it")


def _check_destination(dest: str | bytes, name: str, overwrite: bool) -> int | None:
    """Refuse a destination we must not write; return the permission bits of a file being replaced."""
    check_destination(dest, overwrite)
    folder = os.path.dirname(dest) or os.curdir
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise OutputError(f"{name}: {os.fsdecode(folder)} is not a folder")
        raise OutputError(f"{name}: folder {os.fsdecode(folder)} does not exist")
    if not os.path.lexists(dest):
        return None
    try:
        st = os.stat(dest)
    except OSError:
        return None  # a dangling symlink: replaced like a file
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{name}: not a regular file, refusing to replace it")
    return stat.S_IMODE(st.st_mode)


def _create_temp(folder: str | bytes, suffix: str, name: str) -> tuple[IO[bytes], str]:
    """Create and open a new file in ``folder``; "x" mode gives 0o666 minus umask (tempfile gives 0o600)."""
    folder = os.fsdecode(folder)
    for _ in range(100):
        temp = os.path.join(folder, f"{TEMP_PREFIX}{os.urandom(6).hex()}{suffix}")
        try:
            return open(temp, "xb"), temp
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"{name}: cannot write in folder {folder} ({describe(exc)})") from None
    raise OutputError(f"{name}: cannot create a temporary file in folder {folder}")
