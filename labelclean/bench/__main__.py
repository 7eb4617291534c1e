"""``python -m labelclean.bench``: the benchmarks' command line (:mod:`labelclean.bench.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
