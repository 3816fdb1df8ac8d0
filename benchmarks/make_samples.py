"""Make sample_images/ from photos that ship with scikit-image (public domain or CC0).

Needs scikit-image, which nnfilter itself does not: ``pip install scikit-image``, then
``python -m benchmarks.make_samples`` from the repository root.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from .looks import sample_look

OUT = Path(__file__).resolve().parent.parent / "sample_images"
PHOTOS = {
    "before.jpg": "astronaut",
    "test1.jpg": "coffee",
    "test2.jpg": "chelsea",
    "test3.jpg": "rocket",
    "test4.jpg": "hubble_deep_field",
}


def jpeg(image: Image.Image, quality: int) -> bytes:
    """The image as a JPEG with Pillow's default 4:2:0 chroma subsampling, as cameras write it."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, photo in PHOTOS.items():
        (OUT / name).write_bytes(jpeg(Image.fromarray(getattr(data, photo)()), 92))
    # The edit is made from the decoded before.jpg, as an editor would, then saved as a JPEG again.
    with Image.open(OUT / "before.jpg") as before:
        after = Image.fromarray(sample_look(np.asarray(before.convert("RGB"))))
    (OUT / "after.jpg").write_bytes(jpeg(after, 90))


if __name__ == "__main__":
    main()
