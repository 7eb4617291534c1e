"""The light audit module: no torch on import, the readers, and files that respect the umask."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from appdata import true_label_reviews

import labelclean
from labelclean.audit import build_audit, write_audit
from labelclean.auditfile import (
    AUDIT_COLUMNS,
    check_noise_rate,
    read_audit,
    read_audit_metadata,
    read_reviewed,
    review_gain,
    review_order,
)
from labelclean.calibration import fit_noise_model, label_posterior
from labelclean.metrics import detection_scores

REPO = Path(__file__).resolve().parents[1]


def small_audit(tmp_path: Path, classes: np.ndarray, n: int = 12) -> Path:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(classes), n)
    probs = rng.dirichlet(np.ones(len(classes)), n)
    path = tmp_path / "audit.parquet"
    metadata = {
        "classes": classes.tolist(),
        "class_names": [str(c) for c in classes],
        "params": {"epochs": 1},
    }
    write_audit(build_audit(probs, labels, classes, [f"row {i}" for i in range(n)]), path, metadata)
    return path


@pytest.mark.parametrize("module", ["labelclean.auditfile", "app.review", "app.decisions", "app.sources"])
def test_reading_an_audit_does_not_import_torch(module):
    """The app's audit-reading path stays light: torch and scikit-learn load only on demand."""
    code = (
        f"import sys, {module}, labelclean\n"
        "labelclean.read_audit_metadata, labelclean.AUDIT_COLUMNS, labelclean.read_reviewed\n"
        "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_public_names_import_lazily_from_the_package():
    from labelclean import AUDIT_COLUMNS as columns
    from labelclean import BadImageError, SLNCleaner

    assert columns == AUDIT_COLUMNS and labelclean.read_audit_metadata is read_audit_metadata
    assert SLNCleaner.__name__ == "SLNCleaner" and issubclass(BadImageError, Exception)
    assert set(labelclean.__all__) <= set(dir(labelclean))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        labelclean.nope  # noqa: B018


def test_read_audit_in_input_order_with_metadata(tmp_path):
    path = small_audit(tmp_path, np.array(["cat", "dog", "owl"]))
    frame, metadata = read_audit(path)
    assert tuple(frame.columns) == AUDIT_COLUMNS and frame["sample_id"].tolist() == list(range(12))
    assert metadata == read_audit_metadata(path) and metadata["classes"] == ["cat", "dog", "owl"]
    labels, _ = read_audit(path, columns=["given_label"], label_categories=True)
    assert isinstance(labels["given_label"].dtype, pd.CategoricalDtype)
    assert labels["given_label"].astype(str).tolist() == frame["given_label"].tolist()


def test_an_audit_rewritten_by_pandas_still_reads(tmp_path):
    path = small_audit(tmp_path, np.array(["cat", "dog"]))
    rewritten = tmp_path / "rewritten.parquet"
    pd.read_parquet(path).to_parquet(rewritten)
    with pytest.raises(ValueError, match="not a labelclean audit"):
        read_audit_metadata(rewritten)
    frame, metadata = read_audit(rewritten)
    assert metadata == {} and frame.equals(read_audit(path)[0])


def test_an_audit_from_before_the_newer_columns_still_reads(tmp_path):
    path = small_audit(tmp_path, np.array(["cat", "dog"]))
    older = tmp_path / "older.parquet"
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["suggested_true_prob"]), older)
    frame, metadata = read_audit(older)
    assert "suggested_true_prob" not in frame.columns and metadata["classes"] == ["cat", "dog"]


