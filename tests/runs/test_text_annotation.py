"""The annotation job (eqn_core.runs.text_annotation) in this process: shards, status, progress, a stop honoured
within a batch, resume, failure, and reading rows across row groups."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from eqn_core.io import text_files
from eqn_core.runs import text_annotation
from eqn_core.runs.text_annotation import RowReader, execute_annotation
from eqn_core.runs.text_jobs import annotate_text_set, ingest_annotation, prepare_annotation
from eqn_core.store.text_set_folders import AnnotationFolder
from eqn_core.store.text_sets import add_text_set, annotation_record
from eqn_core.store.workspace import Workspace
from text_set_support import LABELS, make_tiny_run, shard_energies


@pytest.fixture
def setup(tmp_path, tiny_encoder_dir, monkeypatch):
    monkeypatch.setattr(text_files, "ROW_GROUP_ROWS", 16)  # shards cross row groups
    (tmp_path / "t.txt").write_text("".join(f"line {i} {'word ' * (i % 7)}\n" for i in range(100)), encoding="utf-8")
    workspace = Workspace(tmp_path / "ws")
    run_id = make_tiny_run(workspace, tiny_encoder_dir)
    add_text_set(workspace, "notes", [tmp_path / "t.txt"])
    yield workspace, run_id
    workspace.close()


def test_a_stop_within_a_batch_keeps_whole_shards_and_a_rerun_resumes(setup, monkeypatch):
    workspace, run_id = setup
    monkeypatch.setattr(text_annotation, "PROGRESS_EVERY_SECONDS", 0)  # an event every batch, as on a slow machine
    asked = []

    def stop_after_five_batches() -> bool:
        asked.append(1)
        return len(asked) > 5

    folder = prepare_annotation(workspace, "notes", run_id=run_id, batch_size=4, shard_rows=12)
    status = execute_annotation(folder.path, should_stop=stop_after_five_batches)
    # 3 batches a shard: the stop came in shard 2's third batch, so shard 0 is whole and shard 1 was never written
    assert status["status"] == "stopped" and status["error"] == "stopped by the user"
    assert folder.shard_indices() == [0] and status["rows_done"] == 12 and status["shards_total"] == 9
    assert not [p for p in folder.path.iterdir() if p.name.endswith(".tmp")]
    assert ingest_annotation(workspace, "notes", run_id)["status"] == "stopped"
    assert annotation_record(workspace, "notes", run_id)["rows_done"] == 12
    stopped_events = len(folder.progress())

    status = annotate_text_set(workspace, "notes", run_id=run_id, batch_size=4)
    assert status["status"] == "finished" and status["rows_done"] == 100 and status["shards_done"] == 9
    assert folder.shard_indices() == list(range(9))
    table = pq.read_table(folder.shard_file(8))
    assert table.column_names == ["row_idx", *LABELS] and table.column("joy").type == "float"
    assert table.column("row_idx").to_pylist() == list(range(96, 100))
    provenance = json.loads(table.schema.metadata[b"eqn"])
    assert provenance["run_id"] == run_id and provenance["first_row"] == 96 and provenance["label_names"] == LABELS
    # the rerun counts on from the 12 rows kept (a slow machine may have logged rows of the dropped shard before)
    events = folder.progress()[stopped_events:]
    assert events[0]["rows_done"] == 12
    assert [e["rows_done"] for e in events] == sorted(e["rows_done"] for e in events)
    assert events[-1]["rows_done"] == events[-1]["total_rows"] == 100 and events[-1]["eta_seconds"] == 0

    from eqn_core.method.inference import annotate
    from eqn_core.runs.lifecycle import load_run_model

    model, config, _ = load_run_model(workspace.get_run(run_id)["run_dir"], device="cpu")
    texts = [f"line {i} {'word ' * (i % 7)}" for i in range(100)]
    expected = np.concatenate([annotate(model, texts[i:i + 12], mode=config.mode, batch_size=4, cpu_bf16=True)
                               for i in range(0, 100, 12)])
    np.testing.assert_array_equal(shard_energies(folder.path), expected)


def test_a_job_that_breaks_says_failed_and_why(setup):
    workspace, run_id = setup
    folder = prepare_annotation(workspace, "notes", run_id=run_id)
    job = json.loads(folder.job_file.read_text())
    folder.job_file.write_text(json.dumps({**job, "run_dir": str(folder.path / "no-such-run")}))
    status = execute_annotation(folder.path)
    assert status["status"] == "failed" and "no-such-run" in status["error"]
    assert "Traceback" in (folder.path / "error.txt").read_text()
    record = annotation_record(workspace, "notes", run_id)
    assert record["status"] == "queued"  # until ingested
    assert ingest_annotation(workspace, "notes", run_id)["status"] == "failed"
    assert annotation_record(workspace, "notes", run_id)["error"].startswith("FileNotFoundError")


def test_a_job_whose_process_died_is_failed_and_resumable(setup):
    workspace, run_id = setup
    folder = prepare_annotation(workspace, "notes", run_id=run_id, shard_rows=50)
    folder.write_status({**folder.status(), "status": "running", "pid": 2 ** 22 + 12345})  # no such process
    assert AnnotationFolder(folder.path).status()["status"] == "failed"
    assert annotate_text_set(workspace, "notes", run_id=run_id)["status"] == "finished"


def test_rows_are_read_across_row_groups(setup):
    workspace, _ = setup
    reader = RowReader(workspace.root / "textsets" / "notes" / "texts.parquet")
    assert reader.num_rows == 100
    for start, stop in ((0, 16), (10, 40), (95, 100), (16, 17), (0, 100)):
        rows = reader.read(start, stop)
        assert rows.column("row_idx").to_pylist() == list(range(start, stop))
        assert rows.column("text").to_pylist()[0].startswith(f"line {start} ")
