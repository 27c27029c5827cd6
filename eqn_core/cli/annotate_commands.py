"""`eqn annotate`: score texts with a finished run, in this process or on Ray (a corpus in resumable shards)."""
from __future__ import annotations

import os
import sys

from eqn_core.cli.common import open_workspace, workspace_path
from eqn_core.scale.ray_annotate import SHARD_ROWS, annotate_corpus


def add_ray_options(parser) -> None:
    """The annotate command's options for the Ray engine."""
    group = parser.add_argument_group("Ray engine (--engine ray: a file, folder or glob in, a folder of shards out)")
    group.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local: this process (default); ray: Ray Data actors, Parquet shards, resumable")
    group.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    group.add_argument("--workers", type=int, help="actors (default: one per GPU, else one per --cpus-per-worker)")
    group.add_argument("--cpus-per-worker", type=float, default=1.0)
    group.add_argument("--gpus-per-worker", type=float, help="default 1 when the cluster has GPUs, else 0")
    group.add_argument("--shard-rows", type=int, default=SHARD_ROWS, help="texts per output Parquet file")


def annotate_with_ray_cli(args, run: dict) -> int:
    import sys

    if not args.input or not args.output:
        raise ValueError("--engine ray needs an input (file, folder or glob) and --output FOLDER for the shards")
    try:
        result = annotate_corpus(run["run_dir"], args.input, args.output, run_id=run["run_id"], address=args.address,
                                 workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                                 gpus_per_worker=args.gpus_per_worker, shard_rows=args.shard_rows,
                                 batch_size=args.batch_size, text_column=args.text_column, fp32=args.fp32)
    except ConnectionError as error:
        token = "" if os.environ.get("RAY_AUTH_MODE") == "token" else (
            " If the cluster uses token authentication (Ray >= 2.52 turns it on when the head machine has "
            "~/.ray/auth_token), set RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN, or the same "
            "~/.ray/auth_token here); for a head on this machine that is done for you.")
        raise ValueError(f"Cannot reach the Ray cluster at {args.address}: {error}. Check the address that "
                         f"`ray start --head` printed, or leave out --address to start a local Ray.{token}") from error
    print(f"wrote {result.shards_written} shards ({result.rows_written:,} texts, "
          f"{result.texts_per_second:,.0f} texts/s on {result.workers} {result.device} workers) to {result.output}; "
          f"{result.shards_skipped} shards were already there", file=sys.stderr)
    return 0


def cmd_annotate(args) -> int:
    import pandas as pd

    from eqn_core.export.files import write_frame
    from eqn_core.io.tables import read_texts
    from eqn_core.method.inference import annotate
    from eqn_core.runs.lifecycle import load_run_model
    from eqn_core.store.run_folders import parent_run

    with open_workspace(args) as workspace:
        run = workspace.get_run(args.run)
    if run["status"] != "finished":
        raise ValueError(f"run {args.run} is {run['status']}; only a finished run can annotate")
    if parent_run(run["config"]):
        raise ValueError(f"run {args.run} is Model 1 of EQN run {parent_run(run['config'])}: it has energies but "
                         "no weights of its own; annotate with a run you trained")
    if args.engine == "ray" and getattr(args, "backend", "torch") != "torch":
        raise ValueError("--backend onnx runs with --engine local; the Ray engine annotates with PyTorch")
    if args.engine == "ray":  # a corpus: Ray Data actors write Parquet shards (eqn_core.scale.ray_annotate)
        from eqn_core.cli.annotate_commands import annotate_with_ray_cli

        return annotate_with_ray_cli(args, run)
    if args.text:
        texts, ids = list(args.text), [f"text-{i + 1}" for i in range(len(args.text))]
    elif args.input:
        texts, ids = read_texts(args.input, text_column=args.text_column)
    else:
        raise ValueError("give an input file or --text TEXT")
    if args.output:  # check the target before the slow part
        from eqn_core.export.files import resolve_export_path

        resolve_export_path(args.output, None, overwrite=args.force, workspace_root=workspace_path(args))
    if getattr(args, "backend", "torch") != "torch":  # the run's ONNX graph on onnxruntime (cli/model_commands.py)
        from eqn_core.cli.model_commands import annotate_with_onnx

        energies, label_names = annotate_with_onnx(args, run, texts)
    else:
        model, config, label_names = load_run_model(run["run_dir"], device=args.device)
        energies = annotate(model, texts, mode=config.mode, batch_size=args.batch_size, cpu_bf16=not args.fp32)
    frame = pd.DataFrame(energies.round(4), columns=label_names)
    frame.insert(0, "text", texts)
    frame.insert(0, "text_id", ids)
    frame.insert(0, "run_id", args.run)
    if args.output:
        write_frame(frame, args.output, overwrite=args.force, workspace_root=workspace_path(args),
                    neutralize_formulas=not args.keep_formulas)
        print(f"wrote {len(frame):,} rows to {args.output}", file=sys.stderr)
    else:
        for _, row in frame.iterrows():
            top = sorted(((row[n], n) for n in label_names), reverse=True)[: args.top]
            print(f"{row['text'][:80]!r}: " + ", ".join(f"{n} {e:.2f}" for e, n in top))
    return 0
