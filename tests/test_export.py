"""`nnfilter export`: .cube and HaldCLUT files that real tools apply like `nnfilter apply` does."""

from pathlib import Path

from conftest import NNFILTER, assert_image_similar, invoke, run
from PIL import Image

from nnfilter.lut import read_cube

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


def test_cube_is_written_and_read_back(model_file, tmp_path):
    result, info = invoke("export", model_file, "-o", tmp_path / "look.cube", "--size", 17)
    assert result.exit_code == 0, info
    text = (tmp_path / "look.cube").read_text()
    assert "LUT_3D_SIZE 17" in text and "DOMAIN_MAX 1 1 1" in text
    assert read_cube(tmp_path / "look.cube").shape == (17, 17, 17, 3)


def test_export_refuses_unknown_extension_and_existing_file(model_file, tmp_path):
    result, info = invoke("export", model_file, "-o", tmp_path / "look.txt")
    assert result.exit_code == 2 and "--format" in result.stderr, info
    (tmp_path / "old.cube").write_text("keep")
    result, info = invoke("export", model_file, "-o", tmp_path / "old.cube")
    assert result.exit_code == 1 and "exists" in result.stderr, info
    assert (tmp_path / "old.cube").read_text() == "keep"


def test_export_never_overwrites_its_model_even_with_force(model_file, tmp_path):
    model = tmp_path / "look.npz"
    model.write_bytes(Path(model_file).read_bytes())
    result, info = invoke("export", model, "-o", model, "--format", "cube", "--force")
    assert result.exit_code == 1 and "is an input file" in result.stderr, info
    assert model.read_bytes() == Path(model_file).read_bytes()


def test_export_refuses_a_format_or_option_its_output_does_not_take(model_file, tmp_path):
    for args, why in [
        (["-o", tmp_path / "look.cube", "--format", "hald"], "named as a cube file"),
        (["-o", tmp_path / "look.png", "--format", "cube"], "named as a hald file"),
        (["-o", tmp_path / "look.png", "--size", 17], "--size is for .cube"),
        (["-o", tmp_path / "look.cube", "--level", 4], "--level is for HaldCLUT"),
    ]:
        result, info = invoke("export", model_file, *args)
        assert result.exit_code == 2 and why in result.stderr, info
    assert list(tmp_path.iterdir()) == []
    result, info = invoke("export", model_file, "-o", tmp_path / "look.3dl", "--format", "cube", "--size", 5)
    assert result.exit_code == 0 and "LUT_3D_SIZE 5" in (tmp_path / "look.3dl").read_text(), info


def test_ffmpeg_lut3d_matches_nnfilter_apply(model_file, pair_files, tmp_path, ffmpeg):
    result, info = invoke("export", model_file, "-o", tmp_path / "look.cube")
    assert result.exit_code == 0, info
    result, info = invoke("apply", pair_files["photo"], "-m", model_file, "-o", tmp_path / "ours.png")
    assert result.exit_code == 0, info
    run([ffmpeg, "-v", "error", "-y", "-i", pair_files["photo"], "-vf", "lut3d=look.cube",
         "theirs.png"], cwd=tmp_path)  # fmt: skip
    assert_image_similar(
        tmp_path / "ours.png", tmp_path / "theirs.png", mean=2.0, what="ffmpeg lut3d vs apply"
    )


def test_imagemagick_and_ffmpeg_haldclut_match_nnfilter_apply(
    model_file, pair_files, tmp_path, ffmpeg, imagemagick
):
    result, info = invoke("export", model_file, "-o", tmp_path / "hald.png", "--level", 8)
    assert result.exit_code == 0, info
    assert Image.open(tmp_path / "hald.png").size == (512, 512)
    result, info = invoke("apply", pair_files["photo"], "-m", model_file, "-o", tmp_path / "ours.png")
    assert result.exit_code == 0, info
    run([imagemagick, pair_files["photo"], "hald.png", "-hald-clut", "-alpha", "off", "im.png"],
        cwd=tmp_path)  # fmt: skip
    run([ffmpeg, "-v", "error", "-y", "-i", pair_files["photo"], "-i", "hald.png",
         "-filter_complex", "[0][1]haldclut", "ff.png"], cwd=tmp_path)  # fmt: skip
    for name in ("im.png", "ff.png"):
        assert_image_similar(tmp_path / "ours.png", tmp_path / name, mean=2.0, what=f"{name} vs apply")


def test_ocioconvert_applies_the_cube_like_nnfilter_apply(model_file, tmp_path, ocioconvert):
    """OpenColorIO (what ociobakelut converts our .cube with, to .3dl, .csp, .icc, ...) reads it as we mean it."""
    photo = tmp_path / "photo.png"
    with Image.open(SAMPLES / "test1.jpg") as image:
        image.save(photo)
    run([NNFILTER, "export", model_file, "-o", "look.cube"], cwd=tmp_path)
    result, info = invoke("apply", photo, "-m", model_file, "-o", tmp_path / "ours.png")
    assert result.exit_code == 0, info
    run([ocioconvert, "--lut", "look.cube", "photo.png", "theirs.png"], cwd=tmp_path)
    assert_image_similar(
        tmp_path / "ours.png", tmp_path / "theirs.png", mean=1.0, what="ocioconvert --lut vs apply"
    )


def test_apply_lut_matches_the_model_it_was_exported_from(model_file, pair_files, tmp_path):
    result, info = invoke("export", model_file, "-o", tmp_path / "look.cube", "--size", 65)
    assert result.exit_code == 0, info
    result, info = invoke("apply", pair_files["photo"], "-m", model_file, "-o", tmp_path / "model.png")
    assert result.exit_code == 0, info
    result, info = invoke("apply", pair_files["photo"], "--lut", tmp_path / "look.cube",
                          "-o", tmp_path / "lut.png")  # fmt: skip
    assert result.exit_code == 0, info
    assert_image_similar(tmp_path / "model.png", tmp_path / "lut.png", 2, mean=0.5)


def test_apply_lut_refuses_a_malformed_cube_and_a_model_too(model_file, pair_files, tmp_path):
    bad = tmp_path / "bad.cube"
    bad.write_text("LUT_1D_SIZE 2\n0 0 0\n1 1 1\n")
    result, info = invoke("apply", pair_files["photo"], "--lut", bad, "-o", tmp_path / "o.png")
    assert result.exit_code == 1 and "1D" in result.stderr, info
    assert len(result.stderr.strip().splitlines()) == 1, info
    assert not (tmp_path / "o.png").exists()
    result, info = invoke(
        "apply", pair_files["photo"], "--lut", bad, "-m", model_file, "-o", tmp_path / "o.png"
    )
    assert result.exit_code == 2, info
