"""Annotating a text set with a finished run, from the workspace's side: prepare the job's folder, start it in the
background (or run it here), stop it, ingest its status, delete the annotation.

The job (runs.text_annotation) writes only into its folder `<workspace>/textsets/<name>/annotations/<run_id>/`;
this module records it in the workspace's `text_set_annotations` table (store.text_sets) and copies the job's
status.json into that row whenever asked (ingest_annotation, refresh_annotations). Each run keeps its own
annotation of a set, so annotating with a second run keeps the first. Annotating again after a stop, a crash or
a failure resumes: the shards already written are kept.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from eqn_core.io.text_files import FIXED_COLUMNS
from eqn_core.runs.text_annotation import SHARD_ROWS, execute_annotation
from eqn_core.store.run_folders import RunFolder, now_iso, parent_run, read_json, write_json_atomic
from eqn_core.store.shipped import SHIPPED_RUN_IDS
from eqn_core.store.text_set_folders import TEXTS_FILE, AnnotationFolder, annotation_path
from eqn_core.store.text_sets import (
    annotation_record,
    forget_annotation,
    list_annotations,
    record_annotation,
    text_set_row,
    update_annotation,
)

DEFAULT_RUN = SHIPPED_RUN_IDS[0]  # the shipped goemotions-eqn: what `eqn texts annotate` uses by default


def prepare_annotation(workspace, name: str, *, run_id: str, batch_size: int = 128, shard_rows: int = SHARD_ROWS,
                       device: str | None = None, fp32: bool = False) -> AnnotationFolder:
    """Write (or renew) the job folder of `run_id`'s annotation of text set `name` and record it as queued.

    batch_size: texts per model batch; shard_rows: texts per shard file; device: "cpu", "cuda", ... (default: the
    run's); fp32: no bf16 on CPUs with bf16 units (bf16 moves energies by hundredths). A resumed job keeps the first
    preparation's shard_rows and fp32, so its shards continue the same rows at the same precision. A finished
    annotation is left as it is (its folder is returned; check .status()). ValueError when the run is not
    finished, has no weights of its own (an EQN run's Model 1), its labels clash with the text columns, or a job
    is running; KeyError for an unknown set or run.
    """
    if batch_size < 1 or shard_rows < 1:
        raise ValueError(f"batch_size and shard_rows must be at least 1, got {batch_size} and {shard_rows}.")
    text_set = text_set_row(workspace, name)
    run = workspace.get_run(run_id)
    label_names = _run_labels(run)
    folder = AnnotationFolder(annotation_path(workspace, name, run_id))
    earlier = read_json(folder.job_file)
    if earlier is not None:
        status = folder.status()
        if status["status"] == "running":
            raise ValueError(f"Run {run_id!r} is annotating text set {name!r} right now (process {status.get('pid')});"
                             f" wait for it or stop it (`eqn texts stop {name} --run {run_id}`).")
        if status["status"] == "finished" and len(folder.shard_indices()) * int(earlier["shard_rows"]) >= \
                text_set["rows"]:
            _ingest(workspace, name, run_id, folder)
            return folder
        shard_rows = int(earlier["shard_rows"])  # the shards written so far keep their rows and precision
        fp32 = not earlier.get("cpu_bf16", True)
    folder.path.mkdir(parents=True, exist_ok=True)
    job = {"text_set": name, "run_id": run_id, "run_dir": str(Path(run["run_dir"]).resolve()),
           "texts": f"../../{TEXTS_FILE}", "total_rows": text_set["rows"], "shard_rows": int(shard_rows),
           "batch_size": int(batch_size), "device": device, "cpu_bf16": not fp32, "label_names": label_names}
    write_json_atomic(folder.job_file, job)
    folder.clear_stop()
    done = folder.shard_indices()
    folder.write_status({"status": "queued", "text_set": name, "run_id": run_id, "created_at": now_iso(),
                         "total_rows": text_set["rows"], "shards_done": len(done),
                         "rows_done": sum(min(shard_rows, text_set["rows"] - i * shard_rows) for i in done)})
    record_annotation(workspace, name, run_id, label_names=label_names, total_rows=text_set["rows"])
    return folder


def _run_labels(run: dict) -> list[str]:
    if run["status"] != "finished":
        raise ValueError(f"Run {run['run_id']!r} is {run['status']}; only a finished run can annotate.")
    if parent_run(run["config"]):
        raise ValueError(f"Run {run['run_id']!r} is Model 1 of EQN run {parent_run(run['config'])}: it has energies "
                         "but no weights of its own; annotate with a run you trained.")
    folder = RunFolder(run["run_dir"])
    labels = read_json(folder.data_dir / "labels.json")
    if labels is None or not folder.weights_file.is_file():
        raise ValueError(f"Run {run['run_id']!r} has no model in {folder.path} (labels.json and model.safetensors); "
                         "annotate with a finished run that kept its weights.")
    label_names = list(labels["label_names"])
    clashes = sorted({label for label in label_names if label.lower() in {c.lower() for c in FIXED_COLUMNS}})
    if clashes:
        raise ValueError(f"Labels {clashes} of run {run['run_id']!r} clash with the text columns {FIXED_COLUMNS}.")
    return label_names


def start_annotation(workspace, name: str, *, run_id: str, **options) -> int | None:
    """prepare_annotation, then `python -m eqn_core.runs.text_annotation JOB_DIR` in a process of its own that
    outlives the caller (the web app). Returns its pid, or None when the annotation had finished already."""
    folder = prepare_annotation(workspace, name, run_id=run_id, **options)
    if folder.status()["status"] == "finished":
        return None
    with folder.log_file.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "eqn_core.runs.text_annotation", str(folder.path)],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    status = folder.status()
    if status.get("status") == "queued":  # the pid now, so a crash before the job starts shows as failed
        folder.write_status({**status, "status": "running", "pid": process.pid, "started_at": now_iso()})
    _ingest(workspace, name, run_id, folder)
    return process.pid


def annotate_text_set(workspace, name: str, *, run_id: str, show_progress: bool = False,
                      should_stop: Callable[[], bool] | None = None, **options) -> dict:
    """prepare_annotation, then the job in this process (the CLI in the foreground, tests), then ingest.
    Returns the job's final status dict (status, rows_done, total_rows, texts_per_second, error, ...); a stop
    (Ctrl+C, SIGTERM, the STOP file, should_stop) leaves status "stopped" and the shards written so far."""
    folder = prepare_annotation(workspace, name, run_id=run_id, **options)
    if folder.status()["status"] != "finished":
        execute_annotation(folder.path, show_progress=show_progress, should_stop=should_stop)
    return _ingest(workspace, name, run_id, folder)


def stop_annotation(workspace, name: str, run_id: str) -> None:
    """Ask the job to stop before its next batch (it keeps the shards written so far)."""
    annotation_record(workspace, name, run_id)
    AnnotationFolder(annotation_path(workspace, name, run_id)).request_stop()


def ingest_annotation(workspace, name: str, run_id: str) -> dict:
    """Copy the job's status.json into the workspace; returns it (with "progress": the latest progress event)."""
    annotation_record(workspace, name, run_id)
    return _ingest(workspace, name, run_id, AnnotationFolder(annotation_path(workspace, name, run_id)))


def _ingest(workspace, name: str, run_id: str, folder: AnnotationFolder) -> dict:
    status = folder.status()
    update_annotation(workspace, name, run_id, status)
    latest = folder.progress(last=1)
    return {**status, "progress": latest[-1] if latest else None}


def refresh_annotations(workspace, name: str | None = None) -> pd.DataFrame:
    """Ingest every annotation the workspace still thinks is queued or running; returns list_annotations(name)."""
    frame = list_annotations(workspace, name)
    for text_set, run_id, status in zip(frame["text_set"], frame["run_id"], frame["status"]):
        if status in ("queued", "running"):
            ingest_annotation(workspace, text_set, run_id)
    return list_annotations(workspace, name)


def annotation_progress(workspace, name: str, run_id: str, *, last: int = 50) -> list[dict]:
    """The job's latest progress events, oldest first: {"time", "rows_done", "total_rows", "texts_per_second",
    "eta_seconds"}."""
    annotation_record(workspace, name, run_id)
    return AnnotationFolder(annotation_path(workspace, name, run_id)).progress(last=last)


def delete_annotation(workspace, name: str, run_id: str, *, delete_reviews: bool = False) -> None:
    """Delete `run_id`'s annotation of text set `name` (its row and shards); ValueError while its job runs, or when
    it has reviews and not delete_reviews."""
    annotation_record(workspace, name, run_id)
    folder = AnnotationFolder(annotation_path(workspace, name, run_id))
    if folder.is_active():
        raise ValueError(f"Run {run_id!r} is annotating text set {name!r} right now; stop it first "
                         f"(`eqn texts stop {name} --run {run_id}`).")
    forget_annotation(workspace, name, run_id, delete_reviews=delete_reviews)
