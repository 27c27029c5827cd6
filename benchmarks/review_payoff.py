"""Reviews teach the model: a simulated reviewer on GoEmotions, and what N reviewed texts are worth.

The labels of a pool of --pool training texts are hidden; EQN trains on the rest ("no reviews"). That run annotates
the pool, the pool is put in review order (review.suggestions.queue_order, hidden labels = none, non-emotion
"neutral" left out, global h = the Review page's default 3.0), and a simulated reviewer works through the first N
texts following the hidden human labels, as the Review page lets one: a suggestion (energy >= h) that is a hidden
label is accepted, one that is not is rejected, a hidden label below h is added (set to --add-energy). The decisions
go through the product's rules (runs.review_training.review_target_matrix: combine_reviews, then
labels.apply_review_targets in run_method's label regression) and EQN trains again on the rest plus the N texts
(which have no human labels: Model 1 sees them as all-zero, Model 2's targets take the reviewed values, the rest of
their values keep the paper's rule). Compared: no reviews; the same N in random order; the same N texts with their
full human labels (ceiling). Test macro-F1 under per-label thresholds tuned on dev, the six rarest labels' F1 and the
total hit rate (Table 4).

The encoder is frozen (pooled MiniLM embeddings computed once, head-only training: seconds per run), because a
partial-mode run takes 15+ min on 2 CPU cores and this needs ~60 trainings. Every training goes through
method.regression.run_method with the run's embeddings taken from the cache (the cache file of each condition's
training texts is assembled from the full split's embeddings, so nothing is embedded twice).

    python benchmarks/review_payoff.py --seeds 13,14,15 --sizes 100,500,2000 --orders missed,disagreement,random

writes benchmarks/results/review_payoff.json after every condition and review_payoff.md / .png at the end.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eqn_core.io.datasets import LabeledDataset, LabeledSplit, load_builtin  # noqa: E402
from eqn_core.method.config import TrainConfig  # noqa: E402
from eqn_core.method.inference import device_name, outputs_to_energies, pick_device, predict_outputs  # noqa: E402
from eqn_core.method.models import EmbeddedTexts, build_model, texts_fingerprint  # noqa: E402
from eqn_core.method.regression import FeatureSource, run_method  # noqa: E402
from eqn_core.review.suggestions import label_mask, queue_order, record_suggestions  # noqa: E402
from eqn_core.runs.process import annotate_splits, run_metrics  # noqa: E402
from eqn_core.runs.review_training import review_target_matrix  # noqa: E402

RARE = ["grief", "nervousness", "relief", "pride", "embarrassment", "remorse"]  # the six rarest GoEmotions labels
H = 3.0  # the Review page's default threshold (a run's recorded global h)
RESULTS = REPO / "benchmarks" / "results"


def simulated_decisions(energies: np.ndarray, hidden: np.ndarray, rows: np.ndarray, label_names: list[str],
                        exclude: np.ndarray, add_energy: float) -> pd.DataFrame:
    """One reviewer's decisions (workspace.reviews() columns) on `rows` of the pool, following the hidden labels.

    energies: (P, C) the model the reviewer sees; hidden: (P, C) bool; rows: pool rows reviewed, in queue order.
    """
    suggested = record_suggestions(energies, np.zeros_like(hidden), H, exclude_mask=exclude)  # (P, C)
    found = []
    for row in rows:
        for j in np.flatnonzero(suggested[row]):
            found.append((row, label_names[j], "accept" if hidden[row, j] else "reject", float(energies[row, j])))
        for j in np.flatnonzero(hidden[row] & ~suggested[row] & (energies[row] < H)):  # a missed emotion: added
            found.append((row, label_names[j], "set", add_energy))
    frame = pd.DataFrame(found, columns=["row_idx", "label", "decision", "energy"])
    frame.insert(0, "id", np.arange(len(frame)))
    frame["reviewer"] = "sim"
    return frame


def training_set(full: LabeledDataset, rows: np.ndarray, extra_rows: np.ndarray,
                 extra_labels: np.ndarray) -> tuple[LabeledDataset, np.ndarray]:
    """The data set a condition trains on: train = `rows` of the full train split (their human labels) + `extra_rows`
    (with extra_labels: all False for reviewed texts, their human labels for the ceiling); dev and test unchanged.
    Returns it and the full split's row of each of its training texts."""
    train = full.splits["train"]
    order = np.concatenate([rows, extra_rows]).astype(np.int64)
    labels = np.concatenate([train.human_labels[rows], extra_labels]).astype(bool)
    split = LabeledSplit(texts=[train.texts[i] for i in order], human_labels=labels,
                         text_ids=[train.text_ids[i] for i in order])
    return LabeledDataset(name=full.name, label_names=full.label_names,
                          splits={"train": split, "dev": full.splits["dev"], "test": full.splits["test"]},
                          multi_label=True, source=full.source), order


