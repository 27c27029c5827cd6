"""The run lifecycle in the workspace: prepare a run folder, start its training process, stop it, ingest its
results, delete it, and load a finished run's model.

The training process never opens the workspace's DuckDB file: prepare_run() copies the data splits into the run
folder (store.run_folders), runs.process executes it in its own process (start_run_process), and ingest_run() brings
the results back."""
from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eqn_core.io.names import check_safe_name, safe_name_from
from eqn_core.method.config import TrainConfig
from eqn_core.runs.review_training import (
    collect_review_targets,
    collect_text_set_reviews,
    with_reviewed_texts,
    write_review_targets,
)
from eqn_core.store.run_folders import (
    PARENT_KEY,
    RunFolder,
    load_energies_file,
    now_iso,
    parent_run,
    read_json,
    save_dataset_to_folder,
    save_energies,
    write_json_atomic,
)

ACTIVE_STATUSES = ("queued", "running")
MODEL1_SUFFIX = ".model1"  # an EQN run's Model 1 (CoEQN) is stored as the run "<run_id>.model1"


def new_run_id(config: TrainConfig) -> str:
    encoder = safe_name_from(Path(config.encoder).name.replace("_", "-").lower(), fallback="encoder")[:24]
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{safe_name_from(config.dataset)[:60]}-{config.mode}-{encoder}-{stamp}-{secrets.token_hex(2)}"


def run_folder_for(workspace, run_id: str) -> Path:
    """<workspace>/runs/<run_id> for a safe run id (names.check_safe_name); never a folder elsewhere."""
    check_safe_name(run_id, "run id")
    runs_dir = workspace.runs_dir.resolve()
    path = (runs_dir / run_id).resolve()
    if path.parent != runs_dir:
        raise ValueError(f"The run id {run_id!r} does not name a folder inside {runs_dir}.")
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Run folder contents


# ---------------------------------------------------------------------------------------------------------------------
# Prepare, execute, ingest


def prepare_run(workspace, config: TrainConfig, *, run_id: str | None = None,
                reviews_from: str | None = None, reviewed_text_sets: Sequence[str] = ()) -> RunFolder:
    """Register a queued run in the workspace and write its folder (config + data splits). ValueError when a value
    breaks TrainConfig.check's rules, the data set lacks a train or dev split, or the run id is taken.

    reviews_from: a run whose review decisions on its train split become training targets
    (runs.review_training); the config's extra["reviews"] names them. reviewed_text_sets: text sets that run
    annotated and people reviewed: their reviewed texts join the training data (its train-split reviews are then
    optional)."""
    config.check()
    if (reviews_from is not None or reviewed_text_sets) and config.mode not in ("coeqn", "eqn"):
        raise ValueError(f"Reviews become energy targets: train with them in mode coeqn or eqn, not {config.mode}.")
    if reviewed_text_sets and reviews_from is None:
        raise ValueError("Name the run whose reviews of these texts to use (--reviews RUN): reviews of own texts "
                         "are kept per annotating run.")
    if run_id is not None:
        check_safe_name(run_id, "run id")
    dataset = workspace.load_dataset(config.dataset)
    for needed in ("train", "dev"):
        if needed not in dataset.splits:
            raise ValueError(f"data set {config.dataset!r} has no {needed!r} split (it has {sorted(dataset.splits)})")
    teacher = None
    if config.teacher_run is not None:
        if reviewed_text_sets:
            raise ValueError("A teacher's energies cover the data set's training texts only: train with reviewed "
                             "own texts or with a teacher, not both.")
        teacher = teacher_train_energies(workspace, config.teacher_run, dataset)
    reviews = None
    if reviews_from is not None:
        reviews = collect_review_targets(workspace, reviews_from, dataset, allow_none=bool(reviewed_text_sets))
        own = [collect_text_set_reviews(workspace, reviews_from, name, dataset.label_names)
               for name in dict.fromkeys(reviewed_text_sets)]
        dataset, reviews = with_reviewed_texts(dataset, reviews, own)
        config = dataclasses.replace(config, extra={**config.extra, "reviews": reviews.summary})
    run_id = run_id or new_run_id(config)
    folder = RunFolder(run_folder_for(workspace, run_id))
    if run_id in set(workspace.list_runs()["run_id"]):
        raise ValueError(f"A run with id {run_id!r} already exists; choose another id.")
    if folder.path.exists():
        raise ValueError(f"The run folder {folder.path} already exists (left by an earlier run); choose another id "
                         "or remove that folder.")
    folder.path.mkdir(parents=True)
    try:
        save_dataset_to_folder(dataset, folder.data_dir)
        if reviews is not None:
            write_review_targets(folder, reviews)
        if teacher is not None:  # the training process reads the teacher from its own folder, not the workspace
            save_energies(folder.teacher_energies_file, teacher, dataset.label_names)
        write_json_atomic(folder.config_file, config.resolved().to_dict())
        write_json_atomic(folder.status_file, {"status": "queued", "run_id": run_id, "created_at": now_iso()})
        workspace.create_run(run_id, dataset=config.dataset, mode=config.mode, encoder=config.encoder,
                             config=config.resolved().to_dict(), run_dir=folder.path)
    except BaseException:
        shutil.rmtree(folder.path, ignore_errors=True)  # no folder without its row
        raise
    return folder