def test_read_audit_names_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.parquet"):
        read_audit(tmp_path / "nope.parquet")
    (tmp_path / "text.parquet").write_text("hello")
    with pytest.raises(ValueError, match=r"text\.parquet is not a Parquet file"):
        read_audit(tmp_path / "text.parquet")
    pd.DataFrame({"sample_id": [1], "loss": [0.1]}).to_parquet(tmp_path / "plain.parquet")
    with pytest.raises(
        ValueError, match=r"plain.parquet is not a labelclean audit: it lacks the columns \['source'"
    ):
        read_audit(tmp_path / "plain.parquet")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"3": {"decision": "maybe", "final_label": 1}}', "sample 3 has an unknown decision 'maybe'"),
        ('{"3": {"decision": "relabel", "final_label": null}}', r"sample 3 \(relabel\) has no label"),
        (
            '{"3": {"decision": "none", "final_label": 2}}',
            "sample 3 \\(none\\) fits no class but has the label 2",
        ),
        ('{"x": {"decision": "none", "final_label": null}}', "sample_id 'x' is not an integer"),
        ('{"3": "accept"}', "sample '3' has 'accept', not a decision object"),
        ("{", r"audit\.decisions\.json is not valid JSON"),
    ],
)
def test_read_reviewed_names_what_is_wrong_in_a_decisions_file(tmp_path, content, message):
    bad = tmp_path / "audit.decisions.json"
    bad.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_reviewed(bad)


@pytest.mark.parametrize("kind", ["decisions", "corrections"])
def test_a_sample_listed_twice_is_refused_naming_both_decisions_unless_they_agree(tmp_path, kind):
    if kind == "decisions":  # a JSON object whose key is written twice (json.loads keeps the last)
        source = tmp_path / "audit.decisions.json"
        source.write_text(
            '{"12": {"decision": "relabel", "final_label": "d1"}, '
            '"12": {"decision": "relabel", "final_label": "d2"}}'
        )
    else:
        source = pd.DataFrame(
            {"sample_id": [12, 12], "final_label": ["d1", "d2"], "decided_by": ["reviewer: relabel"] * 2}
        )
    with pytest.raises(
        ValueError,
        match=r"sample_id 12 is listed twice with different decisions: relabel 'd1' and relabel 'd2'",
    ):
        read_reviewed(source)
    agreeing = pd.DataFrame(
        {
            "sample_id": [12, 3, 12],
            "final_label": ["d1", None, "d1"],
            "decided_by": ["reviewer: relabel", "reviewer: none", "reviewer: relabel"],
        }
    )
    assert read_reviewed(agreeing)["sample_id"].tolist() == [3, 12]


def test_read_reviewed_reads_its_own_table_back(tmp_path):
    decisions = tmp_path / "audit.decisions.json"
    decisions.write_text(
        '{"4": {"decision": "keep", "final_label": "d4"}, "2": {"decision": "none", "final_label": null}}'
    )
    table = read_reviewed(decisions)
    pd.testing.assert_frame_equal(read_reviewed(table), table)


def test_read_reviewed_wants_a_file_it_knows(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_reviewed(tmp_path / "missing.decisions.json")
    pd.DataFrame({"sample_id": [1]}).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="lacks the corrections columns"):
        read_reviewed(tmp_path / "x.parquet")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ValueError, match=r"expected a \.decisions\.json"):
        read_reviewed(tmp_path / "x.txt")


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_respect_the_umask(tmp_path, umask_022):
    """The audit, the decisions and the corrections: 0644 under umask 022 (mkstemp made 0600)."""
    from app.decisions import DecisionStore, build_corrections, write_corrections
    from app.review import load_audit

    path = small_audit(tmp_path, np.array(["cat", "dog"]))
    audit = load_audit(path)
    store = DecisionStore.for_audit(audit)
    store.record(0, "keep", audit.row(0).given_label)
    written = [path, store.path, *write_corrections(audit, build_corrections(audit, store.as_dict()))]
    assert {p.name: mode(p) for p in written} == {p.name: 0o644 for p in written}
    os.umask(0o077)
    store.record(1, "none", None)
    assert mode(store.path) == 0o600  # it follows the umask, whatever it is
    assert json.loads(store.path.read_text())["1"]["decision"] == "none"


