"""What travels with an exported model: thresholds.json (the global h, the per-label thresholds tuned on dev, a saved
profile) and README.md, a model card in the Hugging Face Hub's format (YAML front matter with a model-index)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import yaml

from eqn_core.method.config import TrainConfig
from eqn_core.method.thresholds import DEFAULT_THRESHOLD, ENERGY_MAX, ENERGY_MIN, THRESHOLD_GRID

# how the raw outputs (what the plain libraries give) become energies, by mode; inference.outputs_to_energies does it
ENERGY_RULES = {"coeqn": "clip(output, 0, 10)", "eqn": "clip(output, 0, 10)", "bce": "10 * sigmoid(output)",
                "softmax": "10 * softmax(outputs) over the labels"}
ENERGY_CODE = {"coeqn": "energies = np.clip(outputs, 0.0, 10.0)", "eqn": "energies = np.clip(outputs, 0.0, 10.0)",
               "bce": "energies = 10.0 / (1.0 + np.exp(-outputs))",
               "softmax": "energies = 10.0 * np.exp(outputs) / np.exp(outputs).sum(axis=1, keepdims=True)"}
THRESHOLD_RULE = "a label is predicted where energy >= its threshold (both compared as float32)"
# the Hub's ids of the built-in data sets (a card's datasets field); others are named in the text only
HUB_DATASETS = {"goemotions": ("google-research-datasets/go_emotions", "GoEmotions", "simplified")}
ENGLISH_DATASETS = ("goemotions", "emotion6", "tfn3")


def threshold_file(metrics: Mapping, label_names: Sequence[str], *, mode: str, profile: Mapping | None = None) -> dict:
    """thresholds.json: the rule, how outputs become energies, the global h, the per-label thresholds the run tuned on
    dev (when it has them) and, when given, a saved threshold profile."""
    tuned = metrics.get("thresholds")
    grid = f"{THRESHOLD_GRID[0]:g}, {THRESHOLD_GRID[1]:g}, ..., {THRESHOLD_GRID[-1]:g}"
    values = {
        "label_names": list(label_names),
        "energy_range": [ENERGY_MIN, ENERGY_MAX],
        "energy_from_output": ENERGY_RULES[mode],
        "rule": THRESHOLD_RULE,
        "global_threshold": float(metrics.get("global_threshold", DEFAULT_THRESHOLD)),
        "per_label": ({name: round(float(h), 4) for name, h in zip(label_names, tuned)} if tuned else None),
        "per_label_source": (f"tuned on the dev split: per label, the h among {grid} with the best F1 (ties: the "
                             "lower h)") if tuned else None,
        "recommended": "per_label" if tuned else "global_threshold",
    }
    if profile is not None:
        values["profile"] = {"name": profile["name"], "note": profile.get("note") or "",
                             "global_threshold": profile.get("global_threshold"),
                             "per_label": {name: round(float(h), 4)
                                           for name, h in zip(label_names, profile["thresholds"])}}
    return values


def figures_split(metrics: Mapping) -> str | None:
    """The split whose figures a card reports: test when the run was evaluated on it, else dev."""
    splits = metrics.get("splits") or {}
    return next((name for name in ("test", "dev") if name in splits), None)


def headline_metrics(split: Mapping) -> list[dict]:
    """The split's figures as model-index metrics (type, value, name)."""
    found = []

    def add(kind: str, value, name: str, **args) -> None:
        if value is not None:
            found.append({"type": kind, "value": round(float(value), 4), "name": name,
                          **({"args": args} if args else {})})

    if "single_label" in split:
        add("accuracy", split["single_label"]["accuracy"], "Accuracy (highest energy)")
        add("f1", split["single_label"]["macro_f1"], "Macro-F1 (highest energy)", average="macro")
    if "per_label_tuned" in split:
        add("f1", split["per_label_tuned"]["macro"]["f1"], "Macro-F1 (per-label thresholds tuned on dev)",
            average="macro")
        add("f1", split["per_label_tuned"]["micro"]["f1"], "Micro-F1 (per-label thresholds tuned on dev)",
            average="micro")
    if "per_label_global" in split:
        add("f1", split["per_label_global"]["macro"]["f1"],
            f"Macro-F1 at one threshold h = {float(split['global_threshold']):g}", average="macro")
    add("f1", (split.get("topk") or {}).get("f1"), "Sample-level top-k F1 (EQN paper eq. 15)")
    return found


