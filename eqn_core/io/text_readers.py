"""Readers of unlabelled text files, streamed in batches: CSV/TSV, TXT, JSON Lines / JSON, Parquet.

Each reader yields batches {"text": [...], "text_id": [...] or None, "source_row": [...], "metadata": {name:
values}} of at most batch_rows texts, checking every cell it keeps, and fills in the file's summary (text_column,
id_column). Bytes that are not UTF-8 are found by reading the file again with surrogateescape, so the first pass
stays fast; io.text_files writes the batches.
"""
from __future__ import annotations

import bz2
import csv
import gzip
import io
import itertools
import json
import re
from pathlib import Path

from eqn_core.io.columns import ID_NAMES, TEXT_NAMES
from eqn_core.io.errors import DataError
from eqn_core.io.file_formats import content_suffix

_SURROGATE = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, kept by surrogateescape


class Source:
    """One input file: where it is (`local`: a compressed Parquet file unpacked), how to open it, errors there."""

    def __init__(self, path: Path, local: Path | None = None):
        self.path = path
        self.local = local or path
        self.suffix, self.compression = content_suffix(path)

    def open_binary(self):
        """The file's bytes as a buffered stream, decompressed on the fly (.gz, .bz2, .zst)."""
        if self.compression == ".gz":
            return gzip.open(self.path, "rb")
        if self.compression == ".bz2":
            return bz2.open(self.path, "rb")
        if self.compression == ".zst":
            import zstandard

            return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(self.path, "rb"), closefd=True))
        return open(self.path, "rb")

    def error(self, message: str, *, row: int | None = None, column: str | None = None,
              line: int | None = None) -> DataError:
        return DataError(message, file=self.path, row=row, column=column, line=line)


# ---------------------------------------------------------------------------------------------------------------------
# Columns and cells


def find_columns(source: Source, names: list[str], *, text_column, id_column) -> tuple[int, int | None]:
    """Positions of the text column and the id column (None: ids are "row-<n>") among a file's column names:
    given (a name, exact or ignoring case, or a 0-based position), else found by the usual names."""
    found = ", ".join(names)

    def named(spec, role: str) -> int:
        if isinstance(spec, int) and not isinstance(spec, bool):
            if 0 <= spec < len(names):
                return spec
            raise source.error(f"no column {spec} for the {role}: the file has {len(names)} columns ({found})",
                               column=str(spec))
        if spec in names:
            return names.index(spec)
        folded = [j for j, name in enumerate(names) if name.strip().lower() == str(spec).strip().lower()]
        if len(folded) == 1:
            return folded[0]
        raise source.error(f"no {role} column named '{spec}' (columns found: {found})", column=str(spec))

    def guessed(candidates, exclude=None) -> int | None:
        lowered = [name.strip().lower() for name in names]
        return next((lowered.index(c) for c in candidates if c in lowered and lowered.index(c) != exclude), None)

    text = named(text_column, "text") if text_column is not None else guessed(TEXT_NAMES)
    if text is None:
        raise source.error(f"no text column: name it 'text' (or {', '.join(TEXT_NAMES[1:])}) or say which column "
                           f"holds the texts (text_column, --text-column); columns found: {found}", column="text")
    ident = named(id_column, "id") if id_column is not None else guessed(ID_NAMES, exclude=text)
    if ident == text:
        raise source.error("the id column cannot be the text column", column=names[text])
    return text, ident


def metadata_names(source: Source, names: list[str], skip: set) -> dict[int, str]:
    """position -> metadata name for every column but the text and id: trimmed, 'column_<n>' when blank; two names
    equal but for case are refused (DuckDB compares names ignoring case)."""
    result, seen = {}, {}
    for j, name in enumerate(names):
        if j in skip:
            continue
        name = name.strip() or f"column_{j + 1}"
        if name.lower() in seen:
            raise source.error(f"column names '{seen[name.lower()]}' and '{name}' differ only in case (or "
                               "repeat); rename one", column=name)
        seen[name.lower()] = name
        result[j] = name
    return result


def check_text(source: Source, text, *, row: int, column: str, line: int | None = None) -> str:
    if text is None or text == "":
        raise source.error("empty text", row=row, column=column, line=line)
    if not isinstance(text, str):
        raise source.error(f"the cell holds {type(text).__name__} {str(text)[:40]!r}, but the text column must "
                           "hold one text per row", row=row, column=column, line=line)
    if not text.strip():
        raise source.error("text is only whitespace", row=row, column=column, line=line)
    if "\x00" in text:
        raise source.error("the text holds a NUL byte (\\x00): remove it or save the file as plain UTF-8 text",
                           row=row, column=column, line=line)
    return text


def check_id(source: Source, value, *, row: int, column: str, line: int | None = None) -> str:
    value = "" if value is None else str(value).strip()
    if not value:
        raise source.error("empty id", row=row, column=column, line=line)
    return value


