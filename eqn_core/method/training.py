"""One training run of one energy model, with the best epoch chosen on the validation split."""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from eqn_core.method.config import TrainConfig
from eqn_core.method.inference import (
    RunStopped,
    StopCheck,
    autocast_for,
    outputs_to_energies,
    predict_outputs,
)
from eqn_core.method.metrics import sample_topk_scores
from eqn_core.method.parallel import active_group

ProgressCallback = Callable[[dict], None]


def batch_reporter(on_progress: ProgressCallback | None, phase: str) -> Callable[..., None] | None:
    """An on_batch(done, total, work_fraction) callback for inference loops that reports them as step events of one
    phase; the time left comes from the share of the work done (padded tokens), not the share of texts."""
    if on_progress is None:
        return None
    started = time.monotonic()

    def report(done: int, total: int, work_fraction: float | None = None) -> None:
        event = {"event": "step", "phase": phase, "step": done, "total_steps": total}
        fraction = work_fraction if work_fraction is not None else (done / total if total else 1.0)
        if 0.0 < fraction < 1.0:
            event["eta_s"] = (time.monotonic() - started) / fraction * (1.0 - fraction)
        on_progress(event)

    return report


@dataclass
class TrainResult:
    best_epoch: int
    best_score: float
    history: list[dict] = field(default_factory=list)  # one row per epoch: train_loss, val_loss, val_topk_f1, seconds


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def loss_for(mode: str) -> str:
    return {"coeqn": "mse", "eqn": "mse", "bce": "bce", "softmax": "softmax"}[mode]


def compute_loss(outputs: torch.Tensor, targets: torch.Tensor, kind: str,
                 weights: torch.Tensor | None = None) -> torch.Tensor:
    """outputs (B, C) head outputs; targets (B, C): energies for mse, 0/1 for bce, label distribution for softmax.
    weights (B, C): how much each value counts (labels.loss_weights); the loss is then their weighted mean."""
    if kind == "mse":
        if weights is None:
            return nn.functional.mse_loss(outputs, targets)
        return (weights * (outputs - targets) ** 2).sum() / weights.sum()
    if kind == "bce":
        if weights is None:
            return nn.functional.binary_cross_entropy_with_logits(outputs, targets)
        return nn.functional.binary_cross_entropy_with_logits(outputs, targets, weight=weights,
                                                              reduction="sum") / weights.sum()
    # softmax: cross-entropy against the (normalised) human label distribution; one-hot for single-label sets
    return -(targets * torch.log_softmax(outputs, dim=1)).sum(1).mean()


def ranking_loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Pairwise logistic ranking loss per label within a batch: each text a person gave the label should score above
    each text they did not, by a soft margin of about one energy (log(1 + exp(-(e_with - e_without)))). Unlike the
    MSE it keeps ordering texts after they reach their targets. outputs (B, C), labels (B, C) 0/1."""
    given = labels.bool()
    pairs = given[:, None, :] & ~given[None, :, :]  # (B, B, C): text i has the label, text j does not
    if not pairs.any():
        return outputs.sum() * 0.0
    differences = outputs[:, None, :] - outputs[None, :, :]  # (B, B, C)
    return nn.functional.softplus(-differences[pairs]).mean()


def targets_for(kind: str, human_labels: np.ndarray, energy_targets: np.ndarray | None, scale: float) -> np.ndarray:
    """The tensor a loss trains against, (N, C) float32."""
    if kind == "mse":
        assert energy_targets is not None
        return energy_targets.astype(np.float32)
    labels = human_labels.astype(np.float32)
    if kind == "softmax":
        return labels / np.maximum(labels.sum(1, keepdims=True), 1.0)
    return labels


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; a fine-tuned pretrained encoder learns slower than its fresh head."""
    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("head.")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    pretrained_body = not config.is_scratch and not config.frozen
    groups = [{"params": head, "lr": config.learning_rate * (config.head_lr_scale if pretrained_body else 1.0)}]
    if body:
        groups.append({"params": body, "lr": config.learning_rate})
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


def shuffled_batches(lengths: np.ndarray, batch_size: int, generator: np.random.Generator, *,
                     group_by_length: bool = True) -> list[np.ndarray]:
    """A random epoch order; with group_by_length, each batch holds texts of similar length (less padding,
    the same idea as transformers' group_by_length): sort within random mega-batches, then shuffle batches."""
    order = generator.permutation(len(lengths))
    if group_by_length and lengths.max(initial=0) != lengths.min(initial=0):
        mega = batch_size * 50
        order = np.concatenate([chunk[np.argsort(-lengths[chunk], kind="stable")]
                                for chunk in np.array_split(order, max(1, int(np.ceil(len(order) / mega))))])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in generator.permutation(len(batches))]


