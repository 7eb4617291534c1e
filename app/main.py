"""labelclean review app: look through an audit's suspicious labels and decide on each.

    streamlit run app/main.py -- --audit audit.parquet [--root DATASET_FOLDER]

The audit can also come from the ``LABELCLEAN_AUDIT`` environment variable or the sidebar.
Decisions are saved beside the audit (``<stem>.decisions.json``) as soon as they are made;
the Export tab writes ``<stem>.corrections.csv`` / ``.parquet``. Logic lives in
``app/review.py``; this file only draws.
"""

from __future__ import annotations

import argparse
import html
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `streamlit run app/main.py` puts app/ on the path, not the repo
    sys.path.insert(0, str(REPO))

import altair as alt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from app import review  # noqa: E402
from app.review import DECISIONS, AuditData, DecisionStore, Filters  # noqa: E402

PER_PAGE_CHOICES = (12, 24, 48, 96)
GRID_COLUMNS = 6
DECIDED_TEXT = {"accept": "accepted", "keep": "kept", "relabel": "relabelled", "none": "fits no class"}

CSS = """
<style>
.block-container {padding-top: 3rem; padding-bottom: 2rem;}
.lc-badge {display: inline-block; padding: 0 7px; margin: 0 2px 3px 0; border-radius: 999px;
  font-size: 0.76rem; font-weight: 650; line-height: 1.4rem; white-space: nowrap;}
.lc-note {font-weight: 400; opacity: 0.8;}
.lc-nowrap {white-space: nowrap;}
.lc-given {background: #fde4e2; color: #a3231b;}
.lc-given-same {background: #eceff3; color: #374151;}
.lc-sugg {background: #d9f3e1; color: #146c34;}
.lc-dec {background: #e3e8ff; color: #3340a3;}
.lc-flag {background: #fff1d6; color: #8a5300;}
.lc-arrow {color: #9aa0a6; margin: 0 2px 0 -1px; font-weight: 700;}
.lc-meta {font-size: 0.74rem; color: #6b7280; line-height: 1.15rem; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap;}
.lc-meta b {color: #374151;}
.lc-meta b.lc-flagged {color: #c2410c;}
.lc-labels {margin: 2px 0 1px 0;}
.lc-eyebrow {font-size: 0.72rem; letter-spacing: 0.08em; text-transform: uppercase; color: #e8743b;
  font-weight: 700; margin-bottom: -0.2rem;}
[class*="st-key-card_"] {padding: 0.55rem 0.55rem 0.6rem 0.55rem;}
[class*="st-key-actions_"] {gap: 0.3rem;}
[class*="st-key-actions_"] button {padding: 0.1rem 0.5rem; min-height: 1.9rem;}
[class*="st-key-actions_"] button p {font-size: 0.82rem;}
[class*="st-key-actions_"] [data-testid="stPopoverButton"] [aria-hidden="true"] {display: none;}
[data-testid="stMetricValue"] {font-size: 1.9rem;}
.lc-legend {font-size: 0.8rem; color: #6b7280;}
.lc-noimg {aspect-ratio: 1 / 1; display: flex; align-items: center; justify-content: center;
  text-align: center; border-radius: 6px; padding: 8px; font-size: 0.72rem; line-height: 1.05rem;
  overflow: hidden; overflow-wrap: anywhere;}
.lc-noimg code {font-size: 0.68rem; background: none; color: inherit; padding: 0; white-space: normal;
  word-break: break-all;}
.lc-refused {border: 1px dashed #d93025; background: #fff5f5; color: #a3231b;}
.lc-missing {border: 1px dashed #c4c7cc; background: #f6f7f9; color: #6b7280;}
.lc-head {display: flex; align-items: baseline; gap: 0.6rem; flex-wrap: wrap;}
.lc-head h1 {font-size: 1.7rem; margin: 0; padding: 0;}
.lc-sub {color: #6b7280; font-size: 0.85rem;}
.lc-sub code {font-size: 0.8rem;}
</style>
"""


# --- which audit ---------------------------------------------------------------------------------


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


