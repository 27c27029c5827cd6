"""Tests for eqn_core.io.datasets: the real reference data sets, every label format, and every kind of bad input."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eqn_core.io import datasets as data
from eqn_core.io.datasets import LabeledDataset, LabeledSplit, dataset_name_from, guess_split
from eqn_core.io.errors import DataError
from eqn_core.io.tables import preview_table, read_table, read_texts


def shared_data() -> Path:
    """The reference data sets next to the project (../shared/data), or skip."""
    folder = Path(__file__).resolve().parents[3] / "shared" / "data"
    if not folder.is_dir():
        pytest.skip(f"reference data sets not found at {folder} (they live beside the project, not in it)")
    return folder


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------------
# Real data sets
# --------------------------------------------------------------------------------------------------------


def test_goemotions_real_rows_labels_and_speed():
    start = time.perf_counter()
    ds = data.load_goemotions(shared_data() / "goemotions")
    elapsed = time.perf_counter() - start
    assert ds.name == "goemotions" and ds.multi_label
    assert ds.label_names == data.GOEMOTIONS_LABELS and ds.num_labels == 28
    assert {s: len(ds.split(s)) for s in ds.split_names} == {"train": 43410, "dev": 5426, "test": 5427}
    test = ds.split("test")
    assert test.human_labels.dtype == bool and test.human_labels.shape == (5427, 28)
    per_row = np.bincount(test.human_labels.sum(axis=1))
    assert per_row.tolist() == [0, 4590, 774, 61, 2]
    train = ds.split("train")
    assert train.texts[0] == "My favourite food is anything I didn't have to cook myself."
    assert train.text_ids[0] == "eebbqej"
    assert train.human_labels[0].nonzero()[0].tolist() == [27]  # neutral
    assert any('"' in t for t in train.texts)  # literal quotes kept (quoting off)
    assert elapsed < 2.0, f"loading GoEmotions took {elapsed:.2f}s"


def test_emotion6_real():
    ds = data.load_emotion6(shared_data() / "emotion6")
    assert ds.label_names == ["sadness", "joy", "love", "anger", "fear", "surprise"]
    assert not ds.multi_label
    assert {s: len(ds.split(s)) for s in ds.split_names} == {"train": 16000, "dev": 2000, "test": 2000}
    for split in ds.splits.values():
        assert (split.human_labels.sum(axis=1) == 1).all()
    assert ds.split("train").human_labels.sum(axis=0).tolist() == [4666, 5362, 1304, 2159, 1937, 572]
    # val.txt starts with an empty line: the first data row is on line 2 and is still "row-1"
    assert ds.split("dev").text_ids[0] == "row-1"
    assert ds.split("dev").texts[0].startswith("im feeling quite sad")


def test_tfn3_real():
    ds = data.load_tfn3(shared_data() / "tfn3")
    assert ds.label_names == ["Bearish", "Bullish", "Neutral"] and not ds.multi_label
    train, dev, test = ds.split("train"), ds.split("dev"), ds.split("test")
    assert len(train) + len(dev) == 9543 and len(test) == 2388
    assert len(dev) == 954
    assert (train.human_labels.sum(axis=0) + dev.human_labels.sum(axis=0)).tolist() == [1442, 1923, 6178]
    assert test.human_labels.sum(axis=0).tolist() == [347, 475, 1566]
    dev_share = dev.human_labels.sum(axis=0) / len(dev)  # stratified: dev keeps the class balance
    assert np.allclose(dev_share, [1442 / 9543, 1923 / 9543, 6178 / 9543], atol=0.01)
    assert not set(train.text_ids) & set(dev.text_ids)
    assert any("\n" in t for t in train.texts + dev.texts)  # tweets with line breaks inside quotes
    again = data.load_tfn3(shared_data() / "tfn3")
    assert again.split("dev").text_ids == dev.text_ids  # fixed seed


def test_load_builtin_and_split_lookup():
    ds = data.load_builtin("emotion6", shared_data())  # the parent folder works too
    assert ds.name == "emotion6"
    with pytest.raises(KeyError, match="no split 'valid'.*train, dev, test"):
        ds.split("valid")
    with pytest.raises(DataError, match="unknown built-in data set 'nope'"):
        data.load_builtin("nope", shared_data())


def test_missing_builtin_folder_says_what_is_missing(tmp_path):
    with pytest.raises(DataError) as err:
        data.load_goemotions(tmp_path)
    assert err.value.file.endswith("train.tsv") and "fetch_goemotions" in str(err.value)


# --------------------------------------------------------------------------------------------------------
# fetch_goemotions
# --------------------------------------------------------------------------------------------------------


def test_fetch_goemotions_from_dir_copies_and_verifies(tmp_path):
    source = shared_data() / "goemotions"
    seen = []
    folder = data.fetch_goemotions(tmp_path / "cache", from_dir=source, progress=lambda *a: seen.append(a))
    assert folder == tmp_path / "cache" / "goemotions"
    for split in ("train", "dev", "test"):
        assert sha256(folder / f"{split}.tsv") == data.GOEMOTIONS_SHA256[split]
    assert (folder / "labels.txt").read_bytes() == (source / "labels.txt").read_bytes()
    assert not list(folder.glob(".*part"))
    assert {name for name, _, _ in seen} == {"train.tsv", "dev.tsv", "test.tsv"}
    assert len(data.load_goemotions(folder).split("dev")) == 5426

    # present with the right hash: skipped (mtime unchanged) unless force
    before = (folder / "dev.tsv").stat().st_mtime_ns
    data.fetch_goemotions(tmp_path / "cache", from_dir=source)
    assert (folder / "dev.tsv").stat().st_mtime_ns == before


def test_fetch_goemotions_rejects_corrupted_file(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(shared_data() / "goemotions", source)
    (source / "dev.tsv").chmod(0o644)
    with open(source / "dev.tsv", "ab") as f:
        f.write(b"tampered\t1\tx\n")
    with pytest.raises(DataError) as err:
        data.fetch_goemotions(tmp_path / "cache", from_dir=source)
    assert "sha256 mismatch" in str(err.value) and err.value.file == str(source / "dev.tsv")
    assert not (tmp_path / "cache" / "goemotions" / "dev.tsv").exists()  # nothing half-written
    assert not list((tmp_path / "cache" / "goemotions").glob(".*part"))


def test_fetch_goemotions_download_from_file_url(tmp_path, monkeypatch):
    mirror = shared_data() / "goemotions"
    monkeypatch.setattr(data, "GOEMOTIONS_URL", mirror.as_uri() + "/{split}.tsv")
    folder = data.fetch_goemotions(tmp_path)
    for split in ("train", "dev", "test"):
        assert sha256(folder / f"{split}.tsv") == data.GOEMOTIONS_SHA256[split]
    assert (folder / "labels.txt").read_text().split("\n") == data.GOEMOTIONS_LABELS

    # force re-fetches a file that was damaged after the first fetch
    (folder / "test.tsv").write_bytes(b"broken")
    data.fetch_goemotions(tmp_path, force=True)
    assert sha256(folder / "test.tsv") == data.GOEMOTIONS_SHA256["test"]


def test_fetch_goemotions_network_failure_suggests_a_local_folder(tmp_path, monkeypatch, capsys):
    from eqn_core.cli.main import main

    monkeypatch.setattr(data, "GOEMOTIONS_URL", (tmp_path / "nowhere").as_uri() + "/{split}.tsv")
    with pytest.raises(DataError, match="from a folder that holds train.tsv") as err:
        data.fetch_goemotions(tmp_path / "cache")
    assert "could not download" in str(err.value) and "--from" not in str(err.value)  # pages show it too
    assert main(["-w", str(tmp_path / "ws"), "fetch", "goemotions"]) == 2
    assert "`eqn fetch goemotions --from DIR`" in capsys.readouterr().err  # the CLI says how, in its own words


def test_fetch_goemotions_download_with_wrong_hash(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for split in ("train", "dev", "test"):
        write(mirror / f"{split}.tsv", "hello\t1\tabc\n")
    monkeypatch.setattr(data, "GOEMOTIONS_URL", mirror.as_uri() + "/{split}.tsv")
    with pytest.raises(DataError, match="sha256 mismatch"):
        data.fetch_goemotions(tmp_path / "cache")
    assert not (tmp_path / "cache" / "goemotions" / "train.tsv").exists()


# --------------------------------------------------------------------------------------------------------
# Label formats on tiny files
# --------------------------------------------------------------------------------------------------------

TEXTS = ["I love it", 'He said "no"', "Meh, whatever"]


def expected_multi() -> np.ndarray:
    return np.array([[1, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=bool)


def test_ids_tsv_headerless_like_goemotions(tmp_path):
    path = write(tmp_path / "a.tsv", 'I love it\t0,2\tx1\nHe said "no"\t1\tx2\nMeh, whatever\t2\tx3\n')
    texts, labels, names, ids = read_table(path, label_names=["joy", "anger", "neutral"])
    assert texts == TEXTS and ids == ["x1", "x2", "x3"] and names == ["joy", "anger", "neutral"]
    assert (labels == expected_multi()).all() and labels.dtype == bool
    # without names: 0..max id
    assert read_table(path, label_format="ids")[2] == ["0", "1", "2"]


def test_names_csv_with_header(tmp_path):
    path = write(
        tmp_path / "a.csv", 'text,labels\nI love it,"joy,neutral"\n"He said ""no""",anger\n"Meh, whatever",neutral\n'
    )
    texts, labels, names, ids = read_table(path)
    assert texts == TEXTS and ids == ["row-1", "row-2", "row-3"]
    assert names == ["anger", "joy", "neutral"]  # sorted when not given
    assert labels.tolist() == [[False, True, True], [True, False, False], [False, False, True]]
    _, labels, names, _ = read_table(path, label_format="names", label_names=["joy", "anger", "neutral"])
    assert (labels == expected_multi()).all()


