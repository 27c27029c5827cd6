"""Reading one CSV/TSV/TXT/Parquet/JSON(L) table into texts, human labels and ids; bad input names file, row, column."""

from __future__ import annotations

import csv
import functools
import io
from pathlib import Path

import numpy as np
import pandas as pd

from eqn_core.io.columns import Table, header_roles
from eqn_core.io.errors import DataError
from eqn_core.io.file_formats import content_suffix, excel_kind, load_table, read_file_bytes
from eqn_core.io.label_parsing import (
    LABEL_FORMATS,
    check_label_count,
    label_names_arg,
    parse_label_column,
    parse_onehot,
)


def read_table(
    path: str | Path,
    *,
    text_column: str | int | None = None,
    label_format: str = "auto",
    labels_column: str | int | None = None,
    label_columns: list[str] | None = None,
    label_names: list[str] | str | Path | None = None,
    id_column: str | int | None = None,
    sep: str | None = None,
    has_header: bool | None = None,
) -> tuple[list[str], np.ndarray, list[str], list[str]]:
    """Read a CSV/TSV/TXT/Parquet/JSONL/JSON file into (texts, human_labels (N, C) bool, label_names, text_ids).

    File type comes from the suffix. .csv is parsed as real CSV (double-quoted fields may hold separators and
    newlines); .tsv and .txt are read with quoting off (quote characters are literal, one row per line);
    sep defaults to "," for .csv, tab for .tsv, and for .txt to the first of tab, ";", "," on the first line.
    has_header=None guesses: a header is assumed when a column is named by a string argument, or when the
    first row holds a usual column name (text, label, labels, id, ...). Columns are header names or 0-based
    positions. Without a header, text is column 0, labels column 1, and a third column is the id.

    label_format: "ids" (comma-separated integer ids in one column, "6,22"), "names" (comma-separated names),
    "onehot" (one 0/1 column per label: label_columns, else the columns named by label_names, else every
    column other than text/id), "single" (exactly one label per row, a name or an id), "auto" (one-hot when
    there are several 0/1 columns and no label column, ids when every label is an integer, else names).
    label_names: a list or a file with one name per line; when None they come from the one-hot columns, the
    sorted distinct names, or 0..max id. text_ids come from the id column, else "row-<n>".

    Raises DataError naming file, row and column for any bad input; nothing is returned partially.
    """
    texts, labels, names, ids, _ = read_table_and_format(
        path, text_column=text_column, label_format=label_format, labels_column=labels_column,
        label_columns=label_columns, label_names=label_names, id_column=id_column, sep=sep, has_header=has_header,
    )  # fmt: skip
    return texts, labels, names, ids


def preview_table(path: str | Path, *, has_header: bool = True, rows: int = 5) -> pd.DataFrame:
    """The first rows of a CSV/TSV/TXT/Parquet/JSONL/JSON file, to choose its columns from.

    Without a header the columns are 0-based positions, as eqn_core.data.read_table numbers them.
    Only a preview: the real read (read_table / load_files) checks every row and says what is wrong.
    """
    path = Path(path)
    suffix, _ = content_suffix(path)
    header = 0 if has_header else None
    data = read_file_bytes(path)
    if excel_kind(data) is not None:  # a workbook (whatever its name): its first sheet, as load_table reads it
        table, _ = load_table(path, sep=None, has_header=has_header, args=dict(
            text_column=None, labels_column=None, label_columns=None, id_column=None, label_format=None, names=None))
        return pd.DataFrame({column: values[:rows] for column, values in zip(table.columns, table.data)})
    source = io.BytesIO(data)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        frame = next(pq.ParquetFile(source).iter_batches(batch_size=rows)).to_pandas()
    elif suffix == ".jsonl":
        frame = pd.read_json(source, lines=True, nrows=rows)
    elif suffix == ".json":
        frame = pd.read_json(source).head(rows)
    elif suffix == ".csv":
        frame = pd.read_csv(source, nrows=rows, header=header, dtype=str, keep_default_na=False)
    elif suffix in (".tsv", ".txt"):
        first = next((line for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()), "")
        sep = "\t" if suffix == ".tsv" else next((s for s in ("\t", ";", ",") if s in first), ",")
        frame = pd.read_csv(source, nrows=rows, header=header, sep=sep, quoting=csv.QUOTE_NONE, dtype=str,
                            keep_default_na=False)
    else:
        raise ValueError(f"{path.name}: unknown file type {suffix or '(no suffix)'!r}")
    if not has_header or suffix in (".parquet", ".jsonl", ".json"):
        frame.columns = list(range(frame.shape[1])) if not has_header else [str(c) for c in frame.columns]
    return frame


def read_texts(
    path: str | Path,
    *,
    text_column: str | int | None = None,
    id_column: str | int | None = None,
    sep: str | None = None,
    has_header: bool | None = None,
) -> tuple[list[str], list[str]]:
    """Texts to annotate and their ids, from the same file types as read_table; no labels needed.

    Columns are found as in read_table (text: given, else named text/sentence/..., else column 0 without a
    header; id: given, else a column named id). A .txt file read without sep is one text per line.
    """
    path = Path(path)
    if content_suffix(path)[0] == ".txt" and sep is None and text_column is None and id_column is None:
        return _read_text_lines(path)
    args = dict(text_column=text_column, labels_column=None, label_columns=None, id_column=id_column,
                label_format=None, names=None)  # fmt: skip
    table, roles = load_table(path, sep=sep, has_header=has_header, args=args)
    if roles is None:
        roles = header_roles(table, **args)
    return _checked_texts(table, roles.text), _text_ids(table, roles.id)


