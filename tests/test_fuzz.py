"""Fuzzing the loaders (issue 6): random bytes and damaged real files either load or raise NnfilterError.

Nothing else may escape (no Pillow, numpy, zip, JSON or recursion error), nothing may unpickle, and
no case may take long: a small ``max_pixels`` keeps a damaged header from asking for a huge decode.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from conftest import colour_field
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nnfilter.errors import NnfilterError
from nnfilter.images import open_image
from nnfilter.look import Look, learn_look
from nnfilter.modelfile import load_model, model_to_bytes
from nnfilter.train import TrainConfig

MAX_PIXELS = 1 << 16
FUZZ = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _image_bytes(fmt: str, **params) -> bytes:
    rgb = colour_field(24, 16, seed=1)
    image = Image.fromarray(rgb)
    if fmt == "GIF":
        image = image.quantize(64)
        params.setdefault("transparency", 0)
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: gives the EXIF code path something to do
    exif[0x010F] = "Maker"
    if fmt in ("JPEG", "PNG", "WEBP"):
        params["exif"] = exif.tobytes()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _deep_bytes(fmt: str, **options) -> bytes:
    """A 16-bit RGBA TIFF (tifffile) or PNG (ours), tagged with EXIF orientation 6 and an ICC profile."""
    import tifffile

    from nnfilter.images16 import png_bytes

    rgba = colour_field(24, 16, seed=1)[..., [0, 1, 2, 0]].astype(np.uint16) * 251
    buffer = io.BytesIO()
    if fmt == "TIFF":
        tags = [(274, "H", 1, 6, True), (271, "s", 0, "Maker", True)]
        tifffile.imwrite(
            buffer, rgba, photometric="rgb", extrasamples=["unassalpha"], extratags=tags, **options
        )
        return buffer.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6
    return png_bytes(rgba, exif.tobytes(), b"\0" * 16 + b"RGB " + b"\0" * 112)


def _model_bytes() -> bytes:
    source = colour_field(16, 12, seed=1)
    look, _ = learn_look([(source, 255 - source)], TrainConfig(hidden=[4], epochs=30))  # beats a flat colour
    return model_to_bytes(look.model, look.metadata)


SEEDS = {
    "jpeg": _image_bytes("JPEG", quality=90),
    "progressive-jpeg": _image_bytes("JPEG", progressive=True),
    "png": _image_bytes("PNG"),
    "gif": _image_bytes("GIF"),
    "webp": _image_bytes("WEBP", lossless=True),
    "tiff": _image_bytes("TIFF"),
    "tiff16": _deep_bytes("TIFF"),
    "tiff16-lzw": _deep_bytes("TIFF", compression="lzw", rowsperstrip=4),
    "tiff16-deflate": _deep_bytes("TIFF", compression="zlib", predictor=True, rowsperstrip=4),
    "png16": _deep_bytes("PNG"),
    "npz": _model_bytes(),
}
IMAGE_SEEDS = [key for key in SEEDS if key != "npz"]
DEEP_SEEDS = [key for key in SEEDS if key.endswith("16") or "16-" in key]


def _rezip(npz: bytes, member_index: int, mutate) -> bytes:
    """The npz with one member's bytes mutated and re-zipped with a valid CRC (reaches the .npy parser)."""
    source = zipfile.ZipFile(io.BytesIO(npz))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for index, info in enumerate(source.infolist()):
            data = source.read(info)
            target.writestr(info.filename, mutate(data) if index == member_index else data)
    return out.getvalue()


@st.composite
def damaged(draw, seeds):
    """A seed file with a few bytes flipped, a span deleted or repeated, or cut short."""
    name = draw(st.sampled_from(seeds))
    data = bytearray(SEEDS[name])

    def mutate(buffer: bytes) -> bytes:
        buffer = bytearray(buffer)
        for _ in range(draw(st.integers(1, 4))):
            if not buffer:
                break
            kind = draw(st.sampled_from(["flip", "set", "delete", "repeat", "truncate"]))
            at = draw(st.integers(0, len(buffer) - 1))
            if kind == "flip":
                buffer[at] ^= 1 << draw(st.integers(0, 7))
            elif kind == "set":
                buffer[at] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]))
            elif kind == "delete":
                del buffer[at : at + draw(st.integers(1, 64))]
            elif kind == "repeat":
                buffer[at:at] = buffer[at : at + draw(st.integers(1, 64))]
            else:
                del buffer[at:]
        return bytes(buffer)

    if name == "npz" and draw(st.booleans()):
        members = len(zipfile.ZipFile(io.BytesIO(data)).infolist())
        return _rezip(bytes(data), draw(st.integers(0, members - 1)), mutate)
    return mutate(bytes(data))


def _call_expecting_only_our_errors(fn, *args):
    """Call ``fn``: it returns or raises an NnfilterError (any other exception fails the test)."""
    try:
        fn(*args)
    except NnfilterError:
        pass


@pytest.fixture(scope="module")
def case_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "case"


def test_seeds_are_valid(case_file):
    for name, data in SEEDS.items():
        case_file.write_bytes(data)
        if name == "npz":
            Look.load(case_file)
        else:
            assert open_image(case_file, MAX_PIXELS, deep=True).size in ((24, 16), (16, 24))


@FUZZ
@given(
    data=st.binary(min_size=1, max_size=4096),
    prefix=st.sampled_from(
        [
            b"",
            b"\xff\xd8\xff",
            b"\x89PNG\r\n\x1a\n",
            b"GIF89a",
            b"RIFF",
            b"II*\x00",
            b"PK\x03\x04",
            b"\x93NUMPY",
        ]
    ),
)
def test_random_bytes(case_file, data, prefix):
    case_file.write_bytes(prefix + data)
    _call_expecting_only_our_errors(open_image, case_file, MAX_PIXELS)
    _call_expecting_only_our_errors(open_image, case_file, MAX_PIXELS, True)
    _call_expecting_only_our_errors(load_model, case_file)


@FUZZ
@given(data=damaged(IMAGE_SEEDS))
def test_damaged_images(case_file, data):
    case_file.write_bytes(data)
    _call_expecting_only_our_errors(open_image, case_file, MAX_PIXELS)


@FUZZ
@given(data=damaged(DEEP_SEEDS))
def test_damaged_16_bit_images(case_file, data):
    case_file.write_bytes(data)
    _call_expecting_only_our_errors(open_image, case_file, MAX_PIXELS, True)


@FUZZ
@given(data=damaged(["npz"]))
def test_damaged_models(case_file, data):
    case_file.write_bytes(data)
    _call_expecting_only_our_errors(load_model, case_file)
    _call_expecting_only_our_errors(Look.load, case_file)
