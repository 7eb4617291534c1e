"""``cifar10`` / ``cifar100``: the paper's Tables 1 and 2, ours next to the published numbers.

  python -m labelclean.bench cifar10 --preset quick --noise sym
  python -m labelclean.bench cifar10 --preset paper --noise all --seeds 5 --device cuda
  python -m labelclean.bench cifar100 --data-dir DIR

Finished (method, noise, seed) runs are kept under --out/runs and not run again.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..device import resolve_device
from .data import DATA_ENV, NUM_CLASSES, DataMissing, data_dir, load_cifar, noisy_labels, open_set
from .methods import METHODS, SGD_NOISE_METHODS
from .presets import PRESETS, Preset
from .report import write_outputs
from .runner import Cell, run_cell

NOISES = {"cifar10": ["sym", "asym", "dependent", "openset"], "cifar100": ["sym", "asym", "dependent"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``cifar10`` or ``cifar100``: the parser's default ``benchmark`` says which."""
    dataset = parser.get_default("benchmark")
    parser.add_argument(
        "--noise",
        nargs="+",
        default=["all"],
        choices=[*NOISES[dataset], "all"],
        help="noise types (default all): " + ", ".join(NOISES[dataset]),
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(METHODS),
        choices=METHODS + SGD_NOISE_METHODS,
        help="methods to run (default: the paper's table); noise-params / noise-logits are\n"
        "Fig. 5's SGD noise on the parameter gradients (Eq. 1) / on dloss/dlogits (Eq. 2)",
    )
    parser.add_argument("--seeds", type=int, default=1, help="runs per cell, seeds 0..N-1 (paper: 5)")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="quick",
        help="paper: Appendix B to the letter (WRN-28-2, 300 epochs; a GPU);\n"
        "quick: a 10,000-image subset and a small CNN sized for a 2-core CPU",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=data_dir(dataset),
        help=f"CIFAR as HF Parquet or torchvision's python files (default ${DATA_ENV}/{dataset})",
    )
    parser.add_argument(
        "--noise-dir",
        type=Path,
        default=None,
        help="the paper's label files {sym,asym,dependent}0.4.csv (default DATA_DIR/noise);\n"
        "sym and asym fall back to seeded generators",
    )
    parser.add_argument(
        "--cifar100-dir",
        type=Path,
        default=data_dir("cifar100"),
        help="CIFAR-100, for open-set noise on CIFAR-10",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="results folder")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument("--subset", type=int, default=None, help="override the preset's training subset")
    parser.add_argument("--verbose", action="store_true", help="progress bars")
    parser.add_argument(
        "--report-only", action="store_true", help="render the table from finished runs, train nothing"
    )


def run(args: argparse.Namespace) -> int:
    dataset = args.benchmark
    preset = PRESETS[args.preset]
    if args.subset is not None:
        preset = replace(preset, train_subset=args.subset)
    noises = NOISES[dataset] if "all" in args.noise else args.noise
    results = (
        finished_runs(args, noises, preset.name) if args.report_only else train_cells(args, noises, preset)
    )
    stem = args.out / f"{dataset}_{preset.name}"
    print(write_outputs(results, dataset, noises, stem, preset.describe(args.epochs)))
    return 0


def finished_runs(args: argparse.Namespace, noises: list[str], preset_name: str) -> list[dict[str, Any]]:
    """The kept runs of the requested methods, noises and seeds, in table order."""
    kept = sorted((args.out / "runs").glob(f"{args.benchmark}_{preset_name}_*.json"))
    runs = [json.loads(p.read_text()) for p in kept]
    results = [
        r for r in runs if r["method"] in args.methods and r["noise"] in noises and r["seed"] < args.seeds
    ]
    if not results:
        raise DataMissing(f"no finished runs under {args.out / 'runs'}")
    results.sort(key=lambda r: (noises.index(r["noise"]), r["seed"], args.methods.index(r["method"])))
    return results


def train_cells(args: argparse.Namespace, noises: list[str], preset: Preset) -> list[dict[str, Any]]:
    """Every (noise, seed, method) cell, trained or read back from its kept run."""
    dataset = args.benchmark
    device = resolve_device(args.device)
    train, test = load_cifar(dataset, args.data_dir)
    if preset.train_subset:
        train.images, train.labels = train.images[: preset.train_subset], train.labels[: preset.train_subset]
    noise_dir = args.noise_dir if args.noise_dir is not None else args.data_dir / "noise"
    results = []
    for noise in noises:
        for seed in range(args.seeds):
            if noise == "openset":
                cifar100_train, _ = load_cifar("cifar100", args.cifar100_dir, download=False)
                cell_train, flipped = open_set(train, cifar100_train, seed)
                noisy = cell_train.labels
            else:
                cell_train, flipped = train, None
                noisy = noisy_labels(train.labels, noise, NUM_CLASSES[dataset], seed, noise_dir)
            for method in args.methods:
                cell = Cell(
                    dataset=dataset, method=method, noise=noise, seed=seed, preset=preset, train=cell_train,
                    noisy=noisy, test=test, epochs=args.epochs, flipped=flipped,
                )  # fmt: skip
                result = run_cell(cell, device, args.out, verbose=args.verbose)
                print(
                    f"{method:>10} {noise:>9} seed {seed}: test accuracy {100 * result['final_test_acc']:.2f}% "
                    f"(peak {100 * result['peak_test_acc']:.2f}%), {result['seconds'] / 60:.1f} min",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(result)
    return results
