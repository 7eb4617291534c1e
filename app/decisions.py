"""The reviewer's decisions, saved as they are made, and the corrections they export to.

- :class:`DecisionStore` keeps the decisions in ``<audit stem>.decisions.json`` beside the
  audit, rewritten atomically (temporary file in the same folder, then ``os.replace``)
  after every change; each change returns what it replaced, so it can be undone.
- :func:`build_corrections` / :func:`write_corrections` export one final label per sample.
- :func:`apply_snippet` and :func:`refit_snippet` are the code the Export tab shows.

Both files' formats are documented (and read back) by :func:`labelclean.auditfile.read_reviewed`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelclean.auditfile import DECISIONS, REVIEWER_PREFIX, NoiseCheck, corrections_paths, decisions_path
from labelclean.fileio import atomic_write

from .review import ROW, AuditData, _plain

__all__ = [
    "CORRECTION_COLUMNS",
    "DecisionStore",
    "apply_snippet",
    "build_corrections",
    "refit_snippet",
    "write_corrections",
]

Entry = dict[str, Any]  # {"decision", "final_label", "time"}


_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> threading.Lock:
    """One lock per decisions file in this server: its sessions (browser tabs) run in threads,
    and each change re-reads the file and writes it whole."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path.absolute(), threading.Lock())


def _write_bytes(path: str, data: bytes) -> None:
    """The one writer :func:`~labelclean.fileio.atomic_write` calls (it syncs the file)."""
    Path(path).write_bytes(data)


class DecisionStore:
    """The reviewer's decisions for one audit, saved after every change.

    The file maps ``sample_id`` (a JSON string key) to ``{"decision", "final_label",
    "time"}``, one sample per line. Each change re-reads it when it changed on disk (another
    tab, a restarted server) and rewrites it under a lock shared by the server's sessions,
    so concurrent sessions add to each other's decisions rather than overwrite them.
    """

    def __init__(self, path: str | os.PathLike, id_type: type = int):
        self.path = Path(path)
        self.id_type = id_type
        self._decisions: dict[Any, Entry] = {}
        self._stamp: tuple[int, int, int] | None = None
        self.refresh()

    @classmethod
    def for_audit(cls, audit: AuditData) -> DecisionStore:
        dtype = audit.frame["sample_id"].dtype
        return cls(decisions_path(audit.path), int if pd.api.types.is_integer_dtype(dtype) else str)

    def _disk_stamp(self) -> tuple[int, int, int] | None:
        """Changes with every write: each one replaces the file (a new inode)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def refresh(self) -> None:
        """Re-read the file if it changed since this store last read or wrote it."""
        stamp = self._disk_stamp()
        if stamp == self._stamp:
            return
        raw = json.loads(self.path.read_text()) if stamp is not None else {}
        self._decisions = {self.id_type(k): v for k, v in raw.items()}
        self._stamp = stamp

    def _key(self, sample_id: Any) -> Any:
        return self.id_type(_plain(sample_id))

    def _change(self, changes: Mapping[Any, Entry | None]) -> dict[Any, Entry | None]:
        """Set (or with ``None`` remove) entries, save, and return the entries they replaced.

        On a failed save nothing changes, in memory or on disk.
        """
        with _file_lock(self.path):
            self.refresh()
            previous = {key: self._decisions.get(key) for key in changes}
            before = dict(self._decisions)
            for key, entry in changes.items():
                if entry is None:
                    self._decisions.pop(key, None)
                else:
                    self._decisions[key] = entry
            lines = ",\n".join(f"{json.dumps(str(k))}: {json.dumps(v)}" for k, v in self._decisions.items())
            try:
                atomic_write(self.path, lambda tmp: _write_bytes(tmp, ("{\n" + lines + "\n}\n").encode()))
            except BaseException:
                self._decisions = before
                raise
            self._stamp = self._disk_stamp()
        return previous

    def record(self, sample_id: Any, decision: str, final_label: Any) -> dict[Any, Entry | None]:
        """Record one decision (``accept``, ``keep``, ``relabel`` or ``none``) and save."""
        return self.record_many([(sample_id, decision, final_label)])

    def record_many(self, items: Iterable[tuple[Any, str, Any]]) -> dict[Any, Entry | None]:
        """Record many decisions with one save; returns the entries they replaced."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        changes: dict[Any, Entry | None] = {}
        for sample_id, decision, final_label in items:
            if decision not in DECISIONS:
                raise ValueError(f"unknown decision {decision!r}; one of {list(DECISIONS)}")
            label = None if decision == "none" else _plain(final_label)
            changes[self._key(sample_id)] = {"decision": decision, "final_label": label, "time": now}
        return self._change(changes)

    def clear(self, sample_id: Any) -> dict[Any, Entry | None]:
        """Forget the decision on one sample and save; returns what it was."""
        return self._change({self._key(sample_id): None})

    def restore(self, previous: Mapping[Any, Entry | None]) -> None:
        """Put back entries returned by a change (an undo)."""
        self._change(dict(previous))

    def get(self, sample_id: Any) -> Entry | None:
        return self._decisions.get(self._key(sample_id))

    def ids(self) -> list[Any]:
        return list(self._decisions)

    def as_dict(self) -> dict[Any, Entry]:
        return dict(self._decisions)

    def __len__(self) -> int:
        return len(self._decisions)

    def __contains__(self, sample_id: Any) -> bool:
        return self._key(sample_id) in self._decisions


