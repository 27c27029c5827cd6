"""The annotation job: a text set's texts through a finished run's model, into energy shards, resumable.

Run it as `python -m eqn_core.runs.text_annotation JOB_DIR` (runs.text_jobs.start_annotation does, in the
background) or in this process with `execute_annotation(JOB_DIR)` (the CLI, tests). JOB_DIR is an annotation folder
(store.text_set_folders) that runs.text_jobs.prepare_annotation wrote; the job reads job.json and texts.parquet and
writes only into JOB_DIR: one shard `part-NNNNN.parquet` per `shard_rows` texts (row_idx + one float32 column per
label; written under a temporary name, then renamed), status.json after every shard, progress.jsonl (texts per
second, seconds left) at most twice a second. A STOP file, SIGTERM or Ctrl+C stops it before its next batch
(status "stopped"); the shards written so far stay, and a restarted job skips them. It never opens the workspace's
DuckDB file.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from eqn_core.runs.process import StopSignal
from eqn_core.store.run_folders import now_iso
from eqn_core.store.text_set_folders import AnnotationFolder

SHARD_ROWS = 4096  # texts per shard: what a stop can lose, and the length-sorted unit of work
PROGRESS_EVERY_SECONDS = 0.5


def execute_annotation(job_dir: str | Path, *, show_progress: bool = False,
                       should_stop: Callable[[], bool] | None = None) -> dict:
    """Annotate every shard of the job not written yet; writes only into job_dir. Returns the final status dict
    (status, rows_done, total_rows, shards_done, shards_total, texts_per_second, started_at, finished_at, error);
    never raises for a failed or stopped job (the status says what happened). should_stop: asked before every
    batch, besides the STOP file and SIGTERM / SIGINT."""
    from eqn_core.method.inference import RunStopped

    folder = AnnotationFolder(job_dir)
    job = folder.job()
    status = {**folder.status(), "status": "running", "pid": os.getpid(), "started_at": now_iso(),
              "finished_at": None, "error": None, "text_set": job["text_set"], "run_id": job["run_id"]}
    folder.write_status(status)
    stop = StopSignal()
    progress = _Progress(folder, status, show_progress=show_progress)
    try:
        with stop:
            _annotate(folder, job, status, progress,
                      should_stop=lambda: stop.seen or folder.stop_requested() or bool(should_stop and should_stop()))
        status.update(status="finished", finished_at=now_iso())
    except RunStopped:
        status.update(status="stopped", finished_at=now_iso(), error="stopped by the user")
    except Exception as error:  # the record must say failed, whatever broke
        status.update(status="failed", finished_at=now_iso(), error=f"{type(error).__name__}: {error}")
        folder.error_file.write_text(traceback.format_exc())
    finally:
        progress.close()
        folder.write_status(status)
    return status


def _annotate(folder: AnnotationFolder, job: dict, status: dict, progress: _Progress, *,
              should_stop: Callable[[], bool]) -> None:
    import torch

    from eqn_core.method.inference import annotate, check_stop
    from eqn_core.runs.lifecycle import load_run_model

    texts = RowReader(folder.path / job["texts"])
    total, shard_rows = texts.num_rows, int(job["shard_rows"])
    shards = math.ceil(total / shard_rows)
    done = [index for index in folder.shard_indices() if index < shards]
    status.update(total_rows=total, shards_total=shards, shards_done=len(done),
                  rows_done=sum(min(shard_rows, total - index * shard_rows) for index in done))
    folder.write_status(status)
    progress.begin(status["rows_done"], total)
    todo = [index for index in range(shards) if index not in set(done)]
    if not todo:
        return
    check_stop(should_stop)
    missing = [name for name in ("config.json", "data/labels.json", "model.safetensors")
               if not (Path(job["run_dir"]) / name).is_file()]
    if missing:
        raise FileNotFoundError(f"The run folder {job['run_dir']} lacks {missing}; was the run deleted?")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model, config, label_names = load_run_model(job["run_dir"], device=job.get("device"))
    if list(label_names) != list(job["label_names"]):
        raise ValueError(f"The run's labels {label_names} are not the ones this annotation was prepared with "
                         f"({job['label_names']}); remove the annotation and annotate again.")
    progress.restart_clock()  # texts per second: annotating only, not loading the model
    for index in todo:
        first = index * shard_rows
        rows = texts.read(first, min(total, first + shard_rows))
        row_idx = rows.column("row_idx").to_numpy()
        if len(row_idx) and (row_idx[0] != first or row_idx[-1] != first + len(row_idx) - 1):
            raise ValueError(f"{texts.path} is not in row order at row {first}; add the text set again.")
        energies = annotate(model, rows.column("text").to_pylist(), mode=config.mode,
                            batch_size=int(job["batch_size"]), cpu_bf16=bool(job.get("cpu_bf16", True)),
                            energy_scale=config.energy_scale, should_stop=should_stop,
                            on_batch=lambda n, _total, _share: progress.batch(n))
        write_shard(folder, index, row_idx, energies, label_names, job)
        status.update(rows_done=status["rows_done"] + len(row_idx), shards_done=status["shards_done"] + 1,
                      texts_per_second=progress.rate())
        folder.write_status(status)
        progress.shard_done(len(row_idx))


def write_shard(folder: AnnotationFolder, index: int, row_idx: np.ndarray, energies: np.ndarray,
                label_names: list[str], job: dict) -> Path:
    """Shard `index`: row_idx (int64) and energies (N, C) as one float32 column per label, with the provenance in
    the Parquet metadata (key "eqn"); whole or absent (temporary name, then rename)."""
    columns = {"row_idx": pa.array(np.asarray(row_idx, dtype=np.int64))}
    values = np.asarray(energies, dtype=np.float32)  # (N, C)
    for i, label in enumerate(label_names):
        columns[label] = pa.array(values[:, i])
    provenance = {"text_set": job["text_set"], "run_id": job["run_id"], "label_names": list(label_names),
                  "shard": index, "first_row": int(row_idx[0]) if len(row_idx) else None, "rows": len(row_idx),
                  "written_at": now_iso()}
    table = pa.table(columns).replace_schema_metadata({"eqn": json.dumps(provenance)})
    final = folder.shard_file(index)
    partial = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    pq.write_table(table, partial)
    os.replace(partial, final)
    return final


class RowReader:
    """Rows [start, stop) of texts.parquet (row_idx, text), reading only the row groups that hold them."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = pq.ParquetFile(self.path)
        sizes = [self._file.metadata.row_group(i).num_rows for i in range(self._file.metadata.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # (G + 1,)
        self.num_rows = int(self._starts[-1])

    def read(self, start: int, stop: int) -> pa.Table:
        first = int(np.searchsorted(self._starts, start, side="right") - 1)
        last = int(np.searchsorted(self._starts, stop, side="left"))
        groups = list(range(first, max(first + 1, last)))
        table = self._file.read_row_groups(groups, columns=["row_idx", "text"])
        return table.slice(start - int(self._starts[first]), stop - start)


class _Progress:
    """progress.jsonl events {"time", "event": "progress", "rows_done", "total_rows", "texts_per_second",
    "eta_seconds"} and, when asked, a terminal bar in texts."""

    def __init__(self, folder: AnnotationFolder, status: dict, *, show_progress: bool):
        self._file = folder.progress_file.open("a")
        self._show, self._bar = show_progress, None
        self._status = status
        self._done = self._shard_start = self._new = 0
        self._total = 0
        self._started = self._last = time.monotonic()

    def begin(self, done: int, total: int) -> None:
        self._done, self._total, self._started = done, total, time.monotonic()
        self._event(force=True)

    def restart_clock(self) -> None:
        """The model is loaded: texts per second count from now, and the terminal bar starts."""
        self._started = time.monotonic()
        if self._show:
            from tqdm import tqdm

            self._bar = tqdm(total=self._total, initial=self._done, unit="text", file=sys.stderr,
                             desc=f"annotating {self._status['text_set']} with {self._status['run_id']}")

    def rate(self) -> float | None:
        seconds = time.monotonic() - self._started
        return round(self._new / seconds, 2) if self._new and seconds > 0 else None

    def batch(self, done_in_shard: int) -> None:
        self._set(self._shard_start + done_in_shard)

    def shard_done(self, rows: int) -> None:
        self._shard_start += rows
        self._set(self._shard_start)
        self._event(force=True)

    def _set(self, new: int) -> None:
        if self._bar is not None:
            self._bar.update(new - self._new)
        self._new = new
        self._event()

    def _event(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_EVERY_SECONDS:
            return
        self._last = now
        rate, done = self.rate(), self._done + self._new
        eta = round((self._total - done) / rate, 1) if rate else None
        event = {"time": time.time(), "event": "progress", "rows_done": done, "total_rows": self._total,
                 "texts_per_second": rate, "eta_seconds": eta}
        self._file.write(json.dumps(event) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        if self._bar is not None:
            self._bar.close()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Annotate a text set: the job folder runs.text_jobs prepared.")
    parser.add_argument("job_dir")
    args = parser.parse_args(argv)
    status = execute_annotation(args.job_dir)
    return 0 if status["status"] in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main())
