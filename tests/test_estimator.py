"""SLNCleaner end to end on real data (scikit-learn's digits), and its scikit-learn contract."""

import io
import json
import shutil

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


def test_flags_count_the_wrong_labels_and_find_most_flips(digits, fitted):
    """As many flags as the expected number of wrong labels, with every changed label among
    them, and most of them real flips."""
    _, _, y_train, _, noisy = digits
    flipped = noisy != y_train
    audit = fitted.audit()
    flagged = audit["is_suspicious"].to_numpy()
    changed = (audit["corrected_label"] != audit["given_label"]).to_numpy()
    assert flagged[changed].all()
    by_rank = audit["rank"].to_numpy() <= round(audit["mislabel_prob"].sum())
    assert np.array_equal(flagged, by_rank | changed)
    assert abs(flagged.sum() - flipped.sum()) < 0.25 * flipped.sum()
    scores = detection_scores(flagged, flipped)
    assert scores["precision"] > 0.8 and scores["recall"] > 0.8
    estimate = fitted.noise_rate_
    assert estimate["low"] <= estimate["estimate"] <= estimate["high"]
    assert abs(estimate["estimate"] - flipped.mean()) < 0.05
    assert {k: round(v, 3) for k, v in estimate.items()}  # plain numbers, as a script would print them
    by_label = fitted.noise_rate_by_label_
    assert list(by_label) == list(fitted.classes_)
    for name, share in by_label.items():
        given = NAMES[noisy] == name
        assert abs(share - (given & flipped).sum() / given.sum()) < 0.12, name


def test_correct_labels_repairs_most_flips_in_the_original_label_space(digits, fitted):
    _, _, y_train, _, noisy = digits
    corrected = fitted.correct_labels()
    assert corrected.dtype.kind == "U" and set(corrected) <= set(NAMES)
    assert (corrected == NAMES[y_train]).mean() > (noisy == y_train).mean() + 0.12


def test_sln_mo_lc_beats_plain_cross_entropy_on_clean_test_labels(digits, fitted):
    X_train, X_test, _, y_test, noisy = digits
    plain = SLNCleaner(random_state=0, **PLAIN_CE).fit(X_train, NAMES[noisy])
    assert fitted.score(X_test, NAMES[y_test]) > plain.score(X_test, NAMES[y_test]) + 0.02


def test_audit_keeps_input_order_and_suspicious_samples_come_by_rank(digits, fitted):
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
    assert loaded.noise_rate_ == fitted.noise_rate_
    assert loaded.noise_rate_by_label_ == fitted.noise_rate_by_label_
    pd.testing.assert_frame_equal(loaded.audit(), fitted.audit())


def test_the_plan_holds_every_auto_setting_and_travels_with_the_audit_and_the_save(tmp_path, fitted):
    plan = fitted.plan_
    # Feature vectors on the CPU: an MLP head, sigma chosen among candidates, no augmentation.
    assert (plan.recipe, plan.model, plan.device, plan.augment) == ("features", "mlp", "cpu", "none")
    assert plan.sigma == (0.5, 1.0) and fitted.sigma_search_["chosen"] in plan.sigma
    assert plan.momentum is None and 0 < fitted.config_["momentum"] < 1  # sized to the final run
    assert (plan.epochs, plan.lr, plan.batch_size) == tuple(
        fitted.config_[k] for k in ("epochs", "lr", "batch_size")
    )
    assert "recipe='features'" in repr(plan)
    fitted.save_audit(tmp_path / "audit.parquet")
    recorded = read_audit_metadata(tmp_path / "audit.parquet")["plan"]
    assert recorded["precision"] == "fp32" and type(plan).from_dict(recorded) == plan
    fitted.save(tmp_path / "cleaner")
    assert SLNCleaner.load(tmp_path / "cleaner").plan_ == plan


def test_image_arrays_train_a_cnn_and_integer_labels_stay_integers():
    data = load_digits()
    noisy = symmetric_noise(data.target[:600], 0.2, 10, seed=1)
    cleaner = SLNCleaner(epochs=15, random_state=0).fit(data.images[:600], noisy)
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


