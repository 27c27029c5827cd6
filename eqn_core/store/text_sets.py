"""Text sets: own texts without labels (interview transcripts, a million comments) kept as Parquet in the workspace,
and the record of each run's annotation of them.

A text set is a folder `<workspace>/textsets/<name>/` holding texts.parquet (io.text_files: row_idx, text_id, text,
source_file, source_row, then every other column of the files as VARCHAR metadata) plus one folder per annotation
(store.text_set_folders), and a row in the `text_sets` table. Adding streams the files into a temporary folder and
registers the set in one transaction at the end, so bad input (a DataError naming file, row and column) leaves
nothing. Annotations are made by a background job (runs.text_jobs) and recorded in `text_set_annotations`.

`annotation_source` tells the readers (scale.text_queries, export.text_exports) where the Parquet files are; they
query them in DuckDB and never load a whole set into Python.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from eqn_core.io.text_files import FIXED_COLUMNS, write_texts_parquet
from eqn_core.store.run_folders import read_json
from eqn_core.store.schema import RUN_STATUSES, to_json, to_timestamp, utc_now
from eqn_core.store.text_set_folders import (
    TEXTS_FILE,
    AnnotationFolder,
    annotation_path,
    text_set_folder,
    text_sets_root,
    texts_path,
)

REVIEW_SPLIT_PREFIX = "textset:"
REVIEW_TABLES = ("reviews", "review_submissions", "review_assignments", "adjudications", "review_settings")


def review_split(name: str) -> str:
    """The split key under which text set `name` is reviewed (store.text_set_reviews); no data set split can take
    it, as a safe name has no colon."""
    return REVIEW_SPLIT_PREFIX + name


def text_set_of_review_split(split) -> str | None:
    """The text set a review split key names, or None for a data set's split."""
    if isinstance(split, str) and split.startswith(REVIEW_SPLIT_PREFIX):
        return split[len(REVIEW_SPLIT_PREFIX):]
    return None


def _review_records(con, name: str, run_id: str | None = None) -> int:
    """How many review records (decisions, submissions, adjudications) point at text set `name` (by `run_id`)."""
    sql = " + ".join(f"(SELECT count(*) FROM {table} WHERE split = $split" + (" AND run_id = $run)" if run_id else ")")
                     for table in ("reviews", "review_submissions", "adjudications"))
    params = {"split": review_split(name), **({"run": run_id} if run_id else {})}
    return int(con.execute(f"SELECT {sql}", params).fetchall()[0][0])


def _refuse_with_reviews(con, name: str, run_id: str | None, what: str) -> None:
    count = _review_records(con, name, run_id)
    if count:
        run = f" --run {run_id}" if run_id else " --run RUN"
        raise ValueError(f"{what} has {count:,} review records; export them first (`eqn texts export {name}{run} "
                         f"--content review-log -o FILE`), then remove it with its reviews (--with-reviews).")


# ---------------------------------------------------------------------------------------------------------------------
# Text sets


def add_text_set(workspace, name: str, files, *, text_column: str | int | None = None,
                 id_column: str | int | None = None) -> dict:
    """Stream one or several files of texts into text set `name` and register it; returns text_set_info(name).

    files: a path or a list of paths (CSV, TSV, TXT, JSONL, JSON, Parquet; also .gz / .bz2 / .zst). text_column /
    id_column: the column names (or 0-based positions) in every file; by default found by the usual names ("text",
    "comment", ...; "id", ...), and without an id column the ids are "row-<n>". Every other column is kept as
    metadata. DataError (file, row, column) for bad input and ValueError for a taken or unsafe name; either way
    nothing is stored.
    """
    final = text_set_folder(workspace, name)
    if name in text_set_names(workspace):
        raise ValueError(f"A text set named {name!r} exists already; choose another name or remove it first "
                         f"(`eqn texts remove {name}`).")
    root = text_sets_root(workspace)
    root.mkdir(parents=True, exist_ok=True)
    temporary = root / f".adding-{name}-{uuid.uuid4().hex[:8]}"
    temporary.mkdir()
    moved = False
    try:
        summary = write_texts_parquet(files, temporary / TEXTS_FILE, text_column=text_column, id_column=id_column)
        with workspace.transaction() as con:
            if con.execute("SELECT count(*) FROM text_sets WHERE name = ?", [name]).fetchall()[0][0]:
                raise ValueError(f"A text set named {name!r} was added meanwhile; choose another name.")
            if final.exists():  # a folder without its row: left by a crash, never registered
                shutil.rmtree(final)
            con.execute("INSERT INTO text_sets VALUES (?, ?, ?, ?, ?)",
                        [name, to_json(summary["files"]), summary["metadata_columns"], summary["rows"], utc_now()])
            os.replace(temporary, final)
            moved = True
    except BaseException:
        shutil.rmtree(final if moved else temporary, ignore_errors=True)
        raise
    return text_set_info(workspace, name)


