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

# ``fit_predict(sigma, train_rows, held_rows, run)`` trains with ``sigma`` on ``train_rows``
# and returns class probabilities ``(len(held_rows), C)``; ``run`` numbers it (split x folds + fold).
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
    repeats: int = 1,
) -> CrossFit:
    """Held-out probabilities ``(N, num_classes)`` of every sample, from ``folds`` networks.

    ``sigma``: one strength, or candidates chosen on the first fold (module docstring).
    ``labels``: encoded 0..C-1, at least two; ``folds``: at least 2 (no more than there are samples).
    ``repeats``: how many times the cross-fitting runs, each on its own split (``seed`` plus the
    repeat); every sample's probabilities are the mean of its ``repeats`` held-out networks. A
    network that does not see a fifth of the data answers differently on many samples from one
    split to the next; the mean steadies the decisions built on them. ``fold``: the first
    split's, whose networks the noise model compares (:func:`labelclean.calibration.confidence_ranks`).
    """
    held_out = np.zeros((len(labels), num_classes))
    everything = np.arange(len(labels))
    fold_of = np.zeros(len(labels), dtype=np.int64)
    search, chosen = None, sigma
    for repeat in range(repeats):
        parts = fold_rows(labels, min(folds, len(labels)), seed + repeat)
        for fold, held in enumerate(parts):
            if repeat == 0:
                fold_of[held] = fold
            run, train = repeat * len(parts) + fold, np.setdiff1d(everything, held)
            if isinstance(chosen, (int, float)):
                held_out[held] += fit_predict(float(chosen), train, held, run)
            else:  # the first run chooses sigma among the candidates
                scores = {s: fit_predict(s, train, held, run) for s in map(float, chosen)}
                search = _scored(scores, labels[held])
                chosen = search.chosen
                held_out[held] += scores[chosen]
    return CrossFit(held_out / repeats, fold_of, float(chosen), search)


def _scored(probs: dict[float, np.ndarray], held: np.ndarray) -> SigmaSearch:
    rows = np.arange(len(held))
    nll = {s: float(-np.log(np.clip(p[rows, held], 1e-12, None)).mean()) for s, p in probs.items()}
    accuracy = {s: float((p.argmax(1) == held).mean()) for s, p in probs.items()}
    return SigmaSearch(min(nll, key=nll.get), nll, accuracy, held_out=len(held))
