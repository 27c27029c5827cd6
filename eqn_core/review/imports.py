"""Review decisions made elsewhere, stored as if made on the Review page: a table of decisions (one row per text,
label and reviewer; the review log export reads back as one) checked whole, then stored through the workspace's
review API, one submission per text and reviewer so each imported text counts as reviewed.

Columns: text_id, label, decision (accept | reject | set; the review log's "adjudicate" too), energy (set and
adjudicate: the new value in [0, 10]; accept and reject: the energy shown, optional), reviewer, note (optional),
decided_at (optional: decisions are stored in its order, the file's order within a tie). The review log's
reviewer_energy stands in for energy. A file's dataset and split columns, where present, must match the run's;
its run_id and row_idx columns are not read (text_id is the key, so decisions may move to another run of the data).

All or nothing: every row is checked (with the store's own rules) before the first is stored, so a bad row stores
nothing. Storing then goes through the workspace's review API one text at a time, one transaction each (about 30 ms
a text on 2 CPU cores), so only a failure of the machine or the disk midway could leave part of a file stored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from eqn_core.io.errors import DataError
from eqn_core.io.review_files import read_review_file
from eqn_core.method.thresholds import ENERGY_MAX, ENERGY_MIN
from eqn_core.store.text_set_reviews import text_set_id_frame
from eqn_core.store.text_sets import text_set_of_review_split
from eqn_core.store.workspace import Workspace

IMPORT_DECISIONS = ("accept", "reject", "set", "adjudicate")
REQUIRED_COLUMNS = ("text_id", "label", "decision", "energy", "reviewer")
ENERGY_ALIASES = ("energy", "reviewer_energy")  # the review log (agreement.LOG_COLUMNS) writes reviewer_energy

__all__ = ["IMPORT_DECISIONS", "REQUIRED_COLUMNS", "ReviewGroup", "import_review_file", "import_review_frame",
           "review_groups", "store_review_groups", "text_id_rows"]


@dataclass
class ReviewGroup:
    """One reviewer's decisions on one text, stored as one submission (adjudication: one adjudicated value)."""

    row_idx: int
    text_id: str
    reviewer: str
    note: str = ""
    decisions: list[dict] = field(default_factory=list)  # {"label", "decision", "energy"}
    adjudication: bool = False


def text_id_rows(workspace: Workspace, run_id: str, split: str) -> dict[str, int]:
    """text_id -> row_idx of the texts of a run's split: the one lookup every import goes through.

    KeyError for an unknown run or split (Workspace.run_shape); ValueError when two texts share an id."""
    dataset, _, _ = workspace.run_shape(run_id, split)
    text_set = text_set_of_review_split(split)
    frame = (workspace.fetch_df("SELECT text_id, row_idx FROM texts WHERE dataset = ? AND split = ? ORDER BY row_idx",
                                [dataset, split]) if text_set is None else text_set_id_frame(workspace, text_set))
    rows: dict[str, int] = {}
    for text_id, row_idx in zip(frame["text_id"], frame["row_idx"]):
        if text_id in rows:
            raise ValueError(f"Texts {rows[text_id]} and {int(row_idx)} of split {split!r} of data set {dataset!r} "
                             f"share the id {text_id!r}; an import needs one text per id.")
        rows[str(text_id)] = int(row_idx)
    return rows


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip()) or value is pd.NaT


def _text(value) -> str:
    return "" if _blank(value) else str(value)


def _energy(value, decision: str, error) -> float | None:
    if _blank(value):
        if decision in ("set", "adjudicate"):
            raise error(f'a "{decision}" decision needs the energy it sets (a number in [0, 10])')
        return None
    try:
        energy = float(value)
    except (TypeError, ValueError):
        raise error(f"the energy {value!r} is not a number") from None
    if not ENERGY_MIN <= energy <= ENERGY_MAX:  # NaN fails too
        raise error(f"the energy {energy:g} is outside [{ENERGY_MIN:g}, {ENERGY_MAX:g}]")
    return energy


