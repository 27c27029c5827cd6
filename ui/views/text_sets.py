"""The Data page's views of own texts (text sets, no labels needed): adding files, and annotating a set with a finished
run as a background job with progress, ETA and Stop that survives a reload of the page and a restart of the app."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from eqn_core.io.datasets import dataset_name_from, dataset_name_problem
from eqn_core.io.errors import DataError
from eqn_core.runs.summary import format_seconds
from eqn_core.runs.text_jobs import (
    DEFAULT_RUN,
    annotation_progress,
    delete_annotation,
    ingest_annotation,
    refresh_annotations,
    start_annotation,
    stop_annotation,
)
from eqn_core.store.text_set_folders import AnnotationFolder, annotation_path
from eqn_core.store.text_sets import add_text_set, list_text_sets, remove_text_set, text_set_names, text_set_row
from ui.display import escape_markdown, flash
from ui.pickers import finished_runs, run_label
from ui.session import bump_data_version

UPLOAD_TYPES = ("csv", "tsv", "txt", "parquet", "jsonl", "json", "gz", "bz2", "zst")
PROGRESS_SECONDS = 2  # how often a running annotation's progress is read again
STATUS_WORDS = {"queued": "queued", "running": "annotating", "finished": "finished", "failed": "failed",
                "stopped": "stopped (resume it to continue)"}


def add_texts(workspace) -> None:
    """Uploaded files (or files on the server, for sets too large to upload) into a new text set."""
    st.write("Texts without labels (interview transcripts, diary entries, comments): CSV, TSV, TXT (one text per "
             "line), JSONL or Parquet, also compressed (.gz, .bz2, .zst). One column holds the text; an id column is "
             "optional; every other column (speaker, date, source ...) is kept as metadata. Several files become one "
             "set. The files are streamed into the workspace, never held in memory whole.")
    uploads = st.file_uploader("Files", type=[*UPLOAD_TYPES], accept_multiple_files=True,
                               key=f"texts_upload_{st.session_state.get('texts_added', 0)}")  # empty after an add
    server_paths = st.text_input("Or files on this server (paths, one per line or comma-separated; for large files)",
                                 key="texts_paths", placeholder="/data/comments_2024.csv.gz")
    paths = [Path(p.strip()).expanduser() for p in server_paths.replace("\n", ",").split(",") if p.strip()]
    if not uploads and not paths:
        return
    first = uploads[0].name if uploads else paths[0].name
    left, right = st.columns(2)
    name = left.text_input("Name of the text set", value=dataset_name_from(first), key="texts_name")
    text_column = right.text_input("Text column (empty: found by its name)", key="texts_text_column")
    id_column = right.text_input("Id column (optional; empty: an 'id' column if there is one, else row numbers)",
                                 key="texts_id_column")
    if not st.button("Add texts", type="primary", key="texts_add"):
        return
    problem = dataset_name_problem(name, text_set_names(workspace))
    if problem:
        st.error(escape_markdown(problem))
        return
    with tempfile.TemporaryDirectory(prefix="eqn-texts-", dir=workspace.cache_dir) as temp:
        files = []
        for i, uploaded in enumerate(uploads or []):  # each under its own folder: two files may share a name
            target = Path(temp) / str(i) / (Path(uploaded.name).name.strip(".") or "upload")
            target.parent.mkdir()
            target.write_bytes(uploaded.getvalue())
            files.append(target)
        try:
            with st.spinner("Reading the texts into the workspace ..."):
                info = add_text_set(workspace, name.strip(), files + paths, text_column=text_column.strip() or None,
                                    id_column=id_column.strip() or None)
        except (DataError, ValueError, KeyError, OSError) as error:
            st.error(escape_markdown(error))
            return
    bump_data_version()
    metadata = ", ".join(info["metadata_columns"]) or "none"
    flash(f"Text set {info['name']}: {info['rows']:,} texts (metadata columns: {metadata}). Annotate it below.")
    st.session_state["texts_selected"] = info["name"]
    st.session_state["texts_added"] = st.session_state.get("texts_added", 0) + 1
    st.rerun()


def text_sets(workspace) -> None:
    """Every text set with its annotations; the chosen one can be annotated, stopped, resumed or removed."""
    frame = list_text_sets(workspace)
    if frame.empty:
        st.info("No text set yet: add your own texts above.")
        return
    st.dataframe(frame.assign(metadata_columns=[", ".join(c) for c in frame["metadata_columns"]]),
                 hide_index=True, width="stretch", key="texts_table")
    names = frame["name"].tolist()
    chosen = st.session_state.get("texts_selected")
    name = st.selectbox("Text set", names, index=names.index(chosen) if chosen in names else 0, key="texts_pick")
    annotations = refresh_annotations(workspace, name)
    for record in annotations.to_dict("records"):
        annotation_status(workspace, name, record)
    start_form(workspace, name, annotations)
    with st.expander(f"Remove text set {name}"):
        st.caption("Removes its texts and every annotation of it from the workspace (your original files stay).")
        if st.button(f"Remove {name}", key="texts_remove"):
            try:
                remove_text_set(workspace, name)
            except ValueError as error:
                st.error(escape_markdown(error))
            else:
                bump_data_version()
                flash(f"Removed text set {name}.")
                st.rerun()


def start_form(workspace, name: str, annotations: pd.DataFrame) -> None:
    candidates = finished_runs(workspace)
    candidates = candidates[[not (config or {}).get("derived_from") for config in candidates["config"]]]
    if candidates.empty:
        st.info("No finished model yet to annotate with.")
        return
    ids = candidates["run_id"].tolist()
    labels = {row["run_id"]: run_label(row) for row in candidates.to_dict("records")}
    run_id = st.selectbox("Annotate with", ids, index=ids.index(DEFAULT_RUN) if DEFAULT_RUN in ids else 0,
                          format_func=labels.get, key="texts_run",
                          help="Any finished run; the ready GoEmotions model ships with EQN Studio. Annotating with "
                               "another run keeps the earlier annotation.")
    existing = annotations[annotations["run_id"] == run_id]
    status = existing["status"].iloc[0] if not existing.empty else None
    if status in ("queued", "running"):
        return
    verb = {"finished": None, "stopped": "Resume", "failed": "Try again"}.get(status, "Annotate")
    if verb and st.button(f"{verb}: annotate {text_set_row(workspace, name)['rows']:,} texts with {run_id}",
                          type="primary", key="texts_start"):
        try:
            start_annotation(workspace, name, run_id=run_id)
        except (ValueError, KeyError) as error:
            st.error(escape_markdown(error))
        else:
            st.rerun()


def annotation_status(workspace, name: str, record: dict) -> None:
    """One annotation (its row as refresh_annotations left it): live progress while its job runs, else what it came
    to (and Delete)."""
    run_id, state = record["run_id"], record["status"]
    with st.container(border=True):
        if state in ("queued", "running"):
            live_progress(workspace, name, run_id)
            return
        done, total = int(record.get("rows_done") or 0), int(record.get("total_rows") or 0)
        st.markdown(f"**{escape_markdown(run_id)}** · {STATUS_WORDS.get(state, state)} · {done:,} of {total:,} texts")
        if state == "failed":
            st.error(escape_markdown(record.get("error") if isinstance(record.get("error"), str) and record["error"]
                                     else "the job failed; see job.log in its annotation folder"))
        if state == "finished":
            st.caption("Browse its texts on Samples, see what a threshold does on Thresholds, export it on Export "
                       "(choose the text set under \"Annotations from\").")
        if st.button("Delete this annotation", key=f"texts_delete_{run_id}"):
            delete_annotation(workspace, name, run_id)
            bump_data_version()
            st.rerun()


@st.fragment(run_every=PROGRESS_SECONDS)
def live_progress(workspace, name: str, run_id: str) -> None:
    """A running job's progress, read from its folder every few seconds (the job writes there, not in the
    database); when it ends, the workspace ingests it and the whole page runs again."""
    status = AnnotationFolder(annotation_path(workspace, name, run_id)).status()
    state = status.get("status", "queued")
    if state not in ("queued", "running"):
        ingest_annotation(workspace, name, run_id)
        bump_data_version()
        st.rerun(scope="app")
    done, total = int(status.get("rows_done") or 0), int(status.get("total_rows") or 0)
    st.markdown(f"**{escape_markdown(run_id)}** · {STATUS_WORDS[state]} · {done:,} of {total:,} texts")
    latest = (annotation_progress(workspace, name, run_id, last=1) or [{}])[-1]
    speed, eta = latest.get("texts_per_second"), latest.get("eta_seconds")
    words = [f"{speed:,.0f} texts/s" if speed else "starting: loading the model",
             f"about {format_seconds(eta)} left" if eta is not None else ""]
    st.progress(min(1.0, done / total) if total else 0.0, text=" · ".join(w for w in words if w))
    if st.button("Stop", key=f"texts_stop_{run_id}", help="Stops after the current batch; resume it later."):
        stop_annotation(workspace, name, run_id)
        st.toast("Stopping after the current batch ...")