def teacher_train_energies(workspace, run_id: str, dataset) -> np.ndarray:
    """(N_train, C) energies a finished run stored for this data set's training split, to feed another run's label
    regression (TrainConfig.teacher_run): a CoEQN or BCE run's annotation, an EQN run's regressed training set.
    ValueError saying what is missing."""
    try:
        run = workspace.get_run(run_id)
    except KeyError:
        raise ValueError(f"No run {run_id!r} in this workspace to teach with; `eqn runs` lists them.") from None
    if run["status"] != "finished":
        raise ValueError(f"The teacher run {run_id!r} is {run['status']}; a teacher must have finished.")
    if run["dataset"] != dataset.name:
        raise ValueError(f"The teacher run {run_id!r} trained on {run['dataset']!r}, this run on {dataset.name!r}: "
                         "a teacher must know the same texts and emotions.")
    try:
        energies = workspace.load_energies(run_id, "train")
    except KeyError:
        raise ValueError(f"The teacher run {run_id!r} stored no energies for the training split (a quick look with "
                         "a row limit stores none); train the teacher on the whole training split.") from None
    expected = (len(dataset.splits["train"].texts), len(dataset.label_names))
    if energies.shape != expected:
        raise ValueError(f"The teacher run {run_id!r} has energies of shape {energies.shape} for the training split, "
                         f"but it has {expected[0]} texts and {expected[1]} emotions now.")
    return energies


def ingest_run(workspace, run_id: str) -> dict:
    """Bring a run folder's state into the workspace; idempotent. Returns the folder's status."""
    run = workspace.get_run(run_id)
    folder = RunFolder(run["run_dir"])
    status = folder.status()
    if status["status"] == run["status"] and run["status"] not in ACTIVE_STATUSES:
        return status  # already ingested
    if status["status"] == "finished":
        metrics = read_json(folder.metrics_file, {})
        for split_name in ("train", "dev", "test"):
            path = folder.energies_file(split_name)
            if path.exists():
                workspace.store_energies(run_id, split_name, load_energies_file(path))
        if metrics.get("thresholds"):
            workspace.save_threshold_profile(f"{run_id}:tuned-on-dev", run_id=run_id,
                                             thresholds=np.asarray(metrics["thresholds"], dtype=np.float32),
                                             global_threshold=None, note="per-label thresholds tuned on the dev split")
        ingest_model1(workspace, run, folder)
        best_epoch = metrics.get("phases", [{}])[-1].get("best_epoch") if metrics.get("phases") else None
        workspace.update_run(run_id, status="finished", started_at=status.get("started_at"),
                             finished_at=status.get("finished_at"), metrics=metrics, best_epoch=best_epoch)
    elif status["status"] in ("failed", "stopped"):
        workspace.update_run(run_id, status=status["status"], started_at=status.get("started_at"),
                             finished_at=status.get("finished_at") or now_iso(), error=status.get("error"))
    elif status["status"] == "running" and run["status"] != "running":
        workspace.update_run(run_id, status="running", started_at=status.get("started_at"))
    return status


def ingest_model1(workspace, run: dict, folder: RunFolder) -> None:
    """An EQN run's Model 1 (CoEQN) becomes a finished run of its own, "<run_id>.model1", for side-by-side views."""
    metrics = read_json(folder.model1_metrics_file)
    child_id = f"{run['run_id']}{MODEL1_SUFFIX}"
    if metrics is None or child_id in set(workspace.list_runs()["run_id"]):
        return
    config = {**run["config"], "mode": "coeqn", PARENT_KEY: run["run_id"]}
    if "reviews" in (config.get("extra") or {}):  # Model 1 trained on the paper's targets, not on the reviews
        config["extra"] = {key: value for key, value in config["extra"].items() if key != "reviews"}
    workspace.create_run(child_id, dataset=run["dataset"], mode="coeqn", encoder=run["encoder"], config=config,
                         run_dir=folder.path)
    for split_name in ("dev", "test"):
        path = folder.model1_energies_file(split_name)
        if path.exists():
            workspace.store_energies(child_id, split_name, load_energies_file(path))
    workspace.update_run(child_id, status="finished", finished_at=now_iso(), metrics=metrics)


