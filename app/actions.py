"""What the app's clicks and keys do: callbacks that change decisions and the session's view.

Streamlit runs a callback before the run that draws its result; the drawing modules only
bind these. Every decision goes through :func:`decide` / :func:`clear`, which keep the undo
history and turn a failed save into a message instead of an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from .decisions import DecisionStore
from .review import CLASS_FIELDS, SCORES, STATUSES, AuditData, page_count, page_of, score_top

PER_PAGE_CHOICES = (12, 24, 48, 96)
GRID_COLUMN_CHOICES = (3, 4, 6, 8)
FILTER_DEFAULTS = {
    "flagged_only": True,
    "status": "all",
    "classes": [],
    "class_field": "either",
    "pair": None,
    "score": "mislabel_prob",
    "score_range": None,
    "per_page": 24,
    "grid_columns": 6,
}
RESET_ON_OPEN = (
    "page",
    "pair",
    "pair_pick",
    "classes",
    "score_range",
    "detail",
    "undo",
    "focus",
    "bulk_confirm",
)


def filter_state() -> dict[str, Any]:
    """The review filters' values (kept in the session; the defaults where never set)."""
    return {key: st.session_state.get(key, default) for key, default in FILTER_DEFAULTS.items()}


def set_filter(audit: AuditData, pairs: list[tuple[Any, Any]]) -> None:
    """The filters component's callback: one changed control, as ``{"name", "value"}``."""
    change = (st.session_state.get("filters") or {}).get("set") or {}
    name, value = change.get("name"), change.get("value")
    state = st.session_state
    if name == "flagged_only":
        state.flagged_only = bool(value)
    elif name == "status" and value in STATUSES:
        state.status = value
    elif name == "classes":
        state.classes = [audit.label_of(n) for n in value if n in {audit.name(c) for c in audit.classes}]
    elif name == "class_field" and value in CLASS_FIELDS:
        state.class_field = value
    elif name == "pair":
        state.pair = pairs[int(value)] if str(value).isdigit() and int(value) < len(pairs) else None
    elif name == "score" and value in SCORES:
        state.score, state.score_range = value, None
    elif name == "score_range":
        top = score_top(audit, filter_state()["score"])
        low, high = sorted(min(max(0.0, float(v)), top) for v in value)
        state.score_range = None if (low, high) == (0.0, top) else (low, high)
    elif name == "columns" and int(value) in GRID_COLUMN_CHOICES:
        state.grid_columns = int(value)
        return
    elif name == "per_page" and int(value) in PER_PAGE_CHOICES:
        state.per_page = int(value)
    reset_page()


def open_path(path: str | None) -> None:
    """Switch the app to another audit (resets the view)."""
    st.session_state.audit_path = path or None
    st.session_state.picking = False
    for key in RESET_ON_OPEN:
        st.session_state.pop(key, None)


def start_picking() -> None:
    st.session_state.picking = True


def open_picked() -> None:
    """The sidebar's audit box: a file picked from the list or a typed path."""
    picked = (st.session_state.get("audit_pick") or "").strip()
    if picked and picked != st.session_state.get("audit_path"):
        open_path(picked)


def view_picked() -> None:
    """The header's view tabs."""
    st.session_state.view = (st.session_state.get("header") or {}).get("view") or "Review"


def ask_bulk_accept(ask: bool) -> None:
    st.session_state.bulk_confirm = ask


def reset_page() -> None:
    st.session_state.page = 1


def step_page(delta: int, n_pages: int) -> None:
    st.session_state.page = min(n_pages, max(1, st.session_state.get("page", 1) + delta))


def set_focus(sample_id: Any) -> None:
    """Move the grid's keyboard focus to ``sample_id`` (the grid follows a new ``focus_seq``)."""
    st.session_state.focus = None if sample_id is None else str(sample_id)
    st.session_state.focus_seq = st.session_state.get("focus_seq", 0) + 1


# --- decisions -------------------------------------------------------------------------------


def _save(store: DecisionStore, change: Callable[[], dict], what: str) -> bool:
    """Run one change of ``store``, remember what it replaced for undo; report a failed save."""
    try:
        previous = change()
    except OSError as err:
        st.session_state.save_error = f"Could not save {what} to {store.path}: {err}"
        return False
    st.session_state.setdefault("undo", []).append(previous)
    return True


def decide(store: DecisionStore, sample_id: Any, decision: str, label: Any) -> bool:
    return _save(store, lambda: store.record(sample_id, decision, label), "the decision")


def clear(store: DecisionStore, sample_id: Any) -> bool:
    return _save(store, lambda: store.clear(sample_id), "the decision")


