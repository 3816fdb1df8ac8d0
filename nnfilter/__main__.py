"""`python -m nnfilter`: the same as the `nnfilter` command."""

from .cli import main

if __name__ == "__main__":
    main()
