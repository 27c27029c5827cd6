"""Review: one text at a time with every emotion's energy, the suggestions highlighted; submitted once, revisable;
for admins, assignments, agreement between reviewers and adjudication of their disagreements."""
import html
import re
import threading

import numpy as np
import pandas as pd
import streamlit as st

from eqn_core.accounts import load_users
from eqn_core.agreement import disagreements, pair_agreement, plan_assignments, reviewer_progress
from eqn_core.review import (QUEUE_ORDERS, label_lists, label_mask, queue_order, record_decisions, record_suggestions,
                             reviewed_rows)
from ui.common import (data_version, flash, get_workspace, load_energies, load_human_labels,
                       load_label_names, load_texts, pick_run, pick_split, pick_thresholds, require_login, show_flash,
                       users_file, workspace_root)

st.set_page_config(page_title="Review · EQN Studio", layout="wide")
user = require_login()

REVIEW, MINE, TEAM = "Review texts", "My reviewed texts", "Team: assign, agree, adjudicate"
STATUS = {"unreviewed": "not yet reviewed by me", "reviewed": "reviewed by me", "all": "all texts"}
KEYS = {"submit": "Ctrl+Enter", "accept": "Alt+A", "next": "Alt+N", "previous": "Alt+P"}
STYLE = """<style>
.eqn-review-text {font-size: 1.5rem; line-height: 1.55; font-weight: 450; padding: 0.9rem 1.1rem; margin: 0.2rem 0 0.6rem;
  border-left: 5px solid #1f77b4; border-radius: 6px; background: rgba(31, 119, 180, 0.07); white-space: pre-wrap;}
</style>"""


def md(text: str) -> str:
    """A label or name shown inside Markdown, its Markdown characters escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", str(text))


st.title("Review")
st.caption("One text at a time: every emotion's 0-10 energy from the model, the human labels, and the suggested "
           "micro-emotions (energy at or above the threshold where no person gave the label). Change any energy, "
           "untick a suggestion to reject it, add an emotion the model missed, then submit: the text's decisions "
           f"are saved at once under your account ({user.name}) and the next text appears.")
show_flash()
st.markdown(STYLE, unsafe_allow_html=True)

workspace = get_workspace()
run = pick_run(workspace)
run_id, dataset = run["run_id"], run["dataset"]
split = pick_split(workspace, run_id, key="review_split")
label_names = load_label_names(dataset)
energies = load_energies(run_id, split)  # (N, C)
human_labels = load_human_labels(dataset, split)  # (N, C) bool
texts = load_texts(dataset, split)
choice = pick_thresholds(workspace, run, label_names, key="review")
thresholds = choice["thresholds"]  # (C,)
non_emotion = workspace.non_emotion_labels(dataset)
exclude = label_mask(label_names, non_emotion)  # (C,)

decisions = workspace.reviews(run_id=run_id, split=split)  # each reviewer's latest decision per (text, label)
submissions = workspace.submissions(run_id=run_id, split=split)
assignments = workspace.assignments(run_id=run_id, split=split)
mine_rows = reviewed_rows(decisions, submissions, reviewer=user.name)  # (K,)
state = st.session_state

sections = [REVIEW, MINE, *([TEAM] if user.is_admin else [])]
if state.get("review_section") not in sections:
    state["review_section"] = REVIEW
section = st.segmented_control("Section", sections, key="review_section", label_visibility="collapsed")


@st.cache_data(show_spinner=False, max_entries=32)
def ordered_rows(run_id: str, split: str, thresholds: tuple, order: str, excluded: tuple, seed: int,
                 version: int) -> np.ndarray:
    return queue_order(load_energies(run_id, split), load_human_labels(dataset, split), np.asarray(thresholds),
                       order=order, exclude_mask=np.asarray(excluded, dtype=bool), seed=seed)


@st.cache_resource
def submit_lock() -> threading.Lock:
    return threading.Lock()


def describe(decision: dict) -> str:
    verb = {"reject": "rejected", "accept": "accepted"}.get(decision["decision"], f"set to {decision['energy']:g}")
    return f"{decision['label']} {verb}"


def reopen(row: int) -> None:
    """Show `row` in the review screen even if the queue's filters leave it out (Previous, Reopen)."""
    state["review_row"], state["review_pinned"] = int(row), True
    state["review_section"] = REVIEW


