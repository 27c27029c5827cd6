"""Files of review decisions in: a table of decisions (CSV/TSV/Parquet/JSONL/JSON/Excel, also compressed) as string
cells, a Label Studio JSON export (its tasks) and a Label Studio users list (id -> e-mail); every error names the
file, and the row (or task) and column where it can."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from eqn_core.io.errors import DataError
from eqn_core.io.file_formats import content_suffix, load_table, read_file_bytes

# What eqn_core.export.files.neutralize_cell puts a quote before in CSV output (a spreadsheet would run it as a
# formula); a CSV read back here loses that quote again, so an exported review log imports as it was decided.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GUARDED_SUFFIXES = (".csv", ".tsv")


def restore_formula_cell(value):
    """The inverse of export.files.neutralize_cell: "'=x" -> "=x"; any other cell as it is."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def read_review_file(path: str | Path) -> pd.DataFrame:
    """A table of review decisions as a DataFrame of string cells ("" where empty), one row per data row.

    CSV / TSV cells that the export's formula guard quoted get their text back (restore_formula_cell).
    attrs: "source" (the path) and "lines" (the line each data row starts on; None for Parquet / JSON), so a
    check further up can point at a cell (review.imports)."""
    path = Path(path)
    table, _ = load_table(path, sep=None, has_header=True, args={})
    guarded = content_suffix(path)[0] in GUARDED_SUFFIXES
    columns = {}
    for name, cells in zip(table.columns, table.data):
        columns[name] = [restore_formula_cell(cell) for cell in cells] if guarded else list(cells)
    frame = pd.DataFrame(columns, dtype=object)
    frame.attrs["source"] = str(path)
    frame.attrs["lines"] = table.lines
    return frame


def read_label_studio_export(path: str | Path) -> list[dict]:
    """The tasks of a Label Studio JSON export (Export -> JSON, or GET /api/projects/ID/export?exportType=JSON):
    a list of {"data": {...}, "annotations": [...], ...}. DataError (file, task number) when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found" if not path.exists() else "not a file", file=path)
    try:
        tasks = json.loads(read_file_bytes(path).decode("utf-8"))
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 text ({error.reason} at byte {error.start})", file=path) from None
    except json.JSONDecodeError as error:
        raise DataError(f"invalid JSON: {error.msg}", file=path, line=error.lineno) from None
    if not isinstance(tasks, list):
        raise DataError("expected a JSON array of tasks (Label Studio's JSON export)", file=path)
    for number, task in enumerate(tasks, start=1):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise DataError("a task must be an object with a \"data\" object", file=path, row=number)
        if not isinstance(task.get("annotations", []), list):
            raise DataError("\"annotations\" must be a list", file=path, row=number, column="annotations")
        if "annotations" not in task:
            raise DataError("the task has no \"annotations\": export the project as JSON (not JSON-MIN or CSV), "
                            "which keeps each annotation and its annotator", file=path, row=number)
    return tasks


def read_label_studio_users(path: str | Path) -> dict[int, str]:
    """Label Studio user id -> e-mail, from its users list (the JSON of GET /api/users/) or any table file with the
    columns id and email. A JSON export names each annotator only by this id."""
    path = Path(path)
    table, _ = load_table(path, sep=None, has_header=True, args={})
    for needed in ("id", "email"):
        if needed not in table.columns:
            raise table.error(f"a users list needs the columns id and email (Label Studio: GET /api/users/); "
                              f"found {table.columns}", column=needed)
    ids, emails = table.data[table.columns.index("id")], table.data[table.columns.index("email")]
    users: dict[int, str] = {}
    for index, (user_id, email) in enumerate(zip(ids, emails)):
        try:
            users[int(user_id)] = email.strip()
        except ValueError:
            raise table.error(f"the user id {user_id!r} is not a whole number", index, "id") from None
    return users
