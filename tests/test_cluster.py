"""The per-file API on a real Dask cluster: same bytes as `nnfilter apply`, re-runs are harmless."""

import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import colour_field, invoke
from PIL import Image

from nnfilter import FileFilter, FileResult, perfile


def make_photos(root: Path) -> list[Path]:
    """Four photos in two folders, JPEG and PNG, and a failed copy named as a JPEG."""
    paths = []
    for i, rel in enumerate(["a.jpg", "b.png", "trip/c.jpg", "trip/d.png"]):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(colour_field(48, 32, seed=i)).save(path)
        paths.append(path)
    (root / "trip" / "empty.jpg").write_bytes(b"")
    return paths


def test_a_dask_cluster_writes_what_apply_writes(model_file, tmp_path):
    import dask.bag
    from dask.distributed import Client, LocalCluster

    photos = tmp_path / "photos"
    paths = make_photos(photos)
    result, info = invoke("apply", "-m", model_file, "-r", photos, "-o", tmp_path / "by-apply", "-j", 1)
    assert result.exit_code == 1 and "empty.jpg: empty file" in result.stderr, info

    filter_one = FileFilter(model_file, tmp_path / "by-dask", base=photos)
    assert pickle.loads(pickle.dumps(filter_one)) == filter_one
    inputs = [*map(str, paths), str(photos / "trip" / "empty.jpg")]
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        results = dask.bag.from_sequence(inputs, npartitions=2).map(filter_one).compute()
        again = dask.bag.from_sequence(inputs, npartitions=2).map(filter_one).compute()

    assert [r.status for r in results] == ["done"] * 4 + ["failed"]
    assert "empty.jpg: empty file" in results[-1].error
    assert all(isinstance(r, FileResult) and r.megapixels > 0 for r in results[:4])
    for path in paths:
        rel = path.relative_to(photos)
        assert (tmp_path / "by-dask" / rel).read_bytes() == (tmp_path / "by-apply" / rel).read_bytes(), rel
    assert [r.status for r in again] == ["skipped"] * 4 + ["failed"]  # a re-run redoes nothing


def test_file_filter_names_outputs_as_apply_does(model_file, tmp_path):
    photos = tmp_path / "photos"
    paths = make_photos(photos)
    filter_one = FileFilter(model_file, tmp_path / "out", base=photos, suffix="-look", format="png")
    done = filter_one(paths[2])
    assert done == FileResult(
        str(paths[2]), str(tmp_path / "out" / "trip" / "c-look.png"), "done", None, 0.001536
    )
    outside = FileFilter(model_file, tmp_path / "out", base=photos / "trip")(paths[0])
    assert outside.status == "failed" and outside.error == f"{paths[0]}: not under {photos / 'trip'}"
    gif = FileFilter(model_file, tmp_path / "out", format=None)(photos / "x.gif")
    assert gif.status == "failed" and gif.error == f"{photos / 'x.gif'}: cannot write '.gif' files"


def test_file_filter_never_overwrites_its_input(model_file, tmp_path):
    photos = tmp_path / "photos"
    paths = make_photos(photos)
    before = paths[0].read_bytes()
    result = FileFilter(model_file, photos, base=photos, overwrite=True)(paths[0])
    assert (
        result.status == "failed"
        and result.error == f"{paths[0]}: the output is the input; refusing to overwrite it"
    )
    assert paths[0].read_bytes() == before
    assert not [p for p in photos.rglob(".nnfilter-*")]


def test_file_filter_without_base_gives_same_named_inputs_one_output(model_file, tmp_path):
    # As its docstring and the README say: without base, outputs are named by file name alone.
    photos = tmp_path / "photos"
    make_photos(photos)
    Image.fromarray(colour_field(48, 32, seed=7)).save(photos / "trip" / "a.jpg")
    filter_one = FileFilter(model_file, tmp_path / "out")
    assert filter_one(photos / "a.jpg").status == "done"
    assert filter_one(photos / "trip" / "a.jpg").status == "skipped"
    assert "Give ``base`` whenever names can repeat" in FileFilter.__doc__


