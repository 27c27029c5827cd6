"""The training process (eqn_core.runs.process): a full run, progress, stop, failure, and the real bundled encoder."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from conftest import tiny_config
from eqn_core.method.config import TrainConfig
from eqn_core.runs.lifecycle import ingest_run, prepare_run
from eqn_core.runs.process import execute_run
from eqn_core.store.workspace import Workspace


def test_eqn_run_is_ingested_with_energies_metrics_and_its_model1(workspace_with_tiny, tiny_encoder_dir):
    with Workspace(workspace_with_tiny) as workspace:
        folder = prepare_run(workspace, tiny_config(tiny_encoder_dir))
        status = execute_run(folder.path, cache_dir=workspace.cache_dir)
        assert status["status"] == "finished", status
        ingest_run(workspace, folder.path.name)
        run = workspace.get_run(folder.path.name)
        assert run["status"] == "finished"
        assert set(workspace.energy_splits(run["run_id"])) == {"train", "dev", "test"}
        train = workspace.load_energies(run["run_id"], "train")
        labels = workspace.load_dataset("tiny").splits["train"].human_labels
        assert np.all(train[labels] == 10.0)  # the regressed training set (paper Figure 5)
        assert run["metrics"]["splits"]["test"]["hit_rates"][-1]["label_count"] == "total"
        # the record says what it ran on, so its times can be compared across machines
        assert re.fullmatch(r"cpu: .+, \d+ cores, (no )?native bf16", run["metrics"]["timing"]["device"])
        model1 = workspace.get_run(f"{run['run_id']}.model1")
        assert model1["mode"] == "coeqn" and model1["status"] == "finished"
        assert workspace.load_energies(model1["run_id"], "test").shape == (16, 4)
        profiles = workspace.list_threshold_profiles(run_id=run["run_id"])
        assert len(profiles) == 1  # the per-label thresholds tuned on dev, reusable by review and export


def test_progress_on_the_terminal_names_each_model_and_its_epochs(workspace_with_tiny, tiny_encoder_dir, capsys):
    with Workspace(workspace_with_tiny) as workspace:
        folder = prepare_run(workspace, tiny_config(tiny_encoder_dir))
        assert execute_run(folder.path, cache_dir=workspace.cache_dir, show_progress=True)["status"] == "finished"
    err = capsys.readouterr().err
    for phase in ("model 1", "model 2"):
        for epoch in (1, 2):
            assert f"{phase}: epoch {epoch}/2 train loss" in err
    annotating = [e for e in folder.progress() if e.get("phase") == "annotating test"]
    assert annotating[0]["step"] == 0 and annotating[-1]["step"] == annotating[-1]["total_steps"] == 16


def test_a_stopped_run_leaves_a_clean_stopped_record(workspace_with_tiny, tiny_encoder_dir):
    with Workspace(workspace_with_tiny) as workspace:
        folder = prepare_run(workspace, tiny_config(tiny_encoder_dir))
        folder.request_stop()
        status = execute_run(folder.path, cache_dir=workspace.cache_dir)
        assert status["status"] == "stopped"
        assert not folder.weights_file.exists() and not folder.energies_file("test").exists()
        ingest_run(workspace, folder.path.name)
        run = workspace.get_run(folder.path.name)
        assert run["status"] == "stopped" and run["finished_at"] is not None
        assert workspace.energy_splits(run["run_id"]) == []


def test_a_failing_run_says_failed_and_why(workspace_with_tiny, tmp_path):
    with Workspace(workspace_with_tiny) as workspace:
        folder = prepare_run(workspace, tiny_config(str(tmp_path / "no-such-encoder")))
        status = execute_run(folder.path, cache_dir=workspace.cache_dir)
        assert status["status"] == "failed"
        assert "no-such-encoder" in status["error"]
        assert (folder.path / "error.txt").exists()
        ingest_run(workspace, folder.path.name)
        assert workspace.get_run(folder.path.name)["status"] == "failed"


@pytest.mark.slow
def test_real_bundled_encoder_finetunes_on_real_goemotions_rows(tmp_path, shared_data):
    """The product's default encoder, trained end to end on a few dozen real rows: loss falls, energies sane."""
    from eqn_core.io.datasets import load_goemotions

    dataset = load_goemotions(shared_data / "goemotions")
    for name, size in (("train", 48), ("dev", 24), ("test", 24)):
        split = dataset.splits[name]
        split.texts, split.human_labels, split.text_ids = (split.texts[:size], split.human_labels[:size],
                                                           split.text_ids[:size])
    dataset.name = "goemotions-sample"
    with Workspace(tmp_path / "ws") as workspace:
        workspace.add_dataset(dataset)
        config = TrainConfig(dataset="goemotions-sample", mode="eqn", encoder_mode="finetune", epochs=2,
                             batch_size=16, max_length=48, device="cpu")
        folder = prepare_run(workspace, config)
        status = execute_run(folder.path, cache_dir=workspace.cache_dir)
        assert status["status"] == "finished", status
        ingest_run(workspace, folder.path.name)
        energies = workspace.load_energies(folder.path.name, "test")
    assert energies.shape == (24, 28)
    assert 0.0 <= energies.min() and energies.max() <= 10.0
    history = json.loads(folder.metrics_file.read_text())["phases"][0]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    shutil.rmtree(folder.path)


