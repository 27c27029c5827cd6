"""Tests for eqn_core.export.annotations: CSV / Parquet / JSONL files with energies, eq. 8 thresholds and review decisions."""
import json

import numpy as np
import pandas as pd
import pytest

from conftest import read_back
from eqn_core.export import annotations
from eqn_core.export.annotations import export_annotations
from eqn_core.io.datasets import LabeledDataset, LabeledSplit
from eqn_core.method.thresholds import ThresholdSetting
from eqn_core.store.workspace import Workspace

LABELS = ["joy", "Anger", 'so-so "meh"']  # a capital and a quoted name: identifiers must be quoted
TEXTS = ['He said "no", twice', "first line\nsecond line", "café 😊", "plain"]
ENERGIES = np.array([[9.0, 0.5, 3.25],
                     [0.25, 7.5, 1.0],
                     [5.0, 5.0, 0.0],
                     [2.0, 6.125, 3.3]], dtype=np.float32)  # (N=4, C=3)
THRESHOLDS = np.array([5.0, 6.0, 3.0])  # (C,)
FORMATS = {"csv": "out.csv", "parquet": "out.parquet", "jsonl": "out.jsonl"}


@pytest.fixture
def workspace(tmp_path):
    test = LabeledSplit(texts=list(TEXTS), text_ids=["a", "b", "c", "d"],
                        human_labels=np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, 0]], dtype=bool))
    dataset = LabeledDataset(name="tiny", label_names=list(LABELS), splits={"test": test}, multi_label=True,
                             source="memory")
    with Workspace(tmp_path / "ws") as ws:
        ws.add_dataset(dataset)
        ws.create_run("r1", dataset="tiny", mode="eqn", encoder="all-MiniLM-L6-v2", config={}, run_dir="runs/r1")
        ws.store_energies("r1", "test", ENERGIES)
        yield ws



def label_values(frame: pd.DataFrame) -> np.ndarray:
    return frame[LABELS].to_numpy(dtype=np.float32)  # (N, C)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("content", ["energies", "thresholded", "binary"])
def test_export_contents_read_back(workspace, tmp_path, fmt, content):
    path = tmp_path / "exports" / FORMATS[fmt]
    result = export_annotations(workspace, run_id="r1", split="test", path=path, content=content,
                                thresholds=THRESHOLDS)
    sidecar = path.resolve().with_name(path.name + ".meta.json")
    assert result == {"path": path.resolve(), "rows": 4, "format": fmt, "content": content, "metadata": sidecar}
    frame = read_back(path, fmt)
    assert list(frame.columns) == ["run_id", "dataset", "split", "row_idx", "text_id", "text", "human_labels",
                                   *LABELS, "mode", "encoder"]
    assert frame["text"].tolist() == TEXTS
    assert frame["row_idx"].tolist() == [0, 1, 2, 3] and frame["text_id"].tolist() == ["a", "b", "c", "d"]
    assert frame["human_labels"].tolist() == ["joy", 'Anger,so-so "meh"', "", "joy,Anger"]
    assert set(frame["run_id"]) == {"r1"} and set(frame["encoder"]) == {"all-MiniLM-L6-v2"}
    assert set(frame["mode"]) == {"eqn"}
    # the provenance once per file: a sidecar JSON (and, for Parquet, the same JSON in the file's metadata)
    metadata = json.loads(sidecar.read_text())
    assert metadata["thresholds"] == dict(zip(LABELS, THRESHOLDS.tolist())) and metadata["threshold_profile"] is None
    assert metadata["run_id"] == "r1" and metadata["model"]["encoder"] == "all-MiniLM-L6-v2"
    assert metadata["app_version"] and metadata["exported_at"].startswith("20") and metadata["rows"] == 4
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert json.loads(pq.read_schema(path).metadata[b"eqn_studio"]) == metadata
    expected = {"energies": ENERGIES,
                "thresholded": np.where(ENERGIES >= THRESHOLDS, ENERGIES, 0),  # eq. 8
                "binary": (ENERGIES >= THRESHOLDS).astype(np.float32)}[content]
    np.testing.assert_array_equal(label_values(frame), expected)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, sidecar.name])  # no temporary file


