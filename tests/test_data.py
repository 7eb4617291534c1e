"""labelclean.data.load_data on small, realistic inputs: one test (or a few) per input kind."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from labelclean.data import LoadedData, load_data

# pandas 3 hands out read-only arrays; torch warns once when wrapping one (see report).


def _save(path: Path, size_wh: tuple[int, int], color, mode: str = "RGB", **kwargs) -> Path:
    """A solid-colour image of PIL size (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size_wh, color).save(path, **kwargs)
    return path


def _pixels(data: LoadedData, row: int) -> np.ndarray:
    """One decoded image as an HWC int array."""
    return data.inputs[row].permute(1, 2, 0).numpy().astype(int)


# --- ImageFolder trees ------------------------------------------------------------------


@pytest.fixture
def image_tree(tmp_path: Path) -> dict[str, object]:
    """3 classes x 4 images; most are 10 wide x 8 high, two in 'cat' are not."""
    root = tmp_path / "photos"
    colors = {
        "ant/00.png": (200, 10, 10),
        "ant/01.png": (10, 200, 10),
        "ant/02.png": (10, 10, 200),
        "ant/03.png": (120, 120, 0),
        "bee/00.png": (0, 120, 120),
        "bee/01.png": (120, 0, 120),
        "cat/02_big.png": (50, 100, 150),
        "cat/03_small.png": (150, 100, 50),
    }
    odd_sizes = {"cat/02_big.png": (20, 16), "cat/03_small.png": (5, 7)}
    for name, color in colors.items():
        _save(root / name, odd_sizes.get(name, (10, 8)), color)
    _save(root / "bee/02_gray.png", (10, 8), 100, mode="L")
    _save(root / "bee/03_rgba.png", (10, 8), (10, 20, 30, 128), mode="RGBA")
    _save(root / "cat/00.jpg", (10, 8), (240, 240, 240), quality=95)
    _save(root / "cat/01.jpeg", (10, 8), (30, 60, 90), quality=95)
    (root / "cat/notes.txt").write_text("not an image")
    (root / "ant/.DS_Store").write_bytes(b"\0\0\0")
    return {"root": root, "colors": colors}


def test_image_folder_tree_loads_labels_sources_and_resizes(image_tree):
    root: Path = image_tree["root"]
    data = load_data(root)

    order = [
        "ant/00.png",
        "ant/01.png",
        "ant/02.png",
        "ant/03.png",
        "bee/00.png",
        "bee/01.png",
        "bee/02_gray.png",
        "bee/03_rgba.png",
        "cat/00.jpg",
        "cat/01.jpeg",
        "cat/02_big.png",
        "cat/03_small.png",
    ]
    assert isinstance(data, LoadedData)
    assert data.is_image
    assert len(data) == 12
    # every image comes back at the most common size (8 high, 10 wide), 3 channels
    assert data.inputs.shape == (12, 3, 8, 10)
    assert data.inputs.dtype == torch.uint8
    assert data.labels.tolist() == ["ant"] * 4 + ["bee"] * 4 + ["cat"] * 4
    assert data.class_names == ["ant", "bee", "cat"]
    assert data.sources == [str(root / name) for name in order]
    np.testing.assert_array_equal(data.rows, np.arange(12))
    # the text file is reported; hidden files are silently ignored
    assert data.skipped == [(str(root / "cat/notes.txt"), "not an image file extension")]
    assert "photos" in data.description

    for row, name in enumerate(order):
        if name in image_tree["colors"]:
            expected = np.broadcast_to(image_tree["colors"][name], (8, 10, 3))
            # resizing a solid colour keeps it (up to rounding)
            np.testing.assert_allclose(_pixels(data, row), expected, atol=1)
    # grayscale and RGBA become 3-channel RGB
    assert (_pixels(data, order.index("bee/02_gray.png")) == 100).all()
    np.testing.assert_array_equal(
        _pixels(data, order.index("bee/03_rgba.png")), np.broadcast_to((10, 20, 30), (8, 10, 3))
    )
    # JPEG is lossy: close to its colour
    np.testing.assert_allclose(
        _pixels(data, order.index("cat/01.jpeg")), np.broadcast_to((30, 60, 90), (8, 10, 3)), atol=6
    )


def test_image_folder_as_a_str_decodes_at_an_explicit_size(image_tree):
    root: Path = image_tree["root"]
    data = load_data(str(root), image_size=(6, 4))
    assert data.inputs.shape == (12, 3, 6, 4)
    assert data.inputs.dtype == torch.uint8
    np.testing.assert_allclose(_pixels(data, 0), np.broadcast_to((200, 10, 10), (6, 4, 3)), atol=1)


