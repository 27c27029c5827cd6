"""Label Studio tasks of a run's split: one task per text (data: text, text_id and where it comes from, the
suggested emotions; a prediction from the run's energies, model_version = the run id) in a JSON file, with the
labeling configuration (review.label_studio) beside it and the provenance sidecar like every export."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from eqn_core.export.annotations import provenance
from eqn_core.export.files import check_export_target, finish_export, written_atomically
from eqn_core.method.thresholds import DEFAULT_THRESHOLD, ThresholdSetting, check_thresholds
from eqn_core.review.label_studio import label_studio_config, task_prediction
from eqn_core.store.workspace import Workspace

CONFIG_SUFFIX = ".config.xml"


def config_path_for(path: str | Path) -> Path:
    """The labeling configuration beside the tasks: tasks.json -> tasks.config.xml."""
    path = Path(path)
    return path.with_name(path.stem + CONFIG_SUFFIX)


def label_studio_target(path: str | Path, *, overwrite: bool, workspace_root) -> tuple[Path, Path]:
    """The checked tasks file (.json, outside the workspace's own files) and its configuration's path."""
    path = Path(path).expanduser().resolve()
    if path.suffix.lower() != ".json":
        raise ValueError(f"Label Studio tasks are a JSON file: name it like tasks.json, not {path.name!r}.")
    check_export_target(path, workspace_root)
    config = config_path_for(path)
    for target in (path, config):
        if target.is_dir():
            raise ValueError(f"Export path {target} is a folder; give a file name.")
        if target.exists() and not overwrite:
            raise ValueError(f"{target} already exists; choose another file name or allow overwriting it "
                             "(`eqn export --force`).")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, config


def _thresholds(thresholds, label_names: list[str]) -> np.ndarray:
    if isinstance(thresholds, ThresholdSetting):
        return thresholds.array(label_names)
    return check_thresholds(DEFAULT_THRESHOLD if thresholds is None else thresholds, len(label_names))


def label_studio_tasks(workspace: Workspace, *, run_id: str, split: str, thresholds=None,
                       rows: list[int] | None = None) -> list[dict]:
    """The tasks (Label Studio's import format) of a run's split; thresholds: a ThresholdSetting, (C,) or one
    number (default DEFAULT_THRESHOLD); the data set's non-emotion labels are never ticked."""
    run = workspace.get_run(run_id)
    dataset = run["dataset"]
    label_names = workspace.label_names(dataset)
    h = _thresholds(thresholds, label_names)  # (C,)
    energies = workspace.load_energies(run_id, split)  # (N, C)
    texts = workspace.texts(dataset, split)
    if rows is not None:
        texts = texts[texts["row_idx"].isin({int(row) for row in rows})]
    exclude = workspace.non_emotion_labels(dataset)
    tasks = []
    for row_idx, text_id, text, label_ids in zip(texts["row_idx"], texts["text_id"], texts["text"],
                                                 texts["label_ids"]):
        prediction, suggested = task_prediction(label_names, energies[int(row_idx)], h, model_version=run_id,
                                                exclude=exclude)
        data = {"text": text, "text_id": text_id, "row_idx": int(row_idx), "run_id": run_id, "dataset": dataset,
                "split": split, "human_labels": [label_names[i] for i in label_ids], "suggested": suggested}
        tasks.append({"data": data, "predictions": [prediction]})
    return tasks


def export_label_studio(workspace: Workspace, *, run_id: str, split: str, path: str | Path, thresholds=None,
                        rows: list[int] | None = None, overwrite: bool = False) -> dict:
    """Write the tasks to `path` (.json) and the labeling configuration to `<stem>.config.xml` beside it (import
    both into a Label Studio project); the provenance goes to `<path>.meta.json`.
    Returns {"path", "config", "rows", "format", "metadata"}."""
    path, config_path = label_studio_target(path, overwrite=overwrite, workspace_root=workspace.root)
    if split not in workspace.energy_splits(run_id):
        raise KeyError(f"Run {run_id!r} has no energies for split {split!r}; "
                       f"it has energies for {workspace.energy_splits(run_id)}.")
    run = workspace.get_run(run_id)
    label_names = workspace.label_names(run["dataset"])
    tasks = label_studio_tasks(workspace, run_id=run_id, split=split, thresholds=thresholds, rows=rows)
    h = _thresholds(thresholds, label_names)
    metadata = provenance(workspace, run, split=split, content="label-studio tasks", fmt="label-studio",
                          rows=len(tasks), thresholds=dict(zip(label_names, h.tolist())),
                          profile=thresholds.source if isinstance(thresholds, ThresholdSetting) else None)
    metadata["label_config"] = config_path.name
    with written_atomically(config_path) as temporary:
        temporary.write_text(label_studio_config(label_names), encoding="utf-8")
        os.replace(temporary, config_path)
    with written_atomically(path) as temporary:
        temporary.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
        metadata_path = finish_export(temporary, path, "label-studio", metadata)
    return {"path": path, "config": config_path, "rows": len(tasks), "format": "label-studio",
            "metadata": metadata_path}
