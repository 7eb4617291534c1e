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

from .features import FeatureScaling
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
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_IMAGE_COLUMN_NAMES = ("image", "img", "path", "image_path", "filepath", "file", "filename")
_LABEL_COLUMN_NAMES = ("label", "labels", "class", "target", "fine_label", "y")


@dataclass
class LoadedData:
    """Inputs as one tensor, plus where each row came from.

    ``inputs`` is ``(N, C, H, W)`` (uint8 or float32) for images or ``(N, D)``
    float32 for features; ``labels`` holds the raw label values (``None`` when the
    input carries none); ``sources`` the file path or dataset row of each sample;
    ``rows`` the position of each sample in the original input (rows of skipped
    images are missing); ``skipped`` the ``(source, reason)`` of inputs left out;
    ``feature_scaling`` how feature vectors were standardised (None for images).
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
    feature_scaling: FeatureScaling | None = None

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
    feature_scaling: FeatureScaling | None = None,
    channels: str = "auto",
) -> LoadedData:
    """Read any supported input into a :class:`LoadedData`.

    ``y``, when given, supplies (or overrides) the labels and must have one entry
    per sample. ``image_size`` sizes images as they are decoded (a :class:`Resize`,
    or (height, width) to resize to exactly); images that still differ in size are
    then resized to the most common size. None keeps the decoded size.
    Image files whose decoded size would pass ``memory_limit`` bytes stay on disk
    (:class:`labelclean.streaming.ImageFiles`) and are decoded batch by batch. Feature vectors
    are standardised in float64, with ``feature_scaling`` when given, else with their own
    means and scales. ``channels`` ("auto", "first" or "last"): where the channel axis of a
    4-D array is; "auto" refuses an array where axis 1 and the last could both be.
    """
    if on_bad_image not in ("raise", "skip"):
        raise ValueError(f"on_bad_image must be 'raise' or 'skip', got {on_bad_image!r}")
    if isinstance(image_size, (tuple, list)):
        image_size = Resize(crop=(int(image_size[0]), int(image_size[1])))
    _warn_unused_columns(X, image_column, label_column)
    options = dict(image_size=image_size, on_bad_image=on_bad_image, verbose=verbose)
    files = dict(options, memory_limit=memory_limit)
    if isinstance(X, (str, os.PathLike)):
        data = _from_folder(Path(X), **files)
    elif _is_hf_dataset(X):
        data = _from_hf_dataset(X, image_column, label_column, **options)
    elif isinstance(X, pd.DataFrame):
        features = dict(y=y, feature_names=feature_names, scaling=feature_scaling)
        data = _from_dataframe(X, image_column, label_column, **features, **files)
    elif isinstance(X, (np.ndarray, torch.Tensor, list, tuple)) or hasattr(X, "__array__") or issparse(X):
        data = _from_array(X, channels=channels, scaling=feature_scaling)
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


def _warn_unused_columns(X: Any, image_column: str | None, label_column: str | None) -> None:
    """Column names name columns of a DataFrame or a dataset; given with anything else, they are said unused."""
    named = {"image_column": image_column, "label_column": label_column}
    given = ", ".join(f"{name}={value!r}" for name, value in named.items() if value is not None)
    if given and not (isinstance(X, pd.DataFrame) or _is_hf_dataset(X)):
        warnings.warn(
            f"{given} {'are' if image_column and label_column else 'is'} not used: columns are for a DataFrame or a datasets.Dataset, and X is a "
            f"{type(X).__name__}",
            UserWarning,
            stacklevel=3,
        )


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
    the columns of a DataFrame of features (None otherwise); ``scaling`` how feature vectors
    are standardised (None for images).
    """

    shape: tuple[int, ...]
    resize: Resize | None = None
    pixel_dtype: str | None = None
    feature_names: tuple[str, ...] | None = None
    scaling: FeatureScaling | None = None

    @classmethod
    def of(cls, data: LoadedData, resize: Resize | None) -> FittedInput:
        """What ``data``, decoded with ``resize``, asks of later inputs."""
        return cls(
            shape=tuple(data.inputs.shape[1:]),
            resize=resize if data.is_image else None,
            pixel_dtype=str(data.inputs.dtype).removeprefix("torch.") if data.is_image else None,
            feature_names=None if data.feature_names is None else tuple(data.feature_names),
            scaling=data.feature_scaling,
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
        if self.scaling is not None:
            record["feature_mean_"] = np.asarray(self.scaling.mean)
            record["feature_scale_"] = np.asarray(self.scaling.scale)
        return record

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any]) -> FittedInput:
        """The record :meth:`attributes` (or a loaded estimator) left.

        A cleaner fitted before features were standardised has no means and scales: its
        features are taken as they are.
        """
        names = attributes.get("feature_names_in_")
        shape = tuple(attributes["input_shape_"])
        scaling = None
        if len(shape) == 1:
            mean, scale = attributes.get("feature_mean_"), attributes.get("feature_scale_")
            scaling = (
                FeatureScaling.identity(shape[0])
                if mean is None
                else FeatureScaling(tuple(np.asarray(mean).tolist()), tuple(np.asarray(scale).tolist()))
            )
        return cls(
            shape=shape,
            resize=attributes["resize_"],
            pixel_dtype=attributes.get("pixel_dtype_"),
            feature_names=None if names is None else tuple(names),
            scaling=scaling,
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
                raise _feature_count_error(shape[0], self.shape[0])
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


def _feature_count_error(given: int, fitted: int) -> ValueError:
    """scikit-learn's words for new feature vectors of another width."""
    return ValueError(f"X has {given} features, but SLNCleaner is expecting {fitted} features as input")


def load_new_data(X: Any, y: Any = None, *, fitted: FittedInput, **options: Any) -> LoadedData:
    """Inputs for ``predict`` or ``score``: decoded at the fitted size, columns taken by the fitted
    names, then checked against ``fitted``. ``options`` go to :func:`load_data`."""
    data = load_data(
        X,
        y,
        image_size=fitted.decode_size(),
        feature_names=fitted.feature_names,
        feature_scaling=fitted.scaling,
        **options,
    )
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
    y: Any = None,
    feature_names: Sequence[str] | None = None,
    scaling: FeatureScaling | None = None,
    **options: Any,
) -> LoadedData:
    """``feature_names``: the feature columns of a fitted model, never taken for a label or image column.

    With labels given as ``y`` at fit, a column named like a label column (``class``, ``y``...) is
    a feature, unless it is named by ``label_column`` or holds ``y`` itself.
    """
    columns = [str(c) for c in df.columns]
    where = _frame_where(df)
    fitted = set(feature_names if feature_names is not None else ())
    label_names = [c for c in _LABEL_COLUMN_NAMES if c not in fitted]
    if y is None or label_column is not None or feature_names is not None:
        label_col = _pick_column(columns, label_column, label_names, "label", where, unique=True)
        not_features = [label_col] if label_col else []
    else:
        label_col, not_features = None, _copies_of_y(df, label_names, y)
    image_col = _image_column(df, image_column, fitted)
    labels = None if label_col is None else df[label_col].to_numpy()
    row_ids = [str(i) for i in df.index]
    if image_col is None:  # numeric feature columns
        data = _features_of_frame(df.drop(columns=not_features), feature_names, where, row_ids, scaling)
        data.labels = labels
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


