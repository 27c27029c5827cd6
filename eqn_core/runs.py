"""Run folders and the run lifecycle: prepare a run from the workspace, start, stop, ingest and delete it.

A training process never opens the workspace's DuckDB file (only one process may hold it for writing):
prepare_run() copies the data splits into the run folder, execute.execute_run() (in its own process, see
start_run_process) writes only into that folder, and ingest_run() brings the results back.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .config import TrainConfig, is_scratch_encoder
from .data import LabeledDataset, LabeledSplit
from .labels import labels_from_ids
from .names import check_safe_name, safe_name_from

ACTIVE_STATUSES = ("queued", "running")
MODEL1_SUFFIX = ".model1"  # an EQN run's Model 1 (CoEQN) is stored as the run "<run_id>.model1"
PARENT_KEY = "derived_from"  # in a Model 1 run's config: the EQN run it belongs to


def parent_run(config: Mapping | None) -> str | None:
    """The EQN run a Model 1 run belongs to (its config names it), or None for a run trained on its own."""
    return (config or {}).get(PARENT_KEY) or None


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
        """status.json; a run whose process died (killed, out of memory) is reconciled to "failed" on disk."""
        if not self.path.is_dir():
            return {"status": "failed", "error": f"the run folder {self.path} is missing"}
        status = read_json(self.status_file, {"status": "queued"})
        pid = status.get("pid")
        if status.get("status") == "running" and pid and not process_alive(pid):
            status = {**status, "status": "failed", "finished_at": now_iso(),
                      "error": "the training process ended unexpectedly (killed or out of memory; see log.txt)"}
            try:
                write_json_atomic(self.status_file, status)
            except OSError:
                pass  # a read-only folder: the record is still reconciled in the workspace
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
    """Register a queued run in the workspace and write its folder (config + data splits). ValueError when a value
    breaks TrainConfig.check's rules, the data set lacks a train or dev split, or the run id is taken."""
    config.check()
    if run_id is not None:
        check_safe_name(run_id, "run id")
    dataset = workspace.load_dataset(config.dataset)
    for needed in ("train", "dev"):
        if needed not in dataset.splits:
            raise ValueError(f"data set {config.dataset!r} has no {needed!r} split (it has {sorted(dataset.splits)})")
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
        write_json_atomic(folder.config_file, config.resolved().to_dict())
        write_json_atomic(folder.status_file, {"status": "queued", "run_id": run_id, "created_at": now_iso()})
        workspace.create_run(run_id, dataset=config.dataset, mode=config.mode, encoder=config.encoder,
                             config=config.resolved().to_dict(), run_dir=folder.path)
    except BaseException:
        shutil.rmtree(folder.path, ignore_errors=True)  # no folder without its row
        raise
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
    child_id = f"{run['run_id']}{MODEL1_SUFFIX}"
    if metrics is None or child_id in set(workspace.list_runs()["run_id"]):
        return
    config = {**run["config"], "mode": "coeqn", PARENT_KEY: run["run_id"]}
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
    from .shipped import is_shipped

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
    model.load_trained_state(load_file(str(folder.weights_file)))
    model.to(device or pick_device(config.device))
    model.eval()
    return model, config, label_names


# ---------------------------------------------------------------------------------------------------------------------
# Progress and run tables for display


def progress_state(events: Sequence[Mapping]) -> dict:
    """What a progress.jsonl says so far.

    Returns {"latest": the last "step" event or None, "fraction": its step / total_steps (0..1),
    "epochs": DataFrame(phase, epoch, train_loss, val_loss, val_topk_f1, best_epoch, order) of "epoch" events,
    where order counts epochs across phases (Model 1 then Model 2 ...)}.
    """
    steps = [event for event in events if event.get("event") == "step"]
    latest = steps[-1] if steps else None
    fraction = 0.0
    if latest and latest.get("total_steps"):
        fraction = min(1.0, max(0.0, latest.get("step", 0) / latest["total_steps"]))
    columns = ["phase", "epoch", "train_loss", "val_loss", "val_topk_f1", "best_epoch"]
    epochs = pd.DataFrame([{c: event.get(c) for c in columns} for event in events if event.get("event") == "epoch"],
                          columns=columns)
    epochs["order"] = np.arange(1, len(epochs) + 1)
    return {"latest": latest, "fraction": fraction, "epochs": epochs}


def describe_step(event: Mapping | None) -> str:
    """One line for a progress bar: phase, step / total, loss, time left."""
    if not event:
        return "starting: loading the encoder and data"
    text = f"{event.get('phase', '')}: step {event.get('step', 0):,} of {event.get('total_steps', 0):,}"
    if event.get("epoch") is not None and event.get("epochs"):
        text += f" (epoch {event['epoch']} of {event['epochs']})"
    if event.get("loss") is not None:
        text += f", loss {event['loss']:.4f}"
    if event.get("eta_s") is not None:
        text += f", about {format_seconds(event['eta_s'])} left"
    return text


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run_key_metrics(metrics: Mapping | None) -> dict:
    """The headline numbers of a finished run on test (dev when there is no test split):
    macro-F1 with per-label thresholds tuned on dev, sample-level top-k F1, total hit rate (Table 4)."""
    splits = (metrics or {}).get("splits") or {}
    split = "test" if "test" in splits else ("dev" if "dev" in splits else None)
    report = splits.get(split) or {}
    hit_rates = report.get("hit_rates") or []
    return {
        "metrics_split": split,
        "macro_f1_tuned": _get(report, "per_label_tuned", "macro", "f1"),
        "topk_f1": _get(report, "topk", "f1"),
        "hit_rate": hit_rates[-1].get("hit_rate", math.nan) if hit_rates else math.nan,
    }


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One display row per run (newest first): status, settings and key metrics."""
    rows = []
    for _, run in runs.iterrows():
        config = run["config"] or {}
        row = {
            "run": run["run_id"], "status": run["status"], "data set": run["dataset"], "mode": run["mode"],
            "encoder": Path(str(run["encoder"])).name if os.sep in str(run["encoder"]) else run["encoder"],
            "encoder mode": encoder_mode_label(config),
            "epochs": config.get("epochs"), "batch": config.get("batch_size"), "lr": config.get("learning_rate"),
            "train rows": config.get("max_train_rows") or "all", "best epoch": run.get("best_epoch"),
        }
        row.update({k: v for k, v in run_key_metrics(run["metrics"]).items() if k != "metrics_split"})
        row["created"] = run["created_at"]
        row["error"] = run.get("error") or ""
        if parent_run(config):
            row["note"] = f"Model 1 of {parent_run(config)}"
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.rename(columns={"macro_f1_tuned": "macro-F1 (tuned)", "topk_f1": "top-k F1",
                                      "hit_rate": "hit rate"})
    return frame


def encoder_mode_label(config: Mapping) -> str:
    """How a run trained its encoder, in words (a from-scratch backbone always fine-tunes)."""
    if is_scratch_encoder(str(config.get("encoder", ""))):
        return "fine-tune"
    mode = config.get("encoder_mode")
    if mode == "partial":
        return f"top {config.get('trained_layers', 2)} layers"
    return "frozen" if mode == "frozen" else "fine-tune"


def _get(values: Mapping, *keys, default=math.nan):
    for key in keys:
        if not isinstance(values, Mapping) or key not in values:
            return default
        values = values[key]
    return values


def main(argv: list[str] | None = None) -> int:
    """`python -m eqn_core.runs RUN_DIR` still executes a run folder: the same as `python -m eqn_core.execute`."""
    from .execute import main as execute_main

    return execute_main(argv)


if __name__ == "__main__":
    sys.exit(main())
