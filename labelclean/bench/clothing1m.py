"""``clothing1m``: the paper's Table 3 (ResNet-50, 10 epochs), standard and class-balanced sampling.

python -m labelclean.bench clothing1m --data-dir DIR --weights resnet50-imagenet.pth
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np

from ..data import load_data
from ..device import resolve_device
from ..models import resnet50
from .data import CLOTHING1M_LISTS, Split, clothing1m_transition, load_clothing1m_lists
from .methods import CLOTHING1M_METHODS
from .presets import Preset
from .report import write_outputs
from .runner import Cell, run_cell


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="Clothing1M in its official layout: images/ plus noisy_train / clean_val /\n"
        "clean_test lists ('relative/path label' lines, or *_key_list.txt + *_kv.txt)",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="ImageNet ResNet-50 state dict (.pth); without it: random init, flagged in the results",
    )
    parser.add_argument("--methods", nargs="+", default=list(CLOTHING1M_METHODS), choices=CLOTHING1M_METHODS)
    parser.add_argument(
        "--sampling",
        nargs="+",
        default=["standard", "balanced"],
        choices=["standard", "balanced"],
        help="standard: every noisy image once per epoch; balanced: 18,976 per class per epoch",
    )
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument(
        "--per-class", type=int, default=18_976, help="balanced sampling: images per class per epoch"
    )
    parser.add_argument(
        "--memory-limit-gb",
        type=float,
        default=4.0,
        help="splits whose decoded images would take more stay on disk, decoded batch by batch",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--verbose", action="store_true")


def run(args: argparse.Namespace) -> int:
    lists = load_clothing1m_lists(args.data_dir)
    size = (args.image_size, args.image_size)
    splits = {}
    for split in CLOTHING1M_LISTS:
        loaded = load_data(
            lists[split],
            image_column="path",
            label_column="label",
            image_size=size,
            on_bad_image="skip",
            verbose=args.verbose,
            memory_limit=int(args.memory_limit_gb * 2**30),
        )
        splits[split] = Split(loaded.inputs, np.asarray(loaded.labels, dtype=np.int64))
    train, test = splits["train"], splits["test"]
    transition = clothing1m_transition(lists)
    preset = Preset.clothing1m(args.epochs)
    device = resolve_device(args.device)
    init = "ImageNet weights " + str(args.weights) if args.weights else "RANDOM INIT (no --weights given)"
    clean = np.zeros(len(train.labels), dtype=bool)  # the true labels are unknown: none marked wrong
    results = []
    for sampling in args.sampling:
        for seed in range(args.seeds):
            for method in args.methods:
                if method in ("forward", "backward") and transition is None:
                    print(f"skipping {method}: no image has both a noisy and a clean label", file=sys.stderr)
                    continue
                cell = Cell(
                    dataset="clothing1m", method=method, noise=sampling, seed=seed, preset=preset, train=train,
                    noisy=train.labels, test=test, flipped=clean,
                )  # fmt: skip
                result = run_cell(
                    cell,
                    device,
                    args.out,
                    verbose=args.verbose,
                    transition=transition,
                    network=partial(resnet50, weights=args.weights),
                    samples_per_class=args.per_class if sampling == "balanced" else None,
                )
                result["init"] = init
                results.append(result)
    preamble = f"{preset.describe()}; images {size}; initialisation: {init}"
    print(write_outputs(results, "clothing1m", args.sampling, args.out / "clothing1m", preamble))
    return 0
