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
