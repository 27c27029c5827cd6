"""Annotation on Ray Data (a local Ray with 2 CPUs): energies equal the single-process path, shards are
resumable and each file says which run and model wrote it."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eqn_core.cli.main import main as eqn
from eqn_core.method.config import TrainConfig
from eqn_core.runs.lifecycle import ingest_run, prepare_run
from eqn_core.runs.process import execute_run
from eqn_core.scale.corpus import add_corpus, export_corpus
from eqn_core.scale.ray_annotate import annotate_corpus
from eqn_core.scale.shards import list_inputs, read_provenance, written_shards
from eqn_core.store.workspace import Workspace

ray = pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[2]

WORDS = "happy furious scared table wonderful angry afraid chair today I felt and number so very much".split()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the whole module (starting one takes seconds)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def trained_workspace(tmp_path_factory, tiny_encoder_dir):
    from conftest import make_dataset

    root = tmp_path_factory.mktemp("ray-ws") / "ws"
    with Workspace(root) as workspace:
        workspace.add_dataset(make_dataset())
        config = TrainConfig(dataset="tiny", mode="coeqn", encoder=tiny_encoder_dir, encoder_mode="finetune",
                             epochs=1, batch_size=16, device="cpu")
        folder = prepare_run(workspace, config, run_id="r1")
        assert execute_run(folder.path, cache_dir=workspace.cache_dir)["status"] == "finished"
        ingest_run(workspace, "r1")
    return root


@pytest.fixture(scope="module")
def corpus_folder(tmp_path_factory):
    """40 texts of many lengths in a CSV, a JSONL, a Parquet and a TSV file (one in a subfolder)."""
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(WORDS, size=int(n))) for n in rng.integers(1, 60, size=40)]
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "more").mkdir()
    frame = pd.DataFrame({"id": [f"t{i}" for i in range(40)], "text": texts})
    frame.iloc[:12].to_csv(folder / "a.csv", index=False)
    frame.iloc[12:22].to_json(folder / "b.jsonl", orient="records", lines=True)
    frame.iloc[22:31].to_parquet(folder / "c.parquet", index=False)
    frame.iloc[31:].to_csv(folder / "more" / "d.tsv", sep="\t", index=False)
    return folder


def read_shards(output) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(path) for path in sorted(output.glob("part-*.parquet"))], ignore_index=True)


def test_list_inputs_takes_a_file_a_folder_or_a_glob(corpus_folder):
    assert list_inputs(str(corpus_folder / "a.csv")) == [str(corpus_folder / "a.csv")]
    assert [os.path.basename(p) for p in list_inputs(str(corpus_folder))] == ["a.csv", "b.jsonl", "c.parquet", "d.tsv"]
    assert [os.path.basename(p) for p in list_inputs(str(corpus_folder / "**" / "*.?sv"))] == ["a.csv", "d.tsv"]
    assert [os.path.basename(p) for p in list_inputs(f"file://{corpus_folder}/*.parquet")] == ["c.parquet"]
    with pytest.raises(ValueError, match="No CSV/TSV/Parquet/JSONL/TXT file matches"):
        list_inputs(str(corpus_folder / "*.xlsx"))


def test_ray_energies_equal_single_process_annotate(local_ray, trained_workspace, corpus_folder, tmp_path, capsys):
    ws = str(trained_workspace)
    output = tmp_path / "shards"
    assert eqn(["-w", ws, "annotate", "--engine", "ray", "--run", "r1", str(corpus_folder), "-o", str(output),
                "--workers", "2", "--shard-rows", "4", "--fp32"]) == 0
    assert "wrote 12 shards (40 texts" in capsys.readouterr().err  # 3 + 3 + 3 + 3 shards of at most 4 texts
    shards = read_shards(output)
    assert len(shards) == 40
    label_names = ["joy", "anger", "fear", "neutral"]
    for path in list_inputs(str(corpus_folder)):
        local = tmp_path / f"{os.path.basename(path)}.parquet"
        assert eqn(["-w", ws, "annotate", "--run", "r1", path, "-o", str(local), "--fp32"]) == 0
        expected = pd.read_parquet(local).set_index("text_id")
        got = shards[shards["source"] == path].set_index("text_id").loc[expected.index]
        assert got["text"].tolist() == expected["text"].tolist()
        assert got["source_row"].tolist() == list(range(len(expected)))
        difference = np.abs(got[label_names].to_numpy(np.float64) - expected[label_names].to_numpy(np.float64))
        assert difference.max() <= 1e-4  # the local output is rounded to 4 decimals; fp32 energies agree below that


def test_each_shard_names_its_run_and_model_and_a_rerun_skips_written_shards(local_ray, trained_workspace,
                                                                             corpus_folder, tmp_path):
    with Workspace(trained_workspace) as workspace:
        run = workspace.get_run("r1")
    output = tmp_path / "shards"
    first = annotate_corpus(run["run_dir"], str(corpus_folder / "*.*"), str(output), run_id="r1", workers=2,
                            shard_rows=5, fp32=True, show_progress=False)
    assert (first.shards_written, first.rows_written, first.shards_skipped) == (7, 31, 0)  # 12 + 10 + 9 texts: 3 + 2 + 2 shards
    assert first.workers_used == 2  # the shards of one file are spread over both actors
    files = sorted(output.glob("part-*.parquet"))
    assert len(files) == 7 and written_shards(str(output)) == {f.name[5:-8] for f in files}
    for path in files:
        provenance = read_provenance(str(path))
        frame = pd.read_parquet(path)
        assert provenance["run_id"] == "r1" and set(frame["run_id"]) == {"r1"}
        assert provenance["model"].startswith("coeqn ") and set(frame["model"]) == {provenance["model"]}
        assert provenance["label_names"] == ["joy", "anger", "fear", "neutral"]
        assert provenance["rows"] == len(frame) and set(frame["source"]) == {provenance["source"]}

    files[2].unlink()  # a crash lost one shard
    times = {f: f.stat().st_mtime_ns for f in files if f.exists()}
    again = annotate_corpus(run["run_dir"], str(corpus_folder / "*.*"), str(output), run_id="r1", workers=2,
                            shard_rows=5, fp32=True, show_progress=False)
    assert (again.shards_written, again.shards_skipped) == (1, 6)
    assert all(f.stat().st_mtime_ns == t for f, t in times.items())  # the others were not rewritten
    assert len(read_shards(output)) == 31

    with Workspace(trained_workspace) as workspace:  # the shards as an external annotation set, exported in place
        info = add_corpus(workspace, "tiny-shards", str(output / "*.parquet"))
        assert (info["rows"], info["label_names"], info["runs"]) == (31, ["joy", "anger", "fear", "neutral"], {"r1": 31})
        assert export_corpus(workspace, "tiny-shards", tmp_path / "all.csv")["rows"] == 31

    with pytest.raises(ValueError, match="shard_rows = 5, not 7"):
        annotate_corpus(run["run_dir"], str(corpus_folder / "*.*"), str(output), run_id="r1", shard_rows=7,
                        show_progress=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.cluster
@pytest.mark.skipif(os.environ.get("EQN_TEST_RAY_CLUSTER") != "1",
                    reason="starts a Ray head (1-2 min on 2 busy cores); run with EQN_TEST_RAY_CLUSTER=1")
def test_annotate_joins_a_head_started_with_ray_start(trained_workspace, corpus_folder, tmp_path):
    """`ray start --head` in one process, `eqn annotate --engine ray --address 127.0.0.1:PORT` in another, as a user
    joins a cluster. The machine has a Ray token, so the head turns token authentication on (Ray >= 2.52); the
    driver used to send none and failed with ConnectionError. It took 73 s to fail that way and 121 s to pass, at
    load average 21 on 2 cores: too slow for the default run."""
    port = free_port()
    token = tmp_path / "ray_token"
    token.write_text(uuid.uuid4().hex + uuid.uuid4().hex)  # this test's own token, ~/.ray is left alone
    env = {key: value for key, value in os.environ.items() if key not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN",
                                                                          "RAY_ADDRESS")}
    env.update(RAY_AUTH_TOKEN_PATH=str(token), TOKENIZERS_PARALLELISM="false")
    ray_temp = tempfile.mkdtemp(prefix="eqnray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
                             f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                             f"--temp-dir={ray_temp}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert head.poll() is None, head.stderr.read().decode()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Ray head did not open its port in 120 s"
                time.sleep(1)
        output = tmp_path / "shards"
        joined = subprocess.run([sys.executable, "-m", "eqn_core.cli", "-w", str(trained_workspace), "annotate",
                                 "--engine", "ray", "--address", f"127.0.0.1:{port}", "--run", "r1",
                                 str(corpus_folder / "a.csv"), "-o", str(output), "--workers", "1", "--shard-rows",
                                 "6", "--fp32"], cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
        assert joined.returncode == 0, joined.stderr[-3000:]
        assert "wrote 2 shards (12 texts" in joined.stderr
        shards = read_shards(output)
        assert shards["text_id"].tolist() == [f"t{i}" for i in range(12)] and set(shards["run_id"]) == {"r1"}
    finally:
        head.terminate()  # `ray start --block` stops the head's processes on SIGTERM
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        shutil.rmtree(ray_temp, ignore_errors=True)
