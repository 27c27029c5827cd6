"""Tests for eqn_core.review.decisions and .suggestions: suggestions, the reviewer's queue, bulk accept, Cohen's kappa, reviewed energies."""
import math

import numpy as np
import pandas as pd
import pytest

from eqn_core.export.annotations import export_annotations
from eqn_core.io.datasets import LabeledDataset, LabeledSplit
from eqn_core.method.thresholds import reaches
from eqn_core.review.decisions import apply_decisions, bulk_accept, review_queue, reviewer_agreement
from eqn_core.review.suggestions import (
    LOW_ENERGY_HUMAN,
    SUGGESTED,
    filter_texts,
    label_lists,
    suggest_micro_emotions,
    top_energies,
)
from eqn_core.store.workspace import Workspace

LABELS = ["joy", "anger", "fear"]
ENERGIES = np.array([[9.0, 4.0, 0.5],
                     [1.0, 7.5, 3.0],
                     [0.2, 0.1, 6.0],
                     [2.5, 0.7, 0.0]], dtype=np.float32)  # (N=4, C=3)
HUMAN = np.array([[1, 0, 0],
                  [1, 1, 0],
                  [0, 0, 0],
                  [1, 1, 0]], dtype=bool)  # (N, C)
THRESHOLDS = np.array([3.0, 3.0, 5.0])  # (C,)


def decisions(*rows, run_id="r1", split="test") -> pd.DataFrame:
    """reviews() rows from (row_idx, label, decision, energy, reviewer); ids in the given order."""
    return pd.DataFrame([{"id": i + 1, "run_id": run_id, "split": split, "row_idx": row, "label": label,
                          "decision": decision, "energy": energy, "note": "", "reviewer": reviewer}
                         for i, (row, label, decision, energy, reviewer) in enumerate(rows)])


# ------------------------------------------------------------------------ suggestions
def test_suggestions_are_unlabelled_high_energies_and_weak_human_labels():
    suggestions = suggest_micro_emotions(ENERGIES, HUMAN, THRESHOLDS, label_names=LABELS)
    assert list(suggestions.columns) == ["row_idx", "label", "label_id", "energy", "threshold", "kind"]
    # suggested (no human label, energy >= h), by energy descending: (2, fear) 6.0, (0, anger) 4.0;
    # (1, fear) 3.0 < its h = 5. Human labels below h: (1, joy) 1.0, (3, anger) 0.7, (3, joy) 2.5.
    assert suggestions[["row_idx", "label", "kind"]].values.tolist() == [
        [2, "fear", SUGGESTED], [0, "anger", SUGGESTED],
        [3, "joy", LOW_ENERGY_HUMAN], [1, "joy", LOW_ENERGY_HUMAN], [3, "anger", LOW_ENERGY_HUMAN]]
    assert suggestions["energy"].tolist() == pytest.approx([6.0, 4.0, 2.5, 1.0, 0.7])
    assert suggestions["threshold"].tolist() == [5.0, 3.0, 3.0, 3.0, 3.0]
    assert suggestions["label_id"].tolist() == [2, 1, 0, 0, 1]


def test_suggestions_scalar_threshold_and_low_energy_option():
    suggestions = suggest_micro_emotions(ENERGIES, HUMAN, 3.0, label_names=LABELS, low_energy=1.0)
    assert suggestions[["row_idx", "label", "kind"]].values.tolist() == [
        [2, "fear", SUGGESTED], [0, "anger", SUGGESTED], [1, "fear", SUGGESTED], [3, "anger", LOW_ENERGY_HUMAN]]


def test_suggestion_threshold_compared_in_float32_like_the_export():
    # an energy stored as 0.7 (float32 0.69999999) reaches h = 0.7, as in the metrics and the export
    energies = np.array([[0.7, 0.0]], dtype=np.float32)
    suggested = suggest_micro_emotions(energies, np.zeros((1, 2), bool), 0.7, label_names=["a", "b"])
    assert suggested[["row_idx", "label", "kind"]].values.tolist() == [[0, "a", SUGGESTED]]


