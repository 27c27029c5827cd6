"""`eqn export --format hf-dataset | label-studio`: a run's annotations for the tools people use next to the app;
every other format goes on to `eqn export` as it was (run_commands.cmd_export)."""
from __future__ import annotations

from eqn_core.cli.common import open_workspace
from eqn_core.cli.run_commands import cmd_export, thresholds_from_args

TOOL_FORMATS = ("hf-dataset", "label-studio")


def cmd_export_any(args) -> int:
    if args.format not in TOOL_FORMATS:
        if getattr(args, "push_to_hub", None):
            raise ValueError("--push-to-hub goes with --format hf-dataset.")
        return cmd_export(args)
    if args.format == "label-studio" and (args.content != "energies" or args.reviewer or args.push_to_hub):
        raise ValueError("Label Studio tasks carry the run's energies as predictions: --content, --reviewer and "
                         "--push-to-hub do not apply to them.")
    with open_workspace(args) as workspace:
        run = workspace.get_run(args.run)
        thresholds = thresholds_from_args(workspace, run, args)
        if args.format == "label-studio":
            from eqn_core.export.label_studio import export_label_studio

            result = export_label_studio(workspace, run_id=args.run, split=args.split, path=args.output,
                                         thresholds=thresholds, overwrite=args.force)
            print(f"wrote {result['rows']:,} Label Studio tasks to {result['path']} and the labeling configuration "
                  f"to {result['config']} (provenance: {result['metadata']})")
            return 0
        from eqn_core.export.hf_dataset import export_hf_dataset

        result = export_hf_dataset(workspace, run_id=args.run, split=args.split, path=args.output,
                                   content=args.content, thresholds=thresholds, reviewer=args.reviewer,
                                   overwrite=args.force, push_to_hub=args.push_to_hub)
    print(f"wrote a Hugging Face dataset of {result['rows']:,} rows ({result['content']}) to {result['path']} "
          f"(card: {result['card']})" + (f"; pushed to {result['pushed_to']}" if result["pushed_to"] else ""))
    return 0
