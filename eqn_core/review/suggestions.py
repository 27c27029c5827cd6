"""Suggested micro-emotions and the reviewer's queue: which emotions a text may hold, in what order texts come."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from eqn_core.method.thresholds import check_thresholds, reaches

SUGGESTED = "suggested"
LOW_ENERGY_HUMAN = "low-energy human label"
SUGGESTION_KINDS = (SUGGESTED, LOW_ENERGY_HUMAN)
SUGGESTION_COLUMNS = ["row_idx", "label", "label_id", "energy", "threshold", "kind"]
MEMBERSHIPS = ("any", "human", "predicted", "both", "either", "neither")
QUEUE_ORDERS = {"missed": "most likely missed emotion first (strongest energy without a human label)",
                "disagreement": "most disagreement with the human labels first",
                "uncertain": "most uncertain first (an emotion's energy nearest its threshold h)",
                "strongest": "strongest emotion first (highest energy of any emotion)",
                "random": "random sample (an unbiased audit)", "row": "data set order"}
UNLABELLED_QUEUE_ORDERS = ("uncertain", "strongest", "random", "row")  # the orders that need no human labels


def checked_energies(energies) -> np.ndarray:
    """(N, C) float64 copy of the energies, for display and arithmetic; whether an energy reaches h is
    decided by thresholds.reaches (float32 on both sides), as everywhere else."""
    values = np.asarray(energies)
    if values.ndim != 2:
        raise ValueError(f"energies must be 2-D (N, C), got shape {values.shape}")
    return values.astype(np.float64)


def checked_human_labels(human_labels, shape: tuple[int, int]) -> np.ndarray:
    labels = np.asarray(human_labels)
    if labels.shape != shape:
        raise ValueError(f"human_labels have shape {labels.shape}; the energies have shape {shape}")
    return labels.astype(bool)


def checked_label_names(label_names: Sequence[str], num_labels: int) -> list[str]:
    names = list(label_names)
    if len(names) != num_labels:
        raise ValueError(f"{len(names)} label names for {num_labels} energy columns")
    return names


def suggest_micro_emotions(energies, human_labels, thresholds, *, label_names: Sequence[str],
                           low_energy: float | None = None, exclude: Sequence[str] = ()) -> pd.DataFrame:
    """Labels a reviewer should look at, one row per (text, label).

    "suggested": energy >= the label's threshold h where no person gave the label (a micro-emotion
    the model sees and the human labels lack). "low-energy human label": a person gave the label
    but its energy is below ``low_energy`` (default: the label's threshold h).
    energies: (N, C) float; human_labels: (N, C) bool; thresholds: scalar h or (C,).
    Returns columns row_idx, label, label_id, energy, threshold, kind; "suggested" rows first, each
    kind sorted by energy descending (ties: row, then label id). exclude: labels that are not emotions
    (GoEmotions "neutral"), never suggested.
    """
    values = checked_energies(energies)  # (N, C)
    num_labels = values.shape[1]
    names = checked_label_names(label_names, num_labels)
    labels = checked_human_labels(human_labels, values.shape)  # (N, C)
    h = check_thresholds(thresholds, num_labels, on_scale=False)  # (C,)
    low = h if low_energy is None else check_thresholds(low_energy, num_labels, on_scale=False)  # (C,)

    emotion = ~label_mask(names, exclude)  # (C,)
    frames = []
    for kind, mask in ((SUGGESTED, reaches(energies, h) & ~labels & emotion),
                       (LOW_ENERGY_HUMAN, labels & ~reaches(energies, low))):
        rows, label_ids = np.nonzero(mask)
        frame = pd.DataFrame({
            "row_idx": rows.astype(np.int64), "label": pd.Series([names[i] for i in label_ids], dtype=object),
            "label_id": label_ids.astype(np.int64), "energy": values[rows, label_ids],
            "threshold": h[label_ids], "kind": kind})
        order = np.lexsort((frame["label_id"].to_numpy(), frame["row_idx"].to_numpy(), -frame["energy"].to_numpy()))
        frames.append(frame.iloc[order])
    return pd.concat(frames, ignore_index=True)[SUGGESTION_COLUMNS]


def filter_texts(energies, human_labels, thresholds, *, label_id: int | None = None, membership: str = "any",
                 energy_range: tuple[float, float] | None = None, suggestion: str | None = None,
                 low_energy: float | None = None) -> np.ndarray:
    """Which texts match the Samples page's filters. Returns (N,) bool.

    label_id: the chosen emotion (None: filters below apply to any label). membership (needs
    label_id): "any", "human" (a person gave it), "predicted" (energy >= h), "both", "either",
    "neither". energy_range (needs label_id): inclusive (low, high) on that label's energy.
    suggestion: None, "suggested", "low-energy human label" or "any" (either kind), for the chosen
    label or any label. energies: (N, C); human_labels: (N, C) bool; thresholds: scalar or (C,).
    """
    values = checked_energies(energies)  # (N, C)
    num_labels = values.shape[1]
    labels = checked_human_labels(human_labels, values.shape)  # (N, C)
    h = check_thresholds(thresholds, num_labels, on_scale=False)  # (C,)
    if membership not in MEMBERSHIPS:
        raise ValueError(f"Unknown membership {membership!r}; use one of {MEMBERSHIPS}.")
    if label_id is None and (membership != "any" or energy_range is not None):
        raise ValueError("Filtering by membership or energy range needs a label_id.")
    keep = np.ones(values.shape[0], dtype=bool)  # (N,)
    predicted = reaches(energies, h)  # (N, C)
    if label_id is not None:
        human, model = labels[:, label_id], predicted[:, label_id]  # (N,)
        keep &= {"any": np.ones_like(keep), "human": human, "predicted": model, "both": human & model,
                 "either": human | model, "neither": ~human & ~model}[membership]
        if energy_range is not None:
            low, high = float(energy_range[0]), float(energy_range[1])
            keep &= (values[:, label_id] >= low) & (values[:, label_id] <= high)
    if suggestion is not None:
        low_h = h if low_energy is None else check_thresholds(low_energy, num_labels, on_scale=False)
        kinds = {SUGGESTED: predicted & ~labels, LOW_ENERGY_HUMAN: labels & ~reaches(energies, low_h)}
        if suggestion == "any":
            flagged = kinds[SUGGESTED] | kinds[LOW_ENERGY_HUMAN]
        elif suggestion in kinds:
            flagged = kinds[suggestion]
        else:
            raise ValueError(f"Unknown suggestion filter {suggestion!r}; use one of {[*SUGGESTION_KINDS, 'any']}.")
        keep &= flagged[:, label_id] if label_id is not None else flagged.any(axis=1)
    return keep


def top_energies(energies, label_names: Sequence[str], *, k: int = 3) -> list[str]:
    """Each text's k highest energies as "joy 9.1 · anger 6.0". energies: (N, C). Returns N strings."""
    values = checked_energies(energies)
    names = checked_label_names(label_names, values.shape[1])
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]  # (N, k)
    return [" · ".join(f"{names[j]} {values[i, j]:.1f}" for j in row) for i, row in enumerate(order)]


