"""Reading one CSV/TSV/TXT/Parquet/JSON(L) table into texts, human labels and ids; bad input names file, row, column."""

from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from .columns import ColumnRoles, Table, check_header, guess_header, header_roles, headerless_roles
from .errors import DataError
from .label_parsing import (  # noqa: F401  (read_label_names_file: re-exported)
    LABEL_FORMATS, check_label_count, label_names_arg, parse_label_column, parse_onehot, read_label_names_file,
)

SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".jsonl", ".json")

_SURROGATE = re.compile("[\udc80-\udcff]")  # invalid bytes after decoding with surrogateescape


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
    table, roles = _load_table(path, sep=sep, has_header=has_header, args=args)
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


def _read_text_lines(path: Path) -> tuple[list[str], list[str]]:
    """A plain .txt of texts to annotate: every non-blank line is one text."""
    table, _ = _load_table(path, sep=None, has_header=False, args=None)
    return table.data[0], _text_ids(table, None)


def _load_table(
    path: Path, *, sep: str | None, has_header: bool | None, args: dict | None
) -> tuple[Table, ColumnRoles | None]:
    """Read any supported file into a Table; headerless files also get their column roles here.

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


def _lines_table(path: Path, data: bytes, text: str, bad_offset: int | None) -> Table:
    numbered = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if bad_offset is not None:
        _raise_bad_encoding(path, data, bad_offset, ["text"], [[line] for _, line in numbered])
    return Table(str(path), ["text"], [[line for _, line in numbered]], [n for n, _ in numbered])


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


def _rows_of(table: Table):
    return zip(*table.data) if table.data else iter(())


def _printable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _delimited_table(
    path: Path, data: bytes, text: str, bad_offset: int | None, *, suffix: str, sep: str | None,
    has_header: bool | None, args: dict,
) -> tuple[Table, ColumnRoles | None]:  # fmt: skip
    """CSV (quoted) or TSV/TXT (quoting off) into a Table, checking encoding and field counts."""
    if sep is None:
        sep = {".csv": ",", ".tsv": "\t"}.get(suffix) or _sniff_sep(text)
    quoted = suffix == ".csv"
    records, lines = _parse_delimited(text, sep, quoted, path)
    if not records:
        raise DataError("the file is empty", file=path)

    if has_header is None:
        has_header = guess_header(records[0], args)
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
        columns, roles = headerless_roles(width, path, **args)

    if bad_offset is not None:
        _raise_bad_encoding(path, data, bad_offset, columns, records, header=header)
    if header is not None:
        check_header(path, columns)

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
    table = Table(str(path), columns, [list(c) for c in zip(*records)], lines)
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


def _parquet_table(path: Path, data: bytes) -> Table:
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
    check_header(path, columns)
    kinds = {}
    for j, field in enumerate(arrow.schema):
        if pa.types.is_struct(field.type) or pa.types.is_map(field.type) or pa.types.is_union(field.type):
            kinds[j] = "record"
        elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type) or \
                pa.types.is_fixed_size_list(field.type):
            nested = field.type.value_type
            kinds[j] = "record" if pa.types.is_nested(nested) else "list"
    data_cols = [[_cell_str(v) for v in arrow.column(j).to_pylist()] for j in range(arrow.num_columns)]
    return Table(str(path), columns, data_cols, None, kinds)


def _json_table(path: Path, text: str, *, lines_format: bool) -> Table:
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
    kinds = {}
    for j, key in enumerate(columns):
        values = [record.get(key) for record in records]
        if any(isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value))
               for value in values):
            kinds[j] = "record"
        elif any(isinstance(value, list) for value in values):
            kinds[j] = "list"
    return Table(str(path), [str(c) for c in columns], data_cols, lines, kinds)


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