def text_set_names(workspace) -> list[str]:
    return [row[0] for row in workspace.fetch_all("SELECT name FROM text_sets ORDER BY name")]


def list_text_sets(workspace) -> pd.DataFrame:
    """One row per text set: name, rows, files (how many), metadata_columns (list), annotations (how many runs),
    created_at."""
    return workspace.fetch_df(
        "SELECT s.name, s.num_rows AS rows, json_array_length(s.files)::INTEGER AS files, s.metadata_columns, "
        "(SELECT count(*) FROM text_set_annotations a WHERE a.text_set = s.name) AS annotations, s.created_at "
        "FROM text_sets s ORDER BY s.name")


def text_set_row(workspace, name: str) -> dict:
    """The registered row: {"name", "files", "metadata_columns", "rows", "created_at"}; KeyError if unknown."""
    rows = workspace.fetch_all("SELECT files, metadata_columns, num_rows, created_at FROM text_sets WHERE name = ?",
                               [name])
    if not rows:
        raise KeyError(f"No text set named {name!r}; known: {text_set_names(workspace)}. Add one with "
                       "`eqn texts add NAME FILE`.")
    files, metadata_columns, num_rows, created_at = rows[0]
    return {"name": name, "files": json.loads(files) if isinstance(files, str) else files,
            "metadata_columns": list(metadata_columns), "rows": int(num_rows), "created_at": created_at}


def text_set_info(workspace, name: str) -> dict:
    """text_set_row plus "folder", "texts_file" and "annotations" (list_annotations' records for this set)."""
    info = text_set_row(workspace, name)
    info.update(folder=text_set_folder(workspace, name), texts_file=texts_path(workspace, name),
                annotations=list_annotations(workspace, name).to_dict("records"))
    return info


def remove_text_set(workspace, name: str, *, delete_reviews: bool = False) -> None:
    """Remove a text set: its rows, its annotations' rows and its folder (texts and every annotation's shards).
    ValueError while one of its annotations runs (stop it first), or when it has reviews and not delete_reviews."""
    text_set_row(workspace, name)
    folder = text_set_folder(workspace, name)
    running = [path.name for path in sorted((folder / "annotations").glob("*"))
               if path.is_dir() and AnnotationFolder(path).is_active()]
    if running:
        raise ValueError(f"Text set {name!r} is being annotated with {running}; stop that first "
                         f"(`eqn texts stop {name} --run {running[0]}`), then remove it.")
    trash = text_sets_root(workspace) / f".removing-{name}-{uuid.uuid4().hex[:8]}"
    with workspace.transaction() as con:
        if not delete_reviews:
            _refuse_with_reviews(con, name, None, f"Text set {name!r}")
        for table in REVIEW_TABLES:
            con.execute(f"DELETE FROM {table} WHERE split = ?", [review_split(name)])
        con.execute("DELETE FROM text_set_annotations WHERE text_set = ?", [name])
        con.execute("DELETE FROM text_sets WHERE name = ?", [name])
        if folder.exists():
            os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------------
# Annotation records (written by runs.text_jobs from the job's folder)


ANNOTATION_COLUMNS = ("text_set", "run_id", "status", "rows_done", "total_rows", "labels", "label_names", "error",
                      "created_at", "started_at", "finished_at")


def record_annotation(workspace, name: str, run_id: str, *, label_names: list[str], total_rows: int) -> None:
    """A queued annotation of `name` by `run_id`: a new row, or the existing one queued again (to resume)."""
    with workspace.transaction() as con:
        exists = con.execute("SELECT count(*) FROM text_set_annotations WHERE text_set = ? AND run_id = ?",
                             [name, run_id]).fetchall()[0][0]
        if exists:
            con.execute("UPDATE text_set_annotations SET status = 'queued', total_rows = ?, error = NULL, "
                        "finished_at = NULL WHERE text_set = ? AND run_id = ?", [int(total_rows), name, run_id])
        else:
            con.execute("INSERT INTO text_set_annotations VALUES (?, ?, 'queued', 0, ?, ?, NULL, ?, NULL, NULL)",
                        [name, run_id, int(total_rows), list(label_names), utc_now()])


def update_annotation(workspace, name: str, run_id: str, status: dict) -> None:
    """Copy a job's status.json (status, rows_done, started_at, finished_at, error) into its row."""
    if status.get("status") not in RUN_STATUSES:
        raise ValueError(f"Unknown annotation status {status.get('status')!r}; expected one of {RUN_STATUSES}.")
    with workspace.transaction() as con:
        con.execute("UPDATE text_set_annotations SET status = ?, rows_done = ?, started_at = ?, finished_at = ?, "
                    "error = ? WHERE text_set = ? AND run_id = ?",
                    [status["status"], int(status.get("rows_done") or 0), to_timestamp(status.get("started_at")),
                     to_timestamp(status.get("finished_at")), status.get("error"), name, run_id])


