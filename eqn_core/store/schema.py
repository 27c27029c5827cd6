"""The workspace's DuckDB tables: every CREATE TABLE, the schema version, and checks and conversions of row values."""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from eqn_core.io.datasets import SPLIT_ORDER, LabeledDataset, LabeledSplit
from eqn_core.io.names import check_safe_name
from eqn_core.method.thresholds import ENERGY_MAX, ENERGY_MIN

SCHEMA_VERSION = 7

# The whole schema, in creation order. A change to it is a new SCHEMA_VERSION plus an entry in
# MIGRATIONS that takes a workspace from the previous version to the new one.
# Tables that are replaced wholesale (datasets, texts, energies, threshold_profiles) have their keys
# ("unique per ...") kept by eqn_core.store.workspace, inside one transaction per write, not by PRIMARY KEY: DuckDB
# before 1.2 cannot delete and re-insert a key in one transaction nor update a LIST column, and an ART
# index would cost memory for every text and energy row.
# External annotation sets (eqn_core.scale.corpus): Parquet files read in place through a view "corpus__<name>".
CORPORA_TABLE = """CREATE TABLE corpora (
        name         VARCHAR   NOT NULL,   -- unique
        pattern      VARCHAR   NOT NULL,   -- the Parquet file or glob the view reads
        label_names  VARCHAR[] NOT NULL,   -- the energy columns, one per label
        human_labels VARCHAR,              -- 'text' (comma-separated names), 'list', or NULL when absent
        created_at   TIMESTAMP NOT NULL    -- UTC
    )"""
