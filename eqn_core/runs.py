"""Run folders: prepare a run from the workspace, execute it without touching DuckDB, ingest what it wrote.

A training process never opens the workspace's DuckDB file (only one process may hold it for writing):
prepare_run() copies the data splits into the run folder, execute_run() writes only into that folder
(status.json, progress.jsonl, weights, energies, metrics), and ingest_run() brings the results back.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from .config import TrainConfig
from .data import LabeledDataset, LabeledSplit
from .labels import labels_from_ids
from .metrics import evaluate_energies
from .thresholds import DEFAULT_THRESHOLD, tune_thresholds

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


def execute_run(run_dir: str | Path, *, cache_dir: str | Path | None = None, show_progress: bool = False) -> dict:
    """Train and annotate; writes only into the run folder. Returns the final status dict; never raises for a
    failed or stopped run (the status says what happened)."""
    import torch

    from .inference import device_name, embed_texts, outputs_to_energies, pick_device, predict_outputs
    from .regression import run_method
    from .training import RunStopped, batch_reporter

    folder = RunFolder(run_dir)
    config = folder.config()
    status = {**read_json(folder.status_file, {}), "status": "running", "pid": os.getpid(), "started_at": now_iso()}
    write_json_atomic(folder.status_file, status)
    stop_signal = {"seen": False}

    def on_signal(signum, frame):  # SIGTERM / Ctrl-C: stop at the next batch, leave a clean "stopped" record
        stop_signal["seen"] = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)} \
        if threading_main() else {}
    bar = None
    progress_log = folder.progress_file.open("a")

    def on_progress(event: dict) -> None:
        nonlocal bar
        event = {"time": time.time(), **event}
        progress_log.write(json.dumps(event) + "\n")
        progress_log.flush()
        if show_progress and event["event"] == "step":
            bar = update_bar(bar, event)
        elif show_progress and event["event"] == "epoch":
            print(f"  {event['phase']}: epoch {event['epoch']}/{event.get('epochs', '?')} train loss "
                  f"{event['train_loss']:.4f}, dev loss {event['val_loss']:.4f}, dev top-k F1 "
                  f"{event['val_topk_f1']:.4f} (best epoch {event['best_epoch']})", file=sys.stderr)

    started = time.monotonic()
    try:
        dataset = load_dataset_from_folder(folder.data_dir)
        device = pick_device(config.device)
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        embeddings_cache = Path(cache_dir) / "embeddings" if cache_dir else None
        def annotate_splits(model, split_names) -> dict[str, np.ndarray]:
            energies = {}
            for split_name in split_names:
                split = dataset.splits[split_name]
                report = batch_reporter(on_progress, f"annotating {split_name}")
                report(0, len(split.texts))
                if config.frozen:  # the encoder pass is the slow part; the head over cached vectors is instant
                    features = embed_texts(model, split.texts, cache_dir=embeddings_cache,
                                           encoder_name=config.encoder, device=device, amp=config.amp, on_batch=report)
                    outputs = predict_outputs(model, features, batch_size=256, device=device, amp=config.amp)
                else:
                    outputs = predict_outputs(model, model.featurize(split.texts), batch_size=256, device=device,
                                              amp=config.amp, on_batch=report)
                report(len(split.texts), len(split.texts))  # also when the embeddings came from the cache
                energies[split_name] = outputs_to_energies(outputs, mode=config.mode, scale=config.energy_scale)
            return energies

        def keep_model1(model) -> None:  # an EQN run's CoEQN model: annotations for dev/test, stored as a child run
            model1 = annotate_splits(model, [s for s in ("dev", "test") if s in dataset.splits])
            for split_name, values in model1.items():
                save_energies(folder.model1_energies_file(split_name), values, dataset.label_names)
            write_json_atomic(folder.model1_metrics_file, run_metrics(dataset, model1, []))

        result = run_method(config, dataset, device=device, cache_dir=embeddings_cache, on_progress=on_progress,
                            should_stop=lambda: stop_signal["seen"] or folder.stop_requested(),
                            on_model1=keep_model1)
        train_seconds = time.monotonic() - started
        model = result.model
        from safetensors.torch import save_file

        save_file(model.trainable_state_dict(), str(folder.weights_file) + ".tmp")
        os.replace(str(folder.weights_file) + ".tmp", folder.weights_file)
        if config.is_scratch:
            folder.vocabulary_file.write_text(model.vocabulary.to_json())
        energies = annotate_splits(model, [s for s in dataset.splits if s != "train" or config.annotate_train])
        if result.regressed_targets is not None and "train" in energies:  # the regressed training set (Figure 5)
            energies["train"][result.train_rows] = result.regressed_targets
        for split_name, values in energies.items():
            save_energies(folder.energies_file(split_name), values, dataset.label_names)
        metrics = run_metrics(dataset, energies, result.phases)
        metrics["timing"] = {"train_seconds": train_seconds, "total_seconds": time.monotonic() - started,
                             "device": device_name(device), "torch_threads": torch.get_num_threads()}
        write_json_atomic(folder.metrics_file, metrics)
        status.update(status="finished", finished_at=now_iso())
    except RunStopped:
        status.update(status="stopped", finished_at=now_iso(), error="stopped by the user")
    except Exception as error:  # the record must say failed, whatever broke
        status.update(status="failed", finished_at=now_iso(), error=f"{type(error).__name__}: {error}")
        (folder.path / "error.txt").write_text(traceback.format_exc())
    finally:
        progress_log.close()
        if bar is not None:
            bar.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        write_json_atomic(folder.status_file, status)
    return status


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def update_bar(bar, event: dict):
    from tqdm import tqdm

    if bar is None or bar.desc != event["phase"]:
        if bar is not None:
            bar.close()
        bar = tqdm(total=event["total_steps"], desc=event["phase"], unit="step", file=sys.stderr)
    bar.n = event["step"]
    if "loss" in event:
        bar.set_postfix(loss=f"{event['loss']:.4f}", refresh=False)
    bar.refresh()
    return bar


def run_metrics(dataset: LabeledDataset, energies: dict[str, np.ndarray], phases: list[dict]) -> dict:
    """Metrics per split; per-label thresholds tuned on dev only, then applied to every split."""
    dev_labels = dataset.splits["dev"].human_labels
    thresholds = tune_thresholds(energies["dev"], dev_labels)
    metrics = {"thresholds": [float(t) for t in thresholds], "global_threshold": DEFAULT_THRESHOLD,
               "label_names": dataset.label_names, "phases": phases, "splits": {}}
    for split_name in ("dev", "test"):
        if split_name in energies:
            metrics["splits"][split_name] = evaluate_energies(
                energies[split_name], dataset.splits[split_name].human_labels, label_names=dataset.label_names,
                thresholds=thresholds, global_threshold=DEFAULT_THRESHOLD, multi_label=dataset.multi_label)
    return metrics


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
    process = subprocess.Popen([sys.executable, "-m", "eqn_core.runs", str(folder.path), "--cache-dir", str(cache_dir)],
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
    import argparse

    parser = argparse.ArgumentParser(description="Execute a prepared EQN run folder (used by the web app).")
    parser.add_argument("run_dir")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    status = execute_run(args.run_dir, cache_dir=args.cache_dir)
    return 0 if status["status"] in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main())
