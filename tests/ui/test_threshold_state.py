"""ui.threshold_state: the session's one threshold setting per run, kept in the URL, changed on the Thresholds page and
used by Samples, Review and Export (AppTest runs of the real pages on a small workspace)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP, REPO, make_dataset
from eqn_core.method.thresholds import ThresholdSetting
from eqn_core.store.workspace import Workspace
from ui.threshold_state import THRESHOLD_STATE

LABELS = ["joy", "anger", "fear", "neutral"]
PROFILE = [3.0, 7.0, 5.0, 3.0]  # (C,) the saved profile "strict" (no global h recorded)
TIMEOUT = 60


@pytest.fixture
def root(workspace_root) -> Path:
    """Data set "tiny" and the finished run "r1" (global h 3 recorded): human labels 8.0, other energies 0.5, and
    on the test split the suggestions (9, joy) 9.5, (2, anger) 6.0, (5, fear) 4.0 at h = 3."""
    dataset = make_dataset()
    with Workspace(workspace_root) as workspace:
        workspace.add_dataset(dataset)
        workspace.create_run("r1", dataset="tiny", mode="eqn", encoder="tiny-encoder", config={"mode": "eqn"},
                             run_dir=workspace.runs_dir / "r1")
        for split in ("dev", "test"):
            energies = np.where(dataset.splits[split].human_labels, 8.0, 0.5).astype(np.float32)  # (N, C)
            if split == "test":
                energies[9, 0], energies[2, 1], energies[5, 2] = 9.5, 6.0, 4.0
            workspace.store_energies("r1", split, energies)
        workspace.update_run("r1", status="finished", metrics={"global_threshold": 3.0})
        workspace.save_threshold_profile("strict", run_id="r1", thresholds=np.array(PROFILE))
    return workspace_root


def page(name: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app_pages" / name), default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def session_setting(at: AppTest) -> ThresholdSetting:
    return at.session_state[THRESHOLD_STATE]["r1"]


def caption_with(at: AppTest, text: str) -> str:
    found = [caption.value for caption in at.caption if text in caption.value]
    assert found, [caption.value for caption in at.caption]
    return found[0]


def test_a_reload_restores_the_setting_from_the_url_and_writes_it_back(root):
    at = page("4_Samples.py", {"run": "r1", "h": "2.5", "h_labels": "1:7"})
    assert session_setting(at) == ThresholdSetting(2.5, {"anger": 7.0})
    assert "**h = 2.5, 1 per-label override(s)**" in caption_with(at, "Thresholds:")
    assert (at.query_params["h"], at.query_params["h_labels"]) == ("2.5", "1:7")

    # the round trip: the Thresholds page changes the setting, its URL gives a new session the same setting
    moved = page("3_Thresholds.py", {"run": "r1"})
    moved.slider(key="th_global").set_value(4.0).run()
    moved.button(key="th_tune").click().run()  # every label gets its own threshold; the global h stays
    tuned = session_setting(moved)
    assert len(tuned.overrides) == len(LABELS) and tuned.global_threshold == pytest.approx(4.0)
    reload = page("4_Samples.py", dict(moved.query_params))
    assert np.array_equal(session_setting(reload).array(LABELS), tuned.array(LABELS))
    assert session_setting(reload).global_threshold == pytest.approx(4.0)


@pytest.mark.parametrize("query", [{"h": "abc"}, {"h": "12"}, {"h": "2", "h_labels": "9:3"},
                                   {"h_labels": "0:x"}, {"h_labels": "-1:3"}, {"h_labels": "0:11"}])
def test_a_hand_edited_url_is_ignored(root, query):
    at = page("4_Samples.py", {"run": "r1", **query})
    assert session_setting(at) == ThresholdSetting(3.0)  # the run's recorded global h, no overrides
    assert at.query_params["h"] == "3" and "h_labels" not in at.query_params  # the URL says the setting in use
    assert "**h = 3**" in caption_with(at, "Thresholds:")


def test_a_thresholds_move_shows_on_samples_review_and_export_through_the_one_setting(root):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["run"] = "r1"
    at.run()
    at.switch_page("app_pages/3_Thresholds.py").run()
    at.slider(key="th_global").set_value(7.0).run()
    assert not at.exception and at.query_params["h"] == "7"

    at.switch_page("app_pages/4_Samples.py").run()
    assert "**h = 7**" in caption_with(at, "Thresholds:")
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [shape["y0"] for shape in bars["layout"]["shapes"]] == [7.0]  # the threshold line of the shown text
    at.switch_page("app_pages/6_Review.py").run()
    assert not at.exception and "**h = 7**" in caption_with(at, "Thresholds:")
    at.switch_page("app_pages/7_Export.py").run()
    at.selectbox("export_rows").set_value("suggested").run()
    assert caption_with(at, "rows selected").startswith("1 rows selected (h = 7)")  # only joy 9.5 reaches 7

    # a profile loaded on the Thresholds page is the setting Export writes, with its name as the source
    at.switch_page("app_pages/3_Thresholds.py").run()
    at.selectbox(key="th_profile_pick").select("strict")
    at.button(key="th_profile_load").click().run()
    assert at.slider(key="th_global").value == pytest.approx(3.0)  # the profile records no global h: the default
    assert session_setting(at) == ThresholdSetting(3.0, {"anger": 7.0, "fear": 5.0}, source="strict")
    at.switch_page("app_pages/7_Export.py").run()
    at.radio("export_content").set_value("binary")
    at.selectbox("export_rows").set_value("suggested").run()
    assert caption_with(at, "rows selected").startswith("1 rows selected (h = 3, 2 per-label override(s))")
    at.button("export_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metadata = json.loads(Path(at.session_state["export_last"]["metadata"]).read_text())
    assert metadata["threshold_profile"] == "strict" and list(metadata["thresholds"].values()) == PROFILE
