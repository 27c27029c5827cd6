"""One file as a Table of string cells: CSV/TSV (delimiter sniffed, quoting checked), TXT, Parquet, JSON(L) and Excel
workbooks (the first sheet), each also compressed (.gz, .bz2, .zst); text decoded as UTF-8, bad input reported with
file, line and column."""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from eqn_core.io.columns import ColumnRoles, Table, check_header, guess_header, headerless_roles
from eqn_core.io.errors import DataError

SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".jsonl", ".json", ".xlsx")
COMPRESSIONS = (".gz", ".bz2", ".zst")  # around any of SUFFIXES: "train.csv.gz"
_SURROGATE = re.compile("[\udc80-\udcff]")  # invalid bytes after decoding with surrogateescape
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")  # Excel 97-2003 (.xls) and other OLE2 files
_ZIP_MAGIC = b"PK\x03\x04"  # .xlsx is a zip of XML parts


def content_suffix(path: str | Path) -> tuple[str, str | None]:
    """The suffix of what a file holds and its compression: "train.csv.gz" -> (".csv", ".gz")."""
    suffixes = [suffix.lower() for suffix in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        return (suffixes[-2] if len(suffixes) > 1 else ""), suffixes[-1]
    return Path(path).suffix.lower(), None


def plain_name(path: str | Path) -> str:
    """The file name without its compression suffix: "train.csv.gz" -> "train.csv"."""
    name = Path(path).name
    compression = content_suffix(name)[1]
    return name[: -len(compression)] if compression else name


def read_file_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when its name ends in .gz, .bz2 or .zst."""
    data = path.read_bytes()
    compression = content_suffix(path)[1]
    if compression is None:
        return data
    try:
        if compression == ".gz":
            return gzip.decompress(data)
        if compression == ".bz2":
            return bz2.decompress(data)
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    except Exception as error:  # gzip: OSError/EOFError, bz2: OSError/ValueError, zstandard: ZstdError
        raise DataError(f"not a valid {compression} file ({type(error).__name__}: {error}); is it really "
                        f"compressed with {compression[1:]}?", file=path) from None


def excel_kind(data: bytes) -> str | None:
    """"xlsx" or "xls" when the bytes are an Excel workbook (whatever the file is called), else None."""
    if data.startswith(_OLE_MAGIC):
        return "xls"
    if data.startswith(_ZIP_MAGIC):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            return None
        return "xlsx" if "xl/workbook.xml" in names else None
    return None


def _excel_as_csv(path: Path, data: bytes, kind: str) -> str:
    """The first sheet of a workbook as CSV text, every cell as written (no numbers turned into floats)."""
    if kind == "xls":
        raise DataError("this is an Excel 97-2003 workbook (.xls): save it as CSV (or .xlsx) and add that file",
                        file=path)
    import pandas as pd

    try:
        sheet = pd.read_excel(io.BytesIO(data), sheet_name=0, header=None, dtype=str, keep_default_na=False,
                              engine="openpyxl")
    except ImportError:
        raise DataError("this is an Excel workbook: save it as CSV, or install openpyxl (pip install openpyxl) to "
                        "read it directly", file=path) from None
    except Exception as error:  # a damaged workbook
        raise DataError(f"this is an Excel workbook that cannot be read ({error}); save it as CSV", file=path) from None
    return sheet.to_csv(index=False, header=False)




def load_table(
    path: Path, *, sep: str | None, has_header: bool | None, args: dict | None
) -> tuple[Table, ColumnRoles | None]:
    """Read any supported file into a Table; headerless files also get their column roles here.

    args None reads a .txt as one text per line.
    """
    suffix, _ = content_suffix(path)
    if suffix in (".xls", ".xlsm"):
        raise DataError(f"this is an Excel workbook ({suffix}): save it as CSV (or .xlsx) and add that file",
                        file=path)
    if suffix not in SUFFIXES:
        shown = suffix or "(no suffix)"
        raise DataError(f"unknown file type {shown!r}: use one of {', '.join(SUFFIXES)}, each also compressed "
                        f"({', '.join(COMPRESSIONS)})", file=path)
    if not path.is_file():
        raise DataError("file not found" if not path.exists() else "not a file", file=path)
    data = read_file_bytes(path)
    excel = excel_kind(data)
    if excel is not None:  # an .xlsx, or a workbook saved under another name: read its first sheet as CSV
        data, suffix = _excel_as_csv(path, data, excel).encode("utf-8"), ".csv"
    elif suffix == ".xlsx":
        raise DataError("not an Excel workbook, although the name ends in .xlsx", file=path)
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



