"""The Export page on a text set's annotation: raw, thresholded, binary or reviewed energies with the set's metadata,
or the review log, to CSV, Parquet or JSONL in the workspace's exports folder (eqn_core.export.text_exports, one DuckDB COPY), offered for
download when small. Thresholds are the session's setting of the annotating run (ui.threshold_state)."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import streamlit as st

from eqn_core.export.files import FORMAT_NAMES
from eqn_core.export.text_exports import export_text_annotation
from eqn_core.scale.corpus import preview_file
from ui.display import escape_markdown
from ui.export_inputs import export_file_name, export_file_options
from ui.threshold_state import pick_thresholds
from ui.views import text_set_reads as reads

DOWNLOAD_LIMIT_BYTES = 200 * 1024 * 1024  # larger files stay in the exports folder: a download would sit in memory
CONTENTS = {"energies": "Raw energies (0-10)", "thresholded": "Thresholded energies (below h → 0, eq. 8)",
            "binary": "Binary labels (1 where energy ≥ h)",
            "reviewed": "Reviewed energies (thresholded, the reviewers' values on reviewed texts)",
            "review-log": "Review log (every decision, one row each)"}
REVIEW_CONTENTS = ("reviewed", "review-log")
MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "jsonl": "application/jsonl"}


def text_set_export(workspace, choice: reads.TextSetChoice) -> None:
    labels = list(choice.label_names)
    st.caption(choice.describe() + " One row per text: row, id, text, source file and row, the metadata columns, "
               "then one column per emotion; the provenance (text set, run, model, thresholds) goes into "
               "`<file>.meta.json`.")
    run, _ = reads.session_run(workspace, choice)
    setting, thresholds = pick_thresholds(run, labels)  # the session's setting of the run and its (C,) array
    left, right = st.columns(2)
    content = left.radio("Content", list(CONTENTS), format_func=CONTENTS.get, key="ts_export_content")
    fmt = right.radio("Format", list(FORMAT_NAMES), format_func=FORMAT_NAMES.get, horizontal=True,
                      key="ts_export_format")
    metadata = right.checkbox("Keep the metadata columns", value=True, key="ts_export_metadata",
                              disabled=content == "review-log")
    rows = None
    if content in REVIEW_CONTENTS:
        st.caption("Reviewed: every text, with the reviewers' values where they reviewed it (the adjudicated value, "
                   "else their common value or their mean) and review_count, reviewers and review_sources columns. "
                   "Review log: every decision ever made, oldest first, with the text id, the model's and the "
                   "reviewer's energy.")
        if not choice.complete:
            st.warning("Only a finished annotation can be reviewed; finish it on the Data page.")
            return
    elif not choice.complete:
        rows = reads.annotated_rows(choice)
        st.info(f"The annotation is {choice.status}: the {len(rows):,} texts annotated so far are exported (of "
                f"{choice.total_rows:,}). Finish it on the Data page to export them all.")
    safe = "_".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", part) for part in (choice.text_set, choice.run_id, content))
    default_name = f"{safe}.{fmt}"
    name, problem = export_file_name(default_name, fmt, key="ts_export")
    overwrite, neutralize = export_file_options(fmt, key="ts_export")
    count = len(rows) if rows is not None else choice.total_rows
    what = "the review log" if content == "review-log" else f"{count:,} rows"
    if st.button(f"Export {what}", type="primary", disabled=problem is not None, key="ts_export_go"):
        started = time.perf_counter()
        try:
            with st.spinner("Writing through DuckDB ..."):
                result = export_text_annotation(
                    workspace, choice.text_set, run_id=choice.run_id, path=workspace.exports_dir / name, fmt=fmt,
                    content=content, thresholds=None if content in ("energies", "review-log") else thresholds,
                    rows=rows,
                    metadata=metadata, overwrite=overwrite, neutralize_formulas=neutralize)
        except (ValueError, KeyError, OSError) as error:
            st.error(f"Export failed: {escape_markdown(error)}")
        else:
            st.session_state["ts_export_last"] = {**result, "path": str(result["path"]),
                                                  "metadata": str(result["metadata"]),
                                                  "seconds": time.perf_counter() - started,
                                                  "thresholds": setting.describe(len(labels))}
    _show_last()


def _show_last() -> None:
    last = st.session_state.get("ts_export_last")
    if not last:
        return
    at = "" if last["content"] in ("energies", "review-log") else f" at {last['thresholds']}"
    st.success(f"Saved {last['rows']:,} rows ({CONTENTS[last['content']].lower()}{at}) to "
               f"{escape_markdown(last['path'])} in {last['seconds']:.1f} s.")
    saved = Path(last["path"])
    try:
        size = os.path.getsize(saved)
    except OSError:
        st.warning("The saved file is gone; export again.")
        return
    if size <= DOWNLOAD_LIMIT_BYTES:
        st.download_button(f"Download {saved.name}", data=saved.read_bytes(), file_name=saved.name,
                           mime=MIME[last["format"]], key="ts_export_download", type="primary")
    else:
        st.caption(f"The file is {size / 2**20:,.0f} MiB: take it from the exports folder (too big to download "
                   "through the browser).")
    sidecar = Path(last["metadata"])
    if sidecar.is_file():
        st.download_button(f"Download {sidecar.name} (text set, run, model, thresholds, export time)",
                           data=sidecar.read_bytes(), file_name=sidecar.name, mime="application/json",
                           key="ts_export_download_metadata")
    st.caption("The first rows of the file:")
    st.dataframe(preview_file(saved, last["format"]), hide_index=True, key="ts_export_preview")
