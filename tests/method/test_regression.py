"""The EQN procedure end to end on tiny data: CoEQN, label regression, EQN, and the open choices."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from eqn_core.method.config import TrainConfig
from eqn_core.method.inference import annotate
from eqn_core.method.regression import fold_assignment, run_method


def config_for(encoder: str, **overrides) -> TrainConfig:
    values = dict(dataset="tiny", encoder=encoder, encoder_mode="frozen", epochs=4, batch_size=16,
                  learning_rate=0.05, device="cpu", seed=3)
    values.update(overrides)
    return TrainConfig(**values)


def test_eqn_regressed_training_set_keeps_every_human_label_at_ten(tiny_dataset, tiny_encoder_dir, tmp_path):
    result = run_method(config_for(tiny_encoder_dir, mode="eqn"), tiny_dataset, device=torch.device("cpu"),
                        cache_dir=tmp_path)
    targets = result.regressed_targets
    labels = tiny_dataset.splits["train"].human_labels
    assert targets.shape == labels.shape
    assert np.all(targets[labels] == 10.0)  # eq. 3: human labels put back to 10.0
    assert np.all((targets[~labels] >= 0.0) & (targets[~labels] <= 10.0))
    assert np.any(targets[~labels] > 0.0), "Model 1's energies should fill the unlabelled entries"
    assert [p["phase"] for p in result.phases] == ["model 1", "model 2"]
    assert all(p["best_epoch"] >= 1 for p in result.phases)


def test_model_floored_label_targets_keep_labels_at_or_above_h_but_not_all_at_ten(tiny_dataset, tiny_encoder_dir,
                                                                                   tmp_path):
    config = config_for(tiny_encoder_dir, mode="eqn", epochs=1, label_targets="model_floored")
    result = run_method(config, tiny_dataset, device=torch.device("cpu"), cache_dir=tmp_path)
    targets = result.regressed_targets
    labels = tiny_dataset.splits["train"].human_labels
    assert np.all((targets[labels] >= 3.0) & (targets[labels] <= 10.0))
    assert np.any(targets[labels] < 10.0), "after one epoch Model 1 leaves some labels below the ceiling"
    with pytest.raises(ValueError, match="label_targets"):
        TrainConfig(label_targets="soft")


def test_coeqn_learns_the_cues_and_energies_stay_in_range(tiny_dataset, tiny_encoder_dir, tmp_path):
    config = config_for("ann", mode="coeqn", epochs=25, learning_rate=0.01, batch_size=8)
    result = run_method(config, tiny_dataset, device=torch.device("cpu"))
    energies = annotate(result.model, tiny_dataset.splits["test"].texts, mode="coeqn")
    assert energies.shape == (16, 4)
    assert energies.min() >= 0.0 and energies.max() <= 10.0
    labels = tiny_dataset.splits["test"].human_labels
    top = energies.argmax(1)
    assert labels[np.arange(len(top)), top].mean() >= 0.75  # the cue words decide the label


@pytest.mark.parametrize("backbone", ["ann", "cnn", "lstm", "textcnn"])
def test_every_from_scratch_backbone_trains_and_annotates(tiny_dataset, backbone):
    result = run_method(config_for(backbone, mode="bce", epochs=1), tiny_dataset, device=torch.device("cpu"))
    energies = annotate(result.model, ["a short text", "another one that is a little longer"], mode="bce")
    assert energies.shape == (2, 4)
    assert np.isfinite(energies).all()


def test_out_of_fold_targets_train_one_model_per_fold(tiny_dataset, tiny_encoder_dir, tmp_path):
    config = config_for(tiny_encoder_dir, mode="eqn", regression_targets="out_of_fold", folds=3, epochs=2,
                        continue_from_model1=False, rounds=2)
    result = run_method(config, tiny_dataset, device=torch.device("cpu"), cache_dir=tmp_path)
    phases = [p["phase"] for p in result.phases]
    assert phases.count("model 1") == 1 and "model 2" in phases and "model 3" in phases
    assert sum(p.startswith("round 1 fold") for p in phases) == 3
    assert np.all(result.regressed_targets[tiny_dataset.splits["train"].human_labels] == 10.0)


def test_fold_assignment_is_balanced_and_seeded():
    folds = fold_assignment(100, 5, seed=1)
    assert np.bincount(folds).tolist() == [20] * 5
    assert np.array_equal(folds, fold_assignment(100, 5, seed=1))


def test_same_seed_same_model(tiny_dataset, tiny_encoder_dir, tmp_path):
    config = config_for(tiny_encoder_dir, mode="coeqn", epochs=2)
    first = run_method(config, tiny_dataset, device=torch.device("cpu"), cache_dir=tmp_path)
    second = run_method(config, tiny_dataset, device=torch.device("cpu"), cache_dir=tmp_path)
    texts = tiny_dataset.splits["dev"].texts
    assert np.allclose(annotate(first.model, texts, mode="coeqn"), annotate(second.model, texts, mode="coeqn"))
