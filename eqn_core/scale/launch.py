"""Starting a data-parallel run: `eqn train --processes N` prepares the run as usual, then starts N copies of
`python -m eqn_core.scale.launch RUN_DIR` through torch.distributed.run (what `accelerate launch --multi_gpu` uses; on
GPUs that command works as well). Each process runs the ordinary execute_run with its DataParallelGroup active
(method.parallel says what that changes)."""
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

from eqn_core.method.parallel import DataParallelGroup, set_active_group


def run_process(run_dir: str | Path, *, show_progress: bool = False) -> dict:
    """Execute a prepared run as one process of the group; returns the status this process saw."""
    import torch
    from accelerate import Accelerator, DistributedDataParallelKwargs

    from eqn_core.runs.process import execute_run
    from eqn_core.store.run_folders import RunFolder, write_json_atomic

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
        if folder.review_targets_file.exists():  # a run trained with reviews: every process trains on them
            shutil.copy(folder.review_targets_file, scratch / folder.review_targets_file.name)
        (scratch / "status.json").write_text('{"status": "queued"}')
        target = scratch
    set_active_group(group)
    try:
        # no embeddings cache: a cache hit in one process and a miss in another would split the group's steps
        status = execute_run(target, cache_dir=None, show_progress=show_progress and group.rank == 0)
        if group.rank == 0 and folder.metrics_file.exists():  # the record says how many processes trained it
            metrics = json.loads(folder.metrics_file.read_text())
            metrics.setdefault("timing", {})["processes"] = group.world_size
            write_json_atomic(folder.metrics_file, metrics)
        return status
    finally:
        set_active_group(None)
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_command(run_dir: str | Path, *, processes: int, show_progress: bool = False) -> list[str]:
    """torch.distributed.run starting `processes` copies of this module on this machine."""
    # a free port of our own rather than the default 29500, so two runs on one machine do not collide
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={processes}",
               "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{free_port()}", "-m", "eqn_core.scale.launch",
               str(run_dir)]
    return command + (["--progress"] if show_progress else [])


def launch(run_dir: str | Path, *, processes: int, show_progress: bool = False) -> int:
    """Run a prepared run folder data-parallel on `processes` processes; returns the launcher's exit code."""
    if processes < 2:
        raise ValueError("launch() is for 2 or more processes; one process runs execute_run directly")
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # the same eqn_core in every process
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    return subprocess.run(launch_command(run_dir, processes=processes, show_progress=show_progress),
                          env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
