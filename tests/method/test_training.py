"""Training helpers (eqn_core.method.training): shuffled batches cover every row once, losses as defined."""
from __future__ import annotations

import numpy as np
import torch

from eqn_core.method.training import compute_loss, shuffled_batches


def test_shuffled_batches_cover_each_row_once_and_reduce_padding():
    lengths = np.random.default_rng(0).integers(1, 100, size=1000)
    grouped = shuffled_batches(lengths, 32, np.random.default_rng(1))
    plain = shuffled_batches(lengths, 32, np.random.default_rng(1), group_by_length=False)
    for batches in (grouped, plain):
        assert sorted(np.concatenate(batches).tolist()) == list(range(1000))

    def padded_tokens(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    assert padded_tokens(grouped) < 0.7 * padded_tokens(plain)


def test_losses_match_their_definitions():
    outputs = torch.tensor([[1.0, -1.0]])
    assert torch.isclose(compute_loss(outputs, torch.tensor([[3.0, 0.0]]), "mse"), torch.tensor(2.5))
    ce = compute_loss(outputs, torch.tensor([[1.0, 0.0]]), "softmax")
    assert torch.isclose(ce, -torch.log_softmax(outputs, 1)[0, 0])
