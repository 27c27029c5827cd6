"""Tests for eqn_core.store.review_store: decisions (supersede, refuse, all or none), submissions, assignments,
adjudications, non-emotion labels; confirmed decisions survive a crash."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import REPO, run_python
from eqn_core.store.workspace import Workspace


def test_reviews_record_supersede_and_latest_only(run_workspace):
    ws = run_workspace
    first = ws.record_review(run_id="r1", split="test", row_idx=1, label="fear", decision="accept", reviewer="ana",
                             energy=4.2)
    ws.record_review(run_id="r1", split="test", row_idx=1, label="fear", decision="reject", reviewer="ben")
    last = ws.record_review(run_id="r1", split="test", row_idx=1, label="fear", decision="set", reviewer="ana",
                            energy=6.0, note="clearly some fear")
    ws.record_review(run_id="r1", split="train", row_idx=0, label="joy", decision="accept", reviewer="ana")
    assert last > first

    latest = ws.reviews(run_id="r1", split="test")
    assert list(latest.columns) == ["id", "run_id", "dataset", "split", "row_idx", "text_id", "label", "decision",
                                    "energy", "note", "reviewer", "decided_at"]
    assert latest[["reviewer", "decision"]].values.tolist() == [["ben", "reject"], ["ana", "set"]]
    ana = latest[latest["reviewer"] == "ana"].iloc[0]
    assert (ana["id"], ana["energy"], ana["note"], ana["text_id"], ana["dataset"]) == (
        last, 6.0, "clearly some fear", "b", "tiny")
    history = ws.reviews(run_id="r1", split="test", reviewer="ana", latest_only=False)
    assert history["decision"].tolist() == ["accept", "set"]
    assert len(ws.reviews()) == 3 and len(ws.reviews(latest_only=False)) == 4
    assert ws.reviewers(run_id="r1") == ["ana", "ben"]


@pytest.mark.parametrize("change, message", [
    ({"decision": "maybe"}, "decision"),
    ({"decision": "set", "energy": None}, "needs the new energy"),
    ({"decision": "set", "energy": 10.5}, r"\[0, 10\]"),
    ({"label": "disgust"}, "Unknown label"),
    ({"row_idx": 4}, "outside split"),
    ({"reviewer": "  "}, "reviewer"),
])
def test_invalid_reviews_refused(run_workspace, change, message):
    review = {"run_id": "r1", "split": "test", "row_idx": 0, "label": "joy", "decision": "accept", "reviewer": "ana",
              **change}
    with pytest.raises(ValueError, match=message):
        run_workspace.record_review(**review)
    assert run_workspace.reviews(latest_only=False).empty


def test_record_reviews_stores_all_or_none(run_workspace):
    decisions = [{"run_id": "r1", "split": "test", "row_idx": row_idx, "label": "fear", "decision": "accept",
                  "reviewer": "ana", "energy": 5.0, "note": "bulk accept"} for row_idx in range(4)]
    with pytest.raises(ValueError, match="outside split"):
        run_workspace.record_reviews([*decisions, {**decisions[0], "row_idx": 9}])
    assert run_workspace.reviews(latest_only=False).empty
    ids = run_workspace.record_reviews(decisions)
    assert ids == sorted(ids) and len(set(ids)) == 4
    stored = run_workspace.reviews(run_id="r1")
    assert stored["text_id"].tolist() == ["a", "b", "c", "d"] and set(stored["note"]) == {"bulk accept"}
    assert stored["id"].tolist() == ids
    # within one batch, list order decides which decision is the latest
    run_workspace.record_reviews([{**decisions[0], "decision": "set", "energy": 2.0},
                                  {**decisions[0], "decision": "reject"}])
    assert run_workspace.reviews(run_id="r1")["decision"].tolist() == ["accept", "accept", "accept", "reject"]


def test_workspace_submissions_assignments_adjudications_and_settings(workspace_with_tiny):
    with Workspace(workspace_with_tiny) as workspace:
        workspace.create_run("r", dataset="tiny", mode="eqn", encoder="x", config={}, run_dir="runs/r")
        workspace.store_energies("r", "test", np.full((16, 4), 1.0, dtype=np.float32))
        assert workspace.non_emotion_labels("tiny") == ["neutral"]
        workspace.set_non_emotion_labels("tiny", [])
        assert workspace.non_emotion_labels("tiny") == []
        with pytest.raises(ValueError, match="not in data set"):
            workspace.set_non_emotion_labels("tiny", ["calm"])
        first = workspace.submit_text_review(run_id="r", split="test", row_idx=3, reviewer="ana", note="sarcasm?",
                                             decisions=[{"label": "joy", "decision": "set", "energy": 6.0}])
        workspace.submit_text_review(run_id="r", split="test", row_idx=3, reviewer="ana")
        subs = workspace.submissions(run_id="r", split="test")
        assert len(subs) == 1 and subs["id"].iloc[0] > first
        assert len(workspace.submissions(run_id="r", split="test", latest_only=False)) == 2
        decided = workspace.reviews(run_id="r", split="test")
        assert decided[["row_idx", "label", "decision", "energy", "note"]].values.tolist() == [
            [3, "joy", "set", 6.0, "sarcasm?"]]
        assert workspace.assign_texts(run_id="r", split="test", rows=[1, 2], reviewers=["ana", "ben"],
                                      assigned_by="boss") == 4
        assert workspace.assign_texts(run_id="r", split="test", rows=[2, 3], reviewers=["ana"], assigned_by="boss") == 1
        assert len(workspace.assignments(run_id="r", split="test", reviewer="ana")) == 3
        workspace.record_adjudication(run_id="r", split="test", row_idx=3, label="joy", energy=5.0, adjudicator="boss")
        workspace.record_adjudication(run_id="r", split="test", row_idx=3, label="joy", energy=4.0, adjudicator="boss")
        assert workspace.adjudications(run_id="r", split="test")["energy"].tolist() == [4.0]
        with pytest.raises(ValueError, match="review decisions"):
            workspace.delete_run("r")
        workspace.delete_run("r", delete_reviews=True)
        assert workspace.assignments(run_id="r", split="test").empty


# ------------------------------------------------------------------------ a crash loses nothing confirmed
def test_reviews_survive_close_and_a_crashed_process(run_workspace):
    root = run_workspace.root
    run_workspace.record_review(run_id="r1", split="test", row_idx=2, label="anger", decision="set", energy=3.0,
                                reviewer="ana")
    run_workspace.close()
    crashed = run_python("""
        import os, sys
        from eqn_core.store.workspace import Workspace
        ws = Workspace(sys.argv[1])
        ws.record_review(run_id="r1", split="test", row_idx=3, label="joy", decision="accept", reviewer="ben")
        os._exit(0)  # no close(), no cleanup: a crash right after the decision
    """, str(root))
    assert crashed.returncode == 0, crashed.stderr
    with Workspace(root) as reopened:
        reviews = reopened.reviews(run_id="r1")
        assert reviews[["reviewer", "row_idx", "label", "decision"]].values.tolist() == [
            ["ana", 2, "anger", "set"], ["ben", 3, "joy", "accept"]]


def test_killing_a_process_mid_review_loses_no_confirmed_decision(run_workspace):
    """A process that records decisions as the Review page does is killed (SIGKILL) while writing: every decision
    it confirmed (record_review returned) is in the workspace afterwards, and the workspace opens cleanly."""
    import signal
    import time

    run_workspace.store_energies("r1", "test", np.ones((4, 3), dtype=np.float32))
    code = textwrap.dedent("""
        import sys
        from eqn_core.store.workspace import Workspace
        ws = Workspace(sys.argv[1])
        for i in range(100000):
            review_id = ws.record_review(run_id="r1", split="test", row_idx=i % 4, label="joy", decision="accept",
                                         reviewer=f"r{i}")
            print(review_id, flush=True)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    writer = subprocess.Popen([sys.executable, "-c", code, str(run_workspace.root)], stdout=subprocess.PIPE,
                              text=True, env=env)
    confirmed = []
    deadline = time.monotonic() + 60
    while len(confirmed) < 30 and time.monotonic() < deadline:
        confirmed.append(int(writer.stdout.readline()))
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    stored = set(run_workspace.reviews(run_id="r1", latest_only=False)["id"])
    assert len(confirmed) == 30 and set(confirmed) <= stored
    run_workspace.record_review(run_id="r1", split="test", row_idx=0, label="joy", decision="reject", reviewer="z")
