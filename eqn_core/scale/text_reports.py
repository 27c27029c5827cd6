"""Threshold figures of a run's annotation of a text set, each one DuckDB scan of the energy shards: texts per emotion
at or above h (count and share), each emotion's energy histogram, the co-occurrence of emotions, and the texts whose
set of emotions changes between two thresholds. No labels are needed: these describe what the model sees.

Thresholds h are one number or one per label ((C,)); a label counts where energy >= h with both in float32
(method.thresholds.reaches), as `$h::FLOAT` in SQL.

A finished annotation's energies can also be held in memory ((N, C) float32, 112 MB for a million texts; the app
reads them once per process for Review): the *_of functions then give the same figures from numpy in blocks, which
is what keeps a move of h under a second at a million texts (benchmarks/RESULTS.md, 11).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from eqn_core.method.thresholds import ENERGY_MAX, ENERGY_MIN, check_thresholds
from eqn_core.scale.text_queries import fetch_rows, query_cursor, run_query
from eqn_core.store.database import quote_identifier
from eqn_core.store.text_sets import AnnotationSource, annotation_source

MASK_LABELS = 62  # labels one BIGINT bit mask holds; more labels take several masks
CHUNK = 65_536  # label sets summed at a time (their bits as float64: BLAS, and bounded memory)


def _annotated(workspace, name: str, run_id: str) -> AnnotationSource:
    src = annotation_source(workspace, name, run_id)
    if not src.shards:
        raise ValueError(f"Run {run_id!r} has annotated no text of text set {name!r} yet.")
    return src


def _reaches(label: str, parameter: str) -> str:
    return f"({quote_identifier(label)} >= ${parameter}::FLOAT)"


def _label_sets(src: AnnotationSource, h: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct sets of emotions at thresholds h and how many texts have each, from one GROUP BY over bit masks
    (MASK_LABELS labels a mask): ([masks (M,) int64 per group of labels], counts (M,) int64). M is the number of
    distinct sets: a few thousand on real texts, at most the number of texts."""
    labels = src.label_names
    groups = [range(first, min(first + MASK_LABELS, len(labels))) for first in range(0, len(labels), MASK_LABELS)]
    masks = [" | ".join(f"({_reaches(labels[i], f'h_{i}')}::BIGINT << {i - group.start})" for i in group)
             + f" AS mask_{k}" for k, group in enumerate(groups)]
    params = {"shards": src.shards, **{f"h_{i}": float(v) for i, v in enumerate(h)}}
    with query_cursor() as con:
        found = run_query(con, f"SELECT {', '.join(masks)}, count(*) AS texts FROM read_parquet($shards) "
                               "GROUP BY ALL", params).fetchnumpy()
    return [np.asarray(found[f"mask_{k}"], dtype=np.int64) for k in range(len(groups))], \
        np.asarray(found["texts"], dtype=np.int64)


def emotion_counts(workspace, name: str, run_id: str, thresholds) -> dict:
    """Texts per emotion at or above h and how emotions co-occur, over every annotated text.

    Returns {"rows": N, "label_names": [C], "thresholds": (C,) float64, "counts": (C,) int64 (texts with the
    emotion), "shares": (C,) float64 (counts / N), "cooccurrence": (C, C) int64 (texts with both emotions; the
    diagonal is counts), "labels_per_text": {k: texts with exactly k emotions}}.
    """
    src = _annotated(workspace, name, run_id)
    labels = src.label_names
    h = check_thresholds(thresholds, len(labels))  # (C,)
    masks, counts = _label_sets(src, h)
    cooccurrence = np.zeros((len(labels), len(labels)), dtype=np.float64)  # sums of counts < 2**53: exact
    per_text = np.zeros(len(labels) + 1, dtype=np.int64)
    for first in range(0, len(counts), CHUNK):
        part = slice(first, first + CHUNK)
        bits = np.concatenate([(mask[part, None] >> np.arange(min(MASK_LABELS, len(labels) - k * MASK_LABELS))) & 1
                               for k, mask in enumerate(masks)], axis=1).astype(np.float64)  # (m, C)
        cooccurrence += (bits * counts[part, None].astype(np.float64)).T @ bits
        per_text += np.bincount(bits.sum(axis=1).astype(np.int64), weights=counts[part],
                                minlength=len(labels) + 1).astype(np.int64)
    return _counts_report(int(counts.sum()), labels, h, np.rint(cooccurrence).astype(np.int64), per_text)


