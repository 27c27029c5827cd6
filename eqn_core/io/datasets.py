"""Reading labelled text data sets (GoEmotions, emotion6, tfn3, any CSV/TSV/Parquet/JSONL) into LabeledDataset."""

from __future__ import annotations

import functools
import hashlib
import http.client
import io
import os
import re
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from eqn_core.io.errors import DataError
from eqn_core.io.file_formats import plain_name
from eqn_core.io.label_parsing import read_label_names_file
from eqn_core.io.tables import read_table, read_table_and_format

SPLIT_ORDER = ("train", "dev", "test")

REPO_ROOT = Path(__file__).resolve().parents[2]
GOEMOTIONS_ENV = "EQN_GOEMOTIONS_DIR"  # a folder holding GoEmotions' train/dev/test.tsv
GOEMOTIONS_URL = "https://raw.githubusercontent.com/google-research/google-research/master/goemotions/data/{split}.tsv"
GOEMOTIONS_LABELS = [
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity",
    "desire", "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear",
    "gratitude", "grief", "joy", "love", "nervousness", "optimism", "pride", "realization", "relief",
    "remorse", "sadness", "surprise", "neutral",
]  # fmt: skip
GOEMOTIONS_SHA256 = {
    "train": "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5",
    "dev": "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62",
    "test": "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4",
}
EMOTION6_LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
TFN3_LABELS = ["Bearish", "Bullish", "Neutral"]
BUILTIN_DATASETS = ("goemotions", "emotion6", "tfn3")

Progress = Callable[[str, int, "int | None"], None]


# ----------------------------------------------------------------------------------------------------------
# In-memory data
# ----------------------------------------------------------------------------------------------------------


@dataclass
class LabeledSplit:
    """One split: texts, their human labels as an (N, C) bool matrix, and their ids."""

    texts: list[str]
    human_labels: np.ndarray  # (N, C) bool, True where a person gave the label
    text_ids: list[str]  # the file's id column, or "row-<n>" (1-based data row)

    def __post_init__(self) -> None:
        labels = np.asarray(self.human_labels)
        if labels.dtype != bool:
            # accept 0/1 integers (e.g. read back from a database), nothing fuzzier
            if labels.size and not np.isin(labels, (0, 1)).all():
                raise ValueError("human_labels must be bool or 0/1")
            labels = labels.astype(bool)
        if labels.ndim != 2:
            raise ValueError(f"human_labels must be 2-D (N, C), got shape {labels.shape}")
        if not len(self.texts) == labels.shape[0] == len(self.text_ids):
            raise ValueError(
                f"split sizes disagree: {len(self.texts)} texts, {labels.shape[0]} label rows, "
                f"{len(self.text_ids)} ids"
            )
        self.human_labels = labels

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def num_labels(self) -> int:
        return int(self.human_labels.shape[1])


@dataclass
class LabeledDataset:
    """A named data set: label names in id order and its splits ("train", "dev", "test")."""

    name: str
    label_names: list[str]  # C names, in label-id order
    splits: dict[str, LabeledSplit]  # keys among "train", "dev", "test"
    multi_label: bool  # False for single-label sets (emotion6, tfn3)
    source: str  # where it came from (folder or file paths)

    def __post_init__(self) -> None:
        for split_name, split in self.splits.items():
            if split.num_labels != len(self.label_names):
                raise ValueError(
                    f"split {split_name!r} has {split.num_labels} label columns, "
                    f"data set {self.name!r} has {len(self.label_names)} label names"
                )

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def split_names(self) -> list[str]:
        """Split names, train/dev/test first."""
        known = [s for s in SPLIT_ORDER if s in self.splits]
        return known + [s for s in self.splits if s not in SPLIT_ORDER]

    def split(self, name: str) -> LabeledSplit:
        if name not in self.splits:
            raise KeyError(f"data set {self.name!r} has no split {name!r} (splits: {', '.join(self.split_names)})")
        return self.splits[name]


# ----------------------------------------------------------------------------------------------------------
# Built-in data sets
# ----------------------------------------------------------------------------------------------------------