def test_label_names_from_file(tmp_path):
    names_file = write(tmp_path / "names.txt", "joy\nanger\nneutral")
    path = write(tmp_path / "a.csv", "text,label\nI love it,0\nHe said no,1\n")
    _, labels, names, _ = read_table(path, label_names=names_file)
    assert names == ["joy", "anger", "neutral"] and labels.shape == (2, 3)


def test_onehot_parquet(tmp_path):
    frame = pd.DataFrame(
        {"id": ["a", "b", "c"], "text": TEXTS, "joy": [1, 0, 0], "anger": [0, 1, 0], "neutral": [1, 0, 1]}
    )
    path = tmp_path / "a.parquet"
    frame.to_parquet(path)
    texts, labels, names, ids = read_table(path)  # auto: several 0/1 columns
    assert texts == TEXTS and ids == ["a", "b", "c"] and names == ["joy", "anger", "neutral"]
    assert (labels == expected_multi()).all()
    # label_columns picks and orders them; label_names renames them
    _, labels, names, _ = read_table(path, label_columns=["neutral", "joy"], label_names=["n", "j"])
    assert names == ["n", "j"] and labels.tolist() == [[True, True], [False, False], [True, False]]


def test_onehot_csv_bools(tmp_path):
    path = write(tmp_path / "a.csv", "text,joy,anger\nhi,true,false\nho,0.0,1.0\n")
    _, labels, names, _ = read_table(path, label_format="onehot")
    assert names == ["joy", "anger"] and labels.tolist() == [[True, False], [False, True]]


