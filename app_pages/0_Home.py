"""Home: what EQN Studio does, what the workspace holds, the next step (GoEmotions on a first open)."""
from pathlib import Path

import streamlit as st

from eqn_core.io.datasets import find_local_goemotions, goemotions_folder_problem
from eqn_core.runs.lifecycle import refresh_runs
from eqn_core.runs.summary import runs_table
from eqn_core.store.text_sets import list_text_sets
from ui.auth import accounts_enabled, current_user, require_login
from ui.display import escape_markdown, show_flash
from ui.session import get_workspace, workspace_root
from ui.views.audit import sign_in_audit
from ui.views.data import add_goemotions_with_progress

st.set_page_config(page_title="EQN Studio", page_icon="🎚️", layout="wide")
require_login()  # a direct link to this page needs a signed-in user too
st.title("EQN Studio")
st.markdown(
    "Annotate texts with **micro-emotions**: a 0–10 energy for every emotion instead of a yes/no label.  \n"
    "Bring your own texts and annotate them with the ready GoEmotions model, or load a labelled data set and train "
    "an EQN model on it; then explore thresholds, review suggestions and export.")
show_flash()

workspace = get_workspace()
admin = current_user().is_admin  # reviewers have no Data or Train page: no links to them
refresh_runs(workspace)
datasets = workspace.list_datasets()
runs = workspace.list_runs()
finished = runs[runs["status"] == "finished"]

own_texts = list_text_sets(workspace)
with st.container(border=True):
    st.subheader("Your own texts")
    if own_texts.empty:
        st.write("Interview transcripts, diary entries, a million comments: no labels needed. Add a CSV, TSV, TXT, "
                 "JSONL or Parquet file with a text column (other columns such as speaker or date are kept), annotate "
                 "it with the ready GoEmotions EQN model that ships with EQN Studio, then browse, review and export.")
    else:
        st.write(f"{len(own_texts)} text set(s), {int(own_texts['rows'].sum()):,} texts: annotate them on Data, "
                 "browse them on Samples, see what a threshold does on Thresholds, export them on Export.")
    if admin:
        st.page_link("app_pages/1_Data.py", label="Data → Your texts (no labels)", icon=":material/upload_file:")
    else:
        st.caption("An admin adds and annotates texts; you review them once they are annotated.")

if datasets.empty:
    local = find_local_goemotions()
    source = f"from the local folder `{local}`" if local else "from GitHub (about 4 MB)"
    st.subheader("Or start with GoEmotions")
    st.write(f"54,263 Reddit comments labelled with 27 emotions and neutral, the data set of the EQN paper. "
             f"Loads {source}; your own CSV/TSV/Parquet/JSONL files go in on the **Data** page.")
    if not admin:
        st.info("An admin loads the data; you can review once a model has annotated it.")
        st.stop()
    if st.button("Load GoEmotions", type="primary", key="home_load_goemotions"):
        if not add_goemotions_with_progress(workspace, from_dir=local,
                                            offline_hint="Load it from a folder on this computer below."):
            st.session_state["home_download_failed"] = True
    with st.expander("No internet? Load GoEmotions from a folder",
                     expanded=bool(st.session_state.get("home_download_failed"))):
        folder = st.text_input("Folder that holds train.tsv, dev.tsv and test.tsv", key="home_goemotions_folder",
                               placeholder="/data/goemotions")
        if st.button("Load from this folder", key="home_load_folder", disabled=not folder.strip()):
            if problem := goemotions_folder_problem(folder.strip()):
                st.error(escape_markdown(problem))
            else:
                add_goemotions_with_progress(workspace, from_dir=Path(folder.strip()).expanduser())
    st.page_link("app_pages/1_Data.py", label="Data: add your own files", icon=":material/upload_file:")
    if not finished.empty:
        st.write("Or annotate your own sentences now with the ready GoEmotions EQN model that ships with EQN Studio.")
        st.page_link("app_pages/8_Try_it.py", label="Try it", icon=":material/edit_note:")
    st.caption(f"Workspace: `{workspace_root()}`")
    if admin and accounts_enabled():
        sign_in_audit(workspace)
    st.stop()

st.subheader("Next step")
if finished.empty:
    active = runs[runs["status"].isin(["queued", "running"])]
    if active.empty:
        st.write("Train a model: EQN with the bundled MiniLM encoder (its top layers trained, the lower ones cached) "
                 "runs on a CPU; a quick look on a few thousand rows takes minutes.")
    else:
        st.write(f"Training is under way ({len(active)} run(s)); follow it on the Train page.")
    if admin:
        st.page_link("app_pages/2_Train.py", label="Train a model", icon=":material/model_training:")
else:
    st.write("Move thresholds and see precision, recall and F1 change, look at texts, or try your own sentence.")
    links = [("app_pages/3_Thresholds.py", "Thresholds", ":material/tune:"),
             ("app_pages/6_Review.py", "Review micro-emotions", ":material/rate_review:"),
             ("app_pages/8_Try_it.py", "Try it", ":material/edit_note:")]
    if admin:
        links.append(("app_pages/2_Train.py", "Train another model", ":material/model_training:"))
    for page, label, icon in links:
        st.page_link(page, label=label, icon=icon)

st.subheader("In this workspace")
left, right = st.columns(2)
left.metric("Data sets", len(datasets))
right.metric("Finished runs", len(finished), help=f"{len(runs)} runs in all")
st.dataframe(datasets.drop(columns=["created_at"]), hide_index=True, width="stretch")
if not runs.empty:
    st.dataframe(runs_table(runs), hide_index=True, width="stretch")
st.caption(f"Workspace: `{workspace_root()}` (set `EQN_WORKSPACE` to use another folder)")
if admin and accounts_enabled():
    sign_in_audit(workspace)
