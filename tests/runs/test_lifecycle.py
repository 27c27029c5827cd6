"""Run folders and the run lifecycle (eqn_core.runs): status of a dead process, deleting runs."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import tiny_config
from eqn_core.cli.main import main as eqn
from eqn_core.runs.lifecycle import delete_run, ingest_run, prepare_run
from eqn_core.runs.process import execute_run
from eqn_core.store.run_folders import RunFolder
from eqn_core.store.workspace import Workspace


def test_a_dead_training_process_is_reported_failed(tmp_path):
    folder = RunFolder(tmp_path)
    folder.status_file.write_text(json.dumps({"status": "running", "pid": 2**22 + 12345}))
    assert folder.status()["status"] == "failed"


def test_delete_takes_the_run_its_model1_and_folder_but_never_silently_its_reviews(workspace_with_tiny,
                                                                                   tiny_encoder_dir, capsys):
    ws = str(workspace_with_tiny)
    with Workspace(ws) as workspace:
        folder = prepare_run(workspace, tiny_config(tiny_encoder_dir), run_id="r1")
        execute_run(folder.path, cache_dir=workspace.cache_dir)
        ingest_run(workspace, "r1")
        workspace.record_review(run_id="r1", split="test", row_idx=0, label="joy", decision="accept", reviewer="ana")
        with pytest.raises(ValueError, match="1 review decisions"):
            delete_run(workspace, "r1")
        assert {"r1", "r1.model1"} <= set(workspace.list_runs()["run_id"]) and folder.path.is_dir()  # unchanged
    assert eqn(["-w", ws, "delete", "--dataset", "tiny"]) == 2
    assert "used by runs" in capsys.readouterr().err
    assert eqn(["-w", ws, "delete", "--run", "r1", "--with-reviews"]) == 0
    assert "r1.model1, r1" in capsys.readouterr().out
    assert not folder.path.exists()
    assert eqn(["-w", ws, "delete", "--dataset", "tiny"]) == 0
    with Workspace(ws) as workspace:
        assert workspace.list_runs().empty and workspace.reviews().empty and workspace.dataset_names() == []


def test_a_run_in_progress_cannot_be_deleted(workspace_with_tiny, tiny_encoder_dir):
    with Workspace(workspace_with_tiny) as workspace:
        folder = prepare_run(workspace, tiny_config(tiny_encoder_dir), run_id="r1")  # queued, not started yet
        with pytest.raises(ValueError, match="still queued; stop it first"):
            delete_run(workspace, "r1")
        assert workspace.get_run("r1")["status"] == "queued" and folder.path.is_dir()


def test_the_training_process_entry_point_the_app_starts_exists():
    # start_run_process launches `python -m eqn_core.runs.process RUN_DIR --cache-dir DIR`
    result = subprocess.run([sys.executable, "-m", "eqn_core.runs.process", "--help"], capture_output=True, text=True,
                            check=True)
    assert "Execute a prepared EQN run folder" in result.stdout and "--cache-dir" in result.stdout
