"""Held-out probabilities for every sample (cross-fitting), and sigma chosen on the first fold.

The samples are split into folds; each fold's probabilities come from a network trained on
the other folds, so that no sample is judged by a network that has seen (and perhaps
memorised) its label. Those held-out probabilities are what the noise model is fitted on
(:mod:`labelclean.calibration`).

Where sigma has candidates, the first fold chooses it the way the paper does (Appendix B: on
noisy samples held out of training): each candidate trains on the other folds and is scored
on the first fold's noisy labels by their mean negative log-likelihood, a proper scoring rule
that rewards a model whose probabilities of the given labels are right. (Accuracy on the noisy
labels ignores confidence; it is kept beside.) The chosen candidate's predictions for the
first fold are kept, and it alone trains on the other folds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

__all__ = ["SIGMA_CANDIDATES", "CrossFit", "SigmaSearch", "cross_fit", "fold_rows"]

# The paper's grid {0.1, 0.2, 0.5, 1}, less the two smallest: below 0.5 a head on feature
# vectors memorises the wrong labels it should flag, and the held-out score of the noisy labels
# cannot see that (it may still prefer the smallest sigma) while the audit then misses most
# flips (benchmarks/results/head-tuning.md). 2 is left out for the mirror reason: it hedges, so
# its held-out score of the noisy labels can win while it ranks the wrong labels worse than 1
# (benchmarks/results/decisions.md).
SIGMA_CANDIDATES = (0.5, 1.0)

# ``fit_predict(sigma, train_rows, held_rows, fold)`` trains with ``sigma`` on ``train_rows``
# and returns class probabilities ``(len(held_rows), C)``; ``fold`` names the run.
FitPredict = Callable[[float, np.ndarray, np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class SigmaSearch:
    """The chosen sigma and every candidate's scores on the first fold's noisy labels."""

    chosen: float
    nll: dict[float, float]
    accuracy: dict[float, float]
    held_out: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "nll": {str(k): round(v, 5) for k, v in self.nll.items()},
            "accuracy": {str(k): round(v, 5) for k, v in self.accuracy.items()},
            "held_out": self.held_out,
            "score": "mean negative log-likelihood of the held-out noisy labels (lowest wins)",
        }


@dataclass(frozen=True)
class CrossFit:
    """Every sample's held-out class probabilities and fold, the sigma they were trained with, the search."""

    held_out: np.ndarray = field(repr=False)
    fold: np.ndarray = field(repr=False)
    sigma: float
    search: SigmaSearch | None


def fold_rows(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """The rows of each fold, stratified by label where every label has a sample in each fold."""
    counts = np.bincount(labels)
    stratified = counts[counts > 0].min() >= folds
    splitter = (StratifiedKFold if stratified else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    return [held for _, held in splitter.split(np.zeros(len(labels)), labels)]


def cross_fit(
    fit_predict: FitPredict,
    labels: np.ndarray,
    num_classes: int,
    *,
    folds: int,
    sigma: float | Sequence[float],
    seed: int = 0,
) -> CrossFit:
    """Held-out probabilities ``(N, num_classes)`` of every sample, from ``folds`` networks.

    ``sigma``: one strength, or candidates chosen on the first fold (module docstring).
    ``labels``: encoded 0..C-1, at least two; ``folds``: at least 2 (no more than there are samples).
    """
    held_out = np.zeros((len(labels), num_classes))
    parts = fold_rows(labels, min(folds, len(labels)), seed)
    fold_of = np.zeros(len(labels), dtype=np.int64)
    for fold, held in enumerate(parts):
        fold_of[held] = fold
    everything = np.arange(len(labels))
    search = None
    if isinstance(sigma, (int, float)):
        chosen = float(sigma)
    else:
        first = parts[0]
        train = np.setdiff1d(everything, first)
        scores = {s: fit_predict(s, train, first, 0) for s in map(float, sigma)}
        search = _scored(scores, labels[first])
        chosen = search.chosen
        held_out[first] = scores[chosen]
    for fold, held in enumerate(parts):
        if search is None or fold > 0:
            held_out[held] = fit_predict(chosen, np.setdiff1d(everything, held), held, fold)
    return CrossFit(held_out, fold_of, chosen, search)


def _scored(probs: dict[float, np.ndarray], held: np.ndarray) -> SigmaSearch:
    rows = np.arange(len(held))
    nll = {s: float(-np.log(np.clip(p[rows, held], 1e-12, None)).mean()) for s, p in probs.items()}
    accuracy = {s: float((p.argmax(1) == held).mean()) for s, p in probs.items()}
    return SigmaSearch(min(nll, key=nll.get), nll, accuracy, held_out=len(held))
