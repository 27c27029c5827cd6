"""The label-attention head: one query per emotion attends over a text's token states (seed 003, section 4.3)."""
from __future__ import annotations

import torch
from torch import nn


class LabelAttentionHead(nn.Module):
    """One query per emotion attends over the text's token states; the attended vector gives that emotion's energy
    through the emotion's own weights (seed 003, section 4.3, as a head: the emotion's name embedding attends, not
    extra input tokens, so partial mode's cache of the lower layers still holds).

    Scores are cosines between token states and queries, sharpened by a learned factor per emotion. The queries
    start as the encoder's embedding of each emotion's name (init_queries); with uniform attention the head is the
    linear head on mean pooling, which is where training starts from when the names say little.
    """

    def __init__(self, hidden: int, num_labels: int, *, sharpness: float = 5.0):
        super().__init__()
        linear = nn.Linear(hidden, num_labels)  # the usual initialisation for the output weights
        self.weight = nn.Parameter(linear.weight.detach().clone())  # (C, H)
        self.bias = nn.Parameter(linear.bias.detach().clone())  # (C,)
        self.queries = nn.Parameter(torch.randn(num_labels, hidden) / hidden ** 0.5)  # (C, H)
        self.sharpness = nn.Parameter(torch.full((num_labels,), float(sharpness)))  # (C,)

    in_features = property(lambda self: self.weight.shape[1])
    out_features = property(lambda self: self.weight.shape[0])

    @torch.no_grad()
    def init_queries(self, name_embeddings: torch.Tensor) -> None:
        """name_embeddings (C, H): the encoder's pooled output for each emotion's name."""
        self.queries.copy_(name_embeddings.to(self.queries.dtype))

    def attention(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, C, T): each emotion's weights over the text's real tokens (they sum to 1)."""
        cosines = torch.einsum("bth,ch->bct", nn.functional.normalize(hidden, dim=-1),
                               nn.functional.normalize(self.queries, dim=-1).to(hidden.dtype))
        scores = cosines.float() * self.sharpness[None, :, None]
        scores = scores.masked_fill(attention_mask[:, None, :] == 0, torch.finfo(scores.dtype).min)
        return scores.softmax(-1)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """hidden (B, T, H) token states, attention_mask (B, T) -> (B, C) outputs."""
        attended = self.attention(hidden, attention_mask).to(hidden.dtype) @ hidden  # (B, C, H)
        return (attended * self.weight.to(hidden.dtype)).sum(-1) + self.bias.to(hidden.dtype)
