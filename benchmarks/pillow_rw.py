"""The floor for `nnfilter apply`: a Python process that only reads and writes images with Pillow.

    python benchmarks/pillow_rw.py IN.jpg OUT.jpg          one file
    python benchmarks/pillow_rw.py --dir IN_DIR OUT_DIR    every file of a folder, in one process

Writes JPEG as nnfilter does by default (nnfilter/images.py ``save_image``): quality 95, and at
quality >= 90 full chroma resolution (subsampling 0, 4:4:4). No EXIF/ICC copying, no temporary
file, no fsync: this is the least a read-and-write can cost.

Imports only Pillow (not numpy, not nnfilter), so its start-up is the plain interpreter's plus Pillow's.
"""

import os
import sys

from PIL import Image

QUALITY = 95
SUBSAMPLING = 0  # 4:4:4, as nnfilter writes JPEG at quality >= 90


def read_write(src: str, dst: str) -> None:
    with Image.open(src) as image:
        image.save(dst, quality=QUALITY, subsampling=SUBSAMPLING)


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[0] == "--dir":
        src_dir, dst_dir = argv[1], argv[2]
        os.makedirs(dst_dir, exist_ok=True)
        for name in sorted(os.listdir(src_dir)):
            read_write(os.path.join(src_dir, name), os.path.join(dst_dir, name))
    elif len(argv) == 2:
        read_write(argv[0], argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
