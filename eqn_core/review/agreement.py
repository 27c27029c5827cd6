"""Several reviewers: assignments with overlap, agreement (Cohen's kappa, Krippendorff's alpha), disagreements,
the combined reviewed energies with the rule that gave each value, and the review log."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from eqn_core.method.thresholds import check_thresholds, reaches
from eqn_core.review.decisions import cohens_kappa, reviewed_rows, reviewer_values
from eqn_core.review.suggestions import label_mask, queue_order

OVERALL = "all emotions"
ADJUDICATED, ONE_REVIEWER, REVIEWERS_AGREE, REVIEWERS_MEAN = "adjudicated", "reviewer", "reviewers agree", \
    "mean of reviewers"
REVIEWED_RULES = {
    ADJUDICATED: "an admin's adjudicated value (the latest one)",
    ONE_REVIEWER: "the one reviewer's value (reject -> 0, set -> their energy, accept -> max(energy, h))",
    REVIEWERS_AGREE: "every reviewer of the text gave this same value",
    REVIEWERS_MEAN: "reviewers gave different values and no one adjudicated yet: their mean",
    "model": "no reviewer decided this label: the thresholded model energy (below h -> 0); not listed per row",
}
LOG_COLUMNS = ["decision_id", "text_id", "row_idx", "label", "model_energy", "reviewer_energy", "decision", "note",
               "reviewer", "decided_at"]

__all__ = ["OVERALL", "REVIEWED_RULES", "LOG_COLUMNS", "krippendorff_alpha_interval", "plan_assignments",
           "pair_agreement", "disagreements", "combine_reviews", "review_log", "reviewer_progress", "plan_from_queue",
           "disagreement_keys", "parse_disagreement_key"]


def krippendorff_alpha_interval(values) -> float:
    """Krippendorff's alpha with the interval metric (squared differences).

    values: (R, U) float, R raters x U units, NaN where a rater gave no value. Units with fewer than two values
    are left out. alpha = 1 - D_o / D_e, with D_o the mean squared difference within units and D_e over all
    pairable values. Returns NaN when undefined (no pairable unit, or every value the same).
    """
    data = np.asarray(values, dtype=np.float64)  # (R, U)
    if data.ndim != 2:
        raise ValueError(f"values must be (raters, units), got shape {data.shape}")
    present = ~np.isnan(data)
    counts = present.sum(axis=0)  # (U,)
    pairable = counts >= 2
    if not pairable.any():
        return float("nan")
    filled = np.where(present, data, 0.0)[:, pairable]  # (R, U')
    m = counts[pairable].astype(np.float64)  # (U',)
    sums, squares = filled.sum(axis=0), (filled ** 2).sum(axis=0)  # (U',)
    n = m.sum()
    within = 2.0 * (m * squares - sums ** 2) / (m - 1.0)  # sum over ordered pairs in a unit / (m_u - 1)
    total = 2.0 * (n * squares.sum() - sums.sum() ** 2)  # sum over all ordered pairs of pairable values
    observed, expected = within.sum() / n, total / (n * (n - 1.0))
    if expected <= 0:
        return float("nan")
    return float(1.0 - observed / expected)


def plan_assignments(rows: Sequence[int], reviewers: Sequence[str], *, per_text: int = 2) -> dict[str, list[int]]:
    """Spread texts over reviewers, each text to `per_text` of them (overlap for agreement), round robin.

    rows: the texts, in the order they should be reviewed. Returns {reviewer: rows}, balanced within one text.
    """
    names = list(dict.fromkeys(reviewers))
    if not names:
        raise ValueError("Choose at least one reviewer.")
    if not 1 <= per_text <= len(names):
        raise ValueError(f"Each text can go to 1..{len(names)} of the {len(names)} chosen reviewers, not {per_text}.")
    plan: dict[str, list[int]] = {name: [] for name in names}
    for position, row in enumerate(rows):
        for offset in range(per_text):
            plan[names[(position * per_text + offset) % len(names)]].append(int(row))
    return plan


def plan_from_queue(energies, human_labels, thresholds, reviewers: Sequence[str], *, count: int, per_text: int = 2,
                    order: str = "random", exclude_mask=None, seed: int = 0) -> dict[str, list[int]]:
    """The first `count` texts of a review queue (review.queue_order) spread over reviewers (plan_assignments).

    energies: (N, C); human_labels: (N, C) bool; thresholds: scalar or (C,). Returns {reviewer: rows}."""
    if int(count) < 1:
        raise ValueError(f"Assign at least one text, not {count}.")
    rows = queue_order(energies, human_labels, thresholds, order=order, exclude_mask=exclude_mask, seed=seed)
    return plan_assignments(rows[:int(count)].tolist(), reviewers, per_text=per_text)


def disagreement_keys(found: pd.DataFrame) -> list[str]:
    """One key per disagreements() row, "row|label" (a label may hold "|": split on the first one only)."""
    return [f"{int(row)}|{label}" for row, label in zip(found["row_idx"], found["label"])]


def parse_disagreement_key(key: str) -> tuple[int, str]:
    row, label = key.split("|", 1)
    return int(row), label


def _final_values(energies, thresholds, decisions, submissions, label_names, reviewers):
    """{reviewer: (rows they reviewed (K,), their final energies on those rows (K, C))}."""
    result = {}
    for name in reviewers:
        rows = reviewed_rows(decisions, submissions, reviewer=name)
        values = reviewer_values(energies, thresholds, decisions, label_names, reviewer=name)  # (N, C)
        result[name] = (rows, values[rows])
    return result


def pair_agreement(energies, thresholds, decisions: pd.DataFrame, submissions: pd.DataFrame, reviewer_a: str,
                   reviewer_b: str, *, label_names: Sequence[str], exclude: Sequence[str] = ()) -> pd.DataFrame:
    """Agreement of two reviewers on the texts both reviewed, per emotion and over all emotions.

    Each reviewer's final energy per (text, label) (their decisions on the model's thresholded energies) gives a
    label (energy >= h) and a 0-10 value. Columns: label, texts, both_yes, a_only, b_only, kappa (Cohen's, on the
    labels), alpha (Krippendorff's, interval, on the energies), mean_abs_diff. Non-emotion labels (exclude) are
    left out. energies: (N, C); decisions: each reviewer's latest decisions (workspace.reviews()).
    """
    names = list(label_names)
    h = check_thresholds(thresholds, len(names), on_scale=False)
    finals = _final_values(energies, h, decisions, submissions, names, [reviewer_a, reviewer_b])
    shared = np.intersect1d(finals[reviewer_a][0], finals[reviewer_b][0])
    a = finals[reviewer_a][1][np.searchsorted(finals[reviewer_a][0], shared)]  # (K, C)
    b = finals[reviewer_b][1][np.searchsorted(finals[reviewer_b][0], shared)]  # (K, C)
    yes_a, yes_b = reaches(a, h), reaches(b, h)  # (K, C)
    emotions = np.flatnonzero(~label_mask(names, exclude))
    rows = []
    for label, columns in [*[(names[j], [j]) for j in emotions], (OVERALL, emotions)]:
        la, lb = yes_a[:, columns].reshape(-1), yes_b[:, columns].reshape(-1)
        ea, eb = a[:, columns].reshape(-1), b[:, columns].reshape(-1)
        rows.append({"label": label, "texts": int(shared.size), "both_yes": int((la & lb).sum()),
                     "a_only": int((la & ~lb).sum()), "b_only": int((~la & lb).sum()),
                     "kappa": cohens_kappa(la.astype(int), lb.astype(int)),
                     "alpha": krippendorff_alpha_interval(np.stack([ea, eb])),
                     "mean_abs_diff": float(np.abs(ea - eb).mean()) if ea.size else float("nan")})
    return pd.DataFrame(rows)


def disagreements(energies, thresholds, decisions: pd.DataFrame, submissions: pd.DataFrame,
                  adjudications: pd.DataFrame, *, label_names: Sequence[str], exclude: Sequence[str] = (),
                  tolerance: float = 2.0) -> pd.DataFrame:
    """(text, emotion) pairs where reviewers of the same text disagree: one gives the label (energy >= h) and
    another not, or their energies differ by at least `tolerance`.

    Columns: row_idx, label, model_energy, values ("ana 7.0 · ben 0.0"), low, high, adjudicated (the latest
    adjudicated energy or NaN). Sorted by row, then label order.
    """
    names = list(label_names)
    h = check_thresholds(thresholds, len(names), on_scale=False)
    model = np.asarray(energies, dtype=np.float64)
    reviewers = sorted(set(decisions["reviewer"]) | set(submissions["reviewer"])) if len(decisions) + len(
        submissions) else []
    finals = _final_values(energies, h, decisions, submissions, names, reviewers)
    per_text: dict[int, list[tuple[str, np.ndarray]]] = {}
    for name, (rows, values) in finals.items():
        for row, value in zip(rows.tolist(), values):
            per_text.setdefault(row, []).append((name, value))
    adjudicated = {(int(r), label): float(e) for r, label, e in
                   zip(adjudications.get("row_idx", []), adjudications.get("label", []),
                       adjudications.get("energy", []))}
    emotions = np.flatnonzero(~label_mask(names, exclude))
    found = []
    for row in sorted(per_text):
        entries = per_text[row]
        if len(entries) < 2:
            continue
        stacked = np.stack([value for _, value in entries])  # (R, C)
        present = reaches(stacked, h)  # (R, C)
        for j in emotions:
            split_labels = present[:, j].any() and not present[:, j].all()
            spread = stacked[:, j].max() - stacked[:, j].min()
            if split_labels or spread >= tolerance:
                found.append({"row_idx": row, "label": names[j], "model_energy": float(model[row, j]),
                              "values": " · ".join(f"{name} {value[j]:.1f}" for name, value in entries),
                              "low": float(stacked[:, j].min()), "high": float(stacked[:, j].max()),
                              "adjudicated": adjudicated.get((row, names[j]), float("nan"))})
    return pd.DataFrame(found, columns=["row_idx", "label", "model_energy", "values", "low", "high", "adjudicated"])


def combine_reviews(energies, thresholds, decisions: pd.DataFrame, submissions: pd.DataFrame,
                    adjudications: pd.DataFrame, *, label_names: Sequence[str], reviewer: str | None = None):
    """The reviewed energies of a split and, per text, which rule (REVIEWED_RULES) gave each reviewed value.

    Start from the thresholded energies (below h -> 0). Per (text, label) that an adjudication or a reviewer's
    decision touches: the latest adjudication; else, over everyone who reviewed the text (their untouched labels
    count as the thresholded model value), their common value, or their mean when they differ. reviewer: only
    that reviewer's decisions, no adjudications. energies: (N, C). Returns (reviewed (N, C) float64,
    sources: list of N dicts {label: rule}, review_counts (N,) int, reviewers: list of N "ana,ben" strings).
    """
    names = list(label_names)
    h = check_thresholds(thresholds, len(names), on_scale=False)
    values = np.asarray(energies, dtype=np.float64)
    reviewed = np.where(reaches(energies, h), values, 0.0)  # (N, C)
    num_rows = values.shape[0]
    sources: list[dict] = [{} for _ in range(num_rows)]
    counts = np.zeros(num_rows, dtype=np.int64)
    who = [""] * num_rows
    if reviewer is not None:
        decisions = decisions[decisions["reviewer"] == reviewer] if len(decisions) else decisions
        submissions = submissions[submissions["reviewer"] == reviewer] if len(submissions) else submissions
        adjudications = adjudications.iloc[0:0]
    reviewers = sorted(set(decisions["reviewer"]) | set(submissions["reviewer"])) if len(decisions) + len(
        submissions) else []
    finals = _final_values(energies, h, decisions, submissions, names, reviewers)
    per_text: dict[int, list[tuple[str, np.ndarray]]] = {}
    for name, (rows, final) in finals.items():
        for row, value in zip(rows.tolist(), final):
            per_text.setdefault(row, []).append((name, value))
    touched = {(int(row), label) for row, label in zip(decisions.get("row_idx", []), decisions.get("label", []))}
    index = {name: j for j, name in enumerate(names)}
    for row, entries in per_text.items():
        counts[row] = len(entries)
        who[row] = ",".join(sorted(name for name, _ in entries))
        stacked = np.stack([value for _, value in entries])  # (R, C)
        for label in names:
            if (row, label) not in touched:
                continue
            j = index[label]
            column = stacked[:, j]
            if len(entries) == 1:
                reviewed[row, j], sources[row][label] = column[0], ONE_REVIEWER
            elif np.allclose(column, column[0]):
                reviewed[row, j], sources[row][label] = column[0], REVIEWERS_AGREE
            else:
                reviewed[row, j], sources[row][label] = float(column.mean()), REVIEWERS_MEAN
    if len(adjudications):
        latest = adjudications.sort_values("id").drop_duplicates(["row_idx", "label"], keep="last")
        for row, label, energy in zip(latest["row_idx"], latest["label"], latest["energy"]):
            if label in index:
                reviewed[int(row), index[label]] = float(energy)
                sources[int(row)][label] = ADJUDICATED
    return reviewed, sources, counts, who


def review_log(decisions_all: pd.DataFrame, energies, *, label_names: Sequence[str],
               adjudications: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every decision ever made (nothing overwritten), one row each, oldest first: LOG_COLUMNS.

    decisions_all: workspace.reviews(..., latest_only=False); energies: (N, C), for the model's energy beside the
    reviewer's. reviewer_energy: the value the decision gives (reject -> 0, set -> the energy typed, accept -> the
    model's energy). Adjudications, when given, appear with decision "adjudicate" and the adjudicator as reviewer.
    """
    index = {name: j for j, name in enumerate(label_names)}
    values = np.asarray(energies, dtype=np.float64)
    frame = decisions_all.sort_values("id", kind="stable")
    rows = frame["row_idx"].to_numpy(dtype=np.int64)
    columns = frame["label"].map(index).to_numpy(dtype=np.int64)
    model = values[rows, columns] if len(frame) else np.zeros(0)
    typed = frame["energy"].astype(np.float64).to_numpy()
    decision = frame["decision"].to_numpy()
    reviewer_energy = np.where(decision == "reject", 0.0, np.where(decision == "set", typed, model))
    log = pd.DataFrame({"decision_id": frame["id"].to_numpy(dtype=np.int64), "text_id": frame["text_id"].to_numpy(),
                        "row_idx": rows, "label": frame["label"].to_numpy(), "model_energy": model,
                        "reviewer_energy": reviewer_energy, "decision": decision, "note": frame["note"].to_numpy(),
                        "reviewer": frame["reviewer"].to_numpy(), "decided_at": frame["decided_at"].to_numpy()})
    if adjudications is not None and len(adjudications):
        adj = adjudications.sort_values("id", kind="stable")
        adj_rows = adj["row_idx"].to_numpy(dtype=np.int64)
        adj_columns = adj["label"].map(index).to_numpy(dtype=np.int64)
        log = pd.concat([log, pd.DataFrame({
            "decision_id": adj["id"].to_numpy(dtype=np.int64), "text_id": adj["text_id"].to_numpy(),
            "row_idx": adj_rows, "label": adj["label"].to_numpy(), "model_energy": values[adj_rows, adj_columns],
            "reviewer_energy": adj["energy"].astype(np.float64).to_numpy(), "decision": "adjudicate",
            "note": adj["note"].to_numpy(), "reviewer": adj["adjudicator"].to_numpy(),
            "decided_at": adj["decided_at"].to_numpy()})], ignore_index=True)
        log = log.sort_values(["decided_at", "decision"], kind="stable").reset_index(drop=True)
    return log[LOG_COLUMNS]


def reviewer_progress(decisions: pd.DataFrame, submissions: pd.DataFrame, assignments: pd.DataFrame) -> pd.DataFrame:
    """Per reviewer: assigned, assigned_done, reviewed (texts reviewed in all), share_done of the assigned texts."""
    names = sorted(set(assignments.get("reviewer", [])) | set(decisions.get("reviewer", []))
                   | set(submissions.get("reviewer", [])))
    rows = []
    for name in names:
        done = reviewed_rows(decisions, submissions, reviewer=name)
        assigned = assignments[assignments["reviewer"] == name]["row_idx"].to_numpy(dtype=np.int64) if len(
            assignments) else np.zeros(0, dtype=np.int64)
        finished = int(np.isin(assigned, done).sum())
        rows.append({"reviewer": name, "assigned": int(assigned.size), "assigned_done": finished,
                     "reviewed": int(done.size),
                     "share_done": finished / assigned.size if assigned.size else float("nan")})
    return pd.DataFrame(rows, columns=["reviewer", "assigned", "assigned_done", "reviewed", "share_done"])
