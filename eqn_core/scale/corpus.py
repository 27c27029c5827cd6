"""External annotation sets ("corpora"): Parquet files queried where they lie through a DuckDB view, never copied.

A corpus is a name for a Parquet file, folder or glob (local, or a URI DuckDB can read), typically the shards of
`eqn annotate --engine ray`. `add_corpus` records it in the workspace's `corpora` table and creates the view
`corpus__<name>` over `read_parquet(<pattern>)`. Every reader below is one or two SQL queries: a page of matching
rows (LIMIT; a page sorted by an energy first finds its rows' file and row numbers, then reads only those rows), a
count, per-label counts for precision/recall/F1 at thresholds, and an export through DuckDB COPY, so a set of
millions of texts never passes through pandas whole.

Files need a `text` column and one FLOAT/DOUBLE column per label. A `human_labels` column (comma-separated label
names, as Export writes them, or a list of names) makes threshold figures available.
"""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from eqn_core.io.errors import DataError
from eqn_core.store.database import quote_identifier, sql_string

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
VIEW_PREFIX = "corpus__"
HUMAN_LABELS = "human_labels"
# Columns that are never labels even when numeric (provenance of `eqn annotate --engine ray` and of Export).
NON_LABEL_COLUMNS = {"run_id", "model", "source", "source_row", "text_id", "text", "row_idx", "dataset", "split",
                     "review_count", "reviewers", "mode", "encoder", "profile", "thresholds", HUMAN_LABELS}
_NUMBER_TYPES = ("FLOAT", "DOUBLE", "REAL")
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def view_name(name: str) -> str:
    return f"{VIEW_PREFIX}{name}"


def check_corpus_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"Corpus name {name!r} is not allowed: use 1-64 letters, digits, '.', '-' or '_', "
                         "starting with a letter or digit.")
    return name


def normalise_pattern(pattern: str) -> str:
    """A local file, folder or glob becomes absolute (a folder means its *.parquet files); URIs stay as given."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError("Give the Parquet file, folder or glob of the corpus, e.g. 'shards/*.parquet'.")
    if any(c in pattern for c in "\x00\n\r"):
        raise ValueError(f"The corpus path {pattern!r} contains a NUL or line break.")
    if URI.match(pattern):
        return pattern
    path = Path(pattern).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    if path.is_dir():
        path = path / "*.parquet"
    return str(path)


# ---------------------------------------------------------------------------------------------------------------------
# Registering


def add_corpus(workspace, name: str, pattern: str, *, replace: bool = False) -> dict:
    """Register a Parquet file, folder or glob as corpus `name` and create its view. Returns corpus_info(name).

    ValueError when the name is taken (unless replace), nothing matches, or the files lack text / label columns.
    """
    check_corpus_name(name)
    pattern = normalise_pattern(pattern)
    with workspace.locked_connection() as con:
        files = con.execute("SELECT count(*) FROM glob(?)", [pattern]).fetchall()[0][0]
        if not files:
            raise ValueError(f"No file matches {pattern!r}; check the path (a glob such as 'out/*.parquet').")
        try:
            columns = con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
                                  "read_parquet(?, union_by_name = true))", [pattern]).fetchall()
            metadata = con.execute("SELECT value FROM parquet_kv_metadata(?) WHERE key = 'eqn' LIMIT 1",
                                   [pattern]).fetchall()
        except Exception as error:  # duckdb raises several kinds for unreadable or non-Parquet files
            raise DataError(f"Cannot read {pattern!r} as Parquet: {error}") from error
    types = dict(columns)
    label_names = _label_columns(columns, metadata)
    if "text" not in types:
        raise DataError(f"The files of {pattern!r} have no 'text' column (columns: {list(types)}).")
    if not label_names:
        raise DataError(f"The files of {pattern!r} have no energy columns (FLOAT or DOUBLE, one per label); "
                        f"columns: {list(types)}.")
    human = types.get(HUMAN_LABELS)
    human_kind = None if human is None else ("list" if human.endswith("[]") else "text")
    view = quote_identifier(view_name(name))
    with workspace.transaction() as con:
        exists = con.execute("SELECT count(*) FROM corpora WHERE name = ?", [name]).fetchall()[0][0]
        if exists and not replace:
            raise ValueError(f"A corpus named {name!r} exists already; choose another name or replace it.")
        con.execute("DELETE FROM corpora WHERE name = ?", [name])
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet({sql_string(pattern)}, "
                    "union_by_name = true)")
        con.execute("INSERT INTO corpora VALUES (?, ?, ?, ?, current_timestamp::TIMESTAMP)",
                    [name, pattern, label_names, human_kind])
    return corpus_info(workspace, name)


def _label_columns(columns: list[tuple[str, str]], metadata: list[tuple]) -> list[str]:
    """Label columns: the provenance's label_names when the files carry it, else every FLOAT/DOUBLE column."""
    types = dict(columns)
    if metadata:
        value = metadata[0][0]
        try:
            names = json.loads(value.decode() if isinstance(value, bytes) else value).get("label_names") or []
        except (ValueError, AttributeError):
            names = []
        if names and all(types.get(n, "").upper() in _NUMBER_TYPES for n in names):
            return list(names)
    return [c for c, t in columns if t.upper() in _NUMBER_TYPES and c not in NON_LABEL_COLUMNS]


