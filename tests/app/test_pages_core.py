"""The app's entry page and its Data, Train, Thresholds and Try it pages, driven through AppTest on a real workspace.

Each test builds a tiny workspace in tmp_path (the tiny data set and, where needed, a real frozen EQN run on the
1-layer random BERT), points EQN_WORKSPACE at it and checks what a user would see after an action.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP, shown
from eqn_core.io.datasets import GOEMOTIONS_LABELS, LabeledDataset, LabeledSplit
from eqn_core.method.config import TrainConfig
from eqn_core.method.metrics import decide, per_label_report
from eqn_core.method.thresholds import tune_thresholds
from eqn_core.runs.lifecycle import ingest_run, prepare_run
from eqn_core.runs.process import execute_run
from eqn_core.store.run_folders import RunFolder
from eqn_core.store.workspace import Workspace

RUN_ID = "tiny-eqn"
LOAD_TIMEOUT = 60  # seconds for a run that imports torch / loads a model; AppTest's default is 3

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")


@pytest.fixture
def data_workspace(workspace_root, tiny_dataset) -> Path:
    with Workspace(workspace_root) as workspace:
        workspace.add_dataset(tiny_dataset)
    yield workspace_root
    for run_dir in (workspace_root / "runs").glob("*"):  # a failed test must not leave a training process behind
        RunFolder(run_dir).request_stop()


@pytest.fixture
def trained_workspace(data_workspace, tiny_encoder_dir) -> Path:
    """The tiny data set plus a finished frozen EQN run (its Model 1 becomes run "tiny-eqn.model1")."""
    config = TrainConfig(dataset="tiny", mode="eqn", encoder=tiny_encoder_dir, encoder_mode="frozen", epochs=2,
                         batch_size=16, learning_rate=0.05, device="cpu", seed=3)
    with Workspace(data_workspace) as workspace:
        folder = prepare_run(workspace, config, run_id=RUN_ID)
        assert execute_run(folder.path, cache_dir=workspace.cache_dir)["status"] == "finished"
        ingest_run(workspace, RUN_ID)
    return data_workspace


def open_page(page: str | None = None, *, run_id: str | None = None, timeout: float = LOAD_TIMEOUT) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    if run_id:
        at.session_state["run"] = run_id
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return found[0]


def table(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first table on the page that has these columns (st.dataframe keys are not visible to AppTest)."""
    for frame in at.dataframe:
        value = frame.value
        if all(column in value.columns for column in columns):
            return value
    raise AssertionError(f"no table with columns {columns}: {[list(f.value.columns) for f in at.dataframe]}")


def app_workspace() -> Workspace:
    """The workspace the app has open (one DuckDB connection per process, as in the real app)."""
    from ui.session import get_workspace

    return get_workspace()


# ------------------------------------------------------------------------------------------------ entry page
def test_first_open_explains_and_loads_goemotions_from_the_local_folder(workspace_root, shared_data, monkeypatch):
    monkeypatch.setenv("EQN_GOEMOTIONS_DIR", str(shared_data / "goemotions"))
    at = open_page()
    assert "Load GoEmotions" in [b.label for b in at.button]
    assert any("local folder" in m.value for m in at.markdown)
    at.button(key="home_load_goemotions").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("GoEmotions is in the workspace" in s.value for s in at.success)
    assert metric(at, "Data sets") == "1"
    summary = app_workspace().dataset_summary("goemotions")
    assert summary["rows"] == {"train": 43410, "dev": 5426, "test": 5427}


def test_entry_page_shows_workspace_and_next_step(trained_workspace):
    at = open_page()
    assert metric(at, "Data sets") == "1"
    assert metric(at, "Finished runs") == "2"  # the EQN run and its Model 1
    runs = table(at, "run", "status")
    assert set(runs["run"]) == {RUN_ID, f"{RUN_ID}.model1"} and set(runs["status"]) == {"finished"}


# ------------------------------------------------------------------------------------------------ Data
def test_data_page_shows_rows_per_split_and_distributions(data_workspace):
    at = open_page("app_pages/1_Data.py")
    assert [metric(at, f"{split} rows") for split in ("train", "dev", "test")] == ["48", "16", "16"]
    assert metric(at, "kind") == "multi-label"
    assert len(at.get("plotly_chart")) == 2  # label distribution, labels per text (Figure 3)
    per_text = table(at, "1 label")  # splits x labels-per-text counts
    assert int(per_text.loc["train"].sum()) == 48


