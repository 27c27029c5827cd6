"""Reviews teach the model (runs.review_training): a run's train-split reviews become the targets of a new run, read
back from the run folder's training_targets.parquet; dev reviews never leak; provenance in config, metrics, export."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_config
from eqn_core.export.annotations import export_annotations
from eqn_core.runs.lifecycle import ingest_run, prepare_run
from eqn_core.runs.process import execute_run
from eqn_core.runs.review_training import collect_review_targets, review_target_matrix
from eqn_core.store.run_folders import RunFolder, load_review_targets
from eqn_core.store.workspace import Workspace

LABELS = ["joy", "anger", "fear", "neutral"]
H = 3.0


def reviewed_run(workspace, run_id: str = "rev") -> np.ndarray:
    """A finished run on the tiny data set with chosen train/dev energies (what reviewers saw); returns train's."""
    dataset = workspace.load_dataset("tiny")
    workspace.create_run(run_id, dataset="tiny", mode="eqn", encoder="x", config={},
                         run_dir=workspace.runs_dir / run_id)
    energies = {}
    for split in ("train", "dev"):
        labels = dataset.splits[split].human_labels
        values = np.where(labels, 10.0, 1.0).astype(np.float32)  # (N, C): human labels 10, the rest 1
        values[:, 1] += 4.0 * ~labels[:, 1]  # anger suggested (5.0) wherever no person gave it
        workspace.store_energies(run_id, split, values)
        energies[split] = values
    workspace.update_run(run_id, status="finished", metrics={"global_threshold": H})
    return energies["train"]


def cells(labels: np.ndarray) -> dict:
    """Train cells for each kind of decision: (row, label id)."""
    no_anger = np.flatnonzero(~labels[:, 1])
    no_fear = np.flatnonzero(~labels[:, 2])
    human_joy = np.flatnonzero(labels[:, 0])
    return {"reject": (int(no_anger[0]), 1), "set": (int(no_anger[1]), 1), "add": (int(no_fear[2]), 2),
            "accept": (int(no_anger[3]), 1), "human": (int(human_joy[0]), 0),
            "mean": (int(no_fear[5]), 2), "adjudicated": (int(no_fear[6]), 2)}


def record(workspace, chosen: dict) -> None:
    def one(kind, decision, energy=None, reviewer="ana"):
        row, label = chosen[kind]
        return {"run_id": "rev", "split": "train", "row_idx": row, "label": LABELS[label], "decision": decision,
                "reviewer": reviewer, "energy": energy}

    workspace.record_reviews([one("reject", "reject", 5.0), one("set", "set", 6.0), one("add", "set", 8.0),
                              one("accept", "accept", 5.0), one("human", "set", 4.0),
                              one("mean", "set", 2.0), one("mean", "set", 6.0, reviewer="ben"),
                              one("adjudicated", "set", 1.0), one("adjudicated", "set", 9.0, reviewer="ben")])
    row, label = chosen["adjudicated"]
    workspace.record_adjudication(run_id="rev", split="train", row_idx=row, label=LABELS[label], energy=7.0,
                                  adjudicator="admin")
    # a dev review: must never reach training
    workspace.record_review(run_id="rev", split="dev", row_idx=0, label="joy", decision="set", energy=0.5,
                            reviewer="ana")


EXPECTED = {"reject": 0.0, "set": 6.0, "add": 8.0, "accept": 5.0, "human": 4.0, "mean": 4.0, "adjudicated": 7.0}


def training_targets(folder: RunFolder) -> np.ndarray:
    frame = pd.read_parquet(folder.training_targets_file)
    assert frame["row_idx"].tolist() == list(range(len(frame)))
    return frame[LABELS].to_numpy(dtype=np.float32)


