"""Labels: one type per label set, encoded as class indices, named, and a reviewer's decisions put in.

Labels keep their original values (ints or strings) everywhere a user sees them; the
training loop sees only their indices into the sorted ``classes``.
"""

from __future__ import annotations

import os
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import type_of_target

from .auditfile import read_reviewed

__all__ = ["apply_review", "check_one_label_type", "class_names", "encode_labels", "training_labels"]


def check_one_label_type(values: Any) -> None:
    """Refuse labels mixing strings with numbers (or other types): scikit-learn's "Unknown label type"."""
    kinds: dict[str, set[str]] = {}
    for value in values:
        if value is not None:  # a missing label: reported by row later
            kinds.setdefault(_label_kind(value), set()).add(type(value).__name__)
    if len(kinds) > 1:
        names = sorted(set().union(*kinds.values()))
        raise ValueError(
            f"Unknown label type: labels mix types {names}, e.g. 1 and '1' would be two classes; "
            "use one type (all str or all numbers)"
        )


def _label_kind(value: Any) -> str:
    """Labels of one kind sort and compare with each other: str with str, numbers with numbers."""
    if isinstance(value, str | bytes):
        return "str"
    return "number" if isinstance(value, Number) else type(value).__name__


def training_labels(labels: np.ndarray | None, description: str) -> tuple[np.ndarray, np.ndarray]:
    """The classes and encoded labels of the data ``fit`` trains on, refusing data it cannot train on.

    ``description`` names the data in the error when it carries no labels.
    """
    if labels is None:
        raise ValueError(
            f"SLNCleaner requires y to be passed, but the target y is None and no labels were found "
            f"in {description}; pass y (or label_column= for a dataset or DataFrame)"
        )
    classes, encoded = encode_labels(labels)
    if len(classes) < 2:
        raise ValueError(
            f"need at least 2 classes to find wrong labels, found only {classes.tolist()} (one class)"
        )
    return classes, encoded


def encode_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted classes and each label's index into them, by scikit-learn's target rules.

    Mixed types (``1`` and ``"1"``) and continuous targets (floats such as 0.37) are
    refused with scikit-learn's "Unknown label type" wording.
    """
    if labels.dtype == object:
        check_one_label_type(labels)
        labels = np.asarray(labels.tolist())  # one type: let numpy give it its dtype
    kind = type_of_target(labels, input_name="y")
    if kind.startswith("continuous"):
        example = float(labels[labels != np.round(labels)][0])
        raise ValueError(
            f"Unknown label type: continuous. y holds values such as {example!r} that are not class "
            "labels; SLNCleaner is a classifier: pass one class label (int or str) per sample"
        )
    if kind not in ("binary", "multiclass"):
        raise ValueError(f"Unknown label type: {kind}. Pass one class label (int or str) per sample")
    classes, encoded = np.unique(labels, return_inverse=True)
    return classes, encoded.astype(np.int64)


def class_names(classes: np.ndarray, names: list[str] | None) -> list[str]:
    """Display names of ``classes``: ClassLabel names index classes by integer; folder names equal the classes."""
    if names is not None and classes.dtype.kind in "iu" and classes.max() < len(names):
        return [names[int(c)] for c in classes]
    return [str(c) for c in classes]


def apply_review(
    reviewed: str | os.PathLike | pd.DataFrame | None,
    sample_ids: np.ndarray,
    classes: np.ndarray,
    encoded: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Encoded labels with the reviewer's put in, and each sample's decision (None where not reviewed).

    ``reviewed``: what :func:`labelclean.read_reviewed` reads (None: no review). A sample id
    outside this data, or a label outside ``classes``, is refused by name: the decisions were
    made on other data.
    """
    if reviewed is None:
        return encoded, np.full(len(encoded), None, dtype=object)
    review = read_reviewed(reviewed)
    position = pd.Index(sample_ids).get_indexer(review["sample_id"])
    unknown = review["sample_id"].to_numpy()[position < 0]
    if len(unknown):
        raise ValueError(
            f"reviewed: sample_id {unknown[0]} ({len(unknown)} in all) is not in this data "
            f"(its sample ids run from {sample_ids.min()} to {sample_ids.max()}); "
            "were the decisions made on an audit of other data?"
        )
    index = {label: k for k, label in enumerate(classes.tolist())}
    by_text = {str(label): k for label, k in index.items()}
    labels, decisions = encoded.copy(), np.full(len(encoded), None, dtype=object)
    for row, sample_id, label, no_class, decision in zip(
        position,
        review["sample_id"],
        review["label"],
        review["fits_no_class"],
        review["decision"],
        strict=True,
    ):
        decisions[row] = decision  # "none" exactly where the sample fits no class
        if no_class:
            continue
        label = label.item() if isinstance(label, np.generic) else label
        k = index.get(label, by_text.get(str(label)))
        if k is None:
            raise ValueError(
                f"reviewed: sample_id {sample_id} has label {label!r}, which is not one of the "
                f"classes {classes.tolist()}"
            )
        labels[row] = k
    return labels, decisions