def test_uploaded_csv_becomes_a_data_set(data_workspace):
    at = open_page("app_pages/1_Data.py")
    at.segmented_control(key="data_section").set_value("Add labelled files").run()
    rows = ["text,labels"] + [f"text number {i} feels {'joy' if i % 2 else 'anger'},{'joy' if i % 2 else 'anger'}"
                              for i in range(30)]
    at.file_uploader(key="data_upload").set_value(("moods_train.csv", "\n".join(rows).encode(), "text/csv"))
    at.run()
    assert not at.exception
    assert at.text_input(key="data_upload_name").value == "moods"
    at.button(key="data_upload_add").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("Added moods" in s.value for s in at.success)
    workspace = app_workspace()
    assert "moods" in workspace.dataset_names()
    assert workspace.label_names("moods") == ["anger", "joy"]
    assert sum(workspace.dataset_summary("moods")["rows"].values()) == 30


def test_bad_upload_shows_the_data_error_and_stores_nothing(data_workspace):
    at = open_page("app_pages/1_Data.py")
    at.segmented_control(key="data_section").set_value("Add labelled files").run()
    bad = b"text,labels\nfine text,joy\n   ,anger\n"
    at.file_uploader(key="data_upload").set_value(("broken.csv", bad, "text/csv"))
    at.run()
    at.button(key="data_upload_add").click().run()
    assert not at.exception
    errors = [shown(e.value) for e in at.error]
    assert errors and "broken.csv, row 2" in errors[0] and "whitespace" in errors[0], errors
    assert app_workspace().dataset_names() == ["tiny"]


def test_one_hot_columns_are_mapped_with_the_column_widgets(data_workspace):
    at = open_page("app_pages/1_Data.py")
    at.segmented_control(key="data_section").set_value("Add labelled files").run()
    rows = ["comment,joy,anger,id"] + [f"comment {i},{i % 2},{1 - i % 2},c{i}" for i in range(20)]
    at.file_uploader(key="data_upload").set_value(("onehot.csv", "\n".join(rows).encode(), "text/csv"))
    at.run()
    at.selectbox(key="data_upload_text").select("comment")
    at.selectbox(key="data_upload_format").select("onehot").run()
    at.multiselect(key="data_upload_onehot").select("joy").select("anger")
    at.selectbox(key="data_upload_id").select("id")
    at.button(key="data_upload_add").click().run()
    assert not at.error, [e.value for e in at.error]
    dataset = app_workspace().load_dataset("onehot")
    assert dataset.label_names == ["joy", "anger"]
    assert sorted(dataset.splits["train"].text_ids + dataset.splits["dev"].text_ids) == sorted(
        f"c{i}" for i in range(20))


def test_goemotions_from_a_missing_folder_says_so(data_workspace):
    at = open_page("app_pages/1_Data.py")
    at.segmented_control(key="data_section").set_value("Add GoEmotions").run()
    at.radio(key="data_goemotions_source").set_value("Local folder").run()
    at.text_input(key="data_goemotions_folder").input("/no/such/folder")
    at.button(key="data_load_goemotions").click().run()
    assert any("No folder at '/no/such/folder'" in shown(e.value) for e in at.error)
    assert app_workspace().dataset_names() == ["tiny"]


# ------------------------------------------------------------------------------------------------ Thresholds
def test_moving_the_global_threshold_updates_macro_f1(trained_workspace):
    at = open_page("app_pages/3_Thresholds.py", run_id=RUN_ID)
    workspace = app_workspace()
    energies = workspace.load_energies(RUN_ID, "test")
    labels = workspace.load_dataset("tiny", splits=["test"]).splits["test"].human_labels
    before = metric(at, "Macro F1")
    at_three = per_label_report(decide(energies, rule="threshold", thresholds=3.0), labels)["macro"]["f1"]
    assert before == f"{at_three:.4f}"
    at.slider(key="th_global").set_value(2.5).run()
    after = metric(at, "Macro F1")
    expected = per_label_report(decide(energies, rule="threshold", thresholds=2.5), labels)["macro"]["f1"]
    assert after == f"{expected:.4f}" and after != before
    scores = table(at, "threshold", "f1", "gained", "lost")
    assert np.allclose(scores["threshold"].iloc[:4], 2.5)
    assert list(scores["label"].iloc[-2:]) == ["macro average", "micro average"]
    assert f"{scores['f1'].iloc[-2]:.4f}" == after
    at.switch_page("app_pages/1_Data.py").run()
    at.switch_page("app_pages/3_Thresholds.py").run()
    assert at.slider(key="th_global").value == pytest.approx(2.5) and metric(at, "Macro F1") == after