def test_image_folder_y_overrides_folder_labels(image_tree):
    y = np.arange(12) % 3
    data = load_data(image_tree["root"], y=y)
    np.testing.assert_array_equal(data.labels, y)
    assert data.class_names == ["ant", "bee", "cat"]


def test_flat_image_folder_is_unlabelled(tmp_path):
    for i in range(5):
        _save(tmp_path / f"img_{i}.png", (6, 6), (i * 40, 0, 0))
    (tmp_path / "README.md").write_text("photos to classify")

    data = load_data(tmp_path)

    assert data.labels is None
    assert data.class_names is None
    assert data.inputs.shape == (5, 3, 6, 6)
    assert data.inputs.dtype == torch.uint8
    assert data.sources == [str(tmp_path / f"img_{i}.png") for i in range(5)]
    np.testing.assert_array_equal(data.rows, np.arange(5))
    assert data.skipped == [(str(tmp_path / "README.md"), "not an image file extension")]
    assert [int(data.inputs[i, 0, 0, 0]) for i in range(5)] == [0, 40, 80, 120, 160]


def test_gif_files_are_read_like_any_image(tmp_path):
    for label, shade in (("a", 40), ("b", 200)):
        _save(tmp_path / label / "still.png", (6, 6), (shade,) * 3)
        Image.new("L", (6, 6), shade).convert("P").save(tmp_path / label / "palette.gif")
    data = load_data(tmp_path)
    assert [Path(s).name for s in data.sources] == ["palette.gif", "still.png"] * 2 and data.skipped == []
    assert int(data.inputs[0].min()) == int(data.inputs[0].max()) == 40  # a palette GIF decodes to its colour


def test_images_beside_the_class_folders_and_empty_class_folders_are_said(tmp_path):
    for label in ("ant", "bee"):
        for i in range(2):
            _save(tmp_path / label / f"{i}.png", (6, 6), (90, 90, 90))
    (tmp_path / "wasp").mkdir()  # a class folder nobody filled
    loose = [_save(tmp_path / f"loose_{i}.png", (6, 6), (90, 90, 90)) for i in range(2)]
    (tmp_path / "README.md").write_text("my photos")  # not an image: not an input either
    with pytest.warns(UserWarning) as caught:
        data = load_data(tmp_path)
    assert len(data) == 4 and data.class_names == ["ant", "bee", "wasp"]
    assert data.skipped == [
        (str(path), "an image beside the class folders, so in no class: move it into one") for path in loose
    ]
    messages = [str(w.message) for w in caught]
    assert any(
        m.startswith(f"2 files or folders in {tmp_path} are left out (listed in skipped_)") for m in messages
    )
    assert any("class folders with no image" in m and "['wasp']" in m for m in messages)


def test_a_symbolic_link_loop_is_not_followed_and_is_recorded(tmp_path):
    for label in ("a", "b"):
        for i in range(2):
            _save(tmp_path / label / f"{i}.png", (6, 6), (90, 90, 90))
    (tmp_path / "a" / "again").symlink_to(tmp_path / "a")  # a/again -> a
    (tmp_path / "b" / "up").symlink_to(tmp_path)  # b/up -> the root
    with pytest.warns(UserWarning, match="left out"):
        data = load_data(tmp_path)
    assert data.sources == [str(tmp_path / label / f"{i}.png") for label in "ab" for i in range(2)]
    loop = "a symbolic link to a folder it is in (a loop): not followed"
    assert data.skipped == [(str(tmp_path / "a" / "again"), loop), (str(tmp_path / "b" / "up"), loop)]


# --- Hugging Face datasets ----------------------------------------------------------


def _random_images(n: int, hw: tuple[int, int], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for _ in range(n)]


def test_hf_dataset_autodetects_image_and_classlabel_columns():
    arrays = _random_images(6, (8, 8), seed=0)
    features = datasets.Features(
        {
            "caption": datasets.Value("string"),
            "img": datasets.Image(),
            "label": datasets.ClassLabel(names=["cat", "dog", "fox"]),
        }
    )
    ds = datasets.Dataset.from_dict(
        {
            "caption": [f"picture {i}" for i in range(6)],
            "img": [Image.fromarray(a) for a in arrays],
            "label": [2, 0, 1, 1, 0, 2],
        },
        features=features,
    )

    data = load_data(ds)

    assert data.inputs.shape == (6, 3, 8, 8)
    assert data.inputs.dtype == torch.uint8
    assert data.labels.tolist() == [2, 0, 1, 1, 0, 2]
    assert data.labels.dtype.kind == "i"
    assert data.class_names == ["cat", "dog", "fox"]
    assert data.sources == [f"row {i}" for i in range(6)]
    np.testing.assert_array_equal(data.rows, np.arange(6))
    assert data.skipped == []
    assert "'img'" in data.description and "'label'" in data.description
    for i, array in enumerate(arrays):  # stored losslessly (PNG), decoded exactly
        np.testing.assert_array_equal(_pixels(data, i), array)


