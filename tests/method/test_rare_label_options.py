"""The rare-label options of a run: the label-attention head, per-label loss weights and a teacher run."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import tiny_config
from eqn_core.method.config import TrainConfig
from eqn_core.method.inference import annotate
from eqn_core.method.label_attention import LabelAttentionHead
from eqn_core.method.labels import loss_weights, rare_label_weights
from eqn_core.method.models import build_model
from eqn_core.method.regression import run_method
from eqn_core.method.training import compute_loss
from eqn_core.runs.lifecycle import ingest_run, load_run_model, prepare_run
from eqn_core.runs.process import execute_run
from eqn_core.store.workspace import Workspace

CPU = torch.device("cpu")
TEXTS = ["today I felt happy wonderful", "so furious angry", "a table and a chair", "scared afraid of the dark"]


def attention_config(encoder: str, **overrides) -> TrainConfig:
    values = dict(encoder_mode="partial", trained_layers=1, head="label_attention", epochs=2, learning_rate=0.01)
    return tiny_config(encoder, **{**values, **overrides})


def test_label_attention_gives_one_energy_per_emotion_from_weights_over_real_tokens(tiny_encoder_dir, tiny_dataset):
    model = build_model(attention_config(tiny_encoder_dir).resolved(), 4, label_names=tiny_dataset.label_names)
    model.eval()
    batch = model.featurize(TEXTS).batch(range(len(TEXTS)))
    outputs = model(batch)
    assert outputs.shape == (4, 4)
    weights = model.head.attention(model.encoder.token_outputs(**batch), batch["attention_mask"])
    assert weights.shape == (4, 4, batch["input_ids"].shape[1])  # (texts, emotions, tokens)
    assert torch.allclose(weights.sum(-1), torch.ones(4, 4))
    assert torch.all(weights[batch["attention_mask"][:, None, :].expand_as(weights) == 0] == 0)  # never padding


def test_label_attention_queries_start_as_the_encoders_embedding_of_each_name(tiny_encoder_dir, tiny_dataset):
    model = build_model(attention_config(tiny_encoder_dir).resolved(), 4, label_names=tiny_dataset.label_names)
    model.eval()
    names = model.encoder(**model.featurize(tiny_dataset.label_names).batch(range(4)))
    assert torch.allclose(model.head.queries, names, atol=1e-6)


def test_uniform_label_attention_is_the_linear_head_on_mean_pooling():
    head = LabelAttentionHead(8, 3, sharpness=0.0)  # sharpness 0: every real token weighs the same
    hidden = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    expected = pooled @ head.weight.T + head.bias
    assert torch.allclose(head(hidden, mask), expected, atol=1e-5)


def test_a_label_attention_run_saves_and_loads_to_the_same_energies(workspace_with_tiny, tiny_encoder_dir):
    with Workspace(workspace_with_tiny) as workspace:
        folder = prepare_run(workspace, attention_config(tiny_encoder_dir), run_id="attn")
        status = execute_run(folder.path, cache_dir=workspace.cache_dir)
        assert status["status"] == "finished", status
        ingest_run(workspace, "attn")
        stored = workspace.load_energies("attn", "test")
        texts = workspace.load_dataset("tiny").splits["test"].texts
    saved = load_file(str(folder.weights_file))
    assert {"head.queries", "head.sharpness", "head.weight", "head.bias"} <= set(saved)
    model, config, _ = load_run_model(folder.path, device=CPU)
    assert config.head == "label_attention"
    # the run annotated from its float16 cache of the lower layers, a loaded model from the texts: rounding apart
    np.testing.assert_allclose(annotate(model, texts, mode="coeqn"), stored, atol=2e-3)


@pytest.mark.parametrize("encoder, mode", [(None, "frozen"), ("ann", "partial")])
def test_label_attention_refuses_an_encoder_without_token_states(tiny_encoder_dir, encoder, mode):
    with pytest.raises(ValueError, match="partial or finetune"):
        attention_config(encoder or tiny_encoder_dir, encoder_mode=mode).check()


def test_rare_labels_weigh_more_capped_and_only_their_human_labels():
    labels = np.zeros((100, 3), dtype=bool)
    labels[:60, 0] = True  # common
    labels[:30, 1] = True  # about the mean (30.33)
    labels[:1, 2] = True  # rare: 30x below the mean, capped
    weights = rare_label_weights(labels, cap=5.0)
    np.testing.assert_allclose(weights, [1.0, 1.0111, 5.0], atol=1e-3)
    element = loss_weights(labels, weights)
    assert element[0, 2] == 5.0 and element[1, 2] == 1.0  # a negative of the rare label keeps weight 1
    assert np.all(element[~labels] == 1.0)


def test_weighted_loss_is_the_weighted_mean_and_equal_weights_change_nothing():
    outputs, targets = torch.randn(4, 3), torch.rand(4, 3) * 10
    ones = torch.ones(4, 3)
    for kind, labels in (("mse", targets), ("bce", (targets > 5).float())):
        assert torch.allclose(compute_loss(outputs, labels, kind, ones), compute_loss(outputs, labels, kind))
    weights = torch.ones(4, 3)
    weights[0, 0] = 3.0
    expected = (weights * (outputs - targets) ** 2).sum() / weights.sum()
    assert torch.allclose(compute_loss(outputs, targets, "mse", weights), expected)


def test_inverse_frequency_weighting_moves_the_rare_labels_energies_up(tiny_encoder_dir):
    from conftest import make_dataset

    dataset = make_dataset(rows_per_split=(96, 16, 16), seed=2)
    train = dataset.splits["train"]
    rare = np.flatnonzero(train.human_labels[:, 2])[4:]  # keep only 4 texts with "fear"
    train.human_labels[rare, 2] = False
    energies = {}
    for weighting in ("none", "inverse_frequency"):
        config = tiny_config(tiny_encoder_dir, mode="coeqn", label_weighting=weighting, label_weight_cap=20.0,
                             epochs=3)
        result = run_method(config, dataset, device=CPU)
        energies[weighting] = annotate(result.model, train.texts, mode="coeqn")[:, 2].mean()
    assert energies["inverse_frequency"] > energies["none"]


def test_a_teacher_run_feeds_label_regression_and_no_model1_trains(workspace_with_tiny, tiny_encoder_dir):
    with Workspace(workspace_with_tiny) as workspace:
        teacher = prepare_run(workspace, tiny_config(tiny_encoder_dir, mode="coeqn"), run_id="teacher")
        assert execute_run(teacher.path, cache_dir=workspace.cache_dir)["status"] == "finished"
        ingest_run(workspace, "teacher")
        taught = prepare_run(workspace, tiny_config(tiny_encoder_dir, teacher_run="teacher", epochs=3),
                             run_id="student")
        status = execute_run(taught.path, cache_dir=workspace.cache_dir)
        assert status["status"] == "finished", status
        ingest_run(workspace, "student")
        teacher_energies = workspace.load_energies("teacher", "train")
        labels = workspace.load_dataset("tiny").splits["train"].human_labels
        regressed = workspace.load_energies("student", "train")
        run = workspace.get_run("student")
        assert "student.model1" not in set(workspace.list_runs()["run_id"])  # the teacher was Model 1
    # eq. 3 on the teacher's energies: human labels at 10.0, the rest the teacher's own values
    assert np.all(regressed[labels] == 10.0)
    np.testing.assert_allclose(regressed[~labels], teacher_energies[~labels], atol=1e-6)
    phases = run["metrics"]["phases"]
    assert [p["phase"] for p in phases] == ["model 2"] and len(phases[0]["history"]) == 3  # --epochs, not model 2's


def test_a_teacher_must_be_a_finished_run_of_the_same_data_set_with_train_energies(workspace_with_tiny,
                                                                                    tiny_encoder_dir):
    with Workspace(workspace_with_tiny) as workspace:
        with pytest.raises(ValueError, match="No run 'nobody'"):
            prepare_run(workspace, tiny_config(tiny_encoder_dir, teacher_run="nobody"))
        quick = prepare_run(workspace, tiny_config(tiny_encoder_dir, mode="coeqn", max_train_rows=20), run_id="quick")
        with pytest.raises(ValueError, match="is queued"):
            prepare_run(workspace, tiny_config(tiny_encoder_dir, teacher_run="quick"))
        execute_run(quick.path, cache_dir=workspace.cache_dir)
        ingest_run(workspace, "quick")
        with pytest.raises(ValueError, match="stored no energies for the training split"):
            prepare_run(workspace, tiny_config(tiny_encoder_dir, teacher_run="quick"))
        with pytest.raises(ValueError, match="mode eqn"):
            prepare_run(workspace, tiny_config(tiny_encoder_dir, mode="coeqn", teacher_run="quick"))
        runs_before = set(workspace.list_runs()["run_id"])
    assert runs_before == {"quick"}  # nothing half-registered by the refusals


def test_saved_label_attention_weights_refuse_a_linear_model(tiny_encoder_dir, tmp_path):
    attention = build_model(attention_config(tiny_encoder_dir).resolved(), 4)
    save_file(attention.trainable_state_dict(), str(tmp_path / "w.safetensors"))
    linear = build_model(attention_config(tiny_encoder_dir, head="linear").resolved(), 4)
    with pytest.raises(ValueError, match="do not fit"):
        linear.load_trained_state(load_file(str(tmp_path / "w.safetensors")))


def test_the_ranking_term_is_small_when_labelled_texts_score_above_the_rest_and_large_when_below():
    from eqn_core.method.training import ranking_loss

    labels = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    ordered = torch.tensor([[9.0, 0.0], [0.0, 0.0], [0.0, 9.0]])
    reversed_ = torch.tensor([[0.0, 9.0], [9.0, 9.0], [9.0, 0.0]])
    assert ranking_loss(ordered, labels) < 0.01 < 8.0 < ranking_loss(reversed_, labels)
    assert ranking_loss(ordered, torch.zeros(3, 2)) == 0.0  # no label in the batch: no pair to order


def test_a_run_with_the_ranking_term_trains_and_refuses_the_baselines(tiny_dataset, tiny_encoder_dir):
    config = tiny_config(tiny_encoder_dir, mode="eqn", ranking_weight=1.0, epochs=1)
    result = run_method(config, tiny_dataset, device=CPU)
    assert [p["phase"] for p in result.phases] == ["model 1", "model 2"]
    with pytest.raises(ValueError, match="ranking_weight"):
        tiny_config(tiny_encoder_dir, mode="bce", ranking_weight=1.0).check()


def test_the_run_list_says_which_options_a_run_departs_from_the_paper_with():
    import pandas as pd

    from eqn_core.runs.summary import runs_table

    configs = [TrainConfig().to_dict(),
               TrainConfig(teacher_run="coeqn-base", head="label_attention", label_weighting="inverse_frequency",
                           ranking_weight=0.5).to_dict()]
    runs = pd.DataFrame({"run_id": ["plain", "options"], "status": "finished", "dataset": "goemotions", "mode": "eqn",
                         "encoder": "bundled-minilm", "config": configs, "metrics": [None, None], "created_at": None})
    notes = runs_table(runs)["note"].tolist()
    assert pd.isna(notes[0])
    assert notes[1] == ("teacher coeqn-base; label attention head; rare labels weighted (cap 5); ranking term x0.5")
