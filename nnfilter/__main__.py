"""The `nnfilter` command, and `python -m nnfilter`."""

import sys

from .errors import EXIT_INTERRUPTED


def run() -> None:
    """Start the command line; a Ctrl-C while it loads ends it quietly with exit code 130."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    main()


if __name__ == "__main__":
    run()
