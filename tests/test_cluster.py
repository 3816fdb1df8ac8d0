"""The per-file API on a real Dask cluster: same bytes as `nnfilter apply`, re-runs are harmless."""

import pickle
from pathlib import Path

from conftest import colour_field, invoke
from PIL import Image

from nnfilter import FileFilter, FileResult


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
