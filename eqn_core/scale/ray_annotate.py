"""Annotating large corpora on Ray Data: input files cut into shards, an actor pool with one model per actor, one
Parquet file per shard (written by the actor that scored it), and reruns that skip the shards already written.

The pipeline, for `eqn annotate --engine ray`:

    list_inputs(files, folder or glob)
      -> one Ray task per input file      read it with the same reader as `eqn annotate`, cut it into shards of
                                          shard_rows texts, each shard one block in the object store (shards already
                                          written are left out); the tasks run before the actors take the CPUs
      -> from_arrow_refs -> map_batches(_ShardAnnotator) over an actor pool: each actor loads the run's model once
                                          (one GPU per actor when the cluster has GPUs), scores a whole shard through
                                          eqn_core.inference.annotate (length-sorted batches inside the shard) and
                                          writes part-<shard>.parquet; a block is what an actor receives, so shards
                                          spread over the actors and a shard is never split between two of them
      -> the driver counts the written shards on a progress bar (total known once the files are read).

Each shard file holds run_id, model, source, source_row, text_id, text and one float32 column per label, and its
Parquet metadata (key "eqn") repeats the provenance. Inputs and the output folder may be local paths or any URI that
pyarrow's filesystems understand (s3://, gs://, hdfs://, file://), the same filesystems Ray Data reads through.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from eqn_core.scale.shards import (
    check_manifest,
    file_key,
    list_inputs,
    local_copy,
    shard_table,
    write_shard,
    written_shards,
)

SHARD_ROWS = 10_000  # texts per output file: big enough to keep an actor busy, small enough to lose little on a crash
RUN_FILES = ("config.json", "data/labels.json", "model.safetensors", "vocabulary.json")
_CONTEXT = {  # Ray Data settings for the annotation pipeline, restored afterwards
    "enable_progress_bars": False,  # the driver draws one bar, in texts
    "wait_for_min_actors_s": 600,  # hand out shards once every actor has its model: the first one ready would
    # otherwise take the whole queue of a small input
    "max_tasks_in_flight_per_actor": 2,  # one shard scoring, one waiting: no actor hoards shards at the end
}
_SHARD_SCHEMA = pa.schema([("shard_id", pa.string()), ("source", pa.string()), ("first_row", pa.int64()),
                           ("texts", pa.list_(pa.string())), ("text_ids", pa.list_(pa.string()))])
_SUMMARY_SCHEMA = pa.schema([("shard_id", pa.string()), ("rows", pa.int64()), ("path", pa.string()),
                             ("seconds", pa.float64()), ("worker", pa.string())])


@dataclass
class RayAnnotateResult:
    output: str
    files: int  # input files
    shards_written: int
    shards_skipped: int  # already in the output folder from an earlier run
    rows_written: int
    seconds: float
    workers: int  # actors in the pool
    workers_used: int  # actors that wrote at least one shard
    device: str  # "cpu" or "cuda"

    @property
    def texts_per_second(self) -> float:
        return self.rows_written / self.seconds if self.seconds > 0 else float("nan")


# ---------------------------------------------------------------------------------------------------------------------
# Paths: local or any pyarrow filesystem URI
















# ---------------------------------------------------------------------------------------------------------------------
# The run's model, shipped to every actor


def run_bundle(run_dir: str | Path) -> dict[str, bytes]:
    """The files load_run_model needs, as bytes: actors on other machines rebuild the run folder from them."""
    run_dir = Path(run_dir)
    bundle = {name: (run_dir / name).read_bytes() for name in RUN_FILES if (run_dir / name).exists()}
    missing = [name for name in ("config.json", "data/labels.json", "model.safetensors") if name not in bundle]
    if missing:
        raise ValueError(f"Run folder {run_dir} lacks {missing}; annotate with a finished run you trained.")
    return bundle


def model_description(bundle: dict[str, bytes]) -> str:
    """What scored the texts: mode, encoder, encoder mode and the weights' hash."""
    config = json.loads(bundle["config.json"])
    digest = hashlib.sha256(bundle["model.safetensors"]).hexdigest()[:16]
    return f"{config['mode']} {config['encoder']} ({config['encoder_mode']}), weights sha256:{digest}"