def label_lists(human_labels, label_names: Sequence[str]) -> list[str]:
    """Each text's human labels as "joy, anger" ("" when none). human_labels: (N, C) bool."""
    labels = np.asarray(human_labels).astype(bool)
    names = checked_label_names(label_names, labels.shape[1])
    return [", ".join(names[j] for j in np.flatnonzero(row)) for row in labels]


def label_mask(label_names: Sequence[str], chosen: Sequence[str]) -> np.ndarray:
    """(C,) bool: True for the labels named in `chosen` (e.g. the data set's non-emotion labels)."""
    chosen = set(chosen)
    return np.array([name in chosen for name in label_names], dtype=bool)


def record_suggestions(energies, human_labels, thresholds, *, exclude_mask=None) -> np.ndarray:
    """Suggested micro-emotions per text: energy >= h, no human label, not a non-emotion label.

    energies: (N, C); human_labels: (N, C) bool; thresholds: scalar or (C,); exclude_mask: (C,) bool.
    Returns (N, C) bool.
    """
    labels = checked_human_labels(human_labels, np.shape(energies))
    suggested = reaches(energies, thresholds) & ~labels  # (N, C)
    if exclude_mask is not None:
        suggested &= ~np.asarray(exclude_mask, dtype=bool)[None, :]
    return suggested


