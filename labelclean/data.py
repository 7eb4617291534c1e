"""Data adapters: every input kind labelclean accepts becomes one :class:`LoadedData`.

Supported inputs:

* a path to an image folder in torchvision's ``ImageFolder`` layout (one sub-folder
  per class), or a flat folder of images (unlabelled, for ``predict``);
* a Hugging Face ``datasets.Dataset`` with an image column and a label column;
* a pandas DataFrame of image paths and labels, or of numeric feature columns;
* numpy arrays or torch tensors of images (``(N, H, W)``, NHWC or NCHW; uint8 or
  float) or of feature vectors ``(N, D)``, with labels passed separately.

Errors name the offending file, row, column or value. Inputs at ``predict`` are checked
against what ``fit`` saw (:class:`FittedInput`).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy.sparse import issparse
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import check_array

from .images import (
    UNREADABLE,
    BadImageError,
    OnBadImage,
    Resize,
    check_all_complete,
    decode_all,
    resize_images,
    upright_size,
)
from .labels import check_one_label_type
from .streaming import ImageFiles

__all__ = [
    "IMAGE_EXTENSIONS",
    "BadImageError",
    "FittedInput",
    "FolderIndex",
    "LoadedData",
    "index_image_folder",
    "is_image_input",
    "load_data",
    "load_new_data",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
_IMAGE_COLUMN_NAMES = ("image", "img", "path", "image_path", "filepath", "file", "filename")
_LABEL_COLUMN_NAMES = ("label", "labels", "class", "target", "fine_label", "y")


@dataclass
class LoadedData:
    """Inputs as one tensor, plus where each row came from.

    ``inputs`` is ``(N, C, H, W)`` (uint8 or float32) for images or ``(N, D)``
    float32 for features; ``labels`` holds the raw label values (``None`` when the
    input carries none); ``sources`` the file path or dataset row of each sample;
    ``rows`` the position of each sample in the original input (rows of skipped
    images are missing); ``skipped`` the ``(source, reason)`` of inputs left out.
    """

    inputs: torch.Tensor | ImageFiles
    labels: np.ndarray | None
    sources: list[str]
    rows: np.ndarray
    description: str
    class_names: list[str] | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    n_rows: int = -1  # rows of the original input, skipped images included
    feature_names: list[str] | None = None  # the columns of a DataFrame of features, in order

    def __post_init__(self) -> None:
        if self.n_rows < 0:
            self.n_rows = len(self.inputs)

    @property
    def is_image(self) -> bool:
        return self.inputs.ndim == 4

    @property
    def has_files(self) -> bool:
        """Whether every sample's source is an image file on disk."""
        return self.is_image and all(not s.startswith("row ") for s in self.sources)

    def __len__(self) -> int:
        return self.inputs.shape[0]


def load_data(
    X: Any,
    y: Any = None,
    *,
    image_column: str | None = None,
    label_column: str | None = None,
    image_size: Resize | tuple[int, int] | None = None,
    on_bad_image: OnBadImage = "raise",
    verbose: bool = False,
    memory_limit: int | None = None,
    feature_names: Sequence[str] | None = None,
) -> LoadedData:
    """Read any supported input into a :class:`LoadedData`.

    ``y``, when given, supplies (or overrides) the labels and must have one entry
    per sample. ``image_size`` sizes images as they are decoded (a :class:`Resize`,
    or (height, width) to resize to exactly); images that still differ in size are
    then resized to the most common size. None keeps the decoded size.
    Image files whose decoded size would pass ``memory_limit`` bytes stay on disk
    (:class:`labelclean.streaming.ImageFiles`) and are decoded batch by batch.
    """
    if on_bad_image not in ("raise", "skip"):
        raise ValueError(f"on_bad_image must be 'raise' or 'skip', got {on_bad_image!r}")
    if isinstance(image_size, (tuple, list)):
        image_size = Resize(crop=(int(image_size[0]), int(image_size[1])))
    options = dict(image_size=image_size, on_bad_image=on_bad_image, verbose=verbose)
    files = dict(options, memory_limit=memory_limit)
    if isinstance(X, (str, os.PathLike)):
        data = _from_folder(Path(X), **files)
    elif _is_hf_dataset(X):
        data = _from_hf_dataset(X, image_column, label_column, **options)
    elif isinstance(X, pd.DataFrame):
        data = _from_dataframe(X, image_column, label_column, feature_names=feature_names, **files)
    elif isinstance(X, (np.ndarray, torch.Tensor, list, tuple)) or hasattr(X, "__array__") or issparse(X):
        data = _from_array(X)
        if data.is_image and image_size is not None:
            data.inputs = resize_images(data.inputs, image_size)
    else:
        raise TypeError(
            "X must be an image folder path, a datasets.Dataset, a pandas DataFrame, "
            f"or an array-like (numpy array, torch tensor, nested list); got {type(X).__name__}"
        )
    if y is not None:
        data.labels = _labels_from_y(y, data)
    if data.labels is not None:
        _check_labels_present(data)
    return data


