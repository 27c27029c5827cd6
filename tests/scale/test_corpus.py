"""External annotation sets: a Parquet glob registered as a DuckDB view, searched, scored and exported in place."""
from __future__ import annotations

import os

import duckdb
import numpy as np
import pandas as pd
import pytest

from eqn_core.cli.main import main as eqn
from eqn_core.io.errors import DataError
from eqn_core.method.labels import binarize
from eqn_core.method.metrics import per_label_report
from eqn_core.scale import corpus_pages
from eqn_core.scale.corpus import (
    add_corpus,
    corpus_info,
    corpus_threshold_report,
    export_corpus,
    list_corpora,
    remove_corpus,
)
from eqn_core.scale.corpus_pages import _filters, corpus_page, count_corpus, search_corpus
from eqn_core.store.schema import SCHEMA_V1, SCHEMA_VERSION
from eqn_core.store.workspace import Workspace

LABELS = ["joy", "anger", "fear"]


@pytest.fixture
def shards(tmp_path):
    """90 annotated texts in three Parquet files, in a folder whose name holds a quote and a space."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "it's shards"
    folder.mkdir()
    energies = rng.uniform(0, 10, size=(90, 3)).astype(np.float32)  # (N, C)
    human = rng.random((90, 3)) < 0.3  # (N, C)
    frame = pd.DataFrame({"run_id": "r1", "text_id": [f"t{i}" for i in range(90)],
                          "text": [("Happy day " if i % 4 == 0 else "plain words ") + str(i) for i in range(90)],
                          "human_labels": [",".join(l for l, h in zip(LABELS, row) if h) for row in human]})
    for i, label in enumerate(LABELS):
        frame[label] = energies[:, i]
    for part in range(3):
        frame.iloc[part * 30:(part + 1) * 30].to_parquet(folder / f"part-{part}.parquet", index=False)
    return folder, frame, energies, human


def test_a_registered_glob_is_searched_counted_and_scored_in_place(tmp_path, shards):
    folder, frame, energies, human = shards
    with Workspace(tmp_path / "ws") as workspace:
        info = add_corpus(workspace, "reddit", str(folder / "*.parquet"))
        assert (info["rows"], info["files"], info["label_names"], info["has_human_labels"]) == (90, 3, LABELS, True)
        assert info["runs"] == {"r1": 90}
        assert list_corpora(workspace)["name"].tolist() == ["reddit"]

        found = search_corpus(workspace, "reddit", search="HAPPY", limit=10)
        assert len(found) == 10 and found["text"].str.startswith("Happy").all()
        assert count_corpus(workspace, "reddit", search="happy") == 23

        top = search_corpus(workspace, "reddit", label="fear", energy_range=(5.0, 10.0), human="with", limit=1000)
        expected = frame[(frame["fear"] >= 5) & human[:, 2]].sort_values("fear", ascending=False)
        assert top["text_id"].tolist() == expected["text_id"].tolist()
        assert count_corpus(workspace, "reddit", label="fear", energy_range=(5.0, 10.0), human="without") == \
            int(((frame["fear"] >= 5) & ~human[:, 2]).sum())

        thresholds = np.array([3.0, 5.5, 7.0])
        report = corpus_threshold_report(workspace, "reddit", thresholds)
        reference = per_label_report(binarize(energies, thresholds), human, label_names=LABELS)
        assert report["rows"] == 90
        for got, want in zip(report["labels"], reference["labels"]):
            assert got == pytest.approx(want)
        assert report["macro"] == pytest.approx(reference["macro"]) and report["micro"] == pytest.approx(
            reference["micro"])


def test_export_goes_through_the_view_to_every_format(tmp_path, shards):
    folder, frame, energies, _ = shards
    with Workspace(tmp_path / "ws") as workspace:
        add_corpus(workspace, "reddit", str(folder))  # a folder means its *.parquet files
        result = export_corpus(workspace, "reddit", tmp_path / "all.parquet")
        assert result["rows"] == 90
        written = pd.read_parquet(tmp_path / "all.parquet").sort_values("text_id")
        assert written[LABELS].to_numpy().tolist() == frame.sort_values("text_id")[LABELS].to_numpy().tolist()
        export_corpus(workspace, "reddit", tmp_path / "binary.csv", content="binary", thresholds=5.0)
        binary = pd.read_csv(tmp_path / "binary.csv").set_index("text_id").loc[frame["text_id"]]
        assert (binary[LABELS].to_numpy() == (energies >= 5.0)).all()
        assert binary["thresholds"].iloc[0] == '{"joy": 5.0, "anger": 5.0, "fear": 5.0}'
        with pytest.raises(ValueError, match="needs thresholds"):
            export_corpus(workspace, "reddit", tmp_path / "x.jsonl", content="thresholded")
        assert not (tmp_path / "x.jsonl").exists()


def test_corpus_commands_add_show_export_and_remove(tmp_path, shards, capsys):
    folder, *_ = shards
    ws = str(tmp_path / "ws")
    assert eqn(["-w", ws, "corpus", "add", "reddit", str(folder / "part-*.parquet")]) == 0
    assert "corpus reddit: 90 rows in 3 files, 3 labels, human labels" in capsys.readouterr().out
    assert eqn(["-w", ws, "corpus", "export", "reddit", "-o", str(tmp_path / "t.jsonl"), "--content", "thresholded",
                "--threshold", "9.5"]) == 0
    assert "wrote 90 rows (thresholded, jsonl)" in capsys.readouterr().out
    assert pd.read_json(tmp_path / "t.jsonl", lines=True)["joy"].between(0, 10).all()
    assert eqn(["-w", ws, "corpus", "add", "reddit", str(folder)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert eqn(["-w", ws, "corpus", "remove", "reddit"]) == 0
    assert eqn(["-w", ws, "corpus", "list"]) == 0 and "no corpora yet" in capsys.readouterr().out
    assert (folder / "part-0.parquet").exists()  # removing forgets the view, never the files


def test_bad_names_and_paths_are_refused_before_anything_is_created(tmp_path, shards):
    folder, *_ = shards
    (tmp_path / "notes.parquet").write_text("not parquet")
    with Workspace(tmp_path / "ws") as workspace:
        for name in ('x"; DROP TABLE runs; --', "", "../up", "a" * 65):
            with pytest.raises(ValueError, match="not allowed"):
                add_corpus(workspace, name, str(folder))
        with pytest.raises(ValueError, match="No file matches"):
            add_corpus(workspace, "empty", str(tmp_path / "nothing-*.parquet"))
        with pytest.raises(ValueError, match="NUL or line break"):
            add_corpus(workspace, "nul", str(folder) + "\x00")
        with pytest.raises(DataError, match="Cannot read"):
            add_corpus(workspace, "broken", str(tmp_path / "notes.parquet"))
        with pytest.raises(ValueError, match="Unknown label"):
            add_corpus(workspace, "ok", str(folder))
            search_corpus(workspace, "ok", label='joy" OR 1=1 --')
        remove_corpus(workspace, "ok")
        with pytest.raises(KeyError, match="No corpus named"):
            corpus_info(workspace, "ok")
        with workspace.connection() as con:
            assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_a_version_1_workspace_gains_the_corpora_table(tmp_path):
    path = tmp_path / "ws"
    path.mkdir()
    con = duckdb.connect(str(path / "eqn.duckdb"))
    for statement in SCHEMA_V1:  # as version 1 had it
        con.execute(statement)
    con.execute("INSERT INTO schema_version VALUES (1, now()::TIMESTAMP)")
    con.close()
    with Workspace(path) as workspace:
        assert workspace.schema_version() == SCHEMA_VERSION
        assert list_corpora(workspace).empty


def test_search_is_literal_and_label_tests_match_whole_names(tmp_path):
    frame = pd.DataFrame({"text": ["C++ (and C) rock", "c++ is fine", "cxx", "plain"],
                          "human_labels": ["disapproval", "approval", "", "approval,disapproval"],
                          "approval": np.float32([1, 9, 2, 8]), "disapproval": np.float32([9, 1, 2, 8])})
    frame.to_parquet(tmp_path / "one.parquet", index=False)
    with Workspace(tmp_path / "ws") as workspace:
        add_corpus(workspace, "small", str(tmp_path / "one.parquet"))
        assert search_corpus(workspace, "small", search="c++")["text"].tolist() == ["C++ (and C) rock", "c++ is fine"]
        assert count_corpus(workspace, "small", search="(and c)") == 1
        with_approval = search_corpus(workspace, "small", label="approval", human="with")
        assert with_approval["text"].tolist() == ["c++ is fine", "plain"]  # not the 'disapproval' text
        report = corpus_threshold_report(workspace, "small", 5.0)
        assert [row["support"] for row in report["labels"]] == [2, 2]
        assert [row["precision"] for row in report["labels"]] == [1.0, 1.0]


@pytest.fixture
def tied_shards(tmp_path):
    """150 texts in three files, energies on a 0.5 grid (many ties, also across files and page edges), some joy
    energies missing, the middle file with its columns in another order."""
    rng = np.random.default_rng(11)
    energies = (np.round(rng.uniform(0, 10, size=(150, 3)) * 2) / 2).astype(np.float32)  # (N, C)
    frame = pd.DataFrame({"text_id": [f"t{i}" for i in range(150)],
                          "text": [("Thank you " if i % 3 == 0 else "other words ") + str(i) for i in range(150)],
                          "human_labels": [",".join(l for l, h in zip(LABELS, row) if h)
                                           for row in rng.random((150, 3)) < 0.4]})
    for i, label in enumerate(LABELS):
        frame[label] = energies[:, i]
    frame.loc[frame.index % 17 == 5, "joy"] = np.nan  # stored as NULL
    for part in range(3):
        rows = frame.iloc[part * 50:(part + 1) * 50]
        rows = rows[list(reversed(rows.columns))] if part == 1 else rows
        rows.to_parquet(tmp_path / f"part-{part}.parquet", index=False)
    return tmp_path, frame


def expected_page(frame, *, search=None, label=None, energy_range=None, human=None, limit=100, offset=0):
    """The Samples page computed in pandas: filters, then highest energy first, ties in file order, NaN last."""
    keep = np.ones(len(frame), dtype=bool)
    if search:
        keep &= frame["text"].str.contains(search, case=False, regex=False).to_numpy()
    if label is not None and energy_range is not None:
        keep &= frame[label].between(*energy_range).to_numpy()
    if human is not None:
        given = frame["human_labels"].map(lambda names: label in names.split(",")).to_numpy()
        keep &= given if human == "with" else ~given
    matches = frame[keep]
    if label is not None:
        matches = matches.sort_values(label, ascending=False, kind="stable", na_position="last")
    return matches.iloc[offset:offset + limit].reset_index(drop=True), len(matches)


@pytest.mark.parametrize("filters", [
    {"label": "joy"},
    {"label": "joy", "energy_range": (2.0, 8.0)},
    {"label": "anger", "energy_range": (1.0, 10.0), "human": "without"},
    {"search": "THANK", "label": "fear", "energy_range": (3.0, 10.0), "human": "with"},
    {"search": "thank"},
    {},
])
def test_a_sorted_page_equals_the_pandas_computation_page_by_page(tmp_path, tied_shards, filters):
    folder, frame = tied_shards
    with Workspace(tmp_path / "ws") as workspace:
        add_corpus(workspace, "tied", str(folder / "part-*.parquet"))
        columns = list(pd.read_parquet(folder / "part-0.parquet").columns)
        for limit, offset in ((7, 0), (7, 7), (7, 42), (100, 0), (1000, 0), (7, 140), (7, 500)):
            rows, total = corpus_page(workspace, "tied", limit=limit, offset=offset, **filters)
            expected, matches = expected_page(frame, limit=limit, offset=offset, **filters)
            assert total == matches == count_corpus(workspace, "tied", **filters)
            assert list(rows.columns) == columns
            pd.testing.assert_frame_equal(rows, expected[columns], check_dtype=len(rows) > 0)  # empty: object
            pd.testing.assert_frame_equal(search_corpus(workspace, "tied", limit=limit, offset=offset, **filters),
                                          rows)
            if "label" in filters:  # the single query the page used before gives the same energies in order
                where, params = _filters(LABELS, "text", search=filters.get("search"), label=filters["label"],
                                         energy_range=filters.get("energy_range"), human=filters.get("human"))
                before = workspace.fetch_df(f"SELECT * FROM corpus__tied{where} ORDER BY {filters['label']} DESC "
                                       "LIMIT $limit OFFSET $offset", {**params, "limit": limit, "offset": offset})
                np.testing.assert_array_equal(before[filters["label"]], rows[filters["label"]])


def test_a_sorted_page_works_when_the_files_have_filename_columns(tmp_path):
    frame = pd.DataFrame({"text": ["a", "b", "c"], "filename": ["x.txt", "y.txt", "z.txt"],
                          "file_row_number": [7, 8, 9], "joy": np.float32([1, 3, 2])})
    frame.to_parquet(tmp_path / "one.parquet", index=False)
    with Workspace(tmp_path / "ws") as workspace:
        add_corpus(workspace, "named", str(tmp_path / "one.parquet"))
        rows, total = corpus_page(workspace, "named", label="joy")
        assert rows["filename"].tolist() == ["y.txt", "z.txt", "x.txt"] and total == 3


def test_a_sorted_page_rereads_only_rows_it_has_not_read_or_whose_file_changed(tmp_path, tied_shards, monkeypatch):
    folder, frame = tied_shards
    with Workspace(tmp_path / "ws") as workspace:
        add_corpus(workspace, "tied", str(folder / "part-*.parquet"))
        first, _ = corpus_page(workspace, "tied", label="anger", limit=10)
        reads, read_rows = [], corpus_pages._read_rows
        monkeypatch.setattr(corpus_pages, "_read_rows", lambda con, pattern, column, keys: reads.append(len(keys)) or
                            read_rows(con, pattern, column, keys))
        narrower, total = corpus_page(workspace, "tied", label="anger", energy_range=(1.0, 10.0), limit=10)
        assert reads == []  # the same ten rows: keys only
        pd.testing.assert_frame_equal(narrower, first)
        assert total == int(frame["anger"].between(1.0, 10.0).sum())

        changed = frame.copy()
        changed.loc[:49, "text"] = [f"rewritten {i}" for i in range(50)]
        path = folder / "part-0.parquet"
        before = os.stat(path).st_mtime_ns
        changed.iloc[:50].to_parquet(path, index=False)
        os.utime(path, ns=(before + 10**9, before + 10**9))
        again, _ = corpus_page(workspace, "tied", label="anger", limit=10)
        expected, _ = expected_page(changed, label="anger", limit=10)
        pd.testing.assert_frame_equal(again, expected[list(again.columns)])
        assert reads == [int(expected["text"].str.startswith("rewritten").sum())]  # only the rewritten file's rows
