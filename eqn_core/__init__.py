"""EQN Studio core: annotate texts with 0-10 micro-emotion energies (Expansion Quantization Network).

The short public API is imported here; everything else lives in the sub-package of its concept, lowest first:
io (files, labels, data sets), method (the EQN method), store (the workspace), review, export, runs, scale, cli.
"""
from eqn_core.export.annotations import export_annotations
from eqn_core.export.files import APP_VERSION as __version__
from eqn_core.io.datasets import LabeledDataset, LabeledSplit, load_builtin, load_files
from eqn_core.io.errors import DataError
from eqn_core.io.tables import read_table
from eqn_core.method.config import TrainConfig
from eqn_core.method.reports import evaluate_energies
from eqn_core.method.thresholds import DEFAULT_THRESHOLD, reaches, tune_thresholds
from eqn_core.review.decisions import apply_decisions
from eqn_core.review.suggestions import suggest_micro_emotions
from eqn_core.runs.lifecycle import ingest_run, prepare_run
from eqn_core.store.workspace import Workspace

__all__ = [
    "TrainConfig", "LabeledDataset", "LabeledSplit", "load_builtin", "load_files", "read_table", "DataError",
    "Workspace", "prepare_run", "ingest_run", "evaluate_energies", "tune_thresholds", "reaches", "DEFAULT_THRESHOLD",
    "suggest_micro_emotions", "apply_decisions", "export_annotations", "__version__",
]
