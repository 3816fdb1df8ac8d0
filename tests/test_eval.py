"""`nnfilter eval`, coverage and the report pictures."""

import json
import os

import numpy as np
import pytest
from conftest import colour_field, gamma, invoke
from PIL import Image

import nnfilter.pairs
from nnfilter import Look, TrainConfig, learn_look
from nnfilter.coverage import GRID, covered_cells, unseen_mask
from nnfilter.report import loss_plot
from nnfilter.train import EpochReport


def test_eval_scores_the_training_pair_well_and_a_wrong_pair_badly(model_file, pair_files, tmp_path):
    # A "wrong" after: the photo itself, unfiltered, although the look brightens it.
    result, info = invoke("eval", "-m", model_file, pair_files["before"], pair_files["after"],
                          pair_files["photo"], pair_files["photo"], "--json")  # fmt: skip
    assert result.exit_code == 0, info
    scores = json.loads(result.stdout)
    assert [s["name"] for s in scores] == ["before.png", "photo.png", "overall"]
    good, bad, overall = scores
    assert good["de00_mean"] < 1.5 and good["psnr"] > 30, good
    assert bad["de00_mean"] > 5, bad
    assert good["de00_mean"] < overall["de00_mean"] < bad["de00_mean"]
    assert good["unseen_share"] == 0.0


def test_eval_table_and_report(model_file, pair_files, tmp_path):
    report = tmp_path / "report"
    result, info = invoke("eval", "-m", model_file, pair_files["before"], pair_files["after"],
                          "--report", report)  # fmt: skip
    assert result.exit_code == 0, info
    assert result.stdout.splitlines()[0].split()[:2] == ["pair", "PSNR"]
    assert sorted(p.name for p in report.iterdir()) == ["before-compare.png"]  # nothing unseen
    with Image.open(report / "before-compare.png") as sheet:
        assert sheet.width == 3 * 96


def test_eval_report_numbers_pairs_whose_befores_share_a_name(model_file, pair_files, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "before.png").write_bytes(pair_files["photo"].read_bytes())
    report = tmp_path / "report"
    result, info = invoke("eval", "-m", model_file, pair_files["before"], pair_files["after"],
                          other / "before.png", pair_files["photo"], "--report", report)  # fmt: skip
    assert result.exit_code == 0, info
    assert sorted(p.name for p in report.iterdir() if "compare" in p.name) == [
        "1-before-compare.png",
        "2-before-compare.png",
    ]


def test_a_report_never_replaces_an_input(model_file, pair_files, tmp_path):
    # The AFTER is named as the BEFORE's comparison picture would be, in the report folder.
    folder = tmp_path / "photos"
    folder.mkdir()
    before, after = folder / "x.png", folder / "x-compare.png"
    before.write_bytes(pair_files["before"].read_bytes())
    after.write_bytes(pair_files["after"].read_bytes())
    result, info = invoke("eval", "-m", model_file, before, after, "--report", folder)
    assert result.exit_code == 1 and "x-compare.png: the output is an input file" in result.stderr, info
    assert after.read_bytes() == pair_files["after"].read_bytes()
    result, info = invoke("train", before, after, "-o", folder / "m.npz", "--epochs", "2", "--report", folder)
    assert result.exit_code == 1 and "x-compare.png: the output is an input file" in result.stderr, info
    assert after.read_bytes() == pair_files["after"].read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["x-compare.png", "x.png"]  # no model either


def test_an_input_is_refused_as_an_output_by_any_name_and_a_failed_eval_makes_no_report(
    model_file, pair_files, tmp_path
):
    before = tmp_path / "before.png"
    before.write_bytes(pair_files["before"].read_bytes())
    (tmp_path / "link.png").symlink_to(before)
    os.link(before, tmp_path / "hard.png")
    for name in ("link.png", "hard.png"):
        result, info = invoke("train", before, pair_files["after"], "-o", tmp_path / name, "--force")
        assert result.exit_code == 1 and "the output is an input file" in result.stderr, info
    assert before.read_bytes() == pair_files["before"].read_bytes()
    result, info = invoke("eval", "-m", model_file, before, pair_files["photo"], "--report", tmp_path / "rep")
    assert result.exit_code == 1 and "must be the same size" in result.stderr, info
    assert not (tmp_path / "rep").exists()


