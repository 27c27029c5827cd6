"""Train page: "Retrain with reviews" under a finished run whose training texts were reviewed."""
from __future__ import annotations

import time

import pytest

from conftest import APP, tiny_config
from eqn_core.runs.lifecycle import ingest_run, prepare_run
from eqn_core.runs.process import execute_run
from eqn_core.store.run_folders import RunFolder
from eqn_core.store.workspace import Workspace

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")


@pytest.fixture
def reviewed_workspace(workspace_root, tiny_dataset, tiny_encoder_dir):
    with Workspace(workspace_root) as workspace:
        workspace.add_dataset(tiny_dataset)
        folder = prepare_run(workspace, tiny_config(tiny_encoder_dir, epochs=1), run_id="base")
        assert execute_run(folder.path, cache_dir=workspace.cache_dir)["status"] == "finished"
        ingest_run(workspace, "base")
        workspace.record_reviews([{"run_id": "base", "split": "train", "row_idx": 0, "label": "fear",
                                   "decision": "reject", "reviewer": "ana", "energy": 4.0},
                                  {"run_id": "base", "split": "test", "row_idx": 0, "label": "joy",
                                   "decision": "reject", "reviewer": "ana", "energy": 4.0}])
    yield workspace_root
    for run_dir in (workspace_root / "runs").glob("*"):
        RunFolder(run_dir).request_stop()


def wait_for_run(root, run_id: str, seconds: float = 90) -> dict:
    """The run's record once its background process has ended (or the time is up)."""
    deadline = time.monotonic() + seconds
    with Workspace(root) as workspace:
        while workspace.get_run(run_id)["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(1.0)
            ingest_run(workspace, run_id)
        return workspace.get_run(run_id)


def test_retrain_with_reviews_starts_a_run_that_names_them(reviewed_workspace):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("app_pages/2_Train.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Retrain with reviews (1 decisions on 1 training texts)" in e.label for e in at.expander)
    at.button(key="train_retrain_reviews").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    new_id = at.selectbox(key="train_watch").value
    assert new_id != "base"
    run = wait_for_run(reviewed_workspace, new_id)
    assert run["status"] == "finished"
    assert run["config"]["extra"]["reviews"]["run_id"] == "base"
    assert run["config"]["extra"]["reviews"]["decisions"] == 1  # the test-split review stays out of training
    assert run["config"]["epochs"] == 1  # the reviewed run's settings
    at.run()
    assert any("Trained with reviews of run base (train split): 1 values on 1 texts by ana" in c.value
               for c in at.caption)


def test_retrain_with_reviewed_own_texts_only(workspace_root, tiny_dataset, tiny_encoder_dir, tmp_path):
    """A run with no reviewed training text but reviewed own texts: the page offers the text set and the new run
    trains on those texts too."""
    import numpy as np
    from streamlit.testing.v1 import AppTest

    from eqn_core.store.text_sets import add_text_set, review_split
    from text_set_support import write_annotation

    with Workspace(workspace_root) as workspace:
        workspace.add_dataset(tiny_dataset)
        folder = prepare_run(workspace, tiny_config(tiny_encoder_dir, epochs=1), run_id="base")
        assert execute_run(folder.path, cache_dir=workspace.cache_dir)["status"] == "finished"
        ingest_run(workspace, "base")
        (tmp_path / "notes.txt").write_text("a calm morning\na loud quarrel\n")
        add_text_set(workspace, "notes", [tmp_path / "notes.txt"])
        write_annotation(workspace, "notes", "base", np.array([[6, 1, 1, 1], [1, 6, 1, 1]], dtype=np.float32))
        workspace.submit_text_review(run_id="base", split=review_split("notes"), row_idx=1, reviewer="ana",
                                     decisions=[{"label": "anger", "decision": "set", "energy": 9.0}])
    try:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        at.switch_page("app_pages/2_Train.py").run()
        assert not at.exception, [e.message for e in at.exception]
        assert any("0 decisions on 0 training texts; 1 reviewed texts of your own" in e.label for e in at.expander)
        assert at.multiselect(key="train_retrain_sets").value == ["notes"]
        at.button(key="train_retrain_reviews").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        new_id = at.selectbox(key="train_watch").value
        run = wait_for_run(workspace_root, new_id)
        assert run["status"] == "finished", run["error"]
        own = run["config"]["extra"]["reviews"]["text_sets"]
        assert [(s["text_set"], s["texts"], s["values"]) for s in own] == [("notes", 1, 1)]
        at.run()
        assert any("Also 1 reviewed texts of text set **notes**" in c.value for c in at.caption)
    finally:
        for run_dir in (workspace_root / "runs").glob("*"):
            RunFolder(run_dir).request_stop()
