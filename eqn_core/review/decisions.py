"""Review decisions: what a reviewer decided on a text, bulk accept, one reviewer's values, agreement of two reviewers."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from eqn_core.method.thresholds import check_thresholds, reaches
from eqn_core.review.suggestions import checked_energies, checked_label_names, label_lists
from eqn_core.store.workspace import Workspace

OVERALL = "all labels"

__all__ = [
    "review_queue", "bulk_accept", "reviewer_agreement", "apply_decisions", "latest_decisions", "reviewer_counts",
    "reviewed_rows", "reviewer_values", "record_decisions", "cohens_kappa", "decisions_by_label", "form_values",
    "describe_decision", "reviewed_texts", "others_visible"
]


# --------------------------------------------------------------------------- checks


def latest_decisions(reviews_df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The last decision per key: the highest id when the frame has one (workspace.reviews), else the last row.

    workspace.reviews() already keeps each reviewer's latest word; this picks among reviewers (keys without
    "reviewer") or within one frame of any origin."""
    ordered = reviews_df.sort_values("id", kind="stable") if "id" in reviews_df.columns else reviews_df
    return ordered.drop_duplicates(keys, keep="last")


# --------------------------------------------------------------------------- suggestions


def review_queue(suggestions: pd.DataFrame, reviews_df: pd.DataFrame, *, reviewer: str,
                 include_decided: bool = False) -> pd.DataFrame:
    """The suggestions `reviewer` has not decided yet (matched on row_idx + label), in the suggestions' order.

    reviews_df: decisions on the same run and split (workspace.reviews(run_id=, split=)); only
    `reviewer`'s latest decision per (text, label) counts. Returns the suggestions' columns plus
    decision, decided_energy and note (empty for undecided rows); include_decided keeps decided rows too.
    """
    mine = latest_decisions(reviews_df[reviews_df["reviewer"] == reviewer], ["row_idx", "label"])
    mine = mine[["row_idx", "label", "decision", "energy", "note"]].rename(columns={"energy": "decided_energy"})
    mine = mine.astype({"row_idx": np.int64, "label": object, "decided_energy": np.float64})
    queue = suggestions.astype({"row_idx": np.int64, "label": object}).merge(mine, on=["row_idx", "label"], how="left")
    if not include_decided:
        queue = queue[queue["decision"].isna()]
    return queue.reset_index(drop=True)


def bulk_accept(workspace: Workspace, suggestions_subset: pd.DataFrame, *, run_id: str, split: str, reviewer: str,
                min_energy: float, note: str | None = None) -> int:
    """Record "accept" (with the energy shown) for every suggestion whose energy >= min_energy; returns how many.

    The decisions are stored in one transaction: all or none.
    """
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ValueError("Bulk accept needs the reviewer's name.")
    energies = suggestions_subset["energy"].to_numpy(dtype=np.float64).reshape(-1, 1)  # (N, 1)
    chosen = suggestions_subset[reaches(energies, min_energy)[:, 0]]
    chosen = chosen.drop_duplicates(["row_idx", "label"])
    note = f"bulk accept (energy >= {float(min_energy):g})" if note is None else note
    decisions = [{"run_id": run_id, "split": split, "row_idx": int(row.row_idx), "label": str(row.label),
                  "decision": "accept", "reviewer": reviewer, "energy": float(row.energy), "note": note}
                 for row in chosen.itertuples(index=False)]
    if not decisions:
        return 0
    workspace.record_reviews(decisions)
    return len(decisions)


# --------------------------------------------------------------------------- agreement


def _positive(decisions: pd.DataFrame) -> pd.Series:
    """accept, or set to an energy > 0 -> True; reject, or set to 0 -> False."""
    energy = decisions["energy"].astype(np.float64).fillna(0.0)
    return (decisions["decision"] == "accept") | ((decisions["decision"] == "set") & (energy > 0))


