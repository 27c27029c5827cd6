"""What the web pages compute besides widgets: finding GoEmotions, file previews, run tables, threshold reports.

Pure functions over workspaces, frames and (N, C) arrays, free of Streamlit, so the pages stay thin and this
logic is testable on its own.
"""
from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .config import BUNDLED_ENCODER, SCRATCH_BACKBONES, TrainConfig
from .data import GOEMOTIONS_SHA256, LabeledDataset, Progress, fetch_goemotions, load_goemotions
from .metrics import hit_rates_by_label_count, sample_topk_scores, top_n_hit_rates

REPO_ROOT = Path(__file__).resolve().parents[1]
GOEMOTIONS_ENV = "EQN_GOEMOTIONS_DIR"
GOEMOTIONS_NAME = "goemotions"


# ---------------------------------------------------------------------------------------------------------------------
# GoEmotions


def find_local_goemotions(repo_root: str | Path | None = None) -> Path | None:
    """A folder holding GoEmotions' train/dev/test.tsv: $EQN_GOEMOTIONS_DIR, else <repo>/../shared/data/goemotions."""
    root = Path(repo_root) if repo_root is not None else REPO_ROOT
    candidates = [os.environ.get(GOEMOTIONS_ENV), root.parent / "shared" / "data" / "goemotions"]
    for candidate in candidates:
        if candidate and all((Path(candidate) / f"{split}.tsv").is_file() for split in GOEMOTIONS_SHA256):
            return Path(candidate).resolve()
    return None


def add_goemotions(workspace, *, from_dir: str | Path | None = None,
                   progress: Progress | None = None) -> LabeledDataset:
    """Fetch GoEmotions into <workspace>/cache/downloads (copied from from_dir, else downloaded), store it as
    data set "goemotions" and return it. ValueError when the workspace already holds a data set of that name."""
    if GOEMOTIONS_NAME in workspace.dataset_names():
        raise ValueError(f"The workspace already holds a data set named {GOEMOTIONS_NAME!r}.")
    folder = fetch_goemotions(workspace.cache_dir / "downloads", from_dir=from_dir, progress=progress)
    dataset = load_goemotions(folder)
    dataset.source = str(from_dir) if from_dir is not None else f"{dataset.source} (downloaded)"
    workspace.add_dataset(dataset)
    return dataset


# ---------------------------------------------------------------------------------------------------------------------
# Uploaded files


def guess_split(file_name: str) -> str:
    """"train", "dev" or "test" from a file name (val / valid / validation mean dev); train when unsure."""
    words = set(re.split(r"[^a-z]+", Path(file_name).stem.lower()))
    if words & {"test", "testing", "eval"}:
        return "test"
    if words & {"dev", "val", "valid", "validation"}:
        return "dev"
    return "train"


def dataset_name_from(file_name: str) -> str:
    """A data set name from a file name: "my_emotions_train.csv" -> "my_emotions"."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(file_name).stem).strip("-_") or "dataset"
    return re.sub(r"[-_](train|training|dev|val|valid|validation|test)$", "", stem, flags=re.IGNORECASE) or stem


def preview_table(path: str | Path, *, has_header: bool = True, rows: int = 5) -> pd.DataFrame:
    """The first rows of a CSV/TSV/TXT/Parquet/JSONL/JSON file, to choose its columns from.

    Without a header the columns are 0-based positions, as eqn_core.data.read_table numbers them.
    Only a preview: the real read (read_table / load_files) checks every row and says what is wrong.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    header = 0 if has_header else None
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        frame = next(pq.ParquetFile(path).iter_batches(batch_size=rows)).to_pandas()
    elif suffix == ".jsonl":
        frame = pd.read_json(path, lines=True, nrows=rows)
    elif suffix == ".json":
        frame = pd.read_json(path).head(rows)
    elif suffix == ".csv":
        frame = pd.read_csv(path, nrows=rows, header=header, dtype=str, keep_default_na=False)
    elif suffix in (".tsv", ".txt"):
        first = next((line for line in path.open(encoding="utf-8", errors="replace") if line.strip()), "")
        sep = "\t" if suffix == ".tsv" else next((s for s in ("\t", ";", ",") if s in first), ",")
        frame = pd.read_csv(path, nrows=rows, header=header, sep=sep, quoting=csv.QUOTE_NONE, dtype=str,
                            keep_default_na=False)
    else:
        raise ValueError(f"{path.name}: unknown file type {suffix or '(no suffix)'!r}")
    if not has_header or suffix in (".parquet", ".jsonl", ".json"):
        frame.columns = list(range(frame.shape[1])) if not has_header else [str(c) for c in frame.columns]
    return frame


# ---------------------------------------------------------------------------------------------------------------------
# Training runs


def encoder_kind(encoder: str) -> str:
    """"scratch" for ann/cnn/lstm/textcnn, else "pretrained" (the bundled model, an HF id or a folder)."""
    return "scratch" if encoder.lower() in SCRATCH_BACKBONES else "pretrained"