# ------------------------------------------------------------------------------------------------ review texts
def review_screen() -> None:
    assigned_to_me = assignments[assignments["reviewer"] == user.name]["row_idx"].to_numpy(dtype=np.int64)
    with st.expander("Queue: order and filters", expanded=False):
        left, middle, right = st.columns(3)
        order = left.selectbox("Order", list(QUEUE_ORDERS), format_func=QUEUE_ORDERS.get, key="review_order")
        status = middle.selectbox("Texts", list(STATUS), format_func=STATUS.get, key="review_status")
        emotion = right.selectbox("Emotion", [None, *label_names], key="review_emotion",
                                  format_func=lambda name: "any emotion" if name is None else name)
        energy_range = None
        if emotion is not None:
            energy_range = right.slider(f"{emotion} energy between", 0.0, 10.0, (0.0, 10.0), step=0.1,
                                        key="review_energy_range")
        others = sorted((set(decisions["reviewer"]) | set(submissions["reviewer"])) - {user.name})
        by_reviewer = middle.selectbox("Reviewed by", [None, *others], key="review_by",
                                       format_func=lambda name: "anyone or no one" if name is None else name)
        only_assigned = left.toggle("Only texts assigned to me", value=bool(assigned_to_me.size),
                                    key="review_only_assigned", disabled=not assigned_to_me.size,
                                    help="An admin assigns texts on the Team section.")
        st.caption(f"Left out of suggestions and agreement (not emotions): {', '.join(non_emotion) or 'none'}.")

    rows = ordered_rows(run_id, split, tuple(thresholds.tolist()), order, tuple(exclude.tolist()), 0, data_version())
    keep = np.ones(len(rows), dtype=bool)
    if status != "all":
        keep &= np.isin(rows, mine_rows) == (status == "reviewed")
    if emotion is not None:
        values = energies[rows, label_names.index(emotion)]
        keep &= (values >= energy_range[0]) & (values <= energy_range[1])
    if by_reviewer is not None:
        keep &= np.isin(rows, reviewed_rows(decisions, submissions, reviewer=by_reviewer))
    if only_assigned:
        keep &= np.isin(rows, assigned_to_me)
    queue = rows[keep].tolist()

    row = state.get("review_row")
    if row is None or (row not in queue and not state.get("review_pinned")):
        row = queue[0] if queue else None
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

    def next_row(after: int) -> int | None:
        rest = [candidate for candidate in queue if candidate != after]
        if after in queue:
            position = queue.index(after)
            following = [candidate for candidate in queue[position + 1:] if candidate != after]
            return following[0] if following else (rest[0] if rest else None)
        return rest[0] if rest else None

    def go_next() -> None:
        state.setdefault("review_history", []).append(row)
        state["review_row"], state["review_pinned"] = next_row(row), False

    def go_previous() -> None:
        history = state.get("review_history") or []
        if history:
            reopen(history.pop())

    position = f"text {queue.index(row) + 1:,} of {len(queue):,} in this queue" if row in queue else \
        "a text outside this queue (reopened)"
    reviewed_by_me = row in set(mine_rows.tolist())
    model = energies[row].astype(np.float64)  # (C,)
    human = human_labels[row]  # (C,)
    suggested = record_suggestions(energies[[row]], human_labels[[row]], thresholds, exclude_mask=exclude)[0]  # (C,)

    mine = decisions[(decisions["reviewer"] == user.name) & (decisions["row_idx"] == row)]
    previous = {label: (decision, None if pd.isna(energy) else float(energy))
                for label, decision, energy in zip(mine["label"], mine["decision"], mine["energy"])}
    shown = np.round(model, 1)
    for label, (decision, energy) in previous.items():
        if decision == "set" and energy is not None:
            shown[label_names.index(label)] = energy
    accepted = np.array([previous.get(label, ("",))[0] != "reject" for label in label_names])
    my_notes = submissions[(submissions["reviewer"] == user.name) & (submissions["row_idx"] == row)]["note"]
    version = state.get("review_version", 0)
    tag = f"{row}_{version}"

    head_left, head_right = st.columns([3, 2])
    head_left.markdown(f"**Row {row}** · id {md(texts['text_id'].iloc[row])} · {position}"
                       + (" · :green-badge[reviewed by you]" if reviewed_by_me else ""))
    nav = head_right.columns(2)
    nav[0].button("Previous", key="review_previous", on_click=go_previous, shortcut=KEYS["previous"],
                  icon=":material/arrow_back:", disabled=not state.get("review_history"), width="stretch")
    nav[1].button("Skip to next", key="review_next", on_click=go_next, shortcut=KEYS["next"],
                  icon=":material/arrow_forward:", width="stretch")
    st.markdown(f"<div class='eqn-review-text'>{html.escape(texts['text'].iloc[row])}</div>",
                unsafe_allow_html=True)
    given = [label_names[j] for j in np.flatnonzero(human)]
    st.markdown("Human labels: " + (" ".join(f":blue-badge[{md(label)}]" for label in given) or "*none*"))

    with st.form(f"review_form_{tag}", border=True):
        if suggested.any():
            st.markdown("**Suggested micro-emotions**: the model's energy reaches the threshold and no person gave "
                        "the label. Untick to reject.")
            boxes = st.columns(4)
            for n, j in enumerate(np.flatnonzero(suggested)):
                boxes[n % 4].checkbox(f":orange-background[**{md(label_names[j])}** {model[j]:.1f}]",
                                      value=bool(accepted[j]), key=f"review_accept_{tag}_{j}")
        else:
            st.markdown("**No suggested micro-emotion** at this threshold. Add an emotion the model missed by "
                        "giving it an energy.")
        st.markdown("**Every emotion's energy** (0-10; from the model, or your earlier decision). "
                    ":orange-background[orange]: suggested · :blue-background[blue]: human label")
        for start in range(0, len(label_names), 4):
            cells = st.columns(4)
            for offset, j in enumerate(range(start, min(start + 4, len(label_names)))):
                name = md(label_names[j])
                if suggested[j]:
                    caption = f":orange-background[**{name}** · suggested]"
                elif human[j]:
                    caption = f":blue-background[**{name}** · human label]"
                elif exclude[j]:
                    caption = f"{name} · not an emotion"
                else:
                    caption = name
                cells[offset].number_input(caption, min_value=0.0, max_value=10.0, value=float(shown[j]), step=0.1,
                                           format="%.1f", key=f"review_energy_{tag}_{j}")
        st.text_area("Note (optional; Enter starts a new line)", value=my_notes.iloc[-1] if len(my_notes) else "",
                     key=f"review_note_{tag}", height=70)
        buttons = st.columns([1, 1, 3])
        def submit(as_suggested: bool) -> None:
            """Store the text's decisions (a callback: it runs before the page, so one run shows the next text)."""
            with submit_lock():  # Enter in a field and the shortcut can both fire: store the text once
                if state.get("review_version", 0) == version:
                    store(as_suggested)

        def store(as_suggested: bool) -> None:
            values = np.array([state[f"review_energy_{tag}_{j}"] for j in range(len(label_names))], dtype=np.float64)
            ticked = np.array([state.get(f"review_accept_{tag}_{j}", bool(accepted[j]))
                               for j in range(len(label_names))])
            if as_suggested:  # the model's values with every suggestion accepted; edits in the form are ignored
                values, ticked = shown, np.where(suggested, True, accepted)
            latest = workspace.reviews(run_id=run_id, split=split, reviewer=user.name)  # fresh: a repeated event
            latest = latest[latest["row_idx"] == row]  # (Enter and the shortcut) then appends nothing twice
            now = {label: (decision, None if pd.isna(energy) else float(energy))
                   for label, decision, energy in zip(latest["label"], latest["decision"], latest["energy"])}
            chosen = record_decisions(model, thresholds, suggested, shown, values, ticked, label_names, previous=now)
            workspace.submit_text_review(run_id=run_id, split=split, row_idx=row, reviewer=user.name,
                                         decisions=chosen, note=(state.get(f"review_note_{tag}") or "").strip())
            flash(f"Saved row {row}: " + (", ".join(describe(decision) for decision in chosen)
                                          or "no change to the model's energies") + ".")
            state.setdefault("review_history", []).append(row)
            state["review_row"], state["review_pinned"] = next_row(row), False
            state["review_version"] = version + 1  # fresh widgets for the next text; decisions are read fresh

        buttons[0].form_submit_button("Submit", type="primary", key=f"review_submit_{tag}", on_click=submit,
                                      args=(False,), shortcut=KEYS["submit"], icon=":material/check:",
                                      width="stretch")
        buttons[1].form_submit_button("Accept as suggested", key=f"review_accept_all_{tag}", on_click=submit,
                                      args=(True,), shortcut=KEYS["accept"], icon=":material/done_all:",
                                      width="stretch")
        buttons[2].caption(f"Keys: **{KEYS['submit']}** submit · **{KEYS['accept']}** accept as suggested · "
                           f"**{KEYS['next']}** skip to next · **{KEYS['previous']}** previous · **Tab** next "
                           "field · **Space** ticks or unticks a suggestion")

    # blind review: the others' decisions on this text only once you have reviewed it (admins always see them)
    others = decisions[(decisions["row_idx"] == row) & (decisions["reviewer"] != user.name)]
    others_submitted = submissions[(submissions["row_idx"] == row) & (submissions["reviewer"] != user.name)]
    if len(others) or len(others_submitted):
        if reviewed_by_me or user.is_admin:
            with st.expander(f"Other reviewers on this text ({others_submitted['reviewer'].nunique()})"):
                st.dataframe(others[["reviewer", "label", "decision", "energy", "note", "decided_at"]],
                             hide_index=True, key="review_others")
        else:
            st.caption("Others have reviewed this text; their decisions show once you submit yours (blind review).")


