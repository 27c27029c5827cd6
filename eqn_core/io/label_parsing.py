"""Label parsing: the cells of a label column (ids, names, single) or of 0/1 columns -> an (N, C) bool matrix.

Pure functions over lists of strings; eqn_core.io.tables finds the columns in a file and gives each function a
`fail(message, row[, column])` that builds a DataError pointing at the file, row and column of a bad cell.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from eqn_core.io.errors import DataError

LABEL_FORMATS = ("auto", "ids", "names", "onehot", "single")
# More labels than this is a misread file (a text or id column taken for labels, a wide table taken for one-hot
# columns), not an emotion scheme: GoEmotions has 28.
MAX_LABELS = 1000
ONEHOT_VALUES = {"0": False, "1": True, "0.0": False, "1.0": True, "false": False, "true": True}
# Characters that separate labels in other tools; inside one label they usually mean the separator is wrong.
FOREIGN_SEPARATORS = (";", "|")

_ID = re.compile(r"-?\d+")  # an id as written; a negative one is an error, not a name
_NONNEGATIVE_ID = re.compile(r"\d+")
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)")  # written like a number: an id, or a slip such as "3.7"

Fail = Callable[[str, int], DataError]


def parse_label_column(values: list[str], label_format: str, names: list[str] | None, fail: Fail, *,
                       names_from: str | None = None) -> tuple[np.ndarray, list[str], str]:
    """One label column (ids, names or single) as an (N, C) bool matrix, the label names and the format used.

    values: the N cells, e.g. "6,22" or "joy". names: the known label names (given, or the train file's), or
    None to take them from the cells. names_from: where known names came from (said in unknown-label errors).
    fail(message, row): the error for 0-based data row `row`.
    """
    # Parse each distinct cell once (GoEmotions: ~700 distinct cells in 43k rows); uniques come in order of
    # first appearance, so the first bad cell found is also the first bad row.
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    first_row = np.unique(codes, return_index=True)[1]

    tokens: list[list[str]] = []
    for k, cell in enumerate(uniques):
        cell = cell.strip()
        if label_format == "single":
            if not cell:
                raise fail("no label: every row of a single-label file needs one", int(first_row[k]))
            tokens.append([cell])
            continue
        parts = [t.strip() for t in cell.split(",")] if cell else []
        if any(not t for t in parts):
            raise fail(f"empty label in {cell!r} (labels are separated by single commas)", int(first_row[k]))
        tokens.append(parts)
    for k, parts in enumerate(tokens):
        for token in parts:
            separator = next((s for s in FOREIGN_SEPARATORS if s in token), None)
            if separator and (names is None or token not in names):
                raise fail(f"label {token!r} holds {separator!r}: labels are separated by commas (\"1,2\"); "
                           "the separator looks wrong", int(first_row[k]))
    distinct = {t for parts in tokens for t in parts}
    if not distinct:
        raise fail("no labels on any row", 0)
    all_ids = all(_ID.fullmatch(t) for t in distinct)

    if label_format == "auto":
        label_format = _column_format(distinct, names)
    if label_format == "ids" and not all_ids:
        k, token = next((k, t) for k, parts in enumerate(tokens) for t in parts if not _ID.fullmatch(t))
        hint = ("ids are whole numbers from 0" if _NUMBER.fullmatch(token)
                else "if the labels are names, use label_format='names'")
        raise fail(f"label {token!r} is not a label id ({hint})", int(first_row[k]))
    ids_meant = label_format == "ids" or (label_format == "single" and all_ids)
    if ids_meant and (names is None or not distinct <= set(names)):
        _check_ids(tokens, first_row, names, fail)
    if names is None:
        if label_format == "names" or (label_format == "single" and not all_ids):
            names = sorted(distinct)
        else:
            names = [str(i) for i in range(max(int(t) for t in distinct) + 1)]
        check_label_count(len(names), lambda message: fail(message, 0))
    lookup = {name: i for i, name in enumerate(names)}
    count = len(names)
    source = f", from {names_from}" if names_from else ""

    def resolve(token: str, row: int) -> int:
        if label_format != "ids" and token in lookup:
            return lookup[token]
        if label_format != "names" and _NONNEGATIVE_ID.fullmatch(token):  # ids, and ids in a single-label column
            if int(token) < count:
                return int(token)
            raise fail(f"unknown label id {int(token)} (labels are 0..{count - 1}{source})", row)
        if label_format == "single" and "," in token:
            raise fail(f"more than one label ({token!r}) in a single-label file", row)
        raise fail(f"unknown label {token!r} (labels: {list_names(names)}{source})", row)

    matrix = np.zeros((len(uniques), count), dtype=bool)
    for k, parts in enumerate(tokens):
        for token in parts:
            matrix[k, resolve(token, int(first_row[k]))] = True
    return matrix[codes], list(names), label_format


def _column_format(distinct: set[str], names: list[str] | None) -> str:
    """"ids" or "names", decided by what the whole column says: names when every label is a known name, ids when
    most distinct labels are written as numbers (so one slip such as "3.7" is an error at its own row, not a reason
    to read every id of the file as a name), names otherwise."""
    if names is not None and distinct <= set(names):
        return "names"
    numbers = sum(1 for token in distinct if _NUMBER.fullmatch(token))
    return "ids" if numbers * 2 > len(distinct) else "names"


def _check_ids(tokens: list[list[str]], first_row: np.ndarray, names: list[str] | None, fail: Fail) -> None:
    """Ids must be 0 or more; without label names they must also be about dense (0..max with few gaps), so a
    stray "99" among 0..5 is an error at its row rather than 94 new labels."""
    rows_of: dict[int, int] = {}
    for k, parts in enumerate(tokens):
        for token in parts:
            rows_of.setdefault(int(token), int(first_row[k]))
    negative = [i for i in rows_of if i < 0]
    if negative:
        bad = min(negative, key=rows_of.get)
        raise fail(f"label id {bad} is negative: ids are whole numbers from 0", rows_of[bad])
    if names is not None:
        return
    highest = max(rows_of)
    unused = highest + 1 - len(rows_of)
    if unused > len(rows_of):
        raise fail(f"label id {highest} is far above the other ids ({len(rows_of)} distinct ids, {unused} of "
                   f"0..{highest} unused): a typo? If the labels really go up to {highest}, give the label names "
                   "(label_names) to say which labels exist", rows_of[highest])


def check_label_count(count: int, fail: Callable[[str], DataError]) -> None:
    if count > MAX_LABELS:
        raise fail(f"{count:,} labels, more than the {MAX_LABELS:,} EQN Studio accepts: is the right column "
                   "the label column (or are these really one 0/1 column per label)?")


def parse_onehot(columns: list[list[str]], fail: Callable[[str, int, int], DataError]) -> np.ndarray:
    """0/1 label columns (one list of N cells per label) -> (N, C) bool; fail(message, row, column_index)."""
    num_rows = len(columns[0]) if columns else 0
    labels = np.empty((num_rows, len(columns)), dtype=bool)
    for out, values in enumerate(columns):
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        flags = []
        for k, cell in enumerate(uniques):
            flag = ONEHOT_VALUES.get(cell.strip().lower())
            if flag is None:
                first = int(np.argmax(codes == k))
                raise fail(f"expected 0 or 1 in a one-hot label column, got {cell!r}", first, out)
            flags.append(flag)
        labels[:, out] = np.asarray(flags, dtype=bool)[codes]
    return labels


def is_01(values: list[str]) -> bool:
    """Whether a column holds only 0/1 (or true/false) cells: a one-hot label column."""
    return all(v.strip().lower() in ONEHOT_VALUES for v in set(values))


def list_names(names: list[str], limit: int = 30) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def label_names_arg(label_names: list[str] | str | Path | None) -> list[str] | None:
    """Label names given by the caller: a list, or a file with one name per line; None when not given."""
    if label_names is None:
        return None
    source = Path(label_names) if isinstance(label_names, (str, os.PathLike)) else None
    if isinstance(label_names, (str, os.PathLike)):
        path = Path(label_names)
        if not path.is_file():
            raise DataError("label names file not found", file=path)
        names = read_label_names_file(path)
    else:
        names = [str(name) for name in label_names]
    duplicated = [name for name, n in Counter(names).items() if n > 1]
    if duplicated:
        raise DataError(f"label name {duplicated[0]!r} is listed twice", file=source)
    if not names:
        raise DataError("no label names given", file=source)
    check_label_count(len(names), lambda message: DataError(message, file=source))
    return names


def read_label_names_file(path: Path) -> list[str]:
    """One name per line; blank lines ignored (GoEmotions' labels.txt has no final newline)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"not UTF-8 (byte offset {err.start})", file=path) from None
    names = [line.strip() for line in text.split("\n") if line.strip()]
    if not names:
        raise DataError("the file is empty", file=path)
    return names
