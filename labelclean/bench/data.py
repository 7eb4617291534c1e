"""Benchmark data: CIFAR-10/100 from local files, noisy labels, Clothing1M's official layout.

CIFAR is read from ``--data-dir`` as Hugging Face Parquet (``train.parquet`` and
``test.parquet``) or torchvision's ``cifar-10-batches-py`` / ``cifar-100-python``;
torchvision downloads only when no local copy exists, and a clear message says what to
put where when that fails. Every ``--data-dir`` defaults to ``$LABELCLEAN_DATA/<dataset>``
(:func:`data_dir`): data paths come from arguments or the environment, never from where
the package happens to be installed.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data import load_data
from ..noise import asymmetric_noise, symmetric_noise, transition_matrix
from ..streaming import ImageFiles

DATA_ENV = "LABELCLEAN_DATA"  # the folder holding cifar10/, cifar100/, ...: every --data-dir's default
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "clothing1m": 14}
NOISE_RATE = 0.4


@dataclass
class Split:
    images: torch.Tensor | ImageFiles  # (N, 3, H, W) uint8, in memory or on disk
    labels: np.ndarray  # (N,) int64, the true labels where known


class DataMissing(FileNotFoundError):
    """The benchmark's data is not on disk (and could not be downloaded)."""


def data_dir(dataset: str) -> Path:
    """The default ``--data-dir`` of ``dataset``: ``$LABELCLEAN_DATA/<dataset>``, else ``data/<dataset>``
    under the working folder."""
    return Path(os.environ.get(DATA_ENV) or "data") / dataset


def parquet_file(folder: Path, split: str) -> Path:
    """``folder/<split>.parquet``, or :class:`DataMissing` saying how to point at it."""
    path = Path(folder) / f"{split}.parquet"
    if not path.exists():
        raise DataMissing(
            f"{path} not found: pass --data-dir DIR, or set {DATA_ENV} to the folder of the datasets"
        )
    return path


def load_cifar(name: str, data_dir: Path, *, download: bool = True) -> tuple[Split, Split]:
    """(train, test) of ``cifar10`` or ``cifar100``, in the original order."""
    data_dir = Path(data_dir)
    if (data_dir / "train.parquet").exists():
        return _from_parquet(data_dir)
    pickles = data_dir / ("cifar-10-batches-py" if name == "cifar10" else "cifar-100-python")
    if not pickles.exists() and download:
        _try_download(name, data_dir)
    if pickles.exists():
        return _from_pickles(name, pickles)
    raise DataMissing(
        f"{name} not found in {data_dir}: expected train.parquet + test.parquet (Hugging Face "
        f"layout) or the folder {pickles.name}/ (torchvision's python version); the download "
        f"was not possible here. Pass --data-dir DIR, or set {DATA_ENV} to the folder holding {name}/"
    )


def _from_parquet(data_dir: Path) -> tuple[Split, Split]:
    import datasets

    splits = []
    for split in ("train", "test"):
        ds = datasets.load_dataset("parquet", data_files=str(data_dir / f"{split}.parquet"), split="train")
        label_column = "fine_label" if "fine_label" in ds.column_names else None
        loaded = load_data(ds, label_column=label_column)
        splits.append(Split(loaded.inputs, np.asarray(loaded.labels, dtype=np.int64)))
    return splits[0], splits[1]


def _from_pickles(name: str, folder: Path) -> tuple[Split, Split]:
    if name == "cifar10":
        parts = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
        key = b"labels"
    else:
        parts = {"train": ["train"], "test": ["test"]}
        key = b"fine_labels"
    splits = []
    for files in parts.values():
        images, labels = [], []
        for file in files:
            with open(folder / file, "rb") as fh:
                batch = pickle.load(fh, encoding="bytes")
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch[key])
        splits.append(Split(torch.from_numpy(np.concatenate(images)), np.asarray(labels, dtype=np.int64)))
    return splits[0], splits[1]


def _try_download(name: str, data_dir: Path) -> None:
    from torchvision import datasets as tv_datasets

    dataset = tv_datasets.CIFAR10 if name == "cifar10" else tv_datasets.CIFAR100
    try:
        dataset(str(data_dir), train=True, download=True)
    except Exception:  # no network here: the caller reports what is missing
        return


def noisy_labels(
    true: np.ndarray, noise: str, num_classes: int, seed: int, noise_dir: Path | None
) -> np.ndarray:
    """The paper's label file ``{noise}0.4.csv`` when ``noise_dir`` has it, else a seeded generator."""
    if noise_dir is not None:
        path = Path(noise_dir) / f"{noise}{NOISE_RATE}.csv"
        if path.exists():
            table = pd.read_csv(path)
            if len(table) < len(true) or not np.array_equal(table["label"].to_numpy()[: len(true)], true):
                raise ValueError(f"{path} does not match the training labels (row i = image i)")
            return table["label_noisy"].to_numpy()[: len(true)]
    if noise == "sym":
        return symmetric_noise(true, NOISE_RATE, num_classes, seed)
    if noise == "asym":
        return asymmetric_noise(true, NOISE_RATE, num_classes, seed)
    raise DataMissing(
        f"{noise} noise has no generator: put the paper's {noise}{NOISE_RATE}.csv in --noise-dir"
    )