def test_single_jsonl_names_and_ids(tmp_path):
    lines = [{"text": t, "label": lab, "id": i} for t, lab, i in zip(TEXTS, ["joy", "anger", "neutral"], [7, 8, 9])]
    path = write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in lines) + "\n\n")
    texts, labels, names, ids = read_table(path, label_format="single", label_names=["joy", "anger", "neutral"])
    assert texts == TEXTS and ids == ["7", "8", "9"]
    assert labels.tolist() == np.eye(3, dtype=bool).tolist()
    # single also accepts ids (tfn3 style)
    path = write(tmp_path / "b.jsonl", "\n".join(json.dumps({"text": t, "label": i}) for i, t in enumerate(TEXTS)))
    _, labels, names, _ = read_table(path, label_format="single", label_names=["joy", "anger", "neutral"])
    assert labels.tolist() == np.eye(3, dtype=bool).tolist()


def test_jsonl_label_lists_and_json_array(tmp_path):
    records = [{"text": t, "labels": lab} for t, lab in zip(TEXTS, [[0, 2], [1], [2]])]
    path = write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in records))
    _, labels, names, _ = read_table(path)
    assert names == ["0", "1", "2"] and (labels == expected_multi()).all()
    path = write(tmp_path / "a.json", json.dumps(records))
    texts, labels, _, ids = read_table(path)
    assert texts == TEXTS and ids == ["row-1", "row-2", "row-3"] and (labels == expected_multi()).all()
    path = tmp_path / "b.json"
    pd.DataFrame({"text": TEXTS, "label": ["a", "b", "a"]}).to_json(path)  # pandas' column-oriented JSON
    assert read_table(path)[1].tolist() == [[True, False], [False, True], [True, False]]


