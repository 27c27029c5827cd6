"""Tests of eqn_core.method.models: what a run saves for a frozen encoder, and the regression head's shape."""
import torch

from eqn_core.method.config import TrainConfig
from eqn_core.method.models import build_model


def test_a_frozen_run_saves_only_the_head(tiny_encoder_dir):
    frozen = build_model(TrainConfig(encoder=tiny_encoder_dir, encoder_mode="frozen"), 4)
    saved = frozen.trainable_state_dict()
    assert saved and all(name.startswith("head.") for name in saved)
    assert saved["head.weight"].shape == (4, frozen.head.in_features)  # (C, hidden): one linear output per label
    assert all(not tensor.requires_grad and tensor.device.type == "cpu" for tensor in saved.values())


def test_a_finetuned_run_saves_the_encoder_too(tiny_encoder_dir):
    finetuned = build_model(TrainConfig(encoder=tiny_encoder_dir, encoder_mode="finetune"), 4)
    saved = finetuned.trainable_state_dict()
    assert any(not name.startswith("head.") for name in saved)
    assert set(saved) == set(finetuned.state_dict())
    assert isinstance(saved["head.bias"], torch.Tensor) and saved["head.bias"].shape == (4,)
