"""The floor for `nnfilter apply`: a Python process that only reads and writes images with Pillow.

    python benchmarks/pillow_rw.py IN.jpg OUT.jpg                          one file
    python benchmarks/pillow_rw.py --dir IN_DIR OUT_DIR                    every file of a folder, in one process
    python benchmarks/pillow_rw.py --dir IN_DIR OUT_DIR --processes N      the same files split over N processes
                                                                           (file k to process k mod N), at once

Writes JPEG as nnfilter does by default (nnfilter/saving.py ``save_image``): quality 95, and at
quality >= 90 full chroma resolution (subsampling 0, 4:4:4). No EXIF/ICC copying, no temporary
file, no fsync: this is the least a read-and-write can cost.

Imports only Pillow (not numpy, not nnfilter), so its start-up is the plain interpreter's plus Pillow's.
"""

import os
import subprocess
import sys

from PIL import Image

QUALITY = 95
SUBSAMPLING = 0  # 4:4:4, as nnfilter writes JPEG at quality >= 90


def read_write(src: str, dst: str) -> None:
    with Image.open(src) as image:
        image.save(dst, quality=QUALITY, subsampling=SUBSAMPLING)


def read_write_folder(src_dir: str, dst_dir: str, part: int = 0, parts: int = 1) -> None:
    os.makedirs(dst_dir, exist_ok=True)
    for name in sorted(os.listdir(src_dir))[part::parts]:
        read_write(os.path.join(src_dir, name), os.path.join(dst_dir, name))


def main(argv: list[str]) -> None:
    if len(argv) == 5 and argv[0] == "--dir" and argv[3] == "--processes":
        n = int(argv[4])
        os.makedirs(argv[2], exist_ok=True)
        children = [
            subprocess.Popen([sys.executable, __file__, "--dir", argv[1], argv[2], "--part", f"{k}/{n}"])
            for k in range(n)
        ]
        if any(child.wait() for child in children):
            sys.exit(1)
    elif len(argv) == 5 and argv[0] == "--dir" and argv[3] == "--part":
        part, parts = (int(x) for x in argv[4].split("/"))
        read_write_folder(argv[1], argv[2], part, parts)
    elif len(argv) == 3 and argv[0] == "--dir":
        read_write_folder(argv[1], argv[2])
    elif len(argv) == 2:
        read_write(argv[0], argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
