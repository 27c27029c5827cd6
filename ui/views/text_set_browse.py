"""The Samples page on a text set's annotation (own texts, no human labels): search, an emotion's energy range, a
metadata value, sorted by an emotion's energy or by row, paged; one text's metadata and energy bars at the session's
thresholds. Each page is one DuckDB query over the Parquet files (ui.views.text_set_reads)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from eqn_core.method.thresholds import ENERGY_MAX, ENERGY_MIN
from ui.display import energy_bar_figure, escape_markdown, quote_text
from ui.threshold_state import pick_thresholds
from ui.views import text_set_reads as reads

ROW_ORDER = "row_idx"
MISSING = "\u2205 (missing)"
SUGGESTED_TRACE = "suggested micro-emotion"  # ui.display.energy_bar_figure's name for energy >= h without a label
ABOVE_TRACE = "at or above h"


def _value_label(item) -> str:
    value, texts = item
    return f"{MISSING if value is None else value}  ({texts:,})"


def _filters(choice: reads.TextSetChoice, labels: list[str]) -> tuple[tuple, str, bool]:
    """The filter widgets: (filters for the reads, sort_by, descending)."""
    with st.container(border=True):
        search = st.text_input("Text contains", key="ts_search", placeholder="a word or phrase (case-insensitive)")
        energy, meta, order = st.columns(3)
        emotion = energy.selectbox("Energy filter", [None, *labels], key="ts_emotion",
                                   format_func=lambda name: "no energy filter" if name is None else name)
        energy_ranges = ()
        if emotion is not None:
            low, high = energy.slider(f"{emotion} energy between", ENERGY_MIN, ENERGY_MAX, (ENERGY_MIN, ENERGY_MAX),
                                      step=0.1, key="ts_energy_range")
            energy_ranges = ((emotion, (None if low <= ENERGY_MIN else low, None if high >= ENERGY_MAX else high)),)
        columns = list(reads.metadata_columns(choice))
        where = ()
        column = meta.selectbox("Metadata column", [None, *columns], key="ts_meta_column",
                                format_func=lambda name: "no metadata filter" if name is None else name,
                                disabled=not columns, help=None if columns else "This text set has no metadata.")
        if column is not None:
            values, more = reads.metadata_values(choice, column)
            picked = meta.selectbox(f"{column} is", values, key=f"ts_meta_value_{column}", format_func=_value_label)
            if more:
                meta.caption(f"The {len(values)} most frequent values are listed.")
            where = ((column, picked[0]),)
        sort_by = order.selectbox("Sort by", [ROW_ORDER, *labels], key="ts_sort", format_func=lambda name:
                                  "row (file order)" if name == ROW_ORDER else f"{name} energy")
        descending = order.checkbox("Descending (highest first)" if sort_by != ROW_ORDER else "Descending (last row "
                                    "first)", value=sort_by != ROW_ORDER, key=f"ts_descending_{sort_by}")
    return (("search", search or None), ("energy_ranges", energy_ranges), ("where", where)), sort_by, descending


def _top(energies: np.ndarray, labels: list[str]) -> list[str]:
    top = np.argsort(-energies, axis=1)[:, :3]  # (n, 3)
    return [", ".join(f"{labels[j]} {energies[i, j]:.1f}" for j in row) for i, row in enumerate(top)]


def text_set_samples(workspace, choice: reads.TextSetChoice) -> None:
    """Search, filter and sort the annotated texts, a page at a time; one picked text's metadata and energy bars."""
    labels = list(choice.label_names)
    st.caption(choice.describe())
    run, _ = reads.session_run(workspace, choice)
    setting, thresholds = pick_thresholds(run, labels)  # the session's setting of the run and its (C,) array
    filters, sort_by, descending = _filters(choice, labels)
    total = reads.count(choice, filters)
    pages = max(1, math.ceil(total / reads.PAGE_ROWS))
    if st.session_state.get("ts_page", 1) > pages:  # filters narrowed: back to the last page there is
        st.session_state["ts_page"] = pages
    left, right = st.columns([1, 4])
    number = left.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="ts_page")
    rows, seconds = reads.page(choice, filters, sort_by, descending, int(number))
    first = (int(number) - 1) * reads.PAGE_ROWS
    order = "row order" if sort_by == ROW_ORDER else f"{sort_by} energy"
    right.markdown(f"**{total:,}** of {choice.rows_done:,} annotated texts match; rows {first + 1:,}-"
                   f"{first + len(rows):,} shown, by {escape_markdown(order)}"
                   f"{' (descending)' if descending else ''}; queried in {seconds * 1000:.0f} ms.")
    if rows.empty:
        st.info("No text matches these filters; widen them.")
        return
    meta = list(reads.metadata_columns(choice))
    energies = rows[labels].to_numpy(np.float32)  # (n, C), n <= PAGE_ROWS
    table = pd.DataFrame({"row": rows["row_idx"], "text": rows["text"]})
    if sort_by != ROW_ORDER:
        table[f"{sort_by} energy"] = np.round(rows[sort_by].astype(np.float64), 2)
    table["energies"] = [list(map(float, row)) for row in energies]
    table["top energies"] = _top(energies, labels)
    for column in meta:
        table[column] = rows[column]
    event = st.dataframe(
        table, hide_index=True, key="ts_table", on_select="rerun", selection_mode="single-row",
        column_config={"text": st.column_config.TextColumn(width="large"),
                       "row": st.column_config.NumberColumn(width="small"),
                       "energies": st.column_config.BarChartColumn(
                           "energies", y_min=0, y_max=10, help=f"One bar per emotion, in order: {', '.join(labels)}")})
    picked = event.selection.rows[0] if event is not None and event.selection.rows else 0
    if not (event is not None and event.selection.rows):
        st.caption("Click a row to show its text and energy bars; the first row is shown.")
    row = rows.iloc[picked]
    st.markdown(quote_text(str(row["text"])))
    details = [f"row {int(row['row_idx'])}", f"id {row['text_id']}", f"{row['source_file']} line/row "
               f"{int(row['source_row'])}", *(f"{column}: {MISSING if pd.isna(row[column]) else row[column]}"
                                             for column in meta)]
    st.caption(escape_markdown(" · ".join(details)) + f" · thresholds: {setting.describe(len(labels))}")
    figure = energy_bar_figure(energies[picked], np.zeros(len(labels), dtype=bool), labels, thresholds,
                               per_label=setting.per_label)
    for trace in figure.data:  # no human labels here: an energy at or above h is the model's emotion, not a suggestion
        if trace.name == SUGGESTED_TRACE:
            trace.update(name=ABOVE_TRACE, hovertemplate=trace.hovertemplate.replace(SUGGESTED_TRACE, ABOVE_TRACE))
    st.plotly_chart(figure, key="ts_energy_bars")
