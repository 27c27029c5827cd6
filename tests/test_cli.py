"""The `eqn` command line: a full round trip and bad input."""
from __future__ import annotations

import json

import pandas as pd

from eqn_core.cli import main as eqn


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


def test_cli_exports_the_review_log(workspace_with_tiny, tmp_path, capsys):
    import numpy as np

    from eqn_core.workspace import Workspace

    with Workspace(workspace_with_tiny) as workspace:
        workspace.create_run("r", dataset="tiny", mode="eqn", encoder="x", config={}, run_dir="runs/r")
        workspace.store_energies("r", "test", np.full((16, 4), 1.0, dtype=np.float32))
        workspace.submit_text_review(run_id="r", split="test", row_idx=2, reviewer="ana", note="hm",
                                     decisions=[{"label": "fear", "decision": "set", "energy": 6.0}])
        workspace.submit_text_review(run_id="r", split="test", row_idx=2, reviewer="ana",
                                     decisions=[{"label": "fear", "decision": "set", "energy": 5.0}])
    out = tmp_path / "log.csv"
    assert eqn(["-w", str(workspace_with_tiny), "export", "--run", "r", "--content", "review-log", "-o", str(out)]) == 0
    assert "provenance" in capsys.readouterr().out
    log = pd.read_csv(out)
    assert log[["text_id", "label", "model_energy", "reviewer_energy", "decision", "reviewer"]].values.tolist() == [
        ["test-2", "fear", 1.0, 6.0, "set", "ana"], ["test-2", "fear", 1.0, 5.0, "set", "ana"]]
    assert json.loads((tmp_path / "log.csv.meta.json").read_text())["content"] == "review-log"
