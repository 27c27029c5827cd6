"""Annotation thresholds h (eq. 8): the default, the one rule "energy >= h", checks, tuning, the threshold setting.

Every place that decides whether an energy counts as a label (metrics, the Thresholds page, review suggestions,
reviewed energies, thresholded and binary exports) goes through `reaches()`, so one energy is a label
everywhere or nowhere. Energies are stored as float32; the rule compares in float32 on both sides, so an
energy stored as 0.7 (float32 0.69999999) reaches h = 0.7.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

ENERGY_MIN, ENERGY_MAX = 0.0, 10.0
"""The energy scale: a human label is 10.0 (paper section 3.1.3.2), nothing is 0.0."""
ENERGY_DTYPE = np.float32
"""How energies are stored (workspace, run folders) and compared against h."""
DEFAULT_THRESHOLD = 3.0
"""The global h a run starts with; equals the BCE baseline's usual 0.3 on the shared 0-10 scale."""
THRESHOLD_GRID = np.round(np.arange(101) * 0.1, 1)
"""Default grid of tune_thresholds: 0.0, 0.1, ..., 10.0 (101 values)."""
THRESHOLD_GRID.flags.writeable = False

__all__ = [
    "ENERGY_MIN", "ENERGY_MAX", "ENERGY_DTYPE", "DEFAULT_THRESHOLD", "THRESHOLD_GRID",
    "check_thresholds", "reaches", "tune_thresholds", "effective_thresholds", "overrides_from", "ThresholdSetting",
]


def check_thresholds(thresholds, num_labels: int, *, on_scale: bool = True) -> np.ndarray:
    """Thresholds h as a (C,) float64 array: a scalar is broadcast; NaN is refused.

    The one validation of thresholds, wherever they come from (a slider, a profile, the command line, an export).
    on_scale (what is stored or exported): each must also be finite and in [0, 10]. Without it (the rule and the
    metrics) any number goes: h above 10 or inf predicts nothing, h <= 0 everything.
    """
    values = np.asarray(thresholds, dtype=np.float64)
    if values.ndim == 0:
        values = np.full(num_labels, float(values))
    if values.shape != (num_labels,):
        raise ValueError(f"The thresholds have shape {values.shape}; expected one number or one per label: "
                         f"({num_labels},).")
    if np.isnan(values).any():
        raise ValueError(f"The thresholds must be numbers, got {values.tolist()}.")
    if on_scale and not (np.isfinite(values).all() and (values >= ENERGY_MIN).all() and (values <= ENERGY_MAX).all()):
        raise ValueError(f"The thresholds must be finite and in [{ENERGY_MIN:g}, {ENERGY_MAX:g}], "
                         f"got {values.tolist()}.")
    return values


def reaches(energies, thresholds) -> np.ndarray:
    """Where an energy counts as a label: energy >= h, both sides in float32 (how energies are stored).

    energies: (N, C) float; thresholds: scalar h or (C,). Returns (N, C) bool; NaN energies never reach h.
    """
    values = np.asarray(energies)
    if values.ndim != 2:
        raise ValueError(f"energies must be 2-D (N, C), got shape {values.shape}")
    h = check_thresholds(thresholds, values.shape[1], on_scale=False).astype(ENERGY_DTYPE)  # (C,)
    return values.astype(ENERGY_DTYPE, copy=False) >= h


def tune_thresholds(energies, human_labels, *, grid=None) -> np.ndarray:
    """Per-label thresholds that maximise each label's F1 under reaches() on the given split.

    Tune on validation, never on test. grid: candidate thresholds (default THRESHOLD_GRID, 0.0 .. 10.0 step
    0.1); sorted and de-duplicated. Ties go to the lower threshold. A label where no grid value yields any
    true positive (in particular a label without positives in the split) gets the highest grid value (10.0 by
    default): the most conservative choice, which predicts (almost) nothing. NaN energies never pass.
    energies: (N, C) float; human_labels: (N, C) bool. Returns (C,) float64.
    """
    values = np.asarray(energies)
    labels = np.asarray(human_labels).astype(bool)
    if values.ndim != 2 or labels.shape != values.shape:
        raise ValueError(f"energies {values.shape} and human_labels {labels.shape} must both be (N, C)")
    g = THRESHOLD_GRID if grid is None else np.unique(np.asarray(grid, dtype=np.float64).reshape(-1))
    if g.size == 0 or not np.isfinite(g).all():
        raise ValueError("grid must hold at least one finite threshold")
    g_cmp = g.astype(ENERGY_DTYPE)  # compare exactly as reaches() will
    values = values.astype(ENERGY_DTYPE, copy=False)
    out = np.empty(values.shape[1], dtype=np.float64)
    for j in range(values.shape[1]):
        column = values[:, j]
        valid = ~np.isnan(column)
        all_sorted = np.sort(column[valid])
        positive_sorted = np.sort(column[valid & labels[:, j]])
        num_positive = int(np.count_nonzero(labels[:, j]))
        # how many energies reach each g: size minus how many are below it
        num_predicted = all_sorted.size - np.searchsorted(all_sorted, g_cmp, side="left")
        true_positive = positive_sorted.size - np.searchsorted(positive_sorted, g_cmp, side="left")
        denominator = num_predicted + num_positive
        f1 = np.zeros(g.size)
        np.divide(2 * true_positive, denominator, out=f1, where=denominator != 0)
        best = int(np.argmax(f1))  # first maximum = lowest threshold
        out[j] = g[best] if f1[best] > 0 else g[-1]
    return out