def test_thresholded_default_is_zero_and_scalar_threshold_applies_to_all(workspace, tmp_path):
    export_annotations(workspace, run_id="r1", split="test", path=tmp_path / "a.csv", content="thresholded")
    np.testing.assert_array_equal(label_values(read_back(tmp_path / "a.csv", "csv")), ENERGIES)
    export_annotations(workspace, run_id="r1", split="test", path=tmp_path / "b.parquet", content="binary",
                       thresholds=5.0)
    np.testing.assert_array_equal(label_values(read_back(tmp_path / "b.parquet", "parquet")), ENERGIES >= 5.0)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_reviewed_export_applies_latest_decisions(workspace, tmp_path, fmt):
    def review(row_idx, label, decision, reviewer, energy=None):
        workspace.record_review(run_id="r1", split="test", row_idx=row_idx, label=label, decision=decision,
                                reviewer=reviewer, energy=energy)

    review(1, "joy", "accept", "ana")           # 0.25 below h=5: accepted -> max(energy, h) = 5
    review(0, "joy", "reject", "ana")           # 9.0 -> 0
    review(2, 'so-so "meh"', "set", "ben", 7.25)
    review(3, "Anger", "accept", "ana")
    review(3, "Anger", "reject", "ana")         # supersedes ana's accept -> 0
    review(3, "joy", "set", "ana", 1.0)
    review(3, "joy", "accept", "ben")           # ben: max(2, 5) = 5; ana said 1.0: they differ
    path = tmp_path / FORMATS[fmt]
    export_annotations(workspace, run_id="r1", split="test", path=path, content="reviewed", thresholds=THRESHOLDS)
    frame = read_back(path, fmt)
    expected = np.where(ENERGIES >= THRESHOLDS, ENERGIES, 0)
    # text 3, reviewed by both: no one silently overrides: Anger ana 0 / ben left 6.125 -> mean; joy 1 / 5 -> mean
    expected[1, 0], expected[0, 0], expected[2, 2], expected[3, 1], expected[3, 0] = 5.0, 0.0, 7.25, 3.0625, 3.0
    np.testing.assert_array_equal(label_values(frame), expected)
    assert frame["review_count"].tolist() == [1, 1, 1, 2]  # reviewers per text
    assert frame["reviewers"].tolist() == ["ana", "ana", "ben", "ana,ben"]
    assert json.loads(frame["review_sources"][3]) == {"Anger": "mean of reviewers", "joy": "mean of reviewers"}
    assert json.loads(frame["review_sources"][0]) == {"joy": "reviewer"} and frame["review_sources"][1] != ""
    assert "reviewed_rules" in json.loads(path.with_name(path.name + ".meta.json").read_text())

    # an admin adjudicates (text 3, joy): that value wins and says so
    workspace.record_adjudication(run_id="r1", split="test", row_idx=3, label="joy", energy=6.5, adjudicator="boss")
    export_annotations(workspace, run_id="r1", split="test", path=path, content="reviewed", thresholds=THRESHOLDS,
                       overwrite=True)
    frame = read_back(path, fmt)
    assert label_values(frame)[3, 0] == 6.5 and json.loads(frame["review_sources"][3])["joy"] == "adjudicated"

    log_path = tmp_path / f"log.{path.suffix[1:]}"
    result = export_annotations(workspace, run_id="r1", split="test", path=log_path, content="review-log")
    log = read_back(log_path, fmt)
    assert result["rows"] == 8 and len(log) == 8  # 7 decisions (none overwritten) + 1 adjudication
    assert list(log.columns[:3]) == ["run_id", "dataset", "split"] and "note" in log.columns
    assert log["decision"].tolist()[-1] == "adjudicate" and log["reviewer"].tolist()[-1] == "boss"
    assert log[log["decision"] == "reject"]["reviewer_energy"].tolist() == [0.0, 0.0]

    only_ana = tmp_path / f"ana.{path.suffix[1:]}"
    export_annotations(workspace, run_id="r1", split="test", path=only_ana, content="reviewed",
                       thresholds=THRESHOLDS, reviewer="ana")
    assert label_values(read_back(only_ana, fmt))[3, 0] == 1.0  # ana's own "set" on (text 3, joy)


