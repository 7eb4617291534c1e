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
    """The app's exported corrections for the k samples whose corrected label is least probably
    right, answered from the true labels. (Reviewing the highest-loss ones mostly confirms what
    ``correct_labels`` already fixes.)"""
    changed = (audit["corrected_label"] != audit["given_label"]).to_numpy()
    doubt = np.where(changed, 1 - audit["suggested_true_prob"], audit["mislabel_prob"])
    top = audit.iloc[np.argsort(-doubt, kind="stable")[:k]]
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
    pasted = first_fit.correct_labels()
    pasted[review["sample_id"]] = review["final_label"]
    # The refit changes no right label for the worse.
    assert wrong_after <= (pasted != TRUE).sum() + 0.01 * len(X)
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


def test_a_reviewed_label_is_known_so_it_counts_as_right(first_fit):
    """Rows a reviewer kept carry no mislabel probability and no share of the noise rate."""
    flagged = first_fit.audit().query("is_suspicious")
    review = pd.DataFrame(
        {
            "sample_id": flagged["sample_id"],
            "final_label": flagged["given_label"],
            "decided_by": "reviewer: keep",
        }
    )
    refit = SLNCleaner(epochs=15, random_state=0).fit(X, NOISY, reviewed=review)
    audit = refit.audit().set_index("sample_id")
    kept = audit.loc[flagged["sample_id"]]
    assert (kept["mislabel_prob"] == 0).all() and not kept["is_suspicious"].any()
    assert (kept["corrected_label"] == kept["given_label"]).all()
    assert kept["top_classes"].iloc[0][0]["prob"] == 1.0
    others = audit.drop(flagged["sample_id"])
    assert refit.noise_rate_["estimate"] == pytest.approx(
        others["mislabel_prob"].sum() / len(audit), abs=1e-6
    )
    assert refit.noise_rate_["estimate"] < 0.5 * first_fit.noise_rate_["estimate"]


def test_every_sample_fitting_no_class_leaves_nothing_to_train_on(tmp_path):
    decisions = tmp_path / "audit.decisions.json"
    decisions.write_text(json.dumps({str(i): {"decision": "none", "final_label": None} for i in range(60)}))
    with pytest.raises(ValueError, match=r"0 of 60 are left \(the reviewer decided that 60 fit no class\)"):
        SLNCleaner(epochs=1).fit(X[:60], NOISY[:60], reviewed=decisions)


def test_reviewing_the_plainest_wrong_labels_leaves_the_rest_counted(first_fit):
    """The top of the rank order is the wrong labels the networks are surest of, where the noise
    is counted; once reviewed, the rest must still be counted among the labels the data came with,
    and the refit must not leave more wrong labels than pasting the review would."""
    audit = first_fit.audit().sort_values("rank").head(150)
    truth = TRUE[audit["sample_id"]]
    decided = np.where(truth == audit["given_label"], "reviewer: keep", "reviewer: relabel")
    review = pd.DataFrame({"sample_id": audit["sample_id"], "final_label": truth, "decided_by": decided})
    refit = SLNCleaner(epochs=15, random_state=0).fit(X, NOISY, reviewed=review)
    left = NOISY.copy()
    left[review["sample_id"]] = TRUE[review["sample_id"]]
    still_wrong = (left != TRUE).mean()
    assert abs(refit.noise_rate_["estimate"] - still_wrong) < 0.3 * still_wrong
    pasted = first_fit.correct_labels()
    pasted[review["sample_id"]] = TRUE[review["sample_id"]]
    assert (refit.correct_labels() != TRUE).sum() <= (pasted != TRUE).sum() + 0.01 * len(X)
