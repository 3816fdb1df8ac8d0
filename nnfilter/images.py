"""Reading photos: open any image file as an upright RGB/RGBA Pillow image (or a 16-bit ``DeepImage``),
with what a writer needs of its EXIF and ICC profile; tell image files from others; pixels as arrays.

Writing them is ``saving``'s job, the file-system plumbing ``files``'; no maths, no model, no click
here. Every failure is an ``ImageError`` whose one-line message names the file and the problem; no
raw Pillow or OS exception escapes (``KeyboardInterrupt`` passes through untouched).
"""

from __future__ import annotations

import mmap
import os
import stat
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, NamedTuple

from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from .errors import ImageError, ImageTooLargeError, NnfilterError
from .files import check_regular_file, describe

if TYPE_CHECKING:
    import numpy as np

    from .deep import DeepImage

#: Default pixel limit: 200-megapixel medium-format files pass with room to spare.
DEFAULT_MAX_PIXELS = 400_000_000


_EXIF_PREFIX = b"Exif\x00\x00"  # how JPEG's APP1 starts an EXIF block; info["exif"] always has it
#: Bytes of a file read, then decoded, at a time (see ``_open_header``).
DECODE_READ = 1 << 22

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")

# Pillow's own decompression-bomb limit is a module global. Opening an image above it is only possible
# with the global lifted, so open_image lifts it briefly, under this lock, only for such images (our own
# max_pixels check still runs on the header before any pixel is decoded).
_PILLOW_LIMIT_LOCK = threading.Lock()


class JpegCoding(NamedTuple):
    """How a JPEG file's pixels were compressed, what compressing other pixels the same way takes
    (``recompress``): its quantisation tables (Pillow's ``quantization``), its chroma subsampling
    (Pillow's: 0 4:4:4, 1 4:2:2, 2 4:2:0)."""

    quantization: dict[int, list[int]]
    subsampling: int


def jpeg_coding(image: Image.Image) -> JpegCoding | None:
    """How ``image``'s pixels were compressed, if they are a colour JPEG's as stored: recorded by
    ``open_image(jpeg_ycbcr=True)`` for a file stored upright and decoded at full size (a halved
    AFTER mended did worse than the blocks: benchmarks/RESULTS.md). None for any other image."""
    return image.info.get("jpeg_coding")


def _coding_of(image: JpegImagePlugin.JpegImageFile) -> JpegCoding | None:
    """A colour JPEG's ``JpegCoding`` from its header; None for others."""
    subsampling = JpegImagePlugin.get_sampling(image)
    quantization = getattr(image, "quantization", None)
    if image.mode not in ("RGB", "YCbCr") or subsampling < 0 or not quantization:
        return None
    return JpegCoding(dict(quantization), subsampling)


# --- reading -------------------------------------------------------------------------------------------


def open_image(
    path: str | os.PathLike[str],
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    deep: bool = False,
    reduce: int = 1,
    jpeg_ycbcr: bool = False,
) -> Image.Image | DeepImage:
    """Open an image file as a fully loaded, upright RGB or RGBA Pillow image (with ``deep``, a
    16-bit RGB or RGBA TIFF or PNG as a ``DeepImage``, see ``images16``; with ``jpeg_ycbcr``, a
    colour JPEG as the YCbCr it stores).

    Takes the first frame of an animated or multi-page file, applies the EXIF orientation, and converts
    the mode with ``normalize_mode`` (alpha kept when the file has any). The pixel count is checked
    against ``max_pixels`` from the header, before any pixel is decoded.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.
    max_pixels : int or None
        Refuse images with more than this many pixels (width * height); None for no limit.
    deep : bool
        Read 16-bit RGB(A) TIFF and PNG files at full precision; else their top 8 bits are read.
    reduce : int
        1, 2, 4 or 8: decode a JPEG at 1/``reduce`` of its width and height (``Image.draft``: the
        decoder scales the DCT blocks, each output pixel about the mean of ``reduce``² pixels, at a
        fraction of a full decode's work); other formats are read at full size.
    jpeg_ycbcr : bool
        Decode a colour JPEG to mode "YCbCr", without the decoder's conversion to RGB, which clips:
        what a JPEG AFTER keeps of a saturated colour (``prior.unclipped_rgb``).

    Returns
    -------
    PIL.Image.Image
        Mode "RGB" or "RGBA" (or "YCbCr", see ``jpeg_ycbcr``). ``image.format`` is the source
        format ("JPEG", "PNG", ...). ``image.info`` holds only what a writer needs: "exif" (bytes, orientation already applied and
        reset) and "icc_profile" (bytes, kept only when it describes RGB, since a greyscale or CMYK
        profile would be wrong on the converted pixels); for a YCbCr JPEG stored upright and
        read at full size, "jpeg_coding" (``jpeg_coding``). A corrupt EXIF block is dropped, not fatal.

    Raises
    ------
    ImageError
        Missing, a folder, empty, not an image, truncated or damaged, or too large.
    """
    reading = ImageReading(
        path, max_pixels, background=False, deep=deep, reduce=reduce, jpeg_ycbcr=jpeg_ycbcr
    )
    return reading.result()


