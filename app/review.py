"""The review's data, without Streamlit: an audit ranked for review, filters, pages, counts.

- :func:`load_audit` reads every audit column but ``image`` once (through
  :func:`labelclean.auditfile.read_audit`, which does not load torch), sorted most
  suspicious first; :meth:`AuditData.ordered` gives it in another review order
  (:func:`labelclean.auditfile.review_order`, which the benchmarks share); the images of
  the rows on screen are read later (:mod:`app.sources`).
- :func:`filter_audit` and :func:`page_rows` are boolean masks and slices over that frame,
  so a page of a 1,000,000-row audit takes milliseconds.
- :func:`per_class_rates` and :func:`confusion_pairs` feed the overview; :func:`review_tally`
  sets the reviewer's findings against what the audit expected.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labelclean.auditfile import (
    IMAGE_COLUMN,
    REVIEW_ORDERS,
    NoiseCheck,
    ReviewTally,
    check_bands,
    count_checked,
    read_audit,
    review_order,
    tally_reviews,
)

from . import sources

__all__ = [
    "CLASS_FIELDS",
    "ROW",
    "SCORES",
    "STATUSES",
    "AuditData",
    "Filters",
    "check_count",
    "confusion_pairs",
    "digit_keys",
    "filter_audit",
    "load_audit",
    "neighbours",
    "page_count",
    "page_of",
    "page_rows",
    "per_class_rates",
    "position",
    "review_tally",
    "score_top",
    "summary",
    "top_classes",
]

ROW = "file_row"  # physical row of the sample in the Parquet file, for fetching its image
TOP_CLASSES = "top_classes"  # optional column: the most probable true classes, [{label, prob}]


@dataclass
class AuditData:
    """An audit's light columns, ranked, with what the app needs to show and fix it.

    ``frame`` holds every audit column except ``image``, ``source`` and ``top_classes``
    plus ``file_row`` (the sample's row in the file), sorted by ``rank`` (most suspicious
    first), with a fresh 0..N-1 index; string labels are categoricals. ``sources`` holds
    ``source`` in file order (:meth:`source` looks one up), ``top`` the ``top_classes``
    column in file order where the audit has one. ``note`` says what the file lacks (its
    labelclean metadata), or is empty.
    """

    path: Path
    frame: pd.DataFrame
    sources: pd.Series
    metadata: dict[str, Any]
    classes: list[Any]
    has_images: bool
    root: Path | None
    base: Path
    root_origin: str = ""
    names: dict[Any, str] = field(default_factory=dict)
    note: str = ""
    top: pa.ChunkedArray | None = None
    _orders: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def name(self, label: Any) -> str:
        """The display name of a label value (its class name where the audit has one)."""
        if label is None or (isinstance(label, float) and math.isnan(label)):
            return "—"
        return self.names.get(_plain(label), str(label))

    def label_of(self, name: str) -> Any:
        """The label value whose display name is ``name``."""
        for value in self.classes:
            if self.name(value) == name:
                return value
        raise KeyError(name)

    @property
    def n(self) -> int:
        return len(self.frame)

    def source(self, file_row: int) -> str:
        """The ``source`` of the sample in row ``file_row`` of the file."""
        return str(self.sources.iat[int(file_row)])

    def sample_id(self, text: Any) -> Any:
        """A sample id as the frame holds it (the grid sends ids as text)."""
        return int(text) if pd.api.types.is_integer_dtype(self.frame["sample_id"].dtype) else str(text)

    @cached_property
    def _by_id(self) -> pd.Index:
        return pd.Index(self.frame["sample_id"])

    def positions(self, sample_ids: list[Any]) -> np.ndarray:
        """The rows of ``frame`` that hold ``sample_ids`` (-1 where the audit has no such sample)."""
        return self._by_id.get_indexer(sample_ids)

    def row(self, sample_id: Any) -> Any:
        """One sample's row, as a named tuple of its columns."""
        at = self._by_id.get_loc(sample_id)
        return next(self.frame.iloc[at : at + 1].itertuples(index=False))

    @property
    def orders(self) -> dict[str, str]:
        """The review orders this audit supports: by expected gain needs its calibrated
        ``suggested_true_prob`` (audits from before it open in loss order); the others, the rank."""
        calibrated = "suggested_true_prob" in self.frame.columns
        return {k: v for k, v in REVIEW_ORDERS.items() if calibrated or k != "gain"}

    @property
    def default_order(self) -> str:
        return next(iter(self.orders))

    def ordered(self, by: str) -> pd.DataFrame:
        """``frame`` in the review order ``by``, worked out once per audit."""
        if by == "loss" or by not in self.orders:
            return self.frame
        if by not in self._orders:
            self._orders[by] = self.frame.take(review_order(self.frame, by))
        return self._orders[by]

    def top_of(self, file_row: int) -> list[dict[str, Any]]:
        """The ``top_classes`` entry of one sample (empty where the audit has none)."""
        return [] if self.top is None else (self.top[int(file_row)].as_py() or [])

    @cached_property
    def check_bands(self) -> list[np.ndarray]:
        """The random check's stretches of the ranking (:func:`labelclean.auditfile.check_bands`),
        worked out once: the header counts the check at every decision."""
        return check_bands(self.frame)

    @cached_property
    def flagged(self) -> np.ndarray:
        return self.frame["is_suspicious"].to_numpy(dtype=bool)

    @cached_property
    def pairs(self) -> pd.DataFrame:
        """:func:`confusion_pairs`, worked out once per audit."""
        return confusion_pairs(self)