def test_train_never_saves_over_an_input_and_checks_the_report_folder_first(pair_files, tmp_path):
    before = tmp_path / "before.png"
    before.write_bytes(pair_files["before"].read_bytes())
    result, info = invoke("train", before, pair_files["after"], "-o", before, "--force")
    assert result.exit_code == 1 and "the output is an input file" in result.stderr, info
    assert before.read_bytes() == pair_files["before"].read_bytes()
    (tmp_path / "file").write_text("not a folder")
    result, info = invoke("train", before, pair_files["after"], "-o", tmp_path / "m.npz",
                          "--report", tmp_path / "file" / "report")  # fmt: skip
    assert result.exit_code == 1 and "cannot make the report folder" in result.stderr, info
    assert "saved" not in result.stderr and not (tmp_path / "m.npz").exists()


def test_eval_lines_up_a_pair_as_train_does(model_file, pair_files, tmp_path):
    big = tmp_path / "after-2x.png"
    with Image.open(pair_files["after"]) as after:
        after.resize((2 * after.width, 2 * after.height), Image.Resampling.LANCZOS).save(big)
    result, info = invoke("eval", "-m", model_file, pair_files["before"], big, "--json")
    assert result.exit_code == 0, info
    assert f"{big} is 192x128: resized to 96x64" in result.stderr, info
    assert json.loads(result.stdout)[0]["de00_mean"] < 1.5, info
    other = tmp_path / "other-2x.png"
    Image.fromarray(colour_field(192, 128, seed=11)).save(other)
    result, info = invoke("eval", "-m", model_file, pair_files["before"], other, "--json")
    assert result.exit_code == 0 and "do not line up" in result.stderr, info


def test_eval_refuses_odd_count_and_mismatched_pair(model_file, pair_files, tmp_path):
    result, info = invoke("eval", "-m", model_file, pair_files["before"])
    assert result.exit_code == 2, info
    result, info = invoke("eval", "-m", model_file, pair_files["before"], pair_files["photo"])
    assert result.exit_code == 1 and "96x64" in result.stderr and "80x60" in result.stderr, info


def test_coverage_is_recorded_and_unseen_colours_are_found(model_file):
    look = Look.load(model_file)
    covered = look.coverage
    assert covered.shape == (GRID**3,) and 0 < look.metadata["coverage_share"] < 1
    assert covered.mean() == pytest.approx(look.metadata["coverage_share"])
    before = np.asarray(Image.open(model_file.parent / "before.png"))
    assert look.unseen_share(before) == 0.0
    # Pure colours of cells the generated image never reaches are unseen.
    odd = np.array([[[255, 0, 0], [0, 255, 0]]], np.uint8)
    expected = unseen_mask(covered, odd.reshape(-1, 3)).mean()
    assert look.unseen_share(odd) == expected


def test_covered_cells_marks_exactly_the_occupied_cells():
    pixels = np.array([[0, 0, 0], [15, 15, 15], [16, 0, 0]], np.uint8)
    mask = covered_cells(pixels)
    assert mask.sum() == 2 and mask[0] and mask[256]


def test_loss_plot_draws_both_curves():
    history = [EpochReport(e, 10, 0.1 / e, 0.12 / e) for e in range(1, 11)]
    plot = np.asarray(loss_plot(history))
    blue = (np.abs(plot.astype(int) - (31, 119, 180)).sum(axis=-1) == 0).sum()
    orange = (np.abs(plot.astype(int) - (255, 127, 14)).sum(axis=-1) == 0).sum()
    assert blue > 100 and orange > 100


def test_train_with_several_pairs_and_a_report(pair_files, tmp_path):
    other = colour_field(40, 30, seed=9)
    Image.fromarray(other).save(tmp_path / "b2.png")
    Image.fromarray(gamma(other)).save(tmp_path / "a2.png")
    report = tmp_path / "report"
    result, info = invoke("train", pair_files["before"], pair_files["after"],
                          "--pair", tmp_path / "b2.png", tmp_path / "a2.png",
                          "-o", tmp_path / "m.npz", "--epochs", "5", "--report", report)  # fmt: skip
    assert result.exit_code == 0, info
    assert "of the colour space" in result.stderr
    look = Look.load(tmp_path / "m.npz")
    assert [p["before"] for p in look.metadata["training_pairs"]] == ["before.png", "b2.png"]
    assert look.metadata["pixels"] == 96 * 64 + 40 * 30
    names = sorted(p.name for p in report.iterdir())
    assert names == ["b2-compare.png", "before-compare.png", "eval.txt", "loss.png"]
    assert (report / "eval.txt").read_text().splitlines()[-1].startswith("overall")


