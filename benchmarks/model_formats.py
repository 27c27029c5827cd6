"""The model outside EQN Studio: PyTorch (our annotate path) vs its ONNX graph in fp32 and int8 on onnxruntime.

For the shipped goemotions-eqn: texts/s annotating the GoEmotions test split (5,427 texts, model load not counted,
tokenizing counted), and test macro-F1 with per-label thresholds tuned on each variant's own dev energies
(method.thresholds.tune_thresholds, as every run's metrics do). Each measurement runs in its own process; the
variants alternate, round after round, and the table gives medians. The ONNX graphs are exported once, first, with
`eqn export-model` (the export's own time is reported too).

    python benchmarks/model_formats.py --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
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
OUT = REPO / "benchmarks" / "out" / "model_formats"
RESULTS = REPO / "benchmarks" / "results"
RUN = "goemotions-eqn"
VARIANTS = ("torch-fp32", "onnx-fp32", "onnx-int8", "torch-bf16")
LABELS = {"torch-fp32": "PyTorch fp32 (`eqn annotate --fp32`)",
          "torch-bf16": "PyTorch bf16 autocast (`eqn annotate`'s default on CPUs with native bf16)",
          "onnx-fp32": "ONNX fp32, onnxruntime (`--backend onnx`)",
          "onnx-int8": "ONNX int8, onnxruntime (`--backend onnx-int8`)"}


def split_texts(split: str) -> tuple[list[str], np.ndarray]:
    from eqn_core.io.datasets import load_goemotions

    data = load_goemotions(DATA).splits[split]
    return data.texts, data.human_labels


def worker(args) -> dict:
    """One measurement in a fresh process: load the variant's model, annotate the split, save the energies."""
    import torch

    torch.set_num_threads(args.threads)
    texts, _ = split_texts(args.split)
    if args.variant.startswith("torch"):
        from eqn_core.method.inference import annotate
        from eqn_core.runs.lifecycle import load_run_model
        from eqn_core.store.shipped import shipped_folder

        model, config, _ = load_run_model(shipped_folder(RUN), device="cpu")
        started = time.perf_counter()
        energies = annotate(model, texts, mode=config.mode, batch_size=args.batch_size,
                            cpu_bf16=args.variant == "torch-bf16")
    else:
        from eqn_core.method.onnx_inference import OnnxEnergyModel

        runtime = OnnxEnergyModel(OUT / args.variant, threads=args.threads)
        started = time.perf_counter()
        energies = runtime.annotate(texts, batch_size=args.batch_size)
    seconds = time.perf_counter() - started
    np.save(args.energies_out, energies)
    return {"seconds": seconds, "texts_per_s": len(texts) / seconds}


