"""Tests of eqn_core.store.schema: the row checks behind every insert, and the schema version a workspace records."""
import numpy as np
import pytest

from eqn_core.io.datasets import LabeledDataset, LabeledSplit
from eqn_core.store.schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION, check_dataset, review_values, split_sort_key


def dataset(**changes) -> LabeledDataset:
    split = LabeledSplit(texts=["a", "b"], human_labels=np.array([[True, False], [False, True]]), text_ids=["1", "2"])
    values = dict(name="tiny", label_names=["joy", "anger"], splits={"train": split}, multi_label=True, source="x")
    values.update(changes)
    return LabeledDataset(**values)


def test_review_values_say_what_is_wrong():
    args = dict(run_id="r1", split="test", row_idx=1, label="joy", reviewer=" ana ")
    checked = review_values("tiny", ["joy", "anger"], 2, decision="set", energy=7.5, **args)
    assert checked["reviewer"] == "ana" and checked["energy"] == 7.5 and checked["row_idx"] == 1
    with pytest.raises(ValueError, match="Unknown review decision"):
        review_values("tiny", ["joy"], 2, decision="maybe", **args)
    with pytest.raises(ValueError, match="needs the new energy"):
        review_values("tiny", ["joy"], 2, decision="set", **args)
    with pytest.raises(ValueError, match=r"in \[0, 10\]"):
        review_values("tiny", ["joy"], 2, decision="set", energy=10.5, **args)
    with pytest.raises(ValueError, match="outside split 'test'"):
        review_values("tiny", ["joy"], 1, decision="accept", **args)
    with pytest.raises(ValueError, match="Unknown label 'joy'"):
        review_values("tiny", ["anger"], 2, decision="accept", **args)


def test_check_dataset_names_the_bad_split_and_row():
    check_dataset(dataset())
    with pytest.raises(ValueError, match="duplicate label names"):
        check_dataset(dataset(label_names=["joy", "joy"]))
    bad = LabeledSplit(texts=["a", None], human_labels=np.zeros((2, 2), bool), text_ids=["1", "2"])
    with pytest.raises(ValueError, match="split 'dev', row 1: the text is None"):
        check_dataset(dataset(splits={"dev": bad}))


def test_every_version_after_the_first_has_a_migration():
    assert all(version in MIGRATIONS for version in range(2, SCHEMA_VERSION + 1))
    assert sum("CREATE TABLE schema_version" in statement for statement in SCHEMA) == 1
    assert sorted(["test", "extra", "train", "dev"], key=split_sort_key) == ["train", "dev", "test", "extra"]