# ----------------------------------------------------------------------------------------------------------
# Reading: file -> table of strings -> texts, labels, ids
# ----------------------------------------------------------------------------------------------------------


def read_table_and_format(
    path: str | Path,
    *,
    text_column: str | int | None = None,
    label_format: str = "auto",
    labels_column: str | int | None = None,
    label_columns: list[str] | None = None,
    label_names: list[str] | str | Path | None = None,
    id_column: str | int | None = None,
    sep: str | None = None,
    has_header: bool | None = None,
    names_from: str | None = None,
) -> tuple[list[str], np.ndarray, list[str], list[str], str]:
    """read_table, also returning the label format actually used (load_files reads every split the same way).
    names_from: where label_names came from (another split's file), said in unknown-label errors."""
    if label_format not in LABEL_FORMATS:
        raise ValueError(f"label_format must be one of {', '.join(LABEL_FORMATS)}, got {label_format!r}")
    if label_columns is not None and label_format not in ("auto", "onehot"):
        raise ValueError("label_columns goes with label_format 'onehot' (or 'auto')")
    if label_columns is not None:
        label_format = "onehot"
    names = label_names_arg(label_names)
    args = dict(text_column=text_column, labels_column=labels_column, label_columns=label_columns,
                id_column=id_column, label_format=label_format, names=names)  # fmt: skip
    path = Path(path)
    table, roles = load_table(path, sep=sep, has_header=has_header, args=args)
    if roles is None:
        roles = header_roles(table, **args)

    texts = _checked_texts(table, roles.text)
    if roles.onehot is not None:
        if names is not None and len(names) != len(roles.onehot):
            raise DataError(
                f"{len(names)} label names for {len(roles.onehot)} one-hot columns", file=table.file
            )
        check_label_count(len(roles.onehot), lambda message: DataError(message, file=table.file))
        for j in roles.onehot:
            _check_cells(table, j, "a 0/1 label")
        labels = parse_onehot([table.data[j] for j in roles.onehot],
                              lambda message, row, k: table.error(message, row, roles.onehot[k]))
        names = names if names is not None else [table.columns[j] for j in roles.onehot]
        label_format = "onehot"
    else:
        _check_cells(table, roles.labels, "labels", lists=True)
        fail = functools.partial(table.error, column=roles.labels)
        labels, names, label_format = parse_label_column(table.data[roles.labels], label_format, names, fail,
                                                         names_from=names_from)

    ids = _text_ids(table, roles.id)
    return texts, labels, list(names), ids, label_format


def _checked_texts(table: Table, column: int) -> list[str]:
    _check_cells(table, column, "text")
    texts = list(table.data[column])
    bad = next((i for i, t in enumerate(texts) if not t.strip()), None)
    if bad is not None:
        raise table.error("empty text" if not texts[bad] else "text is only whitespace", bad, column)
    nul = next((i for i, t in enumerate(texts) if "\x00" in t), None)
    if nul is not None:
        raise table.error("the text holds a NUL byte (\\x00): remove it or save the file as plain UTF-8 text",
                          nul, column)
    return texts


def _check_cells(table: Table, column: int, role: str, *, lists: bool = False) -> None:
    """A column used as `role` must hold plain values: no nested records (Parquet structs, JSON objects), and
    lists only where lists: True (a label column may hold a list of labels, a text column one text)."""
    kind = table.kinds.get(column) if table.kinds else None
    if kind is None or (kind == "list" and lists):
        return
    row = next(i for i, cell in enumerate(table.data[column]) if cell)
    what = {"list": "a list of values", "record": "a nested record (a Parquet struct or a JSON object)"}[kind]
    expected = "one text per row" if role == "text" else (
        "label ids or names, or a list of them" if lists else f"one value per row for {role}")
    raise table.error(f"the cell is {what}, but the {role} column must hold {expected}", row, column)






























def _text_ids(table: Table, column: int | None) -> list[str]:
    if column is None:
        return [f"row-{n}" for n in range(1, table.num_rows + 1)]
    _check_cells(table, column, "id")
    ids = [value.strip() for value in table.data[column]]
    empty = next((i for i, value in enumerate(ids) if not value), None)
    if empty is not None:
        raise table.error("empty id", empty, column)
    duplicated = pd.Index(ids).duplicated()
    if duplicated.any():
        i = int(np.argmax(duplicated))
        raise table.error(f"duplicate id {ids[i]!r} (first used on row {ids.index(ids[i]) + 1})", i, column)
    return ids


def _read_text_lines(path: Path) -> tuple[list[str], list[str]]:
    """A plain .txt of texts to annotate: every non-blank line is one text."""
    table, _ = load_table(path, sep=None, has_header=False, args=None)
    return table.data[0], _text_ids(table, None)
