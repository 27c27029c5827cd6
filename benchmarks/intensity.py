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
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "emoint-dev"
RESULTS = REPO / "benchmarks" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="goemotions-eqn", help="comma-separated run ids of the workspace")
    parser.add_argument("--workspace", "-w", default=os.environ.get("EQN_WORKSPACE", "eqn-workspace"))
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()

    os.environ.setdefault("EQN_SHIPPED_MODELS", "1")
    from eqn_core.io.intensity_sets import EMOINT_EMOTIONS as EMOTIONS
    from eqn_core.io.intensity_sets import read_emoint
    from eqn_core.runs.intensity import EMOINT_DATA, intensity_summary, run_scores
    from eqn_core.store.workspace import Workspace

    data = read_emoint(Path(args.data))
    results = []
    with Workspace(args.workspace) as workspace:
        runs = [workspace.get_run(run_id) for run_id in args.runs.split(",")]
    for run in runs:
        views = run_scores(run["run_dir"], data)
        for view, scores in views.items():
            results.append({"run_id": run["run_id"], "mode": run["mode"], "view": view,
                            **intensity_summary(scores, data, resamples=args.resamples),
                            "ceiling_ties": {e: int(np.sum(views["energy"][e] >= 10.0)) for e in EMOTIONS}})
    report = {"benchmark": "intensity", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "data": EMOINT_DATA, "resamples": args.resamples,
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
