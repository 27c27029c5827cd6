"""The DuckDB workspace: data sets, runs, energies, threshold profiles, reviews (its tables: eqn_core.schema)."""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from eqn_core.data import SPLIT_ORDER, LabeledDataset, LabeledSplit, Progress, fetch_goemotions, load_goemotions
from eqn_core.names import check_safe_name
from eqn_core.shipped import install_shipped_runs
from eqn_core.schema import (  # noqa: F401  (REVIEW_DECISIONS, SCHEMA_VERSION: re-exported)
    MIGRATIONS, REVIEW_BATCH_SCHEMA, REVIEW_DECISIONS, RUN_STATUSES, SCHEMA, SCHEMA_VERSION, check_dataset,
    in_row_order, label_matrix, none_if_nan, review_values, run_record, split_sort_key, texts_table,
    to_json, to_timestamp, utc_now,
)
from eqn_core.thresholds import ENERGY_MAX, ENERGY_MIN, check_thresholds

DB_FILENAME = "eqn.duckdb"
DEFAULT_NON_EMOTION_NAMES = ("neutral", "no emotion", "none")
"""Label names (compared ignoring case) left out of suggestions and agreement unless a data set says otherwise."""


class WorkspaceBusyError(RuntimeError):
    """Another process kept the workspace database for longer than we wait (DuckDB allows one writer per file)."""


class WorkspaceDamagedError(RuntimeError):
    """The workspace database file cannot be read: truncated, overwritten or not a DuckDB file."""


