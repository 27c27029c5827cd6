"""Tests for eqn_core.store.workspace: folders and schema, data sets, runs, energies, threshold profiles, run folders."""
import numpy as np
import pandas as pd
import pytest

from conftest import query_value, quoted_dataset
from eqn_core.io.datasets import LabeledDataset
from eqn_core.store.schema import SCHEMA_VERSION
from eqn_core.store.workspace import Workspace


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
        ws.add_dataset(quoted_dataset())
    with Workspace(root) as ws:
        assert ws.schema_version() == SCHEMA_VERSION
        assert query_value(ws, "SELECT count(*) FROM schema_version") == 1  # created once
        assert ws.dataset_names() == ["tiny"]
    with Workspace(root, read_only=True) as ws:
        assert_same_dataset(ws.load_dataset("tiny"), quoted_dataset())


def test_read_only_needs_an_existing_workspace(tmp_path):
    with pytest.raises(FileNotFoundError, match="No EQN Studio workspace"):
        Workspace(tmp_path / "missing", read_only=True)
    assert not (tmp_path / "missing").exists()




# ------------------------------------------------------------------------ data sets
def test_dataset_round_trip_with_quotes_newlines_unicode(workspace):
    workspace.add_dataset(quoted_dataset())
    assert_same_dataset(workspace.load_dataset("tiny"), quoted_dataset())
    only_test = workspace.load_dataset("tiny", splits=["test"])
    assert list(only_test.splits) == ["test"]
    assert workspace.label_names("tiny") == ["joy", "anger", "fear"]
    with pytest.raises(KeyError, match="tiny"):
        workspace.load_dataset("nope")
    with pytest.raises(KeyError, match="dev"):
        workspace.load_dataset("tiny", splits=["dev"])


def test_list_datasets_summary_and_texts(workspace):
    workspace.add_dataset(quoted_dataset())
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
    assert texts["text"].tolist() == quoted_dataset().splits["train"].texts
    assert texts["label_ids"].tolist() == [[0], [1, 2], [0], [2], []]
    assert all(isinstance(label_id, int) for ids in texts["label_ids"] for label_id in ids)
    found = workspace.texts("tiny", "train", search="HÉLLO")
    assert found["row_idx"].tolist() == [2]
    assert workspace.texts("tiny", "train", search="%").empty  # a plain substring, not a LIKE pattern
    assert workspace.texts("tiny", "train", limit=2)["row_idx"].tolist() == [0, 1]


def test_duplicate_dataset_name_refused_with_nothing_changed(workspace):
    workspace.add_dataset(quoted_dataset())
    other = quoted_dataset()
    other.splits["train"].texts[0] = "changed"
    with pytest.raises(ValueError, match="already exists"):
        workspace.add_dataset(other)
    assert_same_dataset(workspace.load_dataset("tiny"), quoted_dataset())
    workspace.add_dataset(other, replace=True)
    assert workspace.load_dataset("tiny").splits["train"].texts[0] == "changed"


def test_invalid_dataset_refused(workspace):
    bad = quoted_dataset()
    bad.splits["test"].human_labels = np.zeros((4, 2), dtype=bool)
    with pytest.raises(ValueError, match="shape"):
        workspace.add_dataset(bad)
    bad = quoted_dataset()
    bad.splits["train"].texts[1] = None
    with pytest.raises(ValueError, match="row 1"):
        workspace.add_dataset(bad)
    assert workspace.dataset_names() == []


def test_failed_add_dataset_midway_leaves_workspace_unchanged(workspace, monkeypatch):
    workspace.add_dataset(quoted_dataset())
    original_insert = Workspace.insert_arrow
    calls = []

    def insert_then_fail_on_second_split(self, con, table, rows):
        calls.append(table)
        if len(calls) == 2:
            raise RuntimeError("simulated crash during the second insert")
        original_insert(self, con, table, rows)

    monkeypatch.setattr(Workspace, "insert_arrow", insert_then_fail_on_second_split)
    replacement = quoted_dataset()
    replacement.splits["train"].texts[0] = "changed"
    with pytest.raises(RuntimeError, match="simulated"):
        workspace.add_dataset(replacement, replace=True)  # deletes, inserts train, fails on test
    calls.clear()
    with pytest.raises(RuntimeError, match="simulated"):
        workspace.add_dataset(quoted_dataset("second"))
    assert workspace.dataset_names() == ["tiny"]
    assert_same_dataset(workspace.load_dataset("tiny"), quoted_dataset())
    assert query_value(workspace, "SELECT count(*) FROM texts") == 9


def test_delete_dataset_refused_while_runs_use_it(run_workspace):
    with pytest.raises(ValueError, match="r1"):
        run_workspace.delete_dataset("tiny")
    with pytest.raises(ValueError, match="r1"):
        run_workspace.add_dataset(quoted_dataset(), replace=True)
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

    ws.add_dataset(quoted_dataset("other"))
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


# ------------------------------------------------------------------------ runs with reviews
def test_delete_run_keeps_reviews_unless_asked(run_workspace):
    run_workspace.record_review(run_id="r1", split="test", row_idx=0, label="joy", decision="reject", reviewer="ana")
    with pytest.raises(ValueError, match="1 review decisions"):
        run_workspace.delete_run("r1")
    assert len(run_workspace.reviews()) == 1
    run_workspace.delete_run("r1", delete_reviews=True)
    assert run_workspace.reviews().empty and run_workspace.list_runs().empty


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

    from eqn_core.store.database import backup_path
    from eqn_core.store.schema import SCHEMA_V1 as SCHEMA

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


def test_a_shipped_model_keeps_its_package_folder_and_follows_a_reinstall(tmp_path, monkeypatch):
    """A shipped model lives in the installed package, outside every workspace: its folder stays absolute and is
    refreshed on open when the package moved; trained runs beside it stay relative."""
    import json as json_module

    from eqn_core.store import shipped

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
