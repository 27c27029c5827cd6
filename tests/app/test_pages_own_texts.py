"""The Data page's own texts: a file without labels becomes a text set (bad files say where and store nothing), and a
finished run annotates it in a background process that the page follows to the end."""
from __future__ import annotations

import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP, shown
from eqn_core.store.text_sets import list_annotations, list_text_sets
from eqn_core.store.workspace import Workspace
from text_set_support import make_tiny_run

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")


def app_workspace() -> Workspace:
    """The workspace the app has open (DuckDB allows one configuration of a file per process)."""
    from ui.session import get_workspace

    return get_workspace()


def own_texts_section() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("app_pages/1_Data.py").run()
    at.segmented_control(key="data_section").set_value("Your texts (no labels)").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def upload(at: AppTest, name: str, content: bytes) -> None:
    key = f"texts_upload_{at.session_state['texts_added'] if 'texts_added' in at.session_state else 0}"
    at.file_uploader(key=key).set_value((name, content, "text/csv")).run()


def test_a_file_without_labels_is_added_and_annotated_in_the_background(workspace_root, tiny_encoder_dir):
    with Workspace(workspace_root) as workspace:
        run_id = make_tiny_run(workspace, tiny_encoder_dir)
    rows = pd.DataFrame({"text": [f"entry {i}: {'a happy day' if i % 2 else 'so angry'}" for i in range(40)],
                         "speaker": ["A", "B"] * 20})
    at = own_texts_section()
    upload(at, "diary_2024.csv", rows.to_csv(index=False).encode())
    assert at.text_input(key="texts_name").value == "diary_2024"
    at.button(key="texts_add").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("40 texts (metadata columns: speaker)" in s.value for s in at.success)
    assert list_text_sets(app_workspace())[["name", "rows"]].values.tolist() == [["diary_2024", 40]]

    at.selectbox(key="texts_run").set_value(run_id).run()
    at.button(key="texts_start").click().run()  # starts `python -m eqn_core.runs.text_annotation` on its own
    assert not at.exception and not at.error, [e.value for e in at.error]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = list_annotations(app_workspace(), "diary_2024")["status"].tolist()
        if status == ["finished"]:
            break
        time.sleep(1)
        at.run()  # what a reload does: the page ingests the job's folder
    assert status == ["finished"]
    at.run()
    assert any("finished · 40 of 40 texts" in m.value for m in at.markdown)


def test_a_bad_file_says_where_and_stores_nothing(workspace_root):
    at = own_texts_section()
    upload(at, "notes.csv", b"text,speaker\nfine,A\n,B\n")
    at.button(key="texts_add").click().run()
    assert any("notes.csv, row 2 (line 3), column 'text': empty text" in shown(e.value) for e in at.error)
    assert list_text_sets(app_workspace()).empty
