"""Home: what EQN Studio does, what the workspace holds, the next step (GoEmotions on a first open)."""
import streamlit as st

from eqn_core.data import find_local_goemotions
from eqn_core.runs import refresh_runs, runs_table
from ui.common import (add_goemotions_with_progress, current_user, get_workspace, require_login, show_flash,
                       workspace_root)

st.set_page_config(page_title="EQN Studio", page_icon="🎚️", layout="wide")
require_login()  # a direct link to this page needs a signed-in user too
st.title("EQN Studio")
st.markdown(
    "Annotate texts with **micro-emotions**: a 0–10 energy for every emotion instead of a yes/no label.  \n"
    "Load a data set, train an EQN model on it, then explore thresholds, review suggestions and export.")
show_flash()

workspace = get_workspace()
admin = current_user().is_admin  # reviewers have no Data or Train page: no links to them
refresh_runs(workspace)
datasets = workspace.list_datasets()
runs = workspace.list_runs()
finished = runs[runs["status"] == "finished"]

if datasets.empty:
    local = find_local_goemotions()
    source = f"from the local folder `{local}`" if local else "from GitHub (about 4 MB)"
    st.subheader("Start with GoEmotions")
    st.write(f"54,263 Reddit comments labelled with 27 emotions and neutral, the data set of the EQN paper. "
             f"Loads {source}; your own CSV/TSV/Parquet/JSONL files go in on the **Data** page.")
    if not admin:
        st.info("An admin loads the data; you can review once a model has annotated it.")
        st.stop()
    if st.button("Load GoEmotions", type="primary", key="home_load_goemotions"):
        add_goemotions_with_progress(workspace, from_dir=local)
    st.page_link("pages/1_Data.py", label="Data: add your own files", icon=":material/upload_file:")
    st.caption(f"Workspace: `{workspace_root()}`")
    st.stop()

st.subheader("Next step")
if finished.empty:
    active = runs[runs["status"].isin(["queued", "running"])]
    if active.empty:
        st.write("Train a model: frozen EQN with the bundled MiniLM encoder takes minutes on a CPU.")
    else:
        st.write(f"Training is under way ({len(active)} run(s)); follow it on the Train page.")
    if admin:
        st.page_link("pages/2_Train.py", label="Train a model", icon=":material/model_training:")
else:
    st.write("Move thresholds and see precision, recall and F1 change, look at texts, or try your own sentence.")
    links = [("pages/3_Thresholds.py", "Thresholds", ":material/tune:"),
             ("pages/6_Review.py", "Review micro-emotions", ":material/rate_review:"),
             ("pages/8_Try_it.py", "Try it", ":material/edit_note:")]
    if admin:
        links.append(("pages/2_Train.py", "Train another model", ":material/model_training:"))
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
