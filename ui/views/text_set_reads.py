"""The choice of a text set's annotation (own texts without labels, annotated by a run) for Samples, Thresholds and
Export, and the cached reads those pages make of it.

Every read is one DuckDB query over the set's Parquet files (eqn_core.scale.text_queries, text_reports), cached on
the workspace folder, the names, the filters, the annotation's progress (status, rows done: a running job grows)
and ui.session.data_version(), so a rerun or a slider move that asks again reads nothing. A finished annotation's
energies are also read once per app process into memory (annotation_energies, shared by Review, Samples and
Thresholds): a move of h then counts in numpy, and Samples filters and sorts energies in numpy, querying only
texts.parquet for a search or a metadata filter and only the page's rows for display.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from eqn_core.runs.text_jobs import refresh_annotations
from eqn_core.scale import text_reports
from eqn_core.scale.text_queries import (
    count_texts,
    matching_rows,
    page_of_rows,
    query_cursor,
    run_query,
    text_page,
)
from eqn_core.store.database import quote_identifier
from eqn_core.store.text_sets import annotation_source, review_split
from ui.display import escape_markdown
from ui.session import data_version, open_workspace, workspace_root

PAGE_ROWS = 100
METADATA_VALUES = 300  # the most frequent values of a metadata column offered in its select box


@dataclass(frozen=True)
class TextSetChoice:
    """One annotation of a text set by a run, as its record says now."""

    text_set: str
    run_id: str
    status: str
    rows_done: int
    total_rows: int
    label_names: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return self.status == "finished"

    @property
    def version(self) -> tuple:
        """What the cached reads key on besides the data version: the shards grow while a job runs."""
        return self.status, self.rows_done

    @property
    def title(self) -> str:
        return f"{self.text_set} · {self.run_id}"

    def describe(self) -> str:
        done = (f"all {self.total_rows:,} texts annotated" if self.complete else
                f"{self.rows_done:,} of {self.total_rows:,} texts annotated so far ({self.status})")
        return (f"Text set **{escape_markdown(self.text_set)}** annotated by run **{escape_markdown(self.run_id)}**: "
                f"{done}, {len(self.label_names)} emotions.")


def annotation_choices(workspace) -> list[TextSetChoice]:
    """The text set annotations with at least one annotated text (running ones are ingested first)."""
    frame = refresh_annotations(workspace)
    return [TextSetChoice(row["text_set"], row["run_id"], row["status"], int(row["rows_done"] or 0),
                          int(row["total_rows"] or 0), tuple(row["label_names"]))
            for row in frame.to_dict("records") if int(row["rows_done"] or 0) > 0 or row["status"] == "finished"]


def session_run(workspace, choice: TextSetChoice) -> tuple[dict, bool]:
    """The run whose session threshold setting (ui.threshold_state) the pages use, and whether it still exists (an
    annotation outlives its run; then a stand-in with the default h)."""
    try:
        return workspace.get_run(choice.run_id), True
    except KeyError:
        return {"run_id": choice.run_id, "metrics": {}}, False


def _key(choice: TextSetChoice) -> tuple:
    return str(workspace_root()), choice.text_set, choice.run_id, choice.version, data_version()


# --------------------------------------------------------------------------------------------------------- Samples
@st.cache_data(show_spinner=False, max_entries=16)
def _metadata(root: str, name: str, run_id: str, version: tuple, data: int) -> dict[str, str]:
    return dict(annotation_source(open_workspace(root), name, run_id).metadata)


def metadata_columns(choice: TextSetChoice) -> dict[str, str]:
    """{name shown (and filtered on): column stored in texts.parquet} of the set's metadata."""
    return {shown: stored for stored, shown in _metadata(*_key(choice)).items()}


@st.cache_data(show_spinner=False, max_entries=32)
def _values(root: str, name: str, run_id: str, version: tuple, data: int, stored: str) -> tuple[list, bool]:
    src = annotation_source(open_workspace(root), name, run_id)
    sql = (f"SELECT {quote_identifier(stored)} AS value, count(*) AS n FROM read_parquet($texts) GROUP BY 1 "
           "ORDER BY n DESC, value NULLS LAST LIMIT $limit")
    with query_cursor() as con:
        found = run_query(con, sql, {"texts": src.texts, "limit": METADATA_VALUES + 1}).fetchall()
    return [(value, int(n)) for value, n in found[:METADATA_VALUES]], len(found) > METADATA_VALUES


def metadata_values(choice: TextSetChoice, shown: str) -> tuple[list[tuple], bool]:
    """([(value or None for missing, texts)], more values exist): a metadata column's most frequent values."""
    return _values(*_key(choice), metadata_columns(choice)[shown])


def _filter_args(filters: tuple) -> dict:
    args = dict(filters)
    args["energy_ranges"] = dict(args.get("energy_ranges") or ()) or None
    args["where"] = dict(args.get("where") or ()) or None
    return args


@st.cache_data(show_spinner=False, max_entries=32)
def _count(root: str, name: str, run_id: str, version: tuple, data: int, filters: tuple) -> int:
    args = _filter_args(filters)
    return count_texts(open_workspace(root), name, run_id=run_id, search=args.get("search"),
                       energy_ranges=args["energy_ranges"], where=args["where"])


@st.cache_data(show_spinner=False, max_entries=16)
def _matches(root: str, name: str, run_id: str, version: tuple, data: int, filters: tuple) -> np.ndarray:
    """A finished annotation: the matching row_idx, energy filters in numpy on the energies in memory."""
    args = _filter_args(filters)
    return matching_rows(open_workspace(root), name, run_id, _energies(root, name, run_id, version, data),
                         search=args.get("search"), energy_ranges=args["energy_ranges"], where=args["where"])


