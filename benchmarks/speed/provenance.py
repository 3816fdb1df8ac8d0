"""What was measured: the machine, the software, how nnfilter is installed, and the commit."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image, features

from .plan import ROOT


def cpu_model() -> str:
    """The CPU's name, with its family, model and whether it has AVX-512: a VM may name every
    generation alike ("AMD EPYC"), and two such machines differed twofold in speed."""
    try:
        first_cpu = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return platform.processor() or "unknown"
    info = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in first_cpu.splitlines())
    }
    avx512 = "AVX-512" if "avx512f" in info.get("flags", "").split() else "no AVX-512"
    family, model = info.get("cpu family", "?"), info.get("model", "?")
    return f"{info.get('model name', 'unknown')} (family {family}, model {model}, {avx512})"


def machine() -> list[str]:
    try:
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    except (OSError, AttributeError):
        mem_kb = 0
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas_text = f"{blas['name']} {blas['version']}"
    except Exception:
        blas_text = "unknown"
    turbo = features.version("libjpeg_turbo") if features.check("libjpeg_turbo") else "no"
    return [
        f"- machine: `nproc` = {os.cpu_count()}, CPU: {cpu_model()}, RAM: {mem_kb / 2**20:.1f} GiB, "
        f"{platform.system()} {platform.release()}",
        f"- software: Python {platform.python_version()}, numpy {np.__version__} (BLAS: {blas_text}), "
        f"Pillow {Image.__version__} (libjpeg-turbo {turbo})",
    ]


def install_kind() -> str:
    """How the measured `nnfilter` command is installed, and whether it is this checkout's code."""
    outside_checkout = [p for p in sys.path if p and Path(p).resolve() != ROOT]  # not its egg-info
    dist = next(iter(metadata.distributions(name="nnfilter", path=outside_checkout)), None)
    if dist is None:
        return "- nnfilter: not installed (run as `python -m nnfilter` from the checkout)"
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("dir_info", {}).get("editable"):
        return "- nnfilter: an editable install (`pip install -e`), whose import hook adds ~20 ms to each start-up"
    installed = {
        f.name: dist.locate_file(f).read_bytes()
        for f in dist.files or []
        if f.parts[0] == "nnfilter" and f.suffix == ".py"
    }
    checkout = {path.name: path.read_bytes() for path in (ROOT / "nnfilter").glob("*.py")}
    same = installed == checkout
    return "- nnfilter: a regular install (`pip install .`, as users install it)" + (
        "" if same else ", **whose files differ from this checkout's nnfilter/**"
    )


def code_version() -> str:
    """The commit measured, and whether nnfilter/ had uncommitted changes."""

    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=True).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").decode().strip()
        changed = git("diff", "HEAD", "--name-only", "--", "nnfilter").decode().split()
        diff = git("diff", "HEAD", "--", "nnfilter")
    except (OSError, subprocess.CalledProcessError):
        return "- code: unknown (not a git checkout)"
    if not changed:
        return f"- code: commit {commit}"
    return (
        f"- code: commit {commit} with uncommitted changes in {', '.join(changed)} "
        f"(diff {hashlib.sha1(diff).hexdigest()[:8]})"
    )
