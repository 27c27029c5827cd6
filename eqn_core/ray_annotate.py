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

import fnmatch
import glob as globbing
import hashlib
import json
import logging
import os
import re
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

INPUT_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl", ".txt")
SHARD_ROWS = 10_000  # texts per output file: big enough to keep an actor busy, small enough to lose little on a crash
MANIFEST = "_eqn_annotate.json"
PROVENANCE_COLUMNS = ("run_id", "model", "source", "source_row", "text_id", "text")
RUN_FILES = ("config.json", "data/labels.json", "model.safetensors", "vocabulary.json")
_CONTEXT = {  # Ray Data settings for the annotation pipeline, restored afterwards
    "enable_progress_bars": False,  # the driver draws one bar, in texts
    "wait_for_min_actors_s": 600,  # hand out shards once every actor has its model: the first one ready would
    # otherwise take the whole queue of a small input
    "max_tasks_in_flight_per_actor": 2,  # one shard scoring, one waiting: no actor hoards shards at the end
}
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
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


def _filesystem(location: str):
    """(pyarrow filesystem, path inside it, prefix that turns such a path back into what the user wrote)."""
    from pyarrow import fs as pafs

    if _URI.match(location):
        filesystem, path = pafs.FileSystem.from_uri(location)
        if isinstance(filesystem, pafs.LocalFileSystem):
            return filesystem, path, ""
        return filesystem, path, location[: location.index("://") + 3]
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(location)), ""


def list_inputs(spec: str) -> list[str]:
    """The files a spec names: one file, a folder's CSV/TSV/Parquet/JSONL/TXT files, or a glob (** recurses).

    Returns sorted paths (or URIs for remote filesystems); ValueError when nothing matches.
    """
    from pyarrow import fs as pafs

    filesystem, path, prefix = _filesystem(spec)
    if isinstance(filesystem, pafs.LocalFileSystem) and not prefix:
        if globbing.has_magic(path):
            found = [p for p in globbing.glob(path, recursive=True) if os.path.isfile(p)]
        elif os.path.isdir(path):
            found = [str(p) for p in Path(path).rglob("*") if p.is_file()]
        else:
            found = [path] if os.path.isfile(path) else []
    else:
        found = _remote_matches(filesystem, path, prefix)
    found = sorted(p for p in found if p.lower().endswith(INPUT_SUFFIXES) and not os.path.basename(p).startswith("."))
    if not found:
        raise ValueError(f"No CSV/TSV/Parquet/JSONL/TXT file matches {spec!r}; give a file, a folder or a glob "
                         "such as 'data/*.parquet'.")
    return found


def _remote_matches(filesystem, path: str, prefix: str) -> list[str]:
    from pyarrow import fs as pafs

    if not globbing.has_magic(path):
        info = filesystem.get_file_info(path)
        if info.type == pafs.FileType.File:
            return [prefix + path]
        if info.type != pafs.FileType.Directory:
            return []
        base, pattern = path.rstrip("/"), None
    else:
        parts = path.split("/")
        fixed = next(i for i, part in enumerate(parts) if globbing.has_magic(part))
        base, pattern = "/".join(parts[:fixed]), path
    infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
    return [prefix + i.path for i in infos if i.type == pafs.FileType.File
            and (pattern is None or fnmatch.fnmatch(i.path, pattern.replace("**/", "*")))]


@contextmanager
def _local_copy(source: str):
    """A local path for a source: itself when local, else a temporary copy (the reader wants a file on disk)."""
    filesystem, path, prefix = _filesystem(source)
    if not prefix:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="eqn-input-") as folder:
        local = os.path.join(folder, os.path.basename(path))
        with filesystem.open_input_stream(path) as stream, open(local, "wb") as out:
            while chunk := stream.read(1 << 22):
                out.write(chunk)
        yield local


