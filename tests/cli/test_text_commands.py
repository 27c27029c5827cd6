"""`eqn texts`: add, list, show, annotate (Ctrl+C stops cleanly, the same command resumes), export, stop, remove;
errors say `eqn: error:` with file, row and column."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from eqn_core.cli.main import main as eqn
from eqn_core.store.text_set_folders import AnnotationFolder, annotation_path
from eqn_core.store.workspace import Workspace
from text_set_support import LABELS, make_tiny_run, shard_energies


@pytest.fixture
def ws(tmp_path, tiny_encoder_dir):
    with Workspace(tmp_path / "ws") as workspace:
        make_tiny_run(workspace, tiny_encoder_dir)
    return str(tmp_path / "ws")


def test_add_annotate_export_remove(ws, tmp_path, capsys):
    (tmp_path / "talk.jsonl").write_text("".join(json.dumps({"utterance": f"I said {i}", "who": f"P{i % 2}",
                                                             "turn": i}) + "\n" for i in range(30)))
    assert eqn(["-w", ws, "texts", "add", "talk", str(tmp_path / "talk.jsonl"), "--text-column", "utterance"]) == 0
    assert "text set talk: 30 texts from 1 file(s); metadata: who, turn" in capsys.readouterr().out
    assert eqn(["-w", ws, "texts", "annotate", "talk", "--run", "tiny-run", "--batch-size", "8", "--quiet"]) == 0
    assert "annotated talk with tiny-run: 30 of 30 texts" in capsys.readouterr().err
    assert eqn(["-w", ws, "texts", "list"]) == 0
    out = capsys.readouterr().out
    assert "talk" in out and "tiny-run finished" in " ".join(out.split())
    assert eqn(["-w", ws, "texts", "show", "talk"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["rows"] == 30 and shown["annotations"][0]["status"] == "finished"

    output = tmp_path / "talk.csv"
    assert eqn(["-w", ws, "texts", "export", "talk", "--run", "tiny-run", "-o", str(output), "--content", "binary",
                "--threshold", "5"]) == 0
    assert "wrote 30 rows (binary, csv)" in capsys.readouterr().out
    frame = pd.read_csv(output)
    with Workspace(ws) as workspace:
        energies = shard_energies(annotation_path(workspace, "talk", "tiny-run"))
    np.testing.assert_array_equal(frame[LABELS].to_numpy(), (energies >= 5).astype(int))
    assert frame["who"].tolist()[:2] == ["P0", "P1"] and frame["turn"].tolist()[:2] == [0, 1]
    assert eqn(["-w", ws, "texts", "export", "talk", "--run", "tiny-run", "-o", str(tmp_path / "one.parquet"),
                "--rows", "4", "--tuned", "--content", "thresholded"]) == 0
    one = pd.read_parquet(tmp_path / "one.parquet")
    np.testing.assert_array_equal(one[LABELS].to_numpy()[0],
                                  np.where(energies[4] >= [2.0, 3.0, 4.0, 5.0], energies[4], 0))

    assert eqn(["-w", ws, "texts", "remove", "talk", "--run", "tiny-run"]) == 0
    assert eqn(["-w", ws, "texts", "remove", "talk"]) == 0
    assert "removed text set talk" in capsys.readouterr().out
    assert eqn(["-w", ws, "texts", "list"]) == 0
    assert "no text sets yet" in capsys.readouterr().out


def test_errors_say_where(ws, tmp_path, capsys):
    (tmp_path / "bad.csv").write_bytes(b"text,speaker\nfine,A\n\xff,B\n")
    assert eqn(["-w", ws, "texts", "add", "bad", str(tmp_path / "bad.csv")]) == 2
    assert capsys.readouterr().err.strip() == ("eqn: error: bad.csv, row 2 (line 3), column 'text': not UTF-8: byte "
                                               "0xff; save the file as UTF-8")
    assert eqn(["-w", ws, "texts", "annotate", "nothing", "--run", "tiny-run"]) == 2
    assert "eqn: error: No text set named 'nothing'" in capsys.readouterr().err
    (tmp_path / "ok.txt").write_text("hello\n")
    assert eqn(["-w", ws, "texts", "add", "ok", str(tmp_path / "ok.txt")]) == 0
    assert eqn(["-w", ws, "texts", "annotate", "ok"]) == 2  # no shipped model in tests: the default run is absent
    assert "eqn: error: No run 'goemotions-eqn'" in capsys.readouterr().err
    assert eqn(["-w", ws, "texts", "export", "ok", "--run", "tiny-run", "-o", str(tmp_path / "x.csv")]) == 2
    assert "has no annotation by run 'tiny-run'" in capsys.readouterr().err


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(ws, tmp_path, capsys):
    (tmp_path / "many.txt").write_text("".join(f"text number {i} with some words\n" for i in range(4000)))
    assert eqn(["-w", ws, "texts", "add", "many", str(tmp_path / "many.txt")]) == 0
    command = [sys.executable, "-m", "eqn_core.cli", "-w", ws, "texts", "annotate", "many", "--run", "tiny-run",
               "--batch-size", "8", "--shard-rows", "20", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    with Workspace(ws) as workspace:
        folder = AnnotationFolder(annotation_path(workspace, "many", "tiny-run"))
    deadline = time.monotonic() + 60
    while not folder.shard_indices() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)  # Ctrl+C
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "stopped after" in err and "run the same command again to resume" in err
    kept = folder.shard_indices()
    assert 0 < len(kept) < 200 and folder.status()["status"] == "stopped"
    assert eqn(["-w", ws, "texts", "annotate", "many", "--run", "tiny-run", "--batch-size", "8", "--quiet"]) == 0
    assert "4,000 of 4,000 texts" in capsys.readouterr().err
    assert folder.shard_indices() == list(range(200))