class Bench:
    def __init__(self, args):
        self.args = args
        self.device = pick_device("cpu")
        self.full = load_builtin("goemotions", Path(args.data) / "goemotions")
        self.names = self.full.label_names
        self.cache = Path(args.cache)
        self.config = TrainConfig(dataset="goemotions", mode="eqn", encoder_mode="frozen", device="cpu",
                                  epochs=args.epochs, model2_epochs=args.model2_epochs, batch_size=args.batch_size,
                                  learning_rate=args.lr).resolved()
        model = build_model(self.config, len(self.names))
        self.max_length = model.encoder.max_length
        source = FeatureSource(self.config, self.device, self.cache)
        started = time.monotonic()
        self.train_vectors = source(model, self.full.splits["train"].texts, phase="embedding train").embeddings
        for split in ("dev", "test"):
            source(model, self.full.splits[split].texts, phase=f"embedding {split}")
        self.embed_seconds = time.monotonic() - started
        self.exclude = label_mask(self.names, ["neutral"])

    def train(self, data: tuple[LabeledDataset, np.ndarray], seed: int, review=None):
        """EQN on a training_set() (frozen encoder, embeddings from the cache); returns (model, metrics, seconds)."""
        import dataclasses

        dataset, order = data
        key = texts_fingerprint(self.config.encoder, self.max_length, dataset.splits["train"].texts)
        path = self.cache / "embeddings" / f"{key}.npy"
        np.save(path, self.train_vectors[order].numpy())  # this condition's cache file, from the full split's
        config = dataclasses.replace(self.config, seed=seed)
        try:
            started = time.monotonic()
            result = run_method(config, dataset, device=self.device, cache_dir=self.cache, review_targets=review)
            energies = annotate_splits(result.model, result.features, dataset, config, ["dev", "test"],
                                       device=self.device, on_progress=lambda event: None)
            seconds = time.monotonic() - started
        finally:
            path.unlink(missing_ok=True)
        return result.model, run_metrics(dataset, energies, result.phases), seconds

    def pool_energies(self, model, pool: np.ndarray) -> np.ndarray:
        outputs = predict_outputs(model, EmbeddedTexts(self.train_vectors[pool]), batch_size=256, device=self.device)
        return outputs_to_energies(outputs, mode="eqn")


def figures(metrics: dict, names: list[str]) -> dict:
    test = metrics["splits"]["test"]
    per_label = {row["label"]: row["f1"] for row in test["per_label_tuned"]["labels"]}
    return {"macro_f1": test["per_label_tuned"]["macro"]["f1"], "micro_f1": test["per_label_tuned"]["micro"]["f1"],
            "rare_f1": float(np.mean([per_label[name] for name in RARE])),
            "rare_per_label": {name: per_label[name] for name in RARE},
            "hit_rate": test["hit_rates"][-1]["hit_rate"], "topk_f1": test["topk"]["f1"]}