@st.cache_data(max_entries=3, show_spinner="Reading the audit…")
def open_audit(path: str, stamp: tuple[int, int], root: str | None) -> AuditData:
    """The audit's light columns; ``stamp`` (mtime, size) makes a rewritten file load afresh."""
    return review.load_audit(path, root)


def open_path(path: str | None) -> None:
    """Switch the app to another audit (a callback; resets the view)."""
    st.session_state.audit_path = path or None
    st.session_state.audit_input = path or ""
    for key in ("page", "pair", "pair_pick", "classes", "exported", "audit_pick"):
        st.session_state.pop(key, None)


def open_typed() -> None:
    typed = st.session_state.get("audit_input", "").strip()
    if typed and typed != st.session_state.get("audit_path"):
        open_path(typed)


def sidebar_open(current: str | None) -> None:
    with st.sidebar:
        st.markdown('<div class="lc-eyebrow">labelclean</div>', unsafe_allow_html=True)
        st.markdown("### Label review")
        st.session_state.setdefault("audit_input", current or "")
        st.text_input(
            "Audit file",
            key="audit_input",
            placeholder="path/to/audit.parquet",
            on_change=open_typed,
            help="Press Enter or Open. Decisions are saved beside it.",
        )
        st.button("Open", key="open_typed", on_click=open_typed, width="stretch")
        folders = {Path.cwd()}
        if current:
            folders.add(Path(current).expanduser().absolute().parent)
        found = sorted(
            {
                str(p)
                for folder in folders
                if folder.is_dir()
                for p in folder.glob("*.parquet")
                if ".corrections" not in p.name
            }
        )
        if found:
            picked = st.selectbox(
                "…or pick one found here",
                found,
                index=None,
                key="audit_pick",
                placeholder=f"{len(found)} Parquet file(s)",
            )
            if picked and picked != current:
                st.button("Open picked", key="open_picked", on_click=open_path, args=(picked,))


def welcome() -> None:
    """No audit yet: offer the demo's audit (or to run the demo that writes it)."""
    st.markdown('<div class="lc-eyebrow">labelclean</div>', unsafe_allow_html=True)
    st.markdown("## Label review")
    st.write(
        "Open an audit written by `SLNCleaner().fit(...).save_audit(path)`: pass it as "
        "`streamlit run app/main.py -- --audit PATH`, set `LABELCLEAN_AUDIT`, or type it in the sidebar."
    )
    demo = Path.cwd() / "audit.parquet"
    if demo.is_file():
        st.button(
            f"Open the demo's audit ({demo})",
            type="primary",
            key="open_demo",
            on_click=open_path,
            args=(str(demo),),
        )
        return
    st.info(
        f"No `audit.parquet` in {Path.cwd()}. The demo flips 20% of scikit-learn's digits labels, "
        "finds them and writes one (about 30 s on a 2-core CPU)."
    )
    if st.button("Run `python -m labelclean demo`", type="primary", key="run_demo"):
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        with st.spinner("Training on digits… (about 30 s)"):
            done = subprocess.run(
                [sys.executable, "-m", "labelclean", "demo", "--out", str(demo)],
                capture_output=True,
                text=True,
                env=env,
                cwd=Path.cwd(),
                check=False,
            )
        if done.returncode == 0 and demo.is_file():
            st.session_state.pending_open = str(demo)  # opened before the sidebar's widgets exist
            st.rerun()
        st.error("The demo failed:")
        st.code((done.stdout + done.stderr)[-3000:] or "(no output)")


# --- decisions (callbacks) -----------------------------------------------------------------------


def decide(store: DecisionStore, sample_id: Any, decision: str, label: Any) -> None:
    try:
        store.record(sample_id, decision, label)
    except OSError as err:
        st.session_state.save_error = f"Could not save the decision to {store.path}: {err}"


def relabel(store: DecisionStore, audit: AuditData, sample_id: Any) -> None:
    name = st.session_state.get(f"relabel_to_{sample_id}")
    if name is not None:
        decide(store, sample_id, "relabel", audit.label_of(name))


def undo(store: DecisionStore, sample_id: Any) -> None:
    try:
        store.clear(sample_id)
    except OSError as err:
        st.session_state.save_error = f"Could not save to {store.path}: {err}"


