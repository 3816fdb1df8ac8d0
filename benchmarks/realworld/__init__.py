"""How right a learned look is on real photos it was not trained on, with looks made by people.

    python -m benchmarks.realworld            all peers, JPEG and lossless AFTERs, one and three pairs
    python -m benchmarks.realworld --quick    nnfilter with JPEG AFTERs and one pair only (a few minutes)
    python -m benchmarks.realworld --sizes    also nnfilter with --hidden 32,32 and 64,64 (slow)

    --looks dk-punch,pg-lark   --peers gmic,sklearn,affine,baseline | all | none   --json PATH
    --workers 2   and every TrainConfig field as an option: --hidden 32,32 --epochs 50 --no-residual ...

Looks: digiKam's nine 16³ colour LUTs and the global (per-pixel) Instagram-style filters of pilgram.
Photos: the 12 nature photos of Debian's mate-backgrounds and the 5 sample photos, ~1 MP each. See
``benchmarks.realworld.data`` (which fetches and caches them) and benchmarks/README.md.

Each look is learnt from one photo and its exact look saved as a JPEG (quality 90, 4:2:0) and read
back ("JPEG"), or kept exact ("lossless"), for each of the training photos in ``TRAINING`` (the
coffee cup's narrow warm colours among them); and from the three pairs at once ("three pairs"). The
learnt look is applied to every photo of the set it was not trained on and compared with that
photo's exact look: mean and 99th percentile of CIEDE2000 over the pixels, and the share of pixels
in colours the training pairs never showed (``Look.unseen_share``). Peers learn from the same
BEFORE / JPEG AFTER pair and are scored alike: G'MIC's CLUT from a before/after pair, scikit-learn's
MLPRegressor, a 3×4 affine least-squares fit, and this project's defaults at ``BASELINE_COMMIT``.

Every method here is a per-pixel colour map, so each is applied to the photos' distinct colours
and the figures weigh colours by their pixel counts: the same numbers as over the pixels, at a
fraction of the cost. Markdown tables go to stdout (and benchmarks/work/realworld/last_run.md),
progress to stderr.

The modules: ``data`` (fetching and caching the looks and photos), ``photos`` (a photo's distinct
colours and their scores), ``plan`` (the steps of a run, the options), ``methods`` (nnfilter and its
peers, each learning from the pairs and mapping colours), ``worker`` (one look in a worker process,
and the pool), ``tables`` and ``targets`` (the report's Markdown), ``provenance`` (the commit, the
code's digest, the tools' versions), ``__main__`` (the order of it all) and ``distance`` (a
study of its own: the error by distance from the training photo's colours).
"""
