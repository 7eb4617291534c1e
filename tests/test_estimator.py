"""SLNCleaner end to end on real data (scikit-learn's digits), and its scikit-learn contract."""

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from labelclean import AUDIT_COLUMNS, SLNCleaner, read_audit_metadata
from labelclean.demo import run_demo
from labelclean.metrics import PLAIN_CE, detection_scores
from labelclean.noise import symmetric_noise

NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    features = data.images.reshape(len(data.images), -1)
    X_train, X_test, y_train, y_test = train_test_split(
        features, data.target, test_size=0.25, random_state=0, stratify=data.target
    )
    noisy = symmetric_noise(y_train, 0.2, 10, seed=0)
    return X_train, X_test, y_train, y_test, noisy


@pytest.fixture(scope="module")
def fitted(digits):
    X_train, _, _, _, noisy = digits
    return SLNCleaner(random_state=0).fit(X_train, NAMES[noisy])


def test_flags_about_as_many_samples_as_are_mislabelled(digits, fitted):
    _, _, y_train, _, noisy = digits
    flipped = noisy != y_train
    audit = fitted.audit()
    flagged = audit["is_suspicious"].to_numpy()
    assert abs(flagged.sum() - flipped.sum()) <= 0.15 * flipped.sum()
    scores = detection_scores(flagged, flipped)
    assert scores["precision"] > 0.85 and scores["recall"] > 0.85


def test_correct_labels_repairs_most_flips_in_the_original_label_space(digits, fitted):
    _, _, y_train, _, noisy = digits
    corrected = fitted.correct_labels()
    assert corrected.dtype.kind == "U" and set(corrected) <= set(NAMES)
    assert (corrected == NAMES[y_train]).mean() > (noisy == y_train).mean() + 0.12


def test_sln_mo_lc_beats_plain_cross_entropy_on_clean_test_labels(digits, fitted):
    X_train, X_test, _, y_test, noisy = digits
    plain = SLNCleaner(random_state=0, **PLAIN_CE).fit(X_train, NAMES[noisy])
    assert fitted.score(X_test, NAMES[y_test]) > plain.score(X_test, NAMES[y_test]) + 0.02


def test_audit_schema_order_and_suspicious_ranking(digits, fitted):
    audit = fitted.audit()
    assert tuple(audit.columns) == AUDIT_COLUMNS
    assert audit["sample_id"].tolist() == list(range(len(digits[0])))
    assert sorted(audit["rank"]) == list(range(1, len(audit) + 1))
    top = fitted.suspicious_samples(top_k=10)
    assert len(top) == 10 and top["is_suspicious"].all()
    assert list(top["rank"]) == sorted(top["rank"])
    assert (top["suggested_label"] != top["given_label"]).all()
    assert len(fitted.suspicious_samples()) == int(audit["is_suspicious"].sum())


def test_predict_proba_columns_follow_classes(digits, fitted):
    _, X_test, _, _, _ = digits
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10)
    assert np.allclose(proba.sum(1), 1, atol=1e-5)
    assert list(fitted.classes_) == sorted(NAMES)
    assert (fitted.predict(X_test) == fitted.classes_[proba.argmax(1)]).all()


def test_save_audit_reads_back_with_pandas_pyarrow_and_datasets(tmp_path, fitted):
    import datasets

    path = fitted.save_audit(tmp_path / "audit.parquet")
    frame = pd.read_parquet(path)
    pd.testing.assert_frame_equal(frame, fitted.audit())
    assert pq.read_table(path).num_rows == len(frame)
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
    assert ds.column_names == list(AUDIT_COLUMNS)
    meta = read_audit_metadata(path)
    assert meta["class_names"] == sorted(NAMES)
    assert meta["params"]["random_state"] == 0 and meta["resolved"]["model"] == "mlp"
    assert meta["labelclean_version"] and meta["created"] and "feature" in meta["data_source"]


def test_save_and_load_round_trip_without_pickle(tmp_path, digits, fitted):
    _, X_test, _, _, _ = digits
    fitted.save(tmp_path / "cleaner")
    loaded = SLNCleaner.load(tmp_path / "cleaner")
    assert np.allclose(loaded.predict_proba(X_test), fitted.predict_proba(X_test), atol=1e-6)
    assert loaded.get_params() == {**fitted.get_params(), "callbacks": None}
    assert list(loaded.classes_) == list(fitted.classes_)
    pd.testing.assert_frame_equal(loaded.audit(), fitted.audit())


def test_image_arrays_train_a_cnn_and_integer_labels_stay_integers():
    data = load_digits()
    noisy = symmetric_noise(data.target[:600], 0.2, 10, seed=1)
    cleaner = SLNCleaner(epochs=30, random_state=0).fit(data.images[:600], noisy)
    assert cleaner.config_["model"] == "cnn_small" and cleaner.config_["crop_padding"] == 1
    assert cleaner.correct_labels().dtype.kind == "i"
    assert cleaner.score(data.images[600:900], data.target[600:900]) > 0.6


@pytest.mark.parametrize(("precision", "expected"), [("auto", torch.float32), ("bf16", torch.bfloat16)])
def test_precision_sets_the_arithmetic_of_training_and_prediction(precision, expected):
    X, y = load_digits(return_X_y=True)
    seen = []
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    net[0].register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    cleaner = SLNCleaner(model=net, epochs=15, precision=precision, random_state=0).fit(X[:400], y[:400])
    assert set(seen) == {expected}  # the CPU default is fp32; bf16 is an opt-in there
    seen.clear()
    proba = cleaner.predict_proba(X[400:500])
    assert set(seen) == {expected} and proba.dtype == np.float32 and np.allclose(proba.sum(1), 1, atol=1e-4)
    assert cleaner.score(X[400:600], y[400:600]) > 0.5


def test_same_seed_same_audit():
    X, y = load_digits(return_X_y=True)
    runs = [SLNCleaner(epochs=3, random_state=7).fit(X[:300], y[:300]).audit() for _ in range(2)]
    pd.testing.assert_frame_equal(*runs)


def test_clone_keeps_parameters_and_drops_fitted_state(fitted):
    copy = clone(SLNCleaner(sigma=0.5, epochs=3))
    assert copy.get_params()["sigma"] == 0.5 and copy.get_params()["epochs"] == 3
    assert not hasattr(clone(fitted), "model_")


def test_progress_bars_only_when_verbose(capsys):
    X, y = load_digits(return_X_y=True)
    SLNCleaner(epochs=2, random_state=0).fit(X[:200], y[:200])
    assert capsys.readouterr().err == ""
    SLNCleaner(epochs=2, random_state=0, verbose=True).fit(X[:200], y[:200])
    err = capsys.readouterr().err
    assert "labelclean" in err and "loss=" in err and "acc=" in err


def test_demo_prints_its_table_and_writes_the_audit(tmp_path, capsys):
    out = tmp_path / "audit.parquet"
    table = run_demo(out, seed=0)
    printed = capsys.readouterr().out
    assert "SLN-MO-LC" in printed and "plain cross-entropy" in printed and "precision" in printed
    assert table.loc["SLN-MO-LC", "test_accuracy"] > table.loc["plain cross-entropy", "test_accuracy"]
    assert table.loc["SLN-MO-LC", "f1"] > 0.8
    audit = pd.read_parquet(out)
    assert tuple(audit.columns) == (*AUDIT_COLUMNS, "image")  # arrays carry their images
    with Image.open(io.BytesIO(audit["image"].iloc[0])) as picture:
        assert picture.size == (8, 8)