def test_suggestions_shape_errors():
    with pytest.raises(ValueError, match="label names"):
        suggest_micro_emotions(ENERGIES, HUMAN, 3.0, label_names=["joy"])
    with pytest.raises(ValueError, match="human_labels"):
        suggest_micro_emotions(ENERGIES, HUMAN[:2], 3.0, label_names=LABELS)
    with pytest.raises(ValueError, match="thresholds"):
        suggest_micro_emotions(ENERGIES, HUMAN, [1.0, 2.0], label_names=LABELS)


# ------------------------------------------------------------------------ queue
def test_queue_hides_what_this_reviewer_decided():
    suggestions = suggest_micro_emotions(ENERGIES, HUMAN, THRESHOLDS, label_names=LABELS)
    reviews = decisions((2, "fear", "accept", 6.0, "ana"), (0, "anger", "reject", None, "ben"),
                        (3, "joy", "set", 8.0, "ana"))
    queue = review_queue(suggestions, reviews, reviewer="ana")
    assert queue[["row_idx", "label"]].values.tolist() == [[0, "anger"], [1, "joy"], [3, "anger"]]
    assert queue["decision"].isna().all()
    everything = review_queue(suggestions, reviews, reviewer="ana", include_decided=True)
    assert len(everything) == len(suggestions)
    assert everything["decision"].fillna("-").tolist() == ["accept", "-", "set", "-", "-"]
    assert everything.loc[2, "decided_energy"] == 8.0
    assert len(review_queue(suggestions, reviews.iloc[:0], reviewer="ana")) == len(suggestions)


# ------------------------------------------------------------------------ bulk accept
class RecordingWorkspace:
    def __init__(self):
        self.calls = []

    def record_reviews(self, decisions):
        self.calls.extend(decisions)


class BatchWorkspace(RecordingWorkspace):
    def record_reviews(self, decisions):
        self.calls.append(list(decisions))


def test_bulk_accept_records_only_energies_at_or_above_the_minimum():
    suggestions = suggest_micro_emotions(ENERGIES, HUMAN, THRESHOLDS, label_names=LABELS)
    workspace = RecordingWorkspace()
    count = bulk_accept(workspace, suggestions, run_id="r1", split="test", reviewer="ana", min_energy=4.0)
    assert count == 2
    assert [(call["row_idx"], call["label"], call["decision"], call["energy"]) for call in workspace.calls] == [
        (2, "fear", "accept", 6.0), (0, "anger", "accept", 4.0)]
    assert {call["reviewer"] for call in workspace.calls} == {"ana"}
    assert workspace.calls[0]["note"] == "bulk accept (energy >= 4)"

    batch = BatchWorkspace()  # a workspace with a batch form gets one call (one transaction)
    assert bulk_accept(batch, suggestions, run_id="r1", split="test", reviewer="ana", min_energy=0.0) == 5
    assert len(batch.calls) == 1 and len(batch.calls[0]) == 5
    assert bulk_accept(batch, suggestions, run_id="r1", split="test", reviewer="ana", min_energy=9.5) == 0
    with pytest.raises(ValueError, match="reviewer"):
        bulk_accept(batch, suggestions, run_id="r1", split="test", reviewer=" ", min_energy=0.0)


