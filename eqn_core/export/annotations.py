"""Export of a run's annotations on one split (or its review log) through DuckDB COPY to CSV / Parquet / JSONL,
with the provenance (run, model, thresholds, export time, app version) once per file: a sidecar JSON
`<file>.meta.json`, and for Parquet the same JSON in the file's key-value metadata under "eqn_studio"."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from eqn_core.export.files import (
    APP_VERSION,
    copy_to_file,
    finish_export,
    neutralize_cell,
    neutralized_sql,
    resolve_export_path,
    written_atomically,
)
from eqn_core.method.thresholds import ThresholdSetting, check_thresholds
from eqn_core.review.agreement import REVIEWED_RULES, combine_reviews, review_log
from eqn_core.store.database import quote_identifier, unquote_identifier
from eqn_core.store.workspace import Workspace

CONTENTS = ("energies", "thresholded", "binary", "reviewed", "review-log")
# Columns written besides one column per label; label names may not collide with them.
FIXED_COLUMNS = ("run_id", "dataset", "split", "row_idx", "text_id", "text", "human_labels",
                 "review_count", "reviewers", "review_sources", "mode", "encoder")
REVIEWED_VIEW = "eqn_export_reviewed"


def export_annotations(workspace: Workspace, *, run_id: str, split: str, path: str | Path, fmt: str | None = None,
                       content: str = "energies", thresholds: ThresholdSetting | np.ndarray | float | None = None,
                       rows: list[int] | None = None,
                       reviewer: str | None = None, overwrite: bool = False, neutralize_formulas: bool = True) -> dict:
    """Write one row per text of `split` with the run's energies, one column per label.

    content: "energies" (raw), "thresholded" (eq. 8: an energy below its label's threshold h -> 0),
    "binary" (1 where energy >= h), "reviewed" (thresholded, then per (text, label) the adjudicated value
    where there is one, else the reviewers' value by agreement.combine_reviews (REVIEWED_RULES); plus
    review_count, reviewers and review_sources, a JSON object {label: rule} for the values reviewers
    touched), "review-log" (one row per decision ever made: agreement.LOG_COLUMNS). Thresholds: a
    ThresholdSetting (its source, e.g. a profile's name, goes into the provenance), its (C,) array or one number;
    default 0 (nothing zeroed; "binary" needs them). rows: only these row_idx. reviewer: only that reviewer's
    decisions. The provenance goes once per file into `<path>.meta.json` (and Parquet metadata).
    The file is written under a temporary name and renamed, so a failed export leaves no file.
    The target may not be one of the workspace's own files (its database, run and cache folders) and may not
    exist unless overwrite. CSV only: neutralize_formulas (default) prefixes text cells that a spreadsheet
    would run as a formula with a quote (neutralize_cell); Parquet and JSONL keep the raw text.
    Returns {"path", "rows", "format", "content", "metadata"} (metadata: the sidecar's path).
    """
    if content not in CONTENTS:
        raise ValueError(f"Unknown export content {content!r}; use one of {CONTENTS}.")
    if content == "review-log":
        return export_review_log(workspace, run_id=run_id, split=split, path=path, fmt=fmt, reviewer=reviewer,
                                 overwrite=overwrite, neutralize_formulas=neutralize_formulas)
    path, fmt = resolve_export_path(path, fmt, overwrite=overwrite, workspace_root=workspace.root)
    run = workspace.get_run(run_id)
    dataset = run["dataset"]
    label_names = workspace.label_names(dataset)
    if split not in workspace.energy_splits(run_id):
        raise KeyError(f"Run {run_id!r} has no energies for split {split!r}; "
                       f"it has energies for {workspace.energy_splits(run_id)}.")
    label_columns = _label_columns(label_names)
    source = thresholds.source if isinstance(thresholds, ThresholdSetting) else None
    thresholds = _threshold_array(thresholds, label_names, content)  # (C,)

    params: dict[str, object] = {
        "run_id": run_id, "dataset": dataset, "split": split, "mode": run["mode"], "encoder": run["encoder"],
    }
    if content in ("thresholded", "binary"):
        params.update({f"h_{i}": float(h) for i, h in enumerate(thresholds)})
    if rows is not None:
        params["rows"] = _check_rows(rows, workspace.split_size(dataset, split))
    sql = _select_sql(content, label_columns, fmt, rows is not None,
                      neutralize=neutralize_formulas and fmt == "csv")
    reviewed = (_reviewed_frame(workspace, run_id, split, thresholds, label_names, reviewer)
                if content == "reviewed" else None)

    with written_atomically(path) as temporary:
        with workspace.locked_connection() as con:
            if reviewed is not None:
                con.register(REVIEWED_VIEW, reviewed)
            try:
                written = copy_to_file(con, sql, params, temporary, fmt)
            finally:
                if reviewed is not None:
                    con.unregister(REVIEWED_VIEW)
        metadata = provenance(workspace, run, split=split, content=content, fmt=fmt, rows=written,
                              thresholds=dict(zip(label_names, thresholds.tolist())), profile=source,
                              reviewer=reviewer)
        metadata_path = finish_export(temporary, path, fmt, metadata)
    return {"path": path, "rows": written, "format": fmt, "content": content, "metadata": metadata_path}


def export_review_log(workspace: Workspace, *, run_id: str, split: str, path: str | Path, fmt: str | None = None,
                      reviewer: str | None = None, overwrite: bool = False, neutralize_formulas: bool = True) -> dict:
    """Every review decision and adjudication of a run's split, one row each (agreement.LOG_COLUMNS), oldest
    first, with run_id, dataset and split; reviewer: only theirs (no adjudications). Target checks and CSV
    formula neutralising as in export_annotations."""
    path, fmt = resolve_export_path(path, fmt, overwrite=overwrite, workspace_root=workspace.root)
    run = workspace.get_run(run_id)
    label_names = workspace.label_names(run["dataset"])
    decisions = workspace.reviews(run_id=run_id, split=split, reviewer=reviewer, latest_only=False)
    adjudications = None if reviewer else workspace.adjudications(run_id=run_id, split=split, latest_only=False)
    log = review_log(decisions, workspace.load_energies(run_id, split), label_names=label_names,
                     adjudications=adjudications)
    log.insert(0, "split", split)
    log.insert(0, "dataset", run["dataset"])
    log.insert(0, "run_id", run_id)
    if neutralize_formulas and fmt == "csv":  # notes, ids and names are typed by people
        for column in [name for name in log.columns if pd.api.types.is_string_dtype(log[name])]:
            log[column] = log[column].map(neutralize_cell)
    with written_atomically(path) as temporary, duckdb.connect() as con:
        con.register("review_log_frame", log)
        written = copy_to_file(con, "SELECT * FROM review_log_frame", {}, temporary, fmt)
        metadata = provenance(workspace, run, split=split, content="review-log", fmt=fmt, rows=written,
                              reviewer=reviewer)
        metadata_path = finish_export(temporary, path, fmt, metadata)
    return {"path": path, "rows": written, "format": fmt, "content": "review-log", "metadata": metadata_path}


def provenance(workspace: Workspace, run: dict, *, split: str, content: str, fmt: str, rows: int,
               thresholds: dict | None = None, profile: str | None = None, reviewer: str | None = None) -> dict:
    """What a file says once about itself: app and version, export time, run and model, thresholds, review rules."""
    config = run.get("config") or {}
    metadata = {
        "app": "EQN Studio", "app_version": APP_VERSION,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_id": run["run_id"], "dataset": run["dataset"], "split": split, "content": content, "format": fmt,
        "rows": rows,
        "model": {"mode": run["mode"], "encoder": run["encoder"], "encoder_mode": config.get("encoder_mode"),
                  "best_epoch": run.get("best_epoch"), "shipped": bool(config.get("shipped", False)),
                  "finished_at": str(run.get("finished_at") or "")},
        "thresholds": thresholds, "threshold_profile": profile,
        "non_emotion_labels": workspace.non_emotion_labels(run["dataset"]),
        "reviewer": reviewer,
    }
    if content == "reviewed":
        metadata["reviewed_rules"] = REVIEWED_RULES
    trained_with = (config.get("extra") or {}).get("reviews")
    if trained_with:  # the reviews this run trained on (runs.review_training), with the human labels they changed
        metadata["trained_with_reviews"] = {**trained_with, **((run.get("metrics") or {}).get("reviews") or {})}
    return metadata


NO_REVIEWERS = "coalesce(r.reviewers, '')"
NO_HUMAN_LABELS = "coalesce(h.human_labels, '')"


def _reviewed_frame(workspace: Workspace, run_id: str, split: str, thresholds: np.ndarray, label_names: list[str],
                    reviewer: str | None) -> pd.DataFrame:
    """The reviewed energies (agreement.combine_reviews), who reviewed and which rule gave each reviewed value,
    one row per text, to join in the COPY."""
    decisions = workspace.reviews(run_id=run_id, split=split, reviewer=reviewer)  # each reviewer's latest word
    submissions = workspace.submissions(run_id=run_id, split=split, reviewer=reviewer)
    adjudications = workspace.adjudications(run_id=run_id, split=split)
    reviewed, sources, counts, who = combine_reviews(workspace.load_energies(run_id, split), thresholds, decisions,
                                                     submissions, adjudications, label_names=label_names,
                                                     reviewer=reviewer)  # (N, C)
    frame = pd.DataFrame(reviewed, columns=[f"reviewed_{i}" for i in range(len(label_names))])
    frame.insert(0, "row_idx", np.arange(len(frame), dtype=np.int64))
    frame["review_count"] = counts
    frame["reviewers"] = who
    frame["review_sources"] = [json.dumps(source, sort_keys=True) if source else "" for source in sources]
    return frame


def _select_sql(content: str, label_columns: list[str], fmt: str, has_rows: bool, *, neutralize: bool = False) -> str:
    """The SELECT behind the COPY. Only quoted identifiers and label positions are spliced in; values are $params.
    neutralize: CSV cells and label headers that a spreadsheet would run as formulas get a leading quote."""
    text = neutralized_sql if neutralize else (lambda expression: expression)
    value_columns = []
    for i, column in enumerate(label_columns):
        energy = f"e.energies[{i + 1}]"
        keep = f"{energy} >= $h_{i}::FLOAT"  # thresholds.reaches: float32 on both sides
        if content == "energies":
            value = energy
        elif content == "thresholded":
            value = f"(CASE WHEN {keep} THEN {energy} ELSE 0 END)::FLOAT"
        elif content == "binary":
            value = f"(CASE WHEN {keep} THEN 1 ELSE 0 END)::INTEGER"
        else:
            value = f"r.reviewed_{i}::DOUBLE"  # review.apply_decisions
        if fmt == "jsonl" and content in ("energies", "thresholded"):
            value = f"({value})::VARCHAR::DOUBLE"  # JSON numbers: 0.3, not the float32's 0.30000001192092896
        header = quote_identifier(neutralize_cell(unquote_identifier(column))) if neutralize else column
        value_columns.append(f"{value} AS {header}")

    ctes = ["""human AS (
        SELECT l.row_idx, string_agg(d.label_names[l.label_id + 1], ',' ORDER BY l.label_id) AS human_labels
        FROM (SELECT row_idx, unnest(label_ids) AS label_id FROM texts
              WHERE dataset = $dataset AND split = $split) AS l
        CROSS JOIN (SELECT label_names FROM datasets WHERE name = $dataset) AS d
        GROUP BY l.row_idx)"""]
    joins = ["LEFT JOIN human h ON h.row_idx = t.row_idx"]
    review_columns = []
    if content == "reviewed":
        joins.append(f"JOIN {REVIEWED_VIEW} r ON r.row_idx = t.row_idx")
        review_columns = ["coalesce(r.review_count, 0)::INTEGER AS review_count",
                          f"{text(NO_REVIEWERS)} AS reviewers", "r.review_sources"]
    row_filter = " AND t.row_idx IN (SELECT unnest($rows::INTEGER[]))" if has_rows else ""
    columns = ["$run_id AS run_id", "$dataset AS dataset", "$split AS split", "t.row_idx",
               f"{text('t.text_id')} AS text_id", f"{text('t.text')} AS text",
               f"{text(NO_HUMAN_LABELS)} AS human_labels", *value_columns, *review_columns,
               "$mode AS mode", f"{text('$encoder')} AS encoder"]  # thresholds and the rest of the provenance: once per file
    return (f"WITH {', '.join(ctes)}\nSELECT {', '.join(columns)}\nFROM texts t\n"
            "JOIN energies e ON e.run_id = $run_id AND e.split = t.split AND e.row_idx = t.row_idx\n"
            + "\n".join(joins)
            + f"\nWHERE t.dataset = $dataset AND t.split = $split{row_filter}\nORDER BY t.row_idx")


def _threshold_array(thresholds, label_names: list[str], content: str) -> np.ndarray:
    if isinstance(thresholds, ThresholdSetting):
        return thresholds.array(label_names)
    if thresholds is None:
        if content == "binary":
            raise ValueError("A binary export needs thresholds (one number or one per label) or a profile; "
                             "with h = 0 every label would be 1.")
        thresholds = 0.0
    return check_thresholds(thresholds, len(label_names))


def _check_rows(rows: list[int], num_rows: int) -> list[int]:
    selected = sorted({int(row) for row in rows})
    outside = [row for row in selected if not 0 <= row < num_rows]
    if outside:
        raise ValueError(f"Rows {outside[:10]} are outside the split (rows 0..{num_rows - 1}).")
    return selected


def _label_columns(label_names: list[str]) -> list[str]:
    """Quoted column identifiers for the labels; DuckDB names are case-insensitive, so check clashes that way."""
    seen = {column.lower(): f"the column {column!r}" for column in FIXED_COLUMNS}
    for label in label_names:
        key = label.lower()
        if key in seen:
            raise ValueError(f"Label {label!r} clashes with {seen[key]} in the export (names are compared "
                             "ignoring case); rename the label when importing the data set.")
        seen[key] = f"the label {label!r}"
    return [quote_identifier(label) for label in label_names]