def calibrated_audit(n: int = 4000, k: int = 4, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """An audit whose posterior is the truth: each true class is drawn from it."""
    rng = np.random.default_rng(seed)
    true_hint = rng.integers(0, k, n)
    probs = rng.dirichlet(np.full(k, 0.4), n) * 0.5
    probs[np.arange(n), true_hint] += 0.5
    labels = np.where(rng.random(n) < 0.3, rng.integers(0, k, n), true_hint)
    noise = fit_noise_model(probs, labels)
    posterior = label_posterior(probs, probs, labels, noise).posterior
    true = np.array([rng.choice(k, p=row / row.sum()) for row in posterior])
    classes = np.arange(k)
    audit = build_audit(probs, labels, classes, [f"row {i}" for i in range(n)], noise=noise)
    return audit, true


def test_review_gain_is_the_chance_that_the_kept_label_is_wrong():
    audit, true = calibrated_audit()
    gain = review_gain(audit)
    kept_wrong = audit["corrected_label"].to_numpy() != true
    assert gain.min() >= 0 and gain.max() <= 1
    # calibrated: the expected wrong kept labels match the drawn ones, overall and at the top
    assert abs(gain.sum() - kept_wrong.sum()) < 4 * np.sqrt(gain.sum())
    changed = (audit["corrected_label"] != audit["given_label"]).to_numpy()
    assert np.allclose(gain[changed], 1 - audit["suggested_true_prob"][changed], atol=1e-6)
    assert np.allclose(gain[~changed], audit["mislabel_prob"][~changed], atol=1e-6)
    audit.loc[:9, "reviewed"] = "keep"  # reviewed before the fit: nothing to gain
    assert (review_gain(audit)[:10] == 0).all()


def test_reviewing_in_gain_order_fixes_more_than_in_loss_order():
    audit, true = calibrated_audit()
    kept_wrong = audit["corrected_label"].to_numpy() != true
    by_gain, by_loss = review_order(audit, "gain"), review_order(audit, "loss")
    assert (
        sorted(by_gain) == list(range(len(audit)))
        and (audit["rank"].to_numpy()[by_loss] == np.arange(1, len(audit) + 1)).all()
    )
    for n in (100, 300):
        assert kept_wrong[by_gain[:n]].sum() > kept_wrong[by_loss[:n]].sum() + 0.1 * n
    with pytest.raises(ValueError, match="suggested_true_prob"):
        review_gain(audit.drop(columns="suggested_true_prob"))
    with pytest.raises(ValueError, match="one of"):
        review_order(audit, "random")


def test_float_thumbnails_are_scaled_image_by_image():
    """One image on another scale (here 10-60, the rest 0-1) must not turn every other thumbnail black."""
    import io

    import torch
    from PIL import Image

    from labelclean.audit import encode_thumbnails

    images = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    images[0] = images[0] * 50 + 10
    thumbnails = [np.asarray(Image.open(io.BytesIO(png))) for png in encode_thumbnails(images)]
    for i in (1, 2, 3):  # within 0-1: pixel * 255, as a picture in [0, 1] is shown
        expected = (images[i] * 255).round().permute(1, 2, 0).numpy()
        assert np.abs(thumbnails[i].astype(int) - expected).max() <= 1
    assert thumbnails[0].min() == 0 and thumbnails[0].max() == 255  # spans 0-255 from its own range
    digits = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) / 4  # 0-15.75, like load_digits
    (digit,) = [np.asarray(Image.open(io.BytesIO(png))) for png in encode_thumbnails(digits)]
    assert digit.shape == (8, 8) and digit.min() == 0 and digit.max() == 255


def _ambiguous_digits_audit(rate: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """An audit of scikit-learn's digits whose labels were moved, at ``rate``, to the class a
    held-out classifier confuses each sample with most (instance-dependent noise), judged by
    that classifier's held-out probabilities of the noisy labels; and the true and given labels."""
    from sklearn.datasets import load_digits
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from labelclean.noise import instance_dependent_noise

    X, y = load_digits(return_X_y=True)

    def held_out(labels):
        model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.1)
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        return cross_val_predict(model, X, labels, cv=folds, method="predict_proba")

    given = instance_dependent_noise(y, held_out(y), rate) if rate else y
    probs = held_out(given)
    audit = build_audit(probs, given, np.arange(10), [f"row {i}" for i in range(len(y))])
    return audit, y, given


