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
import os
import re
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
VIEW_PREFIX = "corpus__"
HUMAN_LABELS = "human_labels"
# Columns that are never labels even when numeric (provenance of `eqn annotate --engine ray` and of Export).
NON_LABEL_COLUMNS = {"run_id", "model", "source", "source_row", "text_id", "text", "row_idx", "dataset", "split",
                     "review_count", "reviewers", "mode", "encoder", "profile", "thresholds", HUMAN_LABELS}
_NUMBER_TYPES = ("FLOAT", "DOUBLE", "REAL")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
MAX_PAGE_ROWS = 1000


def view_name(name: str) -> str:
    return f"{VIEW_PREFIX}{name}"


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(value: str) -> str:
    """A SQL string literal. Only for the pattern inside CREATE VIEW, which cannot take a parameter; the pattern
    was checked first (no NUL, no newline) and DuckDB strings have no backslash escapes, so doubling ' is enough."""
    return "'" + value.replace("'", "''") + "'"


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
    if _URI.match(pattern):
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
    view = _quote_identifier(view_name(name))
    with workspace.transaction() as con:
        exists = con.execute("SELECT count(*) FROM corpora WHERE name = ?", [name]).fetchall()[0][0]
        if exists and not replace:
            raise ValueError(f"A corpus named {name!r} exists already; choose another name or replace it.")
        con.execute("DELETE FROM corpora WHERE name = ?", [name])
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet({_sql_string(pattern)}, "
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
    _corpus_row(workspace, name)
    with workspace.transaction() as con:
        con.execute(f"DROP VIEW IF EXISTS {_quote_identifier(view_name(name))}")
        con.execute("DELETE FROM corpora WHERE name = ?", [name])


def corpus_names(workspace) -> list[str]:
    return [row[0] for row in workspace.fetch_all("SELECT name FROM corpora ORDER BY name")]


def list_corpora(workspace) -> pd.DataFrame:
    """name, pattern, labels (count), human_labels (whether the files carry them), created_at."""
    return workspace.fetch_df("SELECT name, pattern, len(label_names) AS labels, "
                              "human_labels IS NOT NULL AS human_labels, created_at FROM corpora ORDER BY name")


def _corpus_row(workspace, name: str) -> tuple[str, list[str], str | None]:
    rows = workspace.fetch_all("SELECT pattern, label_names, human_labels FROM corpora WHERE name = ?", [name])
    if not rows:
        raise KeyError(f"No corpus named {name!r}; known: {corpus_names(workspace)}. Add one with "
                       "`eqn corpus add NAME 'path/*.parquet'`.")
    pattern, label_names, human_kind = rows[0]
    return pattern, list(label_names), human_kind


def corpus_info(workspace, name: str) -> dict:
    """{"name", "pattern", "label_names", "has_human_labels", "rows", "files", "runs": run_id -> rows}."""
    pattern, label_names, human_kind = _corpus_row(workspace, name)
    view = _quote_identifier(view_name(name))
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


def _filters(label_names: list[str], human_kind: str | None, *, search: str | None, label: str | None,
             energy_range: tuple[float, float] | None, human: str | None) -> tuple[str, dict]:
    """WHERE clause and its parameters; a label is spliced in only as a quoted identifier known to be a label."""
    clauses, params = [], {}
    if search:  # case-insensitive substring; RE2's (?i) matching is ~2.5x faster than lower() on every text
        clauses.append("regexp_matches(text, $search, 'i')")
        params["search"] = regex_literal(search)
    if label is not None:
        if label not in label_names:
            raise ValueError(f"Unknown label {label!r}; labels: {label_names}")
        column = _quote_identifier(label)
        if energy_range is not None:
            clauses.append(f"{column} BETWEEN $low AND $high")
            params.update(low=float(energy_range[0]), high=float(energy_range[1]))
        if human in ("with", "without"):
            if human_kind is None:
                raise ValueError("This corpus has no human_labels column to filter on.")
            clauses.append(_given(human_kind, "$label") if human == "with" else f"NOT {_given(human_kind, '$label')}")
            params["label"] = label if human_kind == "list" else f",{label},"
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _given(human_kind: str, parameter: str, column: str = HUMAN_LABELS) -> str:
    """SQL true where a human gave the label: a list holds it, or ',names,' holds ',label,' (the parameter is
    passed with its commas; a plain substring test would find 'approval' in 'disapproval')."""
    if human_kind == "list":
        return f"coalesce(list_contains({column}, {parameter}), false)"
    return f"contains(',' || coalesce({column}, '') || ',', {parameter})"


def regex_literal(text: str) -> str:
    """text as an RE2 pattern that matches it literally."""
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text)


