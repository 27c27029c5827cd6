"""Tests of eqn_core.method.metrics against small hand-computed cases (arithmetic in the comments)."""

import json
import time

import numpy as np
import pytest

from eqn_core.method.labels import binarize, labels_from_ids, top_k_mask
from eqn_core.method.metrics import (
    RULES,
    cluster_order,
    decide,
    hit_rates_by_label_count,
    label_changes,
    pearson_matrix,
    per_label_report,
    sample_scores,
    sample_topk_scores,
    single_label_scores,
    to_jsonable,
    top_k_predictions,
    top_n_hit_rates,
)
from eqn_core.method.reports import evaluate_energies

approx = pytest.approx

# Six samples, four labels.  k = number of true labels; top-k_i picks (ties -> lower id):
#   r0 [9, 1, 5, 5]  true {0, 2}        k=2: 9 (0), then 5 vs 5 -> id 2   pred {0, 2}   hits 2
#   r1 [4, 8, 3, 0]  true {2}           k=1: 8 (1)                         pred {1}      hits 0
#   r2 [1, 1, 1, 1]  true {1, 3}        k=2: all tied -> ids 0, 1          pred {0, 1}   hits 1
#   r3 [0, 0, 4, 6]  true {}            k=0                                pred {}       (skipped)
#   r4 [7, 6, 5, 4]  true {0, 1, 2, 3}  k=4: everything                    pred all      hits 4
#   r5 [5, 5, 0, 0]  true {1}           k=1: 5 vs 5 -> id 0                pred {0}      hits 0
E = np.array(
    [
        [9, 1, 5, 5],
        [4, 8, 3, 0],
        [1, 1, 1, 1],
        [0, 0, 4, 6],
        [7, 6, 5, 4],
        [5, 5, 0, 0],
    ],
    dtype=np.float32,
)
Y = labels_from_ids([[0, 2], [2], [1, 3], [], [0, 1, 2, 3], [1]], 4)
TOPK_PRED = labels_from_ids([[0, 2], [1], [0, 1], [], [0, 1, 2, 3], [0]], 4)
NAMES = ["joy", "anger", "fear", "love"]


