"""Tests of eqn_core.method.thresholds: the one rule energy >= h, its checks, tuning on dev, overrides and reports."""

import time

import numpy as np
import pandas as pd
import pytest

from eqn_core.export.annotations import export_annotations
from eqn_core.io.datasets import LabeledDataset, LabeledSplit
from eqn_core.method.labels import binarize
from eqn_core.method.metrics import decide, per_label_report
from eqn_core.method.reports import evaluate_energies, threshold_report
from eqn_core.method.thresholds import (
    DEFAULT_THRESHOLD,
    THRESHOLD_GRID,
    check_thresholds,
    effective_thresholds,
    overrides_from,
    reaches,
    tune_thresholds,
)
from eqn_core.review.decisions import apply_decisions
from eqn_core.review.suggestions import filter_texts, suggest_micro_emotions
from eqn_core.store.workspace import Workspace

approx = pytest.approx


# --------------------------------------------------------------------------- the rule
def test_reaches_compares_in_float32_on_both_sides():
    energies = np.array([[0.7, 0.6, 3.0]], dtype=np.float32)  # float32 0.7 is 0.69999999
    assert reaches(energies, 0.7).tolist() == [[True, False, True]]
    assert reaches(energies, np.array([0.7, 0.7, 3.0])).tolist() == [[True, False, True]]
    assert reaches(energies.astype(np.float64), 0.7).tolist() == [[True, False, True]]  # same on a float64 copy
    assert reaches(np.array([[np.nan, 10.0]]), 10.0).tolist() == [[False, True]]
    assert DEFAULT_THRESHOLD == 3.0


def test_check_thresholds_is_the_one_validation():
    np.testing.assert_array_equal(check_thresholds(2.5, 3), [2.5, 2.5, 2.5])
    assert check_thresholds([1, 2], 2).dtype == np.float64
    with pytest.raises(ValueError, match="one per label"):
        check_thresholds([1.0, 2.0], 3)
    for bad in (float("inf"), -0.1, 10.5):
        with pytest.raises(ValueError, match="finite and in"):
            check_thresholds(bad, 2)
    assert check_thresholds(11.0, 1, on_scale=False).tolist() == [11.0]  # the rule: h above 10 predicts nothing
    with pytest.raises(ValueError, match="must be numbers"):
        check_thresholds(float("nan"), 2, on_scale=False)
    with pytest.raises(ValueError):
        reaches(np.zeros(3), 1.0)  # energies must be (N, C)


def test_an_energy_on_the_threshold_counts_on_every_path(tmp_path):
    # float32 0.7 with h = 0.7 is a label for the metrics, the Thresholds page, review suggestions,
    # the reviewed energies and the thresholded / binary exports alike
    labels = ["joy", "calm"]
    energies = np.array([[0.7, 0.0], [0.0, 9.0]], dtype=np.float32)  # (N=2, C=2)
    human = np.array([[False, False], [False, True]])
    h = np.array([0.7, 0.7])
    assert decide(energies, rule="threshold", thresholds=h)[0, 0]
    assert evaluate_energies(energies, human, label_names=labels, thresholds=h)["per_label_tuned"]["labels"][0][
        "predicted"] == 1
    assert threshold_report(energies, human, h, labels)["table"]["gained"].tolist() == [1, 0]
    suggestions = suggest_micro_emotions(energies, human, h, label_names=labels)
    assert suggestions[["row_idx", "label", "kind"]].values.tolist() == [[0, "joy", "suggested"]]
    assert filter_texts(energies, human, h, label_id=0, membership="predicted").tolist() == [True, False]
    no_reviews = pd.DataFrame(columns=["row_idx", "label", "decision", "energy"])
    assert apply_decisions(energies, h, no_reviews, labels)[0, 0] == approx(0.7)

    split = LabeledSplit(texts=["a", "b"], human_labels=human, text_ids=["a", "b"])
    dataset = LabeledDataset(name="tiny", label_names=labels, splits={"test": split}, multi_label=True,
                             source="memory")
    with Workspace(tmp_path / "ws") as workspace:
        workspace.add_dataset(dataset)
        workspace.create_run("r1", dataset="tiny", mode="eqn", encoder="e", config={}, run_dir="runs/r1")
        workspace.store_energies("r1", "test", energies)
        for content in ("thresholded", "binary", "reviewed"):
            path = tmp_path / f"{content}.parquet"
            export_annotations(workspace, run_id="r1", split="test", path=path, content=content, thresholds=h)
            exported = pd.read_parquet(path)
            assert exported.loc[0, "joy"] == approx({"binary": 1}.get(content, 0.7)), content
            assert exported.loc[1, "joy"] == 0, content


