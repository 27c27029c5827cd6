"""Challenge set: hand-written texts whose emotion a reader names at once (benchmarks/challenge_set.csv, one intended
GoEmotions emotion per text, plain or through negation, an idiom or understatement). Nothing trains or tunes on it.

For each run: top-1 and top-3 accuracy of the intended emotion overall, per kind, for the six rarest GoEmotions
labels together and one by one, and the share of texts whose intended emotion reaches the default threshold h.
Emotions are ranked by the head's raw output (the energy's order, without the ties the clip to [0, 10] makes);
fp32 on CPU, so the figures do not move with bf16.

    python benchmarks/challenge.py                                    # the shipped goemotions-eqn
    python benchmarks/challenge.py --runs goemotions-eqn,bce-s13 -w /tmp/bcews
Writes benchmarks/results/challenge.{json,md} (--name to change).
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
CHALLENGE = REPO / "benchmarks" / "challenge_set.csv"
RESULTS = REPO / "benchmarks" / "results"
KINDS = ("plain", "negation", "idiom", "understatement")
RARE = ("grief", "nervousness", "relief", "pride", "embarrassment", "remorse")  # GoEmotions' six rarest labels


def read_challenge(path: Path = CHALLENGE) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def score_run(run_dir: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """(raw outputs (N, C), energies (N, C), label names, mode) of a finished run on the texts."""
    import torch

    from eqn_core.method.inference import outputs_to_energies, predict_outputs
    from eqn_core.runs.lifecycle import load_run_model

    model, config, label_names = load_run_model(run_dir, device=torch.device("cpu"))
    outputs = predict_outputs(model, model.featurize(texts), batch_size=64, device=torch.device("cpu"), amp=False)
    return outputs, outputs_to_energies(outputs, mode=config.mode), label_names, config.mode


def ranks(outputs: np.ndarray, intended: np.ndarray) -> np.ndarray:
    """(N,) 1-based rank of each text's intended emotion among all emotions (1 = the model's top emotion)."""
    mine = outputs[np.arange(len(outputs)), intended][:, None]
    return (outputs > mine).sum(axis=1) + 1


def group_scores(rank: np.ndarray, reached: np.ndarray, mask: np.ndarray, emotional_rank: np.ndarray) -> dict:
    """Top-1 / top-3 and the share reaching h of the texts in mask; *_without_neutral: the rank among the other
    labels (neutral left out, as Review's suggestions do), over the texts whose intended emotion is not neutral."""
    n = int(mask.sum())
    if not n:
        return {"n": 0}
    scores = {"n": n, "top1": float((rank[mask] == 1).mean()), "top3": float((rank[mask] <= 3).mean()),
              "reaches_h": float(reached[mask].mean())}
    emotional = mask & (emotional_rank > 0)
    if emotional.any():
        scores.update(top1_without_neutral=float((emotional_rank[emotional] == 1).mean()),
                      top3_without_neutral=float((emotional_rank[emotional] <= 3).mean()))
    return scores


def evaluate(rows: list[dict], outputs: np.ndarray, energies: np.ndarray, label_names: list[str],
             threshold: float) -> dict:
    unknown = sorted({r["emotion"] for r in rows} - set(label_names))
    if unknown:
        raise ValueError(f"the run has no label(s) {', '.join(unknown)}: score a run trained on GoEmotions")
    intended = np.array([label_names.index(r["emotion"]) for r in rows])
    rank = ranks(outputs, intended)
    emotional_rank = np.zeros(len(rows), dtype=np.int64)  # 0 for texts meant as neutral
    if "neutral" in label_names:
        without = outputs.astype(np.float64).copy()
        without[:, label_names.index("neutral")] = -np.inf
        meant = intended != label_names.index("neutral")
        emotional_rank[meant] = ranks(without, intended)[meant]
    else:
        emotional_rank = rank
    reached = energies[np.arange(len(rows)), intended] >= np.float32(threshold)
    kinds = np.array([r["kind"] for r in rows])
    emotions = np.array([r["emotion"] for r in rows])
    groups = {"all": np.ones(len(rows), dtype=bool)}
    groups.update({f"kind: {kind}": kinds == kind for kind in KINDS})
    groups["rare six"] = np.isin(emotions, RARE)
    groups.update({f"rare: {label}": emotions == label for label in RARE})
    top3 = np.argsort(-outputs, axis=1, kind="stable")[:, :3]
    texts = [{"id": r["id"], "emotion": r["emotion"], "kind": r["kind"], "rank": int(rank[i]),
              "energy": round(float(energies[i, intended[i]]), 2),
              "top3": [label_names[j] for j in top3[i]]} for i, r in enumerate(rows)]
    per_emotion = {e: group_scores(rank, reached, emotions == e, emotional_rank) for e in sorted(set(emotions))}
    return {"groups": {name: group_scores(rank, reached, mask, emotional_rank) for name, mask in groups.items()},
            "per_emotion": per_emotion, "texts": texts}


def markdown(report: dict) -> list[str]:
    runs = report["results"]
    lines = [f"# Challenge set: {report['texts']} hand-written texts ({report['when']})", "",
             (f"Top-1 / top-3 accuracy of the intended emotion; in brackets the share whose energy for it reaches "
              f"h = {report['threshold']:g}. Command: `{report['command']}`"), "",
             "| texts | n | " + " | ".join(f"{r['run_id']} ({r['mode']})" for r in runs) + " |",
             "|---|---|" + "---|" * len(runs)]
    def cell(group: dict, suffix: str = "", reach: bool = True) -> str:
        if f"top1{suffix}" not in group:
            return "-"
        text = f"{group['top1' + suffix]:.2f} / {group['top3' + suffix]:.2f}"
        return text + (f" ({group['reaches_h']:.2f})" if reach else "")

    for name, first in runs[0]["groups"].items():
        lines.append(f"| {name} | {first['n']} | " + " | ".join(cell(r["groups"][name]) for r in runs) + " |")
    lines += ["", "Leaving neutral out (as Review's suggestions do), texts meant as an emotion: top-1 / top-3.", "",
              "| texts | " + " | ".join(r["run_id"] for r in runs) + " |", "|---|" + "---|" * len(runs)]
    for name in ("all", *(f"kind: {kind}" for kind in KINDS), "rare six"):
        cells = [cell(r["groups"][name], "_without_neutral", reach=False) for r in runs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="goemotions-eqn", help="comma-separated run ids of the workspace")
    parser.add_argument("--workspace", "-w", default=str(REPO / "benchmarks" / "out" / "challenge-ws"),
                        help="the workspace that holds the runs (default: a scratch one, which holds only the "
                             "shipped goemotions-eqn)")
    parser.add_argument("--data", default=str(CHALLENGE))
    parser.add_argument("--name", default="challenge")
    args = parser.parse_args()

    os.environ.setdefault("EQN_SHIPPED_MODELS", "1")
    from eqn_core.method.thresholds import DEFAULT_THRESHOLD
    from eqn_core.store.workspace import Workspace

    rows = read_challenge(Path(args.data))
    with Workspace(args.workspace) as workspace:
        runs = [workspace.get_run(run_id) for run_id in args.runs.split(",")]
    results = []
    for run in runs:
        if run["status"] != "finished":
            raise ValueError(f"run {run['run_id']} is {run['status']}; only a finished run can be scored")
        outputs, energies, label_names, mode = score_run(run["run_dir"], [r["text"] for r in rows])
        results.append({"run_id": run["run_id"], "mode": mode, "encoder": run["encoder"],
                        **evaluate(rows, outputs, energies, label_names, DEFAULT_THRESHOLD)})
    command = "python benchmarks/challenge.py --runs " + args.runs
    if args.workspace != parser.get_default("workspace"):
        command += f" -w {args.workspace}"
    report = {"benchmark": "challenge", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "data": str(Path(args.data).resolve().relative_to(REPO)) if Path(args.data).resolve().is_relative_to(
                  REPO) else args.data, "texts": len(rows), "threshold": DEFAULT_THRESHOLD, "command": command,
              "note": "hand-written for this benchmark; no run trains or tunes on it", "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = markdown(report)
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