def search_corpus(workspace, name: str, *, search: str | None = None, label: str | None = None,
                  energy_range: tuple[float, float] | None = None, human: str | None = None, limit: int = 100,
                  offset: int = 0) -> pd.DataFrame:
    """At most `limit` matching rows (all columns), highest `label` energy first (ties in file order, missing
    energies last) when a label is given, else in file order. search: case-insensitive substring of the text;
    energy_range: (low, high) for `label`; human: "with" / "without" the label among the human labels."""
    return _page(workspace, name, search=search, label=label, energy_range=energy_range, human=human, limit=limit,
                 offset=offset, with_total=False)[0]


def corpus_page(workspace, name: str, *, search: str | None = None, label: str | None = None,
                energy_range: tuple[float, float] | None = None, human: str | None = None, limit: int = 100,
                offset: int = 0) -> tuple[pd.DataFrame, int]:
    """(search_corpus's rows, count_corpus's total) for one page of the Samples view, in as few scans as the
    filters allow: a page shorter than `limit` is its own count, and with a text search the count comes from the
    same scan that finds the page."""
    return _page(workspace, name, search=search, label=label, energy_range=energy_range, human=human, limit=limit,
                 offset=offset, with_total=True)


def count_corpus(workspace, name: str, *, search: str | None = None, label: str | None = None,
                 energy_range: tuple[float, float] | None = None, human: str | None = None) -> int:
    """How many rows match the same filters as search_corpus."""
    _, label_names, human_kind = _corpus_row(workspace, name)
    where, params = _filters(label_names, human_kind, search=search, label=label, energy_range=energy_range,
                             human=human)
    return int(workspace.fetch_all(f"SELECT count(*) FROM {_quote_identifier(view_name(name))}{where}", params)[0][0])


# The files with each row's address: DuckDB's filename and file_row_number columns. A sorted page is found on these
# keys and the sort column alone, then only its rows are read in full (see _sorted_page).
_ADDRESSED_SCAN = "read_parquet($pattern, union_by_name = true, filename = true, file_row_number = true)"
_ADDRESS_COLUMNS = ("filename", "file_row_number")


def _page(workspace, name: str, *, search, label, energy_range, human, limit: int, offset: int,
          with_total: bool) -> tuple[pd.DataFrame, int | None]:
    pattern, label_names, human_kind = _corpus_row(workspace, name)
    where, params = _filters(label_names, human_kind, search=search, label=label, energy_range=energy_range,
                             human=human)
    limit, offset = int(min(max(limit, 0), MAX_PAGE_ROWS)), int(max(offset, 0))
    view = _quote_identifier(view_name(name))
    total = None
    with workspace.connection() as con:
        if label is None:  # file order: DuckDB stops reading once the page is full
            rows = con.execute(f"SELECT * FROM {view}{where} LIMIT $limit OFFSET $offset",
                               {**params, "limit": limit, "offset": offset}).df()
        else:
            columns = tuple(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {view})").fetchall())
            if {c for c, _ in columns} & set(_ADDRESS_COLUMNS):  # the files use those names: one plain query
                rows = con.execute(f"SELECT * FROM {view}{where} ORDER BY {_quote_identifier(label)} DESC "
                                   "LIMIT $limit OFFSET $offset", {**params, "limit": limit, "offset": offset}).df()
            else:
                rows, total = _sorted_page(con, view, pattern, columns, where, params, label, limit=limit,
                                           offset=offset, count=with_total and bool(search))
        if with_total and total is None:
            if len(rows) < limit and (len(rows) or not offset):
                total = offset + len(rows)  # a short page ends the matches
            else:
                total = int(con.execute(f"SELECT count(*) FROM {view}{where}", params).fetchall()[0][0])
    return rows, total


