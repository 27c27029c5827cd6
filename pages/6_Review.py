"""Review: accept, reject or set suggested micro-emotions; each decision is stored at once with reviewer and time."""
import numpy as np
import pandas as pd
import streamlit as st

from eqn_core.review import (SUGGESTED, SUGGESTION_KINDS, bulk_accept, label_lists, review_queue,
                             reviewer_agreement, suggest_micro_emotions, top_energies)
from ui.common import (energy_bar_figure, escape_markdown, flash, get_workspace, load_energies, load_human_labels, load_label_names,
                       load_texts, pick_run, pick_split, pick_thresholds, quote_text, show_flash)

st.set_page_config(page_title="Review · EQN Studio", layout="wide")

st.title("Review")
st.caption("The model's suggested micro-emotions (energy at or above the threshold where no person gave the label) "
           "and human labels with low energy. Accept, reject or set an energy: every decision is saved the moment "
           "you make it, with your name and the time, so closing the tab loses nothing.")
show_flash()

workspace = get_workspace()
run = pick_run(workspace)
run_id = run["run_id"]
split = pick_split(workspace, run_id, key="review_split")
label_names = load_label_names(run["dataset"])
energies = load_energies(run_id, split)  # (N, C)
human_labels = load_human_labels(run["dataset"], split)  # (N, C)
texts = load_texts(run["dataset"], split)
choice = pick_thresholds(workspace, run, label_names, key="review")

reviewer = st.text_input("Your name (saved with every decision)", value=st.session_state.get("reviewer_name", ""),
                         key="review_reviewer", placeholder="e.g. Dr. Ana Silva").strip()
st.session_state["reviewer_name"] = reviewer  # remembered across pages and reruns

with st.expander("Filter the queue", expanded=False):
    kinds = st.multiselect("Show", list(SUGGESTION_KINDS), default=list(SUGGESTION_KINDS), key="review_kinds")
    emotions = st.multiselect("Emotions (none = all)", label_names, key="review_emotions")
    search = st.text_input("Text contains", key="review_search")

suggestions = suggest_micro_emotions(energies, human_labels, choice["thresholds"], label_names=label_names)
in_filter = suggestions["kind"].isin(kinds) & (suggestions["label"].isin(emotions) if emotions else True)
if search:
    in_filter &= suggestions["row_idx"].isin(workspace.texts(run["dataset"], split, search=search)["row_idx"])
suggestions = suggestions[in_filter]
reviews = workspace.reviews(run_id=run_id, split=split)  # each reviewer's latest decision per (text, label)


def save_decision(row_idx: int, suggestion, action: str, typed_energy, note: str) -> None:
    """Store one decision and rerun so the queue moves on; typing an energy turns Accept (and Enter) into Set."""
    if action == "set" or (action == "accept" and typed_energy is not None):
        if typed_energy is None:
            st.error(f"Type the energy for {escape_markdown(suggestion.label)} (0-10) before choosing Set energy.")
            return
        decision, energy = "set", float(typed_energy)
    else:
        decision, energy = action, float(suggestion.energy)
    workspace.record_review(run_id=run_id, split=split, row_idx=row_idx, label=suggestion.label, decision=decision,
                            reviewer=reviewer, energy=energy, note=note.strip())
    shown = f"set to {energy:g}" if decision == "set" else f"{decision}ed"
    flash(f"Saved: {escape_markdown(suggestion.label)} on row {row_idx} {shown} by {escape_markdown(reviewer)}.")
    st.rerun()


def review_text(row_idx: int, pending: pd.DataFrame) -> None:
    """One text: the text, its human labels and energies, and a form per pending suggestion."""
    with st.container(border=True):
        given = label_lists(human_labels[[row_idx]], label_names)[0]
        text_id = texts["text_id"].iloc[row_idx]
        st.markdown(f"**Row {row_idx}** · id {escape_markdown(text_id)} · human labels: "
                    f"**{escape_markdown(given or 'none')}**")
        st.markdown(quote_text(texts["text"].iloc[row_idx]))
        st.caption("Top energies: " + escape_markdown(top_energies(energies[[row_idx]], label_names, k=5)[0]))
        with st.expander("Energy bars"):
            st.plotly_chart(energy_bar_figure(energies[row_idx], human_labels[row_idx], label_names,
                                              choice["thresholds"], per_label=choice["per_label"], height=300),
                            key=f"review_bars_{row_idx}")
        for suggestion in pending.itertuples(index=False):
            tag = f"{row_idx}_{suggestion.label_id}"
            with st.form(key=f"review_form_{tag}", clear_on_submit=True):
                what = "suggested" if suggestion.kind == SUGGESTED else "human label, low energy"
                st.markdown(f"**{escape_markdown(suggestion.label)}** · {what} · energy **{suggestion.energy:.2f}** "
                            f"(threshold {suggestion.threshold:g})")
                left, right = st.columns([1, 2])
                typed = left.number_input("Set energy (0-10)", min_value=0.0, max_value=10.0, value=None, step=0.5,
                                          key=f"review_energy_{tag}", placeholder="type, then Enter")
                note = right.text_input("Note (optional)", key=f"review_note_{tag}")
                accept_col, reject_col, set_col = st.columns(3)
                actions = {
                    "accept": accept_col.form_submit_button(f"✓ Accept {escape_markdown(suggestion.label)}", type="primary",
                                                            use_container_width=True, key=f"review_accept_{tag}"),
                    "reject": reject_col.form_submit_button(f"✗ Reject {escape_markdown(suggestion.label)}", use_container_width=True,
                                                            key=f"review_reject_{tag}"),
                    "set": set_col.form_submit_button("Set energy", use_container_width=True, key=f"review_set_{tag}"),
                }
            action = next((name for name, clicked in actions.items() if clicked), None)
            if action is not None:
                save_decision(row_idx, suggestion, action, typed, note or "")


