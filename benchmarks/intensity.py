"""Does an energy mean intensity? Zero-shot on EmoInt 2017 dev tweets (../shared/data/emoint-dev, crowd-rated
intensity 0-1 for anger, fear, joy, sadness; never trained or tuned on): Spearman and Pearson of each model's score
for the tweet's emotion against the rated intensity, per emotion and their mean, with 95% bootstrap intervals.

Each model is scored twice: its energy as users see it (regression modes clipped to [0, 10]; BCE's 10 * sigmoid),
and its raw head output before the clip (for regression modes the order above 10 and below 0 that the clip throws
away; for BCE the logit, which orders as the probability does). fp32 on CPU, so the figures do not move with bf16.

--average A+B also scores the mean of two runs' energies (e.g. an EQN run and the CoEQN run of the same seed), one
of the issue's candidate remedies. Beside the intensity table, the label quality of every row on GoEmotions test
(macro-F1 with per-label thresholds tuned on dev, and at h = 3) from the energies stored in the workspace, so a
remedy is judged on both at once.

    python benchmarks/intensity.py                                     # the shipped goemotions-eqn
    python benchmarks/intensity.py --runs goemotions-eqn,bce-s13 -w eqn-workspace
    python benchmarks/intensity.py --runs goemotions-eqn,coeqn-s13 --average goemotions-eqn+coeqn-s13 -w W
Writes benchmarks/results/intensity.{json,md} (--name for another name).
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
    parser.add_argument("--average", default="", help="comma-separated A+B pairs of the runs: their mean energy")
    parser.add_argument("--name", default="intensity", help="result file name")
    args = parser.parse_args()

    os.environ.setdefault("EQN_SHIPPED_MODELS", "1")
    from eqn_core.io.intensity_sets import EMOINT_EMOTIONS as EMOTIONS
    from eqn_core.io.intensity_sets import read_emoint
    from eqn_core.runs.intensity import EMOINT_DATA, intensity_summary, run_scores
    from eqn_core.store.workspace import Workspace

    data = read_emoint(Path(args.data))
    results, energies = [], {}
    pairs = [pair.split("+") for pair in args.average.split(",") if pair]
    with Workspace(args.workspace) as workspace:
        runs = [workspace.get_run(run_id) for run_id in args.runs.split(",")]
        quality = {run["run_id"]: goemotions_quality(workspace, [run["run_id"]]) for run in runs}
        quality.update({"+".join(pair): goemotions_quality(workspace, pair) for pair in pairs})
    for run in runs:
        views = run_scores(run["run_dir"], data)
        energies[run["run_id"]] = views["energy"]
        for view, scores in views.items():
            results.append({"run_id": run["run_id"], "mode": run["mode"], "view": view,
                            **intensity_summary(scores, data, resamples=args.resamples),
                            "ceiling_ties": {e: int(np.sum(views["energy"][e] >= 10.0)) for e in EMOTIONS},
                            "goemotions_test": quality[run["run_id"]]})
    for pair in pairs:  # the mean of two runs' energies, as users would see it
        scores = {e: np.mean([energies[run_id][e] for run_id in pair], axis=0) for e in EMOTIONS}
        results.append({"run_id": "+".join(pair), "mode": "average", "view": "energy",
                        **intensity_summary(scores, data, resamples=args.resamples),
                        "goemotions_test": quality["+".join(pair)]})
    command = "python benchmarks/intensity.py --runs " + args.runs + (f" --average {args.average}" if pairs else "")
    report = {"benchmark": "intensity", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "data": EMOINT_DATA, "resamples": args.resamples, "command": command, "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Intensity, zero-shot on EmoInt dev ({report['when']})", "",
             "Spearman [95% bootstrap interval] of the score against rated intensity; mean of the four emotions.", "",
             "| run | mode | score | " + " | ".join(EMOTIONS) + " | mean Spearman | mean Pearson | GoEmotions test "
             "macro-F1 tuned / at h = 3 |",
             "|---|---|---|" + "---|" * len(EMOTIONS) + "---|---|---|"]
    for row in results:
        cells = [f"{row['emotions'][e]['spearman']:.3f} [{row['emotions'][e]['spearman_ci'][0]:.2f}, "
                 f"{row['emotions'][e]['spearman_ci'][1]:.2f}]" for e in EMOTIONS]
        test = row["goemotions_test"]
        lines.append(f"| {row['run_id']} | {row['mode']} | {row['view']} | " + " | ".join(cells)
                     + f" | {row['mean_spearman']:.3f} | {row['mean_pearson']:.3f} | "
                     + (f"{test['macro_f1_tuned']:.4f} / {test['macro_f1_at_3']:.4f} |" if test else "- |"))
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def goemotions_quality(workspace, run_ids: list[str]) -> dict | None:
    """Test macro-F1 (per-label thresholds tuned on dev; and at h = 3) of the mean of these runs' stored GoEmotions
    energies; None when a run has no GoEmotions dev and test energies in the workspace."""
    from eqn_core.method.reports import evaluate_energies
    from eqn_core.method.thresholds import DEFAULT_THRESHOLD, tune_thresholds

    try:
        dev = np.mean([workspace.load_energies(run_id, "dev") for run_id in run_ids], axis=0)
        test = np.mean([workspace.load_energies(run_id, "test") for run_id in run_ids], axis=0)
        dataset = workspace.load_dataset("goemotions", splits=["dev", "test"])
    except KeyError:
        return None
    report = evaluate_energies(test, dataset.splits["test"].human_labels, label_names=dataset.label_names,
                               thresholds=tune_thresholds(dev, dataset.splits["dev"].human_labels),
                               global_threshold=DEFAULT_THRESHOLD)
    return {"macro_f1_tuned": report["per_label_tuned"]["macro"]["f1"],
            "macro_f1_at_3": report["per_label_global"]["macro"]["f1"]}


if __name__ == "__main__":
    sys.exit(main())
