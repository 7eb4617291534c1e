"""The label posterior: calibrated where the noise is class-conditional, cautious where it is rare."""

import numpy as np
import pytest

from labelclean.calibration import (
    fit_noise_model,
    label_posterior,
    noise_rate_interval,
    tempered,
    transition_matrix_estimate,
)


def _noisy_world(n, noise, n_classes=5, sharpness=0.95, seed=0):
    """True classes, the given labels after symmetric noise, and the exact noisy posterior p = pi T."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, n_classes, n)
    pi = np.full((n, n_classes), (1 - sharpness) / (n_classes - 1))
    pi[np.arange(n), true] = sharpness
    transition = np.full((n_classes, n_classes), noise / (n_classes - 1))
    np.fill_diagonal(transition, 1 - noise)
    probs = pi @ transition
    given = np.array([rng.choice(n_classes, p=row / row.sum()) for row in probs])
    return probs, given, true


def _calibration_error(prob, wrong, bins=10):
    edges = np.clip(np.digitize(prob, np.linspace(0, 1, bins + 1)) - 1, 0, bins - 1)
    return sum(
        (edges == b).mean() * abs(prob[edges == b].mean() - wrong[edges == b].mean())
        for b in range(bins)
        if (edges == b).any()
    )


@pytest.mark.parametrize("noise", [0.05, 0.3])
def test_mislabel_prob_is_calibrated_and_corrections_help(noise):
    probs, given, true = _noisy_world(20_000, noise)
    posterior = label_posterior(probs, given)
    mislabel = posterior.mislabel_prob(given)
    wrong = given != true
    assert _calibration_error(mislabel, wrong) < 0.05
    corrected = posterior.posterior.argmax(1)
    assert (corrected == true).mean() > (given == true).mean()


def test_transition_estimate_recovers_symmetric_noise():
    probs, given, _ = _noisy_world(60_000, 0.3)  # the top tenth per class: 1,200 samples a row
    transition = transition_matrix_estimate(probs, given)
    expected = probs[np.arange(len(given)), probs.argmax(1)].mean()  # P(label k | true k), sharpness included
    assert np.allclose(np.diag(transition), expected, atol=0.03)


def test_noise_rate_interval_brackets_the_estimate_and_the_truth():
    probs, given, true = _noisy_world(5_000, 0.2, seed=1)
    estimate, low, high = noise_rate_interval(probs, given, repeats=50)
    assert low <= estimate <= high
    assert low - 0.03 <= (given != true).mean() <= high + 0.03
    assert high - low < 0.05


def test_held_out_labels_fit_the_temperature_and_the_noise_and_make_corrections_pay():
    # A network that is often wrong: each sample's true class is drawn from its own
    # posterior pi (Dirichlet), so argmax pi is right about 64% of the time, as for a head
    # on CIFAR-10 embeddings. The given labels get 5% symmetric noise; the network reports
    # pi overconfidently (tempered by 0.5), as the heads did (fitted t 1.2-1.3 there).
    rng = np.random.default_rng(0)
    n, k, noise = 30_000, 5, 0.05
    pi = rng.dirichlet(np.full(k, 0.3), n)
    true = np.array([rng.choice(k, p=row) for row in pi])
    transition = np.full((k, k), noise / (k - 1))
    np.fill_diagonal(transition, 1 - noise)
    given = np.array([rng.choice(k, p=transition[t]) for t in true])
    overconfident = tempered(pi, 0.5)
    held = np.arange(n) % 5 == 0
    model = fit_noise_model(overconfident[held], given[held])
    assert model.temperature == pytest.approx(2.0, rel=0.1)
    assert np.abs(model.transition - transition).max() < 0.03
    wrong, before = given[~held] != true[~held], (given[~held] == true[~held]).mean()
    posterior = label_posterior(overconfident[~held], given[~held], (overconfident[held], given[held]))
    assert _calibration_error(posterior.mislabel_prob(given[~held]), wrong) < 0.02
    naive = overconfident[~held].argmax(1)  # "the network disagrees": what a raw argmax would do
    assert (naive == true[~held]).mean() < before - 0.2
    assert (posterior.posterior.argmax(1) == true[~held]).mean() > before
