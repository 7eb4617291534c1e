"""The sidebar: which audit is open, and (on the Review view) the review's filters."""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

import streamlit as st

from . import actions
from .actions import GRID_COLUMN_CHOICES, PER_PAGE_CHOICES
from .components import FILTERS
from .review import CLASS_FIELDS, SCORES, STATUSES, AuditData, Filters, score_top


def cli_args() -> argparse.Namespace:
    """``--audit`` and ``--root`` from ``streamlit run app/main.py -- --audit PATH``."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--audit")
    parser.add_argument("--root")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args


def requested_audit() -> str | None:
    """The audit to open: the sidebar's choice, else ``--audit``, else ``LABELCLEAN_AUDIT``."""
    if "audit_path" not in st.session_state:
        st.session_state.audit_path = cli_args().audit or os.environ.get("LABELCLEAN_AUDIT") or None
    return st.session_state.audit_path


def dataset_root_override() -> str | None:
    return cli_args().root or os.environ.get("LABELCLEAN_ROOT") or None


def audit_picker(current: str | None) -> None:
    """The open audit, and one box to open another: pick a Parquet file found nearby or type
    a path (Enter opens it). The box shows on demand: it is the page's only drop-down."""
    with st.sidebar:
        st.markdown(":orange[**LABELCLEAN**]\n### Label review")
        if current and not st.session_state.get("picking"):
            st.caption(f"Audit: `{current}`")
            st.button("Open another audit…", key="pick_another", on_click=actions.start_picking)
            return
        found = _audits_nearby(current)
        st.session_state["audit_pick"] = current
        st.selectbox(
            "Audit file",
            list(dict.fromkeys([*([current] if current else []), *found])),
            key="audit_pick",
            accept_new_options=True,
            placeholder="type a path/to/audit.parquet",
            on_change=actions.open_picked,
            help="Type a path and press Enter, or pick a Parquet file found here. "
            "Decisions are saved beside it.",
        )


def _audits_nearby(current: str | None) -> list[str]:
    """Parquet files in the current folder and the open audit's folder (not exports)."""
    folders = {Path.cwd()}
    if current:
        folders.add(Path(current).expanduser().absolute().parent)
    return sorted(
        {
            str(p)
            for folder in folders
            if folder.is_dir()
            for p in folder.glob("*.parquet")
            if ".corrections" not in p.name
        }
    )


def filters(audit: AuditData) -> tuple[Filters, str, int]:
    """The review filters (a component in the sidebar); returns them, the order and the page size."""
    state = actions.filter_state(audit)
    pairs = audit.pairs
    pair_keys = list(zip(pairs["given_label"].tolist(), pairs["suggested_label"].tolist(), strict=True))
    top = score_top(audit, state["score"])
    low, high = state["score_range"] or (0.0, top)
    with st.sidebar:
        st.divider()
        st.markdown("### Filters")
        FILTERS(
            key="filters",
            data={
                "order": state["order"],
                "orders": list(audit.orders.items()),
                "flagged_only": state["flagged_only"],
                "status": state["status"],
                "statuses": list(STATUSES.items()),
                "classes": [audit.name(c) for c in audit.classes],
                "chosen": [audit.name(c) for c in state["classes"]],
                "class_field": state["class_field"],
                "class_fields": list(CLASS_FIELDS.items()),
                "pairs": [[p.given, p.suggested, int(p.count)] for p in pairs.itertuples()],
                "pair": pair_keys.index(state["pair"]) if state["pair"] in pair_keys else None,
                "score": state["score"],
                "scores": list(SCORES.items()),
                "low": low,
                "high": high,
                "top": top,
                "per_page": state["per_page"],
                "per_pages": [[n, str(n)] for n in PER_PAGE_CHOICES],
                "columns": state["grid_columns"],
                "columns_options": [[n, str(n)] for n in GRID_COLUMN_CHOICES],
            },
            on_set_change=partial(actions.set_filter, audit, pair_keys),
        )
    chosen = Filters(
        classes=tuple(state["classes"]),
        class_field=state["class_field"],
        pair=state["pair"] if state["pair"] in pair_keys else None,
        score=state["score"],
        score_range=state["score_range"],
        flagged_only=state["flagged_only"],
        status=state["status"],
    )
    return chosen, state["order"], state["per_page"]
