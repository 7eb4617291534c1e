"""The Review view: which samples, the pager, bulk accept, the keys, and the grid of cards.

The grid itself is one component (``grid.js`` / ``grid.css``): every card, the relabel
menu, the larger view and the keyboard, drawn in the browser from :mod:`app.cards`' data.
"""

from __future__ import annotations

import html
from functools import partial

import pandas as pd
import streamlit as st

from . import actions, cards
from .components import GRID
from .decisions import DecisionStore
from .review import AuditData, Filters, digit_keys, filter_audit, page_count, page_rows


def review_view(audit: AuditData, store: DecisionStore, filters: Filters, per_page: int) -> None:
    view = filter_audit(audit.frame, filters, store.ids())
    n_pages = page_count(len(view), per_page)
    page = min(max(1, int(st.session_state.get("page", 1))), n_pages)
    st.session_state.page = page
    rows = page_rows(view, page, per_page)

    shown = _what_is_shown(audit, filters, len(view), (page - 1) * per_page, len(rows))
    if filters.pair is not None:
        st.button("✕ Clear the label-pair filter", key="clear_pair", on_click=actions.clear_pair)
    bulk_accept(store, view)
    if rows.empty:
        st.markdown(shown, unsafe_allow_html=True)
        st.info("No sample matches these filters.")
        return
    names = [audit.name(c) for c in audit.classes]
    st.session_state.runs = st.session_state.get("runs", 0) + 1
    detail_id = st.session_state.get("detail")
    GRID(
        key="grid",
        data={
            "run": st.session_state.runs,
            "shown_html": shown,
            "keys_html": keys_legend(digit_keys(names)),
            "page": page,
            "pages": n_pages,
            "columns": int(st.session_state.get("grid_columns", 6)),
            "cards": cards.cards(audit, store, rows),
            "classes": names,
            "digit_keys": digit_keys(names),
            "focus": st.session_state.get("focus"),
            "focus_seq": st.session_state.get("focus_seq", 0),
            "detail": None if detail_id is None else cards.detail(audit, store, view, detail_id),
        },
        on_action_change=partial(actions.grid_action, store, audit, view, per_page),
    )


def _what_is_shown(audit: AuditData, filters: Filters, n_view: int, skipped: int, n_rows: int) -> str:
    what = []
    if filters.pair is not None:
        what.append(f"{audit.name(filters.pair[0])} → {audit.name(filters.pair[1])}")
    if filters.classes:
        what.append("classes " + ", ".join(audit.name(c) for c in filters.classes))
    first = skipped + 1 if n_rows else 0
    return (
        f"<b>{first:,}-{skipped + n_rows:,}</b> of <b>{n_view:,}</b> samples"
        + (" flagged" if filters.flagged_only else "")
        + (f" · {html.escape('; '.join(what))}" if what else "")
        + " · most suspicious (highest loss) first"
    )


def bulk_accept(store: DecisionStore, view: pd.DataFrame) -> None:
    """Accept every unreviewed suggestion in the view, after a second click that says how many."""
    undecided = int((~view["sample_id"].isin(store.ids())).sum())
    if not undecided:
        return
    row = st.container(horizontal=True, vertical_alignment="center")
    if not st.session_state.get("bulk_confirm"):
        row.button(
            f"Bulk accept the {undecided:,} unreviewed suggestions in this view…",
            key="bulk_ask",
            on_click=actions.ask_bulk_accept,
            args=(True,),
        )
        return
    row.markdown(
        f"Set the suggested label on **{undecided:,}** samples? Decided samples keep their decision."
    )
    row.button(
        f"Accept {undecided:,} suggestions",
        key="bulk_accept",
        type="primary",
        on_click=actions.bulk_accept,
        args=(store, view),
    )
    row.button("Cancel", key="bulk_cancel", on_click=actions.ask_bulk_accept, args=(False,))


def keys_legend(digits: dict[str, str]) -> str:
    """The keyboard keys, as shown above the grid."""
    if all(key == name for key, name in digits.items()):
        relabel = f"<kbd>{min(digits)}</kbd> to <kbd>{max(digits)}</kbd> relabel to that class"
    else:
        relabel = "relabel: " + ", ".join(
            f"<kbd>{html.escape(k)}</kbd> {html.escape(n)}" for k, n in digits.items()
        )
    keys = [
        "<kbd>←</kbd><kbd>→</kbd><kbd>↑</kbd><kbd>↓</kbd> move",
        "<kbd>A</kbd> accept",
        "<kbd>K</kbd> keep",
        relabel,
        "<kbd>R</kbd> type a class name",
        "<kbd>X</kbd> fits no class",
        "<kbd>U</kbd> undo",
        "<kbd>Enter</kbd> larger view (<kbd>←</kbd><kbd>→</kbd> neighbours, <kbd>Esc</kbd> close)",
        "<kbd>]</kbd> <kbd>[</kbd> next / previous page",
    ]
    return '<div class="lc-keys">Keys: ' + " · ".join(keys) + "</div>"
