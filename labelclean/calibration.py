"""How likely each given label is wrong, and which label is most likely right.

Every sample has a true class ``k`` and a given label ``j``; ``T[k, j] = P(given j | true k)``
describes how labels go wrong. The noise model is fitted on *held-out* probabilities: each
sample's class probabilities from networks that did not train on it (cross-fitting), so that a
memorised wrong label cannot look right.

**How often each class is mislabelled** (:func:`fit_noise_model`). Among the samples a network
predicts as class ``k``, those it is surest of are almost all of class ``k``, so the share of
them whose given label differs shows how often class ``k`` is mislabelled, and which labels it
gets (the anchor idea of confident learning, Northcutt et al. 2021). A weak network is also
sure and wrong at times, the more often the less sure it is; so the share is read where
sureness is highest: a straight line through "the label differs" against each sample's
sureness rank within its predicted class (its surer half; ranked among the samples one network
judged), taken at rank zero, its slope kept only as far as the data support it, and only where the
network as a whole shows a rising line (two standard errors, its classes' slopes pooled) or the
class does at the same chance of a false rise shared among the classes (2.84 for ten). On clean labels
that is about zero however weak the network; under noise that strikes every sample alike it is
the noise rate. Noise that strikes ambiguous samples most (instance-dependent or human noise) is
underestimated, since the surest samples are the ones it spares. The classes' shares are
pooled (empirical Bayes: a share measured on few samples moves towards the others') before each
is held to [0, 1/2], so that clean classes whose end points scatter below zero do not count
their scatter above it, and a rare class, which a network barely predicts and whose surest
samples are then often other classes', does not make up a share of its own; classes seen on
few samples are also shrunk towards "no noise". ``T`` and the label counts give the true class
shares and, per given label ``j``, the share of its labels that are wrong; a bootstrap over the
samples gives the spread of both.

**Which samples** (:func:`label_posterior`). Each sample's evidence is how much likelier its
label is wrong than right under the mean of the final network's and the held-out probabilities
and the noise pattern: the probability of each other class times how often that class gets this
label, against the probability of the label times how often its class keeps it. Wrong and right
labels form two modes of that evidence, mixed in the proportion of the label's noise share
(pooled with the other labels' as far as their spread allows); the posterior of the wrong mode
(never falling as the evidence grows, though two Gaussians' ratio turns back in their tails),
shifted as a whole so that its mean is the noise model's count, is the probability that the label
is wrong. Which class a wrong label should have been is ``P(k | x) T[k, j]`` over the other
classes.

Decisions: the ``round(sum of mislabel probabilities)`` samples with the most evidence against
their label are flagged (:func:`flag_most_suspicious`), so the number flagged is the expected
number of wrong labels (the audit adds every label it changes, below); the evidence, not the
probability, orders them, because it compares samples alike across labels where the labels'
noise shares are least sure. A label is changed only where the suggested class is more probably
right than the given label when the label's samples are held to its own share, at the low end of
its bootstrap spread: a class the network barely knows (a rare one) looks wrong throughout and
must not lose its labels for that.
Where each held-out network trained on half the samples or fewer (two folds, as for networks
trained from scratch), that low end is lowered to the final network's own count of the same labels
where that is lower: it trained on every label, so it misses the wrong ones it memorised, but it
does not take the held-out networks' mistakes for noise, which such weak held-out networks make in
numbers. Heads on five folds judge about as well as the final head, whose count is zero where it
memorised the wrong labels (a small sigma), so there it bounds only a label of which some held-out
head trained on fewer samples than ``prior`` (a class of two among 180 samples): such a head never
predicts the class, so every sample of it looks mislabelled to the held-out count. Such a label's
noise share, which its mislabel probabilities and flags follow, is also at most that count.
How this was chosen over other rules, on every kind of data: ``benchmarks/results/decisions.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "LabelPosterior",
    "NoiseModel",
    "confidence_ranks",
    "fit_noise_model",
    "flag_most_suspicious",
    "label_posterior",
    "shifted_to_mean",
    "transition_estimate",
    "two_mode_posterior",
]


def confidence_ranks(probs: np.ndarray, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's predicted class and its sureness rank in (0, 1) (small: surest) among the samples
    of its ``groups`` value predicted as that class.

    ``groups``: which network judged each sample (its cross-fitting fold). Networks differ in how
    sure they are, and one trained on folds with fewer wrong labels is surer of the samples it
    holds out, which then hold more: ranked together, the surest samples would over-represent
    the noisiest fold.
    """
    predicted = probs.argmax(1)
    sureness = probs.max(1)
    groups = np.zeros(len(probs), dtype=np.int64) if groups is None else np.asarray(groups)
    ranks = np.ones(len(probs))
    for group in np.unique(groups):
        for k in np.unique(predicted[groups == group]):
            members = np.flatnonzero((groups == group) & (predicted == k))
            ordered = members[np.argsort(-sureness[members], kind="stable")]
            ranks[ordered] = (np.arange(len(members)) + 0.5) / len(members)
    return predicted, ranks


