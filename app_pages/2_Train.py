"""Train: choose encoder, mode and hyperparameters, start a run in its own process, follow it live, stop it."""
import streamlit as st

from eqn_core.method.config import (
    BUNDLED_ENCODER,
    TrainConfig,
    check_encoder,
    is_scratch_encoder,
    parse_learning_rate,
    training_defaults,
)
from ui.auth import require_admin
from ui.display import escape_markdown, show_flash
from ui.session import get_workspace
from ui.views.train import (
    LOCAL_FOLDER,
    active_ids,
    pick_encoder,
    pick_encoder_mode,
    pick_mode,
    pick_rare_label_options,
    pick_teacher,
    runs_section,
    start_training,
)

st.set_page_config(page_title="Train · EQN Studio", layout="wide")
require_admin("Training and deleting runs")
st.title("Train")
show_flash()
workspace = get_workspace()
names = workspace.dataset_names()
if not names:
    st.info("Add a data set first.")
    st.page_link("app_pages/1_Data.py", label="Data", icon=":material/upload_file:")
    st.stop()

# ------------------------------------------------------------------------------------------------ settings
left, right = st.columns(2)
with left:
    chosen = st.session_state.get("dataset")
    dataset = st.selectbox("Data set", names, index=names.index(chosen) if chosen in names else 0, key="train_dataset")
    mode = pick_mode()
    source, encoder = pick_encoder()
    scratch = is_scratch_encoder(encoder)
    encoder_mode, trained_layers = pick_encoder_mode(scratch)

kind = "scratch" if scratch else encoder_mode  # defaults differ, so the widgets below are keyed by it
defaults = training_defaults(encoder if scratch else BUNDLED_ENCODER, encoder_mode)
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
            eqn["teacher_run"] = pick_teacher(workspace, dataset)
    with st.expander("More options"):
        dropout = st.slider("Dropout", 0.0, 0.9, TrainConfig.dropout, 0.05, key="train_dropout")
        max_length = st.number_input("Max tokens per text", 8, 512, TrainConfig.max_length, key="train_max_length")
        patience = st.number_input("Stop after epochs without improvement (0 = never)", 0, 1000, 0,
                                   key="train_patience")
        rare_label_options = pick_rare_label_options(scratch, encoder_mode)

running = sorted(active_ids(workspace.list_runs()))
if running:
    st.caption(f"Running now: {', '.join(running)}. A second run shares the same CPU/GPU.")
if st.button("Start training", type="primary", key="train_start"):
    try:  # the encoder first, then the rate: the same rules and messages as `eqn train`
        encoder = check_encoder(encoder, folder=source == LOCAL_FOLDER)
        config = TrainConfig(
            dataset=dataset, mode=mode, encoder=encoder, encoder_mode=encoder_mode, trained_layers=trained_layers,
            epochs=int(epochs), batch_size=int(batch_size), learning_rate=parse_learning_rate(learning_rate),
            seed=int(seed), max_train_rows=int(max_rows) or None, dropout=float(dropout), max_length=int(max_length),
            patience=int(patience) or None, **rare_label_options, **eqn).check()
    except ValueError as problem:
        st.error(escape_markdown(problem))
    else:
        start_training(workspace, config)

runs_section(workspace)
