"""Review records on own texts (store.text_set_reviews): a text set's texts are reviewed under its review key, with
the text ids of its Parquet file; nothing is stored for a bad row or an unfinished annotation, and removing the set
or its annotation never drops review decisions silently."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eqn_core.runs.text_jobs import delete_annotation
from eqn_core.store.text_sets import add_text_set, remove_text_set, review_split
from text_set_support import LABELS, write_annotation

ENERGIES = np.array([[9.0, 0.5, 3.0, 0.3], [0.2, 7.5, 1.0, 0.5], [5.0, 6.0, 0.0, 9.5]], dtype=np.float32)  # (3, 4)
KEY = review_split("diary")


@pytest.fixture
def diary(workspace, tmp_path):
    pd.DataFrame({"text": ["a good day", "so cross with him", "scared of tomorrow"], "id": ["d1", "d2", "d3"],
                  "speaker": ["P1", "P2", "P1"]}).to_csv(tmp_path / "diary.csv", index=False)
    add_text_set(workspace, "diary", [tmp_path / "diary.csv"])
    write_annotation(workspace, "diary", "r", ENERGIES, shard_rows=2)
    return workspace


def test_a_text_of_an_unlabelled_set_is_reviewed_with_its_own_text_id(diary):
    assert diary.run_shape("r", KEY) == (KEY, LABELS, 3)
    np.testing.assert_array_equal(diary.load_energies("r", KEY), ENERGIES)
    diary.submit_text_review(run_id="r", split=KEY, row_idx=1, reviewer="ana", note="clear anger",
                             decisions=[{"label": "anger", "decision": "accept", "energy": 7.5},
                                        {"label": "fear", "decision": "set", "energy": 4.0}])
    decisions = diary.reviews(run_id="r", split=KEY)
    assert decisions[["row_idx", "text_id", "label", "decision"]].values.tolist() == [
        [1, "d2", "anger", "accept"], [1, "d2", "fear", "set"]]
    assert set(decisions["dataset"]) == {KEY}
    submitted = diary.submissions(run_id="r", split=KEY)
    assert submitted[["row_idx", "text_id", "reviewer", "note"]].values.tolist() == [[1, "d2", "ana", "clear anger"]]
    diary.record_adjudication(run_id="r", split=KEY, row_idx=2, label="joy", energy=6.5, adjudicator="admin")
    assert diary.adjudications(run_id="r", split=KEY)[["text_id", "energy"]].values.tolist() == [["d3", 6.5]]
    assert diary.assign_texts(run_id="r", split=KEY, rows=[0, 2], reviewers=["ana", "ben"], assigned_by="admin") == 4
    diary.set_blind_review(run_id="r", split=KEY, blind=False, changed_by="admin")
    assert diary.blind_review(run_id="r", split=KEY) is False
    assert diary.non_emotion_labels(KEY) == ["neutral"]


def test_bad_rows_labels_and_unfinished_annotations_store_nothing(diary, tmp_path):
    with pytest.raises(ValueError, match="outside"):
        diary.record_reviews([{"run_id": "r", "split": KEY, "row_idx": 0, "label": "joy", "decision": "accept",
                               "reviewer": "ana"},
                              {"run_id": "r", "split": KEY, "row_idx": 3, "label": "joy", "decision": "accept",
                               "reviewer": "ana"}])
    with pytest.raises(ValueError, match="Unknown label"):
        diary.submit_text_review(run_id="r", split=KEY, row_idx=0, reviewer="ana",
                                 decisions=[{"label": "awe", "decision": "reject"}])
    with pytest.raises(KeyError, match="no annotation by run"):
        diary.run_shape("other", KEY)
    pd.DataFrame({"text": ["one", "two", "three", "four"]}).to_csv(tmp_path / "more.csv", index=False)
    add_text_set(diary, "more", [tmp_path / "more.csv"])
    write_annotation(diary, "more", "r", ENERGIES[:2], finished=False)
    with pytest.raises(ValueError, match="finish the annotation"):
        diary.record_review(run_id="r", split=review_split("more"), row_idx=0, label="joy", decision="accept",
                            reviewer="ana")
    assert diary.reviews().empty and diary.submissions(run_id="r", split=KEY).empty


def test_removing_a_reviewed_set_or_annotation_needs_the_reviews_dropped_on_purpose(diary):
    diary.submit_text_review(run_id="r", split=KEY, row_idx=0, reviewer="ana",
                             decisions=[{"label": "joy", "decision": "reject"}])
    with pytest.raises(ValueError, match="2 review records"):
        delete_annotation(diary, "diary", "r")
    with pytest.raises(ValueError, match="review-log"):
        remove_text_set(diary, "diary")
    assert len(diary.reviews(run_id="r", split=KEY)) == 1
    remove_text_set(diary, "diary", delete_reviews=True)
    assert diary.reviews().empty and diary.submissions(run_id="r", split=KEY).empty


def test_a_batch_of_reviews_is_stored_whole_or_not_at_all_and_imports_by_text_id(diary, tmp_path):
    from eqn_core.review.imports import import_review_file

    good = {"row_idx": 0, "reviewer": "ana", "decisions": [{"label": "joy", "decision": "reject"}]}
    bad = {"row_idx": 1, "reviewer": "ana", "decisions": [{"label": "awe", "decision": "reject"}]}
    with pytest.raises(ValueError, match="Unknown label 'awe'"):
        diary.store_review_batch(run_id="r", split=KEY, items=[good, bad])
    assert diary.reviews().empty and diary.submissions(run_id="r", split=KEY).empty
    stored = diary.store_review_batch(run_id="r", split=KEY, items=[
        good, {"row_idx": 2, "adjudicator": "boss", "label": "fear", "energy": 3.5}])
    assert stored == {"decisions": 1, "submissions": 1, "adjudications": 1}
    pd.DataFrame({"text_id": ["d3", "d2"], "label": ["fear", "anger"], "decision": ["set", "accept"],
                  "energy": [6.0, None], "reviewer": ["ben", "ben"]}).to_csv(tmp_path / "bulk.csv", index=False)
    summary = import_review_file(diary, tmp_path / "bulk.csv", run_id="r", split=KEY)
    assert summary["texts"] == 2 and summary["stored"]
    ben = diary.reviews(run_id="r", split=KEY, reviewer="ben")
    assert ben[["row_idx", "text_id", "label", "decision"]].values.tolist() == [[2, "d3", "fear", "set"],
                                                                                [1, "d2", "anger", "accept"]]