# The lock wait: another process (the app, a CLI command) holds eqn.duckdb only for one operation at a time,
# so we retry for up to LOCK_WAIT_SECONDS (EQN_LOCK_WAIT overrides) before giving up with WorkspaceBusyError.
LOCK_WAIT_SECONDS = 60.0
# One lock per database file in this process: connections to one file never overlap, so threads (Streamlit
# sessions) and several Workspace objects over the same folder take turns instead of clashing.
# A connection stays open this long after the last call, so the calls of one page run share it; then it closes.
LINGER_SECONDS = 0.25
# A process that keeps calling closes its connection once it is this old and pauses COURTESY_SECONDS before
# opening again, so a waiting process (retrying every few ms) gets its turn: nobody is starved.
MAX_HOLD_SECONDS = 1.0
COURTESY_SECONDS = 0.05
_FILE_LOCKS: dict[Path, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(db_path: Path) -> threading.RLock:
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(db_path, threading.RLock())


class Workspace:
    """One workspace folder: ``eqn.duckdb`` plus the run, cache and export folders beside it.

    A Workspace holds no connection between bursts of work: a call opens the database (a few milliseconds), and
    the connection closes LINGER_SECONDS after the last call, so the app and any number of CLI commands can use
    one workspace side by side. While another process is in the middle of its work, opening waits and retries
    (up to LOCK_WAIT_SECONDS). Calls are serialised per database file, so one instance may be shared between
    threads (Streamlit sessions). Every multi-statement write runs in one transaction: all or nothing.
    """

    def __init__(self, root: str | Path, *, read_only: bool = False, lock_wait: float | None = None):
        self.root = Path(root).expanduser().resolve()
        self.db_path = self.root / DB_FILENAME
        self.runs_dir = self.root / "runs"
        self.cache_dir = self.root / "cache"
        self.exports_dir = self.root / "exports"
        self.read_only = read_only
        self.lock_wait = float(os.environ.get("EQN_LOCK_WAIT", LOCK_WAIT_SECONDS)) if lock_wait is None else lock_wait
        self._lock = _file_lock(self.db_path)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._depth = 0  # nested connection() calls in progress
        self._last_used = 0.0
        self._opened_at = 0.0
        self._reopen_after = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False
        if read_only:
            if not self.db_path.is_file():
                raise FileNotFoundError(f"No EQN Studio workspace at {self.root}: {self.db_path} does not exist.")
        else:
            for folder in (self.root, self.runs_dir, self.cache_dir / "embeddings",
                           self.cache_dir / "downloads", self.exports_dir):
                folder.mkdir(parents=True, exist_ok=True)
        try:
            with self.connection():
                self._ensure_schema()
                if not read_only:
                    install_shipped_runs(self)
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- connection and schema
    def close(self) -> None:
        """Close the connection now (it closes by itself LINGER_SECONDS after the last call); the workspace then
        refuses further use."""
        with self._lock:
            self._closed = True
            self._release()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("read-only" if self.read_only else "open")
        return f"Workspace({str(self.root)!r}, {state})"

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection for this thread: the one already open (nested and quick successive calls share it),
        else a new one. It is closed LINGER_SECONDS after the last call, which lets other processes in."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"The workspace {self.root} is closed.")
            if self._con is None:
                pause = self._reopen_after - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                self._con = _connect(self.db_path, read_only=self.read_only, lock_wait=self.lock_wait)
                self._opened_at = time.monotonic()
            self._depth += 1
            try:
                yield self._con
            except duckdb.Error as error:
                if _looks_damaged(error):
                    raise _damaged(self.db_path, error) from error
                raise
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._last_used = time.monotonic()
                    if self._last_used - self._opened_at >= MAX_HOLD_SECONDS:
                        self._release()
                        self._reopen_after = time.monotonic() + COURTESY_SECONDS
                    else:
                        self._schedule_release()

    def _schedule_release(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(LINGER_SECONDS, self._release_when_idle)
            self._timer.daemon = True
            self._timer.start()

    def _release_when_idle(self) -> None:
        with self._lock:
            self._timer = None
            if self._con is None or self._depth:
                return
            idle = time.monotonic() - self._last_used
            if idle >= LINGER_SECONDS:
                self._release()
            else:
                self._timer = threading.Timer(LINGER_SECONDS - idle, self._release_when_idle)
                self._timer.daemon = True
                self._timer.start()

    def _release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._con is not None and not self._depth:
            con, self._con = self._con, None
            con.close()

    # the connection, held for this thread (for read queries of eqn_core.export)
    locked_connection = connection

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN ... COMMIT; ROLLBACK on any error (commit included), so nothing is half-written."""
        with self.connection() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # the failed COMMIT may already have rolled back
                raise

    def _ensure_schema(self) -> None:
        try:
            tables = {row[0] for row in self._all("SELECT table_name FROM duckdb_tables()")}
        except duckdb.Error as error:
            raise _damaged(self.db_path, error) from error
        if "schema_version" not in tables:
            if tables:
                raise RuntimeError(f"{self.db_path} is a DuckDB file but not an EQN Studio workspace "
                                   f"(it has tables {sorted(tables)} and no schema_version).")
            if self.read_only:
                raise RuntimeError(f"{self.db_path} is empty; open it once without read_only to create it.")
            with self._transaction() as con:
                for statement in SCHEMA:
                    con.execute(statement)
                con.execute("INSERT INTO schema_version VALUES (?, ?)", [SCHEMA_VERSION, utc_now()])
            return
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.db_path} has schema version {version}, newer than this EQN Studio "
                               f"understands ({SCHEMA_VERSION}); update EQN Studio.")
        if version < SCHEMA_VERSION:
            if self.read_only:
                raise RuntimeError(f"{self.db_path} has schema version {version} and needs an upgrade to "
                                   f"{SCHEMA_VERSION}; open it once without read_only.")
            with self.connection() as con:
                con.execute("CHECKPOINT")
                shutil.copy2(self.db_path, backup_path(self.db_path, version))  # kept: the file before the upgrade
                with self._transaction() as con:
                    for next_version in range(version + 1, SCHEMA_VERSION + 1):
                        for statement in MIGRATIONS[next_version]:
                            con.execute(statement)
                        con.execute("INSERT INTO schema_version VALUES (?, ?)", [next_version, utc_now()])

    def schema_version(self) -> int:
        return int(self._all("SELECT max(version) FROM schema_version")[0][0])

    def _all(self, sql: str, params: list | None = None) -> list[tuple]:
        with self.connection() as con:
            return con.execute(sql, params or []).fetchall()

    def _df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.connection() as con:
            return con.execute(sql, params or []).df()

    def _arrow(self, sql: str, params: list | None = None) -> pa.Table:
        with self.connection() as con:
            relation = con.sql(sql, params=params or [])
            to_table = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
            return to_table()

    def _insert_arrow(self, con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
        """Bulk insert (one vectorised INSERT ... SELECT); table and columns are ours, never user text."""
        columns = ", ".join(rows.column_names)
        view = "eqn_insert_source"
        con.register(view, rows)
        try:
            con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {view}")
        finally:
            con.unregister(view)

    # ---------------------------------------------------------------- data sets
    def add_dataset(self, dataset: LabeledDataset, *, replace: bool = False) -> None:
        """Store a data set with all its splits, atomically. ValueError if the name exists (unless replace)."""
        check_dataset(dataset)
        split_tables = [texts_table(dataset.name, split_name, split) for split_name, split in dataset.splits.items()]
        with self._transaction() as con:
            exists = con.execute("SELECT count(*) FROM datasets WHERE name = ?", [dataset.name]).fetchall()[0][0]
            if exists:
                if not replace:
                    raise ValueError(f"A data set named {dataset.name!r} already exists in {self.db_path}; "
                                     "choose another name or pass replace=True.")
                runs = self._runs_needing(con, dataset.name)
                if runs:
                    raise ValueError(f"Cannot replace data set {dataset.name!r}: runs {runs} use it; "
                                     "delete those runs first or import under a new name.")
                self._forget_shipped_energies(con, dataset.name)
                con.execute("DELETE FROM texts WHERE dataset = ?", [dataset.name])
                con.execute("DELETE FROM datasets WHERE name = ?", [dataset.name])
            con.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?)",
                        [dataset.name, list(dataset.label_names), list(dataset.splits), bool(dataset.multi_label),
                         str(dataset.source), utc_now()])
            for rows in split_tables:
                self._insert_arrow(con, "texts", rows)
        install_shipped_runs(self)  # a shipped model evaluated on this data set gets its energies now

    @staticmethod
    def _runs_needing(con: duckdb.DuckDBPyConnection, dataset: str) -> list[str]:
        """Runs that keep a data set from being replaced or deleted: every trained run, and a shipped model once
        someone reviewed its energies (its other rows are re-made from the package)."""
        return [row[0] for row in con.execute(
            "SELECT run_id FROM runs WHERE dataset = ? AND (NOT coalesce(json_extract(config, '$.shipped')::BOOLEAN, "
            "false) OR run_id IN (SELECT run_id FROM reviews)) ORDER BY run_id", [dataset]).fetchall()]

    @staticmethod
    def _forget_shipped_energies(con: duckdb.DuckDBPyConnection, dataset: str) -> None:
        for table in ("energies", "threshold_profiles"):
            con.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM runs WHERE dataset = ? AND "
                        "coalesce(json_extract(config, '$.shipped')::BOOLEAN, false))", [dataset])

    def add_goemotions(self, *, from_dir: str | Path | None = None, progress: Progress | None = None) -> LabeledDataset:
        """Fetch GoEmotions into <workspace>/cache/downloads (copied from from_dir, else downloaded), store it as
        data set "goemotions" and return it. ValueError when the workspace already holds a data set of that name."""
        if "goemotions" in self.dataset_names():
            raise ValueError("The workspace already holds a data set named 'goemotions'.")
        folder = fetch_goemotions(self.cache_dir / "downloads", from_dir=from_dir, progress=progress)
        dataset = load_goemotions(folder)
        dataset.source = str(from_dir) if from_dir is not None else f"{dataset.source} (downloaded)"
        self.add_dataset(dataset)
        return dataset

    def dataset_names(self) -> list[str]:
        return [row[0] for row in self._all("SELECT name FROM datasets ORDER BY name")]

    def list_datasets(self) -> pd.DataFrame:
        """One row per data set: name, num_labels, multi_label, <split>_rows..., total_rows, source, created_at."""
        datasets = self._df("SELECT name, len(label_names) AS num_labels, multi_label, source, created_at "
                            "FROM datasets ORDER BY name")
        counts = self._df("SELECT dataset, split, count(*) AS n FROM texts GROUP BY dataset, split")
        splits = sorted(set(counts["split"]) | set(SPLIT_ORDER), key=split_sort_key)
        per_split = counts.pivot(index="dataset", columns="split", values="n").reindex(columns=splits)
        for split in splits:
            datasets[f"{split}_rows"] = datasets["name"].map(per_split[split]).fillna(0).astype("int64")
        datasets["total_rows"] = datasets[[f"{split}_rows" for split in splits]].sum(axis=1).astype("int64")
        order = ["name", "num_labels", "multi_label", *[f"{split}_rows" for split in splits], "total_rows",
                 "source", "created_at"]
        return datasets[order]

    def _dataset_row(self, name: str) -> tuple[list[str], list[str], bool, str]:
        rows = self._all("SELECT label_names, splits, multi_label, source FROM datasets WHERE name = ?", [name])
        if not rows:
            raise KeyError(f"No data set named {name!r} in {self.db_path}; known: {self.dataset_names()}")
        label_names, splits, multi_label, source = rows[0]
        return list(label_names), list(splits), bool(multi_label), source

    def label_names(self, name: str) -> list[str]:
        return self._dataset_row(name)[0]

    def split_names(self, name: str) -> list[str]:
        return self._dataset_row(name)[1]

    def _check_split(self, dataset: str, split: str) -> list[str]:
        label_names, splits, _, _ = self._dataset_row(dataset)
        if split not in splits:
            raise KeyError(f"Data set {dataset!r} has no split {split!r}; it has {splits}.")
        return label_names

    def split_size(self, dataset: str, split: str) -> int:
        self._check_split(dataset, split)
        return int(self._all("SELECT count(*) FROM texts WHERE dataset = ? AND split = ?", [dataset, split])[0][0])

    def load_dataset(self, name: str, *, splits: list[str] | None = None) -> LabeledDataset:
        label_names, stored_splits, multi_label, source = self._dataset_row(name)
        wanted = stored_splits if splits is None else list(splits)
        missing = [split for split in wanted if split not in stored_splits]
        if missing:
            raise KeyError(f"Data set {name!r} has no split(s) {missing}; it has {stored_splits}.")
        loaded = {}
        for split in wanted:
            rows = in_row_order(self._arrow("SELECT row_idx, text_id, text, label_ids FROM texts "
                                             "WHERE dataset = ? AND split = ?", [name, split]))
            loaded[split] = LabeledSplit(texts=rows.column("text").to_pylist(),
                                         human_labels=label_matrix(rows.column("label_ids"), len(label_names)),
                                         text_ids=rows.column("text_id").to_pylist())
        return LabeledDataset(name=name, label_names=label_names, splits=loaded, multi_label=multi_label,
                              source=source)

    def dataset_summary(self, name: str) -> dict:
        """{"rows": {split: n}, "label_counts": {split: {label: n}}, "labels_per_text": {split: {k: n_texts}}}."""
        label_names, splits, _, _ = self._dataset_row(name)
        rows = {split: 0 for split in splits}
        labels_per_text: dict[str, dict[int, int]] = {split: {} for split in splits}
        for split, count, n_texts in self._all(
                "SELECT split, len(label_ids) AS k, count(*) FROM texts WHERE dataset = ? "
                "GROUP BY split, k ORDER BY split, k", [name]):
            rows[split] += int(n_texts)
            labels_per_text[split][int(count)] = int(n_texts)
        label_counts = {split: {label: 0 for label in label_names} for split in splits}
        for split, label_id, n_texts in self._all(
                "SELECT split, label_id, count(*) FROM (SELECT split, unnest(label_ids) AS label_id FROM texts "
                "WHERE dataset = ?) GROUP BY split, label_id", [name]):
            label_counts[split][label_names[label_id]] = int(n_texts)
        return {"rows": rows, "label_counts": label_counts, "labels_per_text": labels_per_text}

    def texts(self, dataset: str, split: str, *, search: str | None = None,
              limit: int | None = None) -> pd.DataFrame:
        """row_idx, text_id, text, label_ids (list[int]); search is a case-insensitive substring."""
        self._check_split(dataset, split)
        sql = "SELECT row_idx, text_id, text, label_ids FROM texts WHERE dataset = ? AND split = ?"
        params: list[Any] = [dataset, split]
        if search:
            sql += " AND strpos(lower(text), lower(?)) > 0"
            params.append(search)
        sql += " ORDER BY row_idx"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        frame = self._df(sql, params)
        frame["label_ids"] = [[int(label_id) for label_id in ids] for ids in frame["label_ids"]]
        return frame

    def delete_dataset(self, name: str) -> None:
        """Delete a data set and its texts; ValueError while runs use it (delete them first)."""
        self._dataset_row(name)
        with self._transaction() as con:
            runs = self._runs_needing(con, name)
            if runs:
                raise ValueError(f"Data set {name!r} is used by runs {runs}; delete those runs first.")
            self._forget_shipped_energies(con, name)
            con.execute("DELETE FROM texts WHERE dataset = ?", [name])
            con.execute("DELETE FROM dataset_settings WHERE dataset = ?", [name])
            con.execute("DELETE FROM datasets WHERE name = ?", [name])

    # ---------------------------------------------------------------- runs
    def create_run(self, run_id: str, *, dataset: str, mode: str, encoder: str, config: Mapping | Any,
                   run_dir: str | Path) -> None:
        """Register a run with status "queued"; ValueError if run_id exists, KeyError if the data set does not."""
        check_safe_name(run_id, "run id")
        self._dataset_row(dataset)
        with self._transaction() as con:
            if con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]:
                raise ValueError(f"A run with id {run_id!r} already exists in {self.db_path}.")
            con.execute("INSERT INTO runs (run_id, dataset, mode, encoder, status, config, run_dir, created_at) "
                        "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
                        [run_id, dataset, mode, encoder, to_json(config), self._stored_run_dir(run_dir), utc_now()])

    def add_finished_run(self, run_id: str, *, dataset: str, mode: str, encoder: str, config: Mapping,
                         run_dir: str | Path, metrics: dict) -> None:
        """Register a finished run made elsewhere (a shipped model); its data set need not be loaded yet."""
        check_safe_name(run_id, "run id")
        now = utc_now()
        with self._transaction() as con:
            con.execute("INSERT INTO runs (run_id, dataset, mode, encoder, status, config, metrics, run_dir, created_at, "
                        "finished_at) VALUES (?, ?, ?, ?, 'finished', ?, ?, ?, ?, ?)",
                        [run_id, dataset, mode, encoder, to_json(config), to_json(metrics), self._stored_run_dir(run_dir),
                         now, now])

    def set_run_dir(self, run_id: str, run_dir: str | Path) -> None:
        with self._transaction() as con:
            con.execute("UPDATE runs SET run_dir = ? WHERE run_id = ?", [self._stored_run_dir(run_dir), run_id])

    def _stored_run_dir(self, run_dir: str | Path) -> str:
        """Run folders inside the workspace are stored relative to it ("runs/<id>"), so a moved or copied
        workspace uses its own folders; others (a shipped model inside the package) stay absolute."""
        path = Path(run_dir).expanduser()
        path = (path if path.is_absolute() else self.root / path).resolve()  # a relative folder: in the workspace
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)

    def run_dir(self, stored: str) -> str:
        """The absolute run folder of a stored run_dir value."""
        return str(self.root / stored) if not Path(stored).is_absolute() else stored

    def update_run(self, run_id: str, *, status: str | None = None, started_at=None, finished_at=None,
                   metrics: dict | None = None, error: str | None = None, best_epoch: int | None = None) -> None:
        """Set the given fields (None = leave unchanged). Times: datetime, ISO string or epoch seconds."""
        if status is not None and status not in RUN_STATUSES:
            raise ValueError(f"Unknown run status {status!r}; use one of {RUN_STATUSES}.")
        updates = {"status": status, "started_at": to_timestamp(started_at),
                   "finished_at": to_timestamp(finished_at),
                   "metrics": None if metrics is None else to_json(metrics), "error": error,
                   "best_epoch": None if best_epoch is None else int(best_epoch)}
        updates = {column: value for column, value in updates.items() if value is not None}
        self.get_run(run_id)
        if not updates:
            return
        assignments = ", ".join(f"{column} = ?" for column in updates)  # column names are the fixed keys above
        with self._transaction() as con:
            con.execute(f"UPDATE runs SET {assignments} WHERE run_id = ?", [*updates.values(), run_id])

    def get_run(self, run_id: str) -> dict:
        frame = self._df("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if frame.empty:
            known = [row[0] for row in self._all("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 20")]
            raise KeyError(f"No run {run_id!r} in {self.db_path}; recent runs: {known}")
        record = run_record(frame.iloc[0].to_dict())
        record["run_dir"] = self.run_dir(record["run_dir"])
        return record

    def list_runs(self, *, dataset: str | None = None) -> pd.DataFrame:
        """All runs (newest first), config and metrics as dicts."""
        sql, params = "SELECT * FROM runs", []
        if dataset is not None:
            sql, params = sql + " WHERE dataset = ?", [dataset]
        frame = self._df(sql + " ORDER BY created_at DESC, run_id", params)
        frame["run_dir"] = [self.run_dir(value) for value in frame["run_dir"]]
        for column in ("config", "metrics"):
            frame[column] = [json.loads(value) if isinstance(value, str) else None for value in frame[column]]
        return frame

    def delete_run(self, run_id: str, *, delete_reviews: bool = False) -> None:
        """Delete a run with its energies and threshold profiles; its reviews only if delete_reviews."""
        self.delete_runs([run_id], delete_reviews=delete_reviews)

    def delete_runs(self, run_ids: list[str], *, delete_reviews: bool = False) -> None:
        """Delete several runs in one transaction (all or none); ValueError if any has reviews and not delete_reviews."""
        for run_id in run_ids:
            self.get_run(run_id)
        with self._transaction() as con:
            for run_id in run_ids:
                n_reviews = con.execute("SELECT (SELECT count(*) FROM reviews WHERE run_id = $run) + (SELECT count(*) "
                                        "FROM review_submissions WHERE run_id = $run) + (SELECT count(*) FROM "
                                        "adjudications WHERE run_id = $run)", {"run": run_id}).fetchall()[0][0]
                if n_reviews and not delete_reviews:
                    raise ValueError(f"Run {run_id!r} has {n_reviews} review decisions; export them first, then "
                                     "delete them with the run (delete_reviews=True, `eqn delete --with-reviews`).")
                for table in ("reviews", "review_submissions", "review_assignments", "adjudications",
                              "review_settings", "threshold_profiles", "energies", "runs"):
                    con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])

    def _run_shape(self, run_id: str, split: str) -> tuple[str, list[str], int]:
        dataset = self.get_run(run_id)["dataset"]
        label_names = self._check_split(dataset, split)
        return dataset, label_names, self.split_size(dataset, split)

    # ---------------------------------------------------------------- energies
    def store_energies(self, run_id: str, split: str, energies: np.ndarray) -> None:
        """Store (N, C) energies of a run on a split, replacing earlier ones, atomically."""
        dataset, label_names, num_rows = self._run_shape(run_id, split)
        energies = np.asarray(energies)
        expected = (num_rows, len(label_names))
        if energies.ndim != 2 or energies.shape != expected:
            raise ValueError(f"Energies for run {run_id!r} split {split!r} have shape {energies.shape}, but data set "
                             f"{dataset!r} split {split!r} has {num_rows} rows and {len(label_names)} labels: "
                             f"expected {expected}.")
        if not np.issubdtype(energies.dtype, np.number):
            raise ValueError(f"Energies must be numbers, got dtype {energies.dtype}.")
        energies = np.ascontiguousarray(energies, dtype=np.float32)  # (N, C)
        bad = ~np.isfinite(energies) | (energies < ENERGY_MIN) | (energies > ENERGY_MAX)
        if bad.any():
            row, column = map(int, np.argwhere(bad)[0])
            raise ValueError(f"Energies must be finite and in [0, 10] (clip them first): {int(bad.sum())} are not, "
                             f"first at row {row}, label {label_names[column]!r}: {energies[row, column]}.")
        offsets = pa.array(np.arange(0, energies.size + 1, energies.shape[1], dtype=np.int32))
        rows = pa.table({
            "run_id": pa.array([run_id] * num_rows, pa.string()),
            "split": pa.array([split] * num_rows, pa.string()),
            "row_idx": pa.array(np.arange(num_rows, dtype=np.int32)),
            "energies": pa.ListArray.from_arrays(offsets, pa.array(energies.reshape(-1))),
        })
        with self._transaction() as con:
            con.execute("DELETE FROM energies WHERE run_id = ? AND split = ?", [run_id, split])
            self._insert_arrow(con, "energies", rows)

    def load_energies(self, run_id: str, split: str) -> np.ndarray:
        """(N, C) float32 energies in the split's row order; KeyError if none stored."""
        rows = in_row_order(self._arrow("SELECT row_idx, energies FROM energies WHERE run_id = ? AND split = ?",
                                         [run_id, split]))
        if rows.num_rows == 0:
            self.get_run(run_id)
            raise KeyError(f"Run {run_id!r} has no energies for split {split!r}; "
                           f"it has energies for {self.energy_splits(run_id)}.")
        column = rows.column("energies")
        lengths = pc.list_value_length(column).to_numpy()
        values = pc.list_flatten(column).to_numpy(zero_copy_only=False)
        return np.ascontiguousarray(values.reshape(len(lengths), int(lengths[0])), dtype=np.float32)  # (N, C)

    def energy_splits(self, run_id: str) -> list[str]:
        splits = [row[0] for row in self._all("SELECT DISTINCT split FROM energies WHERE run_id = ?", [run_id])]
        return sorted(splits, key=split_sort_key)

    # ---------------------------------------------------------------- threshold profiles
    def save_threshold_profile(self, name: str, *, run_id: str, thresholds: np.ndarray,
                               global_threshold: float | None = None, note: str = "") -> None:
        """Create or replace the named per-label thresholds (C,) for a run's labels."""
        check_safe_name(name, "profile name", profile=True)
        label_names = self.label_names(self.get_run(run_id)["dataset"])
        thresholds = check_thresholds(thresholds, len(label_names))
        if global_threshold is not None:
            global_threshold = float(check_thresholds(global_threshold, len(label_names))[0])
        now = utc_now()
        with self._transaction() as con:
            earlier = con.execute("SELECT created_at FROM threshold_profiles WHERE name = ?", [name]).fetchall()
            earlier = earlier[0] if earlier else None
            con.execute("DELETE FROM threshold_profiles WHERE name = ?", [name])
            con.execute("INSERT INTO threshold_profiles VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [name, run_id, thresholds.tolist(), global_threshold, note, earlier[0] if earlier else now,
                         now])

    def load_threshold_profile(self, name: str) -> dict:
        frame = self._df("SELECT * FROM threshold_profiles WHERE name = ?", [name])
        if frame.empty:
            known = [row[0] for row in self._all("SELECT name FROM threshold_profiles ORDER BY name")]
            raise KeyError(f"No threshold profile {name!r}; known: {known}")
        profile = frame.iloc[0].to_dict()
        profile["thresholds"] = np.asarray(profile["thresholds"], dtype=np.float64)  # (C,)
        profile["global_threshold"] = none_if_nan(profile["global_threshold"])
        return profile

    def list_threshold_profiles(self, *, run_id: str | None = None) -> pd.DataFrame:
        sql, params = "SELECT * FROM threshold_profiles", []
        if run_id is not None:
            sql, params = sql + " WHERE run_id = ?", [run_id]
        frame = self._df(sql + " ORDER BY name", params)
        frame["thresholds"] = [np.asarray(values, dtype=np.float64) for values in frame["thresholds"]]
        return frame

    # ---------------------------------------------------------------- reviews
    def record_review(self, *, run_id: str, split: str, row_idx: int, label: str, decision: str, reviewer: str,
                      energy: float | None = None, note: str = "") -> int:
        """Store one decision at once (committed before returning); returns its id.

        decision: "accept" or "reject" a label (energy: the energy shown, optional), or "set" it to
        energy in [0, 10]. A reviewer's later decision on the same (text, label) supersedes theirs.
        """
        return self.record_reviews([{"run_id": run_id, "split": split, "row_idx": row_idx, "label": label,
                                     "decision": decision, "reviewer": reviewer, "energy": energy, "note": note}])[0]

    def record_reviews(self, decisions: list[dict]) -> list[int]:
        """Store several decisions (dicts of record_review's arguments) in one transaction: all or none."""
        rows = self._checked_reviews(decisions)
        if not rows:
            return []
        with self._transaction() as con:
            return self._insert_reviews(con, rows, utc_now())

    def _checked_reviews(self, decisions: list[dict]) -> list[dict]:
        shapes: dict[tuple[str, str], tuple[str, list[str], int]] = {}
        rows = []
        for decision in decisions:
            key = (decision.get("run_id"), decision.get("split"))
            if key not in shapes:
                shapes[key] = self._run_shape(*key)
            rows.append(review_values(*shapes[key], **decision))
        return rows

    @staticmethod
    def _insert_reviews(con: duckdb.DuckDBPyConnection, rows: list[dict], decided_at) -> list[int]:
        """Insert checked decisions inside the caller's transaction; returns their ids in list order."""
        batch = pa.Table.from_pylist([{**row, "position": position} for position, row in enumerate(rows)],
                                     schema=REVIEW_BATCH_SCHEMA)
        view = "eqn_review_batch"
        con.register(view, batch)
        try:  # ids follow the list order, so a later decision in the batch supersedes an earlier one
            ids = con.execute(
                "INSERT INTO reviews (run_id, dataset, split, row_idx, text_id, label, decision, energy, note, "
                "reviewer, decided_at) SELECT b.run_id, b.dataset, b.split, b.row_idx, t.text_id, b.label, "
                f"b.decision, b.energy, b.note, b.reviewer, ? FROM {view} b JOIN texts t ON t.dataset = b.dataset "
                "AND t.split = b.split AND t.row_idx = b.row_idx ORDER BY b.position RETURNING id",
                [decided_at]).fetchall()
        finally:
            con.unregister(view)
        if len(ids) != len(rows):
            raise RuntimeError(f"Stored {len(ids)} of {len(rows)} review decisions; the texts table is inconsistent.")
        return sorted(int(row[0]) for row in ids)

    def submit_text_review(self, *, run_id: str, split: str, row_idx: int, reviewer: str,
                           decisions: list[dict] = (), note: str = "") -> int:
        """Store one reviewed text at once: its label decisions (dicts with label, decision, energy) and a
        submission row, in one transaction, all with the same time. Returns the submission's id."""
        reviewer = reviewer.strip() if isinstance(reviewer, str) else reviewer
        dataset, label_names, num_rows = self._run_shape(run_id, split)
        rows = [review_values(dataset, label_names, num_rows, run_id=run_id, split=split, row_idx=row_idx,
                              reviewer=reviewer, note=note, **decision) for decision in decisions]
        if not rows:  # the submission row needs the same checks
            review_values(dataset, label_names, num_rows, run_id=run_id, split=split, row_idx=row_idx,
                          reviewer=reviewer, label=label_names[0], decision="accept")
        now = utc_now()
        with self._transaction() as con:
            if rows:
                self._insert_reviews(con, rows, now)
            return int(con.execute(
                "INSERT INTO review_submissions (run_id, dataset, split, row_idx, text_id, reviewer, note, submitted_at) "
                "SELECT ?, dataset, split, row_idx, text_id, ?, ?, ? FROM texts WHERE dataset = ? AND split = ? AND "
                "row_idx = ? RETURNING id", [run_id, reviewer, note or "", now, dataset, split, int(row_idx)]
            ).fetchall()[0][0])

    def submissions(self, *, run_id: str, split: str, reviewer: str | None = None,
                    latest_only: bool = True) -> pd.DataFrame:
        """Submitted texts: id, row_idx, text_id, reviewer, note, submitted_at (latest per text and reviewer)."""
        sql = ("SELECT id, row_idx, text_id, reviewer, note, submitted_at FROM review_submissions "
               "WHERE run_id = ? AND split = ?")
        params: list[Any] = [run_id, split]
        if reviewer is not None:
            sql, params = sql + " AND reviewer = ?", params + [reviewer]
        if latest_only:
            sql += " QUALIFY row_number() OVER (PARTITION BY row_idx, reviewer ORDER BY id DESC) = 1"
        return self._df(sql + " ORDER BY id", params)

    # ---------------------------------------------------------------- assignments and adjudications
    def assign_texts(self, *, run_id: str, split: str, rows: list[int], reviewers: list[str],
                     assigned_by: str) -> int:
        """Give each of `rows` to each of `reviewers` (skipping pairs already assigned); returns how many were new."""
        dataset, _, num_rows = self._run_shape(run_id, split)
        rows = sorted({int(row) for row in rows})
        outside = [row for row in rows if not 0 <= row < num_rows]
        if outside:
            raise ValueError(f"Rows {outside[:10]} are outside split {split!r} (rows 0..{num_rows - 1}).")
        names = sorted({name.strip() for name in reviewers if isinstance(name, str) and name.strip()})
        if not names:
            raise ValueError("Name at least one reviewer to assign texts to.")
        pairs = pa.table({"row_idx": pa.array([row for row in rows for _ in names], pa.int32()),
                          "reviewer": pa.array([name for _ in rows for name in names], pa.string())})
        with self._transaction() as con:
            con.register("eqn_assign_batch", pairs)
            try:
                inserted = con.execute(
                    "INSERT INTO review_assignments SELECT ?, ?, b.row_idx, b.reviewer, ?, ? FROM eqn_assign_batch b "
                    "WHERE NOT EXISTS (SELECT 1 FROM review_assignments a WHERE a.run_id = ? AND a.split = ? AND "
                    "a.row_idx = b.row_idx AND a.reviewer = b.reviewer) RETURNING row_idx",
                    [run_id, split, assigned_by, utc_now(), run_id, split]).fetchall()
            finally:
                con.unregister("eqn_assign_batch")
        return len(inserted)

    def assignments(self, *, run_id: str, split: str, reviewer: str | None = None) -> pd.DataFrame:
        sql, params = ("SELECT row_idx, reviewer, assigned_by, assigned_at FROM review_assignments "
                       "WHERE run_id = ? AND split = ?"), [run_id, split]
        if reviewer is not None:
            sql, params = sql + " AND reviewer = ?", params + [reviewer]
        return self._df(sql + " ORDER BY row_idx, reviewer", params)

    def record_adjudication(self, *, run_id: str, split: str, row_idx: int, label: str, energy: float,
                            adjudicator: str, note: str = "") -> int:
        """The final value of one (text, label) where reviewers disagree; a later one supersedes it."""
        dataset, label_names, num_rows = self._run_shape(run_id, split)
        review_values(dataset, label_names, num_rows, run_id=run_id, split=split, row_idx=row_idx, label=label,
                      decision="set", energy=energy, reviewer=adjudicator)
        with self._transaction() as con:
            return int(con.execute(
                "INSERT INTO adjudications (run_id, dataset, split, row_idx, text_id, label, energy, note, adjudicator, "
                "decided_at) SELECT ?, dataset, split, row_idx, text_id, ?, ?, ?, ?, ? FROM texts WHERE dataset = ? "
                "AND split = ? AND row_idx = ? RETURNING id",
                [run_id, label, float(energy), note or "", adjudicator.strip(), utc_now(), dataset, split,
                 int(row_idx)]).fetchall()[0][0])

    def adjudications(self, *, run_id: str, split: str, latest_only: bool = True) -> pd.DataFrame:
        """id, row_idx, text_id, label, energy, note, adjudicator, decided_at (latest per text and label)."""
        sql = ("SELECT id, row_idx, text_id, label, energy, note, adjudicator, decided_at FROM adjudications "
               "WHERE run_id = ? AND split = ?")
        if latest_only:
            sql += " QUALIFY row_number() OVER (PARTITION BY row_idx, label ORDER BY id DESC) = 1"
        return self._df(sql + " ORDER BY id", [run_id, split])

    # ---------------------------------------------------------------- per-data-set settings
    def non_emotion_labels(self, dataset: str) -> list[str]:
        """Labels left out of suggestions and agreement: the stored setting, else those named like "neutral"."""
        label_names = self.label_names(dataset)
        rows = self._all("SELECT non_emotion_labels FROM dataset_settings WHERE dataset = ?", [dataset])
        if rows:
            return [label for label in rows[0][0] if label in label_names]
        return [label for label in label_names if label.strip().lower() in DEFAULT_NON_EMOTION_NAMES]

    def set_non_emotion_labels(self, dataset: str, labels: list[str]) -> None:
        label_names = self.label_names(dataset)
        unknown = [label for label in labels if label not in label_names]
        if unknown:
            raise ValueError(f"Labels {unknown} are not in data set {dataset!r}; labels: {label_names}")
        with self._transaction() as con:
            con.execute("DELETE FROM dataset_settings WHERE dataset = ?", [dataset])
            con.execute("INSERT INTO dataset_settings VALUES (?, ?, ?)", [dataset, list(labels), utc_now()])

    def reviews(self, *, run_id: str | None = None, split: str | None = None, reviewer: str | None = None,
                latest_only: bool = True) -> pd.DataFrame:
        """Review decisions in order of id; latest_only keeps each reviewer's last word per (text, label)."""
        filters, params = [], []
        for column, value in (("run_id", run_id), ("split", split), ("reviewer", reviewer)):
            if value is not None:
                filters.append(f"{column} = ?")
                params.append(value)
        sql = ("SELECT id, run_id, dataset, split, row_idx, text_id, label, decision, energy, note, reviewer, "
               "decided_at FROM reviews")
        if filters:
            sql += " WHERE " + " AND ".join(filters)
        if latest_only:
            sql += (" QUALIFY row_number() OVER (PARTITION BY run_id, split, row_idx, label, reviewer "
                    "ORDER BY id DESC) = 1")
        return self._df(sql + " ORDER BY id", params)

    # ---------------------------------------------------------------- external annotation sets (eqn_core.corpus)
    def add_corpus(self, name: str, pattern: str, *, replace: bool = False) -> dict:
        """Register a Parquet file, folder or glob as a corpus queried in place (a DuckDB view); see eqn_core.corpus."""
        from eqn_core.corpus import add_corpus

        return add_corpus(self, name, pattern, replace=replace)

    def reviewers(self, *, run_id: str | None = None) -> list[str]:
        sql, params = "SELECT DISTINCT reviewer FROM reviews", []
        if run_id is not None:
            sql, params = sql + " WHERE run_id = ?", [run_id]
        return sorted(row[0] for row in self._all(sql, params))


# -------------------------------------------------------------------- helpers
def backup_path(db_path: Path, version: int) -> Path:
    """Where the database is copied before an upgrade from schema version `version`."""
    return db_path.with_name(f"{db_path.name}.v{version}.bak")


def _is_lock_error(error: duckdb.Error) -> bool:
    message = str(error).lower()
    return "lock" in message and ("could not set" in message or "conflicting" in message)


_DAMAGE_SIGNS = ("could not read enough bytes", "corrupt", "checksum", "not a valid duckdb database",
                 "invalid database", "failed to read database header", "serialization error")


def _looks_damaged(error: duckdb.Error) -> bool:
    """A read error of the database file itself (not of a file named in a query, such as an export target)."""
    message = str(error).lower()
    return isinstance(error, (duckdb.IOException, duckdb.SerializationException, duckdb.InternalException)) and \
        any(sign in message for sign in _DAMAGE_SIGNS)


def _damaged(db_path: Path, error: BaseException) -> WorkspaceDamagedError:
    backups = sorted(db_path.parent.glob(f"{db_path.name}.*.bak"))
    restore = (f"restore the backup {backups[-1]} (copy it over {db_path.name})" if backups
               else "restore it from your own backup")
    return WorkspaceDamagedError(
        f"The workspace database {db_path} is damaged and cannot be opened ({type(error).__name__}: "
        f"{str(error).splitlines()[0][:200]}). Close EQN Studio, then {restore}; or move {db_path.name} aside and "
        "open the folder again to start an empty workspace (run folders under runs/ keep the trained weights "
        "and energies).")


def _connect(db_path: Path, *, read_only: bool, lock_wait: float = LOCK_WAIT_SECONDS) -> duckdb.DuckDBPyConnection:
    """Open the database, waiting (with growing pauses) while another process holds it."""
    deadline = time.monotonic() + max(0.0, lock_wait)
    pause = 0.005
    while True:
        try:
            return duckdb.connect(str(db_path), read_only=read_only)
        except duckdb.Error as error:
            if "permission denied" in str(error).lower():
                raise PermissionError(f"Cannot open the workspace database {db_path}: {error}") from error
            if not _is_lock_error(error):
                raise _damaged(db_path, error) from error
            if time.monotonic() >= deadline:
                pid = re.search(r"PID (\d+)", str(error))
                holder = f" (process id {pid.group(1)})" if pid else ""
                raise WorkspaceBusyError(
                    f"The workspace database {db_path} stayed busy for {lock_wait:.0f} s: another EQN Studio "
                    f"process{holder} is in the middle of a long operation. Try again when it is done.") from error
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
