"""Streamlit views of the Review page's Team section, for admins: the review mode (blind or open), the labels that are
not emotions, assigning texts, progress, agreement between reviewers and adjudication of their disagreements.

The rules behind them live in eqn_core.review.agreement; the page's context comes from ui/views/review.py.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from eqn_core.review.accounts import load_users, users_file
from eqn_core.review.agreement import (
    disagreement_keys,
    disagreements,
    pair_agreement,
    parse_disagreement_key,
    plan_from_queue,
    reviewer_progress,
)
from eqn_core.review.suggestions import QUEUE_ORDERS
from ui.display import flash
from ui.session import workspace_root

if TYPE_CHECKING:
    from ui.views.review import ReviewContext

MODES = {True: ("Blind review", ":material/visibility_off:", "other reviewers' decisions on a text show once you "
                "have submitted yours"),
         False: ("Open review", ":material/visibility:", "you see other reviewers' decisions on a text before "
                 "you submit yours")}


def team(context: ReviewContext) -> None:
    review_mode(context)
    non_emotion_labels(context)
    assign_texts(context)
    progress(context)
    agreement(context)
    adjudicate(context)


def review_mode(context: ReviewContext) -> None:
    st.subheader("Review mode")
    state = st.session_state
    state["review_blind"] = context.blind  # the stored mode, also when another admin changed it meanwhile

    def store() -> None:
        context.workspace.set_blind_review(run_id=context.run_id, split=context.split, blind=state["review_blind"],
                                            changed_by=context.user.name)
        flash(f"{MODES[state['review_blind']][0]} for {context.run_id} · {context.split}.")

    st.toggle("Blind review", key="review_blind", on_change=store,
              help="On: a reviewer sees other reviewers' decisions on a text only after submitting their own, so "
                   "agreement measures independent judgements. Off: everyone sees them at once. Admins always do.")
    st.caption("For this run and split; every reviewer sees which mode is on. Changes are logged with your name.")


def non_emotion_labels(context: ReviewContext) -> None:
    st.subheader("Labels that are not emotions")
    picked = st.multiselect("Left out of suggestions and agreement", context.label_names, default=context.non_emotion,
                            key="review_non_emotion")
    if st.button("Save for this data set", key="review_non_emotion_save") and picked != context.non_emotion:
        context.workspace.set_non_emotion_labels(context.dataset, picked)
        flash(f"Not emotions in {context.dataset}: {', '.join(picked) or 'none'}.")
        st.rerun()


def assign_texts(context: ReviewContext) -> None:
    st.subheader("Assign texts")
    accounts = sorted(load_users(users_file(workspace_root())))
    if not accounts:
        st.caption("Single-user local mode: add reviewer accounts (`eqn users add NAME --role reviewer`) to assign "
                   "texts to them.")
        return
    num_texts = len(context.energies)
    with st.form("review_assign_form"):
        left, middle, right = st.columns(3)
        people = left.multiselect("Reviewers", accounts, key="review_assign_people")
        count = middle.number_input("Texts", min_value=1, max_value=num_texts, value=min(50, num_texts),
                                    key="review_assign_count")
        per_text = right.number_input("Reviewers per text (2 or more: overlap for agreement)", min_value=1,
                                      max_value=max(1, len(accounts)), value=min(2, len(accounts)),
                                      key="review_assign_per_text")
        orders = context.queue_orders
        order = middle.selectbox("Which texts", orders, format_func=QUEUE_ORDERS.get, index=orders.index("random"),
                                 key="review_assign_order")
        assign = st.form_submit_button("Assign", type="primary", key="review_assign_go")
    if not assign:
        return
    try:
        plan = plan_from_queue(context.energies, context.human_labels, context.thresholds, people, count=int(count),
                               per_text=int(per_text), order=order, exclude_mask=context.exclude)
        added = sum(context.workspace.assign_texts(run_id=context.run_id, split=context.split, rows=assigned,
                                                   reviewers=[name], assigned_by=context.user.name)
                    for name, assigned in plan.items())
    except ValueError as error:
        st.error(str(error))
    else:
        flash(f"Assigned {int(count):,} texts, each to {int(per_text)} of {', '.join(people)} ({added:,} new "
              "assignments).")
        st.rerun()


def progress(context: ReviewContext) -> None:
    st.subheader("Progress")
    table = reviewer_progress(context.decisions, context.submissions, context.assignments)
    if table.empty:
        st.caption("No one has reviewed or been assigned a text of this run and split yet.")
        return
    st.dataframe(table, hide_index=True, key="review_progress",
                 column_config={"share_done": st.column_config.ProgressColumn("done", min_value=0, max_value=1,
                                                                             format="percent")})


def agreement(context: ReviewContext) -> None:
    st.subheader("Agreement between reviewers")
    names = sorted(set(context.decisions["reviewer"]) | set(context.submissions["reviewer"]))
    if len(names) < 2:
        st.caption("When two people have reviewed the same texts, Cohen's kappa (labels) and Krippendorff's alpha "
                   "(energies) per emotion appear here.")
        return
    left, right = st.columns(2)
    reviewer_a = left.selectbox("Reviewer A", names, key="review_agree_a")
    reviewer_b = right.selectbox("Reviewer B", [name for name in names if name != reviewer_a], key="review_agree_b")
    table = pair_agreement(context.energies, context.thresholds, context.decisions, context.submissions, reviewer_a,
                           reviewer_b, label_names=context.label_names, exclude=context.non_emotion)
    number = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(table.rename(columns={"texts": "texts both reviewed", "a_only": f"{reviewer_a} only",
                                       "b_only": f"{reviewer_b} only", "kappa": "Cohen's kappa",
                                       "alpha": "Krippendorff's alpha", "mean_abs_diff": "mean |Δ energy|"}),
                 hide_index=True, key="review_agreement",
                 column_config={"Cohen's kappa": number, "Krippendorff's alpha": number,
                                "mean |Δ energy|": st.column_config.NumberColumn(format="%.2f")})
    st.caption("Kappa compares labels (energy ≥ threshold); alpha (interval) compares the 0-10 energies, so 5 vs 6 "
               "counts as close. Empty where undefined (no variation). Non-emotion labels are left out.")


def adjudicate(context: ReviewContext) -> None:
    st.subheader("Disagreements to adjudicate")
    state = st.session_state
    adjudications = context.workspace.adjudications(run_id=context.run_id, split=context.split)
    found = disagreements(context.energies, context.thresholds, context.decisions, context.submissions, adjudications,
                          label_names=context.label_names, exclude=context.non_emotion)
    if found.empty:
        st.caption("No disagreement: reviewers of the same text agree on every emotion (labels, and energies "
                   "within 2).")
        return
    pending = found["adjudicated"].isna()
    st.caption(f"{len(found):,} disagreements, {int(pending.sum()):,} not yet adjudicated. The adjudicated value is "
               "the final one in the reviewed export.")
    shown = found.assign(text=context.text_rows(found["row_idx"].to_numpy())["text"].to_numpy())
    st.dataframe(shown[["row_idx", "label", "text", "values", "model_energy", "adjudicated"]], hide_index=True,
                 key="review_disagreements", column_config={"text": st.column_config.TextColumn(width="large")})
    keys = disagreement_keys(found)
    if state.get("review_adjudicate_pick") not in keys:
        state["review_adjudicate_pick"] = next((key for key, open_ in zip(keys, pending) if open_), keys[0])

    def describe(key: str) -> str:
        row, label = parse_disagreement_key(key)
        return f"row {row} · {label}: {found['values'][keys.index(key)]}"

    pick = st.selectbox("Disagreement", keys, key="review_adjudicate_pick", format_func=describe)
    item = found.iloc[keys.index(pick)]
    with st.form("review_adjudicate_form"):
        left, right = st.columns([1, 3])
        value = left.number_input("Final energy", min_value=0.0, max_value=10.0, step=0.1, format="%.1f",
                                  value=float(round((item["low"] + item["high"]) / 2, 1)),
                                  key=f"review_adjudicate_value_{pick}")
        note = right.text_input("Note (optional)", key="review_adjudicate_note")
        decide = st.form_submit_button("Adjudicate", type="primary", key="review_adjudicate_go")
    if decide:
        row, label = parse_disagreement_key(pick)
        context.workspace.record_adjudication(run_id=context.run_id, split=context.split, row_idx=row, label=label,
                                              energy=value, adjudicator=context.user.name, note=note)
        flash(f"Adjudicated row {row} · {label}: {value:g}.")
        st.rerun()
