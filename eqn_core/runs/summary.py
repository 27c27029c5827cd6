"""Runs in words and tables for people: progress so far, the headline figures, one display row per run."""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from eqn_core.method.config import is_scratch_encoder
from eqn_core.store.run_folders import parent_run


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
            "encoder mode": encoder_mode_label(config),
            "epochs": config.get("epochs"), "batch": config.get("batch_size"), "lr": config.get("learning_rate"),
            "train rows": config.get("max_train_rows") or "all", "best epoch": run.get("best_epoch"),
        }
        row.update({k: v for k, v in run_key_metrics(run["metrics"]).items() if k != "metrics_split"})
        row["created"] = run["created_at"]
        row["error"] = run.get("error") or ""
        notes = [f"Model 1 of {parent_run(config)}"] if parent_run(config) else []
        if notes or recipe_options(config):
            row["note"] = "; ".join(notes + recipe_options(config))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.rename(columns={"macro_f1_tuned": "macro-F1 (tuned)", "topk_f1": "top-k F1",
                                      "hit_rate": "hit rate"})
    return frame


def recipe_options(config: Mapping) -> list[str]:
    """The run's departures from the paper's recipe, in words (the rare-label and intensity options)."""
    options = []
    if config.get("teacher_run"):
        options.append(f"teacher {config['teacher_run']}")
    if config.get("head", "linear") != "linear":
        options.append(str(config["head"]).replace("_", " ") + " head")
    if config.get("label_weighting", "none") != "none":
        options.append(f"rare labels weighted (cap {config.get('label_weight_cap', 5.0):g})")
    if config.get("ranking_weight"):
        options.append(f"ranking term x{config['ranking_weight']:g}")
    if config.get("label_targets", "ceiling") != "ceiling":
        options.append(f"label targets {config['label_targets']}")
    return options


def encoder_mode_label(config: Mapping) -> str:
    """How a run trained its encoder, in words (a from-scratch backbone always fine-tunes)."""
    if is_scratch_encoder(str(config.get("encoder", ""))):
        return "fine-tune"
    mode = config.get("encoder_mode")
    if mode == "partial":
        return f"top {config.get('trained_layers', 2)} layers"
    return "frozen" if mode == "frozen" else "fine-tune"


def _get(values: Mapping, *keys, default=math.nan):
    for key in keys:
        if not isinstance(values, Mapping) or key not in values:
            return default
        values = values[key]
    return values
