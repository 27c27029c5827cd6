"""Tests for eqn_core.export.label_studio and the configuration of review.label_studio: tasks with predictions, the
labeling configuration beside them, and annotations made from those predictions read back as review decisions."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from eqn_core.export.label_studio import config_path_for, export_label_studio
from eqn_core.method.thresholds import ThresholdSetting
from eqn_core.review.label_studio import energy_control_names, import_label_studio, label_studio_config
from eqn_core.store.workspace import Workspace
from review_support import ENERGIES, LABELS, RUN, SPLIT, TEXT_IDS, TEXTS, make_review_workspace, stored_decisions


@pytest.fixture
def workspace(tmp_path):
    with Workspace(make_review_workspace(tmp_path / "ws")) as ws:
        yield ws


def test_tasks_carry_text_ids_and_a_prediction_per_emotion_at_or_above_h(workspace, tmp_path):
    path = tmp_path / "out" / "tasks.json"
    result = export_label_studio(workspace, run_id=RUN, split=SPLIT, path=path)
    assert result["rows"] == 4 and result["config"] == config_path_for(path.resolve()) == path.resolve().with_name(
        "tasks.config.xml")
    tasks = json.loads(path.read_text())
    assert [task["data"]["text"] for task in tasks] == TEXTS and [t["data"]["text_id"] for t in tasks] == TEXT_IDS
    assert tasks[0]["data"] | {"suggested": None} == {
        "text": TEXTS[0], "text_id": "a", "row_idx": 0, "run_id": RUN, "dataset": "tiny", "split": SPLIT,
        "human_labels": ["joy"], "suggested": None}
    # h = 3 by default; "neutral" (a non-emotion label) is never ticked, even at 6.0 or 9.0
    assert [task["data"]["suggested"] for task in tasks] == [
        {"joy": 7.25, 'so-so "meh"': 3.5}, {"joy": 4.0, "anger": 8.12}, {}, {"joy": 3.0, 'so-so "meh"': 9.88}]
    prediction = tasks[1]["predictions"][0]
    assert prediction["model_version"] == RUN and prediction["score"] == 0.812
    assert prediction["result"] == [
        {"from_name": "emotions", "to_name": "text", "type": "choices", "value": {"choices": ["joy", "anger"]}},
        {"from_name": "energy_joy", "to_name": "text", "type": "number", "value": {"number": 4.0}, "score": 0.4},
        {"from_name": "energy_anger", "to_name": "text", "type": "number", "value": {"number": 8.12},
         "score": 0.812}]
    metadata = json.loads(path.with_name("tasks.json.meta.json").read_text())
    assert metadata["run_id"] == RUN and metadata["label_config"] == "tasks.config.xml"
    assert metadata["thresholds"] == dict.fromkeys(LABELS, 3.0)


def test_the_configuration_names_every_label_and_an_energy_for_each(workspace, tmp_path):
    path = tmp_path / "tasks.json"
    export_label_studio(workspace, run_id=RUN, split=SPLIT, path=path)
    view = ET.fromstring(config_path_for(path).read_text())
    choices = view.find("Choices")
    assert choices.get("name") == "emotions" and choices.get("choice") == "multiple"
    assert [choice.get("value") for choice in choices.findall("Choice")] == LABELS
    numbers = {number.get("name"): number for number in view.iter("Number")}
    assert list(numbers) == list(energy_control_names(LABELS).values()) == [
        "energy_joy", "energy_anger", "energy_so_so_meh", "energy_neutral"]
    assert {(number.get("min"), number.get("max"), number.get("step")) for number in numbers.values()} == {
        ("0", "10", "0.01")}
    shown_when = [box.get("whenChoiceValue") for box in view.findall("View")]
    assert shown_when == LABELS  # each energy shows while its emotion is ticked
    assert view.find("TextArea").get("name") == "note" and view.find("Text").get("value") == "$text"
    assert list(energy_control_names(["a b", "a-b", "A_B", ""]).values()) == [
        "energy_a_b", "energy_a_b_2", "energy_A_B_3", "energy_label"]
    comma = ET.fromstring(label_studio_config(["x, y"]))
    assert comma.find("View").get("visibleWhen") is None  # visibleWhen would read the comma as "x or y"


def test_annotations_that_keep_the_predictions_read_back_as_accepts(workspace, tmp_path):
    """The tasks as Label Studio would export them once an annotator submitted each prediction unchanged,
    except on text d, where they untick joy and raise so-so."""
    path = tmp_path / "tasks.json"
    export_label_studio(workspace, run_id=RUN, split=SPLIT, path=path)
    tasks = json.loads(path.read_text())
    for number, task in enumerate(tasks, start=1):
        result = json.loads(json.dumps(task["predictions"][0]["result"]))
        task.update(id=number, annotations=[{"id": number, "completed_by": {"id": 7, "email": "cy@example.org"},
                                             "result": result, "was_cancelled": False,
                                             "updated_at": f"2026-01-01T00:00:0{number}Z"}])
    last = tasks[3]["annotations"][0]["result"]
    last[0]["value"]["choices"] = ['so-so "meh"']
    last[2]["value"]["number"] = 9.5
    exported = tmp_path / "export.json"
    exported.write_text(json.dumps(tasks))
    summary = import_label_studio(workspace, exported, run_id=RUN, split=SPLIT, accounts_path=tmp_path / "none.json",
                                  reviewer_from_email=True)
    assert summary["submissions"] == 4 and summary["texts"] == 4  # text c too: reviewed, nothing to decide
    assert stored_decisions(workspace) == [
        ("cy@example.org", "a", "joy", "accept", 7.25), ("cy@example.org", "a", 'so-so "meh"', "accept", 3.5),
        ("cy@example.org", "b", "joy", "accept", 4.0), ("cy@example.org", "b", "anger", "accept", 8.12),
        ("cy@example.org", "d", "joy", "reject", 3.0), ("cy@example.org", "d", 'so-so "meh"', "set", 9.5)]


def test_thresholds_choose_what_is_ticked(workspace, tmp_path):
    export_label_studio(workspace, run_id=RUN, split=SPLIT, path=tmp_path / "h5.json", thresholds=5.0)
    assert [task["data"]["suggested"] for task in json.loads((tmp_path / "h5.json").read_text())] == [
        {"joy": 7.25}, {"anger": 8.12}, {}, {'so-so "meh"': 9.88}]
    setting = ThresholdSetting.checked(8.0, {"joy": 4.0}, LABELS, source="my-profile")
    export_label_studio(workspace, run_id=RUN, split=SPLIT, path=tmp_path / "p.json", thresholds=setting, rows=[1])
    tasks = json.loads((tmp_path / "p.json").read_text())
    assert [task["data"]["suggested"] for task in tasks] == [{"joy": 4.0, "anger": 8.12}]
    assert json.loads((tmp_path / "p.json.meta.json").read_text())["threshold_profile"] == "my-profile"
    assert np.isclose(ENERGIES[1, 1], 8.125)


def test_bad_targets_are_refused(workspace, tmp_path):
    with pytest.raises(ValueError, match="name it like tasks.json"):
        export_label_studio(workspace, run_id=RUN, split=SPLIT, path=tmp_path / "tasks.csv")
    export_label_studio(workspace, run_id=RUN, split=SPLIT, path=tmp_path / "tasks.json")
    with pytest.raises(ValueError, match="already exists"):
        export_label_studio(workspace, run_id=RUN, split=SPLIT, path=tmp_path / "tasks.json")
    export_label_studio(workspace, run_id=RUN, split=SPLIT, path=tmp_path / "tasks.json", overwrite=True)
    with pytest.raises(ValueError, match="inside the workspace's runs folder"):
        export_label_studio(workspace, run_id=RUN, split=SPLIT, path=workspace.root / "runs" / "tasks.json")
    with pytest.raises(KeyError, match="no energies for split 'train'"):
        export_label_studio(workspace, run_id=RUN, split="train", path=tmp_path / "train.json")
