"""Label cells: the format of a label column is decided by the whole column, and a cell that fits it is reported at
its own file, row and column."""
from __future__ import annotations

import pytest

from eqn_core.io.datasets import load_files
from eqn_core.io.errors import DataError
from eqn_core.io.label_parsing import parse_label_column


def fail(message: str, row: int) -> DataError:
    return DataError(message, row=row + 1, column="labels")


def test_one_decimal_among_ids_is_an_error_at_its_row_not_a_switch_to_names():
    values = ["0", "1,2", "3.7", "2", "0,1"]
    with pytest.raises(DataError, match=r"row 3, column 'labels': label '3.7' is not a label id \(ids are whole "
                                        r"numbers from 0\)"):
        parse_label_column(values, "auto", None, fail)


def test_a_column_of_names_with_a_number_among_them_stays_names():
    matrix, names, label_format = parse_label_column(["joy", "anger,joy", "2020", "fear"], "auto", None, fail)
    assert label_format == "names" and names == ["2020", "anger", "fear", "joy"]
    assert matrix.sum() == 5


def test_ids_and_known_names_keep_their_formats():
    assert parse_label_column(["0", "1,2"], "auto", None, fail)[2] == "ids"
    assert parse_label_column(["1", "2"], "auto", ["a", "1", "2"], fail)[2] == "names"  # names that look like ids


def test_the_error_names_the_file_that_holds_the_bad_cell(tmp_path):
    # before: the train file's ids were read as names because of "3.7", and the dev file was blamed
    train = tmp_path / "tiny_train.csv"
    train.write_text("text,labels\n" + "".join(f"text {i},{i % 3}\n" for i in range(8)) + "odd one,3.7\n")
    dev = tmp_path / "tiny_dev.csv"
    dev.write_text("text,labels\n" + "".join(f"dev {i},{i % 3}\n" for i in range(12)))
    with pytest.raises(DataError) as error:
        load_files("tiny", {"train": train, "dev": dev})
    assert str(error.value).startswith("tiny_train.csv, row 9 (line 10), column 'labels': label '3.7' is not a label id")