def run_worker(variant: str, split: str, args, energies_out: Path) -> dict:
    command = [sys.executable, __file__, "--worker", "--variant", variant, "--split", split, "--threads",
               str(args.threads), "--batch-size", str(args.batch_size), "--energies-out", str(energies_out)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if done.returncode != 0:
        raise RuntimeError(f"{variant} on {split} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def export_graphs(workspace: Path) -> dict:
    """The shipped run's ONNX exports (fp32, int8) through the command line; seconds each."""
    seconds = {}
    for variant, extra in (("onnx-fp32", []), ("onnx-int8", ["--quantize", "int8"])):
        started = time.perf_counter()
        command = [sys.executable, "-m", "eqn_core.cli", "-w", str(workspace), "export-model", "--run", RUN,
                   "--format", "onnx", *extra, "-o", str(OUT / variant), "--force"]
        subprocess.run(command, check=True, cwd=REPO, capture_output=True, text=True)
        seconds[variant] = time.perf_counter() - started
    return seconds


def test_macro_f1(dev: np.ndarray, test: np.ndarray, dev_labels: np.ndarray, test_labels: np.ndarray) -> float:
    from eqn_core.method.reports import evaluate_energies
    from eqn_core.method.thresholds import tune_thresholds

    thresholds = tune_thresholds(dev, dev_labels)
    return evaluate_energies(test, test_labels, thresholds=thresholds)["per_label_tuned"]["macro"]["f1"]


def markdown(result: dict) -> str:
    rows = result["variants"]
    base = rows["torch-fp32"]
    lines = ["| variant | texts/s (median of " + str(result["rounds"]) + ") | each round | speed-up vs PyTorch fp32 "
             "| test macro-F1 (thresholds tuned on its dev) | change | max / mean energy difference to PyTorch fp32 "
             "(test) | graph size |", "|---|---|---|---|---|---|---|---|"]
    for variant in VARIANTS:
        row = rows[variant]
        size = f"{row['size_mb']:.0f} MB" if row.get("size_mb") else "-"
        each = ", ".join(f"{v:.0f}" for v in row["rounds"])
        speedup = row["texts_per_s"] / base["texts_per_s"]
        lines.append(f"| {LABELS[variant]} | {row['texts_per_s']:.0f} | {each} | {speedup:.2f}x | "
                     f"{row['macro_f1']:.4f} | {row['macro_f1'] - base['macro_f1']:+.4f} | "
                     f"{row['max_difference']:.2g} / {row['mean_difference']:.2g} | {size} |")
    return "\n".join(lines)


def write_report(result: dict) -> str:
    """results/model_formats.json and .md: the table, the int8 rule's verdict, the machine and the command."""
    rule = result["int8_rule"]
    text = "\n".join([
        f"# The model outside EQN Studio ({result['started_at']})", "",
        f"`python benchmarks/model_formats.py --rounds {result['rounds']}`; {result['machine']}, {result['threads']} "
        f"threads, batch {result['batch_size']}, {result['texts']:,} GoEmotions test texts, run {RUN}; load average "
        f"at the end {', '.join(f'{v:.1f}' for v in result['load_average'])}.", "", markdown(result), "",
        f"int8 vs PyTorch fp32: {rule['speedup']:.2f}x, macro-F1 {-rule['macro_f1_loss']:+.4f}; becomes the CPU "
        f"default (>= 1.5x and <= 0.005 lost): {rule['int8_becomes_default']}.",
        "Exports: " + ", ".join(f"{k} {v:.0f} s" for k, v in result["export_seconds"].items()) + "."]) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "model_formats.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "model_formats.md").write_text(text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--variant", choices=VARIANTS)
    parser.add_argument("--split", default="test")
    parser.add_argument("--energies-out")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0

    from eqn_core.method.inference import device_name, pick_device

    OUT.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    export_seconds = export_graphs(OUT / "workspace")
    energies = {}
    for variant in VARIANTS:  # dev energies once per variant, for its thresholds (not timed)
        run_worker(variant, "dev", args, OUT / f"{variant}-dev.npy")
    speeds: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for number in range(args.rounds):
        order = VARIANTS if number % 2 == 0 else tuple(reversed(VARIANTS))  # alternate who goes first
        for variant in order:
            measured = run_worker(variant, "test", args, OUT / f"{variant}-test.npy")
            speeds[variant].append(measured["texts_per_s"])
            print(f"round {number + 1} {variant}: {measured['texts_per_s']:.1f} texts/s", file=sys.stderr)
    _, dev_labels = split_texts("dev")
    _, test_labels = split_texts("test")
    for variant in VARIANTS:
        energies[variant] = (np.load(OUT / f"{variant}-dev.npy"), np.load(OUT / f"{variant}-test.npy"))
    reference = energies["torch-fp32"][1]
    variants = {}
    for variant in VARIANTS:
        dev, test = energies[variant]
        graph = OUT / variant / ("model_int8.onnx" if variant == "onnx-int8" else "model.onnx")
        variants[variant] = {"texts_per_s": statistics.median(speeds[variant]), "rounds": speeds[variant],
                             "macro_f1": test_macro_f1(dev, test, dev_labels, test_labels),
                             "max_difference": float(np.abs(test - reference).max()),
                             "mean_difference": float(np.abs(test - reference).mean()),
                             "size_mb": graph.stat().st_size / 1e6 if graph.is_file() else None}
    int8, fp32 = variants["onnx-int8"], variants["torch-fp32"]
    speedup, loss = int8["texts_per_s"] / fp32["texts_per_s"], fp32["macro_f1"] - int8["macro_f1"]
    result = {"started_at": started_at, "machine": device_name(pick_device("cpu")), "threads": args.threads,
              "batch_size": args.batch_size, "rounds": args.rounds, "texts": len(test_labels),
              "export_seconds": export_seconds, "variants": variants,
              "int8_rule": {"speedup": speedup, "macro_f1_loss": loss,
                            "int8_becomes_default": bool(speedup >= 1.5 and loss <= 0.005)},
              "load_average": os.getloadavg()}
    print(write_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