def fetch_goemotions(
    cache_dir: str | Path,
    *,
    from_dir: str | Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Put train.tsv, dev.tsv, test.tsv and labels.txt in cache_dir/goemotions and return that folder.

    The TSV files are downloaded from GOEMOTIONS_URL, or copied from from_dir when given; either way each one
    goes to a temporary file, is checked against GOEMOTIONS_SHA256 and only then renamed into place, so a
    failed fetch never leaves a half-written file. Files already present with the right hash are kept unless
    force. labels.txt is written from GOEMOTIONS_LABELS (a labels.txt in from_dir must list the same names).
    progress, when given, is called as progress(file_name, bytes_done, bytes_total_or_None).
    """
    dest = Path(cache_dir) / "goemotions"
    dest.mkdir(parents=True, exist_ok=True)
    for split, expected in GOEMOTIONS_SHA256.items():
        target = dest / f"{split}.tsv"
        if not force and target.is_file() and _sha256(target) == expected:
            size = target.stat().st_size
            if progress:
                progress(target.name, size, size)
            continue
        if from_dir is not None:
            source = Path(from_dir) / target.name
            if not source.is_file():
                raise DataError(
                    "not found: the folder must hold train.tsv, dev.tsv and test.tsv", file=source
                )
            with source.open("rb") as stream:
                _save_verified(stream, target, expected, source.stat().st_size, progress, origin=source)
        else:
            _download_verified(GOEMOTIONS_URL.format(split=split), target, expected, progress)
    if from_dir is not None and (Path(from_dir) / "labels.txt").is_file():
        theirs = read_label_names_file(Path(from_dir) / "labels.txt")
        if theirs != GOEMOTIONS_LABELS:
            raise DataError(
                "labels.txt does not list the 28 GoEmotions labels in id order", file=Path(from_dir) / "labels.txt"
            )
    labels_file = dest / "labels.txt"
    _save_verified(io.BytesIO("\n".join(GOEMOTIONS_LABELS).encode()), labels_file, None, None, None, labels_file)
    return dest


def goemotions_folder_problem(folder: str | Path | None) -> str | None:
    """What is wrong with a folder given for GoEmotions (None: it is a folder; fetch_goemotions checks its files)."""
    if folder and Path(folder).expanduser().is_dir():
        return None
    return f"No folder at {folder!r}: give the folder that holds train.tsv, dev.tsv and test.tsv."


def find_local_goemotions(repo_root: str | Path | None = None) -> Path | None:
    """A folder holding GoEmotions' train/dev/test.tsv: $EQN_GOEMOTIONS_DIR, else <repo>/../shared/data/goemotions."""
    root = Path(repo_root) if repo_root is not None else REPO_ROOT
    candidates = [os.environ.get(GOEMOTIONS_ENV), root.parent / "shared" / "data" / "goemotions"]
    for candidate in candidates:
        if candidate and all((Path(candidate) / f"{split}.tsv").is_file() for split in GOEMOTIONS_SHA256):
            return Path(candidate).resolve()
    return None


def load_goemotions(folder: str | Path) -> LabeledDataset:
    """GoEmotions from a folder with train.tsv, dev.tsv, test.tsv (no header, no quoting: text, ids, id)."""
    folder = _dataset_folder(folder, "goemotions", ["train.tsv", "dev.tsv", "test.tsv"])
    labels_file = folder / "labels.txt"
    names = read_label_names_file(labels_file) if labels_file.is_file() else list(GOEMOTIONS_LABELS)
    splits = {}
    for split in SPLIT_ORDER:
        texts, labels, _, ids = read_table(
            folder / f"{split}.tsv", text_column=0, labels_column=1, id_column=2,
            label_format="ids", label_names=names, sep="\t", has_header=False,
        )  # fmt: skip
        splits[split] = LabeledSplit(texts, labels, ids)
    return LabeledDataset("goemotions", names, splits, multi_label=True, source=str(folder))


def load_emotion6(folder: str | Path) -> LabeledDataset:
    """CARER emotion tweets from train.txt, val.txt, test.txt ("text;label_name"); val becomes "dev"."""
    files = {"train": "train.txt", "dev": "val.txt", "test": "test.txt"}
    folder = _dataset_folder(folder, "emotion6", list(files.values()))
    splits = {}
    for split, file_name in files.items():
        texts, labels, _, ids = read_table(
            folder / file_name, text_column=0, labels_column=1, label_format="single",
            label_names=EMOTION6_LABELS, sep=";", has_header=False,
        )  # fmt: skip
        splits[split] = LabeledSplit(texts, labels, ids)
    return LabeledDataset("emotion6", list(EMOTION6_LABELS), splits, multi_label=False, source=str(folder))


def load_tfn3(folder: str | Path, *, dev_fraction: float = 0.1, seed: int = 0) -> LabeledDataset:
    """Twitter Financial News from sent_train.csv / sent_valid.csv; valid becomes "test", dev is carved from train."""
    folder = _dataset_folder(folder, "tfn3", ["sent_train.csv", "sent_valid.csv"])
    read = functools.partial(
        read_table, text_column="text", labels_column="label", label_format="single",
        label_names=TFN3_LABELS, has_header=True,
    )  # fmt: skip
    texts, labels, _, ids = read(folder / "sent_train.csv")
    train, dev = _carve_dev(LabeledSplit(texts, labels, ids), dev_fraction, seed, folder / "sent_train.csv")
    texts, labels, _, ids = read(folder / "sent_valid.csv")
    splits = {"train": train, "dev": dev, "test": LabeledSplit(texts, labels, ids)}
    source = f"{folder} (dev: {dev_fraction:g} of sent_train.csv, seed {seed})"
    return LabeledDataset("tfn3", list(TFN3_LABELS), splits, multi_label=False, source=source)


def load_builtin(name: str, folder: str | Path) -> LabeledDataset:
    """Load "goemotions", "emotion6" or "tfn3" from its folder (or from folder/<name>)."""
    loaders = {"goemotions": load_goemotions, "emotion6": load_emotion6, "tfn3": load_tfn3}
    if name not in loaders:
        raise DataError(f"unknown built-in data set {name!r} (choose from {', '.join(BUILTIN_DATASETS)})")
    return loaders[name](folder)


# ----------------------------------------------------------------------------------------------------------
# Any user files
# ----------------------------------------------------------------------------------------------------------


def load_files(
    name: str,
    files: dict[str, str | Path],
    *,
    dev_fraction: float = 0.1,
    seed: int = 0,
    **read_table_kwargs,
) -> LabeledDataset:
    """A data set from user files, one per split ("train" required, "dev" and "test" optional).

    Every file is read with read_table(**read_table_kwargs). Without a "dev" file, dev_fraction of train
    (stratified by each row's first label, seeded) becomes the dev split. Label names must agree across
    splits: names and ids found in dev/test must occur in train (unless label_names is given), and one-hot
    files must have the same label columns. multi_label is True when any row has more than one label.
    """
    unknown = [s for s in files if s not in SPLIT_ORDER]
    if unknown or "train" not in files:
        raise DataError(
            f"splits must be among train, dev, test and include train (got {', '.join(files) or 'none'})"
        )
    kwargs = dict(read_table_kwargs)
    texts, labels, names, ids, fmt = read_table_and_format(files["train"], **kwargs)
    names_from = None
    splits = {"train": LabeledSplit(texts, labels, ids)}
    if kwargs.get("label_names") is None and fmt != "onehot":
        # labels that only occur outside train could never be learnt: make them an error, not a new column
        kwargs.update(label_names=names, label_format=fmt)
        names_from = f"the train file {Path(files['train']).name}"
    for split in ("dev", "test"):
        if split not in files:
            continue
        texts, labels, split_names, ids, _ = read_table_and_format(files[split], names_from=names_from, **kwargs)
        if split_names != names:
            labels = _align_label_columns(labels, split_names, names, files[split], files["train"])
        splits[split] = LabeledSplit(texts, labels, ids)
    source = ", ".join(f"{split}={Path(files[split])}" for split in SPLIT_ORDER if split in files)
    if "dev" not in files:
        splits["train"], splits["dev"] = _carve_dev(splits["train"], dev_fraction, seed, files["train"])
        source += f" (dev: {dev_fraction:g} of train, seed {seed})"
    splits = {s: splits[s] for s in SPLIT_ORDER if s in splits}
    multi_label = any(bool((split.human_labels.sum(axis=1) > 1).any()) for split in splits.values())
    return LabeledDataset(name, list(names), splits, multi_label=multi_label, source=source)

# ----------------------------------------------------------------------------------------------------------
# Helpers: splits, folders, verified files
# ----------------------------------------------------------------------------------------------------------


def guess_split(file_name: str) -> str:
    """"train", "dev" or "test" from a file name (val / valid / validation mean dev); train when unsure."""
    words = set(re.split(r"[^a-z]+", Path(plain_name(file_name)).stem.lower()))
    if words & {"test", "testing", "eval"}:
        return "test"
    if words & {"dev", "val", "valid", "validation"}:
        return "dev"
    return "train"


def dataset_name_from(file_name: str) -> str:
    """A data set name from a file name: "my_emotions_train.csv" -> "my_emotions"."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(plain_name(file_name)).stem).strip("-_") or "dataset"
    return re.sub(r"[-_](train|training|dev|val|valid|validation|test)$", "", stem, flags=re.IGNORECASE) or stem


def dataset_name_problem(name: str, existing: Iterable[str]) -> str | None:
    """What is wrong with a name given for a new data set (None: nothing): empty, or taken. Whether it is a safe
    name is names.check_safe_name's rule."""
    name = name.strip()
    if not name:
        return "Give the data set a name."
    if name in set(existing):
        return f"A data set named {name!r} already exists; choose another name."
    return None


def save_uploads(uploads: Sequence[tuple[str, str, bytes]], folder: str | Path) -> dict[str, Path]:
    """Uploaded files, each (split, file name, content), written as folder/<split>/<file name> for load_files; only
    the file name's last part is used, so a file never lands outside folder. Returns {split: path}.

    ValueError when a split is not one of SPLIT_ORDER, two files share a split, or no file is the train split.
    """
    splits = [split for split, _, _ in uploads]
    unknown = sorted(set(splits) - set(SPLIT_ORDER))
    if unknown:
        raise ValueError(f"Unknown split(s) {', '.join(map(repr, unknown))}; use {', '.join(SPLIT_ORDER)}.")
    duplicate = next((split for i, split in enumerate(splits) if split in splits[:i]), None)
    if duplicate:
        raise ValueError(f"Two files are marked as the {duplicate!r} split; give each split one file.")
    if "train" not in splits:
        raise ValueError("Mark one file as the train split (dev and test are optional).")
    files = {}
    for split, file_name, content in uploads:
        path = Path(folder) / split / (Path(file_name).name.strip(".") or "upload")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        files[split] = path
    return files


def _align_label_columns(labels: np.ndarray, names: list[str], target: list[str], file, train_file) -> np.ndarray:
    """Reorder a split's one-hot columns to train's order; their label names must be the same set."""
    if set(names) != set(target) or len(names) != len(target):
        missing = [n for n in target if n not in names]
        extra = [n for n in names if n not in target]
        raise DataError(
            f"label columns differ from {Path(train_file).name}'s "
            f"(missing: {', '.join(missing) or 'none'}; extra: {', '.join(extra) or 'none'})",
            file=file,
        )
    position = {name: j for j, name in enumerate(names)}
    return labels[:, [position[name] for name in target]]


def _carve_dev(split: LabeledSplit, fraction: float, seed: int, file) -> tuple[LabeledSplit, LabeledSplit]:
    """Split off round(fraction * N) rows as dev, stratified by each row's first label, reproducibly (seed)."""
    if not 0 < fraction < 1:
        raise ValueError(f"dev_fraction must be between 0 and 1, got {fraction}")
    n = len(split)
    if n < 2:
        raise DataError(f"only {n} row(s): too few to carve a dev split from; give a dev file", file=file)
    n_dev = min(max(round(n * fraction), 1), n - 1)
    labels = split.human_labels
    group = np.where(labels.any(axis=1), labels.argmax(axis=1), -1)
    order = np.random.default_rng(seed).permutation(n)
    order = order[np.argsort(group[order], kind="stable")]  # grouped, random within each group
    _, starts, sizes = np.unique(group[order], return_index=True, return_counts=True)
    # largest-remainder quotas: each group gives its share, the total is exactly n_dev
    exact = sizes * n_dev / n
    quota = np.floor(exact).astype(int)
    quota[np.argsort(quota - exact, kind="stable")[: n_dev - quota.sum()]] += 1
    is_dev = np.zeros(n, dtype=bool)
    for start, take in zip(starts, quota):
        is_dev[order[start : start + take]] = True
    return _subset(split, ~is_dev), _subset(split, is_dev)


def _subset(split: LabeledSplit, mask: np.ndarray) -> LabeledSplit:
    keep = np.flatnonzero(mask)  # file order is kept
    return LabeledSplit(
        [split.texts[i] for i in keep], split.human_labels[keep], [split.text_ids[i] for i in keep]
    )


def _dataset_folder(folder: str | Path, name: str, required: list[str]) -> Path:
    """The folder holding a built-in data set's files: folder itself, or folder/<name>."""
    folder = Path(folder)
    for candidate in (folder, folder / name):
        if all((candidate / f).is_file() for f in required):
            return candidate
    missing = next(f for f in required if not (folder / f).is_file())
    hint = " (fetch_goemotions downloads it)" if name == "goemotions" else ""
    raise DataError(f"not found: the {name} folder must hold {', '.join(required)}{hint}", file=folder / missing)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_verified(url: str, target: Path, expected: str, progress: Progress | None) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            _save_verified(response, target, expected, total, progress, origin=url)
    except (OSError, http.client.HTTPException) as err:  # URLError and timeouts are OSErrors
        reason = getattr(err, "reason", None) or err
        raise DataError(
            f"could not download {url} ({reason}). Without internet access, load GoEmotions from a folder that "
            "holds train.tsv, dev.tsv and test.tsv",
            file=url,
        ) from None


def _save_verified(stream, target: Path, expected: str | None, total: int | None, progress, origin) -> None:
    """Copy a byte stream to target through a temporary file, checking its sha256 before the atomic rename."""
    digest = hashlib.sha256()
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        done = 0
        with os.fdopen(handle, "wb") as out:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(target.name, done, total)
        if expected is not None and digest.hexdigest() != expected:
            raise DataError(
                f"sha256 mismatch: expected {expected}, got {digest.hexdigest()} "
                "(a corrupted or different file, not the published GoEmotions release)",
                file=origin,
            )
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