@pytest.mark.parametrize("seed", [0, 1])
def test_a_class_of_two_samples_keeps_its_labels(seed):
    """Feature vectors of 178 zeros and two ones, every label right (digits at 99:1). Each
    held-out head trained on one 1 and never predicts the class, so its count took both ones for
    wrong labels: both were changed to 0 (and at seed 0 flagged at mislabel_prob 1). The final
    head, trained on both, knows the class, and its own count bounds a label the held-out heads
    saw so little of."""
    X, y = load_digits(return_X_y=True)
    ones = np.random.default_rng(seed).choice(np.flatnonzero(y == 1), 2, replace=False)
    rows = np.r_[np.flatnonzero(y == 0)[:178], ones]
    cleaner = SLNCleaner(random_state=seed).fit(X[rows], y[rows])
    assert (cleaner.correct_labels() == y[rows]).all()
    audit = cleaner.audit()
    assert audit["mislabel_prob"][-2:].max() < 0.5 and not audit["is_suspicious"][-2:].any()


def test_same_seed_same_audit():
    X, y = load_digits(return_X_y=True)
    runs = [SLNCleaner(epochs=3, random_state=7).fit(X[:300], y[:300]).audit() for _ in range(2)]
    pd.testing.assert_frame_equal(*runs)


def test_clone_keeps_parameters_and_drops_fitted_state(fitted):
    copy = clone(SLNCleaner(sigma=0.5, epochs=3))
    assert copy.get_params()["sigma"] == 0.5 and copy.get_params()["epochs"] == 3
    assert not hasattr(clone(fitted), "model_")


def _fitted_state(cleaner: SLNCleaner, X: np.ndarray) -> tuple:
    return cleaner.classes_.tolist(), cleaner.predict(X).tolist(), cleaner.correct_labels().tolist()


@pytest.mark.parametrize("failure", ["reviewed sample unknown", "training diverges"])
def test_a_refit_that_fails_leaves_the_previous_fit_whole(tmp_path, failure):
    """A failed refit must never mix the old network with the new classes (predictions shifted by one)."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:150], y[:150]
    cleaner = SLNCleaner(epochs=2, sigma=1.0, random_state=0).fit(X, y)
    before = _fitted_state(cleaner, X)
    if failure == "reviewed sample unknown":
        decisions = tmp_path / "audit.decisions.json"
        decisions.write_text(json.dumps({"5000": {"decision": "keep", "final_label": 3}}))
        with pytest.raises(ValueError, match="sample_id 5000"):
            cleaner.fit(X, y + 1, reviewed=decisions)
    else:
        with pytest.raises(FloatingPointError, match="lower the learning rate"):
            cleaner.set_params(lr=1e9).fit(X, NAMES[y])
    assert _fitted_state(cleaner, X) == before
    assert cleaner.audit()["given_label"].tolist() == y.tolist()


def test_a_first_fit_that_fails_leaves_the_cleaner_unfitted():
    X, y = load_digits(return_X_y=True)
    cleaner = SLNCleaner(epochs=2, sigma=1.0, lr=1e9, random_state=0)
    with pytest.raises(FloatingPointError):
        cleaner.fit(X[:150], y[:150])
    assert not hasattr(cleaner, "classes_") and not hasattr(cleaner, "model_")


def test_progress_bars_only_when_verbose(capsys):
    X, y = load_digits(return_X_y=True)
    SLNCleaner(epochs=2, random_state=0).fit(X[:200], y[:200])
    assert capsys.readouterr().err == ""
    SLNCleaner(epochs=2, random_state=0, verbose=True).fit(X[:200], y[:200])
    err = capsys.readouterr().err
    assert "fold 1 of 5" in err and "final network" in err and "loss=" in err and "acc=" in err


def test_demo_command_prints_its_table_and_writes_the_audit(demo_run):
    _, done, out = demo_run
    header = next(line for line in done.stdout.splitlines() if "test_accuracy" in line).split()
    table = {}
    for name in ("plain cross-entropy", "SLN-MO-LC"):
        (line,) = [line for line in done.stdout.splitlines() if line.startswith(name + " ")]
        table[name] = dict(zip(header, map(float, line.removeprefix(name).split()), strict=True))
    assert table["SLN-MO-LC"]["test_accuracy"] > table["plain cross-entropy"]["test_accuracy"]
    sln = table["SLN-MO-LC"]
    assert sln["precision"] > 0.85 and sln["recall"] > 0.85 and sln["f1"] > 0.9
    assert sln["fixed_label_accuracy"] > 0.93
    assert f"audit of SLN-MO-LC written to {out}" in done.stdout
    audit = pd.read_parquet(out)
    assert len(audit) == 1347 and int(audit["is_suspicious"].sum()) == table["SLN-MO-LC"]["flagged"]
    assert tuple(audit.columns) == (*AUDIT_COLUMNS, "image")  # arrays carry their images
    with Image.open(io.BytesIO(audit["image"].iloc[0])) as picture:
        assert picture.size == (8, 8)


@pytest.mark.parametrize("as_features", [False, True], ids=["images", "feature vectors"])
def test_corrections_never_lower_label_accuracy_when_few_labels_are_wrong(as_features):
    """Real datasets have a few percent of wrong labels: 5% flips in digits, and correct_labels() must not hurt."""
    data = load_digits()
    X = data.images.reshape(len(data.images), -1) if as_features else data.images
    noisy = symmetric_noise(data.target, 0.05, 10, seed=1)
    cleaner = SLNCleaner(random_state=0).fit(X, noisy)
    given_accuracy = (noisy == data.target).mean()
    assert (cleaner.correct_labels() == data.target).mean() >= given_accuracy
    assert (cleaner.correct_labels(min_prob=0.99) == data.target).mean() >= given_accuracy


# --- every input kind, end to end: the same digits as files, a dataset and a DataFrame -----------


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    """600 training digits (20% of labels flipped) as PNGs in class folders, 300 test digits likewise."""
    data = load_digits()
    pixels = (data.images * 255 / 16).round().astype(np.uint8)
    noisy = symmetric_noise(data.target[:600], 0.2, 10, seed=0)
    root = tmp_path_factory.mktemp("digits")
    for split, rows, labels in (
        ("train", range(600), noisy),
        ("test", range(600, 900), data.target[600:900]),
    ):
        for row, label in zip(rows, labels, strict=True):
            path = root / split / f"digit_{label}" / f"{row:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[row]).save(path)
    paths = sorted((root / "train").rglob("*.png"))  # the folder's order
    rows = [int(p.stem) for p in paths]
    return {
        "root": root,
        "paths": paths,
        "noisy": noisy[rows],
        "true": data.target[rows],
        "pixels": pixels[rows],
    }


def _small(**params) -> SLNCleaner:
    """A pixel MLP without augmentation (fast on the CPU: the adapters are under test), the same start each time."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
    )
    return SLNCleaner(model=net, epochs=20, augment=False, random_state=0, **params)