def test_thresholds_live_in_the_url_and_the_page_says_what_changed(trained_workspace):
    at = open_page("app_pages/3_Thresholds.py", run_id=RUN_ID)
    assert any("gain or lose a label appear here" in c.value for c in at.caption)  # nothing moved yet
    at.slider(key="th_global").set_value(2.5).run()
    assert at.query_params["h"] == "2.5" and "h_labels" not in at.query_params
    assert any("from h = 3 to h = 2.5" in c.value for c in at.caption)

    # a reload: a new session on the same URL, with label 0's own threshold
    at = AppTest.from_file(str(APP), default_timeout=LOAD_TIMEOUT)
    at.query_params.update({"run": RUN_ID, "h": "2.5", "h_labels": "0:3.5"})
    at.run()
    at.switch_page("app_pages/3_Thresholds.py").run()
    assert not at.exception
    assert at.slider(key="th_global").value == pytest.approx(2.5)
    assert np.allclose(table(at, "threshold", "f1")["threshold"].iloc[:4], [3.5, 2.5, 2.5, 2.5])
    assert any("The global h applies to 3 of 4 labels; 1 have their own threshold." in c.value for c in at.caption)
    assert at.query_params["h_labels"] == "0:3.5"


def test_tune_button_sets_per_label_thresholds_from_dev(trained_workspace):
    at = open_page("app_pages/3_Thresholds.py", run_id=RUN_ID)
    assert np.allclose(table(at, "threshold", "f1", "gained", "lost")["threshold"].iloc[:4], 3.0)
    at.button(key="th_tune").click().run()
    assert not at.exception
    workspace = app_workspace()
    dev = workspace.load_energies(RUN_ID, "dev")
    dev_labels = workspace.load_dataset("tiny", splits=["dev"]).splits["dev"].human_labels
    shown = table(at, "threshold", "f1", "gained", "lost")["threshold"].iloc[:4].to_numpy()
    assert np.allclose(shown, tune_thresholds(dev, dev_labels))
    assert not np.allclose(shown, 3.0)
    assert any("tuned on the dev split" in i.value for i in at.info)


def test_saved_profile_is_in_the_workspace_and_loads_back(trained_workspace):
    at = open_page("app_pages/3_Thresholds.py", run_id=RUN_ID)
    at.slider(key="th_global").set_value(2.7).run()
    at.text_input(key="th_profile_name").input("lenient")
    at.button(key="th_profile_save").click().run()
    assert not at.exception and not at.error
    profile = app_workspace().load_threshold_profile("lenient")
    assert profile["run_id"] == RUN_ID and profile["global_threshold"] == pytest.approx(2.7)
    assert np.allclose(profile["thresholds"], 2.7)
    at.slider(key="th_global").set_value(5.0).run()
    at.selectbox(key="th_profile_pick").select("lenient")
    at.button(key="th_profile_load").click().run()
    assert at.slider(key="th_global").value == pytest.approx(2.7)


