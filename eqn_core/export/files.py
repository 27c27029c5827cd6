"""Output files: formats, safe targets outside the workspace, atomic writes, formula-safe CSV, provenance sidecars."""
from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import duckdb
import pandas as pd

from eqn_core.store.database import DB_FILENAME, sql_string

try:
    APP_VERSION = version("eqn-studio")  # the installed package's version, recorded in every export's provenance
except PackageNotFoundError:  # a source tree that was never installed
    APP_VERSION = "0.0.0+source"
EXPORT_FORMATS = ("csv", "parquet", "jsonl")
METADATA_KEY = "eqn_studio"
METADATA_SUFFIX = ".meta.json"
SUFFIX_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
COPY_OPTIONS = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet", "jsonl": "FORMAT json"}


@contextmanager
def written_atomically(path: Path) -> Iterator[Path]:
    """A temporary name beside path to write to (the caller moves it into place): on any failure it is removed,
    so a failed export leaves no file, and an I/O error becomes one line naming the target."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield temporary
    except (duckdb.IOException, OSError) as error:
        temporary.unlink(missing_ok=True)
        raise ValueError(f"Cannot write the export to {path}: {_first_line(error)}") from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def metadata_path_for(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + METADATA_SUFFIX)


def finish_export(temporary: Path, path: Path, fmt: str, metadata: dict) -> Path:
    """Embed the metadata (Parquet), write the sidecar, then move the file into place."""
    text = json.dumps(metadata, indent=2, default=str)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(temporary)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY.encode(): text.encode()})
        pq.write_table(table, temporary)
    sidecar = metadata_path_for(path)
    sidecar_temporary = sidecar.with_name(f".{sidecar.name}.tmp")
    sidecar_temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    os.replace(sidecar_temporary, sidecar)
    return sidecar


# Spreadsheets run a cell that starts with one of these as a formula (CSV injection); a leading quote stops them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value):
    """A CSV cell made inert for spreadsheets: "'" before a text that starts with = + - @ tab or CR."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def neutralized_sql(expression: str) -> str:
    """neutralize_cell in SQL, for a VARCHAR expression of the export's SELECT."""
    return (rf"(CASE WHEN regexp_matches({expression}, '^[-=+@\t\r]') THEN '''' || {expression} "
            f"ELSE {expression} END)")


def check_export_target(path: Path, workspace_root: str | Path | None) -> None:
    """Refuse a target inside the workspace's own files: its database (and WAL, backups), run and cache folders."""
    if workspace_root is None:
        return
    root = Path(workspace_root).expanduser().resolve()
    path = path.resolve()
    if path.parent == root and path.name.startswith(DB_FILENAME):
        raise ValueError(f"Refusing to export to {path}: it is the workspace's database file. Write the export "
                         f"to another file, e.g. in {root / 'exports'}.")
    for folder in ("runs", "cache"):
        if path.is_relative_to(root / folder):
            raise ValueError(f"Refusing to export to {path}: it is inside the workspace's {folder} folder, which "
                             f"EQN Studio manages. Write the export elsewhere, e.g. in {root / 'exports'}.")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSONL"}  # in the order pages offer them


def export_file_name_problem(name: str, fmt: str) -> str | None:
    """What is wrong with a file name typed on a page for the exports folder (None: nothing): a plain name, no
    folders, ending in the format's suffix."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name or "") or name.startswith("."):
        return "Use a plain file name: letters, digits, '.', '-' and '_' only, no folders."
    if not name.lower().endswith(f".{fmt}"):
        return f"The file name must end in .{fmt} for {FORMAT_NAMES[fmt]}."
    return None


def resolve_export_path(path: str | Path, fmt: str | None, *, overwrite: bool = False,
                        workspace_root: str | Path | None = None) -> tuple[Path, str]:
    """Check the target and pick the format (from the suffix when fmt is None); create the parent folder.

    ValueError (one line) when the target is one of the workspace's own files, exists and not overwrite,
    or its folder cannot be made."""
    if "\x00" in str(path):
        raise ValueError(f"Export path {str(path)!r} contains a NUL character.")
    path = Path(path).expanduser().resolve()
    suffix_format = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        if suffix_format is None:
            raise ValueError(f"Cannot tell the export format from {path.name!r}: use a file ending in "
                             f"{sorted(SUFFIX_FORMATS)} or pass fmt (one of {EXPORT_FORMATS}).")
        fmt = suffix_format
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; use one of {EXPORT_FORMATS}.")
    if suffix_format is not None and suffix_format != fmt:
        raise ValueError(f"The file name {path.name!r} says {suffix_format} but fmt is {fmt!r}; make them agree.")
    check_export_target(path, workspace_root)
    if path.is_dir():
        raise ValueError(f"Export path {path} is a folder; give a file name.")
    if path.exists() and not overwrite:
        raise ValueError(f"{path} already exists; choose another file name or allow overwriting it "
                         "(`eqn export --force`).")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"Cannot create the export folder {path.parent}: {_first_line(error)}") from error
    return path, fmt


def copy_to_file(con: duckdb.DuckDBPyConnection, sql: str, params: dict, target: Path, fmt: str) -> int:
    """COPY the rows of `sql` ($params) to the checked path `target` in format `fmt`; returns how many."""
    options = COPY_OPTIONS[fmt]
    try:
        result = con.execute(f"COPY ({sql}) TO $export_path ({options})", {**params, "export_path": str(target)})
    except duckdb.ParserException:
        # DuckDB before 1.2 cannot bind the COPY target: quote the checked path as a string literal.
        result = con.execute(f"COPY ({sql}) TO {sql_string(str(target))} ({options})", params)
    return int(result.fetchall()[0][0])


def write_frame(frame: pd.DataFrame, path: str | Path, *, fmt: str | None = None, overwrite: bool = False,
                workspace_root: str | Path | None = None, neutralize_formulas: bool = True) -> dict:
    """Write any table (e.g. `eqn annotate` output) to CSV / Parquet / JSONL through the same DuckDB COPY,
    via a temporary file so a failure leaves no half-written file; the same target checks and CSV
    neutralisation as export_annotations."""
    path, fmt = resolve_export_path(path, fmt, overwrite=overwrite, workspace_root=workspace_root)
    if fmt == "csv" and neutralize_formulas:
        frame = frame.rename(columns=lambda name: neutralize_cell(str(name)))
        for column in frame.columns[frame.dtypes == object]:
            frame[column] = frame[column].map(neutralize_cell)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    con = duckdb.connect()
    try:
        con.register("annotated_frame", frame)
        written = copy_to_file(con, "SELECT * FROM annotated_frame", {}, temporary, fmt)
        os.replace(temporary, path)
    except (duckdb.IOException, OSError) as error:
        temporary.unlink(missing_ok=True)
        raise ValueError(f"Cannot write {path}: {_first_line(error)}") from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    return {"path": path, "rows": written, "format": fmt}
