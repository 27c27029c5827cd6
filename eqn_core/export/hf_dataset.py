"""A run's annotations on a split as a Hugging Face `datasets` dataset (save_to_disk): typed features (the text,
the human labels as ClassLabel ids, one float32 column per label, the reviewed columns, where each row comes from)
and a dataset card README.md in the Hub's format, with the run and the provenance. The values are those of the
Parquet export of the same content (export_annotations writes them first, then they are typed here).
`push_to_hub` sends the saved dataset and its card to a Hub repository (needs the network and a token)."""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path

import numpy as np

from eqn_core.export.annotations import CONTENTS, export_annotations
from eqn_core.export.files import check_export_target
from eqn_core.store.workspace import Workspace

HF_CONTENTS = tuple(content for content in CONTENTS if content != "review-log")
CARD_NAME = "README.md"
METADATA_COLUMNS = ("run_id", "dataset", "split", "row_idx", "mode", "encoder")
REVIEW_COLUMNS = ("review_count", "reviewers", "review_sources")
CONTENT_WORDS = {
    "energies": "the model's energies as it gave them",
    "thresholded": "the energies, with each one below its label's threshold h set to 0 (eq. 8)",
    "binary": "1 where the energy reaches its label's threshold h, else 0",
    "reviewed": "the thresholded energies with the reviewers' decisions applied (the rule behind each reviewed "
                "value is in review_sources)",
}


def hf_split_name(split: str) -> str:
    """A split name the Hub accepts (letters, digits, _ and .): "textset:diary" -> "textset_diary"."""
    return re.sub(r"[^\w.]+", "_", split).strip("_.") or "data"


def hf_features(label_names: list[str], content: str):
    """The typed columns: text, text_id, human_labels (Sequence of ClassLabel), one Value per label (float32;
    binary: int32), review columns (reviewed), then where each row comes from."""
    from datasets import ClassLabel, Features, Sequence, Value

    values = Value("int32") if content == "binary" else Value("float32")
    columns = {"text": Value("string"), "text_id": Value("string"),
               "human_labels": Sequence(ClassLabel(names=list(label_names)))}
    columns.update({label: values for label in label_names})
    if content == "reviewed":
        columns.update({"review_count": Value("int32"), "reviewers": Value("string"),
                        "review_sources": Value("string")})
    columns.update({"run_id": Value("string"), "dataset": Value("string"), "split": Value("string"),
                    "row_idx": Value("int32"), "mode": Value("string"), "encoder": Value("string")})
    return Features(columns)


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "1M<n<10M" if rows < 10_000_000 else "n>10M"


def dataset_card(info, metadata: dict, *, split: str, data_files: str, multi_label: bool,
                 license: str = "unknown") -> str:
    """The README.md: YAML (license, task categories, pretty name, configs and dataset_info with the features) and
    a description with the run and the provenance. data_files: where the split's files are ("data-*.arrow" in a
    saved folder, "data/<split>-*" on the Hub)."""
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard, DatasetCardData

    label_names = info.features["human_labels"].feature.names
    content, run_id, dataset = metadata["content"], metadata["run_id"], metadata["dataset"]
    pretty_name = f"{dataset} {metadata['split']}: micro-emotions ({content}) from EQN Studio run {run_id}"
    card = DatasetCardData(
        license=license, pretty_name=pretty_name, task_categories=["text-classification"],
        task_ids=["multi-label-classification" if multi_label else "multi-class-classification"],
        tags=["emotion", "micro-emotions", "eqn-studio"], size_categories=[_size_category(metadata["rows"])],
        configs=[{"config_name": "default", "data_files": [{"split": split, "path": data_files}]}])
    DatasetInfosDict({"default": info}).to_dataset_card_data(card)
    model = metadata["model"]
    columns = [
        "- `text`, `text_id`: the text and its id in the data set",
        "- `human_labels`: the labels people gave, as ClassLabel ids into the label names below",
        f"- one column per label ({'int32' if content == 'binary' else 'float32'}): {CONTENT_WORDS[content]}",
    ]
    if content == "reviewed":
        columns.append("- `review_count`, `reviewers`: how many people reviewed the text and who; `review_sources`: "
                       "a JSON object {label: rule} for the values reviewers touched")
    columns.append(f"- {', '.join(f'`{name}`' for name in METADATA_COLUMNS)}: where each row comes from")
    body = "\n".join([
        f"# {pretty_name}", "",
        (f"Micro-emotion annotations made with EQN Studio {metadata['app_version']}: each text of split "
         f"`{metadata['split']}` of the data set `{dataset}` ({metadata['rows']} texts) with an energy from 0 to 10 "
         f"for each of its {len(label_names)} labels, from the {model['mode']} model of run `{run_id}` (encoder "
         f"`{model['encoder']}`)."), "",
        "## Columns", "", *columns, "",
        "## Labels", "", ", ".join(f"`{name}`" for name in label_names), "",
        "## Load", "", "```python", "from datasets import load_from_disk  # a saved folder; from the Hub: load_dataset",
        "", 'dataset = load_from_disk("PATH")', "```", "",
        "## License", "",
        f"`{license}` until you set it: the texts keep the license of the data set they come from.", "",
        "## Provenance", "", "```json", json.dumps(metadata, indent=2, default=str), "```", ""])
    return str(DatasetCard(f"---\n{card.to_yaml()}\n---\n\n{body}"))


