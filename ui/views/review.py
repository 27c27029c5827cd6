"""Streamlit views of the Review page: what it reads once per run (ReviewContext), the section switch, the reviewer's
screen (the queue and its filters, the one-text form, the others' decisions) and "My reviewed texts". The admins'
Team section is in ui/views/review_team.py.

The rules behind them live in eqn_core.review; these functions draw widgets and store what
the user decided.
"""
from __future__ import annotations

import html
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from eqn_core.review.accounts import User
from eqn_core.review.decisions import (
    decisions_by_label,
    describe_decision,
    form_values,
    others_visible,
    record_decisions,
    reviewed_rows,
    reviewed_texts,
)
from eqn_core.review.suggestions import (
    QUEUE_ORDERS,
    QUEUE_STATUSES,
    UNLABELLED_QUEUE_ORDERS,
    filter_queue,
    label_mask,
    next_in_queue,
    queue_order,
    queue_position,
    record_suggestions,
)
from eqn_core.store.workspace import Workspace
from ui.display import escape_markdown, flash
from ui.session import data_version, load_energies, load_human_labels, load_label_names, load_texts
from ui.views.review_team import MODES, team
from ui.views.text_set_reads import TextSetChoice, annotation_energies
from ui.views.text_set_review import (
    METADATA_ORDER,
    metadata_filter,
    metadata_order,
    show_metadata,
    text_rows,
    text_set_context_parts,
)

REVIEW, MINE, TEAM = "Review texts", "My reviewed texts", "Team: assign, agree, adjudicate"
KEYS = {"submit": "Ctrl+Enter", "accept": "Alt+A", "next": "Alt+N", "previous": "Alt+P"}
STYLE = """<style>
.eqn-review-text {font-size: 1.5rem; line-height: 1.55; font-weight: 450; padding: 0.9rem 1.1rem; margin: 0.2rem 0 0.6rem;
  border-left: 5px solid #1f77b4; border-radius: 6px; background: rgba(31, 119, 180, 0.07); white-space: pre-wrap;}
</style>"""


@dataclass
class ReviewContext:
    """Everything the Review views read for one run and split, read once per page run."""
    workspace: Workspace
    user: User
    run_id: str
    dataset: str
    split: str
    label_names: list[str]
    energies: np.ndarray  # (N, C)
    human_labels: np.ndarray  # (N, C) bool (all False for own texts)
    texts: pd.DataFrame | None  # row_idx, text_id, text, label_ids; None for own texts (read by row)
    thresholds: np.ndarray  # (C,)
    non_emotion: list[str]
    exclude: np.ndarray  # (C,) bool: labels that are not emotions
    decisions: pd.DataFrame  # each reviewer's latest decision per (text, label)
    submissions: pd.DataFrame
    assignments: pd.DataFrame
    blind: bool
    text_set: TextSetChoice | None = None  # own texts: the annotation reviewed; None for a labelled split

    @property
    def labelled(self) -> bool:
        return self.text_set is None

    @property
    def queue_orders(self) -> list[str]:
        return list(QUEUE_ORDERS) if self.labelled else list(UNLABELLED_QUEUE_ORDERS)

    def text_rows(self, rows) -> pd.DataFrame:
        """row_idx, text_id, text (and, for own texts, source_file, source_row and the metadata) of the given rows,
        in the order given."""
        if self.labelled:
            return self.texts.iloc[[int(row) for row in rows]]
        return text_rows(self.text_set, rows)

    @property
    def mine_rows(self) -> np.ndarray:
        """(K,) the rows the signed-in user reviewed."""
        return reviewed_rows(self.decisions, self.submissions, reviewer=self.user.name)


def text_set_review_context(workspace: Workspace, choice: TextSetChoice, user: User,
                            thresholds: np.ndarray) -> ReviewContext:
    return ReviewContext(**text_set_context_parts(workspace, choice, user), thresholds=thresholds)