SCHEMA_V1: tuple[str, ...] = (  # what version 1 created; later versions add to it through MIGRATIONS
    """CREATE TABLE schema_version (
        version    INTEGER   NOT NULL PRIMARY KEY,
        applied_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE datasets (
        name        VARCHAR   NOT NULL,   -- unique
        label_names VARCHAR[] NOT NULL,   -- C names in label-id order
        splits      VARCHAR[] NOT NULL,   -- split names in the data set's order
        multi_label BOOLEAN   NOT NULL,
        source      VARCHAR   NOT NULL,
        created_at  TIMESTAMP NOT NULL    -- UTC
    )""",
    """CREATE TABLE texts (
        dataset   VARCHAR   NOT NULL,
        split     VARCHAR   NOT NULL,
        row_idx   INTEGER   NOT NULL,     -- 0-based row order of the split
        text_id   VARCHAR   NOT NULL,
        text      VARCHAR   NOT NULL,
        label_ids INTEGER[] NOT NULL      -- 0-based ids of the human labels, ascending
    )                                     -- unique per (dataset, split, row_idx)""",
    """CREATE TABLE runs (
        run_id      VARCHAR   NOT NULL PRIMARY KEY,
        dataset     VARCHAR   NOT NULL,
        mode        VARCHAR   NOT NULL,
        encoder     VARCHAR   NOT NULL,
        status      VARCHAR   NOT NULL,
        config      JSON      NOT NULL,
        metrics     JSON,
        error       VARCHAR,
        best_epoch  INTEGER,
        run_dir     VARCHAR   NOT NULL,
        created_at  TIMESTAMP NOT NULL,
        started_at  TIMESTAMP,
        finished_at TIMESTAMP
    )""",
    # One row per text: a variable-length FLOAT list (C differs between data sets), fetched through
    # Arrow as one flat float32 buffer, so loading a split is a reshape, not a Python loop.
    """CREATE TABLE energies (
        run_id   VARCHAR NOT NULL,
        split    VARCHAR NOT NULL,
        row_idx  INTEGER NOT NULL,
        energies FLOAT[] NOT NULL         -- C energies in [0, 10]
    )                                     -- unique per (run_id, split, row_idx)""",
    """CREATE TABLE threshold_profiles (
        name             VARCHAR   NOT NULL,   -- unique
        run_id           VARCHAR   NOT NULL,
        thresholds       DOUBLE[]  NOT NULL,   -- C per-label thresholds h (eq. 8)
        global_threshold DOUBLE,
        note             VARCHAR   NOT NULL,
        created_at       TIMESTAMP NOT NULL,
        updated_at       TIMESTAMP NOT NULL
    )""",
    "CREATE SEQUENCE review_id_seq START 1",
    """CREATE TABLE reviews (
        id         BIGINT    NOT NULL PRIMARY KEY DEFAULT nextval('review_id_seq'),
        run_id     VARCHAR   NOT NULL,
        dataset    VARCHAR   NOT NULL,
        split      VARCHAR   NOT NULL,
        row_idx    INTEGER   NOT NULL,
        text_id    VARCHAR   NOT NULL,
        label      VARCHAR   NOT NULL,
        decision   VARCHAR   NOT NULL CHECK (decision IN ('accept', 'reject', 'set')),
        energy     DOUBLE,                 -- 'set': the new energy; else the energy shown, if given
        note       VARCHAR   NOT NULL,
        reviewer   VARCHAR   NOT NULL,
        decided_at TIMESTAMP NOT NULL,
        CHECK (decision <> 'set' OR (energy IS NOT NULL AND energy BETWEEN 0 AND 10))
    )""",
)
# Version 3: review by text (submissions), assignments to reviewers, adjudications, per-data-set settings.
REVIEW_TABLES: tuple[str, ...] = (
    "CREATE SEQUENCE review_submission_id_seq START 1",
    # One row per text a reviewer submitted (the label decisions of the submission are in reviews): a text is
    # reviewed by a reviewer once they submitted it, even when they changed nothing. Append-only.
    """CREATE TABLE review_submissions (
        id           BIGINT    NOT NULL PRIMARY KEY DEFAULT nextval('review_submission_id_seq'),
        run_id       VARCHAR   NOT NULL,
        dataset      VARCHAR   NOT NULL,
        split        VARCHAR   NOT NULL,
        row_idx      INTEGER   NOT NULL,
        text_id      VARCHAR   NOT NULL,
        reviewer     VARCHAR   NOT NULL,
        note         VARCHAR   NOT NULL,
        submitted_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE review_assignments (
        run_id      VARCHAR   NOT NULL,
        split       VARCHAR   NOT NULL,
        row_idx     INTEGER   NOT NULL,
        reviewer    VARCHAR   NOT NULL,
        assigned_by VARCHAR   NOT NULL,
        assigned_at TIMESTAMP NOT NULL
    )                                     -- unique per (run_id, split, row_idx, reviewer)""",
    "CREATE SEQUENCE adjudication_id_seq START 1",
    """CREATE TABLE adjudications (
        id          BIGINT    NOT NULL PRIMARY KEY DEFAULT nextval('adjudication_id_seq'),
        run_id      VARCHAR   NOT NULL,
        dataset     VARCHAR   NOT NULL,
        split       VARCHAR   NOT NULL,
        row_idx     INTEGER   NOT NULL,
        text_id     VARCHAR   NOT NULL,
        label       VARCHAR   NOT NULL,
        energy      DOUBLE    NOT NULL CHECK (energy BETWEEN 0 AND 10),   -- the final value
        note        VARCHAR   NOT NULL,
        adjudicator VARCHAR   NOT NULL,
        decided_at  TIMESTAMP NOT NULL
    )                                     -- append-only: the latest per (run_id, split, row_idx, label) counts""",
    """CREATE TABLE dataset_settings (
        dataset            VARCHAR   NOT NULL,   -- unique
        non_emotion_labels VARCHAR[] NOT NULL,   -- left out of suggestions and agreement (GoEmotions: neutral)
        updated_at         TIMESTAMP NOT NULL
    )""",
)
# Version 5: how a run and split is reviewed, set by an admin. Append-only: the latest row per (run_id, split)
# counts, and the rows before it say when reviews were blind. No row: blind review (the default).
REVIEW_SETTINGS_TABLES: tuple[str, ...] = (
    "CREATE SEQUENCE review_setting_id_seq START 1",
    """CREATE TABLE review_settings (
        id         BIGINT    NOT NULL PRIMARY KEY DEFAULT nextval('review_setting_id_seq'),
        run_id     VARCHAR   NOT NULL,
        split      VARCHAR   NOT NULL,
        blind      BOOLEAN   NOT NULL,     -- reviewers see others' decisions on a text only after their own
        changed_by VARCHAR   NOT NULL,
        changed_at TIMESTAMP NOT NULL      -- UTC
    )""",
)
# Version 6: every sign-in attempt and sign-out (the audit an admin reads, and what the sign-in throttle counts).
# Append-only.
SIGN_IN_TABLES: tuple[str, ...] = (
    "CREATE SEQUENCE sign_in_event_id_seq START 1",
    """CREATE TABLE sign_in_events (
        id      BIGINT    NOT NULL PRIMARY KEY DEFAULT nextval('sign_in_event_id_seq'),
        happened_at TIMESTAMP NOT NULL,  -- UTC
        account VARCHAR   NOT NULL,      -- the account name as typed (trimmed, at most 100 characters)
        client  VARCHAR   NOT NULL,      -- the browser's address as the server saw it; '' when unknown
        outcome VARCHAR   NOT NULL,      -- success | failure | locked (refused unchecked) | sign-out
        method  VARCHAR   NOT NULL       -- password | single sign-on | ...
    )""",
)
# Version 7: own texts without labels (eqn_core.store.text_sets): a text set is a folder textsets/<name>/ with
# texts.parquet, and each run's annotation of it energy shards in textsets/<name>/annotations/<run_id>/, written by a
# background job (eqn_core.runs.text_annotation) and ingested here.
TEXT_SET_TABLES: tuple[str, ...] = (
    """CREATE TABLE text_sets (
        name             VARCHAR   NOT NULL,   -- unique; its folder is textsets/<name>
        files            JSON      NOT NULL,   -- [{path, name, format, rows, text_column, id_column, columns}]
        metadata_columns VARCHAR[] NOT NULL,   -- every column kept besides row_idx, text_id, text, source_*
        num_rows         BIGINT    NOT NULL,
        created_at       TIMESTAMP NOT NULL    -- UTC
    )""",
    """CREATE TABLE text_set_annotations (
        text_set    VARCHAR   NOT NULL,
        run_id      VARCHAR   NOT NULL,
        status      VARCHAR   NOT NULL,   -- queued | running | finished | failed | stopped
        rows_done   BIGINT    NOT NULL,
        total_rows  BIGINT    NOT NULL,
        label_names VARCHAR[] NOT NULL,   -- the run's C labels, one energy column each
        error       VARCHAR,
        created_at  TIMESTAMP NOT NULL,   -- UTC
        started_at  TIMESTAMP,
        finished_at TIMESTAMP
    )                                     -- unique per (text_set, run_id)""",
)
SCHEMA: tuple[str, ...] = (SCHEMA_V1 + REVIEW_TABLES + (CORPORA_TABLE,) + REVIEW_SETTINGS_TABLES
                           + SIGN_IN_TABLES + TEXT_SET_TABLES)  # a new workspace
