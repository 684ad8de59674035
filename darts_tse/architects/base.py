"""The architect interface: owns α and its optimizer, and drives one epoch of weight steps around its α steps.

The epoch loop only iterates ``architect.train_epoch(batches, update_alpha)`` and reads the per-step
statistics it yields; it never knows which architect it drives.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterable, Iterator

import torch

from ..spaces import Supernet
from ..training import StepStats, WeightTrainer

Batch = tuple[torch.Tensor, torch.Tensor]


def build_arch_optimizer(model: Supernet, lr: float = 3e-4, betas=(0.5, 0.999), weight_decay: float = 1e-3):
    """Adam on α only (DARTS / TSE / DrNAS defaults)."""
    return torch.optim.Adam(model.arch_parameters(), lr=lr, betas=tuple(betas), weight_decay=weight_decay, eps=1e-8)


class Architect(ABC):
    """Updates α; trains the weights through a shared :class:`WeightTrainer`."""

    def __init__(self, model: Supernet, trainer: WeightTrainer, arch_optimizer: torch.optim.Optimizer):
        self.model = model
        self.trainer = trainer
        self.optimizer = arch_optimizer
        self.alpha = model.arch_parameters()
        self.alpha_steps = 0  # α updates in the current epoch

    def train_epoch(self, batches: Iterable[Batch], *, update_alpha: bool = True) -> Iterator[StepStats]:
        """Run one epoch: one weight step per training batch (yielding its stats), with α steps as the method says.

        With ``update_alpha=False`` (warm-up epochs) α stays frozen and only the weights train.
        """
        self.model.train()
        self.alpha_steps = 0
        if not update_alpha:
            return (self.trainer.step(x, y) for x, y in batches)
        return self._search_epoch(batches)

    @abstractmethod
    def _search_epoch(self, batches: Iterable[Batch]) -> Iterator[StepStats]:
        """One epoch of weight steps interleaved with the method's α steps."""

    def zero_alpha_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def apply_alpha_step(self) -> None:
        """Add the mixing regulariser's gradient (if any) to α.grad, then step α and clear its gradient."""
        for alpha in self.alpha:
            regularizer = self.model.mixing.regularizer(alpha)
            if regularizer is not None:
                regularizer.backward(inputs=[alpha])
        self.optimizer.step()
        self.zero_alpha_grad()
        self.alpha_steps += 1

    def state_dict(self) -> dict:
        """What a checkpoint needs to continue (α itself lives in the model's state dict)."""
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
