"""Batch apply: planning, the shell-script workflow, parallel == serial, Ctrl-C, dry run, usage errors."""

import os
import re
import signal
import subprocess
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from conftest import HANG_GUARD_SECONDS, NNFILTER, assert_image_similar, colour_field, invoke, read_until
from PIL import Image

from nnfilter import Look
from nnfilter.batch import CtrlC, Report, _Pool
from nnfilter.images import ImageReading, PixelMemory, open_image
from nnfilter.onefile import Outcome, Settings
from nnfilter.plan import Job, Plan, Problem, output_name, plan_batch
from nnfilter.saving import save_image

SCRIPT = Path(__file__).with_name("batch_script.sh")


def write_image(path: Path, seed: int, size: tuple[int, int] = (64, 48), **params) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(colour_field(*size, seed)).save(path, **params)
    return path


def make_tree(root: Path) -> None:
    """photos/: 4 images in nested folders (one JPEG with EXIF), a text file, a truncated JPEG."""
    exif = Image.Exif()
    exif[0x010F] = "nnfilter test camera"  # Make
    write_image(root / "photos" / "a.jpg", 1, quality=95, exif=exif)
    write_image(root / "photos" / "b.png", 2)
    write_image(root / "photos" / "sub" / "c.jpg", 3)
    write_image(root / "photos" / "sub" / "deep" / "d.png", 4)
    (root / "photos" / "notes.txt").write_text("not an image\n")
    whole = (root / "photos" / "a.jpg").read_bytes()
    (root / "photos" / "sub" / "bad.jpg").write_bytes(whole[: len(whole) // 2])


def expected_pixels(look: Look, src: Path, dst: Path, scratch: Path) -> np.ndarray:
    """What filtering ``src`` into a file named like ``dst`` must decode to: ``Look.apply``, saved alike."""
    image = open_image(src)
    reference = scratch / f"expected{dst.suffix}"
    save_image(look.apply(image), reference, overwrite=True)
    with Image.open(reference) as im:
        return np.asarray(im.convert("RGB"))


def run(args, **kwargs):
    """Run the installed nnfilter command."""
    return subprocess.run([NNFILTER, *map(str, args)], capture_output=True, text=True, **kwargs)


# --- the shell script ---------------------------------------------------------------------------------


def test_shell_script_filters_a_tree_and_resumes(model_file, tmp_path):
    make_tree(tmp_path)
    env = {**os.environ, "NNFILTER": NNFILTER, "MODEL": str(model_file)}
    proc = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stdout + proc.stderr

    out = tmp_path / "out"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.jpg", "b.png", "sub/c.jpg", "sub/deep/d.png"]
    look = Look.load(model_file)
    for rel in written:
        src, dst = tmp_path / "photos" / rel, out / rel
        with Image.open(dst) as im:
            got = np.asarray(im.convert("RGB"))
        assert np.array_equal(got, expected_pixels(look, src, dst, tmp_path)), rel
        assert_image_similar(
            got, look.apply(open_image(src)), mean=4, what=f"{rel} vs Look.apply"
        )  # JPEG q95
        assert not np.array_equal(got, np.asarray(open_image(src))), f"{rel}: not filtered"
    with Image.open(out / "a.jpg") as im:
        assert im.getexif()[0x010F] == "nnfilter test camera"


# --- parallel, interrupted ----------------------------------------------------------------------------


def test_parallel_and_serial_outputs_are_byte_identical(model_file, tmp_path):
    for i, name in enumerate(["a.jpg", "b.png", "c.webp", "d.tif"]):
        write_image(tmp_path / "in" / name, i)
    serial = run(["apply", "-m", model_file, tmp_path / "in", "-o", tmp_path / "serial", "--jobs", "1"])
    parallel = run(["apply", "-m", model_file, tmp_path / "in", "-o", tmp_path / "parallel", "--jobs", "2"])
    for proc in serial, parallel:
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.splitlines()[-1] == "4 done, 0 skipped, 0 failed"
        assert proc.stdout == ""
    for name in ["a.jpg", "b.png", "c.webp", "d.tif"]:
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "parallel" / name).read_bytes(), name


def test_a_cube_lut_filters_a_folder_in_worker_processes_as_in_one(model_file, tmp_path):
    assert run(["export", model_file, "-o", tmp_path / "look.cube"]).returncode == 0
    for i, name in enumerate(["a.jpg", "b.png", "c.jpg"]):
        write_image(tmp_path / "in" / name, i)
    for jobs in ("1", "2"):
        proc = run(
            ["apply", "--lut", tmp_path / "look.cube", tmp_path / "in", "-o", tmp_path / jobs, "--jobs", jobs]
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.splitlines()[-1] == "3 done, 0 skipped, 0 failed"
    for name in ["a.jpg", "b.png", "c.jpg"]:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


def test_a_photo_in_pixel_memory_is_filtered_where_it_lies_as_any_photo_is(model_file, tmp_path):
    look = Look.load(model_file)
    path = tmp_path / "photo.jpg"
    Image.fromarray(colour_field(600, 400, 5)).save(path, quality=90)  # two of the table's strips
    memory = PixelMemory()
    image = ImageReading(path, background=False, memory=memory).result()
    filtered = look.apply(image, threads=2, words=memory.words(image))
    assert filtered is image and memory.words(filtered) is not None
    assert np.array_equal(np.asarray(filtered), np.asarray(look.apply(open_image(path))))
    assert not np.array_equal(np.asarray(filtered), np.asarray(open_image(path)))
    with pytest.raises(ValueError, match="words"):
        look.apply(open_image(path).convert("RGBA"), words=memory.words(image))


def test_one_process_filters_jpegs_of_every_size_and_orientation_one_after_another(model_file, tmp_path):
    # --jobs 1 decodes every RGB JPEG into one memory: a larger photo after a smaller one grows it,
    # a smaller one takes part of it, a rotated one is turned out of it; a PNG and a broken JPEG
    # between them change nothing for the others.
    rotated = Image.Exif()
    rotated[0x0112] = 6
    (tmp_path / "in").mkdir()
    for name, (width, height), params in [
        ("a.jpg", (64, 48), {}),
        ("b.jpg", (90, 70), {}),
        ("c.jpg", (30, 20), {}),
        ("d.jpg", (50, 40), {"exif": rotated}),
        ("e.jpg", (60, 50), {}),
    ]:
        Image.fromarray(colour_field(width, height, width)).save(tmp_path / "in" / name, quality=90, **params)
    Image.fromarray(colour_field(70, 60, 7)).save(tmp_path / "in" / "b2.png")
    whole = (tmp_path / "in" / "b.jpg").read_bytes()
    (tmp_path / "in" / "c2.jpg").write_bytes(whole[: len(whole) // 2])
    proc = run(["apply", "-m", model_file, tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1"])
    assert proc.returncode == 1 and "c2.jpg" in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1] == "6 done, 0 skipped, 1 failed"
    look = Look.load(model_file)
    for name in ["a.jpg", "b.jpg", "b2.png", "c.jpg", "d.jpg", "e.jpg"]:
        src, dst = tmp_path / "in" / name, tmp_path / "out" / name
        with Image.open(dst) as im:
            assert np.array_equal(np.asarray(im.convert("RGB")), expected_pixels(look, src, dst, tmp_path)), (
                name
            )


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_stops_cleanly_and_the_run_resumes(model_file, tmp_path, jobs):
    # Large enough that the 22 photos left when the signal is sent take a few tenths of a second
    # (64×48 ones took a few hundredths: a test process held up that long would miss the batch).
    count, size = 24, (200, 150)
    for i in range(count):
        write_image(tmp_path / "in" / f"p{i:02d}.png", i, size)
    out = tmp_path / "out"
    args = ["apply", "-m", model_file, tmp_path / "in", "-o", out, "--jobs", str(jobs)]
    proc = subprocess.Popen(
        [NNFILTER, *map(str, args), "--verbose"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # even if our SIGINT is ignored
    )
    started = read_until(proc.stderr.fileno(), lambda text: text.count("wrote ") >= 2)
    proc.send_signal(signal.SIGINT)
    stdout, rest = proc.communicate(timeout=HANG_GUARD_SECONDS)
    stderr = started + rest

    assert proc.returncode == 130, stderr
    assert stdout == ""
    summary = re.fullmatch(
        r"interrupted: (\d+) done, 0 skipped, 0 failed, (\d+) not processed", stderr.splitlines()[-1]
    )
    assert summary, stderr
    done, not_processed = map(int, summary.groups())
    assert done + not_processed == count and not_processed > 0, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr
    files = sorted(out.iterdir())
    assert [p for p in files if p.name.startswith(".nnfilter-")] == []
    assert len(files) == done
    for path in files:
        with Image.open(path) as im:
            im.load()  # complete, not truncated
            assert im.size == size

    if jobs == 2:  # resuming finishes the job
        again = run([*args, "--skip-existing"])
        assert again.returncode == 0, again.stderr
        assert again.stderr.splitlines()[-1] == f"{not_processed} done, {done} skipped, 0 failed"
        assert len(list(out.iterdir())) == count


def test_a_ctrl_c_before_the_pool_starts_stops_the_batch(model_file, tmp_path):
    # The first Ctrl-C lands after CtrlC owns SIGINT, before any job is handed to a worker.
    jobs = [Job(tmp_path / f"p{i}.png", tmp_path / "out" / f"p{i}.png") for i in range(3)]
    pool = _Pool(Look.load(model_file), Settings(), workers=2)
    with CtrlC() as ctrl_c:
        signal.raise_signal(signal.SIGINT)
        assert ctrl_c.pressed
        try:
            assert list(pool.run(deque(jobs), ctrl_c, None)) == []
        finally:
            pool.close()
    assert not (tmp_path / "out").exists()


# --- the CLI in-process: messages, dry run, usage errors -----------------------------------------------


def test_dry_run_prints_the_plan_and_writes_nothing(model_file, tmp_path):
    make_tree(tmp_path)
    result, message = invoke(
        *[
            "apply",
            "-m",
            model_file,
            "-r",
            tmp_path / "photos",
            "-o",
            tmp_path / "out",
            "--suffix",
            "-look",
            "--format",
            "png",
            "--dry-run",
            "-v",
        ]
    )
    assert result.exit_code == 0, message
    photos, out = tmp_path / "photos", tmp_path / "out"
    assert result.stdout.splitlines() == [
        f"{photos / 'a.jpg'} -> {out / 'a-look.png'}",
        f"{photos / 'b.png'} -> {out / 'b-look.png'}",
        f"{photos / 'sub' / 'bad.jpg'} -> {out / 'sub' / 'bad-look.png'}",
        f"{photos / 'sub' / 'c.jpg'} -> {out / 'sub' / 'c-look.png'}",
        f"{photos / 'sub' / 'deep' / 'd.png'} -> {out / 'sub' / 'deep' / 'd-look.png'}",
    ], message
    assert f"skipped: {photos / 'notes.txt'}: not an image file" in result.stderr, message
    assert result.stderr.splitlines()[-1] == "dry run: 5 to do, 1 skipped, 0 failed", message
    assert not out.exists()


def test_a_closed_stdin_is_a_usage_error_not_a_traceback(model_file, tmp_path):
    proc = subprocess.run(
        ["bash", "-c", '"$0" apply -m "$1" - -o "$2" <&-', NNFILTER, model_file, tmp_path / "out"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1] == "Error: - reads the paths from stdin, but stdin is closed"


def test_stdin_list_newlines_and_verbose(model_file, tmp_path):
    a, b = write_image(tmp_path / "a.png", 1), write_image(tmp_path / "b.png", 2)
    out = tmp_path / "out"
    result, message = invoke(
        *["apply", "-m", model_file, "-", "--base", tmp_path, "-o", out, "-j", "1", "-v"],
        input=f"{a}\n{b}\n{tmp_path}\n",
    )
    assert result.exit_code == 0, message
    assert result.stdout == "", message
    assert result.stderr.splitlines() == [
        f"wrote {out / 'a.png'}",
        f"wrote {out / 'b.png'}",
        "2 done, 0 skipped, 0 failed",
    ], message


def test_stdin_list_with_windows_line_ends_and_a_path_to_nothing(model_file, tmp_path):
    a, b = write_image(tmp_path / "a.png", 1), write_image(tmp_path / "b.png", 2)
    gone = tmp_path / "gone"
    out = tmp_path / "out"
    result, message = invoke(
        *["apply", "-m", model_file, "-", "--base", tmp_path, "-o", out, "-j", "1"],
        input=f"{a}\r\n{gone}\r\n{b}\r\n",
    )
    assert result.exit_code == 1, message
    assert result.stderr.splitlines() == [f"error: {gone}: no such file", "2 done, 0 skipped, 1 failed"], (
        message
    )
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]


def test_one_file_to_one_file_and_its_refusals(model_file, tmp_path):
    src, dst = write_image(tmp_path / "a.png", 1), tmp_path / "a-look.jpg"
    result, message = invoke(*["apply", "-m", model_file, src, "-o", dst, "-q"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", ""), message
    with Image.open(dst) as im:
        assert im.format == "JPEG" and im.size == (64, 48)

    result, message = invoke(*["apply", "-m", model_file, src, "-o", dst])
    assert result.exit_code == 1, message
    assert f"error: {src} -> {dst}: exists (use --force or --skip-existing)" in result.stderr, message
    assert len(result.stderr.splitlines()) == 1, message  # one file: the error line, no summary
    result, message = invoke(*["apply", "-m", model_file, src, "-o", dst, "--force"])
    assert result.exit_code == 0, message

    result, message = invoke(*["apply", "-m", model_file, src, "-o", src, "--force"])
    assert result.exit_code == 1, message
    assert "the output is an input file; refusing to overwrite it" in result.stderr, message
    assert np.array_equal(np.asarray(open_image(src)), colour_field(64, 48, 1))


def test_missing_input_fails_but_the_batch_goes_on(model_file, tmp_path):
    good = write_image(tmp_path / "good.png", 1)
    missing = tmp_path / "missing.png"
    result, message = invoke(*["apply", "-m", model_file, missing, good, "-o", tmp_path / "out", "-j", "1"])
    assert result.exit_code == 1, message
    assert result.stderr.splitlines() == [f"error: {missing}: no such file", "1 done, 0 skipped, 1 failed"]
    assert (tmp_path / "out" / "good.png").is_file()


def test_one_file_into_a_folder_made_for_it_when_the_output_ends_with_a_slash(model_file, tmp_path):
    a = write_image(tmp_path / "a.png", 1)
    result, message = invoke(*["apply", "-m", model_file, a, "-o", f"{tmp_path / 'new'}/", "-q"])
    assert result.exit_code == 0, message
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["a.png"]
    result, message = invoke(
        *["apply", "-m", model_file, a, "-o", f"{tmp_path / 'other'}/", "--suffix", "-x"]
    )
    assert result.exit_code == 0, message
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["a-x.png"]


def test_transparency_dropped_by_a_jpeg_output_is_warned_of(model_file, tmp_path):
    rgba = np.dstack([colour_field(64, 48, 1), np.full((48, 64), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "see-through.png")
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    for name, output, warned in [
        ("see-through.png", "a.jpg", True),
        ("opaque.png", "b.jpg", False),
        ("see-through.png", "c.png", False),
    ]:
        result, message = invoke(*["apply", "-m", model_file, tmp_path / name, "-o", tmp_path / output])
        assert result.exit_code == 0, message
        assert ("transparency was dropped" in result.stderr) == warned, message


def test_a_file_given_as_the_output_folder_is_a_usage_error_with_or_without_a_slash(model_file, tmp_path):
    a, b = write_image(tmp_path / "a.png", 1), write_image(tmp_path / "b.png", 2)
    (tmp_path / "file").write_text("keep")
    for output in (tmp_path / "file", f"{tmp_path / 'file'}/"):
        result, message = invoke(*["apply", "-m", model_file, a, b, "-o", output])
        assert result.exit_code == 2 and "is a file, but several inputs" in result.stderr, message
    assert (tmp_path / "file").read_text() == "keep"


def test_input_files_keep_their_layout_under_base_as_xargs_passes_them(model_file, tmp_path):
    # find photos -print0 | xargs -0 -n 1 nnfilter apply --base photos -o out/: two a.png, no clash.
    photos = tmp_path / "photos"
    first, second = write_image(photos / "2023" / "a.png", 1), write_image(photos / "2024" / "a.png", 2)
    out = tmp_path / "out"
    for photo in (first, second):
        result, message = invoke(*["apply", "-m", model_file, photo, "--base", photos, "-o", f"{out}/", "-q"])
        assert result.exit_code == 0, message
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["2023/a.png", "2024/a.png"]
    result, message = invoke(*["apply", "-m", model_file, tmp_path / "photos" / "2023" / "a.png",
                               "--base", photos / "2024", "-o", out])  # fmt: skip
    assert result.exit_code == 1 and "not under" in result.stderr, message
    result, message = invoke(*["apply", "-m", model_file, first, "--base", photos, "-o", first.parent])
    assert result.exit_code == 1 and f"{first}: in the output folder" in result.stderr, message


def test_suffix_without_output_writes_beside_the_inputs(model_file, tmp_path):
    a = write_image(tmp_path / "a.png", 1)
    result, message = invoke(*["apply", "-m", model_file, a, "--suffix", "-look", "--format", "webp", "-q"])
    assert result.exit_code == 0, message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-look.webp", "a.png"]


def test_a_folder_filtered_again_beside_its_inputs_does_not_filter_its_outputs(model_file, tmp_path):
    photos = tmp_path / "photos"
    write_image(photos / "a.png", 1), write_image(photos / "b.png", 2)
    first, message = invoke(*["apply", "-m", model_file, photos, "--suffix", "-x", "-j", "1"])
    assert first.exit_code == 0, message
    again, message = invoke(*["apply", "-m", model_file, photos, "--suffix", "-x", "--skip-existing", "-v"])
    assert again.exit_code == 0, message
    assert sorted(p.name for p in photos.iterdir()) == ["a-x.png", "a.png", "b-x.png", "b.png"]
    assert f"skipped: {photos / 'a-x.png'}: the output of {photos / 'a.png'}" in again.stderr, message
    forced, message = invoke(*["apply", "-m", model_file, photos, "--suffix", "-x", "--force"])
    assert forced.exit_code == 1, message  # an earlier output may be a photo: never overwritten
    assert f"{photos / 'a.png'} -> {photos / 'a-x.png'}: the output is an input file" in forced.stderr


def test_bad_model_is_an_error_not_a_usage_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    src = write_image(tmp_path / "a.png", 1)
    result, message = invoke(*["apply", "-m", bad, src, "-o", tmp_path / "o.png"])
    assert result.exit_code == 1 and result.stderr.startswith("Error: "), message
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    "args, error",
    [
        ([], "no INPUT given"),
        (["{a}"], "give -o"),
        (["{a}", "{b}", "-o", "{a}"], "is a file, but several inputs"),
        (["{a}", "-o", "{tmp}/x.png", "--suffix", "-x"], "names the output file"),
        (["{a}", "-o", "{tmp}/out", "--force", "--skip-existing"], "exclude each other"),
        (["{a}", "-o", "{tmp}/out", "-0"], "-0 is for the list read from stdin"),
        (["-", "-", "-o", "{tmp}/out"], "only once"),
        (["{a}", "-o", "{tmp}/out/", "--suffix", "x/y"], "folder separator"),
        (["{a}", "-o", "{tmp}/out/", "--jobs", "0"], "--jobs"),
        (["{a}", "-o", "{tmp}/out/", "--format", "gif"], "--format"),
    ],
)
def test_usage_errors_exit_2(model_file, tmp_path, args, error):
    a, b = write_image(tmp_path / "a.png", 1), write_image(tmp_path / "b.png", 2)
    args = [arg.format(a=a, b=b, tmp=tmp_path) for arg in args]
    result, message = invoke(*["apply", "-m", model_file, *args])
    assert result.exit_code == 2, message
    assert error in result.stderr and result.stdout == "", message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]


def test_help_documents_the_exit_codes():
    result, message = invoke(*["apply", "--help"])
    assert result.exit_code == 0, message
    text = " ".join(result.stdout.split())
    assert "0 all done" in text and "1 some inputs failed" in text and "2 usage error" in text
    assert "130 interrupted" in text


# --- planning (no model, no filtering) -----------------------------------------------------------------


def test_output_name():
    assert output_name(Path("x/a.jpg")) == "a.jpg"
    assert output_name(Path("a.jpg"), "-look") == "a-look.jpg"
    assert output_name(Path("a.JPG"), "", ".png") == "a.png"


def test_plan_keeps_the_layout_and_skips_what_is_not_an_image(tmp_path):
    make_tree(tmp_path)
    photos, out = tmp_path / "photos", tmp_path / "out"
    plan = plan_batch([photos], out, recursive=True)
    assert [(j.src.relative_to(photos), j.dst.relative_to(out)) for j in plan.jobs] == [
        (Path(p), Path(p)) for p in ["a.jpg", "b.png", "sub/bad.jpg", "sub/c.jpg", "sub/deep/d.png"]
    ]
    assert plan.skipped == [Problem(photos / "notes.txt", f"{photos / 'notes.txt'}: not an image file")]
    assert plan.failed == [] and plan.ignored_folders == 0

    flat = plan_batch([photos], out)
    assert [j.src.name for j in flat.jobs] == ["a.jpg", "b.png"] and flat.ignored_folders == 1


def test_plan_never_enters_the_output_folder_inside_the_input(tmp_path):
    write_image(tmp_path / "a.png", 1)
    write_image(tmp_path / "out" / "a.png", 2)  # a previous run's output
    plan = plan_batch([tmp_path], tmp_path / "out", recursive=True, existing="skip")
    assert [j.src for j in plan.jobs] == [] and [p.path for p in plan.skipped] == [tmp_path / "a.png"]


def test_plan_refuses_two_inputs_for_one_output_and_outputs_that_are_inputs(tmp_path):
    a_jpg, a_png = write_image(tmp_path / "a.jpg", 1), write_image(tmp_path / "b" / "a.png", 2)
    plan = plan_batch([a_jpg, a_png], tmp_path / "out", format="png")
    assert plan.jobs == [Job(a_jpg, tmp_path / "out" / "a.png")]
    assert plan.failed == [Problem(a_png, f"{a_png} -> {tmp_path / 'out' / 'a.png'}: same output as {a_jpg}")]

    # Even with --force: a.jpg would become b/a.png, which is the other input; b/a.png itself.
    into_inputs = plan_batch([a_jpg, a_png], tmp_path / "b", format="png", existing="overwrite")
    assert into_inputs.jobs == []
    assert [p.path for p in into_inputs.failed] == [a_jpg, a_png]
    for problem in into_inputs.failed:
        assert problem.message.endswith("the output is an input file; refusing to overwrite it")


def test_plan_existing_outputs_refuse_skip_or_overwrite(tmp_path):
    a = write_image(tmp_path / "a.png", 1)
    write_image(tmp_path / "out" / "a.png", 2)
    refused = plan_batch([a], tmp_path / "out")
    assert refused.jobs == [] and refused.failed == [
        Problem(a, f"{a} -> {tmp_path / 'out' / 'a.png'}: exists", "exists")
    ]
    assert plan_batch([a], tmp_path / "out", existing="skip").skipped[0].path == a
    overwrite = plan_batch([a], tmp_path / "out", existing="overwrite")
    assert overwrite.jobs == [Job(a, tmp_path / "out" / "a.png")]


def test_plan_listed_paths_are_relative_to_base(tmp_path, model_file):
    a, gif = write_image(tmp_path / "in" / "x" / "a.png", 1), write_image(tmp_path / "in" / "g.gif", 2)
    outside = write_image(tmp_path / "elsewhere.png", 3)
    plan = plan_batch([], tmp_path / "out", listed=[tmp_path / "in", a, gif, outside], base=tmp_path / "in")
    assert plan.jobs == [Job(a, tmp_path / "out" / "x" / "a.png")]
    assert [(p.path, p.kind) for p in plan.failed] == [(outside, "outside_base"), (gif, "extension")]
    assert plan.failed[0].message == f"{outside}: not under {tmp_path / 'in'}"
    assert plan.failed[1].message == f"{gif}: cannot write '.gif' files"

    out = tmp_path / "out"
    listing = "\n".join(map(str, [a, gif, outside]))
    result, message = invoke(
        "apply", "-m", model_file, "-", "--base", tmp_path / "in", "-o", out, input=listing
    )
    assert result.exit_code == 1, message
    assert (
        f"error: {outside}: not under {tmp_path / 'in'} (paths keep their layout relative to --base)"
        in result.stderr
    ), message
    assert (
        f"error: {gif}: cannot write '.gif' files; use --format (jpeg, jpg, png, tif, tiff, webp)"
        in result.stderr
    ), message


def test_report_summary_and_return_code():
    jobs = [Job(Path(f"{i}.jpg"), Path(f"out/{i}.jpg")) for i in range(9)]
    plan = Plan(jobs=jobs, skipped=[Problem(Path("n.txt"), "n.txt: not an image file")])
    plan.failed.append(Problem(Path("r.jpg"), "r.jpg -> out/r.jpg: exists", "exists"))
    report = Report.from_plan(plan)
    assert (report.summary(), report.return_code) == ("0 done, 1 skipped, 1 failed", 1)
    report = Report.from_plan(Plan(jobs=jobs, skipped=plan.skipped))
    report.add(Outcome(jobs[0], megapixels=2.0))
    assert (report.summary(), report.return_code, report.megapixels) == (
        "1 done, 1 skipped, 0 failed",
        0,
        2.0,
    )
    report.add(Outcome(jobs[1], error="1.jpg: truncated"))
    assert report.return_code == 1
    report.interrupted = True
    assert report.summary() == "interrupted: 1 done, 1 skipped, 1 failed, 7 not processed"
    assert report.return_code == 130


# --- honest folder runs (issue 16) ---------------------------------------------------------------------


def make_messy_folder(root: Path) -> Path:
    """A photo folder as copied from a card: one photo, a failed copy, text named .png, sidecars,
    and the output folder of an earlier run inside it."""
    photos = root / "photos"
    write_image(photos / "IMG_0001.png", 1)
    (photos / "IMG_0042.jpg").write_bytes(b"")
    (photos / "notes.png").write_text("not a photo\n")
    (photos / "IMG_0001.xmp").write_text("<x:xmpmeta/>\n")
    (photos / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (photos / "._IMG_0001.png").write_bytes(b"\0\5\26\7")  # macOS AppleDouble
    write_image(photos / "out" / "IMG_0001.png", 2)
    return photos


def test_files_named_as_images_that_are_not_fail_and_sidecars_are_skipped(model_file, tmp_path):
    photos = make_messy_folder(tmp_path)
    out = photos / "out"
    result, info = invoke("apply", "-m", model_file, "-r", photos, "-o", out, "--force", "-v", "-j", 1)
    assert result.exit_code == 1, info
    lines = result.stderr.splitlines()
    assert f"error: {photos / 'IMG_0042.jpg'}: empty file (0 bytes)" in lines, info
    assert f"error: {photos / 'notes.png'}: not an image (no format Pillow reads)" in lines, info
    for name in ("IMG_0001.xmp", ".DS_Store"):
        assert f"skipped: {photos / name}: not an image file" in lines, info
    assert f"skipped: {photos / '._IMG_0001.png'}: macOS metadata file (AppleDouble)" in lines, info
    assert lines[-1] == "1 done, 3 skipped, 2 failed", info
    assert sorted(p.name for p in out.iterdir()) == ["IMG_0001.png"]  # out/ itself was not an input

    quiet = subprocess.run(
        [NNFILTER, "apply", "-m", model_file, photos, "-o", out, "--force"],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    assert quiet.returncode == 1, quiet.stderr
    assert quiet.stderr.splitlines() == [
        f"error: {photos / 'IMG_0042.jpg'}: empty file (0 bytes)",
        f"error: {photos / 'notes.png'}: not an image (no format Pillow reads)",
        "note: 1 subfolder(s) not entered (use --recursive)",
        "1 done, 3 skipped, 2 failed",
    ]


def test_plan_refuses_what_is_named_as_an_image_but_is_not(tmp_path):
    photos = make_messy_folder(tmp_path)
    plan = plan_batch([], photos / "out", listed=sorted(photos.iterdir()), base=photos, existing="overwrite")
    assert [j.src.name for j in plan.jobs] == ["IMG_0001.png"]
    assert [p.path.name for p in plan.failed] == ["IMG_0042.jpg", "notes.png"]
    assert sorted(p.path.name for p in plan.skipped) == [".DS_Store", "._IMG_0001.png", "IMG_0001.xmp"]