# ------------------------------------------------------------------------ agreement
def test_kappa_per_label_matches_a_hand_computed_table():
    # joy, 8 texts (ana, ben; 1 = positive):            anger, 2 texts: both positive twice
    #   (1,1) (1,1) (1,0) (0,0) (0,0) (0,1) (1,1) (0,0)
    # joy: p_o = 6/8 = 0.75; each says yes 4/8 -> p_e = 0.5*0.5 + 0.5*0.5 = 0.5; kappa = (0.75-0.5)/0.5 = 0.5
    # anger: both always positive -> p_e = 1, kappa undefined (NaN); fear: only ana decided -> 0 items, NaN
    # all labels, 10 items: p_o = 8/10; yes rates 6/10 each -> p_e = 0.36 + 0.16 = 0.52;
    #   kappa = (0.8 - 0.52) / (1 - 0.52) = 0.28 / 0.48 = 0.58333
    ana = [1, 1, 1, 0, 0, 0, 1, 0]
    ben = [1, 1, 0, 0, 0, 1, 1, 0]
    rows = [(0, "joy", "accept", 9.0, "ana")]  # superseded below by ana's later "set 0"
    for row, (a, b) in enumerate(zip(ana, ben)):
        rows.append((row, "joy", "accept" if a else "set", None if a else 0.0, "ana"))
        rows.append((row, "joy", "set" if b else "reject", 4.0 if b else None, "ben"))
    rows[1] = (0, "joy", "set", 2.5, "ana")  # set > 0 counts as positive, like accept
    rows += [(0, "anger", "accept", 4.0, "ana"), (0, "anger", "accept", 4.0, "ben"),
             (1, "anger", "set", 5.0, "ana"), (1, "anger", "accept", 7.5, "ben"),
             (2, "fear", "reject", None, "ana"), (2, "fear", "accept", None, "cleo")]
    reviews = decisions(*rows)
    table = reviewer_agreement(reviews, "ana", "ben", label_names=LABELS)
    assert table["label"].tolist() == ["joy", "anger", "fear", "all labels"]
    assert table["items"].tolist() == [8, 2, 0, 10]
    assert table["agreed"].tolist() == [6, 2, 0, 8]
    assert table["a_positive"].tolist() == [4, 2, 0, 6] and table["b_positive"].tolist() == [4, 2, 0, 6]
    assert table.loc[0, "kappa"] == pytest.approx(0.5)
    assert math.isnan(table.loc[1, "kappa"]) and math.isnan(table.loc[2, "kappa"])
    assert table.loc[3, "kappa"] == pytest.approx(0.28 / 0.48)
    assert table.loc[3, "agreement"] == pytest.approx(0.8)


def test_kappa_opposite_answers_and_no_shared_items():
    reviews = decisions((0, "joy", "accept", None, "ana"), (0, "joy", "reject", None, "ben"),
                        (1, "joy", "reject", None, "ana"), (1, "joy", "accept", None, "ben"))
    # p_o = 0, p_e = 0.5*0.5 + 0.5*0.5 = 0.5 -> kappa = -1
    assert reviewer_agreement(reviews, "ana", "ben", label_names=LABELS).loc[0, "kappa"] == pytest.approx(-1.0)
    alone = reviewer_agreement(reviews, "ana", "nobody", label_names=LABELS)
    assert alone["items"].tolist() == [0, 0, 0, 0] and alone["kappa"].isna().all()


# ------------------------------------------------------------------------ reviewed energies
def test_apply_decisions_by_hand():
    reviews = decisions((0, "joy", "reject", None, "ana"),      # 9.0 -> 0
                        (1, "joy", "accept", None, "ana"),      # 1.0 below h=3: accepted -> max(1, 3) = 3
                        (2, "fear", "set", 7.25, "ben"),        # 6.0 -> 7.25
                        (3, "anger", "accept", None, "ana"),
                        (3, "anger", "reject", None, "ben"))    # the most recent decision wins -> 0
    reviewed = apply_decisions(ENERGIES, THRESHOLDS, reviews, LABELS)
    expected = np.where(ENERGIES >= THRESHOLDS, ENERGIES, 0).astype(np.float64)
    expected[0, 0], expected[1, 0], expected[2, 2], expected[3, 1] = 0.0, 3.0, 7.25, 0.0
    np.testing.assert_array_equal(reviewed, expected)
    assert reviewed.shape == (4, 3) and reviewed.dtype == np.float64
    np.testing.assert_array_equal(apply_decisions(ENERGIES, 3.0, reviews.iloc[:0], LABELS),
                                  np.where(ENERGIES >= 3.0, ENERGIES, 0))
    with pytest.raises(ValueError, match="not among"):
        apply_decisions(ENERGIES, 3.0, decisions((0, "calm", "reject", None, "ana")), LABELS)
    with pytest.raises(ValueError, match="one run and split"):
        apply_decisions(ENERGIES, 3.0, pd.concat([reviews, decisions((0, "joy", "reject", None, "ana"),
                                                                     split="dev")]), LABELS)


