"""Tests of eqn_core.review.agreement: Krippendorff's alpha, assignments, pair agreement, disagreements, the combined
reviewed energies with their rules, and the review log."""
import numpy as np
import pandas as pd
import pytest

from eqn_core.review.agreement import (
    ADJUDICATED,
    REVIEWERS_AGREE,
    REVIEWERS_MEAN,
    combine_reviews,
    disagreement_keys,
    disagreements,
    krippendorff_alpha_interval,
    pair_agreement,
    parse_disagreement_key,
    plan_assignments,
    plan_from_queue,
    review_log,
    reviewer_progress,
)

LABELS = ["joy", "anger", "neutral"]
NAN = np.nan


def test_alpha_interval_matches_krippendorffs_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 coders, 12 units, missing values;
    # interval alpha = 0.849 (nominal 0.743).
    data = np.array([
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]])
    assert krippendorff_alpha_interval(data) == pytest.approx(0.849, abs=5e-4)
    assert krippendorff_alpha_interval(np.array([[1.0, 2.0], [1.0, 2.0]])) == pytest.approx(1.0)
    assert np.isnan(krippendorff_alpha_interval(np.array([[3.0, 3.0], [3.0, 3.0]])))  # no variation: undefined
    assert np.isnan(krippendorff_alpha_interval(np.array([[1.0, NAN], [NAN, 2.0]])))  # no unit with two values


def test_plan_assignments_gives_each_text_to_two_reviewers_balanced():
    plan = plan_assignments(range(6), ["ana", "ben", "cy"], per_text=2)
    assert plan == {"ana": [0, 1, 3, 4], "ben": [0, 2, 3, 5], "cy": [1, 2, 4, 5]}
    counts = pd.Series([row for rows in plan.values() for row in rows]).value_counts()
    assert (counts == 2).all()
    with pytest.raises(ValueError, match="1..2"):
        plan_assignments([1], ["ana", "ben"], per_text=3)


def test_plan_from_queue_assigns_the_first_texts_of_the_chosen_order():
    energies = np.array([[1.0, 0.0], [9.0, 0.0], [5.0, 0.0], [0.0, 0.0]], dtype=np.float32)  # (4, 2)
    human = np.zeros((4, 2), dtype=bool)
    plan = plan_from_queue(energies, human, 3.0, ["ana", "ben"], count=2, per_text=2, order="missed")
    assert plan == {"ana": [1, 2], "ben": [1, 2]}  # the two strongest missed emotions, each to both
    with pytest.raises(ValueError, match="at least one text"):
        plan_from_queue(energies, human, 3.0, ["ana"], count=0)


def test_disagreement_keys_round_trip_labels_with_a_bar():
    found = pd.DataFrame({"row_idx": [9, 2], "label": ["joy", "a|b"]})
    keys = disagreement_keys(found)
    assert keys == ["9|joy", "2|a|b"] and [parse_disagreement_key(key) for key in keys] == [(9, "joy"), (2, "a|b")]


def frames(rows: list[tuple]) -> pd.DataFrame:
    """decisions as workspace.reviews() gives them: (row_idx, label, decision, energy, reviewer)."""
    frame = pd.DataFrame(rows, columns=["row_idx", "label", "decision", "energy", "reviewer"])
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["text_id"] = [f"t{row}" for row in frame["row_idx"]]
    frame["note"] = ""
    frame["decided_at"] = pd.Timestamp("2026-11-23")
    return frame


def submitted(pairs: list[tuple[int, str]]) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(1, len(pairs) + 1), "row_idx": [p[0] for p in pairs],
                         "reviewer": [p[1] for p in pairs], "note": "", "text_id": [f"t{p[0]}" for p in pairs]})


ENERGIES = np.array([[8.0, 1.0, 9.0], [0.5, 5.0, 9.0], [2.0, 2.0, 9.0]], dtype=np.float32)  # (3, C), h = 3


