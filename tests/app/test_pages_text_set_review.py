"""The Review page on own texts (a text set's finished annotation, no human labels): one text at a time with its
metadata, suggestions to confirm or reject, missed emotions added, queue orders that need no labels, a metadata
filter, "My reviewed texts", and the admins' Team section (assignments, agreement, adjudication)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP, shown, table_with
from eqn_core.store.text_sets import add_text_set, review_split
from eqn_core.store.workspace import Workspace
from text_set_support import LABELS, make_tiny_run, write_annotation

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")

KEY = review_split("diary")
SPEAKERS = ["ann", "bob", "cy"]
# (12, 4) joy, anger, fear, neutral: row k's strongest emotion is 9.9 - 0.5 k (rows 0..11 in "strongest" order),
# on joy for even rows and anger for odd ones; fear 0.5; neutral 9.95 on row 11 (not an emotion: never first)
ENERGIES = np.full((12, 4), 0.5, dtype=np.float32)
for k in range(12):
    ENERGIES[k, k % 2] = 9.9 - 0.5 * k
ENERGIES[11, 3] = 9.95


@pytest.fixture
def diary(tmp_path, workspace_root, tiny_encoder_dir):
    pd.DataFrame({"id": [f"d{i}" for i in range(12)], "text": [f"diary entry {i}" for i in range(12)],
                  "speaker": [SPEAKERS[i % 3] for i in range(12)]}).to_csv(tmp_path / "diary.csv", index=False)
    with Workspace(workspace_root) as workspace:
        make_tiny_run(workspace, tiny_encoder_dir)
        add_text_set(workspace, "diary", [tmp_path / "diary.csv"])
        write_annotation(workspace, "diary", "tiny-run", ENERGIES, shard_rows=5)
    return workspace_root


def review_page(user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if user:
        at.session_state["_user"] = user
    at.run()
    at.switch_page("app_pages/6_Review.py").run()
    assert_ok(at)
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def shown_row(at: AppTest) -> int:
    return int(re.search(r"\*\*Row (\d+)\*\*", next(m.value for m in at.markdown if "**Row " in m.value)).group(1))


def reviews(root) -> pd.DataFrame:
    with Workspace(root) as workspace:
        return workspace.reviews(run_id="tiny-run", split=KEY)


def test_an_unlabelled_text_is_reviewed_with_its_metadata_and_the_next_one_follows(diary):
    at = review_page()
    assert at.selectbox(key="review_textset").value == "diary · tiny-run"  # no labelled energies: own texts at once
    at.selectbox(key="review_order").set_value("strongest").run()
    assert shown_row(at) == 0
    assert any(shown(m.value) == "**speaker**: ann · from diary.csv, row 1" for m in at.markdown)
    assert not any("Human labels" in m.value for m in at.markdown)
    assert [box.key for box in at.checkbox] == ["review_accept_0_0_0"]  # joy 9.9 suggested
    at.checkbox("review_accept_0_0_0").uncheck()  # reject joy
    at.number_input("review_energy_0_0_2").set_value(6.0)  # add fear, missed
    at.text_area("review_note_0_0").input("afraid, not glad")
    at.button("review_submit_0_0").click().run()
    assert_ok(at)
    stored = reviews(diary)
    assert stored[["row_idx", "text_id", "label", "decision", "note"]].values.tolist() == [
        [0, "d0", "joy", "reject", "afraid, not glad"], [0, "d0", "fear", "set", "afraid, not glad"]]
    assert stored["energy"].tolist() == pytest.approx([9.9, 6.0], abs=1e-5)
    assert shown_row(at) == 1
    at.button("review_accept_all_1_1").click().run()  # accept anger as suggested
    assert reviews(diary).iloc[-1][["row_idx", "text_id", "label", "decision"]].tolist() == [1, "d1", "anger",
                                                                                              "accept"]
    at.segmented_control("review_section").set_value("My reviewed texts").run()
    assert_ok(at)
    mine = table_with(at, "your decisions").set_index("row")
    assert sorted(mine.index) == [0, 1] and mine.loc[0, "text"] == "diary entry 0"
    assert mine.loc[0, "your decisions"] == "joy ✗, fear → 6"


def test_queue_orders_without_labels_and_a_metadata_filter(diary):
    at = review_page()
    assert at.selectbox(key="review_order").options == [
        "most uncertain first (an emotion's energy nearest its threshold h)",
        "strongest emotion first (highest energy of any emotion)", "random sample (an unbiased audit)",
        "data set order"]
    at.selectbox(key="review_order").set_value("strongest").run()
    at.selectbox(key="review_meta_column").set_value("speaker").run()
    at.selectbox(key="review_meta_value").set_value("bob").run()
    assert_ok(at)
    assert shown_row(at) == 1 and "text 1 of 4 in this queue" in next(m.value for m in at.markdown if "**Row " in
                                                                      m.value)
    at.selectbox(key="review_order").set_value("metadata").run()  # by speaker: ann's rows, then bob's, then cy's
    at.selectbox(key="review_meta_value").set_value("(any value)").run()
    assert shown_row(at) == 0
    at.button("review_next").click().run()
    assert shown_row(at) == 3


def test_team_assigns_own_texts_and_adjudicates_a_disagreement(diary):
    from eqn_core.review.accounts import add_user

    for name, role in (("ana", "reviewer"), ("ben", "reviewer"), ("boss", "admin")):
        add_user(diary / "users.json", name, f"{name} harbor violet 58 quartz", role=role)
    with Workspace(diary) as workspace:  # ana and ben disagree on row 2's joy
        for reviewer, energy in (("ana", 9.0), ("ben", 1.0)):
            workspace.submit_text_review(run_id="tiny-run", split=KEY, row_idx=2, reviewer=reviewer,
                                         decisions=[{"label": "joy", "decision": "set", "energy": energy}])
    at = review_page({"name": "boss", "role": "admin"})
    at.segmented_control("review_section").set_value("Team: assign, agree, adjudicate").run()
    assert_ok(at)
    agreement = table_with(at, "Cohen's kappa")
    assert agreement is not None and agreement["texts both reviewed"].iloc[0] == 1
    found = table_with(at, "adjudicated")
    assert found[["row_idx", "label", "text"]].values.tolist() == [[2, "joy", "diary entry 2"]]
    at.button(key="review_adjudicate_go").click().run()
    assert_ok(at)
    with Workspace(diary) as workspace:
        assert workspace.adjudications(run_id="tiny-run", split=KEY)[["row_idx", "text_id", "label"]].values.tolist() \
            == [[2, "d2", "joy"]]
    at.multiselect(key="review_assign_people").set_value(["ana", "ben"])
    at.number_input(key="review_assign_count").set_value(4)
    at.button(key="review_assign_go").click().run()
    assert_ok(at)
    with Workspace(diary) as workspace:
        assigned = workspace.assignments(run_id="tiny-run", split=KEY)
    assert len(assigned) == 8 and sorted(set(assigned["reviewer"])) == ["ana", "ben"]


def test_export_page_writes_the_reviewed_texts_and_the_review_log(diary):
    with Workspace(diary) as workspace:
        workspace.submit_text_review(run_id="tiny-run", split=KEY, row_idx=3, reviewer="local",
                                     decisions=[{"label": "anger", "decision": "reject"},
                                                {"label": "fear", "decision": "set", "energy": 7.0}])
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("app_pages/7_Export.py").run()
    at.radio(key="export_source").set_value("Your texts (no labels)").run()
    at.radio(key="ts_export_content").set_value("reviewed").run()
    at.button(key="ts_export_go").click().run()
    assert_ok(at)
    written = pd.read_csv(diary / "exports" / "diary_tiny-run_reviewed.csv")
    assert written["review_count"].tolist() == [0, 0, 0, 1] + [0] * 8
    assert written.loc[3, LABELS].tolist() == [0.0, 0.0, 7.0, 0.0]  # anger rejected, fear added
    assert written.loc[0, "joy"] == pytest.approx(9.9) and written["speaker"].tolist()[:3] == SPEAKERS
    at.radio(key="ts_export_content").set_value("review-log").run()
    at.button(key="ts_export_go").click().run()
    assert_ok(at)
    log = pd.read_csv(diary / "exports" / "diary_tiny-run_review-log.csv")
    assert log[["text_id", "label", "decision", "reviewer_energy"]].values.tolist() == [
        ["d3", "anger", "reject", 0.0], ["d3", "fear", "set", 7.0]]
