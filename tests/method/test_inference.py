"""Inference (eqn_core.method.inference): order kept, energies on the 0-10 scale, batches cover every row once."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from eqn_core.method.config import TrainConfig
from eqn_core.method.inference import annotate, length_ordered_batches, outputs_to_energies, predict_outputs
from eqn_core.method.models import TokenizedTexts, build_model


def test_length_ordered_batches_cover_each_row_once_and_group_similar_lengths():
    lengths = np.array([5, 1, 9, 3, 7, 2])
    batches = length_ordered_batches(lengths, 2)
    assert sorted(np.concatenate(batches).tolist()) == list(range(6))
    assert [lengths[b].tolist() for b in batches] == [[1, 2], [3, 5], [7, 9]]


def test_outputs_to_energies_share_one_scale():
    outputs = np.array([[-3.0, 0.0, 12.5, 4.0]], dtype=np.float32)
    assert outputs_to_energies(outputs, mode="eqn").tolist() == [[0.0, 0.0, 10.0, 4.0]]  # clipped regression
    bce = outputs_to_energies(outputs, mode="bce")
    assert np.isclose(bce[0, 1], 5.0)  # sigmoid(0) = 0.5 -> energy 5.0, so BCE's 0.3 is energy 3.0
    softmax = outputs_to_energies(outputs, mode="softmax")
    assert np.isclose(softmax.sum(), 10.0)
    assert np.isfinite(outputs_to_energies(np.array([[-1e4, 1e4]], dtype=np.float32), mode="bce")).all()


def test_predict_outputs_returns_rows_in_input_order():
    class Echo(torch.nn.Module):  # head output = the text's first token id, so order is visible
        head = torch.nn.Linear(1, 1)

        def forward(self, batch):
            return batch["input_ids"][:, :1].float()

    features = TokenizedTexts([[7, 1, 1], [3], [9, 9], [4, 4, 4, 4]], pad_id=0, with_attention_mask=False)
    outputs = predict_outputs(Echo(), features, batch_size=2, device=torch.device("cpu"))
    assert outputs[:, 0].tolist() == [7, 3, 9, 4]


def test_annotate_scores_any_text_with_one_energy_per_label(tiny_encoder_dir):
    model = build_model(TrainConfig(encoder=tiny_encoder_dir, encoder_mode="finetune"), 5)
    energies = annotate(model, ["", "a", "a much longer text " * 40], mode="coeqn", batch_size=2)
    assert energies.shape == (3, 5)
    assert (energies >= 0).all() and (energies <= 10).all()


def test_progress_counts_padded_tokens_so_length_sorted_etas_hold():
    """Short texts come first in length order: the share of work done lags the share of texts done."""
    from eqn_core.method.inference import length_ordered_batches, work_fractions

    lengths = np.array([2] * 50 + [50] * 50)
    batches = length_ordered_batches(lengths, 10)
    fractions = work_fractions(lengths, batches)
    assert fractions[-1] == 1.0 and np.all(np.diff(fractions) > 0)
    assert fractions[4] < 0.05  # half the texts, under 5% of the tokens


def test_should_stop_stops_before_the_next_batch():
    import torch

    from eqn_core.method.inference import RunStopped, predict_outputs

    class Features:
        lengths = np.arange(1, 41)

        def __len__(self):
            return 40

        def batch(self, indices):
            return {"x": torch.ones(len(indices), 3)}

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(3, 2)

        def forward(self, batch):
            return self.head(batch["x"])

    seen = []
    with pytest.raises(RunStopped):
        predict_outputs(Model(), Features(), batch_size=10, on_batch=lambda done, total, work: seen.append(done),
                        should_stop=lambda: len(seen) >= 1)
    assert seen == [10]
