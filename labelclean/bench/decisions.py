"""Decisions on every kind of data: flags, corrections and noise rates, labelclean beside cleanlab.

One table per suite; a row per (cell, method, seed). A cell is one label set:

- ``features``: the shared EfficientNet-Lite0 embeddings of the first 10,000 CIFAR-10 training
  images (``--features``), standardised;
- ``digits``: scikit-learn's 1,797 digits as 8 x 8 images, trained from scratch;
- ``images``: the first ``--n`` CIFAR-10 training images, trained from scratch with the CPU
  defaults (minutes a cell, so fewer cells).

Label sets: the true labels (``clean``); the same long-tailed (``lt-clean``: class k keeps its
first ``base * 0.6**k`` samples after a seeded shuffle; base 1,000 for the embeddings, the
largest class otherwise); symmetric, asymmetric and instance-dependent noise at 5-40% (CIFAR:
the paper's label files with a random share of their flips set back; digits: a random flip to
another class, each digit to a look-alike (1-7, 3-8, 4-9, 5-6, 0-2), and the samples a
held-out linear discriminant finds most ambiguous to its runner-up class); human-like noise
(``mixed``: half of it instance-dependent, half random slips on other samples, as human
labellers make both; features and digits); long-tailed with 10% symmetric noise (``lt-sym10``).

Columns: flags, their precision, recall and F1; the F1 of flagging the top-k of the method's
own ranking with the true k (``oracle_f1``); AUROC of that ranking; calibration error of the
stated mislabel probability; label accuracy given and after correction; the share of labels
changed and the smallest share of a label's samples that keep it; the estimated noise rate
(labelclean: ``noise_rate_`` with its interval; cleanlab: ``num_label_issues / N``); seconds.
``missed`` names the goals a labelclean row misses (the decisions issue's list). labelclean rows
also hold a simulated random check (``detect.check_row``: the first 100 samples of the review
app's "random check" order answered from the true labels): its share of wrong labels with the 95%
interval, whether it overrules the audit's count (1: too few, -1: too many), and the F1 and label
accuracy of the audit decided again with it (``NoiseCheck.apply``; the audit's own elsewhere).

  python -m labelclean.bench decisions --suite features digits   (pip install -e '.[compare]')
  python -m labelclean.bench decisions --suite images --n 5000 --methods labelclean
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..auditfile import read_audit
from ..metrics import reliability_curve
from ..noise import instance_dependent_noise, pair_noise, symmetric_noise
from .data import RATE_TOLERANCE, DataMissing, data_dir, fewer_flips, noisy_labels, parquet_file
from .detect import (
    check_row,
    cleanlab_scores,
    labelclean_detection,
    logistic_probabilities,
    network_probabilities,
)
from .report import write_json, write_table

SUITES = ("features", "digits", "images")
RATES = {"features": (0.05, 0.1, 0.2, 0.4), "digits": (0.05, 0.1, 0.2, 0.4), "images": (0.1, 0.4)}
NOISES = {
    "features": ("sym", "asym", "dependent", "mixed"),
    "digits": ("sym", "asym", "dependent", "mixed"),
    "images": ("sym", "asym", "dependent"),
}
DIGIT_LOOK_ALIKES = {1: 7, 7: 1, 3: 8, 8: 3, 4: 9, 9: 4, 5: 6, 6: 5, 0: 2, 2: 0}
EMBEDDINGS = "embeddings/efficientnet_lite0_160px_train_first10k.npy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", nargs="+", choices=SUITES, default=["features", "digits"])
    parser.add_argument(
        "--data-dir", type=Path, default=data_dir("cifar10"), help="CIFAR-10 Parquet and noise/"
    )
    parser.add_argument("--features", type=Path, default=None, help=f"default DATA_DIR/{EMBEDDINGS}")
    parser.add_argument("--n", type=int, default=5000, help="CIFAR-10 training images of the images suite")
    parser.add_argument("--cells", nargs="+", default=None, help="only these cells (e.g. clean sym40)")
    parser.add_argument(
        "--rates",
        nargs="+",
        type=float,
        default=None,
        help="noise rates (default: 5-40%%; 10%% and 40%% for images)",
    )
    parser.add_argument("--methods", nargs="+", choices=("labelclean", "cleanlab"), default=None,
                        help="default: both, but labelclean only for the images suite")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None, help="per-run budget (default: SLNCleaner's)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))


def run(args: argparse.Namespace) -> int:
    for suite in args.suite:
        methods = args.methods or (["labelclean"] if suite == "images" else ["labelclean", "cleanlab"])
        if "cleanlab" in methods:
            _require_cleanlab()
        X, true = suite_data(suite, args)
        params = {} if args.epochs is None else {"epochs": args.epochs}
        rows = []
        for seed in range(args.seeds):
            for cell, rows_of_cell, given in label_sets(suite, X, true, seed, args):
                if args.cells and cell not in args.cells:
                    continue
                for method in methods:
                    rows.append(
                        _cell_row(suite, cell, method, seed, X, rows_of_cell, given, true, params, args)
                    )
        rows = [_with_goals(row, rows) for row in rows]
        print(write_table(args.out, f"decisions-{suite}", rows, _note(suite, args)))
        plot_reliability(args.out / "decisions-runs", suite, args.out / f"decisions-{suite}-reliability.png")
    return 0


def _require_cleanlab() -> None:
    try:
        import cleanlab  # noqa: F401
    except ImportError:
        raise DataMissing("cleanlab is not installed: pip install 'labelclean[compare]'") from None


def suite_data(suite: str, args: argparse.Namespace) -> tuple[Any, np.ndarray]:
    """The suite's inputs and true labels."""
    if suite == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        return digits.images.astype(np.float32), digits.target
    import pyarrow.parquet as pq

    train = parquet_file(args.data_dir, "train")
    if suite == "features":
        path = args.features or args.data_dir / EMBEDDINGS
        if not path.exists():
            raise DataMissing(f"{path} not found: pass --features PATH.npy (row i = training image i)")
        features = np.load(path).astype(np.float64)
        features = ((features - features.mean(0)) / np.clip(features.std(0), 1e-6, None)).astype(np.float32)
        true = pq.read_table(train, columns=["label"])["label"].to_numpy()[: len(features)]
        return features, true
    import datasets

    images = datasets.load_dataset("parquet", data_files=str(train), split="train").select(range(args.n))
    return images, np.asarray(images["label"])


