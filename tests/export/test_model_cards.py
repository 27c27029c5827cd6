"""The card and thresholds an exported model carries (eqn_core.export.model_cards), for runs unlike the shipped one:
a single-label BCE run without a test split, a run that never tuned thresholds, a saved profile."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from eqn_core.export.model_cards import model_card, threshold_file
from eqn_core.method.config import TrainConfig
from eqn_core.method.onnx_inference import read_manifest

LABELS = ["joy", "anger", "fear"]


def card_parts(text: str) -> tuple[dict, str]:
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


def test_a_single_label_bce_run_reports_its_dev_figures_and_says_how_outputs_become_energies():
    metrics = {"thresholds": [2.0, 3.5, 4.0], "global_threshold": 3.0,
               "splits": {"dev": {"num_samples": 200, "single_label": {"accuracy": 0.81, "macro_f1": 0.77},
                                  "topk": {"f1": 0.8}}}}
    config = TrainConfig(dataset="emotion6", mode="bce", encoder="org/some-encoder", encoder_mode="finetune")
    text = model_card(run_id="e6-bce", config=config, dataset="emotion6", label_names=LABELS, metrics=metrics,
                      fmt="onnx", precision="fp32", check=None, exported_at="2026-12-02T00:00:00+00:00",
                      app_version="0.1.0", base_model="org/some-encoder")
    meta, body = card_parts(text)
    assert meta["license"] == "other" and meta["base_model"] == "org/some-encoder" and "datasets" not in meta
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"] == {"type": "emotion6", "name": "emotion6", "split": "dev"}
    assert {m["name"]: m["value"] for m in result["metrics"]}["Accuracy (highest energy)"] == 0.81
    assert "10.0 / (1.0 + np.exp(-outputs))" in body and "model.onnx" in body
    thresholds = threshold_file(metrics, LABELS, mode="bce")
    assert thresholds["energy_from_output"] == "10 * sigmoid(output)"
    assert thresholds["per_label"] == {"joy": 2.0, "anger": 3.5, "fear": 4.0}


def test_a_run_without_tuned_thresholds_or_figures_still_gets_a_card_and_the_global_threshold():
    config = TrainConfig(dataset="mine", mode="coeqn", encoder_mode="frozen")
    text = model_card(run_id="r", config=config, dataset="mine", label_names=LABELS, metrics={}, fmt="transformers",
                      precision="fp32", check=None, exported_at="now", app_version="0.1.0",
                      base_model="sentence-transformers/all-MiniLM-L6-v2")
    meta, body = card_parts(text)
    assert "model-index" not in meta and meta["library_name"] == "sentence-transformers"
    assert "no evaluated split" in body and "SentenceTransformer(\"DIR\"" in body
    thresholds = threshold_file({}, LABELS, mode="coeqn", profile={
        "name": "strict", "note": "", "global_threshold": 5.0, "thresholds": np.array([5.0, 6.0, 7.0])})
    assert thresholds["per_label"] is None and thresholds["recommended"] == "global_threshold"
    assert thresholds["global_threshold"] == 3.0
    assert thresholds["profile"]["per_label"] == {"joy": 5.0, "anger": 6.0, "fear": 7.0}


def test_a_folder_that_is_no_export_is_named(tmp_path):
    with pytest.raises(ValueError, match="not a model exported by EQN Studio"):
        read_manifest(tmp_path)
