"""Tests for `eqn review import`, `eqn review import-label-studio` and `eqn export --format hf-dataset |
label-studio` (eqn_core/cli/review_commands.py, eqn_core/cli/tool_exports.py)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import table_dump
from eqn_core.cli.main import main as eqn
from eqn_core.store.workspace import Workspace
from review_support import (
    LABEL_STUDIO_DECISIONS,
    LABEL_STUDIO_EXPORT,
    LABEL_STUDIO_USERS,
    RUN,
    SPLIT,
    add_accounts,
    make_review_workspace,
    stored_decisions,
)


@pytest.fixture
def root(tmp_path):
    return str(make_review_workspace(tmp_path / "ws"))


def test_review_import_stores_a_decisions_file_and_a_bad_one_not_at_all(root, tmp_path, capsys):
    good = tmp_path / "decisions.parquet"
    pd.DataFrame({"text_id": ["a", "b"], "label": ["joy", "anger"], "decision": ["set", "reject"],
                  "energy": [6.5, None], "reviewer": ["ana", "ana"]}).to_parquet(good)
    assert eqn(["-w", root, "review", "import", str(good), "--run", RUN, "--split", SPLIT, "--dry-run"]) == 0
    assert "checked (nothing stored, --dry-run): 2 decisions on 2 texts" in capsys.readouterr().out
    assert eqn(["-w", root, "review", "import", str(good), "--run", RUN, "--split", SPLIT]) == 0
    assert capsys.readouterr().out.strip() == (f"stored 2 decisions on 2 texts (2 submissions) by ana for run {RUN}, "
                                               f"split {SPLIT}")
    bad = tmp_path / "bad.csv"
    bad.write_text("text_id,label,decision,energy,reviewer\nc,joy,accept,,ben\nd,joy,set,12,ben\n")
    with Workspace(root) as workspace:
        before = table_dump(workspace)
    assert eqn(["-w", root, "review", "import", str(bad), "--run", RUN, "--split", SPLIT]) == 2
    assert capsys.readouterr().err.strip() == ("eqn: error: bad.csv, row 2 (line 3), column 'energy': the energy 12 "
                                               "is outside [0, 10]")
    with Workspace(root) as workspace:
        assert table_dump(workspace) == before
        assert stored_decisions(workspace) == [("ana", "a", "joy", "set", 6.5), ("ana", "b", "anger", "reject", None)]
    assert eqn(["-w", root, "review", "import", str(good), "--run", "nope", "--split", SPLIT]) == 2
    assert "nope" in capsys.readouterr().err


def test_review_log_out_and_back_in_through_the_command_line(root, tmp_path, capsys):
    assert eqn(["-w", root, "review", "import", str(_decisions(tmp_path)), "--run", RUN, "--split", SPLIT]) == 0
    log = tmp_path / "log.csv"
    assert eqn(["-w", root, "export", "--run", RUN, "--split", SPLIT, "--content", "review-log", "-o", str(log)]) == 0
    fresh = str(make_review_workspace(tmp_path / "fresh"))
    assert eqn(["-w", fresh, "review", "import", str(log), "--run", RUN, "--split", SPLIT]) == 0
    again = tmp_path / "again.csv"
    assert eqn(["-w", fresh, "export", "--run", RUN, "--split", SPLIT, "--content", "review-log", "-o", str(again)]) == 0
    columns = ["text_id", "label", "model_energy", "reviewer_energy", "decision", "note", "reviewer"]
    pd.testing.assert_frame_equal(pd.read_csv(log)[columns], pd.read_csv(again)[columns])


def _decisions(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text_id,label,decision,energy,reviewer,note\na,joy,accept,,ana,'=ok\nb,anger,set,2,ben,\n")
    return path


def test_label_studio_round_trip_through_the_command_line(root, tmp_path, capsys):
    tasks = tmp_path / "tasks.json"
    assert eqn(["-w", root, "export", "--run", RUN, "--split", SPLIT, "--format", "label-studio", "-o", str(tasks),
                "--threshold", "3"]) == 0
    assert "wrote 4 Label Studio tasks" in capsys.readouterr().out
    assert len(json.loads(tasks.read_text())) == 4 and (tmp_path / "tasks.config.xml").is_file()
    accounts = add_accounts(tmp_path / "users.json")
    args = ["-w", root, "review", "import-label-studio", str(LABEL_STUDIO_EXPORT), "--run", RUN, "--split", SPLIT,
            "--users", str(LABEL_STUDIO_USERS)]
    assert eqn(args) == 2  # the workspace has no accounts
    assert "annotator ana@example.org has no account" in capsys.readouterr().err
    assert eqn(args + ["--accounts", str(accounts)]) == 0
    assert "stored 7 decisions on 2 texts (3 submissions) by Ben@Example.org, ana@example.org" in \
        capsys.readouterr().out
    with Workspace(root) as workspace:
        assert stored_decisions(workspace) == LABEL_STUDIO_DECISIONS


def test_hf_dataset_export_and_the_options_that_do_not_go_together(root, tmp_path, capsys):
    pytest.importorskip("datasets")
    out = tmp_path / "hf"
    assert eqn(["-w", root, "export", "--run", RUN, "--split", SPLIT, "--format", "hf-dataset", "-o", str(out),
                "--content", "thresholded", "--threshold", "5"]) == 0
    assert f"wrote a Hugging Face dataset of 4 rows (thresholded) to {out.resolve()}" in capsys.readouterr().out
    assert (out / "README.md").is_file() and (out / "dataset_info.json").is_file()
    for extra, message in ((["--format", "csv", "--push-to-hub", "a/b"], "--push-to-hub goes with --format hf-dataset"),
                           (["--format", "label-studio", "--content", "binary"], "do not apply"),
                           (["--format", "hf-dataset", "--content", "review-log"], "not 'review-log'")):
        assert eqn(["-w", root, "export", "--run", RUN, "--split", SPLIT, "-o", str(tmp_path / "x.json"), *extra]) == 2
        assert message in capsys.readouterr().err
    plain = tmp_path / "plain.csv"  # the other formats go on as before
    assert eqn(["-w", root, "export", "--run", RUN, "--split", SPLIT, "-o", str(plain)]) == 0
    assert len(pd.read_csv(plain)) == 4
