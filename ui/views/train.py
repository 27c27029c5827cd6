"""Streamlit views of the Train page: the mode and encoder choices, starting a run in its own process, one run
followed live (or its outcome once it ended), and the table of all runs."""
from __future__ import annotations

import dataclasses

import plotly.graph_objects as go
import streamlit as st
import torch

from eqn_core.method.base_encoder import base_encoder_problem
from eqn_core.method.config import BUNDLED_ENCODER, BUNDLED_MPNET_ENCODER, SCRATCH_BACKBONES, TrainConfig
from eqn_core.method.inference import device_name, pick_device
from eqn_core.runs.lifecycle import (
    ACTIVE_STATUSES,
    delete_run,
    ingest_run,
    prepare_run,
    refresh_runs,
    start_run_process,
)
from eqn_core.runs.review_training import TRAIN_SPLIT, reviewed_text_sets
from eqn_core.runs.summary import describe_step, progress_state, run_key_metrics, runs_table
from eqn_core.store.run_folders import RunFolder, parent_run
from eqn_core.store.shipped import is_shipped
from ui.display import escape_markdown, flash
from ui.session import bump_data_version

MODES = {"eqn": "EQN: CoEQN, label regression, train again (the paper's method)",
         "coeqn": "CoEQN: 0/10 targets and MSE (Model 1 only)",
         "bce": "BCE baseline (M): sigmoid outputs, binary cross-entropy",
         "softmax": "Softmax baseline (S): single-label cross-entropy"}
BUNDLED_SOURCES = {"Bundled MiniLM (all-MiniLM-L6-v2, offline)": BUNDLED_ENCODER,
                   "Bundled MPNet (all-mpnet-base-v2, base size, offline)": BUNDLED_MPNET_ENCODER}
SOURCES = [*BUNDLED_SOURCES, "Hugging Face model id", "Local folder", "From scratch (ANN / CNN / LSTM / TextCNN)"]
HF_ID, LOCAL_FOLDER = SOURCES[2], SOURCES[3]
ENCODER_MODES = {"partial": "top layers (lower layers cached once)", "frozen": "frozen (head only, fastest)",
                 "finetune": "fine-tune end to end"}
TRAIN_FIELDS = {field.name for field in dataclasses.fields(TrainConfig)}


def pick_mode() -> str:
    return st.selectbox("Mode", list(MODES), format_func=MODES.get, key="train_mode")


def pick_encoder() -> tuple[str, str]:
    """The encoder's source (one of SOURCES) and the encoder as typed or chosen (bundled name, id, folder, backbone)."""
    source = st.radio("Encoder", SOURCES, key="train_source")
    if source in BUNDLED_SOURCES:
        encoder = BUNDLED_SOURCES[source]
        if encoder == BUNDLED_MPNET_ENCODER:
            problem = base_encoder_problem()
            if problem:
                st.warning(escape_markdown(problem))
            st.caption("12 layers and 768 dims (MiniLM: 6 and 384), so several times slower on a CPU (README, \"A "
                       "base-size encoder\"); assembled once into the cache on first use (438 MB).")
    elif source == HF_ID:
        encoder = st.text_input("Model id", placeholder="bert-base-cased", key="train_hf_id").strip()
    elif source == LOCAL_FOLDER:
        encoder = st.text_input("Folder with a transformers model", key="train_folder").strip()
    else:
        encoder = st.selectbox("Backbone", SCRATCH_BACKBONES, key="train_scratch")
    return source, encoder


def pick_encoder_mode(scratch: bool) -> tuple[str, int]:
    """How the encoder trains (fine-tuning by default with a GPU, top layers without) and, in partial mode, how many
    top layers; a from-scratch backbone always trains end to end. Ends with the device the run will use."""
    encoder_mode = st.radio(
        "Encoder training", list(ENCODER_MODES), index=2 if torch.cuda.is_available() else 0, horizontal=True,
        disabled=scratch, key="train_encoder_mode", format_func=ENCODER_MODES.get,
        help="Top layers: the lower layers run once and are cached, the top layers and the head train; paper-level "
             "quality in minutes on a CPU. Frozen: fastest, weakest. Fine-tune: best with a GPU. From-scratch "
             "backbones always train end to end.")
    trained_layers = TrainConfig.trained_layers
    if encoder_mode == "partial" and not scratch:
        trained_layers = int(st.number_input(
            "Trained top layers", 1, 48, TrainConfig.trained_layers, key="train_layers",
            help="More layers: better energies, slower. Measured for a full EQN run on GoEmotions with the "
                 "bundled MiniLM on 2 CPU cores (benchmarks/RESULTS.md, 7d): 1 layer 6.4 min, test macro-F1 0.48; "
                 "2 layers 11.1 min, 0.51; 3 layers 15.1 min, 0.52."))
    st.caption(f"Device: {device_name(pick_device())}")
    return ("finetune" if scratch else encoder_mode), trained_layers


