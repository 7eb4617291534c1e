"""Every bad input gets a clear error naming the culprit (file, row, column, parameter)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import DataConversionWarning, NotFittedError

from labelclean import BadImageError, SLNCleaner
from labelclean.data import load_data


def _features(n: int = 40, d: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), np.arange(n) % 2


def _png_bytes(seed: int = 0) -> bytes:
    array = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _image_folder(root: Path, per_class: int = 20) -> Path:
    """Classes 'a' and 'b', ``per_class`` 8x8 PNGs each, named 00.png, 01.png, ..."""
    for c, name in enumerate("ab"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            (root / name / f"{i:02d}.png").write_bytes(_png_bytes(seed=100 * c + i))
    return root


# --- labels ------------------------------------------------------------------------------


def test_length_mismatch_of_X_and_y_names_both_numbers():
    X, _ = _features(n=10)
    with pytest.raises(ValueError, match=r"X has 10 samples but y has 7 labels"):
        load_data(X, np.zeros(7))
    with pytest.raises(ValueError, match=r"X has 10 samples but y has 12 labels"):
        SLNCleaner(epochs=2, random_state=0).fit(X, np.arange(12) % 2)


def test_y_must_be_one_dimensional():
    X, y = _features(n=6)
    with pytest.raises(
        ValueError, match=r"y should be a 1d array \(one label per sample\), got shape \(6, 2\)"
    ):
        load_data(X, np.stack([y, y], axis=1))


def test_a_column_vector_y_is_raveled_with_scikit_learns_warning():
    X, y = _features(n=6)
    with pytest.warns(DataConversionWarning, match=r"A column-vector y was passed"):
        data = load_data(X, y.reshape(-1, 1))
    assert data.labels.tolist() == y.tolist()


def test_single_class_is_refused():
    X, _ = _features()
    with pytest.raises(ValueError, match=r"at least 2 classes.*only \['cat'\] \(one class\)"):
        SLNCleaner(epochs=1).fit(X, ["cat"] * len(X))


def test_missing_label_names_the_row():
    X, _ = _features(n=5)
    with pytest.raises(ValueError, match=r"label missing for row 3 \(2 missing in all\)"):
        load_data(X, np.array([0.0, 1.0, 0.0, np.nan, np.nan]))


def test_infinite_label_names_the_row():
    X, _ = _features(n=4)
    with pytest.raises(ValueError, match=r"Input y contains infinity: the label of row 2 is inf"):
        load_data(X, np.array([0.0, 1.0, np.inf, 1.0]))


def test_mixed_label_types_are_refused():
    X, _ = _features(n=4)
    y = np.array(["a", 1, "a", 1], dtype=object)
    with pytest.raises(ValueError, match=r"labels mix types \['int', 'str'\]"):
        SLNCleaner(epochs=1).fit(X, y)


def test_a_plain_list_mixing_1_and_str_1_is_refused_not_merged():
    X, _ = _features(n=40)
    y = [1, "1"] * 20  # numpy would turn both into the string "1": a single class
    with pytest.raises(ValueError, match=r"Unknown label type: labels mix types \['int', 'str'\]"):
        SLNCleaner(epochs=1, random_state=0).fit(X, y)


def test_continuous_targets_are_refused():
    X, _ = _features(n=40)
    y = np.random.default_rng(0).normal(size=40)  # a regression target: 40 "classes"
    with pytest.raises(ValueError, match=r"Unknown label type: continuous\. y holds values such as -?0\.\d+"):
        SLNCleaner(epochs=1, random_state=0).fit(X, y)
    whole = SLNCleaner(epochs=1, random_state=0).fit(X, (np.arange(40) % 3).astype(float))  # 0.0, 1.0, 2.0
    assert whole.classes_.tolist() == [0.0, 1.0, 2.0]


def test_unlabelled_input_to_fit_asks_for_labels():
    X, _ = _features()
    with pytest.raises(
        ValueError, match=r"requires y to be passed, but the target y is None .* array of 40 feature vectors"
    ):
        SLNCleaner(epochs=1).fit(X)


def test_missing_label_column_is_named():
    df = pd.DataFrame({"x0": [0.0, 1.0], "x1": [1.0, 0.0], "label": [0, 1]})
    with pytest.raises(KeyError, match=r"label column 'species' is not in the DataFrame"):
        load_data(df, label_column="species")
    with pytest.raises(KeyError, match=r"image column 'photo' is not in the DataFrame"):
        load_data(df, image_column="photo")
    with pytest.raises(KeyError, match=r"'species'.*columns: \['x0', 'x1', 'label'\]"):
        SLNCleaner(epochs=1).fit(df, label_column="species")


def test_missing_label_column_of_a_hf_dataset_is_named():
    ds = datasets.Dataset.from_dict(
        {"img": [Image.new("RGB", (4, 4))] * 2, "label": [0, 1]},
        features=datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(2)}),
    )
    with pytest.raises(KeyError, match=r"label column 'fine_label' is not in the dataset"):
        load_data(ds, label_column="fine_label")


def test_dataframe_with_two_possible_label_columns_asks_which():
    df = pd.DataFrame({"x": np.arange(6.0), "y": [0, 1] * 3, "class": ["a", "b", "b"] * 2})
    with pytest.raises(
        ValueError, match=r"several columns that could be the label: \['class', 'y'\]; .*label_column="
    ):
        SLNCleaner(epochs=1).fit(df)
    data = load_data(df, label_column="class")
    assert data.labels.tolist() == ["a", "b", "b"] * 2 and data.inputs.shape == (6, 2)


def test_dataframe_with_text_columns_and_no_image_column_names_them():
    df = pd.DataFrame({"x": [0.0, 1.0], "colour": ["red", "blue"], "label": [0, 1]})
    with pytest.raises(ValueError, match=r"non-numeric columns \['colour'\].*image_column="):
        load_data(df)


# --- bad image files -----------------------------------------------------------------------

BAD_FILES = {
    "corrupt_jpeg": ("05_bad.jpg", lambda: np.random.default_rng(7).bytes(300)),
    "truncated_png": ("05_bad.png", lambda: _png_bytes(seed=9)[: len(_png_bytes(seed=9)) // 2]),
    "zero_byte_png": ("05_bad.png", lambda: b""),
}


@pytest.fixture(params=sorted(BAD_FILES))
def folder_with_bad_image(request, tmp_path) -> tuple[Path, Path]:
    """40 good 8x8 PNGs plus one unreadable file, sorted between b/05.png and b/06.png."""
    root = _image_folder(tmp_path / "photos")
    name, make = BAD_FILES[request.param]
    bad = root / "b" / name
    bad.write_bytes(make())
    return root, bad


def test_bad_image_raises_naming_the_file(folder_with_bad_image):
    root, bad = folder_with_bad_image
    with pytest.raises(BadImageError, match=rf"cannot read image {re.escape(str(bad))}"):
        load_data(root)
    with pytest.raises(BadImageError, match=re.escape(str(bad))):
        SLNCleaner(epochs=2, random_state=0).fit(root)


def test_bad_image_is_skipped_and_recorded(folder_with_bad_image):
    root, bad = folder_with_bad_image
    cleaner = SLNCleaner(epochs=2, random_state=0, on_bad_image="skip").fit(root)

    assert len(cleaner.skipped_) == 1
    source, reason = cleaner.skipped_[0]
    assert source == str(bad)
    assert reason.startswith(f"cannot read image {bad}")
    audit = cleaner.audit()
    assert len(audit) == 40
    assert str(bad) not in set(audit["source"])
    # sample ids stay positions in the file order: the bad file was number 26
    assert audit["sample_id"].tolist() == [*range(26), *range(27, 41)]
    assert sorted(set(audit["given_label"])) == ["a", "b"]
    assert cleaner.audit_metadata()["n_skipped"] == 1


def test_y_stays_aligned_with_the_input_when_an_image_is_skipped(tmp_path):
    root = _image_folder(tmp_path / "photos", per_class=3)
    bad = root / "b" / "00_bad.png"
    bad.write_bytes(b"")
    y = np.arange(7)  # one label per file, the unreadable one (row 4) included
    data = load_data(root, y, on_bad_image="skip")
    assert data.labels.tolist() == [0, 1, 2, 3, 5, 6]
    with pytest.raises(ValueError, match=r"X has 7 samples but y has 6 labels"):
        load_data(root, y[:6], on_bad_image="skip")


def test_skipping_every_image_is_an_error_naming_the_first(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"")
    (tmp_path / "a" / "y.jpg").write_bytes(b"garbage")
    with pytest.raises(BadImageError, match=r"none of the 2 images could be read.*x\.png"):
        load_data(tmp_path, on_bad_image="skip")


def test_on_bad_image_must_be_raise_or_skip(tmp_path):
    with pytest.raises(ValueError, match=r"on_bad_image must be 'raise' or 'skip', got 'ignore'"):
        load_data(tmp_path, on_bad_image="ignore")


def test_missing_image_in_hf_dataset_names_the_row():
    images = [Image.new("RGB", (4, 4), (i, 0, 0)) for i in range(2)]
    ds = datasets.Dataset.from_dict(
        {"img": [*images, None], "label": [0, 1, 0]},
        features=datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(2)}),
    )
    with pytest.raises(BadImageError, match=r"row 2"):
        load_data(ds)
    assert load_data(ds, on_bad_image="skip").skipped[0][0].startswith("row 2")


def test_missing_path_in_dataframe_names_the_row(tmp_path):
    good = tmp_path / "ok.png"
    good.write_bytes(_png_bytes())
    df = pd.DataFrame({"path": [str(good), None], "label": ["a", "b"]})
    with pytest.raises(BadImageError, match=r"row 1 \(missing path\)"):
        load_data(df)
    assert len(load_data(df, on_bad_image="skip")) == 1


def test_predictions_keep_one_row_per_input_when_images_are_skipped(tmp_path):
    good = _image_folder(tmp_path / "train", per_class=10)
    cleaner = SLNCleaner(epochs=2, random_state=0, on_bad_image="skip").fit(good)
    new = _image_folder(tmp_path / "new", per_class=3)
    bad = new / "a" / "00_bad.png"  # row 1 of 7 in file order
    bad.write_bytes(b"")
    with pytest.warns(
        UserWarning, match=rf"1 of 7 images could not be read \(first: {re.escape(str(bad))}\)"
    ):
        proba = cleaner.predict_proba(new)
    assert proba.shape == (7, 2)
    assert np.isnan(proba[1]).all() and np.allclose(np.delete(proba, 1, axis=0).sum(axis=1), 1, atol=1e-5)
    with pytest.warns(UserWarning):
        predicted = cleaner.predict(new)
    assert len(predicted) == 7 and predicted[1] is None
    assert set(np.delete(predicted, 1)) <= {"a", "b"}
    y = ["a", "a", "a", "a", "b", "b", "b"]  # one label per input row, the unreadable one included
    with pytest.warns(UserWarning):
        score = cleaner.score(new, y)
    assert score == np.mean(np.delete(predicted, 1) == np.delete(y, 1))
    assert cleaner.skipped_ == []  # predicting changes nothing learnt in fit


# --- folders -------------------------------------------------------------------------------


def test_a_folder_without_images_is_refused_naming_it(tmp_path):
    with pytest.raises(ValueError, match=rf"no images found in {re.escape(str(tmp_path))}"):
        load_data(tmp_path)
    (tmp_path / "cats").mkdir()  # class folders without images are no better
    (tmp_path / "cats" / "list.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match=r"no images found.*one sub-folder per class"):
        SLNCleaner(epochs=1).fit(tmp_path)


def test_a_missing_folder_is_named(tmp_path):
    missing = tmp_path / "no_such_photos"
    with pytest.raises(FileNotFoundError, match=rf"{re.escape(str(missing))} does not exist"):
        load_data(missing)
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        SLNCleaner(epochs=1).fit(str(missing))


def test_a_file_given_as_the_folder_is_named(tmp_path):
    file = tmp_path / "photo.png"
    file.write_bytes(_png_bytes())
    with pytest.raises(NotADirectoryError, match=rf"{re.escape(str(file))} is not a folder"):
        load_data(file)


# --- arrays --------------------------------------------------------------------------------


def test_nan_in_feature_vectors_names_the_row():
    X, y = _features()
    X[3, 1] = np.nan
    X[17, 0] = np.inf
    with pytest.raises(ValueError, match=r"non-finite value \(nan\) at row 3, index \[1\]; 2 .*NaN or inf"):
        load_data(X, y)
    with pytest.raises(ValueError, match=r"at row 3"):
        SLNCleaner(epochs=2, random_state=0).fit(X, y)


def test_nan_in_dataframe_features_names_row_and_column():
    df = pd.DataFrame({"f0": [0.0, 1.0, 2.0], "f1": [1.0, np.nan, 0.0], "label": [0, 1, 0]})
    with pytest.raises(ValueError, match=r"at row 1, column 'f1'"):
        load_data(df)


def test_unsupported_input_type_is_named():
    with pytest.raises(TypeError, match=r"got dict"):
        load_data({"a": [0.0, 1.0]})


def test_nested_lists_are_arrays():
    data = load_data([[0.0, 1.0], [1.0, 0.0]], [0, 1])
    assert data.inputs.tolist() == [[0.0, 1.0], [1.0, 0.0]] and "feature vectors" in data.description


def test_non_numeric_array_is_refused():
    with pytest.raises(TypeError, match=r"X must hold numbers, got dtype bool"):
        load_data(np.zeros((3, 2), dtype=bool))


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((4, 5, 8, 8), r"cannot tell the channel axis of images of shape \(4, 5, 8, 8\)"),
        ((2, 3, 4, 4, 3), r"got shape \(2, 3, 4, 4, 3\)"),
        ((5,), r"Expected 2D array, got 1D array instead(.|\n)*Reshape your data"),
    ],
)
def test_an_array_of_unusable_shape_is_refused_saying_what_shapes_work(shape, message):
    with pytest.raises(ValueError, match=message):
        load_data(np.zeros(shape, dtype=np.float32))


def test_arrays_scikit_learn_refuses_get_its_messages():
    X, y = _features(n=12)
    with pytest.raises(ValueError, match=re.escape("Found array with 0 feature(s) (shape=(12, 0))")):
        SLNCleaner(epochs=1).fit(np.empty((12, 0)), y)
    with pytest.raises(ValueError, match=re.escape("Found array with 0 sample(s) (shape=(0, 5))")):
        SLNCleaner(epochs=1).fit(np.empty((0, 5)), [])
    with pytest.raises(ValueError, match="Complex data not supported"):
        SLNCleaner(epochs=1).fit(X + 1j, y)
    with pytest.raises(TypeError, match=r"Sparse data was passed for X, but dense data is required"):
        SLNCleaner(epochs=1).fit(scipy.sparse.csr_matrix(X), y)


def test_arrays_of_strings_are_refused_and_object_arrays_of_numbers_read():
    X, y = _features(n=12)
    with pytest.raises(
        ValueError, match=r"X holds strings \(e\.g\. 'photo\.jpg'\), not numbers; .*image_column="
    ):
        load_data(np.array([["photo.jpg"], ["b.jpg"]]))
    with pytest.raises(ValueError, match=r"X holds strings \(e\.g\. 'x'\)"):
        load_data(np.array([["x", 1.0]], dtype=object))
    data = load_data(X.astype(object), y)
    assert data.inputs.dtype == torch.float32 and torch.equal(data.inputs, torch.from_numpy(X))


def test_images_too_small_to_crop_are_refused_before_training():
    images = np.random.default_rng(0).integers(0, 256, (20, 1, 8), dtype=np.uint8)  # 1 pixel high
    labels = np.arange(20) % 2
    with pytest.raises(
        ValueError, match=r"images of 1 x 8 pixels are too small for random-crop .*augment=False"
    ):
        SLNCleaner(epochs=1).fit(images, labels)
    assert SLNCleaner(epochs=1, augment=False, random_state=0).fit(images, labels).input_shape_ == (1, 1, 8)


def test_float_images_given_to_a_model_fitted_on_uint8_are_refused(tmp_path):
    digits = load_digits()
    pixels = (digits.images[:300] * 255 / 16).round().astype(np.uint8)
    cleaner = SLNCleaner(epochs=2, random_state=0).fit(pixels, digits.target[:300])
    with pytest.raises(ValueError, match=r"fitted on uint8 images but X holds float32 images.*\(X \* 255\)"):
        cleaner.predict(pixels / 255.0)  # the same images in [0, 1]: every row came out alike
    assert cleaner.pixel_dtype_ == "uint8"
    with pytest.raises(ValueError, match=r"fitted on uint8 images"):  # a saved cleaner remembers
        SLNCleaner.load(cleaner.save(tmp_path / "saved")).predict(pixels / 255.0)
    assert cleaner.predict(pixels).shape == (300,)
    floats = SLNCleaner(epochs=2, random_state=0).fit(digits.images[:300], digits.target[:300])
    with pytest.raises(ValueError, match=r"fitted on float32 images but X holds uint8 images"):
        floats.predict_proba(pixels)


# --- training -------------------------------------------------------------------------------


def test_non_finite_training_loss_names_epoch_and_suggests_lower_lr():
    X, y = _features()
    with pytest.raises(
        FloatingPointError,
        match=r"loss became (nan|inf|-inf) in epoch \d+; lower the learning rate \(lr=1e\+30\)",
    ):
        SLNCleaner(epochs=2, lr=1e30, sigma=0, random_state=0).fit(X, y)


# --- parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("sigma", -1, "a finite number >= 0 or 'auto'"),
        ("sigma", "big", "a finite number >= 0 or 'auto'"),
        ("sigma", float("nan"), "a finite number >= 0 or 'auto'"),
        ("sigma", float("inf"), "a finite number >= 0 or 'auto'"),
        ("sigma", [0.1, float("nan")], "a non-empty list of finite numbers >= 0"),
        ("sigma", [], "a non-empty list of finite numbers >= 0"),
        ("weights", 3, "a path or one of 'auto', None"),
        ("finetune", "partly", "one of 'auto', 'full', 'head'"),
        ("model", "nope", "one of 'auto', 'cnn_small'"),
        ("epochs", 0, "a whole number >= 1 or 'auto'"),
        ("epochs", 2.5, "a whole number >= 1 or 'auto'"),
        ("lr", 0, "a finite number > 0 or 'auto'"),
        ("lr", float("nan"), "a finite number > 0 or 'auto'"),
        ("momentum", 1.5, "a finite number in [0, 1) or 'auto'"),
        ("momentum", 1.0, "a finite number in [0, 1) or 'auto'"),
        ("momentum", float("nan"), "a finite number in [0, 1) or 'auto'"),
        ("weight_decay", float("nan"), "a finite number >= 0 or 'auto'"),
        ("memory_limit_gb", float("nan"), "a finite number >= 0"),
        ("memory_limit_gb", float("inf"), "a finite number >= 0"),
        ("batch_size", 1, "a whole number >= 2 or 'auto'"),
        ("correction_start", -1, "a whole number >= 0 or 'auto' or None"),
        ("on_bad_image", "ignore", "one of 'raise', 'skip'"),
        ("image_size", (8,), "'auto', None or (height, width)"),
        ("device", "gpu0", "'auto' or a torch device"),
        ("random_state", -3, "a whole number >= 0 or None"),
        ("augment", "yes", "True or False"),
        ("precision", "fp16", "one of 'auto', 'bf16', 'fp32'"),
    ],
)
def test_invalid_parameter_raises_at_fit_naming_it(name, value, expected):
    X, y = _features()
    cleaner = SLNCleaner(**{name: value})  # the constructor only stores (scikit-learn rule)
    assert getattr(cleaner, name) is value
    message = f"SLNCleaner parameter {name}={value!r} must be {expected}"
    with pytest.raises(ValueError, match=re.escape(message)):
        cleaner.fit(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_refused_up_front(device):
    X, y = _features()
    message = f"SLNCleaner parameter device={device!r} must be 'auto' or 'cpu': this machine has no CUDA GPU"
    with pytest.raises(ValueError, match=re.escape(message)):
        SLNCleaner(device=device).fit(X, y)


def test_momentum_of_one_is_refused_and_just_below_trains():
    """With a = 1 the momentum model never leaves its random initialisation (chance-level predictions)."""
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match=re.escape("momentum=1.0 must be a finite number in [0, 1)")):
        SLNCleaner(epochs=5, momentum=1.0, random_state=0).fit(X[:500], y[:500])
    almost = SLNCleaner(epochs=5, momentum=0.5, random_state=0).fit(X[:500], y[:500])
    assert almost.score(X[500:800], y[500:800]) > 0.5


def test_checkpoint_dir_needs_a_fixed_random_state(tmp_path):
    X, y = _features()
    with pytest.raises(ValueError, match=r"checkpoint_dir needs random_state set to an int"):
        SLNCleaner(epochs=1, checkpoint_dir=tmp_path).fit(X, y)
    assert list(tmp_path.iterdir()) == []


def test_predict_before_fit_raises_not_fitted():
    X, _ = _features(n=4)
    with pytest.raises(NotFittedError):
        SLNCleaner().predict(X)


@pytest.mark.parametrize(
    "method", ["predict_proba", "score", "audit", "correct_labels", "suspicious_samples"]
)
def test_other_methods_before_fit_raise_not_fitted(method):
    X, y = _features(n=4)
    args = {"predict_proba": (X,), "score": (X, y)}.get(method, ())
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(SLNCleaner(), method)(*args)


def test_predict_refuses_inputs_of_another_shape():
    X, y = _features(d=5)
    cleaner = SLNCleaner(epochs=2, random_state=0).fit(X, y)
    with pytest.raises(
        ValueError, match=r"X has 3 features, but SLNCleaner is expecting 5 features as input"
    ):
        cleaner.predict(np.zeros((2, 3), dtype=np.float32))


def test_dataframe_features_are_matched_by_name_not_position(tmp_path):
    X, y = load_digits(return_X_y=True)
    frame = pd.DataFrame(X, columns=[f"px{i}" for i in range(64)]).assign(label=y)
    cleaner = SLNCleaner(epochs=5, random_state=0).fit(frame.iloc[:600])
    test = frame.iloc[600:900]
    reversed_columns = test[test.columns[::-1]]  # label first, features in reverse order
    assert np.array_equal(cleaner.predict_proba(reversed_columns), cleaner.predict_proba(test))
    assert cleaner.feature_names_in_.tolist() == [f"px{i}" for i in range(64)]
    loaded = SLNCleaner.load(cleaner.save(tmp_path / "saved"))  # the names are kept
    assert np.array_equal(loaded.predict_proba(reversed_columns), cleaner.predict_proba(test))
    assert cleaner.score(reversed_columns) == cleaner.score(test) > 0.8
    with pytest.raises(ValueError, match=r"missing \['px3'\], unexpected \[\]"):
        cleaner.predict(test.drop(columns="px3"))
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['extra'\]"):
        cleaner.predict(test.assign(extra=1.0))
    with pytest.warns(UserWarning, match=r"X does not have valid feature names"):
        positional = cleaner.predict_proba(test.drop(columns="label").to_numpy())
    assert np.array_equal(positional, cleaner.predict_proba(test))


def test_suspicious_samples_top_k_must_be_a_count():
    X, y = _features()
    cleaner = SLNCleaner(epochs=1, random_state=0).fit(X, y)
    for bad in (2.5, -1, "3"):
        with pytest.raises(
            ValueError, match=rf"top_k must be None or a whole number >= 0, got {re.escape(repr(bad))}"
        ):
            cleaner.suspicious_samples(top_k=bad)
    assert len(cleaner.suspicious_samples(top_k=0)) == 0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no folder", r"no such folder"),
        ("audit missing", r"audit\.parquet \(the audit\) is missing"),
        ("empty weights", r"model\.pt \(the weights\) is damaged \(\w+Error"),
        ("broken config", r"config\.json \(the settings\) is damaged \(JSONDecodeError"),
        ("config without settings", r"config\.json lacks \['input_shape'"),
    ],
)
def test_loading_a_damaged_save_names_the_file(tmp_path, damage, message):
    X, y = _features()
    folder = SLNCleaner(epochs=1, random_state=0).fit(X, y).save(tmp_path / "cleaner")
    if damage == "no folder":
        folder = tmp_path / "elsewhere"
    elif damage == "audit missing":
        (folder / "audit.parquet").unlink()
    elif damage == "empty weights":
        (folder / "model.pt").write_bytes(b"")
    elif damage == "broken config":
        (folder / "config.json").write_text('{"params": ')
    else:
        (folder / "config.json").write_text(
            '{"params": {}, "resolved": {}, "classes": [], "classes_dtype": "<i8"}'
        )
    with pytest.raises((ValueError, FileNotFoundError), match=rf"cannot load a cleaner from .*{message}"):
        SLNCleaner.load(folder)


def test_clone_keeps_parameters():
    cloned = clone(SLNCleaner(sigma=0.5, epochs=3, model="mlp"))
    assert cloned.sigma == 0.5
    assert cloned.epochs == 3
    assert cloned.model == "mlp"
    assert cloned.get_params()["lr"] == "auto"