def test_auto_headerless_semicolon_txt(tmp_path):
    path = write(tmp_path / "a.txt", "\ni feel fine;joy\ni am cross;anger\n")
    texts, labels, names, ids = read_table(path)
    assert texts == ["i feel fine", "i am cross"] and names == ["anger", "joy"] and ids == ["row-1", "row-2"]


def test_read_texts_for_annotation(tmp_path):
    path = write(tmp_path / "in.txt", "first, with a comma; and more\r\n\nsecond\n")
    assert read_texts(path) == (["first, with a comma; and more", "second"], ["row-1", "row-2"])
    path = write(tmp_path / "in.csv", "id,text,label\na1,hello,joy\na2,bye,\n")
    assert read_texts(path) == (["hello", "bye"], ["a1", "a2"])
    path = write(tmp_path / "in.tsv", "only text\tx\n")
    assert read_texts(path, has_header=False) == (["only text"], ["row-1"])
    with pytest.raises(DataError, match=r"in.txt, row 2 \(line 3\), column 'text': not UTF-8"):
        read_texts(write(tmp_path / "in.txt", b"ok\n\nbad \xff\n"))
    with pytest.raises(DataError, match=r"e.csv, row 1 \(line 2\), column 'txt': empty text"):
        read_texts(write(tmp_path / "e.csv", 'txt,id\n"",1\n'), text_column="txt")


def test_load_files_carves_dev_and_checks_label_names(tmp_path):
    rows = "\n".join(f"text {i},{'joy' if i % 3 else 'anger'}" for i in range(20))
    train = write(tmp_path / "train.csv", "text,label\n" + rows + "\n")
    test = write(tmp_path / "test.csv", "text,label\nfine,joy\nbad,anger\n")
    ds = data.load_files("mine", {"train": train, "test": test}, dev_fraction=0.25, seed=1)
    assert isinstance(ds, LabeledDataset) and ds.split_names == ["train", "dev", "test"]
    assert len(ds.split("train")) == 15 and len(ds.split("dev")) == 5
    assert ds.split("dev").human_labels.sum(axis=0).tolist() == [2, 3]  # stratified: 7 anger / 13 joy
    assert ds.label_names == ["anger", "joy"] and not ds.multi_label
    assert ds.split("test").human_labels.tolist() == [[False, True], [True, False]]
    again = data.load_files("mine", {"train": train, "test": test}, dev_fraction=0.25, seed=1)
    assert again.split("dev").text_ids == ds.split("dev").text_ids

    write(test, "text,label\nfine,joyy\n")
    with pytest.raises(DataError) as err:
        data.load_files("mine", {"train": train, "test": test})
    assert str(err.value) == ("test.csv, row 1 (line 2), column 'label': unknown label 'joyy' "
                              "(labels: anger, joy, from the train file train.csv)")


