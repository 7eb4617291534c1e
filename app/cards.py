"""What the review grid component draws: one JSON-ready dict per card and one for the larger view.

Pictures travel inside the data as ``data:`` URIs: small ones exactly as stored (the browser
scales them up, pixels sharp), large ones shrunk once and cached by file path and stamp.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from .decisions import DecisionStore
from .review import ROW, AuditData, neighbours, position, top_classes
from .sources import UnsafePathError, fetch_images, file_stamp, is_file_source, picture, resolve_source

CARD_SIDE = 192  # pixels: pictures larger than this are shrunk for the grid
FULL_SIZE_LIMIT = 32 * 2**20  # bytes: larger files are shown shrunk in the larger view too
LARGE_SIDE = 2048
DECIDED_TEXT = {"accept": "accepted", "keep": "kept", "relabel": "relabelled", "none": "fits no class"}


@st.cache_data(max_entries=4096, show_spinner=False)
def _file_picture(real_path: str, stamp: tuple[int, int], max_side: int | None) -> dict[str, Any]:
    found = picture(Path(real_path).read_bytes(), max_side)
    return {"image": found.data_uri(), "width": found.width, "height": found.height, "format": found.format}


@st.cache_data(max_entries=64, show_spinner=False)
def _stored_images(path: str, stamp: tuple[int, int], rows: tuple[int, ...]) -> dict[int, bytes]:
    """The ``image`` bytes of these file rows (read row group by row group)."""
    return fetch_images(path, rows)


def _placeholder(kind: str, title: str, detail: str, tooltip: str) -> dict[str, Any]:
    return {
        "image": None,
        "placeholder": {"kind": kind, "title": title, "detail": detail, "tooltip": tooltip},
    }


def _file_fields(audit: AuditData, source: str, max_side: int | None) -> dict[str, Any]:
    try:
        real = resolve_source(source, audit.root, audit.base)
        if max_side is None and real.stat().st_size > FULL_SIZE_LIMIT:
            max_side = LARGE_SIDE
        return _file_picture(str(real), file_stamp(real), max_side)
    except UnsafePathError as err:
        if err.kind == "outside":
            return _placeholder(
                "refused", "Refused", f"resolves outside the dataset root, to {err.path}", str(err)
            )
        if err.kind == "no-root":
            return _placeholder(
                "refused", "Refused", f"no dataset root to serve files from: {audit.root_origin}", str(err)
            )
        return _placeholder("missing", "Missing file", Path(source).name, str(err))
    except Exception as err:  # a corrupt or non-image file
        return _placeholder("missing", "Cannot show", Path(source).name, f"{type(err).__name__}: {err}")


def image_fields(
    audit: AuditData, row: Any, stored: dict[int, bytes], max_side: int | None
) -> dict[str, Any]:
    """The picture of one row (``image`` as a data URI, its size) or a placeholder saying why not."""
    source = audit.source(row.file_row)
    if is_file_source(source):
        return _file_fields(audit, source, max_side)
    data = stored.get(int(row.file_row))
    if data is None:
        return _placeholder("missing", "No image", source, "the audit stores no image for this row")
    try:
        found = picture(data, max_side)
    except Exception as err:
        return _placeholder("missing", "Cannot show", source, f"{type(err).__name__}: {err}")
    return {"image": found.data_uri(), "width": found.width, "height": found.height, "format": found.format}


def stored_images(audit: AuditData, rows: pd.DataFrame) -> dict[int, bytes]:
    """The audit's stored images for those of ``rows`` that are not files."""
    need = tuple(int(r) for r in rows[ROW] if not is_file_source(audit.source(r)))
    if not need or not audit.has_images:
        return {}
    return _stored_images(str(audit.path), file_stamp(audit.path), need)


def decision_text(audit: AuditData, entry: dict[str, Any] | None) -> str | None:
    if not entry:
        return None
    text = DECIDED_TEXT[entry["decision"]]
    return text if entry["decision"] == "none" else f"{text} → {audit.name(entry['final_label'])}"


def card(audit: AuditData, store: DecisionStore, row: Any, stored: dict[int, bytes]) -> dict[str, Any]:
    source = audit.source(row.file_row)
    return {
        "id": str(row.sample_id),
        "rank": int(row.rank),
        "flagged": bool(row.is_suspicious),
        "source": source,
        "name": Path(source).name if is_file_source(source) else source,
        "given": audit.name(row.given_label),
        "given_prob": float(row.given_prob),
        "suggested": audit.name(row.suggested_label),
        "suggested_prob": float(row.suggested_prob),
        "same": bool(row.given_label == row.suggested_label),
        "mislabel_prob": float(row.mislabel_prob),
        "loss": float(row.loss),
        "decision": decision_text(audit, store.get(row.sample_id)),
        **image_fields(audit, row, stored, CARD_SIDE),
    }


def cards(audit: AuditData, store: DecisionStore, rows: pd.DataFrame) -> list[dict[str, Any]]:
    stored = stored_images(audit, rows)
    return [card(audit, store, row, stored) for row in rows.itertuples(index=False)]


def detail(
    audit: AuditData, store: DecisionStore, view: pd.DataFrame, sample_id: str
) -> dict[str, Any] | None:
    """The larger view of one sample of ``view``: the image at full resolution, the model's
    top classes, its source and its neighbours in the ranking; ``None`` if the view lacks it."""
    at = position(view, audit.sample_id(sample_id))
    if at is None:
        return None
    near = neighbours(view, at)
    stored = stored_images(audit, near)
    row = next(view.iloc[at : at + 1].itertuples(index=False))
    shown = card(audit, store, row, stored)
    full = image_fields(audit, row, stored, None)
    top, complete = top_classes(audit, row)
    ids = view["sample_id"]
    return {
        **shown,
        **full,
        "image_note": _image_note(full, is_file_source(audit.source(row.file_row))),
        "top": top,
        "top_complete": complete,
        "true_prob": _optional_float(getattr(row, "suggested_true_prob", None)),
        "position": at + 1,
        "view_size": len(view),
        "prev_id": str(ids.iloc[at - 1]) if at > 0 else None,
        "next_id": str(ids.iloc[at + 1]) if at + 1 < len(view) else None,
        "neighbours": [card(audit, store, r, stored) for r in near.itertuples(index=False)],
    }


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _image_note(fields: dict[str, Any], is_file: bool) -> str:
    if fields.get("image") is None:
        return ""
    size = f"{fields['width']}x{fields['height']} px {fields['format']}"
    return f"the file, {size}" if is_file else f"the audit's stored copy, {size}"
