"""Data: GoEmotions or your own files into the workspace; rows per split, label distribution, labels per text."""
import tempfile
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from eqn_core.data import (LABEL_FORMATS, SPLIT_ORDER, DataError, dataset_name_from, find_local_goemotions, guess_split,
                           load_files)
from eqn_core.names import check_safe_name
from eqn_core.tables import preview_table
from ui.common import (add_goemotions_with_progress, bump_data_version, escape_markdown, flash, get_workspace,
                       plot_text, require_admin, show_flash)

st.set_page_config(page_title="Data · EQN Studio", layout="wide")
require_admin("Loading and deleting data")
st.title("Data")
show_flash()
workspace = get_workspace()
names = workspace.dataset_names()

view, goemotions, upload = st.tabs(["Data sets", "Add GoEmotions", "Add your files"])

# ------------------------------------------------------------------------------------------------ what is stored
with view:
    if not names:
        st.info("The workspace holds no data set yet: add GoEmotions or your own files with the tabs above.")
    else:
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

        st.subheader("Label distribution")
        share = st.radio("Show", ["texts", "% of the split"], horizontal=True, key="data_view_share",
                         label_visibility="collapsed") != "texts"
        counts = pd.DataFrame(summary["label_counts"])  # (labels, splits)
        counts = counts.sort_values(splits[0], ascending=False)
        if share:
            counts = 100 * counts / pd.Series(summary["rows"]).clip(lower=1)
        figure = go.Figure([go.Bar(name=split, x=[plot_text(label) for label in counts.index], y=counts[split]) for split in splits])
        figure.update_layout(barmode="group", xaxis_title="label", yaxis_title="% of texts" if share else "texts",
                             height=380, margin={"t": 10, "b": 10})
        st.plotly_chart(figure, key="data_label_distribution")

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

# ------------------------------------------------------------------------------------------------ GoEmotions
with goemotions:
    st.write("GoEmotions: 54,263 Reddit comments labelled with 27 emotions and neutral, in the official "
             "train/dev/test split.")
    if "goemotions" in names:
        st.success("GoEmotions is already in this workspace.")
    else:
        local = find_local_goemotions()
        source = st.radio("Source", ["Local folder", "Download from GitHub"], index=0 if local else 1,
                          key="data_goemotions_source", horizontal=True)
        folder = None
        if source == "Local folder":
            folder = st.text_input("Folder holding train.tsv, dev.tsv and test.tsv", value=str(local or ""),
                                   key="data_goemotions_folder")
        if st.button("Load GoEmotions", type="primary", key="data_load_goemotions"):
            if source == "Local folder" and not (folder and Path(folder).expanduser().is_dir()):
                st.error(f"No folder at {escape_markdown(repr(folder))}: give the folder that holds train.tsv, dev.tsv and test.tsv.")
            else:
                add_goemotions_with_progress(workspace, from_dir=Path(folder).expanduser() if folder else None)

# ------------------------------------------------------------------------------------------------ user files
FORMAT_HELP = {
    "auto": "guess from the file",
    "ids": "one column of label ids, comma-separated: 3,17",
    "names": "one column of label names, comma-separated: joy,anger",
    "onehot": "one 0/1 column per label",
    "single": "one column, exactly one label per text",
}
GUESS = "(guess)"

