"""`eqn review import` and `eqn review import-label-studio`: review decisions made outside the app, stored as if
made on the Review page (every row checked first; a bad one stores nothing)."""
from __future__ import annotations

from eqn_core.cli.common import open_workspace


def add_review_commands(sub) -> None:
    p = sub.add_parser("review", help="import review decisions: a decisions table (the review log's format) or a "
                                      "Label Studio JSON export")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser(
        "import", help="store a CSV / Parquet / JSONL table of decisions (text_id, label, decision, energy, reviewer, "
                       "optional note and decided_at) as reviews of a run's split",
        description="Columns: text_id, label, decision (accept, reject or set; the review log's adjudicate too), "
                    "energy (set: the new value 0-10; accept and reject: optional), reviewer, note (optional), "
                    "decided_at (optional; decisions are stored in its order, and stamped with the time of the "
                    "import). `eqn export --content review-log` writes this format (its reviewer_energy is read as "
                    "energy). Each reviewer's decisions on a text become one submission, so the text counts as "
                    "reviewed. Any bad row (unknown text id or label, bad decision, energy outside 0-10, no "
                    "reviewer) is reported with file, row and column, and nothing is stored.")
    q.add_argument("file", help="CSV / TSV / Parquet / JSONL / JSON / Excel file of decisions")
    add_target_options(q)
    q.set_defaults(func=cmd_review_import)

    q = actions.add_parser(
        "import-label-studio", help="store the annotations of a Label Studio JSON export as review decisions, "
                                    "attributed to the app accounts of their annotators",
        description="For tasks written by `eqn export --format label-studio` and annotated with the labeling "
                    "configuration beside them. A ticked emotion left at its suggested energy (or given none) is an "
                    "accept, one with another energy a set, an unticked suggestion a reject; skipped annotations "
                    "are left out. Annotators are matched by e-mail (without case) to accounts of the app's users "
                    "file; the export names them by Label Studio user id, so give --users.")
    q.add_argument("export", help="the project's JSON export (Export -> JSON)")
    add_target_options(q)
    q.add_argument("--users", metavar="USERS_FILE",
                   help="Label Studio's users (the JSON of GET /api/users/, or a CSV with the columns id and email): "
                        "maps the export's user ids to e-mails")
    q.add_argument("--accounts", metavar="FILE",
                   help="the app's users file to match e-mails to (default: $EQN_USERS_FILE or <workspace>/users.json)")
    q.add_argument("--reviewer-from-email", action="store_true",
                   help="record an annotator without an account under their e-mail address instead of failing")
    q.set_defaults(func=cmd_review_import_label_studio)


def add_target_options(p) -> None:
    p.add_argument("--run", required=True, help="the run whose annotations were reviewed")
    p.add_argument("--split", required=True, help="the split of the run's data set the texts are from")
    p.add_argument("--dry-run", action="store_true",
                   help="check everything and say what would be stored; store nothing")


def describe(summary: dict, args) -> str:
    verb = "stored" if summary["stored"] else "checked (nothing stored, --dry-run):"
    adjudications = summary["adjudications"]
    extra = f" and {adjudications} adjudication{'s' if adjudications != 1 else ''}" if adjudications else ""
    reviewers = summary["reviewers"]
    return (f"{verb} {summary['decisions']} decision{'s' if summary['decisions'] != 1 else ''}{extra} on "
            f"{summary['texts']} text{'s' if summary['texts'] != 1 else ''} ({summary['submissions']} submissions) by "
            f"{', '.join(reviewers) or 'no one'} for run {args.run}, split {args.split}")


def cmd_review_import(args) -> int:
    from eqn_core.review.imports import import_review_file

    with open_workspace(args) as workspace:
        summary = import_review_file(workspace, args.file, run_id=args.run, split=args.split, dry_run=args.dry_run)
    print(describe(summary, args))
    return 0


def cmd_review_import_label_studio(args) -> int:
    from eqn_core.review.label_studio import import_label_studio

    with open_workspace(args) as workspace:
        summary = import_label_studio(workspace, args.export, run_id=args.run, split=args.split,
                                      users_path=args.users, accounts_path=args.accounts,
                                      reviewer_from_email=args.reviewer_from_email, dry_run=args.dry_run)
    print(describe(summary, args))
    return 0