# version -> statements that upgrade a workspace from version - 1 to version.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: run folders inside the workspace are stored relative to it ("runs/<id>"), so a copied workspace uses its
    # own weights. Every trained run's folder is <workspace>/runs/<id> (a Model 1 run shares its EQN run's); a
    # shipped model keeps its absolute folder inside the package (refreshed on every open).
    2: (r"""UPDATE runs SET run_dir = 'runs/' || regexp_extract(run_dir, '[/\\]runs[/\\]([^/\\]+)[/\\]?$', 1)
           WHERE regexp_matches(run_dir, '[/\\]runs[/\\][^/\\]+[/\\]?$')
             AND NOT coalesce(json_extract(config, '$.shipped')::BOOLEAN, false)""",),
    # 3: review by text (submissions), assignments to reviewers, adjudications, per-data-set settings
    3: REVIEW_TABLES,
    # 4: external annotation sets (a DuckDB view over Parquet files per corpus)
    4: (CORPORA_TABLE,),
    # 5: the review mode per run and split (blind or open), set by an admin
    5: REVIEW_SETTINGS_TABLES,
    # 6: the sign-in audit
    6: SIGN_IN_TABLES,
    # 7: own texts without labels and their annotations
    7: TEXT_SET_TABLES,
}

RUN_STATUSES = ("queued", "running", "finished", "failed", "stopped")
REVIEW_DECISIONS = ("accept", "reject", "set")
SIGN_IN_OUTCOMES = ("success", "failure", "locked", "sign-out")
REVIEW_BATCH_SCHEMA = pa.schema([("run_id", pa.string()), ("dataset", pa.string()), ("split", pa.string()),
                                  ("row_idx", pa.int32()), ("text_id", pa.string()), ("label", pa.string()),
                                  ("decision", pa.string()),
                                  ("energy", pa.float64()), ("note", pa.string()), ("reviewer", pa.string()),
                                  ("decided_at", pa.timestamp("us")), ("position", pa.int64())])


# -------------------------------------------------------------------- row values: checks and conversions
def review_values(dataset: str, label_names: list[str], num_rows: int, *, run_id: str, split: str, row_idx: int,
                   label: str, decision: str, reviewer: str, energy: float | None = None, note: str = "") -> dict:
    """One review decision checked against its run's data set; ValueError says what is wrong."""
    if decision not in REVIEW_DECISIONS:
        raise ValueError(f"Unknown review decision {decision!r}; use one of {REVIEW_DECISIONS}.")
    if decision == "set" and energy is None:
        raise ValueError('A "set" decision needs the new energy (a number in [0, 10]).')
    if energy is not None:
        energy = float(energy)
        if not ENERGY_MIN <= energy <= ENERGY_MAX:
            raise ValueError(f"Review energy must be in [0, 10], got {energy}.")
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ValueError("A review needs the reviewer's name.")
    if label not in label_names:
        raise ValueError(f"Unknown label {label!r} for data set {dataset!r}; labels: {label_names}")
    if not 0 <= int(row_idx) < num_rows:
        raise ValueError(f"row_idx {row_idx} is outside split {split!r} of data set {dataset!r} "
                         f"(rows 0..{num_rows - 1}).")
    return {"run_id": run_id, "dataset": dataset, "split": split, "row_idx": int(row_idx), "label": label,
            "decision": decision, "energy": energy, "note": note or "", "reviewer": reviewer.strip()}