def is_image_input(X: Any, image_column: str | None = None) -> bool:
    """Whether ``X`` holds images rather than feature vectors, told without reading any image.

    A run's plan depends on it (a CNN or an MLP, image sizes, augmentation) and comes before
    the images are decoded, at the size the plan says. An input :func:`load_data` refuses
    counts as features here; loading it raises the error that names what is wrong.
    """
    if isinstance(X, (str, os.PathLike)) or _is_hf_dataset(X):
        return True
    if isinstance(X, pd.DataFrame):
        return _image_column(X, image_column) is not None
    try:
        return len(np.shape(X)) in (3, 4)
    except (ValueError, TypeError):  # ragged or not an array: load_data says why
        return False


# --- new inputs, checked against the fitted ones -------------------------------------


@dataclass(frozen=True)
class FittedInput:
    """What inputs at predict must match, as fit saw them: sample shape, decode size, pixels, columns.

    ``pixel_dtype`` is "uint8" or "float32" for images (None for features); ``feature_names``
    the columns of a DataFrame of features (None otherwise).
    """

    shape: tuple[int, ...]
    resize: Resize | None = None
    pixel_dtype: str | None = None
    feature_names: tuple[str, ...] | None = None

    @classmethod
    def of(cls, data: LoadedData, resize: Resize | None) -> FittedInput:
        """What ``data``, decoded with ``resize``, asks of later inputs."""
        return cls(
            shape=tuple(data.inputs.shape[1:]),
            resize=resize if data.is_image else None,
            pixel_dtype=str(data.inputs.dtype).removeprefix("torch.") if data.is_image else None,
            feature_names=None if data.feature_names is None else tuple(data.feature_names),
        )

    def attributes(self) -> dict[str, Any]:
        """The estimator's fitted attributes that record this (scikit-learn's names where it has them)."""
        record: dict[str, Any] = {"input_shape_": self.shape, "resize_": self.resize}
        if self.pixel_dtype is not None:
            record["pixel_dtype_"] = self.pixel_dtype
        else:
            record["n_features_in_"] = self.shape[0]
        if self.feature_names is not None:
            record["feature_names_in_"] = np.asarray(self.feature_names, dtype=object)
        return record

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any]) -> FittedInput:
        """The record :meth:`attributes` (or a loaded estimator) left."""
        names = attributes.get("feature_names_in_")
        return cls(
            shape=tuple(attributes["input_shape_"]),
            resize=attributes["resize_"],
            pixel_dtype=attributes.get("pixel_dtype_"),
            feature_names=None if names is None else tuple(names),
        )

    def decode_size(self) -> Resize | None:
        """New images come out at the fitted size, resized the way the training images were."""
        if len(self.shape) != 3:
            return None
        fitted = self.resize or Resize(crop=self.shape[1:])
        return fitted.exactly(self.shape[1:])

    def check(self, data: LoadedData) -> None:
        """Refuse new inputs of another shape or pixel scale; warn about unnamed columns and unread rows.

        Warnings point at the caller of ``predict_proba`` or ``score`` (four frames up).
        """
        shape = tuple(data.inputs.shape[1:])
        if shape != self.shape:
            if len(shape) == 1 and len(self.shape) == 1:
                raise ValueError(
                    f"X has {shape[0]} features, but SLNCleaner is expecting {self.shape[0]} features as input"
                )
            raise ValueError(
                f"X has samples of shape {shape}, but SLNCleaner was fitted on shape {self.shape}"
            )
        self._check_pixel_dtype(data)
        if self.feature_names is not None and data.feature_names is None:
            warnings.warn(
                "X does not have valid feature names, but SLNCleaner was fitted with feature names; "
                "its columns are taken in the fitted order",
                UserWarning,
                stacklevel=5,
            )
        missing = data.n_rows - len(data)
        if missing:  # rows left out at predict (on_bad_image="skip") are named, never dropped silently
            unread = [source for source, reason in data.skipped if reason.startswith("cannot read")]
            warnings.warn(
                f"{missing} of {data.n_rows} images could not be read (first: {unread[0] if unread else '?'}); "
                "their rows of predict_proba are NaN, of predict None, and score leaves them out",
                UserWarning,
                stacklevel=5,
            )

    def _check_pixel_dtype(self, data: LoadedData) -> None:
        """uint8 pixels (0-255) and float pixels (often 0-1) are on different scales: refuse a mix."""
        given = str(data.inputs.dtype).removeprefix("torch.")
        fitted = self.pixel_dtype
        if fitted is None or not data.is_image or (given == "uint8") == (fitted == "uint8"):
            return
        if fitted == "uint8":
            hint = "pass uint8 images, e.g. (X * 255).round().astype(np.uint8) for float images in [0, 1]"
        else:
            hint = "pass float images on the scale of those given to fit, e.g. X.astype(np.float32) / 255"
        raise ValueError(
            f"SLNCleaner was fitted on {fitted} images but X holds {given} images, whose pixels are on "
            f"another scale (uint8: 0-255); {hint}"
        )


