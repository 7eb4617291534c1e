"""What a review is worth: ``python -m labelclean.bench review``.

A simulated reviewer answers the first N samples (``--reviews``) of the review app's order
(:func:`labelclean.auditfile.review_order`: ``gain``, the app's default, and ``loss`` for
comparison) from the true labels: accept where the suggestion is the true class, keep where
the given label is, else relabel. Then ``fit(..., reviewed=...)`` runs again with the same
settings and seed. Per cell: the wrong labels left after ``correct_labels()`` without a review
(the first fit), with the reviewed labels only pasted into the first fit's corrections, and
after the second fit; how many wrong labels each review removed; and how many the second fit
added beyond the pasted labels (a label the first fit had right and the second got wrong).

Data: ``demo``, scikit-learn's digits as ``labelclean demo`` makes them (three quarters for
training, 20% symmetric flips, the seed's split); ``embeddings``, the 10,000 shared CIFAR-10
feature vectors (``--features``) with the paper's ``sym0.4.csv`` labels, flips set back to each
``--rates``. Each cell is kept as JSON under ``--out/review-runs``: a rerun resumes.

  python -m labelclean.bench review --data demo
  python -m labelclean.bench review --data embeddings --rates 0.1 --seeds 0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import SLNCleaner, demo
from ..auditfile import read_audit, review_order
from .data import DataMissing, data_dir, fewer_flips, noisy_labels
from .detect import training_data
from .report import write_json, write_table

EMBEDDINGS = Path("embeddings") / "efficientnet_lite0_160px_train_first10k.npy"  # under --data-dir
DEMO_NOISE = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", nargs="+", choices=["demo", "embeddings"], default=["demo", "embeddings"])
    parser.add_argument("--reviews", nargs="+", type=int, default=[50, 100, 200], help="reviews per cell")
    parser.add_argument("--orders", nargs="+", choices=["gain", "loss"], default=["gain", "loss"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rates", nargs="+", type=float, default=[0.1, 0.4], help="embeddings' noise rates")
    parser.add_argument(
        "--features",
        type=Path,
        default=None,
        help=f"the embeddings, row i = image i (default DATA_DIR/{EMBEDDINGS})",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=data_dir("cifar10"), help="CIFAR-10's train.parquet and noise/"
    )
    parser.add_argument("--epochs", type=int, default=None, help="per fit (default: SLNCleaner's)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))


def run(args: argparse.Namespace) -> int:
    runs = args.out / "review-runs"
    params = {} if args.epochs is None else {"epochs": args.epochs}
    rows = []
    for name, rate, seed, X, noisy, true in _cells(args):
        stem = f"{name}-r{round(rate * 100)}-s{seed}-e{args.epochs}"
        first = _first_fit(runs / stem, X, noisy, seed, params)
        for order in args.orders:
            for n in args.reviews:
                kept = runs / f"{stem}-{order}-n{n}.json"
                if not kept.exists():
                    row = review_cell(
                        X, noisy, true, first, order, n, SLNCleaner(random_state=seed, **params)
                    )
                    write_json(kept, {"data": name, "rate": rate, "seed": seed, **row})
                    print(json.loads(kept.read_text()), flush=True)
                rows.append(json.loads(kept.read_text()))
    print(write_table(args.out, "review", summary(rows), _note(args)))
    return 0


def _cells(args: argparse.Namespace):
    """``(name, noise rate, seed, X, noisy labels, true labels)`` of every data set and seed."""
    for name in args.data:
        if name == "demo":
            for seed in args.seeds:
                yield ("demo", DEMO_NOISE, seed, *demo_data(seed))
            continue
        features = args.features or args.data_dir / EMBEDDINGS
        if not features.is_file():
            raise DataMissing(
                f"no embeddings at {features}: pass --features, or --data-dir with {EMBEDDINGS}"
            )
        source = argparse.Namespace(data_dir=args.data_dir, features=features, n=None, backbone=None)
        X, true, _ = training_data(source)
        full = noisy_labels(true, "sym", 10, 0, args.data_dir / "noise")
        for rate in args.rates:
            for seed in args.seeds:
                yield "embeddings", rate, seed, X, fewer_flips(true, full, rate, seed), true


def demo_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The demo's training images, noisy and true labels (``labelclean demo --seed``)."""
    X, _, true, _, noisy = demo.demo_data(DEMO_NOISE, seed)
    return X, noisy, true


