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
    """``--audit``, ``--root`` and ``--audit-dir`` from ``streamlit run app/main.py -- --audit PATH``."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--audit")
    parser.add_argument("--root")
    parser.add_argument("--audit-dir")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args


def audit_dir() -> Path:
    """The folder whose audits the sidebar may list and open: ``--audit-dir`` (or
    ``LABELCLEAN_AUDIT_DIR``), else the folder of the audit the app was started with, else the
    current folder. Whoever can reach the app can open any audit in it, and only those."""
    args = cli_args()
    named = args.audit_dir or os.environ.get("LABELCLEAN_AUDIT_DIR")
    if named:
        return Path(named).expanduser().resolve()
    started = args.audit or os.environ.get("LABELCLEAN_AUDIT")
    return Path(started).expanduser().resolve().parent if started else Path.cwd().resolve()


def requested_audit() -> str | None:
    """The audit to open: the sidebar's choice, else ``--audit``, else ``LABELCLEAN_AUDIT``."""
    if "audit_path" not in st.session_state:
        st.session_state.audit_path = cli_args().audit or os.environ.get("LABELCLEAN_AUDIT") or None
    return st.session_state.audit_path


def dataset_root_override() -> str | None:
    return cli_args().root or os.environ.get("LABELCLEAN_ROOT") or None


def audit_picker(current: str | None) -> None:
    """The open audit, and one box to open another: pick an audit found in :func:`audit_dir`
    or type the path of one there (Enter opens it). The box shows on demand: it is the
    page's only drop-down."""
    with st.sidebar:
        st.markdown(":orange[**LABELCLEAN**]\n### Label review")
        if current and not st.session_state.get("picking"):
            st.caption(f"Audit: `{current}`")
            st.button("Open another audit…", key="pick_another", on_click=actions.start_picking)
            return
        found = audits_in(audit_dir())
        st.session_state["audit_pick"] = current
        st.selectbox(
            "Audit file",
            list(dict.fromkeys([*([current] if current else []), *found])),
            key="audit_pick",
            accept_new_options=True,
            placeholder="type a path/to/audit.parquet",
            on_change=actions.open_picked,
            args=(audit_dir(),),
            help=f"An audit in {audit_dir()} (start the app with --audit-dir to name another folder). "
            "Type a path and press Enter, or pick one. Decisions are saved beside it.",
        )


def audits_in(folder: Path, depth: int = 2) -> list[str]:
    """Parquet files in ``folder`` and its sub-folders ``depth`` deep (not exports, nor links
    that lead out of it)."""
    patterns = ["/".join(["*"] * level + ["*.parquet"]) for level in range(depth + 1)]
    return sorted(
        {
            str(p)
            for pattern in patterns
            for p in folder.glob(pattern)
            if ".corrections" not in p.name and p.resolve().is_relative_to(folder)
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
