"""Where a run's wall time went, from its progress.jsonl: seconds per phase (embedding, each model, annotating).

    python benchmarks/time_breakdown.py benchmarks/out/ws-frozen/runs/<run_id>
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def phase_seconds(progress_file: Path) -> list[tuple[str, float]]:
    """(phase, seconds) in order; a phase lasts from its first event to the next phase's first event."""
    events = [json.loads(line) for line in progress_file.read_text().splitlines() if line.strip()]
    starts: list[tuple[str, float]] = []
    for event in events:
        if not starts or starts[-1][0] != event["phase"]:
            starts.append((event["phase"], event["time"]))
    end = events[-1]["time"]
    return [(phase, (starts[i + 1][1] if i + 1 < len(starts) else end) - began)
            for i, (phase, began) in enumerate(starts)]


def main(argv: list[str]) -> int:
    for folder in map(Path, argv):
        metrics = json.loads((folder / "metrics.json").read_text())
        rows = phase_seconds(folder / "progress.jsonl")
        total = metrics["timing"]["total_seconds"]
        print(f"## {folder.name}: {total:.0f} s in all on {metrics['timing']['device']}\n")
        print("| phase | seconds | share |\n|---|---|---|")
        for phase, seconds in rows:
            print(f"| {phase} | {seconds:.1f} | {seconds / total:.0%} |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
