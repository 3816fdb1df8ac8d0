"""`nnfilter apply PHOTO` starts decoding PHOTO from the raw arguments (nnfilter/prefetch.py)."""

import click
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import colour_field
from PIL import Image

from nnfilter.cli import main
from nnfilter.images import DEFAULT_MAX_PIXELS, open_image
from nnfilter.prefetch import FLAGS, SHORT_FLAGS, SHORT_NAMES, VALUE_OPTIONS, Prefetch, prefetch


@pytest.fixture
def photos(tmp_path):
    """Two different JPEG photos."""
    paths = []
    for seed in (1, 2):
        path = tmp_path / f"photo{seed}.jpg"
        Image.fromarray(colour_field(48, 32, seed=seed)).save(path, quality=90)
        paths.append(path)
    return paths


def test_the_option_tables_are_applys():
    """Every option of `apply` is known here as taking a value or not, under all its names:
    a flag taken for an option with a value would make the guess skip the photo's name."""
    apply = main.commands["apply"]
    takes_value, flags = {}, {}
    for param in apply.params:
        if isinstance(param, click.Option) and param.name not in ("help", "dry_run", "warn_coverage"):
            long_name = next(name for name in param.opts if name.startswith("--"))
            table = flags if param.is_flag else takes_value
            table.update({name: long_name for name in param.opts})
    assert {name for name in takes_value if name.startswith("--")} == VALUE_OPTIONS
    assert {name for name in flags if name.startswith("--")} == FLAGS
    assert {name: long for name, long in takes_value.items() if not name.startswith("--")} == SHORT_NAMES
    assert {name: long for name, long in flags.items() if not name.startswith("--")} == SHORT_FLAGS


@pytest.mark.parametrize(
    "before, after",
    [
        (["-m", "look.npz"], ["-o", "out.jpg", "-j", "2"]),
        (["--model=look.npz", "--force", "-q"], ["--output", "out.jpg", "--jobs=2"]),
        (["--jobs", "2", "--max-pixels", "2000", "--"], []),
    ],
)
def test_one_photo_file_is_read_from_the_raw_arguments(photos, before, after):
    max_pixels = 2000 if "--max-pixels" in before else DEFAULT_MAX_PIXELS
    prefetched = prefetch(["apply", *before, str(photos[0]), *after])
    assert isinstance(prefetched, Prefetch)
    assert prefetched.take(photos[1], max_pixels) is None
    assert prefetched.take(photos[0], max_pixels + 1) is None
    reading = prefetched.take(photos[0], max_pixels)
    assert reading is not None
    np.testing.assert_array_equal(np.asarray(reading.result()), np.asarray(open_image(photos[0])))


@pytest.mark.parametrize(
    "args",
    [
        ["train", "{0}", "{1}"],
        ["apply", "-j", "2", "{0}", "{1}", "-o", "out"],
        ["apply", "-j", "1", "{0}", "-o", "out.jpg"],
        ["apply", "-j", "2", "-n", "{0}", "-o", "out.jpg"],
        ["apply", "-j", "2", "{0}", "--warn-coverage", "-o", "out.jpg"],
        ["apply", "-j", "2", "-rq", "{0}", "-o", "out.jpg"],
        ["apply", "-j", "2", "--max-pixels", "many", "{0}", "-o", "out.jpg"],
        ["apply", "-j", "2", "-", "-o", "out"],
        ["apply", "-j", "2", "{folder}", "-o", "out"],
        ["apply", "-j", "2", "{folder}/missing.jpg", "-o", "out.jpg"],
    ],
)
def test_nothing_is_read_unless_the_arguments_plainly_name_one_photo_for_threads(photos, args):
    argv = [arg.format(*photos, folder=photos[0].parent) for arg in args]
    assert prefetch(argv) is None


def test_apply_takes_the_reading_only_if_it_is_of_its_photo(photos, model_file, tmp_path):
    """The same output with the photo prefetched, with another photo prefetched, and without."""
    outputs = []
    for name, prefetched in [
        ("none", None),
        ("same", Prefetch(str(photos[0]), DEFAULT_MAX_PIXELS)),
        ("other", Prefetch(str(photos[1]), DEFAULT_MAX_PIXELS)),
    ]:
        out = tmp_path / f"{name}.png"
        args = ["apply", "-m", str(model_file), "-j", "2", str(photos[0]), "-o", str(out)]
        result = CliRunner().invoke(main, args, obj=prefetched, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        outputs.append(np.asarray(Image.open(out)))
    np.testing.assert_array_equal(outputs[1], outputs[0])
    np.testing.assert_array_equal(outputs[2], outputs[0])