class ImageReading:
    """An image file being read: ``open_image`` in two steps, so that decoding can go on in a
    background thread while the caller does something else.

    The file is opened and its header checked at once; with ``background`` the pixels are then
    decoded in a thread. Pillow releases the GIL while it decodes (in reads of ``DECODE_READ``
    bytes), so ``nnfilter apply`` decodes its one photo while numpy and the model load.
    ``result()`` waits for the decoding and returns, or raises, what ``open_image`` would.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        background: bool = True,
        deep: bool = False,
        reduce: int = 1,
        memory: PixelMemory | None = None,
        jpeg_ycbcr: bool = False,
    ) -> None:
        if max_pixels is not None and max_pixels < 1:
            raise ValueError(f"max_pixels must be >= 1 or None, got {max_pixels}")
        if reduce not in (1, 2, 4, 8):
            raise ValueError(f"reduce must be 1, 2, 4 or 8, got {reduce}")
        self.name = os.fsdecode(path)
        self.memory = memory  # where an RGB JPEG is decoded, if anywhere (``PixelMemory``)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._pixels: np.ndarray | None = None  # a 16-bit file's, decoded by images16
        with _quiet_pillow():
            try:
                self._fp, self._image = _open_checked(path, self.name, max_pixels)
            except ImageError as exc:
                self._error = exc
                return
            self._deep = deep and _is_deep(self._image)
            self._coding: JpegCoding | None = None  # a JPEG read as its YCbCr (``jpeg_coding``)
            if self._image.format == "JPEG" and (reduce > 1 or jpeg_ycbcr):
                width, height = self._image.size
                mode = "YCbCr" if jpeg_ycbcr and self._image.mode == "RGB" else self._image.mode
                if mode == "YCbCr" and reduce == 1:
                    self._coding = _coding_of(self._image)
                self._image.draft(mode, (max(1, width // reduce), max(1, height // reduce)))
            if memory is not None:
                memory.receive(self._image)
            if not background:
                self._decode()
                return
        self._thread = threading.Thread(target=self._decode, daemon=True)
        self._thread.start()

    def _decode(self) -> None:
        try:
            with _read_errors(self.name):
                if self._deep:
                    from .images16 import read_pixels

                    self._pixels = read_pixels(self._fp, self._image)
                else:
                    self._image.load()
        except BaseException as exc:  # raised by result(), in the caller's thread
            self._error = exc
            self._fp.close()

    def result(self) -> Image.Image | DeepImage:
        """The image, upright, RGB or RGBA, once decoded (see ``open_image``); call it once.

        Raises
        ------
        ImageError
            As ``open_image``.
        """
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        with self._fp, _quiet_pillow():  # some formats read metadata (EXIF) from the file still
            if self._pixels is not None:
                from .images16 import upright

                return upright(self._pixels, self._image)
            return _upright_rgb(
                self._image, self.name, keep_ycbcr=self._image.mode == "YCbCr", coding=self._coding
            )


class PixelMemory:
    """Memory that RGB JPEG photos are decoded into, one after another: one uint32 word a pixel,
    0xFFBBGGRR, Pillow's own layout of RGB, in one anonymous memory map (which needs no numpy:
    ``nnfilter apply`` decodes its photo before numpy has loaded).

    The colour table then maps a photo where it lies (``ColourTable.apply`` with its ``words``),
    instead of packing each strip out and pasting it back, and a batch decodes every photo into the
    same pages instead of faulting in fresh ones. A photo decoded here is valid only until the next
    one is: for photos read, filtered and written one at a time, as a batch's jobs in one process.
    """

    def __init__(self) -> None:
        self._map: mmap.mmap | None = None
        self._core: Image.core.ImagingCore | None = None  # Pillow's view of _map, the latest photo's

    def receive(self, image: Image.Image) -> None:
        """Have ``image`` (opened, not decoded yet) decode into this memory, if it is an RGB JPEG;
        one already decoded (above Pillow's own size limit, ``_open_checked`` decodes at once) or
        memory that cannot be mapped leaves it to Pillow's own."""
        if image.format != "JPEG" or image.mode != "RGB" or not image.tile:
            return
        width, height = image.size
        if self._map is None or len(self._map) < 4 * width * height:
            self._core = self._map = None  # let a smaller one go first
            try:
                self._map = mmap.mmap(-1, 4 * width * height)
            except (OSError, MemoryError):
                return
        # What Image.frombuffer runs for the modes it maps; RGB is stored as 4 bytes a pixel too.
        self._core = Image.core.map_buffer(self._map, image.size, "raw", 0, ("RGB", 0, 1))
        image.im = self._core

    def words(self, image: Image.Image) -> np.ndarray | None:
        """``image``'s pixels as words, if it is the photo decoded here last and its pixels are still
        here (not transposed or converted since); else None."""
        if self._core is None or self._map is None or image.im is not self._core:
            return None
        import numpy as np

        return np.frombuffer(self._map, "<u4", image.width * image.height)


@contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Silence Pillow's warnings about big images and odd metadata: ``max_pixels`` and the checks
    here decide instead. (Not around decoding in a thread: warning filters are process-wide.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)  # Pillow's "Corrupt EXIF data" and the like
        yield


@contextmanager
def _read_errors(name: str) -> Iterator[None]:
    """Turn what Pillow or the OS raises while reading ``name`` into a one-line ``ImageError``."""
    try:
        yield
    except NnfilterError:
        raise
    except OSError as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise ImageError(f"{name}: not an image file") from None
        if exc.filename is not None:  # from the file system, not from a decoder
            raise ImageError(f"{name}: cannot read ({describe(exc)})") from None
        raise ImageError(f"{name}: image is truncated or damaged ({describe(exc)})") from None
    except Exception as exc:
        raise ImageError(f"{name}: image is truncated or damaged ({describe(exc)})") from None


def jpeg_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """A JPEG file's width and height from its header; None for any other file, or one that
    cannot be read (``open_image`` then says why)."""
    try:
        with Image.open(path) as image:
            return image.size if image.format == "JPEG" else None
    except Exception:
        return None


def _open_checked(
    path: str | os.PathLike[str], name: str, max_pixels: int | None
) -> tuple[IO[bytes], Image.Image]:
    """The open file and its image, header read and size checked, pixels not decoded yet (except
    above Pillow's own limit, see ``_PILLOW_LIMIT_LOCK``)."""
    if check_regular_file(path, name).st_size == 0:
        raise ImageError(f"{name}: empty file")
    with _read_errors(name):
        fp = open(path, "rb")
    try:
        with _read_errors(name):
            try:
                image = _open_header(fp, name, max_pixels)
            except UnidentifiedImageError:
                _refuse_unsupported_tiff(fp, name)
                raise
            except Image.DecompressionBombError:
                with _PILLOW_LIMIT_LOCK:
                    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                    try:
                        image = _open_header(fp, name, max_pixels)
                        image.load()  # some formats check the limit again while decoding
                    finally:
                        Image.MAX_IMAGE_PIXELS = saved
    except BaseException:
        fp.close()
        raise
    return fp, image


def _is_deep(image: Image.Image) -> bool:
    """Whether the header says 16-bit RGB(A) TIFF or PNG (``images16`` is imported only then)."""
    if image.format not in ("TIFF", "PNG") or image.mode not in ("RGB", "RGBA"):
        return False
    from .images16 import is_deep

    return is_deep(image)


def _refuse_unsupported_tiff(fp: IO[bytes], name: str) -> None:
    """Say why, when a file Pillow cannot identify is a TIFF of a kind nnfilter does not read."""
    fp.seek(0)
    if fp.read(4) not in (b"II*\x00", b"MM\x00*"):
        return
    from .images16 import tiff_problem

    problem = tiff_problem(fp)
    if problem is not None:
        raise ImageError(f"{name}: {problem}")


def _upright_rgb(
    image: Image.Image, name: str, keep_ycbcr: bool = False, coding: JpegCoding | None = None
) -> Image.Image:
    """A decoded image with its EXIF orientation applied, in mode RGB or RGBA (or YCbCr, kept with
    ``keep_ycbcr``), and only the metadata a writer needs in ``info``, with its ``coding`` when
    its pixels are still as stored (not turned)."""
    source_format = image.format
    stored = image.im
    with _read_errors(name):
        exif_ok = _exif_transpose_in_place(image)
    info = {}
    if coding is not None and image.im is stored:
        info["jpeg_coding"] = coding
    exif = image.info.get("exif")
    if source_format == "TIFF" and exif_ok:  # a TIFF's EXIF tags are in its own IFD, not in info
        from .saving import portable_exif  # (saving imports this module)

        try:
            exif = portable_exif(image.getexif(), from_tiff=True)
        except Exception:
            exif = None  # unreadable: dropped, as any other format's
    if exif_ok and isinstance(exif, bytes) and _is_readable_exif(exif):
        info["exif"] = exif if exif.startswith(_EXIF_PREFIX) else _EXIF_PREFIX + exif  # WebP has no prefix
    icc = image.info.get("icc_profile")
    if isinstance(icc, bytes) and icc[16:20] == b"RGB ":
        info["icc_profile"] = icc
    try:
        result = image if keep_ycbcr else normalize_mode(image)
    except Exception as exc:
        raise ImageError(f"{name}: cannot convert {image.mode} pixels to RGB ({describe(exc)})") from None
    result.info = info
    result.format = source_format
    return result


def _open_header(fp: IO[bytes], name: str, max_pixels: int | None) -> Image.Image:
    """Identify the image from its header and check its size; its first frame is not decoded yet."""
    image = Image.open(fp)
    width, height = image.size
    if max_pixels is not None and width * height > max_pixels:
        msg = f"{name}: {width * height} pixels ({width}x{height}) exceeds the limit of {max_pixels}"
        raise ImageTooLargeError(msg, max_pixels)
    # Pillow decodes what each read of this size brings without the GIL; its default, 64 KiB,
    # would have a decoding thread wait for the GIL after every read.
    image.decodermaxblock = DECODE_READ
    return image


def _exif_transpose_in_place(image: Image.Image) -> bool:
    """Apply the EXIF orientation; return False when the EXIF block is corrupt (and must be dropped)."""
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception:
        return False
    return True


def _is_readable_exif(data: bytes) -> bool:
    """Whether an EXIF block parses to at least one tag (Pillow loads a block whose IFD it cannot read as
    empty, with only a warning, and would write the corrupt bytes back)."""
    exif = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exif.load(data)
    except Exception:
        return False
    return len(exif) > 0


def normalize_mode(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to "RGBA" if it carries transparency, else to "RGB".

    16-bit greyscale ("I;16*", and "I" which is taken to hold 16-bit values) keeps its top 8 bits
    (``value >> 8``: 65535 -> 255, 32768 -> 128); "F" is clipped to 0..255 and rounded (NaN -> 0).
    Palette, greyscale, CMYK, YCbCr, LAB and HSV go through Pillow's conversions; premultiplied
    "RGBa"/"La" are unpremultiplied. An "RGB"/"RGBA" image is returned as is, not copied.
    """
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        if mode == "RGB" and "transparency" in image.info:
            return image.convert("RGBA")
        return image
    if mode in ("F", *_SIXTEEN_BIT_MODES):
        import numpy as np  # here: reading an 8-bit photo must not wait for numpy (see ImageReading)
    if mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image)
        grey = Image.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8))
        transparency = image.info.get("transparency")
        if isinstance(transparency, int):
            alpha = np.where(values == transparency, 0, 255).astype(np.uint8)
            return Image.merge("RGBA", (grey, grey, grey, Image.fromarray(alpha)))
        return grey.convert("RGB")
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        grey = Image.fromarray(np.rint(np.clip(values, 0.0, 255.0)).astype(np.uint8))
        return grey.convert("RGB")
    if mode == "La":  # Pillow converts La only to LA
        image = image.convert("LA")
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


def image_extensions() -> frozenset[str]:
    """The extensions (lower case, with the dot) of every format Pillow can read: ".jpg", ".png", ..."""
    return frozenset(ext for ext, name in Image.registered_extensions().items() if name in Image.OPEN)


def not_an_image(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` is not an image file, from its header only ("empty file", ...), or None if it is one.

    Never raises. Used to pick the images out of a folder; a file that passes may still fail to open
    (truncated, too large), which ``open_image`` then reports.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"cannot read ({describe(exc)})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path):
                return None
    except Image.DecompressionBombError:
        return None  # an image, just a big one: open_image applies the real limit
    except UnidentifiedImageError:
        from .images16 import tiff_problem  # a TIFF of a kind not read says why, as open_image does

        try:
            with open(path, "rb") as fp:
                problem = tiff_problem(fp)
        except OSError:
            problem = None
        return problem or "not an image (no format Pillow reads)"
    except Exception as exc:
        return f"not a readable image ({describe(exc)})"


# --- arrays --------------------------------------------------------------------------------------------


def to_rgba_array(image: Image.Image) -> np.ndarray:
    """Pixels of an image as a new uint8 array of shape (height, width, 4); alpha is 255 for RGB input.

    Images in other modes go through ``normalize_mode`` first.
    """
    import numpy as np

    if image.mode not in ("RGB", "RGBA"):
        image = normalize_mode(image)
    if image.mode == "RGBA":
        return np.array(image, dtype=np.uint8)
    array = np.empty((image.height, image.width, 4), dtype=np.uint8)
    array[..., :3] = np.asarray(image)
    array[..., 3] = 255
    return array


def pixel_array(image: Image.Image) -> np.ndarray:
    """Pixels of an RGB image as a uint8 array (height, width, 3); of any other mode as RGBA
    (height, width, 4), see ``to_rgba_array``."""
    import numpy as np

    return np.asarray(image) if image.mode == "RGB" else to_rgba_array(image)
