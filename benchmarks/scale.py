"""Scale benchmark: annotation throughput single-process vs Ray, and a 1,000,000-text corpus in the workspace.

throughput: the bundled all-MiniLM-L6-v2 (a frozen EQN run on a GoEmotions sample) scores N GoEmotions dev/test
    texts in fp32: eqn_core.inference.annotate in this process (2 and 1 torch threads), then
    `eqn annotate --engine ray`'s annotate_corpus on a local Ray with 1 and 2 one-CPU actors. Ray figures are end
    to end (actor start, model load, reading, scoring, writing shards); its fixed cost is measured on 16 texts.
    The Ray energies are compared with the single-process ones.
corpus: annotates the first S GoEmotions training texts on Ray (2 actors), replicates them with text
    perturbations and energy noise to R rows of Parquet (a synthetic corpus: copy 0 is the real text with its real
    energies; copies 1.. carry a perturbed text and the source's energies plus N(0, 0.25) noise, clipped, so the
    figures are about the workspace and the pages at that size, not about annotation quality), registers the files
    as a corpus, then times in fresh processes (each with its own peak RSS): the Samples queries (a page of 100
    rows + the match count; the earlier release's queries and corpus_page alternately), the per-label threshold
    figures, the export of every row to Parquet, and the Samples / Thresholds / Export pages themselves through
    Streamlit's AppTest. --reuse skips the annotation and the replication when the corpus files are there.

    python benchmarks/scale.py throughput --texts 4000
    python benchmarks/scale.py corpus --annotate 20000 --rows 1000000
    python benchmarks/scale.py corpus --annotate 10000 --rows 1000000 --files 20 --reuse   # the same corpus again
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from eqn_core.scale.corpus import add_corpus

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "goemotions"
OUT = REPO / "benchmarks" / "out" / "scale"
RESULTS = REPO / "benchmarks" / "results"
RUN_ID = "scale-minilm-frozen-eqn"
SAMPLES_REPEATS = 5  # each Samples query, before and now alternately


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    import torch

    from eqn_core.method.inference import device_name

    return device_name(torch.device("cpu")) + f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"


def write_report(name: str, title: str, command: str, lines: list[str], values: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [f"# {title}", "", f"- date: {stamp}", f"- machine: {machine()}, no GPU",
              f"- load average at start: {values.get('load_average')}", f"- command: `{command}`", ""]
    (RESULTS / f"{name}.md").write_text("\n".join(header + lines) + "\n")
    (RESULTS / f"{name}.json").write_text(json.dumps({"date": stamp, "machine": machine(), "command": command,
                                                      **values}, indent=2, default=str))
    print("\n".join(header + lines))


def trained_run() -> str:
    """A frozen EQN run with the bundled encoder on a GoEmotions sample (2,000 / 500 / 500 rows); its folder."""
    from eqn_core.io.datasets import load_goemotions
    from eqn_core.method.config import TrainConfig
    from eqn_core.runs.lifecycle import ingest_run, prepare_run
    from eqn_core.runs.process import execute_run
    from eqn_core.store.workspace import Workspace

    with Workspace(OUT / "ws") as workspace:
        if RUN_ID in set(workspace.list_runs()["run_id"]) and workspace.get_run(RUN_ID)["status"] == "finished":
            return workspace.get_run(RUN_ID)["run_dir"]
        dataset = load_goemotions(DATA)
        for name, size in (("train", 2000), ("dev", 500), ("test", 500)):
            split = dataset.splits[name]
            split.texts, split.human_labels, split.text_ids = (split.texts[:size], split.human_labels[:size],
                                                               split.text_ids[:size])
        dataset.name = "goemotions-sample"
        if dataset.name not in workspace.dataset_names():
            workspace.add_dataset(dataset)
        config = TrainConfig(dataset=dataset.name, mode="eqn", encoder_mode="frozen", epochs=10, device="cpu")
        folder = prepare_run(workspace, config, run_id=RUN_ID)
        status = execute_run(folder.path, cache_dir=workspace.cache_dir)
        assert status["status"] == "finished", status
        ingest_run(workspace, RUN_ID)
        return str(folder.path)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---------------------------------------------------------------------------------------------------------------------
# throughput


def throughput(args) -> None:
    import pandas as pd
    import ray
    import torch

    from eqn_core.io.datasets import load_goemotions
    from eqn_core.method.inference import annotate
    from eqn_core.runs.lifecycle import load_run_model
    from eqn_core.scale.ray_annotate import annotate_corpus

    values = {"load_average": load_average(), "texts": args.texts}
    run_dir = trained_run()
    dataset = load_goemotions(DATA)
    texts = (dataset.splits["dev"].texts + dataset.splits["test"].texts)[: args.texts]
    inputs = OUT / "throughput_input"
    shutil.rmtree(inputs, ignore_errors=True)
    inputs.mkdir(parents=True)
    pd.DataFrame({"id": [f"t{i}" for i in range(len(texts))], "text": texts}).to_parquet(inputs / "texts.parquet")

    model, config, label_names = load_run_model(run_dir, device=torch.device("cpu"))
    rows = []
    single = None
    for threads in (2, 1):
        torch.set_num_threads(threads)
        annotate(model, texts[:64], mode=config.mode, amp=False)  # warm-up
        started = time.perf_counter()
        energies = annotate(model, texts, mode=config.mode, batch_size=128, amp=False)  # (N, C)
        seconds = time.perf_counter() - started
        single = energies if single is None else single
        rows.append({"engine": f"single process, {threads} torch thread{'s' if threads > 1 else ''}",
                     "seconds": seconds, "texts_per_second": len(texts) / seconds})
    torch.set_num_threads(2)

    started = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    values["ray_init_seconds"] = time.perf_counter() - started
    try:
        small = OUT / "throughput_small"
        small.mkdir(exist_ok=True)
        pd.DataFrame({"id": [f"s{i}" for i in range(16)], "text": texts[:16]}).to_parquet(small / "small.parquet")
        for workers in (1, 2):
            _fresh(OUT / "throughput_fixed")
            fixed = annotate_corpus(run_dir, str(small / "small.parquet"), str(OUT / "throughput_fixed"),
                                    run_id=RUN_ID, workers=workers, shard_rows=16, fp32=True, show_progress=False)
            values[f"ray_fixed_seconds_{workers}_workers"] = fixed.seconds
            output = OUT / f"throughput_ray_{workers}"
            _fresh(output)
            result = annotate_corpus(run_dir, str(inputs / "texts.parquet"), str(output), run_id=RUN_ID,
                                     workers=workers, cpus_per_worker=1, shard_rows=args.shard_rows, fp32=True,
                                     show_progress=False)
            shards = pd.concat([pd.read_parquet(p) for p in output.glob("part-*.parquet")])
            order = shards.sort_values("source_row")[label_names].to_numpy(np.float32)
            rows.append({"engine": f"Ray, {workers} CPU actor{'s' if workers > 1 else ''} x 1 thread",
                         "seconds": result.seconds, "texts_per_second": result.texts_per_second,
                         "max_abs_difference_vs_single": float(np.abs(order - single).max()),
                         "shards": result.shards_written, "actors_that_wrote": result.workers_used})
    finally:
        ray.shutdown()
    values["rows"] = rows
    command = f"python benchmarks/scale.py throughput --texts {args.texts} --shard-rows {args.shard_rows}"
    lines = [f"{len(texts):,} GoEmotions dev/test texts, bundled all-MiniLM-L6-v2 + EQN head, fp32, batch 128; "
             f"Ray: local, num_cpus=2, {args.shard_rows} texts per shard, end to end (actors start, load the model, "
             f"read, score, write Parquet).", "",
             "| engine | seconds | texts/s | max abs energy difference vs single process |", "|---|---|---|---|"]
    for row in rows:
        difference = row.get("max_abs_difference_vs_single")
        lines.append(f"| {row['engine']} | {row['seconds']:.1f} | {row['texts_per_second']:.0f} | "
                     f"{'' if difference is None else f'{difference:.1e}'} |")
    lines += ["", f"ray.init on this machine: {values['ray_init_seconds']:.1f} s. Ray fixed cost (16 texts end to "
              f"end): {values['ray_fixed_seconds_1_workers']:.1f} s with 1 actor, "
              f"{values['ray_fixed_seconds_2_workers']:.1f} s with 2.", "",
              "No GPU was available: GPU actor figures are not measured."]
    write_report("scale_throughput", "Annotation throughput: single process vs Ray Data", command, lines, values)


def _fresh(folder: Path) -> bool:
    shutil.rmtree(folder, ignore_errors=True)
    return True


# ---------------------------------------------------------------------------------------------------------------------
# corpus


PREFIXES = ("", "ok ", "well, ", "so ", "honestly ", "hmm ", "lol ")
SUFFIXES = ("", " lol", " !!", " tbh", " for real", " :)", " ...", " haha", " smh")


def perturb(text: str, copy: int, row: int) -> str:
    """Copy 0 is the text itself; other copies get a prefix, a suffix and a case change."""
    if copy == 0:
        return text
    key = copy * 7919 + row * 104729
    changed = PREFIXES[key % len(PREFIXES)] + text + SUFFIXES[(key // 7) % len(SUFFIXES)]
    return changed.lower() if (key // 63) % 3 == 0 else changed


def build_corpus(args) -> dict:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    from eqn_core.io.datasets import load_goemotions
    from eqn_core.scale.ray_annotate import annotate_corpus

    run_dir = trained_run()
    train = load_goemotions(DATA).splits["train"]
    label_names = load_goemotions(DATA).label_names
    share = OUT / "share_input"
    share.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": train.text_ids[: args.annotate], "text": train.texts[: args.annotate]}).to_parquet(
        share / "goemotions_train_share.parquet")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:  # resumable: a rerun skips the shards already written
        annotated = annotate_corpus(run_dir, str(share / "goemotions_train_share.parquet"), str(OUT / "share_shards"),
                                    run_id=RUN_ID, workers=2, shard_rows=2000, fp32=True, show_progress=True)
    finally:
        ray.shutdown()
    measured = OUT / "share_annotation.json"  # a rerun resumes the shards: keep the figures of the run that scored
    if annotated.rows_written:
        measured.write_text(json.dumps({"rows": annotated.rows_written, "seconds": annotated.seconds,
                                        "texts_per_second": annotated.texts_per_second,
                                        "actors_that_wrote": annotated.workers_used, "date": time.ctime()}))
    first = json.loads(measured.read_text())
    shards = pd.concat([pd.read_parquet(p) for p in sorted((OUT / "share_shards").glob("part-*.parquet"))])
    shards = shards.sort_values("source_row").reset_index(drop=True)
    energies = shards[label_names].to_numpy(np.float32)  # (S, C)
    human = [",".join(label_names[j] for j in np.flatnonzero(row)) for row in train.human_labels[: len(shards)]]
    texts, text_ids = shards["text"].tolist(), shards["text_id"].tolist()
    model = shards["model"].iloc[0]

    folder = OUT / "corpus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    per_file = args.rows // args.files
    n_share = len(shards)
    for part in range(args.files):
        positions = np.arange(part * per_file, (part + 1) * per_file)  # global row numbers
        source, copy = positions % n_share, positions // n_share  # (n,), (n,)
        noisy = energies[source] + np.where(copy[:, None] > 0, rng.normal(0, 0.25, (len(positions), len(label_names))),
                                            0).astype(np.float32)
        noisy = np.clip(noisy, 0, 10).astype(np.float32)  # (n, C)
        columns = {"run_id": pa.array([RUN_ID] * len(positions)), "model": pa.array([model] * len(positions)),
                   "source": pa.array([f"synthetic copy {c}" for c in copy]),
                   "source_row": pa.array(source.astype(np.int64)),
                   "text_id": pa.array([f"{text_ids[s]}~{c}" for s, c in zip(source, copy)]),
                   "text": pa.array([perturb(texts[s], int(c), int(s)) for s, c in zip(source, copy)]),
                   "human_labels": pa.array([human[s] for s in source])}
        for j, label in enumerate(label_names):
            columns[label] = pa.array(noisy[:, j])
        pq.write_table(pa.table(columns), folder / f"part-{part:05d}.parquet")
    build = {"annotated_share": first["rows"], "annotate_seconds": first["seconds"],
             "annotate_texts_per_second": first["texts_per_second"], "annotate_date": first["date"],
             "annotate_actors_that_wrote": first["actors_that_wrote"], "shards_skipped": annotated.shards_skipped,
             "build_seconds": time.perf_counter() - started, "files": args.files, "rows": per_file * args.files,
             "corpus_bytes": sum(p.stat().st_size for p in folder.glob("*.parquet")), "built": time.ctime()}
    (OUT / "corpus_build.json").write_text(json.dumps(build))
    return build


def reuse_corpus(args) -> dict | None:
    """The figures of the corpus an earlier run built, when its files are there with the rows and files asked for."""
    import pyarrow.parquet as pq

    files = sorted((OUT / "corpus").glob("*.parquet"))
    if len(files) != args.files or sum(pq.ParquetFile(p).metadata.num_rows for p in files) != args.rows:
        return None
    saved = OUT / "corpus_build.json"
    build = json.loads(saved.read_text()) if saved.exists() else {}
    if not build and (OUT / "share_annotation.json").exists():  # built before the figures were saved
        first = json.loads((OUT / "share_annotation.json").read_text())
        build = {"annotated_share": first["rows"], "annotate_seconds": first["seconds"],
                 "annotate_texts_per_second": first["texts_per_second"], "annotate_date": first["date"],
                 "annotate_actors_that_wrote": first["actors_that_wrote"], "shards_skipped": 0,
                 "build_seconds": None, "built": time.ctime(files[0].stat().st_mtime)}
    return {**build, "files": len(files), "rows": args.rows, "corpus_bytes": sum(p.stat().st_size for p in files),
            "reused": True} if build else None


def _timed(function, repeats: int = 3) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times), result


def worker_queries(workspace_dir: str) -> dict:
    """A fresh process: open the workspace, run the Samples / Thresholds queries and the full export.

    Each Samples case runs two or three ways, alternately (so all see the same load): before, the single query of
    the earlier release (every column of every match, sorted, LIMIT 100) and a separate count; now, corpus_page
    with no row read before (a sorted page reads only the sort column and the row addresses first, then its 100
    rows; the count shares a text search's scan or comes from a short page); refined, corpus_page right after the
    page of the same emotion over its full range. For the sorted cases the keys query alone is timed too.
    """
    from eqn_core.scale import corpus as corpora
    from eqn_core.scale import corpus_pages as pages
    from eqn_core.store.database import quote_identifier
    from eqn_core.store.workspace import Workspace

    timings, samples = {}, {}
    load_before = load_average()
    with Workspace(workspace_dir) as workspace:
        name = "synthetic-1m"
        pattern, label_names, human_kind = corpora.corpus_row(workspace, name)
        view = quote_identifier(corpora.view_name(name))

        def where_of(filters):
            return pages._filters(label_names, human_kind, search=filters.get("search"),
                                    label=filters.get("label"), energy_range=filters.get("energy_range"),
                                    human=filters.get("human"))

        def before(**filters):  # the earlier release: one query for the page, one for the count
            where, params = where_of(filters)
            order = f" ORDER BY {quote_identifier(filters['label'])} DESC" if "label" in filters else ""
            rows = workspace.fetch_df(f"SELECT * FROM {view}{where}{order} LIMIT 100", params)
            return rows, pages.count_corpus(workspace, name, **filters)

        def now(**filters):
            return pages.corpus_page(workspace, name, limit=100, **filters)

        def keys_step(**filters):  # corpus_page's first step alone
            where, params = where_of(filters)
            column = quote_identifier(filters["label"])
            return workspace.fetch_all(f"SELECT filename, file_row_number, {column} FROM {pages._ADDRESSED_SCAN}{where} "
                                  f"ORDER BY {column} DESC, filename, file_row_number LIMIT 100",
                                  {**params, "pattern": pattern})

        cases = {"first page, no filter": {}, "search 'love'": {"search": "love"},
                 "joy energy 2-10, highest first": {"label": "joy", "energy_range": (2.0, 10.0)},
                 "search 'thank' + gratitude 3-10 + human gratitude": {
                     "search": "thank", "label": "gratitude", "energy_range": (3.0, 10.0), "human": "with"},
                 "anger energy 2-10, no human anger": {"label": "anger", "energy_range": (2.0, 10.0),
                                                       "human": "without"}}
        for title, filters in cases.items():
            label = filters.get("label")
            ways = [("before", before), ("now", now)] + ([("refined", now)] if label else [])
            times, cpu, results = {way: [] for way, _ in ways}, {way: [] for way, _ in ways}, {}
            for _ in range(SAMPLES_REPEATS):
                for way, function in ways:
                    pages.clear_row_cache()
                    if way == "refined":  # the page the Samples view showed just before: same emotion, full range
                        now(**{**filters, "energy_range": (0.0, 10.0), "human": None})
                    started, started_cpu = time.perf_counter(), time.process_time()
                    rows, matches = function(**filters)
                    times[way].append(time.perf_counter() - started)
                    cpu[way].append(time.process_time() - started_cpu)  # all threads of this process
                    if way == "before":
                        reference = (rows, matches)
                    else:
                        results[way] = (rows, matches)
            rows, matches = results["now"]
            column = label or "text_id"  # ties may put other rows of the same energy on the page: compare energies
            same = all(count == reference[1] and page[column].tolist() == reference[0][column].tolist()
                       for page, count in results.values())
            samples[title] = {"before_median_s": statistics.median(times["before"]),
                              "before_max_s": max(times["before"]), "now_median_s": statistics.median(times["now"]),
                              "now_max_s": max(times["now"]), "before_cpu_s": statistics.median(cpu["before"]),
                              "now_cpu_s": statistics.median(cpu["now"]), "matches": matches, "rows_shown": len(rows),
                              "same_page": same}
            if label:
                samples[title].update(refined_median_s=statistics.median(times["refined"]),
                                      refined_cpu_s=statistics.median(cpu["refined"]),
                                      keys_step_median_s=_timed(lambda: keys_step(**filters))[0])
        median, worst, report = _timed(lambda: corpora.corpus_threshold_report(workspace, name, 3.0))
        timings["threshold figures at h = 3 (28 labels, one scan)"] = {
            "median_s": median, "max_s": worst, "matches": report["rows"], "macro_f1": report["macro"]["f1"]}
        target = OUT / "export_all.parquet"

        def export():
            target.unlink(missing_ok=True)  # the export never replaces a file
            return corpora.export_corpus(workspace, name, target)

        median, worst, result = _timed(export, repeats=2)
        timings["export every row to Parquet (COPY from the view)"] = {
            "median_s": median, "max_s": worst, "matches": result["rows"], "bytes": target.stat().st_size}
        target.unlink()
    return {"samples": samples, "timings": timings, "peak_rss_mib": peak_rss_mib(),
            "load_average_before": load_before, "load_average_after": load_average()}


def worker_app(workspace_dir: str) -> dict:
    """A fresh process: the Samples, Thresholds and Export pages on the corpus through Streamlit's AppTest."""
    os.environ["EQN_WORKSPACE"] = workspace_dir
    from streamlit.testing.v1 import AppTest

    steps = {}

    def step(title, action):
        started = time.perf_counter()
        at = action()
        steps[title] = time.perf_counter() - started
        assert not at.exception, [e.message for e in at.exception]
        return at

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    at = step("open the app", lambda: at.run())
    at = step("Samples page", lambda: at.switch_page("app_pages/4_Samples.py").run())
    at = step("Samples: switch to the corpus (first page + count)",
              lambda: at.radio(key="samples_source").set_value("External corpus").run())
    at = step("Samples: search 'love'", lambda: at.text_input(key="corpus_search").set_value("love").run())
    at = step("Samples: emotion joy (highest first)", lambda: at.selectbox(key="corpus_emotion").set_value("joy").run())
    at = step("Samples: joy energy 2-10", lambda: at.slider(key="corpus_energy_range").set_value((2.0, 10.0)).run())
    at = step("Thresholds page on the corpus", lambda: at.switch_page("app_pages/3_Thresholds.py").run())
    at = step("Thresholds: switch to the corpus (figures at h = 3)",
              lambda: at.radio(key="th_source").set_value("External corpus").run())
    at = step("Thresholds: move h to 5", lambda: at.slider(key="corpus_th_global").set_value(5.0).run())
    at = step("Export page", lambda: at.switch_page("app_pages/7_Export.py").run())
    at = step("Export: switch to the corpus", lambda: at.radio(key="export_source").set_value("External corpus").run())
    at = step("Export: every row to Parquet", lambda: at.button(key="corpus_export_go").click().run())
    saved = [s.value for s in at.success]
    return {"steps_s": steps, "saved": saved, "peak_rss_mib": peak_rss_mib()}


def run_worker(task: str, workspace_dir: Path) -> dict:
    output = subprocess.run([sys.executable, __file__, task, str(workspace_dir)], capture_output=True, text=True,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if output.returncode != 0:
        raise RuntimeError(output.stderr[-4000:])
    return json.loads(output.stdout.strip().splitlines()[-1])


def corpus(args) -> None:
    from eqn_core.store.workspace import Workspace

    values = {"load_average": load_average()}
    values["build"] = (args.reuse and reuse_corpus(args)) or build_corpus(args)
    workspace_dir = OUT / "ws-corpus"
    shutil.rmtree(workspace_dir, ignore_errors=True)
    with Workspace(workspace_dir) as workspace:
        started = time.perf_counter()
        info = add_corpus(workspace, "synthetic-1m", str(OUT / "corpus" / "*.parquet"))
        values["register_seconds"] = time.perf_counter() - started
        values["registered_rows"] = info["rows"]
    values["queries"] = run_worker("_queries", workspace_dir)
    values["app"] = run_worker("_app", workspace_dir)
    build = values["build"]
    command = (f"python benchmarks/scale.py corpus --annotate {args.annotate} --rows {args.rows} --files {args.files}"
               + (" --reuse" if args.reuse else ""))
    if build.get("reused"):
        made = (f"The corpus files of an earlier run of this command (built {build['built']}) were reused: "
                f"{build['rows']:,} rows in {build['files']} Parquet files ({build['corpus_bytes'] / 2**20:.0f} MiB), "
                "a synthetic corpus (perturbed texts, the source's energies plus noise).")
    else:
        made = (f"Replicated to {build['rows']:,} rows in {build['files']} Parquet files "
                f"({build['corpus_bytes'] / 2**20:.0f} MiB) in {build['build_seconds']:.0f} s: a synthetic corpus "
                "(perturbed texts, the source's energies plus noise).")
    queries = values["queries"]
    lines = [f"Annotated share: the first {build['annotated_share']:,} GoEmotions training texts, scored on a local "
             f"Ray (2 one-CPU actors, fp32; {build['annotate_actors_that_wrote']} actors wrote shards) in "
             f"{build['annotate_seconds']:.0f} s ({build['annotate_texts_per_second']:.0f} texts/s, measured "
             f"{build['annotate_date']}; this run found {build['shards_skipped']} shards written and skipped them). "
             + made,
             f"Registered as a corpus (a DuckDB view over read_parquet) in {values['register_seconds']:.2f} s: "
             f"{values['registered_rows']:,} rows, nothing copied.", "",
             f"Samples queries in a fresh process (load average {queries['load_average_before']} before, "
             f"{queries['load_average_after']} after), a page of 100 rows and the match count, median of "
             f"{SAMPLES_REPEATS} (max in brackets), the ways alternately. Before: the earlier release's single "
             "query (every column of every match, sorted, LIMIT 100) and a count query. Now: `corpus_page` (a sorted "
             "page takes the top 100 row addresses from the sort column alone, then reads those rows; the count "
             "shares a text search's scan or comes from a short page), each time with no row read before. Refined: "
             "now, right after the page of the same emotion over its full range with any human label (as when a "
             "Samples slider or the human-label filter moves), so rows read for that page are not read again. CPU: "
             "the process's CPU seconds (all DuckDB threads), less sensitive to the load than the wall clock. Keys "
             "step: the first of the two steps alone (wall). Same page: the same count and the same energies in the "
             "same order.", "",
             "| Samples query | before s | now s | refined s | before CPU s | now CPU s | refined CPU s "
             "| keys step s | matches | same page |", "|---|---|---|---|---|---|---|---|---|---|"]

    def figure(row, key, digits=3):
        return "" if row.get(key) is None else f"{row[key]:.{digits}f}"

    for title, row in queries["samples"].items():
        lines.append(f"| {title} | {row['before_median_s']:.3f} ({row['before_max_s']:.3f}) | "
                     f"{row['now_median_s']:.3f} ({row['now_max_s']:.3f}) | {figure(row, 'refined_median_s')} | "
                     f"{row['before_cpu_s']:.3f} | {row['now_cpu_s']:.3f} | {figure(row, 'refined_cpu_s')} | "
                     f"{figure(row, 'keys_step_median_s')} | {row['matches']:,} | "
                     f"{'yes' if row['same_page'] else 'NO'} |")
    lines += ["", "Other library queries in the same process (median of 3; export: of 2):", "",
              "| query | median s | max s | matches |", "|---|---|---|---|"]
    for title, row in queries["timings"].items():
        lines.append(f"| {title} | {row['median_s']:.3f} | {row['max_s']:.3f} | {row['matches']:,} |")
    lines += ["", f"Peak RSS of that process: {values['queries']['peak_rss_mib']:.0f} MiB.", "",
              "The pages through Streamlit's AppTest in a fresh process (the page scripts as the server runs them; "
              "no browser):", "", "| step | seconds |", "|---|---|"]
    for title, seconds in values["app"]["steps_s"].items():
        lines.append(f"| {title} | {seconds:.2f} |")
    lines += ["", f"Peak RSS of the app process: {values['app']['peak_rss_mib']:.0f} MiB. "
              f"{' '.join(values['app']['saved'])}", "",
              "No GPU was available: the share was annotated on this CPU and replicated, not annotated in full."]
    write_report("scale_corpus", "A 1,000,000-text corpus in the workspace", command, lines, values)


def main(argv=None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] in ("_queries", "_app"):
        worker = worker_queries if sys.argv[1] == "_queries" else worker_app
        print(json.dumps(worker(sys.argv[2]), default=str))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="task", required=True)
    p = sub.add_parser("throughput")
    p.add_argument("--texts", type=int, default=4000)
    p.add_argument("--shard-rows", type=int, default=500)
    p = sub.add_parser("corpus")
    p.add_argument("--annotate", type=int, default=20000, help="texts annotated for real")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--files", type=int, default=20)
    p.add_argument("--reuse", action="store_true", help="reuse the corpus files of an earlier run when they have "
                                                        "--rows rows in --files files (skips the annotation)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    (throughput if args.task == "throughput" else corpus)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
