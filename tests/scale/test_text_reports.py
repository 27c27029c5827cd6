"""Threshold figures of an annotation (eqn_core.scale.text_reports) against numpy on the same energies: texts per
emotion, shares, co-occurrence, labels per text, histograms, and the texts whose emotions change."""
from __future__ import annotations

import numpy as np
import pytest

from eqn_core.method.thresholds import reaches
from eqn_core.scale import text_reports
from eqn_core.scale.text_reports import changed_texts, emotion_counts, energy_histograms, threshold_report
from eqn_core.store.text_sets import add_text_set
from text_set_support import LABELS, write_annotation

N = 200


@pytest.fixture
def annotated(workspace, tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "t.txt").write_text("".join(f"text {i}\n" for i in range(N)), encoding="utf-8")
    add_text_set(workspace, "set", [tmp_path / "t.txt"])
    energies = rng.uniform(0, 10, (N, 4)).astype(np.float32)
    energies[rng.random((N, 4)) < 0.3] = 0.0
    edges = np.array([0.0, 0.3, 2.0, 3.0, 3.0001, 2.9999, 9.9999, 10.0, 7.0, 1.0], np.float32)
    energies[:len(edges), 0] = edges  # on and next to thresholds and bin edges
    energies[:len(edges), 1] = edges[::-1]
    write_annotation(workspace, "set", "r", energies, shard_rows=16)
    return workspace, energies


@pytest.mark.parametrize("thresholds", [3.0, [0.3, 3.0, 9.9999, 10.0], 0.0])
def test_counts_shares_and_cooccurrence_match_numpy(annotated, thresholds):
    workspace, energies = annotated
    report = emotion_counts(workspace, "set", "r", thresholds)
    at = reaches(energies, thresholds)  # (N, C) bool: the one rule
    assert report["rows"] == N and report["label_names"] == LABELS
    np.testing.assert_array_equal(report["counts"], at.sum(axis=0))
    np.testing.assert_allclose(report["shares"], at.mean(axis=0))
    np.testing.assert_array_equal(report["cooccurrence"], at.T.astype(np.int64) @ at.astype(np.int64))
    ks, ns = np.unique(at.sum(axis=1), return_counts=True)
    assert report["labels_per_text"] == dict(zip(ks.tolist(), ns.tolist()))
    assert report["cooccurrence"].dtype == np.int64 and report["cooccurrence"].shape == (4, 4)


def test_many_labels_take_several_masks_and_sets_are_summed_in_chunks(annotated, monkeypatch):
    workspace, energies = annotated
    monkeypatch.setattr(text_reports, "MASK_LABELS", 3)  # 4 labels in two masks: sets of more than 62 labels
    monkeypatch.setattr(text_reports, "CHUNK", 5)
    report = emotion_counts(workspace, "set", "r", 3.0)
    at = reaches(energies, 3.0)
    np.testing.assert_array_equal(report["cooccurrence"], at.T.astype(np.int64) @ at.astype(np.int64))
    ks, ns = np.unique(at.sum(axis=1), return_counts=True)
    assert report["labels_per_text"] == dict(zip(ks.tolist(), ns.tolist()))


@pytest.mark.parametrize("bins", [10, 7, 1])
def test_histograms_match_numpy(annotated, bins):
    workspace, energies = annotated
    result = energy_histograms(workspace, "set", "r", bins=bins)
    np.testing.assert_array_equal(result["edges"], np.linspace(0, 10, bins + 1))
    for i in range(len(LABELS)):
        counts, _ = np.histogram(energies[:, i], bins=result["edges"])
        np.testing.assert_array_equal(result["counts"][i], counts)
    assert result["counts"].sum() == N * len(LABELS)


def test_threshold_report_holds_both(annotated):
    workspace, energies = annotated
    report = threshold_report(workspace, "set", "r", 3.0, bins=5)
    assert report["histograms"].shape == (4, 5) and report["edges"].tolist() == [0, 2, 4, 6, 8, 10]
    np.testing.assert_array_equal(report["counts"], reaches(energies, 3.0).sum(axis=0))


def test_texts_whose_emotions_change_between_two_thresholds(annotated):
    workspace, energies = annotated
    before, after = 2.0, np.array([3.0, 3.0, 2.0, 5.0])
    frame, total = changed_texts(workspace, "set", "r", before, after, limit=15)
    at_before, at_after = reaches(energies, before), reaches(energies, after)
    changed = np.flatnonzero((at_before != at_after).any(axis=1))
    assert total == len(changed) and frame["row_idx"].tolist() == changed[:15].tolist()
    for _, row in frame.iterrows():
        i = row["row_idx"]
        assert row["labels_before"] == [LABELS[c] for c in np.flatnonzero(at_before[i])]
        assert row["labels_after"] == [LABELS[c] for c in np.flatnonzero(at_after[i])]
        assert row["removed"] == [LABELS[c] for c in np.flatnonzero(at_before[i] & ~at_after[i])]
        assert row["added"] == []
        assert row["text"] == f"text {i}"
    assert changed_texts(workspace, "set", "r", 3.0, 3.0)[1] == 0
    assert changed_texts(workspace, "set", "r", 1.0, 8.0, limit=0)[1] > 0


@pytest.mark.parametrize("thresholds", [3.0, [0.3, 3.0, 9.9999, 10.0], 0.0])
def test_counts_from_energies_in_memory_equal_the_duckdb_scan(annotated, thresholds, monkeypatch):
    workspace, energies = annotated
    monkeypatch.setattr(text_reports, "CHUNK", 7)  # blocks that do not divide N
    ours = text_reports.emotion_counts_of(energies, LABELS, thresholds)
    theirs = emotion_counts(workspace, "set", "r", thresholds)
    assert ours.keys() == theirs.keys() and ours["labels_per_text"] == theirs["labels_per_text"]
    for key in ("counts", "shares", "cooccurrence", "thresholds"):
        np.testing.assert_array_equal(ours[key], theirs[key])
    assert ours["cooccurrence"].dtype == np.int64


@pytest.mark.parametrize("limit", [0, 3, 15, 500])
def test_changed_texts_from_energies_in_memory_equal_the_duckdb_scan(annotated, limit, monkeypatch):
    workspace, energies = annotated
    monkeypatch.setattr(text_reports, "CHUNK", 7)
    before, after = 2.0, np.array([3.0, 3.0, 2.0, 5.0])
    ours, ours_total = changed_texts(workspace, "set", "r", before, after, limit=limit, energies=energies)
    theirs, theirs_total = changed_texts(workspace, "set", "r", before, after, limit=limit)
    assert ours_total == theirs_total > 0
    assert ours.equals(theirs)
    rows, total = text_reports.changed_rows_of(energies, 3.0, 3.0)  # nothing moved: nothing scanned
    assert total == 0 and rows.tolist() == []


@pytest.mark.parametrize("bins", [10, 7, 1])
def test_histograms_from_energies_in_memory_equal_the_duckdb_scan(annotated, bins):
    workspace, energies = annotated
    ours = text_reports.energy_histograms_of(energies, LABELS, bins=bins)
    theirs = energy_histograms(workspace, "set", "r", bins=bins)
    assert ours["label_names"] == theirs["label_names"]
    np.testing.assert_array_equal(ours["edges"], theirs["edges"])
    np.testing.assert_array_equal(ours["counts"], theirs["counts"])
