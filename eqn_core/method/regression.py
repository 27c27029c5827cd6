"""The EQN procedure: CoEQN (Model 1), re-annotation of the training set, label regression, EQN (Model 2)."""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from eqn_core.io.datasets import LabeledDataset
from eqn_core.method.config import TrainConfig
from eqn_core.method.inference import (
    embed_texts,
    outputs_to_energies,
    predict_outputs,
    token_states,
    token_states_bytes,
)
from eqn_core.method.labels import (
    apply_review_targets,
    initial_targets,
    loss_weights,
    rare_label_weights,
    regress_targets,
)
from eqn_core.method.models import EnergyModel, build_model
from eqn_core.method.thresholds import DEFAULT_THRESHOLD, ENERGY_MAX
from eqn_core.method.training import (
    ProgressCallback,
    batch_reporter,
    loss_for,
    seed_everything,
    targets_for,
    train_model,
)


@dataclass
class FeatureSource:
    """How a run turns texts into model inputs, decided once per run.

    frozen: pooled embeddings, cached under cache_dir/embeddings. partial: the fixed lower layers' token states,
    cached under cache_dir/token_states, unless the data set's cache would pass config.cache_budget_gb; then the
    lower layers run per batch (slower, same energies). Otherwise: token ids.
    """

    config: TrainConfig
    device: torch.device
    cache_dir: Path | None = None
    cache_token_states: bool = True
    should_stop: Callable[[], bool] | None = None  # checked before every batch of the slow encoder passes

    @classmethod
    def for_dataset(cls, model: EnergyModel, config: TrainConfig, dataset: LabeledDataset, *, device: torch.device,
                    cache_dir=None) -> "FeatureSource":
        source = cls(config, device, Path(cache_dir) if cache_dir is not None else None)
        if config.partial:
            needed = sum(token_states_bytes(model, model.featurize(split.texts)) for split in dataset.splits.values())
            source.cache_token_states = needed <= config.cache_budget_gb * 2**30
        return source

    def __call__(self, model: EnergyModel, texts: list[str], *, phase: str,
                 on_progress: ProgressCallback | None = None):
        config = self.config
        report = batch_reporter(on_progress, phase)
        if config.frozen:
            model.to(self.device)
            return embed_texts(model, texts, cache_dir=self._folder("embeddings"), encoder_name=config.encoder,
                               batch_size=128, device=self.device, amp=config.amp, on_batch=report,
                               should_stop=self.should_stop)
        tokens = model.featurize(texts)
        if config.partial and self.cache_token_states:
            return token_states(model, tokens, texts=texts, cache_dir=self._folder("token_states"),
                                encoder_name=config.encoder, batch_size=128, device=self.device, amp=config.amp,
                                on_batch=report, should_stop=self.should_stop)
        return tokens

    def _folder(self, name: str) -> Path | None:
        return self.cache_dir / name if self.cache_dir is not None else None


@dataclass
class MethodResult:
    model: EnergyModel
    features: FeatureSource
    phases: list[dict] = field(default_factory=list)  # one per trained model: name, best_epoch, best_score, history
    regressed_targets: np.ndarray | None = None  # (N_train, C): the training set EQN trained on (human labels = 10.0)
    train_rows: np.ndarray | None = None  # which training rows were used (all unless max_train_rows)
    targets: np.ndarray | None = None  # (N_train, C): the targets the final model trained on (coeqn and eqn)


@dataclass
class PreparedData:
    """The features of each split in the form the model trains on (see FeatureSource)."""

    train: object
    dev: object
    train_labels: np.ndarray  # (N, C) bool
    dev_labels: np.ndarray  # (M, C) bool


def prepare_features(model: EnergyModel, source: FeatureSource, dataset: LabeledDataset, train_rows: np.ndarray, *,
                     on_progress: ProgressCallback | None = None) -> PreparedData:
    train_split, dev_split = dataset.splits["train"], dataset.splits["dev"]
    train_texts = [train_split.texts[i] for i in train_rows]
    train_features = source(model, train_texts, phase="embedding train", on_progress=on_progress)
    dev_features = source(model, dev_split.texts, phase="embedding dev", on_progress=on_progress)
    return PreparedData(train_features, dev_features, train_split.human_labels[train_rows], dev_split.human_labels)


