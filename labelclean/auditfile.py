"""The audit file and the reviewer's files beside it: schema and readers, without torch.

The audit (``cleaner.save_audit(path)``) is Parquet, one row per training sample, in input order:

=================  ==========================================================
column             meaning
=================  ==========================================================
sample_id          position of the sample in the input (row / file order)
source             file path, or ``row N`` for dataset, DataFrame and array rows
given_label        the label the data came with
suggested_label    the most probable true class other than ``given_label``
corrected_label    ``suggested_label`` where it is more probably right than
                   ``given_label`` even at the low end of the label's noise
                   share, else ``given_label`` (what ``correct_labels()`` returns)
loss               cross-entropy against ``given_label`` of the mean of the final
                   network's and the held-out (cross-fitted) probabilities
given_prob         that mean probability of ``given_label``
suggested_prob     that mean probability of ``suggested_label``
mislabel_prob      probability that ``given_label`` is wrong (:mod:`labelclean.calibration`)
suggested_true_prob  probability that ``suggested_label`` is the true class
rank               1 = most suspicious: the most evidence against ``given_label``
                   (:mod:`labelclean.calibration`), compared alike across labels
is_suspicious      among the ``round(sum of mislabel_prob)`` most suspicious (as many
                   flags as the expected number of wrong labels), or changed in
                   ``corrected_label``
reviewed           the reviewer's decision the fit was given (``fit(reviewed=...)``):
                   ``accept``, ``keep``, ``relabel`` or ``none`` (fits no class); null
                   where not reviewed. Reviewed rows are never flagged and their label
                   is known (``mislabel_prob`` 0; 1 for ``none``); their
                   ``given_label`` is the reviewer's; ``none`` rows were left out of training
top_classes        the three most probable true classes, as ``{"label", "prob"}``,
                   most probable first (the network's, for ``none`` rows)
image              (only for images that are not files: arrays, datasets) PNG bytes
                   of the image, at most 128 pixels a side, for review tools
=================  ==========================================================

Its schema metadata (key ``labelclean``) holds the version, parameters, class names, data
source, time and the estimated noise rate. :func:`review_order` is the order a reviewer should
look at the samples in (the review app's default, shared with ``bench review``). Beside
``audit.parquet`` the review app keeps ``audit.decisions.json`` and exports
``audit.corrections.csv`` / ``.parquet``; :func:`read_reviewed` reads either,
:func:`review_tally` sets the wrong labels a review found against the audit's expectation, and
:func:`check_noise_rate` counts the wrong labels from a random check, without the audit's model.

This module needs only NumPy, pandas and pyarrow: reading or writing an audit or a review
never loads torch or scikit-learn.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .calibration import shifted_to_mean
from .fileio import atomic_write

__all__ = [
    "AUDIT_COLUMNS",
    "DECISIONS",
    "IMAGE_COLUMN",
    "METADATA_KEY",
    "REQUIRED_COLUMNS",
    "REVIEW_ORDERS",
    "NoiseCheck",
    "ReviewTally",
    "check_bands",
    "check_noise_rate",
    "corrections_paths",
    "count_checked",
    "decisions_path",
    "read_audit",
    "read_audit_metadata",
    "read_reviewed",
    "review_gain",
    "review_order",
    "review_tally",
    "tally_reviews",
    "write_audit",
]

AUDIT_COLUMNS = (
    "sample_id",
    "source",
    "given_label",
    "suggested_label",
    "corrected_label",
    "loss",
    "given_prob",
    "suggested_prob",
    "mislabel_prob",
    "suggested_true_prob",
    "rank",
    "is_suspicious",
    "reviewed",
    "top_classes",
)
# What every labelclean audit has had since 0.1; later columns are read where present, so
# older audits still open.
LATER_COLUMNS = ("suggested_true_prob", "reviewed", "top_classes")
REQUIRED_COLUMNS = tuple(c for c in AUDIT_COLUMNS if c not in LATER_COLUMNS)
LABEL_COLUMNS = ("given_label", "suggested_label", "corrected_label")
METADATA_KEY = b"labelclean"
IMAGE_COLUMN = "image"
DECISIONS = {
    "accept": "accept the suggestion",
    "keep": "keep the given label",
    "relabel": "relabel",
    "none": "fits no class",
}
# The columns of read_reviewed's table, which it also reads back.
_READ_REVIEWED_COLUMNS = frozenset({"sample_id", "label", "fits_no_class", "decision"})
REVIEW_ORDERS = {  # how review_order sorts, as the review app names it
    "gain": "most valuable review first",
    "loss": "most suspicious first (the audit's rank)",
    "check": "a random check (to count wrong labels)",
}
# A random check (review_order "check") draws alike from this many equal stretches of the
# ranking, each in its own seeded random order, so that the app and a notebook agree.
CHECK_BANDS = 10
CHECK_SEED = 0
REVIEWER_PREFIX = "reviewer: "  # ``decided_by`` of a reviewed row in the corrections
_INTEGER = re.compile(r"^-?\d+$")


def write_audit(
    audit: pd.DataFrame,
    path: str | os.PathLike,
    metadata: dict[str, Any],
    row_group_size: int = 65536,
) -> Path:
    """Write the audit as Parquet with ``metadata`` (JSON) in the file's schema.

    Written to a temporary file in the same folder, then renamed over ``path``: a
    crash or a full disk leaves any earlier audit intact.
    """
    first = pa.Table.from_pandas(audit.iloc[:row_group_size], preserve_index=False)
    schema = first.schema
    schema = schema.with_metadata(
        {**(schema.metadata or {}), METADATA_KEY: json.dumps(metadata, default=str).encode()}
    )

    def write(tmp: str) -> None:
        # Chunk by chunk, so that memory beyond the DataFrame itself stays flat.
        with pq.ParquetWriter(tmp, schema) as writer:
            writer.write_table(first.replace_schema_metadata(schema.metadata))
            for start in range(row_group_size, len(audit), row_group_size):
                chunk = audit.iloc[start : start + row_group_size]
                writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))

    return atomic_write(path, write)


def read_audit_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The labelclean metadata stored in an audit file (version, parameters, classes...)."""
    meta = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in meta:
        raise ValueError(f"{path} is not a labelclean audit (no {METADATA_KEY.decode()!r} metadata)")
    return json.loads(meta[METADATA_KEY])


