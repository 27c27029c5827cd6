"""benchmarks/seed_table.py: a recipe's row is the mean and spread of its seeds' figures from the three reports."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))  # as when the script runs: it imports challenge.py beside it
spec = importlib.util.spec_from_file_location("seed_table", REPO / "benchmarks" / "seed_table.py")
seed_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seed_table)


def reports(tmp_path: Path, runs: dict[str, float]) -> list[str]:
    """Minimal reports of quality.py, intensity.py and challenge.py; every figure of a run is its value."""
    quality = {"rows": [{"run_id": run, "macro_f1_tuned": v, "macro_f1_at_3": v, "top_n": [v, 0.9],
                         "hit_rates": [{"hit_rate": 0.0}, {"hit_rate": v}],
                         "per_label_tuned": {"labels": [{"label": name, "f1": v} for name in seed_table.RARE_SIX]}}
                        for run, v in runs.items()]}
    intensity = {"results": [{"run_id": run, "view": view, "mean_spearman": v if view == "energy" else -1.0}
                             for run, v in runs.items() for view in ("energy", "raw output")]}
    group = lambda v: {"top1": v, "top3": v}  # noqa: E731
    challenge = {"results": [{"run_id": run, "groups": {"all": group(v), "rare six": group(v)}}
                             for run, v in runs.items()]}
    paths = []
    for name, report in (("q", quality), ("i", intensity), ("c", challenge)):
        paths.append(str(tmp_path / f"{name}.json"))
        Path(paths[-1]).write_text(json.dumps(report))
    return paths


def test_a_recipe_row_is_the_mean_and_sd_of_its_seeds(tmp_path, capsys):
    q, i, c = reports(tmp_path, {"a-s1": 0.50, "a-s2": 0.54, "b-s1": 0.40})
    seed_table.main(["--quality", q, "--intensity", i, "--challenge", c,
                     "--recipe", "A, two seeds=a-s1,a-s2", "--recipe", "B=b-s1"])
    table = capsys.readouterr().out
    assert "| A, two seeds | 2 | 0.5200 ± 0.0283 |" in table  # sample sd of 0.50 and 0.54
    assert "| B | 1 | 0.4000 | 0.4000 | 0.400 |" in table  # one seed: no spread
    assert "0.520 ± 0.028" in table  # intensity is the energy view, not the raw output


def test_a_run_missing_from_a_report_is_named(tmp_path):
    q, i, c = reports(tmp_path, {"a-s1": 0.5})
    with pytest.raises(SystemExit, match="a-s2"):
        seed_table.main(["--quality", q, "--intensity", i, "--challenge", c, "--recipe", "A=a-s1,a-s2"])
