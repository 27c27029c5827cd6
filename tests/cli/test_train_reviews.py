"""`eqn train --reviews RUN`: retrain with a run's train-split reviews; the record and the output say which."""
from __future__ import annotations

import pandas as pd
import pytest

from eqn_core.cli.main import main as eqn
from eqn_core.store.run_folders import RunFolder
from eqn_core.store.workspace import Workspace

TINY = ["--dataset", "tiny", "--encoder-mode", "frozen", "--epochs", "1", "--batch-size", "16", "--lr", "0.05",
        "--device", "cpu", "--quiet"]


def test_train_with_reviews_of_the_train_split(workspace_with_tiny, tiny_encoder_dir, capsys):
    ws = str(workspace_with_tiny)
    assert eqn(["-w", ws, "train", "--encoder", tiny_encoder_dir, *TINY, "--run-id", "first"]) == 0
    with Workspace(workspace_with_tiny) as workspace:
        labels = workspace.load_dataset("tiny").splits["train"].human_labels
        human_row = int(labels[:, 0].nonzero()[0][0])
        workspace.record_reviews([
            {"run_id": "first", "split": "train", "row_idx": 0, "label": "fear", "decision": "reject",
             "reviewer": "ana", "energy": 4.0},
            {"run_id": "first", "split": "train", "row_idx": human_row, "label": "joy", "decision": "set",
             "reviewer": "ana", "energy": 2.5},
            {"run_id": "first", "split": "test", "row_idx": 0, "label": "joy", "decision": "set", "reviewer": "ana",
             "energy": 9.0}])
    capsys.readouterr()
    assert eqn(["-w", ws, "train", "--encoder", tiny_encoder_dir, *TINY, "--run-id", "second",
                "--reviews", "first"]) == 0
    captured = capsys.readouterr()
    assert "with reviews of run first (train split only): 2 values on 2 texts by ana" in captured.err
    assert "human labels changed by a review: 1;" in captured.out
    with Workspace(workspace_with_tiny) as workspace:
        run = workspace.get_run("second")
    assert run["config"]["extra"]["reviews"]["decisions"] == 2  # the test-split review is not used
    targets = pd.read_parquet(RunFolder(run["run_dir"]).training_targets_file)
    assert targets.loc[0, "fear"] == 0.0 and targets.loc[human_row, "joy"] == 2.5


def test_train_with_reviews_refuses_a_run_without_train_reviews(workspace_with_tiny, tiny_encoder_dir, capsys):
    ws = str(workspace_with_tiny)
    assert eqn(["-w", ws, "train", "--encoder", tiny_encoder_dir, *TINY, "--run-id", "first"]) == 0
    capsys.readouterr()
    assert eqn(["-w", ws, "train", "--encoder", tiny_encoder_dir, *TINY, "--reviews", "first"]) == 2
    assert "no review decisions on its train split" in capsys.readouterr().err
    # reviewed own texts need the run whose annotation was reviewed, and a text set it annotated
    assert eqn(["-w", ws, "train", "--encoder", tiny_encoder_dir, *TINY, "--reviewed-texts", "diary"]) == 2
    assert "Name the run whose reviews of these texts to use" in capsys.readouterr().err
    assert eqn(["-w", ws, "train", "--encoder", tiny_encoder_dir, *TINY, "--reviews", "first",
                "--reviewed-texts", "diary"]) == 2
    assert "diary" in capsys.readouterr().err


def test_train_help_says_only_the_train_split_reviews_are_used(capsys):
    with pytest.raises(SystemExit):
        eqn(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "only the train split's reviews are used, never dev's or test's" in text
