"""Own texts in (eqn_core.io.text_files): files without labels streamed into one Parquet file with row index, ids,
texts and metadata; bad input names file, row and column and leaves nothing."""
from __future__ import annotations

import gzip
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eqn_core.io import text_files
from eqn_core.io.errors import DataError
from eqn_core.io.text_files import write_texts_parquet


def write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_csv_jsonl_and_txt_become_one_table_with_metadata(tmp_path):
    csv_file = write(tmp_path / "interviews.csv", 'text,speaker,date\n"I felt ""fine"", really",A,2024-01-02\n'
                                                  '"two\nlines",B,2024-01-03\n')
    jsonl = write(tmp_path / "comments.jsonl", '{"comment": "so happy", "Speaker": "C", "likes": 3}\n\n'
                                               '{"comment": "awful", "source": {"site": "x"}}\n')
    txt = write(tmp_path / "notes.txt", "\ufefffirst note\r\n\n  \nsecond note\n")
    summary = write_texts_parquet([csv_file, jsonl, txt], tmp_path / "texts.parquet")
    frame = pd.read_parquet(tmp_path / "texts.parquet")
    assert list(frame.columns) == ["row_idx", "text_id", "text", "source_file", "source_row", "speaker", "date",
                                   "likes", "source"]
    assert frame["row_idx"].tolist() == list(range(6))
    assert frame["text_id"].tolist() == [f"row-{n}" for n in range(1, 7)]
    assert frame["text"].tolist() == ['I felt "fine", really', "two\nlines", "so happy", "awful", "first note",
                                      "second note"]
    assert frame["source_file"].tolist() == ["interviews.csv"] * 2 + ["comments.jsonl"] * 2 + ["notes.txt"] * 2
    assert frame["source_row"].tolist() == [1, 2, 1, 2, 1, 2]
    # "Speaker" in the JSONL file is the CSV's "speaker" (DuckDB compares names ignoring case)
    assert frame["speaker"].tolist()[:3] == ["A", "B", "C"] and frame["speaker"].isna().tolist()[3:] == [True] * 3
    assert frame["likes"].tolist()[2] == "3" and json.loads(frame["source"][3]) == {"site": "x"}
    assert summary["rows"] == 6 and summary["metadata_columns"] == ["speaker", "date", "likes", "source"]
    assert [(f["name"], f["rows"], f["text_column"]) for f in summary["files"]] == [
        ("interviews.csv", 2, "text"), ("comments.jsonl", 2, "comment"), ("notes.txt", 2, "text")]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".parts-")]  # the scratch parts are gone


def test_ids_columns_compression_and_parquet(tmp_path):
    with gzip.open(tmp_path / "a.tsv.gz", "wt", encoding="utf-8") as f:
        f.write('id\tbody\tgroup\nx1\ta "quoted" text\tg1\nx2\tplain\tg2\n')  # TSV: quoting off
    pq.write_table(pa.table({"content": ["from parquet"], "score": [0.5], "tags": [["a", "b"]],
                             "key": [7]}), tmp_path / "b.parquet")
    semicolons = write(tmp_path / "c.csv", "Text;Id;City\nbonjour;p-1;Paris\n")
    summary = write_texts_parquet([tmp_path / "a.tsv.gz", tmp_path / "b.parquet", semicolons], tmp_path / "t.parquet",
                                  text_column=None)
    frame = pd.read_parquet(tmp_path / "t.parquet")
    assert frame["text"].tolist() == ['a "quoted" text', "plain", "from parquet", "bonjour"]
    assert frame["text_id"].tolist() == ["x1", "x2", "row-3", "p-1"]
    assert frame["score"][2] == "0.5" and json.loads(frame["tags"][2]) == ["a", "b"] and frame["key"][2] == "7"
    assert frame["City"].tolist()[3] == "Paris" and frame["group"].tolist()[:2] == ["g1", "g2"]
    assert [f["id_column"] for f in summary["files"]] == ["id", None, "Id"]
    with pytest.raises(DataError, match="no text column named 'message'"):  # given: it must be in every file
        write_texts_parquet([semicolons], tmp_path / "u.parquet", text_column="message")


