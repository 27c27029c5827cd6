"""Reading a text set and a run's annotation of it: pages and counts, each a DuckDB query over the Parquet files
(texts.parquet and the energy shards, store.text_sets.annotation_source), so a million texts never pass through
Python; only a page of rows or a number comes back (threshold figures: scale.text_reports).

The queries run on an in-memory DuckDB database of their own, never holding the workspace's file. A partly
annotated set (a job still running, or stopped) shows the rows annotated so far. The rule of a label is
method.thresholds.reaches: energy >= h, both in float32.

Filters shared by text_page and count_texts: search (case-insensitive substring of the text), energy_ranges
({label: (low, high)}, either end None for open; inclusive), where ({column: value, or a list of values, or None
for missing}; the columns text_id, source_file and the metadata columns as pages name them).
"""
from __future__ import annotations

import re
import threading

import numpy as np
import pandas as pd

from eqn_core.io.text_files import FIXED_COLUMNS
from eqn_core.scale.corpus_pages import regex_literal
from eqn_core.store.database import quote_identifier
from eqn_core.store.text_sets import AnnotationSource, annotation_source

MAX_PAGE_ROWS = 1000
_LOCAL = threading.local()


def run_query(con, sql: str, params: dict):
    """con.execute(sql) with the $parameters it names (DuckDB refuses unused ones)."""
    used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql))
    return con.execute(sql, {key: value for key, value in params.items() if key in used})


def query_cursor():
    """A cursor on this process's in-memory DuckDB (one per thread: Streamlit sessions query side by side)."""
    import duckdb

    if getattr(_LOCAL, "con", None) is None:
        _LOCAL.con = duckdb.connect()
    return _LOCAL.con.cursor()


# ---------------------------------------------------------------------------------------------------------------------
# Pages and counts


def text_page(workspace, name: str, *, run_id: str | None = None, search: str | None = None,
              energy_ranges: dict | None = None, where: dict | None = None, sort_by: str = "row_idx",
              descending: bool | None = None, limit: int = 50, offset: int = 0) -> pd.DataFrame:
    """One page of text set `name` (with `run_id`'s energies when given), filtered as the module says.

    sort_by: "row_idx" (file order, ascending by default) or a label (highest energy first by default; ties in row
    order). limit: at most MAX_PAGE_ROWS. Returns a DataFrame of up to `limit` rows: row_idx, text_id, text,
    source_file, source_row, the metadata columns, then one float32 column per label (with a run).
    """
    src = annotation_source(workspace, name, run_id)
    if run_id is not None and not src.shards:
        return _empty_page(src)
    limit, offset = int(min(max(limit, 0), MAX_PAGE_ROWS)), int(max(offset, 0))
    where_sql, params, needs = _filters(src, search=search, energy_ranges=energy_ranges, where=where)
    if sort_by == "row_idx":
        order = "row_idx" + (" DESC" if descending else "")
    elif sort_by in src.label_names:
        needs.add("e")
        order = f"e.{quote_identifier(sort_by)} {'ASC' if descending is False else 'DESC'} NULLS LAST, row_idx"
    else:
        raise ValueError(f"Cannot sort by {sort_by!r}: use 'row_idx' or a label of the run ({src.label_names}).")
    sql = f"SELECT row_idx FROM {_from(src, needs)}{where_sql} ORDER BY {order} LIMIT $limit OFFSET $offset"
    with query_cursor() as con:
        keys = [int(row[0]) for row in run_query(con, sql, {**params, **_paths(src, needs), "limit": limit,
                                                            "offset": offset}).fetchall()]
        return fetch_rows(src, keys, con=con)