def bulk_accept(store: DecisionStore, view: pd.DataFrame) -> None:
    todo = view[~view["sample_id"].isin(store.ids())]
    try:
        count = store.record_many(
            zip(
                todo["sample_id"].tolist(),
                ["accept"] * len(todo),
                todo["suggested_label"].tolist(),
                strict=True,
            )
        )
    except OSError as err:
        st.session_state.save_error = f"Could not save the decisions to {store.path}: {err}"
        return
    st.session_state.bulk_confirm = False
    st.session_state.flash = f"Accepted the suggestion for {count:,} samples."


def reset_page() -> None:
    st.session_state.page = 1


def pick_pair(audit: AuditData) -> None:
    """The overview's pair selectbox (or heat-map click) sets the review's pair filter."""
    st.session_state.pair = st.session_state.get("pair_pick")
    st.session_state.page = 1
    st.session_state.flagged_only = True


def clear_pair() -> None:
    st.session_state.pair = None
    st.session_state.pair_pick = None
    st.session_state.page = 1


def heatmap_clicked(audit: AuditData) -> None:
    state = st.session_state.get("heatmap")
    points = (state or {}).get("selection", {}).get("cell") or []
    if not points:
        return
    try:
        pair = (audit.label_of(points[0]["given"]), audit.label_of(points[0]["suggested"]))
    except KeyError:
        return
    st.session_state.pair_pick = pair
    pick_pair(audit)


# --- drawing -------------------------------------------------------------------------------------


def badge(text: str, kind: str, title: str = "", note: str = "") -> str:
    """A coloured pill; ``note`` (a probability) follows the text in a lighter weight."""
    tip = f' title="{html.escape(title)}"' if title else ""
    extra = f' <span class="lc-note">{html.escape(note)}</span>' if note else ""
    return f'<span class="lc-badge lc-{kind}"{tip}>{html.escape(text)}{extra}</span>'


def header(audit: AuditData, store: DecisionStore) -> None:
    meta = audit.metadata
    root = f"`{audit.root}` ({audit.root_origin})" if audit.root else f"none — {audit.root_origin}"
    st.markdown(
        '<div class="lc-eyebrow">labelclean · label review</div>'
        f'<div class="lc-head"><h1>{html.escape(audit.path.name)}</h1>'
        f'<span class="lc-sub">{html.escape(str(meta.get("data_source", "unknown data")))}</span></div>',
        unsafe_allow_html=True,
    )
    created = str(meta.get("created", "?")).replace("T", " ")[:19]
    st.caption(
        f"`{audit.path}` · created {created} · labelclean {meta.get('labelclean_version', '?')} · "
        f"decisions in `{store.path.name}` · images: "
        + ("stored in the audit" if audit.has_images else f"files under {root}")
    )
    stats = review.summary(audit.frame)
    decided = len(store)
    flagged_ids = audit.frame.loc[audit.frame["is_suspicious"].to_numpy(dtype=bool), "sample_id"]
    open_flagged = int((~flagged_ids.isin(store.ids())).sum())
    cols = st.columns(5)
    cols[0].metric("Samples", f"{stats['samples']:,}", border=True)
    cols[1].metric("Flagged", f"{stats['flagged']:,}", border=True)
    cols[2].metric("Flag rate", f"{stats['rate']:.1%}", border=True)
    cols[3].metric("Reviewed", f"{decided:,}", border=True)
    cols[4].metric("Flagged left to review", f"{open_flagged:,}", border=True)


