"""benchmarks/challenge_set.csv is well formed, and benchmarks/challenge.py ranks and groups as it says."""
from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np

from eqn_core.io.datasets import GOEMOTIONS_LABELS

REPO = Path(__file__).resolve().parents[1]
CHALLENGE = REPO / "benchmarks" / "challenge_set.csv"


def load_script():
    spec = importlib.util.spec_from_file_location("challenge_benchmark", REPO / "benchmarks" / "challenge.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_challenge_set_is_well_formed():
    with CHALLENGE.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["id", "emotion", "kind", "text"]
    assert len(rows) >= 60
    assert len({r["id"] for r in rows}) == len(rows), "ids must be unique"
    texts = [r["text"].strip() for r in rows]
    assert all(texts) and len({t.lower() for t in texts}) == len(texts), "texts must be non-empty and distinct"
    unknown = {r["emotion"] for r in rows} - set(GOEMOTIONS_LABELS)
    assert not unknown, f"not GoEmotions labels: {unknown}"
    per_emotion = Counter(r["emotion"] for r in rows)
    few = {label: per_emotion[label] for label in GOEMOTIONS_LABELS if per_emotion[label] < 2}
    assert not few, f"every one of the 28 emotions needs at least two texts: {few}"
    kinds = Counter(r["kind"] for r in rows)
    script = load_script()
    assert set(kinds) == set(script.KINDS), kinds  # every kind present, no other
    assert min(kinds.values()) >= 8, kinds
    assert set(script.RARE) <= set(per_emotion) and set(script.RARE) < set(GOEMOTIONS_LABELS)


def test_ranks_and_groups_of_the_scoring_script():
    script = load_script()
    labels = ["joy", "grief", "neutral", "fear"]
    rows = [{"id": "a", "emotion": "joy", "kind": "plain", "text": "x"},
            {"id": "b", "emotion": "grief", "kind": "idiom", "text": "y"},
            {"id": "c", "emotion": "fear", "kind": "negation", "text": "z"}]
    outputs = np.array([[9.0, 1.0, 2.0, 0.0],  # joy first
                        [12.0, 11.0, 0.0, 0.0],  # grief second (both clip to 10: the raw order counts)
                        [5.0, 4.0, 3.0, 2.0]], dtype=np.float32)  # fear last
    energies = np.clip(outputs, 0, 10)
    assert script.ranks(outputs, np.array([0, 1, 3])).tolist() == [1, 2, 4]
    report = script.evaluate(rows, outputs, energies, labels, 3.0)
    assert report["groups"]["all"] == {"n": 3, "top1": 1 / 3, "top3": 2 / 3, "reaches_h": 2 / 3,
                                       "top1_without_neutral": 1 / 3, "top3_without_neutral": 1.0}  # fear: 3rd
    rows[2]["emotion"] = "neutral"  # a text meant as neutral is left out of the *_without_neutral scores
    without = script.evaluate(rows, outputs, energies, labels, 3.0)["groups"]["all"]
    assert (without["top1_without_neutral"], without["top3_without_neutral"]) == (0.5, 1.0)
    assert script.markdown({"texts": 3, "when": "now", "threshold": 3.0, "command": "c",
                            "results": [{"run_id": "r", "mode": "eqn", **report}]})
    assert report["groups"]["kind: idiom"]["top3"] == 1.0 and report["groups"]["kind: understatement"] == {"n": 0}
    assert report["groups"]["rare: grief"] == {"n": 1, "top1": 0.0, "top3": 1.0, "reaches_h": 1.0,
                                               "top1_without_neutral": 0.0, "top3_without_neutral": 1.0}
    assert [t["top3"] for t in report["texts"]][1] == ["joy", "grief", "neutral"]
