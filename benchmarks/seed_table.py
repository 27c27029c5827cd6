"""One row per recipe, mean ± sd over its seeds, from the reports of quality.py, intensity.py and challenge.py.

The three benchmarks report one row per run; a recipe's claim rests on several seeds, so this groups the runs of
each recipe and gives the mean and the spread (sample sd) of every figure side by side:

    python benchmarks/seed_table.py --quality seeds_quality --intensity seeds_intensity --challenge seeds_challenge \
        --recipe "EQN, linear head=eqn-s13,eqn-s14,eqn-s15" --recipe "BCE=bce-s13,bce-s14,bce-s15"

Rare six = mean test F1 (thresholds tuned on dev) of GoEmotions' six rarest training labels.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from challenge import RARE as RARE_SIX  # the six labels challenge.py's "rare six" group means

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = (("macro_f1_tuned", 4), ("macro_f1_at_3", 4), ("rare_six", 3), ("hit_rate", 4), ("top1", 4),
           ("intensity", 3), ("challenge_top1", 2), ("challenge_top3", 2), ("challenge_rare_top3", 2))


def load(names: list[str], key: str) -> list[dict]:
    """One benchmark's rows (under key) from its reports: seeds trained at different times can come from several."""
    rows = []
    for name in names:
        path = Path(name) if name.endswith(".json") else RESULTS / f"{name}.json"
        rows += json.loads(path.read_text())[key]
    return rows


def run_figures(quality: list[dict], intensity: list[dict], challenge: list[dict]) -> dict[str, dict[str, float]]:
    """run id -> figure -> value, for every run the three reports share (intensity: the energy view)."""
    scores = {r["run_id"]: r["mean_spearman"] for r in intensity if r["view"] == "energy"}
    groups = {r["run_id"]: r["groups"] for r in challenge}
    figures = {}
    for row in quality:
        run = row["run_id"]
        if run not in scores or run not in groups:
            continue
        f1 = {label["label"]: label["f1"] for label in row["per_label_tuned"]["labels"]}
        figures[run] = {"macro_f1_tuned": row["macro_f1_tuned"], "macro_f1_at_3": row["macro_f1_at_3"],
                        "rare_six": sum(f1[name] for name in RARE_SIX) / len(RARE_SIX),
                        "hit_rate": row["hit_rates"][-1]["hit_rate"], "top1": row["top_n"][0],
                        "intensity": scores[run], "challenge_top1": groups[run]["all"]["top1"],
                        "challenge_top3": groups[run]["all"]["top3"],
                        "challenge_rare_top3": groups[run]["rare six"]["top3"]}
    return figures


def recipe_rows(figures: dict, recipes: list[tuple[str, list[str]]]) -> list[dict]:
    rows = []
    for name, runs in recipes:
        missing = [run for run in runs if run not in figures]
        if missing:
            raise SystemExit(f"Recipe {name!r}: no figures for {missing} in all three reports.")
        row = {"recipe": name, "runs": runs}
        for column, _ in COLUMNS:
            values = [figures[run][column] for run in runs]
            row[column] = {"mean": statistics.mean(values),
                           "sd": statistics.stdev(values) if len(values) > 1 else None, "values": values}
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    def cell(figure: dict, digits: int) -> str:
        mean = f"{figure['mean']:.{digits}f}"
        return mean if figure["sd"] is None else f"{mean} ± {figure['sd']:.{digits}f}"

    lines = ["| recipe | seeds | macro-F1 tuned | at h = 3 | rare six | total hit rate | Top-1 | intensity | "
             "challenge top-1 / top-3 / rare top-3 |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [cell(row[column], digits) for column, digits in COLUMNS[:6]]
        challenge = " / ".join(f"{row[column]['mean']:.2f}" for column, _ in COLUMNS[6:])
        lines.append(f"| {row['recipe']} | {len(row['runs'])} | {' | '.join(cells)} | {challenge} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", nargs="+", required=True,
                        help="quality.py's reports (names in results/ or .json paths)")
    parser.add_argument("--intensity", nargs="+", required=True, help="intensity.py's reports")
    parser.add_argument("--challenge", nargs="+", required=True, help="challenge.py's reports")
    parser.add_argument("--recipe", action="append", required=True, help='"name=run1,run2,run3"; repeat per recipe')
    parser.add_argument("--name", default="", help="also write results/NAME.json and NAME.md")
    args = parser.parse_args(argv)
    recipes = []
    for spec in args.recipe:
        name, _, runs = spec.rpartition("=")
        if not name or not runs:
            parser.error(f"--recipe {spec!r}: expected NAME=RUN1,RUN2,...")
        recipes.append((name, [run for run in runs.split(",") if run]))
    figures = run_figures(load(args.quality, "rows"), load(args.intensity, "results"), load(args.challenge, "results"))
    rows = recipe_rows(figures, recipes)
    table = markdown(rows)
    print(table)
    if args.name:
        (RESULTS / f"{args.name}.json").write_text(json.dumps({"benchmark": "seed_table", "rows": rows}, indent=1))
        (RESULTS / f"{args.name}.md").write_text(f"# Recipes over seeds\n\n{table}")


if __name__ == "__main__":
    main()
