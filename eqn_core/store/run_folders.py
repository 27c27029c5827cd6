"""The run folder's file format: config, data splits, status, progress, weights and energies of one run.

A training process never opens the workspace's DuckDB file (only one process may hold it for writing): it reads
and writes only its run folder, through RunFolder, and runs.lifecycle brings the results into the workspace.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from eqn_core.io.datasets import LabeledDataset, LabeledSplit
from eqn_core.method.config import TrainConfig
from eqn_core.method.labels import labels_from_ids

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


def save_review_targets(path: Path, override: np.ndarray, mask: np.ndarray) -> None:
    """A run's review targets (runs.review_training): override (N, C) float32 and mask (N, C) bool, one row per
    training text."""
    partial = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(partial, override=np.asarray(override, dtype=np.float32), mask=np.asarray(mask, dtype=bool))
    os.replace(partial, path)


def load_review_targets(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(override (N, C) float32, mask (N, C) bool) of a run trained with reviews; None for a run without."""
    if not path.exists():
        return None
    with np.load(path) as stored:
        return stored["override"].astype(np.float32), stored["mask"].astype(bool)


def save_training_targets(path: Path, targets: np.ndarray, rows: np.ndarray, label_names: list[str],
                          text_ids: list[str] | None = None) -> None:
    """The targets a run's final model trained on: row_idx (the training split's rows used), text_id (when given:
    the training split's ids of those rows) and one column per label."""
    frame = pd.DataFrame(np.asarray(targets, dtype=np.float32), columns=label_names)
    frame.insert(0, "row_idx", np.asarray(rows, dtype=np.int64))
    if text_ids is not None:
        frame.insert(1, "text_id", [text_ids[int(row)] for row in rows])
    partial = path.with_name(path.name + ".tmp")
    frame.to_parquet(partial, index=False)
    os.replace(partial, path)


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
    review_targets_file = property(lambda self: self.path / "review_targets.npz")  # a run trained with reviews
    review_provenance_file = property(lambda self: self.path / "review_provenance.json")
    training_targets_file = property(lambda self: self.path / "training_targets.parquet")  # coeqn / eqn runs
    teacher_energies_file = property(lambda self: self.path / "teacher_energies.parquet")  # TrainConfig.teacher_run

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
