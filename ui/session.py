"""The app's workspace and its cached reads: one Workspace object per folder and process, a data version that the
pages bump when they write, and the reads a page rerun must not repeat (energies, human labels, label names, texts,
top-k tables, a run's model)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from eqn_core.store.workspace import Workspace

DEFAULT_WORKSPACE = "eqn-workspace"


def workspace_root() -> Path:
    return Path(os.environ.get("EQN_WORKSPACE") or DEFAULT_WORKSPACE).resolve()


@st.cache_resource(show_spinner=False)
def open_workspace(root: str) -> Workspace:
    """The one Workspace object of this app process for the folder `root` (cached); the pages' cached reads go
    through it. It opens the database only for bursts of calls, so CLI commands can use the same workspace
    meanwhile (eqn_core.store.database)."""
    return Workspace(root)


def get_workspace() -> Workspace:
    return open_workspace(str(workspace_root()))


def data_version() -> int:
    """Bumped whenever the pages write to the workspace, so cached reads refresh."""
    return st.session_state.setdefault("_data_version", 0)


def bump_data_version() -> None:
    st.session_state["_data_version"] = data_version() + 1


@st.cache_data(show_spinner=False, max_entries=32)
def _energies(root: str, run_id: str, split: str, version: int) -> np.ndarray:
    return open_workspace(root).load_energies(run_id, split)


def load_energies(run_id: str, split: str) -> np.ndarray:
    """(N, C) energies of a run and split, cached across reruns (a slider move must not hit the database)."""
    return _energies(str(workspace_root()), run_id, split, data_version())


@st.cache_data(show_spinner=False, max_entries=16)
def _human_labels(root: str, dataset: str, split: str, version: int) -> np.ndarray:
    return open_workspace(root).load_dataset(dataset, splits=[split]).splits[split].human_labels


def load_human_labels(dataset: str, split: str) -> np.ndarray:
    return _human_labels(str(workspace_root()), dataset, split, data_version())


@st.cache_data(show_spinner=False, max_entries=64)
def _label_names(root: str, dataset: str, version: int) -> list[str]:
    return open_workspace(root).label_names(dataset)


def load_label_names(dataset: str) -> list[str]:
    """The C label names of a data set, in label-id order (cached)."""
    return _label_names(str(workspace_root()), dataset, data_version())


@st.cache_resource(show_spinner=False, max_entries=16)  # shared, not copied per read: treat it as read-only
def _texts(root: str, dataset: str, split: str, version: int):
    return open_workspace(root).texts(dataset, split)


def load_texts(dataset: str, split: str):
    """row_idx, text_id, text, label_ids of a split (cached), in row order."""
    return _texts(str(workspace_root()), dataset, split, data_version())


@st.cache_data(show_spinner=False, max_entries=16)
def _topk_tables(root: str, run_id: str, split: str, dataset: str, version: int) -> dict:
    from eqn_core.method.reports import topk_tables

    return topk_tables(_energies(root, run_id, split, version), _human_labels(root, dataset, split, version))


def load_topk_tables(run_id: str, split: str, dataset: str) -> dict:
    """The threshold-free figures of a run on a split (top-k P/R/F1, Tables 4 and 5), computed once."""
    return _topk_tables(str(workspace_root()), run_id, split, dataset, data_version())


@st.cache_resource(show_spinner=False, max_entries=4)
def _run_model(run_dir: str, weights_mtime: float):
    from eqn_core.runs.lifecycle import load_run_model

    return load_run_model(run_dir)


def load_run_model_cached(run_dir: str | Path):
    """(model, config, label_names) of a finished run, loaded once per process (and again if its weights change)."""
    from eqn_core.store.run_folders import RunFolder

    weights = RunFolder(run_dir).weights_file
    return _run_model(str(run_dir), weights.stat().st_mtime if weights.exists() else 0.0)
