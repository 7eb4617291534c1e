"""The Export view: the decisions so far, the corrections files, and the code that uses them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from labelclean.auditfile import DECISIONS, corrections_paths

from .decisions import DecisionStore, apply_snippet, build_corrections, refit_snippet, write_corrections
from .review import AuditData, check_count


def export_view(audit: AuditData, store: DecisionStore) -> None:
    decisions = store.as_dict()
    counts = pd.Series([d["decision"] for d in decisions.values()], dtype=object).value_counts()
    for column, (key, text) in zip(st.columns(4), DECISIONS.items(), strict=True):
        column.metric(text.capitalize(), f"{int(counts.get(key, 0)):,}", border=True)
    st.markdown("##### Train again with the reviewed labels")
    st.markdown(
        "Reviewed samples keep the reviewer's label as a fixed target (no label correction, never "
        "flagged again); samples that fit no class are left out of training, and `keep_mask()` says "
        "which to leave out of your data (`correct_labels()` can only give them the label you "
        f"rejected). `X` is the data the audit was made from ({audit.metadata.get('data_source', 'unknown')})."
    )
    st.code(refit_snippet(audit), language="python")
    st.markdown("##### Or write the corrections")
    st.markdown(
        "One row per sample: the reviewer's label where there is a decision, else the audit's "
        "`corrected_label` (`decided_by` says which). Samples that fit no class have an empty `final_label`."
    )
    check = check_count(audit, decisions)
    overruled = check is not None and check.overrules(audit.frame) != 0
    if overruled:
        st.info(
            f"Your random check found {check.estimate:.1%} of the labels wrong ({check.low:.1%} to "
            f"{check.high:.1%}, {check.reviewed:,} reviews); the audit counted "
            f"{check.audit_share(audit.frame):.1%}, which the "
            "check rules out. With the box ticked, the samples you did not review take the audit's "
            "decisions made again with the check's count (`NoiseCheck.apply`): as many flags as it "
            "found wrong labels, and changes that hold even at the low end of its interval.",
            icon=":material/fact_check:",
        )
    use_check = overruled and st.checkbox("Use my random check's count", value=True, key="use_check")
    if st.button("Write the corrections", type="primary", key="export"):
        try:
            with st.spinner("Writing…"):
                fixes = build_corrections(audit, decisions, check if use_check else None)
                csv_path, parquet_path = write_corrections(audit, fixes)
            st.toast(f"Wrote {csv_path.name} and {parquet_path.name}")
        except OSError as err:
            st.error(f"Could not write the corrections beside the audit: {err}")
    written(store, audit)
    if decisions:
        decision_table(audit, decisions)


def written(store: DecisionStore, audit: AuditData) -> None:
    """The corrections already written: when, downloads, and the lines that apply them."""
    csv_path, parquet_path = corrections_paths(audit.path)
    if not (csv_path.is_file() and parquet_path.is_file()):
        return
    when = pd.Timestamp(parquet_path.stat().st_mtime, unit="s").strftime("%Y-%m-%d %H:%M:%S")
    st.success(f"Written beside the audit ({when}): `{csv_path}` and `{parquet_path}`")
    if store.path.is_file() and store.path.stat().st_mtime > parquet_path.stat().st_mtime:
        st.warning("Decisions changed since then: write the corrections again.")
    downloads = st.container(horizontal=True)
    for path, mime, key in (
        (csv_path, "text/csv", "csv"),
        (parquet_path, "application/octet-stream", "parquet"),
    ):
        downloads.download_button(
            f"Download {key.upper() if key == 'csv' else key.capitalize()}",
            data=path.read_bytes,
            file_name=path.name,
            mime=mime,
            key=f"download_{key}",
            on_click="ignore",
        )
    st.markdown("Apply them to a DataFrame `df` indexed by `sample_id` (the audit's input order):")
    st.code("import pandas as pd\n\n" + apply_snippet(parquet_path), language="python")


def decision_table(audit: AuditData, decisions: dict) -> None:
    st.markdown("##### Decisions so far")
    table = pd.DataFrame(
        [
            {
                "sample_id": sid,
                "decision": d["decision"],
                "final label": audit.name(d["final_label"]),
                "time": d["time"],
            }
            for sid, d in decisions.items()
        ]
    ).sort_values("time", ascending=False, kind="stable")
    st.dataframe(table, hide_index=True, width="stretch", height=min(400, 36 + 35 * len(table)))
