"""Streamlit views of the Thresholds page (app_pages/3_Thresholds.py): the threshold controls, the live scores and the
texts a move changed, and the threshold-free top-k figures.

The controls read and write the session's threshold setting (ui.threshold_state), the one place it is kept: the
slider shows its global h, the override editor starts from its overrides, and a move, an edit, Tune, Clear or
Load replaces it. Besides widget values, the page keeps only "th_editor_version", a new key for the override editor
whenever the setting is replaced from outside it (so the editor's own edits start afresh).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from eqn_core.method.thresholds import (
    DEFAULT_THRESHOLD,
    ENERGY_MAX,
    ENERGY_MIN,
    ThresholdSetting,
    reaches,
    tune_thresholds,
)
from eqn_core.review.suggestions import label_lists
from ui.display import flash, plot_text
from ui.session import (
    bump_data_version,
    get_workspace,
    load_energies,
    load_human_labels,
    load_texts,
    load_topk_tables,
)
from ui.threshold_state import previous_setting, set_threshold_setting, threshold_setting

CHANGED_ROWS_SHOWN = 500
TUNED_SOURCE = "tuned on dev"  # the setting's source after Tune (an export's provenance says it)


@dataclass
class Controls:
    setting: ThresholdSetting  # the session's setting after this run's moves and edits
    save: bool  # "Save profile" was pressed in this run
    profile_name: str
    profile_note: str


def _replace(run: dict, label_names: list[str], setting: ThresholdSetting, note: str | None = None) -> None:
    """Replace the session's setting from outside the override editor (Tune, Clear, Load): the editor starts afresh."""
    set_threshold_setting(run, label_names, setting)
    st.session_state["th_editor_version"] = st.session_state.get("th_editor_version", 0) + 1
    if note:
        flash(note, "info")


def _move_global(run: dict, label_names: list[str]) -> None:
    """The slider moved: the setting takes its value, the overrides stay."""
    setting = threshold_setting(run, label_names)
    set_threshold_setting(run, label_names,
                          ThresholdSetting.checked(st.session_state["th_global"], setting.overrides, label_names))


def _clear_overrides(run: dict, label_names: list[str]) -> None:
    setting = threshold_setting(run, label_names)
    _replace(run, label_names, ThresholdSetting.checked(setting.global_threshold, {}, label_names))


def _tune_on_dev(run: dict, label_names: list[str]) -> None:
    run_id, dataset = run["run_id"], run["dataset"]
    if "dev" not in get_workspace().energy_splits(run_id):
        flash("This run has no energies on the dev split, so there is nothing to tune on.", "error")
        return
    tuned = tune_thresholds(load_energies(run_id, "dev"), load_human_labels(dataset, "dev"))  # (C,)
    overrides = dict(zip(label_names, tuned.tolist()))  # every label, also where it equals the global h
    setting = threshold_setting(run, label_names)
    _replace(run, label_names, ThresholdSetting.checked(setting.global_threshold, overrides, label_names,
                                                        source=TUNED_SOURCE),
             "Per-label thresholds tuned on the dev split (each label's best F1 there), never on test.")


def _load_profile(run: dict, label_names: list[str]) -> None:
    name = st.session_state["th_profile_pick"]
    profile = get_workspace().load_threshold_profile(name)
    global_threshold = profile["global_threshold"] if profile["global_threshold"] is not None else DEFAULT_THRESHOLD
    try:
        setting = ThresholdSetting.from_array(profile["thresholds"], global_threshold, label_names, source=name)
    except ValueError as error:  # a profile of other labels, or off the scale
        flash(f"Could not load threshold profile {name!r}: {error}", "error")
        return
    _replace(run, label_names, setting, f"Loaded threshold profile {name!r}.")


def _override_editor(run: dict, label_names: list[str], setting: ThresholdSetting) -> ThresholdSetting:
    """The per-label override table, started from the setting's overrides; the setting with the table's edits."""
    base = pd.DataFrame({"label": label_names,
                         "override": [setting.overrides.get(label, np.nan) for label in label_names]})
    edited = st.data_editor(
        base, key=f"th_editor_{run['run_id']}_{st.session_state.get('th_editor_version', 0)}", hide_index=True,
        disabled=["label"], height=260,
        column_config={"override": st.column_config.NumberColumn(
            "override h", min_value=0.0, max_value=10.0, step=0.1, format="%.1f",
            help="Leave blank to use the global threshold.")})
    try:
        edits = ThresholdSetting.checked(setting.global_threshold, dict(zip(edited["label"], edited["override"])),
                                         label_names)
    except ValueError as error:  # a value off the 0-10 scale: keep the setting as it was
        st.error(f"Overrides must be between {ENERGY_MIN:g} and {ENERGY_MAX:g}: {error}")
        return setting
    if dict(edits.overrides) == dict(setting.overrides):
        return setting  # nothing new typed: keep the setting (and its source)
    return set_threshold_setting(run, label_names, edits)


