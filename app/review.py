"""The review app's logic, without Streamlit: load an audit, filter, page, decide, export.

Everything here is a plain function or a small class so that it can be tested without a
browser. The app (``app/main.py``) only draws what these return.

- :func:`load_audit` reads every audit column but ``image`` once (one ``pyarrow`` read,
  sorted most-suspicious first); :func:`fetch_images` reads the ``image`` bytes of just the
  rows on screen, one Parquet row group at a time.
- :func:`filter_audit` and :func:`page_rows` are boolean masks and slices over that frame,
  so a page of a 1,000,000-row audit takes milliseconds.
- :class:`DecisionStore` keeps the reviewer's decisions in ``<audit stem>.decisions.json``
  beside the audit, rewritten atomically (temporary file in the same folder, then
  ``os.replace``) after every decision.
- :func:`build_corrections` / :func:`write_corrections` export one final label per sample.
- :func:`resolve_source` serves image files only from inside the dataset's root.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labelclean import AUDIT_COLUMNS, read_audit_metadata
from labelclean.fileio import atomic_write

__all__ = [
    "DECISIONS",
    "AuditData",
    "DecisionStore",
    "Filters",
    "UnsafePathError",
    "apply_snippet",
    "atomic_write_bytes",
    "build_corrections",
    "confusion_pairs",
    "corrections_paths",
    "dataset_root",
    "decisions_path",
    "fetch_images",
    "filter_audit",
    "is_file_source",
    "load_audit",
    "page_count",
    "page_rows",
    "per_class_rates",
    "resolve_source",
    "summary",
    "thumbnail",
    "write_corrections",
]

ROW = "file_row"  # physical row of the sample in the Parquet file, for fetching its image
IMAGE_COLUMN = "image"
DECISIONS = {
    "accept": "accept the suggestion",
    "keep": "keep the given label",
    "relabel": "relabel",
    "none": "fits no class",
}
# labelclean writes "row N" (plus " (path)" or " (missing path)") for samples that are not files.
_ROW_SOURCE = re.compile(r"^row \d+( \(.*\))?$")
_IMAGE_FOLDER = "image folder "


class UnsafePathError(ValueError):
    """A ``source`` that is not served: ``kind`` is ``"outside"`` (it resolves outside the
    dataset's root), ``"no-root"`` (the audit has no safe root), ``"missing"`` or ``"not-a-file"``;
    ``path`` is where it resolved to, when it got that far."""

    def __init__(self, message: str, kind: str = "outside", path: Path | None = None):
        super().__init__(message)
        self.kind = kind
        self.path = path


# --- loading ---------------------------------------------------------------------------------


@dataclass
class AuditData:
    """An audit's light columns, ranked, with what the app needs to show and fix it.

    ``frame`` holds every audit column except ``image`` plus ``file_row`` (the sample's row in
    the file), sorted by ``rank`` (most suspicious first), with a fresh 0..N-1 index.
    """

    path: Path
    frame: pd.DataFrame
    metadata: dict[str, Any]
    classes: list[Any]
    class_names: list[str]
    has_images: bool
    root: Path | None
    base: Path
    root_origin: str = ""
    names: dict[Any, str] = field(default_factory=dict)

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


def _plain(value: Any) -> Any:
    """A NumPy scalar as the equal Python scalar (JSON-friendly, hashable like the metadata)."""
    return value.item() if isinstance(value, np.generic) else value


def load_audit(path: str | os.PathLike, root: str | os.PathLike | None = None) -> AuditData:
    """Read an audit's light columns (never ``image``) and its labelclean metadata.

    ``root`` overrides the dataset root that image files must lie in (see :func:`dataset_root`).
    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a Parquet file that
    is not a labelclean audit.
    """
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise FileNotFoundError(f"no audit file at {path}")
    try:
        metadata = read_audit_metadata(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(f"{path} is not a Parquet file: {err}") from err
    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    missing = [c for c in AUDIT_COLUMNS if c not in names]
    if missing:
        raise ValueError(f"{path} lacks audit columns {missing}")
    table = parquet.read(columns=list(AUDIT_COLUMNS))
    table = table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    table = table.take(pc.sort_indices(table, sort_keys=[("rank", "ascending"), (ROW, "ascending")]))
    frame = table.to_pandas()
    classes = list(metadata.get("classes") or [])
    if not classes:
        classes = sorted(pd.unique(pd.concat([frame["given_label"], frame["suggested_label"]])).tolist())
    class_names = metadata.get("class_names") or [str(c) for c in classes]
    if len(class_names) != len(classes):
        class_names = [str(c) for c in classes]
    base = audit_base(path, metadata, table.column("source"))
    found_root, origin = dataset_root(table.column("source"), metadata, base)
    if root is not None:
        found_root, origin = Path(root).expanduser().resolve(), "given"
    return AuditData(
        path=path,
        frame=frame,
        metadata=metadata,
        classes=[_plain(c) for c in classes],
        class_names=[str(n) for n in class_names],
        has_images=IMAGE_COLUMN in names,
        root=found_root,
        base=base,
        root_origin=origin,
        names={_plain(c): str(n) for c, n in zip(classes, class_names, strict=True)},
    )


# --- paths: where images may come from -------------------------------------------------------


def is_file_source(source: str) -> bool:
    """Whether a ``source`` names a file (not a ``row N`` dataset / array row)."""
    return bool(source) and not _ROW_SOURCE.match(source)


def _file_sources(sources: pa.ChunkedArray | Sequence[str]) -> pa.ChunkedArray | pa.Array:
    array = sources if isinstance(sources, pa.ChunkedArray | pa.Array) else pa.array(list(sources))
    is_row = pc.match_substring_regex(array, _ROW_SOURCE.pattern)
    return pc.filter(array, pc.invert(pc.fill_null(is_row, True)))


def _metadata_root(metadata: Mapping[str, Any]) -> str | None:
    source = str(metadata.get("data_source") or "")
    return source[len(_IMAGE_FOLDER) :] if source.startswith(_IMAGE_FOLDER) else None


def audit_base(path: Path, metadata: Mapping[str, Any], sources: pa.ChunkedArray | Sequence[str]) -> Path:
    """The folder that relative sources are read against.

    labelclean stores paths as they were given to ``fit``, so relative paths are relative
    to where ``fit`` ran: the current folder when it holds them, else the audit's folder.
    """
    candidates = [Path.cwd(), path.parent]
    probe = _metadata_root(metadata)
    if probe is None:
        files = _file_sources(sources)
        probe = files[0].as_py() if len(files) else None
    if probe is not None and not Path(probe).is_absolute():
        for folder in candidates:
            if (folder / probe).exists():
                return folder
    return path.parent


def _has_parent_step(path: str) -> bool:
    return ".." in re.split(r"[/\\]", path)


def dataset_root(
    sources: pa.ChunkedArray | Sequence[str], metadata: Mapping[str, Any], base: Path
) -> tuple[Path | None, str]:
    """The folder that every image file must resolve into, and where it came from.

    An image-folder audit names its folder in the metadata (``data_source``); otherwise the
    root is the common parent folder of the file sources. Sources with a ``..`` step do not
    count towards that parent (one ``../../etc/passwd`` must not widen the root to ``/``).
    Returns ``(None, reason)`` when the audit has no file sources, or when the common parent
    would be the filesystem's root.
    """
    named = _metadata_root(metadata)
    if named:
        return (base / named).resolve(), "metadata"
    files = _file_sources(sources)
    if len(files) == 0:
        return None, "no file sources"
    parents = pc.unique(pc.replace_substring_regex(files, r"[/\\][^/\\]*$", "")).to_pylist()
    parents = [p or "." for p in parents if not _has_parent_step(p)]
    if not parents:
        return None, "every file source steps out with '..'"
    absolute = [os.path.normpath(base / p) for p in parents]
    try:
        common = Path(os.path.commonpath(absolute))
    except ValueError:  # different drives
        return None, "file sources on different drives"
    common = common.resolve()
    if common == Path(common.anchor):
        return None, "the sources' common folder is the filesystem root; pass --root"
    return common, "common parent of the file sources"


def resolve_source(source: str, root: Path | None, base: Path) -> Path:
    """The real path of a file ``source``, refusing anything that resolves outside ``root``.

    Symbolic links and ``..`` steps are followed first (``Path.resolve``), so neither a
    ``../../etc/passwd`` source nor a link inside the root that points elsewhere gets out.
    """
    if not is_file_source(source):
        raise UnsafePathError(f"{source!r} is not a file", "not-a-file")
    if root is None:
        raise UnsafePathError(f"refused: no dataset root to serve {source} from", "no-root")
    real = (base / source).resolve()
    real_root = root.resolve()
    if not real.is_relative_to(real_root):
        raise UnsafePathError(
            f"refused: {source} resolves to {real}, outside the dataset root {real_root}", "outside", real
        )
    if not real.is_file():
        raise UnsafePathError(f"missing file: {real}", "missing", real)
    return real


# --- images ----------------------------------------------------------------------------------


def fetch_images(path: str | os.PathLike, rows: Iterable[int]) -> dict[int, bytes]:
    """The ``image`` bytes of the given file rows, reading only the row groups that hold them.

    Returns ``{row: png_bytes}``; empty when the audit has no ``image`` column.
    """
    rows = sorted({int(r) for r in rows})
    parquet = pq.ParquetFile(path)
    if not rows or IMAGE_COLUMN not in parquet.schema_arrow.names:
        return {}
    sizes = [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    groups = np.searchsorted(starts, rows, side="right") - 1
    images: dict[int, bytes] = {}
    for group in np.unique(groups):
        column = parquet.read_row_group(int(group), columns=[IMAGE_COLUMN]).column(0)
        for row in np.asarray(rows)[groups == group]:
            images[int(row)] = column[int(row - starts[group])].as_py()
    return images


def thumbnail(data: bytes, size: int = 192) -> bytes:
    """PNG bytes of an image scaled for a review card.

    Small images (the demo's 8x8 digits) are enlarged by a whole factor with nearest
    neighbour, so pixels stay sharp; large ones are shrunk to ``size`` on their long side.
    """
    from PIL import Image

    with Image.open(io.BytesIO(data)) as picture:
        picture.load()
        if picture.mode not in ("RGB", "RGBA", "L"):
            picture = picture.convert("RGB")
        side = max(picture.size)
        if side * 2 <= size:
            factor = size // side
            picture = picture.resize(
                (picture.width * factor, picture.height * factor), Image.Resampling.NEAREST
            )
        elif side > size:
            picture.thumbnail((size, size), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        picture.save(out, format="PNG")
        return out.getvalue()


# --- filters and pages -----------------------------------------------------------------------


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


# --- overview --------------------------------------------------------------------------------


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
    flagged = audit.frame[audit.frame["is_suspicious"].to_numpy(dtype=bool)]
    counts = flagged.groupby(["given_label", "suggested_label"]).size().rename("count").reset_index()
    counts = counts[counts["count"] > 0].sort_values(
        ["count", "given_label", "suggested_label"], ascending=[False, True, True], kind="stable"
    )
    counts["given"] = [audit.name(v) for v in counts["given_label"]]
    counts["suggested"] = [audit.name(v) for v in counts["suggested_label"]]
    return counts.reset_index(drop=True)


# --- decisions -------------------------------------------------------------------------------


def decisions_path(audit_path: str | os.PathLike) -> Path:
    """``<audit stem>.decisions.json`` beside the audit."""
    audit_path = Path(audit_path)
    return audit_path.with_name(f"{audit_path.stem}.decisions.json")


def _write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` and flush it to disk (the one writer the atomic write calls)."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically replace ``path`` with ``data``."""
    return atomic_write(path, lambda tmp: _write_bytes(tmp, data))


class DecisionStore:
    """The reviewer's decisions for one audit, saved after every change.

    The file maps ``sample_id`` (a JSON string key) to ``{"decision", "final_label",
    "time"}``. It is re-read whenever it changed on disk (another tab, a restarted server),
    so concurrent sessions add to each other's decisions rather than overwrite them.
    """

    def __init__(self, path: str | os.PathLike, id_type: type = int):
        self.path = Path(path)
        self.id_type = id_type
        self._decisions: dict[Any, dict[str, Any]] = {}
        self._stamp: tuple[int, int] | None = None
        self.refresh()

    @classmethod
    def for_audit(cls, audit: AuditData) -> DecisionStore:
        dtype = audit.frame["sample_id"].dtype
        return cls(decisions_path(audit.path), int if pd.api.types.is_integer_dtype(dtype) else str)

    def _disk_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def refresh(self) -> None:
        """Re-read the file if it changed since this store last read or wrote it."""
        stamp = self._disk_stamp()
        if stamp == self._stamp:
            return
        raw = json.loads(self.path.read_text()) if stamp is not None else {}
        self._decisions = {self.id_type(k): v for k, v in raw.items()}
        self._stamp = stamp

    def _save(self) -> None:
        data = json.dumps({str(k): v for k, v in self._decisions.items()}, indent=1).encode()
        atomic_write_bytes(self.path, data)
        self._stamp = self._disk_stamp()

    def record(self, sample_id: Any, decision: str, final_label: Any) -> None:
        """Record one decision (``accept``, ``keep``, ``relabel`` or ``none``) and save."""
        self.record_many([(sample_id, decision, final_label)])

    def record_many(self, items: Iterable[tuple[Any, str, Any]]) -> int:
        """Record many decisions with one save; returns how many were recorded."""
        self.refresh()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        previous = dict(self._decisions)
        count = 0
        for sample_id, decision, final_label in items:
            if decision not in DECISIONS:
                raise ValueError(f"unknown decision {decision!r}; one of {list(DECISIONS)}")
            label = None if decision == "none" else _plain(final_label)
            self._decisions[self.id_type(_plain(sample_id))] = {
                "decision": decision,
                "final_label": label,
                "time": now,
            }
            count += 1
        try:
            self._save()
        except BaseException:
            self._decisions = previous
            raise
        return count

    def clear(self, sample_id: Any) -> None:
        """Forget the decision on one sample (undo) and save."""
        self.refresh()
        key = self.id_type(_plain(sample_id))
        if key in self._decisions:
            previous = dict(self._decisions)
            del self._decisions[key]
            try:
                self._save()
            except BaseException:
                self._decisions = previous
                raise

    def get(self, sample_id: Any) -> dict[str, Any] | None:
        return self._decisions.get(self.id_type(_plain(sample_id)))

    def ids(self) -> list[Any]:
        return list(self._decisions)

    def as_dict(self) -> dict[Any, dict[str, Any]]:
        return dict(self._decisions)

    def __len__(self) -> int:
        return len(self._decisions)

    def __contains__(self, sample_id: Any) -> bool:
        return self.id_type(_plain(sample_id)) in self._decisions


# --- export ----------------------------------------------------------------------------------

CORRECTION_COLUMNS = ("sample_id", "source", "given_label", "final_label", "decided_by")


def build_corrections(audit: AuditData, decisions: Mapping[Any, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per sample, in input order: its final label and who decided it.

    ``decided_by`` is ``reviewer: accept|keep|relabel|none`` for reviewed samples and
    ``auto: corrected_label`` for the rest (whose final label is the audit's
    ``corrected_label``). Samples marked "fits no class" have an empty ``final_label``.
    """
    frame = audit.frame.sort_values(ROW, kind="stable")
    final = frame["corrected_label"].astype(object).to_numpy(copy=True)
    decided_by = np.full(len(frame), "auto: corrected_label", dtype=object)
    if decisions:
        index = pd.Index(frame["sample_id"])
        keys = list(decisions)
        positions = index.get_indexer(keys)
        for key, position in zip(keys, positions, strict=True):
            if position < 0:
                continue  # a decision on a sample this audit no longer has
            entry = decisions[key]
            final[position] = entry.get("final_label")
            decided_by[position] = f"reviewer: {entry.get('decision')}"
    label_dtype = frame["given_label"].dtype
    if pd.api.types.is_integer_dtype(label_dtype):
        final_column = pd.array(final, dtype="Int64")
    elif pd.api.types.is_float_dtype(label_dtype):
        final_column = pd.array(final, dtype="Float64")
    else:
        final_column = pd.array([None if v is None else str(v) for v in final], dtype="string")
    return pd.DataFrame(
        {
            "sample_id": frame["sample_id"].to_numpy(),
            "source": frame["source"].to_numpy(),
            "given_label": frame["given_label"].to_numpy(),
            "final_label": final_column,
            "decided_by": decided_by.astype(str),
        }
    )


def corrections_paths(audit_path: str | os.PathLike) -> tuple[Path, Path]:
    """``<audit stem>.corrections.csv`` and ``.parquet`` beside the audit."""
    audit_path = Path(audit_path)
    stem = f"{audit_path.stem}.corrections"
    return audit_path.with_name(f"{stem}.csv"), audit_path.with_name(f"{stem}.parquet")


def write_corrections(audit: AuditData, corrections: pd.DataFrame) -> tuple[Path, Path]:
    """Write the corrections as CSV and Parquet beside the audit, each atomically."""
    csv_path, parquet_path = corrections_paths(audit.path)
    atomic_write(csv_path, lambda tmp: corrections.to_csv(tmp, index=False))
    atomic_write(parquet_path, lambda tmp: corrections.to_parquet(tmp, index=False))
    return csv_path, parquet_path


def apply_snippet(parquet_path: str | os.PathLike, label_column: str = "label") -> str:
    """The two lines of pandas that apply exported corrections to a DataFrame indexed by sample_id."""
    return (
        f"fixes = pd.read_parquet({str(parquet_path)!r})\n"
        f'df.loc[fixes.sample_id, "{label_column}"] = fixes.final_label.values'
    )


def file_stamp(path: str | os.PathLike) -> tuple[int, int]:
    """``(mtime_ns, size)`` of a file: a cache key that changes whenever the file does."""
    stat = Path(path).stat()
    return stat.st_mtime_ns, stat.st_size