def front_matter(*, run_id: str, config: TrainConfig, dataset: str, metrics: Mapping, fmt: str, precision: str,
                 base_model: str | None) -> dict:
    """The card's YAML metadata: license, language, library, pipeline, tags, base model, data set, model-index."""
    hub_dataset, dataset_title, hub_config = HUB_DATASETS.get(dataset, (None, dataset, None))
    tags = ["emotion", "micro-emotion", "multi-label", "regression", "eqn", "eqn-studio",
            "sentence-transformers" if fmt == "transformers" else "onnx"] + (["int8"] if precision == "int8" else [])
    meta: dict = {}
    if dataset in ENGLISH_DATASETS:
        meta["language"] = ["en"]
    bundled = config.encoder.startswith("bundled-")
    meta["license"] = "apache-2.0" if bundled else "other"  # the bundled encoders are Apache-2.0
    meta["library_name"] = "sentence-transformers" if fmt == "transformers" else "onnx"
    meta["pipeline_tag"] = "text-classification"
    meta["tags"] = tags
    if base_model:
        meta["base_model"] = base_model
    if hub_dataset:
        meta["datasets"] = [hub_dataset]
    meta["metrics"] = ["f1"]
    split_name = figures_split(metrics)
    if split_name:
        dataset_entry = {"type": hub_dataset or dataset, "name": dataset_title,
                         **({"config": hub_config} if hub_config else {}), "split": split_name}
        meta["model-index"] = [{"name": run_id, "results": [{
            "task": {"type": "text-classification", "name": "Emotion energies 0-10 (multi-label)"},
            "dataset": dataset_entry, "metrics": headline_metrics(metrics["splits"][split_name])}]}]
    return meta


def weakest_labels(split: Mapping, count: int = 4) -> list[tuple[str, float]]:
    rows = (split.get("per_label_tuned") or {}).get("labels") or []
    return sorted(((row["label"], float(row["f1"])) for row in rows), key=lambda item: item[1])[:count]


def loading_section(run_id: str, fmt: str, precision: str, mode: str, head: str = "linear") -> list[str]:
    """How to load the folder with the plain library and turn outputs into 0-10 energies and labels."""
    thresholds = ["thresholds = json.load(open(\"DIR/thresholds.json\"))",
                  "h = np.array([thresholds[\"per_label\"][name] for name in thresholds[\"label_names\"]])  "
                  "# or thresholds[\"global_threshold\"]",
                  "labels = [[name for name, on in zip(thresholds[\"label_names\"], row) if on] "
                  "for row in energies.astype(np.float32) >= h.astype(np.float32)]"]
    if fmt == "transformers" and head == "label_attention":
        code = ["import json", "import numpy as np", "from sentence_transformers import SentenceTransformer", "",
                "# the label-attention head is the module in DIR/label_attention.py (read it: a few lines of torch)",
                "model = SentenceTransformer(\"DIR\", device=\"cpu\", trust_remote_code=True)",
                "outputs = model.encode([\"I can't believe you remembered my birthday!\"])  # (N, C) raw outputs",
                ENERGY_CODE[mode], *thresholds]
        plain = ["With transformers alone: `AutoModel.from_pretrained(\"DIR\")` gives the token states; "
                 "`label_attention.py` shows the head's few lines (each emotion's query attends over them), with its "
                 "weights in `1_LabelAttention/model.safetensors`."]
    elif fmt == "transformers":
        code = ["import json", "import numpy as np", "from sentence_transformers import SentenceTransformer", "",
                "model = SentenceTransformer(\"DIR\", device=\"cpu\")",
                "outputs = model.encode([\"I can't believe you remembered my birthday!\"])  # (N, C) raw outputs",
                ENERGY_CODE[mode], *thresholds]
        plain = ["With transformers alone: `AutoModel.from_pretrained(\"DIR\")` and `AutoTokenizer.from_pretrained"
                 "(\"DIR\")` (truncation=True cuts at the run's max length), mean-pool `last_hidden_state` over the "
                 "attention mask, then `outputs = pooled @ W.T + b` with `W, b` = `linear.weight`, `linear.bias` "
                 "from `2_Dense/model.safetensors`. Do not add a Normalize module: it would change the outputs."]
    else:
        graph = "model_int8.onnx" if precision == "int8" else "model.onnx"
        code = ["import json", "import numpy as np", "import onnxruntime as ort",
                "from transformers import AutoTokenizer", "",
                "tokenizer = AutoTokenizer.from_pretrained(\"DIR\")",
                f"session = ort.InferenceSession(\"DIR/{graph}\", providers=[\"CPUExecutionProvider\"])",
                "batch = tokenizer([\"I can't believe you remembered my birthday!\"], padding=True, truncation=True, "
                "return_tensors=\"np\")",
                "outputs, energies = session.run([\"outputs\", \"energies\"], {\"input_ids\": batch[\"input_ids\"], "
                "\"attention_mask\": batch[\"attention_mask\"]})",
                "# energies (N, C) are already on the 0-10 scale; from the raw outputs:", ENERGY_CODE[mode],
                *thresholds]
        plain = [f"In EQN Studio: `eqn annotate --run {run_id} --backend onnx{'-int8' if precision == 'int8' else ''}"
                 " --onnx-dir DIR --text \"...\"`."]
    return ["## How to load it", "", "`DIR` is this folder. Nothing of EQN Studio is needed.", "", "```python",
            *code, "```", "", *plain, ""]