def _sorted_page(con, view: str, pattern: str, columns: tuple, where: str, params: dict, label: str, *, limit: int,
                 offset: int, count: bool) -> tuple[pd.DataFrame, int | None]:
    """A page of rows highest `label` first, read in two steps.

    1. The page's keys: (file, row in file, energy) of the matching rows, through DuckDB's top-N, reading only the
       filter columns and the sort column (plus, when count, the number of matches from the same scan).
    2. Those rows in full, except the ones a page shortly before has read (_ROWS): a scan filtered on the energy
       range of the rows to read (DuckDB decodes the other columns only where such an energy is) and on the files
       that hold them, joined to the keys.

    A first page cost 0-40% less than the single sorted query (ORDER BY ... LIMIT over every column) on a
    1,000,000-row corpus: DuckDB's top-N already skips most rows, and the column pages that hold a row of the page
    are decoded either way, in every file when the page is spread over all of them (benchmarks/RESULTS.md,
    section 9). The larger gain is in what follows: moving the energy range or the human-label filter mostly
    re-reads keys only. Returns (rows, total or None).
    """
    import pyarrow as pa

    column = _quote_identifier(label)
    counted = ", count(*) OVER ()" if count else ""
    keys = con.execute(f"SELECT filename, file_row_number, {column}{counted} FROM {_ADDRESSED_SCAN}{where} "
                       f"ORDER BY {column} DESC, filename, file_row_number LIMIT $limit OFFSET $offset",
                       {**params, "pattern": pattern, "limit": limit, "offset": offset}).fetchall()
    total = int(keys[0][3]) if count and keys else None
    if not keys:
        return con.execute(f"SELECT * FROM {view} LIMIT 0").df(), total
    addresses = [(key[0], int(key[1])) for key in keys]
    stamps = _ROWS.stamps({file for file, _ in addresses})  # before reading: a file changed meanwhile is read again
    found = _ROWS.get(pattern, columns, addresses, stamps)
    missing = [key for key, address in zip(keys, addresses) if address not in found]
    if missing:
        fetched = _read_rows(con, pattern, column, missing)
        gone = [address for address in addresses if address not in found and address not in fetched]
        if gone:
            raise DataError(f"{gone[0][0]} changed while the page was read (row {gone[0][1]} is gone); run the "
                            "query again.")
        _ROWS.put(pattern, columns, fetched, stamps)
        found.update(fetched)
    return pa.concat_tables([found[address] for address in addresses]).to_pandas(), total


def _read_rows(con, pattern: str, column: str, keys: list[tuple]) -> dict[tuple[str, int], pa.Table]:
    """The rows at keys (file, row in file, energy of `column`), each as a one-row Arrow table of the view's
    columns (slices of one table: joining a page of them takes milliseconds, where pandas took ~50 ms)."""
    energies = sorted(key[2] for key in keys if key[2] is not None)
    ranges = [f"s.{column} BETWEEN $low AND $high"] if energies else []
    if len(energies) < len(keys):
        ranges.append(f"s.{column} IS NULL")
    params = {"pattern": pattern, "files": [key[0] for key in keys], "rows": [int(key[1]) for key in keys]}
    if energies:
        params.update(low=float(energies[0]), high=float(energies[-1]))
    relation = con.sql(
        f"SELECT s.* EXCLUDE (filename, file_row_number), s.filename, s.file_row_number FROM {_ADDRESSED_SCAN} AS s "
        "JOIN (SELECT unnest($files) AS filename, unnest($rows) AS file_row_number) AS page "
        f"USING (filename, file_row_number) WHERE list_contains($files, s.filename) AND ({' OR '.join(ranges)})",
        params=params)
    rows = (getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table)()  # duckdb 2 / 1.x
    addresses = zip(rows.column("filename").to_pylist(), rows.column("file_row_number").to_pylist())
    rows = rows.drop_columns(list(_ADDRESS_COLUMNS))
    return {(file, int(row)): rows.slice(i, 1) for i, (file, row) in enumerate(addresses)}