def count_texts(workspace, name: str, *, run_id: str | None = None, search: str | None = None,
                energy_ranges: dict | None = None, where: dict | None = None) -> int:
    """How many texts match the same filters as text_page (with a run: among the texts annotated so far)."""
    src = annotation_source(workspace, name, run_id)
    if run_id is not None and not src.shards:
        return 0
    where_sql, params, needs = _filters(src, search=search, energy_ranges=energy_ranges, where=where)
    with query_cursor() as con:
        return int(run_query(con, f"SELECT count(*) FROM {_from(src, needs)}{where_sql}",
                             {**params, **_paths(src, needs)}).fetchall()[0][0])


def matching_rows(workspace, name: str, run_id: str, energies: np.ndarray, *, search: str | None = None,
                  energy_ranges: dict | None = None, where: dict | None = None) -> np.ndarray:
    """The row_idx (ascending) of the texts that match the filters, as count_texts counts them, for a finished
    annotation whose energies ((N, C) float32, row order) are in memory: the energy ranges in numpy, the search
    and metadata filters one DuckDB scan of texts.parquet alone (no join with the shards)."""
    src = annotation_source(workspace, name, run_id)
    energies = np.asarray(energies)
    keep = np.ones(len(energies), dtype=bool)
    for label, (low, high) in (energy_ranges or {}).items():
        if label not in src.label_names:
            raise ValueError(f"Unknown label {label!r}; the run's labels: {src.label_names}")
        column = energies[:, src.label_names.index(label)]
        if low is not None:
            keep &= column >= np.float32(low)  # the SQL's `>= $low::FLOAT`
        if high is not None:
            keep &= column <= np.float32(high)
    if search or where:
        where_sql, params, _ = _filters(src, search=search, energy_ranges=None, where=where)  # texts' side only
        with query_cursor() as con:
            found = run_query(con, f"SELECT row_idx FROM read_parquet($texts) AS t{where_sql}",
                              {**params, "texts": src.texts}).fetchnumpy()["row_idx"]
        wanted = np.zeros(len(energies), dtype=bool)
        wanted[np.asarray(found, dtype=np.int64)] = True
        keep &= wanted
    return np.flatnonzero(keep)


def page_of_rows(workspace, name: str, run_id: str, energies: np.ndarray, rows: np.ndarray, *,
                 sort_by: str = "row_idx", descending: bool | None = None, limit: int = 50,
                 offset: int = 0) -> pd.DataFrame:
    """One page of `rows` (matching_rows) in text_page's order (an energy: highest first by default, ties in row
    order), from the energies in memory; the page's columns as text_page gives them."""
    src = annotation_source(workspace, name, run_id)
    limit, offset = int(min(max(limit, 0), MAX_PAGE_ROWS)), int(max(offset, 0))
    rows = np.asarray(rows, dtype=np.int64)
    if sort_by == "row_idx":
        ordered = rows[::-1] if descending else rows
    elif sort_by in src.label_names:
        values = np.asarray(energies)[rows, src.label_names.index(sort_by)]
        ordered = rows[np.lexsort((rows, values if descending is False else -values))]
    else:
        raise ValueError(f"Cannot sort by {sort_by!r}: use 'row_idx' or a label of the run ({src.label_names}).")
    return fetch_rows(src, ordered[offset:offset + limit].tolist())


def fetch_rows(src: AnnotationSource, rows: list[int], *, con=None) -> pd.DataFrame:
    """The page columns of the given row_idx, in the order given (rows not annotated yet are left out)."""
    if not rows:
        return _empty_page(src)
    needs = {"t", "e"} if src.run_id is not None else {"t"}
    params = {**_paths(src, needs, rows=rows), "rows": rows, "low": min(rows), "high": max(rows)}
    sql = (f"SELECT {', '.join(_page_columns(src))} FROM {_from(src, needs)} "
           "WHERE t.row_idx BETWEEN $low AND $high AND list_contains($rows, t.row_idx)")
    if con is None:
        with query_cursor() as cursor:
            frame = run_query(cursor, sql, params).df()
    else:
        frame = run_query(con, sql, params).df()
    position = {row: i for i, row in enumerate(rows)}
    frame = frame.iloc[np.argsort([position[row] for row in frame["row_idx"]], kind="stable")]
    return frame.reset_index(drop=True)


