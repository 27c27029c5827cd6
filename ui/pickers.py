"""The run and split pickers: which finished run and which split a page shows, remembered across pages (and, for
the session's current run, across a reload in the URL)."""
from __future__ import annotations

import streamlit as st

from eqn_core.runs.lifecycle import default_run_id, refresh_runs
from eqn_core.store.workspace import Workspace


def finished_runs(workspace: Workspace, *, dataset: str | None = None):
    refresh_runs(workspace)
    runs = workspace.list_runs(dataset=dataset)
    return runs[runs["status"] == "finished"]


def run_label(row) -> str:
    return f"{row['run_id']}  ({row['mode']}, {row['dataset']})"


def pick_run(workspace: Workspace, *, key: str = "run", label: str = "Run", dataset: str | None = None,
             stop_if_none: bool = True, needs_energies: bool = True) -> dict | None:
    """A select box of finished runs; remembers the choice across pages in st.session_state[key] and, for the
    session's current run (key "run"), across a reload in the URL (?run=...). needs_energies: the page shows stored
    energies, so it does not open on a shipped model whose data set is not loaded (Try it does not need them)."""
    runs = finished_runs(workspace, dataset=dataset)
    if runs.empty:
        if stop_if_none:
            st.info("No finished run yet. Train one on the **Train** page.")
            st.stop()
        return None
    ids = runs["run_id"].tolist()
    labels = {row["run_id"]: run_label(row) for _, row in runs.iterrows()}
    default = st.session_state.get(key)
    if default not in ids and key == "run":
        default = st.query_params.get("run")
    if default not in ids:  # nothing remembered: the best finished EQN run, not merely the newest
        candidates = runs
        if needs_energies:
            from eqn_core.store.shipped import is_shipped

            candidates = runs[[not (is_shipped(row) and not workspace.energy_splits(row["run_id"]))
                               for row in runs.to_dict("records")]]
        default = default_run_id(candidates if not candidates.empty else runs)
    index = ids.index(default)
    run_id = st.selectbox(label, ids, index=index, format_func=labels.get, key=f"{key}_select")
    st.session_state[key] = run_id
    if key == "run" and st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id
    return workspace.get_run(run_id)


def pick_split(workspace: Workspace, run_id: str, *, key: str = "split", default: str = "test") -> str:
    splits = workspace.energy_splits(run_id)
    if not splits:
        from eqn_core.store.shipped import is_shipped

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
