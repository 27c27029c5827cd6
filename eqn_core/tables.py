"""Reading one CSV/TSV/TXT/Parquet/JSON(L) table into texts, human labels and ids; bad input names file, row, column."""

from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .errors import DataError

LABEL_FORMATS = ("auto", "ids", "names", "onehot", "single")
SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".jsonl", ".json")

# Column names recognised (case-insensitive) when the caller does not say which column is which.
_TEXT_NAMES = ("text", "sentence", "comment", "content", "body", "tweet", "review", "utterance", "document")
_LABEL_NAMES = ("labels", "label", "emotions", "emotion", "sentiment", "class", "category", "target")
_ID_NAMES = ("id", "text_id", "example_id", "comment_id")

_INT = re.compile(r"\d+")
_SURROGATE = re.compile("[\udc80-\udcff]")  # invalid bytes after decoding with surrogateescape
_ONEHOT = {"0": False, "1": True, "0.0": False, "1.0": True, "false": False, "true": True}


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
    suffix = path.suffix.lower()
    header = 0 if has_header else None
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        frame = next(pq.ParquetFile(path).iter_batches(batch_size=rows)).to_pandas()
    elif suffix == ".jsonl":
        frame = pd.read_json(path, lines=True, nrows=rows)
    elif suffix == ".json":
        frame = pd.read_json(path).head(rows)
    elif suffix == ".csv":
        frame = pd.read_csv(path, nrows=rows, header=header, dtype=str, keep_default_na=False)
    elif suffix in (".tsv", ".txt"):
        first = next((line for line in path.open(encoding="utf-8", errors="replace") if line.strip()), "")
        sep = "\t" if suffix == ".tsv" else next((s for s in ("\t", ";", ",") if s in first), ",")
        frame = pd.read_csv(path, nrows=rows, header=header, sep=sep, quoting=csv.QUOTE_NONE, dtype=str,
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
    if path.suffix.lower() == ".txt" and sep is None and text_column is None and id_column is None:
        return _read_text_lines(path)
    args = dict(text_column=text_column, labels_column=None, label_columns=None, id_column=id_column,
                label_format=None, names=None)  # fmt: skip
    table, roles = _load_table(path, sep=sep, has_header=has_header, args=args)
    if roles is None:
        roles = _header_roles(table, **args)
    return _checked_texts(table, roles.text), _text_ids(table, roles.id)


# ----------------------------------------------------------------------------------------------------------
# Reading: file -> table of strings -> texts, labels, ids
# ----------------------------------------------------------------------------------------------------------


@dataclass
class _Table:
    """A file as columns of strings, with enough position information to point at any cell."""

    file: str
    columns: list[str]  # header names, or role names ("text", "labels", "id", "#3") for headerless files
    data: list[list[str]]  # data[j][i]: column j, data row i
    lines: list[int] | None  # line where data row i starts; None for Parquet / JSON arrays

    @property
    def num_rows(self) -> int:
        return len(self.data[0]) if self.data else 0

    def error(self, message: str, index: int | None = None, column: int | str | None = None) -> DataError:
        """A DataError at data row `index` (0-based) and column `column` (position or name)."""
        name = self.columns[column] if isinstance(column, int) else column
        line = self.lines[index] if index is not None and self.lines is not None else None
        row = None if index is None else index + 1
        return DataError(message, file=self.file, row=row, column=name, line=line)


@dataclass
class _Roles:
    text: int
    labels: int | None = None  # one label column (ids / names / single / auto)
    onehot: list[int] | None = None  # one 0/1 column per label
    id: int | None = None


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
) -> tuple[list[str], np.ndarray, list[str], list[str], str]:
    """read_table, also returning the label format actually used (load_files reads every split the same way)."""
    if label_format not in LABEL_FORMATS:
        raise ValueError(f"label_format must be one of {', '.join(LABEL_FORMATS)}, got {label_format!r}")
    if label_columns is not None and label_format not in ("auto", "onehot"):
        raise ValueError("label_columns goes with label_format 'onehot' (or 'auto')")
    if label_columns is not None:
        label_format = "onehot"
    names = _label_names_arg(label_names)
    args = dict(text_column=text_column, labels_column=labels_column, label_columns=label_columns,
                id_column=id_column, label_format=label_format, names=names)  # fmt: skip
    path = Path(path)
    table, roles = _load_table(path, sep=sep, has_header=has_header, args=args)
    if roles is None:
        roles = _header_roles(table, **args)

    texts = _checked_texts(table, roles.text)
    if roles.onehot is not None:
        if names is not None and len(names) != len(roles.onehot):
            raise DataError(
                f"{len(names)} label names for {len(roles.onehot)} one-hot columns", file=table.file
            )
        labels = _parse_onehot(table, roles.onehot)
        names = names if names is not None else [table.columns[j] for j in roles.onehot]
        label_format = "onehot"
    else:
        fail = functools.partial(table.error, column=roles.labels)
        labels, names, label_format = _parse_label_column(table.data[roles.labels], label_format, names, fail)

    ids = _text_ids(table, roles.id)
    return texts, labels, list(names), ids, label_format


