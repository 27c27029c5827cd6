"""Run folders and the run lifecycle: prepare a run from the workspace, start, stop, ingest and delete it.

A training process never opens the workspace's DuckDB file (only one process may hold it for writing):
prepare_run() copies the data splits into the run folder, execute.execute_run() (in its own process, see
start_run_process) writes only into that folder, and ingest_run() brings the results back.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .config import TrainConfig
from .data import LabeledDataset, LabeledSplit
from .labels import labels_from_ids

ACTIVE_STATUSES = ("queued", "running")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, values) -> None:
    partial = path.with_name(path.name + f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(values, indent=2, default=str))
    os.replace(partial, path)


def read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def new_run_id(config: TrainConfig) -> str:
    encoder = Path(config.encoder).name.replace("_", "-").lower()[:24]
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{config.dataset}-{config.mode}-{encoder}-{stamp}-{secrets.token_hex(2)}"


# ---------------------------------------------------------------------------------------------------------------------
# Run folder contents


def save_dataset_to_folder(dataset: LabeledDataset, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, split in dataset.splits.items():
        ids = [np.flatnonzero(row).tolist() for row in split.human_labels]
        pd.DataFrame({"text": split.texts, "text_id": split.text_ids, "label_ids": ids}).to_parquet(
            folder / f"{name}.parquet", index=False)
    write_json_atomic(folder / "labels.json", {"name": dataset.name, "label_names": dataset.label_names,
                                                "multi_label": dataset.multi_label, "source": dataset.source})


def load_dataset_from_folder(folder: Path) -> LabeledDataset:
    meta = read_json(folder / "labels.json")
    splits = {}
    for path in sorted(folder.glob("*.parquet")):
        frame = pd.read_parquet(path)
        splits[path.stem] = LabeledSplit(texts=frame["text"].tolist(),
                                         human_labels=labels_from_ids([list(x) for x in frame["label_ids"]],
                                                                      len(meta["label_names"])),
                                         text_ids=frame["text_id"].astype(str).tolist())
    return LabeledDataset(name=meta["name"], label_names=meta["label_names"], splits=splits,
                          multi_label=meta["multi_label"], source=meta["source"])


def save_energies(path: Path, energies: np.ndarray, label_names: list[str]) -> None:
    partial = path.with_name(path.name + ".tmp")
    pd.DataFrame(energies.astype(np.float32), columns=label_names).to_parquet(partial, index=False)
    os.replace(partial, path)


def load_energies_file(path: Path) -> np.ndarray:
    return pd.read_parquet(path).to_numpy(dtype=np.float32)


class RunFolder:
    """Paths and small readers for one run folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    config_file = property(lambda self: self.path / "config.json")
    status_file = property(lambda self: self.path / "status.json")
    progress_file = property(lambda self: self.path / "progress.jsonl")
    metrics_file = property(lambda self: self.path / "metrics.json")
    weights_file = property(lambda self: self.path / "model.safetensors")
    vocabulary_file = property(lambda self: self.path / "vocabulary.json")
    stop_file = property(lambda self: self.path / "STOP")
    data_dir = property(lambda self: self.path / "data")
    log_file = property(lambda self: self.path / "log.txt")

    model1_metrics_file = property(lambda self: self.path / "model1_metrics.json")

    def energies_file(self, split: str) -> Path:
        return self.path / f"energies_{split}.parquet"

    def model1_energies_file(self, split: str) -> Path:
        return self.path / f"model1_energies_{split}.parquet"

    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(read_json(self.config_file))

    def status(self) -> dict:
        status = read_json(self.status_file, {"status": "queued"})
        pid = status.get("pid")
        if status.get("status") == "running" and pid and not process_alive(pid):
            status = {**status, "status": "failed", "error": "the training process ended unexpectedly (see log.txt)"}
        return status

    def progress(self) -> list[dict]:
        if not self.progress_file.exists():
            return []
        rows = []
        for line in self.progress_file.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written right now
                break
        return rows

    def request_stop(self) -> None:
        self.stop_file.write_text(now_iso())

    def stop_requested(self) -> bool:
        return self.stop_file.exists()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a finished child that nobody waited for is a zombie: alive to kill(0), dead to us
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


