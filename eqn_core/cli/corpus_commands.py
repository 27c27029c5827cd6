"""`eqn corpus`: external annotation sets (Parquet files queried in place) add, list, show, export, remove."""
from __future__ import annotations

import json

from eqn_core.scale.corpus import add_corpus, corpus_info, export_corpus, list_corpora, remove_corpus


def add_corpus_commands(sub) -> None:
    """The `eqn corpus` subcommands: add, list, show, export, remove."""
    corpus = sub.add_parser("corpus", help="external annotation sets: Parquet files queried in place (DuckDB views)")
    actions = corpus.add_subparsers(dest="corpus_command", required=True)
    p = actions.add_parser("add", help="register a Parquet file, folder or glob (e.g. `eqn annotate --engine ray` "
                                       "output) under a name")
    p.add_argument("name")
    p.add_argument("pattern", help="a Parquet file, a folder of them, or a glob such as 'shards/*.parquet'")
    p.add_argument("--replace", action="store_true")
    p.set_defaults(func=_cmd_add)
    p = actions.add_parser("list", help="list the registered corpora")
    p.set_defaults(func=_cmd_list)
    p = actions.add_parser("show", help="rows, files, labels and runs of a corpus")
    p.add_argument("name")
    p.set_defaults(func=_cmd_show)
    p = actions.add_parser("export", help="write every row of a corpus to CSV / Parquet / JSONL")
    p.add_argument("name")
    p.add_argument("--output", "-o", required=True)
    p.add_argument("--format", choices=["csv", "parquet", "jsonl"])
    p.add_argument("--content", default="energies", choices=["energies", "thresholded", "binary"])
    p.add_argument("--threshold", type=float, help="one energy threshold h for thresholded / binary (eq. 8)")
    p.set_defaults(func=_cmd_export)
    p = actions.add_parser("remove", help="forget a corpus (its files stay)")
    p.add_argument("name")
    p.set_defaults(func=_cmd_remove)


def _open(args):
    from eqn_core.cli.common import open_workspace

    return open_workspace(args)


def _cmd_add(args) -> int:
    with _open(args) as workspace:
        info = add_corpus(workspace, args.name, args.pattern, replace=args.replace)
    print(f"corpus {info['name']}: {info['rows']:,} rows in {info['files']} files, {len(info['label_names'])} labels"
          f"{', human labels' if info['has_human_labels'] else ''} ({info['pattern']})")
    return 0


def _cmd_list(args) -> int:
    with _open(args) as workspace:
        frame = list_corpora(workspace)
    print(frame.to_string(index=False) if len(frame) else "no corpora yet: try `eqn corpus add NAME 'out/*.parquet'`")
    return 0


def _cmd_show(args) -> int:
    with _open(args) as workspace:
        info = corpus_info(workspace, args.name)
    print(json.dumps(info, indent=2, default=str))
    return 0


def _cmd_export(args) -> int:
    with _open(args) as workspace:
        result = export_corpus(workspace, args.name, args.output, fmt=args.format, content=args.content,
                               thresholds=args.threshold)
    print(f"wrote {result['rows']:,} rows ({result['content']}, {result['format']}) to {result['path']}")
    return 0


def _cmd_remove(args) -> int:
    with _open(args) as workspace:
        remove_corpus(workspace, args.name)
    print(f"removed corpus {args.name} (its files are untouched)")
    return 0
