"""Tests of eqn_core.method.config: TrainConfig checks its options, fills encoder-dependent defaults, round-trips; the rules
of a new run that `eqn train` and the Train page share."""
import re

import pytest

from eqn_core.method.config import (
    BUNDLED_ENCODER,
    TrainConfig,
    check_encoder,
    is_scratch_encoder,
    parse_learning_rate,
    training_defaults,
)


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


# ------------------------------------------------------------------------ the rules of a new run (CLI and Train page)
LR_MESSAGE = "The learning rate must be a positive number such as 0.001, not "


@pytest.mark.parametrize("typed", ["abc", "", "0", "-1", "nan"])
def test_a_typed_learning_rate_must_be_a_positive_number(typed):
    with pytest.raises(ValueError) as caught:
        parse_learning_rate(typed)
    assert str(caught.value) == f"{LR_MESSAGE}{typed!r}."
    assert parse_learning_rate(" 2e-4 ") == pytest.approx(2e-4)


def test_check_refuses_values_no_run_can_start_with():
    with pytest.raises(ValueError, match=f"^{LR_MESSAGE}-0.5\\.$"):
        TrainConfig(learning_rate=-0.5).check()
    for values, message in (({"epochs": 0}, "epochs must be at least 1, not 0"),
                            ({"model2_epochs": 0}, "model2_epochs must be at least 1"),
                            ({"batch_size": -2}, "batch_size must be at least 1"),
                            ({"patience": 0}, "leave it out to never stop early"),
                            ({"max_train_rows": 0}, "leave it out to train on every row"),
                            ({"dropout": 1.0}, "dropout must be at least 0 and below 1")):
        with pytest.raises(ValueError, match=message):
            TrainConfig(**values).check()
    config = TrainConfig(epochs=1, learning_rate=1e-3, patience=None)
    assert config.check() is config
    assert TrainConfig.from_dict({**config.to_dict(), "epochs": 0}).epochs == 0  # a saved config still loads


def test_check_encoder_keeps_names_and_ids_and_resolves_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-model").mkdir()
    assert check_encoder(BUNDLED_ENCODER) == BUNDLED_ENCODER
    assert check_encoder("TextCNN") == "TextCNN"
    assert check_encoder(" bert-base-cased ") == "bert-base-cased"  # a Hugging Face id, downloaded when run
    assert check_encoder("my-model") == str(tmp_path / "my-model")  # a folder is stored as its absolute path
    assert check_encoder("./my-model", folder=True) == str(tmp_path / "my-model")
    with pytest.raises(ValueError, match="^Give the encoder: a Hugging Face model id or a folder.$"):
        check_encoder("  ")
    missing = "No folder at 'gone'; give the folder that holds the model's config.json and weights."
    with pytest.raises(ValueError, match=re.escape(missing)):
        check_encoder("gone", folder=True)  # the Train page's "Local folder"
    with pytest.raises(ValueError, match="No folder at './gone'"):
        check_encoder("./gone")  # a path, never a Hugging Face id


def test_eqn_train_refuses_what_the_train_page_refuses_with_the_same_words(tmp_path, capsys):
    from eqn_core.cli.main import main as eqn

    workspace = tmp_path / "ws"
    for arguments, problem in (
            (["--lr", "-0.5"], lambda: TrainConfig(learning_rate=-0.5).check()),
            (["--encoder", str(tmp_path / "gone")], lambda: check_encoder(str(tmp_path / "gone"), folder=True)),
            (["--encoder", ""], lambda: check_encoder("", folder=True)),
            (["--epochs", "0"], lambda: TrainConfig(epochs=0).check())):
        with pytest.raises(ValueError) as caught:
            problem()
        assert eqn(["-w", str(workspace), "train", "--dataset", "tiny", *arguments]) == 2
        assert capsys.readouterr().err.strip() == f"eqn: error: {caught.value}"
    assert not (workspace / "runs").exists()  # refused before any run folder was made
