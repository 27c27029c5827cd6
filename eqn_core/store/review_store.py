"""Review records in the workspace database: decisions, submissions, assignments, adjudications, non-emotion labels."""
from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from eqn_core.store.database import Database
from eqn_core.store.schema import REVIEW_BATCH_SCHEMA, review_values, utc_now
from eqn_core.store.text_sets import text_set_of_review_split

DEFAULT_NON_EMOTION_NAMES = ("neutral", "no emotion", "none")
"""Label names (compared ignoring case) left out of suggestions and agreement unless a data set says otherwise."""


class ReviewStore(Database, ABC):
    """The review tables of a workspace: every decision is appended, never overwritten, and attributed.

    A reviewer's later decision on the same (text, label) supersedes theirs (`reviews()` keeps the latest); a
    later adjudication supersedes an earlier one. Every write runs in one transaction: all or nothing. The
    runs and data sets the records point at are the Workspace's: it provides run_shape and label_names.
    """

    @abstractmethod
    def run_shape(self, run_id: str, split: str) -> tuple[str, list[str], int]:
        """(data set, label names, number of rows) of a run's split; KeyError for an unknown run or split."""

    @abstractmethod
    def label_names(self, name: str) -> list[str]:
        """The label names of a data set, in label-id order; KeyError for an unknown data set."""

    @abstractmethod
    def energy_splits(self, run_id: str) -> list[str]:
        """The splits a run has stored energies of."""

    @abstractmethod
    def text_ids(self, dataset: str, split: str, rows) -> dict[int, str]:
        """{row_idx: text_id} of the given rows of a data set's split (or a text set's review key)."""

    def _text_id(self, dataset: str, split: str, row_idx: int) -> str:
        found = self.text_ids(dataset, split, [row_idx])
        if int(row_idx) not in found:
            raise RuntimeError(f"Row {row_idx} of {dataset!r} / {split!r} has no text id; the texts are inconsistent.")
        return found[int(row_idx)]

    # ---------------------------------------------------------------- decisions
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
        with self.transaction() as con:
            return self._insert_reviews(con, rows, utc_now())

    def _checked_reviews(self, decisions: list[dict]) -> list[dict]:
        shapes: dict[tuple[str, str], tuple[str, list[str], int]] = {}
        rows = []
        for decision in decisions:
            key = (decision.get("run_id"), decision.get("split"))
            if key not in shapes:
                shapes[key] = self.run_shape(*key)
            rows.append(review_values(*shapes[key], **decision))
        ids: dict[tuple[str, str], dict[int, str]] = {}
        for dataset, split in {(row["dataset"], row["split"]) for row in rows}:
            ids[dataset, split] = self.text_ids(dataset, split, [row["row_idx"] for row in rows
                                                                 if (row["dataset"], row["split"]) == (dataset, split)])
        for row in rows:
            row["text_id"] = ids[row["dataset"], row["split"]].get(row["row_idx"])
            if row["text_id"] is None:
                raise RuntimeError(f"Row {row['row_idx']} of {row['dataset']!r} / {row['split']!r} has no text id; "
                                   "the texts are inconsistent.")
        return rows

    @staticmethod
    def _insert_reviews(con: duckdb.DuckDBPyConnection, rows: list[dict], decided_at) -> list[int]:
        """Insert checked decisions inside the caller's transaction; returns their ids in list order. decided_at:
        the time of every row that does not carry its own."""
        batch = pa.Table.from_pylist([{"decided_at": decided_at, **row, "position": position}
                                      for position, row in enumerate(rows)], schema=REVIEW_BATCH_SCHEMA)
        view = "eqn_review_batch"
        con.register(view, batch)
        try:  # ids follow the list order, so a later decision in the batch supersedes an earlier one
            ids = con.execute(
                "INSERT INTO reviews (run_id, dataset, split, row_idx, text_id, label, decision, energy, note, "
                "reviewer, decided_at) SELECT b.run_id, b.dataset, b.split, b.row_idx, b.text_id, b.label, "
                f"b.decision, b.energy, b.note, b.reviewer, b.decided_at FROM {view} b ORDER BY b.position "
                "RETURNING id").fetchall()
        finally:
            con.unregister(view)
        if len(ids) != len(rows):
            raise RuntimeError(f"Stored {len(ids)} of {len(rows)} review decisions.")
        return sorted(int(row[0]) for row in ids)

    def submit_text_review(self, *, run_id: str, split: str, row_idx: int, reviewer: str,
                           decisions: list[dict] = (), note: str = "") -> int:
        """Store one reviewed text at once: its label decisions (dicts with label, decision, energy) and a
        submission row, in one transaction, all with the same time. Returns the submission's id."""
        reviewer = reviewer.strip() if isinstance(reviewer, str) else reviewer
        dataset, label_names, num_rows = self.run_shape(run_id, split)
        rows = [review_values(dataset, label_names, num_rows, run_id=run_id, split=split, row_idx=row_idx,
                              reviewer=reviewer, note=note, **decision) for decision in decisions]
        if not rows:  # the submission row needs the same checks
            review_values(dataset, label_names, num_rows, run_id=run_id, split=split, row_idx=row_idx,
                          reviewer=reviewer, label=label_names[0], decision="accept")
        text_id = self._text_id(dataset, split, row_idx)
        for row in rows:
            row["text_id"] = text_id
        now = utc_now()
        with self.transaction() as con:
            if rows:
                self._insert_reviews(con, rows, now)
            return int(con.execute(
                "INSERT INTO review_submissions (run_id, dataset, split, row_idx, text_id, reviewer, note, submitted_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [run_id, dataset, split, int(row_idx), text_id, reviewer, note or "", now]).fetchall()[0][0])

    def store_review_batch(self, *, run_id: str, split: str, items: list[dict]) -> dict:
        """Store many texts' reviews at once (an import), all checked first and written in ONE transaction: all or
        nothing, whatever fails. items, in order: {"row_idx", "reviewer", "decisions": [{label, decision,
        energy}], "note"} (one reviewer's submitted text, as submit_text_review) or {"row_idx", "adjudicator",
        "label", "energy", "note"} (an adjudication, as record_adjudication). Returns the counts stored."""
        dataset, label_names, num_rows = self.run_shape(run_id, split)
        text_ids = self.text_ids(dataset, split, [item["row_idx"] for item in items])
        reviews, submissions, adjudications = [], [], []
        start = utc_now()
        for position, item in enumerate(items):
            row = int(item["row_idx"])
            if row not in text_ids:
                review_values(dataset, label_names, num_rows, run_id=run_id, split=split, row_idx=row,
                              label=label_names[0], decision="accept", reviewer="check")  # says it is outside
                raise RuntimeError(f"Row {row} of {dataset!r} / {split!r} has no text id.")
            note = item.get("note") or ""
            when = start + dt.timedelta(microseconds=position)  # the batch's order survives in the times
            if "adjudicator" in item:
                checked = review_values(dataset, label_names, num_rows, run_id=run_id, split=split, row_idx=row,
                                        label=item["label"], decision="set", energy=item["energy"],
                                        reviewer=item["adjudicator"])
                adjudications.append([run_id, dataset, split, row, text_ids[row], checked["label"],
                                      checked["energy"], note, checked["reviewer"], when])
                continue
            reviewer = item["reviewer"].strip() if isinstance(item.get("reviewer"), str) else item.get("reviewer")
            for decision in item.get("decisions") or [{"label": label_names[0], "decision": "accept"}]:
                checked = review_values(dataset, label_names, num_rows, run_id=run_id, split=split, row_idx=row,
                                        reviewer=reviewer, note=note, **decision)
                if item.get("decisions"):
                    reviews.append({**checked, "text_id": text_ids[row], "decided_at": when})
            submissions.append([run_id, dataset, split, row, text_ids[row], reviewer, note, when])
        with self.transaction() as con:
            if reviews:
                self._insert_reviews(con, reviews, start)
            if submissions:
                con.executemany("INSERT INTO review_submissions (run_id, dataset, split, row_idx, text_id, reviewer, "
                                "note, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", submissions)
            if adjudications:
                con.executemany("INSERT INTO adjudications (run_id, dataset, split, row_idx, text_id, label, energy, "
                                "note, adjudicator, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", adjudications)
        return {"decisions": len(reviews), "submissions": len(submissions), "adjudications": len(adjudications)}

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
        return self.fetch_df(sql + " ORDER BY id", params)

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
        return self.fetch_df(sql + " ORDER BY id", params)

    def reviewers(self, *, run_id: str | None = None) -> list[str]:
        sql, params = "SELECT DISTINCT reviewer FROM reviews", []
        if run_id is not None:
            sql, params = sql + " WHERE run_id = ?", [run_id]
        return sorted(row[0] for row in self.fetch_all(sql, params))

    # ---------------------------------------------------------------- assignments and adjudications
    def assign_texts(self, *, run_id: str, split: str, rows: list[int], reviewers: list[str],
                     assigned_by: str) -> int:
        """Give each of `rows` to each of `reviewers` (skipping pairs already assigned); returns how many were new."""
        dataset, _, num_rows = self.run_shape(run_id, split)
        rows = sorted({int(row) for row in rows})
        outside = [row for row in rows if not 0 <= row < num_rows]
        if outside:
            raise ValueError(f"Rows {outside[:10]} are outside split {split!r} (rows 0..{num_rows - 1}).")
        names = sorted({name.strip() for name in reviewers if isinstance(name, str) and name.strip()})
        if not names:
            raise ValueError("Name at least one reviewer to assign texts to.")
        pairs = pa.table({"row_idx": pa.array([row for row in rows for _ in names], pa.int32()),
                          "reviewer": pa.array([name for _ in rows for name in names], pa.string())})
        with self.transaction() as con:
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
        return self.fetch_df(sql + " ORDER BY row_idx, reviewer", params)

    def record_adjudication(self, *, run_id: str, split: str, row_idx: int, label: str, energy: float,
                            adjudicator: str, note: str = "") -> int:
        """The final value of one (text, label) where reviewers disagree; a later one supersedes it."""
        dataset, label_names, num_rows = self.run_shape(run_id, split)
        review_values(dataset, label_names, num_rows, run_id=run_id, split=split, row_idx=row_idx, label=label,
                      decision="set", energy=energy, reviewer=adjudicator)
        text_id = self._text_id(dataset, split, row_idx)
        with self.transaction() as con:
            return int(con.execute(
                "INSERT INTO adjudications (run_id, dataset, split, row_idx, text_id, label, energy, note, adjudicator, "
                "decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [run_id, dataset, split, int(row_idx), text_id, label, float(energy), note or "", adjudicator.strip(),
                 utc_now()]).fetchall()[0][0])

    def adjudications(self, *, run_id: str, split: str, latest_only: bool = True) -> pd.DataFrame:
        """id, row_idx, text_id, label, energy, note, adjudicator, decided_at (latest per text and label)."""
        sql = ("SELECT id, row_idx, text_id, label, energy, note, adjudicator, decided_at FROM adjudications "
               "WHERE run_id = ? AND split = ?")
        if latest_only:
            sql += " QUALIFY row_number() OVER (PARTITION BY row_idx, label ORDER BY id DESC) = 1"
        return self.fetch_df(sql + " ORDER BY id", [run_id, split])

    # ---------------------------------------------------------------- per-data-set settings
    def non_emotion_labels(self, dataset: str) -> list[str]:
        """Labels left out of suggestions and agreement: the stored setting, else those named like "neutral"."""
        label_names = self.label_names(dataset)
        rows = self.fetch_all("SELECT non_emotion_labels FROM dataset_settings WHERE dataset = ?", [dataset])
        if rows:
            return [label for label in rows[0][0] if label in label_names]
        return [label for label in label_names if label.strip().lower() in DEFAULT_NON_EMOTION_NAMES]

    def set_non_emotion_labels(self, dataset: str, labels: list[str]) -> None:
        label_names = self.label_names(dataset)
        unknown = [label for label in labels if label not in label_names]
        if unknown:
            raise ValueError(f"Labels {unknown} are not in data set {dataset!r}; labels: {label_names}")
        with self.transaction() as con:
            con.execute("DELETE FROM dataset_settings WHERE dataset = ?", [dataset])
            con.execute("INSERT INTO dataset_settings VALUES (?, ?, ?)", [dataset, list(labels), utc_now()])

    # ---------------------------------------------------------------- review mode per run and split
    def blind_review(self, *, run_id: str, split: str) -> bool:
        """Whether a run and split is reviewed blind: the latest setting an admin stored, else True (the default)."""
        rows = self.fetch_all("SELECT blind FROM review_settings WHERE run_id = ? AND split = ? ORDER BY id DESC LIMIT 1",
                              [run_id, split])
        return True if not rows else bool(rows[0][0])

    def set_blind_review(self, *, run_id: str, split: str, blind: bool, changed_by: str) -> None:
        """Store the review mode of a run and split (appended, attributed; the latest counts)."""
        if not isinstance(changed_by, str) or not changed_by.strip():
            raise ValueError("Changing the review mode needs the admin's name.")
        if text_set_of_review_split(split) is not None:
            self.run_shape(run_id, split)  # KeyError / ValueError unless the run finished annotating the set
        elif split not in (splits := self.energy_splits(run_id)):
            raise ValueError(f"Run {run_id!r} has no energies of split {split!r} to review; its splits: {splits}.")
        with self.transaction() as con:
            con.execute("INSERT INTO review_settings (run_id, split, blind, changed_by, changed_at) VALUES (?, ?, ?, ?, ?)",
                        [run_id, split, bool(blind), changed_by.strip(), utc_now()])
