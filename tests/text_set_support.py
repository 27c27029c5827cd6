"""Helpers of the own-texts tests (tests/*/test_text_*.py): a finished run made in a second (a random head on the
tiny encoder) and an annotation written straight from chosen energies."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from conftest import tiny_config

LABELS = ["joy", "anger", "fear", "neutral"]


def make_tiny_run(workspace, encoder_dir: str, run_id: str = "tiny-run", *, seed: int = 0) -> str:
    """A finished frozen-mode run on the tiny encoder whose head is random (seeded) and spread so energies cover
    0-10; registered in the workspace like a shipped model (no data set needed). Returns the run id."""
    import torch
    from safetensors.torch import save_file

    from eqn_core.method.models import build_model

    config = tiny_config(encoder_dir)
    torch.manual_seed(seed)
    model = build_model(config, len(LABELS))
    with torch.no_grad():  # energies about 5 +- 3 on ordinary sentences: centre and scale the pooled vectors
        texts = [f"sample {i}: {w}" for i, w in enumerate(["a happy day", "so angry", "the cat sat", "rain"] * 8)]
        features = model.featurize(texts)
        pooled = model.pooled(features.batch(np.arange(len(texts))))  # (n, H)
        mean, std = pooled.mean(0), pooled.std(0) + 1e-6
        weight = torch.randn(len(LABELS), pooled.shape[1]) / std / pooled.shape[1] ** 0.5 * 3.0
        model.head.weight.copy_(weight)
        model.head.bias.copy_(5.0 - weight @ mean)
    folder = workspace.runs_dir / run_id
    (folder / "data").mkdir(parents=True)
    save_file(model.trainable_state_dict(), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config.resolved().to_dict()))
    (folder / "data" / "labels.json").write_text(json.dumps({"name": "tiny", "label_names": LABELS,
                                                             "multi_label": True, "source": "test"}))
    workspace.add_finished_run(run_id, dataset="tiny", mode=config.mode, encoder=config.encoder,
                               config=config.resolved().to_dict(), run_dir=folder,
                               metrics={"thresholds": [2.0, 3.0, 4.0, 5.0]})
    return run_id


def write_annotation(workspace, name: str, run_id: str, energies: np.ndarray, *, label_names=None,
                     shard_rows: int = 4, finished: bool = True) -> None:
    """Record run_id's annotation of text set `name` with the given (N, C) energies (or its first rows), as the
    job would leave it: job.json, shards of shard_rows rows, status."""
    from eqn_core.runs.text_annotation import write_shard
    from eqn_core.store.text_set_folders import AnnotationFolder, annotation_path
    from eqn_core.store.text_sets import record_annotation, update_annotation

    label_names = list(label_names or LABELS)
    folder = AnnotationFolder(annotation_path(workspace, name, run_id))
    folder.path.mkdir(parents=True)
    total = len(energies) if finished else workspace.fetch_all("SELECT num_rows FROM text_sets WHERE name = ?",
                                                               [name])[0][0]
    job = {"text_set": name, "run_id": run_id, "shard_rows": shard_rows, "label_names": label_names}
    Path(folder.job_file).write_text(json.dumps(job))
    record_annotation(workspace, name, run_id, label_names=label_names, total_rows=total)
    for index, first in enumerate(range(0, len(energies), shard_rows)):
        rows = np.arange(first, min(first + shard_rows, len(energies)))
        write_shard(folder, index, rows, energies[rows], label_names, job)
    update_annotation(workspace, name, run_id, {"status": "finished" if finished else "stopped",
                                                "rows_done": len(energies)})


def shard_energies(folder) -> np.ndarray:
    """(N, C) energies of an annotation folder's shards, in row order (pandas: fine for a test's few rows)."""
    import pandas as pd

    frames = [pd.read_parquet(path) for path in sorted(Path(folder).glob("part-*.parquet"))]
    frame = pd.concat(frames).sort_values("row_idx")
    assert frame["row_idx"].tolist() == list(range(len(frame)))
    return frame.drop(columns="row_idx").to_numpy(dtype=np.float32)
