"""Quality benchmark: baselines vs CoEQN vs EQN side by side in one run, through the product's own run path.

Every run goes through eqn_core.runs and eqn_core.runs.process (prepare_run -> execute_run -> ingest_run), so the figures are what a
user of `eqn train` gets. Thresholds are tuned on the dev split only; test figures use them unchanged.

Example (full GoEmotions, frozen bundled encoder, BCE vs CoEQN vs EQN, 3 seeds):
    python benchmarks/quality.py --dataset goemotions --modes bce,coeqn,eqn --seeds 1,2,3 --name frozen

--equal-budget gives the baselines EQN's total epochs: EQN trains Model 1 for --epochs and one more model per
regression round for --model2-epochs, so BCE / softmax / CoEQN train epochs + rounds x model2_epochs in one model.

--add-runs puts runs that already finished in --workspace (e.g. one made with `eqn train`) into the table; --merge
adds the rows of earlier reports (their .json), so seeds trained at different times can be reported together.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eqn_core.io.datasets import load_builtin
from eqn_core.method.config import TrainConfig
from eqn_core.method.inference import device_name, pick_device
from eqn_core.method.metrics import decide, per_label_report
from eqn_core.runs.lifecycle import ingest_run, prepare_run
from eqn_core.runs.process import execute_run
from eqn_core.store.workspace import Workspace

PAPER = {  # the paper's BERT-base figures on the GoEmotions test split (Tables 4-6)
    "literature BERT (threshold 0.3)": {"macro_f1": 0.46},
    "paper CoEQN": {"macro_f1": 0.50, "hit_rate": 0.4849, "top_n": [0.5264, None, None]},
    "paper EQN": {"macro_f1": 0.52, "hit_rate": 0.5399, "top_n": [0.5264, 0.6922, 0.7795]},
}
GLOBAL_GRID = np.round(np.arange(0.1, 10.0, 0.1), 2)


def tune_global_threshold(energies: np.ndarray, human_labels: np.ndarray) -> float:
    """The one energy threshold h (eq. 8) with the best macro-F1 on the given (dev) split."""
    scores = [per_label_report(decide(energies, rule="threshold", thresholds=h), human_labels)["macro"]["f1"]
              for h in GLOBAL_GRID]
    return float(GLOBAL_GRID[int(np.argmax(scores))])


def ensure_dataset(workspace: Workspace, name: str, data_dir: Path) -> None:
    if name not in workspace.dataset_names():
        workspace.add_dataset(load_builtin(name, data_dir / name))


def summarise(workspace: Workspace, run_id: str, seconds: float | None) -> dict:
    """Test-split figures of one finished run, plus the dev-tuned global threshold."""
    run = workspace.get_run(run_id)
    metrics = run["metrics"]
    dataset = workspace.load_dataset(run["dataset"], splits=["dev", "test"])
    test = metrics["splits"]["test"]
    phases = metrics.get("phases", [])
    row = {"run_id": run_id, "mode": run["mode"], "seed": run["config"].get("seed"), "wall_seconds": seconds,
           "best_epochs": [p["best_epoch"] for p in phases],
           "epochs": "+".join(str(len(p["history"])) for p in phases)}  # epochs trained per model, e.g. "2+2"
    if dataset.multi_label:
        dev_energies = workspace.load_energies(run_id, "dev")
        test_energies = workspace.load_energies(run_id, "test")
        test_labels = dataset.splits["test"].human_labels
        h = tune_global_threshold(dev_energies, dataset.splits["dev"].human_labels)
        at_h = per_label_report(decide(test_energies, rule="threshold", thresholds=h), test_labels)
        row.update({
            "macro_f1_tuned": test["per_label_tuned"]["macro"]["f1"],
            "micro_f1_tuned": test["per_label_tuned"]["micro"]["f1"],
            "macro_f1_at_3": test["per_label_global"]["macro"]["f1"],
            "global_h_dev": h, "macro_f1_at_h": at_h["macro"]["f1"], "micro_f1_at_h": at_h["micro"]["f1"],
            "macro_f1_topk": test["per_label_topk"]["macro"]["f1"],
            "topk_f1": test["topk"]["f1"],
            "hit_rates": test["hit_rates"],
            "top_n": [r["hit_rate"] for r in test["top_n"]],
            "per_label_topk": test["per_label_topk"],
            "per_label_tuned": test["per_label_tuned"],
        })
    else:
        row.update({"accuracy": test["single_label"]["accuracy"], "macro_f1": test["single_label"]["macro_f1"]})
    return row


def run_seconds(run: dict) -> float | None:
    """Wall time of a finished run from its record (for runs this script did not time itself)."""
    if run.get("started_at") is None or run.get("finished_at") is None:
        return None
    return (pd.Timestamp(run["finished_at"]) - pd.Timestamp(run["started_at"])).total_seconds()


def run_one(workspace: Workspace, config: TrainConfig) -> tuple[str, float]:
    folder = prepare_run(workspace, config)
    started = time.monotonic()
    status = execute_run(folder.path, cache_dir=workspace.cache_dir, show_progress=False)
    seconds = time.monotonic() - started
    ingest_run(workspace, folder.path.name)
    if status["status"] != "finished":
        raise RuntimeError(f"run {folder.path.name} {status['status']}: {status.get('error')}")
    return folder.path.name, seconds


def mean_std(values: list[float], digits: int = 4) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def markdown_report(args, rows: list[dict], multi_label: bool, started_at: str, total_seconds: float) -> str:
    lines = [f"# Quality: {args.name}", "",
             f"- date: {started_at}; machine: {device_name(pick_device(args.device))}; "
             f"total wall time {total_seconds / 60:.1f} min; "
             f"peak RSS {peak_rss_mb():.0f} MB",
             f"- command: `python benchmarks/quality.py {' '.join(args.command)}`",
             f"- data set {args.dataset}, encoder {args.encoder} ({args.encoder_mode}), epochs per model {args.epochs}"
             f"{' (baselines: equal total budget)' if args.equal_budget else ''}, seeds {args.seeds}", ""]
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    if multi_label:
        lines += ["| mode | epochs | macro-F1 (per-label h tuned on dev) | micro-F1 (tuned) | macro-F1 at h=3.0 (BCE 0.3) | "
                  "macro-F1 at one h tuned on dev | top-k F1 (eq. 15) | total hit rate (Table 4) | Top-1 / Top-2 / Top-3 (Table 5) | wall s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for mode in modes:
            group = [r for r in rows if r["mode"] == mode]
            top_n = " / ".join(mean_std([r["top_n"][i] for r in group]) for i in range(3))
            lines.append(f"| {mode} | {epochs_of(group)} | {mean_std([r['macro_f1_tuned'] for r in group])} | "
                         f"{mean_std([r['micro_f1_tuned'] for r in group])} | "
                         f"{mean_std([r['macro_f1_at_3'] for r in group])} | "
                         f"{mean_std([r['macro_f1_at_h'] for r in group])} (h={','.join(str(r['global_h_dev']) for r in group)}) | "
                         f"{mean_std([r['topk_f1'] for r in group])} | "
                         f"{mean_std([r['hit_rates'][-1]['hit_rate'] for r in group])} | {top_n} | "
                         f"{mean_std([r['wall_seconds'] for r in group], 0)} |")
        lines += ["", "Every run (mean ± standard deviation above are over these):", "",
                  "| mode | seed | run | macro-F1 tuned | macro-F1 at h=3.0 | top-k F1 | total hit rate | Top-1 | wall s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            wall = "-" if r["wall_seconds"] is None else f"{r['wall_seconds']:.0f}"
            lines.append(f"| {r['mode']} | {r['seed']} | {r['run_id']} | {r['macro_f1_tuned']:.4f} | "
                         f"{r['macro_f1_at_3']:.4f} | {r['topk_f1']:.4f} | {r['hit_rates'][-1]['hit_rate']:.4f} | "
                         f"{r['top_n'][0]:.4f} | {wall} |")
        lines += ["", "Paper anchors (BERT-base fine-tuned): literature macro-F1 0.46, CoEQN 0.50, EQN 0.52; "
                  "total hit rate CoEQN 0.4849, EQN 0.5399; Top-1/2/3 0.5264 / 0.6922 / 0.7795.", "",
                  "## Table 4: hit rates by label count (first seed)", "",
                  "| mode | " + " | ".join(str(r["label_count"]) for r in rows[0]["hit_rates"]) + " |",
                  "|---|" + "---|" * len(rows[0]["hit_rates"])]
        firsts = {mode: next(r for r in rows if r["mode"] == mode) for mode in modes}
        for mode, r in firsts.items():
            lines.append(f"| {mode} | " + " | ".join(f"{h['hits']}/{h['num_labels']} = {h['hit_rate']:.4f}"
                                                      for h in r["hit_rates"]) + " |")
        lines += ["", "## Table 6: per-label precision / recall / F1 under top-k (first seed)", "",
                  "| label | " + " | ".join(f"{m} P | {m} R | {m} F1" for m in modes) + " |",
                  "|---|" + "---|---|---|" * len(modes)]
        names = [x["label"] for x in firsts[modes[0]]["per_label_topk"]["labels"]]
        for i, name in enumerate(names):
            cells = []
            for mode in modes:
                x = firsts[mode]["per_label_topk"]["labels"][i]
                cells.append(f"{x['precision']:.2f} | {x['recall']:.2f} | {x['f1']:.2f}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        for agg in ("macro", "std"):
            cells = [" | ".join(f"{firsts[m]['per_label_topk'][agg][k]:.2f}" for k in ("precision", "recall", "f1"))
                     for m in modes]
            lines.append(f"| {agg} | " + " | ".join(cells) + " |")
    else:
        lines += ["| mode | epochs | accuracy (argmax) | macro-F1 | wall s |", "|---|---|---|---|---|"]
        for mode in modes:
            group = [r for r in rows if r["mode"] == mode]
            lines.append(f"| {mode} | {epochs_of(group)} | {mean_std([r['accuracy'] for r in group])} | "
                         f"{mean_std([r['macro_f1'] for r in group])} | {mean_std([r['wall_seconds'] for r in group])} |")
    return "\n".join(lines) + "\n"


def epochs_of(group: list[dict]) -> str:
    """Epochs trained per model, as one value when all seeds agree (patience can stop a seed early)."""
    return ", ".join(dict.fromkeys(r.get("epochs", "-") for r in group))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="quality")
    parser.add_argument("--dataset", default="goemotions", choices=["goemotions", "emotion6", "tfn3"])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--workspace", default=str(REPO / "benchmarks" / "out" / "workspace"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--modes", default="bce,coeqn,eqn",
                        help="comma list; 'coeqn' is taken from the EQN run's Model 1 when eqn is listed too "
                             "(same seed, same training) unless --separate-coeqn")
    parser.add_argument("--separate-coeqn", action="store_true")
    parser.add_argument("--equal-budget", action="store_true",
                        help="baselines and CoEQN train for EQN's total epochs ((1 + rounds) x --epochs); "
                             "implies --separate-coeqn")
    parser.add_argument("--seeds", default="13")
    parser.add_argument("--encoder", default="bundled-minilm")
    parser.add_argument("--encoder-mode", default="frozen")
    parser.add_argument("--trained-layers", type=int, default=2, help="partial mode: top layers that train")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--model2-epochs", type=int, help="EQN's Model 2 (default: the encoder mode's)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-train-rows", type=int)
    parser.add_argument("--fresh-model2", action="store_true")
    parser.add_argument("--regression-targets", default="in_sample")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--add-runs", default="", help="comma list of finished runs in --workspace to report as well")
    parser.add_argument("--merge", nargs="*", default=[], help="earlier reports (.json) whose rows join this one")
    parser.add_argument("--no-train-energies", dest="annotate_train", action="store_false",
                        help="skip annotating the training split after training (test figures are unaffected)")
    args = parser.parse_args(argv)
    args.command = list(sys.argv[1:] if argv is None else argv)  # as given, also when called from another script

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    modes = args.modes.split(",")
    separate_coeqn = args.separate_coeqn or args.equal_budget
    rows = []
    for earlier in args.merge:
        for row in json.loads(Path(earlier).read_text())["rows"]:
            rows.append({**row, "note": row.get("note") or f"from {Path(earlier).name}"})
    with Workspace(args.workspace) as workspace:
        ensure_dataset(workspace, args.dataset, Path(args.data_dir))
        multi_label = workspace.load_dataset(args.dataset, splits=["dev"]).multi_label
        for run_id in filter(None, args.add_runs.split(",")):
            rows.append(summarise(workspace, run_id, run_seconds(workspace.get_run(run_id))))
        for seed in [int(s) for s in args.seeds.split(",") if s]:
            for mode in modes:
                if mode == "coeqn" and "eqn" in modes and not separate_coeqn:
                    continue  # taken from the EQN run below
                config = TrainConfig(dataset=args.dataset, mode=mode, encoder=args.encoder,
                                     encoder_mode=args.encoder_mode, trained_layers=args.trained_layers,
                                     epochs=args.epochs, model2_epochs=args.model2_epochs, batch_size=args.batch_size,
                                     learning_rate=args.lr, max_length=args.max_length, seed=seed, device=args.device,
                                     max_train_rows=args.max_train_rows, continue_from_model1=not args.fresh_model2,
                                     regression_targets=args.regression_targets, folds=args.folds, rounds=args.rounds,
                                     annotate_train=args.annotate_train)
                if args.equal_budget and mode != "eqn":  # EQN's total: Model 1 + each regression round's model
                    eqn_config = dataclasses.replace(config, mode="eqn").resolved()
                    config = dataclasses.replace(
                        config, epochs=eqn_config.epochs + eqn_config.model2_epochs * args.rounds)
                print(f"[{time.monotonic() - started:7.0f}s] {mode} seed {seed} ...", file=sys.stderr, flush=True)
                run_id, seconds = run_one(workspace, config)
                rows.append(summarise(workspace, run_id, seconds))
                if mode == "eqn" and "coeqn" in modes and not separate_coeqn:
                    coeqn = summarise(workspace, f"{run_id}.model1", None)
                    coeqn["note"] = "Model 1 of the EQN run"
                    rows.append(coeqn)
                print(f"  done in {seconds:.0f}s: " + json.dumps({k: v for k, v in rows[-1].items()
                      if isinstance(v, (int, float, str))}), file=sys.stderr, flush=True)
    total = time.monotonic() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = markdown_report(args, rows, multi_label, started_at, total)
    (out / f"{args.name}.md").write_text(report)
    (out / f"{args.name}.json").write_text(json.dumps({"args": vars(args), "started_at": started_at,
                                                        "total_seconds": total, "peak_rss_mb": peak_rss_mb(),
                                                        "rows": rows}, indent=1, default=float))
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