def _bad_bytes(source: Source, cells, columns, *, row: int | None, line: int | None) -> None:
    """Raise at the first cell holding a byte that is not UTF-8 (text decoded with surrogateescape)."""
    for column, cell in zip(columns, cells):
        found = _SURROGATE.search(cell) if isinstance(cell, str) else None
        if found:
            raise source.error(f"not UTF-8: byte 0x{ord(found.group()) - 0xDC00:02x}; save the file as UTF-8",
                               row=row, column=column, line=line)


def not_utf8(source: Source, data: bytes, error: UnicodeDecodeError, *, row: int, column: str | None,
              line: int) -> DataError:
    return source.error(f"not UTF-8: byte 0x{data[error.start]:02x}; save the file as UTF-8", row=row,
                        column=column, line=line)


def json_cell(value) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                                                       default=str)


def _empty_batch(with_ids: bool) -> dict:
    return {"text": [], "text_id": [] if with_ids else None, "source_row": [], "metadata": {}}


# ---------------------------------------------------------------------------------------------------------------------
# CSV / TSV


def delimited_batches(source: Source, summary: dict, *, batch_rows: int, text_column, id_column):
    """A .csv (comma, or ';' when the header holds no comma; quoted fields) or .tsv (tab, quoting off) with a
    header row."""
    try:
        yield from _delimited(source, summary, batch_rows, text_column, id_column, locate=False)
    except UnicodeDecodeError:
        for _ in _delimited(source, summary, batch_rows, text_column, id_column, locate=True):
            pass
        raise source.error("not UTF-8; save the file as UTF-8") from None


def _delimited(source: Source, summary: dict, batch_rows: int, text_column, id_column, *, locate: bool):
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # a quoted text may be long
    quoted = source.suffix == ".csv"
    with source.open_binary() as raw:
        stream = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape" if locate else "strict",
                                  newline="")
        first = stream.readline()
        sep = "\t" if not quoted else next((s for s in (",", ";", "\t") if s in first), ",")
        reader = csv.reader(itertools.chain([first], stream), delimiter=sep,
                            quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE, strict=quoted)
        names, width, row, last_line = None, 0, 0, 0
        batch = None
        try:
            for record in reader:
                start, last_line = last_line + 1, reader.line_num
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue
                if names is None:
                    if locate and any(_SURROGATE.search(cell) for cell in record):
                        raise source.error("not UTF-8 (in the header); save the file as UTF-8", line=start)
                    names, width = record, len(record)
                    text, ident = find_columns(source, names, text_column=text_column, id_column=id_column)
                    meta = metadata_names(source, names, {text, ident})
                    summary.update(text_column=names[text], id_column=None if ident is None else names[ident])
                    batch = _empty_batch(ident is not None)
                    continue
                row += 1
                if locate:
                    _bad_bytes(source, record, [*names, *(f"#{j}" for j in range(width, len(record)))], row=row,
                               line=start)
                if len(record) != width:
                    raise _width_error(source, names, record, sep, quoted, row=row, line=start)
                batch["text"].append(check_text(source, record[text], row=row, column=names[text], line=start))
                if ident is not None:
                    batch["text_id"].append(check_id(source, record[ident], row=row, column=names[ident], line=start))
                batch["source_row"].append(row)
                for j, name in meta.items():
                    batch["metadata"].setdefault(name, []).append(record[j])
                if len(batch["text"]) >= batch_rows:
                    yield batch
                    batch = _empty_batch(ident is not None)
        except csv.Error as error:
            raise source.error(f"malformed CSV ({error}): a field holding commas, quotes or line breaks must be "
                               'enclosed in double quotes, with quotes inside it doubled ("")',
                               line=last_line + 1) from None
        if names is None:
            raise source.error("the file is empty")
        if row == 0:
            raise source.error("no data rows (only a header)")
        if batch["text"]:
            yield batch


def _width_error(source: Source, names: list[str], record: list[str], sep: str, quoted: bool, *, row: int,
                 line: int) -> DataError:
    found, width = len(record), len(names)
    sep_name = "tab" if sep == "\t" else repr(sep)
    if found > width:
        hint = ("a field holding the separator must be double-quoted" if quoted
                else f"is there a {sep_name} inside the text? (this file type is read with quoting off)")
        column = None
    else:
        hint, column = f"the row ends before column '{names[found]}'", names[found]
    return source.error(f"{found} fields, expected {width} ({sep_name}-separated: {', '.join(names)}); {hint}",
                        row=row, column=column, line=line)


# ---------------------------------------------------------------------------------------------------------------------
# TXT: one text per line


