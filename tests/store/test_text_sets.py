"""Text sets in the workspace (eqn_core.store.text_sets): added from files without labels, listed, described and
removed with their annotations; bad input stores nothing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import table_dump
from eqn_core.io.errors import DataError
from eqn_core.store.schema import SCHEMA_VERSION
from eqn_core.store.text_set_folders import AnnotationFolder, annotation_path, text_sets_root
from eqn_core.store.text_sets import (
    add_text_set,
    annotation_source,
    list_annotations,
    list_text_sets,
    remove_text_set,
    text_set_info,
    text_set_names,
)
from text_set_support import write_annotation


@pytest.fixture
def files(tmp_path):
    (tmp_path / "interviews.csv").write_text("utterance,speaker,session\nI was so scared,P1,1\nThat made me laugh,"
                                             "P2,1\nNothing much,P1,2\n", encoding="utf-8")
    (tmp_path / "comments.jsonl").write_text('{"text": "love it", "id": "c1", "source": "web"}\n'
                                             '{"text": "hate it", "id": "c2"}\n', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("a note\nanother note\n", encoding="utf-8")
    return [tmp_path / "interviews.csv", tmp_path / "comments.jsonl", tmp_path / "notes.txt"]


def test_an_unlabelled_set_is_stored_with_its_metadata(workspace, files):
    assert workspace.schema_version() == SCHEMA_VERSION == 7
    info = add_text_set(workspace, "study", files)
    assert info["rows"] == 7 and info["metadata_columns"] == ["speaker", "session", "source"]
    assert [f["rows"] for f in info["files"]] == [3, 2, 2] and info["files"][0]["text_column"] == "utterance"
    assert info["folder"] == workspace.root / "textsets" / "study" and info["annotations"] == []
    frame = pd.read_parquet(info["texts_file"])
    assert frame["text_id"].tolist() == ["row-1", "row-2", "row-3", "c1", "c2", "row-6", "row-7"]
    assert frame["speaker"].tolist()[:3] == ["P1", "P2", "P1"] and frame["source"].tolist()[3] == "web"
    listed = list_text_sets(workspace)
    assert listed[["name", "rows", "files", "annotations"]].to_dict("records") == [
        {"name": "study", "rows": 7, "files": 3, "annotations": 0}]
    assert list(listed["metadata_columns"][0]) == ["speaker", "session", "source"]
    with pytest.raises(ValueError, match="exists already"):
        add_text_set(workspace, "study", files)
    with pytest.raises(ValueError, match="may not contain '/'"):
        add_text_set(workspace, "a/b", files)


def test_bad_input_leaves_nothing_stored(workspace, files, tmp_path):
    add_text_set(workspace, "kept", files[:1])
    before = table_dump(workspace)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"text,speaker\nfine,A\n,B\n")
    with pytest.raises(DataError) as caught:
        add_text_set(workspace, "broken", [files[1], bad])
    assert (caught.value.file, caught.value.row, caught.value.column) == (str(bad), 2, "text")
    assert str(caught.value) == "bad.csv, row 2 (line 3), column 'text': empty text"
    assert table_dump(workspace) == before and text_set_names(workspace) == ["kept"]
    assert sorted(p.name for p in text_sets_root(workspace).iterdir()) == ["kept"]  # no temporary folder left
    with pytest.raises(DataError, match="file not found"):
        add_text_set(workspace, "missing", [tmp_path / "nowhere.csv"])
    assert table_dump(workspace) == before


def test_removing_a_set_removes_its_annotations(workspace, files):
    add_text_set(workspace, "study", files)
    energies = np.random.default_rng(0).uniform(0, 10, (7, 4)).astype(np.float32)
    write_annotation(workspace, "study", "run-a", energies)
    write_annotation(workspace, "study", "run-b", energies)
    assert list(list_annotations(workspace)["run_id"]) == ["run-a", "run-b"]
    info = text_set_info(workspace, "study")
    assert [(a["run_id"], a["status"], a["rows_done"], a["labels"]) for a in info["annotations"]] == [
        ("run-a", "finished", 7, 4), ("run-b", "finished", 7, 4)]
    source = annotation_source(workspace, "study", "run-a")
    assert source.complete and len(source.shards) == 2 and source.shard_rows == 4
    folder = AnnotationFolder(annotation_path(workspace, "study", "run-b"))
    folder.write_status({"status": "running", "pid": __import__("os").getpid()})  # a live job writes into it
    with pytest.raises(ValueError, match="being annotated with \\['run-b'\\]"):
        remove_text_set(workspace, "study")
    folder.write_status({"status": "stopped"})
    remove_text_set(workspace, "study")
    assert text_set_names(workspace) == [] and list_annotations(workspace).empty
    assert list(text_sets_root(workspace).iterdir()) == []
    with pytest.raises(KeyError, match="No text set named 'study'"):
        text_set_info(workspace, "study")


def test_a_metadata_column_named_like_a_label_gets_a_suffix_in_readers(workspace, tmp_path):
    (tmp_path / "a.csv").write_text("text,Joy,fear_meta\nhi,yes,x\n", encoding="utf-8")
    add_text_set(workspace, "s", [tmp_path / "a.csv"])
    assert annotation_source(workspace, "s").metadata == {"Joy": "Joy", "fear_meta": "fear_meta"}
    write_annotation(workspace, "s", "r", np.zeros((1, 4), np.float32))
    assert annotation_source(workspace, "s", "r").metadata == {"Joy": "Joy_meta", "fear_meta": "fear_meta"}
