"""`eqn train`, `runs`, `evaluate`, `thresholds`, `export`, `stop`, `delete`: runs and what they produce."""
from __future__ import annotations

import json
import sys

import numpy as np

from eqn_core.cli.common import open_workspace
from eqn_core.method.thresholds import DEFAULT_THRESHOLD, ThresholdSetting


def config_from_args(args):
    """The run's TrainConfig; ValueError (the Train page's messages) for a bad encoder or value."""
    from eqn_core.method.config import TrainConfig, check_encoder

    values = dict(dataset=args.dataset, mode=args.mode, encoder=check_encoder(args.encoder),
                  encoder_mode=args.encoder_mode, trained_layers=args.trained_layers,
                  cache_budget_gb=args.cache_budget_gb,
                  epochs=args.epochs, model2_epochs=args.model2_epochs, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
                  device=args.device, dropout=args.dropout, max_length=args.max_length,
                  continue_from_model1=not args.fresh_model2, regression_targets=args.regression_targets,
                  label_targets=getattr(args, "label_targets", None), teacher_run=getattr(args, "teacher", None),
                  head=getattr(args, "head", None), label_weighting=getattr(args, "label_weighting", None),
                  label_weight_cap=getattr(args, "label_weight_cap", None),
                  ranking_weight=getattr(args, "ranking_weight", None),
                  folds=args.folds, rounds=args.rounds, select_by=args.select_by, max_train_rows=args.max_train_rows,
                  patience=args.patience)
    return TrainConfig(**{k: v for k, v in values.items() if v is not None}).check()


def cmd_train(args) -> int:
    from eqn_core.runs.lifecycle import ingest_run, prepare_run
    from eqn_core.runs.process import execute_run

    config = config_from_args(args)
    if args.processes > 1:  # data-parallel (eqn_core.method.parallel); the run record says how many processes
        config.extra = {**config.extra, "processes": args.processes}
    with open_workspace(args) as workspace:
        folder = prepare_run(workspace, config, run_id=args.run_id, reviews_from=getattr(args, "reviews", None),
                             reviewed_text_sets=getattr(args, "reviewed_texts", None) or ())
        cache_dir = workspace.cache_dir
        config = folder.config()
    # the workspace is closed while training, so the app (or another command) can use it meanwhile
    print(f"run {folder.path.name}: {config.mode} on {config.dataset}, encoder {config.encoder} ({config.encoder_mode})",
          file=sys.stderr)
    if config.extra.get("reviews"):
        print(describe_reviews(config.extra["reviews"]), file=sys.stderr)
    if args.prepare_only:  # started later, e.g. on several GPUs: accelerate launch ... -m eqn_core.scale.launch DIR
        print(f"prepared {folder.path}; start it with: accelerate launch --multi_gpu --num_processes N "
              f"-m eqn_core.scale.launch {folder.path}   (then `eqn runs` records the result)")
        return 0
    if args.processes > 1:
        from eqn_core.scale.launch import launch
        from eqn_core.store.run_folders import RunFolder

        code = launch(folder.path, processes=args.processes, show_progress=not args.quiet)
        status = RunFolder(folder.path).status()
        if status["status"] in ("queued", "running"):  # the processes died before writing their record
            from eqn_core.store.run_folders import now_iso, write_json_atomic

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


def describe_reviews(reviews: dict) -> str:
    """The reviews a run trains on, a line per source (runs.review_training's summary)."""
    lines = [f"  with reviews of run {reviews['run_id']} ({reviews['split']} split only): {reviews['values']:,} values "
             f"on {reviews['texts']:,} texts by {', '.join(reviews['reviewers'] + reviews['adjudicators']) or '-'}, "
             f"{reviews['first_decided_at']} to {reviews['last_decided_at']}; human labels changed by a review: "
             f"{reviews['human_labels_changed']:,}; review rows sha256 {(reviews['sha256'] or '-')[:16]}..."]
    if not reviews["values"] and reviews.get("text_sets"):  # only reviewed own texts
        lines = [f"  with reviews of run {reviews['run_id']}'s annotations of your texts (none of its "
                 f"{reviews['split']} split)"]
    for own in reviews.get("text_sets", []):
        lines.append(f"  and {own['texts']:,} reviewed texts of text set {own['text_set']} as extra training texts: "
                     f"{own['values']:,} values by {', '.join(own['reviewers'] + own['adjudicators']) or '-'}, "
                     f"{own['first_decided_at']} to {own['last_decided_at']}; review rows sha256 "
                     f"{own['sha256'][:16]}...")
    return "\n".join(lines)


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
    if metrics.get("reviews"):
        print(describe_reviews(metrics["reviews"]))


