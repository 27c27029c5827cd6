"""Export of a run's annotation of a text set: every text (or chosen rows) with its metadata and energies, raw,
thresholded or binary, to CSV / Parquet / JSONL through one DuckDB COPY over the Parquet files (texts.parquet joined
to the energy shards), so a million texts stream to disk without pandas. The provenance (text set, run, model,
thresholds, export time, app version) goes once per file into `<file>.meta.json` and, for Parquet, the file's
metadata, as export.annotations does for data sets.

Columns: text_set, run_id, row_idx, text_id, text, source_file, source_row, the metadata columns (a column named
like a label gets "_meta" appended), then one column per label.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from eqn_core.export.files import (
    APP_VERSION,
    METADATA_KEY,
    copy_to_file,
    metadata_path_for,
    neutralize_cell,
    neutralized_sql,
    resolve_export_path,
    written_atomically,
)
from eqn_core.export.text_reviews import reviewed_rows_frame, text_set_review_log
from eqn_core.method.thresholds import check_thresholds
from eqn_core.review.agreement import REVIEWED_RULES
from eqn_core.store.database import quote_identifier, sql_string
from eqn_core.store.text_set_folders import text_sets_root
from eqn_core.store.text_sets import AnnotationSource, annotation_source

TEXT_EXPORT_CONTENTS = ("energies", "thresholded", "binary", "reviewed", "review-log")
REVIEWED_VIEW = "eqn_text_set_reviewed"
NO_REVIEWERS = "coalesce(r.reviewers, '')"


def export_text_annotation(workspace, name: str, *, run_id: str, path: str | Path, fmt: str | None = None,
                           content: str = "energies", thresholds=None, rows: list[int] | None = None,
                           metadata: bool = True, overwrite: bool = False, neutralize_formulas: bool = True,
                           reviewer: str | None = None) -> dict:
    """Write `run_id`'s annotation of text set `name`, one row per text in row order.

    content: "energies" (as stored), "thresholded" (an energy below its label's h -> 0, eq. 8), "binary" (1 where
    energy >= h), "reviewed" (thresholded, then the reviewers' values where they reviewed, by the rule of the data
    set export, with review_count, reviewers and review_sources) or "review-log" (every decision, one row each:
    export_text_review_log); thresholds h: one number or one per label ((C,)), required but for energies and the
    log. rows: only these row_idx (e.g. one text). metadata: keep the set's metadata columns. reviewer: only
    that reviewer's decisions. The annotation must cover every row
    exported (a finished job, or the rows asked for). The target may not lie in the workspace's own folders (its
    database, runs, cache, textsets) nor exist unless overwrite; it is written under a temporary name and renamed.
    CSV only: neutralize_formulas (default) puts a quote before cells that a spreadsheet would run as a formula.
    Returns {"path", "rows", "format", "content", "metadata"} (metadata: the sidecar's path).
    """
    if content not in TEXT_EXPORT_CONTENTS:
        raise ValueError(f"Unknown export content {content!r}; use one of {TEXT_EXPORT_CONTENTS}.")
    path, fmt = _target(workspace, path, fmt, overwrite)
    if content == "review-log":
        return export_text_review_log(workspace, name, run_id=run_id, path=path, fmt=fmt, reviewer=reviewer,
                                      overwrite=True, neutralize_formulas=neutralize_formulas)
    src = annotation_source(workspace, name, run_id)
    values = None
    if content != "energies":
        if thresholds is None:
            raise ValueError(f"A {content} export needs thresholds h (one number or one per label).")
        values = check_thresholds(thresholds, len(src.label_names))  # (C,)
    params: dict = {"texts": src.texts, "shards": src.shards, "text_set": name, "run_id": run_id}
    if rows is not None:
        params["rows"] = _check_rows(rows, src.rows)
    elif not src.complete:
        raise ValueError(f"Run {run_id!r} has annotated {_annotated_rows(src):,} of the {src.rows:,} texts of "
                         f"{name!r} (status {src.status}); finish the annotation (`eqn texts annotate {name} --run "
                         f"{run_id}`) or export chosen rows.")
    if not src.shards:
        raise ValueError(f"Run {run_id!r} has annotated no text of text set {name!r} yet.")
    sql = _select_sql(src, content, values, params, fmt=fmt, metadata=metadata,
                      neutralize=neutralize_formulas and fmt == "csv", has_rows=rows is not None)
    reviewed = (reviewed_rows_frame(workspace, name, run_id, values, src.label_names, reviewer)
                if content == "reviewed" else None)
    try:
        run = workspace.get_run(run_id)
    except KeyError:  # the run was deleted since: its annotation stays, without the model's description
        run = None
    expected = len(params["rows"]) if rows is not None else src.rows
    info = provenance(src, run, content=content, fmt=fmt, rows=expected, thresholds=values)
    if reviewed is not None:
        info.update(reviewed_rules=REVIEWED_RULES, reviewed_texts=len(reviewed), reviewer=reviewer)
    with written_atomically(path) as temporary:
        with duckdb.connect() as con:
            if reviewed is not None:
                con.register(REVIEWED_VIEW, reviewed)
            written = _copy(con, sql, params, temporary, fmt, info)
        if written != expected:
            raise ValueError(f"Only {written:,} of the {expected:,} rows asked for are annotated yet.")
        sidecar = _finish(temporary, path, info)
    return {"path": path, "rows": written, "format": fmt, "content": content, "metadata": sidecar}


def _select_sql(src: AnnotationSource, content: str, thresholds: np.ndarray | None, params: dict, *, fmt: str,
                metadata: bool, neutralize: bool, has_rows: bool) -> str:
    """The SELECT behind the COPY; only quoted identifiers of known columns are spliced in, values are $params."""
    text = neutralized_sql if neutralize else (lambda expression: expression)

    def header(name: str) -> str:
        return quote_identifier(neutralize_cell(name) if neutralize else name)

    columns = ["$text_set AS text_set", "$run_id AS run_id", "t.row_idx", f"{text('t.text_id')} AS text_id",
               f"{text('t.text')} AS text", f"{text('t.source_file')} AS source_file", "t.source_row"]
    if metadata:
        columns += [f"{text('t.' + quote_identifier(stored))} AS {header(shown)}"
                    for stored, shown in src.metadata.items()]
    for i, label in enumerate(src.label_names):
        energy = f"e.{quote_identifier(label)}"
        if content == "energies":
            value = energy
        else:
            params[f"h_{i}"] = float(thresholds[i])
            keep = f"{energy} >= $h_{i}::FLOAT"  # thresholds.reaches: float32 on both sides
            value = (f"(CASE WHEN {keep} THEN {energy} ELSE 0 END)::FLOAT" if content != "binary"
                     else f"(CASE WHEN {keep} THEN 1 ELSE 0 END)::INTEGER")
            if content == "reviewed":  # reviewed texts: the reviewers' value (agreement.combine_reviews)
                value = f"(CASE WHEN r.row_idx IS NULL THEN {value} ELSE r.reviewed_{i} END)::DOUBLE"
        if fmt == "jsonl" and content != "binary":
            value = f"({value})::VARCHAR::DOUBLE"  # JSON numbers: 0.3, not the float32's 0.30000001192092896
        columns.append(f"{value} AS {header(label)}")
    if content == "reviewed":
        columns += ["coalesce(r.review_count, 0)::INTEGER AS review_count",
                    f"{text(NO_REVIEWERS)} AS reviewers",
                    "coalesce(r.review_sources, '') AS review_sources"]
        rows = " AND list_contains($rows, t.row_idx)" if has_rows else ""
        return (f"SELECT {', '.join(columns)} FROM read_parquet($texts) AS t JOIN read_parquet($shards) AS e "
                f"USING (row_idx) LEFT JOIN {REVIEWED_VIEW} AS r ON r.row_idx = t.row_idx WHERE true{rows} "
                "ORDER BY t.row_idx")
    if has_rows:
        params.update(low=min(params["rows"]), high=max(params["rows"]))
        return (f"SELECT {', '.join(columns)} FROM read_parquet($texts) AS t JOIN read_parquet($shards) AS e "
                "USING (row_idx) WHERE t.row_idx BETWEEN $low AND $high AND list_contains($rows, t.row_idx) "
                "ORDER BY t.row_idx")
    # every row: both sides are in row order (the shards listed by number), so a positional join streams them side
    # by side, with no hash table and no sort; a row out of step is left out, and the caller's count catches it
    return (f"SELECT {', '.join(columns)} FROM read_parquet($texts) AS t POSITIONAL JOIN read_parquet($shards) AS e "
            "WHERE t.row_idx = e.row_idx")


def _target(workspace, path, fmt, overwrite: bool) -> tuple[Path, str]:
    path, fmt = resolve_export_path(path, fmt, overwrite=overwrite, workspace_root=workspace.root)
    if path.is_relative_to(text_sets_root(workspace).resolve()):
        raise ValueError(f"Refusing to export to {path}: it is inside the workspace's textsets folder, which EQN "
                         f"Studio manages. Write the export elsewhere, e.g. in {workspace.exports_dir}.")
    return path, fmt


def export_text_review_log(workspace, name: str, *, run_id: str, path: str | Path, fmt: str | None = None,
                           reviewer: str | None = None, overwrite: bool = False,
                           neutralize_formulas: bool = True) -> dict:
    """Every review decision and adjudication on `run_id`'s annotation of text set `name`, one row each, oldest
    first (text_set, run_id, agreement.LOG_COLUMNS); reviewer: only theirs (no adjudications). Target checks,
    provenance and CSV formula neutralising as for the annotation."""
    path, fmt = _target(workspace, path, fmt, overwrite)
    src = annotation_source(workspace, name, run_id)
    log = text_set_review_log(workspace, name, run_id, src.label_names, reviewer)
    if neutralize_formulas and fmt == "csv":  # notes, ids and names are typed by people
        for column in [name for name in log.columns if pd.api.types.is_string_dtype(log[name])]:
            log[column] = log[column].map(neutralize_cell)
    try:
        run = workspace.get_run(run_id)
    except KeyError:
        run = None
    info = {**provenance(src, run, content="review-log", fmt=fmt, rows=len(log), thresholds=None),
            "reviewer": reviewer}
    with written_atomically(path) as temporary:
        with duckdb.connect() as con:
            con.register("review_log_frame", log)
            written = _copy(con, "SELECT * FROM review_log_frame", {}, temporary, fmt, info)
        sidecar = _finish(temporary, path, info)
    return {"path": path, "rows": written, "format": fmt, "content": "review-log", "metadata": sidecar}


def _copy(con, sql: str, params: dict, target: Path, fmt: str, info: dict) -> int:
    """COPY to CSV / JSONL (export.files.copy_to_file), or to Parquet with the provenance in the file's key-value
    metadata written by DuckDB itself (export.files.finish_export would read the whole file back to add it)."""
    if fmt != "parquet":
        return copy_to_file(con, sql, params, target, fmt)
    options = f"FORMAT parquet, KV_METADATA {{{METADATA_KEY}: {sql_string(json.dumps(info, default=str))}}}"
    try:
        result = con.execute(f"COPY ({sql}) TO $export_path ({options})", {**params, "export_path": str(target)})
    except duckdb.ParserException:  # DuckDB before 1.2 cannot bind the COPY target
        result = con.execute(f"COPY ({sql}) TO {sql_string(str(target))} ({options})", params)
    return int(result.fetchall()[0][0])


def _finish(temporary: Path, path: Path, info: dict) -> Path:
    """The sidecar `<file>.meta.json`, then the file moved into place (as export.files.finish_export)."""
    sidecar = metadata_path_for(path)
    partial = sidecar.with_name(f".{sidecar.name}.tmp")
    partial.write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, path)
    os.replace(partial, sidecar)
    return sidecar


def provenance(src: AnnotationSource, run: dict | None, *, content: str, fmt: str, rows: int,
               thresholds: np.ndarray | None) -> dict:
    """What a file says once about itself: app and version, export time, text set, run and model (None when the
    run was deleted), thresholds."""
    config = (run or {}).get("config") or {}
    return {
        "app": "EQN Studio", "app_version": APP_VERSION,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "text_set": src.text_set, "run_id": src.run_id, "content": content, "format": fmt, "rows": rows,
        "text_set_rows": src.rows, "label_names": src.label_names,
        "model": None if run is None else {
            "mode": run["mode"], "encoder": run["encoder"], "encoder_mode": config.get("encoder_mode"),
            "shipped": bool(config.get("shipped", False)), "finished_at": str(run.get("finished_at") or "")},
        "thresholds": None if thresholds is None else dict(zip(src.label_names, thresholds.tolist())),
        "metadata_columns": json.loads(json.dumps(src.metadata)),
    }


def _check_rows(rows: list[int], num_rows: int) -> list[int]:
    selected = sorted({int(row) for row in rows})
    if not selected:
        raise ValueError("No rows to export: give at least one row_idx, or leave rows out to export them all.")
    outside = [row for row in selected if not 0 <= row < num_rows]
    if outside:
        raise ValueError(f"Rows {outside[:10]} are outside the text set (rows 0..{num_rows - 1}).")
    return selected


def _annotated_rows(src: AnnotationSource) -> int:
    if not src.shards:
        return 0
    with duckdb.connect() as con:
        return int(con.execute("SELECT count(*) FROM read_parquet(?)", [src.shards]).fetchall()[0][0])
