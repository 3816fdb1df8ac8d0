"""16-bit TIFF and PNG files in and out, at full precision, with their ICC profile and EXIF.

Pillow reads the header (size, the ``max_pixels`` check, ICC profile, EXIF) but holds 16 bits per
channel only for greyscale, so the pixels are decoded by ``tifffile`` (TIFF, with ``imagecodecs``
for LZW and Deflate) or ``imagecodecs`` (PNG, libpng). Writing: PNG by ``imagecodecs`` with the
iCCP and eXIf chunks added; TIFF here, Deflate-compressed strips (libdeflate, from ``imagecodecs``)
under an IFD that Pillow lays out, since tifffile cannot write an EXIF IFD and Pillow's own TIFF
writer cannot take 16-bit RGB. These libraries are imported only when a 16-bit file is met.

Errors are raised as they come; ``images`` turns them into one-line ``ImageError`` messages.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import IO, TYPE_CHECKING

import numpy as np
from PIL import Image, TiffImagePlugin, TiffTags

from .deep import DeepImage, output_depth, unpremultiply
from .errors import NnfilterError, OutputError
from .files import atomic_write, describe
from .saving import ORIENTATION, TIFF_ONLY_TAGS, output_format, portable_exif, save_image

if TYPE_CHECKING:
    from .look import CubeLook, Look

_EXIF_PREFIX = b"Exif\x00\x00"
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
#: Bytes of 16-bit pixels per TIFF strip before compression.
STRIP_BYTES = 1 << 20
#: Deflate level for TIFF strips and PNG (6: zlib's default; measured in benchmarks/RESULTS.md).
DEFLATE_LEVEL = 6
# numpy views of pixels as Pillow's EXIF orientations 2 to 8 turn them upright (ImageOps.exif_transpose).
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: a.transpose(1, 0, 2)[::-1],
}


# --- reading -------------------------------------------------------------------------------------------


def is_deep(image: Image.Image) -> bool:
    """Whether Pillow's header of a TIFF or PNG file says 16-bit RGB or RGBA (which Pillow would
    read as 8 bits); the pixels need not be decoded yet."""
    if image.format not in ("TIFF", "PNG") or image.mode not in ("RGB", "RGBA") or not image.tile:
        return False
    if image.format == "TIFF":  # from the tags: Pillow reads planar 16-bit RGB as if 8-bit
        tags = image.tag_v2
        bits, formats = tags.get(258, ()), tags.get(339, (1,))
        return tags.get(262) == 2 and len(bits) in (3, 4) and set(bits) == {16} and set(formats) == {1}
    args = image.tile[0].args
    rawmode = args if isinstance(args, str) else args[0] if args else None
    return isinstance(rawmode, str) and rawmode.endswith((";16", ";16L", ";16B", ";16N"))


def read_pixels(fp: IO[bytes], image: Image.Image) -> np.ndarray:
    """Decode the pixels of a file that ``is_deep``: uint16 (height, width, 3 or 4), as stored
    (not turned upright), straight alpha."""
    fp.seek(0)
    if image.format == "TIFF":
        pixels = _tiff_pixels(fp, image.size)
    else:
        import imagecodecs

        pixels = imagecodecs.png_decode(fp.read())
        transparency = image.info.get("transparency")
        if isinstance(transparency, tuple) and pixels.ndim == 3 and pixels.shape[2] == 3:
            alpha = np.where((pixels == np.array(transparency, np.uint16)).all(axis=2), 0, 65535)
            pixels = np.concatenate([pixels, alpha[..., None].astype(np.uint16)], axis=2)
    channels = 4 if image.mode == "RGBA" or image.info.get("transparency") is not None else 3
    stored = pixels.shape[1::-1] if pixels.ndim == 3 else None
    # (Pillow gives a TIFF's size as it will be once its EXIF orientation turns it upright.)
    if (
        pixels.dtype != np.uint16
        or stored not in (image.size, image.size[::-1])
        or pixels.shape[2] != channels
    ):
        raise ValueError(f"decoded {pixels.dtype} {pixels.shape}, the header says {image.size} {image.mode}")
    if _associated_alpha(image):
        unpremultiply(pixels)
    return pixels


def _associated_alpha(image: Image.Image) -> bool:
    """Whether the file's alpha is premultiplied (associated), as TIFF allows."""
    return image.format == "TIFF" and image.tag_v2.get(338, (0,))[:1] == (1,)


def _tiff_pixels(fp: IO[bytes], size: tuple[int, int]) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(fp) as tiff:
        page = tiff.pages.first
        if (page.imagewidth, page.imagelength) not in (size, size[::-1]) or page.dtype != np.uint16:
            raise ValueError(f"tifffile reads {page.imagewidth}x{page.imagelength} {page.dtype}")
        pixels = page.asarray()
        if page.planarconfig == 2 and pixels.ndim == 3:  # planar: (channel, row, column)
            pixels = np.ascontiguousarray(np.moveaxis(pixels, 0, -1))
        return pixels