def _page_columns(src: AnnotationSource) -> list[str]:
    columns = [f"t.{quote_identifier(c)}" for c in FIXED_COLUMNS]
    columns += [f"t.{quote_identifier(stored)} AS {quote_identifier(shown)}" for stored, shown in src.metadata.items()]
    columns += [f"e.{quote_identifier(label)}" for label in src.label_names]
    return columns


def _empty_page(src: AnnotationSource) -> pd.DataFrame:
    frame = pd.DataFrame({"row_idx": pd.Series(dtype="int64"), "text_id": pd.Series(dtype=object),
                          "text": pd.Series(dtype=object), "source_file": pd.Series(dtype=object),
                          "source_row": pd.Series(dtype="int64")})
    for shown in src.metadata.values():
        frame[shown] = pd.Series(dtype=object)
    for label in src.label_names:
        frame[label] = pd.Series(dtype="float32")
    return frame


def _filters(src: AnnotationSource, *, search, energy_ranges, where) -> tuple[str, dict, set]:
    """(WHERE clause, its $parameters, the sides it needs: "t" texts, "e" energies). Columns are spliced in only as
    quoted identifiers of known columns; every value is a parameter."""
    clauses, params, needs = [], {}, set()
    if src.run_id is not None and not src.complete:
        needs.add("e")  # the texts annotated so far
    if search:
        clauses.append("regexp_matches(t.text, $search, 'i')")  # RE2 (?i) matching: faster than lower() on each
        params["search"] = regex_literal(search)
        needs.add("t")
    shown = {shown: stored for stored, shown in src.metadata.items()} | {"text_id": "text_id",
                                                                          "source_file": "source_file"}
    for i, (column, value) in enumerate((where or {}).items()):
        if column not in shown:
            raise ValueError(f"Cannot filter on {column!r}: use text_id, source_file or a metadata column "
                             f"({list(src.metadata.values())}).")
        expression = f"t.{quote_identifier(shown[column])}"
        if value is None:
            clauses.append(f"{expression} IS NULL")
        elif isinstance(value, (list, tuple, set)):
            clauses.append(f"list_contains($where_{i}, {expression})")
            params[f"where_{i}"] = [str(v) for v in value]
        else:
            clauses.append(f"{expression} = $where_{i}")
            params[f"where_{i}"] = str(value)
        needs.add("t")
    for i, (label, bounds) in enumerate((energy_ranges or {}).items()):
        if label not in src.label_names:
            raise ValueError(f"Unknown label {label!r}; the run's labels: {src.label_names}")
        low, high = bounds
        column = f"e.{quote_identifier(label)}"
        if low is not None:
            clauses.append(f"{column} >= $low_{i}::FLOAT")
            params[f"low_{i}"] = float(low)
        if high is not None:
            clauses.append(f"{column} <= $high_{i}::FLOAT")
            params[f"high_{i}"] = float(high)
        needs.add("e")
    if not needs:
        needs.add("t")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params, needs


def _from(src: AnnotationSource, needs: set) -> str:
    texts, shards = "read_parquet($texts) AS t", "read_parquet($shards) AS e"
    if needs == {"t"}:
        return texts
    if needs == {"e"}:
        return shards
    return f"{texts} JOIN {shards} USING (row_idx)"


def _paths(src: AnnotationSource, needs: set, *, rows: list[int] | None = None) -> dict:
    """The files a query reads; for known rows only the shards that hold them."""
    paths = {}
    if "t" in needs:
        paths["texts"] = src.texts
    if "e" in needs:
        shards = src.shards
        if rows is not None and src.shard_rows:
            wanted = {row // src.shard_rows for row in rows}
            shards = [path for index, path in src.shard_index.items() if index in wanted] or shards[:1]
        paths["shards"] = shards
    return paths
