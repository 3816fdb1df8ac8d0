"""Applying a look: the colour-table fast path against the exact per-pixel network."""

import multiprocessing
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from conftest import HANG_GUARD_SECONDS, assert_image_similar, colour_field, gamma, sepia
from PIL import Image, ImageOps

from nnfilter import learn_look, learn_look_from_files
from nnfilter.apply import ColourTable, _filter_strips, _on_crops, apply_to_image, apply_to_pixels
from nnfilter.images import ImageReading, PixelMemory, open_image
from nnfilter.model import init_mlp
from nnfilter.train import TrainConfig


@pytest.fixture(scope="module")
def look():
    before = colour_field(96, 64, seed=1)
    look, _ = learn_look([(before, sepia(before))], TrainConfig(epochs=20))
    return look


def random_rgb(seed, shape=(120, 90)):
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


@pytest.mark.parametrize("strip_pixels, threads", [(1 << 16, 1), (500, 4)])  # one strip; many, in threads
def test_table_matches_exact_on_every_colour(look, monkeypatch, strip_pixels, threads):
    monkeypatch.setattr("nnfilter.apply.STRIP_PIXELS", strip_pixels)
    pixels = random_rgb(0)
    pixels[60:] = pixels[:60]  # colours met again in later strips, maybe while being evaluated
    exact = apply_to_image(look.model, Image.fromarray(pixels), method="exact")
    table = apply_to_image(look.model, Image.fromarray(pixels), method="table", threads=threads)
    assert_image_similar(exact, table, 1)
    assert_image_similar(exact, table, 0, share=0.001)


@pytest.mark.parametrize("settle_pixels", [1, 700, 1 << 20])  # every strip alone; several; all at the end
def test_a_photo_mapped_where_it_lies_evaluates_its_waiting_colours_exactly(
    look, monkeypatch, tmp_path, settle_pixels
):
    monkeypatch.setattr("nnfilter.apply.STRIP_PIXELS", 500)
    monkeypatch.setattr("nnfilter.apply.SETTLE_PIXELS", settle_pixels)
    path = tmp_path / "noise.jpg"
    Image.fromarray(random_rgb(5)).save(path, quality=95)  # nearly every pixel a colour of its own
    memory = PixelMemory()
    image = ImageReading(path, background=False, memory=memory).result()
    table = ColourTable(look.model)
    mapped = np.asarray(table.apply(image, threads=4, words=memory.words(image)))
    exact = apply_to_image(look.model, open_image(path), method="exact")
    assert_image_similar(exact, mapped, 1)
    assert_image_similar(exact, mapped, 0, share=0.001)
    assert len(table) == len(np.unique(np.asarray(open_image(path)).reshape(-1, 3), axis=0))


def test_table_keeps_alpha_and_size_and_works_in_strips(look, monkeypatch):
    monkeypatch.setattr("nnfilter.apply.STRIP_PIXELS", 500)  # many strips of a few rows
    rgba = np.concatenate([random_rgb(1), random_rgb(2)[..., :1]], axis=-1)
    out = apply_to_image(look.model, Image.fromarray(rgba, "RGBA"))
    assert out.mode == "RGBA" and out.size == (90, 120)
    out = np.asarray(out)
    assert np.array_equal(out[..., 3], rgba[..., 3])
    expected = apply_to_pixels(look.model, rgba)
    assert_image_similar(out, expected, 1)


def test_a_table_is_reused_and_only_grows(look):
    table = ColourTable(look.model)
    apply_to_image(look.model, Image.fromarray(random_rgb(3)), table=table)
    known = len(table)
    assert known == len(np.unique(random_rgb(3).reshape(-1, 3), axis=0))
    apply_to_image(look.model, Image.fromarray(random_rgb(3)), table=table)
    assert len(table) == known
    apply_to_image(look.model, Image.fromarray(random_rgb(4)), table=table)
    assert len(table) > known


def test_a_look_that_learned_alpha_uses_it():
    # Target: the same colours, half transparent; the network must learn alpha -> 128.
    before = np.concatenate([colour_field(64, 48, seed=2), np.full((48, 64, 1), 255, np.uint8)], -1)
    after = before.copy()
    after[..., 3] = 128
    look, _ = learn_look([(before, after)], TrainConfig(epochs=40))
    assert look.learned_alpha
    out = look.apply(Image.fromarray(colour_field(30, 20, seed=3)))
    assert out.mode == "RGBA"
    assert_image_similar(np.asarray(out)[..., 3], np.full((20, 30), 128), 3)
    exact = look.apply(Image.fromarray(colour_field(30, 20, seed=3)), method="exact")
    assert_image_similar(out, exact, 1)


def test_the_api_names_a_wrong_argument(look):
    with pytest.raises(TypeError, match="filters a Pillow image, a DeepImage or an array, not str"):
        look.apply("photo.jpg")
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        look.apply(Image.fromarray(random_rgb(1)), threads=-1)
    with pytest.raises(ValueError, match="strength must be from 0 to 2, got '0.5'"):
        look.with_strength("0.5")
    with pytest.raises(ValueError, match="learned from one"):
        learn_look(iter([]))
    assert look.apply(Image.fromarray(random_rgb(1)), threads=np.int64(1)).mode == "RGB"