def test_load_files_onehot_splits_align_or_fail(tmp_path):
    train = write(tmp_path / "train.csv", "text,joy,anger\na,1,1\nb,0,1\n")
    dev = write(tmp_path / "dev.csv", "text,anger,joy\nc,1,0\n")
    ds = data.load_files("oh", {"train": train, "dev": dev})
    assert ds.multi_label and ds.split("dev").human_labels.tolist() == [[False, True]]  # reordered to train's
    write(dev, "text,anger,fear\nc,1,0\n")
    with pytest.raises(DataError, match="label columns differ.*missing: joy; extra: fear") as err:
        data.load_files("oh", {"train": train, "dev": dev})
    assert err.value.file == str(dev)
    with pytest.raises(DataError, match="train"):
        data.load_files("oh", {"dev": dev})


def test_dataclasses_validate_and_coerce():
    split = LabeledSplit(["a"], np.array([[1, 0]]), ["x"])
    assert split.human_labels.dtype == bool and split.num_labels == 2
    with pytest.raises(ValueError, match="sizes disagree"):
        LabeledSplit(["a", "b"], np.zeros((1, 2), bool), ["x"])
    with pytest.raises(ValueError):
        LabeledDataset("d", ["one"], {"train": split}, False, "here")


# --------------------------------------------------------------------------------------------------------
# Bad input: every error names file, row and column
# --------------------------------------------------------------------------------------------------------


def test_data_error_format_and_pickle():
    err = DataError("unknown label id 31 (labels are 0..27)", file="/x/train.tsv", row=17, column="labels")
    assert str(err) == "train.tsv, row 17, column 'labels': unknown label id 31 (labels are 0..27)"
    assert isinstance(err, ValueError)
    back = pickle.loads(pickle.dumps(err))
    assert (back.file, back.row, back.column, back.message) == (err.file, 17, "labels", err.message)


def test_unknown_label_id_goemotions_style(tmp_path):
    path = write(tmp_path / "train.tsv", "good\t1\ta\nbad\t31\tb\n")
    with pytest.raises(DataError) as err:
        read_table(path, label_format="ids", label_names=data.GOEMOTIONS_LABELS, has_header=False)
    assert str(err.value) == "train.tsv, row 2, column 'labels': unknown label id 31 (labels are 0..27)"
    assert (err.value.row, err.value.column, err.value.line) == (2, "labels", 2)


def test_non_integer_id(tmp_path):
    path = write(tmp_path / "t.tsv", "good\t1\ta\nbad\t1,x\tb\n")
    with pytest.raises(DataError, match=r"t.tsv, row 2, column 'labels': label 'x' is not a label id"):
        read_table(path, label_format="ids")