def _checked_texts(table: _Table, column: int) -> list[str]:
    texts = list(table.data[column])
    bad = next((i for i, t in enumerate(texts) if not t.strip()), None)
    if bad is not None:
        raise table.error("empty text" if not texts[bad] else "text is only whitespace", bad, column)
    return texts


def _read_text_lines(path: Path) -> tuple[list[str], list[str]]:
    """A plain .txt of texts to annotate: every non-blank line is one text."""
    table, _ = _load_table(path, sep=None, has_header=False, args=None)
    return table.data[0], _text_ids(table, None)


def _load_table(
    path: Path, *, sep: str | None, has_header: bool | None, args: dict | None
) -> tuple[_Table, _Roles | None]:
    """Read any supported file into a _Table; headerless files also get their column roles here.

    args None reads a .txt as one text per line.
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        shown = suffix or "(no suffix)"
        raise DataError(f"unknown file type {shown!r}: use one of {', '.join(SUFFIXES)}", file=path)
    if not path.is_file():
        raise DataError("file not found" if not path.exists() else "not a file", file=path)
    data = path.read_bytes()
    if suffix == ".parquet":
        return _parquet_table(path, data), None
    if not data.strip():
        raise DataError("the file is empty", file=path)
    text, bad_offset = _decode(data)
    if suffix in (".jsonl", ".json"):
        table = _json_table(path, text, lines_format=suffix == ".jsonl")
        if bad_offset is not None:
            _raise_bad_encoding(path, data, bad_offset, table.columns, _rows_of(table))
        return table, None
    if args is None:  # one text per line (read_texts on .txt)
        return _lines_table(path, data, text, bad_offset), None
    return _delimited_table(path, data, text, bad_offset, suffix=suffix, sep=sep, has_header=has_header, args=args)


def _lines_table(path: Path, data: bytes, text: str, bad_offset: int | None) -> _Table:
    numbered = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if bad_offset is not None:
        _raise_bad_encoding(path, data, bad_offset, ["text"], [[line] for _, line in numbered])
    return _Table(str(path), ["text"], [[line for _, line in numbered]], [n for n, _ in numbered])


def _decode(data: bytes) -> tuple[str, int | None]:
    """Text of UTF-8 bytes (BOM dropped) and the offset of the first invalid byte, if any.

    Invalid bytes are kept as lone surrogates so the file can still be parsed to find the row and column.
    """
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8"), None
    except UnicodeDecodeError as err:
        return data[skip:].decode("utf-8", errors="surrogateescape"), err.start + skip


def _raise_bad_encoding(
    path: Path, data: bytes, offset: int, columns: list[str], rows, header: list[str] | None = None
) -> None:
    """Raise a DataError at the first cell that holds a byte that is not UTF-8."""
    line = data.count(b"\n", 0, offset) + 1
    message = f"not UTF-8: byte 0x{data[offset]:02x} at byte offset {offset}; save the file as UTF-8"
    if header is not None and any(_SURROGATE.search(cell) for cell in header):
        raise DataError(message + " (in the header)", file=path, line=line)
    for i, record in enumerate(rows):
        for j, cell in enumerate(record):
            if _SURROGATE.search(cell):
                column = columns[j] if j < len(columns) else f"#{j}"
                raise DataError(message, file=path, row=i + 1, column=_printable(column), line=line)
    raise DataError(message, file=path, line=line)


def _rows_of(table: _Table):
    return zip(*table.data) if table.data else iter(())


def _printable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _delimited_table(
    path: Path, data: bytes, text: str, bad_offset: int | None, *, suffix: str, sep: str | None,
    has_header: bool | None, args: dict,
) -> tuple[_Table, _Roles | None]:  # fmt: skip
    """CSV (quoted) or TSV/TXT (quoting off) into a _Table, checking encoding and field counts."""
    if sep is None:
        sep = {".csv": ",", ".tsv": "\t"}.get(suffix) or _sniff_sep(text)
    quoted = suffix == ".csv"
    records, lines = _parse_delimited(text, sep, quoted, path)
    if not records:
        raise DataError("the file is empty", file=path)

    if has_header is None:
        has_header = _guess_header(records[0], args)
    header = records[0] if has_header else None
    if has_header:
        records, lines = records[1:], lines[1:]
        if not records:
            raise DataError("no data rows (only a header)", file=path)
        width = len(header)
        columns = [c.strip() for c in header]
        roles = None
    else:
        width = Counter(map(len, records)).most_common(1)[0][0]  # the usual width, not the first row's
        columns, roles = _headerless_roles(width, path, **args)

    if bad_offset is not None:
        _raise_bad_encoding(path, data, bad_offset, columns, records, header=header)
    if header is not None:
        _check_header(path, columns)

    bad = next((i for i, r in enumerate(records) if len(r) != width), None)
    if bad is not None:
        found = len(records[bad])
        sep_name = "tab" if sep == "\t" else repr(sep)
        if found > width:
            hint = (
                "a field holding the separator must be double-quoted" if quoted
                else f"is there a {sep_name} inside the text? (this file type is read with quoting off)"
            )
            missing = None
        else:
            hint = f"the row ends before column '{columns[found]}'"
            missing = columns[found]
        raise DataError(
            f"{found} fields, expected {width} ({sep_name}-separated: {', '.join(columns)}); {hint}",
            file=path, row=bad + 1, column=missing, line=lines[bad],
        )
    table = _Table(str(path), columns, [list(c) for c in zip(*records)], lines)
    return table, roles


def _sniff_sep(text: str) -> str:
    first = next((line for line in io.StringIO(text) if line.strip()), "")  # lazily: files can be big
    return next((s for s in ("\t", ";", ",") if s in first), ",")


def _parse_delimited(text: str, sep: str, quoted: bool, path: Path) -> tuple[list[list[str]], list[int]]:
    """Records (blank lines skipped) and the line each one starts on."""
    # A quoted field can be long; the csv module's default 128 KiB limit would reject legitimate texts.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    quoting = csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quoting=quoting, strict=quoted)
    records: list[list[str]] = []
    lines: list[int] = []
    last_line = 0
    try:
        for record in reader:
            start, last_line = last_line + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            records.append(record)
            lines.append(start)
    except csv.Error as err:
        raise DataError(
            f"malformed CSV ({err}): a field holding commas, quotes or line breaks must be enclosed in "
            'double quotes, with quotes inside it doubled ("")',
            file=path, line=last_line + 1,
        ) from None
    return records, lines


def _guess_header(first: list[str], args: dict) -> bool:
    named = [args[k] for k in ("text_column", "labels_column", "id_column") if isinstance(args[k], str)]
    if named or args["label_columns"]:
        return True  # the caller names columns, so the file must have names
    cells = {cell.strip().lower() for cell in first}
    return bool(cells & {*_TEXT_NAMES, *_LABEL_NAMES, *_ID_NAMES})


def _check_header(path: Path, columns: list[str]) -> None:
    seen = Counter(columns)
    duplicated = [c for c, n in seen.items() if n > 1]
    if duplicated:
        raise DataError(f"column name '{duplicated[0]}' appears twice in the header", file=path, column=duplicated[0])


def _headerless_roles(
    width: int, file: Path, *, text_column, labels_column, label_columns, id_column, label_format, names,
) -> tuple[list[str], _Roles]:  # fmt: skip
    """Column names and roles of a file without a header: text 0, labels 1, a third column is the id."""
    for spec in (text_column, labels_column, id_column):
        if spec is not None and not (isinstance(spec, int) and 0 <= spec < width):
            raise DataError(
                f"no column {spec!r}: the file has no header and {width} columns (0..{width - 1})",
                file=file, column=str(spec),
            )
    if label_columns is not None:
        raise DataError("label_columns names columns, but the file has no header row", file=file)
    text = 0 if text_column is None else text_column
    if label_format is None:  # texts only (read_texts)
        columns = [f"#{j}" for j in range(width)]
        columns[text] = "text"
        if id_column is not None:
            columns[id_column] = "id"
        return columns, _Roles(text=text, id=id_column)
    used = {text} | ({id_column} if id_column is not None else set())
    columns = [f"#{j}" for j in range(width)]
    onehot = label_format == "onehot" or (label_format == "auto" and labels_column is None and width > 3)
    if onehot:
        label_cols = [j for j in range(width) if j not in used]
        if names is None:
            raise DataError("a file without a header needs label_names to name its 0/1 label columns", file=file)
        for j, name in zip(label_cols, names):
            columns[j] = name
        roles = _Roles(text=text, onehot=label_cols, id=id_column)
    else:
        rest = [j for j in range(width) if j not in used]
        labels = labels_column if labels_column is not None else (rest[0] if rest else None)
        if labels is None:
            raise DataError(
                f"no label column: the file has {width} column(s) and no header", file=file, column="labels"
            )
        rest = [j for j in rest if j != labels]
        ident = id_column if id_column is not None else (rest[0] if len(rest) == 1 else None)
        columns[labels] = "labels"
        if ident is not None:
            columns[ident] = "id"
        roles = _Roles(text=text, labels=labels, id=ident)
    columns[text] = "text"
    return columns, roles


def _header_roles(
    table: _Table, *, text_column, labels_column, label_columns, id_column, label_format, names,
) -> _Roles:  # fmt: skip
    """Column roles from header names: given ones, else usual names, else the only / 0-1 columns left."""
    find = functools.partial(_find_column, table)
    text = find(text_column, "text") if text_column is not None else _guess_column(table.columns, _TEXT_NAMES)
    if text is None:
        raise DataError(
            f"no text column: name it 'text' or pass text_column (columns found: {', '.join(table.columns)})",
            file=table.file, column="text",
        )
    if id_column is not None:
        ident = find(id_column, "id")
    else:
        ident = _guess_column(table.columns, _ID_NAMES, exclude={text})
    used = {text, ident}

    if label_format is None:  # texts only (read_texts)
        return _Roles(text=text, id=ident)
    if label_format == "onehot":
        specs = label_columns if label_columns is not None else names
        if specs is not None:
            onehot = [find(spec, "label") for spec in specs]
        else:
            onehot = [j for j in range(len(table.columns)) if j not in used]
        if not onehot:
            raise DataError(f"no 0/1 label columns (columns found: {', '.join(table.columns)})", file=table.file)
        return _Roles(text=text, onehot=onehot, id=ident)
    if labels_column is not None:
        return _Roles(text=text, labels=find(labels_column, "labels"), id=ident)
    labels = _guess_column(table.columns, _LABEL_NAMES, exclude=used)
    if labels is not None:
        return _Roles(text=text, labels=labels, id=ident)
    rest = [j for j in range(len(table.columns)) if j not in used]
    if len(rest) == 1:
        return _Roles(text=text, labels=rest[0], id=ident)
    not_01 = next((j for j in rest if not _is_01(table.data[j])), None)
    if label_format == "auto" and rest and not_01 is None:
        return _Roles(text=text, onehot=rest, id=ident)
    why = f"; column '{table.columns[not_01]}' is not 0/1" if not_01 is not None else ""
    raise DataError(
        "no label column: name it 'labels' or 'label', pass labels_column, or give one 0/1 column per label"
        f"{why} (columns found: {', '.join(table.columns)})",
        file=table.file, column="labels",
    )


def _find_column(table: _Table, spec: str | int, role: str) -> int:
    """Position of a column given by 0-based position or by name (exact, else case-insensitive)."""
    found = ", ".join(table.columns)
    if isinstance(spec, int) and not isinstance(spec, bool):
        if 0 <= spec < len(table.columns):
            return spec
        raise DataError(
            f"no column {spec} for the {role}: the file has {len(table.columns)} columns ({found})",
            file=table.file, column=str(spec),
        )
    if spec in table.columns:
        return table.columns.index(spec)
    folded = [j for j, c in enumerate(table.columns) if c.lower() == str(spec).strip().lower()]
    if len(folded) == 1:
        return folded[0]
    raise DataError(f"no {role} column named '{spec}' (columns found: {found})", file=table.file, column=str(spec))


def _guess_column(columns: list[str], candidates: tuple[str, ...], exclude: set | None = None) -> int | None:
    lowered = [c.strip().lower() for c in columns]
    for name in candidates:
        for j, column in enumerate(lowered):
            if column == name and j not in (exclude or set()):
                return j
    return None


def _is_01(values: list[str]) -> bool:
    return all(v.strip().lower() in _ONEHOT for v in set(values))


def _parquet_table(path: Path, data: bytes) -> _Table:
    import pyarrow as pa  # imported here: only Parquet needs it, and it is slow to import
    import pyarrow.parquet as pq

    if not data:
        raise DataError("the file is empty", file=path)
    try:
        arrow = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"not a readable Parquet file ({err})", file=path) from None
    if arrow.num_rows == 0:
        raise DataError("no data rows", file=path)
    columns = [str(c) for c in arrow.column_names]
    _check_header(path, columns)
    data_cols = [[_cell_str(v) for v in arrow.column(j).to_pylist()] for j in range(arrow.num_columns)]
    return _Table(str(path), columns, data_cols, None)


def _json_table(path: Path, text: str, *, lines_format: bool) -> _Table:
    """JSON Lines (one object per line), or a .json array of objects / object of columns."""
    records: list = []
    lines: list[int] | None = None
    if not lines_format:
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as err:
            if not err.msg.startswith("Extra data"):
                raise DataError(f"invalid JSON: {err.msg}", file=path, line=err.lineno) from None
            lines_format = True  # several JSON values: it is really JSON Lines
        else:
            records = _json_records(path, parsed)
    if lines_format:
        lines = []
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(
                    f"invalid JSON: {err.msg} (character {err.colno})", file=path, row=len(records) + 1, line=number
                ) from None
            if not isinstance(record, dict):
                raise DataError("each line must be a JSON object", file=path, row=len(records) + 1, line=number)
            records.append(record)
            lines.append(number)
    if not records:
        raise DataError("no data rows", file=path)
    columns = list(dict.fromkeys(key for record in records for key in record))  # first-seen order
    data_cols = [[_cell_str(record.get(key)) for record in records] for key in columns]
    return _Table(str(path), [str(c) for c in columns], data_cols, lines)


def _json_records(path: Path, parsed) -> list[dict]:
    if isinstance(parsed, dict):
        # column-oriented: {"text": [...], ...} or pandas' default {"text": {"0": ..., ...}, ...}
        columns = {k: list(v.values()) if isinstance(v, dict) else v for k, v in parsed.items()}
        if not all(isinstance(v, list) for v in columns.values()) or len({len(v) for v in columns.values()}) > 1:
            raise DataError("a JSON object must map column names to equally long lists", file=path)
        keys = list(columns)
        return [dict(zip(keys, values)) for values in zip(*columns.values())]
    if not isinstance(parsed, list):
        raise DataError("expected a JSON array of objects", file=path)
    for i, record in enumerate(parsed):
        if not isinstance(record, dict):
            raise DataError("each array element must be a JSON object", file=path, row=i + 1)
    return parsed


def _cell_str(value) -> str:
    """A Parquet / JSON cell as the same string a CSV would hold (lists of labels become "a,b")."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value != value:  # NaN: pandas' missing value
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return ",".join(_cell_str(v) for v in value)
    return str(value)


