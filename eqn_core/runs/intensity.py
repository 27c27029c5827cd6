"""What an energy means, measured: a finished run's score for anger, fear, joy and sadness on intensity-rated
tweets it never saw (EmoInt 2017 dev, io.intensity_sets), Spearman and Pearson against the rated intensity with
bootstrap intervals (method.metrics.intensity_correlations). The packaging script writes the result into a shipped
model's metrics, which the app's "About energies" notes read; benchmarks/intensity.py compares recipes with it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from eqn_core.io.intensity_sets import EMOINT_EMOTIONS, read_emoint
from eqn_core.method.inference import outputs_to_energies, predict_outputs
from eqn_core.method.metrics import intensity_correlations
from eqn_core.runs.lifecycle import load_run_model

EMOINT_DATA = "EmoInt 2017 dev (anger 84, fear 110, joy 79, sadness 74 tweets)"


def run_scores(run_dir: str | Path, data: dict) -> dict[str, dict[str, np.ndarray]]:
    """view ("energy": as users see it; "raw output": the head's output before the clip) -> emotion -> (N,) scores
    of the run for that emotion on its tweets. fp32 on the CPU, so the figures do not move with bf16."""
    model, config, label_names = load_run_model(run_dir, device=torch.device("cpu"))
    views: dict[str, dict[str, np.ndarray]] = {"energy": {}, "raw output": {}}
    for emotion, (tweets, _) in data.items():
        outputs = predict_outputs(model, model.featurize(tweets), batch_size=64, device=torch.device("cpu"),
                                  amp=False)  # (N, C)
        column = label_names.index(emotion)
        views["energy"][emotion] = outputs_to_energies(outputs, mode=config.mode)[:, column]
        views["raw output"][emotion] = outputs[:, column]
    return views


def intensity_summary(scores: dict[str, np.ndarray], data: dict, *, resamples: int = 1000) -> dict:
    """{"emotions": {emotion: intensity_correlations}, "mean_spearman", "mean_pearson"} of one view's scores."""
    per_emotion = {emotion: intensity_correlations(scores[emotion], data[emotion][1], resamples=resamples, seed=i)
                   for i, emotion in enumerate(EMOINT_EMOTIONS)}
    return {"emotions": per_emotion,
            "mean_spearman": float(np.mean([r["spearman"] for r in per_emotion.values()])),
            "mean_pearson": float(np.mean([r["pearson"] for r in per_emotion.values()]))}


def run_intensity(run_dir: str | Path, folder: str | Path, *, resamples: int = 1000) -> dict:
    """The run's energy against rated intensity on the EmoInt files in `folder`: intensity_summary plus "data"."""
    data = read_emoint(folder)
    return {"data": EMOINT_DATA, **intensity_summary(run_scores(run_dir, data)["energy"], data, resamples=resamples)}