def _features_of_frame(
    features: pd.DataFrame,
    feature_names: Sequence[str] | None,
    where: str,
    row_ids: Sequence[str],
    scaling: FeatureScaling | None,
) -> LoadedData:
    """The numeric columns of a DataFrame as feature vectors (at predict: the fitted ones, by name).

    ``where`` names the DataFrame in errors.
    """
    if feature_names is not None:
        features = _fitted_feature_columns(features, feature_names, where)
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise ValueError(
            f"{where} has no image-path column and non-numeric columns {non_numeric}; "
            "name the image-path column with image_column= or pass numeric features only"
        )
    data = _from_array(
        features.to_numpy(dtype=np.float64), columns=list(features.columns), row_ids=row_ids, scaling=scaling
    )
    data.description = f"DataFrame of {features.shape[1]} feature columns"
    data.feature_names = [str(c) for c in features.columns]
    return data


def _frame_where(df: pd.DataFrame) -> str:
    return f"the DataFrame (columns {[str(c) for c in df.columns]})"


def _copies_of_y(df: pd.DataFrame, names: Sequence[str], y: Any) -> list[str]:
    """Columns named like a label column that hold the labels given as ``y``: left out, with a warning.

    As a feature, a copy of the labels would let the network read every label, wrong ones included.
    A copy may differ in type (1 and "1"): values are compared as given, and by their text.
    """
    try:
        given = np.asarray(y, dtype=object).ravel()
    except (TypeError, ValueError):  # y is refused later, by name
        return []

    def holds_y(column: str) -> bool:
        values = df[column].to_numpy(dtype=object)
        return np.array_equal(values, given) or np.array_equal(values.astype(str), given.astype(str))

    copies = [c for c in names if c in df.columns and len(given) == len(df) and holds_y(c)]
    if copies:
        warnings.warn(
            f"columns {copies} of the DataFrame hold the labels given as y: they are left out of the "
            "features (as features they would reveal every label, wrong ones included)",
            UserWarning,
            stacklevel=5,
        )
    return copies