@pytest.mark.parametrize("mode", ["eqn", "coeqn"])
def test_reviewed_values_become_the_training_targets_and_the_rest_keep_the_papers(workspace_with_tiny,
                                                                                  tiny_encoder_dir, mode):
    with Workspace(workspace_with_tiny) as workspace:
        reviewed_run(workspace)
        labels = workspace.load_dataset("tiny").splits["train"].human_labels
        chosen = cells(labels)
        record(workspace, chosen)
        paper = prepare_run(workspace, tiny_config(tiny_encoder_dir, mode=mode), run_id="paper")
        taught = prepare_run(workspace, tiny_config(tiny_encoder_dir, mode=mode), run_id="taught", reviews_from="rev")
        for folder in (paper, taught):
            assert execute_run(folder.path, cache_dir=workspace.cache_dir)["status"] == "finished"
            ingest_run(workspace, folder.path.name)
        before, after = training_targets(paper), training_targets(taught)
        reviewed = np.zeros(labels.shape, dtype=bool)
        for kind, (row, label) in chosen.items():
            assert after[row, label] == pytest.approx(EXPECTED[kind]), kind
            reviewed[row, label] = True
        # rejected: towards 0; set: its value; added emotion: the reviewer's energy; everything else as the paper
        np.testing.assert_allclose(after[~reviewed], before[~reviewed], atol=1e-5)
        if mode == "eqn":
            assert np.all(after[labels & ~reviewed] == 10.0)  # human labels put back to 10.0 unless reviewed
            np.testing.assert_allclose(workspace.load_energies("taught", "train"), after)  # the regressed set
        else:
            np.testing.assert_array_equal(before, np.where(labels, 10.0, 0.0))  # eq. 1-2
        run = workspace.get_run("taught")
        used = run["config"]["extra"]["reviews"]
        assert used["run_id"] == "rev" and used["split"] == "train"
        assert used["texts"] == len({row for row, _ in chosen.values()}) and used["values"] == len(chosen)
        assert used["decisions"] == 9 and used["adjudications"] == 1  # the dev review is not among them
        assert used["reviewers"] == ["ana", "ben"] and used["adjudicators"] == ["admin"]
        assert used["human_labels_changed"] == 1 and len(used["sha256"]) == 64
        assert used["first_decided_at"] <= used["last_decided_at"]
        assert run["metrics"]["reviews"]["human_labels_changed"] == 1
        assert run["metrics"]["reviews"]["values_used"] == len(chosen)
        if mode == "eqn":  # Model 1 trained on the paper's targets: its record does not claim the reviews
            assert "reviews" not in workspace.get_run("taught.model1")["config"]["extra"]
        provenance = json.loads(RunFolder(run["run_dir"]).review_provenance_file.read_text())
        assert provenance["sha256"] == used["sha256"] and len(provenance["decision_ids"]) == 10
        # the export names the reviews the model was trained on, with the human labels they changed
        result = export_annotations(workspace, run_id="taught", split="test", path=workspace.root.parent / "t.csv")
        meta = json.loads(open(result["metadata"]).read())
        assert meta["trained_with_reviews"]["human_labels_changed"] == 1
        assert meta["trained_with_reviews"]["sha256"] == used["sha256"]
        paper_meta = export_annotations(workspace, run_id="paper", split="test", path=workspace.root.parent / "p.csv")
        assert "trained_with_reviews" not in json.loads(open(paper_meta["metadata"]).read())


def test_the_digest_changes_with_the_review_rows_and_only_train_reviews_count(workspace_with_tiny):
    with Workspace(workspace_with_tiny) as workspace:
        reviewed_run(workspace)
        dataset = workspace.load_dataset("tiny")
        workspace.record_review(run_id="rev", split="dev", row_idx=0, label="joy", decision="reject", reviewer="ana")
        with pytest.raises(ValueError, match="no review decisions on its train split.*1 on other splits"):
            collect_review_targets(workspace, "rev", dataset)
        workspace.record_review(run_id="rev", split="train", row_idx=1, label="anger", decision="reject",
                                reviewer="ana")
        first = collect_review_targets(workspace, "rev", dataset)
        assert first.summary["values"] == 1 and first.mask.sum() == 1 and first.override[1, 1] == 0.0
        workspace.record_review(run_id="rev", split="train", row_idx=2, label="fear", decision="set", energy=7.0,
                                reviewer="ana")
        second = collect_review_targets(workspace, "rev", dataset)
        assert second.summary["sha256"] != first.summary["sha256"] and second.summary["values"] == 2
        assert collect_review_targets(workspace, "rev", dataset).summary["sha256"] == second.summary["sha256"]


def test_reviews_refuse_other_data_sets_baselines_and_runs_without_train_energies(workspace_with_tiny,
                                                                                  tiny_encoder_dir):
    from conftest import make_dataset

    with Workspace(workspace_with_tiny) as workspace:
        reviewed_run(workspace)
        workspace.record_review(run_id="rev", split="train", row_idx=1, label="anger", decision="reject",
                                reviewer="ana")
        with pytest.raises(ValueError, match="mode coeqn or eqn, not bce"):
            prepare_run(workspace, tiny_config(tiny_encoder_dir, mode="bce"), reviews_from="rev")
        workspace.add_dataset(make_dataset("other"))
        with pytest.raises(ValueError, match="same data set"):
            prepare_run(workspace, tiny_config(tiny_encoder_dir, dataset="other"), reviews_from="rev")
        workspace.create_run("dev-only", dataset="tiny", mode="eqn", encoder="x", config={},
                             run_dir=workspace.runs_dir / "dev-only")
        workspace.store_energies("dev-only", "dev", np.ones((16, 4), dtype=np.float32))
        workspace.record_review(run_id="dev-only", split="train", row_idx=1, label="anger", decision="reject",
                                reviewer="ana")
        with pytest.raises(ValueError, match="no energies for its train split"):
            prepare_run(workspace, tiny_config(tiny_encoder_dir), reviews_from="dev-only")
        assert set(workspace.list_runs()["run_id"]) == {"rev", "dev-only"}  # nothing half made
        assert not any(path.name not in ("rev", "dev-only") for path in workspace.runs_dir.iterdir())