def _hf_target(path: str | Path, *, overwrite: bool, workspace_root) -> Path:
    """The checked output folder: outside the workspace's own files; an existing one only with overwrite, and
    only when it is empty or a saved dataset (so --force never deletes anything else)."""
    path = Path(path).expanduser().resolve()
    check_export_target(path, workspace_root)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{path} is a file; a Hugging Face dataset is a folder: give a folder name.")
        if not overwrite:
            raise ValueError(f"{path} already exists; choose another folder or allow replacing it "
                             "(`eqn export --force`).")
        if any(path.iterdir()) and not (path / "state.json").is_file():
            raise ValueError(f"{path} is a folder that holds other files, not a saved dataset; it is not replaced. "
                             "Choose a new folder.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def export_hf_dataset(workspace: Workspace, *, run_id: str, split: str, path: str | Path, content: str = "energies",
                      thresholds=None, reviewer: str | None = None, overwrite: bool = False,
                      push_to_hub: str | None = None, license: str = "unknown") -> dict:
    """Save a run's annotations of a split (content: energies, thresholded, binary or reviewed; thresholds and
    reviewer as in export_annotations) as a `datasets` dataset in the folder `path`, with README.md. The folder is
    written beside under a temporary name and renamed, so a failed export leaves none. push_to_hub: a Hub repository
    ("user/name") to push it to afterwards. Returns {"path", "rows", "format", "content", "card", "pushed_to"}."""
    import pyarrow.parquet as pq
    from datasets import Dataset, DatasetInfo

    if content not in HF_CONTENTS:
        raise ValueError(f"A Hugging Face dataset holds annotations ({', '.join(HF_CONTENTS)}), not {content!r}; "
                         "write the review log as CSV, Parquet or JSONL.")
    path = _hf_target(path, overwrite=overwrite, workspace_root=workspace.root)
    run = workspace.get_run(run_id)
    dataset_name = run["dataset"]
    label_names = workspace.label_names(dataset_name)
    listed = workspace.list_datasets()
    multi_label = bool(listed.loc[listed["name"] == dataset_name, "multi_label"].iloc[0])
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    staging.mkdir()
    try:
        written = export_annotations(workspace, run_id=run_id, split=split, path=staging / "annotations.parquet",
                                     fmt="parquet", content=content, thresholds=thresholds, reviewer=reviewer)
        table = pq.read_table(written["path"])
        metadata = {**json.loads(Path(written["metadata"]).read_text(encoding="utf-8")), "format": "hf-dataset"}
        texts = workspace.texts(dataset_name, split)
        label_ids = dict(zip(texts["row_idx"].astype(int), texts["label_ids"]))  # the human labels, by row
        row_idx = table.column("row_idx").to_numpy()
        features = hf_features(label_names, content)
        columns = {"text": table.column("text").to_pylist(), "text_id": table.column("text_id").to_pylist(),
                   "human_labels": [label_ids[int(row)] for row in row_idx]}
        for label in label_names:
            columns[label] = table.column(label).to_numpy().astype(np.int32 if content == "binary" else np.float32)
        for name in (REVIEW_COLUMNS if content == "reviewed" else ()) + METADATA_COLUMNS:
            columns[name] = table.column(name).to_pylist()
        split_name = hf_split_name(split)
        info = DatasetInfo(description=f"EQN Studio {content} of run {run_id} on {dataset_name} {split}",
                           features=features, license=license,
                           splits=[{"name": split_name, "num_examples": table.num_rows}])
        hf_dataset = Dataset.from_dict(columns, features=features, info=info, split=split_name)
        folder = staging / "dataset"
        _quietly(lambda: hf_dataset.save_to_disk(str(folder)))
        (folder / CARD_NAME).write_text(dataset_card(hf_dataset.info, metadata, split=split_name,
                                                     data_files="data-*.arrow", multi_label=multi_label,
                                                     license=license), encoding="utf-8")
        if path.exists():  # checked above: overwrite of an empty folder or a saved dataset
            shutil.rmtree(path)
        os.replace(folder, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if push_to_hub:
        push_hf_dataset(path, push_to_hub, metadata=metadata, multi_label=multi_label, license=license)
    return {"path": path, "rows": table.num_rows, "format": "hf-dataset", "content": content,
            "card": path / CARD_NAME, "pushed_to": push_to_hub or None}


def push_hf_dataset(path: str | Path, repo: str, *, metadata: dict, multi_label: bool,
                    license: str = "unknown") -> None:
    """Push a saved dataset to the Hub (Dataset.push_to_hub: Parquet under data/) and then its card, with the
    data files where the Hub keeps them. Needs the network and a token (HF_TOKEN or `hf auth login`)."""
    from datasets import load_from_disk
    from huggingface_hub import DatasetCard

    saved = load_from_disk(str(path))
    split = str(saved.split)
    saved.push_to_hub(repo, split=split)
    card = dataset_card(saved.info, metadata, split=split, data_files=f"data/{split}-*", multi_label=multi_label,
                        license=license)
    DatasetCard(card).push_to_hub(repo, repo_type="dataset")


def _quietly(action) -> None:
    """Run a datasets call without its progress bars (they would garble the command line's output)."""
    import datasets

    were_off = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        action()
    finally:
        if not were_off:
            datasets.enable_progress_bars()
