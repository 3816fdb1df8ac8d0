"""Data for ``benchmarks.realworld``: looks made by people and real photos, fetched and cached.

Nothing here is committed: the packages are fetched with the ordinary clients (``apt-get download``,
``pip``) into ``benchmarks/work/realworld/`` (git-ignored), and everything made from them is cached
there too. See benchmarks/README.md for the sources and their licences.

- digiKam's colour LUTs (Debian package ``digikam-data``): nine 16³ tables, each a 256×16 PNG strip
  of 16 tiles of 16×16 side by side. Tile t is blue level t, and within a tile x is the red level
  and y the green level (as digiKam's ``Lut3DFilter`` reads them: table index r + 16 b + 256 g).
- The global (per-pixel) filters of pilgram (PyPI), kept by a test, see ``is_global``.
- Real photos: the nature photos of Debian's ``mate-backgrounds`` and the sample photos of this
  repository, downscaled to about 1 MP.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "benchmarks" / "work" / "realworld"
SAMPLES = ROOT / "sample_images"

#: digiKam's 16³ LUT strips (not the Hald CLUTs beside them: original, summer, tokyo).
DIGIKAM_LUTS = (
    "bleach",
    "blue_crush",
    "bw_contrast",
    "instant",
    "punch",
    "vintage",
    "washout",
    "washout_color",
    "x_process",
)
DIGIKAM_LUT_DIR = "usr/share/digikam/data/lut3d"

#: The photos of mate-backgrounds' nature folder: all real photos (the abstract and desktop folders
#: hold drawings, a painting and a logo, which are left out).
MATE_PHOTOS = (
    "Aqua",
    "Blinds",
    "Dune",
    "FreshFlower",
    "Garden",
    "GreenMeadow",
    "LadyBird",
    "RainDrops",
    "Storm",
    "TwoWings",
    "Wood",
    "YellowFlower",
)
MATE_PHOTO_DIR = "usr/share/backgrounds/mate/nature"
#: The photos of sample_images/ (not after.jpg, which is an edited photo).
SAMPLE_PHOTOS = ("before", "test1", "test2", "test3", "test4")

PHOTO_PIXELS = 1_000_000
GLOBAL_TOLERANCE = 1  # levels: a filter is global if context changes no output by more

RGB = Callable[[np.ndarray], np.ndarray]


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Debian packages ----------------------------------------------------------------------------------


def debian_package(name: str) -> Path:
    """The files of a Debian package, downloaded with ``apt-get download`` and extracted once."""
    target = CACHE / "debs" / name
    if (target / ".complete").exists():
        return target
    log(f"fetching Debian package {name}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", name], cwd=tmp, check=True, capture_output=True)
        (deb,) = Path(tmp).glob("*.deb")
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
        (target / ".complete").write_text(deb.name + "\n")
    return target


def package_version(name: str) -> str:
    """The .deb file name a package was extracted from (name, version, architecture)."""
    return (debian_package(name) / ".complete").read_text().strip()


# --- looks --------------------------------------------------------------------------------------------


def read_lut_strip(path: Path) -> np.ndarray:
    """A digiKam 16³ LUT strip (256×16 PNG) as a float64 table indexed [red, green, blue] → RGB 0-255."""
    with Image.open(path) as image:
        strip = np.asarray(image.convert("RGB"), dtype=np.float64)
    n = strip.shape[0]
    if strip.shape != (n, n * n, 3):
        raise ValueError(f"{path}: expected a {n * n}x{n} strip, got {strip.shape[1]}x{strip.shape[0]}")
    # strip[g, b * n + r] -> table[r, g, b]
    return strip.reshape(n, n, n, 3).transpose(2, 0, 1, 3)


def apply_lut(table: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) through a 3D table, trilinear in float64, rounded to uint8.

    Level 0 maps to the first node and 255 to the last (digiKam itself scales by (n - 1) / 256 and
    truncates, a slightly different function; this one is the look the benchmark defines).
    """
    n = table.shape[0]
    x = rgb.astype(np.float64) * ((n - 1) / 255)
    low = np.minimum(np.floor(x).astype(np.intp), n - 2)
    frac = x - low
    out = np.zeros(rgb.shape, dtype=np.float64)
    for corner in np.ndindex(2, 2, 2):
        weight = np.ones(rgb.shape[:-1], dtype=np.float64)
        for c, step in enumerate(corner):
            weight *= frac[..., c] if step else 1 - frac[..., c]
        r, g, b = (low[..., c] + step for c, step in enumerate(corner))
        out += weight[..., None] * table[r, g, b]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def digikam_look(name: str) -> RGB:
    """digiKam's LUT ``name`` as a function on uint8 RGB arrays (..., 3)."""
    table = read_lut_strip(debian_package("digikam-data") / DIGIKAM_LUT_DIR / f"{name}.png")
    return lambda rgb: apply_lut(table, rgb)