class _RowCache:
    """The last rows sorted pages read, by (pattern, view columns, file, row in file); a row is served only while
    its file keeps the size and modification time it had when read. Local files only; at most max_rows rows."""

    def __init__(self, max_rows: int):
        self.max_rows = max_rows
        self._rows: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def stamps(files: set[str]) -> dict[str, tuple[int, int] | None]:
        """file -> (modification time in ns, size); None for a remote or unreadable file (never cached)."""
        stamps = {}
        for file in files:
            stamps[file] = None
            if not _URI.match(file) or file.startswith("file://"):
                try:
                    status = os.stat(file.removeprefix("file://"))
                    stamps[file] = (status.st_mtime_ns, status.st_size)
                except OSError:
                    pass
        return stamps

    def get(self, pattern: str, columns: tuple, addresses: list, stamps: dict) -> dict:
        found = {}
        with self._lock:
            for address in addresses:
                key = (pattern, columns, *address)
                entry = self._rows.get(key)
                if entry is not None and stamps[address[0]] is not None and entry[0] == stamps[address[0]]:
                    found[address] = entry[1]
                    self._rows.move_to_end(key)
        return found

    def put(self, pattern: str, columns: tuple, rows: dict, stamps: dict) -> None:
        with self._lock:
            for address, row in rows.items():
                if stamps.get(address[0]) is not None:
                    key = (pattern, columns, *address)
                    self._rows[key] = (stamps[address[0]], row)
                    self._rows.move_to_end(key)
            while len(self._rows) > self.max_rows:
                self._rows.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


_ROWS = _RowCache(max_rows=5 * MAX_PAGE_ROWS)


def clear_row_cache() -> None:
    """Forget the rows sorted pages have read (benchmarks time a first page with it)."""
    _ROWS.clear()


def corpus_label_counts(workspace, name: str, thresholds: np.ndarray | float) -> dict:
    """Per-label counts at thresholds h (rule energy >= h, eq. 8) over the whole corpus, in one scan.

    Returns {"rows": N, "tp": (C,), "predicted": (C,), "support": (C,)} as int64 arrays.
    """
    from .thresholds import check_thresholds

    _, label_names, human_kind = _corpus_row(workspace, name)
    if human_kind is None:
        raise ValueError(f"Corpus {name!r} has no human_labels column, so it has no precision or recall.")
    thresholds = check_thresholds(thresholds, len(label_names))  # (C,)
    parts, params = [], {}
    for i, label in enumerate(label_names):
        column = _quote_identifier(label)
        params[f"h_{i}"] = float(thresholds[i])
        params[f"label_{i}"] = label if human_kind == "list" else f",{label},"
        given = _given(human_kind, f"$label_{i}")
        parts += [f"count(*) FILTER (WHERE {column} >= $h_{i} AND {given})",
                  f"count(*) FILTER (WHERE {column} >= $h_{i})", f"count(*) FILTER (WHERE {given})"]
    sql = f"SELECT count(*), {', '.join(parts)} FROM {_quote_identifier(view_name(name))}"
    row = np.asarray(workspace.fetch_all(sql, params)[0], dtype=np.int64)
    counts = row[1:].reshape(len(label_names), 3)  # (C, 3): tp, predicted, support
    return {"rows": int(row[0]), "tp": counts[:, 0], "predicted": counts[:, 1], "support": counts[:, 2]}


