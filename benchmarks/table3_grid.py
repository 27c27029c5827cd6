"""The paper's Table 3 grid: each backbone with its conventional head (S or M) vs CoEQN vs EQN, per data set.

Same split, same epochs, same learning rate within each pair. Writes table3_grid.md / .json into --out.
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="emotion6,tfn3,goemotions")
    parser.add_argument("--backbones", default="ann,cnn,lstm,textcnn,bundled-minilm")
    parser.add_argument("--scratch-epochs", type=int, default=3)
    parser.add_argument("--seed", default="13")
    parser.add_argument("--workspace", default=str(quality.REPO / "benchmarks" / "out" / "ws-grid"))
    parser.add_argument("--out", default=str(quality.REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    results = []
    for dataset in args.datasets.split(","):
        conventional = "bce" if dataset in MULTI_LABEL else "softmax"
        for backbone in args.backbones.split(","):
            name = f"grid_{dataset}_{backbone}"
            options = ["--name", name, "--dataset", dataset, "--encoder", backbone, "--modes",
                       f"{conventional},coeqn,eqn", "--seeds", args.seed, "--workspace", args.workspace,
                       "--out", str(Path(args.out) / "grid")]
            if backbone in ("ann", "cnn", "lstm", "textcnn"):
                options += ["--epochs", str(args.scratch_epochs)]
            print(f"[{time.monotonic() - started:7.0f}s] {dataset} / {backbone}", file=sys.stderr, flush=True)
            quality.main(options)
            rows = json.loads((Path(args.out) / "grid" / f"{name}.json").read_text())["rows"]
            for row in rows:
                results.append({"dataset": dataset, "backbone": backbone, **{k: v for k, v in row.items()
                                if k in ("mode", "accuracy", "macro_f1", "macro_f1_tuned", "topk_f1", "wall_seconds")}})
    lines = ["# Table 3 grid: conventional head vs CoEQN vs EQN", "",
             f"- date: {started_at}; total {(time.monotonic() - started) / 60:.1f} min; command: "
             f"`python benchmarks/table3_grid.py {' '.join(sys.argv[1:])}`",
             f"- from-scratch backbones: {args.scratch_epochs} epochs; bundled-minilm: frozen encoder, head 30 epochs",
             "- single-label sets: test accuracy by argmax (the paper's Table 3 figure); GoEmotions: top-k F1 "
             "(eq. 15) and macro-F1 under per-label thresholds tuned on dev", "",
             "| data set | backbone | conventional | CoEQN | EQN |", "|---|---|---|---|---|"]
    for dataset in args.datasets.split(","):
        for backbone in args.backbones.split(","):
            cells = []
            for mode in ("softmax" if dataset not in MULTI_LABEL else "bce", "coeqn", "eqn"):
                row = next((r for r in results if r["dataset"] == dataset and r["backbone"] == backbone
                            and r["mode"] == mode), None)
                if row is None:
                    cells.append("-")
                elif dataset in MULTI_LABEL:
                    cells.append(f"top-k F1 {row['topk_f1']:.4f}, macro-F1 {row['macro_f1_tuned']:.4f}")
                else:
                    cells.append(f"acc {row['accuracy']:.4f}, macro-F1 {row['macro_f1']:.4f}")
            lines.append(f"| {dataset} | {backbone} | " + " | ".join(cells) + " |")
    out = Path(args.out)
    (out / "table3_grid.md").write_text("\n".join(lines) + "\n")
    (out / "table3_grid.json").write_text(json.dumps(results, indent=1, default=float))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
