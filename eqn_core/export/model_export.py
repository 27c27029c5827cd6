"""`eqn export-model`: a run's model as a folder other tools load (sentence-transformers / transformers, ONNX fp32 or
int8) with thresholds.json, a model card (README.md) and MANIFEST_FILE; and the ONNX export that
`eqn annotate --backend onnx` makes on first use.

An export is written into a hidden folder beside its target, checked against the run's PyTorch energies on
CHECK_TEXTS, and only then moved into place, so a failed export leaves nothing half written.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from eqn_core.export.files import APP_VERSION, check_export_target
from eqn_core.export.model_cards import model_card, threshold_file
from eqn_core.export.model_formats import (
    base_model_id,
    check_exportable,
    quantize_onnx,
    write_onnx,
    write_sentence_transformers,
    write_tokenizer,
)
from eqn_core.method.config import TrainConfig
from eqn_core.method.inference import annotate, outputs_to_energies
from eqn_core.method.models import EnergyModel
from eqn_core.method.onnx_inference import GRAPH_FILES, MANIFEST_FILE, OnnxEnergyModel, read_manifest
from eqn_core.store.run_folders import RunFolder, read_json

MODEL_FORMATS = ("transformers", "onnx")
QUANTIZATIONS = ("int8",)
THRESHOLDS_FILE = "thresholds.json"
CARD_FILE = "README.md"
# texts every export is checked on: short, long (cut at max length), empty, punctuation, emoji, another language
CHECK_TEXTS = ("I can't believe you remembered my birthday!", "Interview in ten minutes, hands shaking.",
               "My father passed away last night and I keep reading his old messages.",
               "Thanks, that fixed it.", "Why would anyone do that?? I don't get it.", "ok", "",
               "This is the worst service I have ever had. Never again.", "lol 😂😂 that's hilarious",
               "Je suis tellement content de te voir !", "I'm not sure what you mean by that, could you explain?",
               " ".join(["and then it went on and on"] * 40))
ModelLoader = Callable[[], tuple[EnergyModel, TrainConfig, list[str]]]


def weights_fingerprint(run_dir: str | Path) -> str:
    """Identifies the weights an export was made from: the run's config and weights file (sha256, 16 hex)."""
    folder = RunFolder(run_dir)
    digest = hashlib.sha256(folder.config_file.read_bytes())
    with open(folder.weights_file, "rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _library_versions(fmt: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["torch", "transformers"] + (["onnx", "onnxruntime"] if fmt == "onnx" else [])
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def check_energies(model: EnergyModel, config: TrainConfig, folder: Path, fmt: str) -> dict | None:
    """The largest energy difference between the export and the run's PyTorch fp32 path on CHECK_TEXTS (None when
    the library that loads a transformers export, sentence-transformers, is not installed here)."""
    reference = annotate(model, list(CHECK_TEXTS), mode=config.mode, amp=False, energy_scale=config.energy_scale)
    if fmt == "onnx":
        runtime = OnnxEnergyModel(folder)
        energies, by = runtime.annotate(list(CHECK_TEXTS)), "onnxruntime"
    else:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            return None
        # a label-attention export carries its head as code beside the weights (model_formats, LABEL_ATTENTION_SOURCE)
        loaded = SentenceTransformer(str(folder), device="cpu", trust_remote_code=config.head != "linear")
        outputs = loaded.encode(list(CHECK_TEXTS), convert_to_numpy=True, show_progress_bar=False)
        energies = outputs_to_energies(outputs, mode=config.mode, scale=config.energy_scale)
        by = "sentence-transformers"
    return {"texts": len(CHECK_TEXTS), "max_abs_difference": float(np.abs(energies - reference).max()), "by": by,
            "against": "the run's PyTorch model in fp32 (eqn annotate --fp32)"}


def write_export(model: EnergyModel, config: TrainConfig, label_names: list[str], folder: Path, *, run_id: str,
                 run_dir: str | Path, fmt: str, precision: str = "fp32", profile: Mapping | None = None,
                 graph_from: Path | None = None) -> dict:
    """Write one export into an empty folder: the format's files, thresholds.json, README.md, MANIFEST_FILE.

    graph_from (int8 only): an fp32 graph of the same weights to quantize instead of exporting the graph again.
    Returns the manifest.
    """
    if fmt not in MODEL_FORMATS:
        raise ValueError(f"Unknown model format {fmt!r}; choose one of {', '.join(MODEL_FORMATS)}.")
    if precision != "fp32" and fmt != "onnx":
        raise ValueError("--quantize int8 is for --format onnx (onnxruntime runs the int8 graph).")
    check_exportable(model, config)
    model.eval()
    if fmt == "transformers":
        write_sentence_transformers(model, config, label_names, folder)
    elif graph_from is None:
        write_onnx(model, config, label_names, folder)
    else:
        write_onnx_files_only(model, config, label_names, folder, graph_from)
    graph = GRAPH_FILES[precision] if fmt == "onnx" else None
    if precision == "int8":
        quantize_onnx(graph_from or folder / GRAPH_FILES["fp32"], folder / graph)
        (folder / GRAPH_FILES["fp32"]).unlink(missing_ok=True)
    metrics = read_json(RunFolder(run_dir).metrics_file, {}) or {}
    shipped = read_json(Path(run_dir) / "shipped.json")
    manifest = {"format": fmt, "precision": precision, "graph": graph, "run_id": run_id, "dataset": config.dataset,
                "mode": config.mode, "encoder": config.encoder, "encoder_mode": config.encoder_mode,
                "max_length": config.max_length, "energy_scale": config.energy_scale, "label_names": list(label_names),
                "weights_sha256": weights_fingerprint(run_dir),
                "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "eqn_studio_version": APP_VERSION, "libraries": _library_versions(fmt)}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    manifest["check"] = check_energies(model, config, folder, fmt)
    thresholds = threshold_file(metrics, label_names, mode=config.mode, profile=profile)
    (folder / THRESHOLDS_FILE).write_text(json.dumps(thresholds, indent=2) + "\n", encoding="utf-8")
    card = model_card(run_id=run_id, config=config, dataset=config.dataset, label_names=label_names, metrics=metrics,
                      fmt=fmt, precision=precision, check=manifest["check"], exported_at=manifest["exported_at"],
                      app_version=APP_VERSION, base_model=base_model_id(config.encoder), shipped=shipped)
    (folder / CARD_FILE).write_text(card, encoding="utf-8")
    manifest["files"] = sorted({str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()})
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def write_onnx_files_only(model: EnergyModel, config: TrainConfig, label_names: list[str], folder: Path,
                          graph_from: Path) -> None:
    """An ONNX folder around an existing graph: tokenizer and config.json, the graph itself comes from graph_from."""
    write_tokenizer(model, folder, max_length=config.max_length)
    shutil.copy(graph_from.parent / "config.json", folder / "config.json")


def prepare_target(output: str | Path, *, overwrite: bool, workspace_root: str | Path | None) -> Path:
    """The export's folder, checked: outside the workspace's own folders, and new, empty or an earlier export
    (replaced only with overwrite). ValueError otherwise."""
    target = Path(output).expanduser().resolve()
    check_export_target(target, workspace_root)
    if target.exists():
        if not target.is_dir():
            raise ValueError(f"{target} is a file; give a folder to export the model into.")
        if any(target.iterdir()):
            if not (target / MANIFEST_FILE).is_file():
                raise ValueError(f"{target} is not empty and holds no earlier model export; give a new or empty "
                                 "folder.")
            if not overwrite:
                raise ValueError(f"{target} holds an earlier model export; pass --force to replace it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _staging(target: Path) -> Path:
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    staging.mkdir(parents=True)
    return staging


def _place(staging: Path, target: Path) -> None:
    """Move a finished export into place; an earlier one at target is moved aside first and removed after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.old")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_model(model: EnergyModel, config: TrainConfig, label_names: list[str], *, run_id: str,
                 run_dir: str | Path, output: str | Path, fmt: str = "transformers", quantize: str | None = None,
                 overwrite: bool = False, workspace_root: str | Path | None = None,
                 profile: Mapping | None = None) -> dict:
    """Export a finished run's model (loaded on the CPU) to the folder output; returns the manifest with "path"."""
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"Unknown quantization {quantize!r}; choose {', '.join(QUANTIZATIONS)}.")
    target = prepare_target(output, overwrite=overwrite, workspace_root=workspace_root)
    staging = _staging(target)
    try:
        manifest = write_export(model, config, label_names, staging, run_id=run_id, run_dir=run_dir, fmt=fmt,
                                precision=quantize or "fp32", profile=profile)
        _place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {**manifest, "path": str(target)}


def export_is_current(folder: Path, run_dir: str | Path, precision: str) -> bool:
    """True when folder holds an ONNX export of these very weights in this precision."""
    try:
        manifest = read_manifest(folder)
    except ValueError:
        return False
    return (manifest.get("format") == "onnx" and manifest.get("precision") == precision
            and manifest.get("weights_sha256") == weights_fingerprint(run_dir)
            and (folder / manifest.get("graph", "")).is_file())


def cached_onnx_export(load_model: ModelLoader, *, run_id: str, run_dir: str | Path, folder: str | Path,
                       precision: str = "fp32") -> Path:
    """The run's ONNX export in folder/<precision>, made on first use and again when the run's weights changed.

    An int8 export quantizes a current fp32 export beside it when there is one (no second graph export).
    Two processes making it at once both finish; the one that moves it into place second keeps the first's.
    """
    folder = Path(folder)
    target = folder / precision
    if export_is_current(target, run_dir, precision):
        return target
    model, config, label_names = load_model()
    fp32 = folder / "fp32"
    graph_from = fp32 / GRAPH_FILES["fp32"] if precision == "int8" and export_is_current(fp32, run_dir, "fp32") \
        else None
    folder.mkdir(parents=True, exist_ok=True)
    staging = _staging(target)
    try:
        write_export(model, config, label_names, staging, run_id=run_id, run_dir=run_dir, fmt="onnx",
                     precision=precision, graph_from=graph_from)
        if export_is_current(target, run_dir, precision):  # another process finished first
            shutil.rmtree(staging, ignore_errors=True)
        else:
            _place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
