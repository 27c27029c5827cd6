"""`eqn texts`: own texts without labels: add files as a text set, annotate it with a finished run (in the
foreground, resumable), export the annotation, list, show, stop, remove."""
from __future__ import annotations

import json
import sys

from eqn_core.runs.text_annotation import SHARD_ROWS
from eqn_core.runs.text_jobs import DEFAULT_RUN


def add_text_commands(sub) -> None:
    """The `eqn texts` subcommands."""
    texts = sub.add_parser("texts", help="own texts without labels: add, annotate with a run, export, list, remove")
    actions = texts.add_subparsers(dest="texts_command", required=True)

    p = actions.add_parser("add", help="add CSV/TSV/TXT/JSONL/JSON/Parquet files (also .gz/.bz2/.zst) as a text set; "
                                       "every column but the text and id is kept as metadata")
    p.add_argument("name")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--text-column", help="the column holding the texts (default: one named text, comment, ...)")
    p.add_argument("--id-column", help="the column holding ids (default: one named id, text_id, ...; else row-<n>)")
    p.set_defaults(func=_cmd_add)

    p = actions.add_parser("list", help="the text sets and their annotations")
    p.set_defaults(func=_cmd_list)

    p = actions.add_parser("show", help="files, columns and annotations of a text set")
    p.add_argument("name")
    p.set_defaults(func=_cmd_show)

    p = actions.add_parser("annotate", help="annotate a text set with a finished run, here, with a progress bar; "
                                            "Ctrl+C stops cleanly and the same command resumes")
    p.add_argument("name")
    p.add_argument("--run", default=DEFAULT_RUN, help=f"a finished run (default: the shipped {DEFAULT_RUN})")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--shard-rows", type=int, default=SHARD_ROWS, help="texts per energy file (what a stop can lose)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the run's, a GPU when there is one)")
    p.add_argument("--fp32", action="store_true",
                   help="full precision on CPU (default: bf16 on CPUs with native bf16 units, energies within ~0.05)")
    p.add_argument("--background", action="store_true", help="start the job in a process of its own and return")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_annotate)

    p = actions.add_parser("stop", help="ask a background annotation to stop (it keeps the texts done)")
    p.add_argument("name")
    p.add_argument("--run", default=DEFAULT_RUN)
    p.set_defaults(func=_cmd_stop)

    p = actions.add_parser("export", help="write a run's annotation of a text set to CSV / Parquet / JSONL")
    p.add_argument("name")
    p.add_argument("--run", default=DEFAULT_RUN)
    p.add_argument("--output", "-o", required=True)
    p.add_argument("--format", choices=["csv", "parquet", "jsonl"])
    p.add_argument("--content", default="energies",
                   choices=["energies", "thresholded", "binary", "reviewed", "review-log"],
                   help="reviewed: thresholded, with the reviewers' values on reviewed texts; review-log: every "
                        "review decision, one row each")
    p.add_argument("--reviewer", help="reviewed / review-log: only this reviewer's decisions")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=float,
                       help="one energy threshold h for thresholded / binary / reviewed (eq. 8)")
    group.add_argument("--tuned", action="store_true", help="the run's per-label thresholds tuned on dev")
    p.add_argument("--rows", help="only these row_idx, comma-separated (e.g. one text)")
    p.add_argument("--no-metadata", action="store_true", help="leave out the text set's metadata columns")
    p.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    p.add_argument("--keep-formulas", action="store_true",
                   help="CSV: write cells as they are (by default a cell starting with = + - @ gets a leading ')")
    p.set_defaults(func=_cmd_export)

    p = actions.add_parser("remove", help="remove a text set with its annotations (or only --run's annotation)")
    p.add_argument("name")
    p.add_argument("--run", help="remove only this run's annotation")
    p.add_argument("--with-reviews", action="store_true",
                   help="also delete the review decisions on it (refused otherwise; export the review log first)")
    p.set_defaults(func=_cmd_remove)


def _open(args):
    from eqn_core.cli.common import open_workspace

    return open_workspace(args)


def _cmd_add(args) -> int:
    from eqn_core.store.text_sets import add_text_set

    with _open(args) as workspace:
        info = add_text_set(workspace, args.name, args.files, text_column=args.text_column, id_column=args.id_column)
    columns = ", ".join(info["metadata_columns"]) or "none"
    print(f"text set {info['name']}: {info['rows']:,} texts from {len(info['files'])} file(s); metadata: {columns}")
    return 0


