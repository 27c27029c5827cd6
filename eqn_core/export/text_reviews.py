"""What reviewers decided on own texts, for the exports of a text set (export.text_exports): the reviewed values of
the reviewed texts only (agreement.combine_reviews on those rows, joined in DuckDB to the rest, which keep their
thresholded energies) and the review log. A million texts with a few hundred reviewed ones never load whole.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from eqn_core.review.agreement import combine_reviews, review_log
from eqn_core.store.text_set_reviews import text_set_energies
from eqn_core.store.text_sets import review_split


def reviewed_rows_frame(workspace, name: str, run_id: str, thresholds: np.ndarray, label_names: list[str],
                        reviewer: str | None = None) -> pd.DataFrame:
    """One row per reviewed text of `run_id`'s annotation of text set `name`: row_idx, reviewed_<i> per label (the
    rule of the data set export: adjudicated value, else the reviewers' common value or mean; untouched labels
    thresholded), review_count, reviewers, review_sources ({label: rule} as JSON). reviewer: only theirs."""
    key = review_split(name)
    decisions = workspace.reviews(run_id=run_id, split=key, reviewer=reviewer)  # each reviewer's latest word
    submissions = workspace.submissions(run_id=run_id, split=key, reviewer=reviewer)
    adjudications = workspace.adjudications(run_id=run_id, split=key)
    if reviewer is not None:
        adjudications = adjudications.iloc[0:0]
    rows = sorted({int(row) for frame in (decisions, submissions, adjudications) for row in frame["row_idx"]})
    columns = [f"reviewed_{i}" for i in range(len(label_names))]
    if not rows:
        return pd.DataFrame({"row_idx": pd.Series(dtype="int64"), **{c: pd.Series(dtype="float64") for c in columns},
                             "review_count": pd.Series(dtype="int64"), "reviewers": pd.Series(dtype=object),
                             "review_sources": pd.Series(dtype=object)})
    position = {row: k for k, row in enumerate(rows)}  # combine_reviews works on (K, C): the reviewed rows only

    def compact(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(row_idx=frame["row_idx"].map(position).astype("int64")) if len(frame) else frame

    reviewed, sources, counts, who = combine_reviews(
        text_set_energies(workspace, name, run_id, rows), thresholds, compact(decisions), compact(submissions),
        compact(adjudications), label_names=label_names, reviewer=reviewer)  # (K, C)
    frame = pd.DataFrame(reviewed, columns=columns)
    frame.insert(0, "row_idx", np.asarray(rows, dtype=np.int64))
    frame["review_count"] = counts
    frame["reviewers"] = who
    frame["review_sources"] = [json.dumps(source, sort_keys=True) if source else "" for source in sources]
    return frame


def text_set_review_log(workspace, name: str, run_id: str, label_names: list[str],
                        reviewer: str | None = None) -> pd.DataFrame:
    """Every decision (and, without reviewer, adjudication) ever made on `run_id`'s annotation of `name`, oldest
    first: text_set, run_id, then agreement.LOG_COLUMNS."""
    key = review_split(name)
    decisions = workspace.reviews(run_id=run_id, split=key, reviewer=reviewer, latest_only=False)
    adjudications = None if reviewer else workspace.adjudications(run_id=run_id, split=key, latest_only=False)
    rows = sorted({int(row) for frame in (decisions, adjudications) if frame is not None for row in frame["row_idx"]})
    position = {row: k for k, row in enumerate(rows)}

    def compact(frame):
        return frame.assign(row_idx=frame["row_idx"].map(position).astype("int64")) if len(frame) else frame

    log = review_log(compact(decisions), text_set_energies(workspace, name, run_id, rows), label_names=label_names,
                     adjudications=None if adjudications is None else compact(adjudications))
    log["row_idx"] = np.asarray(rows, dtype=np.int64)[log["row_idx"].to_numpy(dtype=np.int64)] if len(log) else \
        log["row_idx"]
    log.insert(0, "run_id", run_id)
    log.insert(0, "text_set", name)
    return log
