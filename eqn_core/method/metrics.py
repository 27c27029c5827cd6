"""The EQN paper's metrics over (N, C) energies: top-k sample scores, hit rates, per-label P/R/F1, Pearson."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from eqn_core.method.labels import as_energies, as_human_labels, binarize, check_same_shape, top_k_mask

__all__ = [
    "RULES", "to_jsonable", "top_k_predictions", "sample_scores", "sample_topk_scores", "hit_rates_by_label_count",
    "top_n_hit_rates", "per_label_report", "report_from_counts", "decide", "label_changes", "single_label_scores",
    "pearson_matrix", "cluster_order", "intensity_correlations"
]

RULES = ("top_k", "threshold", "argmax")
"""Decision rules understood by decide()."""


# --------------------------------------------------------------------------- helpers


def to_jsonable(obj):
    """Copy of `obj` made of plain Python types for json.dumps.

    numpy scalars -> int/float/bool, arrays -> (nested) lists, tuples -> lists, dict keys -> str;
    NaN and +-inf floats -> None (strict JSON has no such numbers).
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def label_names_or_numbers(label_names: Sequence[str] | None, num_labels: int) -> list[str]:
    if label_names is None:
        return [str(j) for j in range(num_labels)]
    names = [str(n) for n in label_names]
    if len(names) != num_labels:
        raise ValueError(f"{len(names)} label_names for {num_labels} labels")
    return names


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0.0 where den == 0 (zero division)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def energies_and_labels(energies, human_labels) -> tuple[np.ndarray, np.ndarray]:
    e = as_energies(energies)
    y = as_human_labels(human_labels)
    check_same_shape(e, y)
    return e, y


def _prf(tp, num_pred, num_true) -> dict:
    """precision, recall, f1 from counts (Python floats, zero division -> 0.0)."""
    precision = float(_ratio(tp, num_pred))
    recall = float(_ratio(tp, num_true))
    f1 = float(_ratio(2 * tp, num_pred + num_true))
    return {"precision": precision, "recall": recall, "f1": f1}


# --------------------------------------------------------------------------- sample-level top-k (eq. 9-15)


def top_k_predictions(energies, human_labels) -> np.ndarray:
    """Eq. 9: each sample predicts its k_i highest-energy labels, k_i = its number of true labels.

    Rows without true labels predict nothing; ties go to the lower label id.
    energies: (N, C) float; human_labels: (N, C) bool.  Returns (N, C) bool.
    """
    e, y = energies_and_labels(energies, human_labels)
    return top_k_mask(e, np.count_nonzero(y, axis=1))


def sample_scores(predicted, human_labels) -> dict:
    """Sample-averaged precision, recall, F1 (eq. 10-15) of any (N, C) bool prediction.

    precision_i = |T_i & P_i| / |P_i| (0.0 when nothing is predicted), recall_i = |T_i & P_i| / |T_i|,
    F1_i = their harmonic mean (0.0 when there is no hit).  Rows with no true label are skipped.
    Returns {"precision", "recall", "f1", "num_samples"} (num_samples = rows averaged over).
    """
    p = as_human_labels(predicted)
    y = as_human_labels(human_labels)
    check_same_shape(p, y)
    num_true = np.count_nonzero(y, axis=1)
    keep = num_true > 0
    num_true = num_true[keep]
    num_pred = np.count_nonzero(p[keep], axis=1)
    hits = np.count_nonzero(p[keep] & y[keep], axis=1)
    m = int(keep.sum())
    if m == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "num_samples": 0}
    precision = _ratio(hits, num_pred)
    recall = hits / num_true
    f1 = _ratio(2 * hits, num_pred + num_true)  # = 2PR / (P + R), 0 when hits == 0
    return {
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "num_samples": m,
    }


