"""Command line: ``labelclean demo`` (also ``python -m labelclean demo``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labelclean", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="find flipped labels in scikit-learn's digits, end to end on the CPU",
    )
    demo.add_argument("--out", default="audit.parquet", help="where to write the audit")
    demo.add_argument("--noise", type=float, default=0.2, help="share of labels to flip")
    demo.add_argument("--seed", type=int, default=0, help="seed for the split, flips, training")
    demo.add_argument("--verbose", action="store_true", help="show progress bars")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        run_demo(args.out, noise=args.noise, seed=args.seed, verbose=args.verbose)
    return 0
