"""The `eqn` command line: a full round trip and bad input."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from eqn_core.cli.main import main as eqn


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
    assert eqn(["-w", ws, "export", "--run", "r1", "--split", "test", "--content", "thresholded", "--tuned",
                "-o", str(tmp_path / "test.parquet")]) == 0
    test = pd.read_parquet(tmp_path / "test.parquet")
    assert len(test) == 5427 and test["admiration"].between(0, 10).all()
    # a quick look (--max-train-rows) does not annotate the whole training split
    assert eqn(["-w", ws, "export", "--run", "r1", "--split", "train", "-o", str(tmp_path / "train.csv")]) == 2


def test_cli_bad_input_names_the_problem_and_changes_nothing(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,joy\n,anger\n")
    assert eqn(["-w", ws, "add", "mine", "--train", str(bad), "--label-format", "single"]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "row 2" in err and "text" in err
    assert eqn(["-w", ws, "datasets"]) == 0
    assert "no data sets yet" in capsys.readouterr().out


def test_train_help_states_the_defaults_a_run_really_gets(capsys):
    from eqn_core.method.config import TrainConfig

    with pytest.raises(SystemExit):
        eqn(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"how many top layers train (default {TrainConfig().trained_layers})" in text


# ------------------------------------------------------------------------ the CLI and the app side by side
def run_cli(workspace, *arguments: str, timeout: float = 300):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "eqn_core.cli", "-w", str(workspace), *arguments],
                          capture_output=True, text=True, cwd=repo, timeout=timeout)


def test_cli_commands_work_while_the_app_keeps_its_workspace_open(tmp_path, tiny_encoder_dir):
    """The app holds one Workspace object per process and keeps using it; CLI commands in other processes list,
    add, train and export meanwhile, and each side sees the other's writes."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    from conftest import make_dataset
    from eqn_core.store.workspace import Workspace

    app = Workspace(tmp_path / "ws")  # as ui.session keeps it: alive for the whole app process
    app.add_dataset(make_dataset())
    train = tmp_path / "train.csv"
    pd.DataFrame({"text": ["a happy day", "an angry day"], "labels": ["0", "1"]}).to_csv(train, index=False)
    assert run_cli(app.root, "datasets").returncode == 0
    added = run_cli(app.root, "add", "second", "--train", str(train), "--dev-fraction", "0.5")
    assert added.returncode == 0, added.stderr
    assert app.dataset_names() == ["second", "tiny"]  # the app sees the CLI's write at once
    repo = Path(__file__).resolve().parents[2]
    trainer = subprocess.Popen([sys.executable, "-m", "eqn_core.cli", "-w", str(app.root), "train", "--dataset",
                                "tiny", "--mode", "coeqn", "--encoder", tiny_encoder_dir, "--encoder-mode", "frozen",
                                "--epochs", "2", "--device", "cpu", "--run-id", "cli-run", "--quiet"],
                               cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reads = 0
    while trainer.poll() is None:  # the app keeps reading and writing while the CLI trains and ingests
        app.list_runs()
        app.save_threshold_profile("app-profile", run_id="cli-run", thresholds=np.full(4, 5.0)) \
            if "cli-run" in set(app.list_runs()["run_id"]) else None
        reads += 1
        time.sleep(0.05)
    out, err = trainer.communicate()
    assert trainer.returncode == 0, err  # the CLI ingested its run although the app had the workspace open
    assert reads > 5 and app.get_run("cli-run")["status"] == "finished"
    listed = run_cli(app.root, "runs")
    assert listed.returncode == 0 and "cli-run" in listed.stdout
    exported = run_cli(app.root, "export", "--run", "cli-run", "--split", "test", "--profile", "app-profile",
                       "-o", str(tmp_path / "out.csv"))
    assert exported.returncode == 0, exported.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == 16


def test_the_app_waits_while_a_cli_command_holds_the_workspace(tmp_path, monkeypatch):
    """The reverse: a CLI process in the middle of a write holds the database for a moment; the app's page
    waits for it instead of failing with WorkspaceBusyError."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from conftest import make_dataset
    from eqn_core.store.workspace import Workspace

    root = tmp_path / "ws"
    with Workspace(root) as workspace:
        workspace.add_dataset(make_dataset())
    repo = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from eqn_core.store.workspace import Workspace\n"
        "ws = Workspace(sys.argv[1])\n"
        "with ws.connection():\n"
        "    print('holding', flush=True)\n"
        "    time.sleep(3)\n"), str(root)], cwd=repo, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    monkeypatch.setenv("EQN_WORKSPACE", str(root))
    st.cache_data.clear()
    st.cache_resource.clear()
    started = time.monotonic()
    at = AppTest.from_file(str(repo / "app.py"), default_timeout=60).run()
    waited = time.monotonic() - started
    holder.wait(timeout=30)
    st.cache_resource.clear()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning and not at.error
    assert waited > 1.0  # it waited for the holder rather than failing
    assert any("tiny" in str(frame.value) for frame in at.dataframe) or any("tiny" in m.value for m in at.markdown)


def test_cli_exports_the_review_log(workspace_with_tiny, tmp_path, capsys):
    import numpy as np

    from eqn_core.store.workspace import Workspace

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
