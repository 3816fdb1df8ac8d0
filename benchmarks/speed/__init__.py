"""Speed and memory of nnfilter on real photo sizes (issues 7 and 15), against plain Pillow and baselines.

    python -m benchmarks.speed            full run (~10-15 min on 2 cores), writes benchmarks/RESULTS.md
    python -m benchmarks.speed --quick    fewer runs and files, a smoke test; writes benchmarks/work/speed-quick.md

Run it with the Python of an environment where nnfilter is installed as users install it, e.g.
``python -m venv /tmp/bench && /tmp/bench/bin/pip install . scikit-learn && /tmp/bench/bin/python -m
benchmarks.speed``: an editable install (``pip install -e``) costs every process ~20 ms more to start
(its import hook), and the report says which kind it measured.

Inputs are made once into benchmarks/work/inputs/ (git-ignored) from sample_images/: Lanczos
upscales to 12, 24 and 100 MP with mild noise (photo-like distinct colour counts), saved as
JPEG q92 (4:2:0, as cameras write), and their "after" made with ``benchmarks.looks.colour_grade``
and saved as JPEG q90. Every command is a whole process (start-up included) under
``/usr/bin/time -v`` (wall time and peak RSS); the cases that are compared are interleaved
(A B, B A, ...) because the machine is shared and noisy, and ratios are taken in the same run.

Quality is the mean CIEDE2000 of the model, applied as ``nnfilter apply`` does (its fast path), to a
held-out 2 MP photo (a mosaic of test1-3), against the exact look of that photo. It is computed on the
photo's distinct colours weighted by their pixel counts, which is the same number as per pixel.

The modules: ``plan`` (paths, how many runs), ``inputs`` (making the photos), ``measure`` (running
and timing processes), ``heldout`` (quality on a held-out photo), ``train_cases`` and ``apply_cases``
(the measurements, each a ``report.Section``), ``report`` (Markdown, targets), ``provenance`` (the
machine, the install, the commit) and ``__main__`` (the order of it all).
"""