# ------------------------------------------------------------------------------------------------ my reviewed texts
def my_texts() -> None:
    if not mine_rows.size:
        st.info("You have not reviewed a text of this run and split yet.")
        return
    mine = decisions[decisions["reviewer"] == user.name]
    my_subs = submissions[submissions["reviewer"] == user.name].set_index("row_idx")
    changes = {row: ", ".join(f"{label} {'✗' if decision == 'reject' else '✓' if decision == 'accept' else f'→ {energy:g}'}"
                              for label, decision, energy in zip(group["label"], group["decision"], group["energy"]))
               for row, group in mine.groupby("row_idx")}
    last_time = mine.groupby("row_idx")["decided_at"].max()
    table = pd.DataFrame({"row": mine_rows, "text": texts["text"].to_numpy()[mine_rows],
                          "human labels": label_lists(human_labels[mine_rows], label_names),
                          "your decisions": [changes.get(row, "kept the model's energies") for row in mine_rows],
                          "note": [my_subs["note"].get(row, "") for row in mine_rows],
                          "when": [my_subs["submitted_at"].get(row, last_time.get(row)) for row in mine_rows]})
    table = table.sort_values("when", ascending=False, kind="stable")
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
    texts_by_row = texts["text"].to_numpy()
    left, right = st.columns([4, 1])
    chosen = left.selectbox("Text to reopen", options, key="review_reopen_pick",
                            format_func=lambda row: f"row {row}: {texts_by_row[row][:100]}")
    right.button("Reopen", key="review_reopen", on_click=lambda: reopen(state["review_reopen_pick"]), type="primary",
                 icon=":material/edit:", width="stretch")
    with st.expander("Every decision you made on this text, oldest first"):
        log = workspace.reviews(run_id=run_id, split=split, reviewer=user.name, latest_only=False)
        st.dataframe(log[log["row_idx"] == chosen][["label", "decision", "energy", "note", "decided_at"]],
                     hide_index=True, key="review_mine_log")