# --------------------------------------------------------------------------- tuning on dev
def test_tune_thresholds_obvious_case():
    energies = np.array(
        [
            # label 0: positives 9, 8; negatives 2, 3 -> F1 = 1 for any h in (3, 8]; lowest grid value 3.1
            # label 1: no positives -> the top of the grid, 10.0 (predicts (almost) nothing)
            # label 2: positives 5, 1; negatives 6, 0 -> h = 0: 4 predicted, 2 hits, F1 = 4/6;
            #          0 < h <= 1: 3 predicted, 2 hits, F1 = 4/5; 1 < h <= 5: 2 predicted, 1 hit,
            #          F1 = 2/4; above: 0 -> best F1 0.8 on 0.1 .. 1.0, the lowest is 0.1
            # label 3: positive float32 0.7, negatives 0.6, 0.2, 0.1 -> h = 0.7 keeps exactly the positive
            [9.0, 1.0, 5.0, 0.7],
            [8.0, 2.0, 1.0, 0.6],
            [2.0, 3.0, 6.0, 0.2],
            [3.0, 9.0, 0.0, 0.1],
        ],
        dtype=np.float32,
    )
    human = np.array(
        [
            [1, 0, 1, 1],
            [1, 0, 1, 0],
            [0, 0, 0, 0],
            [0, 0, 0, 0],
        ],
        dtype=bool,
    )
    h = tune_thresholds(energies, human)
    assert h.shape == (4,) and h.dtype == np.float64
    np.testing.assert_allclose(h, [3.1, 10.0, 0.1, 0.7])
    # the tuned thresholds reproduce the tuned F1 through binarize (same float32 comparison)
    f1 = [row["f1"] for row in per_label_report(binarize(energies, h), human)["labels"]]
    assert f1 == approx([1.0, 0.0, 0.8, 1.0])
    # a custom grid is sorted and de-duplicated to [1, 5]; label 0:
    # h=1: 4 predicted, 2 hits, F1 4/6; h=5: 2 predicted, 2 hits, F1 1 -> 5
    np.testing.assert_allclose(tune_thresholds(energies, human, grid=[5, 1, 5])[0], 5.0)


def test_tune_thresholds_ties_go_to_lower_threshold():
    energies = np.array([[4.0], [1.0]])
    human = np.array([[True], [False]])
    # F1 = 1 for every h in (1, 4]: grid 1.1 .. 4.0 -> lowest, 1.1
    assert tune_thresholds(energies, human)[0] == approx(1.1)


def test_tune_thresholds_matches_brute_force():
    rng = np.random.default_rng(5)
    human = rng.random((400, 6)) < 0.2
    energies = np.clip(human * 4 + rng.normal(2, 2, (400, 6)), 0, 10).astype(np.float32)
    grid = THRESHOLD_GRID
    f1 = np.array(
        [[row["f1"] for row in per_label_report(energies >= np.float32(g), human)["labels"]] for g in grid]
    )  # (G, C)
    expected = grid[np.argmax(f1, axis=0)]
    np.testing.assert_allclose(tune_thresholds(energies, human), expected)


def test_tune_thresholds_speed():
    rng = np.random.default_rng(6)
    energies = (rng.random((5426, 28)) * 10).astype(np.float32)
    human = rng.random((5426, 28)) < 0.05
    tune_thresholds(energies, human)
    start = time.perf_counter()
    tune_thresholds(energies, human)
    assert time.perf_counter() - start < 0.5



# --------------------------------------------------------------------------- overrides and reports
def test_effective_thresholds_and_overrides_round_trip():
    three = ["joy", "anger", "fear"]
    thresholds = effective_thresholds(3.0, {"anger": 1.5, "fear": float("nan")}, three)
    assert thresholds.tolist() == [3.0, 1.5, 3.0]
    assert overrides_from(thresholds, 3.0, three) == {"anger": 1.5}
    names = ["joy", "anger", "fear", "calm"]
    thresholds = effective_thresholds(3.0, {"anger": 1.5, "fear": float("nan"), "calm": 12.0}, names)
    assert thresholds.tolist() == [3.0, 1.5, 3.0, 10.0]  # blank cells fall back to h; values clipped to [0, 10]
    assert overrides_from(thresholds, 3.0, names) == {"anger": 1.5, "calm": 10.0}
    assert effective_thresholds(2.0, {"joy": pd.NA, "anger": None}, names).tolist() == [2.0] * 4


def test_threshold_report_scores_and_changes():
    energies = np.array([[5.0, 1.0], [2.0, 4.0], [0.5, 0.0]], dtype=np.float32)  # (N=3, C=2)
    human = np.array([[True, False], [True, False], [False, False]])
    report = threshold_report(energies, human, np.array([3.0, 3.0]), ["joy", "anger"])
    table = report["table"]
    # joy: predicted {0}, true {0, 1} -> P 1, R 0.5, lost 1; anger: predicted {1}, true {} -> gained 1
    assert table[["label", "threshold", "predicted", "gained", "lost"]].values.tolist() == [
        ["joy", 3.0, 1, 0, 1], ["anger", 3.0, 1, 1, 0]]
    assert table["recall"].tolist() == approx([0.5, 0.0])
    assert report["macro"]["f1"] == approx((2 / 3 + 0) / 2)