def default_run_id(runs) -> str | None:
    """The run a page opens on: the best finished EQN run (dev macro-F1 under dev-tuned thresholds), else the best
    finished run of another mode; an EQN run's Model 1 copy only when nothing else finished. None if none finished."""
    finished = runs[runs["status"] == "finished"]
    if finished.empty:
        return None

    def rank(row) -> tuple:
        config, metrics = row["config"] or {}, row["metrics"] or {}
        dev = (metrics.get("splits") or {}).get("dev") or {}
        score = (dev.get("per_label_tuned") or {}).get("macro", {}).get("f1")
        if score is None:
            score = (dev.get("topk") or {}).get("f1", -1.0)
        return (not config.get("derived_from"), row["mode"] == "eqn", score)

    return max(finished.to_dict("records"), key=rank)["run_id"]


def refresh_runs(workspace) -> None:
    """Ingest every run the workspace still thinks is queued or running."""
    runs = workspace.list_runs()
    for run_id in runs.loc[runs["status"].isin(ACTIVE_STATUSES), "run_id"]:
        ingest_run(workspace, run_id)


def delete_run(workspace, run_id: str, *, delete_reviews: bool = False) -> list[str]:
    """Delete a run, the runs derived from it (an EQN run's Model 1) and its run folder; returns the deleted ids.

    Refuses while the run trains (stop it first) and, unless delete_reviews, when reviewers decided on it.
    The workspace rows go in one transaction first; the folder is removed after, and only when it lies inside
    the workspace's runs folder, so a crash in between leaves at most an unused folder, never a dangling row.
    """
    from eqn_core.store.shipped import is_shipped

    run = workspace.get_run(run_id)
    if is_shipped(run):
        raise ValueError(f"Run {run_id!r} ships with EQN Studio and cannot be deleted (it is read-only).")
    ingest_run(workspace, run_id)
    run = workspace.get_run(run_id)
    if run["status"] in ACTIVE_STATUSES:
        raise ValueError(f"Run {run_id!r} is still {run['status']}; stop it first (`eqn stop --run {run_id}`).")
    runs = workspace.list_runs()
    derived = [rid for rid, config in zip(runs["run_id"], runs["config"])
               if parent_run(config) == run_id]
    workspace.delete_runs([*derived, run_id], delete_reviews=delete_reviews)
    folder = Path(run["run_dir"]).resolve()
    if not parent_run(run["config"]) and folder.is_relative_to(workspace.runs_dir.resolve()) \
            and folder != workspace.runs_dir.resolve():
        shutil.rmtree(folder, ignore_errors=True)
    return [*derived, run_id]


def start_run_process(run_dir: str | Path, *, cache_dir: str | Path) -> int:
    """Execute a prepared run in a separate process that outlives the caller's script run (the web app)."""
    folder = RunFolder(run_dir)
    log = folder.log_file.open("ab")
    process = subprocess.Popen([sys.executable, "-m", "eqn_core.runs.process", str(folder.path), "--cache-dir", str(cache_dir)],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    status = read_json(folder.status_file, {})
    if status.get("status") == "queued":  # record the pid now so a crash before start is visible
        write_json_atomic(folder.status_file, {**status, "status": "running", "pid": process.pid,
                                               "started_at": now_iso()})
    return process.pid


def load_run_model(run_dir: str | Path, *, device=None):
    """The trained model of a finished run, ready to annotate: (model, config, label_names)."""
    from safetensors.torch import load_file

    from eqn_core.method.inference import pick_device
    from eqn_core.method.models import Vocabulary, build_model

    folder = RunFolder(run_dir)
    config = folder.config()
    label_names = read_json(folder.data_dir / "labels.json")["label_names"]
    vocabulary = Vocabulary.from_json(folder.vocabulary_file.read_text()) if config.is_scratch else None
    model = build_model(config, len(label_names), vocabulary=vocabulary)
    model.load_trained_state(load_file(str(folder.weights_file)))
    model.to(device or pick_device(config.device))
    model.eval()
    return model, config, label_names


# ---------------------------------------------------------------------------------------------------------------------
# Progress and run tables for display