def test_threshold_setting_and_row_filter(workspace, tmp_path):
    # a setting (here made from a saved profile, as `eqn export --profile` does) exports its array, names its source
    workspace.save_threshold_profile("tuned", run_id="r1", thresholds=THRESHOLDS)
    setting = ThresholdSetting.from_array(workspace.load_threshold_profile("tuned")["thresholds"], 3.0, LABELS,
                                          source="tuned")
    result = export_annotations(workspace, run_id="r1", split="test", path=tmp_path / "x.jsonl",
                                content="thresholded", thresholds=setting, rows=[3, 1, 3])
    assert result["rows"] == 2
    frame = read_back(tmp_path / "x.jsonl", "jsonl")
    assert frame["row_idx"].tolist() == [1, 3]
    assert json.loads((tmp_path / "x.jsonl.meta.json").read_text())["threshold_profile"] == "tuned"
    np.testing.assert_array_equal(label_values(frame), np.where(ENERGIES >= THRESHOLDS, ENERGIES, 0)[[1, 3]])
    with pytest.raises(ValueError, match="outside"):
        export_annotations(workspace, run_id="r1", split="test", path=tmp_path / "z.csv", rows=[4])


def test_format_from_suffix_or_argument_and_parent_created(workspace, tmp_path):
    path = tmp_path / "new" / "deeper" / "annotations.data"
    result = export_annotations(workspace, run_id="r1", split="test", path=path, fmt="parquet")
    assert result["format"] == "parquet" and len(pd.read_parquet(path)) == 4


@pytest.mark.parametrize("arguments, message", [
    ({"path": "out.xlsx"}, "Cannot tell the export format"),
    ({"path": "out", "fmt": "xml"}, "Unknown export format"),
    ({"path": "out.csv", "fmt": "parquet"}, "make them agree"),
    ({"path": "out.csv", "content": "probabilities"}, "Unknown export content"),
    ({"path": "out.csv", "content": "binary"}, "needs thresholds"),
    ({"path": "out.csv", "thresholds": np.array([1.0, 2.0])}, "one per label"),
])
def test_bad_export_requests_refused(workspace, tmp_path, arguments, message):
    arguments = {**arguments, "path": tmp_path / arguments["path"]}
    with pytest.raises(ValueError, match=message):
        export_annotations(workspace, run_id="r1", split="test", **arguments)
    assert not list(tmp_path.glob("out*"))


def test_missing_energies_refused(workspace, tmp_path):
    with pytest.raises(KeyError, match="no energies for split 'dev'"):
        export_annotations(workspace, run_id="r1", split="dev", path=tmp_path / "out.csv")


def test_failed_export_leaves_no_partial_file(workspace, tmp_path, monkeypatch):
    path = tmp_path / "out.csv"
    path.write_text("the previous export\n")
    select_sql = annotations._select_sql
    monkeypatch.setattr(annotations, "_select_sql", lambda *args, **options: select_sql(*args, **options).replace(
        "ORDER BY t.row_idx", "AND (t.row_idx < 3 OR error('simulated failure at row 3') IS NULL) ORDER BY t.row_idx"))
    with pytest.raises(Exception, match="simulated failure"):
        export_annotations(workspace, run_id="r1", split="test", path=path, overwrite=True)
    assert path.read_text() == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["out.csv"]
