"""Streamlit glue shared by the pages: the app's workspace, run and split pickers, cached reads, escaping of user
strings for Markdown and plotly."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import streamlit as st

from eqn_core.runs import default_run_id, refresh_runs
from eqn_core.thresholds import DEFAULT_THRESHOLD, ENERGY_MAX, ENERGY_MIN, reaches
from eqn_core.workspace import Workspace

DEFAULT_WORKSPACE = "eqn-workspace"


def workspace_root() -> Path:
    return Path(os.environ.get("EQN_WORKSPACE") or DEFAULT_WORKSPACE).resolve()


@st.cache_resource(show_spinner=False)
def _open_workspace(root: str) -> Workspace:
    # one Workspace object per app process; it opens the database only for bursts of calls, so CLI commands
    # can use the same workspace meanwhile (eqn_core.workspace)
    return Workspace(root)


def get_workspace() -> Workspace:
    return _open_workspace(str(workspace_root()))


def data_version() -> int:
    """Bumped whenever the pages write to the workspace, so cached reads refresh."""
    return st.session_state.setdefault("_data_version", 0)


def bump_data_version() -> None:
    st.session_state["_data_version"] = data_version() + 1


@st.cache_data(show_spinner=False, max_entries=32)
def _energies(root: str, run_id: str, split: str, version: int) -> np.ndarray:
    return _open_workspace(root).load_energies(run_id, split)


def load_energies(run_id: str, split: str) -> np.ndarray:
    """(N, C) energies of a run and split, cached across reruns (a slider move must not hit the database)."""
    return _energies(str(workspace_root()), run_id, split, data_version())


@st.cache_data(show_spinner=False, max_entries=16)
def _human_labels(root: str, dataset: str, split: str, version: int) -> np.ndarray:
    return _open_workspace(root).load_dataset(dataset, splits=[split]).splits[split].human_labels


def load_human_labels(dataset: str, split: str) -> np.ndarray:
    return _human_labels(str(workspace_root()), dataset, split, data_version())


def finished_runs(workspace: Workspace, *, dataset: str | None = None):
    refresh_runs(workspace)
    runs = workspace.list_runs(dataset=dataset)
    return runs[runs["status"] == "finished"]


def run_label(row) -> str:
    return f"{row['run_id']}  ({row['mode']}, {row['dataset']})"


def pick_run(workspace: Workspace, *, key: str = "run", label: str = "Run", dataset: str | None = None,
             stop_if_none: bool = True) -> dict | None:
    """A select box of finished runs; remembers the choice across pages in st.session_state[key]."""
    runs = finished_runs(workspace, dataset=dataset)
    if runs.empty:
        if stop_if_none:
            st.info("No finished run yet. Train one on the **Train** page.")
            st.stop()
        return None
    ids = runs["run_id"].tolist()
    labels = {row["run_id"]: run_label(row) for _, row in runs.iterrows()}
    default = st.session_state.get(key)
    if default not in ids:  # nothing remembered: the best finished EQN run, not merely the newest
        default = default_run_id(runs)
    index = ids.index(default)
    run_id = st.selectbox(label, ids, index=index, format_func=labels.get, key=f"{key}_select")
    st.session_state[key] = run_id
    return workspace.get_run(run_id)


def pick_split(workspace: Workspace, run_id: str, *, key: str = "split", default: str = "test") -> str:
    splits = workspace.energy_splits(run_id)
    if not splits:
        from eqn_core.shipped import is_shipped

        run = workspace.get_run(run_id)
        if is_shipped(run):
            st.info(f"**{run_id}** is the ready model that ships with EQN Studio. Its energies of the "
                    f"{run['dataset']} texts appear here once that data set is loaded (Home or Data page); "
                    "**Try it** annotates your own texts with it now.")
        else:
            st.warning("This run has no stored energies.")
        st.stop()
    index = splits.index(default) if default in splits else 0
    return st.selectbox("Split", splits, index=index, key=key)


@st.cache_data(show_spinner=False, max_entries=64)
def _label_names(root: str, dataset: str, version: int) -> list[str]:
    return _open_workspace(root).label_names(dataset)


def load_label_names(dataset: str) -> list[str]:
    """The C label names of a data set, in label-id order (cached)."""
    return _label_names(str(workspace_root()), dataset, data_version())


@st.cache_data(show_spinner=False, max_entries=16)
def _topk_tables(root: str, run_id: str, split: str, dataset: str, version: int) -> dict:
    from eqn_core.metrics import topk_tables

    return topk_tables(_energies(root, run_id, split, version), _human_labels(root, dataset, split, version))


def load_topk_tables(run_id: str, split: str, dataset: str) -> dict:
    """The threshold-free figures of a run on a split (top-k P/R/F1, Tables 4 and 5), computed once."""
    return _topk_tables(str(workspace_root()), run_id, split, dataset, data_version())


@st.cache_resource(show_spinner=False, max_entries=4)
def _run_model(run_dir: str, weights_mtime: float):
    from eqn_core.runs import load_run_model

    return load_run_model(run_dir)


def load_run_model_cached(run_dir: str | Path):
    """(model, config, label_names) of a finished run, loaded once per process (and again if its weights change)."""
    from eqn_core.runs import RunFolder

    weights = RunFolder(run_dir).weights_file
    return _run_model(str(run_dir), weights.stat().st_mtime if weights.exists() else 0.0)


def add_goemotions_with_progress(workspace: Workspace, *, from_dir: str | Path | None = None,
                                 offline_hint: str | None = None) -> bool:
    """Fetch and store GoEmotions with a progress bar, then rerun the page with a success note;
    on failure show the error where the button was (nothing is stored) and return False.
    offline_hint: what to do without internet, said after a failed download."""
    from eqn_core.data import DataError

    where = f"from {from_dir}" if from_dir else "from GitHub (about 4 MB)"
    bar = st.progress(0.0, text=f"Fetching GoEmotions {where} ...")

    def on_progress(file_name: str, done: int, total: int | None) -> None:
        bar.progress(min(1.0, done / total) if total else 0.0, text=f"{file_name}: {done / 1e6:.1f} MB")

    try:
        with st.spinner("Reading and storing GoEmotions ..."):
            dataset = workspace.add_goemotions(from_dir=from_dir, progress=on_progress)
    except (DataError, ValueError, OSError) as error:
        bar.empty()
        hint = "" if from_dir or not offline_hint else f" {offline_hint}"
        st.error(f"Could not load GoEmotions: {escape_markdown(error)}.{hint}")
        return False
    bump_data_version()
    st.session_state["dataset"] = dataset.name
    rows = ", ".join(f"{name} {len(split.texts):,}" for name, split in dataset.splits.items())
    flash(f"GoEmotions is in the workspace: {rows} texts, {len(dataset.label_names)} labels.")
    st.rerun()


def flash(message: str, kind: str = "success") -> None:
    """A message shown once, on the next run of the page (call before st.rerun())."""
    st.session_state["_flash"] = (kind, message)


def show_flash() -> None:
    kind, message = st.session_state.pop("_flash", (None, None))
    if message:
        getattr(st, kind)(message)


# ---------------------------------------------------------------- thresholds, texts, energy bars (pages 4-7)
ENERGY_BAR_STYLES = {  # category -> (colour, bar pattern): human labels hatched, suggestions in a warm colour
    "human label": ("#1f77b4", "/"),
    "human label, low energy": ("#9ecae1", "/"),
    "suggested micro-emotion": ("#ff7f0e", ""),
    "below threshold": ("#c7c7c7", ""),
}


def run_global_threshold(run: dict) -> float:
    """The run's recorded global threshold h (metrics["global_threshold"]), else the default h."""
    value = (run.get("metrics") or {}).get("global_threshold")
    return float(value) if value is not None else DEFAULT_THRESHOLD