def review_context(workspace: Workspace, run: dict, split: str, user: User, thresholds: np.ndarray) -> ReviewContext:
    run_id, dataset = run["run_id"], run["dataset"]
    label_names = load_label_names(dataset)
    non_emotion = workspace.non_emotion_labels(dataset)
    return ReviewContext(
        workspace=workspace, user=user, run_id=run_id, dataset=dataset, split=split, label_names=label_names,
        energies=load_energies(run_id, split), human_labels=load_human_labels(dataset, split),
        texts=load_texts(dataset, split), thresholds=thresholds, non_emotion=non_emotion,
        exclude=label_mask(label_names, non_emotion), decisions=workspace.reviews(run_id=run_id, split=split),
        submissions=workspace.submissions(run_id=run_id, split=split),
        assignments=workspace.assignments(run_id=run_id, split=split),
        blind=workspace.blind_review(run_id=run_id, split=split))


def pick_section(user: User) -> str:
    """The section switch (Review texts, My reviewed texts, and for admins Team)."""
    sections = [REVIEW, MINE, *([TEAM] if user.is_admin else [])]
    if st.session_state.get("review_section") not in sections:
        st.session_state["review_section"] = REVIEW
    section = st.segmented_control("Section", sections, key="review_section", label_visibility="collapsed")
    return section or REVIEW


def show_section(section: str, context: ReviewContext) -> None:
    {REVIEW: review_screen, MINE: my_texts, TEAM: team}[section](context)


def mode_caption(context: ReviewContext) -> None:
    """Say how this run and split is reviewed (an admin sets it in the Team section)."""
    name, icon, meaning = MODES[context.blind]
    st.caption(f"{icon} **{name}** for this run and split: {meaning}. Admins see every decision; an admin sets the "
               "mode in the Team section.")


@st.cache_data(show_spinner=False, max_entries=32)
def _ordered_rows(run_id: str, dataset: str, split: str, thresholds: tuple, order: str, excluded: tuple, seed: int,
                  version: int) -> np.ndarray:
    return queue_order(load_energies(run_id, split), load_human_labels(dataset, split), np.asarray(thresholds),
                       order=order, exclude_mask=np.asarray(excluded, dtype=bool), seed=seed)


@st.cache_data(show_spinner=False, max_entries=32)
def _ordered_text_set_rows(choice: TextSetChoice, thresholds: tuple, order: str, excluded: tuple, seed: int,
                           version: int) -> np.ndarray:
    return queue_order(annotation_energies(choice), None, np.asarray(thresholds), order=order,
                       exclude_mask=np.asarray(excluded, dtype=bool), seed=seed)


def ordered_rows(context: ReviewContext, order: str, metadata_column: str | None) -> np.ndarray:
    """(N,) the texts in the queue's order (cached: a submit or a filter change reorders nothing)."""
    thresholds, excluded = tuple(context.thresholds.tolist()), tuple(context.exclude.tolist())
    if context.labelled:
        return _ordered_rows(context.run_id, context.dataset, context.split, thresholds, order, excluded, 0,
                             data_version())
    if order == METADATA_ORDER:
        return metadata_order(context.text_set, metadata_column)
    return _ordered_text_set_rows(context.text_set, thresholds, order, excluded, 0, data_version())


@st.cache_resource
def _submit_lock() -> threading.Lock:
    return threading.Lock()


def reopen(row: int) -> None:
    """Show `row` in the review screen even if the queue's filters leave it out (Previous, Reopen)."""
    state = st.session_state
    state["review_row"], state["review_pinned"] = int(row), True
    state["review_section"] = REVIEW


