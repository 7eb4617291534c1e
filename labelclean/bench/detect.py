"""Finding wrong labels: one SLNCleaner run against cleanlab on K-fold out-of-sample probabilities.

cleanlab needs out-of-sample predicted probabilities, so its users train K models
in K-fold cross-validation; each fold here trains the same network with the same
per-run budget as labelclean's single run, with plain cross-entropy (cleanlab's
usual setting). Both are scored against the true flips of the paper's label files.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from .. import SLNCleaner
from ..demo import PLAIN_CE, detection_scores


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
