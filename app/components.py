"""The page's browser components (st.components.v2), each a JS file and a CSS file here.

Streamlit draws one of these far faster than the widgets it replaces (each kind of widget is
a script the browser fetches and runs first). ``HEADER`` draws the title, counts and view
tabs and carries the page's styles (``header.js``, ``style.css``); ``GRID`` the Review view's
cards, relabel menu and larger view, and handles the keys (``grid.js``); ``FILTERS`` the
review filters in the sidebar (``filters.js``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent


def _component(name: str, js: str, css: str):
    return st.components.v2.component(
        f"labelclean_{name}",
        js=(HERE / js).read_text(),
        css=(HERE / css).read_text(),
        isolate_styles=False,  # our class names are prefixed lc-; the page's fonts apply
    )


HEADER = _component("header", "header.js", "style.css")
GRID = _component("review_grid", "grid.js", "grid.css")
FILTERS = _component("review_filters", "filters.js", "filters.css")