def annotation_record(workspace, name: str, run_id: str) -> dict:
    """One annotation's row (ANNOTATION_COLUMNS); KeyError if `run_id` never annotated text set `name`."""
    frame = list_annotations(workspace, name)
    frame = frame[frame["run_id"] == run_id]
    if frame.empty:
        text_set_row(workspace, name)
        raise KeyError(f"Text set {name!r} has no annotation by run {run_id!r}; annotate it first "
                       f"(`eqn texts annotate {name} --run {run_id}`).")
    record = frame.iloc[0].to_dict()
    for column in ("error", "started_at", "finished_at"):
        record[column] = None if pd.isna(record[column]) else record[column]
    return record


def list_annotations(workspace, name: str | None = None) -> pd.DataFrame:
    """ANNOTATION_COLUMNS per (text set, run), as last ingested; label_names a list, labels its length."""
    sql = ("SELECT text_set, run_id, status, rows_done, total_rows, len(label_names) AS labels, label_names, error, "
           "created_at, started_at, finished_at FROM text_set_annotations")
    params = []
    if name is not None:
        sql, params = sql + " WHERE text_set = ?", [name]
    frame = workspace.fetch_df(sql + " ORDER BY text_set, created_at, run_id", params)
    frame["label_names"] = [list(names) for names in frame["label_names"]]
    return frame


def forget_annotation(workspace, name: str, run_id: str, *, delete_reviews: bool = False) -> None:
    """Delete an annotation's row and folder (the caller made sure no job writes into it); ValueError when the
    annotation has reviews and not delete_reviews."""
    folder = annotation_path(workspace, name, run_id)
    trash = folder.with_name(f".removing-{run_id}-{uuid.uuid4().hex[:8]}")
    with workspace.transaction() as con:
        if not delete_reviews:
            _refuse_with_reviews(con, name, run_id, f"The annotation of {name!r} by {run_id!r}")
        for table in REVIEW_TABLES:
            con.execute(f"DELETE FROM {table} WHERE split = ? AND run_id = ?", [review_split(name), run_id])
        con.execute("DELETE FROM text_set_annotations WHERE text_set = ? AND run_id = ?", [name, run_id])
        if folder.exists():
            os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------------
# Where the readers find the files


@dataclass
class AnnotationSource:
    """The Parquet files behind a text set (and, with a run, its energies), for DuckDB readers.

    texts: texts.parquet; shards: the energy shards written so far (empty without a run); label_names: the run's C
    labels (empty without a run); metadata: text set column -> the name readers give it (a column named like a
    label, ignoring case, gets "_meta" appended); complete: every row has its energies (the job finished)."""

    text_set: str
    run_id: str | None
    texts: str
    rows: int
    metadata: dict[str, str]
    label_names: list[str] = field(default_factory=list)
    shards: list[str] = field(default_factory=list)
    complete: bool = False
    status: str | None = None
    shard_rows: int | None = None
    shard_index: dict[int, str] = field(default_factory=dict)


def annotation_source(workspace, name: str, run_id: str | None = None) -> AnnotationSource:
    """Where text set `name` (and `run_id`'s annotation of it) lies; KeyError for an unknown set or annotation."""
    row = text_set_row(workspace, name)
    labels, shard_index, status, shard_rows = [], {}, None, None
    if run_id is not None:
        record = annotation_record(workspace, name, run_id)
        labels, status = list(record["label_names"]), record["status"]
        folder = AnnotationFolder(annotation_path(workspace, name, run_id))
        shard_index = {index: str(folder.shard_file(index)) for index in folder.shard_indices()}
        shard_rows = int((read_json(folder.job_file) or {}).get("shard_rows") or 0) or None
    taken = {label.lower() for label in labels} | {column.lower() for column in FIXED_COLUMNS}
    metadata = {}
    for column in row["metadata_columns"]:
        output = column
        while output.lower() in taken:
            output += "_meta"
        taken.add(output.lower())
        metadata[column] = output
    return AnnotationSource(text_set=name, run_id=run_id, texts=str(texts_path(workspace, name)), rows=row["rows"],
                            metadata=metadata, label_names=labels, shards=list(shard_index.values()),
                            complete=status == "finished", status=status, shard_rows=shard_rows,
                            shard_index=shard_index)


def text_set_paths(workspace, name: str) -> tuple[Path, Path]:
    """(folder, texts.parquet) of a registered text set."""
    text_set_row(workspace, name)
    return text_set_folder(workspace, name), texts_path(workspace, name)
