"""The shard files of a corpus annotated on Ray: inputs (files, folders, globs, remote URIs), one Parquet file per shard
with its provenance, the manifest that keeps a rerun on the same run and inputs."""
from __future__ import annotations

import fnmatch
import glob as globbing
import hashlib
import json
import os
import re
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

INPUT_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl", ".txt")


MANIFEST = "_eqn_annotate.json"


PROVENANCE_COLUMNS = ("run_id", "model", "source", "source_row", "text_id", "text")


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


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
def local_copy(source: str):
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


def check_manifest(output: str, manifest: dict) -> None:
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