def load_new_data(X: Any, y: Any = None, *, fitted: FittedInput, **options: Any) -> LoadedData:
    """Inputs for ``predict`` or ``score``: decoded at the fitted size, columns taken by the fitted
    names, then checked against ``fitted``. ``options`` go to :func:`load_data`."""
    data = load_data(X, y, image_size=fitted.decode_size(), feature_names=fitted.feature_names, **options)
    fitted.check(data)
    return data


# --- labels -------------------------------------------------------------------------


def _labels_from_y(y: Any, data: LoadedData) -> np.ndarray:
    """``y`` is aligned with the original input, rows of skipped images included."""
    labels = _label_array(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the shape "
            "of y to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=4,
        )
        labels = labels.ravel()
    if labels.ndim != 1:
        raise ValueError(f"y should be a 1d array (one label per sample), got shape {labels.shape}")
    if len(labels) != data.n_rows:
        raise ValueError(f"X has {data.n_rows} samples but y has {len(labels)} labels")
    return labels[data.rows]


def _label_array(y: Any) -> np.ndarray:
    """Labels as an array without coercion: ``[1, "1"]`` stays two types (numpy would make both "1")."""
    if isinstance(y, torch.Tensor):
        return y.detach().cpu().numpy()
    if isinstance(y, (list, tuple)):
        check_one_label_type(y)
    return np.asarray(y)


def _check_labels_present(data: LoadedData) -> None:
    missing = pd.isna(pd.Series(data.labels, dtype=object)).to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise ValueError(f"label missing for {data.sources[row]} ({int(missing.sum())} missing in all)")
    if data.labels.dtype.kind == "f" and np.isinf(data.labels).any():
        row = int(np.flatnonzero(np.isinf(data.labels))[0])
        raise ValueError(f"Input y contains infinity: the label of {data.sources[row]} is {data.labels[row]}")


# --- images --------------------------------------------------------------------------


@dataclass
class FolderIndex:
    """The files of an image folder and their class, found without decoding any image."""

    paths: list[str]
    labels: list[str] | None  # None for a flat folder (no class sub-folders)
    class_names: list[str] | None
    ignored: list[tuple[str, str]]