def _counts_report(rows: int, labels: list[str], h: np.ndarray, cooccurrence: np.ndarray, per_text: np.ndarray) -> dict:
    """emotion_counts' dict from the co-occurrence counts ((C, C) int64) and texts per number of emotions."""
    return {"rows": rows, "label_names": labels, "thresholds": h, "counts": np.diag(cooccurrence).copy(),
            "shares": np.diag(cooccurrence) / rows if rows else np.zeros(len(h)), "cooccurrence": cooccurrence,
            "labels_per_text": {k: int(n) for k, n in enumerate(per_text) if n}}


def emotion_counts_of(energies: np.ndarray, label_names: list[str], thresholds) -> dict:
    """emotion_counts from the energies in memory ((N, C) float32, row order); the same dict, the same counts."""
    energies = np.asarray(energies)
    labels = list(label_names)
    h = check_thresholds(thresholds, len(labels))  # (C,)
    h32 = h.astype(np.float32)
    cooccurrence = np.zeros((len(labels), len(labels)), dtype=np.int64)
    per_text = np.zeros(len(labels) + 1, dtype=np.int64)
    for first in range(0, len(energies), CHUNK):
        bits = energies[first:first + CHUNK] >= h32  # (m, C), the reaches rule
        block = bits.astype(np.float32)  # sums of at most CHUNK < 2**24 ones: exact in float32
        cooccurrence += np.rint(block.T @ block).astype(np.int64)
        per_text += np.bincount(bits.sum(axis=1), minlength=len(labels) + 1)
    return _counts_report(len(energies), labels, h, cooccurrence, per_text)


def energy_histograms(workspace, name: str, run_id: str, *, bins: int = 10) -> dict:
    """Each emotion's energies in `bins` equal bins over [0, 10], as numpy.histogram counts them (left-closed bins,
    the last one closed; values outside [0, 10] left out). One scan: the label columns unpivoted, each energy's bin
    the number of inner edges at or below it.

    Returns {"label_names": [C], "edges": (bins + 1,) float64, "counts": (C, bins) int64}.
    """
    src = _annotated(workspace, name, run_id)
    if int(bins) < 1:
        raise ValueError(f"bins must be at least 1, got {bins}.")
    edges = np.linspace(ENERGY_MIN, ENERGY_MAX, int(bins) + 1)  # (B + 1,)
    columns = ", ".join(quote_identifier(label) for label in src.label_names)
    bin_sql = " + ".join(f"(energy::DOUBLE >= $e_{b})::INTEGER" for b in range(1, len(edges) - 1)) or "0"
    params = {"shards": src.shards, "low": float(edges[0]), "high": float(edges[-1]),
              **{f"e_{b}": float(edges[b]) for b in range(1, len(edges) - 1)}}
    sql = (f"SELECT label, {bin_sql} AS bin, count(*) FROM (UNPIVOT (SELECT {columns} FROM read_parquet($shards)) "
           f"ON {columns} INTO NAME label VALUE energy) WHERE energy::DOUBLE BETWEEN $low AND $high GROUP BY ALL")
    with query_cursor() as con:
        found = run_query(con, sql, params).fetchall()
    counts = np.zeros((len(src.label_names), len(edges) - 1), dtype=np.int64)  # (C, B)
    position = {label: i for i, label in enumerate(src.label_names)}
    for label, b, n in found:
        counts[position[label], b] = n
    return {"label_names": src.label_names, "edges": edges, "counts": counts}


def energy_histograms_of(energies: np.ndarray, label_names: list[str], *, bins: int = 10) -> dict:
    """energy_histograms from the energies in memory ((N, C), row order); the same dict, the same counts."""
    if int(bins) < 1:
        raise ValueError(f"bins must be at least 1, got {bins}.")
    edges = np.linspace(ENERGY_MIN, ENERGY_MAX, int(bins) + 1)  # (B + 1,)
    energies = np.asarray(energies)
    counts = np.stack([np.histogram(energies[:, j].astype(np.float64), bins=edges)[0]
                       for j in range(energies.shape[1])]).astype(np.int64) if energies.shape[1] else \
        np.zeros((0, len(edges) - 1), dtype=np.int64)
    return {"label_names": list(label_names), "edges": edges, "counts": counts}


