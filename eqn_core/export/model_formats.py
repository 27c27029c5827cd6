"""A run's model as files other tools load: a sentence-transformers folder (plain transformers loads its encoder), an
ONNX graph for onnxruntime, and that graph quantized to int8.

Both hold the WHOLE encoder: a partial run saves only its top layers and takes the lower ones from its base encoder,
and an export writes every layer, so the folder needs nothing of EQN Studio.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from eqn_core.method.config import TrainConfig
from eqn_core.method.models import EnergyModel
from eqn_core.method.onnx_inference import GRAPH_FILES, ONNX_INSTALL_HINT

ONNX_OPSET = 18
"""The opset of exported graphs (onnxruntime >= 1.14 runs it; the issue's floor is 17)."""
# the Hugging Face Hub's ids of the encoders EQN Studio bundles (the card's base_model)
HUB_IDS = {"bundled-minilm": "sentence-transformers/all-MiniLM-L6-v2",
           "bundled-mpnet": "sentence-transformers/all-mpnet-base-v2"}
# the sentence-transformers layout (v2 and later read it): the encoder at the root, mean pooling, the linear head
SENTENCE_TRANSFORMERS_MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
]
# a label-attention run: the encoder's token states go to the LabelAttention module shipped beside the model
LABEL_ATTENTION_SOURCE = Path(__file__).resolve().parent / "assets" / "label_attention.py"
LABEL_ATTENTION_MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_LabelAttention", "type": "label_attention.LabelAttention"},
]


def check_exportable(model: EnergyModel, config: TrainConfig) -> None:
    """ValueError for a model no other tool could load: the from-scratch backbones have their own vocabulary."""
    if config.is_scratch or not hasattr(model.encoder, "backbone"):
        raise ValueError(f"A run with the {config.encoder} backbone cannot be exported: only transformer encoders "
                         "(the bundled ones, a Hugging Face model or folder) have a format other tools load.")


def base_model_id(encoder: str) -> str | None:
    """The Hub id of the run's base encoder (None for a local folder)."""
    if encoder in HUB_IDS:
        return HUB_IDS[encoder]
    return None if encoder.startswith(("/", ".", "~")) or Path(encoder).is_dir() else encoder


def _write_json(path: Path, values) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")


def _update_json(path: Path, **values) -> None:
    _write_json(path, {**json.loads(path.read_text(encoding="utf-8")), **values})


