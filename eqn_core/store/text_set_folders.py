"""The folders of own texts: a text set's folder and the folder of each run's annotation of it (the job's files).

    <workspace>/textsets/<name>/
        texts.parquet                 row_idx, text_id, text, source_file, source_row, metadata (io.text_files)
        annotations/<run_id>/         one run's annotation, written only by its job (runs.text_annotation)
            job.json                  what to do: run folder, texts file, shard_rows, batch size, device, labels
            status.json               queued | running | finished | failed | stopped; rows_done, total_rows, pid
            progress.jsonl            one event a line: rows done, texts per second, seconds left
            STOP                      present: the job stops before its next batch
            log.txt                   a background job's output
            error.txt                 a failed job's traceback
            part-NNNNN.parquet        shard NNNNN: rows [NNNNN * shard_rows, ...) as row_idx (BIGINT) and one
                                      FLOAT column per label; written under a temporary name, then renamed

The job never opens the workspace's DuckDB file; the workspace reads these files (runs.text_jobs ingests them).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from eqn_core.io.names import check_safe_name
from eqn_core.store.run_folders import now_iso, process_alive, read_json, write_json_atomic

TEXTSETS_DIR = "textsets"
TEXTS_FILE = "texts.parquet"
ACTIVE_STATUSES = ("queued", "running")
_SHARD = re.compile(r"part-(\d{5,})\.parquet")


def text_sets_root(workspace) -> Path:
    return workspace.root / TEXTSETS_DIR


def text_set_folder(workspace, name: str) -> Path:
    """<workspace>/textsets/<name> for a safe name; never a folder elsewhere."""
    check_safe_name(name, "text set name")
    return text_sets_root(workspace) / name


def texts_path(workspace, name: str) -> Path:
    return text_set_folder(workspace, name) / TEXTS_FILE


def annotation_path(workspace, name: str, run_id: str) -> Path:
    check_safe_name(run_id, "run id")
    return text_set_folder(workspace, name) / "annotations" / run_id


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


class AnnotationFolder:
    """Paths and small readers of one annotation's folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    job_file = property(lambda self: self.path / "job.json")
    status_file = property(lambda self: self.path / "status.json")
    progress_file = property(lambda self: self.path / "progress.jsonl")
    stop_file = property(lambda self: self.path / "STOP")
    log_file = property(lambda self: self.path / "log.txt")
    error_file = property(lambda self: self.path / "error.txt")

    def job(self) -> dict:
        job = read_json(self.job_file)
        if job is None:
            raise FileNotFoundError(f"{self.job_file} is missing: the annotation was never prepared.")
        return job

    def shard_file(self, index: int) -> Path:
        return self.path / shard_name(index)

    def shard_indices(self) -> list[int]:
        """Indices of the whole shards written so far, ascending (a shard being written has another name)."""
        if not self.path.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.path.iterdir() if (m := _SHARD.fullmatch(p.name)))

    def shard_files(self) -> list[Path]:
        return [self.shard_file(index) for index in self.shard_indices()]

    def write_status(self, status: dict) -> None:
        write_json_atomic(self.status_file, status)

    def status(self) -> dict:
        """status.json; a job whose process died (killed, out of memory) is reconciled to "failed" on disk."""
        if not self.path.is_dir():
            return {"status": "failed", "error": f"the annotation folder {self.path} is missing"}
        status = read_json(self.status_file, {"status": "queued"})
        pid = status.get("pid")
        if status.get("status") == "running" and pid and not process_alive(pid):
            status = {**status, "status": "failed", "finished_at": now_iso(),
                      "error": "the annotation process ended unexpectedly (killed or out of memory; see log.txt); "
                               "annotate again to resume"}
            try:
                self.write_status(status)
            except OSError:
                pass
        return status

    def is_active(self) -> bool:
        """A job runs in a live process (a queued job that no process took up does not count)."""
        return self.status().get("status") == "running"

    def progress(self, *, last: int | None = None) -> list[dict]:
        """The progress events, oldest first (only the last `last` when given)."""
        if not self.progress_file.exists():
            return []
        events = []
        lines = self.progress_file.read_text().splitlines()
        for line in lines[-last:] if last else lines:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written right now
                break
        return events

    def request_stop(self) -> None:
        self.stop_file.write_text(now_iso())

    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    def clear_stop(self) -> None:
        self.stop_file.unlink(missing_ok=True)