def effective_thresholds(global_threshold: float, overrides: Mapping[str, float | None],
                         label_names: Sequence[str]) -> np.ndarray:
    """(C,) thresholds h: the label's override where one is set (not None / NaN), else the global threshold."""
    values = np.full(len(label_names), float(global_threshold), dtype=np.float64)
    for j, label in enumerate(label_names):
        value = overrides.get(label)
        if value is not None and not _is_blank(value):  # blank table cells: None / NaN / pandas NA
            values[j] = min(ENERGY_MAX, max(ENERGY_MIN, float(value)))
    return values


def overrides_from(thresholds: np.ndarray, global_threshold: float, label_names: Sequence[str]) -> dict[str, float]:
    """The per-label overrides that, on top of global_threshold, give these (C,) thresholds."""
    return {label: round(float(h), 4) for label, h in zip(label_names, np.asarray(thresholds, dtype=np.float64))
            if not math.isclose(float(h), float(global_threshold), abs_tol=1e-6)}


def _is_blank(value) -> bool:
    try:
        return not math.isfinite(float(value))
    except TypeError:  # pandas NA refuses float()
        return True


@dataclass(frozen=True)
class ThresholdSetting:
    """What a person chose: a global h and per-label overrides {label: h}, and where it came from (a profile name).

    The one form a threshold choice takes between the Thresholds page, Samples, Review, Export and the command line:
    its array (C,) is what the rule reaches() and the exports use, its URL form keeps it across a reload.
    Build it with checked() (or from_array / from_query), which keeps only known labels and refuses values off the
    0-10 scale, so a setting that exists is valid.
    """
    global_threshold: float = DEFAULT_THRESHOLD
    overrides: Mapping[str, float] = field(default_factory=dict)
    source: str | None = None  # a saved profile's name, "tuned on dev", ...: recorded in an export's provenance

    @classmethod
    def checked(cls, global_threshold: float, overrides: Mapping[str, float | None], label_names: Sequence[str], *,
                source: str | None = None) -> "ThresholdSetting":
        """A setting whose values are on the scale; blank overrides (None, NaN) and unknown labels are left out."""
        h = float(check_thresholds(global_threshold, 1)[0])
        kept = {label: float(value) for label, value in overrides.items()
                if label in label_names and value is not None and not _is_blank(value)}
        check_thresholds(list(kept.values()) or h, len(kept) or 1)
        return cls(h, {label: kept[label] for label in label_names if label in kept}, source)

    @classmethod
    def from_array(cls, thresholds, global_threshold: float, label_names: Sequence[str], *,
                   source: str | None = None) -> "ThresholdSetting":
        """The setting that, on top of global_threshold, gives these (C,) thresholds (a tuned or saved array)."""
        values = check_thresholds(thresholds, len(label_names))
        return cls.checked(global_threshold, overrides_from(values, global_threshold, label_names), label_names,
                           source=source)

    def array(self, label_names: Sequence[str]) -> np.ndarray:
        """(C,) float64 thresholds: the label's override where it has one, else the global h."""
        return effective_thresholds(self.global_threshold, self.overrides, label_names)

    @property
    def per_label(self) -> bool:
        return bool(self.overrides)

    def describe(self, num_labels: int) -> str:
        """A few words for captions: "h = 3", "h = 3, 2 per-label override(s)"."""
        count = len(self.overrides)
        if count == 0:
            return f"h = {self.global_threshold:g}"
        if count >= num_labels:
            return f"per-label thresholds on all {count} labels (the global h is inactive)"
        return f"h = {self.global_threshold:g}, {count} per-label override(s)"

    def to_query(self, label_names: Sequence[str]) -> dict[str, str]:
        """The URL form: {"h": "2.5", "h_labels": "0:3.1,4:7"} (labels by position; "" when there is none)."""
        return {"h": f"{self.global_threshold:g}",
                "h_labels": ",".join(f"{label_names.index(label)}:{value:g}" for label, value in self.overrides.items()
                                     if label in label_names)}

    @classmethod
    def from_query(cls, query: Mapping[str, str], label_names: Sequence[str], *,
                   default_global: float = DEFAULT_THRESHOLD) -> "ThresholdSetting | None":
        """The setting a URL holds, or None when it holds none or a hand-edited one that does not parse."""
        if "h" not in query and "h_labels" not in query:
            return None
        try:
            global_threshold = float(query["h"]) if "h" in query else default_global
            overrides = {}
            for item in filter(None, str(query.get("h_labels", "")).split(",")):
                index, value = item.split(":")
                if int(index) < 0:
                    raise IndexError(index)
                overrides[label_names[int(index)]] = float(value)
            return cls.checked(global_threshold, overrides, label_names)
        except (ValueError, IndexError, KeyError):
            return None
