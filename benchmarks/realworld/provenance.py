"""What the figures were measured with: the commit, a digest of nnfilter's files, the tools' versions."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import nnfilter

from .data import ROOT, package_version


def code_version() -> str:
    """The commit, and which files of nnfilter/ had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--", "nnfilter").splitlines()]
    suffix = f", with uncommitted changes: {', '.join(changed)}" if changed else ""
    return f"commit {git('rev-parse', '--short', 'HEAD').strip()}{suffix}"


def code_digest() -> str:
    """A digest of the nnfilter package's files as they are now, to tell whether they change during a run."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted(Path(nnfilter.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:8]


def tool_versions(peers: Sequence[str]) -> str:
    """The versions of the data packages and the peers' tools."""
    import pilgram

    parts = [
        package_version("digikam-data"),
        package_version("mate-backgrounds"),
        f"pilgram {pilgram.__version__}",
    ]
    if "gmic" in peers:
        out = subprocess.run(["gmic", "-version"], capture_output=True, text=True).stdout
        version = re.search(r"Version (\d[\d.]*)", re.sub(r"\x1b\[[\d;]*m", "", out))
        parts.append(f"G'MIC {version.group(1) if version else '?'}")
    if "sklearn" in peers:
        import sklearn

        parts.append(f"scikit-learn {sklearn.__version__}")
    return ", ".join(parts)