def remove_corpus(workspace, name: str) -> None:
    """Forget a corpus: its row and its view go; the Parquet files stay."""
    corpus_row(workspace, name)
    with workspace.transaction() as con:
        con.execute(f"DROP VIEW IF EXISTS {quote_identifier(view_name(name))}")
        con.execute("DELETE FROM corpora WHERE name = ?", [name])


def corpus_names(workspace) -> list[str]:
    return [row[0] for row in workspace.fetch_all("SELECT name FROM corpora ORDER BY name")]


def list_corpora(workspace) -> pd.DataFrame:
    """name, pattern, labels (count), human_labels (whether the files carry them), created_at."""
    return workspace.fetch_df("SELECT name, pattern, len(label_names) AS labels, "
                              "human_labels IS NOT NULL AS human_labels, created_at FROM corpora ORDER BY name")


def corpus_row(workspace, name: str) -> tuple[str, list[str], str | None]:
    rows = workspace.fetch_all("SELECT pattern, label_names, human_labels FROM corpora WHERE name = ?", [name])
    if not rows:
        raise KeyError(f"No corpus named {name!r}; known: {corpus_names(workspace)}. Add one with "
                       "`eqn corpus add NAME 'path/*.parquet'`.")
    pattern, label_names, human_kind = rows[0]
    return pattern, list(label_names), human_kind


def corpus_info(workspace, name: str) -> dict:
    """{"name", "pattern", "label_names", "has_human_labels", "rows", "files", "runs": run_id -> rows}."""
    pattern, label_names, human_kind = corpus_row(workspace, name)
    view = quote_identifier(view_name(name))
    with workspace.locked_connection() as con:
        rows = con.execute(f"SELECT count(*) FROM {view}").fetchall()[0][0]  # from the Parquet footers
        files = con.execute("SELECT count(*) FROM glob(?)", [pattern]).fetchall()[0][0]
        has_run = con.execute(f"SELECT count(*) FROM (DESCRIBE {view}) WHERE column_name = 'run_id'").fetchall()[0][0]
        runs = dict(con.execute(f"SELECT run_id, count(*) FROM {view} GROUP BY run_id ORDER BY run_id").fetchall()) \
            if has_run else {}
    return {"name": name, "pattern": pattern, "label_names": label_names, "has_human_labels": human_kind is not None,
            "rows": int(rows), "files": int(files), "runs": runs}


# ---------------------------------------------------------------------------------------------------------------------
# Reading: one SQL query each


def corpus_label_counts(workspace, name: str, thresholds: np.ndarray | float) -> dict:
    """Per-label counts at thresholds h (rule energy >= h, eq. 8) over the whole corpus, in one scan.

    Returns {"rows": N, "tp": (C,), "predicted": (C,), "support": (C,)} as int64 arrays.
    """
    from eqn_core.method.thresholds import check_thresholds

    _, label_names, human_kind = corpus_row(workspace, name)
    if human_kind is None:
        raise ValueError(f"Corpus {name!r} has no human_labels column, so it has no precision or recall.")
    thresholds = check_thresholds(thresholds, len(label_names))  # (C,)
    parts, params = [], {}
    for i, label in enumerate(label_names):
        column = quote_identifier(label)
        params[f"h_{i}"] = float(thresholds[i])
        params[f"label_{i}"] = label if human_kind == "list" else f",{label},"
        given = given_filter(human_kind, f"$label_{i}")
        parts += [f"count(*) FILTER (WHERE {column} >= $h_{i} AND {given})",
                  f"count(*) FILTER (WHERE {column} >= $h_{i})", f"count(*) FILTER (WHERE {given})"]
    sql = f"SELECT count(*), {', '.join(parts)} FROM {quote_identifier(view_name(name))}"
    row = np.asarray(workspace.fetch_all(sql, params)[0], dtype=np.int64)
    counts = row[1:].reshape(len(label_names), 3)  # (C, 3): tp, predicted, support
    return {"rows": int(row[0]), "tp": counts[:, 0], "predicted": counts[:, 1], "support": counts[:, 2]}