if not reviewer:
    st.info("Type your name above to start reviewing: every decision is stored with it.")
else:
    status = review_queue(suggestions, reviews, reviewer=reviewer, include_decided=True)
    queue = status[status["decision"].isna()]
    decided, total = len(status) - len(queue), len(status)
    st.progress(decided / total if total else 1.0, text=f"{decided:,} of {total:,} suggestions decided by "
                                                        f"{escape_markdown(reviewer)} "
                                                        f"({choice['describe']}, current filter)")
    if total == 0:
        st.info("No suggestion in this filter at this threshold.")
    elif queue.empty:
        st.success("Every suggestion in this filter is decided. Change the filter or threshold for more.")
    else:
        pending_suggested = queue[queue["kind"] == SUGGESTED]
        if not pending_suggested.empty:
            with st.form("review_bulk", border=True):
                st.markdown(f"**Bulk accept** · {len(pending_suggested):,} suggested micro-emotions pending in this "
                            "filter")
                min_energy = st.number_input("Accept every pending suggested micro-emotion with energy at least",
                                             min_value=0.0, max_value=10.0, value=7.0, step=0.5, key="review_bulk_min")
                bulk = st.form_submit_button("Accept all at or above this energy", key="review_bulk_accept")
            if bulk:
                count = bulk_accept(workspace, pending_suggested, run_id=run_id, split=split, reviewer=reviewer,
                                    min_energy=min_energy)
                flash(f"Accepted {count:,} suggested micro-emotions with energy ≥ {min_energy:g} "
                      f"({escape_markdown(reviewer)}).")
                st.rerun()

        per_page = st.number_input("Texts per page", min_value=1, max_value=20, value=3, key="review_per_page")
        st.caption("Keyboard: Tab moves between fields; Enter accepts (or sets the energy you typed).")
        rows = queue["row_idx"].drop_duplicates().head(int(per_page)).tolist()
        for row_idx in rows:
            review_text(int(row_idx), queue[queue["row_idx"] == row_idx])

    mine = reviews[reviews["reviewer"] == reviewer]
    if not mine.empty:
        with st.expander(f"Your decisions on this split ({len(mine):,})"):
            st.dataframe(mine[["row_idx", "label", "decision", "energy", "note", "decided_at"]].iloc[::-1],
                         hide_index=True, key="review_mine")

st.subheader("Agreement between reviewers")
names = sorted(reviews["reviewer"].unique())
if len(names) < 2:
    st.caption("When two people have reviewed the same texts of this run and split, Cohen's kappa per emotion "
               "appears here.")
else:
    left, right = st.columns(2)
    reviewer_a = left.selectbox("Reviewer A", names, index=names.index(reviewer) if reviewer in names else 0,
                                key="review_agree_a")
    reviewer_b = right.selectbox("Reviewer B", [name for name in names if name != reviewer_a], key="review_agree_b")
    agreement = reviewer_agreement(reviews, reviewer_a, reviewer_b, label_names=label_names)
    shown = agreement[(agreement["items"] > 0) | (agreement["label"] == agreement["label"].iloc[-1])].copy()
    shown["kappa"] = [f"{kappa:.3f}" if np.isfinite(kappa) else "n/a" for kappa in shown["kappa"]]
    shown["agreement"] = [f"{share:.0%}" if np.isfinite(share) else "n/a" for share in shown["agreement"]]
    st.dataframe(shown.rename(columns={"items": "texts both decided", "a_positive": f"{reviewer_a}: yes",
                                       "b_positive": f"{reviewer_b}: yes", "kappa": "Cohen's kappa"}),
                 hide_index=True, key="review_agreement")
    st.caption("Yes = accept or an energy above 0; no = reject or 0. Kappa is n/a where undefined (both reviewers "
               "gave every shared item the same answer). Emotions neither decided together are left out.")