# A line rising with the sureness rank is taken where its slope is this many standard errors
# above flat, pooled over the network's classes, or in its own class at the same chance of a
# false rise shared among the classes tested (Bonferroni: 2.84 for ten classes).
SLOPE_EVIDENCE = 2.0


def _class_evidence(classes: int) -> float:
    """The standard errors a single class's slope must rise by when ``classes`` are tested."""
    normal = NormalDist()
    return normal.inv_cdf(1 - (1 - normal.cdf(SLOPE_EVIDENCE)) / max(classes, 1))


@dataclass(frozen=True)
class _RankLine:
    """A least-squares line through ``(rank, label differs)`` over one class's surest samples."""

    mean: float
    slope: float
    residual_variance: float
    rank_spread: float  # the sum of squared deviations of the ranks from their mean
    mean_rank: float
    count: int

    @classmethod
    def fit(cls, differs: np.ndarray, ranks: np.ndarray) -> _RankLine | None:
        if len(differs) < 3 or np.ptp(ranks) == 0:
            return None
        mean = float(differs.mean())
        centred = ranks - ranks.mean()
        spread = float((centred**2).sum())
        slope = float((centred * (differs - mean)).sum() / spread)
        residual = differs - mean - slope * centred
        variance = float((residual**2).sum() / (len(differs) - 2))
        return cls(mean, slope, variance, spread, float(ranks.mean()), len(differs))

    @property
    def slope_variance(self) -> float:
        return self.residual_variance / self.rank_spread

    def rises(self, evidence: float = SLOPE_EVIDENCE) -> bool:
        return self.slope > 0 and self.slope**2 > evidence**2 * self.slope_variance

    def at_rank_zero(self, taken: bool) -> tuple[float, float]:
        """Where the line meets rank zero, its slope shrunk towards flat by how little the data
        support it (positive-part James-Stein); the plain mean, whose spread is a quarter of the
        end point's, where the line is not ``taken`` (neither this class nor the network as a
        whole shows a rising line). Also the end point's sampling variance per unit of residual
        variance.

        A network's mistakes grow as its sureness falls, so a rising line is what they look
        like, and a falling one can only be chance. A network sure and right over the whole
        range (on digits, none of its surer half wrong) still draws rising lines by chance in
        some classes (one in five fits of ten classes at two standard errors); taking them would
        lower those classes' shares while falling lines never raise the others', and the count
        would be biased low.
        """
        if self.slope <= 0 or not taken:
            return self.mean, 1 / self.count
        kept = max(0.0, 1 - self.slope_variance / self.slope**2)
        return self.mean - kept * self.slope * self.mean_rank, 1 / self.count + (
            kept * self.mean_rank
        ) ** 2 / self.rank_spread