# ------------------------------------------------------------------------------------------------ review texts
def queue_filters(context: ReviewContext, assigned_to_me: np.ndarray) -> np.ndarray:
    """The queue's order and filters (an expander); (K,) the rows of the queue, in order."""
    label_names = context.label_names
    with st.expander("Queue: order and filters", expanded=False):
        left, middle, right = st.columns(3)
        metadata_column, metadata_within = (None, []) if context.labelled else metadata_filter(context.text_set, left)
        orders = context.queue_orders + ([METADATA_ORDER] if metadata_column else [])
        if st.session_state.get("review_order") not in orders:
            st.session_state["review_order"] = orders[0]
        order = left.selectbox("Order", orders, key="review_order",
                               format_func=lambda name: QUEUE_ORDERS.get(name) or f"by {metadata_column}")
        status = middle.selectbox("Texts", list(QUEUE_STATUSES), format_func=QUEUE_STATUSES.get, key="review_status")
        emotion = right.selectbox("Emotion", [None, *label_names], key="review_emotion",
                                  format_func=lambda name: "any emotion" if name is None else name)
        energy_range = None
        if emotion is not None:
            energy_range = right.slider(f"{emotion} energy between", 0.0, 10.0, (0.0, 10.0), step=0.1,
                                        key="review_energy_range")
        others = sorted((set(context.decisions["reviewer"]) | set(context.submissions["reviewer"]))
                        - {context.user.name})
        by_reviewer = middle.selectbox("Reviewed by", [None, *others], key="review_by",
                                       format_func=lambda name: "anyone or no one" if name is None else name)
        only_assigned = left.toggle("Only texts assigned to me", value=bool(assigned_to_me.size),
                                    key="review_only_assigned", disabled=not assigned_to_me.size,
                                    help="An admin assigns texts on the Team section.")
        st.caption(f"Left out of suggestions and agreement (not emotions): {', '.join(context.non_emotion) or 'none'}.")

    rows = ordered_rows(context, order, metadata_column)
    within = list(metadata_within)
    if by_reviewer is not None:
        within.append(reviewed_rows(context.decisions, context.submissions, reviewer=by_reviewer))
    if only_assigned:
        within.append(assigned_to_me)
    return filter_queue(rows, context.energies, reviewed=context.mine_rows, status=status,
                        label_id=None if emotion is None else label_names.index(emotion), energy_range=energy_range,
                        within=within)


def review_screen(context: ReviewContext) -> None:
    state, user = st.session_state, context.user
    assignments = context.assignments
    assigned_to_me = assignments[assignments["reviewer"] == user.name]["row_idx"].to_numpy(dtype=np.int64)
    mine_rows = context.mine_rows
    queue = queue_filters(context, assigned_to_me)
    mode_caption(context)

    row = state.get("review_row")
    if row is None or (queue_position(queue, row) is None and not state.get("review_pinned")):
        row = int(queue[0]) if queue.size else None
    done = int(np.isin(assigned_to_me, mine_rows).sum())
    mine_text = f"{len(mine_rows):,} texts reviewed by you"
    if assigned_to_me.size:
        mine_text += f" · {done:,} of {assigned_to_me.size:,} assigned to you"
        st.progress(done / assigned_to_me.size, text=mine_text)
    else:
        st.caption(mine_text)
    if row is None:
        st.success("No text left in this queue. Change the order or filters (above) for more, or reopen a text "
                   "under “My reviewed texts”.")
        return
    review_form(context, row, queue, reviewed_by_me=row in set(mine_rows.tolist()))