def sample_topk_scores(energies, human_labels) -> dict:
    """The paper's multi-label score (eq. 9-15): sample_scores of top_k_predictions.

    Under top-k_i, |P_i| = |T_i|, so precision, recall and F1 coincide for each sample.
    Returns {"precision", "recall", "f1", "num_samples"}; rows with no true label are skipped.
    """
    return sample_scores(top_k_predictions(energies, human_labels), human_labels)


def hit_rates_by_label_count(energies, human_labels, *, max_count: int = 4) -> list[dict]:
    """Table 4: top-k_i hits grouped by how many labels people gave.

    One row per label count 1 .. max_count-1, one row "<max_count>+" for max_count or more
    labels, then a "total" row (rows without labels appear nowhere).  Every row is present even
    when empty.  Row: {"label_count": "1" | ... | "4+" | "total", "num_texts", "num_labels",
    "hits" (= sum |T_i & top-k_i|), "hit_rate" (= hits / num_labels, 0.0 when empty)}.
    """
    if max_count < 1:
        raise ValueError("max_count must be >= 1")
    e, y = energies_and_labels(energies, human_labels)
    k = np.count_nonzero(y, axis=1)
    hits = np.count_nonzero(top_k_mask(e, k) & y, axis=1)
    groups = [(str(c), k == c) for c in range(1, max_count)]
    groups.append((f"{max_count}+", k >= max_count))
    groups.append(("total", k >= 1))
    rows = []
    for name, sel in groups:
        num_labels = int(k[sel].sum())
        num_hits = int(hits[sel].sum())
        rows.append(
            {
                "label_count": name,
                "num_texts": int(sel.sum()),
                "num_labels": num_labels,
                "hits": num_hits,
                "hit_rate": float(_ratio(num_hits, num_labels)),
            }
        )
    return rows


def top_n_hit_rates(energies, human_labels, *, n_max: int = 3) -> list[dict]:
    """Table 5: on single-label samples, the share whose label is among the top n energies.

    Rows n = 1 .. n_max: {"n", "num_texts" (single-label samples), "hits" (cumulative),
    "added_hits" (hits(n) - hits(n-1)), "hit_rate" (hits / num_texts, 0.0 when none)}.
    Ties go to the lower label id.
    """
    if n_max < 1:
        raise ValueError("n_max must be >= 1")
    e, y = energies_and_labels(energies, human_labels)
    single = np.count_nonzero(y, axis=1) == 1
    e1, y1 = e[single], y[single]
    num_texts = int(single.sum())
    rows, previous = [], 0
    for n in range(1, n_max + 1):
        hits = int(np.count_nonzero(top_k_mask(e1, n) & y1))
        rows.append(
            {
                "n": n,
                "num_texts": num_texts,
                "hits": hits,
                "added_hits": hits - previous,
                "hit_rate": float(_ratio(hits, num_texts)),
            }
        )
        previous = hits
    return rows


# --------------------------------------------------------------------------- per-label scores (Table 6)


def per_label_report(predicted, human_labels, *, label_names: Sequence[str] | None = None) -> dict:
    """Per-label precision, recall, F1 of an (N, C) bool prediction against (N, C) bool human labels.

    Returns {"labels": [{"label", "precision", "recall", "f1", "support", "predicted"}] (C rows,
    label-id order), "macro": {precision, recall, f1} (unweighted mean over all C labels, labels
    without support included, as in Table 6 and sklearn), "micro": {precision, recall, f1} (pooled
    counts), "std": {precision, recall, f1} (population std over the C labels)}.
    Zero division gives 0.0.  label_names default to "0", "1", ...
    """
    p = as_human_labels(predicted)
    y = as_human_labels(human_labels)
    check_same_shape(p, y)
    names = label_names_or_numbers(label_names, y.shape[1])
    tp = np.count_nonzero(p & y, axis=0)  # (C,)
    num_pred = np.count_nonzero(p, axis=0)  # (C,)
    support = np.count_nonzero(y, axis=0)  # (C,)
    return report_from_counts(tp, num_pred, support, label_names=names)