def corpus_threshold_report(workspace, name: str, thresholds: np.ndarray | float) -> dict:
    """Per-label precision, recall, F1 at thresholds over the whole corpus (one DuckDB scan)."""
    from eqn_core.method.metrics import report_from_counts

    _, label_names, _ = corpus_row(workspace, name)
    counts = corpus_label_counts(workspace, name, thresholds)
    return {"rows": counts["rows"], **report_from_counts(counts["tp"], counts["predicted"], counts["support"],
                                                         label_names=label_names)}


# ---------------------------------------------------------------------------------------------------------------------
# Export


def export_corpus(workspace, name: str, path: str | Path, *, fmt: str | None = None, content: str = "energies",
                  thresholds: np.ndarray | float | None = None) -> dict:
    """Every row of the corpus to CSV / Parquet / JSONL through DuckDB COPY from its view.

    content: "energies" (as stored), "thresholded" (below h -> 0, eq. 8) or "binary" (1 where energy >= h); the
    last two add a `thresholds` column (JSON, label -> h). Written under a temporary name, then renamed.
    Returns {"path", "rows", "format", "content"}.
    """
    import os

    from eqn_core.export.files import copy_to_file, resolve_export_path
    from eqn_core.method.thresholds import check_thresholds

    if content not in ("energies", "thresholded", "binary"):
        raise ValueError(f"Unknown corpus export content {content!r}; use energies, thresholded or binary.")
    _, label_names, _ = corpus_row(workspace, name)
    path, fmt = resolve_export_path(path, fmt)
    params: dict = {}
    select = "*"
    if content != "energies":
        if thresholds is None:
            raise ValueError(f"A {content} export needs thresholds (one number or one per label).")
        values = check_thresholds(thresholds, len(label_names))  # (C,)
        replaced = []
        for i, label in enumerate(label_names):
            column = quote_identifier(label)
            params[f"h_{i}"] = float(values[i])
            value = (f"(CASE WHEN {column} >= $h_{i} THEN {column} ELSE 0 END)::FLOAT" if content == "thresholded"
                     else f"(CASE WHEN {column} >= $h_{i} THEN 1 ELSE 0 END)::INTEGER")
            replaced.append(f"{value} AS {column}")
        params["thresholds_json"] = json.dumps(dict(zip(label_names, values.tolist())))
        select = f"* REPLACE ({', '.join(replaced)}), $thresholds_json AS thresholds"
    sql = f"SELECT {select} FROM {quote_identifier(view_name(name))}"
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with workspace.locked_connection() as con:
            written = copy_to_file(con, sql, params, temporary, fmt)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return {"path": path, "rows": written, "format": fmt, "content": content}


def preview_file(path: str | Path, fmt: str, *, limit: int = 20) -> pd.DataFrame:
    """The first rows of an exported file, read by DuckDB (the file may be far larger than memory)."""
    import duckdb

    reader = {"parquet": "read_parquet", "csv": "read_csv_auto", "jsonl": "read_json_auto"}[fmt]
    with duckdb.connect() as con:
        return con.execute(f"SELECT * FROM {reader}(?) LIMIT ?", [str(path), int(limit)]).df()


# ---------------------------------------------------------------------------------------------------------------------
# Command line: `eqn corpus ...`


def given_filter(human_kind: str, parameter: str, column: str = HUMAN_LABELS) -> str:
    """SQL true where a human gave the label: a list holds it, or ',names,' holds ',label,' (the parameter is
    passed with its commas; a plain substring test would find 'approval' in 'disapproval')."""
    if human_kind == "list":
        return f"coalesce(list_contains({column}, {parameter}), false)"
    return f"contains(',' || coalesce({column}, '') || ',', {parameter})"
