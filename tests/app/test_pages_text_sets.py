"""Samples, Thresholds and Export on a text set's annotation (own texts, no labels), chosen under "Annotations from"."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP, table_with
from eqn_core.store.text_sets import add_text_set
from eqn_core.store.workspace import Workspace
from text_set_support import LABELS, make_tiny_run, write_annotation

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")

ROWS = 30
SPEAKERS = ["ann", "bob", "cy"]
TEXTS = "Your texts (no labels)"


@pytest.fixture
def text_workspace(tmp_path, workspace_root, tiny_encoder_dir) -> tuple[Path, np.ndarray]:
    """A workspace with a finished run and a text set of 30 texts (metadata: speaker) that the run annotated with
    chosen energies (30, 4)."""
    energies = np.round(np.random.default_rng(3).uniform(0, 10, (ROWS, len(LABELS))), 1).astype(np.float32)
    pd.DataFrame({"id": [f"n{i}" for i in range(ROWS)],
                  "text": [("a calm note " if i % 2 else "a loud note ") + str(i) for i in range(ROWS)],
                  "speaker": [SPEAKERS[i % 3] for i in range(ROWS)]}).to_csv(tmp_path / "notes.csv", index=False)
    with Workspace(workspace_root) as workspace:
        make_tiny_run(workspace, tiny_encoder_dir)
        add_text_set(workspace, "notes", [tmp_path / "notes.csv"])
        write_annotation(workspace, "notes", "tiny-run", energies, shard_rows=8)
    return workspace_root, energies


def open_text_set_page(page: str, key: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    at.radio(key=f"{key}_source").set_value(TEXTS).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key=f"{key}_textset").value == "notes · tiny-run"
    return at


def test_samples_filters_sorts_and_pages_the_annotation(text_workspace):
    _, energies = text_workspace
    at = open_text_set_page("app_pages/4_Samples.py", "samples")
    assert any(f"**{ROWS}** of {ROWS} annotated texts match" in m.value for m in at.markdown)
    assert table_with(at, "energies")["row"].tolist() == list(range(ROWS))
    assert len(at.get("plotly_chart")) == 1  # the first row's energy bars

    at.selectbox(key="ts_meta_column").set_value("speaker").run()
    at.selectbox(key="ts_meta_value_speaker").set_value(("bob", 10)).run()
    at.selectbox(key="ts_emotion").set_value("joy").run()
    at.slider(key="ts_energy_range").set_value((4.0, 10.0)).run()
    at.selectbox(key="ts_sort").set_value("anger").run()
    assert not at.exception, [e.message for e in at.exception]
    rows = np.arange(ROWS)
    chosen = rows[(rows % 3 == 1) & (energies[:, 0] >= np.float32(4.0))]
    expected = chosen[np.lexsort((chosen, -energies[chosen, 1]))].tolist()  # anger descending, ties by row
    table = table_with(at, "anger energy")
    assert table["row"].tolist() == expected and set(table["speaker"]) == {"bob"}
    assert any(f"**{len(expected)}** of {ROWS} annotated texts match" in m.value for m in at.markdown)

    at.checkbox(key="ts_descending_anger").uncheck().run()
    assert table_with(at, "anger energy")["row"].tolist() == chosen[np.lexsort((chosen, energies[chosen, 1]))].tolist()
    at.text_input(key="ts_search").set_value("LOUD").run()
    assert set(table_with(at, "anger energy")["row"]) == {int(r) for r in chosen if r % 2 == 0}


def test_thresholds_count_texts_per_emotion_live(text_workspace):
    _, energies = text_workspace
    at = open_text_set_page("app_pages/3_Thresholds.py", "th")
    h = at.slider(key="th_global").value

    def shown_counts() -> dict:
        table = table_with(at, "share")
        return dict(zip(table["emotion"], table["texts"]))

    assert shown_counts() == dict(zip(LABELS, (energies >= np.float32(h)).sum(axis=0).tolist()))
    at.slider(key="th_global").set_value(6.5).run()
    assert not at.exception, [e.message for e in at.exception]
    assert shown_counts() == dict(zip(LABELS, (energies >= np.float32(6.5)).sum(axis=0).tolist()))
    changed = int(((energies >= np.float32(h)) != (energies >= np.float32(6.5))).any(axis=1).sum())
    assert any(f"**{changed}** texts gain or lose an emotion" in c.value for c in at.caption)
    assert len(table_with(at, "gained")) == min(changed, 200)
    assert len(at.get("plotly_chart")) == 3  # counts, energy distribution, co-occurrence


def test_export_writes_the_energies_with_metadata(text_workspace):
    root, energies = text_workspace
    at = open_text_set_page("app_pages/7_Export.py", "export")
    at.radio(key="ts_export_format").set_value("parquet").run()
    at.button(key="ts_export_go").click().run()
    assert not at.exception, [e.message for e in at.exception]
    written = pd.read_parquet(root / "exports" / "notes_tiny-run_energies.parquet")
    assert written["row_idx"].tolist() == list(range(ROWS))
    assert np.array_equal(written[LABELS].to_numpy(np.float32), energies)
    assert written["speaker"].tolist() == [SPEAKERS[i % 3] for i in range(ROWS)]
    assert any(f"Saved {ROWS} rows" in s.value for s in at.success)

    at.radio(key="ts_export_content").set_value("binary").run()
    at.radio(key="ts_export_format").set_value("csv").run()
    at.button(key="ts_export_go").click().run()
    written = pd.read_csv(root / "exports" / "notes_tiny-run_binary.csv")
    assert np.array_equal(written[LABELS].to_numpy(), (energies >= np.float32(3.0)).astype(int))  # the session's h