def model_card(*, run_id: str, config: TrainConfig, dataset: str, label_names: Sequence[str], metrics: Mapping,
               fmt: str, precision: str, check: Mapping | None, exported_at: str, app_version: str,
               base_model: str | None, shipped: Mapping | None = None) -> str:
    """README.md for an export folder: YAML front matter, then intended use, loading, figures, thresholds, limits."""
    config = config.resolved()  # a run's saved config is resolved already; this fills defaults for any other
    meta = front_matter(run_id=run_id, config=config, dataset=dataset, metrics=metrics, fmt=fmt,
                        precision=precision, base_model=base_model)
    split_name = figures_split(metrics)
    split = (metrics.get("splits") or {}).get(split_name or "", {})
    what = "a sentence-transformers folder (transformers loads its encoder)" if fmt == "transformers" else (
        f"an ONNX graph ({precision}) for onnxruntime")
    title = HUB_DATASETS.get(dataset, (None, dataset))[1]
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {run_id}: {title} emotion energies, exported from EQN Studio", "",
             f"An energy from 0 to 10 for each of {len(label_names)} labels ({', '.join(label_names)}), for any "
             f"text, in {what}. Made with the Expansion Quantization Network method (EQN mode `{config.mode}`): "
             "human labels became 10.0 / 0.0 targets of a regression head, so an energy says how strongly the model "
             "sees the label, not only whether.", "",
             "## Intended use", "",
             "Annotating texts with micro-emotion energies for research and data work: rank texts by an emotion, "
             "pre-annotate a data set for human review, compare emotions across groups of texts. A label is "
             "predicted where its energy reaches its threshold (thresholds.json). Not for decisions about a person.",
             "", *loading_section(run_id, fmt, precision, config.mode, config.head)]
    lines += ["## Figures", ""]
    if split_name:
        count = split.get("num_samples")
        lines.append(f"From the `{split_name}` split of {dataset} ({count:,} texts), computed by EQN Studio on the "
                     "run's energies (its PyTorch weights) when it was trained" + (
                         "; the per-label thresholds were tuned on the dev split, never on test." if
                         "per_label_tuned" in split else "."))
        lines += ["", "| figure | value |", "|---|---|"]
        lines += [f"| {m['name']} | {m['value']:.4f} |" for m in headline_metrics(split)]
    else:
        lines.append("The run has no evaluated split, so there are no figures.")
    if check:
        lines += ["", f"This export's energies match the run's (`eqn annotate --run {run_id} --fp32`) within "
                      f"{check['max_abs_difference']:.2g} on {check['texts']} check texts ({check['by']})."]
        if precision == "int8":
            lines.append("int8 weights move energies more than fp32 does; the figures above are the PyTorch run's. "
                         "EQN Studio's benchmarks/RESULTS.md (section 13) measured the int8 graph's test macro-F1.")
    tuned = metrics.get("thresholds")
    lines += ["", "## Thresholds", "", f"thresholds.json holds the rule ({THRESHOLD_RULE}); the global threshold "
              f"h = {float(metrics.get('global_threshold', DEFAULT_THRESHOLD)):g}"
              + ("; and per-label thresholds tuned on the dev split, the recommended choice:" if tuned else "."), ""]
    if tuned:
        lines += ["| label | threshold |", "|---|---|"]
        lines += [f"| {name} | {float(h):.2f} |" for name, h in zip(label_names, tuned)]
        lines.append("")
    lines += ["## Limits", "",
              f"- Trained on {dataset}; texts unlike it (other languages, domains, lengths) get less reliable "
              "energies. Energies are the model's scores, not measurements of anyone's feelings.",
              f"- Texts are cut at {config.max_length} tokens."]
    if "neutral" in label_names:
        lines.append("- `neutral` is a label of the data set, not an emotion.")
    weak = weakest_labels(split)
    if weak:
        lines.append("- Weakest labels on " + split_name + " (F1 under the tuned thresholds): "
                     + ", ".join(f"{name} {f1:.2f}" for name, f1 in weak) + ". Check such texts by hand.")
    lines += ["", "## How it was made", "",
              f"- Run `{run_id}`: encoder {config.encoder} ({base_model or 'a local folder'}), encoder mode "
              f"`{config.encoder_mode}`, EQN mode `{config.mode}`, {config.epochs} epoch(s), batch "
              f"{config.batch_size}, learning rate {config.learning_rate:g}, max length {config.max_length}, seed "
              f"{config.seed}.",
              "- The export holds the whole encoder: every layer, also those a partial run takes from its base "
              "encoder.",
              f"- Exported {exported_at} by EQN Studio {app_version} (`eqn export-model`)."]
    if shipped and shipped.get("command"):
        lines += [f"- Trained with: `{shipped['command']}` (then packaged as `{run_id}`)."]
    return "\n".join(lines) + "\n"