@contextlib.contextmanager
def _quiet():
    """Keep the exporters' progress lines and warnings off the command line's output."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)


def write_tokenizer(model: EnergyModel, folder: Path, *, max_length: int) -> None:
    """The encoder's tokenizer files; model_max_length is the run's max length, so `truncation=True` cuts where the
    run cut."""
    model.encoder.tokenizer.save_pretrained(str(folder))
    _update_json(folder / "tokenizer_config.json", model_max_length=max_length)


def write_encoder(model: EnergyModel, folder: Path, label_names: list[str], *, max_length: int) -> None:
    """The whole encoder in the Hugging Face layout (config.json with id2label, model.safetensors) and its tokenizer."""
    with _quiet():
        model.encoder.backbone.save_pretrained(str(folder))
    _update_json(folder / "config.json", id2label={str(i): name for i, name in enumerate(label_names)},
                 label2id={name: i for i, name in enumerate(label_names)})
    write_tokenizer(model, folder, max_length=max_length)


def write_sentence_transformers(model: EnergyModel, config: TrainConfig, label_names: list[str],
                                folder: Path) -> list[str]:
    """A sentence-transformers folder whose encode() gives the run's raw outputs: the whole encoder, then mean pooling
    and a Dense(identity) head (no Normalize: it would change them), or for a label-attention run the encoder and
    the LabelAttention module of assets/label_attention.py, copied beside it (loads with trust_remote_code=True).
    Returns the files written."""
    import shutil

    from safetensors.torch import save_file

    write_encoder(model, folder, label_names, max_length=config.max_length)
    hidden, labels = model.head.in_features, model.head.out_features
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": config.max_length, "do_lower_case": False})
    _write_json(folder / "config_sentence_transformers.json",
                {"__version__": {"pytorch": torch.__version__.split("+")[0]}, "prompts": {},
                 "default_prompt_name": None})
    head = {name: value.detach().float().cpu().contiguous() for name, value in model.head.state_dict().items()}
    if getattr(model, "head_kind", "linear") == "label_attention":
        _write_json(folder / "modules.json", LABEL_ATTENTION_MODULES)
        shutil.copyfile(LABEL_ATTENTION_SOURCE, folder / LABEL_ATTENTION_SOURCE.name)
        _write_json(folder / "1_LabelAttention" / "config.json", {"in_features": hidden, "out_features": labels})
        save_file(head, str(folder / "1_LabelAttention" / "model.safetensors"))
    else:
        _write_json(folder / "modules.json", SENTENCE_TRANSFORMERS_MODULES)
        _write_json(folder / "1_Pooling" / "config.json",
                    {"word_embedding_dimension": hidden, "pooling_mode_cls_token": False,
                     "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
                     "pooling_mode_mean_sqrt_len_tokens": False})
        _write_json(folder / "2_Dense" / "config.json", {"in_features": hidden, "out_features": labels, "bias": True,
                                                         "activation_function": "torch.nn.modules.linear.Identity"})
        save_file({f"linear.{name}": value for name, value in head.items()},
                  str(folder / "2_Dense" / "model.safetensors"))
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


class EnergyGraph(nn.Module):
    """What the ONNX graph computes: the run's own forward pass (encoder, mean pooling over real tokens, head), then
    its energies on the 0-10 scale. Outputs: "outputs" (B, C) raw, "energies" (B, C) in [0, scale]."""

    def __init__(self, model: EnergyModel, *, mode: str, scale: float):
        super().__init__()
        self.model, self.mode, self.scale = model, mode, float(scale)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = self.model({"input_ids": input_ids, "attention_mask": attention_mask})  # (B, C)
        if self.mode == "bce":
            energies = self.scale * torch.sigmoid(outputs)
        elif self.mode == "softmax":
            energies = self.scale * torch.softmax(outputs, dim=1)
        else:
            energies = outputs
        return outputs, energies.clamp(0.0, self.scale)


def require_onnx_exporter() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (torch.onnx.export's graph builder)
    except ImportError as error:
        raise ValueError(f"Exporting to ONNX needs onnx and onnxscript, which are not installed: "
                         f"{ONNX_INSTALL_HINT}") from error


def write_onnx_graph(model: EnergyModel, config: TrainConfig, path: Path) -> None:
    """torch.onnx.export (the torch.export-based exporter) of EnergyGraph with dynamic batch and sequence axes."""
    require_onnx_exporter()
    model.eval()
    graph = EnergyGraph(model, mode=config.mode, scale=config.energy_scale).eval()
    sample = model.featurize(["An example to trace the graph with.", "Another, longer example, so the batch pads."])
    batch = sample.batch([0, 1])
    positions = getattr(model.encoder.backbone.config, "max_position_embeddings", None) or 512
    axes = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence", max=int(positions))}
    with _quiet(), torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(graph, (batch["input_ids"], batch["attention_mask"]), dynamo=True,
                                    opset_version=ONNX_OPSET, input_names=["input_ids", "attention_mask"],
                                    output_names=["outputs", "energies"], external_data=False, verbose=False,
                                    dynamic_shapes={"input_ids": axes, "attention_mask": axes})
        program.save(str(path))


def write_onnx(model: EnergyModel, config: TrainConfig, label_names: list[str], folder: Path) -> list[str]:
    """An ONNX folder: model.onnx (fp32), the tokenizer, and the encoder's config.json with id2label."""
    write_onnx_graph(model, config, folder / GRAPH_FILES["fp32"])
    write_tokenizer(model, folder, max_length=config.max_length)
    encoder_config = model.encoder.backbone.config.to_dict()
    encoder_config.update(id2label={str(i): name for i, name in enumerate(label_names)},
                          label2id={name: i for i, name in enumerate(label_names)})
    _write_json(folder / "config.json", encoder_config)
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def quantize_onnx(source: Path, target: Path) -> None:
    """Dynamic int8 quantization (onnxruntime.quantization.quantize_dynamic): int8 weights per output channel,
    activations quantized per batch at run time. Per-channel halves the energy error of per-tensor weights here."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as error:
        raise ValueError(f"int8 quantization needs onnxruntime, which is not installed: {ONNX_INSTALL_HINT}") from error
    with _quiet():
        quantize_dynamic(str(source), str(target), per_channel=True, weight_type=QuantType.QInt8)
