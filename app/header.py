"""The page's title block and the review's counts, above every view."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from labelclean.auditfile import NoiseCheck, ReviewTally

from . import actions
from .components import HEADER
from .decisions import DecisionStore
from .review import AuditData, check_count, review_tally, summary


def eyebrow(title: str = "Label review") -> None:
    """The title of the pages without an audit (plain Markdown: they carry no styles)."""
    st.markdown(f":orange[**LABELCLEAN**]\n## {title}")


def header(audit: AuditData, store: DecisionStore, views: tuple[str, ...], view: str) -> None:
    """Title, where the audit came from, the counts and the view tabs (one component)."""
    meta = audit.metadata
    root = (
        f"<code>{_e(audit.root)}</code> ({_e(audit.root_origin)})"
        if audit.root
        else f"none — {_e(audit.root_origin)}"
    )
    created = str(meta.get("created", "?")).replace("T", " ")[:19]
    images = "stored in the audit" if audit.has_images else f"files under {root}"
    stats = summary(audit.frame)
    flagged_ids = audit.frame.loc[audit.flagged, "sample_id"]
    counts = {
        "Samples": f"{stats['samples']:,}",
        "Flagged": f"{stats['flagged']:,}",
        "Flag rate": f"{stats['rate']:.1%}",
        "Reviewed": f"{len(store):,}",
        "Flagged left to review": f"{int((~flagged_ids.isin(store.ids())).sum()):,}",
    }
    rate, rate_note = noise_rate_text(meta.get("noise_rate"))
    counts["Wrong labels (estimate)"] = rate
    notes, below = {"Wrong labels (estimate)": rate_note}, {}
    tally = review_tally(audit, store.as_dict())
    if tally is not None:
        label = "Wrong among reviewed"
        counts[label], below[label], notes[label] = tally_text(tally)
    check = check_count(audit, store.as_dict())
    if check is not None:
        label = "Wrong labels (your check)"
        counts[label], below[label], notes[label] = check_text(check, audit.frame)
    tiles = "".join(
        f'<div class="lc-stat" data-stat="{_e(label)}"'
        + (f' title="{_e(notes[label])}"' if label in notes else "")
        + f"><div>{_e(label)}</div><b>{value}</b>"
        + (f"<small>{_e(below[label])}</small>" if label in below else "")
        + "</div>"
        for label, value in counts.items()
    )
    html_block = (
        '<div class="lc-eyebrow">labelclean · label review</div>'
        f'<div class="lc-head"><h1>{_e(audit.path.name)}</h1>'
        f'<span class="lc-sub">{_e(meta.get("data_source", "unknown data"))}</span></div>'
        f'<div class="lc-where"><code>{_e(audit.path)}</code> · created {_e(created)} · labelclean '
        f"{_e(meta.get('labelclean_version', '?'))} · decisions in <code>{_e(store.path.name)}</code> · "
        f'images: {images}</div><div class="lc-stats">{tiles}</div>'
    )
    HEADER(
        key="header",
        data={"html": html_block, "views": list(views), "view": view},
        on_view_change=actions.view_picked,
    )
    if audit.note:
        st.warning(audit.note, icon=":material/info:")


def tally_text(tally: ReviewTally) -> tuple[str, str, str]:
    """The reviewer's wrong labels against the audit's expectation, as the header shows them:
    their share, their count beside the expected one (marked where far from it), the explanation."""
    value = f"{tally.wrong / tally.reviewed:.0%}"
    note = (
        f"{tally.wrong:,} of the {tally.reviewed:,} labels you reviewed were wrong (you changed them "
        f"or said they fit no class); the audit expected {tally.expected:,.1f} ± {tally.spread:,.1f}"
    )
    if tally.verdict == "more":
        note += (
            ". Far more than its probabilities said. Where labels went wrong on ambiguous samples "
            "(instance-dependent noise, often human labelling), the audit counts too few wrong "
            "labels (it counts them where its networks are surest), so its flags and corrections "
            "miss many: review on in rank order, and check a random sample (order: a random check) "
            "to count them"
        )
    elif tally.verdict == "fewer":
        note += ". Far fewer than its probabilities said: the labels you reviewed were surer right than it thought"
    mark = {"more": "▲ ", "fewer": "▼ "}.get(tally.verdict, "")
    return value, f"{mark}{tally.wrong:,} of {tally.reviewed:,}; expected {tally.expected:,.0f}", note


def check_text(check: NoiseCheck, audit: pd.DataFrame) -> tuple[str, str, str]:
    """The share of wrong labels a random check found, as the header shows it: the share, its
    interval (marked where the check overrules the audit's count), the explanation."""
    note = (
        f"{check.reviewed:,} labels reviewed in the random-check order (each tenth of the ranking "
        f"alike) say that {check.estimate:.1%} of all labels are wrong, {check.level:.0%} interval "
        f"{check.low:.1%} to {check.high:.1%}; counted by you, not by the audit's model"
    )
    overrules = check.overrules(audit)
    if overrules:
        note += (
            f". The audit counted {check.audit_share(audit):.1%}, which the check rules out: "
            "trust the check. The Export view can write the corrections with its count"
        )
    mark = {1: "▲ ", -1: "▼ "}.get(overrules, "")
    return (
        f"{check.estimate:.1%}",
        f"{mark}{check.low:.1%} to {check.high:.1%}, {check.reviewed:,} checked",
        note,
    )


def noise_rate_text(rate: object) -> tuple[str, str]:
    """The audit's estimated share of wrong labels, and its interval, as the header shows them."""
    try:
        estimate, low, high = (float(rate[k]) for k in ("estimate", "low", "high"))  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return "—", "the audit's metadata has no noise-rate estimate"
    level = rate.get("level", 0.95) if isinstance(rate, dict) else 0.95
    return (
        f"{estimate:.1%}",
        f"the mean probability that a given label is wrong; {level:.0%} bootstrap interval "
        f"{low:.1%} to {high:.1%} (sampling error only)",
    )


def _e(value: object) -> str:
    return html.escape(str(value))
