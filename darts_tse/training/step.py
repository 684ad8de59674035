"""One SGD step of the supernet weights on a training minibatch (optionally adding ∂loss/∂α on the way)."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..spaces import Supernet


@dataclass
class StepStats:
    """Outcome of one weight step, kept on the device (no host synchronisation)."""

    loss: torch.Tensor  # 0-dim, detached: mean loss of the minibatch
    correct: torch.Tensor  # 0-dim: number of correct predictions
    count: int  # minibatch size


@contextmanager
def alpha_gradients(model: Supernet, enabled: bool) -> Iterator[None]:
    """Let the forward build (or not) the graph to α. Without it a weight step costs nothing for α."""
    previous = [p.requires_grad for p in model.arch_parameters()]
    for p in model.arch_parameters():
        p.requires_grad_(enabled)
    try:
        yield
    finally:
        for p, flag in zip(model.arch_parameters(), previous):
            p.requires_grad_(flag)


@contextmanager
def weights_frozen(model: Supernet) -> Iterator[None]:
    """The supernet's weights need no gradient in the body (α-only passes). Eager autograd skips their gradients
    anyway when asked for α's alone; a compiled forward's backward is one graph that computes the gradient of
    every input needing one, so it gets its own α-only graph (one more compile) instead of computing and dropping
    every weight's gradient."""
    weights = model.weight_parameters()
    previous = [p.requires_grad for p in weights]
    for p in weights:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(weights, previous):
            p.requires_grad_(flag)


def classification_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mix: torch.Tensor | None = None, *,
                        path=None):
    """(mean cross-entropy, logits) of the supernet on one batch (of the subnetwork `path`, where given)."""
    logits = model(x, mix) if path is None else model(x, path=path)
    return F.cross_entropy(logits, y), logits


class WeightTrainer:
    """One SGD step of the supernet weights on a training minibatch.

    With ``accumulate_alpha=True`` the same backward also adds ∂loss/∂α into ``alpha.grad`` (which the weight
    optimizer never zeroes): the α gradient of DARTS-TSE comes free with the weight step.

    :meth:`step_paths` trains subnetworks of the supernet instead (one-shot NAS): the mean of their losses on the
    minibatch, one backward each, one optimizer step. Every weight then has a gradient, zero off the paths, so SGD
    treats the supernet exactly as a supernet with one-hot mixing weights (weight decay and momentum act on every
    weight, as in DARTS-code-based RandNAS).
    """

    def __init__(self, model: Supernet, optimizer: torch.optim.Optimizer, grad_clip: float | None = 5.0):
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
        self._clip_and_step()
        with torch.no_grad():
            correct = (logits.argmax(dim=1) == y).sum()
        return StepStats(loss=loss.detach(), correct=correct, count=int(y.shape[0]))

    def step_paths(self, x: torch.Tensor, y: torch.Tensor, paths: Sequence[Sequence[int]]) -> StepStats:
        """One optimizer step on the mean loss of the subnetworks `paths` (each a path of the space) on the same
        minibatch; returns their mean loss, and their correct predictions out of batch size × paths."""
        if not paths:
            raise ValueError("step_paths needs at least one path")
        with alpha_gradients(self.model, False):
            for weight in self.weights:  # a zero gradient, never None, for the weights off every path
                if weight.grad is None:
                    weight.grad = torch.zeros_like(weight)
            self.optimizer.zero_grad(set_to_none=False)
            loss_sum, correct = 0.0, 0
            for path in paths:
                loss, logits = classification_loss(self.model, x, y, path=path)
                (loss / len(paths)).backward()
                loss_sum = loss_sum + loss.detach()
                with torch.no_grad():
                    correct = correct + (logits.argmax(dim=1) == y).sum()
        self._clip_and_step()
        # the mean loss over the paths; the correct predictions of all paths, out of batch × paths predictions
        return StepStats(loss=loss_sum / len(paths), correct=correct, count=int(y.shape[0]) * len(paths))

    def _clip_and_step(self) -> None:
        if self.grad_clip is not None:
            # one multi-tensor norm and scale instead of a Python loop over ~100 tensors (same values; no host sync)
            foreach = True if self.weights[0].device.type in ("cpu", "cuda") else None
            nn.utils.clip_grad_norm_(self.weights, self.grad_clip, foreach=foreach)
        self.optimizer.step()

    @property
    def lr(self) -> float:
        """Current learning rate of the weights."""
        return float(self.optimizer.param_groups[0]["lr"])