def undo(store: DecisionStore) -> None:
    """Put back what the last decision (or bulk accept) of this session replaced."""
    history = st.session_state.get("undo") or []
    if not history:
        st.session_state.flash = "Nothing to undo in this session."
        return
    previous = history.pop()
    try:
        store.restore(previous)
    except OSError as err:
        history.append(previous)
        st.session_state.save_error = f"Could not save the undo to {store.path}: {err}"
        return
    first = next(iter(previous))
    if st.session_state.get("detail") is not None:
        st.session_state.detail = str(first)
    set_focus(first)
    st.session_state.flash = (
        f"Undid the decision on sample {first}."
        if len(previous) == 1
        else f"Undid {len(previous):,} decisions."
    )


def bulk_accept(store: DecisionStore, view: pd.DataFrame) -> None:
    todo = view[~view["sample_id"].isin(store.ids())]
    items = zip(
        todo["sample_id"].tolist(), ["accept"] * len(todo), todo["suggested_label"].tolist(), strict=True
    )
    st.session_state.bulk_confirm = False
    if _save(store, lambda: store.record_many(items), "the decisions"):
        st.session_state.flash = f"Accepted the suggestion for {len(todo):,} samples."


# --- the grid's actions ------------------------------------------------------------------------


def grid_action(store: DecisionStore, audit: AuditData, view: pd.DataFrame, per_page: int) -> None:
    """The grid component's callback."""
    apply_action(store, audit, view, per_page, (st.session_state.get("grid") or {}).get("action") or {})


def apply_action(
    store: DecisionStore, audit: AuditData, view: pd.DataFrame, per_page: int, action: dict[str, Any]
) -> None:
    """One click or key press in the grid, as ``{"type", "id", "label", "delta", "next"}``."""
    kind, sample_id = action.get("type"), action.get("id")
    if kind == "undo":
        undo(store)
    elif kind == "page":
        step_page(int(action.get("delta", 0)), page_count(len(view), per_page))
    elif kind == "open":
        st.session_state.detail = sample_id
    elif kind == "close":
        close_detail(audit, view, per_page)
    elif (
        kind in ("accept", "keep", "relabel", "none", "clear")
        and sample_id is not None
        and _apply(store, audit, kind, audit.sample_id(sample_id), action.get("label"))
    ):
        _follow(action.get("next"))


def _apply(store: DecisionStore, audit: AuditData, kind: str, sample_id: Any, label: str | None) -> bool:
    if kind == "clear":
        return clear(store, sample_id)
    row = audit.row(sample_id)
    final = {
        "accept": row.suggested_label,
        "keep": row.given_label,
        "relabel": audit.label_of(label) if label is not None else None,
        "none": None,
    }[kind]
    if kind == "relabel" and final is None:
        return False
    return decide(store, sample_id, kind, final)


def _follow(next_id: str | None) -> None:
    """After a decision: the larger view moves on to the next sample; the grid's focus is
    already there (the browser moved it), so only the server's copy is updated."""
    if next_id is None:
        return
    if st.session_state.get("detail") is not None:
        st.session_state.detail = next_id
    st.session_state.focus = next_id


def close_detail(audit: AuditData, view: pd.DataFrame, per_page: int) -> None:
    """Close the larger view on the page (and card) of the sample it showed last."""
    sample_id = st.session_state.pop("detail", None)
    if sample_id is None:
        return
    page = page_of(view, audit.sample_id(sample_id), per_page)
    if page is not None:
        st.session_state.page = page
        set_focus(sample_id)


# --- pairs (overview) --------------------------------------------------------------------------


def pick_pair(pair: Any) -> None:
    """Review one given → suggested pair: the Review view shows all its flagged samples.

    The class filter, score range and review status are reset, since any of them could
    hide the pair's samples (a pair picked with class 5 selected would show nothing).
    """
    if pair is None:
        return
    st.session_state.pair = tuple(pair)
    st.session_state.flagged_only = True
    st.session_state.classes = []
    st.session_state.status = "all"
    st.session_state.score_range = None
    st.session_state.page = 1
    st.session_state.view = "Review"


def pick_pair_from_list() -> None:
    pick_pair(st.session_state.get("pair_pick"))


def heatmap_clicked(audit: AuditData) -> None:
    state = st.session_state.get("heatmap")
    points = (state or {}).get("selection", {}).get("cell") or []
    if not points:
        return
    try:
        pick_pair((audit.label_of(points[0]["given"]), audit.label_of(points[0]["suggested"])))
    except KeyError:
        return


def clear_pair() -> None:
    st.session_state.pair = None
    st.session_state.page = 1
