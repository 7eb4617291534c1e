"""Synthetic label noise, seeded: the paper's symmetric and asymmetric noise (Sec. 4.1).

Each generator returns new noisy labels and leaves its input alone; the noise's
transition pattern can be checked with :func:`transition_matrix`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CIFAR10_ASYMMETRIC", "asymmetric_noise", "symmetric_noise", "transition_matrix"]

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
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    if num_classes == 10:
        mapping = np.arange(10)
        for source, target in CIFAR10_ASYMMETRIC.items():
            mapping[source] = target
    else:
        mapping = (np.arange(num_classes) + 1) % num_classes
    noisy = labels.copy()
    flip = (rng.random(len(labels)) < rate) & (mapping[labels] != labels)
    noisy[flip] = mapping[labels[flip]]
    return noisy


def transition_matrix(true: np.ndarray, noisy: np.ndarray, num_classes: int) -> np.ndarray:
    """Row-normalised ``T[i, j] = P(noisy = j | true = i)``."""
    counts = np.zeros((num_classes, num_classes))
    np.add.at(counts, (np.asarray(true), np.asarray(noisy)), 1)
    return counts / counts.sum(axis=1, keepdims=True).clip(min=1)