def _first_fit(stem: Path, X: Any, noisy: np.ndarray, seed: int, params: dict[str, Any]) -> pd.DataFrame:
    """The first fit's audit (kept as ``stem.parquet``: later cells reuse it)."""
    path = stem.with_suffix(".parquet")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        cleaner = SLNCleaner(random_state=seed, **params).fit(X, noisy)
        cleaner.save_audit(path)
        print(f"{stem.name}: first fit {time.perf_counter() - started:.0f} s", flush=True)
    return read_audit(path)[0]


def simulated_review(audit: pd.DataFrame, true: np.ndarray, order: str, n: int) -> pd.DataFrame:
    """The app's exported corrections for the first ``n`` samples of ``order``, each answered
    with its true label."""
    top = audit.iloc[review_order(audit, order)[:n]]
    truth = true[top["sample_id"].to_numpy()]
    decision = np.where(
        truth == top["suggested_label"].to_numpy(),
        "accept",
        np.where(truth == top["given_label"].to_numpy(), "keep", "relabel"),
    )
    return pd.DataFrame(
        {
            "sample_id": top["sample_id"].to_numpy(),
            "final_label": truth,
            "decided_by": [f"reviewer: {d}" for d in decision],
        }
    )


def review_cell(
    X: Any, noisy: np.ndarray, true: np.ndarray, first: pd.DataFrame, order: str, n: int, cleaner: SLNCleaner
) -> dict[str, Any]:
    """One cell: review ``n`` samples in ``order``, fit ``cleaner`` (the first fit's settings)
    again with the review, count the wrong labels left."""
    review = simulated_review(first, true, order, n)
    before = first.sort_values("sample_id")["corrected_label"].to_numpy()
    pasted = before.copy()
    pasted[review["sample_id"].to_numpy()] = review["final_label"].to_numpy()
    started = time.perf_counter()
    second = cleaner.fit(X, noisy, reviewed=review).correct_labels()
    seconds = time.perf_counter() - started
    wrong = {"none": before != true, "pasted": pasted != true, "refit": second != true}
    return {
        "order": order,
        "reviews": n,
        "changed_by_review": int((review["final_label"].to_numpy() != before[review["sample_id"]]).sum()),
        **{f"wrong_{k}": int(v.sum()) for k, v in wrong.items()},
        "removed_per_review": round((wrong["none"].sum() - wrong["refit"].sum()) / n, 3),
        "refit_added": int((wrong["refit"] & ~wrong["pasted"]).sum()),
        "refit_removed": int((~wrong["refit"] & wrong["pasted"]).sum()),
        "seconds": round(seconds, 1),
    }


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (data, rate, order, reviews), in that order: means over the seeds, with each
    seed's count."""
    table = pd.DataFrame(rows)
    out = []
    for (name, rate, order, n), cell in table.groupby(["data", "rate", "order", "reviews"]):
        out.append(
            {
                "data": name,
                "noise": f"{rate:.0%}",
                "order": order,
                "reviews": int(n),
                "seeds": len(cell),
                "wrong left, no review": _mean_each(cell["wrong_none"]),
                "pasted into the first fit": _mean_each(cell["wrong_pasted"]),
                "after the second fit": _mean_each(cell["wrong_refit"]),
                "removed per review": round(float(cell["removed_per_review"].mean()), 2),
                "second fit: added / removed": f"{cell['refit_added'].mean():.1f} / {cell['refit_removed'].mean():.1f}",
            }
        )
    return out


def _mean_each(values: pd.Series) -> str:
    each = ", ".join(str(int(v)) for v in values)
    return f"{values.mean():.1f} ({each})" if len(values) > 1 else str(int(values.iloc[0]))


def _note(args: argparse.Namespace) -> str:
    first = __doc__.split("\n\n")[1].replace("\n", " ")
    return (
        f"{first} SLNCleaner's defaults, random_state = seed; seeds {', '.join(map(str, args.seeds))}. "
        "Counts are wrong labels among all training samples; a cell lists each seed's count after its mean. "
        "removed per review: (no review - second fit) / reviews; second fit: added / removed: labels the second "
        "fit got wrong that the pasted labels had right / the reverse."
    )
