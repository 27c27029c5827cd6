"""Own texts in, streamed: CSV/TSV/TXT/Parquet/JSON(L) files (each also .gz, .bz2 or .zst) without labels become
one Parquet file of texts, never held in memory whole.

`write_texts_parquet(files, target)` reads the files in order, in batches of BATCH_ROWS texts, checks every cell it
keeps (an empty text, a NUL byte, bytes that are not UTF-8, an empty or duplicate id: a DataError naming file, row
and column), and writes `target` with, in input order:

    row_idx      BIGINT   0-based position in the whole set (the files one after another)
    text_id      VARCHAR  the id column's value (trimmed), else "row-<row_idx + 1>"
    text         VARCHAR  the text as written (never empty or only whitespace)
    source_file  VARCHAR  the name of the file it came from
    source_row   BIGINT   its 1-based data row in that file (what DataError calls the row)
    <metadata>   VARCHAR  every other column, as the file writes it; NULL where a file lacks the column

Files: .csv (comma, or ';' when the header has no comma; double quotes), .tsv (tab, quoting off), both with a
header row; .txt (one text per line, blank lines skipped); .jsonl (one object per line); .json (an array of objects,
read whole: use JSON Lines for big files); .parquet. The text column is given or found by name (io.columns
TEXT_NAMES), the id column likewise (ID_NAMES) or absent. Metadata names are compared ignoring case (DuckDB's rule);
one that clashes with a fixed column gets the suffix "_meta".
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eqn_core.io.errors import DataError
from eqn_core.io.file_formats import COMPRESSIONS, content_suffix
from eqn_core.io.text_readers import (
    Source,
    check_id,
    check_text,
    delimited_batches,
    find_columns,
    json_batches,
    json_cell,
    lines_batches,
    metadata_names,
    not_utf8,
)

FIXED_COLUMNS = ("row_idx", "text_id", "text", "source_file", "source_row")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet")
BATCH_ROWS = 20_000  # texts per batch read and written
ROW_GROUP_ROWS = 8_192  # rows per Parquet row group of texts.parquet: a page of rows reads only its row groups


def write_texts_parquet(files, target: str | Path, *, text_column: str | int | None = None,
                        id_column: str | int | None = None) -> dict:
    """Stream `files` (one path or several) into the Parquet file `target` (module docstring); nothing is left
    at `target` when a DataError says what is wrong and where.

    Returns {"rows": N, "metadata_columns": [names], "files": [{"path", "name", "format", "rows", "text_column",
    "id_column", "columns"}]} (columns: that file's metadata columns, as named in the output).
    """
    paths = [Path(files)] if isinstance(files, (str, Path)) else [Path(f) for f in files]
    if not paths:
        raise ValueError("Give at least one file of texts (CSV, TSV, TXT, JSONL, JSON or Parquet).")
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"Two files are called {duplicate!r}; rows are traced back by file name, so rename one.")
    target = Path(target)
    scratch = Path(tempfile.mkdtemp(prefix=".parts-", dir=target.parent))
    try:
        writer = _PartWriter(scratch)
        canonical: dict[str, str] = {}  # lower-case metadata name -> the name first seen
        summaries = []
        for path in paths:
            summary = {"path": str(path.resolve()), "name": path.name, "format": content_suffix(path)[0],
                       "rows": 0, "text_column": None, "id_column": None, "columns": []}
            for batch in _file_batches(path, scratch, summary, text_column=text_column, id_column=id_column):
                meta = {_output_name(name, canonical): values for name, values in batch.pop("metadata").items()}
                summary["columns"] = list(dict.fromkeys([*summary["columns"], *meta]))
                writer.write(batch, meta, file_name=path.name)
                summary["rows"] += len(batch["text"])
            if summary["rows"] == 0:
                raise DataError("no texts in this file", file=path)
            summaries.append(summary)
        writer.close()
        metadata_columns = list(canonical.values())
        _merge(writer.parts, target, metadata_columns)
        if any(s["id_column"] is not None for s in summaries):
            _check_unique_ids(target, paths, summaries)
    except BaseException:
        Path(target).unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"rows": writer.rows, "metadata_columns": metadata_columns, "files": summaries}


# ---------------------------------------------------------------------------------------------------------------------
# Reading one file


def _file_batches(path: Path, scratch: Path, summary: dict, **columns) -> Iterator[dict]:
    """The batches of one file (io.text_readers); a compressed Parquet file is unpacked into `scratch` first
    (Parquet is read by seeking), and a file that is not what its compression suffix says is a DataError."""
    suffix, compression = content_suffix(path)
    if suffix not in TEXT_SUFFIXES:
        raise DataError(f"unknown file type {suffix or '(no suffix)'!r}: use one of {', '.join(TEXT_SUFFIXES)}, "
                        f"each also compressed ({', '.join(COMPRESSIONS)})", file=path)
    if not path.is_file():
        raise DataError("file not found" if not path.exists() else "not a file", file=path)
    source = Source(path)
    reader = {".csv": delimited_batches, ".tsv": delimited_batches, ".txt": lines_batches,
              ".jsonl": json_batches, ".json": json_batches, ".parquet": parquet_batches}[suffix]
    try:
        if suffix == ".parquet" and compression is not None:
            source.local = scratch / f"unpacked-{path.name}.parquet"
            with source.open_binary() as stream, open(source.local, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 22)
        yield from reader(source, summary, batch_rows=BATCH_ROWS, **columns)
    except DataError:
        raise
    except Exception as error:  # gzip: OSError/EOFError, bz2: OSError, zstandard: ZstdError
        if compression is None or (not isinstance(error, (OSError, EOFError))
                                   and type(error).__name__ != "ZstdError"):
            raise
        raise DataError(f"not a valid {compression} file ({type(error).__name__}: {error}); is it really "
                        f"compressed with {compression[1:]}?", file=path) from None


# ---------------------------------------------------------------------------------------------------------------------
# Writing: parts while reading, one file at the end


class _PartWriter:
    """Batches into Parquet parts; a new part whenever the metadata columns change (JSON records may differ)."""

    def __init__(self, folder: Path):
        self.folder, self.parts, self.rows = folder, [], 0
        self._writer, self._schema = None, None

    def write(self, batch: dict, metadata: dict[str, list], *, file_name: str) -> None:
        n = len(batch["text"])
        row_idx = pa.array(range(self.rows, self.rows + n), pa.int64())
        ids = batch["text_id"]
        text_ids = (pa.array(ids, pa.string()) if ids is not None
                    else pa.array([f"row-{i}" for i in range(self.rows + 1, self.rows + n + 1)], pa.string()))
        columns = {"row_idx": row_idx, "text_id": text_ids, "text": _strings(batch["text"]),
                   "source_file": pa.array([file_name] * n, pa.string()),
                   "source_row": pa.array(batch["source_row"], pa.int64())}
        columns.update({name: _strings(values) for name, values in metadata.items()})
        table = pa.table(columns)
        if self._schema is None or not table.schema.equals(self._schema):
            self.close()
            self.parts.append(self.folder / f"part-{len(self.parts):05d}.parquet")
            self._writer, self._schema = pq.ParquetWriter(self.parts[-1], table.schema), table.schema
        self._writer.write_table(table)
        self.rows += n

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _strings(values) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values if values.type == pa.string() else pc.cast(values, pa.string())
    return pa.array(values, pa.string())


def _output_name(name: str, canonical: dict[str, str]) -> str:
    """The name a metadata column gets in the output: the spelling first seen (ignoring case), '_meta' appended
    while it clashes with a fixed column."""
    key = name.lower()
    if key not in canonical:
        taken = {c.lower() for c in FIXED_COLUMNS} | set(canonical)
        output = name
        while output.lower() in taken:
            output += "_meta"
        canonical[key] = output
    return canonical[key]


def _merge(parts: list[Path], target: Path, metadata_columns: list[str]) -> None:
    """The parts, in order, as one file with every column (NULL where a part lacks one), in row groups of
    ROW_GROUP_ROWS rows."""
    schema = pa.schema([("row_idx", pa.int64()), ("text_id", pa.string()), ("text", pa.string()),
                        ("source_file", pa.string()), ("source_row", pa.int64()),
                        *[(name, pa.string()) for name in metadata_columns]])
    pending: list[pa.Table] = []
    with pq.ParquetWriter(target, schema, compression="zstd") as writer:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches(batch_size=BATCH_ROWS):
                present = set(batch.schema.names)
                pending.append(pa.table([batch.column(f.name) if f.name in present else pa.nulls(len(batch), f.type)
                                         for f in schema], schema=schema))
                if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                    table = pa.concat_tables(pending)
                    whole = table.num_rows - table.num_rows % ROW_GROUP_ROWS
                    writer.write_table(table.slice(0, whole), row_group_size=ROW_GROUP_ROWS)
                    pending = [table.slice(whole)]
        if pending and sum(t.num_rows for t in pending):
            writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)


def _check_unique_ids(target: Path, paths: list[Path], summaries: list[dict]) -> None:
    """DataError at the second row that uses an id, read by DuckDB from the written file."""
    import duckdb

    with duckdb.connect() as con:
        twice = con.execute("SELECT text_id FROM read_parquet(?) GROUP BY text_id HAVING count(*) > 1 LIMIT 1",
                            [str(target)]).fetchall()
        if not twice:
            return
        rows = con.execute("SELECT source_file, source_row FROM read_parquet(?) WHERE text_id = ? ORDER BY row_idx "
                           "LIMIT 2", [str(target), twice[0][0]]).fetchall()
    (first_file, first_row), (file_name, row) = rows
    by_name = {s["name"]: s for s in summaries}
    where = f"row {first_row}" + ("" if first_file == file_name else f" of {first_file}")
    raise DataError(f"duplicate id {twice[0][0]!r} (first used on {where})",
                    file=next(p for p in paths if p.name == file_name), row=int(row),
                    column=by_name[file_name]["id_column"] or "text_id")


# ---------------------------------------------------------------------------------------------------------------------
# Parquet: Arrow batches, checked column-wise


def parquet_batches(source: Source, summary: dict, *, batch_rows: int, text_column, id_column):
    try:
        parquet = pq.ParquetFile(source.local)
    except (pa.ArrowException, OSError) as error:
        raise source.error(f"not a readable Parquet file ({error})") from None
    names = [str(name) for name in parquet.schema_arrow.names]
    text, ident = find_columns(source, names, text_column=text_column, id_column=id_column)
    meta = metadata_names(source, names, {text, ident})
    summary.update(text_column=names[text], id_column=None if ident is None else names[ident])
    kind = parquet.schema_arrow.field(text).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise source.error(f"the text column holds {kind} values, not texts", column=names[text])
    offset = 0
    for record_batch in parquet.iter_batches(batch_size=batch_rows):
        _check_utf8(source, record_batch, names, offset)
        texts = pc.cast(record_batch.column(text), pa.string())
        _first_bad(source, texts, names[text], offset, check_text,
                   pc.or_kleene(pc.equal(pc.utf8_trim_whitespace(texts), ""), pc.match_substring(texts, "\x00")))
        batch = {"text": texts, "text_id": None, "source_row": range(offset + 1, offset + len(texts) + 1),
                 "metadata": {name: _as_strings(record_batch.column(j)) for j, name in meta.items()}}
        if ident is not None:
            ids = pc.utf8_trim_whitespace(_as_strings(record_batch.column(ident)))
            _first_bad(source, ids, names[ident], offset, check_id, pc.equal(ids, ""))
            batch["text_id"] = ids
        offset += len(texts)
        yield batch
    if offset == 0:
        raise source.error("no data rows")


def _first_bad(source: Source, values: pa.Array, column: str, offset: int, check, bad: pa.Array) -> None:
    """Run `check` (which raises) on the first value that is null or where `bad` holds."""
    bad = pc.fill_null(pc.or_kleene(pc.is_null(values), bad), True)
    if pc.any(bad).as_py():
        k = pc.index(bad, True).as_py()
        check(source, values[k].as_py(), row=offset + k + 1, column=column)


def _check_utf8(source: Source, record_batch: pa.RecordBatch, names: list[str], offset: int) -> None:
    try:
        record_batch.validate(full=True)
    except pa.ArrowInvalid:
        for j, column in enumerate(record_batch.columns):
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                for k, value in enumerate(column.cast(pa.large_binary()).to_pylist()):
                    try:
                        None if value is None else value.decode("utf-8")
                    except UnicodeDecodeError as error:
                        raise not_utf8(source, value, error, row=offset + k + 1, column=names[j], line=None) from None
        raise


def _as_strings(column: pa.Array) -> pa.Array:
    """A Parquet column as strings: values cast as Arrow writes them, lists and records as JSON."""
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([json_cell(value) if not isinstance(value, bytes) else value.decode("utf-8", "replace")
                         for value in column.to_pylist()], pa.string())
