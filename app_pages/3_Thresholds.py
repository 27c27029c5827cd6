"""Thresholds: a global energy threshold h and per-label overrides; live per-label P/R/F1; tuning on dev; profiles.

The controls read and write the session's threshold setting (ui.threshold_state), which Samples, Review and Export
use too."""
import streamlit as st

from eqn_core.method.reports import threshold_report
from ui.auth import require_login
from ui.display import show_flash
from ui.pickers import pick_run, pick_split
from ui.session import get_workspace, load_energies, load_human_labels, load_label_names
from ui.views import thresholds as views
from ui.views.corpus import corpus_thresholds, pick_source
from ui.views.text_set_thresholds import text_set_thresholds

st.set_page_config(page_title="Thresholds · EQN Studio", layout="wide")
require_login()  # a direct link to this page needs a signed-in user too
st.title("Thresholds")
st.caption("A label is given where its energy is at least h (paper eq. 8). Move h and see what each emotion's "
           "precision, recall and F1 become (labelled data), or how many of your own texts get each emotion.")
show_flash()
workspace = get_workspace()
source = pick_source(workspace, key="th")  # an external corpus or an annotated text set instead of a run
if source.corpus:
    corpus_thresholds(source.corpus)
    st.stop()
if source.text_set:
    text_set_thresholds(workspace, source.text_set)
    st.stop()
run = pick_run(workspace)
split = pick_split(workspace, run["run_id"], key="th_split", default="test")
label_names = load_label_names(run["dataset"])


@st.fragment
def live_thresholds(run: dict, split: str, label_names: list[str], profiles: list[str]) -> None:
    """The controls and everything that depends on them. Moving the slider or editing an override reruns only this
    part, on cached energies and labels; the pickers above and the top-k figures below stay as they are."""
    show_flash()  # a note from Tune, Clear or Load, whose reruns are this part's
    run_id, dataset = run["run_id"], run["dataset"]
    energies = load_energies(run_id, split)  # (N, C)
    human_labels = load_human_labels(dataset, split)  # (N, C) bool
    controls = views.threshold_controls(run, label_names, profiles)
    setting = controls.setting
    thresholds = setting.array(label_names)  # (C,)
    if controls.save:
        views.save_profile(run, label_names, controls)
    report = threshold_report(energies, human_labels, thresholds, label_names)
    views.show_scores(report, f"Run {run_id}, split {split}: {energies.shape[0]:,} texts, {energies.shape[1]} "
                              f"labels; {len(setting.overrides)} per-label override(s), global h = "
                              f"{setting.global_threshold:.1f}.")
    views.show_changed_texts(energies, human_labels, views.previous_thresholds(run, label_names), thresholds,
                             dataset=dataset, split=split, label_names=label_names)


# the profile names are read here, once per full rerun (saving one reruns the whole page), not on every move
live_thresholds(run, split, label_names, workspace.list_threshold_profiles(run_id=run["run_id"])["name"].tolist())
views.show_topk_figures(run["run_id"], split, run["dataset"])