def test_folder_dataset_and_dataframe_of_the_same_images_train_alike(digit_files):
    import datasets

    folder = _small().fit(digit_files["root"] / "train")
    names = [f"digit_{d}" for d in range(10)]
    ds = datasets.Dataset.from_dict(
        {"img": [Image.fromarray(p) for p in digit_files["pixels"]], "label": digit_files["noisy"]},
        features=datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=names)}),
    )
    dataset = _small().fit(ds)
    frame = pd.DataFrame(
        {"path": [str(p) for p in digit_files["paths"]], "label": np.array(names)[digit_files["noisy"]]}
    )
    dataframe = _small().fit(frame)

    assert dataset.class_names_ == names and dataset.classes_.tolist() == list(range(10))
    assert dataframe.classes_.tolist() == folder.classes_.tolist() == names
    audits = [c.audit() for c in (folder, dataset, dataframe)]
    for audit in audits[1:]:  # the same pixels, labels and order: the same training
        np.testing.assert_array_equal(audit["loss"], audits[0]["loss"])
    flipped = digit_files["noisy"] != digit_files["true"]
    flagged = audits[0]["is_suspicious"].to_numpy()
    assert (flagged & flipped).sum() > 0.6 * flipped.sum()
    assert audits[0]["source"].tolist() == [str(p) for p in digit_files["paths"]]


def test_predict_and_score_on_image_folders(digit_files):
    cleaner = _small().fit(digit_files["root"] / "train")
    test = digit_files["root"] / "test"
    assert cleaner.score(test) > 0.7  # labels from the folder names
    files = sorted(test.rglob("*.png"))
    flat = digit_files["root"] / "unlabelled"
    flat.mkdir()
    for path in files:
        shutil.copy(path, flat / f"{path.parent.name}_{path.name}")  # sorts like the class folders
    predicted = cleaner.predict(flat)
    assert len(predicted) == 300 and set(predicted) <= set(cleaner.classes_)
    truth = np.array([p.parent.name for p in files])
    assert (predicted == truth).mean() == pytest.approx(cleaner.score(test))
    assert np.array_equal(cleaner.predict_proba(flat), cleaner.predict_proba(test))