def sidebar_filters(audit: AuditData, pairs: pd.DataFrame) -> tuple[Filters, int]:
    """The review filters (sidebar); returns them and the page size."""
    with st.sidebar:
        st.divider()
        st.markdown("### Filters")
        st.session_state.setdefault("flagged_only", True)
        flagged_only = st.toggle("Flagged only", key="flagged_only", on_change=reset_page)
        status = st.selectbox(
            "Review status",
            ["all", "undecided", "decided"],
            key="status",
            format_func=lambda s: {"all": "All", "undecided": "Not reviewed yet", "decided": "Reviewed"}[s],
            on_change=reset_page,
        )
        classes = st.multiselect(
            "Classes",
            audit.classes,
            key="classes",
            format_func=audit.name,
            placeholder="All classes",
            on_change=reset_page,
        )
        class_field = st.selectbox(
            "Class matches",
            ["either", "given", "suggested"],
            key="class_field",
            format_func=lambda f: {
                "either": "the given or the suggested label",
                "given": "the given label",
                "suggested": "the suggested label",
            }[f],
            on_change=reset_page,
            disabled=not classes,
        )
        options: list[Any] = [
            None,
            *zip(pairs["given_label"].tolist(), pairs["suggested_label"].tolist(), strict=True),
        ]
        counts = dict(zip(options[1:], pairs["count"].tolist(), strict=True))
        if st.session_state.get("pair") not in options:
            st.session_state.pair = None
        pair = st.selectbox(
            "Label pair (given → suggested)",
            options,
            key="pair",
            format_func=lambda p: (
                "All pairs"
                if p is None
                else f"{audit.name(p[0])} → {audit.name(p[1])}  ({counts.get(p, 0)} flagged)"
            ),
            on_change=reset_page,
        )
        score = st.radio(
            "Score",
            ["mislabel_prob", "loss"],
            key="score",
            horizontal=True,
            format_func=lambda s: {"mislabel_prob": "mislabel probability", "loss": "loss"}[s],
            on_change=reset_page,
        )
        high = 1.0 if score == "mislabel_prob" else max(0.01, float(audit.frame["loss"].max()))
        high = round(high + 0.005, 2) if score == "loss" else high
        score_range = st.slider(
            "Score range",
            0.0,
            high,
            (0.0, high),
            step=0.01,
            key=f"range_{score}",
            on_change=reset_page,
        )
        st.divider()
        st.session_state.setdefault("per_page", 24)
        per_page = st.select_slider(
            "Samples per page", PER_PAGE_CHOICES, key="per_page", on_change=reset_page
        )
        st.session_state.setdefault("grid_columns", GRID_COLUMNS)
        st.select_slider("Cards per row", (3, 4, 6, 8), key="grid_columns")
    full = score_range == (0.0, high)
    filters = Filters(
        classes=tuple(classes),
        class_field=class_field,
        pair=pair,
        score=score,
        score_range=None if full else score_range,
        flagged_only=flagged_only,
        status=status,
    )
    return filters, per_page


def loss_histogram(audit: AuditData, bins: int = 40) -> alt.Chart:
    """Counts of samples per loss bin, flagged and not (clean and wrong labels form two modes)."""
    loss = audit.frame["loss"].to_numpy(dtype=float)
    edges = np.linspace(0.0, max(float(loss.max()), 1e-6), bins + 1)
    flagged = audit.frame["is_suspicious"].to_numpy(dtype=bool)
    parts = []
    for name, mask in (("not flagged", ~flagged), ("flagged", flagged)):
        counts, _ = np.histogram(loss[mask], edges)
        parts.append(pd.DataFrame({"low": edges[:-1], "high": edges[1:], "count": counts, "samples": name}))
    data = pd.concat(parts, ignore_index=True)
    data = data[data["count"] > 0]
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("low:Q", bin="binned", title="loss against the given label"),
            x2="high:Q",
            y=alt.Y("count:Q", stack=True, title="samples", scale=alt.Scale(type="symlog")),
            color=alt.Color(
                "samples:N",
                scale=alt.Scale(domain=["not flagged", "flagged"], range=["#9aa5b1", "#e8743b"]),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=[
                alt.Tooltip("samples:N"),
                alt.Tooltip("low:Q", format=".2f"),
                alt.Tooltip("high:Q", format=".2f"),
                alt.Tooltip("count:Q", format=","),
            ],
        )
    )