def test_a_random_check_counts_the_ambiguous_wrong_labels_the_audit_cannot():
    """20% of the digits' labels moved to the class they are most confused with: the audit,
    counting where its classifier is surest, finds a fraction; a hundred reviews in the check
    order find them all, within their interval, and flag as many of the most suspicious."""
    audit, true, given = _ambiguous_digits_audit(0.2)
    wrong = given != true
    order = review_order(audit, "check")
    assert sorted(order) == list(range(len(audit)))
    tenth = np.ceil(audit["rank"].to_numpy()[order[:100]] / len(audit) * 10)
    assert (np.bincount(tenth.astype(int), minlength=11)[1:] == 10).all()  # every tenth alike
    check = check_noise_rate(audit, true_label_reviews(audit, true, order[:100]))
    assert check.reviewed == 100 and check.low <= wrong.mean() <= check.high
    assert check.high - check.low < 0.16
    audit_count = audit["mislabel_prob"].mean()
    assert audit_count < check.low  # the audit undercounts: what the check is for
    assert check.overrules(audit) == 1
    applied = check.apply(audit)  # decided again with the check's count
    assert applied["mislabel_prob"].mean() == pytest.approx(check.estimate, abs=1e-3)
    assert (applied["rank"] == audit["rank"]).all()
    order_kept = np.argsort(-audit["given_prob"].to_numpy(), kind="stable")  # the networks' own order
    assert (np.diff(applied["mislabel_prob"].to_numpy()[order_kept]) >= -1e-12).all()
    f1 = {
        name: detection_scores(flags, wrong)["f1"]
        for name, flags in (
            ("audit", audit["is_suspicious"].to_numpy()),
            ("check", applied["is_suspicious"].to_numpy()),
        )
    }
    assert f1["check"] > f1["audit"] + 0.2
    right = {
        name: (frame["corrected_label"].to_numpy() == true).mean()
        for name, frame in (("audit", audit), ("check", applied))
    }
    assert right["check"] > right["audit"]  # more labels changed, more of them right
    for label in range(10):  # no label's samples end with fewer right labels
        rows = given == label
        assert (applied["corrected_label"].to_numpy()[rows] == true[rows]).mean() >= (
            given[rows] == true[rows]
        ).mean()
    # reviews of the most suspicious first are read only where the random order reaches them
    by_loss = review_order(audit, "loss")[:150]
    assert check_noise_rate(audit, true_label_reviews(audit, true, by_loss)) is None
    both = np.unique(np.concatenate([by_loss, order[:100]]))
    mixed = check_noise_rate(audit, true_label_reviews(audit, true, both))
    assert mixed.low <= wrong.mean() <= mixed.high and abs(mixed.estimate - check.estimate) < 0.05


def test_a_random_check_of_clean_labels_finds_none():
    audit, true, _ = _ambiguous_digits_audit(0.0)
    order = review_order(audit, "check")
    assert check_noise_rate(audit, true_label_reviews(audit, true, order[:19])) is None  # one tenth short
    check = check_noise_rate(audit, true_label_reviews(audit, true, order[:100]))
    assert check.estimate == 0 and check.low == 0 and check.high < 0.05
    assert not check.flags(audit).any()
    assert check.overrules(audit) == 0 and check.apply(audit).equals(audit)  # the audit's count stands


def test_a_random_check_overrules_a_weak_judge_that_counts_too_many():
    """Digits with 5% of labels flipped at random, judged by a classifier that sees eight pixels
    (64% right): its confident mistakes count as noise (a quarter of the labels) and it changes
    right labels; a check of a hundred counts 5% and undoes the changes it cannot back."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    from labelclean.noise import symmetric_noise

    X, true = load_digits(return_X_y=True)
    given = symmetric_noise(true, 0.05, 10, seed=0)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    probs = cross_val_predict(KNeighborsClassifier(15), X[:, 24:32], given, cv=folds, method="predict_proba")
    audit = build_audit(probs, given, np.arange(10), [f"row {i}" for i in range(len(true))])
    check = check_noise_rate(audit, true_label_reviews(audit, true, review_order(audit, "check")[:100]))
    assert audit["mislabel_prob"].mean() > 0.2 and check.high < 0.15 and check.overrules(audit) == -1
    applied = check.apply(audit)
    assert applied["is_suspicious"].sum() < audit["is_suspicious"].sum() / 2
    assert (applied["corrected_label"] == true).mean() > (audit["corrected_label"] == true).mean()
