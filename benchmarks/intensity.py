"""Does an energy mean intensity? Zero-shot on EmoInt 2017 dev tweets (../shared/data/emoint-dev, crowd-rated
intensity 0-1 for anger, fear, joy, sadness; never trained or tuned on): Spearman and Pearson of each model's score
for the tweet's emotion against the rated intensity, per emotion and their mean, with 95% bootstrap intervals.

Each model is scored twice: its energy as users see it (regression modes clipped to [0, 10]; BCE's 10 * sigmoid),
and its raw head output before the clip (for regression modes the order above 10 and below 0 that the clip throws
away; for BCE the logit, which orders as the probability does). fp32 on CPU, so the figures do not move with bf16.

    python benchmarks/intensity.py                                     # the shipped goemotions-eqn
    python benchmarks/intensity.py --runs goemotions-eqn,bce-s13 -w eqn-workspace
Writes benchmarks/results/intensity.{json,md}.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "emoint-dev"
EMOTIONS = ("anger", "fear", "joy", "sadness")  # EmoInt's four, all GoEmotions labels too
RESULTS = REPO / "benchmarks" / "results"


def read_emoint(folder: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """emotion -> (tweets, rated intensities (N,)) from the <emotion>-gold.txt files (id, tweet, emotion, score)."""
    found = {}
    for emotion in EMOTIONS:
        with (folder / f"{emotion}-gold.txt").open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        found[emotion] = ([row[1] for row in rows], np.array([float(row[3]) for row in rows]))
    return found


def score_run(run_dir: str, data: dict) -> dict[str, dict[str, np.ndarray]]:
    """view ("energy", "raw output") -> emotion -> the run's (N,) scores for that emotion on its tweets."""
    import torch

    from eqn_core.method.inference import outputs_to_energies, predict_outputs
    from eqn_core.runs.lifecycle import load_run_model

    model, config, label_names = load_run_model(run_dir, device=torch.device("cpu"))
    views: dict[str, dict[str, np.ndarray]] = {"energy": {}, "raw output": {}}
    for emotion, (tweets, _) in data.items():
        outputs = predict_outputs(model, model.featurize(tweets), batch_size=64, device=torch.device("cpu"),
                                  amp=False)  # (N, C)
        column = label_names.index(emotion)
        views["energy"][emotion] = outputs_to_energies(outputs, mode=config.mode)[:, column]
        views["raw output"][emotion] = outputs[:, column]
    return views


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="goemotions-eqn", help="comma-separated run ids of the workspace")
    parser.add_argument("--workspace", "-w", default=os.environ.get("EQN_WORKSPACE", "eqn-workspace"))
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()

    os.environ.setdefault("EQN_SHIPPED_MODELS", "1")
    from eqn_core.method.metrics import intensity_correlations
    from eqn_core.store.workspace import Workspace

    data = read_emoint(Path(args.data))
    results = []
    with Workspace(args.workspace) as workspace:
        runs = [workspace.get_run(run_id) for run_id in args.runs.split(",")]
    for run in runs:
        views = score_run(run["run_dir"], data)
        for view, scores in views.items():
            per_emotion = {emotion: intensity_correlations(scores[emotion], data[emotion][1],
                                                           resamples=args.resamples, seed=i)
                           for i, emotion in enumerate(EMOTIONS)}
            results.append({"run_id": run["run_id"], "mode": run["mode"], "view": view, "emotions": per_emotion,
                            "mean_spearman": float(np.mean([r["spearman"] for r in per_emotion.values()])),
                            "mean_pearson": float(np.mean([r["pearson"] for r in per_emotion.values()])),
                            "ceiling_ties": {e: int(np.sum(views["energy"][e] >= 10.0)) for e in EMOTIONS}})
    report = {"benchmark": "intensity", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "data": "EmoInt 2017 dev (anger 84, fear 110, joy 79, sadness 74 tweets)", "resamples": args.resamples,
              "command": "python benchmarks/intensity.py --runs " + args.runs, "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "intensity.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Intensity, zero-shot on EmoInt dev ({report['when']})", "",
             "Spearman [95% bootstrap interval] of the score against rated intensity; mean of the four emotions.", "",
             "| run | mode | score | " + " | ".join(EMOTIONS) + " | mean Spearman | mean Pearson |",
             "|---|---|---|" + "---|" * len(EMOTIONS) + "---|---|"]
    for row in results:
        cells = [f"{row['emotions'][e]['spearman']:.3f} [{row['emotions'][e]['spearman_ci'][0]:.2f}, "
                 f"{row['emotions'][e]['spearman_ci'][1]:.2f}]" for e in EMOTIONS]
        lines.append(f"| {row['run_id']} | {row['mode']} | {row['view']} | " + " | ".join(cells)
                     + f" | {row['mean_spearman']:.3f} | {row['mean_pearson']:.3f} |")
    (RESULTS / "intensity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
