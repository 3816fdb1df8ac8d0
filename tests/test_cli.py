"""The short form of the README, through the installed `nnfilter` command: train to the default
model path, apply from it."""

import os
import subprocess
import sys

import numpy as np
from conftest import HANG_GUARD_SECONDS, NNFILTER, assert_image_similar, gamma, open_terminal, read_until
from PIL import Image


def run(*args, env):
    done = subprocess.run([str(NNFILTER), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)  # fmt: skip
    return done, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"


def test_train_and_apply_with_the_default_model_path(pair_files, tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("NNFILTER_MODEL", None)
    default = tmp_path / "data" / "nnfilter" / "default.npz"

    done, info = run("apply", pair_files["photo"], "-o", tmp_path / "none.png", env=env)
    assert done.returncode == 1 and "train one first" in done.stderr, info

    done, info = run("train", pair_files["before"], pair_files["after"], "--epochs", 30, env=env)
    assert done.returncode == 0 and default.exists(), info
    assert done.stderr.startswith(f"saved {default}"), info
    assert done.stdout == "", info

    done, info = run("train", pair_files["before"], pair_files["after"], "--epochs", 30, env=env)
    assert done.returncode == 0 and done.stderr.startswith(f"replaced {default}"), info

    out = tmp_path / "photo-look.png"
    done, info = run("apply", pair_files["photo"], "-o", out, env=env)
    assert done.returncode == 0 and done.stdout == "", info
    photo = np.asarray(Image.open(pair_files["photo"]))
    assert_image_similar(out, gamma(photo), mean=4, what="the learned gamma on another image")


def test_python_m_and_version():
    done = subprocess.run([sys.executable, "-m", "nnfilter", "--version"], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("nnfilter, version "), done.stderr


def test_the_command_line_starts_without_numpy():
    # numpy is slow to import: `apply` reads its photo meanwhile, and --help does without it.
    code = "import sys, nnfilter.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'numpy'))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def run_with_terminal_stderr(*args, env):
    """Run nnfilter with its stderr on a pseudo-terminal, as in an interactive shell."""
    leader, follower = open_terminal()
    with subprocess.Popen([str(NNFILTER), *map(str, args)], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=follower, env=env) as process:  # fmt: skip
        os.close(follower)
        output = read_until(leader, lambda text: False)  # all of it, until the process closes the terminal
        process.wait(timeout=HANG_GUARD_SECONDS)
    os.close(leader)
    return process.returncode, output


def test_progress_bars_on_a_terminal_only(pair_files, tmp_path):
    env = {**os.environ, "NNFILTER_MODEL": str(tmp_path / "look.npz")}
    code, stderr = run_with_terminal_stderr("train", pair_files["before"], pair_files["after"],
                                            "--epochs", 5, env=env)  # fmt: skip
    assert code == 0 and "train: 100%" in stderr and "5/5" in stderr, stderr
    inputs = [pair_files["photo"], pair_files["before"]]
    code, stderr = run_with_terminal_stderr("apply", *inputs, "-o", tmp_path / "out", env=env)
    assert code == 0 and "2/2" in stderr and "MP/s" in stderr, stderr

    done, info = run("apply", *inputs, "-o", tmp_path / "out", "--force", env=env)
    assert done.returncode == 0 and "2/2" not in done.stderr and "%" not in done.stderr, info
