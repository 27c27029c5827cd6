"""A bad-input corpus: each hostile but fair input is refused with a message that names the file (and the row and
column where there is one), and the workspace's tables stay byte-for-byte what they were."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import make_dataset, table_dump
from eqn_core.cli.main import main
from eqn_core.store.workspace import Workspace

LABELS = "joy,anger,fear,neutral".split(",")


def csv_rows(*rows: str) -> str:
    return "text,labels\n" + "\n".join(rows) + "\n"


GOOD_TRAIN = csv_rows(*[f"fine text {i},{i % 4}" for i in range(12)])


def write_parquet(path: Path, columns: dict) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


@pytest.fixture
def workspace(tmp_path):
    """A workspace with a data set, a finished run with energies, a threshold profile and a review decision."""
    root = tmp_path / "ws"
    with Workspace(root) as ws:
        ws.add_dataset(make_dataset())
        (ws.runs_dir / "r1").mkdir()
        (ws.runs_dir / "r1" / "model.safetensors").write_bytes(b"weights")
        ws.create_run("r1", dataset="tiny", mode="eqn", encoder="m", config={}, run_dir=ws.runs_dir / "r1")
        ws.store_energies("r1", "test", np.full((16, 4), 5.0, dtype=np.float32))
        ws.update_run("r1", status="finished", metrics={"thresholds": [5.0] * 4})
        ws.save_threshold_profile("strict", run_id="r1", thresholds=np.full(4, 6.0))
        ws.record_review(run_id="r1", split="test", row_idx=0, label="joy", decision="accept", reviewer="ana")
    return root


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith("eqn.duckdb")}


# (case id, files to write {name: text or callable(path)}, CLI arguments (with {dir} = the files' folder),
#  words the one-line message must hold)
CASES = [
    # item 5: labels that should not be accepted
    ("negative-label-id", {"train.csv": csv_rows("a,0", "b,-1", "c,1")}, ["add", "bad", "--train", "{dir}/train.csv"],
     ["train.csv", "row 2", "column 'labels'", "negative"]),
    ("label-id-out-of-range", {"train.csv": csv_rows("a,0", "b,1", "c,99", "d,2")},
     ["add", "bad", "--train", "{dir}/train.csv"], ["train.csv", "row 3", "column 'labels'", "99"]),
    ("semicolon-separator", {"train.csv": csv_rows("a,0", "b,1;2")}, ["add", "bad", "--train", "{dir}/train.csv"],
     ["train.csv", "row 2", "column 'labels'", "separator looks wrong"]),
    ("parquet-struct-labels", {"train.parquet": lambda p: write_parquet(p, {
        "text": ["a", "b"], "labels": [{"id": 1, "name": "joy"}, {"id": 2, "name": "fear"}]})},
     ["add", "bad", "--train", "{dir}/train.parquet"], ["train.parquet", "row 1", "column 'labels'", "nested record"]),
    ("parquet-list-text", {"train.parquet": lambda p: write_parquet(p, {
        "text": [["two", "texts"], ["b"]], "labels": ["0", "1"]})},
     ["add", "bad", "--train", "{dir}/train.parquet"], ["train.parquet", "row 1", "column 'text'", "list"]),
    ("jsonl-object-labels", {"train.jsonl": '{"text": "a", "labels": {"joy": 1}}\n{"text": "b", "labels": {}}\n'},
     ["add", "bad", "--train", "{dir}/train.jsonl"], ["train.jsonl", "row 1", "column 'labels'", "nested record"]),
    ("nul-byte-in-text", {"train.csv": csv_rows("fine,0", "bad\x00text,1")},
     ["add", "bad", "--train", "{dir}/train.csv"], ["train.csv", "row 2", "column 'text'", "NUL"]),
    ("twenty-thousand-columns", {"train.csv": "text," + ",".join(f"c{i}" for i in range(20000)) + "\n"
                                 + "\n".join(f"t{r}," + ",".join("1" if i == r else "0" for i in range(20000))
                                             for r in range(3)) + "\n"},
     ["add", "bad", "--train", "{dir}/train.csv"], ["train.csv", "20,000 labels"]),
    ("bad-train-named-not-dev", {"train.csv": csv_rows("a,0", "b,1|2"), "tiny_dev.csv": csv_rows("c,0", "d,1")},
     ["add", "bad", "--train", "{dir}/train.csv", "--dev", "{dir}/tiny_dev.csv"], ["train.csv", "row 2", "separator"]),
    ("unknown-label-in-dev", {"train.csv": GOOD_TRAIN, "dev.csv": csv_rows("c,0", "d,7")},
     ["add", "bad", "--train", "{dir}/train.csv", "--dev", "{dir}/dev.csv"],
     ["dev.csv", "row 2", "column 'labels'", "unknown label id 7", "train file train.csv"]),
    ("empty-text", {"train.csv": csv_rows("fine,0", '"   ",1')}, ["add", "bad", "--train", "{dir}/train.csv"],
     ["train.csv", "row 2", "column 'text'", "whitespace"]),
    ("not-utf8", {"train.csv": lambda p: p.write_bytes(b"text,labels\nok,0\nbad \xff byte,1\n")},
     ["add", "bad", "--train", "{dir}/train.csv"], ["train.csv", "row 2", "not UTF-8"]),
    # item 2: names that would leave the workspace
    ("dataset-name-traversal", {"train.csv": GOOD_TRAIN}, ["add", "../../outside/appds", "--train", "{dir}/train.csv"],
     ["data set name", "'..'"]),
    ("dataset-name-markdown", {"train.csv": GOOD_TRAIN}, ["add", "[x](http://evil.example)", "--train",
                                                            "{dir}/train.csv"], ["data set name", "may not contain"]),
    ("run-id-traversal", {}, ["train", "--dataset", "tiny", "--run-id", "../../outside/evilrun"], ["run id", "'..'"]),
    ("run-id-absolute", {}, ["train", "--dataset", "tiny", "--run-id", "/tmp/eqn-evil-run"], ["run id", "'/'"]),
    ("run-id-dotdot", {}, ["train", "--dataset", "tiny", "--run-id", ".."], ["run id", "'..'"]),
    ("run-id-existing", {}, ["train", "--dataset", "tiny", "--run-id", "r1"], ["r1", "already exists"]),
    ("profile-name-traversal", {}, ["thresholds", "--run", "r1", "--save", "../p", "--global", "5"],
     ["profile name", "'..'"]),
    # item 1: exports that would destroy data or fail with a traceback
    ("export-over-database", {}, ["export", "--run", "r1", "--split", "test", "-o", "{ws}/eqn.duckdb", "--format",
                                  "csv"], ["eqn.duckdb", "database"]),
    ("export-over-weights", {}, ["export", "--run", "r1", "--split", "test", "-o",
                                 "{ws}/runs/r1/model.safetensors", "--format", "csv"], ["model.safetensors", "runs"]),
    ("export-over-existing-file", {"old.csv": "keep me\n"},
     ["export", "--run", "r1", "--split", "test", "-o", "{dir}/old.csv"], ["old.csv", "already exists", "--force"]),
    ("export-unwritable", {}, ["export", "--run", "r1", "--split", "test", "-o", "/proc/x.csv"], ["/proc/x.csv"]),
    ("export-threshold-out-of-range", {}, ["export", "--run", "r1", "--split", "test", "-o", "{dir}/t.csv",
                                           "--content", "binary", "--threshold", "11"], ["threshold"]),
    ("export-unknown-split", {}, ["export", "--run", "r1", "--split", "train", "-o", "{dir}/t.csv"], ["train"]),
]


@pytest.mark.parametrize("case, files, arguments, words", CASES, ids=[case[0] for case in CASES])
def test_bad_input_refused_and_workspace_unchanged(workspace, tmp_path, capsys, case, files, arguments, words):
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name, content in files.items():
        if callable(content):
            content(folder / name)
        else:
            (folder / name).write_text(content)
    before_tables = table_dump(Workspace(workspace))
    before_files = files_under(workspace)
    inputs_before = files_under(folder)
    arguments = [a.format(dir=folder, ws=workspace) for a in arguments]
    assert main(["--workspace", str(workspace), *arguments]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("eqn: error: ") and len(message.splitlines()) == 1, message
    for word in words:
        assert word in message, (word, message)
    assert table_dump(Workspace(workspace)) == before_tables
    assert files_under(workspace) == before_files
    assert files_under(folder) == inputs_before
    assert not (tmp_path / "outside").exists() and not Path("/tmp/eqn-evil-run").exists()


def test_corpus_covers_every_listed_defect_family():
    """The figures the hardening note reports: how many bad inputs are tried (each test above is one)."""
    assert len(CASES) == len({case[0] for case in CASES}) >= 25
    print(json.dumps({"bad_inputs_tried": len(CASES)}))
