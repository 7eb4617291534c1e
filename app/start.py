"""The start page, shown while no audit is open: open the demo's audit, or make it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from . import actions
from .demo_audit import write_demo_audit
from .header import eyebrow


def welcome() -> None:
    eyebrow()
    st.write(
        "Open an audit written by `SLNCleaner().fit(...).save_audit(path)`: start the app with "
        "`labelclean review PATH`, or type its path in the sidebar."
    )
    demo = Path.cwd() / "audit.parquet"
    if demo.is_file():
        st.button(
            f"Open the demo's audit ({demo})",
            type="primary",
            key="open_demo",
            on_click=actions.open_path,
            args=(str(demo),),
        )
        return
    st.info(
        f"No `audit.parquet` in {Path.cwd()}. The demo flips 20% of scikit-learn's digits labels, "
        "finds them and writes one (about 30 s on a 2-core CPU)."
    )
    if st.button("Run `python -m labelclean demo`", type="primary", key="run_demo"):
        with st.spinner("Training on digits… (about 30 s)"):
            done = write_demo_audit(demo)
        if done.returncode == 0 and demo.is_file():
            st.session_state.pending_open = str(demo)  # opened before the sidebar's widgets exist
            st.rerun()
        st.error("The demo failed:")
        st.code((done.stdout + done.stderr)[-3000:] or "(no output)")