def _walk(obj):
    """Every leaf of a nested dict/list."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)
    else:
        yield obj


# --------------------------------------------------------------------------- top-k (eq. 9-15)


def test_top_k_predictions():
    np.testing.assert_array_equal(top_k_predictions(E, Y), TOPK_PRED)
    assert top_k_predictions(E, Y).dtype == bool


def test_sample_topk_scores():
    # per-sample P = R = F1 = hits / k: r0 2/2 = 1, r1 0/1 = 0, r2 1/2 = 0.5, r4 4/4 = 1, r5 0/1 = 0;
    # r3 has no label and is skipped -> mean over 5 samples = 2.5 / 5 = 0.5
    scores = sample_topk_scores(E, Y)
    assert scores == {"precision": approx(0.5), "recall": approx(0.5), "f1": approx(0.5), "num_samples": 5}
    assert isinstance(scores["f1"], float) and isinstance(scores["num_samples"], int)


def test_sample_scores_threshold_rule_and_zero_division():
    pred = binarize(E, 5.0)
    # energy >= 5:  r0 {0, 2, 3}  r1 {1}  r2 {}  r3 {3}  r4 {0, 1, 2}  r5 {0, 1}
    np.testing.assert_array_equal(pred, labels_from_ids([[0, 2, 3], [1], [], [3], [0, 1, 2], [0, 1]], 4))
    # r0: hits 2, P 2/3, R 2/2, F1 2*2/(3+2) = 0.8
    # r1: hits 0 -> 0, 0, 0
    # r2: nothing predicted -> P 0 (zero division), R 0/2, F1 0
    # r4: hits 3, P 3/3, R 3/4, F1 2*3/(3+4) = 6/7
    # r5: hits 1, P 1/2, R 1/1, F1 2*1/(2+1) = 2/3
    # r3: no true label -> skipped
    scores = sample_scores(pred, Y)
    assert scores["num_samples"] == 5
    assert scores["precision"] == approx((2 / 3 + 0 + 0 + 1 + 0.5) / 5)
    assert scores["recall"] == approx((1 + 0 + 0 + 0.75 + 1) / 5)
    assert scores["f1"] == approx((0.8 + 0 + 0 + 6 / 7 + 2 / 3) / 5)


def test_sample_scores_without_any_labelled_row():
    empty = np.zeros((3, 4), dtype=bool)
    assert sample_topk_scores(E[:3], empty) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "num_samples": 0}
    assert sample_scores(np.ones((3, 4), dtype=bool), empty)["num_samples"] == 0


# --------------------------------------------------------------------------- Table 4


def test_hit_rates_by_label_count():
    rows = hit_rates_by_label_count(E, Y)
    assert [r["label_count"] for r in rows] == ["1", "2", "3", "4+", "total"]
    # 1 label: r1 (0 hits), r5 (0 hits)           -> 2 texts, 2 labels, 0 hits, 0/2
    # 2 labels: r0 (2 hits), r2 (1 hit)            -> 2 texts, 4 labels, 3 hits, 3/4
    # 3 labels: none                               -> 0, 0, 0, 0.0 (zero division)
    # 4+ labels: r4 (4 hits)                       -> 1 text, 4 labels, 4 hits, 1.0
    # total (r3 without labels left out)           -> 5 texts, 10 labels, 7 hits, 0.7
    expected = [
        ("1", 2, 2, 0, 0.0),
        ("2", 2, 4, 3, 0.75),
        ("3", 0, 0, 0, 0.0),
        ("4+", 1, 4, 4, 1.0),
        ("total", 5, 10, 7, 0.7),
    ]
    for row, (name, texts, labels, hits, rate) in zip(rows, expected):
        assert row == {
            "label_count": name,
            "num_texts": texts,
            "num_labels": labels,
            "hits": hits,
            "hit_rate": approx(rate),
        }


def test_hit_rates_group_counts_above_max_count():
    energies = np.array(
        [
            [9, 8, 7, 6, 0, 5],  # true {0,1,2,3,4} (5 labels): top-5 = {0,1,2,3,5} -> 4 hits
            [1, 2, 3, 4, 5, 6],  # true {0,1,2,3} (4 labels): top-4 = {2,3,4,5} -> 2 hits
            [0, 0, 0, 0, 0, 1],  # true {5} (1 label): top-1 = {5} -> 1 hit
        ],
        dtype=float,
    )
    human = labels_from_ids([[0, 1, 2, 3, 4], [0, 1, 2, 3], [5]], 6)
    rows = {r["label_count"]: r for r in hit_rates_by_label_count(energies, human)}
    # "4+" holds the 5-label and the 4-label text: 2 texts, 5 + 4 = 9 labels, 4 + 2 = 6 hits, 6/9
    assert rows["4+"] == {"label_count": "4+", "num_texts": 2, "num_labels": 9, "hits": 6, "hit_rate": approx(6 / 9)}
    assert rows["1"]["hits"] == 1 and rows["1"]["hit_rate"] == 1.0
    assert rows["total"] == {"label_count": "total", "num_texts": 3, "num_labels": 10, "hits": 7, "hit_rate": approx(0.7)}
    # max_count=2: counts 2.. grouped into "2+": 2 texts, 9 labels, 6 hits
    rows2 = hit_rates_by_label_count(energies, human, max_count=2)
    assert [r["label_count"] for r in rows2] == ["1", "2+", "total"]
    assert rows2[1]["num_labels"] == 9 and rows2[1]["hits"] == 6
    with pytest.raises(ValueError):
        hit_rates_by_label_count(energies, human, max_count=0)


def test_hit_rates_goemotions_test_counts():
    # the GoEmotions test split's label counts (paper Table 4): 4,590 / 774 / 61 / 2 texts;
    # with perfect energies (10 where labelled) every label is a hit.
    ids = [[0]] * 4590 + [[0, 1]] * 774 + [[0, 1, 2]] * 61 + [[0, 1, 2, 3]] * 2
    human = labels_from_ids(ids, 28)
    rows = hit_rates_by_label_count(human * 10.0, human)
    assert [(r["num_texts"], r["num_labels"], r["hits"]) for r in rows] == [
        (4590, 4590, 4590),
        (774, 1548, 1548),
        (61, 183, 183),
        (2, 8, 8),
        (5427, 6329, 6329),
    ]
    assert all(r["hit_rate"] == 1.0 for r in rows)


# --------------------------------------------------------------------------- Table 5


def test_top_n_hit_rates():
    # single-label samples: r1 true 2, energies [4, 8, 3, 0] -> rank of label 2 is 3rd (after 1, 0)
    #                       r5 true 1, energies [5, 5, 0, 0] -> 2nd (tie with id 0, which goes first)
    # n=1: 0 hits; n=2: r5 -> 1 hit (+1), 1/2; n=3: r1 too -> 2 hits (+1), 2/2
    rows = top_n_hit_rates(E, Y)
    assert rows == [
        {"n": 1, "num_texts": 2, "hits": 0, "added_hits": 0, "hit_rate": 0.0},
        {"n": 2, "num_texts": 2, "hits": 1, "added_hits": 1, "hit_rate": 0.5},
        {"n": 3, "num_texts": 2, "hits": 2, "added_hits": 1, "hit_rate": 1.0},
    ]
    assert len(top_n_hit_rates(E, Y, n_max=5)) == 5


def test_top_n_hit_rates_without_single_label_samples():
    human = labels_from_ids([[0, 1], []], 4)
    rows = top_n_hit_rates(E[:2], human, n_max=2)
    assert rows == [
        {"n": 1, "num_texts": 0, "hits": 0, "added_hits": 0, "hit_rate": 0.0},
        {"n": 2, "num_texts": 0, "hits": 0, "added_hits": 0, "hit_rate": 0.0},
    ]


# --------------------------------------------------------------------------- Table 6


def test_per_label_report_topk():
    report = per_label_report(TOPK_PRED, Y, label_names=NAMES)
    # label 0 (joy):   predicted r0 r2 r4 r5 = 4, true r0 r4 = 2, tp r0 r4 = 2 -> P 2/4, R 2/2, F1 2*2/(4+2)
    # label 1 (anger): predicted r1 r2 r4 = 3,    true r2 r4 r5 = 3, tp r2 r4 = 2 -> P 2/3, R 2/3, F1 4/6
    # label 2 (fear):  predicted r0 r4 = 2,       true r0 r1 r4 = 3, tp r0 r4 = 2 -> P 1, R 2/3, F1 4/5
    # label 3 (love):  predicted r4 = 1,          true r2 r4 = 2,    tp r4 = 1    -> P 1, R 1/2, F1 2/3
    p = [0.5, 2 / 3, 1.0, 1.0]
    r = [1.0, 2 / 3, 2 / 3, 0.5]
    f = [4 / 6, 4 / 6, 0.8, 2 / 3]
    assert [row["label"] for row in report["labels"]] == NAMES
    assert [row["precision"] for row in report["labels"]] == approx(p)
    assert [row["recall"] for row in report["labels"]] == approx(r)
    assert [row["f1"] for row in report["labels"]] == approx(f)
    assert [row["support"] for row in report["labels"]] == [2, 3, 3, 2]
    assert [row["predicted"] for row in report["labels"]] == [4, 3, 2, 1]
    # macro: plain means over the 4 labels: P 3.1667/4, R 2.8333/4, F1 2.8/4 = 0.7
    assert report["macro"] == {"precision": approx(sum(p) / 4), "recall": approx(sum(r) / 4), "f1": approx(0.7)}
    # micro: pooled counts tp 7, predicted 10, true 10 -> 0.7 each
    assert report["micro"] == {"precision": approx(0.7), "recall": approx(0.7), "f1": approx(0.7)}
    # std: population std (ddof=0) of the per-label values above, e.g. P: sqrt(0.1875 / 4) = 0.2165
    assert report["std"]["precision"] == approx(np.sqrt(0.1875 / 4))
    assert report["std"] == {"precision": approx(np.std(p)), "recall": approx(np.std(r)), "f1": approx(np.std(f))}
    json.dumps(report, allow_nan=False)
    assert all(type(v) in (str, int, float) for v in _walk(report))


def test_per_label_report_zero_division():
    predicted = np.array([[True, False, False], [True, False, False]])
    human = np.array([[False, False, True], [False, False, False]])
    report = per_label_report(predicted, human)
    assert [row["label"] for row in report["labels"]] == ["0", "1", "2"]  # default names
    # label 0: predicted twice, never true -> P 0/2 = 0, R 0/0 -> 0, F1 0
    # label 1: never predicted, never true -> all 0/0 -> 0
    # label 2: true once, never predicted  -> P 0/0 -> 0, R 0/1 = 0, F1 0
    for row in report["labels"]:
        assert (row["precision"], row["recall"], row["f1"]) == (0.0, 0.0, 0.0)
    assert report["macro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert report["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert report["std"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    with pytest.raises(ValueError):
        per_label_report(predicted, human, label_names=["a", "b"])


def test_per_label_report_matches_sklearn():
    from sklearn.metrics import precision_recall_fscore_support

    rng = np.random.default_rng(3)
    human = rng.random((300, 9)) < 0.15
    predicted = rng.random((300, 9)) < 0.2
    predicted[:, 4] = False  # a label never predicted
    human[:, 7] = False  # a label never true
    report = per_label_report(predicted, human)
    p, r, f, s = precision_recall_fscore_support(human, predicted, average=None, zero_division=0)
    np.testing.assert_allclose([row["precision"] for row in report["labels"]], p)
    np.testing.assert_allclose([row["recall"] for row in report["labels"]], r)
    np.testing.assert_allclose([row["f1"] for row in report["labels"]], f)
    np.testing.assert_array_equal([row["support"] for row in report["labels"]], s)
    for avg in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(human, predicted, average=avg, zero_division=0)
        assert report[avg] == {"precision": approx(p), "recall": approx(r), "f1": approx(f)}


# --------------------------------------------------------------------------- decisions


def test_decide_rules():
    assert set(RULES) == {"top_k", "threshold", "argmax"}
    np.testing.assert_array_equal(decide(E, rule="top_k", human_labels=Y), TOPK_PRED)
    np.testing.assert_array_equal(decide(E, rule="threshold", thresholds=5.0), E >= 5)
    h = np.array([8.0, 5.0, 5.0, 5.0])
    np.testing.assert_array_equal(decide(E, rule="threshold", thresholds=h), E >= h)
    # argmax: one label per row, ties -> lower id (r2 all 1 -> id 0, r5 5 vs 5 -> id 0)
    np.testing.assert_array_equal(
        np.flatnonzero(decide(E, rule="argmax")) % 4, [0, 1, 0, 3, 0, 0]
    )
    with pytest.raises(ValueError):
        decide(E, rule="top_k")
    with pytest.raises(ValueError):
        decide(E, rule="threshold")
    with pytest.raises(ValueError):
        decide(E, rule="best", thresholds=1.0)


def test_label_changes():
    # threshold 5 (predictions listed in test_sample_scores_threshold_rule_and_zero_division):
    # label 0: predicted r0 r4 r5, true r0 r4     -> gained r5 = 1, lost 0
    # label 1: predicted r1 r4 r5, true r2 r4 r5  -> gained r1 = 1, lost r2 = 1
    # label 2: predicted r0 r4,    true r0 r1 r4  -> gained 0,      lost r1 = 1
    # label 3: predicted r0 r3,    true r2 r4     -> gained 2,      lost 2
    changes = label_changes(E, Y, 5.0, label_names=NAMES)
    assert changes == {
        "joy": {"gained": 1, "lost": 0},
        "anger": {"gained": 1, "lost": 1},
        "fear": {"gained": 0, "lost": 1},
        "love": {"gained": 2, "lost": 2},
    }
    assert list(label_changes(E, Y, [0.0, 11.0, 0.0, 11.0])) == ["0", "1", "2", "3"]
    # h = 0 predicts everything: every missing label is gained, nothing lost; h = 11 loses every label
    ch = label_changes(E, Y, [0.0, 11.0, 0.0, 11.0])
    assert ch["0"] == {"gained": 4, "lost": 0}  # 6 rows - 2 true
    assert ch["1"] == {"gained": 0, "lost": 3}


# --------------------------------------------------------------------------- single-label (Table 3)


def test_single_label_scores():
    energies = np.array(
        [
            [5.0, 1.0, 0.0],  # true 0, argmax 0  -> correct
            [2.0, 2.0, 1.0],  # true 1, tie -> 0  -> wrong
            [0.0, 3.0, 9.0],  # true 2, argmax 2  -> correct
            [1.0, 0.0, 0.0],  # true 2, argmax 0  -> wrong
        ]
    )
    scores = single_label_scores(energies, np.array([0, 1, 2, 2]), label_names=["a", "b", "c"])
    # accuracy 2/4
    # a: predicted 3, true 1, tp 1 -> P 1/3, R 1, F1 2/(3+1) = 0.5
    # b: predicted 0, true 1, tp 0 -> P 0 (zero division), R 0, F1 0
    # c: predicted 1, true 2, tp 1 -> P 1, R 1/2, F1 2/(1+2) = 2/3
    assert scores["accuracy"] == 0.5
    assert scores["num_samples"] == 4
    assert scores["macro_precision"] == approx((1 / 3 + 0 + 1) / 3)
    assert scores["macro_recall"] == approx((1 + 0 + 0.5) / 3)
    assert scores["macro_f1"] == approx((0.5 + 0 + 2 / 3) / 3)
    assert [row["label"] for row in scores["per_label"]["labels"]] == ["a", "b", "c"]
    assert scores["per_label"]["micro"]["f1"] == approx(0.5)  # single label: micro F1 = accuracy
    with pytest.raises(ValueError):
        single_label_scores(energies, [0, 1, 3, 0])
    with pytest.raises(ValueError):
        single_label_scores(energies, [0, 1])


# --------------------------------------------------------------------------- Pearson and clustering


def test_pearson_matrix():
    energies = np.array(
        [
            # a  b  c  d  e
            [1, 2, 3, 5, 1],
            [2, 4, 2, 5, 0],
            [3, 6, 1, 5, 0],
        ],
        dtype=np.float32,
    )
    r = pearson_matrix(energies)
    # b = 2a -> 1; c = 4 - a -> -1; d constant -> 0 with everything, 1 on the diagonal;
    # a vs e: centred a = [-1, 0, 1], centred e = [2/3, -1/3, -1/3]; sum of products = -1;
    #         |a| = sqrt(2), |e| = sqrt(6)/3 -> r = -1 / (sqrt(2) sqrt(6) / 3) = -sqrt(3)/2
    s = -np.sqrt(3) / 2
    expected = np.array(
        [
            [1, 1, -1, 0, s],
            [1, 1, -1, 0, s],
            [-1, -1, 1, 0, -s],
            [0, 0, 0, 1, 0],
            [s, s, -s, 0, 1],
        ]
    )
    np.testing.assert_allclose(r, expected, atol=1e-12)
    assert r.shape == (5, 5) and not np.isnan(r).any()
    keep = [0, 1, 2, 4]
    np.testing.assert_allclose(r[np.ix_(keep, keep)], np.corrcoef(energies[:, keep].T.astype(float)), atol=1e-12)


def test_pearson_matrix_degenerate():
    np.testing.assert_array_equal(pearson_matrix(np.array([[1.0, 2.0]])), np.eye(2))  # one sample
    np.testing.assert_array_equal(pearson_matrix(np.zeros((4, 3))), np.eye(3))  # all constant
    with pytest.raises(ValueError):
        pearson_matrix(np.array([[np.nan, 1.0], [1.0, 2.0]]))


def test_cluster_order_groups_correlated_labels():
    # labels {0, 2} correlate 0.9, {1, 3} correlate 0.9, across 0.0
    m = np.array(
        [
            [1.0, 0.0, 0.9, 0.0],
            [0.0, 1.0, 0.0, 0.9],
            [0.9, 0.0, 1.0, 0.0],
            [0.0, 0.9, 0.0, 1.0],
        ]
    )
    order = cluster_order(m)
    assert sorted(order) == [0, 1, 2, 3]
    assert all(type(i) is int for i in order)
    pos = {label: i for i, label in enumerate(order)}
    assert abs(pos[0] - pos[2]) == 1 and abs(pos[1] - pos[3]) == 1
    assert cluster_order(np.eye(2)) == [0, 1]
    assert cluster_order(np.eye(1)) == [0]
    with pytest.raises(ValueError):
        cluster_order(np.zeros((2, 3)))


# --------------------------------------------------------------------------- the bundled report


def test_to_jsonable():
    obj = {1: np.float32(0.5), "a": (np.int64(3), np.array([[1, 2]])), "b": float("nan"), "c": np.bool_(True)}
    assert to_jsonable(obj) == {"1": 0.5, "a": [3, [[1, 2]]], "b": None, "c": True}


def test_evaluate_energies_multi_label():
    h = np.array([8.0, 5.0, 5.0, 5.0])
    report = evaluate_energies(E, Y, label_names=NAMES, thresholds=h, global_threshold=5.0)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert all(v is None or type(v) in (str, int, float, bool) for v in _walk(report))
    assert report["num_samples"] == 6 and report["num_labels"] == 4 and report["label_names"] == NAMES
    assert report["topk"] == sample_topk_scores(E, Y)
    assert report["hit_rates"] == hit_rates_by_label_count(E, Y)
    assert report["top_n"] == top_n_hit_rates(E, Y)
    assert report["per_label_topk"] == per_label_report(TOPK_PRED, Y, label_names=NAMES)
    assert report["global_threshold"] == 5.0
    assert report["per_label_global"] == per_label_report(E >= 5, Y, label_names=NAMES)
    assert report["sample_global"] == sample_scores(E >= 5, Y)
    assert report["label_changes_global"] == label_changes(E, Y, 5.0, label_names=NAMES)
    assert report["thresholds"] == [8.0, 5.0, 5.0, 5.0]
    assert report["per_label_tuned"] == per_label_report(E >= h, Y, label_names=NAMES)
    assert "single_label" not in report
    assert np.allclose(report["pearson"]["matrix"], pearson_matrix(E))
    assert sorted(report["pearson"]["order"]) == [0, 1, 2, 3]


def test_evaluate_energies_optional_parts():
    report = evaluate_energies(E, Y)
    for key in ("per_label_global", "per_label_tuned", "thresholds", "global_threshold", "single_label"):
        assert key not in report
    assert report["label_names"] == ["0", "1", "2", "3"]
    with pytest.raises(ValueError):
        evaluate_energies(E, Y, thresholds=[1.0, 2.0])


def test_evaluate_energies_single_label():
    energies = np.array([[5.0, 1.0, 0.0], [2.0, 2.0, 1.0], [0.0, 3.0, 9.0], [1.0, 0.0, 0.0]])
    ids = np.array([0, 1, 2, 2])
    human = labels_from_ids([[i] for i in ids], 3)
    report = evaluate_energies(energies, human, label_names=["a", "b", "c"], multi_label=False)
    json.dumps(report, allow_nan=False)
    assert report["single_label"] == single_label_scores(energies, ids, label_names=["a", "b", "c"])
    assert report["single_label"]["accuracy"] == 0.5
    # with one label per row, top-k_i is argmax: sample top-k F1 = accuracy
    assert report["topk"]["f1"] == 0.5


# --------------------------------------------------------------------------- speed (slider path)


def test_slider_path_speed():
    rng = np.random.default_rng(7)
    energies = (rng.random((5427, 28)) * 10).astype(np.float32)
    k = rng.choice([1, 2, 3, 4], size=5427, p=[4590 / 5427, 774 / 5427, 61 / 5427, 2 / 5427])
    human = top_k_mask(rng.random((5427, 28)), k)
    h = rng.random(28) * 10

    def best_of(fn, runs=5):
        fn()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    assert best_of(lambda: per_label_report(decide(energies, rule="threshold", thresholds=h), human)) < 0.05
    assert best_of(lambda: per_label_report(decide(energies, rule="threshold", thresholds=3.0), human)) < 0.05
    assert best_of(lambda: per_label_report(decide(energies, rule="top_k", human_labels=human), human)) < 0.05


def test_mean_off_diagonal_ignores_the_diagonal_of_ones():
    from eqn_core.method.metrics import mean_off_diagonal

    matrix = np.array([[1.0, 0.2, -0.4], [0.2, 1.0, 0.5], [-0.4, 0.5, 1.0]])
    assert mean_off_diagonal(matrix) == pytest.approx((0.2 - 0.4 + 0.5) / 3)
    assert np.isnan(mean_off_diagonal(np.ones((1, 1))))


def test_intensity_correlations_rank_and_bootstrap():
    from eqn_core.method.metrics import intensity_correlations

    ratings = np.linspace(0.1, 0.9, 40)
    perfect = intensity_correlations(ratings * 10, ratings, resamples=200)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["pearson"] == pytest.approx(1.0)
    assert perfect["spearman_ci"][0] == pytest.approx(1.0) and perfect["n"] == 40
    # a score that ties at the ceiling (every text above 0.5 at 10.0) ranks worse than its unclipped values
    raw = ratings * 20
    clipped = intensity_correlations(np.minimum(raw, 10.0), ratings, resamples=200, seed=1)
    assert clipped["spearman"] < perfect["spearman"]
    low, high = clipped["spearman_ci"]
    assert low <= clipped["spearman"] <= high
    with pytest.raises(ValueError, match="two"):
        intensity_correlations([1.0, 2.0], [0.1, 0.2])