with upload:
    st.write("CSV, TSV, Parquet or JSONL with a text column and labels as ids, names, one 0/1 column per label, "
             "or one label per text. Give one file per split; without a dev file, part of train becomes dev.")
    uploads = st.file_uploader("Files", type=["csv", "tsv", "txt", "parquet", "jsonl", "json"],
                               accept_multiple_files=True, key="data_upload")
    if not uploads:
        st.stop()

    with tempfile.TemporaryDirectory(prefix="eqn-upload-") as temp:
        files: dict[str, Path] = {}
        duplicate = None
        for i, uploaded in enumerate(uploads):
            split = st.selectbox(f"Split of **{escape_markdown(uploaded.name)}**", SPLIT_ORDER,
                                 index=SPLIT_ORDER.index(guess_split(uploaded.name)),
                                 key=f"data_upload_split_{i}_{uploaded.name}")
            path = Path(temp) / split / (Path(uploaded.name).name.strip(".") or "upload")  # never a folder
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(uploaded.getvalue())
            duplicate = duplicate or (split if split in files else None)
            files[split] = path
        if duplicate:
            st.error(f"Two files are marked as the {duplicate!r} split; give each split one file.")
            st.stop()
        if "train" not in files:
            st.error("Mark one file as the train split (dev and test are optional).")
            st.stop()

        header = st.radio("Header row", ["guess", "yes", "no"], horizontal=True, key="data_upload_header",
                          help="Whether the first row names the columns (CSV/TSV/TXT only).")
        try:
            preview = preview_table(files["train"], has_header=header != "no")
        except Exception as error:  # only a preview: the real read below reports problems precisely
            preview = None
            st.warning(f"No preview of {escape_markdown(files['train'].name)} ({escape_markdown(error)}); "
                       "columns will be found automatically.")
        columns = [] if preview is None else list(preview.columns)
        if preview is not None:
            st.dataframe(preview, key="data_upload_preview")

        left, right = st.columns(2)
        text_column = left.selectbox("Text column", [GUESS, *columns], key="data_upload_text")
        label_format = right.selectbox("Label format", LABEL_FORMATS, format_func=lambda f: f"{f}: {FORMAT_HELP[f]}",
                                       key="data_upload_format")
        labels_column, label_columns = GUESS, []
        if label_format == "onehot":
            label_columns = left.multiselect("0/1 label columns (none: every other column)", columns,
                                             key="data_upload_onehot")
        else:
            labels_column = left.selectbox("Labels column", [GUESS, *columns], key="data_upload_labels")
        id_column = right.selectbox("Id column (optional)", [GUESS, *columns], key="data_upload_id")
        label_names = left.text_input("Label names in id order, comma-separated (optional)", key="data_upload_names",
                                      help="Names for label ids (else 0, 1, ...); for other formats they are found in "
                                           "the data.")
        dev_fraction = right.slider("Share of train used as dev (when no dev file)", 0.05, 0.5, 0.1, 0.05,
                                    key="data_upload_dev_fraction", disabled="dev" in files)
        name = left.text_input("Data set name", value=dataset_name_from(uploads[0].name), key="data_upload_name")

        if st.button("Add data set", type="primary", key="data_upload_add"):
            options = {"label_format": label_format, "has_header": {"guess": None, "yes": True, "no": False}[header]}
            for option, value in (("text_column", text_column), ("labels_column", labels_column),
                                  ("id_column", id_column)):
                if value != GUESS:
                    options[option] = value
            if label_columns:
                options["label_columns"] = [str(column) for column in label_columns]
            if label_names.strip():
                options["label_names"] = [n.strip() for n in label_names.split(",") if n.strip()]
            if not name.strip():
                st.error("Give the data set a name.")
            elif name.strip() in names:
                st.error(f"A data set named {escape_markdown(repr(name.strip()))} already exists; choose another name.")
            else:
                try:
                    check_safe_name(name.strip(), "data set name")  # before reading: the name becomes run ids
                    dataset = load_files(name.strip(), files, dev_fraction=dev_fraction, **options)
                    workspace.add_dataset(dataset)
                except (DataError, ValueError) as error:
                    st.error(f"Nothing was stored. {escape_markdown(error)}")
                else:
                    bump_data_version()
                    st.session_state["dataset"] = dataset.name
                    rows = ", ".join(f"{split} {len(part.texts):,}" for split, part in dataset.splits.items())
                    flash(f"Added {dataset.name}: {rows} texts, {len(dataset.label_names)} labels "
                          f"({'multi' if dataset.multi_label else 'single'}-label). See it under Data sets.")
                    st.rerun()
