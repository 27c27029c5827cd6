"""Tests for eqn_core.export.hf_dataset: a `datasets` folder with typed features and a Hub dataset card, holding the
same values as the Parquet export of the same content."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from eqn_core.export.annotations import export_annotations
from eqn_core.export.hf_dataset import export_hf_dataset, hf_split_name
from eqn_core.store.workspace import Workspace
from review_support import HUMAN, LABELS, RUN, SPLIT, TEXTS, make_review_workspace

datasets = pytest.importorskip("datasets")


@pytest.fixture
def workspace(tmp_path):
    with Workspace(make_review_workspace(tmp_path / "ws")) as ws:
        ws.submit_text_review(run_id=RUN, split=SPLIT, row_idx=1, reviewer="ana",
                              decisions=[{"label": "anger", "decision": "set", "energy": 2.5}])
        ws.submit_text_review(run_id=RUN, split=SPLIT, row_idx=1, reviewer="ben",
                              decisions=[{"label": "anger", "decision": "set", "energy": 3.25}])
        ws.record_review(run_id=RUN, split=SPLIT, row_idx=0, label="joy", decision="reject", reviewer="ana")
        yield ws


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


@pytest.mark.parametrize("content", ["energies", "thresholded", "binary", "reviewed"])
def test_loading_the_dataset_gives_the_values_of_the_parquet_export(workspace, tmp_path, content):
    folder = tmp_path / "hf"
    result = export_hf_dataset(workspace, run_id=RUN, split=SPLIT, path=folder, content=content, thresholds=3.0)
    assert result == {"path": folder.resolve(), "rows": 4, "format": "hf-dataset", "content": content,
                      "card": folder.resolve() / "README.md", "pushed_to": None}
    parquet = tmp_path / "same.parquet"
    export_annotations(workspace, run_id=RUN, split=SPLIT, path=parquet, content=content, thresholds=3.0)
    expected = pd.read_parquet(parquet)
    loaded = datasets.load_from_disk(str(folder))
    assert loaded.num_rows == 4 and str(loaded.split) == SPLIT
    frame = loaded.to_pandas()
    assert frame["text"].tolist() == TEXTS == expected["text"].tolist()
    for column in ["text_id", "run_id", "dataset", "split", "row_idx", "mode", "encoder"]:
        assert frame[column].tolist() == expected[column].tolist(), column
    values_type = np.int32 if content == "binary" else np.float32
    np.testing.assert_array_equal(frame[LABELS].to_numpy(), expected[LABELS].to_numpy().astype(values_type))
    assert [loaded.features[label].dtype for label in LABELS] == ["int32" if content == "binary" else "float32"] * 4
    human = loaded.features["human_labels"].feature
    assert human.names == LABELS
    assert [[human.int2str(i) for i in ids] for ids in loaded["human_labels"]] == [
        [label for label, on in zip(LABELS, row) if on] for row in HUMAN]
    if content == "reviewed":
        for column in ["review_count", "reviewers", "review_sources"]:
            assert frame[column].tolist() == expected[column].tolist(), column
        assert frame.loc[1, "anger"] == np.float32(2.875) and frame.loc[1, "reviewers"] == "ana,ben"
    else:
        assert "review_sources" not in frame.columns


def test_the_card_is_in_the_hubs_format_with_the_run_and_its_provenance(workspace, tmp_path):
    folder = tmp_path / "hf"
    export_hf_dataset(workspace, run_id=RUN, split=SPLIT, path=folder, content="thresholded", thresholds=5.0)
    card = (folder / "README.md").read_text()
    meta = front_matter(card)
    assert meta["license"] == "unknown" and meta["task_categories"] == ["text-classification"]
    assert meta["task_ids"] == ["multi-label-classification"] and meta["size_categories"] == ["n<1K"]
    assert meta["pretty_name"] == f"tiny {SPLIT}: micro-emotions (thresholded) from EQN Studio run {RUN}"
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": SPLIT, "path": "data-*.arrow"}]}]
    features = {feature["name"]: feature for feature in meta["dataset_info"]["features"]}
    assert features["joy"]["dtype"] == "float32" and features["text"]["dtype"] == "string"
    assert list(features["human_labels"]["list"]["class_label"]["names"].values()) == LABELS
    assert meta["dataset_info"]["splits"][0]["num_examples"] == 4
    assert f'"run_id": "{RUN}"' in card and '"joy": 5.0' in card  # the provenance: run and thresholds
    assert "from the eqn model of run `r1`" in card


def test_targets_contents_and_replacing(workspace, tmp_path):
    folder = tmp_path / "hf"
    with pytest.raises(ValueError, match="not 'review-log'"):
        export_hf_dataset(workspace, run_id=RUN, split=SPLIT, path=folder, content="review-log")
    assert not folder.exists() and not list(tmp_path.glob(".hf*"))
    export_hf_dataset(workspace, run_id=RUN, split=SPLIT, path=folder)
    with pytest.raises(ValueError, match="already exists"):
        export_hf_dataset(workspace, run_id=RUN, split=SPLIT, path=folder)
    export_hf_dataset(workspace, run_id=RUN, split=SPLIT, path=folder, content="binary", thresholds=3.0,
                      overwrite=True)
    assert datasets.load_from_disk(str(folder)).features["joy"].dtype == "int32"
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a saved dataset; it is not replaced"):
        export_hf_dataset(workspace, run_id=RUN, split=SPLIT, path=other, overwrite=True)
    assert (other / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="is a file"):
        export_hf_dataset(workspace, run_id=RUN, split=SPLIT, path=other / "notes.txt", overwrite=True)
    with pytest.raises(KeyError, match="no energies for split 'train'"):
        export_hf_dataset(workspace, run_id=RUN, split="train", path=tmp_path / "train")
    assert not (tmp_path / "train").exists() and not list(tmp_path.glob(".train*"))
    assert hf_split_name("textset:diary 2") == "textset_diary_2"


def test_push_to_hub_sends_the_dataset_and_then_its_card(workspace, tmp_path, monkeypatch):
    """Offline here: the Hub calls are recorded, not made."""
    from huggingface_hub import DatasetCard

    calls = []
    monkeypatch.setattr(datasets.Dataset, "push_to_hub", lambda self, repo, **kw: calls.append(("data", repo, kw)))
    monkeypatch.setattr(DatasetCard, "push_to_hub", lambda self, repo, **kw: calls.append(("card", repo, str(self))))
    result = export_hf_dataset(workspace, run_id=RUN, split=SPLIT, path=tmp_path / "hf", push_to_hub="ana/emotions")
    assert result["pushed_to"] == "ana/emotions"
    assert [call[:2] for call in calls] == [("data", "ana/emotions"), ("card", "ana/emotions")]
    assert calls[0][2] == {"split": SPLIT}
    assert front_matter(calls[1][2])["configs"][0]["data_files"] == [{"split": SPLIT, "path": f"data/{SPLIT}-*"}]
