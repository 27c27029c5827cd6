"""Tests of eqn_core.method.labels: full-label targets (eq. 1-3), thresholds (eq. 8), label sets, top-k."""

import numpy as np
import pytest

from eqn_core.method.labels import (
    apply_threshold,
    binarize,
    ids_from_labels,
    initial_targets,
    labels_from_ids,
    regress_targets,
    top_k_mask,
)
from eqn_core.method.thresholds import ENERGY_MAX

# Paper Table 1: three samples, labels 0, 1, 2; sample 1 has {0, 1}, sample 2 {1}, sample 3 {2}.
TABLE1_IDS = [[0, 1], [1], [2]]
TABLE1_ONE_HOT = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
# model energies from which the paper's "Full Label Regression" column follows (12.3 is clipped to 10)
TABLE1_MODEL_ENERGIES = np.array([[9.1, 7.3, 5.2], [0.4, 8.8, 4.0], [8.5, 6.1, 12.3]])


def test_energy_max():
    assert ENERGY_MAX == 10.0


def test_table1_one_hot_and_ids():
    human = labels_from_ids(TABLE1_IDS, 3)
    assert human.dtype == bool and human.shape == (3, 3)
    np.testing.assert_array_equal(human, TABLE1_ONE_HOT)
    assert ids_from_labels(human) == TABLE1_IDS


def test_table1_initial_targets():
    targets = initial_targets(TABLE1_ONE_HOT)
    assert targets.dtype == np.float32
    np.testing.assert_array_equal(targets, [[10, 10, 0], [0, 10, 0], [0, 0, 10]])


def test_table1_regression():
    targets = regress_targets(TABLE1_MODEL_ENERGIES, TABLE1_ONE_HOT)
    assert targets.dtype == np.float32
    # human labels back to 10.0 (9.1, 7.3 -> 10; 8.8 -> 10; 12.3 -> 10), other entries kept: 5.2, 0.4, 4.0, 8.5, 6.1
    expected = np.array([[10, 10, 5.2], [0.4, 10, 4.0], [8.5, 6.1, 10]], dtype=np.float32)
    np.testing.assert_array_equal(targets, expected)
    assert targets.min() >= 0.0 and targets.max() <= 10.0


def test_regression_clips_unlabelled_energies_and_nan():
    energies = np.array([[-0.7, 11.5, np.nan, 3.0]])
    human = np.array([[False, False, False, True]])
    # -0.7 -> 0 (clip), 11.5 -> 10 (clip), NaN -> 0, labelled 3.0 -> 10
    np.testing.assert_array_equal(regress_targets(energies, human), [[0.0, 10.0, 0.0, 10.0]])


def test_regression_with_a_label_floor_keeps_the_models_order_above_h():
    # model_floored: a human label keeps Model 1's energy (clipped to 10), raised to the floor; others as eq. 3
    targets = regress_targets(TABLE1_MODEL_ENERGIES, TABLE1_ONE_HOT, label_floor=8.0)
    expected = np.array([[9.1, 8.0, 5.2], [0.4, 8.8, 4.0], [8.5, 6.1, 10.0]], dtype=np.float32)
    np.testing.assert_array_equal(targets, expected)
    # a floor above the scale cannot lift a label past it
    assert regress_targets([[4.0]], [[True]], label_floor=12.0)[0, 0] == 10.0


def test_targets_custom_high():
    human = np.array([[1, 0], [0, 1]])  # 0/1 ints are accepted
    np.testing.assert_array_equal(initial_targets(human, high=1.0), [[1, 0], [0, 1]])
    # with high=1, unlabelled energies are clipped to [0, 1]: 0.5 kept, 3.0 -> 1.0
    np.testing.assert_array_equal(
        regress_targets([[9.0, 0.5], [3.0, 0.2]], human, high=1.0), [[1.0, 0.5], [1.0, 1.0]]
    )


def test_targets_validate_input():
    with pytest.raises(ValueError):
        initial_targets(np.array([1, 0, 1]))  # 1-D
    with pytest.raises(ValueError):
        initial_targets(np.array([[2, 0]]))  # not 0/1
    with pytest.raises(ValueError):
        regress_targets(np.zeros((2, 3)), np.zeros((2, 2), dtype=bool))  # shapes differ