def test_file_filter_that_loses_a_race_for_its_output_skips_it(model_file, tmp_path):
    @dataclass(frozen=True)
    class Raced(FileFilter):
        """A FileFilter whose rival worker writes the same output once it has found it missing."""

        def _look(self):
            look = super()._look()
            assert FileFilter(self.model, self.output, base=self.base)(photos / "b.png").status == "done"
            return look

    photos = tmp_path / "photos"
    make_photos(photos)
    result = Raced(model_file, tmp_path / "out", base=photos)(photos / "b.png")
    assert result.status == "skipped" and result.error is None
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".nnfilter-")]


def test_file_filter_settings(model_file, tmp_path):
    photos = tmp_path / "photos"
    paths = make_photos(photos)
    # Formats are the lower-case extensions, taken in any case.
    upper = FileFilter(model_file, tmp_path / "out", base=photos, format="JPEG")
    assert upper.format == "jpeg" and upper.destination(paths[1]) == tmp_path / "out" / "b.jpeg"
    assert upper(paths[1]).status == "done"
    # A file's path that is the base folder itself fails, as any bad input does.
    itself = FileFilter(model_file, tmp_path / "out", base=photos)(photos)
    assert itself.status == "failed" and "is the base folder itself" in itself.error
    bad = [
        ({"format": "bmp2"}, "format must be one of"),
        ({"quality": 0}, "quality must be an integer from 1 to 100"),
        ({"quality": 101}, "quality must be an integer from 1 to 100"),
        ({"max_pixels": 0}, "max_pixels must be an integer >= 1"),
        ({"depth": 12}, "depth must be 8, 16 or None"),
        ({"strength": 2.5}, "strength must be from 0 to 2"),
        ({"suffix": "/../../outside"}, "suffix must be a string without a folder separator"),
    ]
    for settings, message in bad:
        with pytest.raises(ValueError, match=message):
            FileFilter(model_file, tmp_path / "out", **settings)


def test_file_filter_strength_and_depth_write_what_apply_writes(model_file, tmp_path):
    photos = tmp_path / "photos"
    paths = make_photos(photos)
    args = ("--strength", "0.5", "--depth", "16", "--format", "png")
    result, info = invoke("apply", "-m", model_file, paths[0], paths[1], "-o", tmp_path / "by-apply", *args)
    assert result.exit_code == 0, info
    filter_one = FileFilter(
        model_file, tmp_path / "by-filter", base=photos, strength=0.5, depth=16, format="png"
    )
    for path in paths[:2]:
        assert filter_one(path).status == "done"
        name = path.with_suffix(".png").name
        assert (tmp_path / "by-filter" / name).read_bytes() == (tmp_path / "by-apply" / name).read_bytes(), (
            name
        )
        assert (tmp_path / "by-filter" / name).read_bytes()[24] == 16, name  # the IHDR's bit depth


def test_file_filter_keeps_one_look_per_model_file(model_file, tmp_path):
    model = tmp_path / "look.npz"
    shutil.copyfile(model_file, model)
    photos = tmp_path / "photos"
    paths = make_photos(photos)
    for i, strength in enumerate([1.0, 0.5, 1.5]):
        assert (
            FileFilter(model, tmp_path / f"out{i}", base=photos, strength=strength)(paths[0]).status == "done"
        )
    os.utime(model, ns=(0, 10**18))  # the model file changed
    assert FileFilter(model, tmp_path / "out3", base=photos)(paths[0]).status == "done"
    entries = {path: look for path, look in perfile._LOOKS.items() if path == os.path.realpath(model)}
    assert len(entries) == 1
    ((stamp, look),) = entries.values()
    assert stamp[1] == 10**18 and look.strength == 1.0