def test_score_matches_folder_names_to_int_classes_by_their_text(tmp_path):
    """Folders named 0/ and 1/ give the str labels '0' and '1': against int classes they once all counted wrong."""
    data = load_digits()
    keep = data.target < 2
    pixels, labels = (data.images[keep][:120] * 255 / 16).astype(np.uint8), data.target[keep][:120]
    for row, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        (tmp_path / str(label)).mkdir(exist_ok=True)
        Image.fromarray(image).save(tmp_path / str(label) / f"{row:03d}.png")
    rows = [int(p.stem) for p in sorted(tmp_path.rglob("*.png"))]  # the folder's order
    images = np.repeat(pixels[rows][..., None], 3, axis=-1)  # the folder decodes as RGB
    cleaner = _small_cnn().fit(images, labels[rows])
    on_arrays = cleaner.score(images, labels[rows])
    assert on_arrays > 0.9
    with pytest.warns(
        UserWarning, match=r"120 labels are of another type than the classes \(e\.g\. '0' for 0\)"
    ):
        assert cleaner.score(tmp_path) == pytest.approx(on_arrays)
    with pytest.warns(
        UserWarning, match=r"120 of 120 labels are not classes of this cleaner \(e\.g\. 'zero'"
    ):
        assert cleaner.score(images, np.where(labels[rows] == 0, "zero", "one")) == 0.0


def test_score_refuses_sample_weights_that_are_not_one_per_sample():
    X, y = load_digits(return_X_y=True)
    cleaner = SLNCleaner(epochs=1, sigma=1.0, random_state=0).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match=r"sample_weight has shape \(10,\) but X has 100 samples"):
        cleaner.score(X[:100], y[:100], sample_weight=np.ones(10))
    with pytest.raises(ValueError, match="sample_weight must hold finite numbers >= 0"):
        cleaner.score(X[:100], y[:100], sample_weight=np.full(100, np.nan))
    weights = (y[:100] == 3).astype(float)  # only the threes count
    three = cleaner.predict(X[:100])[y[:100] == 3] == 3
    assert cleaner.score(X[:100], y[:100], sample_weight=weights) == pytest.approx(three.mean())


def _small_cnn() -> SLNCleaner:
    return SLNCleaner(model="cnn_small", epochs=4, batch_size=16, sigma=0.2, augment=False, random_state=0)


def test_float64_features_far_from_zero_keep_their_differences():
    """Timestamps near 1.6e9 whose classes lie 40 s apart: float32 alone keeps 2 distinct values of 59."""
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    seconds = 1.6e9 + rng.integers(0, 30, 200) + 40 * y
    X = np.column_stack([seconds, rng.normal(size=200)])
    cleaner = SLNCleaner(epochs=15, sigma=0.5, random_state=0).fit(X, y)
    assert cleaner.score(X, y) > 0.95
    assert cleaner.audit()["is_suspicious"].sum() <= 5  # every label is right
    np.testing.assert_allclose(cleaner.feature_mean_, X.mean(axis=0))


def test_features_beyond_float32_train_and_a_value_too_far_out_is_named(tmp_path):
    X, y = load_digits(return_X_y=True)
    huge = X[:150] * 1e38  # finite in float64, up to 1.6e39: beyond float32's 3.4e38
    cleaner = SLNCleaner(epochs=2, sigma=1.0, random_state=0).fit(huge, y[:150])
    small = SLNCleaner(epochs=2, sigma=1.0, random_state=0).fit(X[:150], y[:150])
    np.testing.assert_allclose(cleaner.predict_proba(huge), small.predict_proba(X[:150]), atol=1e-4)
    loaded = SLNCleaner.load(small.save(tmp_path / "saved"))
    np.testing.assert_allclose(loaded.predict_proba(X[:150]), small.predict_proba(X[:150]), atol=1e-6)
    with pytest.raises(
        ValueError,
        match=r"X has a value too large \(1e\+39\) at row 0, column 0: standardised with the means and scales",
    ):
        small.predict(huge[:5] + 1e39)
