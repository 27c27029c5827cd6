"""Train: choose encoder, mode and hyperparameters, start a run in its own process, follow it live, stop it."""
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
import torch

from eqn_core.config import BUNDLED_ENCODER, SCRATCH_BACKBONES, TrainConfig, is_scratch_encoder, training_defaults
from eqn_core.inference import device_name, pick_device
from eqn_core.shipped import is_shipped
from eqn_core.runs import (ACTIVE_STATUSES, RunFolder, delete_run, describe_step, ingest_run, parent_run, prepare_run,
                           progress_state, refresh_runs, run_key_metrics, runs_table, start_run_process)
from ui.common import bump_data_version, escape_markdown, flash, get_workspace, require_admin, show_flash

st.set_page_config(page_title="Train · EQN Studio", layout="wide")
require_admin("Training and deleting runs")
st.title("Train")
show_flash()
workspace = get_workspace()
names = workspace.dataset_names()
if not names:
    st.info("Add a data set first.")
    st.page_link("pages/1_Data.py", label="Data", icon=":material/upload_file:")
    st.stop()

MODES = {"eqn": "EQN: CoEQN, label regression, train again (the paper's method)",
         "coeqn": "CoEQN: 0/10 targets and MSE (Model 1 only)",
         "bce": "BCE baseline (M): sigmoid outputs, binary cross-entropy",
         "softmax": "Softmax baseline (S): single-label cross-entropy"}
SOURCES = ["Bundled MiniLM (all-MiniLM-L6-v2, offline)", "Hugging Face model id", "Local folder",
           "From scratch (ANN / CNN / LSTM / TextCNN)"]
cuda = torch.cuda.is_available()


def active_ids(runs) -> set[str]:
    return set(runs.loc[runs["status"].isin(ACTIVE_STATUSES), "run_id"])


# ------------------------------------------------------------------------------------------------ settings
left, right = st.columns(2)
with left:
    chosen = st.session_state.get("dataset")
    dataset = st.selectbox("Data set", names, index=names.index(chosen) if chosen in names else 0, key="train_dataset")
    mode = st.selectbox("Mode", list(MODES), format_func=MODES.get, key="train_mode")
    source = st.radio("Encoder", SOURCES, key="train_source")
    if source == SOURCES[0]:
        encoder = BUNDLED_ENCODER
    elif source == SOURCES[1]:
        encoder = st.text_input("Model id", placeholder="bert-base-cased", key="train_hf_id").strip()
    elif source == SOURCES[2]:
        encoder = st.text_input("Folder with a transformers model", key="train_folder").strip()
    else:
        encoder = st.selectbox("Backbone", SCRATCH_BACKBONES, key="train_scratch")
    scratch = is_scratch_encoder(encoder)
    encoder_mode = st.radio(
        "Encoder training", ["partial", "frozen", "finetune"], index=2 if cuda else 0, horizontal=True,
        disabled=scratch, key="train_encoder_mode",
        format_func={"partial": "top layers (lower layers cached once)", "frozen": "frozen (head only, fastest)",
                     "finetune": "fine-tune end to end"}.get,
        help="Top layers: the lower layers run once and are cached, the top layers and the head train; paper-level "
             "quality in minutes on a CPU. Frozen: fastest, weakest. Fine-tune: best with a GPU. From-scratch "
             "backbones always train end to end.")
    trained_layers = TrainConfig.trained_layers
    if encoder_mode == "partial" and not scratch:
        trained_layers = int(st.number_input("Trained top layers", 1, 48, TrainConfig.trained_layers,
                                             key="train_layers"))
    st.caption(f"Device: {device_name(pick_device())}")