def test_a_pair_that_keeps_its_alpha_teaches_colours_only():
    # The same alpha gradient on both sides, the colours brightened: the look keeps each pixel's
    # alpha (an opaque photo stays opaque), and a JPEG AFTER, which holds none, says nothing of it.
    rgb = colour_field(64, 48, seed=2)
    alpha = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))[..., None]
    before, after = np.concatenate([rgb, alpha], -1), np.concatenate([gamma(rgb), alpha], -1)
    for pair in [(before, after), (before, after[..., :3])]:
        look, _ = learn_look([pair], TrainConfig(epochs=20))
        assert not look.learned_alpha
        assert look.apply(Image.fromarray(colour_field(30, 20, seed=3))).mode == "RGB"
        out = np.asarray(look.apply(Image.fromarray(before)))
        assert np.array_equal(out[..., 3], alpha[..., 0])


def test_an_opaque_before_with_a_transparent_after_teaches_alpha_and_a_jpeg_after_is_mended(tmp_path):
    rgb = colour_field(64, 48, seed=2)
    alpha = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))[..., None]
    cut_out, _ = learn_look([(rgb, np.concatenate([rgb, alpha], -1))], TrainConfig(epochs=5))
    assert cut_out.learned_alpha  # a cut-out look: the BEFORE, without alpha, is opaque
    Image.fromarray(np.concatenate([rgb, alpha], -1)).save(tmp_path / "before.png")
    Image.fromarray(gamma(rgb)).save(tmp_path / "after.jpg", quality=90)
    look, _ = learn_look_from_files(
        [(tmp_path / "before.png", tmp_path / "after.jpg")], TrainConfig(epochs=5)
    )
    assert not look.learned_alpha and look.metadata["prior_chroma"] == "mended cells"


def test_a_16_bit_grey_image_is_filtered_as_a_file_of_it_is_read(look):
    # Look.apply takes other modes as images.normalize_mode does: 16-bit grey keeps its top 8 bits
    # (a plain convert to RGB clips 40000 to white).
    levels = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    grey = Image.fromarray(levels)
    top_bits = Image.fromarray((levels >> 8).astype(np.uint8)).convert("RGB")
    assert np.array_equal(np.asarray(look.apply(grey)), np.asarray(look.apply(top_bits)))


def test_chunked_exact_equals_whole(look):
    rgba = np.concatenate([random_rgb(5), np.full((120, 90, 1), 255, np.uint8)], -1)
    whole = apply_to_pixels(look.model, rgba, chunk=rgba.shape[0] * rgba.shape[1])
    chunked = apply_to_pixels(look.model, rgba, chunk=1000)
    assert_image_similar(whole, chunked, 1)


def test_a_look_that_learned_alpha_keeps_rgb_where_the_image_stays_opaque():
    identity = init_mlp([4], "sigmoid", np.random.default_rng(0))  # untrained: leaves colours alone
    pixels = random_rgb(6)
    out = apply_to_image(identity, Image.fromarray(pixels), keep_alpha=False)
    assert out.mode == "RGB"
    assert_image_similar(out, pixels, 1)


def test_a_used_look_pickles_without_its_table(look):
    photo = Image.fromarray(random_rgb(7))
    filtered = np.asarray(look.apply(photo.copy()))
    pickled = pickle.dumps(look)  # as Runner hands a look to worker processes
    assert len(pickled) < 100_000  # the network and metadata, not the 64 MiB table
    assert np.array_equal(np.asarray(pickle.loads(pickled).apply(photo.copy())), filtered)


# Forked from a fresh process of one thread (as a batch forks its workers), not from this one.
SHARED_TABLE_SCRIPT = """
import multiprocessing, sys
import numpy as np
from PIL import Image
from nnfilter.look import Look
look = Look.load(sys.argv[1])
shared = look.shared_with_forks()
photo = Image.fromarray(np.random.default_rng(9).integers(0, 256, (120, 90, 3), dtype=np.uint8))
child = multiprocessing.get_context("fork").Process(target=shared.apply, args=(photo.copy(), "auto", 1))
child.start()
child.join()
filled_there = len(shared._table)
same = np.array_equal(np.asarray(shared.apply(photo.copy())), np.asarray(look.apply(photo.copy())))
print(child.exitcode, filled_there, len(look.shared_with_forks()._table), same)
"""


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_table_shared_with_forks_knows_what_a_forked_process_evaluated(look, tmp_path):
    look.save(tmp_path / "look.npz")
    proc = subprocess.run(
        [sys.executable, "-c", SHARED_TABLE_SCRIPT, tmp_path / "look.npz"],
        capture_output=True, text=True, timeout=HANG_GUARD_SECONDS,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    distinct = len(np.unique(random_rgb(9).reshape(-1, 3), axis=0))
    assert proc.stdout.split() == ["0", str(distinct), "0", "True"]


def test_strips_are_filtered_in_threads_and_an_error_stops_them(monkeypatch):
    monkeypatch.setattr("nnfilter.apply.STRIP_PIXELS", 90 * 10)  # 12 strips of 10 rows
    pixels = random_rgb(8)
    inverted = _filter_strips(Image.fromarray(pixels), _on_crops(ImageOps.invert), threads=3)
    assert np.array_equal(np.asarray(inverted), 255 - pixels)

    def fail_on_the_fifth_strip(strip):
        if strip.getpixel((0, 0)) == tuple(pixels[40, 0]):
            raise ValueError("no such colour")
        return strip

    with pytest.raises(ValueError, match="no such colour"):
        _filter_strips(Image.fromarray(pixels), _on_crops(fail_on_the_fifth_strip), threads=3)
