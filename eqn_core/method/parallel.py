"""The data-parallel group of one run on several processes (DDP set up by Hugging Face Accelerate).

While a group is active (scale.launch starts the processes and activates it), three things change:

- training (method.training.train_model): each global batch of batch_size rows is cut into N parts, one per
  process; the loss of a part is weighted by its share of the batch, so DDP's gradient average equals the
  one-process gradient of the whole batch, and the optimizer takes the same step as one process would;
- inference (method.inference.predict_outputs): every split is scored in N contiguous parts and gathered, which
  covers the dev evaluation after each epoch, the EQN re-annotation of the training split and the final energies;
- only process 0 writes the run folder (status, progress, weights, energies, metrics); the others write into a
  scratch copy that is deleted, so best-epoch selection and the run record are written once.

Every process computes the same dev score from the same gathered outputs, so all agree on the best epoch.
A stop request seen by any process stops all of them at the same batch.
"""
from __future__ import annotations

import numpy as np

_ACTIVE: "DataParallelGroup | None" = None


def active_group() -> "DataParallelGroup | None":
    """The group of the running data-parallel training, or None in an ordinary single process."""
    return _ACTIVE


def set_active_group(group: "DataParallelGroup | None") -> None:
    """Make `group` the one training and inference of this process use (None: back to a single process)."""
    global _ACTIVE
    _ACTIVE = group


class DataParallelGroup:
    """This process's place in the group (rank of world_size) and the few collective steps training needs."""

    def __init__(self, accelerator):
        self.accelerator = accelerator
        self.rank = accelerator.process_index
        self.world_size = accelerator.num_processes
        self._wrapped: dict[int, object] = {}
        self._local_inference = False

    def wrap(self, model):
        """The model in DDP (one wrapper per model object, reused by later training phases of the same model)."""
        key = id(model)
        if key not in self._wrapped:
            self._wrapped[key] = self.accelerator.prepare_model(model, device_placement=False)
        return self._wrapped[key]

    def local_part(self, indices: np.ndarray) -> tuple[np.ndarray, float]:
        """This process's rows of a global batch and the weight of its loss: n_local * world_size / n_batch.

        DDP averages gradients over processes, so sum_r (n_r / n) * grad(mean loss of part r) = grad(mean loss of
        the whole batch). A process left without rows (a last batch smaller than the group) runs one row at
        weight 0, because every process must take part in each backward pass.
        """
        local = np.array_split(indices, self.world_size)[self.rank]
        if len(local) == 0:
            return indices[:1], 0.0
        return local, len(local) * self.world_size / len(indices)

    def sum(self, *values: float) -> list[float]:
        """Element-wise sums over the group."""
        import torch
        import torch.distributed as dist

        totals = torch.tensor(values, dtype=torch.float64, device=self.accelerator.device)
        dist.all_reduce(totals)
        return totals.cpu().tolist()

    def any(self, flag: bool) -> bool:
        return self.sum(float(bool(flag)))[0] > 0

    @property
    def splits_inference(self) -> bool:
        return not self._local_inference

    def predict_outputs(self, predict, model, features, *, on_batch=None, **options) -> np.ndarray:
        """predict(model, features) with the rows cut into world_size contiguous parts, gathered in row order."""
        from accelerate.utils import gather_object

        rows = np.array_split(np.arange(len(features)), self.world_size)[self.rank]
        total = len(features)
        report = None if on_batch is None else (
            lambda done, _n, fraction: on_batch(min(total, done * self.world_size), total, fraction))
        self._local_inference = True
        try:
            local = predict(model, features.subset(rows), on_batch=report, **options)  # (n_r, C)
        finally:
            self._local_inference = False
        parts = gather_object([local])  # one array per process, in rank order
        return np.concatenate(parts, axis=0)  # (N, C)
