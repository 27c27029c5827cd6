"""Streamlit views of an external annotation set (eqn_core.scale.corpus) for the Samples, Thresholds and Export pages.

Every read is one LIMITed or aggregating DuckDB query over the corpus's view, cached per filter values, so a page
over millions of texts holds at most a page of rows in memory.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from eqn_core.export.files import FORMAT_NAMES
from eqn_core.method.thresholds import DEFAULT_THRESHOLD, ENERGY_MAX, ENERGY_MIN
from eqn_core.scale import corpus as corpora
from eqn_core.scale.corpus_pages import corpus_page
from ui.display import energy_bar_figure, quote_text
from ui.export_inputs import export_file_name
from ui.session import data_version, open_workspace, workspace_root
from ui.views.text_set_reads import TextSetChoice, annotation_choices

PAGE_ROWS = 100
DOWNLOAD_LIMIT_BYTES = 200 * 1024 * 1024  # larger files stay in the exports folder: a download would sit in memory
HUMAN_FILTER = {None: "any text", "with": "a human gave it", "without": "no human gave it"}


@dataclass(frozen=True)
class Source:
    """Where a page's annotations come from: runs (both None), an external corpus, or a text set's annotation."""

    corpus: str | None = None
    text_set: TextSetChoice | None = None


RUNS, CORPUS, TEXTS = "Runs", "External corpus", "Your texts (no labels)"


def pick_source(workspace, *, key: str) -> Source:
    """An "Annotations from" switch shown when the workspace has corpora or annotated text sets, then the corpus or
    the "<text set> · <run>" annotation; Source() for runs."""
    names = _corpus_names(str(workspace_root()), data_version())
    annotations = {choice.title: choice for choice in annotation_choices(workspace)}
    kinds = [RUNS, *([CORPUS] if names else []), *([TEXTS] if annotations else [])]
    if len(kinds) == 1:
        return Source()
    kind = st.radio("Annotations from", kinds, horizontal=True, key=f"{key}_source",
                    help="Runs: the labelled data sets' texts. External corpus: Parquet files (e.g. `eqn annotate "
                         "--engine ray` output) registered with `eqn corpus add`. Your texts: a text set added on "
                         "the Data page and annotated there by a run.")
    if kind == CORPUS:
        return Source(corpus=st.selectbox("Corpus", names, key=f"{key}_corpus"))
    if kind == TEXTS:
        title = st.selectbox("Text set · run", list(annotations), key=f"{key}_textset")
        return Source(text_set=annotations[title])
    return Source()


@st.cache_data(show_spinner=False, max_entries=4)
def _corpus_names(root: str, version: int) -> list[str]:
    return corpora.corpus_names(open_workspace(root))


@st.cache_data(show_spinner=False, max_entries=16)
def _info(root: str, name: str, version: int) -> dict:
    return corpora.corpus_info(open_workspace(root), name)


@st.cache_data(show_spinner=False, max_entries=32)
def _page(root: str, name: str, filters: tuple, version: int) -> tuple[pd.DataFrame, int, float]:
    started = time.perf_counter()
    rows, total = corpus_page(open_workspace(root), name, limit=PAGE_ROWS, **dict(filters))
    return rows, total, time.perf_counter() - started


@st.cache_data(show_spinner=False, max_entries=32)
def _report(root: str, name: str, threshold: float, version: int) -> dict:
    return corpora.corpus_threshold_report(open_workspace(root), name, threshold)


def _caption(info: dict) -> str:
    runs = ", ".join(f"{run} ({rows:,})" for run, rows in info["runs"].items()) or "no run_id column"
    return (f"Corpus **{info['name']}**: {info['rows']:,} texts in {info['files']} Parquet files "
            f"(`{info['pattern']}`), {len(info['label_names'])} labels; runs: {runs}.")


def corpus_samples(name: str) -> None:
    """Search and filter a corpus; a page of matching texts; one text's energy bars."""
    root = str(workspace_root())
    info = _info(root, name, data_version())
    label_names = info["label_names"]
    st.caption(_caption(info))
    with st.container(border=True):
        search = st.text_input("Text contains", key="corpus_search", placeholder="a word or phrase (case-insensitive)")
        left, right = st.columns(2)
        emotion = left.selectbox("Emotion", [None, *label_names], key="corpus_emotion",
                                 format_func=lambda label: "any emotion" if label is None else label)
        threshold = right.slider("Threshold h (bars)", ENERGY_MIN, ENERGY_MAX, DEFAULT_THRESHOLD, step=0.1,
                                 key="corpus_threshold")
        energy_range, human = None, None
        if emotion is not None:
            energy_range = left.slider(f"{emotion} energy between", 0.0, 10.0, (0.0, 10.0), step=0.1,
                                       key="corpus_energy_range")
            if info["has_human_labels"]:
                human = right.selectbox(f"{emotion}: human label", list(HUMAN_FILTER), format_func=HUMAN_FILTER.get,
                                        key="corpus_human")
    filters = (("search", search or None), ("label", emotion), ("energy_range", energy_range), ("human", human))
    rows, total, seconds = _page(root, name, filters, data_version())
    order = f"highest {emotion} first" if emotion else "file order"
    st.write(f"**{total:,}** of {info['rows']:,} texts match; the first {min(total, PAGE_ROWS)} ({order}), "
             f"queried in {seconds * 1000:.0f} ms.")
    if rows.empty:
        st.info("No text matches these filters; widen them.")
        return
    energies = rows[label_names].to_numpy(np.float32)  # (n, C), n <= PAGE_ROWS
    top = np.argsort(-energies, axis=1)[:, :3]
    table = pd.DataFrame({"text": rows["text"],
                          "top energies": [", ".join(f"{label_names[j]} {energies[i, j]:.1f}" for j in row)
                                           for i, row in enumerate(top)]})
    if emotion is not None:
        table.insert(1, f"{emotion} energy", np.round(rows[emotion].astype(np.float64), 2))
    if info["has_human_labels"]:
        table["human labels"] = rows["human_labels"].map(_labels_text)
    event = st.dataframe(table, hide_index=True, key="corpus_table", on_select="rerun", selection_mode="single-row",
                         column_config={"text": st.column_config.TextColumn(width="large")})
    picked = event.selection.rows[0] if event is not None and event.selection.rows else 0
    st.markdown(quote_text(str(rows["text"].iloc[picked])))
    given = set(_labels_list(rows["human_labels"].iloc[picked])) if info["has_human_labels"] else set()
    provenance = " · ".join(f"{c} {rows[c].iloc[picked]}" for c in ("text_id", "source", "source_row", "run_id")
                            if c in rows)
    st.caption(f"{provenance} · human labels: {', '.join(sorted(given)) or 'none'}")
    st.plotly_chart(energy_bar_figure(energies[picked], np.array([label in given for label in label_names]),
                                      label_names, np.full(len(label_names), threshold), per_label=False),
                    key="corpus_energy_bars")