def review_groups(frame: pd.DataFrame, *, label_names: list[str], rows_by_id: dict[str, int], dataset: str,
                  split: str, source: str | None = None) -> list[ReviewGroup]:
    """Check every row of a decisions table and cut it into submissions, in the order they are to be stored.

    DataError at the first bad cell, naming source (the file), row (1-based data row; the line too for CSV) and
    column. Rows follow decided_at where the table has it (rows without one last), the file's order otherwise;
    consecutive rows of one text, reviewer and note make one submission, each adjudication its own."""
    source = source or frame.attrs.get("source")
    lines = frame.attrs.get("lines")

    def error_at(position: int, column: str | None):
        line = lines[position] if lines is not None and position < len(lines) else None
        return lambda message: DataError(message, file=source, row=position + 1, column=column, line=line)

    energy_column = next((name for name in ENERGY_ALIASES if name in frame.columns), "energy")
    missing = [name for name in REQUIRED_COLUMNS if name != "energy" and name not in frame.columns]
    if energy_column not in frame.columns:
        missing.insert(3, "energy")
    if missing:
        raise DataError(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; a decisions file "
                        f"has the columns {', '.join(REQUIRED_COLUMNS)} (note and decided_at optional)",
                        file=source, column=missing[0])
    known_labels = set(label_names)
    checked = []
    for position, row in enumerate(frame.to_dict("records")):
        for column, wanted in (("dataset", dataset), ("split", split)):
            if column in row and not _blank(row[column]) and str(row[column]) != wanted:
                raise error_at(position, column)(f"this decision is on {column} {row[column]!r}, not {wanted!r}")
        text_id = _text(row["text_id"])
        if text_id not in rows_by_id:
            raise error_at(position, "text_id")(f"unknown text id {text_id!r} in split {split!r} of data set "
                                                 f"{dataset!r}")
        label = _text(row["label"])
        if label not in known_labels:
            raise error_at(position, "label")(f"unknown label {label!r}; the labels of {dataset!r}: "
                                              f"{', '.join(label_names)}")
        decision = _text(row["decision"]).strip().lower()
        if decision not in IMPORT_DECISIONS:
            raise error_at(position, "decision")(f"unknown decision {row['decision']!r}; use accept, reject or set "
                                                 "(adjudicate, as the review log writes an adjudication)")
        energy = _energy(row[energy_column], decision, error_at(position, energy_column))
        reviewer = _text(row["reviewer"]).strip()
        if not reviewer:
            raise error_at(position, "reviewer")("the reviewer is empty; every decision needs the name of who made it")
        when = None
        if not _blank(row.get("decided_at")):
            try:
                when = pd.Timestamp(row["decided_at"])
                when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
            except (TypeError, ValueError):
                raise error_at(position, "decided_at")(f"{row['decided_at']!r} is not a date and time") from None
        checked.append((when is None, when or pd.Timestamp(0, tz="UTC"), position, text_id, label, decision, energy,
                        reviewer, _text(row.get("note"))))
    checked.sort(key=lambda item: item[:3])
    groups: list[ReviewGroup] = []
    for *_, text_id, label, decision, energy, reviewer, note in checked:
        entry = {"label": label, "decision": "set" if decision == "adjudicate" else decision, "energy": energy}
        last = groups[-1] if groups else None
        if (decision != "adjudicate" and last is not None and not last.adjudication
                and (last.text_id, last.reviewer, last.note) == (text_id, reviewer, note)):
            last.decisions.append(entry)
        else:
            groups.append(ReviewGroup(rows_by_id[text_id], text_id, reviewer, note, [entry],
                                      adjudication=decision == "adjudicate"))
    return groups


def store_review_groups(workspace: Workspace, groups: list[ReviewGroup], *, run_id: str, split: str) -> dict:
    """Store checked groups in order, in one transaction (Workspace.store_review_batch: all or nothing): each one
    reviewer's decisions on a text with its submission row, each adjudication as an adjudicated value.

    Returns {"decisions", "adjudications", "submissions", "texts", "reviewers"}."""
    items = []
    for group in groups:
        if group.adjudication:
            decision = group.decisions[0]
            items.append({"row_idx": group.row_idx, "adjudicator": group.reviewer, "label": decision["label"],
                          "energy": decision["energy"], "note": group.note})
        else:
            items.append({"row_idx": group.row_idx, "reviewer": group.reviewer, "decisions": group.decisions,
                          "note": group.note})
    if items:
        workspace.store_review_batch(run_id=run_id, split=split, items=items)
    return summarize(groups)


def summarize(groups: list[ReviewGroup]) -> dict:
    submissions = [group for group in groups if not group.adjudication]
    return {"decisions": sum(len(group.decisions) for group in submissions),
            "adjudications": len(groups) - len(submissions), "submissions": len(submissions),
            "texts": len({group.row_idx for group in groups}),
            "reviewers": sorted({group.reviewer for group in groups})}


def import_review_frame(workspace: Workspace, frame: pd.DataFrame, *, run_id: str, split: str,
                        source: str | None = None, dry_run: bool = False) -> dict:
    """Check a whole decisions table against a run's split, then store it (nothing when any row is bad).

    Returns the summary of store_review_groups, with "stored" (False for dry_run: checked only)."""
    dataset, label_names, _ = workspace.run_shape(run_id, split)
    groups = review_groups(frame, label_names=label_names, rows_by_id=text_id_rows(workspace, run_id, split),
                           dataset=dataset, split=split, source=source)
    summary = summarize(groups) if dry_run else store_review_groups(workspace, groups, run_id=run_id, split=split)
    return {**summary, "stored": not dry_run}


def import_review_file(workspace: Workspace, path: str | Path, *, run_id: str, split: str,
                       dry_run: bool = False) -> dict:
    """import_review_frame on a CSV / TSV / Parquet / JSONL / JSON / Excel file (io.review_files)."""
    return import_review_frame(workspace, read_review_file(path), run_id=run_id, split=split, source=str(path),
                               dry_run=dry_run)
