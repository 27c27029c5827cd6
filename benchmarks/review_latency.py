"""Review latency: server time from a decision's submit to the next text rendered, on GoEmotions test.

A temporary workspace holds GoEmotions (from ../shared/data/goemotions or --data) and a run whose dev/test
energies are a SYNTHETIC, seeded stand-in (benchmarks/slider_latency.synthetic_energies: the timing depends on the
array's shape, 5,427 x 28, and the queue, not on the values). The Review page runs under streamlit.testing AppTest:
each step submits the shown text ("Accept as suggested", or a changed energy and Submit, alternating) and times the
whole rerun (the decision stored in DuckDB, the queue recomputed, the next text and its 28 energy fields rendered).
The browser's network and drawing time is not included.

    python benchmarks/review_latency.py --decisions 60
    python benchmarks/review_latency.py --decisions 60 --shipped   # the shipped goemotions-eqn model's real energies
    python benchmarks/review_latency.py --decisions 30 --text-set benchmarks/out/own_texts/ws   # own texts, e.g. the
        # 1,000,000-text set that `python benchmarks/own_texts.py --texts 1000000 --synthetic` leaves there
Writes benchmarks/results/review_latency.{md,json} (review_latency_text_set.* with --text-set).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from slider_latency import stats, synthetic_workspace  # noqa: E402

SHIPPED_RUN = "goemotions-eqn"


def shown_row(at) -> int:
    line = next(m.value for m in at.markdown if "**Row " in m.value)
    return int(line.split("**Row ")[1].split("**")[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "goemotions"))
    parser.add_argument("--decisions", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--shipped", action="store_true",
                        help="review the shipped goemotions-eqn model's real energies instead of synthetic ones")
    parser.add_argument("--text-set", help="a workspace whose only reviewable texts are a text set's finished "
                                           "annotation (no labelled energies): review those, most uncertain first")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    root = Path(tempfile.mkdtemp(prefix="eqn-review-bench-")) / "ws"
    if args.text_set:
        from eqn_core.store.text_sets import list_annotations

        root, run_id = Path(args.text_set).resolve(), None
        os.environ["EQN_SHIPPED_MODELS"] = "1"
        from eqn_core.store.workspace import Workspace
        with Workspace(root) as workspace:
            found = list_annotations(workspace)
        finished = found[found["status"] == "finished"].iloc[0]
        energies_kind = (f"own texts: text set {finished['text_set']} ({int(finished['total_rows']):,} texts x "
                         f"{int(finished['labels'])} labels) annotated by {finished['run_id']}")
    elif args.shipped:
        os.environ["EQN_SHIPPED_MODELS"] = "1"
        from eqn_core.store.workspace import Workspace
        with Workspace(root) as workspace:  # loading GoEmotions stores the shipped model's dev/test energies
            workspace.add_goemotions(from_dir=args.data)
        run_id, energies_kind = SHIPPED_RUN, "the shipped goemotions-eqn model's energies"
    else:
        run_id, _, _ = synthetic_workspace(root, Path(args.data), seed=0)
        energies_kind = "synthetic energies"
    os.environ["EQN_WORKSPACE"] = str(root)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "app_pages" / "6_Review.py"), default_timeout=300)
    if run_id is not None:
        at.session_state["run"] = run_id
    started = time.perf_counter()
    at.run()
    first_load = time.perf_counter() - started
    seconds, rows = [], []
    for step in range(args.decisions + args.warmup):
        row = shown_row(at)
        version = at.session_state["review_version"] if "review_version" in at.session_state else 0
        tag = f"{row}_{version}"
        if step % 2:
            at.number_input(f"review_energy_{tag}_0").set_value(5.0)  # admiration set to 5: a "set" decision
            button = f"review_submit_{tag}"
        else:
            button = f"review_accept_all_{tag}"
        started = time.perf_counter()
        at.button(button).click().run()
        elapsed = time.perf_counter() - started
        if at.exception:
            raise RuntimeError([e.message for e in at.exception])
        if shown_row(at) == row:
            raise RuntimeError(f"the page still shows row {row} after the decision")
        rows.append(row)
        if step >= args.warmup:
            seconds.append(elapsed)
    result = {"benchmark": "review_latency", "date": datetime.now(timezone.utc).date().isoformat(),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores",
              "split": energies_kind if args.text_set else f"goemotions test (5,427 texts x 28 labels), {energies_kind}",
              "queue": "most uncertain" if args.text_set else "most likely missed",
              "first_load_s": first_load, "decision_to_next_text": stats(seconds), "texts_decided": len(rows),
              "command": f"python benchmarks/review_latency.py --decisions {args.decisions}"
                         + (" --shipped" if args.shipped else "") + (f" --text-set {args.text_set}" if args.text_set
                                                                     else "")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "review_latency_text_set" if args.text_set else "review_latency"
    (out / f"{name}.json").write_text(json.dumps(result, indent=2))
    s = result["decision_to_next_text"]
    (out / f"{name}.md").write_text(
        f"# Review latency ({result['date']})\n\n{result['split']}; {result['machine']}.\n\n"
        f"Server time from submit to the next text rendered (AppTest rerun), {s['n']} decisions: "
        f"median {s['median_ms']:.0f} ms, p95 {s['p95_ms']:.0f} ms, max {s['max_ms']:.0f} ms "
        f"(first page load {first_load:.1f} s).\n\n`{result['command']}`\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