def _labels_list(value) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [v for v in (value.split(",") if isinstance(value, str) else list(value)) if v]


def _labels_text(value) -> str:
    return ", ".join(_labels_list(value))


def corpus_thresholds(name: str) -> None:
    """Per-label precision, recall and F1 at one global threshold over the whole corpus (one SQL scan)."""
    import plotly.graph_objects as go

    root = str(workspace_root())
    info = _info(root, name, data_version())
    st.caption(_caption(info))
    if not info["has_human_labels"]:
        st.info("This corpus has no `human_labels` column, so there is nothing to measure thresholds against. "
                "Search and export it on the Samples and Export pages.")
        return
    threshold = st.slider("Global energy threshold h", ENERGY_MIN, ENERGY_MAX, DEFAULT_THRESHOLD, step=0.1,
                          key="corpus_th_global")
    report = _report(root, name, float(threshold), data_version())
    cells = st.columns(4)
    cells[0].metric("Macro-F1", f"{report['macro']['f1']:.4f}")
    cells[1].metric("Micro-F1", f"{report['micro']['f1']:.4f}")
    cells[2].metric("Macro precision", f"{report['macro']['precision']:.4f}")
    cells[3].metric("Macro recall", f"{report['macro']['recall']:.4f}")
    table = pd.DataFrame(report["labels"])
    figure = go.Figure([go.Bar(name=m, x=table["label"], y=table[m]) for m in ("precision", "recall", "f1")])
    figure.update_layout(barmode="group", height=340, yaxis_range=[0, 1], margin={"t": 10, "b": 10})
    st.plotly_chart(figure, key="corpus_th_chart")
    number = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(table, hide_index=True, key="corpus_th_table",
                 column_config={"precision": number, "recall": number, "f1": number})
    st.caption(f"{report['rows']:,} texts; rule: energy ≥ h (paper eq. 8).")


def corpus_export(workspace, name: str) -> None:
    """Every row of the corpus to a file in the workspace's exports folder, through DuckDB COPY from its view."""
    info = _info(str(workspace_root()), name, data_version())
    st.caption(_caption(info))
    contents = {"energies": "Raw energies (0-10)", "thresholded": "Thresholded energies (below h → 0, eq. 8)",
                "binary": "Binary labels (1 where energy ≥ h)"}
    left, right = st.columns(2)
    content = left.radio("Content", list(contents), format_func=contents.get, key="corpus_export_content")
    fmt = right.radio("Format", ["parquet", "csv", "jsonl"], format_func=FORMAT_NAMES.get, horizontal=True,
                      key="corpus_export_format")  # Parquet first: a corpus is large
    threshold = None
    if content != "energies":
        threshold = right.slider("Threshold h", ENERGY_MIN, ENERGY_MAX, DEFAULT_THRESHOLD, step=0.1,
                                 key="corpus_export_threshold")
    default_name = f"{name}_{content}.{fmt}"
    file_name, problem = export_file_name(default_name, fmt, key="corpus_export")
    if st.button(f"Export all {info['rows']:,} rows", type="primary", disabled=problem is not None,
                 key="corpus_export_go"):
        started = time.perf_counter()
        try:
            with st.spinner("Writing through DuckDB ..."):
                result = corpora.export_corpus(workspace, name, workspace.exports_dir / file_name, fmt=fmt,
                                               content=content, thresholds=threshold)
        except (ValueError, KeyError, OSError) as error:
            st.error(f"Export failed: {error}")
        else:
            st.session_state["corpus_export_last"] = {**result, "path": str(result["path"]),
                                                      "seconds": time.perf_counter() - started}
    last = st.session_state.get("corpus_export_last")
    if last:
        st.success(f"Saved {last['rows']:,} rows ({last['content']}) to `{last['path']}` "
                   f"in {last['seconds']:.1f} s.")
        try:
            size = os.path.getsize(last["path"])
        except OSError:
            st.warning("The saved file is gone; export again.")
            return
        if size <= DOWNLOAD_LIMIT_BYTES:
            with open(last["path"], "rb") as saved:
                st.download_button(f"Download {last['path'].rsplit('/', 1)[-1]}", data=saved.read(),
                                   file_name=last["path"].rsplit("/", 1)[-1], key="corpus_export_download")
        else:
            st.caption(f"The file is {size / 2**20:,.0f} MiB: take it from the exports folder (too big to download "
                       "through the browser).")
        st.caption("The first rows of the file:")
        st.dataframe(corpora.preview_file(last["path"], last["format"]), hide_index=True, key="corpus_export_preview")