def overview(audit: AuditData, pairs: pd.DataFrame) -> None:
    rates = review.per_class_rates(audit)
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.markdown("##### Flagged rate per given class")
        bars = (
            alt.Chart(rates)
            .mark_bar(cornerRadiusEnd=3, color="#e8743b")
            .encode(
                x=alt.X("rate:Q", title="flagged", axis=alt.Axis(format="%")),
                y=alt.Y("class:N", sort=None, title=None, axis=alt.Axis(labelOverlap=False)),
                tooltip=[
                    alt.Tooltip("class:N"),
                    alt.Tooltip("samples:Q", format=","),
                    alt.Tooltip("flagged:Q", format=","),
                    alt.Tooltip("rate:Q", format=".1%"),
                ],
            )
        )
        st.altair_chart(bars, width="stretch", height=max(160, 24 * len(rates)))
        st.markdown("##### Loss of every sample")
        st.altair_chart(loss_histogram(audit), width="stretch", height=200)
    with right:
        st.markdown("##### Flagged samples: given → suggested label")
        if pairs.empty:
            st.info("No sample is flagged.")
            return
        names = [audit.name(c) for c in audit.classes]
        cell = alt.selection_point(name="cell", fields=["given", "suggested"], on="click")
        base = alt.Chart(pairs).encode(
            x=alt.X("suggested:N", sort=names, title="suggested label", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("given:N", sort=names, title="given label"),
        )
        heat = base.mark_rect(cornerRadius=2, stroke="white", strokeWidth=1).encode(
            color=alt.Color("count:Q", scale=alt.Scale(scheme="orangered"), legend=None),
            opacity=alt.condition(cell, alt.value(1.0), alt.value(0.35)),
            tooltip=[alt.Tooltip("given:N"), alt.Tooltip("suggested:N"), alt.Tooltip("count:Q", format=",")],
        )
        text = base.mark_text(fontSize=11).encode(
            text="count:Q",
            color=alt.condition(
                alt.datum.count > pairs["count"].max() / 2, alt.value("white"), alt.value("#333")
            ),
        )
        chart = (heat + text).add_params(cell).properties(height=max(220, 30 * len(names)))
        st.altair_chart(
            chart,
            width="stretch",
            key="heatmap",
            on_select=lambda: heatmap_clicked(audit),
            selection_mode="cell",
        )
        options = list(zip(pairs["given_label"].tolist(), pairs["suggested_label"].tolist(), strict=True))
        counts = dict(zip(options, pairs["count"].tolist(), strict=True))
        st.selectbox(
            "Review one pair (or click a cell)",
            options,
            index=None,
            key="pair_pick",
            format_func=lambda p: f"{audit.name(p[0])} → {audit.name(p[1])}  ({counts[p]} flagged)",
            placeholder=f"{len(options)} pairs",
            on_change=pick_pair,
            args=(audit,),
        )
        if st.session_state.get("pair") is not None:
            given, suggested = st.session_state.pair
            st.success(
                f"The Review tab shows {audit.name(given)} → {audit.name(suggested)}; "
                "clear it there or in the sidebar."
            )


@st.cache_data(max_entries=4096, show_spinner=False)
def file_thumbnail(real_path: str, stamp: tuple[int, int]) -> bytes:
    return review.thumbnail(Path(real_path).read_bytes())


@st.cache_data(max_entries=64, show_spinner=False)
def stored_thumbnails(path: str, stamp: tuple[int, int], rows: tuple[int, ...]) -> dict[int, bytes]:
    """Thumbnails of the ``image`` bytes of just these rows (read row group by row group)."""
    return {row: review.thumbnail(data) for row, data in review.fetch_images(path, rows).items() if data}


def placeholder(kind: str, title: str, detail: str, tooltip: str) -> None:
    """A square box in place of an image that is not shown, saying why."""
    st.markdown(
        f'<div class="lc-noimg lc-{kind}" title="{html.escape(tooltip)}"><div><b>{html.escape(title)}</b>'
        f"<br>{detail}</div></div>",
        unsafe_allow_html=True,
    )


def card_image(audit: AuditData, row: Any, stored: dict[int, bytes]) -> None:
    source = str(row.source)
    if review.is_file_source(source):
        try:
            real = review.resolve_source(source, audit.root, audit.base)
            data = file_thumbnail(str(real), review.file_stamp(real))
        except review.UnsafePathError as err:
            if err.kind == "outside":
                detail = f"resolves outside the dataset root, to<br><code>{html.escape(str(err.path))}</code>"
                placeholder("refused", "Refused", detail, str(err))
            elif err.kind == "no-root":
                placeholder(
                    "refused", "Refused", "no dataset root to serve files from: pass --root", str(err)
                )
            else:
                placeholder("missing", "Missing file", html.escape(Path(source).name), str(err))
            return
        except Exception as err:  # a corrupt or non-image file
            placeholder(
                "missing", "Cannot show", html.escape(Path(source).name), f"{type(err).__name__}: {err}"
            )
            return
    else:
        data = stored.get(int(row.file_row))
        if data is None:
            placeholder("missing", "No image", html.escape(source), "the audit stores no image for this row")
            return
    st.image(data, width="stretch")


def card(audit: AuditData, store: DecisionStore, row: Any, stored: dict[int, bytes]) -> None:
    sid = row.sample_id
    given_name, suggested_name = audit.name(row.given_label), audit.name(row.suggested_label)
    with st.container(border=True, key=f"card_{sid}"):
        card_image(audit, row, stored)
        same = row.given_label == row.suggested_label
        given = badge(
            given_name,
            "given-same" if same else "given",
            f"given label {given_name}: the model gives it {row.given_prob:.1%}",
            f"{row.given_prob:.0%}",
        )
        suggested = (
            ""
            if same
            else '<span class="lc-nowrap"><span class="lc-arrow">→</span>'
            + badge(
                suggested_name,
                "sugg",
                f"suggested label {suggested_name}: the model gives it {row.suggested_prob:.1%}",
                f"{row.suggested_prob:.0%}",
            )
            + "</span>"
        )
        name = Path(str(row.source)).name if review.is_file_source(str(row.source)) else str(row.source)
        st.markdown(
            f'<div class="lc-meta" title="{html.escape(str(row.source))}">'
            f'<b class="{"lc-flagged" if row.is_suspicious else ""}"'
            f' title="{"flagged" if row.is_suspicious else "not flagged"}: rank by loss">#{row.rank:,}</b>'
            f" · {html.escape(name)}</div>"
            f'<div class="lc-labels">{given}{suggested}</div>'
            f'<div class="lc-meta">mislabel {row.mislabel_prob:.2f} · loss {row.loss:.2f}</div>',
            unsafe_allow_html=True,
        )
        decision = store.get(sid)
        if decision:
            text = DECIDED_TEXT[decision["decision"]]
            if decision["decision"] != "none":
                text += f" → {audit.name(decision['final_label'])}"
            st.markdown(badge(f"✓ {text}", "dec"), unsafe_allow_html=True)
        with st.container(horizontal=True, gap="small", key=f"actions_{sid}"):
            st.button(
                "Accept",
                key=f"accept_{sid}",
                type="primary" if decision is None and not same else "secondary",
                help=f"Accept the suggestion: {suggested_name}",
                on_click=decide,
                args=(store, sid, "accept", row.suggested_label),
            )
            st.button(
                "Keep",
                key=f"keep_{sid}",
                help=f"Keep the given label: {given_name}",
                on_click=decide,
                args=(store, sid, "keep", row.given_label),
            )
            with st.popover("⋯", help="Relabel, fits no class, undo"):
                names = [audit.name(c) for c in audit.classes]
                st.selectbox(
                    "Relabel to",
                    names,
                    index=names.index(suggested_name) if suggested_name in names else 0,
                    key=f"relabel_to_{sid}",
                )
                st.button(
                    "Relabel",
                    key=f"relabel_{sid}",
                    on_click=relabel,
                    args=(store, audit, sid),
                    width="stretch",
                )
                st.button(
                    "Fits no class",
                    key=f"none_{sid}",
                    on_click=decide,
                    args=(store, sid, "none", None),
                    width="stretch",
                )
                st.button(
                    "Undo decision",
                    key=f"undo_{sid}",
                    on_click=undo,
                    args=(store, sid),
                    disabled=decision is None,
                    width="stretch",
                )


def pager(n_pages: int, where: str) -> None:
    def step(delta: int) -> None:
        st.session_state.page = min(n_pages, max(1, st.session_state.get("page", 1) + delta))

    page = st.session_state.get("page", 1)
    cols = st.columns([1, 1, 1], gap="small", vertical_alignment="center")
    cols[0].button(
        "← Prev", key=f"prev_{where}", on_click=step, args=(-1,), disabled=page <= 1, width="stretch"
    )
    cols[1].markdown(
        f"<div style='text-align:center'>page <b>{page}</b> of {n_pages:,}</div>", unsafe_allow_html=True
    )
    cols[2].button(
        "Next →", key=f"next_{where}", on_click=step, args=(1,), disabled=page >= n_pages, width="stretch"
    )


def review_tab(audit: AuditData, store: DecisionStore, filters: Filters, per_page: int) -> None:
    view = review.filter_audit(audit.frame, filters, store.ids())
    n_pages = review.page_count(len(view), per_page)
    page = min(max(1, int(st.session_state.get("page", 1))), n_pages)
    st.session_state.page = page
    rows = review.page_rows(view, page, per_page)

    top = st.columns([3, 2], vertical_alignment="center")
    first = (page - 1) * per_page + 1 if len(view) else 0
    what = []
    if filters.pair is not None:
        what.append(f"{audit.name(filters.pair[0])} → {audit.name(filters.pair[1])}")
    if filters.classes:
        what.append("classes " + ", ".join(audit.name(c) for c in filters.classes))
    top[0].markdown(
        f"**{first:,}-{first + len(rows) - 1 if len(rows) else 0:,}** of **{len(view):,}** samples"
        + (" flagged" if filters.flagged_only else "")
        + (f" · {'; '.join(what)}" if what else "")
        + " · most suspicious (highest loss) first"
    )
    with top[1]:
        pager(n_pages, "top")

    if filters.pair is not None:
        st.button("✕ Clear the label-pair filter", key="clear_pair", on_click=clear_pair)

    undecided = int((~view["sample_id"].isin(store.ids())).sum())
    with st.expander(f"Bulk accept: the suggestion for the {undecided:,} unreviewed samples in this view"):
        st.caption(
            "Samples you already decided on keep their decision. Each one is saved to the decisions file."
        )
        confirmed = st.checkbox(
            f"Yes, set the suggested label on {undecided:,} samples",
            key="bulk_confirm",
            disabled=undecided == 0,
        )
        st.button(
            f"Accept {undecided:,} suggestions",
            key="bulk_accept",
            type="primary",
            disabled=not confirmed or undecided == 0,
            on_click=bulk_accept,
            args=(store, view),
        )

    if rows.empty:
        st.info("No sample matches these filters.")
        return
    need = tuple(
        int(r) for r, s in zip(rows[review.ROW], rows["source"], strict=True) if not review.is_file_source(s)
    )
    stored = (
        stored_thumbnails(str(audit.path), review.file_stamp(audit.path), need)
        if need and audit.has_images
        else {}
    )
    records = list(rows.itertuples(index=False))
    decided = [f".st-key-card_{r.sample_id}" for r in records if r.sample_id in store]
    if decided:  # reviewed cards get a tinted frame
        st.markdown(
            f"<style>{', '.join(decided)} {{border-color: #a5b4fc !important; background: #f7f8ff;}}</style>",
            unsafe_allow_html=True,
        )
    width = int(st.session_state.get("grid_columns", GRID_COLUMNS))
    st.markdown(
        '<div class="lc-legend">'
        + badge("given", "given", "the label the data came with, and the model's probability of it", "p")
        + '<span class="lc-arrow">→</span>'
        + badge("suggested", "sugg", "the model's most probable label, and its probability", "p")
        + " &nbsp;the given label, then the model's suggestion, each with the model's probability. "
        "<b style='color:#c2410c'>#rank</b> = flagged.</div>",
        unsafe_allow_html=True,
    )
    for start in range(0, len(records), width):
        columns = st.columns(width, gap="small")
        for column, row in zip(columns, records[start : start + width], strict=False):
            with column:
                card(audit, store, row, stored)
    if n_pages > 1:
        pager(n_pages, "bottom")


def export_tab(audit: AuditData, store: DecisionStore) -> None:
    decisions = store.as_dict()
    counts = pd.Series([d["decision"] for d in decisions.values()], dtype=object).value_counts()
    cols = st.columns(4)
    for column, (key, text) in zip(cols, DECISIONS.items(), strict=True):
        column.metric(text.capitalize(), f"{int(counts.get(key, 0)):,}", border=True)
    st.markdown(
        "One row per sample: the reviewer's label where there is a decision, else the audit's "
        "`corrected_label` (`decided_by` says which). Samples that fit no class have an empty `final_label`."
    )
    csv_path, parquet_path = review.corrections_paths(audit.path)
    if st.button("Write the corrections", type="primary", key="export"):
        try:
            with st.spinner("Writing…"):
                review.write_corrections(audit, review.build_corrections(audit, decisions))
            st.session_state.exported = True
            st.toast(f"Wrote {csv_path.name} and {parquet_path.name}")
        except OSError as err:
            st.error(f"Could not write the corrections beside the audit: {err}")
    if csv_path.is_file() and parquet_path.is_file():
        written = pd.Timestamp(parquet_path.stat().st_mtime, unit="s").strftime("%Y-%m-%d %H:%M:%S")
        stale = store.path.is_file() and store.path.stat().st_mtime > parquet_path.stat().st_mtime
        st.success(f"Written beside the audit ({written}): `{csv_path}` and `{parquet_path}`")
        if stale:
            st.warning("Decisions changed since then: write the corrections again.")
        down = st.container(horizontal=True)
        down.download_button(
            "Download CSV",
            data=csv_path.read_bytes,
            file_name=csv_path.name,
            mime="text/csv",
            key="download_csv",
            on_click="ignore",
        )
        down.download_button(
            "Download Parquet",
            data=parquet_path.read_bytes,
            file_name=parquet_path.name,
            mime="application/octet-stream",
            key="download_parquet",
            on_click="ignore",
        )
        st.markdown("Apply them to a DataFrame `df` indexed by `sample_id` (the audit's input order):")
        st.code("import pandas as pd\n" + review.apply_snippet(parquet_path), language="python")
    if decisions:
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


def main() -> None:
    st.set_page_config(page_title="labelclean review", page_icon="🏷️", layout="wide")
    st.markdown(CSS, unsafe_allow_html=True)
    if "pending_open" in st.session_state:
        open_path(st.session_state.pop("pending_open"))
    path = requested_audit()
    sidebar_open(path)
    if not path:
        welcome()
        return
    try:
        resolved = Path(path).expanduser().absolute()
        audit = open_audit(str(resolved), review.file_stamp(resolved), dataset_root_override())
    except (OSError, ValueError) as err:
        st.markdown('<div class="lc-eyebrow">labelclean</div>', unsafe_allow_html=True)
        st.markdown("## Label review")
        st.error(f"Cannot open `{path}`: {err}")
        st.button("Back to the start page", key="back", on_click=open_path, args=(None,))
        return
    key = f"store::{audit.path}"
    try:
        if key not in st.session_state:
            st.session_state[key] = DecisionStore.for_audit(audit)
        store: DecisionStore = st.session_state[key]
        store.refresh()
    except (OSError, ValueError) as err:  # a hand-edited or unreadable decisions file: never overwrite it
        st.error(f"Cannot read the decisions file `{review.decisions_path(audit.path)}`: {err}")
        st.stop()
    for message in ("save_error", "flash"):
        if message in st.session_state:
            text = st.session_state.pop(message)
            st.error(text) if message == "save_error" else st.toast(text)

    pairs = review.confusion_pairs(audit)
    filters, per_page = sidebar_filters(audit, pairs)
    header(audit, store)
    tab_review, tab_overview, tab_export = st.tabs(["Review", "Overview", "Export"])
    with tab_overview:
        overview(audit, pairs)
    with tab_review:
        review_tab(audit, store, filters, per_page)
    with tab_export:
        export_tab(audit, store)


main()
