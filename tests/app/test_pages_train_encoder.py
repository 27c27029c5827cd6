"""The Train page offers the base-size encoder beside the bundled MiniLM, and says how to install it when its part
packages are missing (before a run starts, in the words `eqn train` uses)."""
from __future__ import annotations

import dataclasses

import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP, shown
from eqn_core.method import base_encoder
from eqn_core.method.base_encoder import INSTALL_HINT, MPNET
from eqn_core.store.workspace import Workspace

MPNET_SOURCE = "Bundled MPNet (all-mpnet-base-v2, base size, offline)"


@pytest.fixture
def train_page(workspace_root, tiny_dataset, tmp_path, monkeypatch) -> AppTest:
    with Workspace(workspace_root) as workspace:
        workspace.add_dataset(tiny_dataset)
    monkeypatch.setenv("EQN_CACHE", str(tmp_path / "cache"))  # nothing assembled there
    absent = dataclasses.replace(MPNET, distributions=("eqn-test-no-such-part-001",))
    monkeypatch.setattr(base_encoder, "MPNET", absent)  # as on a machine without requirements-base.txt
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("app_pages/2_Train.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_the_base_encoder_is_a_choice_and_missing_parts_say_how_to_install_them(train_page, workspace_root):
    at = train_page
    assert MPNET_SOURCE in at.radio(key="train_source").options
    at.radio(key="train_source").set_value(MPNET_SOURCE).run()
    assert any(INSTALL_HINT in shown(w.value) for w in at.warning), [w.value for w in at.warning]
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any(INSTALL_HINT in shown(e.value) for e in at.error), [e.value for e in at.error]
    with Workspace(workspace_root) as workspace:
        assert workspace.list_runs().empty  # refused before a run folder was made


def test_the_rare_label_options_and_a_teacher_run_reach_the_runs_config(train_page, workspace_root, tiny_dataset,
                                                                         tmp_path, monkeypatch):
    import numpy as np

    from ui.views import train as train_view

    monkeypatch.setattr(train_view, "start_run_process", lambda *args, **kwargs: 0)  # the config is the point here
    with Workspace(workspace_root) as workspace:
        workspace.add_finished_run("coeqn-teacher", dataset="tiny", mode="coeqn", encoder="bundled-minilm",
                                   config={"mode": "coeqn"}, run_dir=tmp_path / "teacher", metrics={})
        workspace.store_energies("coeqn-teacher", "train", np.full((48, 4), 2.0, dtype=np.float32))
        workspace.add_finished_run("no-train-energies", dataset="tiny", mode="coeqn", encoder="bundled-minilm",
                                   config={"mode": "coeqn"}, run_dir=tmp_path / "other", metrics={})
    at = train_page
    at.run()
    teacher = at.selectbox(key="train_teacher")
    assert teacher.options[1:] == ["coeqn-teacher"]  # only finished runs of this data set with train energies
    teacher.set_value("coeqn-teacher")
    at.radio(key="train_head").set_value("label_attention")
    at.checkbox(key="train_label_weighting").check()
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Workspace(workspace_root) as workspace:
        runs = workspace.list_runs()
        config = runs.loc[~runs["run_id"].isin(["coeqn-teacher", "no-train-energies"]), "config"].iloc[0]
    assert (config["teacher_run"], config["head"], config["label_weighting"]) == \
        ("coeqn-teacher", "label_attention", "inverse_frequency")