HEADS = {"linear": "linear on the pooled text (the paper)",
         "label_attention": "label attention (each emotion's name attends over the text's tokens)"}
NO_TEACHER = "none: train Model 1 here (the paper)"


def pick_teacher(workspace, dataset: str) -> str | None:
    """EQN's Model 1 from another finished run of this data set that stored training-split energies, or None."""
    runs = workspace.list_runs(dataset=dataset)
    finished = runs.loc[runs["status"] == "finished", "run_id"].tolist()
    teachers = [run_id for run_id in finished if "train" in workspace.energy_splits(run_id)]
    chosen = st.selectbox("Model 1 (the teacher whose energies label regression starts from)", [NO_TEACHER, *teachers],
                          key="train_teacher",
                          help="A teacher from another run, for example a base-encoder CoEQN run: its energies on the "
                               "training texts are regressed (human labels back to 10.0) and this run's model trains "
                               "once on them, for the epochs above.")
    return None if chosen == NO_TEACHER else chosen


def pick_rare_label_options(scratch: bool, encoder_mode: str) -> dict:
    """The head and the rare-label weighting (TrainConfig.head, label_weighting); measured in benchmarks/RESULTS.md."""
    attention_possible = not scratch and encoder_mode != "frozen"
    head = st.radio("Head", list(HEADS), horizontal=True, format_func=HEADS.get, key="train_head",
                    disabled=not attention_possible,
                    help="Label attention needs the encoder's token states: top-layers or fine-tune training.")
    weighting = st.checkbox("Weigh human labels of rare emotions more (inverse frequency, capped)",
                            key="train_label_weighting")
    return {"head": head if attention_possible else "linear",
            "label_weighting": "inverse_frequency" if weighting else "none"}


def active_ids(runs) -> set[str]:
    return set(runs.loc[runs["status"].isin(ACTIVE_STATUSES), "run_id"])


def start_training(workspace, config: TrainConfig) -> None:
    """Prepare the run folder and start the run in its own process, then rerun the page following it; on failure say
    why where the button was."""
    try:
        folder = prepare_run(workspace, config)
        start_run_process(folder.path, cache_dir=workspace.cache_dir)
    except (ValueError, KeyError, OSError) as error:
        st.error(f"Could not start the run: {escape_markdown(error)}")
        return
    st.session_state["train_watch"] = folder.path.name
    bump_data_version()
    flash(f"Started run {folder.path.name}. You can switch pages or reload; it keeps training.")
    st.rerun()


# ------------------------------------------------------------------------------------------------ one run, all runs
def runs_section(workspace) -> None:
    """A run picker (default: a run in progress, else the newest), that run live or its outcome, and every run."""
    was_active = active_ids(workspace.list_runs())
    refresh_runs(workspace)  # brings in runs that ended while nobody watched
    runs = workspace.list_runs()
    if was_active - active_ids(runs):
        bump_data_version()
    runs = runs[runs["config"].map(lambda config: not parent_run(config))]  # Model 1 rows: see the table
    if runs.empty:
        return
    st.divider()
    ids = runs["run_id"].tolist()
    if st.session_state.get("train_watch") not in ids:
        active = runs[runs["status"].isin(ACTIVE_STATUSES)]
        st.session_state["train_watch"] = (active if not active.empty else runs)["run_id"].iloc[0]
    run_id = st.selectbox("Run", ids, key="train_watch")
    run = workspace.get_run(run_id)
    folder = RunFolder(run["run_dir"])
    if run["status"] in ACTIVE_STATUSES:
        st.fragment(live_progress, run_every=1.5)(workspace, run_id, folder)
    else:
        run_outcome(workspace, run, folder)
    runs_overview(workspace)


def live_progress(workspace, run_id: str, folder: RunFolder) -> None:
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


def run_outcome(workspace, run: dict, folder: RunFolder) -> None:
    """An ended run: its key metrics, why it stopped or failed, its curves, and deleting it (unless shipped)."""
    if run["status"] == "finished":
        key = run_key_metrics(run["metrics"])
        cells = st.columns(3)
        cells[0].metric(f"Macro F1, thresholds tuned on dev ({key['metrics_split']})", f"{key['macro_f1_tuned']:.4f}")
        cells[1].metric("Top-k F1", f"{key['topk_f1']:.4f}")
        cells[2].metric("Total hit rate (Table 4)", f"{key['hit_rate']:.4f}")
        reviews_section(workspace, run)
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
        st.caption(f"{escape_markdown(run['run_id'])} ships with EQN Studio and is read-only. Its model card: "
                   f"`{folder.path / 'MODEL_CARD.md'}`.")
    else:
        delete_section(workspace, run)


