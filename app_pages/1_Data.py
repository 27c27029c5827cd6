"""Data: GoEmotions or your own files into the workspace; rows per split, label distribution, labels per text."""
import tempfile
from pathlib import Path

import streamlit as st

from eqn_core.io.datasets import (
    SPLIT_ORDER,
    dataset_name_from,
    dataset_name_problem,
    find_local_goemotions,
    goemotions_folder_problem,
    guess_split,
    save_uploads,
)
from eqn_core.io.label_parsing import LABEL_FORMATS
from eqn_core.io.tables import preview_table
from ui.auth import require_admin
from ui.display import escape_markdown, show_flash
from ui.session import get_workspace
from ui.views.data import (
    FORMAT_HELP,
    GUESS,
    HEADER,
    add_goemotions_with_progress,
    add_uploaded_dataset,
    dataset_overview,
    read_options,
)
from ui.views.text_sets import add_texts, text_sets

UPLOAD_TYPES = ("csv", "tsv", "txt", "parquet", "jsonl", "json", "xlsx", "gz", "bz2", "zst")

st.set_page_config(page_title="Data · EQN Studio", layout="wide")
require_admin("Loading and deleting data")
st.title("Data")
show_flash()
workspace = get_workspace()
names = workspace.dataset_names()

SECTIONS = ["Data sets", "Your texts (no labels)", "Add GoEmotions", "Add labelled files"]
# a segmented control, not tabs: the chosen section stays chosen across the reruns that adding data causes
section = st.segmented_control("Section", SECTIONS, default=SECTIONS[0], key="data_section",
                               label_visibility="collapsed") or SECTIONS[0]

# ------------------------------------------------------------------------------------------------ what is stored
if section == "Data sets":
    if not names:
        st.info("The workspace holds no data set yet: add GoEmotions or your own files with the sections above.")
    else:
        dataset_overview(workspace, names)

# ------------------------------------------------------------------------------------------------ own texts
elif section == "Your texts (no labels)":
    add_texts(workspace)
    st.subheader("Your text sets")
    text_sets(workspace)

# ------------------------------------------------------------------------------------------------ GoEmotions
elif section == "Add GoEmotions":
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
            problem = goemotions_folder_problem(folder) if source == "Local folder" else None
            if problem:
                st.error(escape_markdown(problem))
            else:
                add_goemotions_with_progress(workspace, from_dir=Path(folder).expanduser() if folder else None)

# ------------------------------------------------------------------------------------------------ user files
else:
    st.write("CSV, TSV, Parquet, JSONL or Excel (.xlsx, its first sheet), also compressed (.gz, .bz2, .zst), with a "
             "text column and labels as ids, names, one 0/1 column per label, or one label per text. Give one file "
             "per split; without a dev file, part of train becomes dev.")
    uploads = st.file_uploader("Files", type=[*UPLOAD_TYPES], accept_multiple_files=True, key="data_upload")
    if not uploads:
        st.stop()

    with tempfile.TemporaryDirectory(prefix="eqn-upload-") as temp:
        splits = [st.selectbox(f"Split of **{escape_markdown(uploaded.name)}**", SPLIT_ORDER,
                               index=SPLIT_ORDER.index(guess_split(uploaded.name)),
                               key=f"data_upload_split_{i}_{uploaded.name}") for i, uploaded in enumerate(uploads)]
        try:
            files = save_uploads([(split, uploaded.name, uploaded.getvalue())
                                  for split, uploaded in zip(splits, uploads)], temp)
        except ValueError as problem:
            st.error(escape_markdown(problem))
            st.stop()

        header = st.radio("Header row", list(HEADER), horizontal=True, key="data_upload_header",
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
            problem = dataset_name_problem(name, names)
            if problem:
                st.error(escape_markdown(problem))
            else:
                add_uploaded_dataset(workspace, name.strip(), files, dev_fraction=dev_fraction, options=read_options(
                    label_format=label_format, header=header, text_column=text_column, labels_column=labels_column,
                    id_column=id_column, label_columns=label_columns, label_names=label_names))
