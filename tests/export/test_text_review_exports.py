"""Exports of reviewed own texts (export.text_exports, content "reviewed" and "review-log"): a reviewed text carries
the reviewers' values and their rule, the others their thresholded energies; the log holds every decision with the
text ids of the set, and reads back as written."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import read_back
from eqn_core.export.text_exports import export_text_annotation
from eqn_core.store.text_sets import add_text_set, review_split
from text_set_support import LABELS, write_annotation

ENERGIES = np.array([[9.0, 0.5, 3.0, 0.3], [0.2, 7.5, 1.0, 0.5], [5.0, 6.0, 0.0, 9.5], [1.0, 1.0, 1.0, 1.0]],
                    dtype=np.float32)  # (4, 4)
H = 4.0
KEY = review_split("diary")


@pytest.fixture
def reviewed(workspace, tmp_path):
    pd.DataFrame({"text": ["a good day", "so cross with him", "scared of tomorrow", "=1+1"],
                  "id": ["d1", "d2", "d3", "d4"], "speaker": ["P1", "P2", "P1", "P3"]}).to_csv(
        tmp_path / "diary.csv", index=False)
    add_text_set(workspace, "diary", [tmp_path / "diary.csv"])
    write_annotation(workspace, "diary", "r", ENERGIES, shard_rows=3)
    workspace.submit_text_review(run_id="r", split=KEY, row_idx=1, reviewer="ana", note="=cmd",
                                 decisions=[{"label": "anger", "decision": "reject"},
                                            {"label": "fear", "decision": "set", "energy": 6.0}])
    workspace.submit_text_review(run_id="r", split=KEY, row_idx=1, reviewer="ben",
                                 decisions=[{"label": "fear", "decision": "set", "energy": 8.0}])
    workspace.submit_text_review(run_id="r", split=KEY, row_idx=2, reviewer="ana",
                                 decisions=[{"label": "joy", "decision": "accept", "energy": 5.0}])
    workspace.record_adjudication(run_id="r", split=KEY, row_idx=1, label="anger", energy=2.5, adjudicator="boss")
    return workspace


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_reviewed_export_has_the_reviewers_values_and_thresholded_energies_elsewhere(reviewed, tmp_path, fmt):
    result = export_text_annotation(reviewed, "diary", run_id="r", path=tmp_path / f"reviewed.{fmt}",
                                    content="reviewed", thresholds=H)
    frame = read_back(result["path"], fmt)
    assert frame["text_id"].tolist() == ["d1", "d2", "d3", "d4"] and "speaker" in frame
    values = frame[LABELS].to_numpy(dtype=np.float64)  # (4, 4)
    thresholded = np.where(ENERGIES >= H, ENERGIES, 0.0)
    np.testing.assert_allclose(values[[0, 3]], thresholded[[0, 3]], atol=1e-6)
    # row 1: anger adjudicated to 2.5; fear: ana 6 and ben 8 -> their mean 7; ben left anger untouched
    np.testing.assert_allclose(values[1], [0.0, 2.5, 7.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(values[2], [5.0, 6.0, 0.0, 9.5], atol=1e-6)
    assert frame["review_count"].tolist() == [0, 2, 1, 0]
    assert frame["reviewers"].fillna("").tolist() == ["", "ana,ben", "ana", ""]
    sources = json.loads(frame["review_sources"].iloc[1])
    assert sources == {"anger": "adjudicated", "fear": "mean of reviewers"}
    meta = json.loads(result["metadata"].read_text())
    assert meta["content"] == "reviewed" and meta["reviewed_texts"] == 2 and meta["reviewed_rules"]


def test_reviewed_export_of_one_text_and_of_one_reviewer(reviewed, tmp_path):
    result = export_text_annotation(reviewed, "diary", run_id="r", path=tmp_path / "one.csv", content="reviewed",
                                    thresholds=H, rows=[1], reviewer="ben")
    frame = read_back(result["path"], "csv")
    assert frame["text_id"].tolist() == ["d2"]
    np.testing.assert_allclose(frame[LABELS].to_numpy(dtype=np.float64)[0], [0.0, 7.5, 8.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_review_log_holds_every_decision_with_the_sets_text_ids(reviewed, tmp_path, fmt):
    result = export_text_annotation(reviewed, "diary", run_id="r", path=tmp_path / f"log.{fmt}",
                                    content="review-log")
    log = read_back(result["path"], fmt)
    assert result["rows"] == len(log) == 5
    assert set(log["text_set"]) == {"diary"} and set(log["run_id"]) == {"r"}
    rows = log[log["decision"] != "adjudicate"].sort_values("decision_id")
    assert rows[["text_id", "row_idx", "label", "decision", "reviewer"]].values.tolist()[:4] == [
        ["d2", 1, "anger", "reject", "ana"], ["d2", 1, "fear", "set", "ana"], ["d2", 1, "fear", "set", "ben"],
        ["d3", 2, "joy", "accept", "ana"]]
    assert log[log["decision"] == "adjudicate"][["text_id", "reviewer_energy"]].values.tolist() == [["d2", 2.5]]
    np.testing.assert_allclose(rows["model_energy"].to_numpy(dtype=np.float64), [7.5, 1.0, 1.0, 5.0])
    if fmt == "csv":
        assert (log["note"] == "'=cmd").sum() == 2  # a note a spreadsheet would run is neutralised