def reviews_section(workspace, run: dict) -> None:
    """The reviews a finished run trained on, and "Retrain with reviews" when its train split or its annotations of
    own texts have review decisions (runs.review_training: reviews of dev and test never train a model)."""
    used = (run.get("metrics") or {}).get("reviews") or (run.get("config") or {}).get("extra", {}).get("reviews")
    if used:
        st.caption(f"Trained with reviews of run {escape_markdown(used['run_id'])} (train split): "
                   f"{used['values']:,} values on {used['texts']:,} texts by "
                   f"{escape_markdown(', '.join(used['reviewers'] + used['adjudicators']) or '-')}; "
                   f"{used['human_labels_changed']:,} human labels changed by a review; review rows sha256 "
                   f"`{(used['sha256'] or '-')[:16]}`."
                   + "".join(f" Also {own['texts']:,} reviewed texts of text set "
                             f"**{escape_markdown(own['text_set'])}** ({own['values']:,} values, review rows sha256 "
                             f"`{own['sha256'][:16]}`)." for own in used.get("text_sets", [])))
    decisions = workspace.reviews(run_id=run["run_id"], split=TRAIN_SPLIT)
    adjudications = workspace.adjudications(run_id=run["run_id"], split=TRAIN_SPLIT)
    own_sets = reviewed_text_sets(workspace, run["run_id"])  # {text set: reviewed texts}
    if not len(decisions) and not len(adjudications) and not own_sets:
        return
    texts = len(set(decisions["row_idx"]) | set(adjudications["row_idx"]))
    title = f"{len(decisions):,} decisions on {texts:,} training texts"
    if own_sets:
        title += f"; {sum(own_sets.values()):,} reviewed texts of your own"
    with st.expander(f"Retrain with reviews ({title})"):
        st.caption("A new run with this run's settings, whose training targets take the reviewed values of the "
                   "train split: a rejected suggestion 0, a confirmed or set energy its value, an added emotion the "
                   "reviewer's energy; several reviewers: the adjudication, else the rule Export uses. Unreviewed "
                   "values follow the paper. Reviews of dev and test are never used for training. The run records "
                   "how many human labels a review changed.")
        if run["mode"] not in ("coeqn", "eqn"):
            st.caption("Reviews become energy targets: retrain in mode coeqn or eqn (`eqn train --reviews RUN`).")
            return
        chosen = []
        if own_sets:
            chosen = st.multiselect(
                "Also train on your reviewed texts", list(own_sets), default=list(own_sets), key="train_retrain_sets",
                format_func=lambda name: f"{name} ({own_sets[name]:,} reviewed texts)",
                help="Text sets this run annotated and people reviewed: each reviewed text joins the training data "
                     "with its reviewed values as targets (it has no human labels).")
        problem = st.session_state.pop("train_retrain_problem", None)
        if problem:
            st.error(f"Could not start the run: {escape_markdown(problem)}")
        st.button("Retrain with reviews", key="train_retrain_reviews", on_click=retrain, args=(workspace, run, chosen),
                  disabled=not texts and not chosen)


def retrain(workspace, run: dict, text_sets: list[str] = ()) -> None:
    """The button's callback (it runs before the run picker exists, so the page can follow the new run)."""
    try:
        folder = prepare_run(workspace, retrain_config(run), reviews_from=run["run_id"],
                             reviewed_text_sets=list(text_sets))
        start_run_process(folder.path, cache_dir=workspace.cache_dir)
    except (ValueError, KeyError, OSError) as error:
        st.session_state["train_retrain_problem"] = str(error)
        return
    st.session_state["train_watch"] = folder.path.name
    bump_data_version()
    own = f" and {len(text_sets)} reviewed text set(s)" if text_sets else ""
    flash(f"Started run {folder.path.name} with the reviews of {run['run_id']}'s training texts{own}.")


def retrain_config(run: dict) -> TrainConfig:
    """The run's own settings for a new run (the reviews it may have trained on are named anew)."""
    values = {key: value for key, value in (run.get("config") or {}).items() if key in TRAIN_FIELDS}
    values["extra"] = {key: value for key, value in (values.get("extra") or {}).items() if key != "reviews"}
    return TrainConfig.from_dict(values)


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


def delete_section(workspace, run: dict) -> None:
    run_id = run["run_id"]
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


def runs_overview(workspace) -> None:
    st.subheader("Runs")
    number = st.column_config.NumberColumn(format="%.4f")
    st.dataframe(runs_table(workspace.list_runs()), hide_index=True, key="train_runs",
                 column_config={"macro-F1 (tuned)": number, "top-k F1": number, "hit rate": number,
                                "lr": st.column_config.NumberColumn(format="%g")})
