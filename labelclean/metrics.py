"""Scoring a cleaner's flags against known label flips, and the plain baseline it is compared with.

Shared by the demo, ``labelclean.bench`` and ``benchmarks/``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "PLAIN_CE",
    "calibration_error",
    "decision_scores",
    "detection_scores",
    "oracle_count_f1",
    "reliability_curve",
]

# SLNCleaner parameters that turn SLN, the momentum model and label correction off:
# plain cross-entropy with the same network and budget.
PLAIN_CE = {"sigma": 0.0, "momentum": 0.0, "correction_start": None}


def detection_scores(flagged: np.ndarray, truly_flipped: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of a flagged set against the known flips."""
    hits = int((flagged & truly_flipped).sum())
    precision = hits / max(1, int(flagged.sum()))
    recall = hits / max(1, int(truly_flipped.sum()))
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def reliability_curve(prob: np.ndarray, wrong: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """Per equal-width bin of ``prob``: (mean probability, share really wrong, count); empty bins left out."""
    index = np.clip(np.digitize(prob, np.linspace(0, 1, bins + 1)) - 1, 0, bins - 1)
    return [
        (float(prob[index == b].mean()), float(wrong[index == b].mean()), int((index == b).sum()))
        for b in range(bins)
        if (index == b).any()
    ]


def calibration_error(prob: np.ndarray, wrong: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of a mislabel probability: the count-weighted gap of its reliability curve."""
    curve = reliability_curve(np.asarray(prob, float), np.asarray(wrong, bool), bins)
    return sum(count * abs(mean - share) for mean, share, count in curve) / len(prob)


def oracle_count_f1(ranking: np.ndarray, truly_flipped: np.ndarray) -> float:
    """F1 of flagging the top-k of ``ranking`` (higher: more suspicious) with the true k: what a
    flag count that knew the number of wrong labels would reach with this ranking."""
    flagged = np.zeros(len(ranking), dtype=bool)
    flagged[np.argsort(-np.asarray(ranking), kind="stable")[: int(truly_flipped.sum())]] = True
    return detection_scores(flagged, truly_flipped)["f1"]


def decision_scores(
    *,
    flagged: np.ndarray,
    ranking: np.ndarray,
    mislabel: np.ndarray,
    corrected: np.ndarray,
    given: np.ndarray,
    true: np.ndarray,
) -> dict[str, Any]:
    """Every score of a cleaner's decisions against the true labels (None where undefined: no flip).

    ``ranking``: higher is more suspicious; ``mislabel``: the stated probability that each
    label is wrong; ``corrected``: the labels after correction. ``min_class_kept``: the
    smallest share of a given label's samples that keep it after correction.
    """
    from sklearn.metrics import roc_auc_score

    flipped = given != true
    some = 0 < flipped.sum() < len(flipped)
    scores = (
        detection_scores(flagged, flipped)
        if flipped.any()
        else {"precision": None, "recall": None, "f1": None}
    )
    kept = [float((corrected[given == c] == c).mean()) for c in np.unique(given)]
    return {
        "flagged": int(flagged.sum()),
        **scores,
        "oracle_f1": oracle_count_f1(ranking, flipped) if flipped.any() else None,
        "auroc": float(roc_auc_score(flipped, ranking)) if some else None,
        "calibration_error": calibration_error(mislabel, flipped),
        "given_accuracy": float((given == true).mean()),
        "corrected_accuracy": float((corrected == true).mean()),
        "changed": float((corrected != given).mean()),
        "min_class_kept": min(kept),
    }