def test_pair_agreement_uses_each_reviewers_whole_text_and_leaves_out_neutral():
    # Both reviewed texts 0 and 1. ana rejects joy on 0 and sets anger on 1 to 6; ben leaves text 0 and sets anger
    # on 1 to 5: labels differ on (0, joy); energies 6 vs 5 on (1, anger).
    decisions = frames([(0, "joy", "reject", 8.0, "ana"), (1, "anger", "set", 6.0, "ana"),
                        (1, "anger", "set", 5.0, "ben"), (0, "neutral", "reject", 9.0, "ben")])
    subs = submitted([(0, "ana"), (1, "ana"), (0, "ben"), (1, "ben")])
    table = pair_agreement(ENERGIES, 3.0, decisions, subs, "ana", "ben", label_names=LABELS, exclude=["neutral"])
    assert table["label"].tolist() == ["joy", "anger", "all emotions"]
    joy, anger, overall = (table.iloc[i] for i in range(3))
    assert joy["texts"] == 2 and joy["b_only"] == 1 and joy["a_only"] == 0
    assert anger["both_yes"] == 1 and anger["mean_abs_diff"] == pytest.approx(0.5)
    # all emotions: items (0,joy) 0/8, (0,anger) 0/0, (1,joy) 0/0, (1,anger) 6/5
    assert overall["kappa"] == pytest.approx(0.5)
    expected = krippendorff_alpha_interval(np.array([[0.0, 0.0, 0.0, 6.0], [8.0, 0.0, 0.0, 5.0]]))
    assert overall["alpha"] == pytest.approx(expected)


def test_combined_reviewed_values_say_which_rule_gave_them_and_adjudication_wins():
    decisions = frames([(0, "joy", "reject", 8.0, "ana"), (1, "anger", "set", 6.0, "ana"),
                        (1, "anger", "set", 6.0, "ben"), (2, "joy", "set", 7.0, "ana")])
    subs = submitted([(0, "ana"), (1, "ana"), (0, "ben"), (1, "ben"), (2, "ana")])
    adjudications = pd.DataFrame({"id": [1], "row_idx": [0], "label": ["joy"], "energy": [4.0],
                                  "text_id": ["t0"], "note": [""], "adjudicator": ["admin"],
                                  "decided_at": [pd.Timestamp("2026-11-23")]})
    reviewed, sources, counts, who = combine_reviews(ENERGIES, 3.0, decisions, subs, adjudications.iloc[0:0],
                                                     label_names=LABELS)
    assert reviewed[0, 0] == pytest.approx(4.0) and sources[0] == {"joy": REVIEWERS_MEAN}  # ana 0, ben 8
    assert reviewed[1, 1] == 6.0 and sources[1] == {"anger": REVIEWERS_AGREE}
    assert reviewed[2, 0] == 7.0 and sources[2] == {"joy": "reviewer"}
    assert reviewed[2, 1] == 0.0  # untouched and below h: the thresholded model value
    assert counts.tolist() == [2, 2, 1] and who == ["ana,ben", "ana,ben", "ana"]
    reviewed, sources, _, _ = combine_reviews(ENERGIES, 3.0, decisions, subs, adjudications, label_names=LABELS)
    assert reviewed[0, 0] == 4.0 and sources[0] == {"joy": ADJUDICATED}

    found = disagreements(ENERGIES, 3.0, decisions, subs, adjudications, label_names=LABELS, exclude=["neutral"])
    assert found[["row_idx", "label", "values"]].values.tolist() == [[0, "joy", "ana 0.0 · ben 8.0"]]
    assert found["adjudicated"].tolist() == [4.0]


def test_review_log_keeps_every_decision_with_model_and_reviewer_energy():
    decisions = frames([(0, "joy", "accept", 8.0, "ana"), (0, "joy", "reject", 8.0, "ana"),
                        (2, "anger", "set", 5.5, "ben")])
    log = review_log(decisions, ENERGIES, label_names=LABELS)
    assert log[["row_idx", "label", "model_energy", "reviewer_energy", "decision", "reviewer"]].values.tolist() == [
        [0, "joy", 8.0, 8.0, "accept", "ana"], [0, "joy", 8.0, 0.0, "reject", "ana"],
        [2, "anger", 2.0, 5.5, "set", "ben"]]
    progress = reviewer_progress(decisions, submitted([(1, "ana")]),
                                 pd.DataFrame({"row_idx": [0, 1, 2], "reviewer": ["ana", "ana", "ben"]}))
    assert progress.values.tolist()[0][:4] == ["ana", 2, 2, 2]