def pick_thresholds(workspace: Workspace, run: dict, label_names: list[str], *, key: str) -> dict:
    """A global threshold slider, or one of the run's saved threshold profiles.

    Returns {"thresholds": (C,) float64, "profile": name or None, "global_threshold": h or None,
    "per_label": bool, "describe": a short text for captions}.
    """
    profiles = workspace.list_threshold_profiles(run_id=run["run_id"])
    mode = "Global threshold"
    if not profiles.empty:
        mode = st.radio("Threshold", ["Global threshold", "Saved profile"], horizontal=True,
                        key=f"{key}_threshold_mode",
                        help="An energy at or above the threshold counts as the emotion being present (eq. 8).")
    if mode == "Saved profile":
        name = st.selectbox("Threshold profile", profiles["name"].tolist(), key=f"{key}_threshold_profile")
        thresholds = np.asarray(workspace.load_threshold_profile(name)["thresholds"], dtype=np.float64)
        return {"thresholds": thresholds, "profile": name, "global_threshold": None, "per_label": True,
                "describe": f"profile {name!r}"}
    if profiles.empty:
        st.caption("No saved threshold profile for this run yet (save one on the Thresholds page).")
    value = st.slider("Global threshold h", ENERGY_MIN, ENERGY_MAX, value=run_global_threshold(run), step=0.1,
                      key=f"{key}_threshold_global",
                      help="An energy at or above h counts as the emotion being present (paper eq. 8).")
    return {"thresholds": np.full(len(label_names), float(value)), "profile": None, "global_threshold": float(value),
            "per_label": False, "describe": f"h = {value:g}"}