def label_sets(
    suite: str, X: Any, true: np.ndarray, seed: int, args: argparse.Namespace
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """``(cell, rows, given labels of those rows)`` for every label set of the suite."""
    everything = np.arange(len(true))
    yield "clean", everything, true
    for noise in NOISES[suite]:
        for rate in args.rates or RATES[suite]:
            given = _noisy(suite, noise, rate, X, true, seed, args)
            if given is not None:
                yield f"{noise}{round(rate * 100)}", everything, given
    if suite == "images":
        return
    tail = long_tail_rows(true, base=1000 if suite == "features" else None, seed=seed)
    yield "lt-clean", tail, true[tail]
    yield "lt-sym10", tail, symmetric_noise(true[tail], 0.1, int(true.max()) + 1, seed)


def _noisy(
    suite: str, noise: str, rate: float, X: Any, true: np.ndarray, seed: int, args: argparse.Namespace
) -> np.ndarray | None:
    """Labels with ``rate`` of them wrong by ``noise``; None where the paper's file has fewer flips."""
    if noise == "mixed":
        ambiguous = _noisy(suite, "dependent", rate / 2, X, true, seed, args)
        slips = _noisy(suite, "sym", rate, X, true, seed, args)
        return (
            None
            if ambiguous is None or slips is None
            else _with_slips(true, ambiguous, slips, rate / 2, seed)
        )
    classes = int(true.max()) + 1
    if suite == "digits":
        if noise == "sym":
            return symmetric_noise(true, rate, classes, seed)
        if noise == "asym":
            return pair_noise(true, rate, DIGIT_LOOK_ALIKES, seed)
        return instance_dependent_noise(true, _held_out_discriminant(X, true, seed), rate)
    full = noisy_labels(true, noise, classes, seed, args.data_dir / "noise")
    if rate > (full != true).mean() + RATE_TOLERANCE:
        print(
            f"no {noise} at {rate:.0%}: its label file has {(full != true).mean():.1%} wrong", file=sys.stderr
        )
        return None
    return fewer_flips(true, full, rate, seed)


def _with_slips(true: np.ndarray, given: np.ndarray, slips: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """``given`` with ``rate`` of all labels more set wrong as in ``slips``, on samples ``given``
    labels right (a random choice among those ``slips`` labels wrong)."""
    candidates = np.flatnonzero((given == true) & (slips != true))
    picked = np.random.default_rng(seed).permutation(candidates)[: round(rate * len(true))]
    mixed = given.copy()
    mixed[picked] = slips[picked]
    return mixed


def _held_out_discriminant(images: np.ndarray, true: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities of a linear discriminant trained on the true labels."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.1)
    return cross_val_predict(model, images.reshape(len(images), -1), true, cv=folds, method="predict_proba")


def long_tail_rows(
    true: np.ndarray, base: int | None = None, ratio: float = 0.6, seed: int = 0
) -> np.ndarray:
    """Rows where class k keeps its first ``base * ratio**k`` samples after a seeded shuffle
    (``base``: the largest class's size when None), in their original order."""
    order = np.random.default_rng(seed).permutation(len(true))
    base = int(np.bincount(true).max()) if base is None else base
    kept = [order[true[order] == k][: int(base * ratio**k)] for k in range(int(true.max()) + 1)]
    return np.sort(np.concatenate(kept))


def _cell_row(
    suite: str,
    cell: str,
    method: str,
    seed: int,
    X: Any,
    rows: np.ndarray,
    given: np.ndarray,
    true: np.ndarray,
    params: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One (cell, method, seed) row, read back when a finished run kept it (a rerun resumes)."""
    kept = args.out / "decisions-runs" / f"{suite}-{cell}-{method}-n{len(rows)}-e{args.epochs}-s{seed}.json"
    if kept.exists():
        row = json.loads(kept.read_text())
        if method == "labelclean" and "check" not in row and kept.with_suffix(".parquet").exists():
            row.update(check_row(read_audit(kept.with_suffix(".parquet"))[0], true[rows]))  # kept before it
            write_json(kept, row)
        return row
    inputs = X.select(rows) if hasattr(X, "select") else X[rows]
    truth = true[rows]
    if method == "labelclean":
        scores = labelclean_detection(inputs, given, truth, seed, kept.with_suffix(""), **params)
    else:
        started = time.perf_counter()
        if suite == "features":
            probs = logistic_probabilities(inputs, given, seed)
        else:
            probs = network_probabilities(inputs, given, seed, **params)
        scores = cleanlab_scores(probs, given, truth, time.perf_counter() - started, kept.with_suffix(""))
    row = {"cell": cell, "wrong": round(float((given != truth).mean()), 4), "method": method, "seed": seed}
    row.update(scores)
    print(row, file=sys.stderr, flush=True)
    write_json(kept, row)
    return row


def _with_goals(row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``row`` with ``missed``: the goals of the decisions issue a labelclean row does not meet."""
    if row["method"] != "labelclean":
        return {**row, "missed": None}
    missed = []
    wrong, rate = row["wrong"], row["estimated_rate"]
    estimate, low, high = (float(v) for v in rate.replace("[", "").replace("]", "").replace(",", "").split())
    if wrong == 0:
        if row["changed"] > 0.005:
            missed.append("changes > 0.5%")
        if row["min_class_kept"] < 0.9:
            missed.append("a class keeps < 90%")
        if estimate > 0.01:
            missed.append("rate > 1%")
    else:
        if row["f1"] < row["oracle_f1"] - 0.03:
            missed.append("F1 < oracle - 0.03")
        theirs = [
            r
            for r in rows
            if r["method"] == "cleanlab" and (r["cell"], r["seed"]) == (row["cell"], row["seed"])
        ]
        if theirs and row["f1"] < theirs[0]["f1"] + 0.05:
            missed.append("F1 < cleanlab + 0.05")
        if row["corrected_accuracy"] <= row["given_accuracy"]:
            missed.append("accuracy not raised")
        if abs(estimate - wrong) > 0.2 * wrong:
            missed.append("rate off > 20%")
        if not low <= wrong <= high:
            missed.append("interval misses")
    return {**row, "missed": "; ".join(missed) or "-"}


def _note(suite: str, args: argparse.Namespace) -> str:
    return (
        f"Suite {suite} (module docstring: labelclean.bench.decisions); labelclean: one SLNCleaner run with "
        "its defaults; cleanlab: find_label_issues and get_label_quality_scores on 5-fold out-of-sample "
        "probabilities (LogisticRegression(C=0.1) on feature vectors; the same network with plain "
        "cross-entropy on images), corrections = its flags set to the argmax. Rankings: the audit's rank "
        "(labelclean), -quality (cleanlab). Seeds: " + str(args.seeds) + "."
    )


def plot_reliability(finished: Path, suite: str, path: Path) -> None:
    """Reliability diagrams of labelclean's mislabel probability, one line per cell of the suite."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), squeeze=False)
    for ax, noise in zip(axes[0], ("sym", "asym", "dependent"), strict=True):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        for scores in sorted(finished.glob(f"{suite}-{noise}*-labelclean-*-s0.npz")):
            stored = np.load(scores)
            curve = reliability_curve(stored["mislabel"], stored["wrong"])
            label = scores.stem.split("-")[1]
            ax.plot([c[0] for c in curve], [c[1] for c in curve], marker="o", ms=3, label=label)
        ax.set(
            title=f"{suite}: {noise} noise", xlabel="stated mislabel probability", ylabel="share really wrong"
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