def fold_assignment(num_rows: int, folds: int, seed: int) -> np.ndarray:
    """(N,) fold id per row, a seeded shuffle so each fold is a random 1/k of the training set."""
    return np.random.default_rng(seed).permutation(num_rows) % folds


def run_method(config: TrainConfig, dataset: LabeledDataset, *, device: torch.device, cache_dir=None,
               on_progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
               on_model1: Callable[[EnergyModel, FeatureSource], None] | None = None,
               review_targets: tuple[np.ndarray, np.ndarray] | None = None,
               teacher_energies: np.ndarray | None = None) -> MethodResult:
    """Train the run's model(s) for config.mode; returns the final model (the one that annotates).

    cache_dir: the workspace's cache folder (embeddings and token states are cached below it).
    on_model1: called with the trained CoEQN model of an EQN run before label regression, so callers can keep
    its annotations (the CoEQN side of a CoEQN-vs-EQN comparison) without training it twice.
    review_targets: (override, mask), each (N_train, C) in the training split's row order: reviewed values that
    replace the targets where mask (labels.apply_review_targets) after every label regression of an EQN run, or
    in a CoEQN run's initial targets (EQN's Model 1 trains on the paper's targets). MSE modes only.
    teacher_energies: (N_train, C) energies of another run on the training split (config.teacher_run): an EQN run
    then trains no Model 1; the first label regression starts from these, and the model trains once, for
    config.epochs, on the regressed targets.
    """
    config = config.resolved()
    seed_everything(config.seed)
    num_train = len(dataset.splits["train"].texts)
    train_rows = np.arange(num_train)
    own_rows = int((config.extra.get("reviews") or {}).get("train_rows") or num_train)  # then reviewed own texts
    if config.max_train_rows is not None and config.max_train_rows < own_rows:
        # a quick look samples the data set's texts and still trains on every reviewed text of one's own
        sampled = np.random.default_rng(config.seed).choice(own_rows, config.max_train_rows, replace=False)
        train_rows = np.concatenate([np.sort(sampled), np.arange(own_rows, num_train)])
    train_texts = [dataset.splits["train"].texts[i] for i in train_rows]
    model = build_model(config, len(dataset.label_names), train_texts=train_texts, label_names=dataset.label_names)
    initial_state = copy.deepcopy(model.state_dict())  # for fresh Model 2 and for out-of-fold models
    source = FeatureSource.for_dataset(model, config, dataset, device=device, cache_dir=cache_dir)
    source.should_stop = should_stop
    data = prepare_features(model, source, dataset, train_rows, on_progress=on_progress)
    result = MethodResult(model=model, features=source, train_rows=train_rows)
    scale = config.energy_scale
    weights_per_label = None
    if config.label_weighting == "inverse_frequency":  # counted on the rows this run trains on
        weights_per_label = rare_label_weights(data.train_labels, cap=config.label_weight_cap)

    def fit(phase: str, features, labels: np.ndarray, energy_targets: np.ndarray | None, kind: str, *,
            epochs: int | None = None) -> None:
        seed_everything(config.seed)
        phase_config = dataclasses.replace(config, epochs=epochs or config.epochs)
        trained = train_model(model, config=phase_config, train_features=features,
                              train_targets=targets_for(kind, labels, energy_targets, scale), loss_kind=kind,
                              dev_features=data.dev, dev_labels=data.dev_labels, device=device, phase=phase,
                              on_progress=on_progress, should_stop=should_stop,
                              train_weights=None if weights_per_label is None
                              else loss_weights(labels, weights_per_label), train_labels=labels)
        result.phases.append({"phase": phase, "best_epoch": trained.best_epoch, "best_score": trained.best_score,
                              "history": trained.history})

    kind = loss_for(config.mode)
    targets = initial_targets(data.train_labels, high=scale)  # eq. 1-2
    reviewed = None
    if review_targets is not None:
        if kind != "mse":
            raise ValueError(f"Reviews become energy targets: train with them in mode coeqn or eqn, not {config.mode}.")
        if any(np.shape(values) != (num_train, len(dataset.label_names)) for values in review_targets):
            raise ValueError(f"Review targets must be ({num_train}, {len(dataset.label_names)}), one row per training "
                             f"text, not {[np.shape(values) for values in review_targets]}.")
        reviewed = tuple(np.asarray(values)[train_rows] for values in review_targets)
        if config.mode != "eqn":
            targets = apply_review_targets(targets, *reviewed, high=scale)
    if teacher_energies is not None:
        if config.mode != "eqn":
            raise ValueError(f"A teacher feeds EQN's label regression: train with it in mode eqn, not {config.mode}.")
        if np.shape(teacher_energies) != (num_train, len(dataset.label_names)):
            raise ValueError(f"The teacher's energies must be ({num_train}, {len(dataset.label_names)}), one row per "
                             f"training text, not {np.shape(teacher_energies)}.")
    else:
        fit("model 1" if config.mode == "eqn" else "train", data.train, data.train_labels, targets, kind)
    if config.mode != "eqn":
        result.targets = targets if kind == "mse" else None
        return result
    if on_model1 is not None and teacher_energies is None:
        on_model1(model, source)

    for round_number in range(1, config.rounds + 1):
        if teacher_energies is not None and round_number == 1:  # Model 1 is the teacher, trained elsewhere
            energies = np.asarray(teacher_energies, dtype=np.float32)[train_rows]
        elif config.regression_targets == "in_sample":  # the paper: the model annotates the set it was trained on
            outputs = predict_outputs(model, data.train, batch_size=256, device=device, amp=config.amp,
                                      on_batch=batch_reporter(on_progress, "annotating train"),
                                      should_stop=should_stop)
            energies = outputs_to_energies(outputs, mode="coeqn", scale=scale)
        else:
            energies = out_of_fold_energies(model, initial_state, config, data, targets, round_number, fit, device,
                                            should_stop)
        floor = DEFAULT_THRESHOLD * scale / ENERGY_MAX if config.label_targets == "model_floored" else None
        targets = regress_targets(energies, data.train_labels, high=scale, label_floor=floor)  # eq. 3
        if reviewed is not None:  # reviewed values replace the model's (and count where they change a human label)
            targets = apply_review_targets(targets, *reviewed, high=scale)
        if not config.continue_from_model1:
            model.load_state_dict(initial_state)
        taught = teacher_energies is not None and round_number == 1  # the run's only model so far: its full budget
        fit(f"model {round_number + 1}", data.train, data.train_labels, targets, "mse",
            epochs=config.epochs if taught else config.model2_epochs)
    result.regressed_targets = result.targets = targets
    return result


def out_of_fold_energies(model: EnergyModel, initial_state: dict, config: TrainConfig, data: PreparedData,
                         targets: np.ndarray, round_number: int, fit, device: torch.device,
                         should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """Each training row scored by a model that did not train on it (k fresh models); the model's own weights are
    restored afterwards so Model 2 can still continue from Model 1."""
    kept_state = copy.deepcopy(model.state_dict())
    folds = fold_assignment(len(data.train), config.folds, config.seed)
    energies = np.zeros_like(targets, dtype=np.float32)
    for fold in range(config.folds):
        held_out = np.flatnonzero(folds == fold)
        kept = np.flatnonzero(folds != fold)
        model.load_state_dict(initial_state)
        fit(f"round {round_number} fold {fold + 1}/{config.folds}", data.train.subset(kept), data.train_labels[kept],
            targets[kept], "mse")
        outputs = predict_outputs(model, data.train.subset(held_out), batch_size=256, device=device, amp=config.amp,
                                  should_stop=should_stop)
        energies[held_out] = outputs_to_energies(outputs, mode="coeqn", scale=config.energy_scale)
    model.load_state_dict(kept_state)
    return energies