def pilgram_filter(name: str) -> Callable[[Image.Image], Image.Image]:
    """pilgram's filter ``name`` ('1977' is pilgram's ``_1977``)."""
    import pilgram

    return getattr(pilgram, "_1977" if name == "1977" else name)


def pilgram_look(name: str) -> RGB:
    """pilgram's filter as a function on uint8 RGB images (h, w, 3)."""
    filt = pilgram_filter(name)
    return lambda rgb: np.asarray(filt(Image.fromarray(rgb, "RGB")).convert("RGB"))


def is_global(filt: Callable[[Image.Image], Image.Image], photo: np.ndarray, seed: int = 0) -> int:
    """How far (in levels, max over pixels and channels) a filter's output on a photo moves when the
    photo's pixels are shuffled among 64 rows of random colours: 0 for a per-pixel colour map.

    The shuffle catches vignettes and gradients (position) and neighbourhood filters; the random
    colours catch a dependence on whole-image statistics (a shuffle alone keeps those).
    """
    rng = np.random.default_rng(seed)
    h, w, _ = photo.shape
    extra = rng.integers(0, 256, (64 * w, 3), dtype=np.uint8)
    pixels = np.concatenate([photo.reshape(-1, 3), extra])
    order = rng.permutation(len(pixels))
    mixed = pixels[order].reshape(h + 64, w, 3)
    out_mixed = np.asarray(filt(Image.fromarray(mixed, "RGB")).convert("RGB")).reshape(-1, 3)
    unshuffled = np.empty_like(out_mixed)
    unshuffled[order] = out_mixed
    direct = np.asarray(filt(Image.fromarray(photo, "RGB")).convert("RGB")).reshape(-1, 3)
    return int(np.abs(direct.astype(np.int16) - unshuffled[: h * w]).max())


def pilgram_verdicts(photo_name: str = "LadyBird") -> dict[str, int]:
    """For every pilgram filter, ``is_global``'s figure on one photo; cached per pilgram version."""
    import pilgram

    path = CACHE / "pilgram-global.json"
    key = f"pilgram {pilgram.__version__}, photo {photo_name}, tolerance {GLOBAL_TOLERANCE}"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return cached["max_diff"]
    log(f"testing which pilgram {pilgram.__version__} filters are global")
    photo = read_photo(photo_paths()[photo_name])
    names = [n.lstrip("_") for n in pilgram.__all__ if not n.startswith("__")]
    verdicts = {name: is_global(pilgram_filter(name), photo) for name in names}
    path.write_text(json.dumps({"key": key, "max_diff": verdicts}, indent=1) + "\n")
    return verdicts


def look_names() -> list[str]:
    """Every look: 'dk-NAME' for digiKam's LUTs, 'pg-NAME' for pilgram's global filters (fetching
    digiKam's package here, once, rather than in worker processes at the same time)."""
    debian_package("digikam-data")
    kept = [name for name, diff in pilgram_verdicts().items() if diff <= GLOBAL_TOLERANCE]
    return [f"dk-{n}" for n in DIGIKAM_LUTS] + [f"pg-{n}" for n in kept]


def look_function(name: str) -> RGB:
    """The exact look named as ``look_names`` names it, on uint8 RGB images (h, w, 3)."""
    kind, _, base = name.partition("-")
    if kind == "dk" and base in DIGIKAM_LUTS:
        return digikam_look(base)
    if kind == "pg":
        return pilgram_look(base)
    raise ValueError(f"unknown look {name!r}")


# --- photos -------------------------------------------------------------------------------------------


def downscaled(image: Image.Image, pixels: int = PHOTO_PIXELS) -> Image.Image:
    """An RGB image Lanczos-downscaled to about ``pixels`` (kept as it is if not larger)."""
    image = image.convert("RGB")
    scale = (pixels / (image.width * image.height)) ** 0.5
    if scale >= 1:
        return image
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def photo_paths() -> dict[str, Path]:
    """Every photo of the set, by name, as a cached ~1 MP PNG (made on first use)."""
    sources = {name: SAMPLES / f"{name}.jpg" for name in SAMPLE_PHOTOS}
    folder = None
    paths = {}
    for name in (*MATE_PHOTOS, *SAMPLE_PHOTOS):
        path = CACHE / "photos" / f"{name}.png"
        if not path.exists():
            if name not in sources:
                folder = folder or debian_package("mate-backgrounds") / MATE_PHOTO_DIR
                sources[name] = folder / f"{name}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(sources[name]) as image:
                downscaled(image).save(path)
        paths[name] = path
    return paths


def read_photo(path: Path) -> np.ndarray:
    """A photo as a uint8 RGB array (h, w, 3)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
