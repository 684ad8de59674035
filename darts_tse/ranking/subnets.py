"""Estimates of subnetworks of a trained supernet, after B more minibatches on inherited weights (TSE paper, Table 2).

For each subnetwork (a fixed path of the supernet): restore the supernet's weights and buffers exactly, train the
path alone for max(B) minibatches of search-train with a fresh SGD (the run's momentum, Nesterov, weight decay and
gradient clip; the learning rate the supernet ended with, unless given), and record after step b:

* ℓ_b, the training loss of minibatch b (the mean over its images, as the step saw it);
* ℓ^val_b, the loss of the path on the b-th search-valid minibatch (eval mode, no augmentation), for SoVL;
* at every budget B: the loss and accuracy on search-valid (``valid_batches`` of it, or all) — the paper's Val Acc.

Every subnetwork sees the same minibatches in the same order (one seeded stream), so the budgets B are checkpoints
of one run: B = 100, 200, 300 cost one 300-minibatch run, and give what separate runs of B steps would.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from ..data import BatchStream, CyclingBatches, SearchData, iterate_eval
from ..search import evaluate
from ..spaces import SearchSpace, Supernet, get_space
from ..training import WeightTrainer


@dataclass(frozen=True)
class FinetuneSettings:
    """How each subnetwork is trained from the inherited weights."""

    budgets: tuple[int, ...]  # B values, ascending
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    grad_clip: float | None
    batch_size: int
    seed: int  # of the search-train minibatch stream every subnetwork sees
    valid_batches: int | None  # search-valid batches of each Val Acc evaluation (None: all)
    valid_batch_size: int | None = None  # images per search-valid batch of Val Acc (None: batch_size)


@dataclass
class SubnetTrace:
    """What training one subnetwork recorded: per-step train and valid-minibatch losses, and Val loss/acc per B."""

    genotype: Any  # a genotype of the run's space
    train_losses: list[float]
    valid_minibatch_losses: list[float]
    valid: dict[int, dict]  # B -> {"valid_loss", "valid_acc"}


class SubnetFinetuner:
    """Trains subnetworks of one supernet from its weights, each from the same starting state (a restored copy)."""

    def __init__(self, model: Supernet, data: SearchData, settings: FinetuneSettings,
                 device: torch.device):
        if not settings.budgets or any(b < 1 for b in settings.budgets):
            raise ValueError(f"budgets must be integers >= 1, got {settings.budgets}")
        self.model, self.data, self.settings, self.device = model, data, settings, device
        self.initial = {name: value.detach().clone() for name, value in model.state_dict().items()}

    def restore(self) -> None:
        """Put the supernet's weights and buffers back exactly as they were when this finetuner was made."""
        self.model.load_state_dict(self.initial)

    def run(self, genotype) -> SubnetTrace:
        """Train `genotype` for max(budgets) minibatches from the inherited weights; the supernet is restored after."""
        s = self.settings
        self.restore()
        optimizer = torch.optim.SGD(self.model.weight_parameters(), lr=s.lr, momentum=s.momentum,
                                    nesterov=s.nesterov, weight_decay=s.weight_decay)
        trainer = WeightTrainer(self.model, optimizer, grad_clip=s.grad_clip)
        path = [genotype]
        train_losses, valid_losses, valid = [], [], {}
        wanted = set(s.budgets)
        try:
            for step, ((x, y), (x_val, y_val)) in enumerate(zip(self._train_batches(), self._valid_minibatches()), 1):
                self.model.train()
                stats = trainer.step_paths(x, y, path)
                train_losses.append(stats.loss)
                valid_losses.append(_minibatch_loss(self.model, x_val, y_val, genotype))
                if step in wanted:
                    valid[step] = evaluate(self.model, self._valid_batches(), path=genotype)
                if step == s.budgets[-1]:
                    break
        finally:
            self.restore()
        return SubnetTrace(genotype, [float(v) for v in torch.stack(train_losses).tolist()],
                           [float(v) for v in torch.stack(valid_losses).tolist()], valid)

    def _train_batches(self) -> Iterator:
        stream = self.data.stream("train", self.settings.batch_size, seed=self.settings.seed, device=self.device,
                                  stream="subnet-finetune")
        return CyclingBatches(stream)

    def _valid_minibatches(self) -> Iterator:
        """Search-valid minibatches, unaugmented, in order, cycling (one per training step, for SoVL)."""
        stream = BatchStream(self.data.valid, self.settings.batch_size, mean=self.data.mean, std=self.data.std,
                             augment=False, seed=self.settings.seed, stream="subnet-sovl", device=self.device,
                             shuffle=False)
        return CyclingBatches(stream)

    def _valid_batches(self) -> Iterator:
        batches = iterate_eval(self.data.valid, self.settings.valid_batch_size or self.settings.batch_size,
                               self.data.mean, self.data.std, self.device)
        limit = self.settings.valid_batches
        return batches if limit is None else itertools.islice(batches, limit)


@torch.no_grad()
def _minibatch_loss(model: Supernet, x: torch.Tensor, y: torch.Tensor, genotype) -> torch.Tensor:
    model.eval()
    loss = torch.nn.functional.cross_entropy(model(x, path=genotype), y)
    model.train()
    return loss


def sample_subnets(count: int, seed: int, space: SearchSpace | None = None) -> list:
    """`count` distinct uniformly random subnetworks of `space` (default NB201 cells), the same for a seed in every
    process (their own generator)."""
    return (space if space is not None else get_space(None)).distinct_paths(count, seed)
