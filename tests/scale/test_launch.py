"""Data-parallel training: two CPU processes (gloo) train the same run as one process, and write it once."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from eqn_core.cli.main import main as eqn
from eqn_core.method.config import TrainConfig
from eqn_core.method.parallel import DataParallelGroup
from eqn_core.runs.lifecycle import ingest_run, prepare_run
from eqn_core.runs.process import execute_run
from eqn_core.store.run_folders import RunFolder
from eqn_core.store.workspace import Workspace


@pytest.fixture(scope="module")
def encoder_without_dropout(tiny_encoder_dir, tmp_path_factory) -> str:
    """The tiny random encoder with dropout off, so one and two processes see the same computation."""
    folder = tmp_path_factory.mktemp("tiny-no-dropout") / "encoder"
    shutil.copytree(tiny_encoder_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def test_local_part_weights_make_the_group_gradient_the_whole_batch_gradient():
    class Fake:
        device = "cpu"

        def __init__(self, rank):
            self.process_index, self.num_processes = rank, 2

    batch = np.arange(7)
    parts = [DataParallelGroup(Fake(rank)).local_part(batch) for rank in (0, 1)]
    assert [p.tolist() for p, _ in parts] == [[0, 1, 2, 3], [4, 5, 6]]
    for rows, weight in parts:  # each row's share of the averaged gradient: (1 / 2) * weight / n_r = 1 / n
        assert weight / len(rows) / 2 == pytest.approx(1 / 7)
    lonely = DataParallelGroup(Fake(1)).local_part(np.arange(1))
    assert lonely[1] == 0.0 and len(lonely[0]) == 1  # takes part in the backward pass, adds nothing


@pytest.mark.slow
@pytest.mark.parametrize("encoder_mode", ["finetune", "frozen"])
def test_two_gloo_processes_give_the_figures_of_one_process(tmp_path, tiny_dataset, encoder_without_dropout,
                                                            encoder_mode, capsys):
    ws = tmp_path / "ws"
    options = dict(dataset="tiny", mode="eqn", encoder=encoder_without_dropout, encoder_mode=encoder_mode, epochs=2,
                   batch_size=16, learning_rate=1e-3, dropout=0.0, device="cpu")
    with Workspace(ws) as workspace:
        workspace.add_dataset(tiny_dataset)
        folder = prepare_run(workspace, TrainConfig(**options), run_id="one")
        assert execute_run(folder.path, cache_dir=workspace.cache_dir)["status"] == "finished"
        ingest_run(workspace, "one")
    assert eqn(["-w", str(ws), "train", "--dataset", "tiny", "--mode", "eqn", "--encoder", encoder_without_dropout,
                "--encoder-mode", encoder_mode, "--epochs", "2", "--batch-size", "16", "--lr", "1e-3", "--dropout", "0",
                "--device", "cpu", "--run-id", "two", "--processes", "2", "--quiet"]) == 0
    assert "run two finished" in capsys.readouterr().out

    with Workspace(ws) as workspace:
        one, two = workspace.get_run("one"), workspace.get_run("two")
        assert two["config"]["extra"] == {"processes": 2} and two["metrics"]["timing"]["processes"] == 2
        for phase_one, phase_two in zip(one["metrics"]["phases"], two["metrics"]["phases"], strict=True):
            assert phase_two["best_epoch"] == phase_one["best_epoch"]
            for epoch_one, epoch_two in zip(phase_one["history"], phase_two["history"], strict=True):
                for key in ("train_loss", "val_loss", "val_topk_f1"):
                    assert epoch_two[key] == pytest.approx(epoch_one[key], abs=1e-4), (phase_one["phase"], key)
        for split in ("train", "dev", "test"):  # train: the regressed targets built from the gathered re-annotation
            difference = np.abs(workspace.load_energies("two", split) - workspace.load_energies("one", split))
            assert difference.max() < 1e-4, split  # float summation order only (2.4e-7 when measured)
    # one record: a single status and progress log in the run folder, written by process 0
    run_folder = RunFolder(Path(two["run_dir"]))
    assert run_folder.status()["status"] == "finished"
    phases = {event.get("phase") for event in run_folder.progress() if event["event"] == "epoch"}
    assert phases == {"model 1", "model 2"}
    assert sum(1 for e in run_folder.progress() if e["event"] == "epoch") == 4  # 2 epochs x 2 models, once each
