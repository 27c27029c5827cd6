"""Page latency on own texts: the Thresholds and Samples pages on a text set's finished annotation, as whole
Streamlit reruns (streamlit.testing AppTest: every query, numpy step and chart the page builds; the browser's
network and drawing time is not included).

Thresholds: the page opened on the text set (the energies read once per app process, shared with Review), then
--moves moves of the global h; each rerun recounts texts per emotion and co-occurrence, redraws the three charts and
lists the texts the move changed. Samples: the page opened, then --rounds rounds (after a warm-up round) of an energy
filter on an emotion, an energy range, a sort by that emotion, a text search and a metadata filter, each one rerun
and each round with other values, so the page's caches do not answer them.

    python benchmarks/own_texts.py --texts 1000000 --synthetic     # leaves benchmarks/out/own_texts/ws
    python benchmarks/text_set_pages.py --workspace benchmarks/out/own_texts/ws --moves 20
Writes benchmarks/results/text_set_pages.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TEXTS = "Your texts (no labels)"


def stats(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    return {"n": len(ordered), "median_ms": statistics.median(ordered) * 1000,
            "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000,
            "max_ms": ordered[-1] * 1000}


def open_page(page: str, key: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
    at.run()
    at.switch_page(page).run()
    started = time.perf_counter()
    at.radio(key=f"{key}_source").set_value(TEXTS).run()
    check(at)
    return at, time.perf_counter() - started


def check(at) -> None:
    if at.exception:
        raise RuntimeError([e.message for e in at.exception])


def timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def thresholds_page(moves: int) -> dict:
    at, first = open_page("app_pages/3_Thresholds.py", "th")
    values = [round(2.0 + 0.1 * (i % 30), 1) for i in range(1, moves + 2)]
    seconds = []
    for i, h in enumerate(values):
        elapsed = timed(lambda: at.slider(key="th_global").set_value(h).run())
        check(at)
        if not any("texts gain or lose an emotion" in c.value for c in at.caption):
            raise RuntimeError("the page shows no changed texts after a move")
        if i:  # the first move also reads what the opening did not need yet
            seconds.append(elapsed)
    return {"first_open_s": first, "move_of_h": stats(seconds)}


def samples_page(rounds: int, labels: list[str], meta_column: str | None) -> dict:
    """Each round asks something new (another emotion, range and word), so no step is answered from the cache of
    an earlier one; the first round is a warm-up."""
    at, first = open_page("app_pages/4_Samples.py", "samples")
    words = ["love", "game", "thank", "sorry", "never", "good", "people", "time", "really", "think"]
    seconds: dict[str, list[float]] = {}
    for r in range(rounds + 1):
        emotion = labels[r % len(labels)]
        steps = {"energy filter on an emotion": lambda: at.selectbox(key="ts_emotion").set_value(emotion).run(),
                 "energy range": lambda: at.slider(key="ts_energy_range").set_value((2.0 + 0.1 * r, 10.0)).run(),
                 "sort by the emotion": lambda: at.selectbox(key="ts_sort").set_value(emotion).run(),
                 "text search": lambda: at.text_input(key="ts_search").set_value(words[r % len(words)]).run(),
                 "clear search": lambda: at.text_input(key="ts_search").set_value("").run()}
        if meta_column:
            steps["metadata column"] = lambda: at.selectbox(key="ts_meta_column").set_value(meta_column).run()
            def pick_value(box=f"ts_meta_value_{meta_column}"):
                options = len(at.selectbox(key=box).options)
                return at.selectbox(key=box).select_index(1 + r % max(options - 1, 1)).run()

            steps["metadata value"] = pick_value
        for name, step in steps.items():
            elapsed = timed(step)
            check(at)
            if r:
                seconds.setdefault(name, []).append(elapsed)
        for reset in (lambda: at.selectbox(key="ts_meta_column").set_value(None).run() if meta_column else None,
                      lambda: at.selectbox(key="ts_sort").set_value("row_idx").run(),
                      lambda: at.selectbox(key="ts_emotion").set_value(None).run()):
            reset()
    every = [s for values in seconds.values() for s in values]
    return {"first_open_s": first, "all_steps": stats(every), **{name: stats(v) for name, v in seconds.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, help="a workspace with a text set's finished annotation")
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()

    os.environ["EQN_WORKSPACE"] = str(Path(args.workspace).resolve())
    os.environ.setdefault("EQN_SHIPPED_MODELS", "1")
    from eqn_core.store.text_sets import list_annotations, text_set_row
    from eqn_core.store.workspace import Workspace

    with Workspace(os.environ["EQN_WORKSPACE"]) as workspace:
        found = list_annotations(workspace)
        finished = found[found["status"] == "finished"].iloc[0]
        metadata = text_set_row(workspace, finished["text_set"])["metadata_columns"]
    labels = list(finished["label_names"])
    result = {"benchmark": "text_set_pages", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
                         f"load average at start {os.getloadavg()[0]:.1f}",
              "texts": f"text set {finished['text_set']} ({int(finished['total_rows']):,} texts x {len(labels)} "
                       f"labels) annotated by {finished['run_id']}",
              "command": f"python benchmarks/text_set_pages.py --workspace {args.workspace} --moves {args.moves} "
                         f"--rounds {args.rounds}",
              "thresholds": thresholds_page(args.moves),
              "samples": samples_page(args.rounds, labels, (metadata or [None])[0])}
    result["load_average_at_end"] = os.getloadavg()[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "text_set_pages.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Own texts: Thresholds and Samples page latency ({result['when']})", "",
             f"{result['texts']}; {result['machine']}. Whole AppTest reruns (browser drawing not included).", "",
             "| page, step | n | median | p95 | max |", "|---|---|---|---|---|"]
    rows = {"Thresholds, a move of h": result["thresholds"]["move_of_h"],
            **{f"Samples, {name}": v for name, v in result["samples"].items() if isinstance(v, dict)}}
    for name, s in rows.items():
        lines.append(f"| {name} | {s['n']} | {s['median_ms']:.0f} ms | {s['p95_ms']:.0f} ms | {s['max_ms']:.0f} ms |")
    lines += ["", f"First open on the text set: Thresholds {result['thresholds']['first_open_s']:.1f} s, Samples "
                  f"{result['samples']['first_open_s']:.1f} s.", "", f"`{result['command']}`", ""]
    (out / "text_set_pages.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