def _file_shards(source: str, key: str, *, text_column: str | None, shard_rows: int, done: frozenset):
    """Ray task (a streaming generator): read one input file with the reader of `eqn annotate` and cut it into
    shards; yields, per shard, its number of texts and then the shard as a one-row table (its own object, never
    sent through the driver). Shards already written are left out."""
    from eqn_core.io.tables import read_texts

    with local_copy(source) as local:
        texts, text_ids = read_texts(local, text_column=text_column)
    for index, start in enumerate(range(0, len(texts), shard_rows)):
        shard_id = f"{key}-{index:05d}"
        if shard_id not in done:
            part = texts[start:start + shard_rows]
            yield len(part)
            yield pa.Table.from_pylist([{"shard_id": shard_id, "source": source, "first_row": start, "texts": part,
                                         "text_ids": text_ids[start:start + shard_rows]}], schema=_SHARD_SCHEMA)


class _ShardAnnotator:
    """Ray actor: one model, loaded once; scores whole shards and writes each as one Parquet file."""

    def __init__(self, bundle: dict[str, bytes], *, run_id: str, model: str, output: str, batch_size: int,
                 fp32: bool, device: str, threads: int | None):
        import socket

        import torch

        from eqn_core.runs.lifecycle import load_run_model

        if threads:
            torch.set_num_threads(threads)
        self.folder = tempfile.mkdtemp(prefix="eqn-run-")
        for name, data in bundle.items():
            Path(self.folder, name).parent.mkdir(parents=True, exist_ok=True)
            Path(self.folder, name).write_bytes(data)
        self.model, self.config, self.label_names = load_run_model(self.folder, device=torch.device(device))
        self.run_id, self.model_name, self.output = run_id, model, output
        self.batch_size, self.fp32 = batch_size, fp32
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, shards: pa.Table) -> pa.Table:
        from eqn_core.method.inference import annotate

        summaries = []
        for shard in shards.to_pylist():
            started = time.monotonic()
            energies = annotate(self.model, shard["texts"], mode=self.config.mode, batch_size=self.batch_size,
                                amp=not self.fp32, cpu_bf16=not self.fp32,
                                energy_scale=self.config.energy_scale)  # (n, C), length-sorted batches inside
            table = shard_table(shard, energies, run_id=self.run_id, model=self.model_name,
                                label_names=self.label_names)
            path = write_shard(table, self.output, shard["shard_id"])
            summaries.append({"shard_id": shard["shard_id"], "rows": table.num_rows, "path": path,
                              "seconds": time.monotonic() - started, "worker": self.worker})
        return pa.Table.from_pylist(summaries, schema=_SUMMARY_SCHEMA)








# ---------------------------------------------------------------------------------------------------------------------
# The driver