def index_image_folder(root: str | os.PathLike) -> FolderIndex:
    """List an ImageFolder tree (one sub-folder per class) or a flat folder of images.

    Only names are read (``os.scandir``), so indexing a million files takes seconds
    and memory proportional to the path strings. Hidden files are skipped; what else is
    not read is listed in ``ignored`` with the reason: files without an image extension,
    images beside the class folders (in no class), symbolic links that loop back to a
    folder above them.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    with os.scandir(root) as listing:
        entries = sorted((e for e in listing if not e.name.startswith(".")), key=lambda e: e.name)
    class_names = [e.name for e in entries if e.is_dir()]
    walk = _FolderWalk()
    if not class_names:
        walk.folder(str(root), "", recursive=False)
    else:
        top = root.stat()
        for entry in entries:
            if entry.is_dir():
                walk.folder(
                    entry.path, entry.name, recursive=True, above=frozenset({(top.st_dev, top.st_ino)})
                )
            elif _has_image_extension(entry.name):
                walk.ignored.append(
                    (entry.path, "an image beside the class folders, so in no class: move it into one")
                )
    if not walk.paths:
        raise ValueError(
            f"no images found in {root}: expected one sub-folder per class holding "
            f"{', '.join(IMAGE_EXTENSIONS)} files"
        )
    return FolderIndex(walk.paths, walk.labels if class_names else None, class_names or None, walk.ignored)


@dataclass
class _FolderWalk:
    """The image files found so far with their labels, and what was left out and why."""

    paths: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)

    def folder(
        self, folder: str, label: str, recursive: bool, above: frozenset[tuple[int, int]] = frozenset()
    ) -> None:
        """Every image under ``folder``, labelled ``label``; ``above``: the (device, inode) of its parents."""
        try:
            stat = os.stat(folder)
            here = (stat.st_dev, stat.st_ino)
            if here in above:
                self.ignored.append((folder, "a symbolic link to a folder it is in (a loop): not followed"))
                return
            with os.scandir(folder) as listing:
                entries = sorted((e for e in listing if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError as err:
            self.ignored.append((folder, f"cannot list this folder: {err.strerror or err}"))
            return
        for entry in entries:
            if entry.is_dir():
                if recursive:
                    self.folder(entry.path, label, recursive, above | {here})
            elif _has_image_extension(entry.name):
                self.paths.append(entry.path)
                self.labels.append(label)
            else:
                self.ignored.append((entry.path, "not an image file extension"))


def _has_image_extension(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _check_utf8_names(paths: Sequence[str]) -> None:
    """A name in another encoding (e.g. Latin-1) cannot go into the audit: say so before any training."""
    bad = [path for path in paths if not _is_utf8(path)]
    if bad:
        raise ValueError(
            f"the file name {os.fsencode(bad[0])!r} is not valid UTF-8 (it was written in another "
            f"encoding, e.g. Latin-1), so it cannot be written into the audit; rename it, e.g. with "
            f"`convmv -f latin1 -t utf-8 --notest FILE` ({len(bad)} of {len(paths)} file names are not UTF-8)"
        )


def _is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of the name, kept by Python as lone surrogates
        return False
    return True


def _load_image_files(
    paths: Sequence[Path | None], sources: Sequence[str], *, memory_limit: int | None, **options: Any
) -> tuple[torch.Tensor | ImageFiles, list[int], list[tuple[str, str]]]:
    """Decode into memory, or keep on disk when the decoded images would pass ``memory_limit``.

    The decoded size is the most common size after ``image_size``, of a sample of headers.
    File names are checked first: one that cannot go into the audit stops here, not after training.
    """
    _check_utf8_names([str(p) for p in paths if p is not None])
    resize = options["image_size"]
    size = None
    if memory_limit is not None:
        sample = [p for p in paths[:: max(1, len(paths) // 200)] if p is not None]
        size = _most_common_size(sample, resize)
    if memory_limit is None or size is None or len(paths) * 3 * size[0] * size[1] <= memory_limit:
        return decode_all(sources, [_file_reader(p) for p in paths], **options)

    # Too big to hold: read every file through once now (truncated ones included), decode batches later.
    readers = [_file_reader(p) for p in paths]
    problems = check_all_complete(sources, readers, resize=resize, on_bad_image=options["on_bad_image"])
    kept = [i for i, problem in enumerate(problems) if problem is None]
    skipped = [(sources[i], problem) for i, problem in enumerate(problems) if problem is not None]
    exact = Resize(crop=tuple(size)) if resize is None else resize.exactly(size)  # one size for every batch
    return ImageFiles([str(paths[i]) for i in kept], exact), kept, skipped


def _most_common_size(paths: Sequence[Path], resize: Resize | None) -> tuple[int, int] | None:
    """The size most images decode at (as training in memory counts it), from their headers."""
    sizes = Counter()
    for path in paths:
        with (
            contextlib.suppress(*UNREADABLE),
            Image.open(_regular_file(path)) as image,
        ):
            size = upright_size(image)
            sizes[size if resize is None else resize.output_size(*size)] += 1
    return sizes.most_common(1)[0][0] if sizes else None


def _from_folder(root: Path, **options: Any) -> LoadedData:
    index = index_image_folder(root)
    _warn_left_out(root, index)
    files = [Path(p) for p in index.paths]
    tensor, kept, skipped = _load_image_files(files, index.paths, **options)
    return LoadedData(
        inputs=tensor,
        labels=None if index.labels is None else np.asarray([index.labels[i] for i in kept]),
        sources=[index.paths[i] for i in kept],
        rows=np.asarray(kept),
        description=f"image folder {root}",
        class_names=index.class_names,
        skipped=index.ignored + skipped,
        n_rows=len(index.paths),
    )


def _warn_left_out(root: Path, index: FolderIndex) -> None:
    """What an image folder holds but will not be read is said, never dropped silently."""
    if index.ignored:
        source, reason = index.ignored[0]
        warnings.warn(
            f"{len(index.ignored)} files or folders in {root} are left out (listed in skipped_); "
            f"first: {source}: {reason}",
            UserWarning,
            stacklevel=5,
        )
    empty = [name for name in index.class_names or () if name not in set(index.labels or ())]
    if empty:
        warnings.warn(
            f"class folders with no image in {root} are not classes: {empty}; put their images in "
            f"them (as {', '.join(IMAGE_EXTENSIONS)} files), or remove them",
            UserWarning,
            stacklevel=5,
        )


def _file_reader(path: Path | None) -> Callable[[], Any]:
    return lambda: _regular_file(path)


def _regular_file(path: Path | None) -> Path:
    """The path for PIL to open: only a regular file (reading a named pipe would wait forever)."""
    if path is None:
        raise FileNotFoundError("no image (the path or image is missing)")
    if path.exists() and not path.is_file():
        raise OSError(f"not a regular file (a folder, named pipe, socket or device): {path}")
    return path


def _bytes_reader(data: bytes) -> Callable[[], Any]:
    return lambda: io.BytesIO(data)


# --- Hugging Face datasets -----------------------------------------------------------


def _is_hf_dataset(X: Any) -> bool:
    module = type(X).__module__
    if module.startswith("datasets.") and type(X).__name__ in (
        "DatasetDict",
        "IterableDatasetDict",
    ):
        raise TypeError(
            f"got a {type(X).__name__} with splits {list(X.keys())}; pass one split, "
            f"e.g. X[{next(iter(X.keys()))!r}]"
        )
    return module.startswith("datasets.") and type(X).__name__ == "Dataset"


def _pick_column(
    columns: Sequence[str],
    named: str | None,
    candidates: Sequence[str],
    what: str,
    where: str,
    *,
    unique: bool = False,
) -> str | None:
    """The column named, else the first candidate present; ``unique``: refuse a choice of several."""
    if named is not None:
        if named not in columns:
            raise KeyError(f"{what} column {named!r} is not in {where}; columns: {list(columns)}")
        return named
    found = [c for c in candidates if c in columns]
    if unique and len(found) > 1:
        raise ValueError(
            f"{where} has several columns that could be the {what}: {found}; "
            f"name the one to use with {what}_column="
        )
    return found[0] if found else None


def _from_hf_dataset(
    ds: Any, image_column: str | None, label_column: str | None, **options: Any
) -> LoadedData:
    import datasets

    features = ds.features
    where = f"the dataset (columns {list(features)})"
    image_types = [c for c, f in features.items() if isinstance(f, datasets.Image)]
    image_col = _pick_column(list(features), image_column, image_types or _IMAGE_COLUMN_NAMES, "image", where)
    if image_col is None:
        raise KeyError(f"no image column found in {where}; name it with image_column=")
    label_types = [c for c, f in features.items() if isinstance(f, datasets.ClassLabel)]
    label_col = _pick_column(
        list(features),
        label_column,
        label_types or _LABEL_COLUMN_NAMES,
        "label",
        where,
        unique=not label_types,
    )
    raw = ds.cast_column(image_col, datasets.Image(decode=False))[image_col]
    sources, readers = [], []
    for row, item in enumerate(raw):
        path = item.get("path") if isinstance(item, dict) else None
        data = item.get("bytes") if isinstance(item, dict) else None
        sources.append(f"row {row}" + (f" ({path})" if path and data is None else ""))
        if data is not None:
            readers.append(_bytes_reader(data))
        else:
            readers.append(_file_reader(Path(path) if path else None))
    tensor, kept, skipped = decode_all(sources, readers, **options)
    labels = None if label_col is None else np.asarray(ds[label_col])
    label_feature = features.get(label_col) if label_col else None
    class_names = label_feature.names if isinstance(label_feature, datasets.ClassLabel) else None
    if class_names is not None:
        _check_label_range(labels, len(class_names), label_col)
    labels = None if labels is None else labels[kept]
    return LoadedData(
        inputs=tensor,
        labels=labels,
        sources=[f"row {i}" for i in kept],
        rows=np.asarray(kept),
        description=f"datasets.Dataset ({len(ds)} rows, image column {image_col!r}, "
        f"label column {label_col!r})",
        class_names=class_names,
        skipped=skipped,
        n_rows=len(ds),
    )


def _check_label_range(labels: np.ndarray, num_classes: int, column: str) -> None:
    """ClassLabel values must index its names (datasets writes -1 for a missing label)."""
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(bad):
        raise ValueError(
            f"label {labels[bad[0]]} in row {bad[0]} of column {column!r} is outside the ClassLabel's "
            f"{num_classes} classes (0..{num_classes - 1}); {len(bad)} such rows"
        )


# --- DataFrames ----------------------------------------------------------------------


def _from_dataframe(
    df: pd.DataFrame,
    image_column: str | None,
    label_column: str | None,
    *,
    feature_names: Sequence[str] | None = None,
    **options: Any,
) -> LoadedData:
    """``feature_names``: the feature columns of a fitted model, never taken for a label or image column."""
    columns = [str(c) for c in df.columns]
    where = _frame_where(df)
    fitted = set(feature_names if feature_names is not None else ())
    label_names = [c for c in _LABEL_COLUMN_NAMES if c not in fitted]
    label_col = _pick_column(columns, label_column, label_names, "label", where, unique=True)
    image_col = _image_column(df, image_column, fitted)
    labels = None if label_col is None else df[label_col].to_numpy()
    row_ids = [str(i) for i in df.index]
    if image_col is None:  # numeric feature columns
        features = df.drop(columns=[label_col] if label_col else [])
        if feature_names is not None:
            features = _fitted_feature_columns(features, feature_names, where)
        non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
        if non_numeric:
            raise ValueError(
                f"{where} has no image-path column and non-numeric columns {non_numeric}; "
                "name the image-path column with image_column= or pass numeric features only"
            )
        data = _from_array(
            features.to_numpy(dtype=np.float32), columns=list(features.columns), row_ids=row_ids
        )
        data.labels = labels
        data.description = f"DataFrame of {features.shape[1]} feature columns"
        data.feature_names = [str(c) for c in features.columns]
        return data
    paths = [None if pd.isna(p) else Path(str(p)) for p in df[image_col]]
    sources = [
        f"row {r} (missing path)" if p is None else str(p) for r, p in zip(row_ids, paths, strict=True)
    ]
    tensor, kept, skipped = _load_image_files(paths, sources, **options)
    return LoadedData(
        inputs=tensor,
        labels=None if labels is None else labels[kept],
        sources=[sources[i] for i in kept],
        rows=np.asarray(kept),
        description=f"DataFrame of image paths (column {image_col!r})",
        skipped=skipped,
        n_rows=len(df),
    )


def _frame_where(df: pd.DataFrame) -> str:
    return f"the DataFrame (columns {[str(c) for c in df.columns]})"


def _image_column(df: pd.DataFrame, named: str | None, fitted: set[str] | None = None) -> str | None:
    """The image-path column: the one named, else the first usual name that is not a fitted feature."""
    names = [c for c in _IMAGE_COLUMN_NAMES if c not in (fitted or set())]
    return _pick_column([str(c) for c in df.columns], named, names, "image", _frame_where(df))


def _fitted_feature_columns(features: pd.DataFrame, names: Sequence[str], where: str) -> pd.DataFrame:
    """The columns seen in fit, by name and in fit's order; missing or unexpected ones are refused."""
    by_name = {str(c): c for c in features.columns}
    missing = [n for n in names if n not in by_name]
    unexpected = [n for n in by_name if n not in set(names)]
    if missing or unexpected:
        raise ValueError(
            f"{where} does not have the feature columns SLNCleaner was fitted on: missing {missing}, "
            f"unexpected {unexpected}; expected {list(names)} (in any order)"
        )
    return features[[by_name[n] for n in names]]