RATE_TOLERANCE = 0.01


def fewer_flips(true: np.ndarray, noisy: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """``noisy`` with a random share of its flips set back to the true label, leaving ``rate`` wrong.

    How lower-noise label sets come from the paper's files (which hold the true labels). A
    ``rate`` up to one point above the file's own (40% against a file's 39.96%) is the file.
    """
    flipped = np.flatnonzero(noisy != true)
    keep = round(rate * len(true))
    if keep > len(flipped) + RATE_TOLERANCE * len(true):
        raise ValueError(f"the labels have {len(flipped) / len(true):.1%} wrong, fewer than {rate:.0%}")
    lowered = noisy.copy()
    revert = np.random.default_rng(seed).permutation(flipped)[keep:]
    lowered[revert] = true[revert]
    return lowered


def open_set(train: Split, cifar100_train: Split, seed: int) -> tuple[Split, np.ndarray]:
    """Replace a random 40% of the CIFAR-10 training images by CIFAR-100 images (Wang et al., 2018).

    Labels stay; returns the new split and the mask of replaced (out-of-distribution) images.
    """
    rng = np.random.default_rng(seed)
    replaced = rng.random(len(train.labels)) < NOISE_RATE
    donors = rng.choice(len(cifar100_train.labels), int(replaced.sum()), replace=False)
    images = train.images.clone()
    images[torch.from_numpy(np.flatnonzero(replaced))] = cifar100_train.images[torch.from_numpy(donors)]
    return Split(images, train.labels.copy()), replaced


# --- Clothing1M -------------------------------------------------------------------------

CLOTHING1M_LISTS = {
    "train": ("noisy_train.txt", "noisy_train_key_list.txt", "noisy_label_kv.txt"),
    "val": ("clean_val.txt", "clean_val_key_list.txt", "clean_label_kv.txt"),
    "test": ("clean_test.txt", "clean_test_key_list.txt", "clean_label_kv.txt"),
}


def load_clothing1m_lists(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Clothing1M's splits as DataFrames of absolute ``path`` and ``label``.

    Reads ``relative/path label`` lines (``noisy_train.txt``, ``clean_val.txt``,
    ``clean_test.txt``, at the top or under ``annotations/``), or the original
    ``*_key_list.txt`` files with ``noisy_label_kv.txt`` / ``clean_label_kv.txt``.
    """
    data_dir = Path(data_dir)
    splits = {}
    for split, (pairs_name, keys_name, kv_name) in CLOTHING1M_LISTS.items():
        folder = next(
            (
                d
                for d in (data_dir, data_dir / "annotations")
                if (d / pairs_name).exists() or (d / keys_name).exists()
            ),
            None,
        )
        if folder is None:
            raise DataMissing(
                f"Clothing1M {split} list not found in {data_dir} (or annotations/): expected "
                f"{pairs_name} or {keys_name} with {kv_name}"
            )
        if (folder / pairs_name).exists():
            table = _read_pairs(folder / pairs_name)
        else:
            labels = _read_pairs(folder / kv_name).set_index("path")["label"]
            keys = [line.strip() for line in (folder / keys_name).read_text().splitlines() if line.strip()]
            missing = [k for k in keys if k not in labels.index]
            if missing:
                raise ValueError(
                    f"{len(missing)} keys of {keys_name} have no label in {kv_name}, e.g. {missing[0]}"
                )
            table = pd.DataFrame({"path": keys, "label": labels.loc[keys].to_numpy()})
        table["path"] = [str(data_dir / p) for p in table["path"]]
        splits[split] = table
    return splits


def _read_pairs(path: Path) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise ValueError(f"{path}, line {number}: expected 'relative/path label', got {line!r}")
        rows.append((parts[0], int(parts[1])))
    return pd.DataFrame(rows, columns=["path", "label"])


def clothing1m_transition(lists: dict[str, pd.DataFrame]) -> np.ndarray | None:
    """``T[i, j] = P(noisy j | clean i)`` from images that carry both labels, as Patrini et al. do.

    ``lists`` is :func:`load_clothing1m_lists`' output; None when no image has both labels.
    """
    clean = pd.concat([lists["val"], lists["test"]]).drop_duplicates("path")
    both = lists["train"].merge(clean, on="path", suffixes=("_noisy", "_clean"))
    if both.empty:
        return None
    transition = transition_matrix(both["label_clean"], both["label_noisy"], NUM_CLASSES["clothing1m"])
    unseen = transition.sum(axis=1) == 0  # classes without a doubly-labelled image: assume no noise
    transition[unseen, unseen] = 1.0
    return transition