def count(choice: TextSetChoice, filters: tuple) -> int:
    """How many annotated texts match filters: ((name, value), ...) of text_page's search, energy_ranges, where."""
    if choice.complete:
        return len(_matches(*_key(choice), filters))
    return _count(*_key(choice), filters)


@st.cache_data(show_spinner=False, max_entries=32)
def _page(root: str, name: str, run_id: str, version: tuple, data: int, filters: tuple, sort_by: str,
          descending: bool, page: int, in_memory: bool) -> tuple[pd.DataFrame, float]:
    started = time.perf_counter()
    args = _filter_args(filters)
    if in_memory:  # the matches (cached with the count) sorted in numpy; only the page's rows come from DuckDB
        rows = page_of_rows(open_workspace(root), name, run_id, _energies(root, name, run_id, version, data),
                            _matches(root, name, run_id, version, data, filters), sort_by=sort_by,
                            descending=descending, limit=PAGE_ROWS, offset=(page - 1) * PAGE_ROWS)
    else:
        rows = text_page(open_workspace(root), name, run_id=run_id, search=args.get("search"),
                         energy_ranges=args["energy_ranges"], where=args["where"], sort_by=sort_by,
                         descending=descending, limit=PAGE_ROWS, offset=(page - 1) * PAGE_ROWS)
    return rows, time.perf_counter() - started


def page(choice: TextSetChoice, filters: tuple, sort_by: str, descending: bool, number: int):
    """(page `number` (1-based) of PAGE_ROWS matching texts, seconds the query took); a finished annotation's
    pages come from its energies in memory, a running one's from DuckDB over the shards written so far."""
    return _page(*_key(choice), filters, sort_by, descending, number, choice.complete)


@st.cache_resource(show_spinner="Reading the annotation's energies…", max_entries=4)
def _energies(root: str, name: str, run_id: str, version: tuple, data: int) -> np.ndarray:
    """(N, C) float32, shared by every session (read-only): 112 MB for a million texts of 28 emotions."""
    energies = open_workspace(root).load_energies(run_id, review_split(name))
    energies.setflags(write=False)
    return energies


def annotation_energies(choice: TextSetChoice) -> np.ndarray:
    """The finished annotation's energies, (N, C) float32 in row order, read-only (one copy per app process)."""
    return _energies(*_key(choice))


# ------------------------------------------------------------------------------------------------------ Thresholds
@st.cache_data(show_spinner=False, max_entries=64)
def _emotion_counts(root: str, name: str, run_id: str, version: tuple, data: int, h: tuple, labels: tuple,
                    in_memory: bool) -> dict:
    if in_memory:
        return text_reports.emotion_counts_of(_energies(root, name, run_id, version, data), list(labels), np.asarray(h))
    return text_reports.emotion_counts(open_workspace(root), name, run_id, np.asarray(h))


def emotion_counts(choice: TextSetChoice, thresholds: np.ndarray) -> dict:
    """text_reports.emotion_counts at thresholds (C,): from the energies in memory once the annotation is finished
    (numpy, no scan), else one DuckDB scan of the shards written so far."""
    return _emotion_counts(*_key(choice), tuple(float(v) for v in thresholds), choice.label_names, choice.complete)


@st.cache_data(show_spinner=False, max_entries=16)
def _histograms(root: str, name: str, run_id: str, version: tuple, data: int, bins: int, labels: tuple,
                in_memory: bool) -> dict:
    if in_memory:
        return text_reports.energy_histograms_of(_energies(root, name, run_id, version, data), list(labels),
                                                 bins=bins)
    return text_reports.energy_histograms(open_workspace(root), name, run_id, bins=bins)


def energy_histograms(choice: TextSetChoice, bins: int = 20) -> dict:
    return _histograms(*_key(choice), bins, choice.label_names, choice.complete)


@st.cache_data(show_spinner=False, max_entries=32)
def _changed(root: str, name: str, run_id: str, version: tuple, data: int, before: tuple, after: tuple,
             limit: int, in_memory: bool) -> tuple[pd.DataFrame, int]:
    energies = _energies(root, name, run_id, version, data) if in_memory else None
    return text_reports.changed_texts(open_workspace(root), name, run_id, np.asarray(before), np.asarray(after),
                                      limit=limit, energies=energies)


def changed_texts(choice: TextSetChoice, before: np.ndarray, after: np.ndarray, limit: int):
    """(the first `limit` texts whose emotions differ between thresholds before and after (C,), how many in all);
    found in the energies in memory once the annotation is finished."""
    return _changed(*_key(choice), tuple(map(float, before)), tuple(map(float, after)), limit, choice.complete)


# ---------------------------------------------------------------------------------------------------------- Export
@st.cache_data(show_spinner=False, max_entries=4)
def _annotated_rows(root: str, name: str, run_id: str, version: tuple, data: int) -> list[int]:
    src = annotation_source(open_workspace(root), name, run_id)
    with query_cursor() as con:
        found = run_query(con, "SELECT row_idx FROM read_parquet($shards) ORDER BY row_idx",
                          {"shards": src.shards}).fetchnumpy()
    return np.asarray(found["row_idx"], dtype=np.int64).tolist()


def annotated_rows(choice: TextSetChoice) -> list[int]:
    """The row_idx annotated so far (a partly annotated set exports these)."""
    return _annotated_rows(*_key(choice))
