"""One SGD step of the supernet weights on a training minibatch (optionally adding ∂loss/∂α on the way)."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..space import NB201SearchNetwork


@dataclass
class StepStats:
    """Outcome of one weight step, kept on the device (no host synchronisation)."""

    loss: torch.Tensor  # 0-dim, detached: mean loss of the minibatch
    correct: torch.Tensor  # 0-dim: number of correct predictions
    count: int  # minibatch size


@contextmanager
def alpha_gradients(model: NB201SearchNetwork, enabled: bool) -> Iterator[None]:
    """Let the forward build (or not) the graph to α. Without it a weight step costs nothing for α."""
    previous = [p.requires_grad for p in model.arch_parameters()]
    for p in model.arch_parameters():
        p.requires_grad_(enabled)
    try:
        yield
    finally:
        for p, flag in zip(model.arch_parameters(), previous):
            p.requires_grad_(flag)


def classification_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mix: torch.Tensor | None = None):
    """(mean cross-entropy, logits) of the supernet on one batch."""
    logits = model(x, mix)
    return F.cross_entropy(logits, y), logits


class WeightTrainer:
    """One SGD step of the supernet weights on a training minibatch.

    With ``accumulate_alpha=True`` the same backward also adds ∂loss/∂α into ``alpha.grad`` (which the weight
    optimizer never zeroes): the α gradient of DARTS-TSE comes free with the weight step.
    """

    def __init__(self, model: NB201SearchNetwork, optimizer: torch.optim.Optimizer, grad_clip: float | None = 5.0):
        self.model = model
        self.optimizer = optimizer
        self.grad_clip = grad_clip
        self.weights = model.weight_parameters()

    def step(self, x: torch.Tensor, y: torch.Tensor, *, accumulate_alpha: bool = False) -> StepStats:
        """Forward, backward and one optimizer step of the weights; returns the minibatch's loss and accuracy."""
        with alpha_gradients(self.model, accumulate_alpha):
            loss, logits = classification_loss(self.model, x, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        if self.grad_clip is not None:
            # one multi-tensor norm and scale instead of a Python loop over ~100 tensors (same values; no host sync)
            foreach = True if self.weights[0].device.type in ("cpu", "cuda") else None
            nn.utils.clip_grad_norm_(self.weights, self.grad_clip, foreach=foreach)
        self.optimizer.step()
        with torch.no_grad():
            correct = (logits.argmax(dim=1) == y).sum()
        return StepStats(loss=loss.detach(), correct=correct, count=int(y.shape[0]))

    @property
    def lr(self) -> float:
        """Current learning rate of the weights."""
        return float(self.optimizer.param_groups[0]["lr"])
