"""Annotating text sets from the workspace (eqn_core.runs.text_jobs): a background job stopped and resumed gives the
energies of one go, a second run keeps the first's annotation, and the shipped model annotates out of the box."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from eqn_core.runs.text_jobs import (
    annotate_text_set,
    annotation_progress,
    delete_annotation,
    ingest_annotation,
    prepare_annotation,
    start_annotation,
    stop_annotation,
)
from eqn_core.store.text_set_folders import AnnotationFolder, annotation_path
from eqn_core.store.text_sets import add_text_set, annotation_record, list_annotations
from eqn_core.store.workspace import Workspace
from text_set_support import make_tiny_run, shard_energies

WORDS = ["happy", "furious", "scared", "table", "wonderful", "angry", "afraid", "chair", "calm", "the sea"]


@pytest.fixture
def texts_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "comments.csv"
    rows = [f"{' '.join(rng.choice(WORDS, size=int(rng.integers(1, 12))))} {i},group-{i % 3}" for i in range(3000)]
    path.write_text("text,group\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def wait_for(condition, *, timeout: float = 60.0, every: float = 0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_a_background_job_stopped_and_resumed_matches_one_go(tmp_path, texts_file, tiny_encoder_dir):
    options = dict(batch_size=8, shard_rows=20)
    with Workspace(tmp_path / "ws") as workspace:
        run_id = make_tiny_run(workspace, tiny_encoder_dir)
        add_text_set(workspace, "once", [texts_file])
        add_text_set(workspace, "twice", [texts_file])
        assert annotate_text_set(workspace, "once", run_id=run_id, **options)["status"] == "finished"
        one_go = shard_energies(annotation_path(workspace, "once", run_id))  # (3000, 4)

        pid = start_annotation(workspace, "twice", run_id=run_id, **options)
        folder = AnnotationFolder(annotation_path(workspace, "twice", run_id))
        assert annotation_record(workspace, "twice", run_id)["status"] == "running"
        wait_for(folder.shard_indices)  # the first shard is written: pause the job, ask it to stop, let it go on
        os.kill(pid, signal.SIGSTOP)
        stop_annotation(workspace, "twice", run_id)
        os.kill(pid, signal.SIGCONT)
        wait_for(lambda: folder.status()["status"] != "running", every=0.05)
        status = ingest_annotation(workspace, "twice", run_id)
        assert status["status"] == "stopped", (status, (folder.path / "log.txt").read_text()[-2000:])
        kept = folder.shard_indices()
        assert 0 < len(kept) < 150 and status["rows_done"] == 20 * len(kept)
        record = annotation_record(workspace, "twice", run_id)
        assert (record["status"], record["rows_done"], record["total_rows"]) == ("stopped", 20 * len(kept), 3000)
        written = {index: folder.shard_file(index).stat().st_mtime_ns for index in kept}

        status = annotate_text_set(workspace, "twice", run_id=run_id, batch_size=8, shard_rows=500)  # resumes
        assert status["status"] == "finished" and status["rows_done"] == 3000
        assert {index: folder.shard_file(index).stat().st_mtime_ns for index in kept} == written  # not redone
        assert folder.shard_indices() == list(range(150))  # the first preparation's 20 rows a shard are kept
        np.testing.assert_array_equal(shard_energies(folder.path), one_go)
        assert annotation_record(workspace, "twice", run_id)["status"] == "finished"
        events = annotation_progress(workspace, "twice", run_id)
        assert events[-1]["rows_done"] == 3000 and events[-1]["texts_per_second"] > 0


def test_a_second_run_keeps_the_first_runs_annotation(tmp_path, texts_file, tiny_encoder_dir):
    with Workspace(tmp_path / "ws") as workspace:
        first = make_tiny_run(workspace, tiny_encoder_dir, "run-a", seed=0)
        second = make_tiny_run(workspace, tiny_encoder_dir, "run-b", seed=1)
        add_text_set(workspace, "set", [texts_file])
        for run_id in (first, second):
            assert annotate_text_set(workspace, "set", run_id=run_id)["status"] == "finished"
        frame = list_annotations(workspace, "set")
        assert frame[["run_id", "status", "rows_done"]].values.tolist() == [["run-a", "finished", 3000],
                                                                             ["run-b", "finished", 3000]]
        a = shard_energies(annotation_path(workspace, "set", first))
        b = shard_energies(annotation_path(workspace, "set", second))
        assert a.shape == b.shape == (3000, 4) and not np.array_equal(a, b)
        # annotating again with a finished run changes nothing
        before = annotation_path(workspace, "set", first).joinpath("part-00000.parquet").stat().st_mtime_ns
        assert annotate_text_set(workspace, "set", run_id=first)["status"] == "finished"
        assert annotation_path(workspace, "set", first).joinpath("part-00000.parquet").stat().st_mtime_ns == before
        delete_annotation(workspace, "set", first)
        assert list(list_annotations(workspace, "set")["run_id"]) == ["run-b"]
        assert not annotation_path(workspace, "set", first).exists()
        np.testing.assert_array_equal(shard_energies(annotation_path(workspace, "set", second)), b)


def test_only_a_finished_run_with_weights_annotates(tmp_path, texts_file, tiny_encoder_dir):
    with Workspace(tmp_path / "ws") as workspace:
        run_id = make_tiny_run(workspace, tiny_encoder_dir)
        add_text_set(workspace, "set", [texts_file])
        workspace.add_finished_run("r.model1", dataset="tiny", mode="coeqn", encoder="x",
                                   config={"derived_from": run_id}, run_dir=workspace.runs_dir / run_id, metrics={})
        with pytest.raises(ValueError, match="Model 1 of EQN run tiny-run"):
            prepare_annotation(workspace, "set", run_id="r.model1")
        workspace.update_run(run_id, status="running")
        with pytest.raises(ValueError, match="is running; only a finished run can annotate"):
            prepare_annotation(workspace, "set", run_id=run_id)
        with pytest.raises(KeyError, match="No text set named 'other'"):
            prepare_annotation(workspace, "other", run_id=run_id)
        workspace.update_run(run_id, status="finished")
        folder = prepare_annotation(workspace, "set", run_id=run_id)
        folder.write_status({**folder.status(), "status": "running", "pid": os.getpid()})
        with pytest.raises(ValueError, match="right now"):
            prepare_annotation(workspace, "set", run_id=run_id)
        with pytest.raises(ValueError, match="right now"):
            delete_annotation(workspace, "set", run_id)


def test_the_shipped_model_annotates_a_few_texts_from_the_command_line(tmp_path, monkeypatch, capsys):
    from eqn_core.cli.main import main as eqn
    from eqn_core.method.inference import annotate
    from eqn_core.runs.lifecycle import load_run_model
    from eqn_core.store.shipped import shipped_folder

    monkeypatch.setenv("EQN_SHIPPED_MODELS", "1")
    texts = ["Thank you so much, this is wonderful!", "I am terrified of what comes next.",
             "Why would anyone do that? I don't get it."]
    (tmp_path / "notes.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    workspace = str(tmp_path / "ws")
    assert eqn(["-w", workspace, "texts", "add", "notes", str(tmp_path / "notes.txt")]) == 0
    assert eqn(["-w", workspace, "texts", "annotate", "notes", "--quiet"]) == 0  # the shipped goemotions-eqn
    assert "annotated notes with goemotions-eqn: 3 of 3 texts" in capsys.readouterr().err
    with Workspace(workspace) as ws:
        stored = shard_energies(annotation_path(ws, "notes", "goemotions-eqn"))
    model, config, label_names = load_run_model(shipped_folder("goemotions-eqn"), device="cpu")
    np.testing.assert_array_equal(stored, annotate(model, texts, mode=config.mode, cpu_bf16=True))
    assert label_names[int(stored[0].argmax())] in ("gratitude", "admiration")
    assert label_names[int(stored[1].argmax())] == "fear"
