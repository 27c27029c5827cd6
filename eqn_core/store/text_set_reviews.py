"""Review of own texts: how the review records (store.review_store) point at a run's annotation of a text set.

Review records are keyed by (run_id, split, row_idx). A text set has no splits, so its texts are reviewed under the
split key "textset:<name>" (store.text_sets.review_split), which no data set split can take; the records' dataset
column holds the same key. The rows, text ids and energies behind such a key come from the set's Parquet
files (texts.parquet and the annotation's shards), never from the `texts` and `energies` tables.
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from eqn_core.store.database import quote_identifier
from eqn_core.store.text_sets import (
    annotation_record,
    annotation_source,
    list_annotations,
    review_split,
)


def review_shape(workspace, name: str, run_id: str) -> tuple[str, list[str], int]:
    """(review key, the run's label names, number of texts) of `run_id`'s annotation of text set `name`.

    KeyError for an unknown set or annotation; ValueError while the annotation is not finished (a review needs
    every text's energies, as the queue orders them all)."""
    record = annotation_record(workspace, name, run_id)
    if record["status"] != "finished":
        raise ValueError(f"Run {run_id!r} has annotated {int(record['rows_done']):,} of the "
                         f"{int(record['total_rows']):,} texts of {name!r} (status {record['status']}); finish the "
                         f"annotation before reviewing (`eqn texts annotate {name} --run {run_id}`).")
    return review_split(name), list(record["label_names"]), int(record["total_rows"])


def text_set_label_names(workspace, name: str) -> list[str]:
    """Every label any annotation of text set `name` has, in the order of the first annotation that has it."""
    names: list[str] = []
    for labels in list_annotations(workspace, name)["label_names"]:
        names += [label for label in labels if label not in names]
    if not names:
        raise KeyError(f"Text set {name!r} has no annotation yet; annotate it first (`eqn texts annotate {name}`).")
    return names


def _cells_of_rows(workspace, name: str, rows, column: str) -> dict[int, str]:
    """{row_idx: the row's `column` of texts.parquet} of the given rows (rows outside the set are left out)."""
    wanted = sorted({int(row) for row in rows})
    if not wanted:
        return {}
    src = annotation_source(workspace, name)
    with duckdb.connect() as con:
        found = con.execute(f"SELECT row_idx, {quote_identifier(column)} FROM read_parquet($texts) "
                            "WHERE row_idx BETWEEN $low AND $high AND list_contains($rows, row_idx)",
                            {"texts": src.texts, "low": wanted[0], "high": wanted[-1], "rows": wanted}).fetchall()
    return {int(row): str(value) for row, value in found}


def text_set_ids(workspace, name: str, rows) -> dict[int, str]:
    """{row_idx: text_id} of the given rows of text set `name` (rows outside the set are left out)."""
    return _cells_of_rows(workspace, name, rows, "text_id")


def text_set_texts(workspace, name: str, rows) -> dict[int, str]:
    """{row_idx: text} of the given rows of text set `name` (rows outside the set are left out)."""
    return _cells_of_rows(workspace, name, rows, "text")


def text_set_id_frame(workspace, name: str) -> pd.DataFrame:
    """text_id and row_idx of every text of text set `name`, in row order (an import maps ids to rows with it)."""
    src = annotation_source(workspace, name)
    with duckdb.connect() as con:
        return con.execute("SELECT text_id, row_idx FROM read_parquet($texts) ORDER BY row_idx",
                           {"texts": src.texts}).df()


def text_set_energies(workspace, name: str, run_id: str, rows=None) -> np.ndarray:
    """(N, C) float32 energies of `run_id`'s finished annotation of text set `name`, in row order; rows: only these
    row_idx ((K, C), in the order given)."""
    _, label_names, num_rows = review_shape(workspace, name, run_id)
    src = annotation_source(workspace, name, run_id)
    columns = ", ".join(quote_identifier(label) for label in label_names)
    params: dict = {"shards": src.shards}
    where = ""
    if rows is not None:
        wanted = [int(row) for row in rows]
        if not wanted:
            return np.zeros((0, len(label_names)), dtype=np.float32)
        params.update(rows=sorted(set(wanted)), low=min(wanted), high=max(wanted))
        where = " WHERE row_idx BETWEEN $low AND $high AND list_contains($rows, row_idx)"
    with duckdb.connect() as con:  # shards listed by number hold the rows in order: no sort unless they do not
        found = con.execute(f"SELECT row_idx, {columns} FROM read_parquet($shards){where}", params).fetchnumpy()
    row_ids = np.asarray(found.pop("row_idx"), dtype=np.int64)
    order = None if row_ids.size < 2 or bool(np.all(row_ids[1:] > row_ids[:-1])) else np.argsort(row_ids)
    if order is not None:
        row_ids = row_ids[order]
    expected = num_rows if rows is None else len(params["rows"])
    if len(row_ids) != expected:
        raise ValueError(f"The annotation of {name!r} by {run_id!r} holds {len(row_ids):,} of the {expected:,} rows "
                         f"asked for; annotate it again (`eqn texts annotate {name} --run {run_id}`).")
    energies = np.empty((len(row_ids), len(label_names)), dtype=np.float32)  # (N, C)
    for j, column in enumerate(found.values()):
        energies[:, j] = column if order is None else np.asarray(column)[order]
    if rows is not None:
        energies = energies[np.searchsorted(row_ids, wanted)]  # (K, C) in the order asked
    return energies