def queue_order(energies, human_labels, thresholds, *, order: str = "missed", exclude_mask=None,
                seed: int = 0) -> np.ndarray:
    """The texts in review order. Returns (N,) int64 row indices.

    "missed": strongest energy on an emotion without a human label first (most likely missed emotion);
    "disagreement": most emotions where the rule energy >= h and the human labels differ first (ties: the
    summed gap |energy - 10 * human|); "uncertain": the smallest gap |energy - h| of any emotion first (the
    texts where a small change of the model or of h flips a label); "strongest": the highest energy of any
    emotion first; "random": a seeded permutation, for an unbiased audit; "row": data order. Non-emotion labels
    (exclude_mask, (C,) bool) do not count. energies: (N, C); human_labels: (N, C) bool, or None for texts
    without labels (then only UNLABELLED_QUEUE_ORDERS).
    """
    raw = np.asarray(energies)
    if raw.ndim != 2:
        raise ValueError(f"energies must be 2-D (N, C), got shape {raw.shape}")
    num_rows = raw.shape[0]
    emotion = np.ones(raw.shape[1], dtype=bool) if exclude_mask is None else ~np.asarray(exclude_mask, bool)
    rows = np.arange(num_rows, dtype=np.int64)
    if order == "row":
        return rows
    if order == "random":
        return np.random.default_rng(seed).permutation(num_rows).astype(np.int64)
    if order in ("uncertain", "strongest"):
        return np.argsort(_order_key(raw, thresholds, emotion, order), kind="stable").astype(np.int64)
    if human_labels is None:
        raise ValueError(f"Queue order {order!r} needs human labels; without them use one of "
                         f"{list(UNLABELLED_QUEUE_ORDERS)}.")
    values = checked_energies(energies)  # (N, C)
    labels = checked_human_labels(human_labels, values.shape)  # (N, C)
    if order == "missed":
        missed = np.where(~labels & emotion[None, :], values, -1.0).max(axis=1, initial=-1.0)  # (N,)
        return rows[np.lexsort((rows, -missed))]
    if order == "disagreement":
        differ = (reaches(energies, thresholds) != labels)[:, emotion].sum(axis=1)  # (N,)
        gap = np.abs(values - 10.0 * labels)[:, emotion].sum(axis=1)  # (N,)
        return rows[np.lexsort((rows, -gap, -differ))]
    raise ValueError(f"Unknown queue order {order!r}; use one of {list(QUEUE_ORDERS)}.")


def _order_key(raw: np.ndarray, thresholds, emotion: np.ndarray, order: str, *, block: int = 65_536) -> np.ndarray:
    """(N,) float32 sort key of "uncertain" (smallest |energy - h| of any emotion) or "strongest" (minus the highest
    emotion energy), computed in blocks of rows on the stored float32 values: a million texts without a 200 MB
    float64 copy."""
    columns = np.flatnonzero(emotion)
    h = check_thresholds(thresholds, raw.shape[1], on_scale=False)[columns].astype(np.float32)  # (C',)
    key = np.empty(raw.shape[0], dtype=np.float32)  # (N,)
    for start in range(0, raw.shape[0], block):
        part = np.asarray(raw[start:start + block][:, columns], dtype=np.float32)  # (B, C')
        if order == "strongest":
            key[start:start + block] = -part.max(axis=1, initial=0.0)
        else:
            key[start:start + block] = np.abs(part - h).min(axis=1, initial=np.inf)
    return key


QUEUE_STATUSES = {"unreviewed": "not yet reviewed by me", "reviewed": "reviewed by me", "all": "all texts"}


def filter_queue(rows, energies, *, reviewed=None, status: str = "all", label_id: int | None = None,
                 energy_range: tuple[float, float] | None = None, within: Sequence = ()) -> np.ndarray:
    """The queue's texts that pass the review screen's filters, in queue order.

    rows: (K,) int, the queue (queue_order); energies: (N, C); reviewed: the rows the reviewer reviewed (for
    status "unreviewed" or "reviewed"; "all" keeps both); label_id with energy_range: that emotion's energy in
    [low, high]; within: row sets each kept row must belong to (texts another reviewer reviewed, texts assigned
    to me). Returns (K',) int64.
    """
    if status not in QUEUE_STATUSES:
        raise ValueError(f"Unknown queue status {status!r}; use one of {list(QUEUE_STATUSES)}.")
    rows = np.asarray(rows, dtype=np.int64)
    keep = np.ones(rows.size, dtype=bool)  # (K,)
    if status != "all":
        keep &= np.isin(rows, np.asarray(reviewed if reviewed is not None else [], dtype=np.int64)) == (
            status == "reviewed")
    if label_id is not None and energy_range is not None:
        values = np.asarray(energies)[rows, label_id].astype(np.float64)  # (K,)
        keep &= (values >= float(energy_range[0])) & (values <= float(energy_range[1]))
    for allowed in within:
        keep &= np.isin(rows, np.asarray(allowed, dtype=np.int64))
    return rows[keep]


def next_in_queue(queue: Sequence[int], after: int) -> int | None:
    """The text after `after` in the queue (wrapping round to the first other one); None when no other is left.
    queue: row numbers in order (a list or an array: numpy, so a million-text queue costs milliseconds)."""
    rows = np.asarray(queue, dtype=np.int64)
    others = rows != after  # (K,)
    found = np.flatnonzero(~others)
    if found.size:
        following = np.flatnonzero(others[found[0] + 1:])
        if following.size:
            return int(rows[found[0] + 1 + following[0]])
    first = np.flatnonzero(others)
    return int(rows[first[0]]) if first.size else None


def queue_position(queue: Sequence[int], row: int) -> int | None:
    """0-based position of `row` in the queue, or None when the queue leaves it out."""
    found = np.flatnonzero(np.asarray(queue, dtype=np.int64) == row)
    return int(found[0]) if found.size else None
