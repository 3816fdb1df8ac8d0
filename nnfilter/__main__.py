"""The `nnfilter` command, and `python -m nnfilter`."""

import os
import sys

from .errors import EXIT_INTERRUPTED


def run() -> None:
    """Start the command line; a Ctrl-C while it loads ends it quietly with exit code 130."""
    # The maths runs its small matrix products on one thread (threadpoolctl), but OpenBLAS starts
    # a thread per core when numpy is imported, and they spin for a while: ~0.1 s of CPU taken
    # from decoding the photo. Unless the user asked for threads, it starts none.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        from .cli import main
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    main()


if __name__ == "__main__":
    run()