def _plain(value: Any) -> Any:
    """A NumPy scalar as the equal Python scalar (JSON-friendly, hashable like the metadata)."""
    return value.item() if isinstance(value, np.generic) else value


def load_audit(path: str | os.PathLike, root: str | os.PathLike | None = None) -> AuditData:
    """Read an audit's light columns (never ``image``), ranked, and its labelclean metadata.

    ``root`` overrides the dataset root that image files must lie in (see
    :func:`app.sources.dataset_root`). An audit that lost its metadata opens from its columns.
    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is
    not an audit.
    """
    path = Path(path).expanduser().absolute()
    # The sources stay in file order: sorting a million paths would cost seconds, and
    # only a page of them is ever looked up (by file row).
    files, metadata = read_audit(path, columns=["source"])
    names = pq.read_schema(path).names
    heavy = ("source", IMAGE_COLUMN, TOP_CLASSES)
    light = [c for c in names if c not in heavy and not c.startswith("__index_level_")]
    frame, _ = read_audit(path, columns=light, label_categories=True)
    frame[ROW] = np.arange(len(frame), dtype=np.int64)
    frame = frame.take(np.argsort(frame["rank"].to_numpy(), kind="stable")).reset_index(drop=True)
    classes = list(metadata.get("classes") or [])
    if not classes:
        classes = sorted(
            {*frame["given_label"].unique().tolist(), *frame["suggested_label"].unique().tolist()}
        )
    class_names = metadata.get("class_names") or []
    if len(class_names) != len(classes):
        class_names = [str(c) for c in classes]
    base = sources.audit_base(path, files["source"])
    if root is None:
        found_root, origin = sources.dataset_root(files["source"], base)
    else:
        found_root, origin = Path(root).expanduser().resolve(), "given on the command line"
    return AuditData(
        path=path,
        frame=frame,
        sources=files["source"],
        metadata=metadata,
        classes=[_plain(c) for c in classes],
        has_images=IMAGE_COLUMN in names,
        root=found_root,
        base=base,
        root_origin=origin,
        names={_plain(c): str(n) for c, n in zip(classes, class_names, strict=True)},
        note=""
        if metadata
        else "This audit has no labelclean metadata (rewritten by another tool?): the classes "
        "come from its label columns, and its version, settings and data source are unknown.",
        top=pq.read_table(path, columns=[TOP_CLASSES]).column(0) if TOP_CLASSES in names else None,
    )


# --- filters and pages -----------------------------------------------------------------------


STATUSES = {"all": "All", "undecided": "Not reviewed yet", "decided": "Reviewed"}
CLASS_FIELDS = {
    "either": "the given or the suggested label",
    "given": "the given label",
    "suggested": "the suggested label",
}
SCORES = {"mislabel_prob": "mislabel probability", "loss": "loss"}


