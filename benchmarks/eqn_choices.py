"""The method's open choices, measured side by side in one run on the same data, encoder and seeds:
Model 2 continuing from Model 1 vs fresh; in-sample vs out-of-fold regression targets; one vs two rounds.

    python benchmarks/eqn_choices.py --seeds 13,14,15
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
from quality import TrainConfig, Workspace, ensure_dataset, mean_std, run_one, summarise  # noqa: E402

VARIANTS = {
    "paper: continue, in-sample, 1 round": dict(continue_from_model1=True, regression_targets="in_sample", rounds=1),
    "fresh Model 2, in-sample, 1 round": dict(continue_from_model1=False, regression_targets="in_sample", rounds=1),
    "continue, out-of-fold (5), 1 round": dict(continue_from_model1=True, regression_targets="out_of_fold", rounds=1),
    "continue, in-sample, 2 rounds": dict(continue_from_model1=True, regression_targets="in_sample", rounds=2),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="goemotions")
    parser.add_argument("--encoder", default="bundled-minilm")
    parser.add_argument("--encoder-mode", default="frozen")
    parser.add_argument("--seeds", default="13")
    parser.add_argument("--data-dir", default=str(quality.REPO.parent / "shared" / "data"))
    parser.add_argument("--workspace", default=str(quality.REPO / "benchmarks" / "out" / "ws-choices"))
    parser.add_argument("--out", default=str(quality.REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    rows = []
    with Workspace(args.workspace) as workspace:
        ensure_dataset(workspace, args.dataset, Path(args.data_dir))
        for seed in [int(s) for s in args.seeds.split(",")]:
            for variant, options in VARIANTS.items():
                config = TrainConfig(dataset=args.dataset, mode="eqn", encoder=args.encoder,
                                     encoder_mode=args.encoder_mode, seed=seed, **options)
                print(f"[{time.monotonic() - started:7.0f}s] {variant}, seed {seed}", file=sys.stderr, flush=True)
                run_id, seconds = run_one(workspace, config)
                rows.append({"variant": variant, **summarise(workspace, run_id, seconds)})
                if not any(r["variant"] == "CoEQN (Model 1)" and r["seed"] == seed for r in rows):
                    rows.append({"variant": "CoEQN (Model 1)", **summarise(workspace, f"{run_id}.model1", None)})
    lines = [f"# EQN open choices ({args.dataset}, {args.encoder} {args.encoder_mode})", "",
             f"- date: {started_at}; total {(time.monotonic() - started) / 60:.1f} min; seeds {args.seeds}; command: "
             f"`python benchmarks/eqn_choices.py {' '.join(sys.argv[1:])}`", "",
             "| variant | macro-F1 (tuned on dev) | micro-F1 (tuned) | top-k F1 | total hit rate | Top-1 / Top-2 / Top-3 | wall s |",
             "|---|---|---|---|---|---|---|"]
    for variant in ["CoEQN (Model 1)", *VARIANTS]:
        group = [r for r in rows if r["variant"] == variant]
        top_n = " / ".join(mean_std([r["top_n"][i] for r in group]) for i in range(3))
        lines.append(f"| {variant} | {mean_std([r['macro_f1_tuned'] for r in group])} | "
                     f"{mean_std([r['micro_f1_tuned'] for r in group])} | {mean_std([r['topk_f1'] for r in group])} | "
                     f"{mean_std([r['hit_rates'][-1]['hit_rate'] for r in group])} | {top_n} | "
                     f"{mean_std([r['wall_seconds'] for r in group])} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eqn_choices.md").write_text("\n".join(lines) + "\n")
    (out / "eqn_choices.json").write_text(json.dumps(rows, indent=1, default=float))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
