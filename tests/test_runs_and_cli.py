"""Run folders and the `eqn` command line: a full round trip, stop, failure, and the real bundled encoder."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from eqn_core.cli import main as eqn
from eqn_core.config import TrainConfig
from eqn_core.runs import RunFolder, delete_run, execute_run, ingest_run, prepare_run
from eqn_core.workspace import Workspace


def tiny_config(encoder: str, **overrides) -> TrainConfig:
    values = dict(dataset="tiny", mode="eqn", encoder=encoder, encoder_mode="frozen", epochs=2, batch_size=16,
                  learning_rate=0.05, device="cpu")
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture
def workspace_with_tiny(tmp_path, tiny_dataset):
    with Workspace(tmp_path / "ws") as workspace:
        workspace.add_dataset(tiny_dataset)
    return tmp_path / "ws"


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


def test_a_dead_training_process_is_reported_failed(tmp_path):
    folder = RunFolder(tmp_path)
    folder.status_file.write_text(json.dumps({"status": "running", "pid": 2**22 + 12345}))
    assert folder.status()["status"] == "failed"


def test_cli_round_trip_fetch_train_evaluate_annotate_export(tmp_path, shared_data, tiny_encoder_dir, capsys):
    ws = str(tmp_path / "ws")
    assert eqn(["-w", ws, "fetch", "goemotions", "--from", str(shared_data / "goemotions")]) == 0
    assert "train 43,410" in capsys.readouterr().out
    assert eqn(["-w", ws, "train", "--mode", "eqn", "--encoder", tiny_encoder_dir, "--encoder-mode", "frozen",
                "--epochs", "1", "--max-train-rows", "300", "--run-id", "r1", "--quiet"]) == 0
    assert "run r1 finished" in capsys.readouterr().out
    assert eqn(["-w", ws, "evaluate", "--run", "r1", "--split", "test", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["label_count"] for row in report["hit_rates"]] == ["1", "2", "3", "4+", "total"]
    assert report["hit_rates"][0]["num_texts"] == 4590
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["I love this so much", "what a terrible day"]}).to_csv(texts, index=False)
    assert eqn(["-w", ws, "annotate", "--run", "r1", str(texts), "-o", str(tmp_path / "out.jsonl")]) == 0
    annotated = pd.read_json(tmp_path / "out.jsonl", lines=True)
    assert len(annotated) == 2 and "admiration" in annotated.columns
    assert eqn(["-w", ws, "export", "--run", "r1", "--split", "train", "--content", "thresholded", "--tuned",
                "-o", str(tmp_path / "train.parquet")]) == 0
    train = pd.read_parquet(tmp_path / "train.parquet")
    assert len(train) == 43410 and train["admiration"].between(0, 10).all()


def test_cli_bad_input_names_the_problem_and_changes_nothing(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,joy\n,anger\n")
    assert eqn(["-w", ws, "add", "mine", "--train", str(bad), "--label-format", "single"]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "row 2" in err and "text" in err
    assert eqn(["-w", ws, "datasets"]) == 0
    assert "no data sets yet" in capsys.readouterr().out


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


@pytest.mark.slow
def test_real_bundled_encoder_finetunes_on_real_goemotions_rows(tmp_path, shared_data):
    """The product's default encoder, trained end to end on a few dozen real rows: loss falls, energies sane."""
    from eqn_core.data import load_goemotions

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
