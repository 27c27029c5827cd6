"""The workspace: data sets, runs, energies and threshold profiles in one DuckDB file, run folders beside it.

The file's connections: eqn_core.store.database; review records: eqn_core.store.review_store; its tables: eqn_core.store.schema.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from eqn_core.io.datasets import SPLIT_ORDER, LabeledDataset, LabeledSplit, Progress, fetch_goemotions, load_goemotions
from eqn_core.io.names import check_safe_name
from eqn_core.method.thresholds import ENERGY_MAX, ENERGY_MIN, check_thresholds
from eqn_core.store.database import DB_FILENAME
from eqn_core.store.review_store import ReviewStore
from eqn_core.store.schema import (
    RUN_STATUSES,
    check_dataset,
    in_row_order,
    label_matrix,
    none_if_nan,
    run_record,
    split_sort_key,
    texts_table,
    to_json,
    to_timestamp,
    utc_now,
)
from eqn_core.store.shipped import install_shipped_runs
from eqn_core.store.text_set_reviews import review_shape, text_set_energies, text_set_ids, text_set_label_names
from eqn_core.store.text_sets import text_set_of_review_split


class Workspace(ReviewStore):
    """One workspace folder: ``eqn.duckdb`` plus the run, cache and export folders beside it.

    A Workspace holds no connection between bursts of work (eqn_core.store.database): a call opens the database, and
    the connection closes shortly after the last call, so the app and any number of CLI commands can use one
    workspace side by side; opening waits while another process is in the middle of its work (up to
    LOCK_WAIT_SECONDS). One instance may be shared between threads (Streamlit sessions). Every multi-statement
    write runs in one transaction: all or nothing. The review records come from ReviewStore.
    """

    def __init__(self, root: str | Path, *, read_only: bool = False, lock_wait: float | None = None):
        self.root = Path(root).expanduser().resolve()
        self.runs_dir = self.root / "runs"
        self.cache_dir = self.root / "cache"
        self.exports_dir = self.root / "exports"
        super().__init__(self.root / DB_FILENAME, read_only=read_only, lock_wait=lock_wait)
        if read_only:
            if not self.db_path.is_file():
                raise FileNotFoundError(f"No EQN Studio workspace at {self.root}: {self.db_path} does not exist.")
        else:
            for folder in (self.root, self.runs_dir, self.cache_dir / "embeddings",
                           self.cache_dir / "downloads", self.exports_dir):
                folder.mkdir(parents=True, exist_ok=True)
        try:
            with self.connection():
                self.ensure_schema()
                if not read_only:
                    install_shipped_runs(self)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("read-only" if self.read_only else "open")
        return f"Workspace({str(self.root)!r}, {state})"

    # ---------------------------------------------------------------- data sets
    def add_dataset(self, dataset: LabeledDataset, *, replace: bool = False) -> None:
        """Store a data set with all its splits, atomically. ValueError if the name exists (unless replace)."""
        check_dataset(dataset)
        split_tables = [texts_table(dataset.name, split_name, split) for split_name, split in dataset.splits.items()]
        with self.transaction() as con:
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
                self.insert_arrow(con, "texts", rows)
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
        return [row[0] for row in self.fetch_all("SELECT name FROM datasets ORDER BY name")]

    def list_datasets(self) -> pd.DataFrame:
        """One row per data set: name, num_labels, multi_label, <split>_rows..., total_rows, source, created_at."""
        datasets = self.fetch_df("SELECT name, len(label_names) AS num_labels, multi_label, source, created_at "
                            "FROM datasets ORDER BY name")
        counts = self.fetch_df("SELECT dataset, split, count(*) AS n FROM texts GROUP BY dataset, split")
        splits = sorted(set(counts["split"]) | set(SPLIT_ORDER), key=split_sort_key)
        per_split = counts.pivot(index="dataset", columns="split", values="n").reindex(columns=splits)
        for split in splits:
            datasets[f"{split}_rows"] = datasets["name"].map(per_split[split]).fillna(0).astype("int64")
        datasets["total_rows"] = datasets[[f"{split}_rows" for split in splits]].sum(axis=1).astype("int64")
        order = ["name", "num_labels", "multi_label", *[f"{split}_rows" for split in splits], "total_rows",
                 "source", "created_at"]
        return datasets[order]

    def _dataset_row(self, name: str) -> tuple[list[str], list[str], bool, str]:
        rows = self.fetch_all("SELECT label_names, splits, multi_label, source FROM datasets WHERE name = ?", [name])
        if not rows:
            raise KeyError(f"No data set named {name!r} in {self.db_path}; known: {self.dataset_names()}")
        label_names, splits, multi_label, source = rows[0]
        return list(label_names), list(splits), bool(multi_label), source

    def label_names(self, name: str) -> list[str]:
        """The label names of a data set (or of a text set's annotations, for its review key)."""
        text_set = text_set_of_review_split(name)
        return self._dataset_row(name)[0] if text_set is None else text_set_label_names(self, text_set)

    def split_names(self, name: str) -> list[str]:
        return self._dataset_row(name)[1]

    def _check_split(self, dataset: str, split: str) -> list[str]:
        label_names, splits, _, _ = self._dataset_row(dataset)
        if split not in splits:
            raise KeyError(f"Data set {dataset!r} has no split {split!r}; it has {splits}.")
        return label_names

    def split_size(self, dataset: str, split: str) -> int:
        self._check_split(dataset, split)
        return int(self.fetch_all("SELECT count(*) FROM texts WHERE dataset = ? AND split = ?", [dataset, split])[0][0])

    def load_dataset(self, name: str, *, splits: list[str] | None = None) -> LabeledDataset:
        label_names, stored_splits, multi_label, source = self._dataset_row(name)
        wanted = stored_splits if splits is None else list(splits)
        missing = [split for split in wanted if split not in stored_splits]
        if missing:
            raise KeyError(f"Data set {name!r} has no split(s) {missing}; it has {stored_splits}.")
        loaded = {}
        for split in wanted:
            rows = in_row_order(self.fetch_arrow("SELECT row_idx, text_id, text, label_ids FROM texts "
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
        for split, count, n_texts in self.fetch_all(
                "SELECT split, len(label_ids) AS k, count(*) FROM texts WHERE dataset = ? "
                "GROUP BY split, k ORDER BY split, k", [name]):
            rows[split] += int(n_texts)
            labels_per_text[split][int(count)] = int(n_texts)
        label_counts = {split: {label: 0 for label in label_names} for split in splits}
        for split, label_id, n_texts in self.fetch_all(
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
        frame = self.fetch_df(sql, params)
        frame["label_ids"] = [[int(label_id) for label_id in ids] for ids in frame["label_ids"]]
        return frame

    def delete_dataset(self, name: str) -> None:
        """Delete a data set and its texts; ValueError while runs use it (delete them first)."""
        self._dataset_row(name)
        with self.transaction() as con:
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
        with self.transaction() as con:
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
        with self.transaction() as con:
            con.execute("INSERT INTO runs (run_id, dataset, mode, encoder, status, config, metrics, run_dir, created_at, "
                        "finished_at) VALUES (?, ?, ?, ?, 'finished', ?, ?, ?, ?, ?)",
                        [run_id, dataset, mode, encoder, to_json(config), to_json(metrics), self._stored_run_dir(run_dir),
                         now, now])

    def replace_shipped_run(self, run_id: str, *, mode: str, encoder: str, config: Mapping, metrics: dict,
                            run_dir: str | Path) -> None:
        """A shipped model's new version (an upgrade replaced its package): its record becomes the package's, and
        the old version's stored energies and dev-tuned thresholds go, in one transaction (shipped.py stores the new
        ones). Reviews and the profiles people saved stay."""
        with self.transaction() as con:
            con.execute("UPDATE runs SET mode = ?, encoder = ?, config = ?, metrics = ?, run_dir = ? WHERE run_id = ?",
                        [mode, encoder, to_json(config), to_json(metrics), self._stored_run_dir(run_dir), run_id])
            con.execute("DELETE FROM energies WHERE run_id = ?", [run_id])
            con.execute("DELETE FROM threshold_profiles WHERE name = ?", [f"{run_id}:tuned-on-dev"])

    def set_run_dir(self, run_id: str, run_dir: str | Path) -> None:
        with self.transaction() as con:
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
        with self.transaction() as con:
            con.execute(f"UPDATE runs SET {assignments} WHERE run_id = ?", [*updates.values(), run_id])

    def get_run(self, run_id: str) -> dict:
        frame = self.fetch_df("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if frame.empty:
            known = [row[0] for row in self.fetch_all("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 20")]
            raise KeyError(f"No run {run_id!r} in {self.db_path}; recent runs: {known}")
        record = run_record(frame.iloc[0].to_dict())
        record["run_dir"] = self.run_dir(record["run_dir"])
        return record

    def list_runs(self, *, dataset: str | None = None) -> pd.DataFrame:
        """All runs (newest first), config and metrics as dicts."""
        sql, params = "SELECT * FROM runs", []
        if dataset is not None:
            sql, params = sql + " WHERE dataset = ?", [dataset]
        frame = self.fetch_df(sql + " ORDER BY created_at DESC, run_id", params)
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
        with self.transaction() as con:
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

    def run_shape(self, run_id: str, split: str) -> tuple[str, list[str], int]:
        """(data set, label names, number of rows) of a run's split; KeyError for an unknown run or split. A text
        set's review key (store.text_set_reviews) gives (the key, the run's labels, the set's texts)."""
        if (text_set := text_set_of_review_split(split)) is not None:
            return review_shape(self, text_set, run_id)
        dataset = self.get_run(run_id)["dataset"]
        label_names = self._check_split(dataset, split)
        return dataset, label_names, self.split_size(dataset, split)

    # ---------------------------------------------------------------- energies
    def store_energies(self, run_id: str, split: str, energies: np.ndarray) -> None:
        """Store (N, C) energies of a run on a split, replacing earlier ones, atomically."""
        dataset, label_names, num_rows = self.run_shape(run_id, split)
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
        with self.transaction() as con:
            con.execute("DELETE FROM energies WHERE run_id = ? AND split = ?", [run_id, split])
            self.insert_arrow(con, "energies", rows)

    def text_ids(self, dataset: str, split: str, rows) -> dict[int, str]:
        if (text_set := text_set_of_review_split(split)) is not None:
            return text_set_ids(self, text_set, rows)
        found = self.fetch_all("SELECT row_idx, text_id FROM texts WHERE dataset = ? AND split = ? AND "
                               "list_contains(?, row_idx)", [dataset, split, sorted({int(row) for row in rows})])
        return {int(row): str(text_id) for row, text_id in found}

    def load_energies(self, run_id: str, split: str) -> np.ndarray:
        """(N, C) float32 energies in the split's row order (a text set's review key: its annotation's Parquet
        energies); KeyError if none stored."""
        if (text_set := text_set_of_review_split(split)) is not None:
            return text_set_energies(self, text_set, run_id)
        rows = in_row_order(self.fetch_arrow("SELECT row_idx, energies FROM energies WHERE run_id = ? AND split = ?",
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
        splits = [row[0] for row in self.fetch_all("SELECT DISTINCT split FROM energies WHERE run_id = ?", [run_id])]
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
        with self.transaction() as con:
            earlier = con.execute("SELECT created_at FROM threshold_profiles WHERE name = ?", [name]).fetchall()
            earlier = earlier[0] if earlier else None
            con.execute("DELETE FROM threshold_profiles WHERE name = ?", [name])
            con.execute("INSERT INTO threshold_profiles VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [name, run_id, thresholds.tolist(), global_threshold, note, earlier[0] if earlier else now,
                         now])

    def load_threshold_profile(self, name: str) -> dict:
        frame = self.fetch_df("SELECT * FROM threshold_profiles WHERE name = ?", [name])
        if frame.empty:
            known = [row[0] for row in self.fetch_all("SELECT name FROM threshold_profiles ORDER BY name")]
            raise KeyError(f"No threshold profile {name!r}; known: {known}")
        profile = frame.iloc[0].to_dict()
        profile["thresholds"] = np.asarray(profile["thresholds"], dtype=np.float64)  # (C,)
        profile["global_threshold"] = none_if_nan(profile["global_threshold"])
        return profile

    def list_threshold_profiles(self, *, run_id: str | None = None) -> pd.DataFrame:
        sql, params = "SELECT * FROM threshold_profiles", []
        if run_id is not None:
            sql, params = sql + " WHERE run_id = ?", [run_id]
        frame = self.fetch_df(sql + " ORDER BY name", params)
        frame["thresholds"] = [np.asarray(values, dtype=np.float64) for values in frame["thresholds"]]
        return frame
