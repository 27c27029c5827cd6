"""Label attention as a sentence-transformers module, written by EQN Studio beside an exported model.

Each emotion's query attends over the text's token states (cosine scores, sharpened per emotion); the attended
vector gives that emotion's raw output through the emotion's own weights. The outputs go to "sentence_embedding",
so `SentenceTransformer(folder, trust_remote_code=True).encode(texts)` returns one raw output per emotion; clip them
to [0, 10] for energies. Needs torch and sentence-transformers only.
"""
from __future__ import annotations

import torch
from sentence_transformers.sentence_transformer.modules import Module
from torch import nn


class LabelAttention(Module):
    config_keys = ["in_features", "out_features"]

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))  # (C, H)
        self.bias = nn.Parameter(torch.zeros(out_features))  # (C,)
        self.queries = nn.Parameter(torch.zeros(out_features, in_features))  # (C, H)
        self.sharpness = nn.Parameter(torch.ones(out_features))  # (C,)

    def forward(self, features: dict, **kwargs) -> dict:
        hidden = features["token_embeddings"]  # (B, T, H)
        mask = features["attention_mask"]  # (B, T)
        cosines = torch.einsum("bth,ch->bct", nn.functional.normalize(hidden, dim=-1),
                               nn.functional.normalize(self.queries, dim=-1).to(hidden.dtype))
        scores = cosines.float() * self.sharpness[None, :, None]
        scores = scores.masked_fill(mask[:, None, :] == 0, torch.finfo(scores.dtype).min)
        attended = scores.softmax(-1).to(hidden.dtype) @ hidden  # (B, C, H)
        features["sentence_embedding"] = (attended * self.weight.to(hidden.dtype)).sum(-1) + self.bias
        return features

    def get_embedding_dimension(self) -> int:
        return self.out_features

    get_sentence_embedding_dimension = get_embedding_dimension  # the name older sentence-transformers ask for

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", token=None, cache_folder=None, revision=None,
             local_files_only: bool = False, **kwargs) -> "LabelAttention":
        hub = {"subfolder": subfolder, "token": token, "cache_folder": cache_folder, "revision": revision,
               "local_files_only": local_files_only}
        model = cls(**cls.load_config(model_name_or_path=model_name_or_path, **hub))
        return cls.load_torch_weights(model_name_or_path=model_name_or_path, model=model, **hub)
