"""Data-parallel training of one run on several processes (DDP set up by Hugging Face Accelerate).

`eqn train --processes N` prepares the run as usual, then starts N copies of `python -m eqn_core.distributed RUN_DIR`
through torch.distributed.run (what `accelerate launch --multi_gpu` uses; on GPUs that command works as well).
Every process runs the ordinary execute_run with a DataParallelGroup active, which changes three things:

- training (eqn_core.training.train_model): each global batch of batch_size rows is cut into N parts, one per
  process; the loss of a part is weighted by its share of the batch, so DDP's gradient average equals the
  one-process gradient of the whole batch, and the optimizer takes the same step as one process would;
- inference (eqn_core.inference.predict_outputs): every split is scored in N contiguous parts and gathered, which
  covers the dev evaluation after each epoch, the EQN re-annotation of the training split and the final energies;
- only process 0 writes the run folder (status, progress, weights, energies, metrics); the others write into a
  scratch copy that is deleted, so best-epoch selection and the run record are written once.

Every process computes the same dev score from the same gathered outputs, so all agree on the best epoch.
A stop request seen by any process stops all of them at the same batch.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

_ACTIVE: "DataParallelGroup | None" = None


def active_group() -> "DataParallelGroup | None":
    """The group of the running data-parallel training, or None in an ordinary single process."""
    return _ACTIVE


class DataParallelGroup:
    """This process's place in the group (rank of world_size) and the few collective steps training needs."""

    def __init__(self, accelerator):
        self.accelerator = accelerator
        self.rank = accelerator.process_index
        self.world_size = accelerator.num_processes
        self._wrapped: dict[int, object] = {}
        self._local_inference = False

    def wrap(self, model):
        """The model in DDP (one wrapper per model object, reused by later training phases of the same model)."""
        key = id(model)
        if key not in self._wrapped:
            self._wrapped[key] = self.accelerator.prepare_model(model, device_placement=False)
        return self._wrapped[key]

    def local_part(self, indices: np.ndarray) -> tuple[np.ndarray, float]:
        """This process's rows of a global batch and the weight of its loss: n_local * world_size / n_batch.

        DDP averages gradients over processes, so sum_r (n_r / n) * grad(mean loss of part r) = grad(mean loss of
        the whole batch). A process left without rows (a last batch smaller than the group) runs one row at
        weight 0, because every process must take part in each backward pass.
        """
        local = np.array_split(indices, self.world_size)[self.rank]
        if len(local) == 0:
            return indices[:1], 0.0
        return local, len(local) * self.world_size / len(indices)

    def sum(self, *values: float) -> list[float]:
        """Element-wise sums over the group."""
        import torch
        import torch.distributed as dist

        totals = torch.tensor(values, dtype=torch.float64, device=self.accelerator.device)
        dist.all_reduce(totals)
        return totals.cpu().tolist()

    def any(self, flag: bool) -> bool:
        return self.sum(float(bool(flag)))[0] > 0

    @property
    def splits_inference(self) -> bool:
        return not self._local_inference

    def predict_outputs(self, predict, model, features, *, on_batch=None, **options) -> np.ndarray:
        """predict(model, features) with the rows cut into world_size contiguous parts, gathered in row order."""
        from accelerate.utils import gather_object

        rows = np.array_split(np.arange(len(features)), self.world_size)[self.rank]
        total = len(features)
        report = None if on_batch is None else (
            lambda done, _n, fraction: on_batch(min(total, done * self.world_size), total, fraction))
        self._local_inference = True
        try:
            local = predict(model, features.subset(rows), on_batch=report, **options)  # (n_r, C)
        finally:
            self._local_inference = False
        parts = gather_object([local])  # one array per process, in rank order
        return np.concatenate(parts, axis=0)  # (N, C)


# ---------------------------------------------------------------------------------------------------------------------
# One process of the group


def run_process(run_dir: str | Path, *, show_progress: bool = False) -> dict:
    """Execute a prepared run as one process of the group; returns the status this process saw."""
    import torch
    from accelerate import Accelerator, DistributedDataParallelKwargs

    from .execute import execute_run
    from .runs import RunFolder, write_json_atomic

    global _ACTIVE
    folder = RunFolder(run_dir)
    config = folder.config()
    cpu = config.device == "cpu" or not torch.cuda.is_available()
    # encoders carry parameters the energy head never uses (BERT's pooler): DDP must not wait for their gradients
    accelerator = Accelerator(cpu=cpu, mixed_precision="no",
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    if not cpu:
        torch.cuda.set_device(accelerator.local_process_index)  # "cuda" now means this process's GPU
    group = DataParallelGroup(accelerator)
    scratch = None
    target = folder.path
    if group.rank != 0:  # the others write into a throwaway copy: the run record is written once
        scratch = Path(tempfile.mkdtemp(prefix=f"eqn-rank{group.rank}-"))
        shutil.copy(folder.config_file, scratch / "config.json")
        shutil.copytree(folder.data_dir, scratch / "data")
        (scratch / "status.json").write_text('{"status": "queued"}')
        target = scratch
    _ACTIVE = group
    try:
        # no embeddings cache: a cache hit in one process and a miss in another would split the group's steps
        status = execute_run(target, cache_dir=None, show_progress=show_progress and group.rank == 0)
        if group.rank == 0 and folder.metrics_file.exists():  # the record says how many processes trained it
            metrics = json.loads(folder.metrics_file.read_text())
            metrics.setdefault("timing", {})["processes"] = group.world_size
            write_json_atomic(folder.metrics_file, metrics)
        return status
    finally:
        _ACTIVE = None
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One process of a data-parallel EQN run (started by torchrun or "
                                                 "accelerate launch; see `eqn train --processes`).")
    parser.add_argument("run_dir")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    status = run_process(args.run_dir, show_progress=args.progress)
    return 0 if status["status"] in ("finished", "stopped") else 1


# ---------------------------------------------------------------------------------------------------------------------
# Starting the group


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_command(run_dir: str | Path, *, processes: int, show_progress: bool = False) -> list[str]:
    """torch.distributed.run starting `processes` copies of this module on this machine."""
    # a free port of our own rather than the default 29500, so two runs on one machine do not collide
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={processes}",
               "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{free_port()}", "-m", "eqn_core.distributed",
               str(run_dir)]
    return command + (["--progress"] if show_progress else [])


def launch(run_dir: str | Path, *, processes: int, show_progress: bool = False) -> int:
    """Run a prepared run folder data-parallel on `processes` processes; returns the launcher's exit code."""
    if processes < 2:
        raise ValueError("launch() is for 2 or more processes; one process runs execute_run directly")
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[1])  # the same eqn_core in every process
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    return subprocess.run(launch_command(run_dir, processes=processes, show_progress=show_progress),
                          env=env).returncode


if __name__ == "__main__":
    # run through the imported module, so training and inference see the group this process sets there
    from eqn_core.distributed import main as module_main

    sys.exit(module_main())
