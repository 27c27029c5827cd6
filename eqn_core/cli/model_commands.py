"""`eqn export-model` (a run's model for other tools) and `eqn annotate --backend onnx` (annotating through the
exported ONNX graph on onnxruntime)."""
from __future__ import annotations

import sys
from pathlib import Path

from eqn_core.cli.common import open_workspace, workspace_path

BACKENDS = ("torch", "onnx", "onnx-int8")
DEFAULT_BACKEND = "torch"
"""PyTorch stays the default on a CPU: the int8 graph annotated 1.46x PyTorch fp32's texts/s on an idle 2-core machine,
under the 1.5x that would make it the default (benchmarks/RESULTS.md, section 13)."""
BACKEND_PRECISIONS = {"onnx": "fp32", "onnx-int8": "int8"}


def add_model_commands(sub) -> None:
    from eqn_core.export.model_export import MODEL_FORMATS, QUANTIZATIONS

    p = sub.add_parser("export-model", help="write a run's model for other tools: sentence-transformers / "
                                            "transformers, or ONNX (fp32, int8), with thresholds and a model card")
    p.add_argument("--run", required=True)
    p.add_argument("--format", choices=MODEL_FORMATS, default="transformers",
                   help="transformers: a sentence-transformers folder (transformers loads its encoder); "
                        "onnx: an ONNX graph for onnxruntime, the tokenizer beside it")
    p.add_argument("--quantize", choices=QUANTIZATIONS, help="onnx: int8 weights (onnxruntime dynamic quantization)")
    p.add_argument("--output", "-o", required=True, help="the folder to write (new, empty, or an earlier export)")
    p.add_argument("--profile", help="also write this saved threshold profile into thresholds.json")
    p.add_argument("--force", action="store_true", help="replace the folder when it holds an earlier export")
    p.set_defaults(func=cmd_export_model)


def add_backend_options(parser) -> None:
    """The annotate command's choice of inference backend."""
    group = parser.add_argument_group("backend (--engine local)")
    group.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                       help="torch: the run's PyTorch model (default); onnx / onnx-int8: its ONNX graph (fp32 / "
                            "int8) on onnxruntime, exported once on first use (needs the onnx extra)")
    group.add_argument("--onnx-dir", help="an ONNX export of the run to use (eqn export-model --format onnx)")


def finished_run(workspace, run_id: str) -> dict:
    from eqn_core.store.run_folders import parent_run

    run = workspace.get_run(run_id)
    if run["status"] != "finished":
        raise ValueError(f"run {run_id} is {run['status']}; only a finished run has a model")
    if parent_run(run["config"]):
        raise ValueError(f"run {run_id} is Model 1 of EQN run {parent_run(run['config'])}: it has energies but no "
                         "weights of its own; use the run you trained")
    return run


def run_model_loader(run_dir: str):
    """Loads the run's model on the CPU when called (exports trace it there)."""
    def load():
        from eqn_core.runs.lifecycle import load_run_model

        return load_run_model(run_dir, device="cpu")
    return load


def cmd_export_model(args) -> int:
    from eqn_core.export.model_export import export_model, prepare_target

    if args.quantize and args.format != "onnx":
        raise ValueError("--quantize int8 is for --format onnx (onnxruntime runs the int8 graph).")
    with open_workspace(args) as workspace:
        run = finished_run(workspace, args.run)
        profile = None
        if args.profile:
            profile = workspace.load_threshold_profile(args.profile)
            if profile["run_id"] != args.run:
                raise ValueError(f"profile {args.profile} belongs to run {profile['run_id']}, not {args.run}")
    root = workspace_path(args)
    prepare_target(args.output, overwrite=args.force, workspace_root=root)  # before the slow part
    model, config, label_names = run_model_loader(run["run_dir"])()
    result = export_model(model, config, label_names, run_id=args.run, run_dir=run["run_dir"], output=args.output,
                          fmt=args.format, quantize=args.quantize, overwrite=args.force, workspace_root=root,
                          profile=profile)
    check = result["check"]
    checked = (f"; energies within {check['max_abs_difference']:.1e} of the PyTorch fp32 model on {check['texts']} "
               f"texts ({check['by']})") if check else "; not checked here (sentence-transformers is not installed)"
    kind = args.format + (f" {args.quantize}" if args.quantize else "")
    print(f"exported {args.run} ({kind}) to {result['path']}{checked}")
    return 0


def onnx_folder_for(workspace, run: dict) -> Path:
    """Where `--backend onnx` keeps a run's export: its run folder, or the workspace cache for a shipped run (whose
    folder is inside the installed package)."""
    from eqn_core.store.shipped import is_shipped

    if is_shipped(run):
        return workspace.cache_dir / "onnx" / run["run_id"]
    return Path(run["run_dir"]) / "onnx"


def annotate_with_onnx(args, run: dict, texts: list[str]) -> tuple:
    """(energies (N, C), label names) of the texts through the run's ONNX graph (--backend onnx / onnx-int8)."""
    from eqn_core.export.model_export import cached_onnx_export, weights_fingerprint
    from eqn_core.method.onnx_inference import OnnxEnergyModel, read_manifest, require_onnx_runtime

    require_onnx_runtime()
    precision = BACKEND_PRECISIONS[args.backend]
    if args.onnx_dir:
        folder = Path(args.onnx_dir)
        manifest = read_manifest(folder)
        if manifest.get("run_id") != run["run_id"] or manifest.get("weights_sha256") != weights_fingerprint(
                run["run_dir"]):
            raise ValueError(f"{folder} holds an export of run {manifest.get('run_id')} that is not this run's "
                             f"current model ({run['run_id']}); export it again with eqn export-model")
        if manifest.get("precision") != precision:
            raise ValueError(f"{folder} holds a {manifest.get('precision')} graph; --backend {args.backend} needs "
                             f"{precision}")
    else:
        with open_workspace(args) as workspace:
            base = onnx_folder_for(workspace, run)
        if not (base / precision).exists():
            print(f"exporting {run['run_id']} to ONNX ({precision}) in {base / precision} (once)", file=sys.stderr)
        folder = cached_onnx_export(run_model_loader(run["run_dir"]), run_id=run["run_id"], run_dir=run["run_dir"],
                                    folder=base, precision=precision)
    runtime = OnnxEnergyModel(folder)
    return runtime.annotate(texts, batch_size=args.batch_size), runtime.label_names