def _shrunk_to_mean(values: np.ndarray, variances: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``values`` measured with sampling ``variances`` drawn towards their mean (empirical Bayes):
    one that differs from the rest by no more than its own spread explains moves most.

    The mean and the spread between values are weighted by ``counts`` (samples behind each), so
    that a few small groups, whose values scatter most, cannot widen the spread that lets them
    stay where they scattered to. Values with no count are left as they are.
    """
    present = counts > 0
    if present.sum() < 2:
        return values.copy()
    weights = counts[present] / counts[present].sum()
    mean = float(weights @ values[present])
    between = max(0.0, float(weights @ (values[present] - mean) ** 2 - weights @ variances[present]))
    kept = np.divide(between, between + variances, out=np.ones(len(values)), where=between + variances > 0)
    return np.where(present, mean + kept * (values - mean), values)


def _network_rises(lines: list[_RankLine]) -> bool:
    """Whether the classes' slopes, pooled by their precision, rise by ``SLOPE_EVIDENCE``
    standard errors: the network makes mistakes that grow as its sureness falls."""
    measured = [line for line in lines if line.slope_variance > 0]
    if not measured:
        return False
    weights = np.array([1 / line.slope_variance for line in measured])
    slopes = np.array([line.slope for line in measured])
    return float((weights * slopes).sum() / np.sqrt(weights.sum())) > SLOPE_EVIDENCE


def transition_estimate(
    held_out: np.ndarray,
    labels: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    top: float = 0.5,
    prior: float = 5.0,
) -> np.ndarray:
    """``T[k, j]`` from the surest ``top`` share of each predicted class (module docstring).

    ``groups``: see :func:`confidence_ranks`. A row's noise share is capped at one half (more,
    and which class is which cannot be told from the labels) and shrunk by ``prior``
    pseudo-samples without noise.
    """
    n_classes = held_out.shape[1]
    predicted, ranks = confidence_ranks(held_out, groups)
    frequency = np.bincount(labels, minlength=n_classes) / len(labels)
    transition = np.eye(n_classes)
    surest_of = [(predicted == k) & (ranks <= top) for k in range(n_classes)]
    lines = [
        _RankLine.fit((labels[surest] != k).astype(float), ranks[surest])
        for k, surest in enumerate(surest_of)
    ]
    fitted = [k for k, line in enumerate(lines) if line is not None]
    network_rises = _network_rises([lines[k] for k in fitted])
    class_evidence = _class_evidence(len(fitted))
    seen = np.array([int(surest.sum()) for surest in surest_of])
    at_zero, design = np.zeros(n_classes), np.ones(n_classes) / np.maximum(seen, 1)
    for k, surest in enumerate(surest_of):
        if lines[k] is not None:
            at_zero[k], design[k] = lines[k].at_rank_zero(network_rises or lines[k].rises(class_evidence))
        elif seen[k]:
            at_zero[k] = float((labels[surest] != k).mean())
    # One residual variance for every class (the classes' pooled): each class's own grows with
    # its share, and shares that scattered high would then be drawn in more than those that
    # scattered low, biasing the count low.
    residual = (
        np.average([lines[k].residual_variance for k in fitted], weights=seen[fitted]) if fitted else 0.0
    )
    # Pooled before each share is held to [0, 1/2]: clipped one by one, classes without noise
    # whose end points scatter below zero would count their scatter above it as noise.
    shares = np.clip(_shrunk_to_mean(at_zero, residual * design, seen), 0, 0.5) * seen / (seen + prior)
    for k, surest in enumerate(surest_of):
        if seen[k] == 0:
            continue
        differs = labels[surest] != k
        # Where class k's wrong labels go: the labels seen, plus one label's worth spread by
        # frequency (a pair never seen among a few dozen samples is rare, not impossible).
        spread = np.bincount(labels[surest][differs], minlength=n_classes) + frequency
        spread[k] = 0
        if spread.sum() == 0:  # no other label among the samples at all: spread evenly
            spread = np.ones(n_classes) - np.eye(n_classes)[k]
        transition[k] = shares[k] * spread / spread.sum()
        transition[k, k] = 1 - shares[k]
    return transition


def _label_noise(labels: np.ndarray, transition: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per given label, the share of its labels that are wrong; and the true class shares."""
    given = np.bincount(labels, minlength=len(transition)) / len(labels)
    true = np.clip(given @ np.linalg.pinv(transition), 0, None)
    true /= true.sum()
    arriving = true @ transition
    right = true * np.diag(transition)
    return np.clip(1 - right / np.clip(arriving, 1e-12, None), 0, 1), true


@dataclass(frozen=True)
class NoiseModel:
    """How labels go wrong (module docstring), fitted on held-out probabilities.

    ``label_noise[j]``: the share of labels ``j`` that are wrong, ``label_noise_spread[j]`` its
    bootstrap standard deviation and ``label_noise_low[j]`` its lower bound (a bootstrap
    quantile, or the final network's own count where that is lower), which label changes use.
    ``rate``: the share of all labels that are wrong; ``interval``: its bootstrap interval.
    ``label_noise_cap[j]``: the most label ``j``'s pooled share may be (the final network's own
    count where the held-out networks trained on too few of its samples; None: no cap).
    """

    transition: np.ndarray
    true_prior: np.ndarray
    label_noise: np.ndarray
    label_noise_spread: np.ndarray
    label_noise_low: np.ndarray
    rate: float
    interval: tuple[float, float]
    label_noise_cap: np.ndarray | None = None

    def pooled_label_noise(self, counts: np.ndarray) -> np.ndarray:
        """Each label's noise share pooled with the others' (:func:`_shrunk_to_mean`; ``counts``:
        how many samples carry each label), at most its ``label_noise_cap``."""
        pooled = _shrunk_to_mean(self.label_noise, self.label_noise_spread**2, counts)
        return pooled if self.label_noise_cap is None else np.minimum(pooled, self.label_noise_cap)