def upright(pixels: np.ndarray, image: Image.Image) -> DeepImage:
    """The decoded pixels of ``image`` turned upright by its EXIF orientation, with the ICC profile
    and EXIF (orientation reset, TIFF layout tags left out) that ``images.open_image`` keeps;
    unreadable EXIF is dropped. Call it while ``image``'s file is open (a TIFF reads its EXIF IFD)."""
    try:
        exif = image.getexif()
        if image.format == "PNG" and not exif and "exif" not in image.info:
            exif = _late_png_exif(image.fp)
        orientation = exif.get(ORIENTATION, 1)
        exif_bytes = portable_exif(exif, image.format == "TIFF")
    except Exception:
        orientation, exif_bytes = 1, None
    if orientation in _UPRIGHT:
        pixels = np.ascontiguousarray(_UPRIGHT[orientation](pixels))
    info = {}
    if exif_bytes is not None:
        info["exif"] = exif_bytes
    icc = image.info.get("icc_profile")
    if isinstance(icc, bytes) and icc[16:20] == b"RGB ":
        info["icc_profile"] = icc
    return DeepImage(pixels, info, image.format)


def _late_png_exif(fp: IO[bytes] | None) -> Image.Exif:
    """The eXIf chunk of a PNG that has it after its image data (Pillow reads only what comes
    before), found by skipping from chunk header to chunk header."""
    exif = Image.Exif()
    if fp is None:
        return exif
    fp.seek(8)
    while True:
        header = fp.read(8)
        if len(header) < 8:
            return exif
        length, kind = struct.unpack(">I4s", header)
        if kind == b"eXIf":
            exif.load(fp.read(length))
            return exif
        if kind == b"IEND":
            return exif
        fp.seek(length + 4, os.SEEK_CUR)


def tiff_problem(fp: IO[bytes]) -> str | None:
    """Why a TIFF that Pillow cannot open is not read, in a few words ("unsupported TIFF (...)"),
    or None if it does not look like a TIFF that tifffile parses. Never raises."""
    try:
        fp.seek(0)
        if fp.read(4) not in _TIFF_MAGIC:
            return None
        fp.seek(0)
        import tifffile

        with tifffile.TiffFile(fp) as tiff:
            page = tiff.pages.first
            reasons = []
            bits = page.bitspersample
            if page.sampleformat == 3:
                reasons.append(f"{bits}-bit floating-point samples")
            elif bits not in (1, 8, 16):
                reasons.append(f"{bits}-bit samples")
            if page.compression not in (1, 5, 8, 32946):
                reasons.append(f"{page.compression.name} compression at {bits} bits")
    except Exception:
        return None
    if not reasons:
        return None
    return (
        f"unsupported TIFF ({', '.join(reasons)}; nnfilter reads 8- and 16-bit integer RGB or "
        "RGBA, uncompressed, LZW or Deflate)"
    )


# --- filtering a file ----------------------------------------------------------------------------------


def filter_deep(
    look: Look | CubeLook,
    image: Image.Image | DeepImage,
    dst: str | os.PathLike[str],
    depth: int | None,
    *,
    quality: int | None = None,
    overwrite: bool = False,
    threads: int | None = None,
) -> None:
    """Filter an opened image into ``dst`` at 16 bits, written with the bits ``deep.output_depth``
    gives (an 8-bit image goes to 16 bits only where ``depth`` is 16 and ``dst``'s type holds it).

    Raises
    ------
    OutputError
        As ``saving.save_image``.
    """
    fmt = output_format(dst)
    bits = output_depth(image, fmt, depth)
    exif, icc = image.info.get("exif"), image.info.get("icc_profile")
    if bits == 16 and isinstance(image, Image.Image):
        image = DeepImage.from_pillow(image)
    result = look.apply(image, threads=threads)
    if bits == 16:
        threads = threads or os.cpu_count() or 1
        save_deep(result, dst, fmt, exif=exif, icc_profile=icc, overwrite=overwrite, threads=threads)
        return
    if isinstance(result, DeepImage):
        result = result.to_pillow()
    save_image(result, dst, quality=quality, exif=exif, icc_profile=icc, overwrite=overwrite)


# --- writing -------------------------------------------------------------------------------------------


