"""How likely each given label is wrong, and which label is most likely right.

The network is trained on the given labels, so its probabilities ``p(x)`` estimate
the distribution of the *given* label at ``x``: wrong labels included. Under
class-conditional noise ``T[k, j] = P(given j | true k)``, ``p = pi T`` where ``pi``
is the distribution of the true label. So, per sample:

1. ``T`` is estimated from the samples the network is surest of: among those it
   puts in class ``k`` with above-median confidence, the true class is almost
   always ``k``, so their given labels show how class ``k`` gets mislabelled
   (the idea behind confident learning, Northcutt et al. 2021). The estimate
   includes the network's own confident mistakes, which keeps it cautious.
2. ``pi = p T^-1``, projected back onto the probability simplex.
3. Bayes: ``P(true k | x, given j) = pi_k T[k, j] / sum_m pi_m T[m, j]``.

A label is changed only where another class is more probable than the given one
under (3), which maximises the expected number of right labels; with few wrong
labels ``T`` is nearly the identity, so only overwhelming evidence changes one.
The estimated noise rate is the mean of ``P(given label wrong)``, with a bootstrap
interval over samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "LabelPosterior",
    "correction_threshold",
    "label_posterior",
    "noise_rate_interval",
    "transition_matrix_estimate",
]


def transition_matrix_estimate(
    probs: np.ndarray, labels: np.ndarray, confident_share: float = 0.5
) -> np.ndarray:
    """``T[k, j]``: share of given label ``j`` among the samples confidently predicted as ``k``.

    Rows keep
    at least half their mass on the diagonal (fewer than half of a class's labels
    wrong: otherwise which class is which cannot be told from the labels), which
    also keeps ``T`` invertible.
    """
    n_classes = probs.shape[1]
    predicted = probs.argmax(1)
    counts = np.zeros((n_classes, n_classes))
    for k in range(n_classes):
        members = np.flatnonzero(predicted == k)
        if len(members) == 0:
            continue
        cut = np.quantile(probs[members, k], 1 - confident_share)
        confident = members[probs[members, k] >= cut]
        counts[k] += np.bincount(labels[confident], minlength=n_classes)
    # Each row's share of wrong labels, then how they spread over the other classes,
    # both with add-one smoothing: a pair never seen among a few dozen samples is
    # rare, not impossible (a zero would forbid ever suggesting that class).
    off_counts = counts - np.diag(np.diag(counts))
    wrong_share = (off_counts.sum(1) + 1) / (counts.sum(1) + 2)
    spread = (off_counts + 1 - np.eye(n_classes)) / (off_counts.sum(1, keepdims=True) + n_classes - 1)
    transition = spread * wrong_share[:, None]
    transition[np.diag_indices(n_classes)] = 1 - wrong_share
    diagonal = np.diag(transition).copy()
    off = transition - np.diag(diagonal)
    short = diagonal < 0.5
    transition[short] = off[short] * (0.5 / off[short].sum(1, keepdims=True))
    transition[short, np.flatnonzero(short)] = 0.5
    return transition


def _true_label_posterior(probs: np.ndarray, labels: np.ndarray, transition: np.ndarray) -> np.ndarray:
    true_dist = probs @ np.linalg.pinv(transition)
    true_dist = np.clip(true_dist, 0, None)
    true_dist /= np.clip(true_dist.sum(1, keepdims=True), 1e-12, None)
    joint = true_dist * transition[:, labels].T  # pi_k T[k, given]
    total = joint.sum(1, keepdims=True)
    # Where the inversion leaves no mass on any class that could give this label, fall back on p.
    return np.where(total > 1e-12, joint / np.clip(total, 1e-12, None), probs)


@dataclass(frozen=True)
class LabelPosterior:
    """``posterior[i, k]``: probability that sample ``i``'s true class is ``k``, given its label."""

    posterior: np.ndarray
    transition: np.ndarray

    def mislabel_prob(self, labels: np.ndarray) -> np.ndarray:
        return 1.0 - self.posterior[np.arange(len(labels)), labels]


def label_posterior(probs: np.ndarray, labels: np.ndarray) -> LabelPosterior:
    """The posterior over every sample's true class (module docstring, steps 1-3)."""
    transition = transition_matrix_estimate(probs, labels)
    return LabelPosterior(_true_label_posterior(probs, labels, transition), transition)


def noise_rate_interval(
    probs: np.ndarray, labels: np.ndarray, repeats: int = 100, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Estimated share of wrong labels and a bootstrap interval (resampling the samples)."""
    estimate = float(label_posterior(probs, labels).mislabel_prob(labels).mean())
    rng = np.random.default_rng(seed)
    rates = []
    for _ in range(repeats):
        rows = rng.integers(0, len(labels), len(labels))
        rates.append(label_posterior(probs[rows], labels[rows]).mislabel_prob(labels[rows]).mean())
    low, high = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
    return estimate, float(low), float(high)


def correction_threshold(
    held_probs: np.ndarray,
    held_labels: np.ndarray,
    transition: np.ndarray,
    noise_rate: float,
    seed: int = 0,
) -> float:
    """The lowest ``suggested_true_prob`` at which corrections raise label accuracy, tried on held-out data.

    ``held_probs`` come from a network that never saw ``held_labels``. Half of
    those samples get a wrong label, drawn the way ``transition`` says this data
    gets mislabelled; then, for each threshold ``t``, ``repair(t)`` is the share of
    them the rule sets back and ``harm(t)`` the share of the untouched half (given
    labels, nearly all right) it changes. At a noise rate ``e`` a correction pass
    gains ``e * repair(t) - (1 - e) * harm(t)`` right labels per sample; the best
    ``t`` is returned, or infinity (change nothing) where no threshold gains.
    This is what a weak network on nearly clean data needs: its confident mistakes
    show up as harm, and the threshold rises until they stop.
    """
    rng = np.random.default_rng(seed)
    n, n_classes = held_probs.shape
    relabel = rng.random(n) < 0.5
    off = transition * (1 - np.eye(n_classes))
    off /= off.sum(1, keepdims=True)
    wrong = np.array([rng.choice(n_classes, p=off[g]) for g in held_labels[relabel]], dtype=np.int64)
    labels = held_labels.copy()
    labels[relabel] = wrong
    posterior = _true_label_posterior(held_probs, labels, transition)
    suggested = posterior.argmax(1)
    strength = posterior[np.arange(n), suggested]
    changes = suggested != labels
    repaired = changes & relabel & (suggested == held_labels)
    harmed = changes & ~relabel
    best, best_gain = np.inf, 0.0
    for t in np.linspace(0.5, 0.99, 50):
        repair = (repaired & (strength >= t)).sum() / max(1, relabel.sum())
        harm = (harmed & (strength >= t)).sum() / max(1, (~relabel).sum())
        gain = noise_rate * repair - (1 - noise_rate) * harm
        if gain > best_gain:
            best, best_gain = float(t), gain
    return best
