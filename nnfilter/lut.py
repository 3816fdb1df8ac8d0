"""3D colour lookup tables: bake a colour function onto a grid, write .cube and HaldCLUT files, apply with Pillow.

A table is a float32 array of shape (size, size, size, 3) indexed ``table[b, g, r]``: blue varies slowest and
red fastest. That is the order of Pillow's ``ImageFilter.Color3DLUT``, of the rows of a .cube file, and of the
pixels of a HaldCLUT image read row by row, so every format here is one reshape of the same array.

Bad arguments raise ``ValueError``; a .cube file that cannot be read or is not a usable 3D LUT raises
``LutFormatError``; failures to write raise ``OutputError``, and never leave a partial file behind.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from .errors import LutFormatError
from .files import atomic_write, describe, write_bytes

CUBE_SIZES = (2, 65)
"""Smallest and largest table size for .cube files and Pillow (``Color3DLUT`` takes 2 to 65)."""

HALD_LEVELS = (2, 16)
"""Smallest and largest HaldCLUT level: a level-L image is L³×L³ pixels and holds an L²-per-axis table."""

GRID_SIZES = (2, HALD_LEVELS[1] ** 2)
"""Smallest and largest grid that can be baked (256 = a level-16 HaldCLUT)."""

BAKE_CHUNK = 65_536
"""Grid points passed to ``colour_fn`` per call, to bound memory whatever the grid size."""

ColourFn = Callable[[np.ndarray], np.ndarray]

_KEYWORD = re.compile(r"[A-Z][A-Z0-9_]*")
_DOMAIN_DEFAULTS = {
    "DOMAIN_MIN": [0.0, 0.0, 0.0],
    "DOMAIN_MAX": [1.0, 1.0, 1.0],
    "LUT_3D_INPUT_RANGE": [0.0, 1.0],
}
_COMMENT = re.compile(r"#[^\n]*")
_NOT_PLAIN_ROWS = re.compile(r"[^0-9.eE+\- \t\n]")
_BLANKS = np.frombuffer(b" \t\n", dtype=np.uint8)


def _check_size(size: int, sizes: tuple[int, int], what: str) -> int:
    """Return ``size`` as an int, or raise ValueError naming it and the allowed range."""
    low, high = sizes
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not low <= size <= high:
        msg = f"{what} must be an integer from {low} to {high}, got {size!r}"
        raise ValueError(msg)
    return int(size)


def _check_table(table: np.ndarray, sizes: tuple[int, int] = CUBE_SIZES) -> np.ndarray:
    """Return ``table`` as float32 after checking its shape (size, size, size, 3), its size and its values."""
    table = np.asarray(table)
    shape = table.shape
    if table.ndim != 4 or shape[3] != 3 or not shape[0] == shape[1] == shape[2]:
        msg = f"LUT table must have shape (size, size, size, 3), got {shape}"
        raise ValueError(msg)
    _check_size(shape[0], sizes, "LUT size")
    table = table.astype(np.float32, copy=False)
    if not np.isfinite(table).all():
        msg = "LUT table must hold finite values, got NaN or infinity"
        raise ValueError(msg)
    return table


def _grid_chunk(size: int, start: int, stop: int) -> np.ndarray:
    """Grid points number ``start`` to ``stop - 1`` of a size³ grid, red fastest; shape (stop - start, 3)."""
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    index = np.arange(start, stop)
    red, green, blue = index % size, index // size % size, index // (size * size)
    return np.stack((axis[red], axis[green], axis[blue]), axis=-1)


def grid_points(size: int) -> np.ndarray:
    """The RGB points of a size³ grid over [0, 1]³, blue slowest and red fastest.

    This is the order of Pillow's ``Color3DLUT`` table and of the rows of a .cube file.

    Parameters
    ----------
    size : int
        Points per axis, from 2 to 256.

    Returns
    -------
    points : ndarray of shape (size**3, 3), float32
        ``points[r + size * g + size**2 * b] == (r, g, b) / (size - 1)``.

    >>> grid_points(2)[:4].tolist()
    [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
    """
    size = _check_size(size, GRID_SIZES, "grid size")
    return _grid_chunk(size, 0, size**3)


def bake_table(colour_fn: ColourFn, size: int, *, chunk: int = BAKE_CHUNK) -> np.ndarray:
    """Evaluate ``colour_fn`` on a size³ grid, ``chunk`` points per call, and return the table.

    Parameters
    ----------
    colour_fn : callable
        Takes float32 RGB of shape (n, 3) in [0, 1] and returns shape (n, 3).
    size : int
        Points per axis, from 2 to 256 (2 to 65 for .cube files and Pillow; a square for HaldCLUTs).
    chunk : int
        Largest number of points passed to ``colour_fn`` at once.

    Returns
    -------
    table : ndarray of shape (size, size, size, 3), float32
        ``table[b, g, r]`` is ``colour_fn`` at grid point (r, g, b), clipped to [0, 1].
    """
    size = _check_size(size, GRID_SIZES, "grid size")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        msg = f"chunk must be an integer >= 1, got {chunk!r}"
        raise ValueError(msg)
    total = size**3
    table = np.empty((size, size, size, 3), dtype=np.float32)
    flat = table.reshape(total, 3)
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        out = np.asarray(colour_fn(_grid_chunk(size, start, stop)), dtype=np.float32)
        if out.shape != (stop - start, 3):
            msg = (
                f"colour_fn must return shape ({stop - start}, 3) for {stop - start} points, got {out.shape}"
            )
            raise ValueError(msg)
        if not np.isfinite(out).all():
            msg = "colour_fn returned NaN or infinity"
            raise ValueError(msg)
        np.clip(out, 0.0, 1.0, out=flat[start:stop])
    return table


def _cube_text(table: np.ndarray, title: str = "nnfilter") -> str:
    """The text of a .cube file holding ``table``: header, then one "R G B" row per grid point, red fastest.

    Values are clipped to [0, 1] and printed with 6 decimals. ``table`` has shape (size, size, size, 3) with
    size from 2 to 65. Double quotes and line breaks in ``title`` are replaced, as .cube titles cannot hold them.
    """
    table = _check_table(table)
    size = table.shape[0]
    title = " ".join(str(title).replace('"', "'").split())
    header = f'TITLE "{title}"\nLUT_3D_SIZE {size}\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\n'
    values = np.clip(table, 0.0, 1.0) + 0.0  # + 0.0 turns -0.0 into 0.0, which prints without a sign
    # One % over the whole table is printf formatting without a Python loop per row.
    return header + ("%.6f %.6f %.6f\n" * size**3) % tuple(values.reshape(-1).tolist())


def write_cube(
    path: str | os.PathLike[str], table: np.ndarray, title: str = "nnfilter", overwrite: bool = False
) -> None:
    """Write ``table`` as an Adobe/Resolve .cube 3D LUT, atomically.

    Parameters
    ----------
    path : path
        The file to write; it is replaced only once the whole file is written.
    table : ndarray of shape (size, size, size, 3)
        ``table[b, g, r]``, size from 2 to 65; values are clipped to [0, 1] and written with 6 decimals.
    title : str
        Written as the TITLE line.
    """
    write_bytes(path, _cube_text(table, title).encode("utf-8"), overwrite)


#: The largest value a .cube may hold: far beyond any colour, and small enough that a float32 table
#: stays finite through --strength's extrapolation.
_LARGEST = 1e6


def _cube_error(name: str, lineno: int | None, message: str) -> LutFormatError:
    where = f"{name}, line {lineno}" if lineno is not None else name
    return LutFormatError(f"{where}: {message}")


def _is_keyword(token: str) -> bool:
    """True for an upper-case keyword such as LUT_3D_SIZE; "NAN" and "INF" are (bad) values, not keywords."""
    if not _KEYWORD.fullmatch(token):
        return False
    try:
        float(token)
    except ValueError:
        return True
    return False


def _parse_floats(name: str, lineno: int, tokens: list[str], count: int, what: str) -> list[float]:
    """``tokens`` as ``count`` finite floats, or LutFormatError naming the line."""
    text = " ".join(tokens)
    if len(tokens) != count:
        raise _cube_error(name, lineno, f"{what} needs {count} numbers, got {len(tokens)}: {text!r}")
    try:
        values = [float(token) for token in tokens]
    except ValueError:
        raise _cube_error(name, lineno, f"{what} has a value that is not a number: {text!r}") from None
    if not all(np.isfinite(values)):
        raise _cube_error(name, lineno, f"{what} has a value that is not finite: {text!r}")
    if not all(abs(value) <= _LARGEST for value in values):
        raise _cube_error(name, lineno, f"{what} has a value too large for a LUT: {text!r}")
    return values


def _cube_keyword(
    name: str, lineno: int, tokens: list[str], size: int | None, size_line: int | None
) -> tuple[int | None, int | None]:
    """Check one keyword line of a .cube file; return (size, size_line), updated by LUT_3D_SIZE."""
    keyword = tokens[0]
    if keyword.startswith("LUT_1D_"):
        raise _cube_error(name, lineno, "1D LUTs are not supported, only 3D LUTs (LUT_3D_SIZE)")
    if keyword == "LUT_3D_SIZE":
        if size is not None:
            raise _cube_error(name, lineno, f"second LUT_3D_SIZE (the first is on line {size_line})")
        low, high = CUBE_SIZES
        if (
            len(tokens) != 2
            or not (tokens[1].isascii() and tokens[1].isdigit())
            or not low <= int(tokens[1]) <= high
        ):
            value = " ".join(tokens[1:])
            raise _cube_error(
                name, lineno, f"LUT_3D_SIZE must be an integer from {low} to {high}, got {value!r}"
            )
        return int(tokens[1]), lineno
    if keyword in _DOMAIN_DEFAULTS:
        expected = _DOMAIN_DEFAULTS[keyword]
        values = _parse_floats(name, lineno, tokens[1:], len(expected), keyword)
        if values != expected:
            want = " ".join(f"{v:g}" for v in expected)
            message = f"{keyword} {' '.join(tokens[1:])} is not supported, only {keyword} {want}"
            raise _cube_error(name, lineno, message)
    return size, size_line  # TITLE and keywords we don't know are ignored


def _plain_rows(text: str, count: int) -> np.ndarray | None:
    """Fast path: ``text`` as ``count`` rows of three finite numbers, or None if it is anything else.

    Only plain numbers, spaces, line breaks and comments are taken; keywords and every error go to the
    line-by-line reader, which names the line at fault. Shape (count, 3), float64.
    """
    if "#" in text:
        text = _COMMENT.sub("", text)
    if _NOT_PLAIN_ROWS.search(text):
        return None
    tokens = text.split()
    if len(tokens) != 3 * count:
        return None
    chars = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    in_token = ~np.isin(chars, _BLANKS)
    starts = in_token & ~np.concatenate(([False], in_token[:-1]))
    per_line = np.bincount(np.cumsum(chars == ord("\n"))[starts])
    if not np.all((per_line == 0) | (per_line == 3)):
        return None
    try:
        values = np.fromiter(map(float, tokens), dtype=np.float64, count=len(tokens))
    except ValueError:
        return None
    if not (np.abs(values) <= _LARGEST).all():
        return None
    return values.reshape(count, 3)


def read_cube(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an Adobe/Resolve .cube 3D LUT into a table.

    Understood: ``#`` comments (whole lines or after values), blank lines, TITLE, LUT_3D_SIZE (2 to 65),
    DOMAIN_MIN/DOMAIN_MAX and Resolve's LUT_3D_INPUT_RANGE, then size³ rows of "R G B", red fastest. Other
    upper-case keywords are ignored. Values are returned as written, not clipped (Pillow clips its output).

    Only the default domain 0 0 0 to 1 1 1 is accepted: another domain moves the grid points along the input
    axes, which needs resampling rather than rescaling, and such LUTs expect log or HDR input nnfilter doesn't give.

    Returns
    -------
    table : ndarray of shape (size, size, size, 3), float32
        ``table[b, g, r]``.

    Raises
    ------
    LutFormatError
        One line naming the file (and the line where there is one): unreadable file, 1D LUT, missing or bad
        LUT_3D_SIZE, non-default domain, a row that is not three finite numbers, or the wrong number of rows.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise LutFormatError(f"cannot read LUT file {name}: {describe(exc)}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LutFormatError(f"{name}: a UTF-16 text file: save the .cube as UTF-8 (or ASCII)")
    if b"\0" in data:  # a binary file, such as a HaldCLUT PNG
        raise LutFormatError(f"{name}: not a text .cube file (only .cube 3D LUTs are read)")
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # a title or comment in a Latin encoding: the numbers are ASCII either way
        text = data.decode("latin-1")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    size = size_line = None
    rows: list[list[str]] = []
    row_lines: list[int] = []
    for lineno, line in enumerate(lines, start=1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        if _is_keyword(tokens[0]):
            size, size_line = _cube_keyword(name, lineno, tokens, size, size_line)
            continue
        if not rows and size is not None:
            plain = _plain_rows("\n".join(lines[lineno - 1 :]), size**3)
            if plain is not None:
                return plain.astype(np.float32).reshape(size, size, size, 3)
        rows.append(tokens)
        row_lines.append(lineno)

    if size is None:
        what = "no LUT_3D_SIZE line" if rows else "no LUT_3D_SIZE line and no data (empty file?)"
        raise _cube_error(name, None, what)
    # Each row parsed first: a line of text or a row split in two is named, not miscounted.
    values = [_parse_floats(name, lineno, row, 3, "row") for row, lineno in zip(rows, row_lines, strict=True)]
    expected_rows = size**3
    if len(rows) > expected_rows:
        extra = row_lines[expected_rows]
        raise _cube_error(name, extra, f"more than the {expected_rows} rows of LUT_3D_SIZE {size}")
    if len(rows) < expected_rows:
        raise _cube_error(name, None, f"LUT_3D_SIZE {size} needs {expected_rows} rows, found {len(rows)}")
    return np.array(values, dtype=np.float32).reshape(size, size, size, 3)


def hald_level_for(size: int) -> int:
    """The HaldCLUT level holding a table of ``size`` points per axis: size must be level², level from 2 to 16.

    A level-L HaldCLUT is an L³×L³ image holding an L²-per-axis table (level 8: 512×512 pixels, 64³ table).

    >>> hald_level_for(64)
    8
    """
    low, high = HALD_LEVELS
    level = math.isqrt(size) if isinstance(size, (int, np.integer)) and size > 0 else 0
    if isinstance(size, bool) or level * level != size or not low <= level <= high:
        squares = ", ".join(str(n * n) for n in range(low, low + 3))
        msg = (
            f"HaldCLUT table size must be the square of a level from {low} to {high} "
            f"({squares}, ..., {high**2}), got {size!r}"
        )
        raise ValueError(msg)
    return level


def hald_image(table: np.ndarray) -> Image.Image:
    """The 8-bit RGB HaldCLUT image of ``table``, as read by ImageMagick's -hald-clut and ffmpeg's haldclut.

    Pixels read left to right, top to bottom, are the table's entries red fastest, blue slowest; an identity
    table gives the same image as ``convert hald:L`` or ffmpeg's ``haldclutsrc=L``.

    Parameters
    ----------
    table : ndarray of shape (size, size, size, 3)
        ``table[b, g, r]``, size = level², level from 2 to 16; values clipped to [0, 1] and rounded to 0–255.

    Returns
    -------
    image : PIL.Image.Image, mode "RGB", size (level³, level³)
    """
    table = _check_table(table, GRID_SIZES)
    side = hald_level_for(table.shape[0]) ** 3
    pixels = np.rint(np.clip(table, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(pixels.reshape(side, side, 3), mode="RGB")


def write_hald(path: str | os.PathLike[str], table: np.ndarray, overwrite: bool = False) -> None:
    """Write ``table`` as an 8-bit RGB HaldCLUT PNG, atomically (see ``hald_image``)."""
    image = hald_image(table)
    atomic_write(path, lambda file: image.save(file, format="PNG"), overwrite)


def lut_filter(table: np.ndarray) -> ImageFilter.Color3DLUT:
    """A Pillow filter applying ``table`` with trilinear interpolation: ``image.filter(lut_filter(table))``.

    Input modes: RGB, and any other 3- or 4-band 8-bit mode; convert "L", "P" and 16-bit images first (Pillow
    raises ValueError "image has wrong mode"). The output mode is the input mode. For RGBA, RGB goes through
    the table and alpha is copied unchanged; colours are straight (not premultiplied), so this is exact.

    Parameters
    ----------
    table : ndarray of shape (size, size, size, 3)
        ``table[b, g, r]``, size from 2 to 65.
    """
    table = _check_table(table)
    return ImageFilter.Color3DLUT(table.shape[0], table)