# --- arrays --------------------------------------------------------------------------


def _from_array(
    X: Any,
    columns: Sequence[str] | None = None,
    row_ids: Sequence[str] | None = None,
) -> LoadedData:
    """Images or features from an array; ``row_ids`` name rows (default: positions)."""
    tensor = _numeric_tensor(X)
    shape = tuple(tensor.shape)
    row_ids = [str(i) for i in range(tensor.shape[0])] if row_ids is None else list(row_ids)
    if tensor.ndim == 2:
        kind = "feature vectors"
    elif tensor.ndim == 3:
        tensor, kind = tensor.unsqueeze(1), "grayscale images"
    elif tensor.ndim == 4:
        channels_last = tensor.shape[-1] in (1, 3, 4) and tensor.shape[1] not in (1, 3, 4)
        tensor = tensor.permute(0, 3, 1, 2) if channels_last else tensor
        if tensor.shape[1] not in (1, 3, 4):
            raise ValueError(
                f"cannot tell the channel axis of images of shape {shape}: expected "
                "1, 3 or 4 channels first (NCHW) or last (NHWC)"
            )
        kind = "images " + ("NHWC" if channels_last else "NCHW")
    else:
        raise ValueError(
            f"X must be 2-D (feature vectors), 3-D (grayscale images) or 4-D (images), got shape {shape}"
        )
    if tensor.dtype != torch.uint8:
        tensor = tensor.float()
        _check_finite(tensor, columns, row_ids)
    return LoadedData(
        inputs=tensor.contiguous(),
        labels=None,
        sources=[f"row {r}" for r in row_ids],
        rows=np.arange(tensor.shape[0]),
        description=f"array of {tensor.shape[0]} {kind}, shape {shape}",
    )


