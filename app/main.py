"""labelclean review app: look through an audit's suspicious labels and decide on each.

    labelclean review audit.parquet [--root DATASET_FOLDER] [--audit-dir FOLDER]

which runs ``streamlit run app/main.py -- --audit audit.parquet ...`` on 127.0.0.1. The
audit can also come from the ``LABELCLEAN_AUDIT`` environment variable or the sidebar.
Decisions are saved beside the audit (``<stem>.decisions.json``) as soon as they are made;
the Export view writes ``<stem>.corrections.csv`` / ``.parquet``. The parts are in
``app/`` (see ``app/__init__.py``); this file only puts them on the page.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `streamlit run app/main.py` puts app/ on the path, not the repo
    sys.path.insert(0, str(REPO))

import streamlit as st  # noqa: E402

from app import actions, export, grid, header, overview, sidebar, start  # noqa: E402
from app.decisions import DecisionStore  # noqa: E402
from app.review import AuditData, load_audit  # noqa: E402
from app.sources import file_stamp  # noqa: E402

VIEWS = ("Review", "Overview", "Export")


@st.cache_resource(max_entries=3, show_spinner="Reading the audit…")
def open_audit(path: str, stamp: tuple[int, int], root: str | None) -> AuditData:
    """The audit, shared by every session (never copied); ``stamp`` reloads a rewritten file."""
    return load_audit(path, root)


def decision_store(audit: AuditData) -> DecisionStore:
    """This session's store for the audit, re-read if the file changed (another tab, a restart)."""
    key = f"store::{audit.path}"
    if key not in st.session_state:
        st.session_state[key] = DecisionStore.for_audit(audit)
    store: DecisionStore = st.session_state[key]
    store.refresh()
    return store


def show_messages() -> None:
    if "save_error" in st.session_state:
        st.error(st.session_state.pop("save_error"))
    flash = actions.review_state().flash
    while flash:
        st.toast(flash.pop(0))


def main() -> None:
    st.set_page_config(page_title="labelclean review", page_icon="🏷️", layout="wide")
    st.set_option("client.toolbarMode", "minimal")  # no Deploy button
    if "pending_open" in st.session_state:
        actions.open_path(st.session_state.pop("pending_open"))
    path = sidebar.requested_audit()
    sidebar.audit_picker(path)
    if not path:
        start.welcome()
        return
    try:
        resolved = Path(path).expanduser().absolute()
        audit = open_audit(str(resolved), file_stamp(resolved), sidebar.dataset_root_override())
        store = decision_store(audit)
    except (OSError, ValueError) as err:  # a hand-edited decisions file is reported, never overwritten
        header.eyebrow()
        st.error(f"Cannot open `{path}`: {err}")
        st.button("Back to the start page", key="back", on_click=actions.open_path, args=(None,))
        return
    show_messages()
    view = st.session_state.setdefault("view", VIEWS[0])  # only the chosen view runs
    header.header(audit, store, VIEWS, view)
    if view == "Overview":
        overview.overview_view(audit)
    elif view == "Export":
        export.export_view(audit, store)
    else:
        filters, order, per_page = sidebar.filters(audit)
        grid.review_view(audit, store, filters, order, per_page)


main()
