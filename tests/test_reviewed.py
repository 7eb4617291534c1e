"""fit(reviewed=...): a reviewer's decisions feed the next fit as fixed labels."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from labelclean import SLNCleaner
from labelclean.noise import symmetric_noise

X, TRUE = load_digits(return_X_y=True)
NOISY = symmetric_noise(TRUE, 0.2, 10, seed=0)


@pytest.fixture(scope="module")
def first_fit():
    return SLNCleaner(epochs=15, random_state=0).fit(X, NOISY)


def _review_uncertain(audit: pd.DataFrame, k: int) -> pd.DataFrame:
    """The app's exported corrections for the k samples with ``mislabel_prob`` nearest 0.5, answered
    from the true labels. (Reviewing the highest-loss ones mostly confirms what ``correct_labels``
    already fixes: measured on the digits demo, 78 wrong labels left before and 79 after.)"""
    top = audit.iloc[np.argsort(np.abs(audit["mislabel_prob"].to_numpy() - 0.5), kind="stable")[:k]]
    truth = TRUE[top["sample_id"]]
    decision = np.where(
        truth == top["suggested_label"], "accept", np.where(truth == top["given_label"], "keep", "relabel")
    )
    return pd.DataFrame(
        {
            "sample_id": top["sample_id"],
            "final_label": truth,
            "decided_by": [f"reviewer: {d}" for d in decision],
        }
    )


def test_reviewed_labels_are_fixed_never_flagged_and_leave_fewer_wrong_labels(first_fit):
    review = _review_uncertain(first_fit.audit(), 100)
    refit = SLNCleaner(epochs=15, random_state=0).fit(X, NOISY, reviewed=review)
    audit = refit.audit()
    done = audit["sample_id"].isin(review["sample_id"])
    assert (audit.loc[done, "given_label"].to_numpy() == TRUE[audit.loc[done, "sample_id"]]).all()
    assert not audit.loc[done, "is_suspicious"].any()
    assert audit.loc[done, "reviewed"].notna().all() and audit.loc[~done, "reviewed"].isna().all()
    assert (refit.correct_labels()[done.to_numpy()] == TRUE[done.to_numpy()]).all()
    wrong_before = (first_fit.correct_labels() != TRUE).sum()
    wrong_after = (refit.correct_labels() != TRUE).sum()
    assert wrong_after < 0.7 * wrong_before
    assert refit.audit_metadata()["params"] == first_fit.audit_metadata()["params"]


def test_samples_that_fit_no_class_are_scored_not_trained_on(first_fit, tmp_path):
    # The app's decisions file: one accepted suggestion, one sample that fits no class.
    flagged = first_fit.suspicious_samples(top_k=2)
    accepted, none = flagged.iloc[0], flagged.iloc[1]
    decisions = tmp_path / "audit.decisions.json"
    decisions.write_text(
        json.dumps(
            {
                str(accepted.sample_id): {"decision": "accept", "final_label": int(accepted.suggested_label)},
                str(none.sample_id): {"decision": "none", "final_label": None},
            }
        )
    )
    refit = SLNCleaner(epochs=2, random_state=0).fit(X, NOISY, reviewed=decisions)
    audit = refit.audit().set_index("sample_id")
    assert audit.loc[accepted.sample_id, "reviewed"] == "accept"
    assert audit.loc[accepted.sample_id, "given_label"] == accepted.suggested_label
    assert audit.loc[none.sample_id, "reviewed"] == "none"
    assert not audit.loc[none.sample_id, "is_suspicious"]
    assert len(audit) == len(X)  # still scored
    # correct_labels() can only hand back the rejected label; keep_mask() says to drop the sample.
    keep = np.arange(len(X)) != none.sample_id
    assert refit.correct_labels()[none.sample_id] == NOISY[none.sample_id]
    assert (refit.keep_mask() == keep).all() and first_fit.keep_mask().all()
    # Left out of training: the same fit without that sample gives the same network.
    review = pd.DataFrame(
        {
            "sample_id": [accepted.sample_id],
            "final_label": [accepted.suggested_label],
            "decided_by": ["reviewer: accept"],
        }
    )
    review["sample_id"] = np.flatnonzero(keep).tolist().index(accepted.sample_id)
    without = SLNCleaner(epochs=2, random_state=0).fit(X[keep], NOISY[keep], reviewed=review)
    np.testing.assert_allclose(refit.predict_proba(X[:50]), without.predict_proba(X[:50]), atol=1e-5)


def test_a_review_of_other_data_is_refused_with_the_sample_and_label_named():
    unknown = pd.DataFrame({"sample_id": [5000], "final_label": [3], "decided_by": ["reviewer: relabel"]})
    with pytest.raises(ValueError, match="sample_id 5000"):
        SLNCleaner(epochs=1, random_state=0).fit(X, NOISY, reviewed=unknown)
    other_class = pd.DataFrame({"sample_id": [7], "final_label": [42], "decided_by": ["reviewer: relabel"]})
    with pytest.raises(ValueError, match="sample_id 7 has label 42"):
        SLNCleaner(epochs=1, random_state=0).fit(X, NOISY, reviewed=other_class)