def _cmd_list(args) -> int:
    from eqn_core.runs.text_jobs import refresh_annotations
    from eqn_core.store.text_sets import list_text_sets

    with _open(args) as workspace:
        sets = list_text_sets(workspace)
        annotations = refresh_annotations(workspace)
    if sets.empty:
        print("no text sets yet: try `eqn texts add NAME FILE`")
        return 0
    sets["metadata_columns"] = [", ".join(columns) for columns in sets["metadata_columns"]]
    print(sets.to_string(index=False))
    if len(annotations):
        print()
        print(annotations[["text_set", "run_id", "status", "rows_done", "total_rows", "labels", "finished_at"]]
              .to_string(index=False))
    return 0


def _cmd_show(args) -> int:
    from eqn_core.runs.text_jobs import refresh_annotations
    from eqn_core.store.text_sets import text_set_info

    with _open(args) as workspace:
        refresh_annotations(workspace, args.name)
        info = text_set_info(workspace, args.name)
    for record in info["annotations"]:
        record.pop("label_names")
    print(json.dumps(info, indent=2, default=str))
    return 0


def _cmd_annotate(args) -> int:
    from eqn_core.runs.text_jobs import annotate_text_set, start_annotation

    options = dict(run_id=args.run, batch_size=args.batch_size, shard_rows=args.shard_rows, device=args.device,
                   fp32=args.fp32)
    with _open(args) as workspace:
        if args.background:
            pid = start_annotation(workspace, args.name, **options)
            print(f"annotation of {args.name} with {args.run} " + (f"started (process {pid}); follow it with "
                  "`eqn texts list`" if pid else "had finished already"))
            return 0
        status = annotate_text_set(workspace, args.name, show_progress=not args.quiet, **options)
    done = f"{status.get('rows_done', 0):,} of {status.get('total_rows', 0):,} texts"
    if status["status"] == "finished":
        rate = status.get("texts_per_second")
        print(f"annotated {args.name} with {args.run}: {done}" + (f" ({rate:,.0f} texts/s)" if rate else ""),
              file=sys.stderr)
        return 0
    if status["status"] == "stopped":
        print(f"stopped after {done}; run the same command again to resume", file=sys.stderr)
        return 130
    print(f"eqn: error: the annotation failed after {done}: {status.get('error')}", file=sys.stderr)
    return 1


def _cmd_stop(args) -> int:
    from eqn_core.runs.text_jobs import stop_annotation

    with _open(args) as workspace:
        stop_annotation(workspace, args.name, args.run)
    print(f"asked the annotation of {args.name} with {args.run} to stop; it stops before its next batch")
    return 0


def _cmd_export(args) -> int:
    from eqn_core.export.text_exports import export_text_annotation

    rows = None
    if args.rows:
        try:
            rows = [int(value) for value in args.rows.split(",") if value.strip()]
        except ValueError:
            raise ValueError(f"--rows takes comma-separated row numbers (row_idx), got {args.rows!r}") from None
    with _open(args) as workspace:
        thresholds = args.threshold
        if args.tuned:
            thresholds = (workspace.get_run(args.run)["metrics"] or {}).get("thresholds")
            if thresholds is None:
                raise ValueError(f"run {args.run} has no thresholds tuned on dev; give --threshold")
        result = export_text_annotation(workspace, args.name, run_id=args.run, path=args.output, fmt=args.format,
                                        content=args.content, thresholds=thresholds, rows=rows,
                                        metadata=not args.no_metadata, overwrite=args.force,
                                        neutralize_formulas=not args.keep_formulas, reviewer=args.reviewer)
    print(f"wrote {result['rows']:,} rows ({result['content']}, {result['format']}) to {result['path']} "
          f"(provenance: {result['metadata']})")
    return 0


def _cmd_remove(args) -> int:
    from eqn_core.runs.text_jobs import delete_annotation
    from eqn_core.store.text_sets import remove_text_set

    with _open(args) as workspace:
        if args.run:
            delete_annotation(workspace, args.name, args.run, delete_reviews=args.with_reviews)
            print(f"removed the annotation of {args.name} with {args.run}")
        else:
            remove_text_set(workspace, args.name, delete_reviews=args.with_reviews)
            print(f"removed text set {args.name} and its annotations")
    return 0
