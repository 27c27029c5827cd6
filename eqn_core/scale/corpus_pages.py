"""Pages of a corpus: search, filters by label, energy range and human labels, sorted pages read in place.

A sorted page reads only the sort keys of every row, then the whole rows of the page it shows, by file and row
number; rows read before are kept (up to five pages, while their file is unchanged).
"""
from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict

import pandas as pd
import pyarrow as pa

from eqn_core.io.errors import DataError
from eqn_core.scale.corpus import URI, corpus_row, given_filter, view_name
from eqn_core.store.database import quote_identifier

MAX_PAGE_ROWS = 1000


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
        column = quote_identifier(label)
        if energy_range is not None:
            clauses.append(f"{column} BETWEEN $low AND $high")
            params.update(low=float(energy_range[0]), high=float(energy_range[1]))
        if human in ("with", "without"):
            if human_kind is None:
                raise ValueError("This corpus has no human_labels column to filter on.")
            clauses.append(given_filter(human_kind, "$label") if human == "with" else f"NOT {given_filter(human_kind, '$label')}")
            params["label"] = label if human_kind == "list" else f",{label},"
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


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
    _, label_names, human_kind = corpus_row(workspace, name)
    where, params = _filters(label_names, human_kind, search=search, label=label, energy_range=energy_range,
                             human=human)
    return int(workspace.fetch_all(f"SELECT count(*) FROM {quote_identifier(view_name(name))}{where}", params)[0][0])


# The files with each row's address: DuckDB's filename and file_row_number columns. A sorted page is found on these
# keys and the sort column alone, then only its rows are read in full (see _sorted_page).
_ADDRESSED_SCAN = "read_parquet($pattern, union_by_name = true, filename = true, file_row_number = true)"
_ADDRESS_COLUMNS = ("filename", "file_row_number")


def _page(workspace, name: str, *, search, label, energy_range, human, limit: int, offset: int,
          with_total: bool) -> tuple[pd.DataFrame, int | None]:
    pattern, label_names, human_kind = corpus_row(workspace, name)
    where, params = _filters(label_names, human_kind, search=search, label=label, energy_range=energy_range,
                             human=human)
    limit, offset = int(min(max(limit, 0), MAX_PAGE_ROWS)), int(max(offset, 0))
    view = quote_identifier(view_name(name))
    total = None
    with workspace.connection() as con:
        if label is None:  # file order: DuckDB stops reading once the page is full
            rows = con.execute(f"SELECT * FROM {view}{where} LIMIT $limit OFFSET $offset",
                               {**params, "limit": limit, "offset": offset}).df()
        else:
            columns = tuple(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {view})").fetchall())
            if {c for c, _ in columns} & set(_ADDRESS_COLUMNS):  # the files use those names: one plain query
                rows = con.execute(f"SELECT * FROM {view}{where} ORDER BY {quote_identifier(label)} DESC "
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

    column = quote_identifier(label)
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
            if not URI.match(file) or file.startswith("file://"):
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