def test_a_large_jpeg_pair_is_trained_at_half_size_and_others_in_full(tmp_path, monkeypatch):
    monkeypatch.setattr(nnfilter.pairs, "HALF_DECODE_PIXELS", 100 * 80)  # 8 MP photos, made small
    before = colour_field(100, 80, seed=3)
    for name, image in (("b", before), ("a", gamma(before))):
        Image.fromarray(image).save(tmp_path / f"{name}.jpg", quality=95)
        Image.fromarray(image).save(tmp_path / f"{name}.png")
    sizes = {}
    for before_file, after_file in (("b.jpg", "a.jpg"), ("b.png", "a.png"), ("b.jpg", "a.png")):
        model = tmp_path / f"{before_file}-{after_file}.npz"
        result, info = invoke(
            "train", tmp_path / before_file, tmp_path / after_file, "-o", model, "--epochs", "2"
        )
        assert result.exit_code == 0, info
        (pair,) = Look.load(model).metadata["training_pairs"]
        sizes[before_file, after_file] = pair["size"], pair.get("decoded_at")
    assert sizes == {
        ("b.jpg", "a.jpg"): ([50, 40], "1/2"),
        ("b.png", "a.png"): ([100, 80], None),
        ("b.jpg", "a.png"): ([100, 80], None),
    }


def test_apply_warns_about_unseen_colours(tmp_path):
    # A look learned from greys only has never seen saturated primaries.
    grey = np.repeat(np.linspace(0, 255, 64).astype(np.uint8)[None, :, None], 3, axis=2)
    look, _ = learn_look([(grey, gamma(grey))], TrainConfig(epochs=2))
    look.save(tmp_path / "grey.npz")
    primaries = np.zeros((20, 20, 3), np.uint8)
    primaries[:10, :, 0] = 255
    primaries[10:, :, 1] = 255
    Image.fromarray(primaries).save(tmp_path / "primaries.png")
    assert look.unseen_share(primaries) == 1.0
    assert look.unseen_share(grey) == 0.0
    model_file = tmp_path / "grey.npz"
    result, info = invoke("apply", tmp_path / "primaries.png", "-m", model_file, "-o", tmp_path / "o.png",
                          "--warn-coverage")  # fmt: skip
    assert result.exit_code == 0, info
    assert "100.0% of its pixels" in result.stderr, info
    Image.fromarray(grey).save(tmp_path / "grey.png")
    result, info = invoke("apply", tmp_path / "grey.png", "-m", model_file, "-o", tmp_path / "o2.png",
                          "--warn-coverage")  # fmt: skip
    assert result.exit_code == 0 and "warning" not in result.stderr, info


def test_recorded_coverage_is_exactly_the_cells_of_the_training_pixels():
    rng = np.random.default_rng(0)
    noisy = np.clip(colour_field(90, 60, seed=4).astype(int) + rng.integers(-20, 21, (60, 90, 3)), 0, 255)
    before = noisy.astype(np.uint8)
    look, _ = learn_look([(before, gamma(before))], TrainConfig(epochs=1))
    assert np.array_equal(look.coverage, covered_cells(before.reshape(-1, 3)))


def test_info_prints_architecture_and_metadata(model_file):
    result, info = invoke("info", model_file)
    assert result.exit_code == 0, info
    lines = result.stdout.splitlines()
    assert lines[0] == "network: 4-16-16-4 (sigmoid, sigmoid output with a skip path from an additive prior)"
    assert any(line.startswith("coverage_share: ") for line in lines)
    assert not any(line.startswith("coverage: ") for line in lines)  # the mask is for --json
    result, info = invoke("info", model_file, "--json")
    meta = json.loads(result.stdout)
    assert meta["layer_sizes"] == [4, 16, 16, 4] and len(meta["coverage"]) == 1024
    assert meta["training_pairs"][0]["before"] == "before.png" and meta["epochs_run"] == 20
