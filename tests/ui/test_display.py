"""ui.display: escaping for Markdown and plotly (also on the Review and Samples pages, on a data set whose names try
Markdown and HTML injection) and the energy bars."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO, make_dataset
from eqn_core.store.workspace import Workspace
from ui.display import escape_markdown, plot_text

LINK = "[link](http://evil.example)"
HOSTILE_LABELS = [LINK, "<b>bold</b>", "fear", "neutral"]
LIVE_LINK = re.compile(r"(?<!\\)\]\((?!\s)|(?<![\\\w])https?(?<!\\):(?!\\)//|<b>")  # what would render live


def test_escape_markdown_and_plot_text_show_strings_as_typed():
    assert escape_markdown(LINK) == r"\[link\]\(http\:\/\/evil\.example\)".replace(r"\/", "/")
    assert not LIVE_LINK.search(escape_markdown(LINK + " <b>x</b> http://bare.example"))
    assert plot_text("<b>bold</b> & <a href='x'>") == "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;a href='x'&gt;"


@pytest.fixture
def hostile_root(workspace_root):
    dataset = make_dataset()
    dataset.label_names = list(HOSTILE_LABELS)
    for split in dataset.splits.values():
        split.text_ids = [f"[id{i}](http://evil.example)" for i in range(len(split.texts))]
    folder = workspace_root
    with Workspace(folder) as workspace:
        workspace.add_dataset(dataset)
        workspace.create_run("r1", dataset="tiny", mode="eqn", encoder="m", config={}, run_dir=folder / "runs" / "r1")
        labels = dataset.splits["test"].human_labels
        workspace.store_energies("r1", "test", np.where(labels, 8.0, 5.0).astype(np.float32))  # many suggestions
        workspace.update_run("r1", status="finished", metrics={"global_threshold": 3.0})
        workspace.record_review(run_id="r1", split="test", row_idx=0, label=LINK, decision="accept",
                                reviewer="[rev](http://evil.example)")
    return folder


def rendered_markdown(at: AppTest) -> list[str]:
    texts = [element.value for kind in ("markdown", "caption", "success", "info", "warning", "error")
             for element in getattr(at, kind)]
    return texts + [button.label for button in at.button]


@pytest.mark.parametrize("page_file", ["6_Review.py", "4_Samples.py"])
def test_hostile_names_render_as_text_not_links_or_markup(hostile_root, page_file):
    at = AppTest.from_file(str(REPO / "app_pages" / page_file), default_timeout=60)
    at.session_state["run"] = "r1"
    at.run()
    if page_file == "6_Review.py":
        pass  # the reviewer comes from the sign-in now; the text id and label names are the hostile strings
    assert not at.exception, [e.value for e in at.exception]
    shown = rendered_markdown(at)
    assert any("evil" in text for text in shown)  # the hostile names are on the page ...
    live = [text for text in shown if LIVE_LINK.search(text)]
    assert not live, live[:3]  # ... but never as a live link or markup
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        labels = [str(x) for trace in spec["data"] for x in (trace.get("x") or [])]
        assert labels and not any("<b>" in label for label in labels)


def test_energy_bars_colour_an_energy_of_exactly_h_as_a_label():
    """The one threshold rule: 0.7 stored as float32 reaches h = 0.7 in the bars as on the Thresholds page."""
    from ui.display import energy_bar_figure

    energies = np.array([0.7, 0.2], dtype=np.float32)
    figure = energy_bar_figure(energies, np.array([False, False]), ["joy", "fear"], np.array([0.7, 0.7]),
                               per_label=False)
    suggested = [trace for trace in figure.data if trace.name == "suggested micro-emotion"]
    assert suggested and list(suggested[0].x) == ["joy"]