def _image_column(df: pd.DataFrame, named: str | None, fitted: set[str] | None = None) -> str | None:
    """The image-path column: the one named, else the first usual name that is neither a fitted
    feature nor a column of numbers (a numeric ``file`` column is a feature, not paths)."""
    names = [c for c in _IMAGE_COLUMN_NAMES if c not in (fitted or set()) and not _is_numeric_column(df, c)]
    column = _pick_column([str(c) for c in df.columns], named, names, "image", _frame_where(df))
    if named is not None and _is_numeric_column(df, column):
        raise ValueError(
            f"image column {column!r} holds numbers (e.g. {df[column].iloc[0]}), not image paths; "
            "name the column of file paths with image_column=, or leave it out for numeric features"
        )
    return column


def _is_numeric_column(df: pd.DataFrame, name: str) -> bool:
    return name in df.columns and pd.api.types.is_numeric_dtype(df[name])


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
    *,
    channels: str = "auto",
    scaling: FeatureScaling | None = None,
) -> LoadedData:
    """Images or features from an array; ``row_ids`` name rows (default: positions).

    Feature vectors are standardised in float64 before they become float32
    (:mod:`labelclean.features`): with ``scaling`` when given (the fitted one), else with
    their own means and scales. ``channels``: where a 4-D array's channel axis is.
    """
    array = _numeric_array(X)
    row_ids = [str(i) for i in range(array.shape[0])] if row_ids is None else list(row_ids)
    _refuse_non_finite(array, columns, row_ids)
    if array.ndim == 2:
        if scaling is not None and len(scaling.mean) != array.shape[1]:
            raise _feature_count_error(array.shape[1], len(scaling.mean))
        scaling = _feature_scaling(array, columns) if scaling is None else scaling
        values = scaling.apply(array)
        _refuse_too_large(~np.isfinite(values), array, columns, row_ids)
        tensor, kind = torch.from_numpy(values), "feature vectors"
    elif array.ndim in (3, 4):
        if array.dtype.kind == "f" and array.dtype.itemsize > 4:
            _refuse_too_large(np.abs(array) > _FLOAT32_MAX, array, columns, row_ids)
        tensor, kind = _image_tensor(array, channels)
        tensor = tensor if tensor.dtype == torch.uint8 else tensor.float()
    else:
        raise ValueError(
            "X must be 2-D (feature vectors), 3-D (grayscale images) or 4-D (images), "
            f"got shape {array.shape}"
        )
    return LoadedData(
        inputs=tensor.contiguous(),
        labels=None,
        sources=[f"row {r}" for r in row_ids],
        rows=np.arange(tensor.shape[0]),
        description=f"array of {tensor.shape[0]} {kind}, shape {array.shape}",
        feature_scaling=scaling,
    )


