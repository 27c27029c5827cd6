"""Label maths of the EQN method: full-label targets (eq. 1-3), thresholds (eq. 8) and label sets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eqn_core.method.thresholds import ENERGY_MAX, reaches

__all__ = [
    "ENERGY_MAX",
    "initial_targets",
    "regress_targets",
    "rare_label_weights",
    "loss_weights",
    "apply_review_targets",
    "human_labels_changed",
    "apply_threshold",
    "binarize",
    "labels_from_ids",
    "ids_from_labels",
    "top_k_mask",
]


# --------------------------------------------------------------------------- checks


def as_human_labels(human_labels) -> np.ndarray:
    """(N, C) bool view of `human_labels` (bool, or 0/1 numbers)."""
    arr = np.asarray(human_labels)
    if arr.ndim != 2:
        raise ValueError(f"human_labels must be 2-D (N, C), got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError("human_labels must be bool or 0/1")
        arr = arr.astype(bool)
    return arr


def as_energies(energies) -> np.ndarray:
    """(N, C) floating array of `energies` (float32/float64 kept, anything else -> float64)."""
    arr = np.asarray(energies)
    if arr.ndim != 2:
        raise ValueError(f"energies must be 2-D (N, C), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def check_same_shape(energies: np.ndarray, human_labels: np.ndarray) -> None:
    if energies.shape != human_labels.shape:
        raise ValueError(
            f"energies {energies.shape} and human_labels {human_labels.shape} differ in shape"
        )


# --------------------------------------------------------------------------- targets


def initial_targets(human_labels, *, high: float = ENERGY_MAX) -> np.ndarray:
    """Full-label initialisation (eq. 1-2): `high` where a person gave the label, 0.0 elsewhere.

    human_labels: (N, C) bool.  Returns (N, C) float32.
    """
    labels = as_human_labels(human_labels)
    return np.where(labels, np.float32(high), np.float32(0.0)).astype(np.float32, copy=False)


def rare_label_weights(human_labels, *, cap: float) -> np.ndarray:
    """(C,) float32 inverse-frequency weight per label: the mean label count over this label's count, at least 1
    (labels as common as the average or more) and at most `cap` (so a label with a handful of texts cannot
    dominate the loss). A label nobody gave gets the cap."""
    counts = as_human_labels(human_labels).sum(0).astype(np.float64)
    return np.clip(counts.mean() / np.maximum(counts, 1.0), 1.0, cap).astype(np.float32)


def loss_weights(human_labels, label_weights: np.ndarray) -> np.ndarray:
    """(N, C) float32 weight of each training value: a human label counts its label's weight, every other value 1
    (only the rare labels' positives are scaled up; the values around them keep their weight)."""
    labels = as_human_labels(human_labels)
    return np.where(labels, np.asarray(label_weights, np.float32)[None, :], np.float32(1.0)).astype(np.float32)


def regress_targets(energies, human_labels, *, high: float = ENERGY_MAX,
                    label_floor: float | None = None) -> np.ndarray:
    """Label regression (eq. 3): human labels put back to `high`, other entries = model energies.

    The model's energies are clipped to [0, high] first (a linear head may leave the scale).
    NaN energies become 0.0.
    label_floor: instead of `high`, a human label keeps the model's own energy raised to at least this value (the
    labels stay at or above the threshold, but not all tied at the ceiling; an intensity option, not the paper's).
    energies: (N, C) float; human_labels: (N, C) bool.  Returns (N, C) float32.
    """
    e = as_energies(energies)
    labels = as_human_labels(human_labels)
    check_same_shape(e, labels)
    clipped = np.clip(np.nan_to_num(e, nan=0.0), 0.0, high)
    labelled = high if label_floor is None else np.maximum(clipped, min(label_floor, high))
    return np.where(labels, labelled, clipped).astype(np.float32)


def apply_review_targets(targets, override, mask, *, high: float = ENERGY_MAX) -> np.ndarray:
    """Reviewed values replace targets (a run trained with reviews): where `mask`, the reviewed value (a rejected
    suggestion 0, a confirmed or set energy, an added emotion the reviewer's energy), clipped to [0, high]; every
    other entry keeps `targets` (the paper's rule: label regression's, or eq. 1-2 for CoEQN). Reviewed values also
    replace human labels: count those with human_labels_changed, so no human label is overwritten silently.

    targets, override: (N, C) float; mask: (N, C) bool.  Returns (N, C) float32.
    """
    t = as_energies(targets)
    values = as_energies(override)
    chosen = as_human_labels(mask)
    check_same_shape(t, chosen)
    check_same_shape(values, chosen)
    reviewed = np.clip(np.nan_to_num(values, nan=0.0), 0.0, high)
    return np.where(chosen, reviewed, t).astype(np.float32)


def human_labels_changed(override, mask, human_labels, *, high: float = ENERGY_MAX) -> int:
    """How many reviewed values change a human label: a label a person gave (target `high`) reviewed to anything
    else. override: (N, C) float; mask, human_labels: (N, C) bool."""
    values = np.clip(np.nan_to_num(as_energies(override), nan=0.0), 0.0, high).astype(np.float32)
    chosen = as_human_labels(mask)
    labels = as_human_labels(human_labels)
    check_same_shape(values, labels)
    check_same_shape(chosen, labels)
    return int(np.count_nonzero(chosen & labels & (values != np.float32(high))))


# --------------------------------------------------------------------------- thresholds


def apply_threshold(energies, thresholds) -> np.ndarray:
    """Annotation threshold (eq. 8): energies below h become 0, the others are kept.

    energies: (N, C) float; thresholds: scalar h or (C,) per-label h.
    Returns (N, C) of the energies' float type.
    """
    e = as_energies(energies)
    return np.where(reaches(e, thresholds), e, e.dtype.type(0.0))


def binarize(energies, thresholds) -> np.ndarray:
    """Labels present by threshold: energy >= h (the entries eq. 8 keeps), compared by thresholds.reaches.

    energies: (N, C) float; thresholds: scalar or (C,).  Returns (N, C) bool.
    """
    return reaches(as_energies(energies), thresholds)


# --------------------------------------------------------------------------- label sets


def labels_from_ids(label_ids: Sequence[Sequence[int]], num_labels: int) -> np.ndarray:
    """Multi-hot matrix from per-sample label id lists ([[0, 1], [1], [2]]).

    Returns (N, C=num_labels) bool.  Repeated ids are harmless; ids outside [0, C) raise ValueError.
    """
    num_labels = int(num_labels)
    if num_labels < 0:
        raise ValueError("num_labels must be >= 0")
    rows = [np.asarray(list(ids), dtype=np.int64).reshape(-1) for ids in label_ids]
    out = np.zeros((len(rows), num_labels), dtype=bool)
    if not rows:
        return out
    lengths = np.fromiter((r.size for r in rows), dtype=np.int64, count=len(rows))
    cols = np.concatenate(rows) if lengths.sum() else np.zeros(0, dtype=np.int64)
    if cols.size and (cols.min() < 0 or cols.max() >= num_labels):
        bad = cols[(cols < 0) | (cols >= num_labels)][0]
        raise ValueError(f"label id {int(bad)} outside [0, {num_labels})")
    out[np.repeat(np.arange(len(rows)), lengths), cols] = True
    return out


def ids_from_labels(human_labels) -> list[list[int]]:
    """Per-sample sorted label id lists from an (N, C) bool matrix (inverse of labels_from_ids)."""
    labels = as_human_labels(human_labels)
    rows, cols = np.nonzero(labels)
    splits = np.searchsorted(rows, np.arange(1, labels.shape[0]))
    return [part.tolist() for part in np.split(cols, splits)] if labels.shape[0] else []


def top_k_mask(energies, k) -> np.ndarray:
    """Mask of the k highest energies of each row.

    energies: (N, C) float; k: int or (N,) ints (per-row k, e.g. the number of true labels).
    k <= 0 selects nothing, k >= C everything.  Ties are broken by the lower label id,
    so the result is deterministic; NaN energies rank last (as -inf).
    Returns (N, C) bool.
    """
    e = as_energies(energies)
    n, c = e.shape
    k_arr = np.asarray(k)
    if k_arr.ndim == 0:
        k_arr = np.full(n, int(k_arr), dtype=np.int64)
    elif k_arr.shape != (n,):
        raise ValueError(f"k must be a scalar or of shape ({n},), got shape {k_arr.shape}")
    kk = np.clip(k_arr.astype(np.int64), 0, c)
    if n == 0 or c == 0:
        return np.zeros((n, c), dtype=bool)
    nan = np.isnan(e)
    x = np.where(nan, -np.inf, e) if nan.any() else e  # NaN ranks last
    # v = the k-th highest energy of each row; take everything above it, then the entries equal
    # to it from the left (lower label id) until k are taken.  No argsort: a value sort is faster.
    v = np.sort(x, axis=1)[np.arange(n), np.maximum(c - kk, 0) % c][:, None]
    above = x > v
    tied = x == v
    need = kk - np.count_nonzero(above, axis=1)
    mask = above | tied
    # only rows with more tied entries than needed must drop their right-most ties
    over = np.flatnonzero(np.count_nonzero(tied, axis=1) > need)
    if over.size:
        t = tied[over]
        mask[over] = above[over] | (t & (np.cumsum(t, axis=1) <= need[over, None]))
    mask[kk == 0] = False
    return mask