def report_from_counts(tp, predicted, support, *, label_names: Sequence[str]) -> dict:
    """per_label_report's figures from (C,) counts per label: true positives, predicted, support (human labels).

    For counts that come from elsewhere than two (N, C) arrays, such as one SQL scan of a corpus (eqn_core.scale.corpus).
    """
    tp, predicted, support = (np.asarray(counts, dtype=np.int64) for counts in (tp, predicted, support))
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, predicted + support)
    labels = [
        {
            "label": name,
            "precision": pr,
            "recall": rc,
            "f1": f,
            "support": s,
            "predicted": n,
        }
        for name, pr, rc, f, s, n in zip(
            label_names, precision.tolist(), recall.tolist(), f1.tolist(), support.tolist(), predicted.tolist()
        )
    ]
    empty = len(label_names) == 0

    def _stat(fn, arr):
        return 0.0 if empty else float(fn(arr))

    return {
        "labels": labels,
        "macro": {
            "precision": _stat(np.mean, precision),
            "recall": _stat(np.mean, recall),
            "f1": _stat(np.mean, f1),
        },
        "micro": _prf(int(tp.sum()), int(predicted.sum()), int(support.sum())),
        "std": {
            "precision": _stat(np.std, precision),
            "recall": _stat(np.std, recall),
            "f1": _stat(np.std, f1),
        },
    }


def decide(energies, *, rule: str, human_labels=None, thresholds=None) -> np.ndarray:
    """Labels predicted from energies by a decision rule.  Returns (N, C) bool.

    rule="top_k": the k_i highest energies, k_i = true label count (needs human_labels, eq. 9);
    rule="threshold": energy >= h (needs thresholds: scalar or (C,), eq. 8);
    rule="argmax": the single highest energy of each row (single-label data; ties -> lower id).
    """
    if rule == "top_k":
        if human_labels is None:
            raise ValueError('rule="top_k" needs human_labels')
        return top_k_predictions(energies, human_labels)
    if rule == "threshold":
        if thresholds is None:
            raise ValueError('rule="threshold" needs thresholds')
        return binarize(energies, thresholds)
    if rule == "argmax":
        return top_k_mask(energies, 1)
    raise ValueError(f"unknown rule {rule!r}; expected one of {RULES}")


def label_changes(energies, human_labels, thresholds, *, label_names: Sequence[str] | None = None) -> dict:
    """Per label, how many texts a threshold rule changes against the human labels.

    {"<label>": {"gained": #(energy >= h and not human), "lost": #(energy < h and human)}},
    in label-id order; label_names default to "0", "1", ...
    """
    e, y = energies_and_labels(energies, human_labels)
    p = binarize(e, thresholds)
    gained = np.count_nonzero(p & ~y, axis=0).tolist()
    lost = np.count_nonzero(~p & y, axis=0).tolist()
    names = label_names_or_numbers(label_names, e.shape[1])
    return {name: {"gained": g, "lost": lo} for name, g, lo in zip(names, gained, lost)}


def single_label_scores(energies, label_ids, *, label_names: Sequence[str] | None = None) -> dict:
    """Single-label scores by argmax (Table 3): the highest energy is the prediction (ties -> lower id).

    energies: (N, C) float; label_ids: (N,) ints in [0, C).
    Returns {"accuracy", "macro_precision", "macro_recall", "macro_f1", "num_samples",
    "per_label": per_label_report(...) of the one-hot prediction}.
    """
    e = as_energies(energies)
    ids = np.asarray(label_ids).reshape(-1)
    n, c = e.shape
    if ids.shape[0] != n:
        raise ValueError(f"{ids.shape[0]} label_ids for {n} energy rows")
    if ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= c):
        raise ValueError(f"label_ids must be integers in [0, {c})")
    predicted = top_k_mask(e, 1)
    truth = np.zeros((n, c), dtype=bool)
    truth[np.arange(n), ids] = True
    report = per_label_report(predicted, truth, label_names=label_names)
    correct = int(np.count_nonzero(predicted & truth))
    return {
        "accuracy": float(_ratio(correct, n)),
        "macro_precision": report["macro"]["precision"],
        "macro_recall": report["macro"]["recall"],
        "macro_f1": report["macro"]["f1"],
        "num_samples": n,
        "per_label": report,
    }


