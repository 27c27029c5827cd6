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

Own texts (`--reviewed-texts NAME`, the Train page's choice of text sets): RUN's reviews of its annotation of a text
set (store.text_set_reviews) bring their texts into the training data. Every text with a reviewed value becomes an
extra training row, appended to the train split that prepare_run copies, with no human label (an all-False row) and
its reviewed values as override/mask rows (the same rule; accept uses the annotation's energy); its untouched
values keep the paper's rule, as benchmarks/review_payoff.py measured. The run's train energies stay those of the
data set's own training texts; training_targets.parquet holds the appended rows too (text ids "<set>:<id>", rows
from the summary's train_rows on).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eqn_core.io.datasets import LabeledDataset, LabeledSplit
from eqn_core.method.labels import human_labels_changed
from eqn_core.method.thresholds import DEFAULT_THRESHOLD
from eqn_core.review.agreement import combine_reviews, review_log
from eqn_core.store.run_folders import RunFolder, save_review_targets, write_json_atomic
from eqn_core.store.text_set_reviews import review_shape, text_set_energies, text_set_ids, text_set_texts
from eqn_core.store.text_sets import review_split, text_set_of_review_split

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


def review_summary(decisions: pd.DataFrame, submissions: pd.DataFrame, adjudications: pd.DataFrame, mask, log,
                   **fields) -> dict:
    """What a run's record says about one set of reviews it trained on: counts, people, time range, digest."""
    times = pd.to_datetime(pd.concat([decisions.get("decided_at", pd.Series(dtype=object)),
                                      adjudications.get("decided_at", pd.Series(dtype=object))]), utc=True)
    return {
        **fields, "texts": int(mask.any(axis=1).sum()), "values": int(mask.sum()),
        "decisions": len(decisions), "adjudications": len(adjudications),
        "reviewers": sorted(set(decisions.get("reviewer", [])) | set(submissions.get("reviewer", []))),
        "adjudicators": sorted(set(adjudications.get("adjudicator", []))),
        "first_decided_at": times.min().isoformat() if len(times) else None,
        "last_decided_at": times.max().isoformat() if len(times) else None,
        "sha256": review_rows_digest(log, submissions) if len(log) else None,
    }


def collect_review_targets(workspace, run_id: str, dataset: LabeledDataset, *,
                           allow_none: bool = False) -> ReviewTargets:
    """The review targets of `run_id`'s train split for a new run on `dataset`. ValueError when the run is on
    another data set, has no training-split energies, or no decision on its train split (allow_none: then an
    empty mask, for a run that trains only on reviewed own texts)."""
    run = workspace.get_run(run_id)
    decisions = workspace.reviews(run_id=run_id, split=TRAIN_SPLIT)  # each reviewer's latest word
    adjudications = workspace.adjudications(run_id=run_id, split=TRAIN_SPLIT)
    if not len(decisions) and not len(adjudications):
        if allow_none:
            shape = dataset.splits[TRAIN_SPLIT].human_labels.shape
            empty, mask = pd.DataFrame(), np.zeros(shape, bool)
            summary = review_summary(empty, empty, empty, mask, empty, run_id=run_id, split=TRAIN_SPLIT,
                                     threshold=reviewed_run_threshold(run), human_labels_changed=0,
                                     rule=REVIEW_TARGET_RULE)
            return ReviewTargets(override=np.zeros(shape, np.float32), mask=mask, summary=summary, decision_ids=[])
        elsewhere = len(workspace.reviews(run_id=run_id))
        raise ValueError(f"Run {run_id!r} has no review decisions on its train split"
                         + (f" ({elsewhere} on other splits)" if elsewhere else "")
                         + ". Only reviews of the train split train a model: reviews of dev and test would leak "
                           "into the figures measured there.")
    if run["dataset"] != dataset.name:
        raise ValueError(f"Run {run_id!r} was reviewed on data set {run['dataset']!r}; the new run trains on "
                         f"{dataset.name!r}. Reviews train only runs on the same data set.")
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
    summary = review_summary(decisions, submissions, adjudications, mask, log, run_id=run_id, split=TRAIN_SPLIT,
                             threshold=h, human_labels_changed=human_labels_changed(override, mask, human),
                             rule=REVIEW_TARGET_RULE)
    return ReviewTargets(override=override, mask=mask, summary=summary, decision_ids=decision_ids(decisions,
                                                                                                 adjudications))


def decision_ids(decisions: pd.DataFrame, adjudications: pd.DataFrame) -> list:
    """The review-log rows used: decision ids, then adjudications as "adjudication:<id>"."""
    return [int(i) for i in decisions.get("id", [])] + [f"adjudication:{int(i)}" for i in adjudications.get("id", [])]


def reviewed_text_sets(workspace, run_id: str) -> dict[str, int]:
    """{text set: texts with a review decision} of the text sets `run_id` annotated and people reviewed."""
    found: dict[str, set] = {}
    frame = workspace.reviews(run_id=run_id)
    for split, row in zip(frame.get("split", []), frame.get("row_idx", [])):
        name = text_set_of_review_split(split)
        if name is not None:
            found.setdefault(name, set()).add(int(row))
    return {name: len(rows) for name, rows in sorted(found.items())}


@dataclass
class ReviewedTexts:
    """Reviewed own texts that join a run's training data: one row per text with a reviewed value."""

    texts: list[str]
    text_ids: list[str]  # "<text set>:<text id>"
    override: np.ndarray  # (K, C) float32
    mask: np.ndarray  # (K, C) bool
    summary: dict
    decision_ids: list


def collect_text_set_reviews(workspace, run_id: str, text_set: str, label_names) -> ReviewedTexts:
    """RUN's reviews of its annotation of text set `text_set`, as extra training rows for a new run whose labels
    are `label_names`. ValueError when the annotation's labels differ or nobody reviewed a text of the set."""
    key = review_split(text_set)
    _, annotated_labels, _ = review_shape(workspace, text_set, run_id)  # KeyError / ValueError: no finished one
    names = list(label_names)
    if list(annotated_labels) != names:
        raise ValueError(f"Run {run_id!r} annotated text set {text_set!r} with labels {list(annotated_labels)}; the "
                         f"new run trains on {names}. Reviewed texts join only a run with the same labels.")
    decisions = workspace.reviews(run_id=run_id, split=key)
    adjudications = workspace.adjudications(run_id=run_id, split=key)
    rows = sorted({int(r) for r in decisions.get("row_idx", [])} | {int(r) for r in adjudications.get("row_idx", [])})
    if not rows:
        raise ValueError(f"Nobody has reviewed a text of text set {text_set!r} annotated by run {run_id!r} yet; "
                         "review some on the Review page first (Texts from: your texts).")
    position = {row: i for i, row in enumerate(rows)}  # the set's rows -> the appended rows, in row order

    def local(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[frame["row_idx"].isin(position)] if len(frame) else frame
        return frame.assign(row_idx=frame["row_idx"].map(position)) if len(frame) else frame

    submissions = workspace.submissions(run_id=run_id, split=key)
    energies = text_set_energies(workspace, text_set, run_id, rows)  # (K, C), in `rows` order
    h = reviewed_run_threshold(workspace.get_run(run_id))
    override, mask = review_target_matrix(energies, h, local(decisions), local(submissions), local(adjudications),
                                          label_names=names)
    texts, ids = text_set_texts(workspace, text_set, rows), text_set_ids(workspace, text_set, rows)
    log = review_log(local(decisions), energies, label_names=names, adjudications=local(adjudications))
    summary = review_summary(decisions, submissions, adjudications, mask, log, run_id=run_id, text_set=text_set,
                             threshold=h, rule=REVIEW_TARGET_RULE)
    return ReviewedTexts(texts=[texts[row] for row in rows], text_ids=[f"{text_set}:{ids[row]}" for row in rows],
                         override=override, mask=mask, summary=summary,
                         decision_ids=decision_ids(decisions, adjudications))


def with_reviewed_texts(dataset: LabeledDataset, targets: ReviewTargets,
                        reviewed: list[ReviewedTexts]) -> tuple[LabeledDataset, ReviewTargets]:
    """The data set with the reviewed own texts appended to its train split (no human labels) and the review
    targets with their rows appended; the summary gains "text_sets", "train_rows" (the data set's own training
    texts, whose energies the run stores) and "appended_texts"."""
    if not reviewed:
        return dataset, targets
    train = dataset.splits[TRAIN_SPLIT]
    extra = sum(len(item.texts) for item in reviewed)
    splits = {**dataset.splits, TRAIN_SPLIT: LabeledSplit(
        texts=train.texts + [text for item in reviewed for text in item.texts],
        human_labels=np.vstack([train.human_labels, np.zeros((extra, train.human_labels.shape[1]), bool)]),
        text_ids=train.text_ids + [text_id for item in reviewed for text_id in item.text_ids])}
    summary = {**targets.summary, "text_sets": [item.summary for item in reviewed], "train_rows": len(train.texts),
               "appended_texts": extra}
    return (dataclasses.replace(dataset, splits=splits),
            ReviewTargets(override=np.vstack([targets.override, *[item.override for item in reviewed]]),
                          mask=np.vstack([targets.mask, *[item.mask for item in reviewed]]), summary=summary,
                          decision_ids=targets.decision_ids + [i for item in reviewed for i in item.decision_ids]))


def write_review_targets(folder: RunFolder, targets: ReviewTargets) -> None:
    """review_targets.npz (override, mask) and review_provenance.json (the summary and the rows used)."""
    save_review_targets(folder.review_targets_file, targets.override, targets.mask)
    write_json_atomic(folder.review_provenance_file, {**targets.summary, "decision_ids": targets.decision_ids})


def used_review_summary(summary: dict, mask: np.ndarray, override: np.ndarray, human_labels: np.ndarray) -> dict:
    """The summary for a run's metrics, counted over the training rows it used (all unless a row limit)."""
    return {**summary, "texts_used": int(mask.any(axis=1).sum()), "values_used": int(mask.sum()),
            "human_labels_changed": human_labels_changed(override, mask, human_labels)}
