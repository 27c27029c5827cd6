"""Files as people have them: compressed (.gz, .bz2, .zst) of every supported type, and Excel workbooks, read or
named plainly, never mistaken for text in another encoding."""
from __future__ import annotations

import bz2
import gzip
import io
import json

import pandas as pd
import pytest
import zstandard

from eqn_core.io.datasets import dataset_name_from, guess_split
from eqn_core.io.errors import DataError
from eqn_core.io.tables import preview_table, read_table, read_texts

ROWS = [("so happy today", "0"), ("this is awful", "1"), ("happy and sad", "0,1")]
COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress, ".zst": lambda data: zstandard.ZstdCompressor().compress(data)}


def plain_bytes(suffix: str) -> bytes:
    frame = pd.DataFrame(ROWS, columns=["text", "labels"])
    if suffix == ".csv":
        return frame.to_csv(index=False).encode()
    if suffix == ".tsv":
        return frame.to_csv(index=False, sep="\t").encode()
    if suffix == ".jsonl":
        return "".join(json.dumps({"text": t, "labels": l}) + "\n" for t, l in ROWS).encode()
    if suffix == ".json":
        return json.dumps([{"text": t, "labels": l} for t, l in ROWS]).encode()
    if suffix == ".parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        return buffer.getvalue()
    if suffix == ".xlsx":
        buffer = io.BytesIO()
        frame.to_excel(buffer, index=False)
        return buffer.getvalue()
    raise AssertionError(suffix)


@pytest.mark.parametrize("compression", sorted(COMPRESS))
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet", ".xlsx"])
def test_every_type_is_read_compressed_too(tmp_path, suffix, compression):
    path = tmp_path / f"train{suffix}{compression}"
    path.write_bytes(COMPRESS[compression](plain_bytes(suffix)))
    texts, labels, names, _ = read_table(path)
    assert texts == [text for text, _ in ROWS] and names == ["0", "1"]
    assert labels.sum(axis=1).tolist() == [1, 1, 2]
    assert preview_table(path)["text"].tolist() == texts


def test_a_compressed_text_file_is_one_text_per_line(tmp_path):
    path = tmp_path / "diary.txt.gz"
    path.write_bytes(gzip.compress(b"first entry\n\nsecond entry\n"))
    assert read_texts(path) == (["first entry", "second entry"], ["row-1", "row-2"])


def test_names_drop_the_compression_suffix():
    assert dataset_name_from("my_emotions_train.csv.gz") == "my_emotions"
    assert guess_split("goemotions_dev.tsv.zst") == "dev"


def test_a_file_that_is_not_what_its_name_says_is_named_plainly(tmp_path):
    path = tmp_path / "train.csv.gz"
    path.write_bytes(b"text,labels\nhello,0\n")  # not gzip at all
    with pytest.raises(DataError, match=r"train.csv.gz: not a valid .gz file .* is it really compressed with gz"):
        read_table(path)


def test_an_excel_workbook_renamed_to_csv_is_recognised_and_read(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(plain_bytes(".xlsx"))  # a workbook someone renamed: once reported as "not UTF-8"
    texts, _, _, _ = read_table(path)
    assert texts == [text for text, _ in ROWS]


def test_an_old_excel_workbook_says_what_to_do(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 600)  # the OLE2 header of an .xls
    with pytest.raises(DataError, match=r"Excel 97-2003 workbook \(.xls\): save it as CSV"):
        read_table(path)
    with pytest.raises(DataError, match=r"this is an Excel workbook \(.xls\): save it as CSV"):
        read_table(tmp_path / "book.xls")