# --- export ----------------------------------------------------------------------------------

CORRECTION_COLUMNS = ("sample_id", "source", "given_label", "final_label", "decided_by")


def build_corrections(
    audit: AuditData, decisions: Mapping[Any, Mapping[str, Any]], check: NoiseCheck | None = None
) -> pd.DataFrame:
    """One row per sample, in input order: its final label and who decided it.

    ``decided_by`` is ``reviewer: accept|keep|relabel|none`` for reviewed samples and
    ``auto: corrected_label`` for the rest (whose final label is the audit's
    ``corrected_label``, or with a random ``check`` that overrules the audit's count, the
    audit decided again with the check's: ``auto: corrected_label, random check``). Samples
    marked "fits no class" have an empty ``final_label``.
    """
    frame = audit.frame if check is None else check.apply(audit.frame)
    frame = frame.sort_values(ROW, kind="stable")
    final = frame["corrected_label"].astype(object).to_numpy(copy=True)
    automatic = "auto: corrected_label" if check is None else "auto: corrected_label, random check"
    decided_by = np.full(len(frame), automatic, dtype=object)
    if decisions:
        index = pd.Index(frame["sample_id"])
        keys = list(decisions)
        for key, position in zip(keys, index.get_indexer(keys), strict=True):
            if position < 0:
                continue  # a decision on a sample this audit no longer has
            final[position] = decisions[key].get("final_label")
            decided_by[position] = REVIEWER_PREFIX + str(decisions[key].get("decision"))
    label_dtype = frame["given_label"].dtype
    if isinstance(label_dtype, pd.CategoricalDtype):
        label_dtype = label_dtype.categories.dtype
    if pd.api.types.is_integer_dtype(label_dtype):
        final_column = pd.array(final, dtype="Int64")
    elif pd.api.types.is_float_dtype(label_dtype):
        final_column = pd.array(final, dtype="Float64")
    else:
        final_column = pd.array([None if v is None else str(v) for v in final], dtype="string")
    return pd.DataFrame(
        {
            "sample_id": frame["sample_id"].to_numpy(),
            "source": audit.sources.to_numpy()[frame[ROW].to_numpy()],
            "given_label": np.asarray(frame["given_label"].astype(label_dtype)),
            "final_label": final_column,
            "decided_by": decided_by.astype(str),
        }
    )


def write_corrections(audit: AuditData, corrections: pd.DataFrame) -> tuple[Path, Path]:
    """Write the corrections as CSV and Parquet beside the audit, each atomically."""
    csv_path, parquet_path = corrections_paths(audit.path)
    atomic_write(csv_path, lambda tmp: corrections.to_csv(tmp, index=False))
    atomic_write(parquet_path, lambda tmp: corrections.to_parquet(tmp, index=False))
    return csv_path, parquet_path


def apply_snippet(parquet_path: str | os.PathLike, label_column: str = "label") -> str:
    """pandas lines that apply exported corrections to a DataFrame ``df`` indexed by sample_id.

    Samples that fit no class are dropped; every other label is cast to the column's type,
    so integer, string and categorical label columns all take it.
    """
    column = repr(label_column)
    return (
        f"fixes = pd.read_parquet({str(parquet_path)!r})\n"
        "fits = fixes.final_label.notna()  # False: the reviewer said it fits no class\n"
        f"df.loc[fixes.sample_id[fits], {column}] = "
        f"fixes.final_label[fits].astype(df[{column}].dtype).to_numpy()\n"
        "df = df.drop(index=fixes.sample_id[~fits])"
    )


def refit_snippet(audit: AuditData) -> str:
    """The lines that train again with the reviewed labels as fixed targets (with the audit's
    own settings when its metadata has them), then take the corrected labels and the samples
    to keep (not those the reviewer said fit no class)."""
    source = str(audit.metadata.get("data_source", ""))
    if source.startswith("image folder "):
        data = f"X, y = {source.removeprefix('image folder ')!r}, None  # the first fit's image folder\n"
    elif source.startswith("array "):
        data = "# X, y: the arrays of the first fit (arrays need their labels)\n"
    else:
        data = "# X, y: the data and labels of the first fit (y=None where the labels came with X)\n"
    reviewed = f"reviewed={str(decisions_path(audit.path))!r}"
    if audit.metadata.get("params"):
        head = (
            "from labelclean import SLNCleaner, read_audit_metadata\n\n"
            f"params = read_audit_metadata({str(audit.path)!r})['params']  # the audit's own settings\n"
        )
        fit = f"cleaner = SLNCleaner(**params).fit(X, y, {reviewed})\n"
    else:
        head = "from labelclean import SLNCleaner\n\n"
        fit = f"cleaner = SLNCleaner().fit(X, y, {reviewed})\n"
    return (
        head
        + data
        + fit
        + "labels = cleaner.correct_labels()\n"
        + "keep = cleaner.keep_mask()  # False where the reviewer said the sample fits no class\n"
        + "# train on the kept samples: X[keep] with labels[keep] (arrays), "
        + "cleaner.audit()['source'][keep] (files)"
    )