# ---------------------------------------------------------------------------------------------------------------------
# Prepare, execute, ingest


def prepare_run(workspace, config: TrainConfig, *, run_id: str | None = None) -> RunFolder:
    """Register a queued run in the workspace and write its folder (config + data splits)."""
    dataset = workspace.load_dataset(config.dataset)
    for needed in ("train", "dev"):
        if needed not in dataset.splits:
            raise ValueError(f"data set {config.dataset!r} has no {needed!r} split (it has {sorted(dataset.splits)})")
    run_id = run_id or new_run_id(config)
    folder = RunFolder(workspace.runs_dir / run_id)
    folder.path.mkdir(parents=True, exist_ok=False)
    save_dataset_to_folder(dataset, folder.data_dir)
    write_json_atomic(folder.config_file, config.resolved().to_dict())
    write_json_atomic(folder.status_file, {"status": "queued", "run_id": run_id, "created_at": now_iso()})
    workspace.create_run(run_id, dataset=config.dataset, mode=config.mode, encoder=config.encoder,
                         config=config.resolved().to_dict(), run_dir=folder.path)
    return folder


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
    child_id = f"{run['run_id']}.model1"
    if metrics is None or child_id in set(workspace.list_runs()["run_id"]):
        return
    config = {**run["config"], "mode": "coeqn", "derived_from": run["run_id"]}
    workspace.create_run(child_id, dataset=run["dataset"], mode="coeqn", encoder=run["encoder"], config=config,
                         run_dir=folder.path)
    for split_name in ("dev", "test"):
        path = folder.model1_energies_file(split_name)
        if path.exists():
            workspace.store_energies(child_id, split_name, load_energies_file(path))
    workspace.update_run(child_id, status="finished", finished_at=now_iso(), metrics=metrics)


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
    ingest_run(workspace, run_id)
    run = workspace.get_run(run_id)
    if run["status"] in ACTIVE_STATUSES:
        raise ValueError(f"Run {run_id!r} is still {run['status']}; stop it first (`eqn stop --run {run_id}`).")
    runs = workspace.list_runs()
    derived = [rid for rid, config in zip(runs["run_id"], runs["config"])
               if (config or {}).get("derived_from") == run_id]
    workspace.delete_runs([*derived, run_id], delete_reviews=delete_reviews)
    folder = Path(run["run_dir"]).resolve()
    if not run["config"].get("derived_from") and folder.is_relative_to(workspace.runs_dir.resolve()) \
            and folder != workspace.runs_dir.resolve():
        shutil.rmtree(folder, ignore_errors=True)
    return [*derived, run_id]


def start_run_process(run_dir: str | Path, *, cache_dir: str | Path) -> int:
    """Execute a prepared run in a separate process that outlives the caller's script run (the web app)."""
    folder = RunFolder(run_dir)
    log = folder.log_file.open("ab")
    process = subprocess.Popen([sys.executable, "-m", "eqn_core.execute", str(folder.path), "--cache-dir", str(cache_dir)],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    status = read_json(folder.status_file, {})
    if status.get("status") == "queued":  # record the pid now so a crash before start is visible
        write_json_atomic(folder.status_file, {**status, "status": "running", "pid": process.pid,
                                               "started_at": now_iso()})
    return process.pid


def load_run_model(run_dir: str | Path, *, device=None):
    """The trained model of a finished run, ready to annotate: (model, config, label_names)."""
    from safetensors.torch import load_file

    from .inference import pick_device
    from .models import Vocabulary, build_model

    folder = RunFolder(run_dir)
    config = folder.config()
    label_names = read_json(folder.data_dir / "labels.json")["label_names"]
    vocabulary = Vocabulary.from_json(folder.vocabulary_file.read_text()) if config.is_scratch else None
    model = build_model(config, len(label_names), vocabulary=vocabulary)
    model.load_state_dict(load_file(str(folder.weights_file)), strict=not config.frozen)
    model.to(device or pick_device(config.device))
    model.eval()
    return model, config, label_names


def main(argv: list[str] | None = None) -> int:
    """`python -m eqn_core.runs RUN_DIR` still executes a run folder: the same as `python -m eqn_core.execute`."""
    from .execute import main as execute_main

    return execute_main(argv)


if __name__ == "__main__":
    sys.exit(main())