def cohens_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two 0/1 vectors; NaN when undefined (no items, or both raters used one same value)."""
    from sklearn.metrics import cohen_kappa_score

    if a.size == 0 or np.unique(np.concatenate([a, b])).size < 2:
        return float("nan")  # chance agreement p_e = 1: kappa = 0 / 0
    return float(cohen_kappa_score(a, b, labels=[0, 1]))


def reviewer_agreement(reviews_df: pd.DataFrame, reviewer_a: str, reviewer_b: str, *,
                       label_names: Sequence[str]) -> pd.DataFrame:
    """Cohen's kappa between two reviewers, per label and over all labels.

    Items are the (text, label) pairs both reviewers decided (each one's latest decision); accept or
    set > 0 is positive, reject or set 0 negative. reviews_df: workspace.reviews() rows (its run_id and
    split columns, when present, are part of the item key). Returns one row per label (in
    label_names order) and a last row "all labels": label, items, agreed, agreement (observed
    share), a_positive, b_positive, kappa (NaN where undefined: no shared items, or both reviewers
    gave every item the same answer).
    """
    keys = [column for column in ("run_id", "split") if column in reviews_df.columns] + ["row_idx", "label"]
    latest = latest_decisions(reviews_df, keys + ["reviewer"])
    sides = []
    for reviewer in (reviewer_a, reviewer_b):
        decisions = latest[latest["reviewer"] == reviewer]
        side = decisions[keys].copy()
        side["positive"] = _positive(decisions).to_numpy(dtype=int)
        sides.append(side)
    both = sides[0].merge(sides[1], on=keys, suffixes=("_a", "_b"))

    rows = []
    for label in [*label_names, OVERALL]:
        items = both if label == OVERALL else both[both["label"] == label]
        a = items["positive_a"].to_numpy(dtype=int)
        b = items["positive_b"].to_numpy(dtype=int)
        agreed = int((a == b).sum())
        rows.append({"label": label, "items": int(a.size), "agreed": agreed,
                     "agreement": agreed / a.size if a.size else float("nan"),
                     "a_positive": int(a.sum()), "b_positive": int(b.sum()), "kappa": cohens_kappa(a, b)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- reviewed energies


def apply_decisions(energies, thresholds, reviews_df: pd.DataFrame, label_names: Sequence[str]) -> np.ndarray:
    """Reviewed energies, the same rule as export_annotations(content="reviewed").

    Start from the thresholded energies (eq. 8: below h -> 0); then, per (text, label), the most
    recent decision of any reviewer: reject -> 0, set -> the reviewer's energy, accept -> max(energy, h).
    Pass one reviewer's rows for that reviewer's view. energies: (N, C); thresholds: scalar or (C,);
    reviews_df: decisions on this run and split (row_idx, label, decision, energy; id orders them).
    Returns (N, C) float64.
    """
    values = checked_energies(energies)  # (N, C)
    num_rows, num_labels = values.shape
    names = checked_label_names(label_names, num_labels)
    h = check_thresholds(thresholds, num_labels, on_scale=False)  # (C,)
    reviewed = np.where(reaches(energies, h), values, 0.0)  # (N, C)
    if not len(reviews_df):
        return reviewed
    if "run_id" in reviews_df.columns and "split" in reviews_df.columns:
        sources = reviews_df[["run_id", "split"]].drop_duplicates()
        if len(sources) > 1:
            raise ValueError(f"reviews_df mixes {len(sources)} runs/splits; pass the decisions of one run and split.")
    latest = latest_decisions(reviews_df, ["row_idx", "label"])
    label_index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(latest["label"]) - set(label_index))
    if unknown:
        raise ValueError(f"Reviews name labels {unknown} that are not among {names}.")
    rows = latest["row_idx"].to_numpy(dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= num_rows):
        raise ValueError(f"Reviews name rows outside 0..{num_rows - 1}.")
    columns = latest["label"].map(label_index).to_numpy(dtype=np.int64)
    decisions = latest["decision"].to_numpy()
    set_energies = latest["energy"].astype(np.float64).to_numpy()
    accepted = decisions == "accept"
    rejected = decisions == "reject"
    was_set = decisions == "set"
    reviewed[rows[rejected], columns[rejected]] = 0.0
    reviewed[rows[was_set], columns[was_set]] = set_energies[was_set]
    reviewed[rows[accepted], columns[accepted]] = np.maximum(values[rows[accepted], columns[accepted]],
                                                             h[columns[accepted]])
    return reviewed


def reviewer_counts(reviews_df: pd.DataFrame) -> pd.DataFrame:
    """Per text, how many (label, reviewer) decisions count and who made them.

    reviews_df: workspace.reviews() rows of one run and split. Returns columns row_idx, review_count,
    reviewers ("ana,ben": sorted, distinct), one row per text with at least one decision.
    """
    if not len(reviews_df):
        return pd.DataFrame({"row_idx": pd.Series(dtype=np.int64), "review_count": pd.Series(dtype=np.int64),
                             "reviewers": pd.Series(dtype=str)})
    latest = latest_decisions(reviews_df, ["row_idx", "label", "reviewer"])
    grouped = latest.groupby("row_idx")
    counts = pd.DataFrame({"review_count": grouped.size(),
                           "reviewers": grouped["reviewer"].agg(lambda names: ",".join(sorted(set(names))))})
    counts = counts.reset_index()
    return counts.astype({"row_idx": np.int64, "review_count": np.int64})


# --------------------------------------------------------------------------- browsing texts


# --------------------------------------------------------------------------- one text at a time


def reviewed_rows(decisions: pd.DataFrame, submissions: pd.DataFrame, *, reviewer: str | None = None) -> np.ndarray:
    """Rows a reviewer (or anyone, reviewer=None) reviewed: submitted, or decided any label of. (K,) int64 sorted."""
    frames = [frame for frame in (decisions, submissions) if len(frame)]
    if reviewer is not None:
        frames = [frame[frame["reviewer"] == reviewer] for frame in frames]
    if not frames:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate([frame["row_idx"].to_numpy(dtype=np.int64) for frame in frames]))


def reviewer_values(energies, thresholds, decisions: pd.DataFrame, label_names: Sequence[str], *,
                    reviewer: str) -> np.ndarray:
    """One reviewer's final energies: apply_decisions on their own decisions only. energies: (N, C). Returns (N, C).

    Labels they did not decide keep the thresholded model energy (they saw it and left it)."""
    mine = decisions[decisions["reviewer"] == reviewer] if len(decisions) else decisions
    return apply_decisions(energies, thresholds, mine, label_names)


def record_decisions(model_energies, thresholds, suggested, shown, final, accepted, label_names: Sequence[str], *,
                     previous: Mapping[str, tuple[str, float | None]] | None = None) -> list[dict]:
    """The label decisions of one submitted text, as dicts (label, decision, energy) for submit_text_review.

    model_energies, thresholds, shown (the values the form started from), final (the values submitted): (C,)
    float; suggested, accepted (a suggestion left ticked): (C,) bool. previous: the reviewer's latest decision per
    label on this text, {label: (decision, energy)}. Per label: an unticked suggestion -> "reject"; a value
    changed from what was shown -> "set" to it (an added emotion when it now reaches h); otherwise the previous
    decision stands, or a ticked suggestion -> "accept". Only decisions that differ from `previous` are returned,
    so re-submitting an unchanged text appends nothing.
    """
    model = np.asarray(model_energies, dtype=np.float64)  # (C,)
    shown = np.asarray(shown, dtype=np.float64)
    final = np.asarray(final, dtype=np.float64)
    suggested = np.asarray(suggested, dtype=bool)
    accepted = np.asarray(accepted, dtype=bool)
    names = checked_label_names(label_names, model.size)
    check_thresholds(thresholds, model.size, on_scale=False)
    previous = previous or {}
    decisions = []
    for j, label in enumerate(names):
        before = previous.get(label)
        if suggested[j] and not accepted[j]:
            wanted = ("reject", float(model[j]))
        elif abs(final[j] - shown[j]) > 1e-6:
            wanted = ("set", round(float(final[j]), 4))
        elif before is not None and (before[0] != "reject" or not suggested[j]):
            wanted = before
        elif suggested[j]:
            wanted = ("accept", float(model[j]))
        else:
            continue
        if before is None or before[0] != wanted[0] or not _same_energy(before[1], wanted[1]):
            decisions.append({"label": label, "decision": wanted[0], "energy": wanted[1]})
    return decisions


def _same_energy(a, b) -> bool:
    if a is None or b is None or (isinstance(a, float) and np.isnan(a)) or (isinstance(b, float) and np.isnan(b)):
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-6


# --------------------------------------------------------------------------- the review screen's rules


def decisions_by_label(decisions: pd.DataFrame, *, reviewer: str, row: int) -> dict[str, tuple[str, float | None]]:
    """One reviewer's latest decision per label on one text: {label: (decision, energy or None)}.

    decisions: workspace.reviews() rows (each reviewer's latest decision per (text, label))."""
    if not len(decisions):
        return {}
    mine = decisions[(decisions["reviewer"] == reviewer) & (decisions["row_idx"] == row)]
    return {label: (decision, None if pd.isna(energy) else float(energy))
            for label, decision, energy in zip(mine["label"], mine["decision"], mine["energy"])}


def form_values(model_energies, label_names: Sequence[str],
                previous: Mapping[str, tuple[str, float | None]]) -> tuple[np.ndarray, np.ndarray]:
    """What the review form starts from: (shown (C,) float64, accepted (C,) bool).

    shown: the model's energies rounded to 0.1, or the reviewer's earlier "set" value; accepted: False where their
    latest decision rejected the label. model_energies: (C,); previous: decisions_by_label's result."""
    model = np.asarray(model_energies, dtype=np.float64)  # (C,)
    names = checked_label_names(label_names, model.size)
    shown = np.round(model, 1)  # (C,)
    for label, (decision, energy) in previous.items():
        if decision == "set" and energy is not None and label in names:
            shown[names.index(label)] = energy
    accepted = np.array([previous.get(label, ("",))[0] != "reject" for label in names], dtype=bool)  # (C,)
    return shown, accepted


def describe_decision(decision: Mapping) -> str:
    """One decision in words: "joy rejected", "fear set to 6"."""
    verb = {"reject": "rejected", "accept": "accepted"}.get(decision["decision"], f"set to {decision['energy']:g}")
    return f"{decision['label']} {verb}"


def reviewed_texts(decisions: pd.DataFrame, submissions: pd.DataFrame, texts: Sequence[str] | Mapping[int, str],
                   human_labels, label_names: Sequence[str], *, reviewer: str) -> pd.DataFrame:
    """The texts one reviewer reviewed, newest first: row, text, human labels, your decisions ("joy ✗, fear → 6"),
    note, when. decisions, submissions: workspace.reviews() and workspace.submissions() of one run and split;
    texts: N strings, or {row: text} of at least the reviewed rows (a million own texts are not read for this);
    human_labels: (N, C) bool."""
    rows = reviewed_rows(decisions, submissions, reviewer=reviewer)  # (K,)
    mine = decisions[decisions["reviewer"] == reviewer] if len(decisions) else decisions
    subs = submissions[submissions["reviewer"] == reviewer] if len(submissions) else submissions
    subs = subs.set_index("row_idx") if len(subs) else pd.DataFrame(columns=["note", "submitted_at"])
    marks = {"reject": "✗", "accept": "✓"}
    changes = {row: ", ".join(f"{label} {marks.get(decision) or f'→ {energy:g}'}"
                              for label, decision, energy in zip(group["label"], group["decision"], group["energy"]))
               for row, group in mine.groupby("row_idx")} if len(mine) else {}
    last_time = mine.groupby("row_idx")["decided_at"].max() if len(mine) else pd.Series(dtype=object)
    text_of = texts.get if isinstance(texts, Mapping) else np.asarray(texts, dtype=object).__getitem__
    table = pd.DataFrame({"row": rows, "text": [text_of(int(row)) for row in rows],
                          "human labels": label_lists(np.asarray(human_labels)[rows], label_names),
                          "your decisions": [changes.get(row, "kept the model's energies") for row in rows],
                          "note": [subs["note"].get(row, "") for row in rows],
                          "when": [subs["submitted_at"].get(row, last_time.get(row)) for row in rows]})
    return table.sort_values("when", ascending=False, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- blind or open review

def others_visible(*, blind: bool, reviewed_by_me: bool, is_admin: bool) -> bool:
    """May a user see other reviewers' decisions on a text? Always in open review and for admins; in blind review
    only once they reviewed the text themselves."""
    return not blind or reviewed_by_me or is_admin