@dataclass(frozen=True)
class Filters:
    """What the review grid shows.

    ``classes``: label values that the sample's given or suggested label (``class_field``:
    ``"either"``, ``"given"``, ``"suggested"``) must be among; ``pair``: a ``(given,
    suggested)`` pair; ``score_range``: an inclusive range of ``score`` (``mislabel_prob``
    or ``loss``); ``status``: ``"all"``, ``"undecided"`` or ``"decided"``.
    """

    classes: tuple[Any, ...] = ()
    class_field: str = "either"
    pair: tuple[Any, Any] | None = None
    score: str = "mislabel_prob"
    score_range: tuple[float, float] | None = None
    flagged_only: bool = False
    status: str = "all"


def filter_audit(frame: pd.DataFrame, filters: Filters, decided: Iterable[Any] | None = None) -> pd.DataFrame:
    """The rows of ``frame`` that pass ``filters``, in ``frame``'s (rank) order.

    ``decided`` holds the sample ids that have a reviewer decision (for ``status``).
    """
    mask = np.ones(len(frame), dtype=bool)
    if filters.flagged_only:
        mask &= frame["is_suspicious"].to_numpy(dtype=bool)
    if filters.classes:
        wanted = list(filters.classes)
        given = frame["given_label"].isin(wanted).to_numpy()
        suggested = frame["suggested_label"].isin(wanted).to_numpy()
        mask &= {"given": given, "suggested": suggested}.get(filters.class_field, given | suggested)
    if filters.pair is not None:
        mask &= (frame["given_label"] == filters.pair[0]).to_numpy()
        mask &= (frame["suggested_label"] == filters.pair[1]).to_numpy()
    if filters.score_range is not None:
        if filters.score not in ("mislabel_prob", "loss"):
            raise ValueError(f"score must be mislabel_prob or loss, not {filters.score!r}")
        low, high = filters.score_range
        values = frame[filters.score].to_numpy()
        mask &= (values >= np.float32(low)) & (values <= np.float32(high))
    if filters.status != "all":
        has = frame["sample_id"].isin(list(decided or ())).to_numpy()
        mask &= has if filters.status == "decided" else ~has
    return frame[mask] if not mask.all() else frame


def page_count(n_rows: int, per_page: int) -> int:
    """How many pages ``n_rows`` fill (at least one, so an empty view still has page 1)."""
    return max(1, math.ceil(n_rows / per_page))


def page_rows(view: pd.DataFrame, page: int, per_page: int = 24) -> pd.DataFrame:
    """Page ``page`` (1-based, clamped to the valid range) of ``view``."""
    page = min(max(1, int(page)), page_count(len(view), per_page))
    return view.iloc[(page - 1) * per_page : page * per_page]


def position(view: pd.DataFrame, sample_id: Any) -> int | None:
    """Where ``sample_id`` is in ``view`` (0-based), or ``None`` when the view lacks it."""
    hits = np.flatnonzero(view["sample_id"].to_numpy() == sample_id)
    return int(hits[0]) if len(hits) else None


def page_of(view: pd.DataFrame, sample_id: Any, per_page: int) -> int | None:
    """The 1-based page of ``view`` that shows ``sample_id``."""
    at = position(view, sample_id)
    return None if at is None else at // per_page + 1


def neighbours(view: pd.DataFrame, at: int, before: int = 4, after: int = 4) -> pd.DataFrame:
    """The rows around position ``at`` of ``view`` (itself included), in ranking order."""
    return view.iloc[max(0, at - before) : at + after + 1]


def top_classes(audit: AuditData, row: Any) -> tuple[list[tuple[str, float]], bool]:
    """The classes most probably the sample's true class, with that probability, most
    probable first (at most three).

    Read from the audit's ``top_classes`` column (a list of ``{"label", "prob"}``) where it
    has one; otherwise only the suggested and the given label are known, with the
    calibrated probabilities of each (``suggested_true_prob``, ``1 - mislabel_prob``). The
    flag says which.
    """
    stored = audit.top_of(row.file_row)
    if stored:
        return [(audit.name(entry["label"]), float(entry["prob"])) for entry in stored[:3]], True
    suggested = getattr(row, "suggested_true_prob", None)
    known = [(audit.name(row.suggested_label), float(row.suggested_prob if suggested is None else suggested))]
    if row.given_label != row.suggested_label:
        known.append((audit.name(row.given_label), 1.0 - float(row.mislabel_prob)))
    return known, False


