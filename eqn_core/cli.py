"""The `eqn` command line: fetch and add data, train CoEQN / EQN / baselines, evaluate, annotate, export."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

DEFAULT_WORKSPACE = "eqn-workspace"


def workspace_path(args) -> Path:
    return Path(args.workspace or os.environ.get("EQN_WORKSPACE") or DEFAULT_WORKSPACE)


def open_workspace(args):
    from .workspace import Workspace

    return Workspace(workspace_path(args))


# ---------------------------------------------------------------------------------------------------------------------
# Commands


def cmd_fetch(args) -> int:
    from .data import fetch_goemotions, load_goemotions

    if args.dataset != "goemotions":
        raise ValueError("only 'goemotions' can be fetched; add other data sets with `eqn add`")
    from .errors import DataError

    with open_workspace(args) as workspace:
        try:
            folder = fetch_goemotions(workspace.cache_dir / "downloads", from_dir=args.from_dir, force=args.force)
        except DataError as error:
            if args.from_dir is None and "could not download" in error.message:
                raise DataError(f"{error.message}: `eqn fetch goemotions --from DIR`", file=error.file) from None
            raise
        dataset = load_goemotions(folder)
        workspace.add_dataset(dataset, replace=args.replace)
    rows = ", ".join(f"{name} {len(split.texts):,}" for name, split in dataset.splits.items())
    print(f"goemotions: {rows} rows, {len(dataset.label_names)} labels (files in {folder})")
    return 0


def cmd_add(args) -> int:
    from .data import load_builtin, load_files

    if args.builtin:
        if not args.from_dir:
            raise ValueError("--builtin needs --from DIR, the folder with the data set's files")
        dataset = load_builtin(args.builtin, args.from_dir)
        dataset.name = args.name
    else:
        files = {split: path for split, path in (("train", args.train), ("dev", args.dev), ("test", args.test)) if path}
        if "train" not in files:
            raise ValueError("give at least --train FILE (and --dev / --test when you have them)")
        options = dict(text_column=args.text_column, label_format=args.label_format, labels_column=args.labels_column,
                       id_column=args.id_column, sep=args.sep)
        if args.label_columns:
            options["label_columns"] = args.label_columns.split(",")
        if args.label_names:
            names = args.label_names
            options["label_names"] = names if Path(names).exists() else names.split(",")
        dataset = load_files(args.name, files, dev_fraction=args.dev_fraction, seed=args.seed, **options)
    with open_workspace(args) as workspace:
        workspace.add_dataset(dataset, replace=args.replace)
    rows = ", ".join(f"{name} {len(split.texts):,}" for name, split in dataset.splits.items())
    kind = "multi-label" if dataset.multi_label else "single-label"
    print(f"{dataset.name}: {rows} rows, {len(dataset.label_names)} labels, {kind}")
    return 0


def cmd_datasets(args) -> int:
    with open_workspace(args) as workspace:
        frame = workspace.list_datasets()
    print(frame.to_string(index=False) if len(frame) else "no data sets yet: try `eqn fetch goemotions`")
    return 0


def config_from_args(args):
    """The run's TrainConfig; ValueError (the Train page's messages) for a bad encoder or value."""
    from .config import TrainConfig, check_encoder

    values = dict(dataset=args.dataset, mode=args.mode, encoder=check_encoder(args.encoder),
                  encoder_mode=args.encoder_mode, trained_layers=args.trained_layers,
                  cache_budget_gb=args.cache_budget_gb,
                  epochs=args.epochs, model2_epochs=args.model2_epochs, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
                  device=args.device, dropout=args.dropout, max_length=args.max_length,
                  continue_from_model1=not args.fresh_model2, regression_targets=args.regression_targets,
                  folds=args.folds, rounds=args.rounds, select_by=args.select_by, max_train_rows=args.max_train_rows,
                  patience=args.patience)
    return TrainConfig(**{k: v for k, v in values.items() if v is not None}).check()


def cmd_train(args) -> int:
    from .execute import execute_run
    from .runs import ingest_run, prepare_run

    config = config_from_args(args)
    if args.processes > 1:  # data-parallel (eqn_core.distributed); the run record says how many processes
        config.extra = {**config.extra, "processes": args.processes}
    with open_workspace(args) as workspace:
        folder = prepare_run(workspace, config, run_id=args.run_id)
        cache_dir = workspace.cache_dir
    # the workspace is closed while training, so the app (or another command) can use it meanwhile
    print(f"run {folder.path.name}: {config.mode} on {config.dataset}, encoder {config.encoder} ({config.encoder_mode})",
          file=sys.stderr)
    if args.prepare_only:  # started later, e.g. on several GPUs: accelerate launch ... -m eqn_core.distributed DIR
        print(f"prepared {folder.path}; start it with: accelerate launch --multi_gpu --num_processes N "
              f"-m eqn_core.distributed {folder.path}   (then `eqn runs` records the result)")
        return 0
    if args.processes > 1:
        from .distributed import launch
        from .runs import RunFolder

        code = launch(folder.path, processes=args.processes, show_progress=not args.quiet)
        status = RunFolder(folder.path).status()
        if status["status"] in ("queued", "running"):  # the processes died before writing their record
            from .runs import now_iso, write_json_atomic

            status = {**status, "status": "failed", "finished_at": now_iso(),
                      "error": f"the {args.processes} training processes exited with code {code}"}
            write_json_atomic(RunFolder(folder.path).status_file, status)
    else:
        status = execute_run(folder.path, cache_dir=cache_dir, show_progress=not args.quiet)
    with open_workspace(args) as workspace:
        ingest_run(workspace, folder.path.name)
        run = workspace.get_run(folder.path.name)
    if status["status"] != "finished":
        print(f"run {folder.path.name} {status['status']}: {status.get('error', '')}", file=sys.stderr)
        return 1 if status["status"] == "failed" else 130
    print_run_summary(run)
    return 0


def print_run_summary(run: dict) -> None:
    metrics = run.get("metrics") or {}
    print(f"run {run['run_id']} finished")
    for split_name, report in metrics.get("splits", {}).items():
        topk = report.get("topk", {})
        line = f"  {split_name}: top-k F1 {topk.get('f1', float('nan')):.4f}"
        for key, label in (("per_label_tuned", "macro-F1 tuned"), ("per_label_global", "macro-F1 at h"),
                           ("per_label_topk", "macro-F1 top-k")):
            if key in report:
                line += f", {label} {report[key]['macro']['f1']:.4f}"
        if "hit_rates" in report:
            line += f", total hit rate {report['hit_rates'][-1]['hit_rate']:.4f}"
        if "single_label" in report:
            line += f", accuracy {report['single_label']['accuracy']:.4f}"
        print(line)


def cmd_runs(args) -> int:
    from .runs import refresh_runs

    with open_workspace(args) as workspace:
        refresh_runs(workspace)
        frame = workspace.list_runs(dataset=args.dataset)
    columns = [c for c in ("run_id", "dataset", "mode", "encoder", "status", "created_at", "finished_at") if c in frame]
    print(frame[columns].to_string(index=False) if len(frame) else "no runs yet: try `eqn train`")
    return 0


def thresholds_from_args(workspace, run: dict, args) -> tuple[np.ndarray | float | None, str | None]:
    if getattr(args, "profile", None):
        return workspace.load_threshold_profile(args.profile)["thresholds"], args.profile
    if getattr(args, "tuned", False):
        return np.asarray(run["metrics"]["thresholds"], dtype=np.float32), f"{run['run_id']}:tuned-on-dev"
    if getattr(args, "threshold", None) is not None:
        return float(args.threshold), None
    return None, None


def cmd_evaluate(args) -> int:
    from .metrics import evaluate_energies
    from .thresholds import DEFAULT_THRESHOLD

    with open_workspace(args) as workspace:
        run = workspace.get_run(args.run)
        if run["status"] != "finished":
            raise ValueError(f"run {args.run} is {run['status']}, not finished")
        energies = workspace.load_energies(args.run, args.split)
        dataset = workspace.load_dataset(run["dataset"], splits=[args.split])
        thresholds, _ = thresholds_from_args(workspace, run, args)
    labels = dataset.splits[args.split].human_labels
    tuned = np.asarray(run["metrics"]["thresholds"], dtype=np.float32)
    report = evaluate_energies(energies, labels, label_names=dataset.label_names,
                               thresholds=tuned if thresholds is None or np.ndim(thresholds) == 0 else thresholds,
                               global_threshold=float(thresholds) if np.ndim(thresholds) == 0 and thresholds is not None
                               else run["metrics"].get("global_threshold", DEFAULT_THRESHOLD),
                               multi_label=dataset.multi_label)
    if args.json:
        print(json.dumps({"run_id": args.run, "split": args.split, **report}, indent=2))
    else:
        print_report(report)
    return 0


def print_report(report: dict) -> None:
    if "topk" in report:
        t = report["topk"]
        print(f"sample-level top-k (eq. 9-15): precision {t['precision']:.4f} recall {t['recall']:.4f} f1 {t['f1']:.4f}")
    if "hit_rates" in report:
        print("\nhit rates by label count (Table 4)")
        for row in report["hit_rates"]:
            print(f"  {str(row['label_count']):>6}  texts {row['num_texts']:>6}  labels {row['num_labels']:>6}  "
                  f"hits {row['hits']:>6}  hit rate {row['hit_rate']:.4f}")
    if "top_n" in report:
        print("\nsingle-label texts, label among the top n energies (Table 5)")
        for row in report["top_n"]:
            print(f"  Top{row['n']}  hits {row['hits']:>6}  hit rate {row['hit_rate']:.4f}")
    for key, title in (("per_label_topk", "top-k"), ("per_label_global", "global threshold"),
                       ("per_label_tuned", "per-label thresholds tuned on dev")):
        if key in report:
            r = report[key]
            print(f"\nper-label P/R/F1 under {title} (Table 6)")
            for row in r["labels"]:
                print(f"  {row['label']:<16} {row['precision']:.2f} {row['recall']:.2f} {row['f1']:.2f}")
            for agg in ("macro", "micro", "std"):
                print(f"  {agg:<16} {r[agg]['precision']:.2f} {r[agg]['recall']:.2f} {r[agg]['f1']:.2f}")
    if "single_label" in report:
        s = report["single_label"]
        print(f"\nsingle-label argmax: accuracy {s['accuracy']:.4f}, macro-F1 {s['macro_f1']:.4f}")


def cmd_thresholds(args) -> int:
    from .thresholds import tune_thresholds

    with open_workspace(args) as workspace:
        run = workspace.get_run(args.run)
        dataset = workspace.load_dataset(run["dataset"], splits=["dev"])
        if args.global_threshold is not None:
            thresholds = np.full(len(dataset.label_names), args.global_threshold, dtype=np.float32)
        else:
            thresholds = tune_thresholds(workspace.load_energies(args.run, "dev"), dataset.splits["dev"].human_labels)
        workspace.save_threshold_profile(args.save, run_id=args.run, thresholds=thresholds,
                                         global_threshold=args.global_threshold, note=args.note)
    for name, value in zip(dataset.label_names, thresholds):
        print(f"  {name:<16} {value:.2f}")
    print(f"saved threshold profile {args.save!r}")
    return 0


def cmd_annotate(args) -> int:
    import pandas as pd

    from .data import read_texts
    from .export import write_frame
    from .inference import annotate
    from .runs import load_run_model, parent_run

    with open_workspace(args) as workspace:
        run = workspace.get_run(args.run)
    if run["status"] != "finished":
        raise ValueError(f"run {args.run} is {run['status']}; only a finished run can annotate")
    if parent_run(run["config"]):
        raise ValueError(f"run {args.run} is Model 1 of EQN run {parent_run(run['config'])}: it has energies but "
                         "no weights of its own; annotate with a run you trained")
    if args.engine == "ray":  # a corpus: Ray Data actors write Parquet shards (eqn_core.ray_annotate)
        from .ray_annotate import annotate_with_ray_cli

        return annotate_with_ray_cli(args, run)
    if args.text:
        texts, ids = list(args.text), [f"text-{i + 1}" for i in range(len(args.text))]
    elif args.input:
        texts, ids = read_texts(args.input, text_column=args.text_column)
    else:
        raise ValueError("give an input file or --text TEXT")
    if args.output:  # check the target before the slow part
        from .export import resolve_export_path

        resolve_export_path(args.output, None, overwrite=args.force, workspace_root=workspace_path(args))
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


def cmd_export(args) -> int:
    from .export import export_annotations

    with open_workspace(args) as workspace:
        run = workspace.get_run(args.run)
        thresholds, profile = thresholds_from_args(workspace, run, args)
        result = export_annotations(workspace, run_id=args.run, split=args.split, path=args.output, fmt=args.format,
                                    content=args.content, thresholds=thresholds,
                                    profile=args.profile if args.profile else None, reviewer=args.reviewer,
                                    overwrite=args.force, neutralize_formulas=not args.keep_formulas)
    print(f"wrote {result['rows']:,} rows ({result['content']}, {result['format']}) to {result['path']} "
          f"(provenance: {result['metadata']})")
    return 0


def cmd_stop(args) -> int:
    from .runs import RunFolder

    with open_workspace(args) as workspace:
        run = workspace.get_run(args.run)
    RunFolder(run["run_dir"]).request_stop()
    print(f"asked run {args.run} to stop; it stops after the current batch")
    return 0


def cmd_delete(args) -> int:
    from .runs import delete_run

    with open_workspace(args) as workspace:
        if args.run:
            deleted = delete_run(workspace, args.run, delete_reviews=args.with_reviews)
            print(f"deleted run{'s' if len(deleted) > 1 else ''} {', '.join(deleted)}")
        else:
            workspace.delete_dataset(args.dataset)
            print(f"deleted data set {args.dataset}")
    return 0


def read_password(args) -> str:
    """$EQN_PASSWORD, else one line from stdin when it is not a terminal, else asked twice without echo."""
    import getpass

    if os.environ.get("EQN_PASSWORD"):
        return os.environ["EQN_PASSWORD"]
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != password:
        raise ValueError("the two passwords differ")
    return password


def cmd_users(args) -> int:
    from .accounts import add_user, load_users, remove_user, users_file

    path = users_file(workspace_path(args))
    if args.action == "add":
        user = add_user(path, args.name, read_password(args), role=args.role, replace=args.replace)
        print(f"{user.name} ({user.role}) is in {path}")
    elif args.action == "remove":
        remove_user(path, args.name)
        print(f"removed {args.name} from {path}")
    else:
        users = load_users(path)
        if not users:
            print(f"no users in {path}: the app runs in single-user local mode")
        for name, entry in sorted(users.items()):
            print(f"{name}\t{entry['role']}\t{entry.get('created_at', '')}")
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# Parser


def build_parser() -> argparse.ArgumentParser:
    from .config import BUNDLED_ENCODER, ENCODER_MODES, MODES, REGRESSION_TARGETS, SELECTION_METRICS
    from .corpus import add_corpus_commands
    from .ray_annotate import add_ray_options

    parser = argparse.ArgumentParser(prog="eqn", description=__doc__)
    parser.add_argument("--workspace", "-w", help=f"workspace folder (default: $EQN_WORKSPACE or ./{DEFAULT_WORKSPACE})")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fetch", help="download GoEmotions (or copy it from a folder) into the workspace")
    p.add_argument("dataset", choices=["goemotions"])
    p.add_argument("--from", dest="from_dir", help="copy the files from this folder instead of downloading")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.add_argument("--replace", action="store_true", help="replace the data set if the workspace has it")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("add", help="add a data set from CSV/TSV/Parquet/JSONL files (or a built-in layout)")
    p.add_argument("name")
    p.add_argument("--builtin", choices=["goemotions", "emotion6", "tfn3"], help="a known layout, read from --from")
    p.add_argument("--from", dest="from_dir")
    p.add_argument("--train")
    p.add_argument("--dev")
    p.add_argument("--test")
    p.add_argument("--text-column")
    p.add_argument("--label-format", default="auto", choices=["auto", "ids", "names", "onehot", "single"])
    p.add_argument("--labels-column")
    p.add_argument("--label-columns", help="comma-separated 0/1 columns, one per label")
    p.add_argument("--label-names", help="a file with one name per line, or comma-separated names")
    p.add_argument("--id-column")
    p.add_argument("--sep")
    p.add_argument("--dev-fraction", type=float, default=0.1, help="share of train used as dev when no --dev is given")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--replace", action="store_true")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("datasets", help="list the workspace's data sets")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("train", help="train a run: coeqn, eqn, or the bce / softmax baselines")
    p.add_argument("--dataset", default="goemotions")
    p.add_argument("--mode", choices=MODES, default="eqn")
    p.add_argument("--encoder", default=BUNDLED_ENCODER,
                   help=f"{BUNDLED_ENCODER} (offline default), a Hugging Face id, a local folder, or ann/cnn/lstm/textcnn")
    p.add_argument("--encoder-mode", choices=ENCODER_MODES, default=None,
                   help="partial (default): cache the lower layers once, train the top layers and the head; "
                        "frozen: head only (fastest, weakest); finetune: end to end (best with a GPU)")
    p.add_argument("--trained-layers", type=int, help="partial: how many top layers train (default 2)")
    p.add_argument("--cache-budget-gb", type=float,
                   help="partial: largest token-state cache (default 2); above it the lower layers run per batch")
    p.add_argument("--epochs", type=int, help="epochs per model (default: 2 partial, 30 frozen, 3 finetune)")
    p.add_argument("--model2-epochs", type=int, help="EQN: epochs of Model 2 (default: 1 partial, else --epochs)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--dropout", type=float)
    p.add_argument("--max-length", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 ...")
    p.add_argument("--fresh-model2", action="store_true", help="EQN: train Model 2 from scratch instead of continuing")
    p.add_argument("--regression-targets", choices=REGRESSION_TARGETS)
    p.add_argument("--folds", type=int)
    p.add_argument("--rounds", type=int)
    p.add_argument("--select-by", choices=SELECTION_METRICS)
    p.add_argument("--patience", type=int)
    p.add_argument("--max-train-rows", type=int,
                   help="a quick look: train on this many random training texts and skip annotating the whole "
                        "training split (dev and test are still annotated in full)")
    p.add_argument("--run-id")
    p.add_argument("--processes", type=int, default=1,
                   help="data-parallel processes (DDP through Accelerate): one per GPU, or CPU processes with gloo")
    p.add_argument("--prepare-only", action="store_true", help="write the run folder and stop (to launch it yourself)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("runs", help="list runs")
    p.add_argument("--dataset")
    p.set_defaults(func=cmd_runs)

    def add_output_options(p):
        p.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
        p.add_argument("--keep-formulas", action="store_true",
                       help="CSV: write texts as they are; by default a cell starting with = + - @ tab or CR gets a "
                            "leading ' so spreadsheets do not run it as a formula (Parquet and JSONL are always raw)")

    def add_threshold_options(p):
        group = p.add_mutually_exclusive_group()
        group.add_argument("--threshold", type=float, help="one global energy threshold h (eq. 8)")
        group.add_argument("--profile", help="a saved threshold profile")
        group.add_argument("--tuned", action="store_true", help="the run's per-label thresholds tuned on dev")

    p = sub.add_parser("evaluate", help="the paper's metrics for a run and split")
    p.add_argument("--run", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--json", action="store_true")
    add_threshold_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("thresholds", help="tune per-label thresholds on dev (or set one for all) and save a profile")
    p.add_argument("--run", required=True)
    p.add_argument("--save", required=True, metavar="NAME")
    p.add_argument("--global", dest="global_threshold", type=float)
    p.add_argument("--note", default="")
    p.set_defaults(func=cmd_thresholds)

    p = sub.add_parser("annotate", help="score any texts with a finished run's model")
    p.add_argument("input", nargs="?", help="CSV/TSV/Parquet/JSONL/TXT file of texts (--engine ray: also a folder or glob)")
    p.add_argument("--run", required=True)
    p.add_argument("--text", action="append", help="a text to score (repeatable)")
    p.add_argument("--text-column")
    p.add_argument("--output", "-o", help="CSV/Parquet/JSONL file to write (default: print the top energies)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None)
    p.add_argument("--top", type=int, default=5)
    add_output_options(p)
    p.add_argument("--fp32", action="store_true",
                   help="full precision on CPU (default: bf16 on CPUs with native bf16 units, energies within ~0.05)")
    add_ray_options(p)
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("export", help="write a run's annotations (energies, thresholded, binary, reviewed)")
    p.add_argument("--run", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--output", "-o", required=True)
    p.add_argument("--format", choices=["csv", "parquet", "jsonl"])
    p.add_argument("--content", default="energies",
                   choices=["energies", "thresholded", "binary", "reviewed", "review-log"],
                   help="review-log: one row per review decision (text id, label, model and reviewer energy, "
                        "decision, note, reviewer, time)")
    p.add_argument("--reviewer", help="reviewed / review-log: only this reviewer's decisions")
    add_output_options(p)
    add_threshold_options(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("stop", help="ask a running run to stop")
    p.add_argument("--run", required=True)
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("delete", help="delete a finished run (with its Model 1 and folder) or an unused data set")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--run")
    target.add_argument("--dataset")
    p.add_argument("--with-reviews", action="store_true", help="also delete the run's review decisions")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("users", help="accounts of the app: add, remove or list users (a users file, bcrypt hashes)")
    users = p.add_subparsers(dest="action", required=True)
    q = users.add_parser("add", help="add a user (password from $EQN_PASSWORD, stdin, or asked)")
    q.add_argument("name")
    q.add_argument("--role", choices=["admin", "reviewer"], default="reviewer")
    q.add_argument("--replace", action="store_true", help="change an existing user's role and password")
    q = users.add_parser("remove", help="remove a user")
    q.add_argument("name")
    users.add_parser("list", help="list users and roles")
    p.set_defaults(func=cmd_users)
    add_corpus_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .data import DataError
    from .workspace import WorkspaceBusyError, WorkspaceDamagedError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (DataError, WorkspaceBusyError, WorkspaceDamagedError, ValueError, KeyError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        if isinstance(error, OSError) and not isinstance(error, FileNotFoundError):
            message = f"{error.strerror or type(error).__name__}: {error.filename or error}"
        print(f"eqn: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