# ------------------------------------------------------------------------------------------------ team (admins)
def team() -> None:
    st.subheader("Labels that are not emotions")
    picked = st.multiselect("Left out of suggestions and agreement", label_names, default=non_emotion,
                            key="review_non_emotion")
    if st.button("Save for this data set", key="review_non_emotion_save") and picked != non_emotion:
        workspace.set_non_emotion_labels(dataset, picked)
        flash(f"Not emotions in {dataset}: {', '.join(picked) or 'none'}.")
        st.rerun()

    st.subheader("Assign texts")
    accounts = sorted(load_users(users_file(workspace_root())))
    if not accounts:
        st.caption("Single-user local mode: add reviewer accounts (`eqn users add NAME --role reviewer`) to assign "
                   "texts to them.")
    else:
        with st.form("review_assign_form"):
            left, middle, right = st.columns(3)
            people = left.multiselect("Reviewers", accounts, key="review_assign_people")
            count = middle.number_input("Texts", min_value=1, max_value=len(energies), value=min(50, len(energies)),
                                        key="review_assign_count")
            per_text = right.number_input("Reviewers per text (2 or more: overlap for agreement)", min_value=1,
                                          max_value=max(1, len(accounts)), value=min(2, len(accounts)),
                                          key="review_assign_per_text")
            order = middle.selectbox("Which texts", list(QUEUE_ORDERS), format_func=QUEUE_ORDERS.get, index=2,
                                     key="review_assign_order")
            assign = st.form_submit_button("Assign", type="primary", key="review_assign_go")
        if assign:
            try:
                rows = queue_order(energies, human_labels, thresholds, order=order, exclude_mask=exclude)[:int(count)]
                plan = plan_assignments(rows.tolist(), people, per_text=int(per_text))
                added = sum(workspace.assign_texts(run_id=run_id, split=split, rows=assigned, reviewers=[name],
                                                   assigned_by=user.name) for name, assigned in plan.items())
            except ValueError as error:
                st.error(str(error))
            else:
                flash(f"Assigned {int(count):,} texts, each to {int(per_text)} of {', '.join(people)} ({added:,} new "
                      "assignments).")
                st.rerun()

    st.subheader("Progress")
    progress = reviewer_progress(decisions, submissions, assignments)
    if progress.empty:
        st.caption("No one has reviewed or been assigned a text of this run and split yet.")
    else:
        st.dataframe(progress, hide_index=True, key="review_progress",
                     column_config={"share_done": st.column_config.ProgressColumn("done", min_value=0, max_value=1,
                                                                                 format="percent")})

    st.subheader("Agreement between reviewers")
    names = sorted(set(decisions["reviewer"]) | set(submissions["reviewer"]))
    if len(names) < 2:
        st.caption("When two people have reviewed the same texts, Cohen's kappa (labels) and Krippendorff's alpha "
                   "(energies) per emotion appear here.")
    else:
        left, right = st.columns(2)
        reviewer_a = left.selectbox("Reviewer A", names, key="review_agree_a")
        reviewer_b = right.selectbox("Reviewer B", [name for name in names if name != reviewer_a],
                                     key="review_agree_b")
        agreement = pair_agreement(energies, thresholds, decisions, submissions, reviewer_a, reviewer_b,
                                   label_names=label_names, exclude=non_emotion)
        number = st.column_config.NumberColumn(format="%.3f")
        st.dataframe(agreement.rename(columns={"texts": "texts both reviewed", "a_only": f"{reviewer_a} only",
                                               "b_only": f"{reviewer_b} only", "kappa": "Cohen's kappa",
                                               "alpha": "Krippendorff's alpha", "mean_abs_diff": "mean |Δ energy|"}),
                     hide_index=True, key="review_agreement",
                     column_config={"Cohen's kappa": number, "Krippendorff's alpha": number,
                                    "mean |Δ energy|": st.column_config.NumberColumn(format="%.2f")})
        st.caption("Kappa compares labels (energy ≥ threshold); alpha (interval) compares the 0-10 energies, so 5 vs 6 "
                   "counts as close. Empty where undefined (no variation). Non-emotion labels are left out.")

    st.subheader("Disagreements to adjudicate")
    adjudications = workspace.adjudications(run_id=run_id, split=split)
    found = disagreements(energies, thresholds, decisions, submissions, adjudications, label_names=label_names,
                          exclude=non_emotion)
    if found.empty:
        st.caption("No disagreement: reviewers of the same text agree on every emotion (labels, and energies within 2).")
        return
    pending = found[found["adjudicated"].isna()]
    st.caption(f"{len(found):,} disagreements, {len(pending):,} not yet adjudicated. The adjudicated value is the "
               "final one in the reviewed export.")
    shown = found.assign(text=texts["text"].to_numpy()[found["row_idx"].to_numpy()])
    st.dataframe(shown[["row_idx", "label", "text", "values", "model_energy", "adjudicated"]], hide_index=True,
                 key="review_disagreements", column_config={"text": st.column_config.TextColumn(width="large")})
    keys = [f"{row}|{label}" for row, label in zip(found["row_idx"], found["label"])]
    first = next((key for key, done in zip(keys, found["adjudicated"].isna()) if done), keys[0])
    if state.get("review_adjudicate_pick") not in keys:
        state["review_adjudicate_pick"] = first
    pick = st.selectbox("Disagreement", keys, key="review_adjudicate_pick",
                        format_func=lambda key: f"row {key.split('|')[0]} · {key.split('|', 1)[1]}: "
                                                f"{found['values'][keys.index(key)]}")
    item = found.iloc[keys.index(pick)]
    with st.form("review_adjudicate_form"):
        left, right = st.columns([1, 3])
        value = left.number_input("Final energy", min_value=0.0, max_value=10.0, step=0.1, format="%.1f",
                                  value=float(round((item["low"] + item["high"]) / 2, 1)),
                                  key=f"review_adjudicate_value_{pick}")
        note = right.text_input("Note (optional)", key="review_adjudicate_note")
        decide = st.form_submit_button("Adjudicate", type="primary", key="review_adjudicate_go")
    if decide:
        row, label = pick.split("|", 1)
        workspace.record_adjudication(run_id=run_id, split=split, row_idx=int(row), label=label, energy=value,
                                      adjudicator=user.name, note=note)
        flash(f"Adjudicated row {row} · {label}: {value:g}.")
        st.rerun()


{REVIEW: review_screen, MINE: my_texts, TEAM: team}[section or REVIEW]()