def review_form(context: ReviewContext, row: int, queue: np.ndarray, *, reviewed_by_me: bool) -> None:
    """One text: its header and navigation, the text, the form of every emotion's energy, the others' decisions."""
    state, user, label_names = st.session_state, context.user, context.label_names
    energies, decisions, submissions = context.energies, context.decisions, context.submissions

    def go_next() -> None:
        state.setdefault("review_history", []).append(row)
        state["review_row"], state["review_pinned"] = next_in_queue(queue, row), False

    def go_previous() -> None:
        history = state.get("review_history") or []
        if history:
            reopen(history.pop())

    at = queue_position(queue, row)
    position = "a text outside this queue (reopened)" if at is None else f"text {at + 1:,} of {len(queue):,} in this queue"
    model = energies[row].astype(np.float64)  # (C,)
    human = context.human_labels[row]  # (C,)
    suggested = record_suggestions(energies[[row]], context.human_labels[[row]], context.thresholds,
                                   exclude_mask=context.exclude)[0]  # (C,)
    previous = decisions_by_label(decisions, reviewer=user.name, row=row)
    shown, accepted = form_values(model, label_names, previous)  # (C,), (C,)
    my_notes = submissions[(submissions["reviewer"] == user.name) & (submissions["row_idx"] == row)]["note"]
    version = state.get("review_version", 0)
    tag = f"{row}_{version}"

    shown_text = context.text_rows([row]).iloc[0]
    head_left, head_right = st.columns([3, 2])
    head_left.markdown(f"**Row {row}** · id {escape_markdown(shown_text['text_id'])} · {position}"
                       + (" · :green-badge[reviewed by you]" if reviewed_by_me else ""))
    nav = head_right.columns(2)
    nav[0].button("Previous", key="review_previous", on_click=go_previous, shortcut=KEYS["previous"],
                  icon=":material/arrow_back:", disabled=not state.get("review_history"), width="stretch")
    nav[1].button("Skip to next", key="review_next", on_click=go_next, shortcut=KEYS["next"],
                  icon=":material/arrow_forward:", width="stretch")
    st.markdown(f"<div class='eqn-review-text'>{html.escape(shown_text['text'])}</div>", unsafe_allow_html=True)
    if context.labelled:
        given = [label_names[j] for j in np.flatnonzero(human)]
        st.markdown("Human labels: " + (" ".join(f":blue-badge[{escape_markdown(label)}]" for label in given)
                                        or "*none*"))
    else:
        show_metadata(context, shown_text)

    def submit(as_suggested: bool) -> None:
        """Store the text's decisions (a callback: it runs before the page, so one run shows the next text)."""
        with _submit_lock():  # Enter in a field and the shortcut can both fire: store the text once
            if state.get("review_version", 0) == version:
                store(as_suggested)

    def store(as_suggested: bool) -> None:
        values = np.array([state[f"review_energy_{tag}_{j}"] for j in range(len(label_names))], dtype=np.float64)
        ticked = np.array([state.get(f"review_accept_{tag}_{j}", bool(accepted[j])) for j in range(len(label_names))])
        if as_suggested:  # the model's values with every suggestion accepted; edits in the form are ignored
            values, ticked = shown, np.where(suggested, True, accepted)
        # read fresh: a repeated event (Enter and the shortcut) then appends nothing twice
        latest = context.workspace.reviews(run_id=context.run_id, split=context.split, reviewer=user.name)
        now = decisions_by_label(latest, reviewer=user.name, row=row)
        chosen = record_decisions(model, context.thresholds, suggested, shown, values, ticked, label_names,
                                  previous=now)
        context.workspace.submit_text_review(run_id=context.run_id, split=context.split, row_idx=row,
                                             reviewer=user.name, decisions=chosen,
                                             note=(state.get(f"review_note_{tag}") or "").strip())
        flash(f"Saved row {row}: " + (", ".join(describe_decision(decision) for decision in chosen)
                                      or "no change to the model's energies") + ".")
        state.setdefault("review_history", []).append(row)
        state["review_row"], state["review_pinned"] = next_in_queue(queue, row), False
        state["review_version"] = version + 1  # fresh widgets for the next text; decisions are read fresh

    with st.form(f"review_form_{tag}", border=True):
        if suggested.any():
            st.markdown("**Suggested micro-emotions**: the model's energy reaches the threshold"
                        + (" and no person gave the label" if context.labelled else "") + ". Untick to reject.")
            boxes = st.columns(4)
            for n, j in enumerate(np.flatnonzero(suggested)):
                boxes[n % 4].checkbox(f":orange-background[**{escape_markdown(label_names[j])}** {model[j]:.1f}]",
                                      value=bool(accepted[j]), key=f"review_accept_{tag}_{j}")
        else:
            st.markdown("**No suggested micro-emotion** at this threshold. Add an emotion the model missed by "
                        "giving it an energy.")
        st.markdown("**Every emotion's energy** (0-10; from the model, or your earlier decision). "
                    ":orange-background[orange]: suggested" + (" · :blue-background[blue]: human label"
                                                               if context.labelled else ""))
        for start in range(0, len(label_names), 4):
            cells = st.columns(4)
            for offset, j in enumerate(range(start, min(start + 4, len(label_names)))):
                name = escape_markdown(label_names[j])
                if suggested[j]:
                    caption = f":orange-background[**{name}** · suggested]"
                elif human[j]:
                    caption = f":blue-background[**{name}** · human label]"
                elif context.exclude[j]:
                    caption = f"{name} · not an emotion"
                else:
                    caption = name
                cells[offset].number_input(caption, min_value=0.0, max_value=10.0, value=float(shown[j]), step=0.1,
                                           format="%.1f", key=f"review_energy_{tag}_{j}")
        st.text_area("Note (optional; Enter starts a new line)", value=my_notes.iloc[-1] if len(my_notes) else "",
                     key=f"review_note_{tag}", height=70)
        buttons = st.columns([1, 1, 3])
        buttons[0].form_submit_button("Submit", type="primary", key=f"review_submit_{tag}", on_click=submit,
                                      args=(False,), shortcut=KEYS["submit"], icon=":material/check:",
                                      width="stretch")
        buttons[1].form_submit_button("Accept as suggested", key=f"review_accept_all_{tag}", on_click=submit,
                                      args=(True,), shortcut=KEYS["accept"], icon=":material/done_all:",
                                      width="stretch")
        buttons[2].caption(f"Keys: **{KEYS['submit']}** submit · **{KEYS['accept']}** accept as suggested · "
                           f"**{KEYS['next']}** skip to next · **{KEYS['previous']}** previous · **Tab** next "
                           "field · **Space** ticks or unticks a suggestion")
    others_on_text(context, row, reviewed_by_me=reviewed_by_me)