kind = "scratch" if scratch else encoder_mode  # defaults differ, so the widgets below are keyed by it
defaults = training_defaults(encoder if scratch else BUNDLED_ENCODER, "finetune" if scratch else encoder_mode)
with right:
    cells = st.columns(2)
    epochs = cells[0].number_input("Epochs", 1, 1000, defaults.epochs, key=f"train_epochs_{kind}")
    batch_size = cells[1].number_input("Batch size", 1, 8192, defaults.batch_size, key=f"train_batch_{kind}")
    learning_rate = cells[0].text_input("Learning rate", f"{defaults.learning_rate:g}", key=f"train_lr_{kind}")
    seed = cells[1].number_input("Seed", 0, 2**31 - 1, TrainConfig.seed, key="train_seed")
    max_rows = st.number_input("Training rows (0 = all; a few thousand give a quick look)", 0, 10**8, 0,
                               step=1000, key="train_max_rows",
                               help="A quick look trains on this many random training texts and skips annotating "
                                    "the whole training split (no train energies); dev and test are still "
                                    "annotated in full, so thresholds and metrics stay comparable.")
    if max_rows:
        st.caption(f"Quick look: {int(max_rows):,} training texts; the training split is not annotated.")
    eqn = {}
    if mode == "eqn":
        with st.expander("EQN options", expanded=True):
            eqn["model2_epochs"] = int(st.number_input("Model 2 epochs (additional training)", 1, 1000,
                                                       defaults.model2_epochs, key=f"train_epochs2_{kind}"))
            eqn["continue_from_model1"] = st.radio(
                "Model 2 starts", [True, False], horizontal=True, key="train_continue",
                format_func=lambda v: "from Model 1 (additional training)" if v else "fresh") is True
            eqn["regression_targets"] = st.radio(
                "Regression targets", ["in_sample", "out_of_fold"], horizontal=True, key="train_targets",
                format_func={"in_sample": "in-sample (the paper)",
                             "out_of_fold": "out-of-fold (k models, each scores rows it did not see)"}.get)
            if eqn["regression_targets"] == "out_of_fold":
                eqn["folds"] = int(st.number_input("Folds", 2, 20, TrainConfig.folds, key="train_folds"))
            eqn["rounds"] = int(st.number_input("Label-regression rounds", 1, 10, 1, key="train_rounds"))
    with st.expander("More options"):
        dropout = st.slider("Dropout", 0.0, 0.9, TrainConfig.dropout, 0.05, key="train_dropout")
        max_length = st.number_input("Max tokens per text", 8, 512, TrainConfig.max_length, key="train_max_length")
        patience = st.number_input("Stop after epochs without improvement (0 = never)", 0, 1000, 0,
                                   key="train_patience")

running = sorted(active_ids(workspace.list_runs()))
if running:
    st.caption(f"Running now: {', '.join(running)}. A second run shares the same CPU/GPU.")
if st.button("Start training", type="primary", key="train_start"):
    problem = None
    try:
        rate = float(learning_rate)
        if not rate > 0:
            raise ValueError
    except ValueError:
        problem = f"The learning rate must be a positive number such as 0.001, not {learning_rate!r}."
    if not encoder:
        problem = "Give the encoder: a Hugging Face model id or a folder."
    elif source == SOURCES[2] and not Path(encoder).expanduser().is_dir():
        problem = f"No folder at {encoder!r}; give the folder that holds the model's config.json and weights."
    if problem:
        st.error(problem)
    else:
        try:
            if source == SOURCES[2]:
                encoder = str(Path(encoder).expanduser().resolve())
            config = TrainConfig(
                dataset=dataset, mode=mode, encoder=encoder,
                encoder_mode="finetune" if scratch else encoder_mode, trained_layers=trained_layers,
                epochs=int(epochs), batch_size=int(batch_size),
                learning_rate=rate, seed=int(seed), max_train_rows=int(max_rows) or None, dropout=float(dropout),
                max_length=int(max_length), patience=int(patience) or None, **eqn)
            folder = prepare_run(workspace, config)
            start_run_process(folder.path, cache_dir=workspace.cache_dir)
        except (ValueError, KeyError, OSError) as error:
            st.error(f"Could not start the run: {escape_markdown(error)}")
        else:
            st.session_state["train_watch"] = folder.path.name
            bump_data_version()
            flash(f"Started run {folder.path.name}. You can switch pages or reload; it keeps training.")
            st.rerun()

# ------------------------------------------------------------------------------------------------ one run, live
was_active = active_ids(workspace.list_runs())
refresh_runs(workspace)  # brings in runs that ended while nobody watched
runs = workspace.list_runs()
if was_active - active_ids(runs):
    bump_data_version()
runs = runs[runs["config"].map(lambda config: not parent_run(config))]  # Model 1 rows: see list
if runs.empty:
    st.stop()
st.divider()
ids = runs["run_id"].tolist()
if st.session_state.get("train_watch") not in ids:  # default: a run in progress, else the newest
    active = runs[runs["status"].isin(ACTIVE_STATUSES)]
    st.session_state["train_watch"] = (active if not active.empty else runs)["run_id"].iloc[0]
run_id = st.selectbox("Run", ids, key="train_watch")
run = workspace.get_run(run_id)
folder = RunFolder(run["run_dir"])