def file_key(source: str) -> str:
    """A stable, file-name-safe key for an input file: its name and a hash of its full path."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", os.path.basename(source).rsplit(".", 1)[0])[:40].strip("-") or "input"
    return f"{stem}-{hashlib.sha1(source.encode()).hexdigest()[:10]}"


def shard_file_name(shard_id: str) -> str:
    return f"part-{shard_id}.parquet"


def written_shards(output: str) -> set[str]:
    """Shard ids whose Parquet file is already in the output folder (half-written files never carry this name)."""
    from pyarrow import fs as pafs

    filesystem, path, _ = _filesystem(output)
    if filesystem.get_file_info(path).type != pafs.FileType.Directory:
        return set()
    names = (os.path.basename(i.path) for i in filesystem.get_file_info(pafs.FileSelector(path)))
    return {name[len("part-"):-len(".parquet")] for name in names
            if name.startswith("part-") and name.endswith(".parquet")}


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
    from .data import read_texts

    with _local_copy(source) as local:
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

        from .runs import load_run_model

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
        from .inference import annotate

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


def shard_table(shard: dict, energies, *, run_id: str, model: str, label_names: list[str]) -> pa.Table:
    """One shard's rows: provenance columns, the text, one float32 column per label; provenance also in metadata."""
    clashes = sorted(set(label_names) & set(PROVENANCE_COLUMNS))
    if clashes:
        raise ValueError(f"Label names {clashes} clash with the output's provenance columns; rename the labels.")
    n = len(shard["texts"])
    columns = {"run_id": pa.array([run_id] * n, pa.string()), "model": pa.array([model] * n, pa.string()),
               "source": pa.array([shard["source"]] * n, pa.string()),
               "source_row": pa.array(range(shard["first_row"], shard["first_row"] + n), pa.int64()),
               "text_id": pa.array(shard["text_ids"], pa.string()), "text": pa.array(shard["texts"], pa.string())}
    for i, label in enumerate(label_names):
        columns[label] = pa.array(energies[:, i], pa.float32())
    provenance = {"run_id": run_id, "model": model, "label_names": list(label_names), "shard": shard["shard_id"],
                  "source": shard["source"], "first_row": shard["first_row"], "rows": n,
                  "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return pa.table(columns).replace_schema_metadata({"eqn": json.dumps(provenance)})


def write_shard(table: pa.Table, output: str, shard_id: str) -> str:
    """Write under a temporary name, then rename: a shard file exists only once it is whole."""
    import pyarrow.parquet as pq

    filesystem, path, prefix = _filesystem(output)
    final = f"{path.rstrip('/')}/{shard_file_name(shard_id)}"
    partial = f"{path.rstrip('/')}/.{shard_file_name(shard_id)}.{uuid.uuid4().hex[:8]}.tmp"
    pq.write_table(table, partial, filesystem=filesystem)
    filesystem.move(partial, final)
    return prefix + final


def read_provenance(path: str) -> dict:
    """The "eqn" provenance metadata of one shard file."""
    import pyarrow.parquet as pq

    filesystem, local, _ = _filesystem(path)
    metadata = pq.read_schema(local, filesystem=filesystem).metadata or {}
    return json.loads(metadata.get(b"eqn", b"{}"))


# ---------------------------------------------------------------------------------------------------------------------
# The driver


def _check_manifest(output: str, manifest: dict) -> None:
    """An output folder belongs to one run and one shard size: a rerun resumes it, a different run may not mix in."""
    filesystem, path, _ = _filesystem(output)
    filesystem.create_dir(path, recursive=True)
    target = f"{path.rstrip('/')}/{MANIFEST}"
    try:
        with filesystem.open_input_stream(target) as stream:
            earlier = json.loads(stream.read())
    except (FileNotFoundError, OSError):
        earlier = None
    if earlier is not None:
        for key in ("run_id", "model", "shard_rows", "text_column"):
            if earlier.get(key) != manifest.get(key):
                raise ValueError(f"Output folder {output} holds shards written with {key} = {earlier.get(key)!r}, "
                                 f"not {manifest.get(key)!r}; write to another folder (or empty this one).")
        return
    with filesystem.open_output_stream(target) as stream:
        stream.write(json.dumps(manifest, indent=2).encode())


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
    _check_manifest(output, {"run_id": run_id, "model": model, "shard_rows": shard_rows, "text_column": text_column})
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
        from ray._private.authentication.authentication_token_setup import \
            maybe_enable_token_auth_if_token_available
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


def add_ray_options(parser) -> None:
    """The annotate command's options for the Ray engine."""
    group = parser.add_argument_group("Ray engine (--engine ray: a file, folder or glob in, a folder of shards out)")
    group.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local: this process (default); ray: Ray Data actors, Parquet shards, resumable")
    group.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    group.add_argument("--workers", type=int, help="actors (default: one per GPU, else one per --cpus-per-worker)")
    group.add_argument("--cpus-per-worker", type=float, default=1.0)
    group.add_argument("--gpus-per-worker", type=float, help="default 1 when the cluster has GPUs, else 0")
    group.add_argument("--shard-rows", type=int, default=SHARD_ROWS, help="texts per output Parquet file")


def annotate_with_ray_cli(args, run: dict) -> int:
    import sys

    if not args.input or not args.output:
        raise ValueError("--engine ray needs an input (file, folder or glob) and --output FOLDER for the shards")
    try:
        result = annotate_corpus(run["run_dir"], args.input, args.output, run_id=run["run_id"], address=args.address,
                                 workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                                 gpus_per_worker=args.gpus_per_worker, shard_rows=args.shard_rows,
                                 batch_size=args.batch_size, text_column=args.text_column, fp32=args.fp32)
    except ConnectionError as error:
        token = "" if os.environ.get("RAY_AUTH_MODE") == "token" else (
            " If the cluster uses token authentication (Ray >= 2.52 turns it on when the head machine has "
            "~/.ray/auth_token), set RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN, or the same "
            "~/.ray/auth_token here); for a head on this machine that is done for you.")
        raise ValueError(f"Cannot reach the Ray cluster at {args.address}: {error}. Check the address that "
                         f"`ray start --head` printed, or leave out --address to start a local Ray.{token}") from error
    print(f"wrote {result.shards_written} shards ({result.rows_written:,} texts, "
          f"{result.texts_per_second:,.0f} texts/s on {result.workers} {result.device} workers) to {result.output}; "
          f"{result.shards_skipped} shards were already there", file=sys.stderr)
    return 0
