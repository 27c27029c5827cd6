"""The session's one threshold setting: a ThresholdSetting per run, chosen on the Thresholds page and used by Samples,
Review and Export.

It lives in st.session_state[THRESHOLD_STATE] as {run_id: ThresholdSetting} and, for the run shown, in the URL
(?h=2.5&h_labels=0:3.1,4:7, ThresholdSetting.to_query), so a reload of the page keeps it. A run seen for the first
time in this session starts from the URL when the session is new and the URL is about that run
(ThresholdSetting.from_query; a hand-edited URL that does not parse is ignored), else from the run's recorded global
h and no overrides. Every change goes through set_threshold_setting, which also remembers the setting before the
change (the Thresholds page lists the texts that a move changed).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

from eqn_core.method.thresholds import DEFAULT_THRESHOLD, ThresholdSetting

THRESHOLD_STATE = "eqn_thresholds"  # {run_id: ThresholdSetting}: the session's setting of each run
PREVIOUS_STATE = "eqn_thresholds_before"  # {run_id: ThresholdSetting}: each run's setting before its last change


class ThresholdChoice(NamedTuple):
    """What a page takes from pick_thresholds: the session's setting and its (C,) float64 array."""
    setting: ThresholdSetting
    thresholds: np.ndarray


def run_global_threshold(run: dict) -> float:
    """The run's recorded global threshold h (metrics["global_threshold"]), else the default h."""
    value = (run.get("metrics") or {}).get("global_threshold")
    return float(value) if value is not None else DEFAULT_THRESHOLD


def _run_default(run: dict, label_names: list[str]) -> ThresholdSetting:
    try:
        return ThresholdSetting.checked(run_global_threshold(run), {}, label_names)
    except ValueError:  # a recorded h off the 0-10 scale
        return ThresholdSetting()


def threshold_setting(run: dict, label_names: list[str]) -> ThresholdSetting:
    """The session's threshold setting for this run (see the module's docstring); the URL is brought in line."""
    settings = st.session_state.get(THRESHOLD_STATE)
    setting = (settings or {}).get(run["run_id"])
    if setting is None:
        if settings is None and st.query_params.get("run") in (None, run["run_id"]):  # a new session: a reload
            setting = ThresholdSetting.from_query(st.query_params.to_dict(), label_names,
                                                  default_global=run_global_threshold(run))
        setting = setting or _run_default(run, label_names)
        st.session_state[THRESHOLD_STATE] = {**(settings or {}), run["run_id"]: setting}
    _to_url(setting, label_names)
    return setting


def set_threshold_setting(run: dict, label_names: list[str], setting: ThresholdSetting) -> ThresholdSetting:
    """Make `setting` the session's setting for this run (the Thresholds page, after every change); returns it."""
    current = threshold_setting(run, label_names)
    if not np.array_equal(current.array(label_names), setting.array(label_names)):
        st.session_state[PREVIOUS_STATE] = {**st.session_state.get(PREVIOUS_STATE, {}), run["run_id"]: current}
    st.session_state[THRESHOLD_STATE] = {**st.session_state[THRESHOLD_STATE], run["run_id"]: setting}
    _to_url(setting, label_names)
    return setting


def previous_setting(run: dict) -> ThresholdSetting | None:
    """This run's setting before its last change in this session (None before the first change)."""
    return st.session_state.get(PREVIOUS_STATE, {}).get(run["run_id"])


def _to_url(setting: ThresholdSetting, label_names: list[str]) -> None:
    for name, value in setting.to_query(label_names).items():
        if value and st.query_params.get(name) != value:
            st.query_params[name] = value
        elif not value and name in st.query_params:
            del st.query_params[name]


def pick_thresholds(run: dict, label_names: list[str]) -> ThresholdChoice:
    """The session's threshold setting for this run and its (C,) array, with a caption saying what it is and a link
    to the Thresholds page, where it is changed."""
    setting = threshold_setting(run, label_names)
    left, right = st.columns([4, 1])
    left.caption(f"Thresholds: **{setting.describe(len(label_names))}** · the session's setting, shared by Thresholds, "
                 "Samples, Review and Export.")
    try:
        right.page_link("app_pages/3_Thresholds.py", label="Change thresholds", icon=":material/tune:")
    except StreamlitAPIException:  # the page run on its own (tests), without app.py's navigation
        right.caption("Change them on the Thresholds page.")
    return ThresholdChoice(setting, setting.array(label_names))