def save_deep(
    image: DeepImage,
    path: str | os.PathLike[str],
    fmt: str,
    *,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    overwrite: bool = False,
    threads: int = 1,
) -> None:
    """Write a 16-bit image as a "TIFF" (Deflate, horizontal predictor) or "PNG", atomically, with
    ``exif`` (bytes as ``upright`` gives them) and ``icc_profile``.

    Raises
    ------
    OutputError
        As ``saving.save_image``: the destination exists (without ``overwrite``), or cannot be
        written; nothing is left behind.
    """
    name = os.fsdecode(path)
    if fmt not in ("TIFF", "PNG"):
        raise ValueError(f"16-bit output must be TIFF or PNG, got {fmt!r}")

    def write(file: IO[bytes]) -> None:
        try:
            if fmt == "TIFF":
                _write_tiff(file, name, image.pixels, exif, icc_profile, threads)
            else:
                file.write(png_bytes(image.pixels, exif, icc_profile))
        except NnfilterError:
            raise
        except Exception as exc:
            raise OutputError(f"{name}: cannot save as {fmt} ({describe(exc)})") from None

    atomic_write(path, write, overwrite=overwrite)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(pixels: np.ndarray, exif: bytes | None = None, icc: bytes | None = None) -> bytes:
    """A 16-bit PNG of uint16 pixels (h, w, 3 or 4), with iCCP and eXIf chunks after its IHDR."""
    import imagecodecs

    encoded = imagecodecs.png_encode(np.ascontiguousarray(pixels), level=DEFLATE_LEVEL)
    ihdr_end = 8 + 8 + 13 + 4  # signature, then IHDR's length, type, 13 bytes and CRC
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        extra += _png_chunk(b"eXIf", exif.removeprefix(_EXIF_PREFIX))
    return encoded[:ihdr_end] + extra + encoded[ihdr_end:]


def _write_tiff(
    file: IO[bytes], name: str, pixels: np.ndarray, exif: bytes | None, icc: bytes | None, threads: int
) -> None:
    """A little-endian baseline TIFF (``name``: the file, for messages): header, IFD (EXIF, ICC),
    then Deflate strips (predictor 2).

    Pillow lays the IFD out and takes strip offsets relative to its end; the IFD is written once
    with zeros to learn its length, and again over them once the strips are written.
    """
    import imagecodecs

    height, width, channels = pixels.shape
    rows = max(1, STRIP_BYTES // (width * channels * 2))
    tops = range(0, height, rows)

    def strip(top: int) -> bytes:
        block = pixels[top : top + rows].astype("<u2")
        block[:, 1:] -= pixels[top : top + rows, :-1]  # the horizontal predictor, modulo 2**16
        return imagecodecs.deflate_encode(block.tobytes(), level=DEFLATE_LEVEL)

    ifd = _tiff_ifd(width, height, channels, rows, exif, icc)
    ifd[273] = ifd[279] = (0,) * len(tops)
    ifd.tagtype[273] = ifd.tagtype[279] = TiffTags.LONG
    placeholder = ifd.tobytes(8)
    file.write(b"II*\x00" + struct.pack("<I", 8) + placeholder)
    data_start = file.tell()
    offsets, counts = [], []
    with ThreadPoolExecutor(max_workers=threads) as pool:  # libdeflate releases the GIL
        for start in range(0, len(tops), 2 * threads):  # a few strips in memory at a time
            for data in pool.map(strip, tops[start : start + 2 * threads]):
                offsets.append(file.tell() - data_start)
                counts.append(len(data))
                file.write(data)
    if file.tell() > 0xFFFFFFFF:
        raise OutputError(f"{name}: over 4 GiB compressed: too large for a TIFF file")
    ifd[273], ifd[279] = tuple(offsets), tuple(counts)
    ifd.tagtype[273] = ifd.tagtype[279] = TiffTags.LONG
    final = ifd.tobytes(8)
    if len(final) != len(placeholder):
        raise AssertionError("the TIFF IFD changed length")
    file.seek(8)
    file.write(final)


def _tiff_ifd(
    width: int, height: int, channels: int, rows: int, exif: bytes | None, icc: bytes | None
) -> TiffImagePlugin.ImageFileDirectory_v2:
    """The IFD of a 16-bit RGB(A) TIFF, but for its strip offsets and sizes; EXIF tags in it and
    in its EXIF and GPS IFDs, as Pillow's TIFF writer puts them."""
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    if exif:
        tags = Image.Exif()
        tags.load(exif)
        for tag, value in tags.items():
            if tag not in TIFF_ONLY_TAGS and tag != ORIENTATION:
                ifd[tag] = tags.get_ifd(tag) if tag in (0x8769, 0x8825) else value
    layout = {
        256: width,
        257: height,
        258: (16,) * channels,
        259: 8,  # Deflate (Adobe)
        262: 2,  # RGB
        277: channels,
        278: rows,
        284: 1,  # interleaved
        317: 2,  # horizontal differencing
    }
    if channels == 4:
        layout[338] = (2,)  # unassociated (straight) alpha
    if icc:
        layout[34675] = icc
    for tag, value in layout.items():
        ifd[tag] = value
    return ifd