# --- overview --------------------------------------------------------------------------------


def review_tally(audit: AuditData, decisions: Mapping[Any, Mapping[str, Any]]) -> ReviewTally | None:
    """The reviewer's decisions set against the audit's ``mislabel_prob``
    (:func:`labelclean.auditfile.tally_reviews`; None: no decision on a sample the audit judged)."""
    return tally_reviews(audit.frame, *_decided(audit, decisions)) if decisions else None


def check_count(audit: AuditData, decisions: Mapping[Any, Mapping[str, Any]]) -> NoiseCheck | None:
    """The share of wrong labels the reviewer's random check found
    (:func:`labelclean.auditfile.count_checked`; None until it has read enough)."""
    return (
        count_checked(audit.frame, *_decided(audit, decisions), bands=audit.check_bands)
        if decisions
        else None
    )


def _decided(
    audit: AuditData, decisions: Mapping[Any, Mapping[str, Any]]
) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """The decided samples' rows in ``audit.frame``, final labels, and whether each fits no class."""
    entries = list(decisions.values())
    return (
        audit.positions(list(decisions)),
        [entry.get("final_label") for entry in entries],
        np.array([entry.get("decision") == "none" for entry in entries], dtype=bool),
    )


def summary(frame: pd.DataFrame) -> dict[str, float]:
    """Sample count, flagged count and flagged rate."""
    n = len(frame)
    flagged = int(frame["is_suspicious"].sum())
    return {"samples": n, "flagged": flagged, "rate": flagged / n if n else 0.0}


def per_class_rates(audit: AuditData) -> pd.DataFrame:
    """Per given class: samples, flagged and flagged rate, in class order."""
    frame = audit.frame
    grouped = frame.groupby("given_label", sort=False)["is_suspicious"].agg(["size", "sum"])
    grouped = grouped.reindex(list(dict.fromkeys([*audit.classes, *grouped.index.tolist()])), fill_value=0)
    return pd.DataFrame(
        {
            "label": grouped.index,
            "class": [audit.name(v) for v in grouped.index],
            "samples": grouped["size"].to_numpy(dtype=int),
            "flagged": grouped["sum"].to_numpy(dtype=int),
            "rate": np.where(grouped["size"] > 0, grouped["sum"] / grouped["size"].clip(lower=1), 0.0),
        }
    ).reset_index(drop=True)


def confusion_pairs(audit: AuditData) -> pd.DataFrame:
    """The non-empty given → suggested pairs among flagged samples, most frequent first."""
    flagged = audit.frame[audit.flagged]
    counts = flagged.groupby(["given_label", "suggested_label"]).size().rename("count").reset_index()
    counts = counts[counts["count"] > 0].sort_values(
        ["count", "given_label", "suggested_label"], ascending=[False, True, True], kind="stable"
    )
    counts["given"] = [audit.name(v) for v in counts["given_label"]]
    counts["suggested"] = [audit.name(v) for v in counts["suggested_label"]]
    return counts.reset_index(drop=True)


def digit_keys(names: list[str]) -> dict[str, str]:
    """The class each digit key relabels to: the class named by the digit when every class
    name is one digit (0-9), else keys 1-9 and 0 for the first ten classes in order."""
    if all(len(name) == 1 and name.isdigit() for name in names):
        return {name: name for name in names}
    return {str((i + 1) % 10): name for i, name in enumerate(names[:10])}


def score_top(audit: AuditData, score: str) -> float:
    """The top of a score's range: 1 for the mislabel probability, the largest loss rounded up."""
    return (
        1.0
        if score == "mislabel_prob"
        else math.ceil(max(0.01, float(audit.frame["loss"].max())) * 100) / 100
    )