def check_name(value: str, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"The {what} must be a non-empty string, got {value!r}.")


def check_dataset(dataset: LabeledDataset) -> None:
    check_safe_name(dataset.name, "data set name")
    labels = list(dataset.label_names)
    if not labels or any(not isinstance(label, str) or not label.strip() for label in labels):
        raise ValueError(f"Data set {dataset.name!r}: label names must be non-empty strings, got {labels}.")
    if len(set(labels)) != len(labels):
        raise ValueError(f"Data set {dataset.name!r}: duplicate label names in {labels}.")
    if not dataset.splits:
        raise ValueError(f"Data set {dataset.name!r} has no splits.")
    for split_name, split in dataset.splits.items():
        check_name(split_name, "split name")
        human_labels = np.asarray(split.human_labels)
        where = f"data set {dataset.name!r} split {split_name!r}"
        if human_labels.ndim != 2 or human_labels.shape != (len(split.texts), len(labels)):
            raise ValueError(f"{where}: human_labels have shape {human_labels.shape}, expected "
                             f"({len(split.texts)} texts, {len(labels)} labels).")
        if len(split.text_ids) != len(split.texts):
            raise ValueError(f"{where}: {len(split.text_ids)} text ids for {len(split.texts)} texts.")
        for what, values in (("text", split.texts), ("text id", split.text_ids)):
            bad = next((i for i, value in enumerate(values) if not isinstance(value, str)), None)
            if bad is not None:
                raise ValueError(f"{where}, row {bad}: the {what} is {values[bad]!r}, not a string.")


def texts_table(name: str, split_name: str, split: LabeledSplit) -> pa.Table:
    human_labels = np.asarray(split.human_labels).astype(bool)  # (N, C)
    num_rows = human_labels.shape[0]
    _, label_ids = np.nonzero(human_labels)  # row-major: grouped by row, ascending label id
    offsets = np.concatenate([[0], np.cumsum(human_labels.sum(axis=1))]).astype(np.int32)
    return pa.table({
        "dataset": pa.array([name] * num_rows, pa.string()),
        "split": pa.array([split_name] * num_rows, pa.string()),
        "row_idx": pa.array(np.arange(num_rows, dtype=np.int32)),
        "text_id": pa.array(list(split.text_ids), pa.string()),
        "text": pa.array(list(split.texts), pa.string()),
        "label_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(label_ids.astype(np.int32))),
    })


def in_row_order(rows: pa.Table) -> pa.Table:
    """Sort by row_idx in Arrow, only when needed: rows come back in insertion order, and a SQL ORDER BY
    over list columns costs more than the whole fetch."""
    row_idx = rows.column("row_idx").to_numpy()
    if len(row_idx) > 1 and not (np.diff(row_idx) > 0).all():
        rows = rows.take(pa.array(np.argsort(row_idx, kind="stable")))
    return rows


def label_matrix(label_ids: pa.ChunkedArray, num_labels: int) -> np.ndarray:
    """list<int> label ids per text -> (N, C) bool."""
    lengths = pc.list_value_length(label_ids).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(label_ids).to_numpy(zero_copy_only=False)
    human_labels = np.zeros((len(lengths), num_labels), dtype=bool)
    human_labels[np.repeat(np.arange(len(lengths)), lengths), flat] = True
    return human_labels


def split_sort_key(split: str) -> tuple[int, str]:
    return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER), split)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_timestamp(value) -> datetime | None:
    """datetime (aware ones converted to UTC), ISO string or epoch seconds -> naive UTC datetime."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    raise TypeError(f"Expected a datetime, ISO string or epoch seconds, got {value!r}.")


def _json_ready(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_ready(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.generic):
        return _json_ready(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN / inf
    if isinstance(value, Path):
        return str(value)
    return value


def to_json(value) -> str:
    return json.dumps(_json_ready(value), allow_nan=False)


def none_if_nan(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def run_record(row: dict) -> dict:
    for column in ("config", "metrics"):
        row[column] = json.loads(row[column]) if isinstance(row[column], str) else None
    for column in ("error", "started_at", "finished_at"):
        row[column] = None if pd.isna(row[column]) else row[column]
    row["best_epoch"] = None if pd.isna(row["best_epoch"]) else int(row["best_epoch"])
    return row