def test_hf_dataset_columns_named_override_the_detected_ones():
    photos = _random_images(4, (8, 8), seed=1)
    thumbs = _random_images(4, (4, 6), seed=2)
    features = datasets.Features(
        {
            "photo": datasets.Image(),
            "thumb": datasets.Image(),
            "fine": datasets.ClassLabel(names=["oak", "fir", "ant"]),
            "coarse": datasets.ClassLabel(names=["animal", "plant"]),
        }
    )
    ds = datasets.Dataset.from_dict(
        {
            "photo": [Image.fromarray(a) for a in photos],
            "thumb": [Image.fromarray(a) for a in thumbs],
            "fine": [0, 1, 2, 0],
            "coarse": [1, 1, 0, 1],
        },
        features=features,
    )

    auto = load_data(ds)
    assert auto.inputs.shape == (4, 3, 8, 8)
    assert auto.labels.tolist() == [0, 1, 2, 0]
    assert auto.class_names == ["oak", "fir", "ant"]

    data = load_data(ds, image_column="thumb", label_column="coarse")
    assert data.inputs.shape == (4, 3, 4, 6)
    assert data.labels.tolist() == [1, 1, 0, 1]
    assert data.class_names == ["animal", "plant"]
    for i, array in enumerate(thumbs):
        np.testing.assert_array_equal(_pixels(data, i), array)


def test_hf_dataset_plain_label_column_has_no_class_names():
    arrays = _random_images(3, (5, 5), seed=3)
    ds = datasets.Dataset.from_dict(
        {"image": [Image.fromarray(a) for a in arrays], "target": ["x", "y", "x"]},
        features=datasets.Features({"image": datasets.Image(), "target": datasets.Value("string")}),
    )
    data = load_data(ds)
    assert data.inputs.shape == (3, 3, 5, 5)
    assert data.labels.tolist() == ["x", "y", "x"]
    assert data.class_names is None


def test_hf_dataset_dict_asks_for_a_split():
    ds = datasets.Dataset.from_dict(
        {"img": [Image.fromarray(a) for a in _random_images(2, (4, 4), seed=4)], "label": [0, 1]},
        features=datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(2)}),
    )
    splits = datasets.DatasetDict({"train": ds, "test": ds})
    with pytest.raises(TypeError, match=r"DatasetDict.*\['train', 'test'\].*pass one split"):
        load_data(splits)
    assert load_data(splits["test"]).inputs.shape == (2, 3, 4, 4)


# --- DataFrames ------------------------------------------------------------------------


def test_dataframe_of_image_paths_and_string_labels(tmp_path):
    paths = [_save(tmp_path / f"{i}.png", (7, 5), (i * 30, 255 - i * 30, 7)) for i in range(6)]
    df = pd.DataFrame(
        {
            "filepath": [str(p) for p in paths],
            "label": ["cat", "dog", "cat", "dog", "dog", "cat"],
            "note": ["n"] * 6,
        }
    )

    data = load_data(df)

    assert data.inputs.shape == (6, 3, 5, 7)
    assert data.inputs.dtype == torch.uint8
    assert data.labels.tolist() == ["cat", "dog", "cat", "dog", "dog", "cat"]
    assert data.sources == [str(p) for p in paths]
    np.testing.assert_array_equal(data.rows, np.arange(6))
    assert data.class_names is None
    assert "'filepath'" in data.description
    assert [_pixels(data, i)[0, 0].tolist() for i in range(6)] == [
        [i * 30, 255 - i * 30, 7] for i in range(6)
    ]


def test_dataframe_image_and_label_columns_can_be_named(tmp_path):
    paths = [_save(tmp_path / f"p{i}.jpg", (8, 8), (i * 50, 0, 0)) for i in range(3)]
    df = pd.DataFrame({"photo": [str(p) for p in paths], "species": ["oak", "fir", "oak"]})
    data = load_data(df, image_column="photo", label_column="species")
    assert data.inputs.shape == (3, 3, 8, 8)
    assert data.labels.tolist() == ["oak", "fir", "oak"]
    assert data.sources == [str(p) for p in paths]


