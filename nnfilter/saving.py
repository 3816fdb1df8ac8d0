"""Writing photos: ``save_image`` writes atomically, in the format the extension names (or
``format``), with the EXIF and ICC profile given.

No maths, no model, no click; the atomic write and its error wording are ``files``'. Every failure
is an ``OutputError`` whose one-line message names the file and the problem; no raw Pillow or OS
exception escapes (``KeyboardInterrupt`` passes through untouched).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Any

from PIL import Image, features

from .errors import OutputError
from .files import atomic_write, describe
from .images import normalize_mode

#: Output extensions (lower case, with the dot) and the format each one writes.
OUTPUT_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}


@dataclass(frozen=True)
class _Writer:
    """What one output format can hold, and its default quality (None: lossless, quality ignored)."""

    alpha: bool
    default_quality: int | None


_WRITERS = {
    "JPEG": _Writer(alpha=False, default_quality=95),
    "PNG": _Writer(alpha=True, default_quality=None),
    "TIFF": _Writer(alpha=True, default_quality=None),
    "WEBP": _Writer(alpha=True, default_quality=90),
}

# JPEG at or above this quality keeps full chroma resolution (4:4:4); below it, 4:2:0.
_JPEG_FULL_CHROMA_QUALITY = 90


# Tags of a TIFF's own IFD that are not EXIF: how the pixels are laid out, or data of their own
# (ICC profile, XMP, IPTC, Photoshop resources and layers), which must not travel as EXIF.
TIFF_ONLY_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 292, 293, 317, 320, 322, 323}
    | {324, 325, 330, 338, 339, 340, 341, 513, 514, 529, 530, 531, 532, 700, 33723, 34377, 34675, 37724}
)
ORIENTATION = 0x0112  # the EXIF tag


def portable_exif(exif: Image.Exif, from_tiff: bool) -> bytes | None:
    """EXIF as bytes any writer takes ("Exif\\0\\0" and a TIFF structure), orientation left out,
    or None when it holds no tag."""
    for ifd in (0x8769, 0x8825):  # a TIFF's EXIF and GPS IFDs, read now from the open file
        if ifd in exif:
            exif.get_ifd(ifd)
    for tag in list(exif):
        if tag == ORIENTATION or (from_tiff and tag in TIFF_ONLY_TAGS):
            del exif[tag]
    if not exif:
        return None
    data = exif.tobytes()
    check = Image.Exif()
    check.load(data)
    return data if len(check) > 0 else None


def save_image(
    image: Image.Image,
    path: str | os.PathLike[str],
    *,
    quality: int | None = None,
    exif: bytes | Image.Exif | None = None,
    icc_profile: bytes | None = None,
    format: str | None = None,
    overwrite: bool = False,
) -> None:
    """Write an image atomically, in the format its extension names (see ``OUTPUT_FORMATS``).

    RGBA into a format without alpha (JPEG) drops the alpha channel (no compositing onto a background).
    Images not in RGB/RGBA go through ``normalize_mode`` first.

    Parameters
    ----------
    image : PIL.Image.Image
        The pixels. Its own ``info`` is not written: metadata comes only from ``exif``/``icc_profile``.
    path : str or os.PathLike
        Destination; its parent folder must exist.
    quality : int or None
        1..100, for JPEG (default 95; 4:4:4 chroma at >= 90, else 4:2:0) and WebP (default 90).
        Ignored by the lossless formats (PNG, TIFF with LZW).
    exif : bytes or PIL.Image.Exif or None
        EXIF to embed (all four formats; for TIFF, tags describing the pixel layout are left out).
    icc_profile : bytes or None
        ICC profile to embed (all four formats).
    format : str or None
        "JPEG", "PNG", "TIFF" or "WEBP", overriding the extension.
    overwrite : bool
        Replace an existing file; otherwise an existing destination is refused.

    Raises
    ------
    OutputError
        Unknown extension, destination is a folder or exists, missing folder, or the write failed.
        Nothing is left behind and an existing destination is untouched.
    """
    name = os.fsdecode(path)
    fmt = _output_format(name, format)
    writer = _WRITERS[fmt]
    if quality is not None and not 1 <= quality <= 100:
        raise ValueError(f"quality must be from 1 to 100, got {quality}")
    params: dict[str, Any] = {"icc_profile": icc_profile}  # always set: PNG/TIFF would else take image.info's
    if writer.default_quality is not None:
        params["quality"] = writer.default_quality if quality is None else quality
    if fmt == "JPEG":
        params["subsampling"] = 0 if params["quality"] >= _JPEG_FULL_CHROMA_QUALITY else 2
    if fmt == "TIFF" and features.check_codec("libtiff"):
        params["compression"] = "tiff_lzw"
    if exif is not None:
        params["exif"] = exif

    if image.mode not in ("RGB", "RGBA"):
        image = normalize_mode(image)
    if image.mode == "RGBA" and not writer.alpha:
        image = image.convert("RGB")

    def write(file: IO[bytes]) -> None:
        try:
            if fmt == "TIFF" and "exif" in params:
                params["exif"] = _tiff_safe_exif(params["exif"])
            image.save(file, format=fmt, **params)
        except Exception as exc:
            raise OutputError(f"{name}: cannot save as {fmt} ({describe(exc)})") from None

    atomic_write(path, write, overwrite=overwrite)


def output_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The format ``save_image`` writes to ``path``: "JPEG", "PNG", "TIFF" or "WEBP".

    Raises
    ------
    OutputError
        As ``save_image``, for an unknown extension or format.
    """
    return _output_format(os.fsdecode(path), format)


def holds_alpha(path: str | os.PathLike[str]) -> bool:
    """Whether the format ``path``'s extension names keeps an alpha channel (JPEG does not)."""
    return _WRITERS[_output_format(os.fsdecode(path), None)].alpha


def _output_format(name: str, format: str | None) -> str:
    """The Pillow format to write: ``format`` if given, else the one the extension names."""
    if format is not None:
        fmt = format.upper()
        if fmt not in _WRITERS:
            raise OutputError(f"{name}: cannot write format {format!r} (use {', '.join(sorted(_WRITERS))})")
    else:
        ext = os.path.splitext(name)[1].lower()
        if ext not in OUTPUT_FORMATS:
            what = f"unknown image extension {ext!r}" if ext else "no image extension"
            raise OutputError(f"{name}: {what} (use {', '.join(OUTPUT_FORMATS)})")
        fmt = OUTPUT_FORMATS[ext]
    Image.preinit()  # registers JPEG and PNG without importing every plugin
    if fmt not in Image.SAVE:
        Image.init()
    if fmt not in Image.SAVE:
        raise OutputError(f"{name}: this Pillow build cannot write {fmt} files")
    return fmt


def _tiff_safe_exif(exif: bytes | Image.Exif) -> Image.Exif:
    """A copy of ``exif`` without the tags of a TIFF's own IFD and the orientation (TIFF writes EXIF
    into its own IFD: another file's layout tags would describe the wrong pixels)."""
    safe = Image.Exif()
    safe.load(exif.tobytes() if isinstance(exif, Image.Exif) else exif)
    for tag in (TIFF_ONLY_TAGS | {ORIENTATION}) & set(safe):
        del safe[tag]
    return safe
