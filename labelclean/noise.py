"""Synthetic label noise, seeded: the paper's symmetric and asymmetric noise (Sec. 4.1), and
instance-dependent noise in the manner of the paper's own label file (Chen et al., 2021).

Each generator returns new noisy labels and leaves its input alone; the noise's
transition pattern can be checked with :func:`transition_matrix`.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CIFAR10_ASYMMETRIC",
    "asymmetric_noise",
    "instance_dependent_noise",
    "pair_noise",
    "symmetric_noise",
    "transition_matrix",
]

# truck -> automobile, bird -> airplane, deer -> horse, cat <-> dog (Zhang & Sabuncu, 2018)
CIFAR10_ASYMMETRIC = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}


def symmetric_noise(labels: np.ndarray, rate: float, num_classes: int, seed: int = 0) -> np.ndarray:
    """Flip a random ``rate`` of the labels, each to a uniformly drawn *other* class."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    noisy = labels.copy()
    flip = rng.random(len(labels)) < rate
    noisy[flip] = (labels[flip] + rng.integers(1, num_classes, int(flip.sum()))) % num_classes
    return noisy


def asymmetric_noise(labels: np.ndarray, rate: float, num_classes: int, seed: int = 0) -> np.ndarray:
    """Flip each label of a source class to its paired class with probability ``rate``.

    CIFAR-10 (10 classes): the pairs of :data:`CIFAR10_ASYMMETRIC`; other class counts
    (CIFAR-100): every class to the next one, circularly.
    """
    if num_classes == 10:
        return pair_noise(labels, rate, CIFAR10_ASYMMETRIC, seed)
    return pair_noise(labels, rate, {k: (k + 1) % num_classes for k in range(num_classes)}, seed)


def pair_noise(labels: np.ndarray, rate: float, pairs: dict[int, int], seed: int = 0) -> np.ndarray:
    """Flip each label ``k`` of ``pairs`` to ``pairs[k]`` with probability ``rate`` (others stay)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    mapping = np.arange(max(int(labels.max()), *pairs) + 1)
    for source, target in pairs.items():
        mapping[source] = target
    noisy = labels.copy()
    flip = (rng.random(len(labels)) < rate) & (mapping[labels] != labels)
    noisy[flip] = mapping[labels[flip]]
    return noisy


def instance_dependent_noise(labels: np.ndarray, probs: np.ndarray, rate: float) -> np.ndarray:
    """Relabel the ``rate`` share of samples a classifier finds most ambiguous to its runner-up class.

    ``probs`` ``(N, C)``: a classifier's probabilities, trained on the true ``labels`` but not on
    the sample itself (out-of-fold). The samples whose most probable *other* class is most
    probable take that class, as in the instance-dependent noise of the paper's label file
    (wrong labels where a network is confused, and where it is confused to).
    """
    labels = np.asarray(labels)
    others = np.array(probs, dtype=float)
    others[np.arange(len(labels)), labels] = -np.inf
    runner_up = others.argmax(1)
    noisy = labels.copy()
    flip = np.argsort(-others.max(1), kind="stable")[: round(rate * len(labels))]
    noisy[flip] = runner_up[flip]
    return noisy


def transition_matrix(true: np.ndarray, noisy: np.ndarray, num_classes: int) -> np.ndarray:
    """Row-normalised ``T[i, j] = P(noisy = j | true = i)``."""
    counts = np.zeros((num_classes, num_classes))
    np.add.at(counts, (np.asarray(true), np.asarray(noisy)), 1)
    return counts / counts.sum(axis=1, keepdims=True).clip(min=1)
