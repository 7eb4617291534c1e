"""The Review view: which samples, in which order, the pager, bulk accept, the keys, and the grid.

The grid itself is one component (``grid.js`` / ``grid.css``): every card, the relabel
menu, the larger view and the keyboard, drawn in the browser from :mod:`app.cards`' data.
Its actions come back as a queue that :mod:`app.state` applies once each.
"""

from __future__ import annotations

import html
from functools import partial

import pandas as pd
import streamlit as st

from labelclean.auditfile import REVIEW_ORDERS

from . import actions, cards
from .components import GRID
from .decisions import DecisionStore
from .review import AuditData, Filters, digit_keys, filter_audit, page_count, page_rows
from .state import resolve_show

ORDER_HELP = {
    "gain": "expected gain: the chance that the label the sample keeps without a review "
    "(correct_labels()) is wrong, i.e. how many right labels a review is expected to add",
    "loss": "the audit's rank: the labels most probably wrong first (by loss in older audits)",
    "check": "a random check: each tenth of the ranking in turn, each in a random order. Review the "
    "samples as they come, without filters or skipping: after two of each tenth (20 reviews) the "
    "header counts the wrong labels from your reviews alone (about ±7 points after 100)",
}
KEEP_IMAGES_SENT = 32  # the larger view's images a browser is taken to hold (grid.js keeps as many)


def review_view(audit: AuditData, store: DecisionStore, filters: Filters, order: str, per_page: int) -> None:
    state = actions.review_state()
    view = filter_audit(audit.ordered(order), filters, store.ids())
    resolve_show(state, audit, view, per_page)
    n_pages = page_count(len(view), per_page)
    state.page = min(max(1, state.page), n_pages)
    skipped = (state.page - 1) * per_page
    rows = page_rows(view, state.page, per_page)

    shown = _what_is_shown(audit, filters, order, len(view), skipped, len(rows))
    if filters.pair is not None:
        st.button("✕ Clear the label-pair filter", key="clear_pair", on_click=actions.clear_pair)
    bulk_accept(store, view, repr(filters))
    if rows.empty:
        st.markdown(shown, unsafe_allow_html=True)
        st.info("No sample matches these filters.")
        return
    names = [audit.name(c) for c in audit.classes]
    if len(state.images_sent) > KEEP_IMAGES_SENT:
        state.images_sent.clear()  # the browser asks again for any it dropped
    detail = (
        None if state.detail is None else cards.detail(audit, store, view, state.detail, state.images_sent)
    )
    if detail is None:
        state.detail = None
    st.session_state.runs = st.session_state.get("runs", 0) + 1
    GRID(
        key="grid",
        data={
            "run": st.session_state.runs,
            "shown_html": shown,
            "keys_html": keys_legend(digit_keys(names)),
            "page": state.page,
            "pages": n_pages,
            "columns": int(st.session_state.get("grid_columns", 6)),
            "cards": cards.cards(audit, store, rows, skipped + 1),
            "classes": names,
            "digit_keys": digit_keys(names),
            "focus": state.focus,
            "focus_seq": state.focus_seq,
            "detail": detail,
            "acks": state.applied,
            "refused": state.refused,
        },
        on_action_change=partial(actions.grid_action, store, audit, view, per_page),
    )


def _what_is_shown(
    audit: AuditData, filters: Filters, order: str, n_view: int, skipped: int, n_rows: int
) -> str:
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
        + f' · <span class="lc-order" title="{html.escape(ORDER_HELP[order])}">'
        + f"{html.escape(REVIEW_ORDERS[order])}</span>"
    )


def bulk_accept(store: DecisionStore, view: pd.DataFrame, filters_key: str) -> None:
    """Accept every unreviewed suggestion in the view, after a second click that says how many.

    The confirmation holds for the view it was asked in (its filters and count): another
    filter, or decisions made meanwhile, ask again.
    """
    undecided = int((~view["sample_id"].isin(store.ids())).sum())
    if not undecided:
        return
    signature = f"{filters_key}|{undecided}"
    row = st.container(horizontal=True, vertical_alignment="center")
    if st.session_state.get("bulk_confirm") != signature:
        row.button(
            f"Bulk accept the {undecided:,} unreviewed suggestions in this view…",
            key="bulk_ask",
            on_click=actions.ask_bulk_accept,
            args=(signature,),
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
        args=(store, view, signature),
    )
    row.button("Cancel", key="bulk_cancel", on_click=actions.ask_bulk_accept, args=(None,))


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
        "<kbd>A</kbd> <kbd>S</kbd> <kbd>D</kbd> the card's 1st, 2nd, 3rd class (<kbd>A</kbd> accepts the suggestion)",
        "<kbd>K</kbd> keep the given label",
        relabel,
        "<kbd>R</kbd> type a class name",
        "<kbd>X</kbd> fits no class",
        "<kbd>U</kbd> undo",
        "<kbd>Enter</kbd> larger view (<kbd>←</kbd><kbd>→</kbd> neighbours, <kbd>Z</kbd> zoom, <kbd>Esc</kbd> close)",
        "<kbd>]</kbd> <kbd>[</kbd> next / previous page",
        "<kbd>Esc</kbd> in the sidebar: back to the grid",
    ]
    return (
        '<div class="lc-keys">Keys: '
        + " · ".join(keys)
        + '<br><span class="lc-how">%: the chance that the class is the sample\'s true class '
        "(calibrated, from the image and its label)</span></div>"
    )
