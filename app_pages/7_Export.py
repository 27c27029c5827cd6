"""Export: a run's annotations of one split as CSV, Parquet or JSONL, with provenance, saved and downloadable."""
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from eqn_core.export.annotations import export_annotations
from eqn_core.export.files import FORMAT_NAMES
from eqn_core.review.suggestions import LOW_ENERGY_HUMAN, SUGGESTED, suggest_micro_emotions
from ui.auth import require_admin
from ui.display import escape_markdown
from ui.export_inputs import export_file_name, export_file_options
from ui.pickers import pick_run, pick_split
from ui.session import get_workspace, load_energies, load_human_labels, load_label_names
from ui.threshold_state import pick_thresholds
from ui.views.corpus import corpus_export, pick_source
from ui.views.text_set_export import text_set_export

st.set_page_config(page_title="Export · EQN Studio", layout="wide")
require_admin("Export")

CONTENTS = {"energies": "Raw energies (0-10)", "thresholded": "Thresholded energies (below h → 0, eq. 8)",
            "binary": "Binary labels (1 where energy ≥ h)",
            "reviewed": "Reviewed (adjudicated value, else the reviewers' value; the rule per label is in review_sources)",
            "review-log": "Review log (one row per decision: text id, label, model and reviewer energy, decision, "
                          "note, reviewer, time)"}
MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "jsonl": "application/jsonl"}
READERS = {"csv": lambda path: pd.read_csv(path, keep_default_na=False), "parquet": pd.read_parquet,
           "jsonl": lambda path: pd.read_json(path, lines=True, dtype=False)}
ROWS = {"all": "all rows", "suggested": "rows with a suggested micro-emotion",
        "flagged": "rows with a suggested micro-emotion or a low-energy human label",
        "search": "rows whose text contains …"}

st.title("Export")
st.caption("One row per text with the run's energies (one column per emotion), the human labels (where there are "
           "any) and provenance (run, mode, encoder, thresholds). The file is saved in the workspace's exports folder "
           "and offered for download.")

workspace = get_workspace()
source = pick_source(workspace, key="export")  # an external corpus or an annotated text set instead of a run
if source.corpus:
    corpus_export(workspace, source.corpus)
    st.stop()
if source.text_set:
    text_set_export(workspace, source.text_set)
    st.stop()
run = pick_run(workspace)
run_id = run["run_id"]
split = pick_split(workspace, run_id, key="export_split")
label_names = load_label_names(run["dataset"])
setting, thresholds = pick_thresholds(run, label_names)  # the session's setting and its (C,) array

left, right = st.columns(2)
content = left.radio("Content", list(CONTENTS), format_func=CONTENTS.get, key="export_content")
fmt = right.radio("Format", list(FORMAT_NAMES), format_func=FORMAT_NAMES.get, horizontal=True, key="export_format")
reviewer = None
if content in ("reviewed", "review-log"):
    names = workspace.reviewers(run_id=run_id)
    reviewer = right.selectbox("Decisions of", [None, *names], key="export_reviewer",
                               format_func=lambda name: name or "every reviewer (combined, adjudications first)")
which_rows = "all" if content == "review-log" else right.selectbox("Rows", list(ROWS), format_func=ROWS.get,
                                                                    key="export_rows")

rows = None
if which_rows == "search":
    search = right.text_input("Text contains", key="export_search")
    rows = workspace.texts(run["dataset"], split, search=search)["row_idx"].tolist() if search else None
elif which_rows in ("suggested", "flagged"):
    suggestions = suggest_micro_emotions(load_energies(run_id, split), load_human_labels(run["dataset"], split),
                                         thresholds, label_names=label_names)
    kinds = [SUGGESTED] if which_rows == "suggested" else [SUGGESTED, LOW_ENERGY_HUMAN]
    rows = sorted(set(suggestions.loc[suggestions["kind"].isin(kinds), "row_idx"].tolist()))
if rows is not None:
    st.caption(f"{len(rows):,} rows selected ({setting.describe(len(label_names))}).")

safe_run = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id)
default_name = f"{safe_run}_{split}_{content.replace('-', '_')}.{fmt}"
name, problem = export_file_name(default_name, fmt, key="export",
                                 problem="No row matches this filter: nothing to export." if rows is not None and not rows
                                 else None)
overwrite, neutralize = export_file_options(fmt, key="export")
if st.button("Export", type="primary", disabled=problem is not None, key="export_go"):
    try:  # the session's setting: its thresholds and source go once into the file's metadata
        result = export_annotations(workspace, run_id=run_id, split=split, path=workspace.exports_dir / name,
                                    fmt=fmt, content=content, rows=rows, reviewer=reviewer, overwrite=overwrite,
                                    neutralize_formulas=neutralize, thresholds=setting)
    except (ValueError, KeyError, OSError) as error:
        st.error(f"Export failed: {escape_markdown(error)}")
    else:
        st.session_state["export_last"] = {**result, "path": str(result["path"])}

last = st.session_state.get("export_last")
if last:
    st.success(f"Saved {last['rows']:,} rows ({CONTENTS[last['content']].lower()}) to "
               f"{escape_markdown(last['path'])}.")
    saved = Path(last["path"])
    try:
        data = saved.read_bytes()
    except OSError:
        st.warning("The saved file is gone; export again.")
    else:
        st.download_button(f"Download {saved.name}", data=data, file_name=saved.name, mime=MIME[last["format"]],
                           key="export_download", type="primary")
        sidecar = Path(last["metadata"])
        if sidecar.is_file():
            st.download_button(f"Download {sidecar.name} (run, model, thresholds, export time, app version)",
                               data=sidecar.read_bytes(), file_name=sidecar.name, mime="application/json",
                               key="export_download_metadata")
        preview = READERS[last["format"]](last["path"]).head(20)
        st.caption("The first rows of the file:")
        st.dataframe(preview, hide_index=True, key="export_preview")
