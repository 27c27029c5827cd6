"""The training process: execute a prepared run folder (train, annotate, score) without touching the workspace.

A training process never opens the workspace's DuckDB file (only one process may hold it for writing): it reads
the data splits and config that runs.lifecycle.prepare_run() wrote and writes only into the run folder (status.json,
progress.jsonl, weights, energies, metrics.json); runs.lifecycle.ingest_run() brings the results back.
Run it as `python -m eqn_core.runs.process RUN_DIR` (the web app does, through runs.lifecycle.start_run_process).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from eqn_core.io.datasets import LabeledDataset
from eqn_core.method.config import TrainConfig
from eqn_core.method.reports import evaluate_energies
from eqn_core.method.thresholds import DEFAULT_THRESHOLD, tune_thresholds
from eqn_core.store.run_folders import (
    RunFolder,
    load_dataset_from_folder,
    load_energies_file,
    load_review_targets,
    now_iso,
    read_json,
    save_energies,
    save_training_targets,
    write_json_atomic,
)


def execute_run(run_dir: str | Path, *, cache_dir: str | Path | None = None, show_progress: bool = False) -> dict:
    """Train and annotate; writes only into the run folder. Returns the final status dict; never raises for a
    failed or stopped run (the status says what happened)."""
    from eqn_core.method.inference import RunStopped

    folder = RunFolder(run_dir)
    config = folder.config()
    status = {**read_json(folder.status_file, {}), "status": "running", "pid": os.getpid(), "started_at": now_iso()}
    write_json_atomic(folder.status_file, status)
    stop = StopSignal()
    progress = ProgressLog(folder.progress_file, show_progress=show_progress)
    try:
        with stop:
            metrics = _train_and_annotate(folder, config, cache_dir=cache_dir, on_progress=progress.write,
                                          should_stop=lambda: stop.seen or folder.stop_requested())
        write_json_atomic(folder.metrics_file, metrics)
        status.update(status="finished", finished_at=now_iso())
    except RunStopped:
        status.update(status="stopped", finished_at=now_iso(), error="stopped by the user")
    except Exception as error:  # the record must say failed, whatever broke
        status.update(status="failed", finished_at=now_iso(), error=f"{type(error).__name__}: {error}")
        (folder.path / "error.txt").write_text(traceback.format_exc())
    finally:
        progress.close()
        write_json_atomic(folder.status_file, status)
    return status


def _train_and_annotate(folder: RunFolder, config: TrainConfig, *, cache_dir: str | Path | None,
                        on_progress: Callable[[dict], None], should_stop: Callable[[], bool]) -> dict:
    """The EQN procedure on the folder's data, then weights, energies per split and the run's metrics."""
    import torch
    from safetensors.torch import save_file

    from eqn_core.method.inference import device_name, pick_device
    from eqn_core.method.regression import run_method

    started = time.monotonic()
    dataset = load_dataset_from_folder(folder.data_dir)
    device = pick_device(config.device)
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    def annotate(model, features, split_names) -> dict[str, np.ndarray]:
        return annotate_splits(model, features, dataset, config, split_names, device=device, on_progress=on_progress,
                               should_stop=should_stop)

    def keep_model1(model, features) -> None:  # an EQN run's CoEQN model: dev/test annotations, a child run
        model1 = annotate(model, features, [s for s in ("dev", "test") if s in dataset.splits])
        for split_name, values in model1.items():
            save_energies(folder.model1_energies_file(split_name), values, dataset.label_names)
        write_json_atomic(folder.model1_metrics_file, run_metrics(dataset, model1, []))

    review_targets = load_review_targets(folder.review_targets_file)  # (override, mask): a run trained with reviews
    teacher = folder.teacher_energies_file
    result = run_method(config, dataset, device=device, cache_dir=cache_dir, on_progress=on_progress,
                        should_stop=should_stop, on_model1=keep_model1, review_targets=review_targets,
                        teacher_energies=load_energies_file(teacher) if teacher.exists() else None)
    train_seconds = time.monotonic() - started
    if result.targets is not None:  # what the final model trained on, for people and checks to read back
        save_training_targets(folder.training_targets_file, result.targets, result.train_rows, dataset.label_names,
                              text_ids=dataset.splits["train"].text_ids)
    model = result.model
    save_file(model.trainable_state_dict(), str(folder.weights_file) + ".tmp")
    os.replace(str(folder.weights_file) + ".tmp", folder.weights_file)
    if config.is_scratch:
        folder.vocabulary_file.write_text(model.vocabulary.to_json())
    # EQN stores the regressed training set it trained on (Figure 5): without a row limit that is every training
    # row, in order, so annotating the training split again would be overwritten entirely and is skipped
    regressed = result.regressed_targets
    energies = annotate(model, result.features, [s for s in dataset.splits
                                                 if s != "train" or (annotates_train(config) and regressed is None)])
    if regressed is not None and annotates_train(config):
        energies["train"] = regressed
    own_rows = (config.extra.get("reviews") or {}).get("train_rows")
    if own_rows is not None and "train" in energies:  # reviewed own texts were appended: keep the data set's rows
        energies["train"] = energies["train"][:own_rows]
    for split_name, values in energies.items():
        save_energies(folder.energies_file(split_name), values, dataset.label_names)
    metrics = run_metrics(dataset, energies, result.phases)
    if review_targets is not None:
        from eqn_core.runs.review_training import used_review_summary

        rows = result.train_rows
        metrics["reviews"] = used_review_summary(config.extra.get("reviews") or {}, review_targets[1][rows],
                                                 review_targets[0][rows], dataset.splits["train"].human_labels[rows])
    metrics["timing"] = {"train_seconds": train_seconds, "total_seconds": time.monotonic() - started,
                         "device": device_name(device), "torch_threads": torch.get_num_threads()}
    return metrics


def annotates_train(config: TrainConfig) -> bool:
    """Whether a run stores energies for its whole training split. A row limit (max_train_rows) makes the run a
    quick look: it embeds and trains on that many training texts and skips annotating the rest of the training
    split (minutes on GoEmotions); dev and test are annotated in full, so thresholds and metrics stay comparable."""
    return config.annotate_train and config.max_train_rows is None


def annotate_splits(model, features, dataset: LabeledDataset, config: TrainConfig, split_names, *, device,
                    on_progress: Callable[[dict], None],
                    should_stop: Callable[[], bool] | None = None) -> dict[str, np.ndarray]:
    """Energies (N, C) float32 of each named split, reporting "annotating <split>" steps.

    features: the run's regression.FeatureSource; frozen and partial runs take the fixed encoder part from
    (or put it into) the cache, which is the slow pass.
    """
    from eqn_core.method.inference import outputs_to_energies, predict_outputs
    from eqn_core.method.training import batch_reporter

    energies = {}
    for split_name in split_names:
        texts = dataset.splits[split_name].texts
        phase = f"annotating {split_name}"
        report = batch_reporter(on_progress, phase)
        report(0, len(texts))
        outputs = predict_outputs(model, features(model, texts, phase=phase, on_progress=on_progress),
                                  batch_size=256, device=device, amp=config.amp, on_batch=report,
                                  should_stop=should_stop)
        report(len(texts), len(texts))  # also when the features came from the cache
        energies[split_name] = outputs_to_energies(outputs, mode=config.mode, scale=config.energy_scale)
    return energies


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


class StopSignal:
    """SIGTERM / Ctrl-C while training: stop at the next batch and leave a clean "stopped" record.

    Handlers are installed only in the main thread (signal.signal refuses elsewhere) and restored on exit."""

    def __init__(self):
        self.seen = False
        self._previous: dict = {}

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc_info) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        self.seen = True


class ProgressLog:
    """progress.jsonl of a run (one JSON event a line, flushed at once), and a terminal bar when asked."""

    def __init__(self, path: Path, *, show_progress: bool = False):
        self._file = path.open("a")
        self._show = show_progress
        self._bar = None

    def write(self, event: dict) -> None:
        event = {"time": time.time(), **event}
        self._file.write(json.dumps(event) + "\n")
        self._file.flush()
        if self._show and event["event"] == "step":
            self._update_bar(event)
        elif self._show and event["event"] == "epoch":
            print(f"  {event['phase']}: epoch {event['epoch']}/{event.get('epochs', '?')} train loss "
                  f"{event['train_loss']:.4f}, dev loss {event['val_loss']:.4f}, dev top-k F1 "
                  f"{event['val_topk_f1']:.4f} (best epoch {event['best_epoch']})", file=sys.stderr)

    def close(self) -> None:
        self._file.close()
        if self._bar is not None:
            self._bar.close()

    def _update_bar(self, event: dict) -> None:
        from tqdm import tqdm

        if self._bar is None or self._bar.desc != event["phase"]:
            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(total=event["total_steps"], desc=event["phase"], unit="step", file=sys.stderr)
        self._bar.n = event["step"]
        if "loss" in event:
            self._bar.set_postfix(loss=f"{event['loss']:.4f}", refresh=False)
        self._bar.refresh()


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