def fit_noise_model(
    held_out: np.ndarray,
    labels: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    top: float = 0.5,
    prior: float = 5.0,
    repeats: int = 100,
    level: float = 0.95,
    low_quantile: float = 0.1,
    seed: int = 0,
    in_sample: np.ndarray | None = None,
) -> NoiseModel:
    """The noise model of held-out probabilities ``(N, C)`` and encoded labels ``(N,)``.

    ``groups``, ``top`` and ``prior``: see :func:`transition_estimate`. The bootstrap (``repeats``
    resamplings of the samples) gives the ``level`` interval of the rate and the
    ``low_quantile`` of each label's noise share.

    ``in_sample``: the final network's probabilities of the same samples, made the same count
    of. That network trained on every label, so it misses the wrong labels it memorised; but
    the held-out networks' mistakes do not look like noise to it, and those grow where each
    held-out network is weak (a CNN from scratch on half of a few thousand images is confidently
    wrong on a fifth of its surest samples, which then count as noise). Where its count is
    lower, the lower bound of each label the held-out networks judge weakly (all, with two
    ``groups`` or fewer; else a label of which one of them trained on fewer than ``prior``
    samples), which changes answer to, is that count; and for a label of which one trained on
    fewer than ``prior`` samples, too few to learn its class from, so is its share
    (``label_noise_cap``).
    """
    groups = np.zeros(len(labels), dtype=np.int64) if groups is None else np.asarray(groups)
    transition = transition_estimate(held_out, labels, groups=groups, top=top, prior=prior)
    noise, true = _label_noise(labels, transition)
    rng = np.random.default_rng(seed)
    rates, noises = [], []
    for _ in range(repeats):
        rows = rng.integers(0, len(labels), len(labels))
        resampled = transition_estimate(
            held_out[rows], labels[rows], groups=groups[rows], top=top, prior=prior
        )
        noise_b, true_b = _label_noise(labels[rows], resampled)
        rates.append(float(true_b @ (1 - np.diag(resampled))))
        # A label missing from a resample tells nothing about its noise: keep the estimate.
        present = np.bincount(labels[rows], minlength=len(noise)) > 0
        noises.append(np.where(present, noise_b, noise))
    low, high = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2]) if repeats else (np.nan, np.nan)
    low_noise = np.quantile(np.array(noises), low_quantile, axis=0) if repeats else noise
    cap = None
    if in_sample is not None:
        own_count = _label_noise(labels, transition_estimate(in_sample, labels, top=top, prior=prior))[0]
        unlearned = _fewest_seen(labels, groups, len(noise)) < prior
        weak = unlearned | (len(np.unique(groups)) <= 2)
        low_noise = np.where(weak, np.minimum(low_noise, own_count), low_noise)
        cap = np.where(unlearned, own_count, 1.0)
    return NoiseModel(
        transition=transition,
        true_prior=true,
        label_noise=noise,
        label_noise_spread=np.array(noises).std(0) if repeats else np.zeros_like(noise),
        label_noise_low=np.minimum(noise, low_noise),
        rate=float(true @ (1 - np.diag(transition))),
        interval=(float(low), float(high)),
        label_noise_cap=cap,
    )


def _fewest_seen(labels: np.ndarray, groups: np.ndarray, classes: int) -> np.ndarray:
    """Per label: the fewest samples of it that a held-out network (one per group, trained on
    the other groups) trained on."""
    return np.stack([np.bincount(labels[groups != g], minlength=classes) for g in np.unique(groups)]).min(0)