def _numeric_tensor(X: Any) -> torch.Tensor:
    """X as a CPU tensor of numbers, refused with scikit-learn's wording when it is not.

    Lists and other array-likes are converted; sparse, complex, string, empty and 1-D
    inputs are refused (``check_array``), as are booleans.
    """
    if isinstance(X, torch.Tensor):
        if X.layout != torch.strided:
            raise TypeError("Sparse tensors are not supported: pass a dense tensor (X.to_dense())")
        X = X.detach().cpu()
        X = (X.float() if X.dtype == torch.bfloat16 else X).resolve_conj().numpy()
    if not issparse(X):
        X = np.asarray(X)
        _refuse_strings(X)
    array = check_array(X, dtype="numeric", allow_nd=True, ensure_all_finite=False, input_name="X")
    if array.dtype == bool:
        raise TypeError("X must hold numbers, got dtype bool")
    # torch wants writable memory; read-only arrays (e.g. pandas' to_numpy) are copied.
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def _refuse_strings(X: np.ndarray) -> None:
    """Strings (file paths, say) are not numbers; say where image files go instead."""
    first = X.flat[0] if X.size else None
    if X.dtype.kind in "USa" or isinstance(first, str | bytes):
        raise ValueError(
            f"X holds strings (e.g. {str(first)!r}), not numbers; for image files pass a folder, "
            "or a DataFrame with an image-path column (image_column=)"
        )


def _check_finite(tensor: torch.Tensor, columns: Sequence[str] | None, row_ids: Sequence[str]) -> None:
    bad = ~torch.isfinite(tensor)
    if bad.any():
        where = bad.nonzero()[0].tolist()
        row = row_ids[where[0]]
        what = f"column {columns[where[1]]!r}" if columns is not None else f"index {where[1:]}"
        raise ValueError(
            f"X has a non-finite value ({tensor[tuple(where)].item()}) at row {row}, {what}; "
            f"{int(bad.sum())} non-finite values in all (X must not contain NaN or inf)"
        )
