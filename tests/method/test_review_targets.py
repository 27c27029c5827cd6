"""Reviewed values as training targets (labels.apply_review_targets) and inside the EQN procedure (run_method)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_config
from eqn_core.method.labels import apply_review_targets, human_labels_changed, initial_targets, regress_targets
from eqn_core.method.regression import run_method


def test_reviewed_values_replace_targets_only_where_reviewed():
    targets = np.array([[10.0, 4.0, 0.5], [2.0, 10.0, 7.0]], dtype=np.float32)
    override = np.array([[0.0, 6.0, 8.0], [0.0, 3.0, 12.0]], dtype=np.float32)
    mask = np.array([[False, True, True], [False, True, True]])
    out = apply_review_targets(targets, override, mask)
    np.testing.assert_array_equal(out, [[10.0, 6.0, 8.0], [2.0, 3.0, 10.0]])  # clipped to the scale
    assert out.dtype == np.float32
    human = np.array([[1, 0, 0], [0, 1, 0]], dtype=bool)
    assert human_labels_changed(override, mask, human) == 1  # the human label 10.0 reviewed to 3.0
    assert human_labels_changed(override, np.zeros_like(mask), human) == 0
    with pytest.raises(ValueError, match="differ in shape"):
        apply_review_targets(targets, override[:1], mask)


def test_paper_rule_then_reviews_matches_run_method_targets(tiny_dataset, tiny_encoder_dir):
    """EQN: Model 1 trains on the paper's targets, so with and without reviews the unreviewed targets agree; a
    rejected suggestion trains towards 0, a set energy towards its value, an added emotion towards the reviewer's."""
    train = tiny_dataset.splits["train"]
    n, c = train.human_labels.shape
    override = np.zeros((n, c), dtype=np.float32)
    mask = np.zeros((n, c), dtype=bool)
    no_anger = np.flatnonzero(~train.human_labels[:, 1])
    for row, value in ((no_anger[0], 0.0), (no_anger[1], 6.5), (no_anger[2], 9.0)):
        override[row, 1], mask[row, 1] = value, True
    config = tiny_config(tiny_encoder_dir, epochs=1)
    plain = run_method(config, tiny_dataset, device=torch.device("cpu"))
    taught = run_method(config, tiny_dataset, device=torch.device("cpu"), review_targets=(override, mask))
    np.testing.assert_allclose(taught.targets, apply_review_targets(plain.targets, override, mask), atol=1e-5)
    assert taught.targets[no_anger[0], 1] == 0.0 and taught.targets[no_anger[1], 1] == 6.5
    assert taught.regressed_targets is taught.targets
    # CoEQN: the reviews go into the initial targets (eq. 1-2)
    coeqn = run_method(tiny_config(tiny_encoder_dir, mode="coeqn", epochs=1), tiny_dataset,
                       device=torch.device("cpu"), review_targets=(override, mask))
    np.testing.assert_array_equal(coeqn.targets,
                                  apply_review_targets(initial_targets(train.human_labels), override, mask))
    assert regress_targets(plain.targets, train.human_labels)[train.human_labels].min() == 10.0


def test_reviews_need_an_energy_mode_and_one_row_per_training_text(tiny_dataset, tiny_encoder_dir):
    n, c = tiny_dataset.splits["train"].human_labels.shape
    review = (np.zeros((n, c), dtype=np.float32), np.zeros((n, c), dtype=bool))
    with pytest.raises(ValueError, match="mode coeqn or eqn, not bce"):
        run_method(tiny_config(tiny_encoder_dir, mode="bce", epochs=1), tiny_dataset, device=torch.device("cpu"),
                   review_targets=review)
    with pytest.raises(ValueError, match="one row per training text"):
        run_method(tiny_config(tiny_encoder_dir, epochs=1), tiny_dataset, device=torch.device("cpu"),
                   review_targets=(review[0][:3], review[1][:3]))
    # a row limit takes the same rows of the reviews as of the texts
    limited = run_method(tiny_config(tiny_encoder_dir, mode="coeqn", epochs=1, max_train_rows=10), tiny_dataset,
                         device=torch.device("cpu"), review_targets=(np.full((n, c), 5.0, np.float32),
                                                                     np.ones((n, c), dtype=bool)))
    assert limited.targets.shape == (10, c) and np.all(limited.targets == 5.0)
