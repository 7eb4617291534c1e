"""python -m labelclean.bench: reproduce the paper's tables, side by side with its numbers.

  python -m labelclean.bench cifar10 --preset quick --noise sym
  python -m labelclean.bench cifar10 --preset paper --noise all --seeds 5 --device cuda
  python -m labelclean.bench cifar100 --data-dir DIR
  python -m labelclean.bench clothing1m --data-dir DIR --weights resnet50-imagenet.pth

Finished (method, noise, seed) runs are kept under --out/runs and not run again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..fileio import atomic_write
from . import app, paper
from .data import NUM_CLASSES, DataMissing, load_cifar, noisy_labels, open_set
from .methods import CLOTHING1M_METHODS, METHODS
from .runner import PRESETS, run_cell

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NOISES = {"cifar10": ["sym", "asym", "dependent", "openset"], "cifar100": ["sym", "asym", "dependent"]}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m labelclean.bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="benchmark", required=True)
    for name in ("cifar10", "cifar100"):
        p = sub.add_parser(name, help=f"Table {1 if name == 'cifar10' else 2} of the paper")
        p.add_argument(
            "--noise",
            nargs="+",
            default=["all"],
            choices=[*NOISES[name], "all"],
            help="noise types (default all): " + ", ".join(NOISES[name]),
        )
        p.add_argument(
            "--methods",
            nargs="+",
            default=list(METHODS),
            choices=METHODS,
            help="methods to run (default all)",
        )
        p.add_argument("--seeds", type=int, default=1, help="runs per cell, seeds 0..N-1 (paper: 5)")
        p.add_argument(
            "--preset",
            choices=sorted(PRESETS),
            default="quick",
            help="paper: Appendix B to the letter (WRN-28-2, 300 epochs; a GPU);\n"
            "quick: a 10,000-image subset and a small CNN sized for a 2-core CPU",
        )
        default_dir = SHARED / name
        p.add_argument(
            "--data-dir",
            type=Path,
            default=default_dir,
            help=f"CIFAR as HF Parquet or torchvision's python files (default {default_dir})",
        )
        p.add_argument(
            "--noise-dir",
            type=Path,
            default=None,
            help="the paper's label files {sym,asym,dependent}0.4.csv (default DATA_DIR/noise);\n"
            "sym and asym fall back to seeded generators",
        )
        p.add_argument(
            "--cifar100-dir",
            type=Path,
            default=SHARED / "cifar100",
            help="CIFAR-100, for open-set noise on CIFAR-10",
        )
        p.add_argument("--out", type=Path, default=Path("bench-results"), help="results folder")
        p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
        p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
        p.add_argument("--subset", type=int, default=None, help="override the preset's training subset")
        p.add_argument("--verbose", action="store_true", help="progress bars")
        p.add_argument(
            "--report-only", action="store_true", help="render the table from finished runs, train nothing"
        )

    p = sub.add_parser(
        "throughput", help="training images/s: labelclean's loop vs a per-sample DataLoader loop"
    )
    p.add_argument(
        "--data-dir", type=Path, default=SHARED / "cifar10", help="CIFAR-10 Parquet (else synthetic)"
    )
    p.add_argument("--images", type=int, default=2560, help="images per timed epoch")
    p.add_argument("--models", nargs="+", default=["cnn_small", "wrn28_2"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--workers", type=int, default=None, help="reference DataLoader workers (default min(4, CPUs))"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=Path("bench-results"))

    p = sub.add_parser("detect", help="finding wrong labels: one SLNCleaner run vs cleanlab with K-fold CV")
    p.add_argument("--data-dir", type=Path, default=SHARED / "cifar10")
    p.add_argument("--noise-dir", type=Path, default=None, help="default DATA_DIR/noise")
    p.add_argument("--noise", nargs="+", default=["sym", "asym", "dependent"])
    p.add_argument(
        "--n",
        type=int,
        default=5_000,
        help="first N training images, the same for both (5,000: ~75 min on a CPU core)",
    )
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=None, help="per-run budget (default: SLNCleaner's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("bench-results"))

    p = sub.add_parser("memory", help="peak RSS of fit on the 50,000 CIFAR-10 training images, on the CPU")
    p.add_argument("--data-dir", type=Path, default=SHARED / "cifar10")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("bench-results"))

    p = sub.add_parser("index", help="index a synthetic 1,000,000-entry image folder and write its audit")
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--workdir", type=Path, default=None, help="where to build the tree (default: temp dir)")
    p.add_argument("--out", type=Path, default=Path("bench-results"))

    p = sub.add_parser(
        "app", help="the review app: read a 1,000,000-row audit; --browser: page and click times in Chromium"
    )
    app.add_arguments(p)

    p = sub.add_parser("clothing1m", help="Table 3 of the paper (ResNet-50, 10 epochs)")
    p.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="Clothing1M in its official layout: images/ plus noisy_train / clean_val /\n"
        "clean_test lists ('relative/path label' lines, or *_key_list.txt + *_kv.txt)",
    )
    p.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="ImageNet ResNet-50 state dict (.pth); without it: random init, flagged in the results",
    )
    p.add_argument("--methods", nargs="+", default=list(CLOTHING1M_METHODS), choices=CLOTHING1M_METHODS)
    p.add_argument(
        "--sampling",
        nargs="+",
        default=["standard", "balanced"],
        choices=["standard", "balanced"],
        help="standard: every noisy image once per epoch; balanced: 18,976 per class per epoch",
    )
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument(
        "--per-class", type=int, default=18_976, help="balanced sampling: images per class per epoch"
    )
    p.add_argument(
        "--memory-limit-gb",
        type=float,
        default=4.0,
        help="splits whose decoded images would take more stay on disk, decoded batch by batch",
    )
    p.add_argument("--out", type=Path, default=Path("bench-results"))
    p.add_argument("--device", default="auto")
    p.add_argument("--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.benchmark == "app":
        return app.run(args)
    runners = {
        "cifar10": run_cifar,
        "cifar100": run_cifar,
        "clothing1m": run_clothing1m,
        "throughput": run_throughput,
        "memory": run_memory,
        "detect": run_detect,
        "index": run_index,
    }
    try:
        print(runners[args.benchmark](args))
    except DataMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _device(name: str) -> torch.device:
    return torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)


def _save(args: argparse.Namespace, name: str, rows: list[dict], note: str) -> str:
    from .report import markdown_table

    markdown = f"# {name}\n\n{note}\n\n{markdown_table(rows)}\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.md").write_text(markdown)
    (args.out / f"{name}.json").write_text(json.dumps(rows, indent=1))
    return markdown


def run_throughput(args: argparse.Namespace) -> str:
    from . import throughput

    if (args.data_dir / "train.parquet").exists():
        train, _ = load_cifar("cifar10", args.data_dir)
        images, labels = train.images[: args.images], torch.from_numpy(train.labels[: args.images])
        source = f"the first {args.images} CIFAR-10 training images"
    else:
        images, labels = throughput.synthetic_cifar(args.images)
        source = f"{args.images} synthetic 32x32 images"
    rows = throughput.run(
        images,
        labels,
        models=args.models,
        repeats=args.repeats,
        device=_device(args.device),
        workers=args.workers,
    )
    note = (
        f"{throughput.__doc__.strip()}\n\nData: {source}; torch threads: {torch.get_num_threads()}; "
        "median of the repeats."
    )
    return _save(args, "throughput", rows, note)


def _write_json(path: Path, obj: object) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj)))


def run_detect(args: argparse.Namespace) -> str:
    import datasets

    from .detect import cleanlab_detection, labelclean_detection

    try:
        import cleanlab
    except ImportError:
        raise DataMissing("cleanlab is not installed: pip install 'labelclean[compare]'") from None
    ds = datasets.load_dataset("parquet", data_files=str(args.data_dir / "train.parquet"), split="train")
    ds = ds.select(range(args.n))
    true = np.asarray(ds["label"])
    noise_dir = args.noise_dir if args.noise_dir is not None else args.data_dir / "noise"
    params = {} if args.epochs is None else {"epochs": args.epochs}
    # One JSON per finished (noise, method), beside its audit or out-of-sample
    # probabilities: a rerun resumes, and the flags can be re-scored without training.
    finished = args.out / "detect-runs"
    finished.mkdir(parents=True, exist_ok=True)
    rows = []
    for noise in args.noise:
        noisy = noisy_labels(true, noise, 10, args.seed, noise_dir)
        for method, detect in (("labelclean", labelclean_detection), ("cleanlab", cleanlab_detection)):
            kept = finished / f"{noise}-{method}-n{args.n}-e{args.epochs}-k{args.folds}-s{args.seed}.json"
            if kept.exists():
                rows.append(json.loads(kept.read_text()))
                continue
            extra = {"folds": args.folds} if method == "cleanlab" else {}
            scores = detect(ds, noisy, true, args.seed, keep=kept.with_suffix(""), **params, **extra)
            row = {"noise": noise, "method": method, **scores}
            print(row, file=sys.stderr, flush=True)
            _write_json(kept, row)
            rows.append(row)
    note = (
        f"First {args.n} CIFAR-10 training images, the paper's noisy label files; labelclean: one "
        f"SLNCleaner run (CPU defaults); cleanlab {cleanlab.__version__}: find_label_issues and "
        f"get_label_quality_scores on {args.folds}-fold out-of-sample probabilities, each fold the same "
        "network and budget with cross-entropy. AUROC ranks by loss (labelclean) or by -quality (cleanlab)."
    )
    return _save(args, "detect", rows, note)


def run_memory(args: argparse.Namespace) -> str:
    from .scale import fit_peak_memory

    row = fit_peak_memory(args.data_dir, args.epochs)
    return _save(args, "memory", [row], "Peak resident memory of the whole process (ru_maxrss) during fit.")


def run_index(args: argparse.Namespace) -> str:
    from .scale import index_and_audit

    row = index_and_audit(args.entries, args.workdir)
    note = (
        "Synthetic tree of empty .jpg files in 100 class folders. index/audit_write peaks are "
        "Python-heap allocations (tracemalloc) during each step; arrow_pool_peak is the largest "
        "Arrow allocation of the process (the audit is written in 65,536-row groups)."
    )
    return _save(args, "index", [row], note)


def run_clothing1m(args: argparse.Namespace) -> str:
    """Table 3: ResNet-50, lr 1e-3 then 1e-4 after epoch 5, batch 32, weight decay 1e-3, sigma 0.2."""
    from functools import partial

    from ..data import load_data
    from ..models import resnet50
    from .data import CLOTHING1M_LISTS, Split, load_clothing1m_lists
    from .report import write_outputs
    from .runner import Preset

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
    preset = Preset(
        "paper", "resnet50", args.epochs, 1e-3, None, paper.SIGMA, 0.999, 1 / args.epochs, 32, 1e-3
    )
    device = _device(args.device)
    init = "ImageNet weights " + str(args.weights) if args.weights else "RANDOM INIT (no --weights given)"
    results = []
    for sampling in args.sampling:
        for seed in range(args.seeds):
            for method in args.methods:
                if method in ("forward", "backward") and transition is None:
                    print(f"skipping {method}: no image has both a noisy and a clean label", file=sys.stderr)
                    continue
                result = run_cell(
                    dataset="clothing1m",
                    method=method,
                    noise=sampling,
                    seed=seed,
                    preset=preset,
                    train=train,
                    noisy=train.labels,
                    test=test,
                    out_dir=args.out,
                    device=device,
                    flipped=np.zeros(len(train.labels), dtype=bool),
                    verbose=args.verbose,
                    transition=transition,
                    network=partial(resnet50, weights=args.weights),
                    lr_drops=(5,),
                    samples_per_class=args.per_class if sampling == "balanced" else None,
                )
                result["init"] = init
                results.append(result)
    preamble = f"{preset.describe()}; images {size}; initialisation: {init}"
    return write_outputs(results, "clothing1m", args.sampling, args.out / "clothing1m", preamble)


def clothing1m_transition(lists) -> np.ndarray | None:
    """``T[i, j] = P(noisy j | clean i)`` from images that carry both labels, as Patrini et al. do."""
    from ..noise import transition_matrix

    clean = pd.concat([lists["val"], lists["test"]]).drop_duplicates("path")
    both = lists["train"].merge(clean, on="path", suffixes=("_noisy", "_clean"))
    if both.empty:
        return None
    transition = transition_matrix(both["label_clean"], both["label_noisy"], NUM_CLASSES["clothing1m"])
    unseen = transition.sum(axis=1) == 0  # classes without a doubly-labelled image: assume no noise
    transition[unseen, unseen] = 1.0
    return transition


def run_cifar(args: argparse.Namespace) -> str:
    from dataclasses import replace

    from .report import write_outputs

    dataset = args.benchmark
    preset = PRESETS[args.preset]
    if args.subset is not None:
        preset = replace(preset, train_subset=args.subset)
    noises = NOISES[dataset] if "all" in args.noise else args.noise
    stem = args.out / f"{dataset}_{preset.name}"
    if args.report_only:
        runs = [
            json.loads(p.read_text())
            for p in sorted((args.out / "runs").glob(f"{dataset}_{preset.name}_*.json"))
        ]
        results = [
            r for r in runs if r["method"] in args.methods and r["noise"] in noises and r["seed"] < args.seeds
        ]
        if not results:
            raise DataMissing(f"no finished runs under {args.out / 'runs'}")
        results.sort(key=lambda r: (noises.index(r["noise"]), r["seed"], args.methods.index(r["method"])))
        return write_outputs(results, dataset, noises, stem, preset.describe(args.epochs))
    device = _device(args.device)
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
                result = run_cell(
                    dataset=dataset,
                    method=method,
                    noise=noise,
                    seed=seed,
                    preset=preset,
                    train=cell_train,
                    noisy=noisy,
                    test=test,
                    out_dir=args.out,
                    device=device,
                    epochs=args.epochs,
                    flipped=flipped,
                    verbose=args.verbose,
                )
                print(
                    f"{method:>10} {noise:>9} seed {seed}: test accuracy {100 * result['final_test_acc']:.2f}% "
                    f"(peak {100 * result['peak_test_acc']:.2f}%), {result['seconds'] / 60:.1f} min",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(result)
    return write_outputs(results, dataset, noises, stem, preset.describe(args.epochs))


if __name__ == "__main__":
    sys.exit(main())