def cmd_runs(args) -> int:
    from eqn_core.runs.lifecycle import refresh_runs

    with open_workspace(args) as workspace:
        refresh_runs(workspace)
        frame = workspace.list_runs(dataset=args.dataset)
    columns = [c for c in ("run_id", "dataset", "mode", "encoder", "status", "created_at", "finished_at") if c in frame]
    print(frame[columns].to_string(index=False) if len(frame) else "no runs yet: try `eqn train`")
    return 0


def thresholds_from_args(workspace, run: dict, args) -> ThresholdSetting | float | None:
    """--profile NAME, --tuned (the run's per-label thresholds tuned on dev) or --threshold h; None: none given."""
    label_names = workspace.label_names(run["dataset"])
    if getattr(args, "profile", None):
        profile = workspace.load_threshold_profile(args.profile)
        global_threshold = profile["global_threshold"]
        return ThresholdSetting.from_array(profile["thresholds"], DEFAULT_THRESHOLD if global_threshold is None
                                           else global_threshold, label_names, source=args.profile)
    if getattr(args, "tuned", False):
        return ThresholdSetting.from_array(run["metrics"]["thresholds"], DEFAULT_THRESHOLD, label_names,
                                           source=f"{run['run_id']}:tuned-on-dev")
    if getattr(args, "threshold", None) is not None:
        return float(args.threshold)
    return None


def cmd_evaluate(args) -> int:
    from eqn_core.method.reports import evaluate_energies

    with open_workspace(args) as workspace:
        run = workspace.get_run(args.run)
        if run["status"] != "finished":
            raise ValueError(f"run {args.run} is {run['status']}, not finished")
        energies = workspace.load_energies(args.run, args.split)
        dataset = workspace.load_dataset(run["dataset"], splits=[args.split])
        chosen = thresholds_from_args(workspace, run, args)
    labels = dataset.splits[args.split].human_labels
    # per-label figures under the chosen setting (default: tuned on dev), global ones under --threshold or the run's h
    per_label = (chosen.array(dataset.label_names) if isinstance(chosen, ThresholdSetting)
                 else np.asarray(run["metrics"]["thresholds"], dtype=np.float32))
    global_threshold = (float(chosen) if isinstance(chosen, float)
                        else run["metrics"].get("global_threshold", DEFAULT_THRESHOLD))
    report = evaluate_energies(energies, labels, label_names=dataset.label_names, thresholds=per_label,
                               global_threshold=global_threshold, multi_label=dataset.multi_label)
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
    from eqn_core.method.thresholds import tune_thresholds

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


def cmd_export(args) -> int:
    from eqn_core.export.annotations import export_annotations

    with open_workspace(args) as workspace:
        run = workspace.get_run(args.run)
        result = export_annotations(workspace, run_id=args.run, split=args.split, path=args.output, fmt=args.format,
                                    content=args.content, thresholds=thresholds_from_args(workspace, run, args),
                                    reviewer=args.reviewer,
                                    overwrite=args.force, neutralize_formulas=not args.keep_formulas)
    print(f"wrote {result['rows']:,} rows ({result['content']}, {result['format']}) to {result['path']} "
          f"(provenance: {result['metadata']})")
    return 0


def cmd_stop(args) -> int:
    from eqn_core.store.run_folders import RunFolder

    with open_workspace(args) as workspace:
        run = workspace.get_run(args.run)
    RunFolder(run["run_dir"]).request_stop()
    print(f"asked run {args.run} to stop; it stops after the current batch")
    return 0


def cmd_delete(args) -> int:
    from eqn_core.runs.lifecycle import delete_run

    with open_workspace(args) as workspace:
        if args.run:
            deleted = delete_run(workspace, args.run, delete_reviews=args.with_reviews)
            print(f"deleted run{'s' if len(deleted) > 1 else ''} {', '.join(deleted)}")
        else:
            workspace.delete_dataset(args.dataset)
            print(f"deleted data set {args.dataset}")
    return 0