def test_slider_move_is_fast_on_a_goemotions_sized_split(workspace_root):
    rng = np.random.default_rng(0)
    splits = {}
    for name, n in (("train", 64), ("dev", 5426), ("test", 5427)):
        labels = rng.random((n, 28)) < 0.06
        labels[np.arange(n), rng.integers(0, 28, n)] = True
        splits[name] = LabeledSplit([f"text {i}" for i in range(n)], labels, [f"{name}-{i}" for i in range(n)])
    with Workspace(workspace_root) as workspace:
        workspace.add_dataset(LabeledDataset("big", list(GOEMOTIONS_LABELS), splits, True, "synthetic"))
        workspace.create_run("big-run", dataset="big", mode="eqn", encoder="none", config={}, run_dir=workspace_root)
        for name in ("dev", "test"):
            workspace.store_energies("big-run", name, rng.random((len(splits[name].texts), 28)) * 10)
        workspace.update_run("big-run", status="finished", metrics={})
    at = open_page("app_pages/3_Thresholds.py", run_id="big-run")
    seconds = []
    for value in (2.0, 4.5, 6.1):
        started = time.perf_counter()
        at.slider(key="th_global").set_value(value).run()
        seconds.append(time.perf_counter() - started)
        assert not at.exception
    assert float(np.median(seconds)) < 1.0, seconds


# ------------------------------------------------------------------------------------------------ Train
def start_tiny_run(encoder_dir: str, *, epochs: int) -> tuple[AppTest, str]:
    """Fill in the Train page for a frozen CoEQN run on the tiny encoder, press Start; returns (page, run id)."""
    at = open_page("app_pages/2_Train.py")
    at.selectbox(key="train_mode").select("coeqn").run()
    at.radio(key="train_source").set_value("Local folder").run()
    at.text_input(key="train_folder").input(encoder_dir)
    at.radio(key="train_encoder_mode").set_value("frozen").run()
    at.number_input(key="train_epochs_frozen").set_value(epochs)
    at.number_input(key="train_batch_frozen").set_value(16)
    at.number_input(key="train_max_rows").set_value(32)
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Started run" in s.value for s in at.success)
    return at, at.selectbox(key="train_watch").value


def wait_for_run(at: AppTest, run_id: str, *, seconds: float = 90) -> pd.DataFrame:
    """Rerun the page (as its live fragment does) until the run list shows the run ended; returns that list."""
    deadline = time.monotonic() + seconds
    while True:
        time.sleep(1.0)
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        runs = table(at, "run", "status").set_index("run")
        if runs.loc[run_id, "status"] not in ("queued", "running") or time.monotonic() > deadline:
            return runs


def test_train_page_starts_a_real_run_that_finishes_in_the_run_list(data_workspace, tiny_encoder_dir):
    at, run_id = start_tiny_run(tiny_encoder_dir, epochs=2)
    runs = wait_for_run(at, run_id)
    assert runs.loc[run_id, "status"] == "finished", runs.reset_index().to_dict("records")
    assert runs.loc[run_id, "train rows"] == 32 and runs.loc[run_id, "mode"] == "coeqn"
    assert 0.0 <= float(runs.loc[run_id, "top-k F1"]) <= 1.0
    at.run()
    assert metric(at, "Top-k F1")  # the finished run's key numbers
    assert len(at.get("plotly_chart")) == 2  # loss and dev top-k F1 curves
    assert app_workspace().energy_splits(run_id) == ["dev", "test"]  # a quick look (32 rows) skips train


def test_stop_button_stops_a_running_run(data_workspace, tiny_encoder_dir):
    at, run_id = start_tiny_run(tiny_encoder_dir, epochs=100000)  # hours of epochs: only Stop ends it
    assert at.get("progress"), "a live progress bar while the run is active"
    at.button(key="train_stop").click().run()
    assert any("Stop requested" in c.value for c in at.caption)
    runs = wait_for_run(at, run_id)
    assert runs.loc[run_id, "status"] == "stopped"
    assert any("Run stopped: stopped by the user" in w.value for w in at.warning)


def test_train_page_rejects_a_missing_encoder_folder(data_workspace):
    at = open_page("app_pages/2_Train.py")
    at.radio(key="train_source").set_value("Local folder").run()
    at.text_input(key="train_folder").input("/no/such/folder")
    at.button(key="train_start").click().run()
    assert any("No folder at" in e.value for e in at.error)
    assert app_workspace().list_runs().empty


def test_train_page_refuses_a_bad_learning_rate_as_eqn_train_does(data_workspace):
    from eqn_core.method.config import parse_learning_rate

    at = open_page("app_pages/2_Train.py")
    at.radio(key="train_encoder_mode").set_value("frozen").run()
    at.text_input(key="train_lr_frozen").input("-0.5")
    at.button(key="train_start").click().run()
    with pytest.raises(ValueError) as caught:
        parse_learning_rate("-0.5")  # the rule `eqn train` and TrainConfig.check share
    assert [shown(e.value) for e in at.error] == [str(caught.value)]
    assert app_workspace().list_runs().empty