def test_apply_decisions_matches_the_reviewed_export(tmp_path):
    split = LabeledSplit(texts=[f"text {i}" for i in range(4)], human_labels=HUMAN, text_ids=list("abcd"))
    dataset = LabeledDataset(name="tiny", label_names=LABELS, splits={"test": split}, multi_label=True,
                             source="memory")
    energies = ENERGIES.copy()
    energies[3, 2] = 0.7  # float32 0.7 against h = 0.7: both sides must say "reaches h"
    thresholds = np.array([3.0, 3.0, 0.7])
    with Workspace(tmp_path / "ws") as ws:
        ws.add_dataset(dataset)
        ws.create_run("r1", dataset="tiny", mode="eqn", encoder="e", config={}, run_dir="runs/r1")
        ws.store_energies("r1", "test", energies)
        for row, label, decision, energy, reviewer in [
                (0, "joy", "reject", None, "ana"), (1, "fear", "accept", 3.0, "ana"), (2, "fear", "set", 1.5, "ben"),
                (3, "joy", "set", 8.0, "ana"), (3, "joy", "accept", None, "ben"), (2, "anger", "accept", None, "ana"),
                (2, "anger", "reject", None, "ana")]:
            ws.record_review(run_id="r1", split="test", row_idx=row, label=label, decision=decision, energy=energy,
                             reviewer=reviewer)
        export_annotations(ws, run_id="r1", split="test", path=tmp_path / "out.parquet", content="reviewed",
                           thresholds=thresholds)
        exported = pd.read_parquet(tmp_path / "out.parquet")[LABELS].to_numpy()
        decisions = ws.reviews(run_id="r1", split="test")
        for reviewer in ("ana", "ben"):  # one reviewer's export is apply_decisions on their decisions
            export_annotations(ws, run_id="r1", split="test", path=tmp_path / f"{reviewer}.parquet",
                               content="reviewed", thresholds=thresholds, reviewer=reviewer)
            theirs = decisions[decisions["reviewer"] == reviewer]
            np.testing.assert_array_equal(apply_decisions(energies, thresholds, theirs, LABELS),
                                          pd.read_parquet(tmp_path / f"{reviewer}.parquet")[LABELS].to_numpy())
        # everyone: texts with one reviewer take theirs; where two differ, their mean (no silent override):
        # (2, fear) ben 1.5, ana left 6.0 -> 3.75; (3, joy) ana 8.0, ben accept max(2.5, 3) = 3 -> 5.5
        expected = apply_decisions(energies, thresholds, decisions[decisions["row_idx"] <= 1], LABELS)
        expected[2], expected[3] = np.where(reaches(energies[2:], thresholds), energies[2:], 0.0)
        expected[2, 1], expected[2, 2], expected[3, 0] = 0.0, 3.75, 5.5
        np.testing.assert_array_equal(exported, expected)


# ------------------------------------------------------------------------ browsing
def test_filter_texts_by_label_membership_energy_and_suggestion():
    def rows(**options):
        return np.flatnonzero(filter_texts(ENERGIES, HUMAN, THRESHOLDS, **options)).tolist()

    assert rows() == [0, 1, 2, 3]
    assert rows(label_id=0, membership="human") == [0, 1, 3]
    assert rows(label_id=0, membership="predicted") == [0]         # joy >= 3 only in text 0
    assert rows(label_id=1, membership="either") == [0, 1, 3]
    assert rows(label_id=1, membership="both") == [1]
    assert rows(label_id=2, membership="neither") == [0, 1, 3]
    assert rows(label_id=1, energy_range=(0.5, 4.0)) == [0, 3]
    assert rows(suggestion=SUGGESTED) == [0, 2]
    assert rows(suggestion=LOW_ENERGY_HUMAN) == [1, 3]
    assert rows(suggestion="any") == [0, 1, 2, 3]
    assert rows(label_id=2, suggestion=SUGGESTED) == [2]
    with pytest.raises(ValueError, match="needs a label_id"):
        rows(membership="human")


def test_top_energies_and_label_lists():
    assert top_energies(ENERGIES, LABELS, k=2) == ["joy 9.0 · anger 4.0", "anger 7.5 · fear 3.0",
                                                   "fear 6.0 · joy 0.2", "joy 2.5 · anger 0.7"]
    assert label_lists(HUMAN, LABELS) == ["joy", "joy, anger", "", "joy, anger"]


