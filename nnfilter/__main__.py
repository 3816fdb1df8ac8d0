"""The `nnfilter` command, and `python -m nnfilter`."""

import os
import signal
import sys


def run() -> None:
    """Start the command line."""
    # The maths runs its small matrix products on one thread (threadpoolctl), but OpenBLAS starts
    # a thread per core when numpy is imported, and they spin for a while, taking CPU
    # from decoding the photo. Unless the user asked for threads, it starts none.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # A Ctrl-C while the command line loads, before it has done anything, ends the process as it
    # would any program (the shell says 130); once loaded, the commands own Ctrl-C (cli._Commands).
    python_handler = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if python_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    from .prefetch import prefetch

    prefetched = prefetch(sys.argv[1:])  # `apply`'s one photo decodes while the rest loads
    from .cli import main

    if python_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    main(obj=prefetched)


if __name__ == "__main__":
    run()
