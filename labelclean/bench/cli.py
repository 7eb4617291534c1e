"""python -m labelclean.bench BENCHMARK ...: the paper's tables, scale and speed checks.

Each benchmark is a module of this package with ``add_arguments(parser)`` and
``run(args) -> int``; results go to --out as Markdown and JSON (report.write_table).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .data import DataMissing

# name: (module of labelclean.bench, one-line help). cifar10 and cifar100 share a module,
# which reads the parser's default ``benchmark`` to know which table it serves.
BENCHMARKS = {
    "cifar10": ("cifar", "Table 1 of the paper"),
    "cifar100": ("cifar", "Table 2 of the paper"),
    "clothing1m": ("clothing1m", "Table 3 of the paper (ResNet-50, 10 epochs)"),
    "detect": ("detect", "finding wrong labels: one SLNCleaner run vs cleanlab with K-fold CV"),
    "decisions": ("decisions", "flags, corrections and noise rates on every kind of data, beside cleanlab"),
    "throughput": ("throughput", "training images/s: labelclean's loop vs a per-sample DataLoader loop"),
    "gpu": ("gpu", "the one-shot GPU check (under 8 minutes on one H100): speed, memory, accuracy"),
    "memory": ("memory", "peak RSS of fit on the 50,000 CIFAR-10 training images, on the CPU"),
    "index": ("index", "index a synthetic 1,000,000-entry image folder and write its audit"),
    "app": ("app", "the review app: read a 1,000,000-row audit; --browser: page and click times in Chromium"),
    "review": ("review", "wrong labels left after N simulated reviews and a second fit, by review order"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m labelclean.bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="benchmark", required=True)
    for name, (module_name, help_line) in BENCHMARKS.items():
        module = importlib.import_module(f"{__package__}.{module_name}")
        command = sub.add_parser(
            name, help=help_line, description=module.__doc__, formatter_class=argparse.RawTextHelpFormatter
        )
        command.set_defaults(benchmark=name, run=module.run)
        module.add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except DataMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