def others_on_text(context: ReviewContext, row: int, *, reviewed_by_me: bool) -> None:
    """The other reviewers' decisions on this text, when the review mode lets this user see them."""
    decisions, submissions, user = context.decisions, context.submissions, context.user
    others = decisions[(decisions["row_idx"] == row) & (decisions["reviewer"] != user.name)]
    others_submitted = submissions[(submissions["row_idx"] == row) & (submissions["reviewer"] != user.name)]
    if not (len(others) or len(others_submitted)):
        return
    if others_visible(blind=context.blind, reviewed_by_me=reviewed_by_me, is_admin=user.is_admin):
        with st.expander(f"Other reviewers on this text ({others_submitted['reviewer'].nunique()})"):
            st.dataframe(others[["reviewer", "label", "decision", "energy", "note", "decided_at"]],
                         hide_index=True, key="review_others")
    else:
        st.caption("Others have reviewed this text; their decisions show once you submit yours (blind review).")


# ------------------------------------------------------------------------------------------------ my reviewed texts
def my_texts(context: ReviewContext) -> None:
    state, user = st.session_state, context.user
    mine = context.mine_rows
    texts_by_row = dict(zip(mine.tolist(), context.text_rows(mine)["text"].tolist()))
    table = reviewed_texts(context.decisions, context.submissions, texts_by_row,
                           context.human_labels, context.label_names, reviewer=user.name)
    if table.empty:
        st.info("You have not reviewed a text of this run and split yet.")
        return
    st.caption(f"{len(table):,} texts reviewed by you. Pick one to reopen it: a change is added to the log (nothing "
               "is overwritten) and your latest decision counts.")
    event = st.dataframe(table, hide_index=True, key="review_mine", on_select="rerun", selection_mode="single-row",
                         column_config={"text": st.column_config.TextColumn(width="large")})
    picked = event.selection.rows if event is not None else []
    options = table["row"].tolist()
    if picked:
        state["review_reopen_pick"] = int(table.iloc[picked[0]]["row"])
    if state.get("review_reopen_pick") not in options:
        state["review_reopen_pick"] = options[0]
    left, right = st.columns([4, 1])
    chosen = left.selectbox("Text to reopen", options, key="review_reopen_pick",
                            format_func=lambda row: f"row {row}: {texts_by_row[row][:100]}")
    right.button("Reopen", key="review_reopen", on_click=lambda: reopen(state["review_reopen_pick"]), type="primary",
                 icon=":material/edit:", width="stretch")
    with st.expander("Every decision you made on this text, oldest first"):
        log = context.workspace.reviews(run_id=context.run_id, split=context.split, reviewer=user.name,
                                        latest_only=False)
        st.dataframe(log[log["row_idx"] == chosen][["label", "decision", "energy", "note", "decided_at"]],
                     hide_index=True, key="review_mine_log")
