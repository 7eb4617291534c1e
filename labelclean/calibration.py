"""How likely each given label is wrong, and which label is most likely right.

Each sample has a true class ``k`` and a given label ``j``; ``T[k, j] = P(given j | true k)``
describes how labels go wrong (class-conditional noise). Two ways to get at it:

**With held-out predictions** (the sigma search's, wherever ``sigma`` has candidates: the
feature and head recipes). SLN keeps a network from fitting the wrong labels, so its
probabilities ``p(x)`` are read as its belief about the *true* class, up to a temperature
``t``. The given labels then arise as ``P(given j | x) = sum_k p_t(x)_k T[k, j]`` with
``p_t = p ** (1 / t)`` renormalised. ``t`` and ``T`` are the ones under which this best
predicts the held-out *given* labels (maximum likelihood; ``T`` by EM for each ``t``): fitted
on noisy labels only, and on samples the network did not train on, so memorised labels
do not look right. Per sample, Bayes: ``P(true k | x, given j) ∝ p_t(x)_k T[k, j]``.

**Without** (the from-scratch image recipes: one run, no held-out samples). ``p`` is read as
the distribution of the *given* label, ``p = pi T``; ``T`` is estimated from the samples the
network is surest of, the top half of each predicted class, whose true class is almost always
the predicted one, so their given labels show how each class gets mislabelled (confident
learning, Northcutt et al. 2021); ``pi = p T^-1`` (projected back onto the simplex), then Bayes
as above with ``pi`` for ``p_t``. The network has partly memorised its training labels, which
makes this cautious: few false flags, some wrong labels missed.

A label is flagged and changed only where another class is more probable than the given one,
which maximises the expected number of right labels. The estimated noise rate is the mean of
``P(given label wrong)``, with a bootstrap interval. How the held-out fit was chosen over
other ways, measured against the true labels afterwards: ``benchmarks/results/calibration.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "LabelPosterior",
    "NoiseModel",
    "fit_noise_model",
    "label_posterior",
    "noise_rate_interval",
    "tempered",
    "transition_matrix_estimate",
]


def transition_matrix_estimate(
    probs: np.ndarray, labels: np.ndarray, confident_share: float = 0.5, min_confident: int = 25
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


@dataclass(frozen=True)
class NoiseModel:
    """Temperature ``t`` of the network's probabilities and transition matrix ``T`` (module docstring)."""

    temperature: float
    transition: np.ndarray
    log_likelihood: float  # mean, of the labels it was fitted to

    def posterior(self, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        joint = tempered(probs, self.temperature) * self.transition[:, labels].T
        return joint / joint.sum(1, keepdims=True)


def _transition_by_em(probs: np.ndarray, labels: np.ndarray, iterations: int) -> tuple[np.ndarray, float]:
    """``T`` maximising the likelihood of ``labels`` under ``probs @ T`` (EM; half a count of
    smoothing), and that mean log-likelihood."""
    n_classes = probs.shape[1]
    given = np.eye(n_classes)[labels]
    transition = np.full((n_classes, n_classes), 0.1 / (n_classes - 1))
    np.fill_diagonal(transition, 0.9)
    for _ in range(iterations):
        true_given = probs * transition[:, labels].T  # E step: P(true k | x, given)
        true_given /= true_given.sum(1, keepdims=True)
        counts = true_given.T @ given + 0.5
        transition = counts / counts.sum(1, keepdims=True)
    likelihood = (probs * transition[:, labels].T).sum(1)
    return transition, float(np.log(np.clip(likelihood, 1e-300, None)).mean())


def fit_noise_model(
    probs: np.ndarray, labels: np.ndarray, temperature: float | None = None, iterations: int = 50
) -> NoiseModel:
    """The ``t`` (0.14 to 7.4, or as given) and ``T`` under which ``probs`` best predict ``labels``."""
    from scipy.optimize import minimize_scalar

    def fit(log_t: float) -> NoiseModel:
        transition, log_likelihood = _transition_by_em(tempered(probs, np.exp(log_t)), labels, iterations)
        return NoiseModel(float(np.exp(log_t)), transition, log_likelihood)

    if temperature is not None:
        return fit(np.log(temperature))
    best = minimize_scalar(lambda log_t: -fit(log_t).log_likelihood, bounds=(-2, 2), method="bounded")
    return fit(best.x)


@dataclass(frozen=True)
class LabelPosterior:
    """``posterior[i, k]``: probability that sample ``i``'s true class is ``k``, given its label."""

    posterior: np.ndarray
    temperature: float | None  # None: estimated without held-out predictions

    def mislabel_prob(self, labels: np.ndarray) -> np.ndarray:
        return 1.0 - self.posterior[np.arange(len(labels)), labels]


Reference = tuple[np.ndarray, np.ndarray]  # (probabilities, labels) of held-out samples


def label_posterior(
    probs: np.ndarray,
    labels: np.ndarray,
    reference: Reference | None = None,
    temperature: float | None = None,
) -> LabelPosterior:
    """The posterior over every sample's true class (module docstring).

    ``reference``: held-out ``(probs, labels)`` to fit the noise model to; ``temperature``
    fixes its ``t`` instead of fitting it.
    """
    if reference is not None:
        model = fit_noise_model(*reference, temperature=temperature)
        return LabelPosterior(model.posterior(probs, labels), model.temperature)
    transition = transition_matrix_estimate(probs, labels)
    return LabelPosterior(_true_label_posterior(probs, labels, transition), None)


def noise_rate_interval(
    probs: np.ndarray,
    labels: np.ndarray,
    reference: Reference | None = None,
    temperature: float | None = None,
    repeats: int = 100,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Estimated share of wrong labels and a bootstrap interval (resampling the samples and the reference).

    The bootstrap refits ``T`` on each resampled reference at one temperature: ``temperature``
    where the caller has fitted it already, else the one fitted here.
    """
    fitted = label_posterior(probs, labels, reference, temperature)
    estimate = float(fitted.mislabel_prob(labels).mean())
    rng = np.random.default_rng(seed)
    rates = []
    for _ in range(repeats):
        rows = rng.integers(0, len(labels), len(labels))
        resampled = None
        if reference is not None:
            held = rng.integers(0, len(reference[1]), len(reference[1]))
            resampled = (reference[0][held], reference[1][held])
        posterior = label_posterior(probs[rows], labels[rows], resampled, fitted.temperature)
        rates.append(posterior.mislabel_prob(labels[rows]).mean())
    low, high = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
    return estimate, float(low), float(high)
