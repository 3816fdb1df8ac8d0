"""The naive baseline: the network in float64 on every pixel of an image at once (no LUT, no chunks).

    python benchmarks/naive_forward.py MODEL.npz IN.jpg OUT.jpg

Reads IN with Pillow, runs the model's network (its weights cast to float64) over all pixels as one
(n_pixels, 4) matrix, writes OUT as nnfilter would (JPEG quality 95, 4:4:4) and prints the seconds
of each step as JSON. Peak memory is measured from outside (``/usr/bin/time -v``).
"""

import json
import sys
import time

import numpy as np
from PIL import Image

from nnfilter import Look
from nnfilter.model import MLP, predict
from nnfilter.prior import Prior


def as_float64(model: MLP) -> MLP:
    return MLP(
        [w.astype(np.float64) for w in model.weights],
        [b.astype(np.float64) for b in model.biases],
        model.activation,
        None if model.skip is None else model.skip.astype(np.float64),
        None if model.prior is None else Prior(*(a.astype(np.float64) for a in model.prior)),
    )


def main(model_path: str, src: str, dst: str) -> None:
    times = {}
    start = time.perf_counter()
    model = as_float64(Look.load(model_path).model)
    with Image.open(src) as image:
        rgb = np.asarray(image.convert("RGB"))
    times["read_s"] = time.perf_counter() - start

    start = time.perf_counter()
    x = np.ones((rgb.shape[0] * rgb.shape[1], 4))  # float64, alpha 1 (opaque)
    x[:, :3] = rgb.reshape(-1, 3) / 255.0
    y = predict(model, x)  # every pixel through the network, in one go
    out = np.clip(np.rint(y[:, :3] * 255), 0, 255).astype(np.uint8).reshape(rgb.shape)
    times["forward_s"] = time.perf_counter() - start

    start = time.perf_counter()
    Image.fromarray(out).save(dst, quality=95, subsampling=0)
    times["write_s"] = time.perf_counter() - start
    print(json.dumps(times))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