# --------------------------------------------------------------------------- correlations (Figures 8-9)


def mean_off_diagonal(matrix: np.ndarray) -> float:
    """Mean of a (C, C) matrix without its diagonal: how strongly the emotions move together on average."""
    matrix = np.asarray(matrix)
    return float(matrix[~np.eye(len(matrix), dtype=bool)].mean()) if len(matrix) > 1 else float("nan")


def pearson_matrix(energies) -> np.ndarray:
    """Pearson correlation between the energy columns over the samples.

    Constant columns (or fewer than 2 samples) correlate 0.0 with every other column; the
    diagonal is 1.0; no NaN.  energies: (N, C) finite float.  Returns (C, C) float64.
    """
    e = as_energies(energies).astype(np.float64)
    if not np.isfinite(e).all():
        raise ValueError("energies must be finite for pearson_matrix")
    c = e.shape[1]
    r = np.zeros((c, c), dtype=np.float64)
    if e.shape[0] >= 2 and c:
        varying = e.max(axis=0) > e.min(axis=0)
        x = e[:, varying] - e[:, varying].mean(axis=0)
        norm = np.sqrt(np.einsum("ij,ij->j", x, x))
        sub = (x.T @ x) / np.outer(norm, norm)
        idx = np.flatnonzero(varying)
        r[np.ix_(idx, idx)] = np.clip(sub, -1.0, 1.0)
    np.fill_diagonal(r, 1.0)
    return r


def cluster_order(matrix) -> list[int]:
    """Label order for a heatmap: leaves of scipy average-linkage clustering on distance 1 - r.

    matrix: (C, C) correlation matrix (NaN read as 0).  Returns a permutation of range(C)
    (optimal leaf ordering, deterministic).
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    m = np.nan_to_num(np.asarray(matrix, dtype=np.float64))
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square (C, C), got shape {m.shape}")
    c = m.shape[0]
    if c <= 2:
        return list(range(c))
    d = 1.0 - (m + m.T) / 2.0
    np.fill_diagonal(d, 0.0)
    d = np.clip(d, 0.0, 2.0)
    z = linkage(squareform(d, checks=False), method="average", optimal_ordering=True)
    return [int(i) for i in leaves_list(z)]


# --------------------------------------------------------------------------- the whole report


def intensity_correlations(scores, ratings, *, resamples: int = 1000, seed: int = 0) -> dict:
    """How well a score orders rated intensity: Spearman and Pearson of scores (N,) against ratings (N,), each
    with a 95% percentile bootstrap interval over texts (resamples, seeded), since rated sets are small (74-110
    tweets per emotion in EmoInt). Returns {"n", "spearman", "spearman_ci": (low, high), "pearson", "pearson_ci"}.
    """
    from scipy import stats

    x, y = np.asarray(scores, dtype=np.float64), np.asarray(ratings, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise ValueError(f"scores {x.shape} and ratings {y.shape} must be two (N,) arrays with N >= 3")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, x.size, size=(resamples, x.size))  # (R, N)
    spearman = np.array([stats.spearmanr(x[p], y[p]).statistic for p in picks])
    pearson = np.array([stats.pearsonr(x[p], y[p]).statistic if np.ptp(x[p]) and np.ptp(y[p]) else np.nan
                        for p in picks])
    return {"n": int(x.size), "spearman": float(stats.spearmanr(x, y).statistic),
            "spearman_ci": _percentile_interval(spearman), "pearson": float(stats.pearsonr(x, y).statistic),
            "pearson_ci": _percentile_interval(pearson)}


def _percentile_interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)
