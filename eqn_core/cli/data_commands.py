"""`eqn fetch`, `eqn add`, `eqn datasets`: data sets into the workspace."""
from __future__ import annotations

from pathlib import Path

from eqn_core.cli.common import open_workspace


def cmd_fetch(args) -> int:
    from eqn_core.io.datasets import fetch_goemotions, load_goemotions

    if args.dataset != "goemotions":
        raise ValueError("only 'goemotions' can be fetched; add other data sets with `eqn add`")
    from eqn_core.io.errors import DataError

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
    from eqn_core.io.datasets import load_builtin, load_files

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