def lines_batches(source: Source, summary: dict, *, batch_rows: int, text_column, id_column):
    if text_column is not None or id_column is not None:
        raise source.error("a .txt file holds one text per line and no columns; leave out the text and id column")
    summary.update(text_column="text", id_column=None)
    batch, row = _empty_batch(False), 0
    with source.open_binary() as raw:
        for number, data in enumerate(raw, start=1):
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError as error:
                raise not_utf8(source, data, error, row=row + 1, column="text", line=number) from None
            line = line.removeprefix("\ufeff") if number == 1 else line
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            row += 1
            batch["text"].append(check_text(source, line, row=row, column="text", line=number))
            batch["source_row"].append(row)
            if row % batch_rows == 0:
                yield batch
                batch = _empty_batch(False)
    if row == 0:
        raise source.error("the file is empty")
    if batch["text"]:
        yield batch


# ---------------------------------------------------------------------------------------------------------------------
# JSON Lines (streamed) and JSON arrays (read whole)


def json_batches(source: Source, summary: dict, *, batch_rows: int, text_column, id_column):
    state = {"summary": summary, "text_column": text_column, "id_column": id_column, "keys": None}
    batch = None
    for record, row, line in _json_records(source):
        if state["keys"] is None:
            _json_columns(source, state, record)
            batch = _empty_batch(state["id"] is not None)
        _add_record(source, state, batch, record, row=row, line=line)
        if len(batch["text"]) >= batch_rows:
            yield batch
            batch = _empty_batch(state["id"] is not None)
    if batch is None:
        raise source.error("no data rows")
    if batch["text"]:
        yield batch


def _json_records(source: Source):
    """(record, row, line) of a JSON Lines file (or a .json holding several values a line), or of a .json array
    of objects / object of equally long columns (line None)."""
    if source.suffix == ".json":
        with source.open_binary() as raw:
            data = raw.read()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise not_utf8(source, data, error, row=None, column=None, line=data.count(b"\n", 0, error.start) + 1)
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            if not error.msg.startswith("Extra data"):
                raise source.error(f"invalid JSON: {error.msg}", line=error.lineno) from None
        else:
            if isinstance(parsed, dict):
                columns = {k: list(v.values()) if isinstance(v, dict) else v for k, v in parsed.items()}
                lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
                if -1 in lengths or len(lengths) > 1:
                    raise source.error("a JSON object must map column names to equally long lists")
                parsed = [dict(zip(columns, values)) for values in zip(*columns.values())]
            if not isinstance(parsed, list):
                raise source.error("expected a JSON array of objects")
            for i, record in enumerate(parsed):
                if not isinstance(record, dict):
                    raise source.error("each array element must be a JSON object", row=i + 1)
                yield record, i + 1, None
            return
    row = 0
    with source.open_binary() as raw:
        for number, data in enumerate(raw, start=1):
            if not data.strip():
                continue
            row += 1
            try:
                line = data.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise not_utf8(source, data, error, row=row, column=_bad_json_key(data), line=number) from None
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise source.error(f"invalid JSON: {error.msg} (character {error.colno})", row=row,
                                   line=number) from None
            if not isinstance(record, dict):
                raise source.error("each line must be a JSON object", row=row, line=number)
            yield record, row, number


def _bad_json_key(data: bytes) -> str | None:
    """The key whose value holds the byte that is not UTF-8 (None when it cannot be told)."""
    try:
        record = json.loads(data.decode("utf-8", errors="surrogateescape"))
    except ValueError:
        return None
    if isinstance(record, dict):
        return next((str(k) for k, v in record.items() if _SURROGATE.search(f"{k}{json_cell(v)}")), None)
    return None


def _json_columns(source: Source, state: dict, first: dict) -> None:
    names = [str(key) for key in first]
    text, ident = find_columns(source, names, text_column=state["text_column"], id_column=state["id_column"])
    state.update(keys=names, text=names[text], id=None if ident is None else names[ident], meta={})
    state["summary"].update(text_column=state["text"], id_column=state["id"])


def _add_record(source: Source, state: dict, batch: dict, record: dict, *, row: int, line: int | None) -> None:
    text_key, id_key = state["text"], state["id"]
    value = record.get(text_key)
    if isinstance(value, (dict, list)):
        raise source.error("the cell is a list or a record, but the text column must hold one text per row",
                           row=row, column=text_key, line=line)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = json.dumps(value)
    batch["text"].append(check_text(source, value, row=row, column=text_key, line=line))
    if id_key is not None:
        batch["text_id"].append(check_id(source, json_cell(record.get(id_key)), row=row, column=id_key, line=line))
    n = len(batch["source_row"])
    batch["source_row"].append(row)
    seen = set()
    for key, cell in record.items():
        if key in (text_key, id_key):
            continue
        name = state["meta"].setdefault(str(key).lower(), str(key).strip() or "column")
        if name in seen:
            raise source.error(f"keys that differ only in case ('{name}', '{key}') in one record; rename one",
                               row=row, column=str(key), line=line)
        seen.add(name)
        batch["metadata"].setdefault(name, [None] * n).append(json_cell(cell))
    for values in batch["metadata"].values():
        if len(values) <= n:
            values.append(None)