def test_deleting_a_run_then_its_data_set_from_the_pages(trained_workspace):
    at = open_page("app_pages/2_Train.py")
    assert at.session_state["train_watch"] == RUN_ID
    at.button(key="train_delete").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any(f"Deleted {RUN_ID}.model1, {RUN_ID}" in s.value for s in at.success)
    assert app_workspace().list_runs().empty
    assert not (trained_workspace / "runs" / RUN_ID).exists()
    at.switch_page("app_pages/1_Data.py").run()
    at.button(key="data_delete").click().run()
    assert any("Deleted data set tiny" in s.value for s in at.success)
    assert app_workspace().dataset_names() == []


# ------------------------------------------------------------------------------------------------ Try it
def test_try_it_shows_energies_for_a_typed_text(trained_workspace, tiny_dataset):
    at = open_page("app_pages/8_Try_it.py")  # no run remembered: it starts on the EQN run, not its Model 1
    assert at.selectbox(key="run_select").value == RUN_ID and not at.warning
    text = tiny_dataset.splits["test"].texts[0]
    at.text_area(key="try_text").input(text).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 1
    shown = table(at, "label", "energy")
    assert sorted(shown["label"]) == ["anger", "fear", "joy", "neutral"]
    assert shown["energy"].is_monotonic_decreasing
    stored = dict(zip(tiny_dataset.label_names, app_workspace().load_energies(RUN_ID, "test")[0]))
    assert np.allclose(shown["energy"], [stored[label] for label in shown["label"]], atol=2e-3)  # same model
    assert any(m.value.startswith("**Labels at h = 3.0:**") for m in at.markdown)


def test_try_it_answers_an_example_on_first_open(trained_workspace):
    at = open_page("app_pages/8_Try_it.py")
    assert not at.exception and not at.info
    assert at.text_area(key="try_text").value.strip()
    assert len(at.get("plotly_chart")) == 1 and len(table(at, "label", "energy")) == 4
    at.text_area(key="try_text").input("").run()
    assert any("Type a text above" in i.value for i in at.info)


def test_try_it_says_when_a_run_model_cannot_be_loaded(trained_workspace):
    config_file = trained_workspace / "runs" / RUN_ID / "config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "encoder": str(trained_workspace / "gone")}))
    at = open_page("app_pages/8_Try_it.py", run_id=RUN_ID)
    assert any("Could not load the model of run tiny-eqn" in shown(e.value) for e in at.error)


def test_try_it_offers_the_parent_of_a_model1_run(trained_workspace):
    at = open_page("app_pages/8_Try_it.py", run_id=f"{RUN_ID}.model1")
    assert any("Model 1" in w.value for w in at.warning)
    assert not at.text_area
    at.button(key="try_use_parent").click().run()
    assert not at.warning and len(at.text_area) == 1
    assert at.session_state["run"] == RUN_ID


def test_offline_first_open_offers_a_local_folder_right_there(workspace_root, shared_data, monkeypatch, tmp_path):
    import urllib.request

    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    import eqn_core.io.datasets

    monkeypatch.setattr(eqn_core.io.datasets, "find_local_goemotions", lambda: None)  # a fresh machine: no copy nearby
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    at = open_page()
    at.button(key="home_load_goemotions").click().run()
    errors = [shown(e.value) for e in at.error]
    assert errors and "could not download" in errors[0] and "folder on this computer below" in errors[0]
    assert "--from" not in errors[0] and "eqn " not in errors[0]  # no command-line hint on a page
    at.text_input(key="home_goemotions_folder").input("/no/such/folder").run()
    at.button(key="home_load_folder").click().run()
    assert any("No folder at '/no/such/folder'" in shown(e.value) for e in at.error)  # the Data page's words
    at.text_input(key="home_goemotions_folder").input(str(shared_data / "goemotions")).run()
    at.button(key="home_load_folder").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("GoEmotions is in the workspace" in s.value for s in at.success)