def test_a_metadata_column_named_like_a_fixed_one_is_renamed(tmp_path):
    path = write(tmp_path / "a.csv", "comment,text_id,row_idx\nhi,ignored,5\n")
    write_texts_parquet(path, tmp_path / "t.parquet", id_column=None)
    frame = pd.read_parquet(tmp_path / "t.parquet")
    assert frame["text_id"].tolist() == ["ignored"]  # text_id is a usual id column name
    assert frame["row_idx_meta"].tolist() == ["5"] and frame["row_idx"].tolist() == [0]


def test_a_million_texts_stream_in_small_batches(tmp_path, monkeypatch):
    # the same code path as a big file: batches far smaller than the file, row groups of ROW_GROUP_ROWS
    monkeypatch.setattr(text_files, "BATCH_ROWS", 7)
    monkeypatch.setattr(text_files, "ROW_GROUP_ROWS", 10)
    path = write(tmp_path / "big.csv", "text,n\n" + "".join(f"text {i},{i}\n" for i in range(95)))
    assert write_texts_parquet(path, tmp_path / "t.parquet")["rows"] == 95
    parquet = pq.ParquetFile(tmp_path / "t.parquet")
    assert [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)] == [10] * 9 + [5]
    frame = parquet.read().to_pandas()
    assert frame["text"].tolist() == [f"text {i}" for i in range(95)] and frame["n"].tolist() == [str(i) for i in
                                                                                                   range(95)]


BAD_INPUTS = {
    "no text column": ("a.csv", b"message,speaker\nhi,A\n", dict(row=None, column="text", match="no text column")),
    "empty text": ("a.csv", b"text,speaker\nhi,A\n,B\n", dict(row=2, column="text", match="empty text")),
    "whitespace text": ("a.tsv", b"text\tspeaker\nhi\tA\n  \tB\n", dict(row=2, column="text", match="whitespace")),
    "not UTF-8 (CSV)": ("a.csv", b"text,speaker\nhi,A\nok,caf\xe9\n", dict(row=2, column="speaker",
                                                                        match="not UTF-8: byte 0xe9")),
    "not UTF-8 (TXT)": ("a.txt", b"fine\n\nbad \xff line\n", dict(row=2, column="text", match="not UTF-8")),
    "not UTF-8 (JSONL)": ("a.jsonl", b'{"text": "ok"}\n{"text": "x", "who": "\xff"}\n',
                          dict(row=2, column="who", match="not UTF-8")),
    "short row": ("a.csv", b"text,speaker,date\nhi,A,1\nho,B\n", dict(row=2, column="date", match="2 fields")),
    "bad JSON": ("a.jsonl", b'{"text": "ok"}\n{"text": oops}\n', dict(row=2, column=None, match="invalid JSON")),
    "empty id": ("a.csv", b"text,id\nhi,1\nho, \n", dict(row=2, column="id", match="empty id")),
    "duplicate id": ("a.csv", b"text,id\nhi,1\nho,2\nhu,1\n", dict(row=3, column="id",
                                                                 match="duplicate id '1' \\(first used on row 1\\)")),
    "NUL byte": ("a.csv", b"text\nhi\x00there\n", dict(row=1, column="text", match="NUL")),
    "empty file": ("a.txt", b"\n\n", dict(row=None, column=None, match="empty")),
    "not gzip": ("a.csv.gz", b"text\nhi\n", dict(row=None, column=None, match="not a valid .gz file")),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_says_file_row_and_column_and_writes_nothing(tmp_path, case):
    name, data, expected = BAD_INPUTS[case]
    good = write(tmp_path / "good.csv", "text\nfine\n")
    bad = write(tmp_path / name, data)
    with pytest.raises(DataError, match=expected["match"]) as caught:
        write_texts_parquet([good, bad], tmp_path / "t.parquet")
    error = caught.value
    assert error.file == str(bad) and error.row == expected["row"] and error.column == expected["column"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["good.csv", name])  # no output, no scratch


def test_a_duplicate_id_across_files_names_both(tmp_path):
    first = write(tmp_path / "one.csv", "text,id\nhi,a\n")
    second = write(tmp_path / "two.jsonl", '{"text": "ho", "id": "b"}\n{"text": "hu", "id": "a"}\n')
    with pytest.raises(DataError, match="duplicate id 'a' \\(first used on row 1 of one.csv\\)") as caught:
        write_texts_parquet([first, second], tmp_path / "t.parquet")
    assert (caught.value.file, caught.value.row, caught.value.line) == (str(second), 2, None)