def test_apply_threshold_scalar_eq8():
    energies = np.array([[0.0, 2.9, 3.0, 7.5], [3.1, 10.0, 0.2, 2.99]], dtype=np.float32)
    out = apply_threshold(energies, 3.0)
    # eq. 8: keep y >= h (3.0 is kept), write 0 below h
    np.testing.assert_array_equal(out, np.array([[0, 0, 3.0, 7.5], [3.1, 10.0, 0, 0]], dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(energies[0], np.array([0.0, 2.9, 3.0, 7.5], dtype=np.float32))  # untouched


def test_apply_threshold_per_label():
    energies = np.array([[0.0, 2.9, 3.0, 7.5], [3.1, 10.0, 0.2, 2.99]])
    h = [0.0, 3.0, 3.1, 8.0]
    # column 0: h=0 keeps 0.0 and 3.1; column 1: 2.9 < 3 -> 0, 10 kept; column 2: 3.0 < 3.1 -> 0, 0.2 -> 0;
    # column 3: 7.5 and 2.99 < 8 -> 0
    np.testing.assert_array_equal(apply_threshold(energies, h), [[0, 0, 0, 0], [3.1, 10.0, 0, 0]])


def test_binarize():
    energies = np.array([[0.0, 2.9, 3.0, 7.5], [3.1, 10.0, 0.2, 2.99]])
    np.testing.assert_array_equal(
        binarize(energies, 3.0), [[False, False, True, True], [True, True, False, False]]
    )
    np.testing.assert_array_equal(
        binarize(energies, np.array([0.0, 3.0, 3.1, 8.0])),
        [[True, False, False, False], [True, True, False, False]],
    )
    assert binarize(energies, 3.0).dtype == bool


def test_threshold_compares_in_energy_precision():
    # float32(0.7) < float64(0.7): a threshold of 0.7 must keep an energy of 0.7 whether it comes
    # as a Python float or as a float64 per-label array.
    energies = np.array([[0.7, 0.6]], dtype=np.float32)
    assert binarize(energies, 0.7).tolist() == [[True, False]]
    assert binarize(energies, np.array([0.7, 0.7])).tolist() == [[True, False]]
    np.testing.assert_array_equal(apply_threshold(energies, np.array([0.7, 0.7])), [[np.float32(0.7), 0]])


def test_threshold_shape_checked():
    with pytest.raises(ValueError):
        binarize(np.zeros((2, 3)), [1.0, 2.0])
    with pytest.raises(ValueError):
        apply_threshold(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError):
        binarize(np.zeros((2, 3)), float("nan"))


def test_labels_from_ids_edge_cases():
    human = labels_from_ids([[], [2, 2, 0], [3]], 4)  # empty row, repeated id
    np.testing.assert_array_equal(human, [[0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]])
    assert ids_from_labels(human) == [[], [0, 2], [3]]
    assert labels_from_ids([], 5).shape == (0, 5)
    assert labels_from_ids([[], []], 3).sum() == 0
    assert ids_from_labels(np.zeros((0, 3), dtype=bool)) == []
    assert ids_from_labels(np.zeros((2, 3), dtype=bool)) == [[], []]
    with pytest.raises(ValueError):
        labels_from_ids([[0, 4]], 4)
    with pytest.raises(ValueError):
        labels_from_ids([[-1]], 4)


def test_ids_round_trip_random():
    rng = np.random.default_rng(0)
    human = rng.random((50, 7)) < 0.2
    ids = ids_from_labels(human)
    assert all(isinstance(i, int) for row in ids for i in row)
    np.testing.assert_array_equal(labels_from_ids(ids, 7), human)


def test_top_k_mask_ties_go_to_lower_label_id():
    energies = np.array(
        [
            [5.0, 9.0, 5.0, 1.0],  # k=2: 9 (id 1), then 5 vs 5 -> id 0
            [1.0, 1.0, 1.0, 1.0],  # k=3: all tied -> ids 0, 1, 2
            [0.0, 2.0, 3.0, 2.0],  # k=1: id 2
        ]
    )
    np.testing.assert_array_equal(
        top_k_mask(energies, [2, 3, 1]),
        [[True, True, False, False], [True, True, True, False], [False, False, True, False]],
    )


def test_top_k_mask_scalar_k_and_limits():
    energies = np.array([[3.0, 1.0, 2.0], [0.0, 0.0, 5.0]])
    np.testing.assert_array_equal(top_k_mask(energies, 1), [[1, 0, 0], [0, 0, 1]])
    assert not top_k_mask(energies, 0).any()  # k=0 selects nothing
    assert top_k_mask(energies, 5).all()  # k > C selects everything
    np.testing.assert_array_equal(top_k_mask(energies, [0, 3]), [[0, 0, 0], [1, 1, 1]])
    with pytest.raises(ValueError):
        top_k_mask(energies, [1, 2, 3])


def test_top_k_mask_nan_ranks_last():
    energies = np.array([[np.nan, 0.0, -1.0]])
    np.testing.assert_array_equal(top_k_mask(energies, 2), [[False, True, True]])


def test_top_k_mask_matches_stable_argsort():
    # reference: stable descending sort, position < k
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, c = rng.integers(1, 20), rng.integers(1, 8)
        energies = rng.integers(0, 3, (n, c)).astype(np.float32)  # many ties
        k = rng.integers(0, c + 2, n)
        order = np.argsort(-energies, axis=1, kind="stable")
        ranks = np.empty((n, c), dtype=int)
        np.put_along_axis(ranks, order, np.broadcast_to(np.arange(c), (n, c)), axis=1)
        np.testing.assert_array_equal(top_k_mask(energies, k), ranks < k[:, None])
