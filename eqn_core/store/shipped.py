"""Ready models that ship with EQN Studio: annotation works on first open, offline, without training.

A shipped model is a run folder inside the package (eqn_core/assets/<run_id>/: config, trained weights, the
dev/test energies it was evaluated on, metrics, a model card). Every workspace lists it as a finished, read-only
run; its energies are stored once the data set it was evaluated on is loaded and holds the very same texts.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from eqn_core.method.config import encoder_problem

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
# goemotions-eqn (MiniLM) is the default everywhere; goemotions-eqn-base needs the base-size encoder's packages
SHIPPED_RUN_IDS = ("goemotions-eqn", "goemotions-eqn-base")
EVALUATED_SPLITS = ("dev", "test")


def shipped_folder(run_id: str) -> Path:
    return ASSETS_DIR / run_id


def available_shipped_runs() -> list[str]:
    """Shipped models whose folder is complete and whose encoder is installed here (a model on the base-size
    encoder is offered once its part packages are); none when EQN_SHIPPED_MODELS=0 (a deployment that should offer
    only its own runs)."""
    if os.environ.get("EQN_SHIPPED_MODELS", "1").strip() == "0":
        return []
    return [run_id for run_id in SHIPPED_RUN_IDS
            if (shipped_folder(run_id) / "model.safetensors").is_file() and encoder_installed(shipped_folder(run_id))]


def encoder_installed(folder: Path) -> bool:
    return encoder_problem(json.loads((folder / "config.json").read_text()).get("encoder")) is None


def is_shipped(run: dict) -> bool:
    return bool((run.get("config") or {}).get("shipped"))


def shipped_reason(run: dict) -> str | None:
    """What a shipped model's card says about when to choose it (None for a run of one's own or a card without)."""
    if not is_shipped(run):
        return None
    try:
        card = json.loads((Path(run["run_dir"]) / "shipped.json").read_text())
    except (OSError, ValueError):
        return None
    return card.get("why") or None


def split_fingerprint(texts: list[str]) -> str:
    """Identifies a split's texts in order: shipped energies only fit a data set with exactly these texts."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "replace") + b"\0")
    return digest.hexdigest()[:24]


def install_shipped_runs(workspace) -> None:
    """Register every shipped model in the workspace (idempotent, cheap when already there)."""
    for run_id in available_shipped_runs():
        folder = shipped_folder(run_id)
        card = json.loads((folder / "shipped.json").read_text())
        # which packaging this is: a new version of the model (an upgrade) replaces the record and energies
        config = {**json.loads((folder / "config.json").read_text()), "shipped": True,
                  "shipped_version": card.get("packaged_at")}
        record = dict(mode=config["mode"], encoder=config["encoder"], config=config, run_dir=folder,
                      metrics=json.loads((folder / "metrics.json").read_text()))
        known = set(workspace.list_runs()["run_id"])
        if run_id not in known:
            workspace.add_finished_run(run_id, dataset=card["dataset"], **record)
        elif workspace.get_run(run_id)["config"].get("shipped_version") != config["shipped_version"]:
            workspace.replace_shipped_run(run_id, **record)
        elif workspace.get_run(run_id)["run_dir"] != str(folder):  # the package moved (a new install)
            workspace.set_run_dir(run_id, folder)
        store_shipped_energies(workspace, run_id, card)


def store_shipped_energies(workspace, run_id: str, card: dict) -> list[str]:
    """Store the shipped dev/test energies once the workspace has the data set they belong to; returns the splits
    stored now. A data set of the same name with other texts gets none (its rows would not match)."""
    from eqn_core.store.run_folders import load_energies_file

    dataset = card["dataset"]
    if dataset not in workspace.dataset_names() or workspace.energy_splits(run_id):
        return []
    loaded = workspace.load_dataset(dataset, splits=[s for s in EVALUATED_SPLITS
                                                      if s in workspace.split_names(dataset)])
    folder = shipped_folder(run_id)
    stored = []
    for split_name, split in loaded.splits.items():
        if split_fingerprint(split.texts) == card["fingerprints"].get(split_name):
            workspace.store_energies(run_id, split_name, load_energies_file(folder / f"energies_{split_name}.parquet"))
            stored.append(split_name)
    if stored and card.get("thresholds"):
        import numpy as np

        workspace.save_threshold_profile(f"{run_id}:tuned-on-dev", run_id=run_id,
                                         thresholds=np.asarray(card["thresholds"], dtype=np.float32),
                                         global_threshold=None, note="per-label thresholds tuned on the dev split")
    return stored
