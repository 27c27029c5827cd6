"""Tests for eqn_core.workspace: schema, data sets, runs, energies, threshold profiles, reviews, locking."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eqn_core.data import LabeledDataset, LabeledSplit
from eqn_core.workspace import SCHEMA_VERSION, Workspace, WorkspaceBusyError

from conftest import query_value

REPO_ROOT = Path(__file__).resolve().parents[1]
LABELS = ["joy", "anger", "fear"]
TRAIN_TEXTS = ['She said "hi", then left', "line one\nline two", "héllo 😊 naïve — ünïcode",
               "it's, a comma; test", "plain"]
TEST_TEXTS = ["calm", "'single' and \"double\"\r\nquotes", "nothing at all", "angry and afraid"]


def tiny_dataset(name: str = "tiny") -> LabeledDataset:
    train = LabeledSplit(texts=list(TRAIN_TEXTS),
                         human_labels=np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1], [0, 0, 0]], dtype=bool),
                         text_ids=["t1", "t2", "t3", "t4", "row-5"])
    test = LabeledSplit(texts=list(TEST_TEXTS),
                        human_labels=np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 1, 1]], dtype=bool),
                        text_ids=["a", "b", "c", "d"])
    return LabeledDataset(name=name, label_names=list(LABELS), splits={"train": train, "test": test},
                          multi_label=True, source="/data/tiny")


@pytest.fixture
def workspace(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        yield ws


@pytest.fixture
def run_workspace(workspace):
    workspace.add_dataset(tiny_dataset())
    workspace.create_run("r1", dataset="tiny", mode="eqn", encoder="minilm", config={"lr": 1e-3, "epochs": 2},
                         run_dir=workspace.runs_dir / "r1")
    return workspace


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          env=env, timeout=60)


def assert_same_dataset(loaded: LabeledDataset, expected: LabeledDataset) -> None:
    assert loaded.name == expected.name
    assert loaded.label_names == expected.label_names
    assert loaded.multi_label == expected.multi_label and loaded.source == expected.source
    assert list(loaded.splits) == list(expected.splits)
    for split_name, split in expected.splits.items():
        assert loaded.splits[split_name].texts == split.texts
        assert loaded.splits[split_name].text_ids == split.text_ids
        assert loaded.splits[split_name].human_labels.dtype == bool
        np.testing.assert_array_equal(loaded.splits[split_name].human_labels, split.human_labels)


# ------------------------------------------------------------------------ schema
def test_new_workspace_has_folders_and_schema_and_reopen_keeps_data(tmp_path):
    root = tmp_path / "ws"
    with Workspace(root) as ws:
        for folder in (ws.runs_dir, ws.cache_dir / "embeddings", ws.cache_dir / "downloads", ws.exports_dir):
            assert folder.is_dir()
        assert ws.db_path == root.resolve() / "eqn.duckdb" and ws.db_path.is_file()
        ws.add_dataset(tiny_dataset())
    with Workspace(root) as ws:
        assert ws.schema_version() == SCHEMA_VERSION
        assert query_value(ws, "SELECT count(*) FROM schema_version") == 1  # created once
        assert ws.dataset_names() == ["tiny"]
    with Workspace(root, read_only=True) as ws:
        assert_same_dataset(ws.load_dataset("tiny"), tiny_dataset())


def test_read_only_needs_an_existing_workspace(tmp_path):
    with pytest.raises(FileNotFoundError, match="No EQN Studio workspace"):
        Workspace(tmp_path / "missing", read_only=True)
    assert not (tmp_path / "missing").exists()


def test_closed_workspace_says_so(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.close()
    with pytest.raises(RuntimeError, match="closed"):
        ws.dataset_names()


# ------------------------------------------------------------------------ data sets
def test_dataset_round_trip_with_quotes_newlines_unicode(workspace):
    workspace.add_dataset(tiny_dataset())
    assert_same_dataset(workspace.load_dataset("tiny"), tiny_dataset())
    only_test = workspace.load_dataset("tiny", splits=["test"])
    assert list(only_test.splits) == ["test"]
    assert workspace.label_names("tiny") == LABELS
    with pytest.raises(KeyError, match="tiny"):
        workspace.load_dataset("nope")
    with pytest.raises(KeyError, match="dev"):
        workspace.load_dataset("tiny", splits=["dev"])


def test_list_datasets_summary_and_texts(workspace):
    workspace.add_dataset(tiny_dataset())
    listing = workspace.list_datasets()
    row = listing.iloc[0]
    assert (row["name"], row["num_labels"], bool(row["multi_label"]), row["source"]) == ("tiny", 3, True, "/data/tiny")
    assert (row["train_rows"], row["dev_rows"], row["test_rows"], row["total_rows"]) == (5, 0, 4, 9)

    summary = workspace.dataset_summary("tiny")
    assert summary["rows"] == {"train": 5, "test": 4}
    assert summary["label_counts"]["train"] == {"joy": 2, "anger": 1, "fear": 2}
    assert summary["label_counts"]["test"] == {"joy": 1, "anger": 2, "fear": 1}
    assert summary["labels_per_text"]["train"] == {0: 1, 1: 3, 2: 1}

    texts = workspace.texts("tiny", "train")
    assert list(texts.columns) == ["row_idx", "text_id", "text", "label_ids"]
    assert texts["text"].tolist() == TRAIN_TEXTS
    assert texts["label_ids"].tolist() == [[0], [1, 2], [0], [2], []]
    assert all(isinstance(label_id, int) for ids in texts["label_ids"] for label_id in ids)
    found = workspace.texts("tiny", "train", search="HÉLLO")
    assert found["row_idx"].tolist() == [2]
    assert workspace.texts("tiny", "train", search="%").empty  # a plain substring, not a LIKE pattern
    assert workspace.texts("tiny", "train", limit=2)["row_idx"].tolist() == [0, 1]


def test_duplicate_dataset_name_refused_with_nothing_changed(workspace):
    workspace.add_dataset(tiny_dataset())
    other = tiny_dataset()
    other.splits["train"].texts[0] = "changed"
    with pytest.raises(ValueError, match="already exists"):
        workspace.add_dataset(other)
    assert_same_dataset(workspace.load_dataset("tiny"), tiny_dataset())
    workspace.add_dataset(other, replace=True)
    assert workspace.load_dataset("tiny").splits["train"].texts[0] == "changed"


def test_invalid_dataset_refused(workspace):
    bad = tiny_dataset()
    bad.splits["test"].human_labels = np.zeros((4, 2), dtype=bool)
    with pytest.raises(ValueError, match="shape"):
        workspace.add_dataset(bad)
    bad = tiny_dataset()
    bad.splits["train"].texts[1] = None
    with pytest.raises(ValueError, match="row 1"):
        workspace.add_dataset(bad)
    assert workspace.dataset_names() == []


def test_failed_add_dataset_midway_leaves_workspace_unchanged(workspace, monkeypatch):
    workspace.add_dataset(tiny_dataset())
    original_insert = Workspace.insert_arrow
    calls = []

    def insert_then_fail_on_second_split(self, con, table, rows):
        calls.append(table)
        if len(calls) == 2:
            raise RuntimeError("simulated crash during the second insert")
        original_insert(self, con, table, rows)

    monkeypatch.setattr(Workspace, "insert_arrow", insert_then_fail_on_second_split)
    replacement = tiny_dataset()
    replacement.splits["train"].texts[0] = "changed"
    with pytest.raises(RuntimeError, match="simulated"):
        workspace.add_dataset(replacement, replace=True)  # deletes, inserts train, fails on test
    calls.clear()
    with pytest.raises(RuntimeError, match="simulated"):
        workspace.add_dataset(tiny_dataset("second"))
    assert workspace.dataset_names() == ["tiny"]
    assert_same_dataset(workspace.load_dataset("tiny"), tiny_dataset())
    assert query_value(workspace, "SELECT count(*) FROM texts") == 9


def test_delete_dataset_refused_while_runs_use_it(run_workspace):
    with pytest.raises(ValueError, match="r1"):
        run_workspace.delete_dataset("tiny")
    with pytest.raises(ValueError, match="r1"):
        run_workspace.add_dataset(tiny_dataset(), replace=True)
    run_workspace.delete_run("r1")
    run_workspace.delete_dataset("tiny")
    assert run_workspace.dataset_names() == []
    assert query_value(run_workspace, "SELECT count(*) FROM texts") == 0


# ------------------------------------------------------------------------ runs
def test_run_create_update_get_list_delete(run_workspace):
    ws = run_workspace
    run = ws.get_run("r1")
    assert run["status"] == "queued" and run["config"] == {"lr": 1e-3, "epochs": 2} and run["metrics"] is None
    assert run["dataset"] == "tiny" and run["encoder"] == "minilm" and run["mode"] == "eqn"
    assert run["run_dir"] == str(ws.runs_dir / "r1")
    with pytest.raises(ValueError, match="already exists"):
        ws.create_run("r1", dataset="tiny", mode="eqn", encoder="minilm", config={}, run_dir="x")
    with pytest.raises(KeyError, match="nope"):
        ws.create_run("r2", dataset="nope", mode="eqn", encoder="minilm", config={}, run_dir="x")

    ws.update_run("r1", status="running", started_at="2024-05-01T10:00:00+00:00")
    ws.update_run("r1", status="finished", finished_at="2024-05-01T10:05:00", best_epoch=np.int64(3),
                  metrics={"macro_f1": np.float32(0.5), "per_label": np.array([0.25, 0.5]), "undefined": float("nan")})
    run = ws.get_run("r1")
    assert run["status"] == "finished" and run["best_epoch"] == 3 and run["error"] is None
    assert run["metrics"] == {"macro_f1": 0.5, "per_label": [0.25, 0.5], "undefined": None}
    assert run["started_at"] == pd.Timestamp("2024-05-01 10:00:00")
    assert run["finished_at"] - run["started_at"] == pd.Timedelta(minutes=5)
    with pytest.raises(ValueError, match="status"):
        ws.update_run("r1", status="done")
    with pytest.raises(KeyError, match="ghost"):
        ws.update_run("ghost", status="failed")

    ws.add_dataset(tiny_dataset("other"))
    ws.create_run("r2", dataset="other", mode="bce", encoder="cnn", config={}, run_dir="x")
    ws.update_run("r2", status="failed", error="CUDA out of memory")
    assert set(ws.list_runs()["run_id"]) == {"r1", "r2"}
    runs = ws.list_runs(dataset="other")
    assert runs["run_id"].tolist() == ["r2"] and runs["error"].tolist() == ["CUDA out of memory"]
    assert runs["config"].tolist() == [{}]

    ws.store_energies("r2", "test", np.ones((4, 3), dtype=np.float32))
    ws.delete_run("r2")
    assert query_value(ws, "SELECT count(*) FROM energies WHERE run_id = 'r2'") == 0
    with pytest.raises(KeyError):
        ws.get_run("r2")


# ------------------------------------------------------------------------ energies
def test_energies_round_trip_exact_float32(run_workspace):
    rng = np.random.default_rng(0)
    energies = (rng.random((4, 3)) * 10).astype(np.float32)
    run_workspace.store_energies("r1", "test", energies)
    loaded = run_workspace.load_energies("r1", "test")
    assert loaded.dtype == np.float32 and loaded.shape == (4, 3) and loaded.flags.c_contiguous
    np.testing.assert_array_equal(loaded, energies)
    replacement = np.arange(12, dtype=np.float64).reshape(4, 3) * 0.75  # float64 is stored as float32
    run_workspace.store_energies("r1", "test", replacement)
    np.testing.assert_array_equal(run_workspace.load_energies("r1", "test"), replacement.astype(np.float32))
    run_workspace.store_energies("r1", "train", np.zeros((5, 3), dtype=np.float32))
    assert run_workspace.energy_splits("r1") == ["train", "test"]
    # rows that come back from storage out of order are still returned in the split's row order
    with run_workspace.connection() as con:
        con.execute("CREATE TEMP TABLE reversed AS SELECT * FROM energies WHERE split = 'test' ORDER BY row_idx DESC")
        con.execute("DELETE FROM energies WHERE split = 'test'")
        con.execute("INSERT INTO energies SELECT * FROM reversed")
    np.testing.assert_array_equal(run_workspace.load_energies("r1", "test"), replacement.astype(np.float32))
    with pytest.raises(KeyError, match="test"):
        run_workspace.load_energies("r1", "dev")


def test_wrong_energies_refused_with_nothing_stored(run_workspace):
    good = np.full((4, 3), 1.0, dtype=np.float32)
    run_workspace.store_energies("r1", "test", good)
    with pytest.raises(ValueError, match=r"\(5, 3\).*4 rows and 3 labels.*\(4, 3\)"):
        run_workspace.store_energies("r1", "test", np.zeros((5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        run_workspace.store_energies("r1", "train", np.zeros((5, 2), dtype=np.float32))
    out_of_range = good.copy()
    out_of_range[2, 1] = 10.5
    with pytest.raises(ValueError, match="row 2, label 'anger'"):
        run_workspace.store_energies("r1", "test", out_of_range)
    with pytest.raises(KeyError, match="dev"):
        run_workspace.store_energies("r1", "dev", good)
    np.testing.assert_array_equal(run_workspace.load_energies("r1", "test"), good)
    assert run_workspace.energy_splits("r1") == ["test"]


def test_failed_energy_replacement_keeps_earlier_energies(run_workspace, monkeypatch):
    good = np.full((4, 3), 1.0, dtype=np.float32)
    run_workspace.store_energies("r1", "test", good)

    def failing_insert(self, con, table, rows):
        raise RuntimeError("simulated crash after the DELETE")

    monkeypatch.setattr(Workspace, "insert_arrow", failing_insert)
    with pytest.raises(RuntimeError, match="simulated"):
        run_workspace.store_energies("r1", "test", np.zeros((4, 3), dtype=np.float32))
    np.testing.assert_array_equal(run_workspace.load_energies("r1", "test"), good)


# ------------------------------------------------------------------------ threshold profiles
def test_threshold_profiles_upsert(run_workspace):
    ws = run_workspace
    ws.save_threshold_profile("strict", run_id="r1", thresholds=np.array([5.0, 6.0, 7.0]), note="first")
    ws.save_threshold_profile("loose", run_id="r1", thresholds=np.array([1.0, 1.0, 1.0]), global_threshold=1.0)
    first = ws.load_threshold_profile("strict")
    ws.save_threshold_profile("strict", run_id="r1", thresholds=np.array([5.5, 6.5, 7.5]), note="second")
    profile = ws.load_threshold_profile("strict")
    np.testing.assert_array_equal(profile["thresholds"], [5.5, 6.5, 7.5])
    assert profile["note"] == "second" and profile["global_threshold"] is None and profile["run_id"] == "r1"
    assert profile["created_at"] == first["created_at"]
    assert ws.load_threshold_profile("loose")["global_threshold"] == 1.0
    listing = ws.list_threshold_profiles(run_id="r1")
    assert listing["name"].tolist() == ["loose", "strict"]
    assert ws.list_threshold_profiles(run_id="other").empty
    with pytest.raises(ValueError, match="one per label"):
        ws.save_threshold_profile("bad", run_id="r1", thresholds=np.array([1.0, 2.0]))
    with pytest.raises(KeyError, match="missing"):
        ws.load_threshold_profile("missing")


# ------------------------------------------------------------------------ reviews
def test_reviews_record_supersede_and_latest_only(run_workspace):
    ws = run_workspace
    first = ws.record_review(run_id="r1", split="test", row_idx=1, label="fear", decision="accept", reviewer="ana",
                             energy=4.2)
    ws.record_review(run_id="r1", split="test", row_idx=1, label="fear", decision="reject", reviewer="ben")
    last = ws.record_review(run_id="r1", split="test", row_idx=1, label="fear", decision="set", reviewer="ana",
                            energy=6.0, note="clearly some fear")
    ws.record_review(run_id="r1", split="train", row_idx=0, label="joy", decision="accept", reviewer="ana")
    assert last > first

    latest = ws.reviews(run_id="r1", split="test")
    assert list(latest.columns) == ["id", "run_id", "dataset", "split", "row_idx", "text_id", "label", "decision",
                                    "energy", "note", "reviewer", "decided_at"]
    assert latest[["reviewer", "decision"]].values.tolist() == [["ben", "reject"], ["ana", "set"]]
    ana = latest[latest["reviewer"] == "ana"].iloc[0]
    assert (ana["id"], ana["energy"], ana["note"], ana["text_id"], ana["dataset"]) == (
        last, 6.0, "clearly some fear", "b", "tiny")
    history = ws.reviews(run_id="r1", split="test", reviewer="ana", latest_only=False)
    assert history["decision"].tolist() == ["accept", "set"]
    assert len(ws.reviews()) == 3 and len(ws.reviews(latest_only=False)) == 4
    assert ws.reviewers(run_id="r1") == ["ana", "ben"]


@pytest.mark.parametrize("change, message", [
    ({"decision": "maybe"}, "decision"),
    ({"decision": "set", "energy": None}, "needs the new energy"),
    ({"decision": "set", "energy": 10.5}, r"\[0, 10\]"),
    ({"label": "disgust"}, "Unknown label"),
    ({"row_idx": 4}, "outside split"),
    ({"reviewer": "  "}, "reviewer"),
])
def test_invalid_reviews_refused(run_workspace, change, message):
    review = {"run_id": "r1", "split": "test", "row_idx": 0, "label": "joy", "decision": "accept", "reviewer": "ana",
              **change}
    with pytest.raises(ValueError, match=message):
        run_workspace.record_review(**review)
    assert run_workspace.reviews(latest_only=False).empty


def test_record_reviews_stores_all_or_none(run_workspace):
    decisions = [{"run_id": "r1", "split": "test", "row_idx": row_idx, "label": "fear", "decision": "accept",
                  "reviewer": "ana", "energy": 5.0, "note": "bulk accept"} for row_idx in range(4)]
    with pytest.raises(ValueError, match="outside split"):
        run_workspace.record_reviews([*decisions, {**decisions[0], "row_idx": 9}])
    assert run_workspace.reviews(latest_only=False).empty
    ids = run_workspace.record_reviews(decisions)
    assert ids == sorted(ids) and len(set(ids)) == 4
    stored = run_workspace.reviews(run_id="r1")
    assert stored["text_id"].tolist() == ["a", "b", "c", "d"] and set(stored["note"]) == {"bulk accept"}
    assert stored["id"].tolist() == ids
    # within one batch, list order decides which decision is the latest
    run_workspace.record_reviews([{**decisions[0], "decision": "set", "energy": 2.0},
                                  {**decisions[0], "decision": "reject"}])
    assert run_workspace.reviews(run_id="r1")["decision"].tolist() == ["accept", "accept", "accept", "reject"]


def test_delete_run_keeps_reviews_unless_asked(run_workspace):
    run_workspace.record_review(run_id="r1", split="test", row_idx=0, label="joy", decision="reject", reviewer="ana")
    with pytest.raises(ValueError, match="1 review decisions"):
        run_workspace.delete_run("r1")
    assert len(run_workspace.reviews()) == 1
    run_workspace.delete_run("r1", delete_reviews=True)
    assert run_workspace.reviews().empty and run_workspace.list_runs().empty


def test_reviews_survive_close_and_a_crashed_process(run_workspace):
    root = run_workspace.root
    run_workspace.record_review(run_id="r1", split="test", row_idx=2, label="anger", decision="set", energy=3.0,
                                reviewer="ana")
    run_workspace.close()
    crashed = run_python("""
        import os, sys
        from eqn_core.workspace import Workspace
        ws = Workspace(sys.argv[1])
        ws.record_review(run_id="r1", split="test", row_idx=3, label="joy", decision="accept", reviewer="ben")
        os._exit(0)  # no close(), no cleanup: a crash right after the decision
    """, str(root))
    assert crashed.returncode == 0, crashed.stderr
    with Workspace(root) as reopened:
        reviews = reopened.reviews(run_id="r1")
        assert reviews[["reviewer", "row_idx", "label", "decision"]].values.tolist() == [
            ["ana", 2, "anger", "set"], ["ben", 3, "joy", "accept"]]


# ------------------------------------------------------------------------ several processes, one file
def test_second_process_uses_the_workspace_while_the_first_keeps_it(workspace):
    workspace.add_dataset(tiny_dataset())
    other = run_python("""
        import sys
        from eqn_core.workspace import Workspace
        ws = Workspace(sys.argv[1])
        ws.add_dataset(ws.load_dataset("tiny").__class__(**{**ws.load_dataset("tiny").__dict__, "name": "second"}))
        print(ws.dataset_names())
    """, str(workspace.root))
    assert other.returncode == 0, other.stderr
    assert "second" in other.stdout
    assert workspace.dataset_names() == ["second", "tiny"]  # the first sees the second's write at once


def test_a_held_connection_makes_others_wait_then_says_busy(workspace):
    with workspace.connection():  # a long operation in this process
        other = run_python("""
            import sys
            from eqn_core.workspace import Workspace, WorkspaceBusyError
            try:
                Workspace(sys.argv[1], read_only=sys.argv[2] == "1", lock_wait=0.3)
            except WorkspaceBusyError as error:
                print(error)
                sys.exit(3)
        """, str(workspace.root), "0")
    assert other.returncode == 3, other.stderr
    assert str(workspace.db_path) in other.stdout and "busy" in other.stdout
    assert issubclass(WorkspaceBusyError, RuntimeError)
    workspace.add_dataset(tiny_dataset())  # the holder is unaffected


# ------------------------------------------------------------------------ run folders relative to the workspace
def test_run_folders_are_stored_relative_so_a_copied_workspace_uses_its_own(run_workspace, tmp_path):
    import shutil

    ws = run_workspace
    assert query_value(ws, "SELECT run_dir FROM runs WHERE run_id = 'r1'") == "runs/r1"
    assert ws.get_run("r1")["run_dir"] == str(ws.root / "runs" / "r1")
    ws.create_run("outside", dataset="tiny", mode="eqn", encoder="m", config={}, run_dir=tmp_path / "elsewhere")
    assert ws.get_run("outside")["run_dir"] == str(tmp_path / "elsewhere")  # outside the folder: kept absolute
    ws.close()
    copy = tmp_path / "copy"
    shutil.copytree(ws.root, copy)
    with Workspace(copy) as copied:
        assert copied.get_run("r1")["run_dir"] == str(copy.resolve() / "runs" / "r1")
        assert copied.list_runs().set_index("run_id").loc["r1", "run_dir"] == str(copy.resolve() / "runs" / "r1")


def test_version_1_workspace_migrates_absolute_run_folders_and_keeps_a_backup(tmp_path):
    import duckdb

    from eqn_core.schema import SCHEMA_V1 as SCHEMA
    from eqn_core.workspace import backup_path

    root = tmp_path / "old"
    root.mkdir()
    con = duckdb.connect(str(root / "eqn.duckdb"))  # a workspace as version 1 wrote it, then moved elsewhere
    for statement in SCHEMA:
        con.execute(statement)
    con.execute("INSERT INTO schema_version VALUES (1, now())")
    for run_id, run_dir, config in (("r1", "/somewhere/original/runs/r1", "{}"),
                                    ("r1.model1", "/somewhere/original/runs/r1/", "{}"),
                                    ("shipped-one", "/site-packages/eqn_core/assets/shipped-one", '{"shipped": true}')):
        con.execute("INSERT INTO runs (run_id, dataset, mode, encoder, status, config, run_dir, created_at) "
                    "VALUES (?, 'tiny', 'eqn', 'm', 'finished', ?, ?, now())", [run_id, config, run_dir])
    con.close()
    with Workspace(root) as ws:
        assert ws.schema_version() == SCHEMA_VERSION
        assert ws.get_run("r1")["run_dir"] == str(root.resolve() / "runs" / "r1")
        assert ws.get_run("r1.model1")["run_dir"] == str(root.resolve() / "runs" / "r1")
        assert ws.get_run("shipped-one")["run_dir"] == "/site-packages/eqn_core/assets/shipped-one"
    assert backup_path(root / "eqn.duckdb", 1).is_file()


# ------------------------------------------------------------------------ a damaged database file
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_database_says_which_file_and_what_to_do(run_workspace, damage):
    from eqn_core.workspace import WorkspaceDamagedError

    run_workspace.close()
    db = run_workspace.db_path
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"not a database at all" * 100)
    with pytest.raises(WorkspaceDamagedError) as error:
        Workspace(run_workspace.root).load_dataset("tiny")  # damage may show at the open or at the first read
    message = str(error.value)
    assert str(db) in message and "damaged" in message and "backup" in message
    cli = subprocess.run([sys.executable, "-m", "eqn_core.cli", "-w", str(run_workspace.root), "train",
                          "--dataset", "tiny"],
                         capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "damaged" in cli.stderr and str(db) in cli.stderr


# ------------------------------------------------------------------------ a killed process loses nothing confirmed
def test_killing_a_process_mid_review_loses_no_confirmed_decision(run_workspace):
    """A process that records decisions as the Review page does is killed (SIGKILL) while writing: every decision
    it confirmed (record_review returned) is in the workspace afterwards, and the workspace opens cleanly."""
    import signal
    import time

    run_workspace.store_energies("r1", "test", np.ones((4, 3), dtype=np.float32))
    code = textwrap.dedent("""
        import sys
        from eqn_core.workspace import Workspace
        ws = Workspace(sys.argv[1])
        for i in range(100000):
            review_id = ws.record_review(run_id="r1", split="test", row_idx=i % 4, label="joy", decision="accept",
                                         reviewer=f"r{i}")
            print(review_id, flush=True)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    writer = subprocess.Popen([sys.executable, "-c", code, str(run_workspace.root)], stdout=subprocess.PIPE,
                              text=True, env=env)
    confirmed = []
    deadline = time.monotonic() + 60
    while len(confirmed) < 30 and time.monotonic() < deadline:
        confirmed.append(int(writer.stdout.readline()))
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    stored = set(run_workspace.reviews(run_id="r1", latest_only=False)["id"])
    assert len(confirmed) == 30 and set(confirmed) <= stored
    run_workspace.record_review(run_id="r1", split="test", row_idx=0, label="joy", decision="reject", reviewer="z")


