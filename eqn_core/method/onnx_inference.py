"""Annotating texts through an exported ONNX graph on onnxruntime: the batches and energies of inference.annotate.

An ONNX export (eqn_core.export.model_export) is a folder: the graph (input_ids, attention_mask -> outputs, energies),
the tokenizer files, and MANIFEST_FILE, which says how the graph was made (run, mode, max length, label names).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eqn_core.method.inference import (
    BatchCallback,
    StopCheck,
    check_stop,
    length_ordered_batches,
    outputs_to_energies,
    work_fractions,
)
from eqn_core.method.models import TokenizedTexts

MANIFEST_FILE = "eqn_export.json"
"""What an export folder says about itself: format, precision, graph file, run, mode, max length, label names."""
GRAPH_FILES = {"fp32": "model.onnx", "int8": "model_int8.onnx"}
ONNX_INSTALL_HINT = 'pip install "eqn-studio[onnx]" (onnx, onnxruntime, onnxscript)'


def require_onnx_runtime():
    """The onnxruntime module, or a ValueError that says how to install it."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ValueError(f"The ONNX backend needs onnxruntime, which is not installed: {ONNX_INSTALL_HINT}") from error
    return onnxruntime


def read_manifest(folder: str | Path) -> dict:
    """The export folder's MANIFEST_FILE; ValueError when the folder is not an export of EQN Studio."""
    path = Path(folder) / MANIFEST_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{folder} is not a model exported by EQN Studio: {MANIFEST_FILE} is missing. Make one with "
                         "`eqn export-model --run RUN --format onnx -o DIR`.") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is damaged ({error}); export the model again.") from None


class OnnxEnergyModel:
    """An exported ONNX graph with its tokenizer: texts in, energies (N, C) out, as `inference.annotate` gives them.

    threads: onnxruntime's intra-op threads (default: its own choice, one per physical core).
    """

    def __init__(self, folder: str | Path, *, threads: int | None = None):
        ort = require_onnx_runtime()
        from transformers import AutoTokenizer

        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        if self.manifest.get("format") != "onnx":
            raise ValueError(f"{self.folder} holds a {self.manifest.get('format')} export, not an ONNX graph; export "
                             "one with `eqn export-model --format onnx`.")
        self.label_names: list[str] = list(self.manifest["label_names"])
        self.mode: str = self.manifest["mode"]
        self.energy_scale = float(self.manifest.get("energy_scale", 10.0))
        self.max_length = int(self.manifest["max_length"])
        self.precision: str = self.manifest.get("precision", "fp32")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        graph = self.folder / self.manifest["graph"]
        if not graph.is_file():
            raise ValueError(f"The ONNX graph {graph} is missing; export the model again.")
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
        self.pad_id = self.tokenizer.pad_token_id or 0

    def featurize(self, texts: list[str]) -> TokenizedTexts:
        """Token ids as the run's encoder makes them (truncated at the run's max length)."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return TokenizedTexts(encoded["input_ids"], self.pad_id)

    def predict_outputs(self, features: TokenizedTexts, *, batch_size: int = 128, on_batch: BatchCallback | None = None,
                        should_stop: StopCheck | None = None) -> np.ndarray:
        """Raw head outputs (N, C) float32 in input order, length-sorted batches as in inference.predict_outputs."""
        lengths = features.lengths
        batches = length_ordered_batches(lengths, batch_size)
        fractions = work_fractions(lengths, batches) if batches else np.zeros(0)
        result = np.zeros((len(features), len(self.label_names)), dtype=np.float32)
        done = 0
        for number, indices in enumerate(batches):
            check_stop(should_stop)
            batch = features.batch(indices)
            feeds = {"input_ids": batch["input_ids"].numpy(), "attention_mask": batch["attention_mask"].numpy()}
            result[indices] = self.session.run(["outputs"], feeds)[0]  # (B, C)
            done += len(indices)
            if on_batch:
                on_batch(done, len(features), float(fractions[number]))
        return result

    def annotate(self, texts: list[str], *, batch_size: int = 128, on_batch: BatchCallback | None = None,
                 should_stop: StopCheck | None = None) -> np.ndarray:
        """Energies (N, C) float32 in [0, 10]: the graph's raw outputs through the run's one rule
        (inference.outputs_to_energies), so both backends turn outputs into energies the same way."""
        outputs = self.predict_outputs(self.featurize(texts), batch_size=batch_size, on_batch=on_batch,
                                       should_stop=should_stop)
        return outputs_to_energies(outputs, mode=self.mode, scale=self.energy_scale)
