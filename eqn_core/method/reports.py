"""Whole reports over one split's energies: every metric of the paper at once, the threshold-free tables, and
the per-label scores of a threshold setting with the texts it changes.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eqn_core.method.labels import binarize
from eqn_core.method.metrics import (
    cluster_order,
    energies_and_labels,
    hit_rates_by_label_count,
    label_changes,
    label_names_or_numbers,
    pearson_matrix,
    per_label_report,
    sample_scores,
    sample_topk_scores,
    single_label_scores,
    to_jsonable,
    top_k_predictions,
    top_n_hit_rates,
)
from eqn_core.method.thresholds import check_thresholds, reaches


def threshold_report(energies: np.ndarray, human_labels: np.ndarray, thresholds: np.ndarray,
                     label_names: Sequence[str]) -> dict:
    """Per-label scores of the rule energy >= h (eq. 8) and how many texts gain or lose each label.

    energies: (N, C) float; human_labels: (N, C) bool; thresholds: (C,).
    Returns {"table": DataFrame(label, threshold, precision, recall, f1, support, predicted, gained, lost),
    "macro", "micro", "std": {precision, recall, f1}, "sample": sample-averaged P/R/F1 (eq. 10-15)}.
    """
    import pandas as pd

    # metrics builds on reaches(); importing it here keeps the import graph one-way (metrics -> thresholds)
    from eqn_core.method.metrics import label_changes, per_label_report, sample_scores

    predicted = reaches(energies, thresholds)
    report = per_label_report(predicted, human_labels, label_names=label_names)
    changes = label_changes(energies, human_labels, thresholds, label_names=label_names)
    table = pd.DataFrame(report["labels"])
    table.insert(1, "threshold", check_thresholds(thresholds, len(label_names), on_scale=False))
    table["gained"] = [changes[name]["gained"] for name in table["label"]]
    table["lost"] = [changes[name]["lost"] for name in table["label"]]
    return {"table": table, "macro": report["macro"], "micro": report["micro"], "std": report["std"],
            "sample": sample_scores(predicted, human_labels)}


def evaluate_energies(
    energies,
    human_labels,
    *,
    label_names: Sequence[str] | None = None,
    thresholds=None,
    global_threshold: float | None = None,
    multi_label: bool = True,
) -> dict:
    """Every applicable metric of one split's energies against its human labels, JSON-ready.

    Keys: "num_samples", "num_labels", "label_names", "multi_label";
    "topk" (sample_topk_scores), "hit_rates" (Table 4), "top_n" (Table 5),
    "per_label_topk" (Table 6 under top-k_i); with global_threshold: "global_threshold",
    "per_label_global", "sample_global" (sample_scores), "label_changes_global"; with per-label
    thresholds (C,): "thresholds", "per_label_tuned", "sample_tuned", "label_changes_tuned";
    when not multi_label: "single_label" (argmax, label_ids = argmax of human_labels over rows
    that have a label); "pearson": {"matrix": (C, C) lists, "order": cluster_order} when N > 0
    and all energies are finite.
    All values are plain Python types (see to_jsonable).
    """
    e, y = energies_and_labels(energies, human_labels)
    names = label_names_or_numbers(label_names, e.shape[1])
    report: dict = {
        "num_samples": int(e.shape[0]),
        "num_labels": int(e.shape[1]),
        "label_names": names,
        "multi_label": bool(multi_label),
        "topk": sample_topk_scores(e, y),
        "hit_rates": hit_rates_by_label_count(e, y),
        "top_n": top_n_hit_rates(e, y),
        "per_label_topk": per_label_report(top_k_predictions(e, y), y, label_names=names),
    }
    for key, h in (("global", global_threshold), ("tuned", thresholds)):
        if h is None:
            continue
        check_thresholds(h, e.shape[1], on_scale=False)  # validates the shape before any work
        predicted = binarize(e, h)
        report["global_threshold" if key == "global" else "thresholds"] = np.asarray(h, dtype=np.float64)
        report[f"per_label_{key}"] = per_label_report(predicted, y, label_names=names)
        report[f"sample_{key}"] = sample_scores(predicted, y)
        report[f"label_changes_{key}"] = label_changes(e, y, h, label_names=names)
    if not multi_label:
        has_label = np.count_nonzero(y, axis=1) > 0
        report["single_label"] = single_label_scores(
            e[has_label], np.argmax(y[has_label], axis=1), label_names=names
        )
    if e.shape[0] and np.isfinite(e).all():
        r = pearson_matrix(e)
        report["pearson"] = {"matrix": r, "order": cluster_order(r)}
    return to_jsonable(report)


def topk_tables(energies: np.ndarray, human_labels: np.ndarray) -> dict:
    """The paper's threshold-free figures of one split, as tables for display.

    Returns {"topk": sample-level top-k P/R/F1 (eq. 9-15), "hit_rates": DataFrame (Table 4),
    "top_n": DataFrame (Table 5, single-label texts)}.
    """
    import pandas as pd

    return {
        "topk": sample_topk_scores(energies, human_labels),
        "hit_rates": pd.DataFrame(hit_rates_by_label_count(energies, human_labels)),
        "top_n": pd.DataFrame(top_n_hit_rates(energies, human_labels)),
    }
