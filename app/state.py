"""What one reviewer's session remembers between runs, and the grid's actions applied to it.

Streamlit keeps only the newest pending value of a component's trigger, and the grid moves
on at once, so a key pressed while the server is busy would replace the one before it. The
grid therefore sends its actions as a queue: every action not yet acknowledged, each with a
sequence number from its browser tab (``client``). :func:`apply_actions` applies each
number once, in order, and the next drawing acknowledges the highest number applied and
lists the ones refused, with the reason; the grid keeps and resends the rest. Nothing here
imports Streamlit: the callback looks this state up once, because every read of
``st.session_state`` is a point where Streamlit may stop a callback for a newer run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .decisions import DecisionStore
from .review import AuditData, page_count, page_of, position

__all__ = [
    "DECISION_KINDS",
    "ReviewState",
    "accept_all",
    "apply_action",
    "apply_actions",
    "close_detail",
    "decision_kind",
    "resolve_show",
    "undo",
]

DECISION_KINDS = ("accept", "keep", "relabel", "none", "clear")
KEEP_CLIENTS = 16  # browser tabs remembered per session (a reload is a new tab)
KEEP_REFUSED = 40


@dataclass
class ReviewState:
    """The Review view's state in one session.

    ``page`` (1-based) and ``focus`` (a sample id, as text) are where the grid is; a new
    ``focus_seq`` tells the grid to move its focus to ``focus`` (after an undo, a page
    turn); ``detail``: the sample in the larger view, or None; ``show``: a sample whose
    page the next drawing turns to. ``undo``: what each decision of this session replaced.
    ``applied``: per browser tab, the last action applied; ``refused``: actions not saved,
    as ``{"client", "seq", "id", "text"}``; ``images_sent``: the larger view's images this
    session's browser already holds; ``flash``: messages for the next drawing.
    """

    page: int = 1
    focus: str | None = None
    focus_seq: int = 0
    detail: str | None = None
    show: str | None = None
    undo: list[dict[Any, Any]] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)
    refused: list[dict[str, Any]] = field(default_factory=list)
    images_sent: set[str] = field(default_factory=set)
    flash: list[str] = field(default_factory=list)

    def set_focus(self, sample_id: Any) -> None:
        self.focus = None if sample_id is None else str(sample_id)
        self.focus_seq += 1

    def fresh(self) -> ReviewState:
        """A state for another audit; the tabs' action numbers carry over, so that a resent
        action from before the switch is not applied to the new audit."""
        return ReviewState(applied=dict(self.applied), focus_seq=self.focus_seq + 1)


def apply_actions(
    state: ReviewState,
    store: DecisionStore,
    audit: AuditData,
    view: pd.DataFrame,
    per_page: int,
    payload: dict[str, Any] | None,
) -> None:
    """Apply the grid's queue ``{"client", "actions": [{"seq", "type", ...}]}``: each action
    whose ``seq`` is above the last one applied for that client, once, in order."""
    client = str((payload or {}).get("client") or "")
    actions = (payload or {}).get("actions") or []
    if not client or not isinstance(actions, list):
        return
    for action in sorted(actions, key=lambda a: int(a.get("seq", 0))):
        seq = int(action.get("seq", 0))
        if seq <= state.applied.get(client, 0):
            continue
        refusal = apply_action(state, store, audit, view, per_page, action)
        state.applied[client] = seq
        if refusal is not None:
            state.refused.append({"client": client, "seq": seq, "id": action.get("id"), "text": refusal})
    state.refused = state.refused[-KEEP_REFUSED:]
    if len(state.applied) > KEEP_CLIENTS:
        state.applied = dict(list(state.applied.items())[-KEEP_CLIENTS:])


def apply_action(
    state: ReviewState,
    store: DecisionStore,
    audit: AuditData,
    view: pd.DataFrame,
    per_page: int,
    action: dict[str, Any],
) -> str | None:
    """One click or key press in the grid; returns why it was refused, or None.

    ``{"type": "accept"|"keep"|"relabel"|"none"|"clear", "id", "label"}`` decides on a
    sample and moves on to the next one in the view; ``undo``; ``page`` (``delta``);
    ``open`` / ``close`` the larger view; ``image``: the browser lacks the larger view's
    image ``key``.
    """
    kind = action.get("type")
    if kind == "undo":
        return undo(state, store)
    if kind == "page":
        state.page = min(page_count(len(view), per_page), max(1, state.page + int(action.get("delta", 0))))
    elif kind == "open":
        state.detail = None if action.get("id") is None else str(action["id"])
    elif kind == "close":
        close_detail(state, audit, view, per_page)
    elif kind == "image":
        state.images_sent.discard(str(action.get("key")))
    elif kind in DECISION_KINDS:
        refusal = _record(state, store, audit, action)
        if refusal is None and kind != "clear":
            _move_on(state, view, per_page, audit.sample_id(action["id"]))
        return refusal
    else:
        return f"unknown action {kind!r}"
    return None


def decision_kind(audit: AuditData, sample_id: Any, kind: str, label: str | None) -> tuple[str, Any]:
    """The decision and final label that a key or click means: a relabel to the suggested
    class is an accept, one to the given class a keep. Raises KeyError for an unknown class."""
    row = audit.row(sample_id)
    if kind == "accept":
        return "accept", row.suggested_label
    if kind == "keep":
        return "keep", row.given_label
    if kind == "none":
        return "none", None
    final = audit.label_of(str(label))
    if final == row.suggested_label:
        return "accept", final
    return ("keep" if final == row.given_label else "relabel"), final


def _record(state: ReviewState, store: DecisionStore, audit: AuditData, action: dict[str, Any]) -> str | None:
    """Save one decision (or clear one) and remember what it replaced; returns why not."""
    if action.get("id") is None:
        return "no sample given"
    try:
        sample_id = audit.sample_id(action["id"])
        audit.row(sample_id)
    except (KeyError, ValueError):
        return f"sample {action['id']} is not in this audit"
    kind = str(action["type"])
    try:
        if kind == "clear":
            previous = store.clear(sample_id)
        else:
            decision, final = decision_kind(audit, sample_id, kind, action.get("label"))
            previous = store.record(sample_id, decision, final)
    except KeyError:
        return f"{action.get('label')!r} is not a class of this audit"
    except OSError as err:
        return f"could not save to {store.path}: {err}"
    state.undo.append(previous)
    return None


def _move_on(state: ReviewState, view: pd.DataFrame, per_page: int, sample_id: Any) -> None:
    """After a decision: the larger view shows the next sample of the view; the grid's focus
    moves to it, turning the page after a page's last card."""
    at = position(view, sample_id)
    if at is None or at + 1 >= len(view):
        return
    following = str(view["sample_id"].iat[at + 1])
    if state.detail is not None:
        state.detail = following
    elif at // per_page != (at + 1) // per_page:
        state.show = following
    else:
        state.focus = following  # the browser moved its focus already: no new focus_seq


