"""Export of a text set's annotation (eqn_core.export.text_exports): energies, thresholded and binary values read back
equal to the stored energies, metadata kept, chosen rows, provenance, refused targets."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import read_back
from eqn_core.export.text_exports import export_text_annotation
from eqn_core.method.thresholds import reaches
from eqn_core.store.text_sets import add_text_set
from text_set_support import LABELS, write_annotation

TEXTS = ['He said "no", twice', "=SUM(A1) looks like a formula", "café 😊\nsecond line", "plain"]
THRESHOLDS = np.array([5.0, 6.0, 3.0, 0.5])


@pytest.fixture
def annotated(workspace, tmp_path):
    pd.DataFrame({"text": TEXTS, "id": ["a", "b", "c", "d"], "speaker": ["P1", "P2", "-x", "P1"],
                  "joy": ["meta", "", "", ""]}).to_csv(tmp_path / "in.csv", index=False)
    add_text_set(workspace, "set", [tmp_path / "in.csv"])
    energies = np.array([[9.0, 0.5, 3.25, 0.3], [0.25, 7.5, 1.0, 0.5], [5.0, 6.0, 0.0, 10.0],
                         [2.0, 6.125, 3.3, 0.1]], dtype=np.float32)  # (N=4, C=4)
    write_annotation(workspace, "set", "r", energies, shard_rows=3)
    return workspace, energies



@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
@pytest.mark.parametrize("content", ["energies", "thresholded", "binary"])
def test_export_round_trip(annotated, tmp_path, fmt, content):
    workspace, energies = annotated
    path = tmp_path / "out" / f"annotations.{fmt}"
    result = export_text_annotation(workspace, "set", run_id="r", path=path, content=content,
                                    thresholds=None if content == "energies" else THRESHOLDS,
                                    neutralize_formulas=False)
    assert result["rows"] == 4 and result["format"] == fmt and result["path"] == path.resolve()
    frame = read_back(path, fmt)
    assert list(frame.columns) == ["text_set", "run_id", "row_idx", "text_id", "text", "source_file", "source_row",
                                   "speaker", "joy_meta", *LABELS]
    assert frame["text"].tolist() == TEXTS and frame["text_id"].tolist() == ["a", "b", "c", "d"]
    assert frame["speaker"].tolist() == ["P1", "P2", "-x", "P1"] and frame["joy_meta"][0] == "meta"
    assert set(frame["run_id"]) == {"r"} and frame["row_idx"].tolist() == [0, 1, 2, 3]
    expected = {"energies": energies, "thresholded": np.where(reaches(energies, THRESHOLDS), energies, 0),
                "binary": reaches(energies, THRESHOLDS).astype(np.float32)}[content]
    np.testing.assert_array_equal(frame[LABELS].to_numpy(dtype=np.float32), expected)
    metadata = json.loads(result["metadata"].read_text())
    assert metadata["text_set"] == "set" and metadata["run_id"] == "r" and metadata["rows"] == 4
    assert metadata["thresholds"] == (None if content == "energies" else dict(zip(LABELS, THRESHOLDS.tolist())))
    if fmt == "parquet":  # the same provenance inside the file
        import pyarrow.parquet as pq

        assert json.loads(pq.read_schema(path).metadata[b"eqn_studio"]) == metadata
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, path.name + ".meta.json"])


def test_one_text_and_formula_safe_csv(annotated, tmp_path):
    workspace, energies = annotated
    export_text_annotation(workspace, "set", run_id="r", path=tmp_path / "one.csv", rows=[1], metadata=False)
    frame = read_back(tmp_path / "one.csv", "csv")
    assert frame["text"].tolist() == ["'=SUM(A1) looks like a formula"] and "speaker" not in frame.columns
    np.testing.assert_array_equal(frame[LABELS].to_numpy(dtype=np.float32), energies[[1]])
    export_text_annotation(workspace, "set", run_id="r", path=tmp_path / "two.parquet", rows=[3, 2])
    assert read_back(tmp_path / "two.parquet", "parquet")["row_idx"].tolist() == [2, 3]


def test_refusals(annotated, tmp_path):
    workspace, _ = annotated
    with pytest.raises(ValueError, match="needs thresholds"):
        export_text_annotation(workspace, "set", run_id="r", path=tmp_path / "a.csv", content="binary")
    with pytest.raises(ValueError, match="outside the text set"):
        export_text_annotation(workspace, "set", run_id="r", path=tmp_path / "a.csv", rows=[4])
    with pytest.raises(ValueError, match="textsets folder"):
        export_text_annotation(workspace, "set", run_id="r", path=workspace.root / "textsets" / "set" / "x.csv")
    (tmp_path / "a.csv").write_text("taken")
    with pytest.raises(ValueError, match="already exists"):
        export_text_annotation(workspace, "set", run_id="r", path=tmp_path / "a.csv")
    (tmp_path / "t.txt").write_text("one\ntwo\nthree\n")
    add_text_set(workspace, "part", [tmp_path / "t.txt"])
    write_annotation(workspace, "part", "r", np.ones((2, 4), np.float32), shard_rows=2, finished=False)
    with pytest.raises(ValueError, match="has annotated 2 of the 3 texts"):
        export_text_annotation(workspace, "part", run_id="r", path=tmp_path / "b.csv")
    assert export_text_annotation(workspace, "part", run_id="r", path=tmp_path / "b.csv", rows=[0, 1])["rows"] == 2