def test_a_shipped_model_keeps_its_package_folder_and_follows_a_reinstall(tmp_path, monkeypatch):
    """A shipped model lives in the installed package, outside every workspace: its folder stays absolute and is
    refreshed on open when the package moved; trained runs beside it stay relative."""
    import json as json_module

    from eqn_core import shipped

    monkeypatch.setenv("EQN_SHIPPED_MODELS", "1")

    def package_at(folder):
        run = folder / "goemotions-eqn"
        run.mkdir(parents=True)
        (run / "model.safetensors").write_bytes(b"weights")
        (run / "config.json").write_text(json_module.dumps({"mode": "eqn", "encoder": "m"}))
        (run / "metrics.json").write_text("{}")
        (run / "shipped.json").write_text(json_module.dumps({"dataset": "goemotions", "fingerprints": {}}))
        monkeypatch.setattr(shipped, "ASSETS_DIR", folder)
        return run

    first = package_at(tmp_path / "site-a" / "assets")
    with Workspace(tmp_path / "ws") as ws:
        assert ws.get_run("goemotions-eqn")["run_dir"] == str(first)
        assert query_value(ws, "SELECT run_dir FROM runs WHERE run_id = 'goemotions-eqn'") == str(first)
    second = package_at(tmp_path / "site-b" / "assets")
    with Workspace(tmp_path / "ws") as ws:
        assert ws.get_run("goemotions-eqn")["run_dir"] == str(second)
