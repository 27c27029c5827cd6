"""EQN Studio core: annotate texts with 0-10 micro-emotion energies (Expansion Quantization Network).

The short public API is below; each name lives in the module of its concept (see docs/ARCHITECTURE.md).
Training and annotation (models, training, regression, inference, execute) import torch and are imported from
their modules, e.g. `from eqn_core.inference import annotate`.
"""
from .config import TrainConfig
from .data import LabeledDataset, LabeledSplit, load_builtin, load_files, read_table
from .errors import DataError
from .export import export_annotations
from .metrics import evaluate_energies
from .review import apply_decisions, suggest_micro_emotions
from .runs import ingest_run, prepare_run
from .thresholds import DEFAULT_THRESHOLD, reaches, tune_thresholds
from .workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "TrainConfig", "LabeledDataset", "LabeledSplit", "load_builtin", "load_files", "read_table", "DataError",
    "Workspace", "prepare_run", "ingest_run", "evaluate_energies", "DEFAULT_THRESHOLD", "reaches", "tune_thresholds",
    "suggest_micro_emotions", "apply_decisions", "export_annotations", "__version__",
]
