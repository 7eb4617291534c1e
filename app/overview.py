"""The Overview view: flag rate per class, the loss histogram, and the given → suggested map.

Picking a pair (a heat-map cell or the list) opens the Review view on that pair's samples.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from . import actions
from .review import AuditData, per_class_rates

ORANGE, GREY = "#e8743b", "#9aa5b1"


def overview_view(audit: AuditData) -> None:
    left, right = st.columns([2, 3], gap="large")
    with left:
        rates = per_class_rates(audit)
        st.markdown("##### Flagged rate per given class")
        st.altair_chart(rate_bars(rates), width="stretch", height=max(160, 24 * len(rates)))
        st.markdown("##### Loss of every sample")
        st.altair_chart(loss_histogram(audit), width="stretch")
    with right:
        st.markdown("##### Flagged samples: given → suggested label")
        if audit.pairs.empty:
            st.info("No sample is flagged.")
            return
        st.altair_chart(
            confusion_map(audit),
            width="stretch",
            key="heatmap",
            on_select=lambda: actions.heatmap_clicked(audit),
            selection_mode="cell",
        )
        pair_list(audit)


def rate_bars(rates: pd.DataFrame) -> alt.Chart:
    return (
        alt.Chart(rates)
        .mark_bar(cornerRadiusEnd=3, color=ORANGE)
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


def loss_histogram(audit: AuditData, bins: int = 40) -> alt.VConcatChart:
    """Samples per loss bin, flagged above and not flagged below, each on its own count axis.

    Clean and wrong labels form two modes of very different sizes: one shared axis (or bars
    stacked on a square-root axis, whose upper part no longer reads as a count) would hide the
    small flagged mode or misstate it. Both panels share the loss axis.
    """
    loss = audit.frame["loss"].to_numpy(dtype=float)
    edges = np.linspace(0.0, max(float(loss.max()), 1e-6), bins + 1)
    panels = []
    for name, mask, colour in (("flagged", audit.flagged, ORANGE), ("not flagged", ~audit.flagged, GREY)):
        counts, _ = np.histogram(loss[mask], edges)
        data = pd.DataFrame({"low": edges[:-1], "high": edges[1:], "count": counts, "samples": name})
        panels.append(
            alt.Chart(data[data["count"] > 0], title=alt.Title(f"{name}: {int(mask.sum()):,}", fontSize=12))
            .mark_bar(color=colour)
            .encode(
                x=alt.X(
                    "low:Q",
                    bin="binned",
                    title="loss against the given label" if name == "not flagged" else None,
                    scale=alt.Scale(domain=[0, float(edges[-1])]),
                ),
                x2="high:Q",
                y=alt.Y("count:Q", title="samples", axis=alt.Axis(tickCount=4, format=",d")),
                tooltip=[
                    alt.Tooltip("samples:N"),
                    alt.Tooltip("low:Q", format=".2f"),
                    alt.Tooltip("high:Q", format=".2f"),
                    alt.Tooltip("count:Q", format=","),
                ],
            )
            .properties(height=130, width="container")
        )
    return alt.vconcat(*panels, spacing=12)


def confusion_map(audit: AuditData) -> alt.LayerChart:
    """The flagged pairs as a heat map; clicking a cell picks the pair.

    The colour scale starts at 0, so the lightest cell that exists (one sample) is never
    the scale's white end, and text turns white only on the darker half.
    """
    pairs = audit.pairs
    names = [audit.name(c) for c in audit.classes]
    most = int(pairs["count"].max())
    cell = alt.selection_point(name="cell", fields=["given", "suggested"], on="click")
    base = alt.Chart(pairs).encode(
        x=alt.X("suggested:N", sort=names, title="suggested label", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("given:N", sort=names, title="given label"),
    )
    heat = base.mark_rect(cornerRadius=2, stroke="white", strokeWidth=1).encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="orangered", domain=[0, most]), legend=None),
        opacity=alt.condition(cell, alt.value(1.0), alt.value(0.35)),
        tooltip=[alt.Tooltip("given:N"), alt.Tooltip("suggested:N"), alt.Tooltip("count:Q", format=",")],
    )
    text = base.mark_text(fontSize=11).encode(
        text="count:Q",
        color=alt.condition(alt.datum.count > most / 2, alt.value("white"), alt.value("#333")),
    )
    return (heat + text).add_params(cell).properties(height=max(220, 30 * len(names)))


def pair_list(audit: AuditData) -> None:
    pairs = audit.pairs
    options = list(zip(pairs["given_label"].tolist(), pairs["suggested_label"].tolist(), strict=True))
    counts = dict(zip(options, pairs["count"].tolist(), strict=True))
    st.selectbox(
        "Review one pair (or click a cell)",
        options,
        index=None,
        key="pair_pick",
        format_func=lambda p: f"{audit.name(p[0])} → {audit.name(p[1])}  ({counts[p]} flagged)",
        placeholder=f"{len(options)} pairs",
        on_change=actions.pick_pair_from_list,
    )
