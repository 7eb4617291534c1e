"""What the review grid component draws: one JSON-ready dict per card and one for the larger view.

Pictures travel inside the data as ``data:`` URIs: small ones exactly as stored (the browser
scales them up, pixels sharp), large ones shrunk once and cached by file path and stamp. The
larger view's picture (a bounded copy of a heavy file, prepared ahead for the samples that
follow) is sent once per session and kept by the browser (``image_key``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from labelclean.auditfile import review_gain

from .decisions import DecisionStore
from .review import ROW, AuditData, neighbours, position, top_classes
from .sources import UnsafePathError, fetch_images, file_stamp, is_file_source, picture, resolve_source

CARD_SIDE = 192  # pixels: pictures larger than this are shrunk for the grid
DETAIL_SIDE = 1600  # pixels: the larger view's copy of a photo (zoom shows it at full size)
LIGHT_FILE = 2**20  # bytes: the larger view shows files this light as they are
PREFETCH = 2  # the larger view prepares the copies of this many samples after the one shown
SHARP_SIDE = 128  # pixels: images this small are scaled up with their pixels kept sharp
NEAR = 4  # neighbours on each side in the larger view
DECIDED_TEXT = {"accept": "accepted", "keep": "kept", "relabel": "relabelled", "none": "fits no class"}


@st.cache_data(max_entries=4096, show_spinner=False)
def _file_picture(real_path: str, stamp: tuple[int, int], max_side: int | None) -> dict[str, Any]:
    return _fields(picture(Path(real_path).read_bytes(), max_side))


_LARGE: OrderedDict[tuple[str, tuple[int, int]], Future] = OrderedDict()
_LARGE_LOCK = threading.Lock()
_LARGE_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="labelclean-large")
KEEP_LARGE = 24


def _large_copy(path: Path) -> dict[str, Any]:
    """The file as it is where it is light (the browser decodes it faster than the server
    shrinks it), else a copy at most ``DETAIL_SIDE`` pixels a side."""
    data = path.read_bytes()
    return _fields(picture(data, None if len(data) <= LIGHT_FILE else DETAIL_SIDE))


def _large_picture(real_path: str, stamp: tuple[int, int]) -> Future:
    """The larger view's copy of a file, made once in a worker thread: the run that shows it
    and the prefetch that prepares it ahead wait on the same job."""
    key = (real_path, stamp)
    with _LARGE_LOCK:
        if key in _LARGE:
            _LARGE.move_to_end(key)
        else:
            _LARGE[key] = _LARGE_WORKERS.submit(_large_copy, Path(real_path))
            while len(_LARGE) > KEEP_LARGE:
                _LARGE.popitem(last=False)
        return _LARGE[key]


@st.cache_data(max_entries=64, show_spinner=False)
def _stored_images(path: str, stamp: tuple[int, int], rows: tuple[int, ...]) -> dict[int, bytes]:
    """The ``image`` bytes of these file rows (read row group by row group)."""
    return fetch_images(path, rows)


def _fields(found: Any) -> dict[str, Any]:
    uri = found.data_uri()
    return {
        "image": uri,
        "image_key": hashlib.sha1(uri.encode()).hexdigest()[:20],
        "width": found.width,
        "height": found.height,
        "format": found.format,
        "shrunk": found.shrunk,
        "sharp": not found.shrunk and max(found.width, found.height) <= SHARP_SIDE,
    }


def _placeholder(kind: str, title: str, detail: str, tooltip: str) -> dict[str, Any]:
    return {
        "image": None,
        "placeholder": {"kind": kind, "title": title, "detail": detail, "tooltip": tooltip},
    }


def _file_fields(audit: AuditData, source: str, max_side: int | None) -> dict[str, Any]:
    try:
        real = resolve_source(source, audit.root, audit.base)
        if max_side == DETAIL_SIDE:
            return _large_picture(str(real), file_stamp(real)).result()
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
        return _fields(picture(data, max_side))
    except Exception as err:
        return _placeholder("missing", "Cannot show", source, f"{type(err).__name__}: {err}")


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


def class_rows(audit: AuditData, row: Any) -> tuple[list[dict[str, Any]], bool]:
    """The classes a card lists: the most probable true classes, then the given label where
    it is not among them, each with the probability that it is the sample's true class."""
    top, complete = top_classes(audit, row)
    given = audit.name(row.given_label)
    listed = [{"name": name, "prob": prob, "given": name == given} for name, prob in top]
    if not any(entry["given"] for entry in listed):
        listed.append({"name": given, "prob": 1.0 - float(row.mislabel_prob), "given": True})
    return listed, complete


