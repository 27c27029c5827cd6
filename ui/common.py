"""Streamlit glue shared by the pages: the one workspace connection, run and split pickers, cached reads."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from eqn_core.runs import refresh_runs
from eqn_core.workspace import Workspace

DEFAULT_WORKSPACE = "eqn-workspace"


def workspace_root() -> Path:
    return Path(os.environ.get("EQN_WORKSPACE") or DEFAULT_WORKSPACE).resolve()


@st.cache_resource(show_spinner=False)
def _open_workspace(root: str) -> Workspace:
    # one DuckDB connection per app process (DuckDB allows one writer); the Workspace serialises its methods
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
            st.info("No finished run yet. Train one on the **Train** page (frozen CoEQN/EQN takes minutes on a CPU).")
            st.stop()
        return None
    ids = runs["run_id"].tolist()
    labels = {row["run_id"]: run_label(row) for _, row in runs.iterrows()}
    default = st.session_state.get(key)
    index = ids.index(default) if default in ids else 0
    run_id = st.selectbox(label, ids, index=index, format_func=labels.get, key=f"{key}_select")
    st.session_state[key] = run_id
    return workspace.get_run(run_id)


def pick_split(workspace: Workspace, run_id: str, *, key: str = "split", default: str = "test") -> str:
    splits = workspace.energy_splits(run_id)
    if not splits:
        st.warning("This run has no stored energies.")
        st.stop()
    index = splits.index(default) if default in splits else 0
    return st.selectbox("Split", splits, index=index, key=key)