def _image_tensor(array: np.ndarray, channels: str) -> tuple[torch.Tensor, str]:
    """NCHW images from a 3-D (grayscale) or 4-D array, and what they were.

    A 4-D array whose axis 1 and last axis could both be channels (1, 3 or 4: tiny images such
    as (N, 4, 4, 3)) is refused unless ``channels`` says which ("first": NCHW, "last": NHWC).
    """
    # torch wants writable memory without negative strides: read-only arrays (e.g. pandas'
    # to_numpy) and reversed views (X[:, ::-1], np.flip) are copied.
    if not array.flags.writeable or any(stride < 0 for stride in array.strides):
        array = array.copy()
    tensor = torch.from_numpy(array)
    if tensor.ndim == 3:
        return tensor.unsqueeze(1), "grayscale images"
    shape = tuple(array.shape)
    first, last = shape[1] in (1, 3, 4), shape[-1] in (1, 3, 4)
    if channels == "auto" and first and last:
        raise ValueError(
            f"cannot tell the channel axis of images of shape {shape}: {shape[1]} channels of "
            f"{shape[2]} x {shape[3]} pixels (NCHW), or {shape[3]} channels of {shape[1]} x {shape[2]} "
            "pixels (NHWC); say which with SLNCleaner(channels='first') for NCHW or channels='last' for NHWC"
        )
    if channels == "auto":
        channels = "last" if last else "first"
    if not (first if channels == "first" else last):
        raise ValueError(
            f"cannot tell the channel axis of images of shape {shape}: expected 1, 3 or 4 channels "
            + {"auto": "first (NCHW) or last (NHWC)", "first": "first (NCHW, channels='first')"}.get(
                channels, "last (NHWC, channels='last')"
            )
        )
    if channels == "last":
        return tensor.permute(0, 3, 1, 2), "images NHWC"
    return tensor, "images NCHW"


def _numeric_array(X: Any) -> np.ndarray:
    """X as a NumPy array of numbers, refused with scikit-learn's wording when it is not.

    Lists, tensors and other array-likes are converted; sparse, complex, string, empty and
    1-D inputs are refused (``check_array``), as are booleans.
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
    return array


def _refuse_strings(X: np.ndarray) -> None:
    """Strings (file paths, say) are not numbers; say where image files go instead."""
    first = X.flat[0] if X.size else None
    if X.dtype.kind in "USa" or isinstance(first, str | bytes):
        raise ValueError(
            f"X holds strings (e.g. {str(first)!r}), not numbers; for image files pass a folder, "
            "or a DataFrame with an image-path column (image_column=)"
        )


def _refuse_non_finite(array: np.ndarray, columns: Sequence[str] | None, row_ids: Sequence[str]) -> None:
    if array.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(array)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(
            f"X has a non-finite value ({array[tuple(where)]}) at {_position(where, columns, row_ids)}; "
            f"{int(bad.sum())} non-finite values in all (X must not contain NaN or inf)"
        )


def _feature_scaling(features: np.ndarray, columns: Sequence[str] | None) -> FeatureScaling:
    """The features' own means and scales, refusing values too large to average in float64."""
    scaling = FeatureScaling.fit(features)
    column = scaling.overflowing()
    if column is not None:
        name = f"column {columns[column]!r}" if columns is not None else f"feature {column}"
        largest = np.abs(features[:, column]).max()
        raise ValueError(
            f"X has values too large to standardise in {name} (up to {largest:.3g}): divide them by "
            "a power of ten first"
        )
    return scaling


def _refuse_too_large(
    bad: np.ndarray, array: np.ndarray, columns: Sequence[str] | None, row_ids: Sequence[str]
) -> None:
    """Finite values that float32 (which ends at 3.4e38) cannot hold are named, never called inf.

    ``bad``: where, in ``array``'s layout; feature vectors count once standardised.
    """
    if not bad.any():
        return
    where = np.argwhere(bad)[0]
    if array.ndim == 2:
        advice = (
            "standardised with the means and scales of the features fit saw, it is beyond float32's "
            "3.4e38, which the network computes in: are the features in the units fit saw?"
        )
    else:
        advice = "float32, which the network computes in, ends at 3.4e38: scale the images (e.g. to 0-1)"
    raise ValueError(
        f"X has a value too large ({array[tuple(where)]:.3g}) at {_position(where, columns, row_ids)}: "
        f"{advice} ({int(bad.sum())} such values in all)"
    )


def _position(where: np.ndarray, columns: Sequence[str] | None, row_ids: Sequence[str]) -> str:
    """ "row R, column 'c'" (or the index within the sample) of an element of X."""
    if columns is not None:
        what = f"column {columns[where[1]]!r}"
    else:
        what = f"column {where[1]}" if len(where) == 2 else f"index {where[1:].tolist()}"
    return f"row {row_ids[where[0]]}, {what}"
