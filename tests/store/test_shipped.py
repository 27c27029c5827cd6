"""The shipped GoEmotions EQN model: in every workspace, offline, read-only, and it reproduces its model card."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from eqn_core.cli.main import main as eqn
from eqn_core.runs.lifecycle import default_run_id, delete_run, load_run_model
from eqn_core.store.shipped import available_shipped_runs, shipped_folder
from eqn_core.store.workspace import Workspace

RUN = "goemotions-eqn"


@pytest.fixture(autouse=True)
def with_shipped_models(monkeypatch):
    monkeypatch.setenv("EQN_SHIPPED_MODELS", "1")


@pytest.fixture(scope="module")
def card() -> dict:
    assert (shipped_folder(RUN) / "model.safetensors").is_file(), f"the shipped model is missing from {shipped_folder(RUN)}"
    return json.loads((shipped_folder(RUN) / "shipped.json").read_text())


def test_a_fresh_empty_workspace_lists_the_shipped_model_as_a_finished_run(tmp_path, card):
    assert RUN in available_shipped_runs()
    with Workspace(tmp_path / "ws") as workspace:
        run = workspace.get_run(RUN)
        assert workspace.dataset_names() == []
        assert default_run_id(workspace.list_runs()) == RUN
    assert run["status"] == "finished" and run["mode"] == "eqn" and run["config"]["shipped"]
    assert run["config"]["encoder_mode"] == "partial"
    weights = (shipped_folder(RUN) / "model.safetensors").stat().st_size
    # the top 3 layers and the head in fp16 are about 11 MB; the whole encoder would be 45 MB in fp16, 90 MB in fp32
    assert weights < 15e6, f"only the top layers and the head ship, not {weights / 1e6:.1f} MB"


def test_the_shipped_model_annotates_offline_with_its_cards_energies(tmp_path, card, capsys):
    model, config, label_names = load_run_model(shipped_folder(RUN), device="cpu")
    from eqn_core.method.inference import annotate

    examples = card["examples"][:2]
    energies = annotate(model, [e["text"] for e in examples], mode=config.mode)
    for example, row in zip(examples, energies):
        expected = np.array([example["energies"][name] for name in label_names])
        assert np.abs(row - expected).max() < 0.01, example["text"]
    # the command line, in a workspace that has no data set and no run of its own
    assert eqn(["-w", str(tmp_path / "ws"), "annotate", "--run", RUN, "--fp32", "--text", examples[0]["text"]]) == 0
    top = max(examples[0]["energies"], key=examples[0]["energies"].get)
    assert top in capsys.readouterr().out


def test_the_shipped_model_cannot_be_deleted(tmp_path, card, capsys):
    assert eqn(["-w", str(tmp_path / "ws"), "delete", "--run", RUN]) == 2
    assert "cannot be deleted" in capsys.readouterr().err
    with Workspace(tmp_path / "ws") as workspace:
        with pytest.raises(ValueError, match="ships with EQN Studio"):
            delete_run(workspace, RUN)
        assert workspace.get_run(RUN)["status"] == "finished"


@pytest.mark.slow
def test_with_goemotions_loaded_it_has_energies_that_reproduce_the_card(shared_data, tmp_path, card, capsys):
    ws = str(tmp_path / "ws")
    assert eqn(["-w", ws, "fetch", "goemotions", "--from", str(shared_data / "goemotions")]) == 0
    with Workspace(ws) as workspace:
        assert workspace.energy_splits(RUN) == ["dev", "test"]
        assert f"{RUN}:tuned-on-dev" in set(workspace.list_threshold_profiles()["name"])
        stored = workspace.load_energies(RUN, "test")
    shipped = pd.read_parquet(shipped_folder(RUN) / "energies_test.parquet").to_numpy(dtype=np.float32)
    assert np.array_equal(stored, shipped)
    capsys.readouterr()
    assert eqn(["-w", ws, "evaluate", "--run", RUN, "--split", "test", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    metrics = json.loads((shipped_folder(RUN) / "metrics.json").read_text())["splits"]["test"]
    assert report["per_label_tuned"]["macro"]["f1"] == pytest.approx(metrics["per_label_tuned"]["macro"]["f1"], abs=1e-9)
    assert report["hit_rates"][-1]["hit_rate"] == pytest.approx(metrics["hit_rates"][-1]["hit_rate"], abs=1e-9)
    # the shipped run does not pin the data set: it can still be replaced or deleted
    assert eqn(["-w", ws, "delete", "--dataset", "goemotions"]) == 0
    with Workspace(ws) as workspace:
        assert workspace.energy_splits(RUN) == [] and workspace.get_run(RUN)["status"] == "finished"


def test_a_shipped_model_on_the_base_encoder_is_offered_only_where_that_encoder_is_installed(tmp_path, monkeypatch):
    from eqn_core.method import config
    from eqn_core.store import shipped

    for run_id, encoder in (("goemotions-eqn", "bundled-minilm"), ("goemotions-eqn-base", "bundled-mpnet")):
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "model.safetensors").write_bytes(b"")
        (tmp_path / run_id / "config.json").write_text(json.dumps({"encoder": encoder}))
    monkeypatch.setattr(shipped, "ASSETS_DIR", tmp_path)
    monkeypatch.setattr(config, "base_encoder_problem", lambda: None)
    assert shipped.available_shipped_runs() == ["goemotions-eqn", "goemotions-eqn-base"]
    monkeypatch.setattr(config, "base_encoder_problem", lambda: "The base encoder is not installed here")
    assert shipped.available_shipped_runs() == ["goemotions-eqn"]
    monkeypatch.setenv("EQN_SHIPPED_MODELS", "0")
    assert shipped.available_shipped_runs() == []


@pytest.mark.slow
def test_the_base_size_shipped_model_is_small_and_annotates_offline_with_its_cards_energies(tmp_path, monkeypatch):
    """goemotions-eqn-base: the top 3 of all-mpnet-base-v2's 12 layers and the head, under 45 MB in fp16, on the
    base encoder assembled from its part packages; offered beside goemotions-eqn, which stays the default."""
    from eqn_core.method.base_encoder import base_encoder_problem
    from eqn_core.method.inference import annotate

    base = "goemotions-eqn-base"
    if base_encoder_problem():
        pytest.skip(f"the base encoder is not installed here: {base_encoder_problem()}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = shipped_folder(base)
    card = json.loads((folder / "shipped.json").read_text())
    assert card["weights_dtype"] == "float16" and (folder / "model.safetensors").stat().st_size < 45e6
    assert available_shipped_runs() == [RUN, base]
    model, config, label_names = load_run_model(folder, device="cpu")
    assert config.encoder == "bundled-mpnet" and config.head == "label_attention"
    examples = card["examples"][:2]
    energies = annotate(model, [e["text"] for e in examples], mode=config.mode)
    for example, row in zip(examples, energies):
        expected = np.array([example["energies"][name] for name in label_names])
        assert np.abs(row - expected).max() < 0.01, example["text"]
    with Workspace(tmp_path / "ws") as workspace:
        runs = workspace.list_runs()
        assert workspace.get_run(base)["status"] == "finished"
        assert default_run_id(runs) == RUN  # the faster model with the better dev figures opens every page


def test_pages_open_on_the_best_finished_eqn_run_not_the_newest():
    def row(run_id, mode, f1, **config):
        return {"run_id": run_id, "mode": mode, "status": "finished", "config": config,
                "metrics": {"splits": {"dev": {"per_label_tuned": {"macro": {"f1": f1}}}}}}

    runs = pd.DataFrame([row("new-coeqn", "coeqn", 0.55), row("weak-eqn", "eqn", 0.30), row("good-eqn", "eqn", 0.50),
                         row("good-eqn.model1", "coeqn", 0.60, derived_from="good-eqn"),
                         {**row("failed-eqn", "eqn", 0.9), "status": "failed"}])
    assert default_run_id(runs) == "good-eqn"
    assert default_run_id(runs[runs["mode"] != "eqn"]) == "new-coeqn"
    assert default_run_id(runs[runs["status"] == "failed"]) is None


def test_try_it_opens_on_the_shipped_model_in_an_empty_workspace(tmp_path, monkeypatch, card):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from conftest import REPO

    monkeypatch.setenv("EQN_WORKSPACE", str(tmp_path / "empty"))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    at.switch_page("app_pages/8_Try_it.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="run_select").value == RUN
    assert [e.label for e in at.expander if e.label.startswith(f"About {RUN}:")]  # when to choose this model
    answer = " ".join(m.value for m in at.markdown)
    assert "Labels at h" in answer and "none" not in answer.split("Labels at h")[1][:40]
    st.cache_resource.clear()


def test_a_new_version_of_the_shipped_model_replaces_the_old_ones_record_energies_and_thresholds(tmp_path, card):
    """An upgrade ships other weights under the same name: the workspace must not keep showing the old model's
    energies, metrics and dev-tuned thresholds beside the new model's annotations."""
    with Workspace(tmp_path / "ws") as workspace:
        old = {**workspace.get_run(RUN)["config"], "shipped_version": "2026-01-01T00:00:00+00:00", "head": "old"}
        workspace.replace_shipped_run(RUN, mode="eqn", encoder="bundled-minilm", config=old, metrics={"old": True},
                                      run_dir=shipped_folder(RUN))
        with workspace.transaction() as con:  # profiles as the old version left them (GoEmotions itself not needed)
            for name in (f"{RUN}:tuned-on-dev", "mine"):
                con.execute("INSERT INTO threshold_profiles VALUES (?, ?, ?, NULL, '', now(), now())",
                            [name, RUN, [3.0] * 28])
    with Workspace(tmp_path / "ws") as workspace:  # opening it again is what an upgraded install does
        run = workspace.get_run(RUN)
        profiles = set(workspace.list_threshold_profiles()["name"])
    assert run["config"]["shipped_version"] == card["packaged_at"]
    assert run["config"] == {**json.loads((shipped_folder(RUN) / "config.json").read_text()), "shipped": True,
                             "shipped_version": card["packaged_at"]}
    assert run["metrics"] == json.loads((shipped_folder(RUN) / "metrics.json").read_text())
    assert f"{RUN}:tuned-on-dev" not in profiles and "mine" in profiles  # the old tuning goes, people's stay
