"""The DuckDB workspace: data sets, runs, energies, threshold profiles, reviews (its tables: eqn_core.schema)."""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from eqn_core.data import LabeledDataset, LabeledSplit
from eqn_core.schema import (  # noqa: F401  (REVIEW_DECISIONS: re-exported)
    _REVIEW_BATCH_SCHEMA, ENERGY_MAX, ENERGY_MIN, MIGRATIONS, REVIEW_DECISIONS, RUN_STATUSES, SCHEMA,
    SCHEMA_VERSION, SPLIT_ORDER, _check_dataset, _check_name, _in_row_order, _label_matrix, _none_if_nan,
    _review_values, _run_record, _split_sort_key, _texts_table, _to_json, _to_timestamp, _utc_now,
    check_thresholds,
)

DB_FILENAME = "eqn.duckdb"


class WorkspaceBusyError(RuntimeError):
    """The workspace database is held by another process (DuckDB allows one writer per file)."""


class Workspace:
    """One workspace folder: ``eqn.duckdb`` plus the run, cache and export folders beside it.

    A Workspace holds one DuckDB connection; its methods are serialised by a lock, so one
    instance may be shared between threads (Streamlit sessions). Every multi-statement write
    runs in one transaction: it happens entirely or not at all.
    """

    def __init__(self, root: str | Path, *, read_only: bool = False):
        self.root = Path(root).expanduser().resolve()
        self.db_path = self.root / DB_FILENAME
        self.runs_dir = self.root / "runs"
        self.cache_dir = self.root / "cache"
        self.exports_dir = self.root / "exports"
        self.read_only = read_only
        self._lock = threading.RLock()
        if read_only:
            if not self.db_path.is_file():
                raise FileNotFoundError(f"No EQN Studio workspace at {self.root}: {self.db_path} does not exist.")
        else:
            for folder in (self.root, self.runs_dir, self.cache_dir / "embeddings",
                           self.cache_dir / "downloads", self.exports_dir):
                folder.mkdir(parents=True, exist_ok=True)
        self._con: duckdb.DuckDBPyConnection | None = _connect(self.db_path, read_only=read_only)
        try:
            self._ensure_schema()
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- connection and schema
    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._con is None else ("read-only" if self.read_only else "open")
        return f"Workspace({str(self.root)!r}, {state})"

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError(f"The workspace {self.root} is closed.")
        return self._con

    @contextmanager
    def locked_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection, held for this thread (for read queries of eqn_core.export)."""
        with self._lock:
            yield self.con

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN ... COMMIT; ROLLBACK on any error (commit included), so nothing is half-written."""
        with self._lock:
            con = self.con
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
        tables = {row[0] for row in self.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "schema_version" not in tables:
            if tables:
                raise RuntimeError(f"{self.db_path} is a DuckDB file but not an EQN Studio workspace "
                                   f"(it has tables {sorted(tables)} and no schema_version).")
            if self.read_only:
                raise RuntimeError(f"{self.db_path} is empty; open it once without read_only to create it.")
            with self._transaction() as con:
                for statement in SCHEMA:
                    con.execute(statement)
                con.execute("INSERT INTO schema_version VALUES (?, ?)", [SCHEMA_VERSION, _utc_now()])
            return
        version = self.con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.db_path} has schema version {version}, newer than this EQN Studio "
                               f"understands ({SCHEMA_VERSION}); update EQN Studio.")
        if version < SCHEMA_VERSION:
            if self.read_only:
                raise RuntimeError(f"{self.db_path} has schema version {version} and needs an upgrade to "
                                   f"{SCHEMA_VERSION}; open it once without read_only.")
            with self._transaction() as con:
                for next_version in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[next_version]:
                        con.execute(statement)
                    con.execute("INSERT INTO schema_version VALUES (?, ?)", [next_version, _utc_now()])

    def schema_version(self) -> int:
        with self._lock:
            return int(self.con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0])

    def _all(self, sql: str, params: list | None = None) -> list[tuple]:
        with self._lock:
            return self.con.execute(sql, params or []).fetchall()

    def _df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self._lock:
            return self.con.execute(sql, params or []).df()

    def _arrow(self, sql: str, params: list | None = None) -> pa.Table:
        with self._lock:
            relation = self.con.sql(sql, params=params or [])
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
        _check_dataset(dataset)
        split_tables = [_texts_table(dataset.name, split_name, split) for split_name, split in dataset.splits.items()]
        with self._transaction() as con:
            exists = con.execute("SELECT count(*) FROM datasets WHERE name = ?", [dataset.name]).fetchall()[0][0]
            if exists:
                if not replace:
                    raise ValueError(f"A data set named {dataset.name!r} already exists in {self.db_path}; "
                                     "choose another name or pass replace=True.")
                runs = [row[0] for row in con.execute(
                    "SELECT run_id FROM runs WHERE dataset = ? ORDER BY run_id", [dataset.name]).fetchall()]
                if runs:
                    raise ValueError(f"Cannot replace data set {dataset.name!r}: runs {runs} use it; "
                                     "delete those runs first or import under a new name.")
                con.execute("DELETE FROM texts WHERE dataset = ?", [dataset.name])
                con.execute("DELETE FROM datasets WHERE name = ?", [dataset.name])
            con.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?)",
                        [dataset.name, list(dataset.label_names), list(dataset.splits), bool(dataset.multi_label),
                         str(dataset.source), _utc_now()])
            for rows in split_tables:
                self._insert_arrow(con, "texts", rows)

    def dataset_names(self) -> list[str]:
        return [row[0] for row in self._all("SELECT name FROM datasets ORDER BY name")]

    def list_datasets(self) -> pd.DataFrame:
        """One row per data set: name, num_labels, multi_label, <split>_rows..., total_rows, source, created_at."""
        datasets = self._df("SELECT name, len(label_names) AS num_labels, multi_label, source, created_at "
                            "FROM datasets ORDER BY name")
        counts = self._df("SELECT dataset, split, count(*) AS n FROM texts GROUP BY dataset, split")
        splits = sorted(set(counts["split"]) | set(SPLIT_ORDER), key=_split_sort_key)
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
            rows = _in_row_order(self._arrow("SELECT row_idx, text_id, text, label_ids FROM texts "
                                             "WHERE dataset = ? AND split = ?", [name, split]))
            loaded[split] = LabeledSplit(texts=rows.column("text").to_pylist(),
                                         human_labels=_label_matrix(rows.column("label_ids"), len(label_names)),
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
            runs = [row[0] for row in con.execute(
                "SELECT run_id FROM runs WHERE dataset = ? ORDER BY run_id", [name]).fetchall()]
            if runs:
                raise ValueError(f"Data set {name!r} is used by runs {runs}; delete those runs first.")
            con.execute("DELETE FROM texts WHERE dataset = ?", [name])
            con.execute("DELETE FROM datasets WHERE name = ?", [name])

    # ---------------------------------------------------------------- runs
    def create_run(self, run_id: str, *, dataset: str, mode: str, encoder: str, config: Mapping | Any,
                   run_dir: str | Path) -> None:
        """Register a run with status "queued"; ValueError if run_id exists, KeyError if the data set does not."""
        _check_name(run_id, "run_id")
        self._dataset_row(dataset)
        with self._transaction() as con:
            if con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]:
                raise ValueError(f"A run with id {run_id!r} already exists in {self.db_path}.")
            con.execute("INSERT INTO runs (run_id, dataset, mode, encoder, status, config, run_dir, created_at) "
                        "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
                        [run_id, dataset, mode, encoder, _to_json(config), str(run_dir), _utc_now()])

    def update_run(self, run_id: str, *, status: str | None = None, started_at=None, finished_at=None,
                   metrics: dict | None = None, error: str | None = None, best_epoch: int | None = None) -> None:
        """Set the given fields (None = leave unchanged). Times: datetime, ISO string or epoch seconds."""
        if status is not None and status not in RUN_STATUSES:
            raise ValueError(f"Unknown run status {status!r}; use one of {RUN_STATUSES}.")
        updates = {"status": status, "started_at": _to_timestamp(started_at),
                   "finished_at": _to_timestamp(finished_at),
                   "metrics": None if metrics is None else _to_json(metrics), "error": error,
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
        return _run_record(frame.iloc[0].to_dict())

    def list_runs(self, *, dataset: str | None = None) -> pd.DataFrame:
        """All runs (newest first), config and metrics as dicts."""
        sql, params = "SELECT * FROM runs", []
        if dataset is not None:
            sql, params = sql + " WHERE dataset = ?", [dataset]
        frame = self._df(sql + " ORDER BY created_at DESC, run_id", params)
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
                n_reviews = con.execute("SELECT count(*) FROM reviews WHERE run_id = ?", [run_id]).fetchall()[0][0]
                if n_reviews and not delete_reviews:
                    raise ValueError(f"Run {run_id!r} has {n_reviews} review decisions; export them first, then "
                                     "delete them with the run (delete_reviews=True, `eqn delete --with-reviews`).")
                for table in ("reviews", "threshold_profiles", "energies", "runs"):
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
        rows = _in_row_order(self._arrow("SELECT row_idx, energies FROM energies WHERE run_id = ? AND split = ?",
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
        return sorted(splits, key=_split_sort_key)

    # ---------------------------------------------------------------- threshold profiles
    def save_threshold_profile(self, name: str, *, run_id: str, thresholds: np.ndarray,
                               global_threshold: float | None = None, note: str = "") -> None:
        """Create or replace the named per-label thresholds (C,) for a run's labels."""
        _check_name(name, "profile name")
        label_names = self.label_names(self.get_run(run_id)["dataset"])
        thresholds = check_thresholds(thresholds, label_names)
        if global_threshold is not None:
            global_threshold = float(check_thresholds(global_threshold, label_names)[0])
        now = _utc_now()
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
        profile["global_threshold"] = _none_if_nan(profile["global_threshold"])
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
        shapes: dict[tuple[str, str], tuple[str, list[str], int]] = {}
        rows = []
        for decision in decisions:
            key = (decision.get("run_id"), decision.get("split"))
            if key not in shapes:
                shapes[key] = self._run_shape(*key)
            rows.append(_review_values(*shapes[key], **decision))
        if not rows:
            return []
        batch = pa.Table.from_pylist([{**row, "position": position} for position, row in enumerate(rows)],
                                     schema=_REVIEW_BATCH_SCHEMA)
        view = "eqn_review_batch"
        with self._transaction() as con:
            con.register(view, batch)
            try:  # ids follow the list order, so a later decision in the batch supersedes an earlier one
                ids = con.execute(
                    "INSERT INTO reviews (run_id, dataset, split, row_idx, text_id, label, decision, energy, note, "
                    "reviewer, decided_at) SELECT b.run_id, b.dataset, b.split, b.row_idx, t.text_id, b.label, "
                    f"b.decision, b.energy, b.note, b.reviewer, ? FROM {view} b JOIN texts t ON t.dataset = b.dataset "
                    "AND t.split = b.split AND t.row_idx = b.row_idx ORDER BY b.position RETURNING id",
                    [_utc_now()]).fetchall()
            finally:
                con.unregister(view)
        if len(ids) != len(rows):
            raise RuntimeError(f"Stored {len(ids)} of {len(rows)} review decisions; the texts table is inconsistent.")
        return sorted(int(row[0]) for row in ids)

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
def _connect(db_path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(db_path), read_only=read_only)
    except duckdb.IOException as error:
        message = str(error)
        if "lock" not in message.lower():
            raise
        pid = re.search(r"PID (\d+)", message)
        holder = f" (process id {pid.group(1)})" if pid else ""
        raise WorkspaceBusyError(
            f"The workspace database {db_path} is open in another EQN Studio process{holder}: the app or a CLI "
            "command. DuckDB lets only one process open it for writing; close that process or wait for it to "
            "finish, then try again.") from error