def _parse_label_column(
    values: list[str], label_format: str, names: list[str] | None, fail: Callable[[str, int], DataError]
) -> tuple[np.ndarray, list[str], str]:
    """One label column (ids, names or single) as an (N, C) bool matrix, the label names and the format used."""
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
    distinct = {t for parts in tokens for t in parts}
    if not distinct:
        raise fail("no labels on any row", 0)
    all_ints = all(_INT.fullmatch(t) for t in distinct)

    if label_format == "auto":
        in_names = names is not None and distinct <= set(names)
        label_format = "ids" if all_ints and not in_names else "names"
    if label_format == "ids" and not all_ints:
        k, token = next((k, t) for k, parts in enumerate(tokens) for t in parts if not _INT.fullmatch(t))
        raise fail(f"label {token!r} is not a label id (a whole number); use label_format='names'", int(first_row[k]))
    if names is None:
        if label_format == "names" or (label_format == "single" and not all_ints):
            names = sorted(distinct)
        else:
            names = [str(i) for i in range(max(int(t) for t in distinct) + 1)]
    lookup = {name: i for i, name in enumerate(names)}
    count = len(names)

    def resolve(token: str, row: int) -> int:
        if label_format != "ids" and token in lookup:
            return lookup[token]
        if label_format != "names" and _INT.fullmatch(token):  # ids, and ids in a single-label column
            if int(token) < count:
                return int(token)
            raise fail(f"unknown label id {int(token)} (labels are 0..{count - 1})", row)
        if label_format == "single" and "," in token:
            raise fail(f"more than one label ({token!r}) in a single-label file", row)
        raise fail(f"unknown label {token!r} (labels: {_list_names(names)})", row)

    matrix = np.zeros((len(uniques), count), dtype=bool)
    for k, parts in enumerate(tokens):
        for token in parts:
            matrix[k, resolve(token, int(first_row[k]))] = True
    return matrix[codes], list(names), label_format