def two_mode_posterior(evidence: np.ndarray, prior: np.ndarray, iterations: int = 100) -> np.ndarray:
    """``P(wrong)`` per sample: two Gaussian modes of ``evidence`` (high: wrong), each sample's
    share of the wrong mode fixed at ``prior``; the modes' means and spreads by EM, their
    likelihood ratio held non-decreasing in the evidence (:func:`_rising_log_ratio`)."""
    wrong = np.zeros(len(evidence))
    hopeful = prior > 0
    if not hopeful.any() or len(evidence) < 2:
        return wrong
    floor = max(1e-3, 0.01 * float(evidence.std()))  # a mode may not shrink onto a single point
    cut = np.quantile(evidence, 1 - np.clip(prior.mean(), 0.01, 0.5))
    split = evidence >= cut
    if split.all() or not split.any():
        split = evidence >= np.median(evidence)
    means = np.array([evidence[~split].mean(), evidence[split].mean()])
    spreads = np.maximum([evidence[~split].std(), evidence[split].std()], floor)
    prior_odds = np.log(np.clip(prior, 1e-12, 1)) - np.log(np.clip(1 - prior, 1e-12, 1))
    for _ in range(iterations):
        log_ratio = _rising_log_ratio(evidence, means, spreads)
        wrong = np.where(hopeful, 1 / (1 + np.exp(-np.clip(log_ratio + prior_odds, -50, 50))), 0.0)
        for mode, weight in enumerate((1 - wrong, wrong)):
            if weight.sum() > 1e-9:
                means[mode] = (weight * evidence).sum() / weight.sum()
                spread = np.sqrt((weight * (evidence - means[mode]) ** 2).sum() / weight.sum())
                spreads[mode] = max(float(spread), floor)
    return wrong


def _rising_log_ratio(evidence: np.ndarray, means: np.ndarray, spreads: np.ndarray) -> np.ndarray:
    """The log-likelihood ratio of the wrong mode (1) to the right one (0), held where it turns.

    Two Gaussians of unequal spread have a ratio quadratic in the evidence, which turns back
    beyond its vertex: past a narrow wrong mode, more evidence against a label would make it
    *less* likely wrong (and below a wide one, a surer label more likely wrong). The evidence is
    the odds against the label, so its posterior must not fall as it grows; the modes' tails are
    a convenience, not a finding, and the evidence is held at the vertex on the side where the
    ratio turns.
    """
    curvature = 1 / spreads[0] ** 2 - 1 / spreads[1] ** 2
    if curvature != 0:
        vertex = (means[0] / spreads[0] ** 2 - means[1] / spreads[1] ** 2) / curvature
        evidence = np.minimum(evidence, vertex) if curvature < 0 else np.maximum(evidence, vertex)
    return (
        -0.5 * ((evidence - means[1]) / spreads[1]) ** 2
        - np.log(spreads[1])
        + 0.5 * ((evidence - means[0]) / spreads[0]) ** 2
        + np.log(spreads[0])
    )


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def shifted_to_mean(probability: np.ndarray, mean: float) -> np.ndarray:
    """``probability`` with one shift of every log-odds, so that its mean is ``mean``: the
    posterior under priors moved together, which keeps the samples' order."""
    if mean <= 0 or not (probability > 0).any():
        return np.zeros_like(probability)
    odds = _log_odds(probability)
    low, high = -50.0, 50.0
    for _ in range(60):  # bisection on the shift: the mean grows with it
        shift = (low + high) / 2
        if (1 / (1 + np.exp(-(odds + shift)))).mean() < mean:
            low = shift
        else:
            high = shift
    return np.where(probability > 0, 1 / (1 + np.exp(-(odds + (low + high) / 2))), 0.0)


def _with_prior(probability: np.ndarray, prior: np.ndarray, new_prior: np.ndarray) -> np.ndarray:
    """``probability`` (a posterior under ``prior``) under ``new_prior`` instead: Bayes with the odds swapped."""

    swapped = 1 / (1 + np.exp(-(_log_odds(probability) - _log_odds(prior) + _log_odds(new_prior))))
    return np.where(new_prior > 0, swapped, 0.0)


@dataclass(frozen=True)
class LabelPosterior:
    """``posterior[i, k]``: the probability that sample ``i``'s true class is ``k``, given its label.

    ``changeable[i]``: its mislabel probability under the lower bound of its label's noise
    share; ``evidence[i]``: how unlikely its label is (log-odds against it; higher: more
    suspicious), the ranking within equal mislabel probabilities.
    """

    posterior: np.ndarray
    changeable: np.ndarray
    evidence: np.ndarray

    def mislabel_prob(self, labels: np.ndarray) -> np.ndarray:
        return 1.0 - self.posterior[np.arange(len(labels)), labels]

    def suggestion(self, labels: np.ndarray) -> np.ndarray:
        """The most probable class other than the given one."""
        others = self.posterior.copy()
        others[np.arange(len(labels)), labels] = -1
        return others.argmax(1)

    def changes(self, labels: np.ndarray) -> np.ndarray:
        """Where the suggestion is more probably right than the label, even at the low noise share."""
        rows = np.arange(len(labels))
        mislabel = self.mislabel_prob(labels)
        share = np.divide(
            self.posterior[rows, self.suggestion(labels)],
            mislabel,
            out=np.zeros(len(labels)),
            where=mislabel > 0,
        )
        return self.changeable * share > 1 - self.changeable


