"""Speed benchmark: our annotate and training loops vs plain transformers, same model, same batch size.

Inference: `eqn annotate`'s path (eqn_core.inference.annotate: length-ordered batches, inference_mode, bf16 on
CPUs with native bf16 units) vs a plain transformers loop (tokenize each batch in file order with padding,
AutoModel forward under no_grad, mean pooling, the same linear head) on the 5,427 GoEmotions test texts.
Training: eqn_core.training.train_model (fine-tuning the bundled encoder with the MSE head) vs the transformers
Trainer on the same model, batch size and rows, one epoch.
Each measurement runs in its own process (fair start, and its own peak RSS); variants alternate, repeated.

    python benchmarks/speed.py --repeats 3
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "goemotions"


def test_texts(limit: int | None = None) -> tuple[list[str], np.ndarray]:
    from eqn_core.io.datasets import load_goemotions

    split = load_goemotions(DATA).splits["test"]
    texts, labels = split.texts, split.human_labels
    return (texts[:limit], labels[:limit]) if limit else (texts, labels)


def build_model(seed: int = 0):
    import torch

    from eqn_core.method.config import TrainConfig
    from eqn_core.method.models import build_model as build

    torch.manual_seed(seed)
    model = build(TrainConfig(encoder_mode="finetune", max_length=128), 28)
    model.eval()
    return model


# ---------------------------------------------------------------------------------------------------------------------
# Workers (each runs in a fresh process and prints one JSON line)


def worker_infer_ours(args) -> dict:
    import torch

    from eqn_core.method.inference import annotate

    torch.set_num_threads(args.threads)
    texts, _ = test_texts(args.limit)
    model = build_model()
    started = time.perf_counter()
    energies = annotate(model, texts, mode="coeqn", batch_size=args.batch_size, cpu_bf16=args.variant == "ours-bf16")
    seconds = time.perf_counter() - started
    np.save(args.energies_out, energies)
    return {"seconds": seconds, "texts_per_s": len(texts) / seconds}


def worker_infer_plain(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    texts, _ = test_texts(args.limit)
    model = build_model()
    tokenizer, encoder = model.encoder.tokenizer, model.encoder.backbone
    outputs = []
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(texts), args.batch_size):
            batch = tokenizer(texts[start:start + args.batch_size], padding=True, truncation=True, max_length=128,
                              return_tensors="pt")
            hidden = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            outputs.append(model.head(pooled).clamp(0, 10).numpy())
    seconds = time.perf_counter() - started
    np.save(args.energies_out, np.concatenate(outputs))
    return {"seconds": seconds, "texts_per_s": len(texts) / seconds}


def worker_fp32_ceiling(args) -> dict:
    """The most any fp32 annotate could reach here: the encoder's linear layers at this CPU's GEMM rate, no padding.

    Attention, layer norms, tokenizing and the head are counted as free, so this is an upper bound; it tells
    whether a gap to a target can still be closed in fp32 or needs lower precision.
    """
    import torch

    torch.set_num_threads(args.threads)
    texts, _ = test_texts(args.limit)
    model = build_model()
    tokens = sum(len(ids) for ids in model.encoder.tokenizer(texts, truncation=True, max_length=128)["input_ids"])
    linears = [m for m in model.encoder.backbone.modules() if isinstance(m, torch.nn.Linear)]
    weights = sum(m.weight.numel() for m in linears)
    shapes = {(m.in_features, m.out_features): m for m in linears}  # one of each distinct shape
    rows = args.batch_size * 20  # a batch of typical GoEmotions length (19 tokens on average)
    with torch.inference_mode():
        inputs = {k: torch.randn(rows, k[0]) for k in shapes}
        for _ in range(5):
            for key, layer in shapes.items():
                layer(inputs[key])
        rounds, trials = 40, []
        for _ in range(5):  # best of five: a ceiling should not drop because a neighbour took the cores briefly
            started = time.perf_counter()
            for _ in range(rounds):
                for key, layer in shapes.items():
                    layer(inputs[key])
            trials.append(time.perf_counter() - started)
    gemm_flops_per_s = rounds * sum(2 * rows * i * o for i, o in shapes) / min(trials)
    floor_seconds = 2 * weights * tokens / gemm_flops_per_s
    return {"gemm_gflops": gemm_flops_per_s / 1e9, "tokens": tokens, "linear_weights": weights,
            "texts_per_s": len(texts) / floor_seconds}


def worker_train_ours(args) -> dict:
    import torch

    from eqn_core.method.config import TrainConfig
    from eqn_core.method.labels import initial_targets
    from eqn_core.method.training import train_model

    torch.set_num_threads(args.threads)
    texts, labels = test_texts(args.limit)
    model = build_model()
    config = TrainConfig(encoder_mode="finetune", epochs=1, batch_size=args.batch_size, learning_rate=5e-5,
                         device="cpu", group_by_length=args.variant == "ours")
    features = model.featurize(texts)
    dev = model.featurize(texts[:32])
    started = time.perf_counter()
    train_model(model, config=config, train_features=features, train_targets=initial_targets(labels),
                loss_kind="mse", dev_features=dev, dev_labels=labels[:32], device=torch.device("cpu"))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "samples_per_s": len(texts) / seconds}


def worker_train_trainer(args) -> dict:
    import tempfile

    import torch
    from torch import nn
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from eqn_core.method.labels import initial_targets

    torch.set_num_threads(args.threads)
    texts, labels = test_texts(args.limit)
    model = build_model()
    targets = initial_targets(labels)
    encoded = model.encoder.tokenizer(texts, truncation=True, max_length=128)
    rows = [{"input_ids": ids, "attention_mask": mask, "labels": target.tolist()}
            for ids, mask, target in zip(encoded["input_ids"], encoded["attention_mask"], targets)]

    class Wrapped(nn.Module):  # the same EnergyModel, with the loss Trainer expects
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, labels=None):
            outputs = self.inner({"input_ids": input_ids, "attention_mask": attention_mask})
            loss = nn.functional.mse_loss(outputs, labels.float()) if labels is not None else None
            return {"loss": loss, "logits": outputs}

    grouped = args.variant == "trainer-grouped"
    fields = TrainingArguments.__dataclass_fields__  # transformers 5 renamed group_by_length
    grouping = ({"train_sampling_strategy": "group_by_length" if grouped else "random"}
                if "train_sampling_strategy" in fields else {"group_by_length": grouped})
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(output_dir=out, per_device_train_batch_size=args.batch_size,
                                          num_train_epochs=1, learning_rate=5e-5, report_to=[], save_strategy="no",
                                          logging_strategy="no", use_cpu=True, dataloader_num_workers=0,
                                          disable_tqdm=True, **grouping)
        trainer = Trainer(model=Wrapped(model), args=training_args, train_dataset=rows,
                          data_collator=DataCollatorWithPadding(model.encoder.tokenizer))
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "samples_per_s": len(texts) / seconds}


WORKERS = {"ours-bf16": worker_infer_ours, "ours-fp32": worker_infer_ours, "plain": worker_infer_plain,
           "ours": worker_train_ours, "ours-ungrouped": worker_train_ours, "trainer": worker_train_trainer,
           "trainer-grouped": worker_train_trainer, "fp32-ceiling": worker_fp32_ceiling}


def run_worker(task: str, variant: str, args, energies_out: Path) -> dict:
    command = [sys.executable, __file__, "--worker", task, "--variant", variant, "--threads", str(args.threads),
               "--batch-size", str(args.batch_size), "--energies-out", str(energies_out)]
    if task == "train":
        command += ["--limit", str(args.train_rows)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if done.returncode != 0:
        raise RuntimeError(f"{task}/{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker")
    parser.add_argument("--variant")
    parser.add_argument("--energies-out")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-rows", type=int, default=1024)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    if args.worker:
        result = WORKERS[args.variant](args)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this process only
        print(json.dumps(result))
        return 0

    import torch

    from eqn_core.method.inference import device_name

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = REPO / "benchmarks" / "out"
    scratch.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {}
    plan = [("infer", v) for v in ("plain", "ours-fp32", "ours-bf16", "fp32-ceiling")]
    if not args.skip_training:
        plan += [("train", v) for v in ("trainer", "trainer-grouped", "ours-ungrouped", "ours")]
    for repeat in range(args.repeats):  # alternate variants so machine load hits them alike
        for task, variant in plan:
            result = run_worker(task, variant, args, scratch / f"speed_{variant}.npy")
            results.setdefault(f"{task}/{variant}", []).append(result)
            print(f"repeat {repeat + 1} {task}/{variant}: {result}", file=sys.stderr, flush=True)
    ceiling = max(results["infer/fp32-ceiling"], key=lambda r: r["gemm_gflops"])
    plain = np.load(scratch / "speed_plain.npy")
    differences = {v: float(np.abs(np.load(scratch / f"speed_{v}.npy") - plain).max()) for v in ("ours-fp32", "ours-bf16")}

    def median(key, field):
        return statistics.median(r[field] for r in results[key])

    lines = ["# Speed: our loops vs plain transformers (same model, same batch size)", "",
             f"- date: {started_at}; machine: {device_name(torch.device('cpu'))}, "
             f"torch threads {args.threads}; batch size {args.batch_size}; medians of {args.repeats} alternating repeats",
             f"- command: `python benchmarks/speed.py {' '.join(sys.argv[1:])}`", "",
             "## Inference: 5,427 GoEmotions test texts, bundled all-MiniLM-L6-v2 + 28-output head", "",
             "| variant | texts/s | vs plain | max abs energy difference vs plain |", "|---|---|---|---|"]
    base = median("infer/plain", "texts_per_s")
    for variant, label in (("plain", "plain transformers loop (file order, padding=True, no_grad)"),
                           ("ours-fp32", "eqn annotate --fp32 (length-ordered, inference_mode)"),
                           ("ours-bf16", "eqn annotate (default: + bf16 on native-bf16 CPUs)")):
        speed = median(f"infer/{variant}", "texts_per_s")
        diff = "-" if variant == "plain" else f"{differences[variant]:.4f}"
        lines.append(f"| {label} | {speed:.1f} | {speed / base:.2f}x | {diff} |")
    lines += ["", f"fp32 ceiling on this CPU: {ceiling['texts_per_s']:.1f} texts/s = "
              f"{ceiling['texts_per_s'] / base:.2f}x plain, if the encoder's linear layers ({ceiling['linear_weights']:,} "
              f"weights) ran over the {ceiling['tokens']:,} test tokens with no padding at this CPU's measured fp32 GEMM "
              f"rate ({ceiling['gemm_gflops']:.0f} GFLOP/s) and everything else were free."]
    if not args.skip_training:
        lines += ["", f"## Training: fine-tuning with the MSE head, {args.train_rows} rows, one epoch", "",
                  "| variant | samples/s | vs Trainer |", "|---|---|---|"]
        base = median("train/trainer", "samples_per_s")
        for variant, label in (("trainer", "transformers Trainer (default)"),
                               ("trainer-grouped", "transformers Trainer, group_by_length=True"),
                               ("ours-ungrouped", "eqn_core train_model, random batches"),
                               ("ours", "eqn_core train_model (default: length-grouped batches)")):
            speed = median(f"train/{variant}", "samples_per_s")
            lines.append(f"| {label} | {speed:.1f} | {speed / base:.2f}x |")
    lines += ["", "Peak RSS of each measuring process (MB): " +
              ", ".join(f"{k} {max(r['peak_rss_mb'] for r in v):.0f}" for k, v in results.items() if k != "infer/fp32-ceiling")]
    (out / "speed.md").write_text("\n".join(lines) + "\n")
    (out / "speed.json").write_text(json.dumps({"started_at": started_at, "machine": device_name(torch.device("cpu")),
                                                "args": vars(args), "results": results, "fp32_ceiling": ceiling,
                                                "max_abs_energy_difference": differences}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