def threshold_report(workspace, name: str, run_id: str, thresholds, *, bins: int = 10) -> dict:
    """emotion_counts at thresholds h and energy_histograms in one dict ("edges", "histograms": (C, bins))."""
    report = emotion_counts(workspace, name, run_id, thresholds)
    histograms = energy_histograms(workspace, name, run_id, bins=bins)
    return {**report, "edges": histograms["edges"], "histograms": histograms["counts"]}


def changed_rows_of(energies: np.ndarray, before, after, *, limit: int = 100) -> tuple[np.ndarray, int]:
    """From the energies in memory ((N, C), row order): the first `limit` rows whose set of emotions differs
    between thresholds `before` and `after`, and how many there are in all."""
    energies = np.asarray(energies)
    low = check_thresholds(before, energies.shape[1]).astype(np.float32)  # (C,)
    high = check_thresholds(after, energies.shape[1]).astype(np.float32)
    moved = np.flatnonzero(low != high)  # only these labels can change
    limit = max(int(limit), 0)
    total, rows = 0, []
    for first in range(0, len(energies) if len(moved) else 0, CHUNK):
        part = energies[first:first + CHUNK, moved]
        found = np.flatnonzero(((part >= low[moved]) != (part >= high[moved])).any(axis=1))
        total += len(found)
        if len(rows) < limit:
            rows.extend((found[:limit - len(rows)] + first).tolist())
    return np.asarray(rows, dtype=np.int64), total


def changed_texts(workspace, name: str, run_id: str, before, after, *, limit: int = 100,
                  energies: np.ndarray | None = None) -> tuple[pd.DataFrame, int]:
    """The texts whose set of emotions differs between thresholds `before` and `after` (each one number or (C,)):
    the first `limit` in row order, and how many there are in all. energies: the finished annotation's (N, C) in
    memory (changed_rows_of finds the rows), else one DuckDB scan of the shards.

    Returns (DataFrame: the page columns of text_queries.text_page plus labels_before, labels_after, added,
    removed (lists of label names), total).
    """
    src = _annotated(workspace, name, run_id)
    labels = src.label_names
    low = check_thresholds(before, len(labels))  # (C,)
    high = check_thresholds(after, len(labels))  # (C,)
    with query_cursor() as con:
        if energies is not None:
            rows, total = changed_rows_of(energies, low, high, limit=limit)
        else:
            differs = " OR ".join(f"{_reaches(label, f'a_{i}')} <> {_reaches(label, f'b_{i}')}"
                                  for i, label in enumerate(labels) if low[i] != high[i]) or "false"
            params = {"shards": src.shards, "limit": int(max(limit, 0)),
                      **{f"a_{i}": float(v) for i, v in enumerate(low)},
                      **{f"b_{i}": float(v) for i, v in enumerate(high)}}
            keys = run_query(con, f"SELECT row_idx, count(*) OVER () FROM read_parquet($shards) WHERE {differs} "
                             "ORDER BY row_idx LIMIT $limit", params).fetchall()
            total = int(keys[0][1]) if keys else int(run_query(
                con, f"SELECT count(*) FROM read_parquet($shards) WHERE {differs}", params).fetchall()[0][0])
            rows = [int(key[0]) for key in keys]
        frame = fetch_rows(src, [int(row) for row in rows], con=con)
    energies = frame[labels].to_numpy(dtype=np.float32) if len(frame) else np.zeros((0, len(labels)), np.float32)
    at_low = energies >= low.astype(np.float32)  # (n, C), the reaches rule
    at_high = energies >= high.astype(np.float32)
    names = np.asarray(labels, dtype=object)
    frame["labels_before"] = [list(names[row]) for row in at_low]
    frame["labels_after"] = [list(names[row]) for row in at_high]
    frame["added"] = [list(names[row]) for row in at_high & ~at_low]
    frame["removed"] = [list(names[row]) for row in at_low & ~at_high]
    return frame, total