# Weight of a (true class, label) pair too rare to have been seen among the surest samples.
UNSEEN_PAIR = 0.01


def _label_sources(probs: np.ndarray, labels: np.ndarray, transition: np.ndarray) -> np.ndarray:
    """``[i, k]``: the probability of class ``k`` times how often class ``k`` gets label ``labels[i]``."""
    return probs * (transition[:, labels].T + UNSEEN_PAIR)


def _counted_posterior(
    probs: np.ndarray, labels: np.ndarray, noise: NoiseModel
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each label's evidence, the pooled label shares, the two-mode posterior under them, and
    that posterior shifted as a whole so that its mean is the noise model's count.

    The evidence is how much likelier the label is wrong than right under the noise pattern:
    the probability of each other class times how often that class gets this label, against
    the probability of the label times how often the label's class keeps it (log-odds).
    """
    rows = np.arange(len(labels))
    sources = _label_sources(probs, labels, noise.transition)
    wrong_way = sources.sum(1) - sources[rows, labels]
    right_way = probs[rows, labels] * noise.transition[labels, labels]
    evidence = np.log(wrong_way) - np.log(np.clip(right_way, 1e-12, None))
    shares = noise.pooled_label_noise(np.bincount(labels, minlength=len(noise.label_noise)))
    raw = two_mode_posterior(evidence, shares[labels])
    return evidence, shares, raw, shifted_to_mean(raw, float(shares[labels].mean()))


def label_posterior(
    probs: np.ndarray,
    held_out: np.ndarray,
    labels: np.ndarray,
    noise: NoiseModel,
    original: np.ndarray | None = None,
    known: np.ndarray | None = None,
) -> LabelPosterior:
    """The posterior over each sample's true class (module docstring).

    ``probs``: the final network's probabilities; ``held_out``: the cross-fitted ones; both
    ``(N, C)``. Each label's noise share is pooled with the others'
    (:meth:`NoiseModel.pooled_label_noise`), so that shares told apart by chance alone do not
    rank one label's samples above another's. After a review, ``known`` marks the reviewed
    samples and ``original`` holds the labels the data came with (``noise`` was fitted on them):
    the wrong labels left are as many as the posterior of the original labels expects among the
    samples not reviewed.
    """
    rows = np.arange(len(labels))
    mean_probs = (probs + held_out) / 2
    clipped = np.clip(mean_probs, 1e-7, 1)
    evidence, shares, raw, mislabel = _counted_posterior(clipped, labels, noise)
    judged = np.ones(len(labels), dtype=bool) if known is None else ~known
    share, low = shares.copy(), np.minimum(noise.label_noise_low, shares)
    if original is not None and judged.any() and not judged.all():
        *_, expected = _counted_posterior(clipped, original, noise)
        mislabel[judged] = shifted_to_mean(raw[judged], float(expected[judged].mean()))
        for j in np.unique(labels[judged]):
            share[j] = expected[judged & (labels == j)].mean()
        low *= np.divide(share, shares, out=np.zeros_like(share), where=shares > 0)
    # Changes answer to each label's own count, at its lower bound: a class the network barely
    # knows (a rare one) looks wrong throughout, and must not lose its labels for that.
    own_count = np.zeros(len(labels))
    for j in np.unique(labels[judged]):
        own = judged & (labels == j)
        own_count[own] = shifted_to_mean(raw[own], float(share[j]))
    changeable = _with_prior(own_count, share[labels], low[labels])
    # Which class a wrong label came from: the same weights, without the label itself.
    alternatives = _label_sources(mean_probs, labels, noise.transition)
    alternatives[rows, labels] = 0
    alternatives /= np.clip(alternatives.sum(1, keepdims=True), 1e-12, None)
    posterior = mislabel[:, None] * alternatives
    posterior[rows, labels] = 1 - mislabel
    return LabelPosterior(posterior, changeable, evidence)


def flag_most_suspicious(mislabel: np.ndarray, evidence: np.ndarray) -> np.ndarray:
    """The ``round(sum(mislabel))`` samples with the most evidence against their label (ties:
    the higher mislabel probability): as many flags as the expected number of wrong labels."""
    flagged = np.zeros(len(mislabel), dtype=bool)
    count = round(float(mislabel.sum()))
    flagged[np.lexsort((-mislabel, -evidence))[:count]] = True
    return flagged