def test_unknown_label_name_lists_valid_names(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\na,joy\nb,glee\n")
    with pytest.raises(DataError) as err:
        read_table(path, label_format="names", label_names=["joy", "anger"])
    assert str(err.value) == "d.csv, row 2 (line 3), column 'label': unknown label 'glee' (labels: joy, anger)"


def test_missing_text_column_lists_columns(tmp_path):
    path = write(tmp_path / "d.csv", "sentence_x,label\na,1\n")
    with pytest.raises(DataError) as err:
        read_table(path)
    assert err.value.file == str(path) and err.value.column == "text"
    assert "columns found: sentence_x, label" in str(err.value)
    with pytest.raises(DataError, match="no text column named 'body' .columns found: sentence_x, label"):
        read_table(path, text_column="body")


def test_missing_label_column_lists_columns(tmp_path):
    path = write(tmp_path / "d.csv", "text,author,score\na,me,5\n")
    with pytest.raises(DataError) as err:
        read_table(path)
    message = str(err.value)
    assert message.startswith("d.csv, column 'labels': no label column")
    assert "column 'author' is not 0/1" in message and "columns found: text, author, score" in message
    with pytest.raises(DataError, match="d.csv, column 'emotion': no labels column named 'emotion'"):
        read_table(path, labels_column="emotion")


def test_empty_and_whitespace_text(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nfine,joy\n   ,joy\n")
    with pytest.raises(DataError) as err:
        read_table(path)
    assert str(err.value) == "d.csv, row 2 (line 3), column 'text': text is only whitespace"
    path = write(tmp_path / "e.csv", 'text,label\nfine,joy\n"",joy\n')
    with pytest.raises(DataError, match=r"e.csv, row 2 \(line 3\), column 'text': empty text"):
        read_table(path)


def test_single_label_row_without_label(tmp_path):
    path = write(tmp_path / "s.txt", "ok;joy\nnothing here;\n")
    with pytest.raises(DataError) as err:
        read_table(path, label_format="single", sep=";")
    assert str(err.value).startswith("s.txt, row 2, column 'labels': no label")
    path = write(tmp_path / "m.csv", 'text,label\na,"joy,anger"\n')
    with pytest.raises(DataError, match="row 1 .line 2., column 'label': more than one label"):
        read_table(path, label_format="single", label_names=["joy", "anger"])


def test_bad_onehot_value(tmp_path):
    path = write(tmp_path / "o.csv", "text,joy,anger\na,1,0\nb,yes,0\n")
    with pytest.raises(DataError) as err:
        read_table(path, label_format="onehot")
    assert str(err.value) == "o.csv, row 2 (line 3), column 'joy': expected 0 or 1 in a one-hot label column, got 'yes'"


def test_bad_encoding_names_byte_offset_row_and_column(tmp_path):
    path = write(tmp_path / "train.tsv", b"fine\t1\ta\ncaf\xe9 au lait\t2\tb\n")
    with pytest.raises(DataError) as err:
        read_table(path, has_header=False)
    assert (err.value.row, err.value.column, err.value.line) == (2, "text", 2)
    assert "not UTF-8: byte 0xe9 at byte offset 12" in str(err.value)
    assert str(err.value).startswith("train.tsv, row 2, column 'text':")
    path = write(tmp_path / "x.jsonl", b'{"text": "ok", "label": "a"}\n{"text": "ok", "label": "b\xff"}\n')
    with pytest.raises(DataError, match=r"x.jsonl, row 2, column 'label': not UTF-8: byte 0xff"):
        read_table(path)


def test_ragged_tsv_gives_line_number(tmp_path):
    # quoting off: a tab in the text makes a fourth field
    path = write(tmp_path / "train.tsv", "a\t1\tx\n\nb\t2\ty\nc\tstray\t3\tz\n")
    with pytest.raises(DataError) as err:
        read_table(path, has_header=False)
    assert (err.value.row, err.value.line) == (3, 4)
    assert str(err.value).startswith("train.tsv, row 3 (line 4): 4 fields, expected 3")
    path = write(tmp_path / "short.tsv", "a\t1\tx\nb\t2\ty\nc\n")
    with pytest.raises(DataError) as err:
        read_table(path, has_header=False)
    assert str(err.value).startswith("short.tsv, row 3, column 'labels': 1 fields, expected 3")


def test_ragged_csv_counts_lines_of_quoted_newlines(tmp_path):
    path = write(tmp_path / "r.csv", 'text,label\n"two\nlines",1\nthree,fields,0\n')
    with pytest.raises(DataError) as err:
        read_table(path)
    assert (err.value.row, err.value.line) == (2, 4)
    assert "3 fields, expected 2" in str(err.value)


def test_malformed_quotes_give_line(tmp_path):
    path = write(tmp_path / "q.csv", 'text,label\nok,1\n"never closed,1\nmore,2\n')
    with pytest.raises(DataError) as err:
        read_table(path)
    assert err.value.line == 3 and "malformed CSV" in str(err.value)


def test_empty_files(tmp_path):
    for name, content in [("e.csv", ""), ("w.tsv", "\n  \n"), ("e.jsonl", "")]:
        with pytest.raises(DataError, match="the file is empty") as err:
            read_table(write(tmp_path / name, content))
        assert err.value.file == str(tmp_path / name)
    with pytest.raises(DataError, match="h.csv: no data rows .only a header."):
        read_table(write(tmp_path / "h.csv", "text,label\n"))
    path = tmp_path / "e.parquet"
    pd.DataFrame({"text": pd.Series([], dtype=str), "label": pd.Series([], dtype=str)}).to_parquet(path)
    with pytest.raises(DataError, match="e.parquet: no data rows"):
        read_table(path)


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"data.docx: unknown file type '.docx': use one of .csv, .tsv, .txt, "
                                        r".parquet, .jsonl, .json, .xlsx, each also compressed \(.gz, .bz2, .zst\)"):
        read_table(write(tmp_path / "data.docx", "x"))
    with pytest.raises(DataError, match=r"data.xlsx: not an Excel workbook, although the name ends in .xlsx"):
        read_table(write(tmp_path / "data.xlsx", "x"))
    with pytest.raises(DataError, match="nope.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_bad_json_line_and_duplicate_ids(tmp_path):
    path = write(tmp_path / "j.jsonl", '{"text": "a", "label": "x"}\n\n{"text": "b", "label": \n')
    with pytest.raises(DataError) as err:
        read_table(path)
    assert (err.value.row, err.value.line) == (2, 3) and "invalid JSON" in str(err.value)
    path = write(tmp_path / "d.csv", "id,text,label\n1,a,x\n2,b,x\n1,c,y\n")
    with pytest.raises(DataError, match=r"row 3 \(line 4\), column 'id': duplicate id '1' \(first used on row 1\)"):
        read_table(path)


def test_headerless_label_file_names_column_positions(tmp_path):
    path = write(tmp_path / "h.tsv", "a\t1\nb\t2\n")
    with pytest.raises(DataError, match="h.tsv, column '5': no column 5: the file has no header and 2 columns"):
        read_table(path, labels_column=5, has_header=False)


def test_upload_naming_and_file_preview_behind_the_data_page(tmp_path):
    assert [guess_split(n) for n in ("train.csv", "my_val.tsv", "dev.jsonl", "x-test.parquet", "data.csv")] == [
        "train", "dev", "dev", "test", "train"]
    assert dataset_name_from("my emotions_train.csv") == "my-emotions"
    (tmp_path / "plain.tsv").write_text('a "quoted" text\t1,2\tid-1\n')
    preview = preview_table(tmp_path / "plain.tsv", has_header=False)
    assert list(preview.columns) == [0, 1, 2] and preview.iloc[0, 0] == 'a "quoted" text'


def test_uploads_are_saved_one_file_per_split_inside_the_folder(tmp_path):
    files = data.save_uploads([("train", "../../moods_train.csv", b"text,label\na,joy\n"),
                               ("test", "..", b"text,label\nb,joy\n")], tmp_path)
    assert files == {"train": tmp_path / "train" / "moods_train.csv", "test": tmp_path / "test" / "upload"}
    assert files["train"].read_bytes() == b"text,label\na,joy\n"
    with pytest.raises(ValueError, match="^Two files are marked as the 'dev' split; give each split one file.$"):
        data.save_uploads([("train", "a.csv", b""), ("dev", "b.csv", b""), ("dev", "c.csv", b"")], tmp_path / "two")
    with pytest.raises(ValueError, match=r"^Mark one file as the train split \(dev and test are optional\).$"):
        data.save_uploads([("dev", "b.csv", b"")], tmp_path / "none")
    with pytest.raises(ValueError, match="Unknown split"):
        data.save_uploads([("train", "a.csv", b""), ("../x", "b.csv", b"")], tmp_path / "bad")
    assert not any((tmp_path / name).exists() for name in ("two", "none", "bad"))  # nothing written when refused


def test_names_and_folders_typed_on_the_data_page(tmp_path):
    assert data.dataset_name_problem("  ", ["tiny"]) == "Give the data set a name."
    assert data.dataset_name_problem(" tiny ", ["tiny"]) == ("A data set named 'tiny' already exists; "
                                                             "choose another name.")
    assert data.dataset_name_problem("moods", ["tiny"]) is None
    assert data.goemotions_folder_problem(tmp_path) is None
    assert data.goemotions_folder_problem("/no/such/folder") == ("No folder at '/no/such/folder': give the folder "
                                                                 "that holds train.tsv, dev.tsv and test.tsv.")
    assert data.goemotions_folder_problem("").startswith("No folder at ''")