def undo(state: ReviewState, store: DecisionStore) -> str | None:
    """Put back what the last decision (or bulk accept) of this session replaced, and show
    the sample it was on (turning to its page)."""
    if not state.undo:
        state.flash.append("Nothing to undo in this session.")
        return None
    previous = state.undo.pop()
    try:
        store.restore(previous)
    except OSError as err:
        state.undo.append(previous)
        return f"could not save the undo to {store.path}: {err}"
    first = str(next(iter(previous)))
    if state.detail is not None:
        state.detail = first
    else:
        state.show = first
    state.flash.append(
        f"Undid the decision on sample {first}."
        if len(previous) == 1
        else f"Undid {len(previous):,} decisions."
    )
    return None


def close_detail(state: ReviewState, audit: AuditData, view: pd.DataFrame, per_page: int) -> None:
    """Close the larger view on the page (and card) of the sample it showed last."""
    sample_id, state.detail = state.detail, None
    if sample_id is not None and page_of(view, audit.sample_id(sample_id), per_page) is not None:
        state.show = sample_id


def accept_all(state: ReviewState, store: DecisionStore, todo: pd.DataFrame) -> None:
    """Accept the suggestion on every row of ``todo`` with one save (one undo step).
    Raises OSError when the save fails."""
    items = zip(
        todo["sample_id"].tolist(), ["accept"] * len(todo), todo["suggested_label"].tolist(), strict=True
    )
    state.undo.append(store.record_many(items))
    state.flash.append(f"Accepted the suggestion for {len(todo):,} samples.")


def resolve_show(state: ReviewState, audit: AuditData, view: pd.DataFrame, per_page: int) -> None:
    """Turn to the page of ``state.show`` (when the view has it) and focus it there."""
    if state.show is None:
        return
    page = page_of(view, audit.sample_id(state.show), per_page)
    if page is not None:
        state.page = page
        state.set_focus(state.show)
    state.show = None