def threshold_controls(run: dict, label_names: list[str], profiles: list[str]) -> Controls:
    """The global slider, the per-label override editor, Tune / Clear, and the run's profiles (names given); each
    reads the session's setting and writes its changes back to it."""
    state = st.session_state
    controls, editor_column = st.columns([2, 1])
    with editor_column:
        setting = _override_editor(run, label_names, threshold_setting(run, label_names))
    count = len(setting.overrides)
    with controls:
        if state.get("th_global") != setting.global_threshold:  # set here, not as the slider's value, so Load moves it
            state["th_global"] = setting.global_threshold
        st.slider("Global energy threshold h", ENERGY_MIN, ENERGY_MAX, step=0.1, key="th_global",
                  on_change=_move_global, args=(run, label_names), disabled=count >= len(label_names),
                  help="Used by every label without its own override (right).")
        if count >= len(label_names):
            st.warning("The global threshold is **inactive**: every label has its own threshold (tuned or typed). "
                       "Clear the overrides to use the slider again.", icon=":material/block:")
        elif count:
            st.caption(f"The global h applies to {len(label_names) - count} of {len(label_names)} labels; "
                       f"{count} have their own threshold.")
        buttons = st.columns(3)
        buttons[0].button("Tune per label on dev", on_click=_tune_on_dev, key="th_tune", type="primary",
                          args=(run, label_names),
                          help="For each label, the threshold with the best F1 on the dev split.")
        buttons[1].button("Clear overrides", on_click=_clear_overrides, args=(run, label_names), key="th_reset")
        with st.expander(f"Threshold profiles of this run ({len(profiles)})", expanded=False):
            if profiles:
                st.selectbox("Profile", profiles, key="th_profile_pick")
                st.button("Load", on_click=_load_profile, args=(run, label_names), key="th_profile_load")
            profile_name = st.text_input("Save the current thresholds as", key="th_profile_name",
                                         placeholder="e.g. high-precision")
            profile_note = st.text_input("Note (optional)", key="th_profile_note")
            save = st.button("Save profile", key="th_profile_save")
    return Controls(setting, save, profile_name, profile_note)


def save_profile(run: dict, label_names: list[str], controls: Controls) -> None:
    """Store the session's setting under the typed name (it becomes the setting's source), then rerun the whole page
    (the list of profiles)."""
    name = controls.profile_name.strip()
    if not name:
        st.error("Give the profile a name to save it.")
        return
    setting = controls.setting
    get_workspace().save_threshold_profile(name, run_id=run["run_id"], thresholds=setting.array(label_names),
                                           global_threshold=setting.global_threshold, note=controls.profile_note)
    set_threshold_setting(run, label_names, ThresholdSetting.checked(setting.global_threshold, setting.overrides,
                                                                     label_names, source=name))
    bump_data_version()
    flash(f"Saved threshold profile {name!r}; Review and Export can use it.")
    st.rerun()


def previous_thresholds(run: dict, label_names: list[str]) -> np.ndarray | None:
    """The thresholds (C,) before the last move on this run (None before the first move)."""
    before = previous_setting(run)
    return None if before is None else before.array(label_names)


def show_scores(report: dict, caption: str) -> None:
    """Macro and micro figures, per-label P/R/F1 (bars and table) and how many texts gain or lose each label."""
    scores = st.columns(5)
    scores[0].metric("Macro F1", f"{report['macro']['f1']:.4f}")
    scores[1].metric("Macro precision", f"{report['macro']['precision']:.4f}")
    scores[2].metric("Macro recall", f"{report['macro']['recall']:.4f}")
    scores[3].metric("Micro F1", f"{report['micro']['f1']:.4f}")
    scores[4].metric("Sample F1", f"{report['sample']['f1']:.4f}", help="Averaged over texts (paper eq. 10-15).")
    st.caption(caption)

    table = report["table"]
    labels = [plot_text(label) for label in table["label"]]
    summary = pd.DataFrame([{"label": f"{name} average", **report[name]} for name in ("macro", "micro")])
    figure = go.Figure([go.Bar(name=metric, x=labels, y=table[metric]) for metric in ("precision", "recall", "f1")])
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
    figure = go.Figure([go.Bar(name="gained", x=labels, y=table["gained"]),
                        go.Bar(name="lost", x=labels, y=-table["lost"])])
    figure.update_layout(barmode="relative", height=300, yaxis_title="texts", margin={"t": 10, "b": 10})
    st.plotly_chart(figure, key="th_changes_chart")


def _describe(thresholds: np.ndarray) -> str:
    return f"h = {thresholds[0]:g}" if np.allclose(thresholds, thresholds[0]) else "per-label thresholds"


def show_changed_texts(energies: np.ndarray, human_labels: np.ndarray, before: np.ndarray | None,
                       thresholds: np.ndarray, *, dataset: str, split: str, label_names: list[str]) -> None:
    """The texts that gain or lose a label from the previous thresholds to these. energies: (N, C);
    human_labels: (N, C) bool; before, thresholds: (C,)."""
    st.subheader("Texts that changed with the last move")
    if before is None:
        st.caption("Move the threshold (or an override): the texts that gain or lose a label appear here.")
        return
    was, now = reaches(energies, before), reaches(energies, thresholds)  # (N, C) each
    changed = np.flatnonzero((was != now).any(axis=1))
    st.caption(f"**{len(changed):,}** texts gain or lose a label from {_describe(before)} to {_describe(thresholds)}"
               + (f" (the first {CHANGED_ROWS_SHOWN} shown)." if len(changed) > CHANGED_ROWS_SHOWN else "."))
    if len(changed):
        shown = changed[:CHANGED_ROWS_SHOWN]
        texts = load_texts(dataset, split)
        st.dataframe(pd.DataFrame({
            "row": shown, "text": texts["text"].to_numpy()[shown],
            "gained": label_lists((now & ~was)[shown], label_names),
            "lost": label_lists((was & ~now)[shown], label_names),
            "human labels": label_lists(human_labels[shown], label_names)}), hide_index=True, key="th_flips",
            column_config={"text": st.column_config.TextColumn(width="large")})


def show_topk_figures(run_id: str, split: str, dataset: str) -> None:
    """Top-k P/R/F1, hit rates by label count (paper Table 4) and Top-1/2/3 (Table 5): independent of h."""
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