def training_defaults(encoder: str = BUNDLED_ENCODER, encoder_mode: str = "frozen") -> TrainConfig:
    """TrainConfig with the defaults that apply to this encoder and mode filled in (epochs, batch size, rate)."""
    return TrainConfig(encoder=encoder, encoder_mode=encoder_mode).resolved()


def progress_state(events: Sequence[Mapping]) -> dict:
    """What a progress.jsonl says so far.

    Returns {"latest": the last "step" event or None, "fraction": its step / total_steps (0..1),
    "epochs": DataFrame(phase, epoch, train_loss, val_loss, val_topk_f1, best_epoch, order) of "epoch" events,
    where order counts epochs across phases (Model 1 then Model 2 ...)}.
    """
    steps = [event for event in events if event.get("event") == "step"]
    latest = steps[-1] if steps else None
    fraction = 0.0
    if latest and latest.get("total_steps"):
        fraction = min(1.0, max(0.0, latest.get("step", 0) / latest["total_steps"]))
    columns = ["phase", "epoch", "train_loss", "val_loss", "val_topk_f1", "best_epoch"]
    epochs = pd.DataFrame([{c: event.get(c) for c in columns} for event in events if event.get("event") == "epoch"],
                          columns=columns)
    epochs["order"] = np.arange(1, len(epochs) + 1)
    return {"latest": latest, "fraction": fraction, "epochs": epochs}


def describe_step(event: Mapping | None) -> str:
    """One line for a progress bar: phase, step / total, loss, time left."""
    if not event:
        return "starting: loading the encoder and data"
    text = f"{event.get('phase', '')}: step {event.get('step', 0):,} of {event.get('total_steps', 0):,}"
    if event.get("epoch") is not None and event.get("epochs"):
        text += f" (epoch {event['epoch']} of {event['epochs']})"
    if event.get("loss") is not None:
        text += f", loss {event['loss']:.4f}"
    if event.get("eta_s") is not None:
        text += f", about {format_seconds(event['eta_s'])} left"
    return text


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run_key_metrics(metrics: Mapping | None) -> dict:
    """The headline numbers of a finished run on test (dev when there is no test split):
    macro-F1 with per-label thresholds tuned on dev, sample-level top-k F1, total hit rate (Table 4)."""
    splits = (metrics or {}).get("splits") or {}
    split = "test" if "test" in splits else ("dev" if "dev" in splits else None)
    report = splits.get(split) or {}
    hit_rates = report.get("hit_rates") or []
    return {
        "metrics_split": split,
        "macro_f1_tuned": _get(report, "per_label_tuned", "macro", "f1"),
        "topk_f1": _get(report, "topk", "f1"),
        "hit_rate": hit_rates[-1].get("hit_rate", math.nan) if hit_rates else math.nan,
    }


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One display row per run (newest first): status, settings and key metrics."""
    rows = []
    for _, run in runs.iterrows():
        config = run["config"] or {}
        row = {
            "run": run["run_id"], "status": run["status"], "data set": run["dataset"], "mode": run["mode"],
            "encoder": Path(str(run["encoder"])).name if os.sep in str(run["encoder"]) else run["encoder"],
            "encoder mode": "frozen" if _is_frozen(config) else "fine-tune",
            "epochs": config.get("epochs"), "batch": config.get("batch_size"), "lr": config.get("learning_rate"),
            "train rows": config.get("max_train_rows") or "all", "best epoch": run.get("best_epoch"),
        }
        row.update({k: v for k, v in run_key_metrics(run["metrics"]).items() if k != "metrics_split"})
        row["created"] = run["created_at"]
        row["error"] = run.get("error") or ""
        if config.get("derived_from"):
            row["note"] = f"Model 1 of {config['derived_from']}"
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.rename(columns={"macro_f1_tuned": "macro-F1 (tuned)", "topk_f1": "top-k F1",
                                      "hit_rate": "hit rate"})
    return frame


def _is_frozen(config: Mapping) -> bool:
    scratch = str(config.get("encoder", "")).lower() in SCRATCH_BACKBONES
    return config.get("encoder_mode") == "frozen" and not scratch


def _get(values: Mapping, *keys, default=math.nan):
    for key in keys:
        if not isinstance(values, Mapping) or key not in values:
            return default
        values = values[key]
    return values


def topk_tables(energies: np.ndarray, human_labels: np.ndarray) -> dict:
    """The paper's threshold-free figures of one split.

    Returns {"topk": sample-level top-k P/R/F1 (eq. 9-15), "hit_rates": DataFrame (Table 4),
    "top_n": DataFrame (Table 5, single-label texts)}.
    """
    return {
        "topk": sample_topk_scores(energies, human_labels),
        "hit_rates": pd.DataFrame(hit_rates_by_label_count(energies, human_labels)),
        "top_n": pd.DataFrame(top_n_hit_rates(energies, human_labels)),
    }
