"""Finding wrong labels: one SLNCleaner run against cleanlab on K-fold out-of-sample probabilities.

cleanlab needs out-of-sample predicted probabilities, so its users train K models
in K-fold cross-validation; each fold here trains the same network with the same
per-run budget as labelclean's single run, with plain cross-entropy (cleanlab's
usual setting). Both are scored against the true flips of the paper's label files.

  python -m labelclean.bench detect --n 5000 --noise sym asym dependent   (pip install -e '.[compare]')
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from .. import SLNCleaner
from ..metrics import PLAIN_CE, detection_scores
from .data import SHARED_DATA, DataMissing, noisy_labels
from .report import write_json, write_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA / "cifar10")
    parser.add_argument("--noise-dir", type=Path, default=None, help="default DATA_DIR/noise")
    parser.add_argument("--noise", nargs="+", default=["sym", "asym", "dependent"])
    parser.add_argument(
        "--n",
        type=int,
        default=5_000,
        help="first N training images, the same for both (5,000: ~75 min on a CPU core)",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="per-run budget (default: SLNCleaner's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))


def run(args: argparse.Namespace) -> int:
    try:
        import cleanlab
    except ImportError:
        raise DataMissing("cleanlab is not installed: pip install 'labelclean[compare]'") from None
    X, true = training_data(args)
    noise_dir = args.noise_dir if args.noise_dir is not None else args.data_dir / "noise"
    params = {} if args.epochs is None else {"epochs": args.epochs}
    # One JSON per finished (noise, method), beside its audit or out-of-sample
    # probabilities: a rerun resumes, and the flags can be re-scored without training.
    finished = args.out / "detect-runs"
    rows = []
    for noise in args.noise:
        noisy = noisy_labels(true, noise, 10, args.seed, noise_dir)
        for method, detect in (("labelclean", labelclean_detection), ("cleanlab", cleanlab_detection)):
            kept = finished / f"{noise}-{method}-n{args.n}-e{args.epochs}-k{args.folds}-s{args.seed}.json"
            if kept.exists():
                rows.append(json.loads(kept.read_text()))
                continue
            extra = {"folds": args.folds} if method == "cleanlab" else {}
            scores = detect(X, noisy, true, args.seed, keep=kept.with_suffix(""), **params, **extra)
            row = {"noise": noise, "method": method, **scores}
            print(row, file=sys.stderr, flush=True)
            write_json(kept, row)
            rows.append(row)
    note = (
        f"First {args.n} CIFAR-10 training images, the paper's noisy label files; labelclean: one "
        f"SLNCleaner run (CPU defaults); cleanlab {cleanlab.__version__}: find_label_issues and "
        f"get_label_quality_scores on {args.folds}-fold out-of-sample probabilities, each fold the same "
        "network and budget with cross-entropy. AUROC ranks by loss (labelclean) or by -quality (cleanlab)."
    )
    print(write_table(args.out, "detect", rows, note))
    return 0


def training_data(args: argparse.Namespace):
    """The first ``args.n`` CIFAR-10 training images (a datasets.Dataset) and their true labels."""
    import datasets

    ds = datasets.load_dataset("parquet", data_files=str(args.data_dir / "train.parquet"), split="train")
    ds = ds.select(range(args.n))
    return ds, np.asarray(ds["label"])


def _scores(
    flagged: np.ndarray,
    ranking: np.ndarray,
    suggested: np.ndarray,
    true: np.ndarray,
    noisy: np.ndarray,
    seconds: float,
) -> dict[str, Any]:
    flipped = noisy != true
    return {
        "flagged": int(flagged.sum()),
        **{k: round(v, 4) for k, v in detection_scores(flagged, flipped).items()},
        "auroc": round(float(roc_auc_score(flipped, ranking)), 4),
        "suggested_right_on_flipped": round(float((suggested[flipped] == true[flipped]).mean()), 4),
        "seconds": round(seconds, 1),
    }


def labelclean_detection(
    X, noisy: np.ndarray, true: np.ndarray, seed: int, keep: Path | None = None, **params: Any
) -> dict[str, Any]:
    """One SLNCleaner run: its flags, its loss ranking, its suggestions (audit kept as ``keep``.parquet)."""
    started = time.perf_counter()
    cleaner = SLNCleaner(random_state=seed, **params).fit(X, noisy)
    seconds = time.perf_counter() - started  # keeping the audit is not part of the method's time
    if keep is not None:
        cleaner.save_audit(keep.with_suffix(".parquet"))
    audit = cleaner.audit()
    return _scores(
        audit["is_suspicious"].to_numpy(), audit["loss"].to_numpy(), audit["suggested_label"].to_numpy(),
        true, noisy, seconds,
    )  # fmt: skip


def cleanlab_detection(
    X,
    noisy: np.ndarray,
    true: np.ndarray,
    seed: int,
    folds: int = 5,
    keep: Path | None = None,
    **params: Any,
) -> dict[str, Any]:
    """cleanlab's find_label_issues and label quality scores on K-fold out-of-sample probabilities.

    The probabilities are kept as ``keep``.npy for analysis.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    started = time.perf_counter()
    probs = np.zeros((len(noisy), int(noisy.max()) + 1))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (fit_rows, held_rows) in enumerate(splitter.split(np.zeros(len(noisy)), noisy)):
        model = SLNCleaner(random_state=seed + fold, **{**params, **PLAIN_CE})
        model.fit(X.select(fit_rows) if hasattr(X, "select") else X[fit_rows], noisy[fit_rows])
        held = X.select(held_rows) if hasattr(X, "select") else X[held_rows]
        probs[np.ix_(held_rows, model.classes_)] = model.predict_proba(held)
    if keep is not None:
        np.save(keep.with_suffix(".npy"), probs)
    flagged = find_label_issues(noisy, probs)
    quality = get_label_quality_scores(noisy, probs)
    return _scores(flagged, -quality, probs.argmax(1), true, noisy, time.perf_counter() - started)