def _parse_onehot(table: _Table, columns: list[int]) -> np.ndarray:
    labels = np.empty((table.num_rows, len(columns)), dtype=bool)
    for out, j in enumerate(columns):
        codes, uniques = pd.factorize(np.asarray(table.data[j], dtype=object))
        flags = []
        for k, cell in enumerate(uniques):
            flag = _ONEHOT.get(cell.strip().lower())
            if flag is None:
                first = int(np.argmax(codes == k))
                raise table.error(f"expected 0 or 1 in a one-hot label column, got {cell!r}", first, j)
            flags.append(flag)
        labels[:, out] = np.asarray(flags, dtype=bool)[codes]
    return labels


def _text_ids(table: _Table, column: int | None) -> list[str]:
    if column is None:
        return [f"row-{n}" for n in range(1, table.num_rows + 1)]
    ids = [value.strip() for value in table.data[column]]
    empty = next((i for i, value in enumerate(ids) if not value), None)
    if empty is not None:
        raise table.error("empty id", empty, column)
    duplicated = pd.Index(ids).duplicated()
    if duplicated.any():
        i = int(np.argmax(duplicated))
        raise table.error(f"duplicate id {ids[i]!r} (first used on row {ids.index(ids[i]) + 1})", i, column)
    return ids


def _list_names(names: list[str], limit: int = 30) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"



# ----------------------------------------------------------------------------------------------------------
# Label names
# ----------------------------------------------------------------------------------------------------------


def _label_names_arg(label_names: list[str] | str | Path | None) -> list[str] | None:
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
