"""Cross-fitting: every sample judged by networks that never saw its label, sigma chosen on the first fold."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from labelclean import SLNCleaner
from labelclean.calibration import confidence_ranks
from labelclean.recipes import RunFacts, plan_run
from labelclean.selection import cross_fit, fold_rows


def test_every_sample_is_held_out_once_by_a_run_that_never_trained_on_it():
    labels = np.arange(103) % 4
    runs = []

    def fit_predict(sigma, train_rows, held_rows, fold):
        assert not set(train_rows) & set(held_rows)
        runs.append((sigma, fold, len(held_rows)))
        probs = np.zeros((len(held_rows), 4))
        probs[:, 0] = sigma  # which candidate predicted it, readable afterwards
        probs[:, 1] = 1 - sigma
        return probs

    result = cross_fit(fit_predict, labels, 4, folds=5, sigma=(0.25, 0.5), seed=0)
    assert [(s, f) for s, f, _ in runs] == [(0.25, 0), (0.5, 0), *[(result.sigma, f) for f in range(1, 5)]]
    assert sum(n for s, f, n in runs if s == result.sigma) == len(labels)  # the chosen run's rows, once each
    assert np.bincount(result.fold).tolist() == [len(rows) for rows in fold_rows(labels, 5, 0)]
    assert (result.held_out[:, 0] == result.sigma).all()
    assert result.search.held_out == (result.fold == 0).sum()


def test_repeated_splits_average_each_samples_held_out_runs():
    labels = np.arange(60) % 3
    seen = np.zeros(len(labels), dtype=int)

    def fit_predict(sigma, train_rows, held_rows, run):
        assert not set(train_rows) & set(held_rows)
        seen[held_rows] += 1
        probs = np.zeros((len(held_rows), 3))
        probs[:, run % 3] = 1.0  # the run's fold within its split, readable in the mean
        return probs

    result = cross_fit(fit_predict, labels, 3, folds=3, sigma=0.5, seed=0, repeats=2)
    assert (seen == 2).all()  # once in each split
    np.testing.assert_allclose(result.held_out.sum(1), 1.0)
    assert set(np.round(result.held_out.max(1), 6)) <= {0.5, 1.0}  # two splits: agree, or split evenly
    assert (result.held_out.max(1) == 0.5).any()  # the splits differ
    assert np.bincount(result.fold).tolist() == [len(rows) for rows in fold_rows(labels, 3, 0)]


def test_folds_are_stratified_when_every_label_fills_them_and_shuffled_otherwise():
    labels = np.r_[np.zeros(50, int), np.ones(50, int)]
    for rows in fold_rows(labels, 5, seed=0):
        assert np.bincount(labels[rows]).tolist() == [10, 10]
    rare = np.r_[np.zeros(50, int), np.ones(3, int)]  # too few 1s for five folds
    assert sorted(np.concatenate(fold_rows(rare, 5, seed=0)).tolist()) == list(range(53))


def test_sureness_is_ranked_among_the_samples_one_network_judged():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])
    _, together = confidence_ranks(probs)
    _, apart = confidence_ranks(probs, groups=np.array([0, 0, 1, 1]))
    assert together.tolist() == [0.125, 0.375, 0.625, 0.875]
    assert apart.tolist() == [0.25, 0.75, 0.25, 0.75]


def test_folds_and_repeats_set_the_number_of_networks(tmp_path):
    X, y = load_digits(return_X_y=True)
    SLNCleaner(epochs=1, sigma=1.0, folds=3, random_state=0, checkpoint_dir=tmp_path).fit(X[:90], y[:90])
    # Feature vectors: a head's cross-fitting runs on three splits, three networks each.
    assert sorted(p.parent.name for p in tmp_path.rglob("checkpoint.pt")) == [
        *[f"fold{run}-sigma1" for run in range(9)],
        tmp_path.name,  # the final network's, at the top
    ]
    SLNCleaner(epochs=1, sigma=1.0, folds=3, repeats=1, random_state=0, checkpoint_dir=tmp_path / "one").fit(
        X[:90], y[:90]
    )
    assert len(list((tmp_path / "one").rglob("checkpoint.pt"))) == 3 + 1  # one split: three networks
    with pytest.raises(ValueError, match=r"folds=1 must be a whole number >= 2 or 'auto'"):
        SLNCleaner(folds=1).fit(X[:90], y[:90])
    with pytest.raises(ValueError, match=r"repeats=0 must be a whole number >= 1 or 'auto'"):
        SLNCleaner(repeats=0).fit(X[:90], y[:90])


def test_a_heads_refit_with_a_review_averages_twice_as_many_splits():
    """A few reviews change less than another draw of networks does on borderline samples, so a
    head's refit with ``reviewed`` runs on six splits; a CNN's stays at one (its runs are dear)."""
    params = SLNCleaner().get_params()
    for is_image, first, refit in ((False, 3, 6), (True, 1, 1)):
        plans = [plan_run(params, RunFacts(is_image, "cpu", reviewed=r)) for r in (False, True)]
        assert [plan.repeats for plan in plans] == [first, refit]
    assert plan_run({**params, "repeats": 2}, RunFacts(False, "cpu", reviewed=True)).repeats == 2
    X, y = load_digits(return_X_y=True)
    review = pd.DataFrame({"sample_id": [0], "final_label": [y[0]], "decided_by": ["reviewer: keep"]})
    refit = SLNCleaner(epochs=1, sigma=1.0, folds=3, random_state=0).fit(X[:90], y[:90], reviewed=review)
    assert refit.plan_.repeats == 6 and refit.audit()["reviewed"].notna().sum() == 1


def test_too_few_samples_to_hold_any_out_are_refused_with_the_count():
    X, _ = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match=r"at least 3 samples to train on.*; 2 of 2 are left"):
        SLNCleaner(epochs=1).fit(X[:2], np.array([0, 1]))
    assert len(SLNCleaner(epochs=1, random_state=0).fit(X[:3], np.array([0, 1, 0])).audit()) == 3
    images = load_digits().images[:, None]  # a CNN from scratch: two folds, batch normalisation
    with pytest.raises(ValueError, match=r"cannot train on 1 sample\(s\): a batch needs at least 2"):
        SLNCleaner(epochs=1).fit(images[:3], np.array([0, 1, 0]))
    assert len(SLNCleaner(epochs=1, random_state=0).fit(images[:4], np.array([0, 1, 0, 1])).audit()) == 4