def test_dataframe_of_numeric_columns_is_features_named_by_row_index():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "f0": rng.normal(size=5),
            "f1": rng.normal(size=5).astype(np.float32),
            "count": np.arange(5),
            "label": ["a", "b", "a", "b", "b"],
        },
        index=[10, 11, 12, 13, 14],
    )

    data = load_data(df)

    assert not data.is_image
    assert data.inputs.shape == (5, 3)
    assert data.inputs.dtype == torch.float32
    np.testing.assert_allclose(data.inputs.numpy(), df[["f0", "f1", "count"]].to_numpy(np.float32), rtol=1e-6)
    assert data.labels.tolist() == ["a", "b", "a", "b", "b"]
    assert data.sources == [f"row {i}" for i in range(10, 15)]
    np.testing.assert_array_equal(data.rows, np.arange(5))
    assert "3 feature columns" in data.description


def test_dataframe_explicit_label_column_is_not_a_feature():
    df = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 1.0, 0.0], "grade": [3, 1, 3]})
    data = load_data(df, label_column="grade")
    assert data.inputs.shape == (3, 2)
    assert data.labels.tolist() == [3, 1, 3]


# --- arrays and tensors ----------------------------------------------------------------


def test_feature_array_becomes_float32_rows_with_their_labels():
    X = np.arange(24, dtype=np.float64).reshape(6, 4)
    y = np.array([0, 1, 0, 1, 2, 2])
    data = load_data(X, y)
    assert not data.is_image
    assert data.inputs.shape == (6, 4)
    assert data.inputs.dtype == torch.float32
    np.testing.assert_array_equal(data.inputs.numpy(), X.astype(np.float32))
    np.testing.assert_array_equal(data.labels, y)
    assert data.sources == [f"row {i}" for i in range(6)]
    np.testing.assert_array_equal(data.rows, np.arange(6))
    assert data.class_names is None
    assert data.skipped == []


def test_feature_array_without_y_has_no_labels():
    data = load_data(np.ones((3, 2), dtype=np.int64))
    assert data.labels is None
    assert data.inputs.dtype == torch.float32
    assert data.inputs.shape == (3, 2)


def test_grayscale_image_array_gets_one_channel():
    X = np.random.default_rng(0).integers(0, 256, (5, 6, 7), dtype=np.uint8)
    data = load_data(X, y=["a", "b", "a", "b", "a"])
    assert data.is_image
    assert data.inputs.shape == (5, 1, 6, 7)
    assert data.inputs.dtype == torch.uint8
    np.testing.assert_array_equal(data.inputs[:, 0].numpy(), X)
    assert data.labels.tolist() == ["a", "b", "a", "b", "a"]


def test_nhwc_image_array_becomes_contiguous_nchw():
    X = np.random.default_rng(1).integers(0, 256, (4, 8, 6, 3), dtype=np.uint8)
    data = load_data(X, y=[0, 1, 1, 0])
    assert data.inputs.shape == (4, 3, 8, 6)
    assert data.inputs.dtype == torch.uint8
    np.testing.assert_array_equal(data.inputs.numpy(), X.transpose(0, 3, 1, 2))
    assert data.inputs.is_contiguous()
    assert "NHWC" in data.description


def test_nchw_float_image_array_stays_float_nchw():
    X = np.random.default_rng(2).random((4, 3, 8, 6))
    data = load_data(X, y=[0, 1, 1, 0])
    assert data.inputs.shape == (4, 3, 8, 6)
    assert data.inputs.dtype == torch.float32
    np.testing.assert_allclose(data.inputs.numpy(), X.astype(np.float32))
    assert "NCHW" in data.description


def test_torch_tensor_images_and_labels_read_like_arrays():
    X = torch.rand(5, 3, 4, 4)
    y = torch.tensor([1, 0, 1, 0, 1])
    data = load_data(X, y)
    assert data.inputs.shape == (5, 3, 4, 4)
    assert data.inputs.dtype == torch.float32
    assert torch.equal(data.inputs, X)
    assert isinstance(data.labels, np.ndarray)
    assert data.labels.tolist() == [1, 0, 1, 0, 1]
    assert data.sources == [f"row {i}" for i in range(5)]


def test_float64_torch_features_become_float32():
    X = torch.randn(7, 3, dtype=torch.float64)
    data = load_data(X, y=np.arange(7) % 2)
    assert data.inputs.shape == (7, 3)
    assert data.inputs.dtype == torch.float32
    torch.testing.assert_close(data.inputs, X.float())