def test_queue_with_no_suggestion_left_is_empty_not_a_crash(tmp_path):
    """h = 10 leaves no suggestion: the empty suggestions and the workspace's empty reviews still merge."""
    import numpy as np

    from conftest import make_dataset
    from eqn_core.review.decisions import review_queue
    from eqn_core.review.suggestions import suggest_micro_emotions
    from eqn_core.store.workspace import Workspace

    dataset = make_dataset()
    with Workspace(tmp_path / "ws") as workspace:
        workspace.add_dataset(dataset)
        workspace.create_run("r1", dataset="tiny", mode="eqn", encoder="m", config={}, run_dir="runs/r1")
        reviews = workspace.reviews(run_id="r1", split="train")
    labels = dataset.splits["train"].human_labels
    suggestions = suggest_micro_emotions(np.where(labels, 10.0, 5.0).astype(np.float32), labels, 10.0,
                                         label_names=dataset.label_names)
    assert suggestions.empty
    queue = review_queue(suggestions, reviews, reviewer="ana")
    assert queue.empty and "decision" in queue.columns


# ------------------------------------------------------------------------ one text at a time
from eqn_core.review.decisions import record_decisions
from eqn_core.review.suggestions import QUEUE_ORDERS, label_mask, queue_order, record_suggestions

QUEUE_LABELS = ["joy", "anger", "neutral"]
QUEUE_ENERGIES = np.array([[9.0, 0.0, 10.0],   # human: neutral -> missed joy 9
                           [2.0, 6.0, 1.0],    # human: anger -> nothing missed (joy 2)
                           [1.0, 4.0, 9.9],    # human: joy -> missed anger 4, neutral left out
                           [0.0, 0.0, 9.5]], dtype=np.float32)
QUEUE_HUMAN = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)


def test_non_emotion_labels_are_never_suggested_and_queue_orders():
    neutral = label_mask(QUEUE_LABELS, ["neutral"])
    suggested = record_suggestions(QUEUE_ENERGIES, QUEUE_HUMAN, 3.0, exclude_mask=neutral)
    assert suggested.tolist() == [[True, False, False], [False, False, False], [False, True, False],
                                  [False, False, False]]
    assert queue_order(QUEUE_ENERGIES, QUEUE_HUMAN, 3.0, order="missed", exclude_mask=neutral).tolist() == [0, 2, 1, 3]
    assert queue_order(QUEUE_ENERGIES, QUEUE_HUMAN, 3.0, order="missed").tolist() == [2, 3, 0, 1]  # neutral counts
    # disagreement (emotions only): row 0 joy 9 vs no label; row 2 joy 1 vs label, anger 4 vs none -> 2
    assert queue_order(QUEUE_ENERGIES, QUEUE_HUMAN, 3.0, order="disagreement",
                       exclude_mask=neutral).tolist() == [2, 0, 1, 3]
    shuffled = queue_order(QUEUE_ENERGIES, QUEUE_HUMAN, 3.0, order="random", seed=1)
    assert sorted(shuffled.tolist()) == [0, 1, 2, 3]
    assert set(QUEUE_ORDERS) == {"missed", "disagreement", "uncertain", "strongest", "random", "row"}


def test_queue_orders_without_human_labels():
    neutral = label_mask(QUEUE_LABELS, ["neutral"])
    # nearest h = 3 over joy and anger: row 2 (anger 4: gap 1), row 1 (joy 2: gap 1), row 0 (anger 0: 3), row 3 (3)
    assert queue_order(QUEUE_ENERGIES, None, 3.0, order="uncertain", exclude_mask=neutral).tolist() == [1, 2, 0, 3]
    assert queue_order(QUEUE_ENERGIES, None, [8.5, 3.0, 3.0], order="uncertain",
                       exclude_mask=neutral).tolist() == [0, 2, 1, 3]  # per-label h: joy 9 is 0.5 from 8.5
    assert queue_order(QUEUE_ENERGIES, None, 3.0, order="strongest", exclude_mask=neutral).tolist() == [0, 1, 2, 3]
    assert queue_order(QUEUE_ENERGIES, None, 3.0, order="strongest").tolist() == [0, 2, 3, 1]  # neutral counts
    assert sorted(queue_order(QUEUE_ENERGIES, None, 3.0, order="random").tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="needs human labels"):
        queue_order(QUEUE_ENERGIES, None, 3.0, order="missed")


