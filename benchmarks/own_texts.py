"""Own texts benchmark: add a CSV of N unlabelled texts as a text set, annotate it with the shipped goemotions-eqn
model (the text set job) side by side with `eqn annotate` on the same file, then time the readers on the result.

The CSV (made once, reused): N texts drawn with replacement from ../shared/data/goemotions/train.tsv, with a
`speaker` and a `session` metadata column. Every phase runs in a fresh Python process, so each has its own wall
time and peak RSS (resource.getrusage): `add` (eqn_core.store.text_sets.add_text_set), `annotate`
(runs.text_jobs.annotate_text_set: model load, shards, status), `eqn annotate` (the command, -o Parquet), and
`queries` (a first page in row order, a page sorted by an emotion, a text-search page, a filtered count, the threshold
report at h = 3 from DuckDB, the energy histograms, and a move of h as the Thresholds page makes it on a finished
annotation: counts, co-occurrence and the changed texts from the energies in memory, read once and timed apart; each
the median of 3 after a first, cold call). The two annotations' energies are compared.
Writes benchmarks/results/own_texts_<N>.json.

    python benchmarks/own_texts.py                 # 10,000 texts
    python benchmarks/own_texts.py --texts 100000
    python benchmarks/own_texts.py --texts 1000000 --synthetic   # readers at scale: seeded energies, no model

With --synthetic the annotate phases are replaced by `synthetic` (seeded energies written as the job's shards
would be, 28 GoEmotions labels) and an `export` phase (all rows, Parquet and CSV, through DuckDB COPY) follows the
queries: what the Samples, Thresholds and Export pages ask of a set of that size, without hours of annotation.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "goemotions" / "train.tsv"
OUT = REPO / "benchmarks" / "out" / "own_texts"
RESULTS = REPO / "benchmarks" / "results"
RUN_ID = "goemotions-eqn"
NAME = "bench"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_csv(n: int, seed: int) -> Path:
    path = OUT / f"texts_{n}.csv"
    if path.exists():
        return path
    texts = [line.split("\t", 1)[0] for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    OUT.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    with partial.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "speaker", "session"])
        for i in range(n):
            writer.writerow([rng.choice(texts), f"S{rng.randrange(50):02d}", str(i // 500 + 1)])
    partial.replace(path)
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Phases, each in its own process: `python benchmarks/own_texts.py --phase NAME ...` prints one JSON line


def phase_add(workspace, csv_path: Path, args) -> dict:
    from eqn_core.store.text_sets import add_text_set

    started = time.perf_counter()
    info = add_text_set(workspace, NAME, [csv_path])
    return {"seconds": time.perf_counter() - started, "rows": info["rows"],
            "texts_parquet_mib": info["texts_file"].stat().st_size / 2**20}


def phase_annotate(workspace, csv_path: Path, args) -> dict:
    from eqn_core.runs.text_jobs import annotate_text_set

    started = time.perf_counter()
    status = annotate_text_set(workspace, NAME, run_id=RUN_ID, batch_size=args.batch_size)
    seconds = time.perf_counter() - started
    assert status["status"] == "finished", status
    return {"seconds": seconds, "rows": status["rows_done"],
            "texts_per_second_end_to_end": status["rows_done"] / seconds,
            "texts_per_second_scoring": status["texts_per_second"], "shards": status["shards_done"]}


def phase_eqn_annotate(workspace, csv_path: Path, args) -> dict:
    from eqn_core.cli.main import main as eqn

    output = OUT / "eqn_annotate.parquet"
    started = time.perf_counter()
    code = eqn(["-w", str(workspace.root), "annotate", str(csv_path), "--run", RUN_ID, "--batch-size",
                str(args.batch_size), "-o", str(output), "--force"])
    seconds = time.perf_counter() - started
    assert code == 0
    return {"seconds": seconds, "texts_per_second_end_to_end": args.texts / seconds}


def phase_synthetic(workspace, csv_path: Path, args) -> dict:
    """Seeded energies for every text, written as a finished annotation job leaves them (its shards and records)."""
    import numpy as np

    from eqn_core.io.datasets import GOEMOTIONS_LABELS
    from eqn_core.runs.text_annotation import SHARD_ROWS, write_shard
    from eqn_core.store.text_set_folders import AnnotationFolder, annotation_path
    from eqn_core.store.text_sets import record_annotation, update_annotation

    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    folder = AnnotationFolder(annotation_path(workspace, NAME, RUN_ID))
    folder.path.mkdir(parents=True)
    job = {"text_set": NAME, "run_id": RUN_ID, "shard_rows": SHARD_ROWS, "label_names": GOEMOTIONS_LABELS,
           "total_rows": args.texts}
    folder.job_file.write_text(json.dumps(job))
    record_annotation(workspace, NAME, RUN_ID, label_names=GOEMOTIONS_LABELS, total_rows=args.texts)
    for index, first in enumerate(range(0, args.texts, SHARD_ROWS)):
        rows = np.arange(first, min(first + SHARD_ROWS, args.texts))
        energies = np.clip(rng.gamma(0.6, 1.5, size=(len(rows), len(GOEMOTIONS_LABELS))), 0, 10).astype(np.float32)
        write_shard(folder, index, rows, energies, GOEMOTIONS_LABELS, job)
    update_annotation(workspace, NAME, RUN_ID, {"status": "finished", "rows_done": args.texts})
    return {"seconds": time.perf_counter() - started, "rows": args.texts}


def phase_export(workspace, csv_path: Path, args) -> dict:
    from eqn_core.export.text_exports import export_text_annotation

    timings = {}
    for fmt in ("parquet", "csv"):
        target = OUT / f"export.{fmt}"
        started = time.perf_counter()
        result = export_text_annotation(workspace, NAME, run_id=RUN_ID, path=target, fmt=fmt, content="thresholded",
                                        thresholds=3.0, overwrite=True)
        timings[fmt] = {"seconds": time.perf_counter() - started, "rows": result["rows"],
                        "mib": target.stat().st_size / 2**20}
    return timings


def phase_queries(workspace, csv_path: Path, args) -> dict:
    import numpy as np
    import pandas as pd

    from eqn_core.scale.text_queries import count_texts, text_page
    from eqn_core.scale.text_reports import changed_texts, emotion_counts_of, energy_histograms, threshold_report
    from eqn_core.store.text_set_folders import annotation_path
    from eqn_core.store.text_sets import annotation_source, review_split

    # what the Thresholds page holds once per app process (shared with Review), then each move of h costs the counts
    # and the changed texts in numpy; the histograms do not depend on h and are cached apart
    started = time.perf_counter()
    energies = workspace.load_energies(RUN_ID, review_split(NAME))
    read_seconds = time.perf_counter() - started
    labels = annotation_source(workspace, NAME, RUN_ID).label_names
    moves = iter([2.9, 3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8])

    def threshold_move():
        before, after = next(moves, 3.0), 3.05
        emotion_counts_of(energies, labels, after)
        changed_texts(workspace, NAME, RUN_ID, before, after, limit=200, energies=energies)

    calls = {
        "page_by_row": lambda: text_page(workspace, NAME, run_id=RUN_ID, limit=50),
        "page_sorted_by_joy": lambda: text_page(workspace, NAME, run_id=RUN_ID, sort_by="joy", limit=50),
        "page_search": lambda: text_page(workspace, NAME, run_id=RUN_ID, search="love", limit=50),
        "count_filtered": lambda: count_texts(workspace, NAME, run_id=RUN_ID, energy_ranges={"anger": (3.0, None)},
                                              where={"speaker": "S07"}),
        "threshold_report": lambda: threshold_report(workspace, NAME, RUN_ID, 3.0),
        "energy_histograms": lambda: energy_histograms(workspace, NAME, RUN_ID, bins=20),
        "threshold_move_in_memory": threshold_move,
    }
    timings = {}
    for name, call in calls.items():
        started = time.perf_counter()
        call()
        cold = time.perf_counter() - started
        warm = []
        for _ in range(3):
            started = time.perf_counter()
            call()
            warm.append(time.perf_counter() - started)
        timings[name] = {"first_ms": cold * 1000, "median_ms": statistics.median(warm) * 1000}
    timings["read_energies_once"] = {"first_ms": read_seconds * 1000}
    if args.synthetic:
        return {"queries": timings}
    # the two annotations of the same texts: equal up to batch composition (length-sorted per shard vs whole file)
    frames = [pd.read_parquet(p) for p in sorted(annotation_path(workspace, NAME, RUN_ID).glob("part-*.parquet"))]
    ours = pd.concat(frames).sort_values("row_idx").drop(columns="row_idx").to_numpy(np.float32)
    theirs = pd.read_parquet(OUT / "eqn_annotate.parquet")[list(frames[0].columns[1:])].to_numpy(np.float32)
    return {"queries": timings, "energies_max_abs_difference_vs_eqn_annotate": float(np.abs(ours - theirs).max())}


def phase_review(workspace, csv_path: Path, args) -> dict:
    """What the Review page asks of an annotated set: the energies once (then cached by the app), a queue order
    (numpy over every text), one text by row, a metadata filter, a submitted text, and the reviewed export."""
    import numpy as np

    from eqn_core.export.text_exports import export_text_annotation
    from eqn_core.review.suggestions import label_mask, queue_order
    from eqn_core.scale.text_queries import fetch_rows, query_cursor, run_query
    from eqn_core.store.text_sets import annotation_source, review_split

    key = review_split(NAME)
    timings: dict = {}

    def timed(name: str, call, repeats: int = 3):
        started = time.perf_counter()
        value = call()
        cold = time.perf_counter() - started
        warm = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            warm.append(time.perf_counter() - started)
        timings[name] = {"first_ms": cold * 1000, "median_ms": statistics.median(warm) * 1000 if warm else None}
        return value

    energies = timed("load_energies", lambda: workspace.load_energies(RUN_ID, key), repeats=1)  # (N, C)
    labels = list(annotation_source(workspace, NAME, RUN_ID).label_names)
    exclude = label_mask(labels, ["neutral"])
    h = np.full(len(labels), 3.0)
    for order in ("uncertain", "strongest", "random"):
        queue = timed(f"queue_{order}", lambda order=order: queue_order(energies, None, h, order=order,
                                                                        exclude_mask=exclude))
    src = annotation_source(workspace, NAME)
    timed("one_text_by_row", lambda: fetch_rows(src, [int(queue[0])]))

    def speaker_rows():
        with query_cursor() as con:
            return run_query(con, "SELECT row_idx FROM read_parquet($texts) WHERE speaker = $value",
                             {"texts": src.texts, "value": "S07"}).fetchnumpy()["row_idx"]

    timed("metadata_filter_rows", speaker_rows)
    submits = []
    for row in queue[:20]:
        started = time.perf_counter()
        workspace.submit_text_review(run_id=RUN_ID, split=key, row_idx=int(row), reviewer="bench",
                                     decisions=[{"label": labels[0], "decision": "set", "energy": 5.0}])
        workspace.reviews(run_id=RUN_ID, split=key)  # the page reads the decisions again for the next text
        workspace.submissions(run_id=RUN_ID, split=key)
        submits.append(time.perf_counter() - started)
    timings["submit_and_reread_ms"] = {"median": statistics.median(submits) * 1000, "max": max(submits) * 1000}
    started = time.perf_counter()
    result = export_text_annotation(workspace, NAME, run_id=RUN_ID, path=OUT / "reviewed.csv", content="reviewed",
                                    thresholds=3.0, overwrite=True)
    timings["export_reviewed_csv"] = {"seconds": time.perf_counter() - started, "rows": result["rows"]}
    return {"review": timings}


PHASES = {"add": phase_add, "annotate": phase_annotate, "eqn_annotate": phase_eqn_annotate,
          "synthetic": phase_synthetic, "queries": phase_queries, "review": phase_review, "export": phase_export}


def phases(synthetic: bool) -> list[str]:
    return (["add", "synthetic", "queries", "review", "export"] if synthetic
            else ["add", "annotate", "eqn_annotate", "queries", "review"])


def run_phase(args) -> None:
    import torch

    from eqn_core.store.workspace import Workspace

    torch.set_num_threads(os.cpu_count() or 1)
    with Workspace(OUT / "ws") as workspace:
        result = PHASES[args.phase](workspace, Path(args.csv), args)
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic", action="store_true",
                        help="seeded energies instead of the model (the readers at scale)")
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        run_phase(args)
        return
    import torch

    from eqn_core.method.inference import device_name

    csv_path = make_csv(args.texts, args.seed)
    shutil.rmtree(OUT / "ws", ignore_errors=True)
    env = {**os.environ, "EQN_SHIPPED_MODELS": "1", "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    results = {}
    for phase in phases(args.synthetic):
        command = [sys.executable, __file__, "--phase", phase, "--csv", str(csv_path), "--texts", str(args.texts),
                   "--batch-size", str(args.batch_size), "--seed", str(args.seed)]
        command += ["--synthetic"] if args.synthetic else []
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"phase {phase} failed:\n{done.stderr[-3000:]}")
        results[phase] = {**json.loads(done.stdout.strip().splitlines()[-1]),
                          "process_seconds": time.perf_counter() - started}
        print(f"{phase}: {json.dumps(results[phase])}", file=sys.stderr)
    report = {
        "benchmark": "own_texts",
        "command": f"python benchmarks/own_texts.py --texts {args.texts}{' --synthetic' if args.synthetic else ''}",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{device_name(torch.device('cpu'))}, "
                   f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "texts": args.texts, "batch_size": args.batch_size, "run_id": RUN_ID,
        "csv_mib": csv_path.stat().st_size / 2**20,
        **({} if args.synthetic else
           {"add_plus_annotate_seconds": results["add"]["seconds"] + results["annotate"]["seconds"]}),
        **results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / f"own_texts_{args.texts}{'_synthetic' if args.synthetic else ''}.json"
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
