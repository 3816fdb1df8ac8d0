"""Applying a model to pixels and images, in bounded memory.

Two ways give the same picture (``tests/test_apply.py`` checks it):

- ``exact``: the network on every pixel, in float32 chunks of ``CHUNK_PIXELS``.
- ``table``: the network evaluated once per distinct colour. An opaque photo holds at most 2^24
  colours and a real one a few hundred thousand, so a ``ColourTable`` maps each strip of pixels
  with one array lookup, evaluating the colours it has not met yet (and remembering them for the
  next strip and the next image). A look learned from opaque pairs never depends on alpha (it is
  applied at alpha 1 and each pixel keeps its alpha), which the table relies on; a look that
  learned alpha is applied exactly. (A 65³ ``Color3DLUT`` was measured too: as fast, but its
  trilinear interpolation missed by up to 5 levels in dark colours, where the network's logit
  skip path bends sharply.)

Images are filtered in horizontal strips written back in place, so memory beyond the image itself
stays at a few strips plus the table (64 MiB), whatever the image size.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
from PIL import Image, ImageFilter

from .model import MLP, Predictor, one_blas_thread, predict
from .strength import blend

CHUNK_PIXELS = 65536
# The table evaluates new colours in chunks this small, so that the forward pass's buffers (47
# floats a colour) stay in a core's L2 cache (measured a little faster than chunks of 65536, the
# same outputs). Strips of 2^17 pixels keep a 100 MP photo's peak a few MB under 2^18's at the same
# speed (2^16 saves more memory but is slower on one core).
TABLE_CHUNK = 4096
STRIP_PIXELS = 1 << 17
# Unknown pixels that strips keep waiting before their colours are evaluated together: 12 bytes
# each held (where they are, their keys), about as many again while ``ColourTable._settle`` sorts.
SETTLE_PIXELS = 1 << 16
PACKED = np.dtype("<u4")  # an RGBA pixel as Pillow's raw bytes, read as one little-endian integer
#: A strip of packed outputs with colours not known yet: where they are in it, and their keys.
UnknownStrip = tuple[np.ndarray, np.ndarray, np.ndarray]

T = TypeVar("T")


def apply_to_pixels(
    model: MLP, rgba: np.ndarray, keep_alpha: bool = True, chunk: int = CHUNK_PIXELS, strength: float = 1.0
) -> np.ndarray:
    """Filter uint8 pixels of shape (..., 4) exactly, ``chunk`` pixels at a time.

    With ``keep_alpha`` the network sees every pixel as opaque and the input alpha is kept: that
    is how a look learned from opaque pairs is applied. ``strength`` blends the look with the
    original colours (``strength.blend``).
    """
    with one_blas_thread():
        return _network_on_pixels(model, rgba, keep_alpha, chunk, strength)


def _network_on_pixels(
    model: MLP, rgba: np.ndarray, keep_alpha: bool, chunk: int, strength: float = 1.0
) -> np.ndarray:
    flat = rgba.reshape(-1, 4)
    out = np.empty_like(flat)
    predict = Predictor(model)
    for start in range(0, len(flat), chunk):
        block = flat[start : start + chunk]
        x = block.astype(np.float32) / 255
        if keep_alpha:
            x[:, 3] = 1
        out[start : start + chunk] = np.rint(blend(x, predict(x), strength) * 255)
        if keep_alpha:
            out[start : start + chunk, 3] = block[:, 3]
    return out.reshape(rgba.shape)


def opaque_colour_fn(model: MLP, strength: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """The look (at ``strength``) as a function of opaque colours, RGB in [0, 1] (n, 3) -> RGB
    (n, 3): what ``lut.bake_table`` evaluates on a grid to export the look as a 3D LUT."""

    def colour_fn(rgb: np.ndarray) -> np.ndarray:
        x = np.concatenate([rgb, np.ones((len(rgb), 1), np.float32)], axis=1)
        with one_blas_thread():
            return blend(x, predict(model, x), strength)[:, :3]

    return colour_fn


class ColourTable:
    """The network's output for every RGB colour met so far, for a look that keeps alpha.

    Outputs are packed as little-endian RGBA uint32, the layout of Pillow's raw "RGBX"/"RGBA"
    bytes, so a strip of pixels maps through one ``numpy.take`` with no float copy of the image.
    The network sees every colour as opaque and each pixel keeps its own alpha, so an evaluated
    entry has alpha byte 0xFF: any entry below ``KNOWN`` is a colour not evaluated yet.

    A ``shared`` table lies in memory shared with the processes forked after it is made: a
    colour one of them evaluates, all of them know.
    """

    KNOWN = np.uint32(0xFF000000)

    def __init__(self, model: MLP, strength: float = 1.0, shared: bool = False):
        self.model = model
        self._predict = Predictor(model)
        self.strength = strength  # the look blended with the original colours (``strength.blend``)
        if shared:  # anonymous memory, zero until written, as processes write the same outputs
            self.outputs = np.frombuffer(mmap.mmap(-1, PACKED.itemsize << 24), PACKED)
        else:
            # Written, not np.zeros: calloc's pages are mapped on first write, 4 KiB at a time, which
            # slowed evaluating a photo's first colours; a written table gets huge pages at once.
            self.outputs = np.full(1 << 24, 0, PACKED)
        self._buffers = threading.local()

    def __len__(self) -> int:
        """The number of colours evaluated so far."""
        return int(np.count_nonzero(self.outputs >= self.KNOWN))

    def apply(self, image: Image.Image, threads: int, words: np.ndarray | None = None) -> Image.Image:
        """Filter an RGB or RGBA image in place, in strips, ``threads`` at a time. ``words``: the
        pixels of an RGB image decoded into an ``images.PixelMemory``, mapped where they lie."""
        with one_blas_thread():
            if words is None:
                return _filter_strips(image, self.map_box, threads)
            strips = [words[start : start + STRIP_PIXELS] for start in range(0, len(words), STRIP_PIXELS)]
            waiting = _Waiting()
            in_threads(strips, lambda strip: self._map(strip, strip, waiting), threads)
            self._settle(waiting.take_all())
            return image

    def map_box(self, image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
        """A box of ``image`` (RGB or RGBA) filtered, as an RGBA image valid until this thread's
        next box; colours it holds that are not known are evaluated."""
        raw = _packed(image, box)
        out = self._strip_buffers(len(raw))[1]
        self._map(raw, out)
        if image.mode == "RGBA":
            out &= 0xFFFFFF
            out |= raw & 0xFF000000
        # An image on this thread's buffer, not a copy: the caller pastes it into the photo at once.
        # (Pasted into an RGB image, its alpha byte, 0xFF, fills the byte Pillow keeps unused there.)
        size = (box[2] - box[0], box[3] - box[1])
        return Image.frombuffer("RGBA", size, out, "raw", "RGBA", 0, 1)

    def _map(self, raw: np.ndarray, out: np.ndarray, waiting: _Waiting | None = None) -> None:
        """The outputs of packed colours ``raw`` (alpha ignored) into ``out``, which may be ``raw``.

        Colours not known are evaluated: at once, or, given ``waiting``, with those of other
        strips (the network's cost a call dwarfs its cost a colour on the few hundred new colours
        of a typical strip), so ``out`` must then be the strip's own pixels, not a buffer."""
        keys, _, unknown = self._strip_buffers(len(raw))
        np.bitwise_and(raw, 0xFFFFFF, out=keys)  # straight into intp: take would convert them first
        # "wrap" (keys are in range): unbuffered, as "clip" is, and measured faster here.
        np.take(self.outputs, keys, out=out, mode="wrap")
        np.less(out, self.KNOWN, out=unknown)
        if not unknown.any():
            return
        where = np.flatnonzero(unknown)  # few: index them rather than mask the whole strip
        unknown_strip = (out, where, keys[where].astype(PACKED))
        if waiting is None:
            self._settle([unknown_strip])
        elif waiting.add(unknown_strip) >= SETTLE_PIXELS:
            self._settle(waiting.take_all())

    def _settle(self, strips: list[UnknownStrip]) -> None:
        """Evaluate the colours that ``_map`` left unknown in ``strips`` and put their outputs there.

        Threads (and processes sharing the table) may evaluate a colour at the same time: they
        write the same output (or, rarely, one a level apart: float32 sums depend a little on the
        batch), so the table needs no lock."""
        if not strips:
            return
        colours = _distinct(np.concatenate([keys for _, _, keys in strips]))
        self.outputs[colours] = self._network(colours)
        for strip, where, keys in strips:
            strip[where] = self.outputs[keys]

    def _strip_buffers(self, pixels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This thread's arrays for a strip's keys, outputs and unknown mask, reused strip after
        strip: fresh ones for every strip would cost page faults."""
        buffers = self._buffers
        if getattr(buffers, "pixels", 0) < pixels:
            buffers.keys, buffers.out = np.empty(pixels, np.intp), np.empty(pixels, PACKED)
            buffers.unknown, buffers.pixels = np.empty(pixels, bool), pixels
        return buffers.keys[:pixels], buffers.out[:pixels], buffers.unknown[:pixels]

    def _network(self, colours: np.ndarray) -> np.ndarray:
        """The network's packed outputs for packed colours 0xBBGGRR seen as opaque, in chunks."""
        # Through the colours' bytes (R, G, B, 0 in little-endian order) rather than shifts and
        # masks: fewer numpy calls, whose overhead counts on the table's many calls of a few hundred
        # colours.
        packed = np.empty((len(colours), 4), np.uint8)
        for start in range(0, len(colours), TABLE_CHUNK):
            x = colours[start : start + TABLE_CHUNK].view(np.uint8).reshape(-1, 4).astype(np.float32)
            x[:, 3] = 255
            x /= 255
            y = blend(x, self._predict(x), self.strength) * 255
            packed[start : start + TABLE_CHUNK] = np.rint(y, out=y)
        packed[:, 3] = 255  # KNOWN
        return packed.view(PACKED).reshape(-1)


class _Waiting:
    """Strips whose unknown colours wait to be evaluated together, shared by ``in_threads``'
    threads; the count of their unknown pixels bounds the memory this holds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._strips: list[UnknownStrip] = []
        self._pixels = 0

    def add(self, unknown_strip: UnknownStrip) -> int:
        """Keep a strip with its unknown pixels; the unknown pixels now waiting."""
        with self._lock:
            self._strips.append(unknown_strip)
            self._pixels += len(unknown_strip[1])
            return self._pixels

    def take_all(self) -> list[UnknownStrip]:
        """The strips waiting, no longer waiting."""
        with self._lock:
            strips, self._strips, self._pixels = self._strips, [], 0
            return strips


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted: ``np.unique`` by sorting, which on these uint32 keys is several
    times faster than numpy's own (and does not import ``numpy.ma``, which slows start-up).

    >>> _distinct(np.array([7, 3, 7, 1, 3], np.uint32)).tolist()
    [1, 3, 7]
    """
    values = np.sort(values)
    keep = np.empty(len(values), bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _packed(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    """Each pixel of a box of an RGB or RGBA image as a uint32 0xAABBGGRR (alpha 255 for RGB).

    The box's rows are packed straight from the image by the raw encoder that ``tobytes`` runs
    (Pillow's private ``_getencoder``, as its own ``ImageFile`` uses it): one copy, where
    ``crop(box).tobytes()`` makes three (crop, encode in 64 KiB blocks, join).
    """
    encoder = Image._getencoder(image.mode, "raw", ("RGBA",))
    encoder.setimage(image.im, box)
    _, status, data = encoder.encode((box[2] - box[0]) * (box[3] - box[1]) * 4)
    if status != 1:  # 1: every row packed
        raise RuntimeError(f"Pillow's raw encoder stopped with status {status}")
    return np.frombuffer(data, PACKED)


def apply_to_image(
    model: MLP,
    image: Image.Image,
    keep_alpha: bool = True,
    method: str = "auto",
    threads: int | None = None,
    table: ColourTable | None = None,
    strength: float = 1.0,
    words: np.ndarray | None = None,
) -> Image.Image:
    """Filter an "RGB" or "RGBA" image; returns an image of the same size (RGBA if a look that
    learned alpha gives an RGB image transparency).

    ``image`` may be modified in place and returned. ``method`` is "table", "exact" or "auto"
    (the table wherever it applies: looks that keep alpha). ``threads`` defaults to the number
    of cores. ``table`` is a ``ColourTable(model, strength)`` to reuse across images. ``strength``
    blends the look with the original colours (``strength.blend``). ``words``: the pixels of an
    RGB image decoded into an ``images.PixelMemory`` (``PixelMemory.words``), for the table to map
    where they lie.
    """
    threads = threads or os.cpu_count() or 1
    if image.mode not in ("RGB", "RGBA"):
        raise ValueError(f"image mode must be RGB or RGBA, got {image.mode}")
    if method not in ("auto", "table", "exact"):
        raise ValueError(f"method must be auto, table or exact, got {method!r}")
    if method == "table" and not keep_alpha:
        raise ValueError("the table method needs a look that keeps alpha")
    if method == "exact" or not keep_alpha:
        return _apply_exact(model, image, keep_alpha, threads, strength)
    if words is not None and (image.mode != "RGB" or len(words) != image.width * image.height):
        raise ValueError("words must be the pixels of this RGB image")
    if table is not None and table.strength != strength:
        raise ValueError(f"the table is for strength {table.strength}, not {strength}")
    return (table if table is not None else ColourTable(model, strength)).apply(image, threads, words)


def _apply_exact(
    model: MLP, image: Image.Image, keep_alpha: bool, threads: int, strength: float = 1.0
) -> Image.Image:
    """The network on every pixel, in strips; a look that learned alpha gives every pixel one,
    and an RGB image stays RGB when it gives them all 255."""
    filtered = image if keep_alpha else image.convert("RGBA")

    def exact_strip(strip: Image.Image) -> Image.Image:
        rgba = np.asarray(strip.convert("RGBA"))
        out = _network_on_pixels(model, rgba, keep_alpha, CHUNK_PIXELS, strength)
        return Image.fromarray(out if strip.mode == "RGBA" else out[..., :3])

    with one_blas_thread():
        filtered = _filter_strips(filtered, _on_crops(exact_strip), threads)
    if filtered.mode != image.mode and filtered.getchannel("A").getextrema() == (255, 255):
        return filtered.convert("RGB")
    return filtered


def apply_lut(image: Image.Image, lut: ImageFilter.Color3DLUT, threads: int | None = None) -> Image.Image:
    """Filter an "RGB" or "RGBA" image with a Pillow 3D LUT, in strips, in place where it can.

    A 3-channel LUT keeps alpha; a 4-channel one (RGB in, RGBA out) returns an RGBA image.
    """
    threads = threads or os.cpu_count() or 1
    if lut.channels == 3:
        return _filter_strips(image, _on_crops(lambda strip: strip.filter(lut)), threads)
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    return _filter_strips(rgba, _on_crops(lambda strip: strip.convert("RGB").filter(lut)), threads)


def _strips(image: Image.Image) -> list[tuple[int, int, int, int]]:
    """Boxes of horizontal strips of about ``STRIP_PIXELS`` that cover the image."""
    width, height = image.size
    rows = max(1, STRIP_PIXELS // max(width, 1))
    return [(0, top, width, min(top + rows, height)) for top in range(0, height, rows)]


def _on_crops(filter_strip: Callable[[Image.Image], Image.Image]):
    """A filter of a box of an image (as ``_filter_strips`` takes) from a filter of an image."""
    return lambda image, box: filter_strip(image.crop(box))


def _filter_strips(image: Image.Image, filter_box, threads: int) -> Image.Image:
    """Run ``filter_box(image, box)`` over the boxes of horizontal strips of ``image``, pasting
    each result back.

    The threads (``in_threads``) filter a strip each at a time and paste it back (Pillow and numpy
    release the GIL), so memory beyond the image stays at ``threads`` strips. The first
    error raised in a thread is raised here once all have stopped.
    """
    image.load()
    if image.readonly:  # an image on a buffer: copy it once, not in each thread
        image = image.copy()
    in_threads(_strips(image), lambda box: image.paste(filter_box(image, box), box), threads)
    return image


def in_threads(items: Sequence[T], work: Callable[[T], None], threads: int) -> None:
    """Call ``work`` on every item, on ``threads`` threads (this thread is one of them). The first
    error raised in a thread is raised here once all have stopped; after it, the threads start no
    new item.

    Thread k starts at item k · n / ``threads`` and goes on in order; one that has done its share
    takes the last item of the share with the most left. Neighbouring strips of a photo show the
    same colours, so threads that work apart seldom evaluate a new colour twice (on a 24 MP photo
    on two threads, threads on alternate strips evaluated 16% of its colours twice).
    """
    n = len(items)
    shares = [[k * n // threads, (k + 1) * n // threads] for k in range(threads)]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def next_index(k: int) -> int | None:
        with lock:
            share = shares[k]
            if share[0] < share[1]:
                share[0] += 1
                return share[0] - 1
            widest = max(shares, key=lambda other: other[1] - other[0])
            if widest[0] < widest[1]:
                widest[1] -= 1
                return widest[1]
            return None

    def work_on(k: int) -> None:
        try:
            while not errors and (index := next_index(k)) is not None:
                work(items[index])
        except BaseException as exc:  # raised again in the calling thread
            errors.append(exc)

    workers = [threading.Thread(target=work_on, args=(k,)) for k in range(1, threads)]
    for worker in workers:
        worker.start()
    work_on(0)
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