def test_review_target_matrix_marks_only_touched_values():
    energies = np.array([[5.0, 1.0], [0.5, 4.0]], dtype=np.float32)
    decisions = pd.DataFrame({"id": [1, 2], "row_idx": [0, 1], "label": ["a", "a"], "decision": ["accept", "set"],
                              "energy": [5.0, 9.0], "reviewer": ["ana", "ana"]})
    submissions = pd.DataFrame(columns=["id", "row_idx", "reviewer", "submitted_at"])
    adjudications = pd.DataFrame(columns=["id", "row_idx", "label", "energy"])
    override, mask = review_target_matrix(energies, 3.0, decisions, submissions, adjudications, label_names=["a", "b"])
    np.testing.assert_array_equal(mask, [[True, False], [True, False]])
    np.testing.assert_allclose(override, [[5.0, 0.0], [9.0, 0.0]])
    assert load_review_targets(RunFolder("/nonexistent").review_targets_file) is None


def test_reviewed_own_texts_join_the_training_data_with_their_reviewed_values(workspace_with_tiny, tiny_encoder_dir,
                                                                              tmp_path):
    from eqn_core.store.text_sets import add_text_set, review_split
    from text_set_support import write_annotation

    with Workspace(workspace_with_tiny) as workspace:
        reviewed_run(workspace)
        train = workspace.load_dataset("tiny").splits["train"]
        (tmp_path / "diary.csv").write_text("id,text\nd1,first entry\nd2,second entry\nd3,third entry\n")
        add_text_set(workspace, "diary", [tmp_path / "diary.csv"])
        own = np.array([[7.0, 1.0, 0.5, 0.0], [0.5, 5.0, 0.5, 1.0], [1.0, 1.0, 1.0, 9.0]], dtype=np.float32)
        write_annotation(workspace, "diary", "rev", own)
        key = review_split("diary")
        # d1: joy accepted (its annotation energy 7.0), fear added at 8; d3: neutral rejected; d2 never reviewed
        workspace.submit_text_review(run_id="rev", split=key, row_idx=0, reviewer="ana", decisions=[
            {"label": "joy", "decision": "accept"}, {"label": "fear", "decision": "set", "energy": 8.0}])
        workspace.submit_text_review(run_id="rev", split=key, row_idx=2, reviewer="ana",
                                     decisions=[{"label": "neutral", "decision": "reject"}])
        with pytest.raises(ValueError, match="Name the run"):
            prepare_run(workspace, tiny_config(tiny_encoder_dir, mode="eqn"), reviewed_text_sets=["diary"])
        folder = prepare_run(workspace, tiny_config(tiny_encoder_dir, mode="eqn"), run_id="own",
                             reviews_from="rev", reviewed_text_sets=["diary"])  # no train-split reviews needed
        assert execute_run(folder.path, cache_dir=workspace.cache_dir)["status"] == "finished"
        ingest_run(workspace, "own")
        frame = pd.read_parquet(folder.training_targets_file)
        n = len(train.texts)
        assert len(frame) == n + 2 and frame["text_id"].tolist()[n:] == ["diary:d1", "diary:d3"]
        appended = frame[LABELS].to_numpy(np.float32)[n:]
        assert appended[0, 0] == pytest.approx(7.0) and appended[0, 2] == pytest.approx(8.0)  # accept, added
        assert appended[1, 3] == 0.0  # rejected
        # the run's stored train energies are the data set's own training texts, nothing appended
        assert workspace.load_energies("own", "train").shape == (n, len(LABELS))
        used = workspace.get_run("own")["config"]["extra"]["reviews"]
        assert used["values"] == 0 and used["train_rows"] == n and used["appended_texts"] == 2
        diary = used["text_sets"][0]
        assert diary["text_set"] == "diary" and diary["texts"] == 2 and diary["values"] == 3
        assert diary["reviewers"] == ["ana"] and len(diary["sha256"]) == 64
        assert workspace.get_run("own")["metrics"]["reviews"]["human_labels_changed"] == 0
        # a quick look (a row limit) samples the data set's texts but keeps every reviewed text of one's own
        quick = prepare_run(workspace, tiny_config(tiny_encoder_dir, mode="eqn", max_train_rows=5), run_id="quick",
                            reviews_from="rev", reviewed_text_sets=["diary"])
        assert execute_run(quick.path, cache_dir=workspace.cache_dir)["status"] == "finished"
        rows = pd.read_parquet(quick.training_targets_file)["row_idx"].tolist()
        assert len(rows) == 7 and rows[-2:] == [n, n + 1]
        # another run's annotation of the same texts has its own reviews: none yet
        workspace.create_run("other", dataset="tiny", mode="eqn", encoder="x", config={},
                             run_dir=workspace.runs_dir / "other")
        workspace.update_run("other", status="finished", metrics={"global_threshold": H})
        write_annotation(workspace, "diary", "other", own)
        with pytest.raises(ValueError, match="Nobody has reviewed"):
            prepare_run(workspace, tiny_config(tiny_encoder_dir, mode="eqn"), reviews_from="other",
                        reviewed_text_sets=["diary"])