def test_record_decisions_accept_reject_add_and_revise():
    model = np.array([9.0, 0.4, 10.0])
    shown = np.round(model, 1)
    suggested = np.array([True, False, False])
    # accepted as suggested: one "accept" for the suggestion, nothing for the rest
    assert record_decisions(model, 3.0, suggested, shown, shown, suggested, QUEUE_LABELS) == [
        {"label": "joy", "decision": "accept", "energy": 9.0}]
    # the suggestion rejected, anger added at 6
    final = np.array([9.0, 6.0, 10.0])
    decided = record_decisions(model, 3.0, suggested, shown, final, np.zeros(3, bool), QUEUE_LABELS)
    assert decided == [{"label": "joy", "decision": "reject", "energy": 9.0},
                       {"label": "anger", "decision": "set", "energy": 6.0}]
    # reopened: the form starts from the earlier decisions; unchanged -> nothing new; joy ticked again -> accept
    previous = {"joy": ("reject", 9.0), "anger": ("set", 6.0)}
    shown_again = np.array([9.0, 6.0, 10.0])
    assert record_decisions(model, 3.0, suggested, shown_again, shown_again, np.zeros(3, bool), QUEUE_LABELS,
                            previous=previous) == []
    assert record_decisions(model, 3.0, suggested, shown_again, np.array([9.0, 5.0, 10.0]), suggested, QUEUE_LABELS,
                            previous=previous) == [{"label": "joy", "decision": "accept", "energy": 9.0},
                                                   {"label": "anger", "decision": "set", "energy": 5.0}]


# ------------------------------------------------------------------------ the review screen's rules
from eqn_core.review.decisions import decisions_by_label, describe_decision, form_values, others_visible, reviewed_texts
from eqn_core.review.suggestions import filter_queue, next_in_queue


def test_filter_queue_keeps_queue_order_and_combines_filters():
    energies = np.array([[1.0, 0.0], [5.0, 0.0], [7.0, 0.0], [3.0, 0.0], [9.0, 0.0]], dtype=np.float32)  # (5, 2)
    queue = np.array([4, 2, 1, 3, 0])  # queue order, not row order
    assert filter_queue(queue, energies).tolist() == [4, 2, 1, 3, 0]
    assert filter_queue(queue, energies, reviewed=[2, 3], status="unreviewed").tolist() == [4, 1, 0]
    assert filter_queue(queue, energies, reviewed=[2, 3], status="reviewed").tolist() == [2, 3]
    assert filter_queue(queue, energies, label_id=0, energy_range=(3.0, 7.0)).tolist() == [2, 1, 3]  # inclusive
    assert filter_queue(queue, energies, label_id=0, energy_range=(3.0, 7.0), within=[[1, 2, 4], [1, 3]]
                        ).tolist() == [1]
    with pytest.raises(ValueError, match="queue status"):
        filter_queue(queue, energies, status="done")


def test_next_in_queue_moves_on_and_wraps_round():
    assert next_in_queue([4, 2, 1], 4) == 2
    assert next_in_queue([4, 2, 1], 1) == 4  # the last text: back to the first other one
    assert next_in_queue([4, 2, 1], 7) == 4  # a reopened text outside the queue: the queue's first
    assert next_in_queue([4], 4) is None and next_in_queue([], 3) is None


def test_form_starts_from_the_reviewers_latest_decisions():
    latest = decisions((0, "joy", "reject", 9.0, "ana"), (0, "fear", "set", 6.0, "ana"),
                       (0, "anger", "set", 2.0, "ben"), (1, "joy", "set", 1.0, "ana"))
    previous = decisions_by_label(latest, reviewer="ana", row=0)
    assert previous == {"joy": ("reject", 9.0), "fear": ("set", 6.0)}
    shown, accepted = form_values([9.04, 4.0, 0.55], LABELS, previous)
    assert shown.tolist() == [9.0, 4.0, 6.0] and accepted.tolist() == [False, True, True]  # ben's 2.0 is not hers
    assert decisions_by_label(latest.iloc[0:0], reviewer="ana", row=0) == {}
    assert describe_decision({"label": "fear", "decision": "set", "energy": 6.0}) == "fear set to 6"
    assert describe_decision({"label": "joy", "decision": "reject", "energy": 9.0}) == "joy rejected"