def card(
    audit: AuditData, store: DecisionStore, row: Any, stored: dict[int, bytes], pos: int, gain: float
) -> dict[str, Any]:
    """One card: ``pos`` is its place in the view (1-based), ``gain`` what a review is expected
    to add (:func:`labelclean.auditfile.review_gain`, or NaN for audits without it)."""
    source = audit.source(row.file_row)
    classes, complete = class_rows(audit, row)
    image = image_fields(audit, row, stored, CARD_SIDE)
    image.pop("image_key", None)
    return {
        "id": str(row.sample_id),
        "pos": pos,
        "rank": int(row.rank),
        "flagged": bool(row.is_suspicious),
        "source": source,
        "name": Path(source).name if is_file_source(source) else source,
        "given": audit.name(row.given_label),
        "suggested": audit.name(row.suggested_label),
        "same": bool(row.given_label == row.suggested_label),
        "classes": classes,
        "complete": complete,
        "given_net": float(row.given_prob),
        "suggested_net": float(row.suggested_prob),
        "mislabel_prob": float(row.mislabel_prob),
        "loss": float(row.loss),
        "gain": None if gain != gain else round(float(gain), 4),
        "decision": decision_text(audit, store.get(row.sample_id)),
        **image,
    }


def _gains(rows: pd.DataFrame) -> list[float]:
    try:
        return review_gain(rows).tolist()
    except ValueError:  # an audit from before the calibrated columns
        return [float("nan")] * len(rows)


def cards(audit: AuditData, store: DecisionStore, rows: pd.DataFrame, first: int) -> list[dict[str, Any]]:
    """The cards of ``rows``, the first of them at place ``first`` (1-based) in the view."""
    stored = stored_images(audit, rows)
    return [
        card(audit, store, row, stored, first + i, gain)
        for i, (row, gain) in enumerate(zip(rows.itertuples(index=False), _gains(rows), strict=True))
    ]


def detail(
    audit: AuditData, store: DecisionStore, view: pd.DataFrame, sample_id: str, sent: set[str]
) -> dict[str, Any] | None:
    """The larger view of one sample of ``view``: a large copy of its image, its classes, its
    source and its neighbours in the view; ``None`` if the view lacks it.

    ``sent`` holds the keys of the images this session's browser already has: the image
    itself travels only the first time (the browser asks again if it dropped it).
    """
    at = position(view, audit.sample_id(sample_id))
    if at is None:
        return None
    near = neighbours(view, at, NEAR, NEAR)
    shown = cards(audit, store, near, max(0, at - NEAR) + 1)
    here = next(c for c in shown if c["id"] == str(view["sample_id"].iat[at]))
    row = next(view.iloc[at : at + 1].itertuples(index=False))
    full = image_fields(audit, row, stored_images(audit, near), DETAIL_SIDE)
    prefetch(audit, view.iloc[at + 1 : at + 1 + PREFETCH])
    if full.get("image_key") in sent:
        full["image"] = None
    elif full.get("image_key"):
        sent.add(full["image_key"])
    ids = view["sample_id"]
    return {
        **here,
        **full,
        "image_note": _image_note(full, is_file_source(audit.source(row.file_row))),
        "view_size": len(view),
        "prev_id": str(ids.iat[at - 1]) if at > 0 else None,
        "next_id": str(ids.iat[at + 1]) if at + 1 < len(view) else None,
        "neighbours": shown,
    }


def prefetch(audit: AuditData, rows: pd.DataFrame) -> None:
    """Start the larger view's copies of ``rows``' image files: decoding a camera photo can
    take longer than a reviewer's decision, which moves the view on to them."""
    for file_row in rows[ROW]:
        try:
            real = resolve_source(audit.source(file_row), audit.root, audit.base)
        except UnsafePathError:
            continue  # shown as a placeholder when its turn comes
        _large_picture(str(real), file_stamp(real))


def _image_note(fields: dict[str, Any], is_file: bool) -> str:
    if fields.get("placeholder"):
        return ""
    size = f"{fields['width']}x{fields['height']} px {fields['format']}"
    shrunk = f", shown at most {DETAIL_SIDE} px a side" if fields.get("shrunk") else ""
    return (f"the file, {size}" if is_file else f"the audit's stored copy, {size}") + shrunk
