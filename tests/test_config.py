"""Tests of eqn_core.config: TrainConfig checks its options, fills encoder-dependent defaults, round-trips."""
import pytest

from eqn_core.config import BUNDLED_ENCODER, TrainConfig, is_scratch_encoder, training_defaults


def test_unknown_choices_are_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="mode='bert' is not one of coeqn, eqn, bce, softmax"):
        TrainConfig(mode="bert")
    with pytest.raises(ValueError, match="encoder_mode"):
        TrainConfig(encoder_mode="half")
    with pytest.raises(ValueError, match="folds must be at least 2"):
        TrainConfig(folds=1)
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        TrainConfig(rounds=0)
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"epochs": 3, "learning_rte": 0.1})


def test_defaults_depend_on_the_encoder():
    frozen = training_defaults(BUNDLED_ENCODER, "frozen")
    assert (frozen.epochs, frozen.batch_size, frozen.learning_rate) == (30, 256, 1e-3)
    finetune = training_defaults(BUNDLED_ENCODER, "finetune")
    assert (finetune.epochs, finetune.batch_size, finetune.learning_rate) == (3, 32, 5e-5)
    scratch = training_defaults("TextCNN", "frozen")
    assert scratch.encoder_mode == "finetune" and not scratch.frozen  # a from-scratch backbone trains end to end
    assert (scratch.epochs, scratch.batch_size) == (10, 64)
    assert TrainConfig(epochs=7).resolved().epochs == 7  # an explicit value is kept
    assert [is_scratch_encoder(name) for name in ("lstm", "CNN", BUNDLED_ENCODER, "bert-base-cased")] == [
        True, True, False, False]


def test_a_config_survives_its_json_round_trip():
    config = TrainConfig(mode="coeqn", epochs=4, extra={"note": "x"}).resolved()
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert '"mode": "coeqn"' in config.to_json()