@st.cache_data(show_spinner=False, max_entries=16)
def _texts(root: str, dataset: str, split: str, version: int):
    return _open_workspace(root).texts(dataset, split)


def load_texts(dataset: str, split: str):
    """row_idx, text_id, text, label_ids of a split (cached), in row order."""
    return _texts(str(workspace_root()), dataset, split, data_version())


def energy_bar_figure(energies, human_labels, label_names: list[str], thresholds, *, per_label: bool,
                      title: str = "", height: int = 360):
    """Plotly bars of one text's C energies: human labels hatched, suggestions coloured, the threshold drawn.

    energies: (C,); human_labels: (C,) bool; thresholds: (C,). per_label: markers per label, else one line.
    """
    import plotly.graph_objects as go

    label_names = [plot_text(name) for name in label_names]  # plotly renders some HTML: show names as typed
    energies = np.asarray(energies, dtype=np.float64)  # (C,)
    human_labels = np.asarray(human_labels, dtype=bool)  # (C,)
    thresholds = np.asarray(thresholds, dtype=np.float64)  # (C,)
    above = reaches(energies[None, :], thresholds)[0]  # the one threshold rule (float32, energy >= h)
    category = np.where(human_labels, np.where(above, "human label", "human label, low energy"),
                        np.where(above, "suggested micro-emotion", "below threshold"))
    figure = go.Figure()
    for name, (colour, pattern) in ENERGY_BAR_STYLES.items():
        chosen = np.flatnonzero(category == name)
        if chosen.size:
            figure.add_bar(x=[label_names[i] for i in chosen], y=energies[chosen], name=name,
                           marker={"color": colour, "pattern": {"shape": pattern}},
                           hovertemplate="%{x}: %{y:.2f}<extra>" + name + "</extra>")
    if per_label:
        figure.add_scatter(x=label_names, y=thresholds, mode="markers", name="threshold (per label)",
                           marker={"symbol": "line-ew-open", "size": 18, "color": "#d62728", "line": {"width": 3}},
                           hovertemplate="%{x}: h = %{y:.2f}<extra></extra>")
    else:
        figure.add_hline(y=float(thresholds[0]), line_dash="dash", line_color="#d62728",
                         annotation_text=f"threshold h = {thresholds[0]:g}", annotation_position="top left")
    figure.update_layout(title=plot_text(title) if title else None, barmode="overlay", height=height, yaxis_title="energy",
                         yaxis_range=[0, 10.5], legend_orientation="h", legend_y=-0.3,
                         xaxis={"categoryorder": "array", "categoryarray": list(label_names), "tickangle": -45},
                         margin={"t": 40 if title else 10, "b": 10})
    return figure


def escape_markdown(text) -> str:
    """Any user string (label, text id, reviewer, file name) made safe for st.markdown / st.caption / st.error and
    widget labels: Markdown and HTML characters are escaped, so "[link](http://x)" or "<b>" show as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])", r"\\\1", str(text)).replace("\n", " ")


def plot_text(text) -> str:
    """A user string for plotly labels and hover text, which render a few HTML tags (<b>, <a href>): shown as typed."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote_text(text: str) -> str:
    """A data set text as a Markdown block quote, its Markdown characters escaped (shown as typed)."""
    escaped = re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", text)
    return "> " + escaped.replace("\n", "  \n> ")
