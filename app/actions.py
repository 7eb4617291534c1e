"""What the app's clicks and keys do: callbacks that change decisions and the session's view.

Streamlit runs a callback before the run that draws its result; the drawing modules only
bind these. The grid's decisions, undo and moves are applied by :mod:`app.state` (plain
Python); these callbacks hand them this session's :class:`~app.state.ReviewState`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from .decisions import DecisionStore
from .review import CLASS_FIELDS, SCORES, STATUSES, AuditData, score_top
from .state import ReviewState, accept_all, apply_actions

PER_PAGE_CHOICES = (12, 24, 48, 96)
GRID_COLUMN_CHOICES = (3, 4, 6, 8)
FILTER_DEFAULTS = {
    "status": "all",
    "classes": [],
    "class_field": "either",
    "pair": None,
    "score": "mislabel_prob",
    "score_range": None,
    "per_page": 24,
    "grid_columns": 6,
}
RESET_ON_OPEN = ("pair", "pair_pick", "classes", "score_range", "bulk_confirm", "order", "flagged_only")


def review_state() -> ReviewState:
    """This session's :class:`~app.state.ReviewState` (one object: callbacks read it once)."""
    state = st.session_state.get("review")
    if state is None:
        state = st.session_state["review"] = ReviewState()
    return state


def filter_state(audit: AuditData) -> dict[str, Any]:
    """The review filters' values (kept in the session; the defaults where never set).

    The order defaults to the audit's best (:attr:`AuditData.default_order`); in loss order
    the grid shows flagged samples only unless told otherwise, in gain order every sample
    (an unflagged label the model is unsure of is worth a look too).
    """
    values = {key: st.session_state.get(key, default) for key, default in FILTER_DEFAULTS.items()}
    order = st.session_state.get("order", audit.default_order)
    values["order"] = order if order in audit.orders else audit.default_order
    values["flagged_only"] = st.session_state.get("flagged_only", values["order"] == "loss")
    return values


def set_filter(audit: AuditData, pairs: list[tuple[Any, Any]]) -> None:
    """The filters component's callback: one changed control, as ``{"name", "value"}``."""
    change = (st.session_state.get("filters") or {}).get("set") or {}
    name, value = change.get("name"), change.get("value")
    state = st.session_state
    if name == "flagged_only":
        state.flagged_only = bool(value)
    elif name == "order" and value in audit.orders:
        state.order = value
        if value == "check":  # a check reads every stretch of the ranking, flagged or not
            state.flagged_only = False
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
        top = score_top(audit, filter_state(audit)["score"])
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
    st.session_state.review = review_state().fresh()
    for key in RESET_ON_OPEN:
        st.session_state.pop(key, None)


def start_picking() -> None:
    st.session_state.picking = True


def open_picked(allowed: Path) -> None:
    """The sidebar's audit box: a file picked from the list or a typed path, inside ``allowed``."""
    picked = (st.session_state.get("audit_pick") or "").strip()
    if not picked or picked == st.session_state.get("audit_path"):
        return
    if not Path(picked).expanduser().resolve().is_relative_to(allowed):
        st.session_state.save_error = (
            f"Refused to open {picked}: this app opens audits in {allowed} only "
            "(start it with --audit-dir to name another folder)."
        )
        return
    open_path(picked)


def view_picked() -> None:
    """The header's view tabs."""
    st.session_state.view = (st.session_state.get("header") or {}).get("view") or "Review"


def ask_bulk_accept(signature: str | None) -> None:
    """Arm (or with None disarm) the bulk accept for the view ``signature`` names."""
    st.session_state.bulk_confirm = signature


def reset_page() -> None:
    review_state().page = 1


# --- decisions -------------------------------------------------------------------------------


def bulk_accept(store: DecisionStore, view: pd.DataFrame, signature: str) -> None:
    """Accept every undecided suggestion of ``view``, if the confirmation was armed for it."""
    armed = st.session_state.get("bulk_confirm")
    st.session_state.bulk_confirm = None
    if armed != signature:
        return
    try:
        accept_all(review_state(), store, view[~view["sample_id"].isin(store.ids())])
    except OSError as err:
        st.session_state.save_error = f"Could not save the decisions to {store.path}: {err}"


def grid_action(store: DecisionStore, audit: AuditData, view: pd.DataFrame, per_page: int) -> None:
    """The grid component's callback: its queue of actions (see :mod:`app.state`)."""
    payload = (st.session_state.get("grid") or {}).get("action")
    apply_actions(review_state(), store, audit, view, per_page, payload)


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
    reset_page()
    st.session_state.view = "Review"


def pick_pair_from_list() -> None:
    pick_pair(st.session_state.get("pair_pick"))


def heatmap_clicked(audit: AuditData) -> None:
    chart = st.session_state.get("heatmap")
    points = (chart or {}).get("selection", {}).get("cell") or []
    if not points:
        return
    try:
        pick_pair((audit.label_of(points[0]["given"]), audit.label_of(points[0]["suggested"])))
    except KeyError:
        return


def clear_pair() -> None:
    st.session_state.pair = None
    reset_page()
