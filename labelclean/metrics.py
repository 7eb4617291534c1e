"""Scoring a cleaner's flags against known label flips, and the plain baseline it is compared with.

Shared by the demo, ``labelclean.bench`` and ``benchmarks/``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PLAIN_CE", "calibration_error", "detection_scores", "reliability_curve"]

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
