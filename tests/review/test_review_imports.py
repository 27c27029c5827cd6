"""Tests for eqn_core.review.imports (and io.review_files): a table of review decisions checked whole and stored as
submissions; the review log export reads back as the same decisions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import table_dump
from eqn_core.export.annotations import export_annotations
from eqn_core.export.files import neutralize_cell
from eqn_core.io.errors import DataError
from eqn_core.io.review_files import FORMULA_STARTS, read_review_file, restore_formula_cell
from eqn_core.review.imports import import_review_file, import_review_frame, text_id_rows
from eqn_core.store.workspace import Workspace
from review_support import RUN, SPLIT, make_review_workspace, stored_decisions

HEADER = "text_id,label,decision,energy,reviewer,note\n"
GOOD = HEADER + ('a,joy,accept,,ana,fine\n'
                 'a,anger,set,5.5,ana,fine\n'
                 'b,"so-so ""meh""",reject,0.25,ana,\n'
                 'b,joy,set,1,ben,hm\n')
COMPARED = ["text_id", "row_idx", "label", "model_energy", "reviewer_energy", "decision", "note", "reviewer"]


@pytest.fixture
def workspace(tmp_path):
    with Workspace(make_review_workspace(tmp_path / "ws")) as ws:
        yield ws


def write(tmp_path, text: str, name: str = "decisions.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_decisions_file_is_stored_as_one_submission_per_text_and_reviewer(workspace, tmp_path):
    summary = import_review_file(workspace, write(tmp_path, GOOD), run_id=RUN, split=SPLIT)
    assert summary == {"decisions": 4, "adjudications": 0, "submissions": 3, "texts": 2, "reviewers": ["ana", "ben"],
                       "stored": True}
    assert stored_decisions(workspace) == [("ana", "a", "joy", "accept", None), ("ana", "a", "anger", "set", 5.5),
                                           ("ana", "b", 'so-so "meh"', "reject", 0.25), ("ben", "b", "joy", "set", 1.0)]
    submissions = workspace.submissions(run_id=RUN, split=SPLIT)
    assert sorted(zip(submissions["text_id"], submissions["reviewer"], submissions["note"])) == [
        ("a", "ana", "fine"), ("b", "ana", ""), ("b", "ben", "hm")]
    assert set(workspace.reviews(run_id=RUN, split=SPLIT)["note"]) == {"fine", "", "hm"}


def test_text_ids_map_to_rows_of_the_runs_split(workspace):
    assert text_id_rows(workspace, RUN, SPLIT) == {"a": 0, "b": 1, "c": 2, "d": 3}
    with pytest.raises(KeyError):
        text_id_rows(workspace, RUN, "train")


BAD_ROWS = [  # (the data row, what the error must name)
    ("zz,joy,accept,,ana,", ["unknown text id 'zz'", "row 2", "column 'text_id'"]),
    ("a,happiness,accept,,ana,", ["unknown label 'happiness'", "row 2", "column 'label'"]),
    ("a,joy,approve,,ana,", ["unknown decision 'approve'", "column 'decision'"]),
    ("a,joy,set,10.5,ana,", ["outside [0, 10]", "column 'energy'"]),
    ("a,joy,set,-1,ana,", ["outside [0, 10]", "column 'energy'"]),
    ("a,joy,set,much,ana,", ["'much' is not a number", "column 'energy'"]),
    ("a,joy,set,,ana,", ['"set" decision needs the energy', "column 'energy'"]),
    ("a,joy,accept,,  ,", ["reviewer is empty", "column 'reviewer'"]),
]


@pytest.mark.parametrize("bad_row,expected", BAD_ROWS)
def test_a_bad_row_names_file_row_and_column_and_stores_nothing(workspace, tmp_path, bad_row, expected):
    path = write(tmp_path, HEADER + "a,joy,accept,,ana,\n" + bad_row + "\nb,joy,reject,,ben,\n")
    before = table_dump(workspace)
    with pytest.raises(DataError) as caught:
        import_review_file(workspace, path, run_id=RUN, split=SPLIT)
    message = str(caught.value)
    assert message.startswith("decisions.csv, row 2"), message
    for part in expected:
        assert part in message
    assert table_dump(workspace) == before


def test_missing_columns_and_foreign_splits_are_refused(workspace, tmp_path):
    with pytest.raises(DataError, match="missing column reviewer"):
        import_review_file(workspace, write(tmp_path, "text_id,label,decision,energy\na,joy,accept,\n"),
                           run_id=RUN, split=SPLIT)
    with pytest.raises(DataError, match=r"row 1 \(line 2\), column 'split': this decision is on split 'dev', not 'test'"):
        import_review_file(workspace, write(tmp_path, "split," + HEADER + "dev,a,joy,accept,,ana,\n"),
                           run_id=RUN, split=SPLIT)
    assert stored_decisions(workspace) == []


def test_decided_at_orders_the_decisions_and_the_latest_counts(workspace, tmp_path):
    path = write(tmp_path, "text_id,label,decision,energy,reviewer,decided_at\n"
                           "a,joy,set,2,ana,2026-01-02T10:00:00Z\n"
                           "a,joy,set,9,ana,2026-01-01T10:00:00Z\n")
    import_review_file(workspace, path, run_id=RUN, split=SPLIT)
    assert stored_decisions(workspace) == [("ana", "a", "joy", "set", 9.0), ("ana", "a", "joy", "set", 2.0)]
    assert workspace.reviews(run_id=RUN, split=SPLIT)["energy"].tolist() == [2.0]  # the later decision
    with pytest.raises(DataError, match="column 'decided_at': 'yesterday' is not a date"):
        import_review_file(workspace, write(tmp_path, "text_id,label,decision,energy,reviewer,decided_at\n"
                                                      "a,joy,accept,,ana,yesterday\n"), run_id=RUN, split=SPLIT)


def test_a_dry_run_checks_and_stores_nothing_and_a_frame_may_hold_typed_values(workspace):
    frame = pd.DataFrame({"text_id": ["c", "d"], "label": ["anger", "joy"],
                          "decision": ["set", "reject"], "energy": [7.0, np.nan], "reviewer": ["cy", "cy"],
                          "note": [np.nan, None]})
    before = table_dump(workspace)
    summary = import_review_frame(workspace, frame, run_id=RUN, split=SPLIT, dry_run=True)
    assert summary["stored"] is False and summary["decisions"] == 2 and summary["submissions"] == 2
    assert table_dump(workspace) == before
    import_review_frame(workspace, frame, run_id=RUN, split=SPLIT)
    assert stored_decisions(workspace) == [("cy", "c", "anger", "set", 7.0), ("cy", "d", "joy", "reject", None)]


def test_the_formula_guard_of_csv_exports_is_undone_on_reading():
    for start in FORMULA_STARTS:
        assert restore_formula_cell(neutralize_cell(f"{start}x")) == f"{start}x"
    assert restore_formula_cell("'quoted'") == "'quoted'" and restore_formula_cell("'") == "'"


def decide_everything(workspace):
    """Decisions of several kinds, a revision, a note a spreadsheet would run, and an adjudication."""
    workspace.submit_text_review(run_id=RUN, split=SPLIT, row_idx=0, reviewer="ana", note="=SUM(A1)",
                                 decisions=[{"label": "joy", "decision": "accept", "energy": 7.25},
                                            {"label": 'so-so "meh"', "decision": "reject", "energy": 3.5}])
    workspace.submit_text_review(run_id=RUN, split=SPLIT, row_idx=1, reviewer="ben",
                                 decisions=[{"label": "anger", "decision": "set", "energy": 2.5}])
    workspace.submit_text_review(run_id=RUN, split=SPLIT, row_idx=1, reviewer="ana", note="line one\nline two",
                                 decisions=[{"label": "anger", "decision": "set", "energy": 9.0}])
    workspace.submit_text_review(run_id=RUN, split=SPLIT, row_idx=1, reviewer="ben",
                                 decisions=[{"label": "anger", "decision": "set", "energy": 3.0}])  # ben revises
    workspace.record_review(run_id=RUN, split=SPLIT, row_idx=3, label="neutral", decision="set", energy=4.0,
                            reviewer="-dash")
    workspace.record_adjudication(run_id=RUN, split=SPLIT, row_idx=1, label="anger", energy=6.0, adjudicator="boss",
                                  note="settled")


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_the_review_log_imports_into_a_fresh_workspace_as_the_same_decisions(workspace, tmp_path, suffix):
    decide_everything(workspace)
    first = tmp_path / f"log.{suffix}"
    export_annotations(workspace, run_id=RUN, split=SPLIT, path=first, content="review-log")
    with Workspace(make_review_workspace(tmp_path / "fresh")) as fresh:
        summary = import_review_file(fresh, first, run_id=RUN, split=SPLIT)
        assert summary["decisions"] == 6 and summary["adjudications"] == 1 and summary["reviewers"] == [
            "-dash", "ana", "ben", "boss"]
        again = tmp_path / f"again.{suffix}"
        export_annotations(fresh, run_id=RUN, split=SPLIT, path=again, content="review-log")
        reviewed = tmp_path / "reviewed.parquet"
        export_annotations(fresh, run_id=RUN, split=SPLIT, path=reviewed, content="reviewed", thresholds=3.0)
        original_reviewed = tmp_path / "original_reviewed.parquet"
        export_annotations(workspace, run_id=RUN, split=SPLIT, path=original_reviewed, content="reviewed",
                           thresholds=3.0)
    before, after = read_review_file(first), read_review_file(again)
    pd.testing.assert_frame_equal(before[COMPARED], after[COMPARED])
    assert before["note"].tolist()[0] == "=SUM(A1)" and "line one\nline two" in before["note"].tolist()
    assert after["decision"].tolist()[-1] == "adjudicate" and after["reviewer"].tolist()[-1] == "boss"
    # and so the reviewed energies (and which rule gave each) are the same
    pd.testing.assert_frame_equal(pd.read_parquet(original_reviewed), pd.read_parquet(reviewed))
