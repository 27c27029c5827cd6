"""Annotation speed of finished runs side by side: texts per second of `eqn annotate`'s PyTorch path (the CPU default)
on the 5,427 GoEmotions test texts, each run's model loaded once, runs alternating round by round so a busy moment
hits every run alike. The median round is reported; run it on an idle machine.

    python benchmarks/annotation_speed.py --runs goemotions-eqn,eqn-attn-s13 -w WS --rounds 3
Writes benchmarks/results/annotation_speed.{json,md} (--name to change).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results"
DATA = REPO.parent / "shared" / "data" / "goemotions"


def test_texts(limit: int | None) -> list[str]:
    import pandas as pd

    frame = pd.read_csv(DATA / "test.tsv", sep="\t", header=None, quoting=3, names=["text", "labels", "id"])
    return frame["text"].astype(str).tolist()[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="goemotions-eqn", help="comma-separated run ids")
    parser.add_argument("--workspace", "-w", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, help="only the first N test texts (a quick look)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--name", default="annotation_speed")
    args = parser.parse_args(argv)

    import torch

    from eqn_core.cli.common import DEFAULT_WORKSPACE
    from eqn_core.method.inference import annotate, device_name
    from eqn_core.runs.lifecycle import load_run_model
    from eqn_core.store.workspace import Workspace

    torch.set_num_threads(args.threads)
    texts = test_texts(args.limit)
    runs = [run.strip() for run in args.runs.split(",") if run.strip()]
    workspace_path = args.workspace or os.environ.get("EQN_WORKSPACE") or DEFAULT_WORKSPACE
    with Workspace(workspace_path) as workspace:
        folders = {run: workspace.get_run(run)["run_dir"] for run in runs}
    models = {run: load_run_model(folder, device=torch.device("cpu"))[:2] for run, folder in folders.items()}
    for model, config in models.values():  # warm-up: first-call allocations are not the steady speed
        annotate(model, texts[:128], mode=config.mode)
    seconds = {run: [] for run in runs}
    for _ in range(args.rounds):
        for run, (model, config) in models.items():
            started = time.perf_counter()
            annotate(model, texts, mode=config.mode)
            seconds[run].append(time.perf_counter() - started)
    rows = [{"run": run, "head": models[run][1].head, "texts": len(texts),
             "median_seconds": statistics.median(values), "texts_per_second": len(texts) / statistics.median(values),
             "rounds_seconds": values} for run, values in seconds.items()]
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "device": device_name(torch.device("cpu")), "threads": args.threads, "rounds": args.rounds,
            "load_average": os.getloadavg()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [f"# Annotation speed ({meta['date']}, {meta['device']}, {args.threads} threads, median of {args.rounds} "
             f"rounds, load average before {meta['load_average'][0]:.2f})", "",
             "| run | head | texts | median seconds | texts/s |", "|---|---|---|---|---|"]
    lines += [f"| {r['run']} | {r['head']} | {r['texts']} | {r['median_seconds']:.2f} | {r['texts_per_second']:.0f} |"
              for r in rows]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
