"""The paper's Table 3 grid: each backbone with its conventional head (S or M) vs CoEQN vs EQN, per data set.

Same split, same epochs, same learning rate within each pair. EQN's Model 2 continues from Model 1, so EQN
trains twice as many epochs in all; the last column gives the conventional head those same total epochs (best
epoch on dev in every case), so EQN is also compared at an equal budget. Writes table3_grid.md / .json into --out;
--reuse keeps combinations whose report already exists (to finish an interrupted grid).
    python benchmarks/table3_grid.py --datasets emotion6,tfn3,goemotions --backbones ann,cnn,lstm,textcnn,bundled-minilm
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402

MULTI_LABEL = {"goemotions"}
SCRATCH = ("ann", "cnn", "lstm", "textcnn")
FROZEN_HEAD_EPOCHS = 30  # TrainConfig's default for a frozen transformer's head


def run_quality(name: str, options: list[str], out: Path, reuse: bool) -> list[dict]:
    report = out / "grid" / f"{name}.json"
    if not (reuse and report.exists()):
        quality.main(["--name", name, "--out", str(out / "grid"), *options])
    return json.loads(report.read_text())["rows"]


def total_hit_rate(row: dict) -> float | None:
    return next((h["hit_rate"] for h in row.get("hit_rates") or [] if h["label_count"] == "total"), None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="emotion6,tfn3,goemotions")
    parser.add_argument("--backbones", default="ann,cnn,lstm,textcnn,bundled-minilm")
    parser.add_argument("--scratch-epochs", type=int, default=3)
    parser.add_argument("--seed", default="13")
    parser.add_argument("--workspace", default=str(quality.REPO / "benchmarks" / "out" / "ws-grid"))
    parser.add_argument("--out", default=str(quality.REPO / "benchmarks" / "results"))
    parser.add_argument("--reuse", action="store_true", help="skip combinations whose report exists")
    args = parser.parse_args(argv)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    results = []
    out = Path(args.out)
    for dataset in args.datasets.split(","):
        conventional = "bce" if dataset in MULTI_LABEL else "softmax"
        for backbone in args.backbones.split(","):
            epochs = args.scratch_epochs if backbone in SCRATCH else FROZEN_HEAD_EPOCHS
            common = ["--dataset", dataset, "--encoder", backbone, "--seeds", args.seed,
                      "--workspace", args.workspace]
            print(f"[{time.monotonic() - started:7.0f}s] {dataset} / {backbone}", file=sys.stderr, flush=True)
            rows = run_quality(f"grid_{dataset}_{backbone}", common + ["--modes", f"{conventional},coeqn,eqn",
                               "--epochs", str(epochs)], out, args.reuse)
            rows += [{**row, "mode": f"{conventional}_2x"} for row in run_quality(
                f"grid_{dataset}_{backbone}_{conventional}_2x", common + ["--modes", conventional,
                "--epochs", str(2 * epochs)], out, args.reuse)]
            for row in rows:
                results.append({"dataset": dataset, "backbone": backbone, **{k: v for k, v in row.items()
                                if k in ("mode", "accuracy", "macro_f1", "macro_f1_tuned", "topk_f1", "wall_seconds")},
                                "hit_rate": total_hit_rate(row)})
    lines = ["# Table 3 grid: conventional head vs CoEQN vs EQN", "",
             f"- date: {started_at}; total {(time.monotonic() - started) / 60:.1f} min; command: "
             f"`python benchmarks/table3_grid.py {' '.join(sys.argv[1:])}`",
             f"- epochs per model: from-scratch backbones {args.scratch_epochs}, bundled-minilm (frozen encoder, "
             f"linear head) {FROZEN_HEAD_EPOCHS}; EQN = Model 1 + Model 2, so twice that in all; "
             "\"conventional, 2x epochs\" matches EQN's total",
             "- single-label sets: test accuracy by argmax (the paper's Table 3 figure) and macro-F1; GoEmotions: "
             "total hit rate (Table 4), top-k F1 (eq. 15) and macro-F1 under per-label thresholds tuned on dev", "",
             "| data set | backbone | conventional | conventional, 2x epochs | CoEQN | EQN |",
             "|---|---|---|---|---|---|"]
    for dataset in args.datasets.split(","):
        for backbone in args.backbones.split(","):
            cells = []
            conventional = "bce" if dataset in MULTI_LABEL else "softmax"
            for mode in (conventional, f"{conventional}_2x", "coeqn", "eqn"):
                row = next((r for r in results if r["dataset"] == dataset and r["backbone"] == backbone
                            and r["mode"] == mode), None)
                if row is None:
                    cells.append("-")
                elif dataset in MULTI_LABEL:
                    cells.append(f"hit {row['hit_rate']:.4f}, top-k F1 {row['topk_f1']:.4f}, "
                                 f"macro-F1 {row['macro_f1_tuned']:.4f}")
                else:
                    cells.append(f"acc {row['accuracy']:.4f}, macro-F1 {row['macro_f1']:.4f}")
            lines.append(f"| {dataset} | {backbone} | " + " | ".join(cells) + " |")
    (out / "table3_grid.md").write_text("\n".join(lines) + "\n")
    (out / "table3_grid.json").write_text(json.dumps(results, indent=1, default=float))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