def test_reviewed_texts_lists_one_reviewers_texts_newest_first():
    latest = decisions((0, "joy", "reject", 9.0, "ana"), (0, "fear", "set", 6.0, "ana"), (2, "joy", "accept", 9.0, "ben"))
    latest["decided_at"] = pd.Timestamp("2026-01-01")
    subs = pd.DataFrame({"id": [1, 2, 3], "row_idx": [0, 3, 2], "reviewer": ["ana", "ana", "ben"],
                         "note": ["fear, not joy", "", ""],
                         "submitted_at": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-01"])})
    table = reviewed_texts(latest, subs, ["t0", "t1", "t2", "t3"], HUMAN, LABELS, reviewer="ana")
    assert table["row"].tolist() == [3, 0] and table["text"].tolist() == ["t3", "t0"]
    assert table["your decisions"].tolist() == ["kept the model's energies", "joy ✗, fear → 6"]
    assert table["human labels"].tolist() == ["joy, anger", "joy"] and table["note"].tolist() == ["", "fear, not joy"]
    assert reviewed_texts(latest.iloc[0:0], subs.iloc[0:0], ["t0"], HUMAN[:1], LABELS, reviewer="ana").empty


def test_blind_review_hides_others_until_reviewed_and_open_review_shows_them():
    assert not others_visible(blind=True, reviewed_by_me=False, is_admin=False)
    assert others_visible(blind=True, reviewed_by_me=True, is_admin=False)
    assert others_visible(blind=True, reviewed_by_me=False, is_admin=True)
    assert others_visible(blind=False, reviewed_by_me=False, is_admin=False)


def test_review_mode_is_blind_by_default_stored_per_run_and_split_and_attributed(workspace_with_tiny):
    with Workspace(workspace_with_tiny) as workspace:
        workspace.create_run("r", dataset="tiny", mode="eqn", encoder="x", config={}, run_dir="runs/r")
        for split in ("dev", "test"):
            workspace.store_energies("r", split, np.full((16, 4), 1.0, dtype=np.float32))
        assert workspace.blind_review(run_id="r", split="test") is True
        workspace.set_blind_review(run_id="r", split="test", blind=False, changed_by="boss")
        assert workspace.blind_review(run_id="r", split="test") is False
        assert workspace.blind_review(run_id="r", split="dev") is True  # per split
        workspace.set_blind_review(run_id="r", split="test", blind=True, changed_by="cy")
        assert workspace.blind_review(run_id="r", split="test") is True  # the latest counts
        with workspace.connection() as con:  # appended, with who changed it
            assert con.execute("SELECT blind, changed_by FROM review_settings ORDER BY id").fetchall() == [
                (False, "boss"), (True, "cy")]
        with pytest.raises(ValueError, match="no energies of split 'train'"):
            workspace.set_blind_review(run_id="r", split="train", blind=False, changed_by="boss")
        with pytest.raises(ValueError, match="admin's name"):
            workspace.set_blind_review(run_id="r", split="test", blind=False, changed_by=" ")
        workspace.delete_run("r")  # the setting goes with its run
        with workspace.connection() as con:
            assert con.execute("SELECT count(*) FROM review_settings").fetchone()[0] == 0


def test_a_version_4_workspace_gains_the_review_mode_blind(tmp_path):
    import duckdb

    from eqn_core.store.schema import CORPORA_TABLE, REVIEW_TABLES, SCHEMA_V1, SCHEMA_VERSION

    root = tmp_path / "ws"
    root.mkdir()
    con = duckdb.connect(str(root / "eqn.duckdb"))  # as version 4 left it
    for statement in SCHEMA_V1 + REVIEW_TABLES + (CORPORA_TABLE,):
        con.execute(statement)
    con.execute("INSERT INTO schema_version VALUES (4, now()::TIMESTAMP)")
    con.close()
    with Workspace(root) as workspace:
        assert workspace.schema_version() == SCHEMA_VERSION
        assert workspace.blind_review(run_id="any", split="test") is True
