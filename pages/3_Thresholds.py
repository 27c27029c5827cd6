"""Thresholds: a global energy threshold h and per-label overrides; live per-label P/R/F1; tuning on dev; profiles."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from eqn_core.review import label_lists
from eqn_core.thresholds import (DEFAULT_THRESHOLD, ENERGY_MAX, ENERGY_MIN, effective_thresholds, overrides_from,
                                 reaches, threshold_report, tune_thresholds)
from ui.common import (
    require_login,
    bump_data_version,
    flash,
    get_workspace,
    plot_text,
    load_energies,
    load_human_labels,
    load_label_names,
    load_texts,
    load_topk_tables,
    pick_run,
    pick_split,
    set_threshold_setting,
    show_flash,
    threshold_setting,
)
from ui.corpus_views import corpus_thresholds, pick_corpus

st.set_page_config(page_title="Thresholds · EQN Studio", layout="wide")
require_login()  # a direct link to this page needs a signed-in user too
st.title("Thresholds")
st.caption("A label is given where its energy is at least h (paper eq. 8). Move h and see what each emotion's "
           "precision, recall and F1 become.")
show_flash()
workspace = get_workspace()
corpus = pick_corpus(workspace, key="th")  # an external corpus (Parquet via DuckDB) instead of a run
if corpus:
    corpus_thresholds(corpus)
    st.stop()
run = pick_run(workspace)
run_id, dataset = run["run_id"], run["dataset"]
split = pick_split(workspace, run_id, key="th_split", default="test")
label_names = load_label_names(dataset)
energies = load_energies(run_id, split)  # (N, C)
human_labels = load_human_labels(dataset, split)  # (N, C) bool

# Per-label overrides live in session state per run; the editor gets a new key whenever a button replaces them.
# The session's setting (shared with Samples, Review and Export, kept in the URL) seeds the widgets once per run.
state = st.session_state
if state.get("th_base_run") != run_id:
    setting = threshold_setting(run, label_names)
    state["th_base_run"], state["th_base"], state["th_global"] = run_id, dict(setting["overrides"]), setting["global"]
    state["th_editor_version"] = state.get("th_editor_version", 0) + 1


def replace_overrides(overrides: dict, note: str | None = None) -> None:
    state["th_base"] = dict(overrides)
    state["th_editor_version"] = state.get("th_editor_version", 0) + 1
    if note:
        flash(note, "info")


def tune_on_dev() -> None:
    if "dev" not in workspace.energy_splits(run_id):
        flash("This run has no energies on the dev split, so there is nothing to tune on.", "error")
        return
    tuned = tune_thresholds(load_energies(run_id, "dev"), load_human_labels(dataset, "dev"))
    replace_overrides(dict(zip(label_names, tuned.tolist())),
                      "Per-label thresholds tuned on the dev split (each label's best F1 there), never on test.")


def load_profile() -> None:
    name = state["th_profile_pick"]
    profile = workspace.load_threshold_profile(name)
    if profile["global_threshold"] is not None:
        state["th_global"] = float(profile["global_threshold"])
    replace_overrides(overrides_from(profile["thresholds"], state.get("th_global", DEFAULT_THRESHOLD), label_names),
                      f"Loaded threshold profile {name!r}.")


# ------------------------------------------------------------------------------------------------ controls
controls, editor_column = st.columns([2, 1])
with editor_column:
    base = pd.DataFrame({"label": label_names,
                         "override": [state["th_base"].get(label, np.nan) for label in label_names]})
    edited = st.data_editor(
        base, key=f"th_editor_{state['th_editor_version']}", hide_index=True, disabled=["label"], height=260,
        column_config={"override": st.column_config.NumberColumn(
            "override h", min_value=0.0, max_value=10.0, step=0.1, format="%.1f",
            help="Leave blank to use the global threshold.")})
overrides = dict(zip(edited["label"], edited["override"]))
overridden = int(sum(1 for v in overrides.values() if pd.notna(v)))
with controls:
    state.setdefault("th_global", DEFAULT_THRESHOLD)  # set here, not as the slider's value, so loading a profile can move it
    global_threshold = st.slider("Global energy threshold h", ENERGY_MIN, ENERGY_MAX, step=0.1, key="th_global",
                                 persist_state="session",  # still there after a visit to another page
                                 disabled=overridden >= len(label_names),
                                 help="Used by every label without its own override (right).")
    if overridden >= len(label_names):
        st.warning("The global threshold is **inactive**: every label has its own threshold (tuned or typed). "
                   "Clear the overrides to use the slider again.", icon=":material/block:")
    elif overridden:
        st.caption(f"The global h applies to {len(label_names) - overridden} of {len(label_names)} labels; "
                   f"{overridden} have their own threshold.")
    buttons = st.columns(3)
    buttons[0].button("Tune per label on dev", on_click=tune_on_dev, key="th_tune", type="primary",
                      help="For each label, the threshold with the best F1 on the dev split.")
    buttons[1].button("Clear overrides", on_click=replace_overrides, args=({},), key="th_reset")
    profiles = workspace.list_threshold_profiles(run_id=run_id)
    with st.expander(f"Threshold profiles of this run ({len(profiles)})", expanded=False):
        if not profiles.empty:
            st.selectbox("Profile", profiles["name"].tolist(), key="th_profile_pick")
            st.button("Load", on_click=load_profile, key="th_profile_load")
        profile_name = st.text_input("Save the current thresholds as", key="th_profile_name",
                                     placeholder="e.g. high-precision")
        profile_note = st.text_input("Note (optional)", key="th_profile_note")
        save = st.button("Save profile", key="th_profile_save")

thresholds = effective_thresholds(global_threshold, overrides, label_names)  # (C,)
set_threshold_setting(run, label_names, global_threshold, {k: v for k, v in overrides.items() if pd.notna(v)})
# the previous setting, for the list of texts that gain or lose a label
if state.get("th_now_run") != (run_id, split) or state.get("th_now") is None:
    state["th_now_run"], state["th_now"], state["th_before"] = (run_id, split), thresholds, None
elif not np.array_equal(state["th_now"], thresholds):
    state["th_before"], state["th_now"] = state["th_now"], thresholds

if save:
    if not profile_name.strip():
        st.error("Give the profile a name to save it.")
    else:
        workspace.save_threshold_profile(profile_name.strip(), run_id=run_id, thresholds=thresholds,
                                         global_threshold=global_threshold, note=profile_note)
        bump_data_version()
        flash(f"Saved threshold profile {profile_name.strip()!r}; Review and Export can use it.")
        st.rerun()

# ------------------------------------------------------------------------------------------------ live scores
report = threshold_report(energies, human_labels, thresholds, label_names)
scores = st.columns(5)
scores[0].metric("Macro F1", f"{report['macro']['f1']:.4f}")
scores[1].metric("Macro precision", f"{report['macro']['precision']:.4f}")
scores[2].metric("Macro recall", f"{report['macro']['recall']:.4f}")
scores[3].metric("Micro F1", f"{report['micro']['f1']:.4f}")
scores[4].metric("Sample F1", f"{report['sample']['f1']:.4f}", help="Averaged over texts (paper eq. 10-15).")
st.caption(f"Run {run_id}, split {split}: {energies.shape[0]:,} texts, {energies.shape[1]} labels; "
           f"{overridden} per-label override(s), global h = {global_threshold:.1f}.")

table = report["table"]
summary = pd.DataFrame([{"label": f"{name} average", **report[name]} for name in ("macro", "micro")])
figure = go.Figure([go.Bar(name=metric, x=[plot_text(label) for label in table["label"]], y=table[metric]) for metric in ("precision", "recall", "f1")])
figure.update_layout(barmode="group", height=340, yaxis_range=[0, 1], margin={"t": 10, "b": 10})
st.plotly_chart(figure, key="th_scores_chart")
number = st.column_config.NumberColumn(format="%.3f")
st.dataframe(pd.concat([table, summary], ignore_index=True), hide_index=True, key="th_table",
             column_config={"precision": number, "recall": number, "f1": number,
                            "threshold": st.column_config.NumberColumn(format="%.1f"),
                            "gained": st.column_config.NumberColumn(help="texts given the label by the rule, "
                                                                    "not by people"),
                            "lost": st.column_config.NumberColumn(help="texts people gave the label to, "
                                                                  "below the threshold")})

st.subheader("Texts that gain or lose each label")
figure = go.Figure([go.Bar(name="gained", x=[plot_text(label) for label in table["label"]], y=table["gained"]),
                    go.Bar(name="lost", x=[plot_text(label) for label in table["label"]], y=-table["lost"])])
figure.update_layout(barmode="relative", height=300, yaxis_title="texts", margin={"t": 10, "b": 10})
st.plotly_chart(figure, key="th_changes_chart")

st.subheader("Texts that changed with the last move")
before = state.get("th_before")
if before is None:
    st.caption("Move the threshold (or an override): the texts that gain or lose a label appear here.")
else:
    was, now = reaches(energies, before), reaches(energies, thresholds)  # (N, C) each
    changed = np.flatnonzero((was != now).any(axis=1))
    describe = (lambda h: f"h = {h[0]:g}" if np.allclose(h, h[0]) else "per-label thresholds")
    st.caption(f"**{len(changed):,}** texts gain or lose a label from {describe(before)} to {describe(thresholds)}"
               + (" (the first 500 shown)." if len(changed) > 500 else "."))
    if len(changed):
        shown = changed[:500]
        texts = load_texts(dataset, split)
        st.dataframe(pd.DataFrame({
            "row": shown, "text": texts["text"].to_numpy()[shown],
            "gained": label_lists((now & ~was)[shown], label_names), "lost": label_lists((was & ~now)[shown], label_names),
            "human labels": label_lists(human_labels[shown], label_names)}), hide_index=True, key="th_flips",
            column_config={"text": st.column_config.TextColumn(width="large")})

# ------------------------------------------------------------------------------------------------ threshold-free
st.subheader("Top-k figures (independent of the threshold)")
figures = load_topk_tables(run_id, split, dataset)
topk = figures["topk"]
cells = st.columns(3)
cells[0].metric("Top-k precision", f"{topk['precision']:.4f}")
cells[1].metric("Top-k recall", f"{topk['recall']:.4f}")
cells[2].metric("Top-k F1", f"{topk['f1']:.4f}", help="Each text predicts its k highest energies, k = its number "
                "of human labels (paper eq. 9-15).")
left, right = st.columns(2)
left.caption("Hit rates by number of labels (paper Table 4)")
left.dataframe(figures["hit_rates"], hide_index=True, key="th_hit_rates",
               column_config={"hit_rate": st.column_config.NumberColumn(format="%.4f")})
right.caption("Single-label texts whose label is among the top 1/2/3 energies (paper Table 5)")
right.dataframe(figures["top_n"], hide_index=True, key="th_top_n",
                column_config={"hit_rate": st.column_config.NumberColumn(format="%.4f")})