def annotate_corpus(run_dir: str | Path, inputs: str, output: str, *, run_id: str, address: str | None = None,
                    workers: int | None = None, cpus_per_worker: float = 1.0, gpus_per_worker: float | None = None,
                    shard_rows: int = SHARD_ROWS, batch_size: int = 128, text_column: str | None = None,
                    fp32: bool = False, show_progress: bool = True) -> RayAnnotateResult:
    """Score every text of the inputs with a finished run's model on Ray; returns counts and timing.

    address: a Ray cluster ("auto", "host:6379" as `ray start --head` prints it, "ray://host:10001"); None starts a
    local Ray. A Ray this process already started is used as it is, whatever the address. Joining a head on this
    machine sends this machine's Ray token (send_local_token). workers: actors (default: one per GPU when the
    cluster has GPUs, else one per cpus_per_worker CPUs). gpus_per_worker: default 1 when the cluster has GPUs,
    else 0 (CPU actors).
    fp32: no bf16 autocast anywhere (CUDA included), so energies equal the single-process fp32 path.
    """
    import ray

    if shard_rows < 1:
        raise ValueError("shard_rows must be at least 1")
    sources = list_inputs(inputs)
    bundle = run_bundle(run_dir)
    model = model_description(bundle)
    check_manifest(output, {"run_id": run_id, "model": model, "shard_rows": shard_rows, "text_column": text_column})
    done = written_shards(output)

    started_ray = not ray.is_initialized()
    context, saved = ray.data.DataContext.get_current(), {}
    if started_ray:
        if address:
            send_local_token(address)
        # "local": a fresh Ray of this machine, never a cluster some other command left running
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        resources = ray.cluster_resources()
        if gpus_per_worker is None:
            gpus_per_worker = 1.0 if resources.get("GPU", 0) > 0 else 0.0
        if workers is None:
            workers = int(resources.get("GPU", 0) // gpus_per_worker) if gpus_per_worker \
                else int(resources.get("CPU", 1) // cpus_per_worker)
        workers = max(1, workers)
        device = "cuda" if gpus_per_worker > 0 else "cpu"
        saved = {key: getattr(context, key) for key in _CONTEXT}
        for key, value in _CONTEXT.items():
            setattr(context, key, value)
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        # 1. read and cut every file in parallel tasks (before the actors exist, so the tasks get the CPUs), each
        # shard one block in the object store: a block is what an actor receives, so shards spread over actors
        read = ray.remote(num_returns="streaming")(_file_shards)
        clock = time.monotonic()
        generators = [read.remote(s, file_key(s), text_column=text_column, shard_rows=shard_rows,
                                  done=frozenset(done)) for s in sources]
        shard_refs, total = [], 0
        for generator in generators:
            refs = list(generator)
            total += sum(ray.get(refs[0::2]))  # the texts per shard: small numbers
            shard_refs += refs[1::2]
        # 2. the actor pool streams over the shards: score, write, report
        written = ray.data.from_arrow_refs(shard_refs).map_batches(
            _ShardAnnotator, batch_size=1, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cpus_per_worker, num_gpus=gpus_per_worker,
            fn_constructor_kwargs={"bundle": bundle, "run_id": run_id, "model": model, "output": output,
                                   "batch_size": batch_size, "fp32": fp32, "device": device,
                                   "threads": max(1, int(cpus_per_worker))}) if shard_refs else None
        rows = shards_written = 0
        workers_used: set[str] = set()
        bar = _progress_bar(show_progress, done, total)
        for summary in ([] if written is None else written.iter_batches(batch_size=None, batch_format="pyarrow")):
            shards_written += summary.num_rows
            workers_used.update(summary["worker"].to_pylist())
            added = int(pc.sum(summary["rows"]).as_py() or 0)
            rows += added
            if bar is not None:
                bar.update(added)
                bar.set_postfix(shards=shards_written, refresh=False)
        seconds = time.monotonic() - clock
        if bar is not None:
            bar.close()
    finally:
        for key, value in saved.items():
            setattr(context, key, value)
        if started_ray:
            ray.shutdown()
    return RayAnnotateResult(output=output, files=len(sources), shards_written=shards_written,
                             shards_skipped=len(done), rows_written=rows, seconds=seconds, workers=workers,
                             workers_used=len(workers_used), device=device)


def send_local_token(address: str) -> bool:
    """Send this machine's Ray token when joining a cluster that runs on this machine. Returns whether it will.

    Since Ray 2.52, `ray start --head` turns on token authentication when this machine has a token (~/.ray/auth_token,
    which any earlier local ray.init writes), while a driver given an explicit address never sends one: joining
    failed with "Authentication token is missing or incorrect", then ConnectionError. For an address on this
    machine this does what Ray itself does for address="auto"; a remote cluster's token is never guessed (set
    RAY_AUTH_MODE=token and RAY_AUTH_TOKEN for it). Nothing changes when RAY_AUTH_MODE is set.
    """
    if os.environ.get("RAY_AUTH_MODE") is not None or not is_this_machine(address):
        return False
    try:
        from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
    except ImportError:  # a Ray without token authentication
        return False
    return bool(maybe_enable_token_auth_if_token_available(warn_if_disabled=False))


def is_this_machine(address: str) -> bool:
    """Whether a Ray address ("host:port", "ray://host:port") names this machine."""
    import ipaddress
    import socket

    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    try:
        if ipaddress.ip_address(host).is_loopback:
            return True
    except ValueError:
        pass
    names = {"localhost", socket.gethostname(), socket.getfqdn()}
    try:
        names.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    try:
        import ray.util

        names.add(ray.util.get_node_ip_address())
    except Exception:  # no network to ask: the names above stand
        pass
    return host in names


def _progress_bar(show: bool, done: set[str], total: int):
    if not show:
        return None
    import sys

    from tqdm import tqdm

    note = f" ({len(done)} shards already written)" if done else ""
    return tqdm(total=total, desc=f"annotating{note}", unit="text", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------------------
# Command line: `eqn annotate --engine ray`