def read_audit(
    path: str | os.PathLike,
    *,
    columns: Sequence[str] | None = None,
    images: bool = False,
    label_categories: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """An audit's rows, in the file's (input) order, and its labelclean metadata.

    ``columns`` (default: every column but ``image``, unless ``images``) are read;
    ``label_categories`` reads string label columns as pandas categoricals (a 1,000,000-row
    audit sorts and filters several times faster). A file that lost its metadata (pandas'
    ``read_parquet`` then ``to_parquet`` drops it) still reads, with ``{}`` for the metadata.
    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file when
    it is not Parquet or lacks an audit column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no audit file at {path}")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(f"{path} is not a Parquet file: {err}") from err
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        raise ValueError(f"{path} is not a labelclean audit: it lacks the columns {missing}")
    stored = (schema.metadata or {}).get(METADATA_KEY)
    metadata = json.loads(stored) if stored else {}
    if columns is None:
        columns = [
            c for c in schema.names if (images or c != IMAGE_COLUMN) and not c.startswith("__index_level_")
        ]
    categories = [c for c in LABEL_COLUMNS if c in columns] if label_categories else None
    table = pq.read_table(path, columns=list(columns), read_dictionary=categories)
    return table.to_pandas(), metadata


def decisions_path(audit_path: str | os.PathLike) -> Path:
    """``<audit stem>.decisions.json`` beside the audit: the review app's decisions."""
    audit_path = Path(audit_path)
    return audit_path.with_name(f"{audit_path.stem}.decisions.json")


def corrections_paths(audit_path: str | os.PathLike) -> tuple[Path, Path]:
    """``<audit stem>.corrections.csv`` and ``.parquet`` beside the audit: the app's export."""
    audit_path = Path(audit_path)
    stem = f"{audit_path.stem}.corrections"
    return audit_path.with_name(f"{stem}.csv"), audit_path.with_name(f"{stem}.parquet")


def read_reviewed(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """The reviewer's labels from the app's decisions file or its exported corrections.

    ``source`` is one of:

    - ``<audit>.decisions.json``, written by the review app after every decision: a JSON
      object ``{"<sample_id>": {"decision": D, "final_label": L, "time": ISO-8601}}``;
    - ``<audit>.corrections.parquet`` or ``.csv`` from the app's Export (or that table as a
      DataFrame): columns ``sample_id``, ``final_label`` and ``decided_by``, which is
      ``"reviewer: D"`` on reviewed rows; the other rows (``"auto: corrected_label"``, with or
      without a random check) are the audit's own decision, not a review, and are left out;
    - the DataFrame this function returns.

    ``D`` is ``accept`` (the suggested label), ``keep`` (the given label), ``relabel`` (a
    label the reviewer chose) or ``none`` (the sample fits no class; ``L`` is null).

    Returns one row per reviewed sample, sorted by ``sample_id``, with the columns
    ``sample_id`` (int64), ``label`` (the reviewer's label: nullable ``Int64`` for integer
    labels, else strings; missing exactly where ``fits_no_class``), ``fits_no_class`` (bool)
    and ``decision``. A CSV carries no types: there, labels that all look like integers come
    back as integers (use the Parquet or the decisions file for digit-string class names).
    A sample listed twice is refused, naming both decisions, unless they agree.
    """
    if isinstance(source, pd.DataFrame):
        if _READ_REVIEWED_COLUMNS.issubset(source.columns) and "decided_by" not in source.columns:
            return _reviewed_from_itself(source)
        return _reviewed_from_corrections(source, "the corrections DataFrame")
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no decisions or corrections file at {path}")
    if path.suffix == ".json":
        return _reviewed_from_decisions(path)
    if path.suffix == ".parquet":
        return _reviewed_from_corrections(pd.read_parquet(path), str(path))
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype={"final_label": object, "given_label": object})
        return _reviewed_from_corrections(frame, str(path), typed=False)
    raise ValueError(f"{path}: expected a .decisions.json, .corrections.parquet or .corrections.csv file")


class _JsonObject(list):
    """A JSON object's (key, value) pairs in file order: a key written twice stays twice."""


def _reviewed_from_decisions(path: Path) -> pd.DataFrame:
    try:
        raw = json.loads(path.read_text(), object_pairs_hook=_JsonObject)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(raw, _JsonObject):
        raise ValueError(f"{path}: expected a JSON object of sample_id -> decision")
    rows = []
    for key, entry in raw:
        if not isinstance(entry, _JsonObject):
            raise ValueError(f"{path}: sample {key!r} has {entry!r}, not a decision object")
        fields = dict(entry)
        rows.append((_sample_id(key, path), fields.get("decision"), fields.get("final_label")))
    return _reviewed_frame(rows, str(path), typed=True)


def _reviewed_from_itself(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`read_reviewed`'s own table, checked again (it may have been edited)."""
    rows = [
        (_sample_id(sid, "the reviewed DataFrame"), decision, None if pd.isna(label) else label)
        for sid, decision, label in zip(frame["sample_id"], frame["decision"], frame["label"], strict=True)
    ]
    return _reviewed_frame(rows, "the reviewed DataFrame", typed=True)


def _reviewed_from_corrections(frame: pd.DataFrame, where: str, typed: bool = True) -> pd.DataFrame:
    missing = {"sample_id", "final_label", "decided_by"} - set(frame.columns)
    if missing:
        raise ValueError(f"{where} lacks the corrections columns {sorted(missing)}")
    reviewed = frame[frame["decided_by"].astype(str).str.startswith(REVIEWER_PREFIX)]
    rows = [
        (_sample_id(sid, where), by.removeprefix(REVIEWER_PREFIX), None if pd.isna(label) else label)
        for sid, by, label in zip(
            reviewed["sample_id"], reviewed["decided_by"], reviewed["final_label"], strict=True
        )
    ]
    return _reviewed_frame(rows, where, typed)


def _sample_id(value: Any, where: str | Path) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: sample_id {value!r} is not an integer") from None


def _reviewed_frame(rows: list[tuple[int, Any, Any]], where: str, typed: bool) -> pd.DataFrame:
    """Check each ``(sample_id, decision, label)`` and build :func:`read_reviewed`'s table."""
    for sample_id, decision, label in rows:
        if decision not in DECISIONS:
            raise ValueError(f"{where}: sample {sample_id} has an unknown decision {decision!r}")
        if (label is None) != (decision == "none"):
            raise ValueError(
                f"{where}: sample {sample_id} ({decision}) "
                + ("has no label" if label is None else f"fits no class but has the label {label!r}")
            )
    rows = _one_decision_per_sample(rows, where)
    labels = [_plain(label) for _, _, label in rows]
    return pd.DataFrame(
        {
            "sample_id": np.array([r[0] for r in rows], dtype=np.int64),
            "label": _label_array(labels, typed),
            "fits_no_class": np.array([r[1] == "none" for r in rows], dtype=bool),
            "decision": pd.array([r[1] for r in rows], dtype="string"),
        }
    )


def _one_decision_per_sample(rows: list[tuple[int, Any, Any]], where: str) -> list[tuple[int, Any, Any]]:
    """The rows sorted by sample id, a sample listed twice once: refused when its decisions differ."""
    first: dict[int, tuple[int, Any, Any]] = {}
    for row in rows:
        sample_id, decision, label = row
        seen = first.setdefault(sample_id, row)
        if (seen[1], _plain(seen[2])) != (decision, _plain(label)):
            raise ValueError(
                f"{where}: sample_id {sample_id} is listed twice with different decisions: "
                f"{_decision_text(seen)} and {_decision_text(row)}; keep the one you mean and remove the other"
            )
    return sorted(first.values(), key=lambda row: row[0])


def _decision_text(row: tuple[int, Any, Any]) -> str:
    _, decision, label = row
    return "none (fits no class)" if decision == "none" else f"{decision} {_plain(label)!r}"


def _plain(value: Any) -> Any:
    """A NumPy scalar as the equal Python scalar."""
    return value.item() if isinstance(value, np.generic) else value


def _label_array(labels: list[Any], typed: bool) -> pd.api.extensions.ExtensionArray:
    """Numbers as nullable ``Int64`` / ``Float64``, anything else as strings (``None`` stays missing)."""
    present = [v for v in labels if v is not None]
    if not typed and present and all(_INTEGER.match(str(v)) for v in present):
        labels = [None if v is None else int(v) for v in labels]
        present = [v for v in labels if v is not None]
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pd.array(labels, dtype="Int64" if all(isinstance(v, int) for v in present) else "Float64")
    return pd.array([None if v is None else str(v) for v in labels], dtype="string")


# --- which samples to review first -----------------------------------------------------------


def review_gain(audit: pd.DataFrame) -> np.ndarray:
    """How many right labels a review of each sample is expected to add, from 0 to 1.

    Without a review the sample keeps ``corrected_label`` (what ``correct_labels()`` returns):
    the suggestion where it was changed to it, right with probability ``suggested_true_prob``,
    else the given label, right with probability ``1 - mislabel_prob``. A reviewer who knows
    the true class ends with one right label, so the review adds one minus the probability
    that the kept label is right. A sample reviewed before the fit (``reviewed``) already
    has the reviewer's label and gains nothing. Raises ``ValueError`` for an audit written
    before ``suggested_true_prob`` existed.
    """
    if "suggested_true_prob" not in audit.columns:
        raise ValueError(
            "the audit has no suggested_true_prob column (written by labelclean before 0.1's "
            "calibration): fit again to review by expected gain, or order by loss"
        )
    changed = (audit["corrected_label"] != audit["given_label"]).to_numpy(dtype=bool)
    kept_right = np.where(
        changed,
        audit["suggested_true_prob"].to_numpy(dtype=np.float64),
        1.0 - audit["mislabel_prob"].to_numpy(dtype=np.float64),
    )
    gain = np.clip(1.0 - kept_right, 0.0, 1.0)
    if "reviewed" in audit.columns:
        gain[audit["reviewed"].notna().to_numpy()] = 0.0
    return gain


def review_order(audit: pd.DataFrame, by: str = "gain") -> np.ndarray:
    """Row positions of ``audit`` in the order to review them (see :data:`REVIEW_ORDERS`).

    ``"gain"``: largest :func:`review_gain` first; ``"loss"``: ``rank`` 1 (the most suspicious;
    the highest loss in audits before mislabel probabilities ranked) first. Ties keep the rank.
    ``"check"``: a random check for :func:`check_noise_rate`: one sample of each of
    :data:`CHECK_BANDS` equal stretches of the ranking in turn, each stretch in its own random
    order, so that any number of reviews from the start holds every stretch alike (samples
    reviewed before the fit last).
    """
    if by not in REVIEW_ORDERS:
        raise ValueError(f"review order must be one of {list(REVIEW_ORDERS)}, not {by!r}")
    rank = audit["rank"].to_numpy()
    if by == "loss":
        return np.argsort(rank, kind="stable")
    if by == "check":
        turn = np.full(len(audit), np.inf)
        for band, rows in enumerate(check_bands(audit)):
            turn[rows] = np.arange(len(rows)) * CHECK_BANDS + band
        return np.lexsort((rank, turn))
    return np.lexsort((rank, -review_gain(audit)))


def check_bands(audit: pd.DataFrame) -> list[np.ndarray]:
    """The row positions of each of :data:`CHECK_BANDS` equal stretches of the ranking, most
    suspicious first, each in its own random order (seeded: the same audit, the same order).
    Samples reviewed before the fit are in none: their labels are known. A review tool that
    counts a check at every decision works them out once (:func:`count_checked`'s ``bands``)."""
    by_rank = _judged_by_rank(audit)
    if not len(by_rank):
        return []
    rng = np.random.default_rng(CHECK_SEED)
    return [rng.permutation(rows) for rows in np.array_split(by_rank, min(CHECK_BANDS, len(by_rank)))]


# --- what a review says of the audit ---------------------------------------------------------


@dataclass(frozen=True)
class ReviewTally:
    """How many reviewed labels were wrong, against how many the audit expected.

    ``wrong``: the reviewed samples whose label the reviewer changed or said fits no class;
    ``expected``: the sum of their ``mislabel_prob``, ``spread`` its standard deviation (each
    label wrong or not independently, with its stated probability).
    """

    reviewed: int
    wrong: int
    expected: float
    spread: float

    @property
    def verdict(self) -> str:
        """ "more" or "fewer" wrong labels than expected, beyond two spreads and two labels of
        slack (so a handful of reviews cannot say it), else "as expected"."""
        margin = 2 * self.spread + 2
        if self.wrong > self.expected + margin:
            return "more"
        if self.wrong < self.expected - margin:
            return "fewer"
        return "as expected"


def tally_reviews(
    audit: pd.DataFrame, rows: np.ndarray, labels: Sequence[Any], fits_no_class: np.ndarray
) -> ReviewTally | None:
    """The :class:`ReviewTally` of the reviewed samples at row positions ``rows`` of ``audit``
    (-1: a sample the audit does not have, left out): a label is wrong where the reviewer's
    ``labels`` differ from ``given_label`` or the sample ``fits_no_class``. None where nothing
    reviewed is left to judge, or the audit has no ``mislabel_prob``.

    Samples the audit already knew (reviewed before its fit) are left out. The selection does
    not bias the tally: samples chosen by the audit's own scores, in any order, are expected to
    hold as many wrong labels as their calibrated probabilities add up to.
    """
    if "mislabel_prob" not in audit.columns:
        return None
    rows, wrong = _judged_reviews(audit, rows, labels, fits_no_class)
    if not len(rows):
        return None
    prob = audit["mislabel_prob"].to_numpy(dtype=np.float64)[rows]
    return ReviewTally(
        reviewed=len(rows),
        wrong=int(wrong.sum()),
        expected=float(prob.sum()),
        spread=float(np.sqrt((prob * (1 - prob)).sum())),
    )


def _judged_reviews(
    audit: pd.DataFrame, rows: np.ndarray, labels: Sequence[Any], fits_no_class: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The reviewed samples the audit judged (rows of samples it has, not reviewed before its
    fit) and whether each label was wrong: changed by the reviewer, or fitting no class."""
    rows = np.asarray(rows)
    given = audit["given_label"].astype(object).to_numpy()[np.maximum(rows, 0)]
    changed = np.array([str(label) != str(was) for label, was in zip(labels, given, strict=True)], dtype=bool)
    wrong = changed | np.asarray(fits_no_class, dtype=bool)
    keep = rows >= 0
    if "reviewed" in audit.columns:
        keep[keep] = audit["reviewed"].isna().to_numpy()[rows[keep]]
    return rows[keep], wrong[keep]


def _reviews_of(
    audit: pd.DataFrame, reviewed: str | os.PathLike | pd.DataFrame
) -> tuple[np.ndarray, Any, np.ndarray]:
    """What :func:`read_reviewed` reads of ``reviewed``, as rows of ``audit``, labels and fits-no-class."""
    table = read_reviewed(reviewed)
    rows = pd.Index(audit["sample_id"]).get_indexer(table["sample_id"])
    return rows, table["label"].astype(object), table["fits_no_class"].to_numpy()


# A check overrules the audit's count where that count lies outside the check's interval at
# this level: a right count is overruled about once in a hundred checks.
OVERRULE_LEVEL = 0.99


@dataclass(frozen=True)
class NoiseCheck:
    """The share of wrong labels a random check found (:func:`check_noise_rate`), with its
    ``level`` interval and standard deviation ``spread``; ``reviewed``: the reviews it read."""

    reviewed: int
    estimate: float
    low: float
    high: float
    spread: float
    level: float = 0.95

    @staticmethod
    def audit_share(audit: pd.DataFrame) -> float:
        """The share of wrong labels the audit counted where the check counts: the mean
        ``mislabel_prob`` of the samples it judged."""
        return float(audit["mislabel_prob"].to_numpy(dtype=np.float64)[_judged(audit)].mean())

    def overrules(self, audit: pd.DataFrame) -> int:
        """1 where the audit counts too few wrong labels for the check, -1 too many, 0 where
        its count (:meth:`audit_share`) is within the check's :data:`OVERRULE_LEVEL` interval."""
        counted = self.audit_share(audit)
        margin = NormalDist().inv_cdf((1 + OVERRULE_LEVEL) / 2) * self.spread
        return int(counted < self.estimate - margin) - int(counted > self.estimate + margin)

    def flags(self, audit: pd.DataFrame) -> np.ndarray:
        """The check's flags: as many of the most suspicious samples (by ``rank``) as it found
        wrong labels among the samples the audit judged, where the audit's own count is off."""
        by_rank = _judged_by_rank(audit)
        flagged = np.zeros(len(audit), dtype=bool)
        flagged[by_rank[: round(self.estimate * len(by_rank))]] = True
        return flagged

    def apply(self, audit: pd.DataFrame) -> pd.DataFrame:
        """The audit decided again with the check's count, where the check :meth:`overrules`
        it (else an unchanged copy).

        The check overrules the noise model's count, and with it the label shares its
        ``mislabel_prob`` weighs, so every judged sample's probability that its label is wrong
        starts again from the networks' own (``1 - given_prob``), moved by one shift of its
        log-odds (the order kept) so that their mean is the check's share; the suggestion keeps
        its part of it (``suggested_true_prob``: ``suggested_prob`` of ``1 - given_prob``). The
        flags are :meth:`flags` and every changed label. Changes answer to the low end of the
        check's interval, as the audit's answer to each label's low count: where the audit
        counted too few, a label is also changed where its suggestion is more probably right
        than the label even there; where it counted too many, its changes that are not are
        undone. ``rank`` and ``top_classes`` stay the audit's.
        """
        out = audit.copy()
        direction = self.overrules(audit)
        if not direction:
            return out
        judged = _judged(audit)
        was = 1 - audit["given_prob"].to_numpy(dtype=np.float64)
        part = np.divide(
            audit["suggested_prob"].to_numpy(dtype=np.float64),
            was,
            out=np.zeros(len(was)),
            where=was > 0,
        )
        mislabel = audit["mislabel_prob"].to_numpy(dtype=np.float64, copy=True)
        suggested = audit["suggested_true_prob"].to_numpy(dtype=np.float64, copy=True)
        mislabel[judged] = shifted_to_mean(was[judged], self.estimate)
        suggested[judged] = mislabel[judged] * part[judged]
        out["mislabel_prob"] = mislabel.astype(audit["mislabel_prob"].dtype)
        out["suggested_true_prob"] = suggested.astype(audit["suggested_true_prob"].dtype)
        given = out["given_label"].to_numpy()
        changed = out["corrected_label"].to_numpy() != given
        low = was.copy()
        low[judged] = shifted_to_mean(was[judged], self.low)
        holds = np.zeros(len(out), dtype=bool)
        holds[judged] = (low * part > 1 - low)[judged]
        changed = changed | holds if direction > 0 else changed & holds
        out["corrected_label"] = np.where(changed, out["suggested_label"].to_numpy(), given)
        out["is_suspicious"] = self.flags(out) | changed
        return out


def _judged(audit: pd.DataFrame) -> np.ndarray:
    """Row positions of the samples the audit judged: all but those reviewed before its fit."""
    if "reviewed" not in audit.columns:
        return np.arange(len(audit))
    return np.flatnonzero(audit["reviewed"].isna().to_numpy())


def _judged_by_rank(audit: pd.DataFrame) -> np.ndarray:
    """:func:`_judged`'s row positions, most suspicious first."""
    judged = _judged(audit)
    return judged[np.argsort(audit["rank"].to_numpy()[judged], kind="stable")]


def count_checked(
    audit: pd.DataFrame,
    rows: np.ndarray,
    labels: Sequence[Any],
    fits_no_class: np.ndarray,
    *,
    least: int = 2,
    level: float = 0.95,
    bands: list[np.ndarray] | None = None,
) -> NoiseCheck | None:
    """The :class:`NoiseCheck` of the reviewed samples at row positions ``rows`` of ``audit``
    (-1: a sample the audit does not have; ``labels`` and ``fits_no_class`` as in
    :func:`tally_reviews`). None until every stretch has ``least`` checked samples.

    A stretch of the ranking is read as far as its random order (``review_order(audit,
    "check")``) is reviewed without a gap: samples reviewed in another order (the most
    suspicious first) are counted only where the random order reaches them, so they cannot
    tilt the count. Each stretch's share of wrong labels is weighed by its size; its spread
    is that of the share's posterior (uniform prior: a stretch found all right or all wrong
    still has one), shrunk by the part of the stretch the check has read. ``bands``:
    :func:`check_bands` of ``audit``, where worked out already.
    """
    bands = check_bands(audit) if bands is None else bands
    if not bands:
        return None
    wrong_at = np.full(len(audit), -1)  # -1: not reviewed; else 1 where the label was wrong
    rows, wrong = _judged_reviews(audit, rows, labels, fits_no_class)
    wrong_at[rows] = wrong
    total = sum(len(band) for band in bands)
    estimate, variance, read = 0.0, 0.0, 0
    for band in bands:
        found = wrong_at[band]
        checked = int(np.argmax(found < 0)) if (found < 0).any() else len(band)
        if checked < min(least, len(band)):
            return None
        found_wrong = int(found[:checked].sum())
        share = found_wrong / checked
        posterior = (found_wrong + 1) * (checked - found_wrong + 1) / ((checked + 2) ** 2 * (checked + 3))
        weight = len(band) / total
        estimate += weight * share
        variance += weight**2 * posterior * (1 - checked / len(band))
        read += checked
    spread = variance**0.5
    half = NormalDist().inv_cdf((1 + level) / 2) * spread
    return NoiseCheck(read, estimate, max(0.0, estimate - half), min(1.0, estimate + half), spread, level)


def check_noise_rate(
    audit: pd.DataFrame, reviewed: str | os.PathLike | pd.DataFrame, level: float = 0.95
) -> NoiseCheck | None:
    """The share of wrong labels in the audit, counted from a random check by a reviewer
    rather than by the audit's model: the answer where the model cannot tell.

    The audit counts wrong labels where its networks are surest; labels that went wrong on
    ambiguous samples (instance-dependent noise, much human labelling) look there like a
    network's honest mistakes, so the audit counts too few of them (:func:`review_tally` shows
    it). A reviewer who reads the true labels of samples drawn alike from every stretch of the
    ranking (``review_order(audit, "check")``; the review app's "random check" order) counts
    them without that model: a hundred reviews give the share within about seven points.
    ``reviewed``: anything :func:`read_reviewed` reads. None until each of the
    :data:`CHECK_BANDS` stretches has two checked samples.

    >>> import pandas as pd
    >>> audit = pd.DataFrame({"sample_id": range(40), "given_label": ["cat", "dog"] * 20,
    ...                       "rank": range(1, 41)})
    >>> checked = audit.iloc[review_order(audit, "check")[:20]]  # two of each stretch of four
    >>> review = pd.DataFrame({"sample_id": checked["sample_id"], "label": checked["given_label"],
    ...                        "fits_no_class": False, "decision": "keep"})
    >>> review.loc[checked.index[0], ["label", "decision"]] = ["dog", "relabel"]  # one was wrong
    >>> check = check_noise_rate(audit, review)
    >>> round(check.estimate, 3), check.reviewed
    (0.05, 20)
    """
    return count_checked(audit, *_reviews_of(audit, reviewed), level=level)


def review_tally(audit: pd.DataFrame, reviewed: str | os.PathLike | pd.DataFrame) -> ReviewTally | None:
    """How many of the labels a reviewer decided were wrong, against how many the audit's
    ``mislabel_prob`` expected among the same samples: the one check of its estimates on your
    own data.

    ``audit``: :func:`read_audit`'s table; ``reviewed``: anything :func:`read_reviewed` reads
    (the app's decisions file, its exported corrections). The audit's count of wrong labels is
    read where its networks are surest, and noise that strikes ambiguous samples (instance-
    dependent, often human) is undercounted there: a review of the most suspicious samples then
    finds far more wrong labels than expected (``verdict`` "more").

    >>> import pandas as pd
    >>> audit = pd.DataFrame({"sample_id": [0, 1, 2], "given_label": ["cat", "dog", "cat"],
    ...                       "mislabel_prob": [0.1, 0.2, 0.9]})
    >>> review = pd.DataFrame({"sample_id": [0, 2], "label": ["dog", "cat"],
    ...                        "fits_no_class": [False, False], "decision": ["relabel", "keep"]})
    >>> review_tally(audit, review)
    ReviewTally(reviewed=2, wrong=1, expected=1.0, spread=0.4242640687119285)
    """
    return tally_reviews(audit, *_reviews_of(audit, reviewed))
