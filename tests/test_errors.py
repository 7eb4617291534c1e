"""Every bad input gets a clear error naming the culprit (file, row, column, parameter)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

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
    with pytest.raises(ValueError, match=r"1-D.*\(6, 1\)"):
        load_data(X, y.reshape(-1, 1))


def test_single_class_is_refused():
    X, _ = _features()
    with pytest.raises(ValueError, match=r"at least 2 classes.*only \['cat'\]"):
        SLNCleaner(epochs=1).fit(X, ["cat"] * len(X))


def test_missing_label_names_the_row():
    X, _ = _features(n=5)
    with pytest.raises(ValueError, match=r"label missing for row 3 \(2 missing in all\)"):
        load_data(X, np.array([0.0, 1.0, 0.0, np.nan, np.nan]))


def test_mixed_label_types_are_refused():
    X, _ = _features(n=4)
    y = np.array(["a", 1, "a", 1], dtype=object)
    with pytest.raises(ValueError, match=r"labels mix types \['int', 'str'\]"):
        SLNCleaner(epochs=1).fit(X, y)


def test_unlabelled_input_to_fit_asks_for_labels():
    X, _ = _features()
    with pytest.raises(ValueError, match=r"no labels found in array of 40 feature vectors"):
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


def test_no_readable_image_at_all(tmp_path):
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


# --- folders -------------------------------------------------------------------------------


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match=rf"no images found in {re.escape(str(tmp_path))}"):
        load_data(tmp_path)
    (tmp_path / "cats").mkdir()  # class folders without images are no better
    (tmp_path / "cats" / "list.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match=r"no images found.*one sub-folder per class"):
        SLNCleaner(epochs=1).fit(tmp_path)


def test_nonexistent_folder(tmp_path):
    missing = tmp_path / "no_such_photos"
    with pytest.raises(FileNotFoundError, match=rf"{re.escape(str(missing))} does not exist"):
        load_data(missing)
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        SLNCleaner(epochs=1).fit(str(missing))


def test_file_instead_of_folder(tmp_path):
    file = tmp_path / "photo.png"
    file.write_bytes(_png_bytes())
    with pytest.raises(NotADirectoryError, match=rf"{re.escape(str(file))} is not a folder"):
        load_data(file)


# --- arrays --------------------------------------------------------------------------------


def test_nan_in_feature_vectors_names_the_row():
    X, y = _features()
    X[3, 1] = np.nan
    X[17, 0] = np.inf
    with pytest.raises(ValueError, match=r"non-finite value \(nan\) at row 3, index \[1\]; 2 "):
        load_data(X, y)
    with pytest.raises(ValueError, match=r"at row 3"):
        SLNCleaner(epochs=2, random_state=0).fit(X, y)


def test_nan_in_dataframe_features_names_row_and_column():
    df = pd.DataFrame({"f0": [0.0, 1.0, 2.0], "f1": [1.0, np.nan, 0.0], "label": [0, 1, 0]})
    with pytest.raises(ValueError, match=r"at row 1, column 'f1'"):
        load_data(df)


def test_unsupported_input_type_is_named():
    with pytest.raises(TypeError, match=r"got list"):
        load_data([[0.0, 1.0], [1.0, 0.0]])


def test_non_numeric_array_is_refused():
    with pytest.raises(TypeError, match=r"X must hold numbers, got dtype torch.bool"):
        load_data(np.zeros((3, 2), dtype=bool))


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((4, 5, 8, 8), r"cannot tell the channel axis of images of shape \(4, 5, 8, 8\)"),
        ((2, 3, 4, 4, 3), r"got shape \(2, 3, 4, 4, 3\)"),
        ((5,), r"got shape \(5,\)"),
    ],
)
def test_array_of_unusable_shape(shape, message):
    with pytest.raises(ValueError, match=message):
        load_data(np.zeros(shape, dtype=np.float32))


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
        ("sigma", -1, ">= 0"),
        ("sigma", "big", "a number"),
        ("model", "nope", "one of 'auto', 'cnn_small'"),
        ("epochs", 0, ">= 1"),
        ("epochs", 2.5, "a whole number"),
        ("lr", 0, "> 0"),
        ("momentum", 1.5, "<= 1"),
        ("batch_size", 1, ">= 2"),
        ("correction_start", -1, ">= 0"),
        ("on_bad_image", "ignore", "one of 'raise', 'skip'"),
        ("image_size", (8,), "'auto', None or (height, width)"),
        ("device", "gpu0", "'auto' or a torch device"),
        ("random_state", -3, ">= 0"),
        ("augment", "yes", "True or False"),
        ("precision", "fp16", "one of 'auto', 'bf16', 'fp32'"),
    ],
)
def test_invalid_parameter_raises_at_fit_naming_it(name, value, expected):
    X, y = _features()
    cleaner = SLNCleaner(**{name: value})  # the constructor only stores (scikit-learn rule)
    assert getattr(cleaner, name) == value
    message = f"SLNCleaner parameter {name}={value!r} must be {expected}"
    with pytest.raises(ValueError, match=re.escape(message)):
        cleaner.fit(X, y)


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


def test_predict_on_inputs_of_another_shape():
    X, y = _features(d=5)
    cleaner = SLNCleaner(epochs=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"shape \(3,\), but SLNCleaner was fitted on shape \(5,\)"):
        cleaner.predict(np.zeros((2, 3), dtype=np.float32))


def test_clone_keeps_parameters():
    cloned = clone(SLNCleaner(sigma=0.5, epochs=3, model="mlp"))
    assert cloned.sigma == 0.5
    assert cloned.epochs == 3
    assert cloned.model == "mlp"
    assert cloned.get_params()["lr"] == "auto"