def train_model(model: nn.Module, *, config: TrainConfig, train_features, train_targets: np.ndarray, loss_kind: str,
                dev_features, dev_labels: np.ndarray, device: torch.device, phase: str = "train",
                on_progress: ProgressCallback | None = None, should_stop: StopCheck | None = None,
                train_weights: np.ndarray | None = None, train_labels: np.ndarray | None = None) -> TrainResult:
    """Train in place; at the end the model holds the weights of its best epoch on the dev split.

    train_targets: (N, C) float32, already in the form the loss wants (see targets_for).
    train_weights: (N, C) float32 weight of each training value in the loss (labels.loss_weights); None: equal.
    train_labels: (N, C) bool human labels, for config.ranking_weight's ranking term.
    The dev loss is always the plain loss (unweighted, no ranking term), so it stays comparable between recipes.
    dev_labels: (M, C) bool human labels; the epoch score is sample-level top-k F1 (eq. 15) or dev loss.
    """
    config = config.resolved()
    model.to(device)
    group = active_group()  # several processes (eqn_core.method.parallel): each trains on its part of every batch
    forward = group.wrap(model) if group else model
    optimizer = make_optimizer(model, config)
    trainable = [p for p in model.parameters() if p.requires_grad]  # frozen: the head; partial: top layers + head
    steps_per_epoch = math.ceil(len(train_features) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = None
    if not config.frozen and not config.is_scratch:  # warm-up then linear decay, the usual fine-tuning schedule
        warmup = max(1, int(config.warmup_ratio * total_steps))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup))))
    targets = torch.from_numpy(np.ascontiguousarray(train_targets, dtype=np.float32))
    weights = None if train_weights is None else torch.from_numpy(np.ascontiguousarray(train_weights, np.float32))
    ranking = config.ranking_weight if loss_kind == "mse" else 0.0
    if ranking and train_labels is None:
        raise ValueError("the ranking term needs the training texts' human labels")
    labels = torch.from_numpy(np.asarray(train_labels, dtype=np.float32)) if ranking else None
    dev_kind_targets = torch.from_numpy(targets_for(
        loss_kind, dev_labels, dev_labels.astype(np.float32) * config.energy_scale, config.energy_scale))
    generator = np.random.default_rng(config.seed)
    best = TrainResult(best_epoch=-1, best_score=-math.inf)
    best_state = None
    started = time.monotonic()
    step = 0
    epochs_without_gain = 0
    for epoch in range(1, config.epochs + 1):
        epoch_started = time.monotonic()
        model.train()
        running, seen = 0.0, 0
        for indices in shuffled_batches(train_features.lengths, config.batch_size, generator,
                                        group_by_length=config.group_by_length):
            stop = bool(should_stop and should_stop())
            if stop if group is None else group.any(stop):
                raise RunStopped()
            weight = 1.0
            if group:
                indices, weight = group.local_part(indices)
            batch = {k: v.to(device, non_blocking=True) for k, v in train_features.batch(indices).items()}
            batch_targets = targets[torch.as_tensor(indices)].to(device)
            with autocast_for(device, config.amp):
                outputs = forward(batch)
            batch_weights = None if weights is None else weights[torch.as_tensor(indices)].to(device)
            loss = compute_loss(outputs.float(), batch_targets, loss_kind, batch_weights)
            if ranking:
                loss = loss + ranking * ranking_loss(outputs.float(), labels[torch.as_tensor(indices)].to(device))
            optimizer.zero_grad(set_to_none=True)
            (loss * weight if group else loss).backward()
            nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            if scheduler:
                scheduler.step()
            step += 1
            running += loss.item() * len(indices) * (weight > 0)
            seen += len(indices) * (weight > 0)
            if on_progress and (step % 10 == 0 or step == total_steps):
                elapsed = time.monotonic() - started
                on_progress({"event": "step", "phase": phase, "epoch": epoch, "epochs": config.epochs, "step": step,
                             "total_steps": total_steps, "loss": running / max(seen, 1),
                             "eta_s": elapsed / step * (total_steps - step)})
        if group:  # the epoch's training loss over every process's rows
            running, seen = group.sum(running, seen)
        dev_outputs = predict_outputs(model, dev_features, batch_size=max(config.batch_size, 128), device=device,
                                      amp=config.amp, should_stop=should_stop)
        val_loss = compute_loss(torch.from_numpy(dev_outputs), dev_kind_targets, loss_kind).item()
        dev_energies = outputs_to_energies(dev_outputs, mode="coeqn" if loss_kind == "mse" else loss_kind,
                                           scale=config.energy_scale)
        val_f1 = sample_topk_scores(dev_energies, dev_labels)["f1"]
        row = {"epoch": epoch, "train_loss": running / max(seen, 1), "val_loss": val_loss, "val_topk_f1": val_f1,
               "seconds": time.monotonic() - epoch_started}
        best.history.append(row)
        score = val_f1 if config.select_by == "val_topk_f1" else -val_loss
        if score > best.best_score:
            best.best_score, best.best_epoch = score, epoch
            # frozen / partial keep only what trains: copying the fixed encoder every epoch is wasted time
            best_state = copy.deepcopy(model.trainable_state_dict())
            epochs_without_gain = 0
        else:
            epochs_without_gain += 1
        if on_progress:
            on_progress({"event": "epoch", "phase": phase, "epochs": config.epochs, **row, "best_epoch": best.best_epoch})
        if config.patience is not None and epochs_without_gain >= config.patience:
            break
    if best_state is not None:
        model.load_trained_state(best_state)
    return best
