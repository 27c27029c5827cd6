"""Streamlit views of the Data page: a stored data set (rows per split, label distribution, labels per text,
deleting it), adding uploaded files as a data set, and fetching GoEmotions with a progress bar (also offered on
the Home page)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from eqn_core.io.datasets import load_files
from eqn_core.io.errors import DataError
from eqn_core.io.names import check_safe_name
from ui.display import escape_markdown, flash, plot_text
from ui.session import bump_data_version

FORMAT_HELP = {
    "auto": "guess from the file",
    "ids": "one column of label ids, comma-separated: 3,17",
    "names": "one column of label names, comma-separated: joy,anger",
    "onehot": "one 0/1 column per label",
    "single": "one column, exactly one label per text",
}
GUESS = "(guess)"  # a column left for load_files to find
HEADER = {"guess": None, "yes": True, "no": False}


def dataset_overview(workspace, names: list[str]) -> None:
    """Pick a stored data set (remembered as the session's data set) and show what it holds; delete it when no run
    uses it."""
    chosen = st.session_state.get("dataset")
    name = st.selectbox("Data set", names, index=names.index(chosen) if chosen in names else 0, key="data_view")
    st.session_state["dataset"] = name
    summary = workspace.dataset_summary(name)
    info = workspace.list_datasets().set_index("name").loc[name]
    splits = list(summary["rows"])
    columns = st.columns(len(splits) + 2)
    for column, split in zip(columns, splits):
        column.metric(f"{split} rows", f"{summary['rows'][split]:,}")
    columns[-2].metric("labels", int(info["num_labels"]))
    columns[-1].metric("kind", "multi-label" if info["multi_label"] else "single-label")
    st.caption(f"Source: {escape_markdown(info['source'])}")
    label_distribution(summary, splits)
    labels_per_text(summary, splits)
    delete_section(workspace, name)


def label_distribution(summary: dict, splits: list[str]) -> None:
    st.subheader("Label distribution")
    share = st.radio("Show", ["texts", "% of the split"], horizontal=True, key="data_view_share",
                     label_visibility="collapsed") != "texts"
    counts = pd.DataFrame(summary["label_counts"])  # (labels, splits)
    counts = counts.sort_values(splits[0], ascending=False)
    if share:
        counts = 100 * counts / pd.Series(summary["rows"]).clip(lower=1)
    figure = go.Figure([go.Bar(name=split, x=[plot_text(label) for label in counts.index], y=counts[split])
                        for split in splits])
    figure.update_layout(barmode="group", xaxis_title="label", yaxis_title="% of texts" if share else "texts",
                         height=380, margin={"t": 10, "b": 10})
    st.plotly_chart(figure, key="data_label_distribution")


def labels_per_text(summary: dict, splits: list[str]) -> None:
    st.subheader("Labels per text")
    st.caption("How many labels people gave each text (the EQN paper's Figure 3).")
    per_text = pd.DataFrame(summary["labels_per_text"]).fillna(0).astype(int).sort_index()
    per_text.index.name = "labels per text"
    figure = go.Figure([go.Bar(name=split, x=per_text.index.astype(str), y=per_text[split]) for split in splits])
    figure.update_layout(barmode="group", xaxis_title="labels per text", yaxis_title="texts", height=320,
                         margin={"t": 10, "b": 10})
    st.plotly_chart(figure, key="data_labels_per_text")
    counts_table = per_text.T.rename(columns=lambda k: f"{k} label" + ("" if k == 1 else "s"))
    st.dataframe(counts_table, key="data_labels_per_text_table")


def delete_section(workspace, name: str) -> None:
    with st.expander("Delete this data set"):
        used_by = workspace.list_runs(dataset=name)["run_id"].tolist()
        if used_by:
            st.caption(f"{len(used_by)} runs use it; delete them on the Train page first.")
        elif st.button("Delete data set", key="data_delete"):
            workspace.delete_dataset(name)
            st.session_state.pop("dataset", None)
            bump_data_version()
            flash(f"Deleted data set {name}.")
            st.rerun()


def read_options(*, label_format: str, header: str, text_column, labels_column, id_column, label_columns: list,
                 label_names: str) -> dict:
    """load_files' reading options from the upload widgets: columns left at GUESS and empty fields are not passed."""
    options = {"label_format": label_format, "has_header": HEADER[header]}
    for option, value in (("text_column", text_column), ("labels_column", labels_column), ("id_column", id_column)):
        if value != GUESS:
            options[option] = value
    if label_columns:
        options["label_columns"] = [str(column) for column in label_columns]
    if label_names.strip():
        options["label_names"] = [n.strip() for n in label_names.split(",") if n.strip()]
    return options


def add_uploaded_dataset(workspace, name: str, files: dict[str, Path], *, dev_fraction: float, options: dict) -> None:
    """Read the files as data set `name` and store it, then rerun the page with a note; on failure say why where the
    button was (nothing is stored)."""
    try:
        check_safe_name(name, "data set name")  # before reading: the name becomes run ids
        dataset = load_files(name, files, dev_fraction=dev_fraction, **options)
        workspace.add_dataset(dataset)
    except (DataError, ValueError) as error:
        st.error(f"Nothing was stored. {escape_markdown(error)}")
        return
    bump_data_version()
    st.session_state["dataset"] = dataset.name
    rows = ", ".join(f"{split} {len(part.texts):,}" for split, part in dataset.splits.items())
    flash(f"Added {dataset.name}: {rows} texts, {len(dataset.label_names)} labels "
          f"({'multi' if dataset.multi_label else 'single'}-label). See it under Data sets.")
    st.rerun()


def add_goemotions_with_progress(workspace, *, from_dir: str | Path | None = None,
                                 offline_hint: str | None = None) -> bool:
    """Fetch and store GoEmotions with a progress bar, then rerun the page with a success note;
    on failure show the error where the button was (nothing is stored) and return False.
    offline_hint: what to do without internet, said after a failed download."""
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
