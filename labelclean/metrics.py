"""Scoring a cleaner's flags against known label flips, and the plain baseline it is compared with.

Shared by the demo, ``labelclean.bench`` and ``benchmarks/``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PLAIN_CE", "detection_scores"]

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