def run(args) -> dict:
    out = Path(args.out)
    bench = Bench(args)
    print(f"embeddings ready in {bench.embed_seconds:.0f} s", flush=True)
    report = {"command": "python benchmarks/review_payoff.py " + " ".join(sys.argv[1:]),
              "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": device_name(bench.device), "encoder": "bundled-minilm (frozen: cached pooled embeddings)",
              "threshold_for_suggestions": H, "add_energy": args.add_energy, "pool": args.pool,
              "base_rows": args.base_rows,
              "training": {"epochs": args.epochs, "model2_epochs": args.model2_epochs, "batch_size": args.batch_size,
                           "learning_rate": args.lr, "torch_threads": args.threads},
              "embed_seconds": bench.embed_seconds, "rows": []}
    if out.exists() and args.resume:
        report["rows"] = json.loads(out.read_text())["rows"]
    done = {(r["seed"], r["condition"], r["order"], r["n"]) for r in report["rows"]}
    train_rows = np.arange(len(bench.full.splits["train"].texts))
    hidden_all = bench.full.splits["train"].human_labels
    num_labels = len(bench.names)

    def keep(row: dict) -> None:
        report["rows"].append(row)
        out.write_text(json.dumps(report, indent=1))
        print(f"seed {row['seed']} {row['condition']:<10} {row['order']:<12} N={row['n']:<5} macro-F1 "
              f"{row['macro_f1']:.4f} rare {row['rare_f1']:.4f} hit {row['hit_rate']:.4f} ({row['seconds']:.0f} s)",
              flush=True)

    for seed in args.seeds:
        pool = np.sort(np.random.default_rng(seed).choice(train_rows, args.pool, replace=False))
        rest = np.setdiff1d(train_rows, pool)
        if args.base_rows:  # a smaller labelled base: where N reviewed texts are a larger share of the data
            rest = np.sort(np.random.default_rng(seed + 1).choice(rest, args.base_rows, replace=False))
        base = training_set(bench.full, rest, np.zeros(0, np.int64), np.zeros((0, num_labels), bool))
        model, metrics, seconds = bench.train(base, seed)
        if (seed, "none", "-", 0) not in done:
            keep({"seed": seed, "condition": "none", "order": "-", "n": 0, "seconds": seconds,
                  **figures(metrics, bench.names)})
        energies = bench.pool_energies(model, pool)  # (P, C): what the reviewer sees
        hidden = hidden_all[pool]
        for n in args.sizes:
            for order in args.orders:
                for condition in ("reviews", "ceiling"):
                    if (seed, condition, order, n) in done:
                        continue
                    chosen = queue_order(energies, np.zeros_like(hidden), H, order=order, exclude_mask=bench.exclude,
                                         seed=seed)[:n]  # pool positions in review order
                    row = {"seed": seed, "condition": condition, "order": order, "n": n}
                    if condition == "ceiling":
                        dataset = training_set(bench.full, rest, pool[chosen], hidden[chosen])
                        review = None
                    else:
                        dataset = training_set(bench.full, rest, pool[chosen], np.zeros((n, num_labels), bool))
                        decisions = simulated_decisions(energies, hidden, chosen, bench.names, bench.exclude,
                                                        args.add_energy)
                        local = decisions.assign(row_idx=decisions["row_idx"].map(
                            {int(p): len(rest) + k for k, p in enumerate(chosen)}))  # rows of the training set
                        model_energies = np.zeros((len(rest) + n, num_labels), np.float32)
                        model_energies[len(rest):] = energies[chosen]
                        empty = pd.DataFrame(columns=["id", "row_idx", "reviewer", "submitted_at"])
                        review = review_target_matrix(model_energies, H, local, empty,
                                                      pd.DataFrame(columns=["id", "row_idx", "label", "energy"]),
                                                      label_names=bench.names)
                        counts = decisions["decision"].value_counts()
                        row.update(accepted=int(counts.get("accept", 0)), rejected=int(counts.get("reject", 0)),
                                   added=int(counts.get("set", 0)), values=int(review[1].sum()))
                    row["labels_in_texts"] = int(hidden[chosen].sum())
                    row["rare_labels_in_texts"] = int(hidden[chosen][:, [bench.names.index(r) for r in RARE]].sum())
                    _, metrics, seconds = bench.train(dataset, seed, review)
                    keep({**row, "seconds": seconds, **figures(metrics, bench.names)})
    report["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out.write_text(json.dumps(report, indent=1))
    return report


def summary_table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    base = frame[frame["condition"] == "none"].set_index("seed")
    for column in ("macro_f1", "rare_f1", "hit_rate"):
        frame[f"{column}_gain"] = frame[column] - frame["seed"].map(base[column])
    grouped = frame.groupby(["condition", "order", "n"], sort=False)
    table = grouped.agg(seeds=("seed", "nunique"),
                        **{f"{c}_{s}": (c, s) for c in ("macro_f1", "rare_f1", "hit_rate", "macro_f1_gain",
                                                        "rare_f1_gain", "seconds") for s in ("mean", "std")})
    return table.reset_index()


def markdown(report: dict) -> str:
    table = summary_table(report["rows"])

    def gain(row, column):
        std = row[f"{column}_std"]
        return f"{row[f'{column}_mean']:+.4f} ± {0.0 if np.isnan(std) else std:.4f}"

    def cell(row, column, digits=4):
        std = row[f"{column}_std"]
        return f"{row[f'{column}_mean']:.{digits}f} ± {0.0 if np.isnan(std) else std:.{digits}f}"

    lines = ["# Reviews teach the model: a simulated reviewer on GoEmotions", "",
             f"- {report['started_at']} to {report.get('finished_at', '(running)')}; {report['machine']}",
             f"- command: `{report['command']}`",
             f"- encoder: {report['encoder']}; pool {report['pool']} training texts with hidden labels; labelled "
             f"base: {report.get('base_rows') or 'all the rest'}; suggestions at h = "
             f"{report['threshold_for_suggestions']}; an added emotion is set to {report['add_energy']}; training "
             f"{report.get('training')}", "",
             "gain: the paired difference to the same seed's no-review run (mean ± std over seeds).", "",
             "| condition | order | N | seeds | test macro-F1 | gain | rare-6 F1 | gain | hit rate | retrain s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for _, row in table.iterrows():
        lines.append(f"| {row['condition']} | {row['order']} | {row['n']} | {row['seeds']} | {cell(row, 'macro_f1')} "
                     f"| {gain(row, 'macro_f1_gain')} | {cell(row, 'rare_f1')} | {gain(row, 'rare_f1_gain')} "
                     f"| {cell(row, 'hit_rate')} | {row['seconds_mean']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    try:
        import matplotlib
    except ImportError:  # not among the project's requirements: pip install matplotlib for the plot
        print(f"matplotlib is not installed: no plot at {path} (pip install matplotlib)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary_table(report["rows"])
    base = table[table["condition"] == "none"].iloc[0]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for ax, column, title in zip(axes, ("macro_f1", "rare_f1", "hit_rate"),
                                 ("test macro-F1 (dev-tuned thresholds)", "six rarest labels, mean F1",
                                  "total hit rate (Table 4)")):
        ax.axhline(base[f"{column}_mean"], color="grey", linestyle=":", label="no reviews")
        orders = sorted(set(table["order"]) - {"-"})
        for (condition, order), rows in table[table["condition"] != "none"].groupby(["condition", "order"]):
            rows = rows.sort_values("n")
            ax.errorbar(rows["n"], rows[f"{column}_mean"], yerr=rows[f"{column}_std"].fillna(0), capsize=3,
                        color=f"C{orders.index(order)}", marker="o" if condition == "reviews" else "s",
                        linestyle="-" if condition == "reviews" else "--", label=f"{condition}, {order} order")
        ax.set_xscale("log")
        ax.set_xlabel("texts reviewed (N)")
        ax.set_title(title)
    axes[0].legend(fontsize=7)
    fig.suptitle("Reviews teach the model: simulated reviewer, GoEmotions, frozen MiniLM, mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[13, 14, 15])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100, 500, 2000])
    parser.add_argument("--orders", type=lambda s: s.split(","), default=["missed", "disagreement", "random"])
    parser.add_argument("--pool", type=int, default=5000)
    parser.add_argument("--base-rows", type=int, default=None,
                        help="train on this many random labelled texts of the rest instead of all of them")
    # a frozen head on 2 busy cores: batch 1024 at lr 0.01 reaches in 12 epochs the dev top-k F1 that the frozen
    # defaults (batch 256, lr 1e-3) reach in 30 (0.477), in a tenth of the time
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--model2-epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    parser.add_argument("--add-energy", type=float, default=10.0,
                        help="the energy the simulated reviewer gives an emotion it adds (a hidden label below h)")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--cache", default=str(REPO / "benchmarks" / "out" / "review-payoff" / "cache"))
    parser.add_argument("--out", default=str(RESULTS / "review_payoff.json"))
    parser.add_argument("--resume", action="store_true", help="keep the conditions already in --out")
    parser.add_argument("--report-only", action="store_true", help="write the .md and .png from --out")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    report = json.loads(out.read_text()) if args.report_only else run(args)
    out.with_suffix(".md").write_text(markdown(report))
    plot(report, out.with_suffix(".png"))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
