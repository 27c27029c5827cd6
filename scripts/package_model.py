"""Package a finished run as a model that ships with EQN Studio (eqn_core/store/assets/<name>/), with its model card.

    python scripts/package_model.py --workspace WS --run RUN_ID [--name goemotions-eqn] [--command "..."]

What ships: the trained weights only (a partial run's top layers and head; fp16 when that keeps every dev/test
energy within --fp16-tolerance of the fp32 model, else fp32), the run's config, the dev and test energies of the
shipped weights, the metrics computed from them (per-label thresholds tuned on dev), fingerprints of the texts
they belong to, and MODEL_CARD.md. The energies are recomputed from the shipped weights, so re-evaluating the
shipped run in any workspace gives the card's figures exactly.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eqn_core.method.inference import annotate, device_name, pick_device
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
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--name", default="goemotions-eqn")
    parser.add_argument("--command", default="", help="the exact command that trained the run (for the card)")
    parser.add_argument("--fp16-tolerance", type=float, default=0.05)
    args = parser.parse_args(argv)

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
            "command": args.command,
            "examples": [{"text": text, "energies": {n: round(float(e), 4) for n, e in zip(label_names, row)}}
                         for text, row in zip(EXAMPLES, examples)]}
    write_json_atomic(folder / "shipped.json", card)
    (folder / "MODEL_CARD.md").write_text(model_card(card, config, metrics, label_names))
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"packaged {args.run} as {folder} ({size / 1e6:.1f} MB; weights {card['weights_dtype']}, fp16 max energy "
          f"difference {fp16_diff:.4f}; dev+test annotated twice in {annotate_seconds:.0f} s)")
    return 0


def model_card(card: dict, config, metrics: dict, label_names: list[str]) -> str:
    test = metrics["splits"]["test"]
    hits = test["hit_rates"]
    lines = [
        f"# {card['run_id']}: GoEmotions micro-emotion energies (EQN)", "",
        "A ready EQN model: 28 GoEmotions emotions, an energy from 0 to 10 for each, for any English text.",
        f"It ships with EQN Studio and works offline: `eqn annotate --run {card['run_id']} --text \"...\"`.", "",
        "## How it was made", "",
        f"- Encoder: {config.encoder} (all-MiniLM-L6-v2, 6 layers, 384 dims), mode `{config.encoder_mode}`: the "
        f"lower {6 - config.trained_layers} layers are fixed and come from the bundled encoder; the top "
        f"{config.trained_layers} layers and the linear head were trained (these weights are what ships, "
        f"{card['weights_dtype']}).",
        f"- Method: EQN. Model 1 (CoEQN) trained {config.epochs} epochs on 0/10 targets with MSE; it re-annotated "
        f"the training set, human labels were put back to 10.0, and Model 2 continued for {config.model2_epochs} "
        f"epoch(s) on those targets. Best epoch of each chosen on the dev split (sample-level top-k F1).",
        f"- Hyperparameters: batch {config.batch_size}, learning rate {config.learning_rate:g} (head x"
        f"{config.head_lr_scale:g}), max length {config.max_length}, dropout {config.dropout}, seed {config.seed}.",
        "- Data: GoEmotions (Demszky et al., 2020), the official train / dev / test files: 43,410 / 5,426 / 5,427 "
        "texts.",
        f"- Trained on: {card['machine']}; the run took {card['training_seconds'] or float('nan'):.0f} s of wall time "
        "(the machine's load at the time is in benchmarks/RESULTS.md, section 7).",
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
