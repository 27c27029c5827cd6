import re
"""AppTest runs of the Samples, Correlations, Review and Export pages against a small real workspace."""
import base64
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from conftest import make_dataset
from eqn_core.review import LOW_ENERGY_HUMAN, SUGGESTED
from eqn_core.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the pages import ui.common, as under `streamlit run app.py`

LABELS = ["joy", "anger", "fear", "neutral"]
PROFILE = [3.0, 7.0, 5.0, 3.0]  # (C,) the saved profile "strict"
TIMEOUT = 60

def shown(markdown: str) -> str:
    """What a reader sees of Markdown whose user strings were escaped (ui.common.escape_markdown)."""
    return re.sub(r"\\(.)", r"\1", markdown)



def designed_energies(human_labels: np.ndarray, split: str) -> np.ndarray:
    """Human labels 8.0, others 0.5, plus known suggestions on the test split (h = 3):
    suggested (9, joy) 9.5, (2, anger) 6.0, (5, fear) 4.0; low-energy human label (4, fear) 1.0."""
    energies = np.where(human_labels, 8.0, 0.5).astype(np.float32)  # (N, C)
    if split == "test":
        energies[9, 0], energies[2, 1], energies[5, 2], energies[4, 2] = 9.5, 6.0, 4.0, 1.0
    return energies


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A workspace with data set "tiny", EQN run "r1" (dev + test energies, profile "strict") and its
    Model 1 "r1.model1" (coeqn); closed again, so the app opens the DuckDB file itself."""
    folder = tmp_path / "workspace"
    dataset = make_dataset()
    rng = np.random.default_rng(0)
    with Workspace(folder) as workspace:
        workspace.add_dataset(dataset)
        for run_id, mode in (("r1", "eqn"), ("r1.model1", "coeqn")):
            workspace.create_run(run_id, dataset="tiny", mode=mode, encoder="tiny-encoder", config={"mode": mode},
                                 run_dir=workspace.runs_dir / run_id)
            for split in ("dev", "test"):
                human_labels = dataset.splits[split].human_labels
                energies = designed_energies(human_labels, split)
                if mode == "coeqn":  # Model 1: weaker, noisier energies, so the two correlation maps differ
                    energies = np.clip(np.where(human_labels, 6.0, 1.0) + rng.uniform(0, 3, human_labels.shape),
                                       0, 10).astype(np.float32)
                workspace.store_energies(run_id, split, energies)
            workspace.update_run(run_id, status="finished",
                                 metrics={"thresholds": PROFILE, "global_threshold": 3.0, "label_names": LABELS})
        workspace.save_threshold_profile("strict", run_id="r1", thresholds=np.array(PROFILE))
    monkeypatch.setenv("EQN_WORKSPACE", str(folder))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield folder
    st.cache_data.clear()
    st.cache_resource.clear()


def page(name: str, run_id: str | None = "r1") -> AppTest:
    """The page with run_id chosen (as if picked earlier on another page: pick_run remembers it)."""
    at = AppTest.from_file(str(REPO / "pages" / name), default_timeout=TIMEOUT)
    if run_id is not None:
        at.session_state["run"] = run_id
    return at


def charts(at: AppTest) -> dict:
    """The page's plotly charts by key, each as its figure dict."""
    return {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def array(value) -> np.ndarray:
    """A figure's data array: a plain list, or plotly's typed-array form {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        values = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return values.reshape([int(n) for n in str(value["shape"]).split(",")]) if "shape" in value else values
    return np.asarray(value)


def table_rows(at: AppTest, key: str) -> list[int]:
    return at.dataframe(key).value["row"].tolist()


def table_with(at: AppTest, column: str) -> pd.DataFrame | None:
    """The first shown table that has this column (a read-only st.dataframe carries no key)."""
    return next((frame.value for frame in at.dataframe if column in frame.value.columns), None)


def stored_reviews(root: Path, **filters) -> pd.DataFrame:
    with Workspace(root) as workspace:
        return workspace.reviews(run_id="r1", split="test", **filters)


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [exception.value for exception in at.exception]


# ------------------------------------------------------------------------ Samples
def test_samples_filters_change_the_table_and_a_chosen_text_gets_its_energy_bars(root):
    at = page("4_Samples.py").run()
    assert_ok(at)
    assert table_rows(at, "samples_table") == list(range(16))

    at.selectbox("samples_suggestion").set_value(SUGGESTED).run()
    assert table_rows(at, "samples_table") == [2, 5, 9]
    at.selectbox("samples_emotion").set_value("fear").run()
    assert table_rows(at, "samples_table") == [5]
    at.selectbox("samples_suggestion").set_value(LOW_ENERGY_HUMAN).run()
    assert table_rows(at, "samples_table") == [4]
    at.selectbox("samples_suggestion").set_value(None).run()
    at.selectbox("samples_membership").set_value("human").run()
    assert table_rows(at, "samples_table") == [4]
    at.selectbox("samples_membership").set_value("any").run()
    at.slider("samples_energy_range").set_value((3.0, 10.0)).run()
    assert table_rows(at, "samples_table") == [5]  # fear energy 4.0; row 4's human fear is 1.0
    at.slider("samples_energy_range").set_value((0.0, 10.0))
    at.selectbox("samples_emotion").set_value(None)
    at.text_input("samples_search").input("number 1").run()
    assert table_rows(at, "samples_table") == [1, 10, 11, 12, 13, 14, 15]
    at.text_input("samples_search").input("").run()

    at.selectbox("samples_text").set_value(9).run()
    assert_ok(at)
    figure = charts(at)["samples_energy_bars"]
    bars = {trace["name"]: trace for trace in figure["data"] if trace["type"] == "bar"}
    suggested = bars["suggested micro-emotion"]
    assert suggested["x"] == ["joy"] and array(suggested["y"]).tolist() == [9.5]
    assert bars["human label"]["x"] == ["anger"] and bars["human label"]["marker"]["pattern"]["shape"] == "/"
    assert [shape["y0"] for shape in figure["layout"]["shapes"]] == [3.0]  # the global threshold line

    at.radio("samples_threshold_mode").set_value("Saved profile").run()
    assert_ok(at)
    markers = [trace for trace in charts(at)["samples_energy_bars"]["data"] if trace["type"] == "scatter"]
    assert markers and array(markers[0]["y"]).tolist() == PROFILE and list(markers[0]["x"]) == LABELS
    at.selectbox("samples_suggestion").set_value(SUGGESTED).run()
    assert table_rows(at, "samples_table") == [9]  # anger 6.0 < 7 and fear 4.0 < 5 under "strict"


# ------------------------------------------------------------------------ Correlations
def test_correlations_preselects_eqn_and_model1_and_shows_their_difference(root):
    at = page("5_Correlations.py", run_id=None).run()
    assert_ok(at)
    assert at.selectbox("corr_run_a_select").value == "r1.model1"
    assert at.selectbox("corr_run_b_select").value == "r1"
    shown = charts(at)
    assert set(shown) == {"corr_heatmap_a", "corr_heatmap_b", "corr_heatmap_difference"}
    z_a, z_b = (array(shown[key]["data"][0]["z"]) for key in ("corr_heatmap_a", "corr_heatmap_b"))
    np.testing.assert_allclose(array(shown["corr_heatmap_difference"]["data"][0]["z"]), z_b - z_a, atol=1e-9)
    assert z_a.shape == (4, 4) and not np.allclose(z_a, z_b)
    assert shown["corr_heatmap_difference"]["data"][0]["zmid"] == 0
    assert [metric.label for metric in at.metric] == ["Run A: mean off-diagonal r", "Run B: mean off-diagonal r",
                                                      "B − A: mean off-diagonal difference"]

    at.selectbox("corr_order").set_value("b").run()
    assert_ok(at)
    from eqn_core.metrics import cluster_order, pearson_matrix

    order = cluster_order(pearson_matrix(designed_energies(make_dataset().splits["test"].human_labels, "test")))
    assert charts(at)["corr_heatmap_a"]["data"][0]["x"] == [LABELS[i] for i in order]


# ------------------------------------------------------------------------ Review
def decide(at: AppTest, button: str, **inputs) -> AppTest:
    for key, value in inputs.items():
        at.number_input(key).set_value(value)
    at.button(button).click().run()
    assert_ok(at)
    return at


def progress_text(at: AppTest) -> str:
    return at.get("progress")[0].proto.text


def test_review_decisions_are_stored_at_once_and_two_reviewers_get_kappa(root):
    at = page("6_Review.py").run()
    assert_ok(at)
    assert "Type your name" in at.info[0].value and not at.get("form")

    at.text_input("review_reviewer").input("ana").run()
    assert progress_text(at).startswith("0 of 4 suggestions decided by ana")
    decide(at, "review_accept_9_0")  # (row 9, joy) suggested at 9.5
    assert "joy on row 9 accepted by ana" in at.success[0].value
    ana = stored_reviews(root, reviewer="ana")
    assert ana[["row_idx", "label", "decision", "energy"]].values.tolist() == [[9, "joy", "accept", 9.5]]

    decide(at, "review_set_2_1", review_energy_2_1=2.5)  # (row 2, anger): set to 2.5
    assert stored_reviews(root, reviewer="ana").iloc[-1][["row_idx", "label", "decision", "energy"]].tolist() == [
        2, "anger", "set", 2.5]

    at.number_input("review_bulk_min").set_value(4.0)
    at.button("review_bulk_accept").click().run()  # pending suggested: (5, fear) 4.0; the low-energy label stays
    assert_ok(at)
    assert "Accepted 1 suggested" in at.success[0].value
    assert len(stored_reviews(root, reviewer="ana")) == 3
    assert progress_text(at).startswith("3 of 4")

    decide(at, "review_reject_4_2")  # the low-energy human label (4, fear)
    assert progress_text(at).startswith("4 of 4")
    assert "Every suggestion in this filter is decided" in at.success[-1].value
    assert table_with(at, "Cohen's kappa") is None  # one reviewer: no kappa yet

    # A second reviewer in another browser session: disagrees on joy only.
    ben = page("6_Review.py")
    ben.session_state["reviewer_name"] = "ben"
    ben.run()
    assert progress_text(ben).startswith("0 of 4 suggestions decided by ben")
    decide(ben, "review_reject_9_0")
    decide(ben, "review_accept_2_1")
    decide(ben, "review_accept_5_2", review_energy_5_2=6.0)  # an energy typed, then Enter (= Accept): a "set"
    decide(ben, "review_reject_4_2")
    decisions = stored_reviews(root, reviewer="ben")
    assert decisions[["row_idx", "label", "decision"]].values.tolist() == [
        [9, "joy", "reject"], [2, "anger", "accept"], [5, "fear", "set"], [4, "fear", "reject"]]
    assert decisions["energy"].tolist()[2] == 6.0 and len(stored_reviews(root)) == 8

    # ana yes/yes/yes/no, ben no/yes/yes/no: joy p_o 0, p_e 0 -> 0; anger both yes -> n/a;
    # fear (yes, no) both -> 1; all: p_o 3/4, p_e 3/4*1/2 + 1/4*1/2 = 1/2 -> kappa 0.5
    agreement = table_with(ben, "Cohen's kappa")
    assert agreement["label"].tolist() == ["joy", "anger", "fear", "all labels"]
    assert agreement["Cohen's kappa"].tolist() == ["0.000", "n/a", "1.000", "0.500"]
    assert agreement["texts both decided"].tolist() == [1, 1, 2, 4]


# ------------------------------------------------------------------------ Export
def test_export_writes_the_chosen_rows_and_offers_the_download(root):
    with Workspace(root) as workspace:
        workspace.record_review(run_id="r1", split="test", row_idx=9, label="joy", decision="set", energy=2.0,
                                reviewer="ana")
    at = page("7_Export.py").run()
    assert_ok(at)
    at.radio("export_content").set_value("binary")
    at.radio("export_format").set_value("parquet")
    at.selectbox("export_rows").set_value("suggested").run()
    assert any(caption.value.startswith("3 rows selected") for caption in at.caption)
    at.button("export_go").click().run()
    assert_ok(at)
    path = root / "exports" / "r1_test_binary.parquet"
    assert path.is_file() and str(path) in shown(at.success[0].value)
    exported = pd.read_parquet(path)
    assert exported["row_idx"].tolist() == [2, 5, 9]
    assert exported[LABELS].values.tolist() == [[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]]
    assert at.download_button("export_download").proto.label == "Download r1_test_binary.parquet"
    assert table_with(at, "text_id")["row_idx"].tolist() == [2, 5, 9]  # the preview

    at.radio("export_content").set_value("reviewed")
    at.radio("export_format").set_value("csv")
    at.selectbox("export_rows").set_value("all").run()
    at.button("export_go").click().run()
    assert_ok(at)
    reviewed = pd.read_csv(root / "exports" / "r1_test_reviewed.csv", keep_default_na=False)
    assert len(reviewed) == 16 and reviewed.loc[9, "joy"] == 2.0 and reviewed.loc[9, "reviewers"] == "ana"
    assert reviewed.loc[2, "anger"] == pytest.approx(6.0) and reviewed.loc[4, "fear"] == 0.0  # 1.0 < h = 3