@pytest.mark.parametrize("phase", ["embedding train", "embedding dev", "model 1", "annotating train",
                                   "annotating test"])
def test_stop_acts_within_one_batch_in_every_phase(tmp_path, tiny_encoder_dir, monkeypatch, phase):
    """A Stop seen after the first batch of any phase ends the run "stopped" before that phase's next batch."""
    from conftest import make_dataset
    from eqn_core.runs import process as execute

    with Workspace(tmp_path / "ws") as workspace:
        workspace.add_dataset(make_dataset(rows_per_split=(600, 300, 300)))
        folder = prepare_run(workspace, tiny_config(tiny_encoder_dir, batch_size=64))
    write = execute.ProgressLog.write

    def write_and_stop(self, event):
        write(self, event)
        if event.get("phase") == phase and event.get("event") == "step" and event.get("step", 0) > 0:
            folder.request_stop()

    monkeypatch.setattr(execute.ProgressLog, "write", write_and_stop)
    status = execute_run(folder.path, cache_dir=tmp_path / "ws" / "cache")
    assert status["status"] == "stopped", status
    steps = [e for e in folder.progress() if e.get("phase") == phase and e.get("event") == "step" and e["step"] > 0]
    assert len(steps) == 1 or (phase == "model 1" and steps[-1]["step"] <= 10), steps  # one batch, then nothing
    assert json.loads(folder.status_file.read_text())["status"] == "stopped"


def test_a_quick_look_skips_annotating_the_whole_training_split(workspace_with_tiny, tiny_encoder_dir):
    with Workspace(workspace_with_tiny) as workspace:
        folder = prepare_run(workspace, tiny_config(tiny_encoder_dir, max_train_rows=20))
        assert execute_run(folder.path, cache_dir=workspace.cache_dir)["status"] == "finished"
        ingest_run(workspace, folder.path.name)
        assert workspace.energy_splits(folder.path.name) == ["dev", "test"]
    phases = {e.get("phase") for e in folder.progress()}
    assert "annotating train" in phases  # EQN's regression still scores the 20 rows it trained on
    train_steps = [e for e in folder.progress() if e.get("phase") == "annotating train"]
    assert max(e["total_steps"] for e in train_steps) == 20


def test_a_killed_run_is_reconciled_to_failed_on_disk(workspace_with_tiny, tiny_encoder_dir):
    import subprocess
    import sys

    from eqn_core.runs.lifecycle import start_run_process
    from eqn_core.store.run_folders import RunFolder

    with Workspace(workspace_with_tiny) as workspace:
        folder = prepare_run(workspace, tiny_config(tiny_encoder_dir, epochs=200))
        pid = start_run_process(folder.path, cache_dir=workspace.cache_dir)
        subprocess.run([sys.executable, "-c", f"import os, signal; os.kill({pid}, signal.SIGKILL)"], check=True)
        os_wait(pid)
        assert RunFolder(folder.path).status()["status"] == "failed"
        assert json.loads(folder.status_file.read_text())["status"] == "failed"  # written back, not only shown
        ingest_run(workspace, folder.path.name)
        run = workspace.get_run(folder.path.name)
        assert run["status"] == "failed" and "ended unexpectedly" in run["error"]


def os_wait(pid: int) -> None:
    import os

    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
