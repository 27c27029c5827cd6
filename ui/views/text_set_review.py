"""Review on own texts: the Review page's source switch, and the ReviewContext of a run's finished annotation of a text
set. The review screens (ui/views/review.py, review_team.py) are the same as for labelled data; what differs is read
here: no human labels, the energies from the annotation's Parquet shards (read once, shared, not copied per rerun),
each shown text and its metadata read by row through DuckDB, and queue orders that need no labels, plus the order of
a metadata column and a filter on its value.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from eqn_core.review.accounts import User
from eqn_core.review.suggestions import label_mask
from eqn_core.scale.text_queries import fetch_rows, query_cursor, run_query
from eqn_core.store.database import quote_identifier
from eqn_core.store.review_store import DEFAULT_NON_EMOTION_NAMES
from eqn_core.store.text_sets import annotation_source, review_split
from ui.display import escape_markdown
from ui.pickers import finished_runs
from ui.session import open_workspace
from ui.views import text_set_reads as reads

LABELLED, OWN_TEXTS = "Labelled data sets", "Your texts (no labels)"
METADATA_ORDER = "metadata"
ANY_VALUE = "(any value)"


def pick_review_source(workspace) -> reads.TextSetChoice | None:
    """"Texts from": labelled data sets (None) or a finished annotation of a text set, when there is one. Opens on
    own texts when no run has stored energies of a labelled split."""
    choices = {choice.title: choice for choice in reads.annotation_choices(workspace) if choice.complete}
    if not choices:
        return None
    labelled = any(workspace.energy_splits(run_id) for run_id in finished_runs(workspace)["run_id"])
    kinds = [LABELLED, OWN_TEXTS] if labelled else [OWN_TEXTS]
    if len(kinds) > 1:
        kind = st.radio("Texts from", kinds, horizontal=True, key="review_source",
                        help="Labelled data sets: the splits a run annotated. Your texts: a text set added and "
                             "annotated on the Data page (only finished annotations can be reviewed).")
        if kind == LABELLED:
            return None
    title = st.selectbox("Text set · run", list(choices), key="review_textset")
    return choices[title]


def default_non_emotion(workspace, key: str, label_names: list[str]) -> list[str]:
    """The stored non-emotion labels of a text set's review key, else those named like "neutral"."""
    try:
        return workspace.non_emotion_labels(key)
    except KeyError:
        return [label for label in label_names if label.strip().lower() in DEFAULT_NON_EMOTION_NAMES]


@st.cache_data(show_spinner=False, max_entries=256)
def _rows(root: str, name: str, run_id: str, version: tuple, data: int, rows: tuple) -> pd.DataFrame:
    return fetch_rows(annotation_source(open_workspace(root), name), list(rows))


def text_rows(choice: reads.TextSetChoice, rows) -> pd.DataFrame:
    """row_idx, text_id, text, source_file, source_row and the metadata columns (as shown) of the given rows, in
    the order given."""
    return _rows(*reads._key(choice), tuple(int(row) for row in rows))


@st.cache_data(show_spinner=False, max_entries=32)
def _metadata_rows(root: str, name: str, run_id: str, version: tuple, data: int, stored: str, value,
                   ordered: bool) -> np.ndarray:
    src = annotation_source(open_workspace(root), name)
    column = quote_identifier(stored)
    if ordered:  # every row, by the column's value (missing last), then in file order
        sql, params = (f"SELECT row_idx FROM read_parquet($texts) ORDER BY {column} NULLS LAST, row_idx",
                       {"texts": src.texts})
    elif value is None:
        sql, params = f"SELECT row_idx FROM read_parquet($texts) WHERE {column} IS NULL", {"texts": src.texts}
    else:
        sql, params = (f"SELECT row_idx FROM read_parquet($texts) WHERE {column} = $value",
                       {"texts": src.texts, "value": value})
    with query_cursor() as con:
        found = run_query(con, sql, params).fetchnumpy()["row_idx"]
    return np.asarray(found, dtype=np.int64)


def metadata_rows(choice: reads.TextSetChoice, shown: str, value) -> np.ndarray:
    """(K,) the rows whose metadata column `shown` holds `value` (None: missing)."""
    return _metadata_rows(*reads._key(choice), reads.metadata_columns(choice)[shown], value, False)


def metadata_order(choice: reads.TextSetChoice, shown: str) -> np.ndarray:
    """(N,) every row, ordered by the metadata column `shown`."""
    return _metadata_rows(*reads._key(choice), reads.metadata_columns(choice)[shown], None, True)


def metadata_filter(choice: reads.TextSetChoice, container) -> tuple[str | None, list[np.ndarray]]:
    """The queue's metadata controls for a text set: a column (to order by, or to filter on) and one of its values.
    Returns (the column, or None) and the row sets the queue must stay within."""
    columns = list(reads.metadata_columns(choice))
    if not columns:
        return None, []
    shown = container.selectbox("Metadata column", [None, *columns], key="review_meta_column",
                                format_func=lambda name: "none" if name is None else name,
                                help="Order the queue by this column (Order: by a metadata column) or keep only "
                                     "texts with one of its values.")
    if shown is None:
        return None, []
    values, more = reads.metadata_values(choice, shown)
    options = [ANY_VALUE, *[value for value, _ in values]]
    counts = dict(values)
    value = container.selectbox(f"{shown} is", options, key="review_meta_value",
                                format_func=lambda v: v if v == ANY_VALUE else
                                f"{'(missing)' if v is None else v} ({counts.get(v, 0):,} texts)")
    if more:
        container.caption(f"The {len(values)} most frequent values of {shown} are offered.")
    return shown, ([] if value == ANY_VALUE else [metadata_rows(choice, shown, value)])


def text_set_context_parts(workspace, choice: reads.TextSetChoice, user: User) -> dict:
    """The fields of a ReviewContext (ui.views.review) for a text set's annotation, thresholds left to the caller."""
    key = review_split(choice.text_set)
    label_names = list(choice.label_names)
    energies = reads.annotation_energies(choice)  # (N, C)
    non_emotion = default_non_emotion(workspace, key, label_names)
    return dict(workspace=workspace, user=user, run_id=choice.run_id, dataset=key, split=key,
                label_names=label_names, energies=energies,
                human_labels=np.zeros(energies.shape, dtype=bool),  # none: allocated lazily, never written
                texts=None, non_emotion=non_emotion, exclude=label_mask(label_names, non_emotion),
                decisions=workspace.reviews(run_id=choice.run_id, split=key),
                submissions=workspace.submissions(run_id=choice.run_id, split=key),
                assignments=workspace.assignments(run_id=choice.run_id, split=key),
                blind=workspace.blind_review(run_id=choice.run_id, split=key), text_set=choice)



def show_metadata(context, shown_text: pd.Series) -> None:
    """One own text's metadata (speaker, date ...) and where it came from, under the text."""
    fixed = {"row_idx", "text_id", "text", "source_file", "source_row"}
    parts = [f"**{escape_markdown(str(column))}**: {escape_markdown(_cell(value))}"
             for column, value in shown_text.items() if column not in fixed]
    parts.append(f"from {escape_markdown(str(shown_text.get('source_file', '')))}, row "
                 f"{_cell(shown_text.get('source_row'))}")
    st.markdown(" · ".join(parts))


def _cell(value) -> str:
    return "(missing)" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