def curves(epochs) -> None:
    """Loss and dev top-k F1 per epoch; an EQN run's phases (Model 1, Model 2, ...) follow each other."""
    if epochs.empty:
        return
    losses, scores = go.Figure(), go.Figure()
    for phase, rows in epochs.groupby("phase", sort=False):
        losses.add_trace(go.Scatter(x=rows["order"], y=rows["train_loss"], name=f"{phase} train", mode="lines+markers"))
        losses.add_trace(go.Scatter(x=rows["order"], y=rows["val_loss"], name=f"{phase} dev", mode="lines+markers",
                                    line={"dash": "dash"}))
        scores.add_trace(go.Scatter(x=rows["order"], y=rows["val_topk_f1"], name=phase, mode="lines+markers"))
    losses.update_layout(title="Loss", xaxis_title="epoch (all phases)", height=320, margin={"t": 40, "b": 10})
    scores.update_layout(title="Dev top-k F1", xaxis_title="epoch (all phases)", yaxis_range=[0, 1], height=320,
                         margin={"t": 40, "b": 10})
    left, right = st.columns(2)
    left.plotly_chart(losses, key="train_loss_chart")
    right.plotly_chart(scores, key="train_f1_chart")


def live() -> None:
    """Reruns on its own every 1.5 s while the run is active (st.fragment), reading the run folder only."""
    status = folder.status()
    if status["status"] not in ACTIVE_STATUSES:  # it just ended: bring its results into the workspace
        ingest_run(workspace, run_id)
        bump_data_version()
        flash(f"Run {run_id} {status['status']}.", "success" if status["status"] == "finished" else "warning")
        st.rerun()
    state = progress_state(folder.progress())
    st.progress(state["fraction"], text=describe_step(state["latest"]))
    if folder.stop_requested():
        st.caption("Stop requested: the run stops at the next batch.")
    else:
        st.button("Stop", key="train_stop", on_click=folder.request_stop)
    curves(state["epochs"])


def delete_section(run: dict) -> None:
    with st.expander("Delete this run"):
        n_reviews = len(workspace.reviews(run_id=run_id))
        st.caption("Removes the run, its energies, threshold profiles and weights"
                   + (" and its Model 1 (CoEQN) row." if run["mode"] == "eqn" else "."))
        with_reviews = n_reviews > 0 and st.checkbox(
            f"Also delete its {n_reviews} review decisions (export them first on the Export page)",
            key="train_delete_reviews")
        if st.button("Delete run", key="train_delete", disabled=n_reviews > 0 and not with_reviews):
            try:
                deleted = delete_run(workspace, run_id, delete_reviews=with_reviews)
            except (ValueError, KeyError) as error:
                st.error(escape_markdown(error))
            else:
                st.session_state.pop("train_watch", None)
                bump_data_version()
                flash(f"Deleted {', '.join(deleted)}.")
                st.rerun()


if run["status"] in ACTIVE_STATUSES:
    st.fragment(live, run_every=1.5)()
else:
    if run["status"] == "finished":
        key = run_key_metrics(run["metrics"])
        cells = st.columns(3)
        cells[0].metric(f"Macro F1, thresholds tuned on dev ({key['metrics_split']})", f"{key['macro_f1_tuned']:.4f}")
        cells[1].metric("Top-k F1", f"{key['topk_f1']:.4f}")
        cells[2].metric("Total hit rate (Table 4)", f"{key['hit_rate']:.4f}")
    elif run["status"] == "stopped":
        st.warning(f"Run stopped: {escape_markdown(run['error'] or 'stopped by the user')}. Its curves show how far it got.")
    elif run["error"]:
        st.error(f"Run {run['status']}: {escape_markdown(run['error'])}")
        details = folder.path / "error.txt"
        if details.exists():
            with st.expander("Traceback"):
                st.code(details.read_text()[-4000:])
    curves(progress_state(folder.progress())["epochs"])
    if is_shipped(run):
        st.caption(f"{escape_markdown(run_id)} ships with EQN Studio and is read-only. Its model card: "
                   f"`{folder.path / 'MODEL_CARD.md'}`.")
    else:
        delete_section(run)


# ------------------------------------------------------------------------------------------------ all runs
st.subheader("Runs")
number = st.column_config.NumberColumn(format="%.4f")
st.dataframe(runs_table(workspace.list_runs()), hide_index=True, key="train_runs",
             column_config={"macro-F1 (tuned)": number, "top-k F1": number, "hit rate": number,
                            "lr": st.column_config.NumberColumn(format="%g")})