def corpus_threshold_report(workspace, name: str, thresholds: np.ndarray | float) -> dict:
    """Per-label precision, recall, F1 at thresholds over the whole corpus (one DuckDB scan)."""
    from .metrics import report_from_counts

    _, label_names, _ = _corpus_row(workspace, name)
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

    from .export import copy_to_file, resolve_export_path
    from .thresholds import check_thresholds

    if content not in ("energies", "thresholded", "binary"):
        raise ValueError(f"Unknown corpus export content {content!r}; use energies, thresholded or binary.")
    _, label_names, _ = _corpus_row(workspace, name)
    path, fmt = resolve_export_path(path, fmt)
    params: dict = {}
    select = "*"
    if content != "energies":
        if thresholds is None:
            raise ValueError(f"A {content} export needs thresholds (one number or one per label).")
        values = check_thresholds(thresholds, len(label_names))  # (C,)
        replaced = []
        for i, label in enumerate(label_names):
            column = _quote_identifier(label)
            params[f"h_{i}"] = float(values[i])
            value = (f"(CASE WHEN {column} >= $h_{i} THEN {column} ELSE 0 END)::FLOAT" if content == "thresholded"
                     else f"(CASE WHEN {column} >= $h_{i} THEN 1 ELSE 0 END)::INTEGER")
            replaced.append(f"{value} AS {column}")
        params["thresholds_json"] = json.dumps(dict(zip(label_names, values.tolist())))
        select = f"* REPLACE ({', '.join(replaced)}), $thresholds_json AS thresholds"
    sql = f"SELECT {select} FROM {_quote_identifier(view_name(name))}"
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


def add_corpus_commands(sub) -> None:
    """The `eqn corpus` subcommands: add, list, show, export, remove."""
    corpus = sub.add_parser("corpus", help="external annotation sets: Parquet files queried in place (DuckDB views)")
    actions = corpus.add_subparsers(dest="corpus_command", required=True)
    p = actions.add_parser("add", help="register a Parquet file, folder or glob (e.g. `eqn annotate --engine ray` "
                                       "output) under a name")
    p.add_argument("name")
    p.add_argument("pattern", help="a Parquet file, a folder of them, or a glob such as 'shards/*.parquet'")
    p.add_argument("--replace", action="store_true")
    p.set_defaults(func=_cmd_add)
    p = actions.add_parser("list", help="list the registered corpora")
    p.set_defaults(func=_cmd_list)
    p = actions.add_parser("show", help="rows, files, labels and runs of a corpus")
    p.add_argument("name")
    p.set_defaults(func=_cmd_show)
    p = actions.add_parser("export", help="write every row of a corpus to CSV / Parquet / JSONL")
    p.add_argument("name")
    p.add_argument("--output", "-o", required=True)
    p.add_argument("--format", choices=["csv", "parquet", "jsonl"])
    p.add_argument("--content", default="energies", choices=["energies", "thresholded", "binary"])
    p.add_argument("--threshold", type=float, help="one energy threshold h for thresholded / binary (eq. 8)")
    p.set_defaults(func=_cmd_export)
    p = actions.add_parser("remove", help="forget a corpus (its files stay)")
    p.add_argument("name")
    p.set_defaults(func=_cmd_remove)


def _open(args):
    from .cli import open_workspace

    return open_workspace(args)


def _cmd_add(args) -> int:
    with _open(args) as workspace:
        info = add_corpus(workspace, args.name, args.pattern, replace=args.replace)
    print(f"corpus {info['name']}: {info['rows']:,} rows in {info['files']} files, {len(info['label_names'])} labels"
          f"{', human labels' if info['has_human_labels'] else ''} ({info['pattern']})")
    return 0


def _cmd_list(args) -> int:
    with _open(args) as workspace:
        frame = list_corpora(workspace)
    print(frame.to_string(index=False) if len(frame) else "no corpora yet: try `eqn corpus add NAME 'out/*.parquet'`")
    return 0


def _cmd_show(args) -> int:
    with _open(args) as workspace:
        info = corpus_info(workspace, args.name)
    print(json.dumps(info, indent=2, default=str))
    return 0


def _cmd_export(args) -> int:
    with _open(args) as workspace:
        result = export_corpus(workspace, args.name, args.output, fmt=args.format, content=args.content,
                               thresholds=args.threshold)
    print(f"wrote {result['rows']:,} rows ({result['content']}, {result['format']}) to {result['path']}")
    return 0


def _cmd_remove(args) -> int:
    with _open(args) as workspace:
        remove_corpus(workspace, args.name)
    print(f"removed corpus {args.name} (its files are untouched)")
    return 0
