"""Reviews teach the model: a run's review decisions on its training split become training targets of a new run.

`eqn train --reviews RUN` (and the Train page's "Retrain with reviews") reads RUN's decisions on its **train** split
only (reviews on dev and test never reach training: they would leak into the figures measured there), combines
reviewers by the rule Export uses (review.agreement.combine_reviews: an adjudication wins, else the reviewers'
common value, else their mean) and turns the values reviewers touched into an (N, C) override and an (N, C) mask.
prepare_run() writes them into the new run's folder (review_targets.npz, review_provenance.json); the training
process hands them to method.regression.run_method, where labels.apply_review_targets puts them over the label
regression's targets (EQN) or the initial targets (CoEQN). Untouched values keep the paper's rule.

A reviewed value per touched (text, label): reject -> 0, set -> the reviewer's energy (an added emotion: a set on a
label below h), accept -> max(model energy, h), with RUN's stored training-split energies and its recorded global
threshold h (the Review page's default). A reviewed value may replace a human label (10.0): the run records how
many did (human_labels_changed), in its config, metrics and every export's provenance.

Hook, not built yet: reviewed texts from sets without human labels joining the training data. They would arrive as
extra training rows (appended to the train split that prepare_run copies, with an all-False human-label row) and
extra override/mask rows here (mask True wherever a reviewer gave a value); run_method needs nothing more.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eqn_core.io.datasets import LabeledDataset
from eqn_core.method.labels import human_labels_changed
from eqn_core.method.thresholds import DEFAULT_THRESHOLD
from eqn_core.review.agreement import combine_reviews, review_log
from eqn_core.store.run_folders import RunFolder, save_review_targets, write_json_atomic

TRAIN_SPLIT = "train"  # the only split whose reviews train a model
REVIEW_TARGET_RULE = ("reviewed values of the train split replace the training targets (reject -> 0, set -> the "
                      "reviewer's energy, accept -> max(model energy, h); several reviewers: an adjudication, else "
                      "their common value, else their mean); unreviewed values keep the paper's rule")


@dataclass
class ReviewTargets:
    override: np.ndarray  # (N, C) float32: the reviewed value where mask
    mask: np.ndarray  # (N, C) bool: the (text, label) pairs a reviewer or an adjudication touched
    summary: dict  # what the run's config and metrics say about the reviews used
    decision_ids: list[int]  # the review-log rows used (decisions, then adjudications as "adjudication:<id>")


def review_target_matrix(energies, thresholds, decisions: pd.DataFrame, submissions: pd.DataFrame,
                         adjudications: pd.DataFrame, *, label_names) -> tuple[np.ndarray, np.ndarray]:
    """(override (N, C) float32, mask (N, C) bool) from the decisions on one split, by combine_reviews' rule.

    energies: (N, C) the reviewed run's energies of that split; thresholds: scalar h or (C,); decisions,
    submissions, adjudications: workspace.reviews / submissions / adjudications of the run and split.
    """
    names = list(label_names)
    reviewed, sources, _, _ = combine_reviews(energies, thresholds, decisions, submissions, adjudications,
                                              label_names=names)  # (N, C)
    index = {name: j for j, name in enumerate(names)}
    mask = np.zeros(reviewed.shape, dtype=bool)
    for row, touched in enumerate(sources):
        for label in touched:
            mask[row, index[label]] = True
    return np.where(mask, reviewed, 0.0).astype(np.float32), mask


def review_rows_digest(log: pd.DataFrame, submissions: pd.DataFrame) -> str:
    """sha256 of the review-log rows used (agreement.LOG_COLUMNS) and the submissions, in a canonical JSON form."""
    def records(frame: pd.DataFrame) -> list:
        return [[None if pd.isna(value) else value for value in row] for row in frame.astype(object).to_numpy()]

    payload = {"log": records(log), "submissions": records(submissions[["id", "row_idx", "reviewer",
                                                                        "submitted_at"]])}
    return hashlib.sha256(json.dumps(payload, default=str, sort_keys=True).encode()).hexdigest()


def reviewed_run_threshold(run: dict) -> float:
    """The reviewed run's recorded global threshold h (the Review page's default), else the default h."""
    value = (run.get("metrics") or {}).get("global_threshold")
    return float(value) if value is not None else DEFAULT_THRESHOLD


def collect_review_targets(workspace, run_id: str, dataset: LabeledDataset) -> ReviewTargets:
    """The review targets of `run_id`'s train split for a new run on `dataset`. ValueError when the run is on
    another data set, has no training-split energies, or no decision on its train split."""
    run = workspace.get_run(run_id)
    if run["dataset"] != dataset.name:
        raise ValueError(f"Run {run_id!r} was reviewed on data set {run['dataset']!r}; the new run trains on "
                         f"{dataset.name!r}. Reviews train only runs on the same data set.")
    decisions = workspace.reviews(run_id=run_id, split=TRAIN_SPLIT)  # each reviewer's latest word
    adjudications = workspace.adjudications(run_id=run_id, split=TRAIN_SPLIT)
    if not len(decisions) and not len(adjudications):
        elsewhere = len(workspace.reviews(run_id=run_id))
        raise ValueError(f"Run {run_id!r} has no review decisions on its train split"
                         + (f" ({elsewhere} on other splits)" if elsewhere else "")
                         + ". Only reviews of the train split train a model: reviews of dev and test would leak "
                           "into the figures measured there.")
    try:
        energies = workspace.load_energies(run_id, TRAIN_SPLIT)  # (N, C)
    except KeyError:
        raise ValueError(f"Run {run_id!r} has no energies for its train split, which its reviews were made on "
                         "(a quick-look run with a row limit does not annotate it).") from None
    human = dataset.splits[TRAIN_SPLIT].human_labels  # (N, C)
    if energies.shape != human.shape:
        raise ValueError(f"Run {run_id!r} scored {energies.shape[0]} training texts; data set {dataset.name!r} now "
                         f"has {human.shape[0]}. Its reviews no longer line up with the texts.")
    submissions = workspace.submissions(run_id=run_id, split=TRAIN_SPLIT)
    h = reviewed_run_threshold(run)
    override, mask = review_target_matrix(energies, h, decisions, submissions, adjudications,
                                          label_names=dataset.label_names)
    log = review_log(decisions, energies, label_names=dataset.label_names, adjudications=adjudications)
    times = pd.to_datetime(pd.concat([decisions.get("decided_at", pd.Series(dtype=object)),
                                      adjudications.get("decided_at", pd.Series(dtype=object))]), utc=True)
    summary = {
        "run_id": run_id, "split": TRAIN_SPLIT, "texts": int(mask.any(axis=1).sum()), "values": int(mask.sum()),
        "decisions": len(decisions), "adjudications": len(adjudications),
        "reviewers": sorted(set(decisions.get("reviewer", [])) | set(submissions.get("reviewer", []))),
        "adjudicators": sorted(set(adjudications.get("adjudicator", []))),
        "first_decided_at": times.min().isoformat() if len(times) else None,
        "last_decided_at": times.max().isoformat() if len(times) else None,
        "sha256": review_rows_digest(log, submissions), "threshold": h,
        "human_labels_changed": human_labels_changed(override, mask, human), "rule": REVIEW_TARGET_RULE,
    }
    ids = [int(i) for i in decisions.get("id", [])] + [f"adjudication:{int(i)}" for i in adjudications.get("id", [])]
    return ReviewTargets(override=override, mask=mask, summary=summary, decision_ids=ids)


def write_review_targets(folder: RunFolder, targets: ReviewTargets) -> None:
    """review_targets.npz (override, mask) and review_provenance.json (the summary and the rows used)."""
    save_review_targets(folder.review_targets_file, targets.override, targets.mask)
    write_json_atomic(folder.review_provenance_file, {**targets.summary, "decision_ids": targets.decision_ids})


def used_review_summary(summary: dict, mask: np.ndarray, override: np.ndarray, human_labels: np.ndarray) -> dict:
    """The summary for a run's metrics, counted over the training rows it used (all unless a row limit)."""
    return {**summary, "texts_used": int(mask.any(axis=1).sum()), "values_used": int(mask.sum()),
            "human_labels_changed": human_labels_changed(override, mask, human_labels)}
