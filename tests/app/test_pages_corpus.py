"""The Samples, Thresholds and Export pages on an external corpus (Parquet files behind a DuckDB view)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP, table_with
from eqn_core.scale.corpus import add_corpus, corpus_threshold_report
from eqn_core.store.workspace import Workspace

LABELS = ["joy", "anger", "fear"]

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")


@pytest.fixture
def corpus_workspace(tmp_path, workspace_root) -> Path:
    """A workspace without data sets or runs, with one registered corpus of 60 texts in two Parquet files."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"run_id": "r1", "text_id": [f"t{i}" for i in range(60)],
                          "text": [("so happy today " if i % 3 == 0 else "nothing much ") + str(i) for i in range(60)],
                          "human_labels": [["joy", "", "anger,fear"][i % 3] for i in range(60)]})
    for label in LABELS:
        frame[label] = rng.uniform(0, 10, 60).astype(np.float32)
    (tmp_path / "shards").mkdir()
    frame.iloc[:30].to_parquet(tmp_path / "shards" / "a.parquet", index=False)
    frame.iloc[30:].to_parquet(tmp_path / "shards" / "b.parquet", index=False)
    with Workspace(workspace_root) as workspace:
        add_corpus(workspace, "comments", str(tmp_path / "shards" / "*.parquet"))
    return workspace_root


def open_corpus_page(page: str, key: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    at.radio(key=f"{key}_source").set_value("External corpus").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_samples_searches_and_filters_the_corpus_without_loading_it(corpus_workspace):
    at = open_corpus_page("app_pages/4_Samples.py", "samples")
    assert any("**60** of 60 texts match" in m.value for m in at.markdown)
    at.text_input(key="corpus_search").set_value("HAPPY").run()
    assert any("**20** of 60 texts match" in m.value for m in at.markdown)
    at.selectbox(key="corpus_emotion").set_value("joy").run()
    at.selectbox(key="corpus_human").set_value("with").run()
    assert not at.exception
    table = table_with(at, "joy energy")
    assert len(table) == 20 and table["joy energy"].is_monotonic_decreasing  # every 'so happy' text has joy
    assert set(table["human labels"]) == {"joy"}


def test_thresholds_and_export_work_on_the_corpus(corpus_workspace):
    at = open_corpus_page("app_pages/3_Thresholds.py", "th")
    at.slider(key="corpus_th_global").set_value(5.0).run()
    shown = table_with(at, "f1")
    with Workspace(corpus_workspace) as workspace:
        expected = corpus_threshold_report(workspace, "comments", 5.0)
    assert shown["f1"].tolist() == pytest.approx([row["f1"] for row in expected["labels"]])

    at = open_corpus_page("app_pages/7_Export.py", "export")
    at.radio(key="corpus_export_content").set_value("binary").run()
    at.button(key="corpus_export_go").click().run()
    assert not at.exception, [e.message for e in at.exception]
    written = pd.read_parquet(corpus_workspace / "exports" / "comments_binary.parquet")
    assert len(written) == 60 and set(written["joy"]) <= {0, 1}
    assert any("Saved 60 rows (binary)" in s.value for s in at.success)
