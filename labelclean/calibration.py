"""How likely each given label is wrong, and which label is most likely right.

The network is trained on the given labels, so its probabilities ``p(x)`` estimate
the distribution of the *given* label at ``x``: wrong labels included. Under
class-conditional noise ``T[k, j] = P(given j | true k)``, ``p = pi T`` where ``pi``
is the distribution of the true label. So, per sample:

0. Where predictions on held-out samples exist (the sigma search's), ``p`` is first
   tempered (``p ** (1 / t)``, renormalised) with the ``t`` that best predicts the
   held-out *given* labels: a proper score on noisy labels, so no clean label is
   needed. Heads on embeddings come out overconfident (measured ``t`` 1.6-1.9 on
   CIFAR-10 embeddings), and an overconfident mistake on a clean sample looks like a
   wrong label.
1. ``T`` is estimated from the samples the network is surest of: among those it
   puts in class ``k`` with the highest confidence (the top tenth, at least
   25), the true class is almost always ``k``, so their given labels show how class
   ``k`` gets mislabelled (anchor points, Patrini et al. 2017; confident learning,
   Northcutt et al. 2021). The estimate includes the network's own confident
   mistakes, which keeps it cautious. Held-out predictions, where they exist, are
   used for it: a network that has partly memorised a wrong label is less sure of its
   true class, which would hide that label from the estimate.
2. ``pi = p T^-1``, projected back onto the probability simplex.
3. Bayes: ``P(true k | x, given j) = pi_k T[k, j] / sum_m pi_m T[m, j]``.

A label is changed only where another class is more probable than the given one
under (3), which maximises the expected number of right labels; with few wrong
labels ``T`` is nearly the identity, so only overwhelming evidence changes one.
The estimated noise rate is the mean of ``P(given label wrong)``, with a bootstrap
interval over samples. How steps 0 and 1 were chosen (on noisy labels only; the true
labels scored the choice afterwards): ``benchmarks/results/calibration.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "LabelPosterior",
    "label_posterior",
    "fitted_temperature",
    "noise_rate_interval",
    "tempered",
    "transition_matrix_estimate",
]


def transition_matrix_estimate(
    probs: np.ndarray, labels: np.ndarray, confident_share: float = 0.1, min_confident: int = 25
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
        take = min(len(members), max(min_confident, int(np.ceil(confident_share * len(members)))))
        confident = members[np.argsort(-probs[members, k], kind="stable")[:take]]
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


def tempered(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs ** (1 / temperature)``, renormalised: softmax of the logits divided by ``temperature``."""
    logits = np.log(np.clip(probs, 1e-12, None)) / temperature
    logits -= logits.max(1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(1, keepdims=True)


def fitted_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature (0.05 to 20) under which ``probs`` best predict ``labels`` (lowest mean NLL)."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        return float(-np.log(np.clip(tempered(probs, np.exp(log_t))[rows, labels], 1e-12, None)).mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


@dataclass(frozen=True)
class LabelPosterior:
    """``posterior[i, k]``: probability that sample ``i``'s true class is ``k``, given its label."""

    posterior: np.ndarray
    transition: np.ndarray
    temperature: float

    def mislabel_prob(self, labels: np.ndarray) -> np.ndarray:
        return 1.0 - self.posterior[np.arange(len(labels)), labels]


Reference = tuple[np.ndarray, np.ndarray]  # (probabilities, labels) of held-out samples


def label_posterior(
    probs: np.ndarray, labels: np.ndarray, reference: Reference | None = None
) -> LabelPosterior:
    """The posterior over every sample's true class (module docstring, steps 0-3).

    ``reference``: held-out ``(probs, labels)`` to temper ``probs`` and estimate ``T`` from,
    instead of ``probs, labels`` as they are.
    """
    if reference is None:
        temperature, reference = 1.0, (probs, labels)
    else:
        temperature = fitted_temperature(*reference)
        probs, reference = tempered(probs, temperature), (tempered(reference[0], temperature), reference[1])
    transition = transition_matrix_estimate(*reference)
    return LabelPosterior(_true_label_posterior(probs, labels, transition), transition, temperature)


def noise_rate_interval(
    probs: np.ndarray,
    labels: np.ndarray,
    reference: Reference | None = None,
    repeats: int = 100,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Estimated share of wrong labels and a bootstrap interval (resampling the samples and the reference)."""
    estimate = float(label_posterior(probs, labels, reference).mislabel_prob(labels).mean())
    rng = np.random.default_rng(seed)
    rates = []
    for _ in range(repeats):
        rows = rng.integers(0, len(labels), len(labels))
        resampled = None
        if reference is not None:
            held = rng.integers(0, len(reference[1]), len(reference[1]))
            resampled = (reference[0][held], reference[1][held])
        rates.append(label_posterior(probs[rows], labels[rows], resampled).mislabel_prob(labels[rows]).mean())
    low, high = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
    return estimate, float(low), float(high)
