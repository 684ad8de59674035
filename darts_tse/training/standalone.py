"""One SGD step of a stand-alone network (a found cell trained from scratch): the classifier's loss plus the
auxiliary head's, weighted, where the network has one; MixUp targets where the batch was mixed; the gradient clipped.

A network here is any module with ``forward_train(x) -> (logits, auxiliary logits or None)`` (``darts_tse.networks``).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .step import StepStats


class NetworkTrainer:
    """The weight step of a stand-alone network.

    The step's recorded loss is the classifier's cross-entropy (MixUp-weighted for a mixed batch); the loss it
    descends adds ``auxiliary_weight`` × the auxiliary head's. A mixed batch's correct predictions count
    λ·[argmax = y] + (1 − λ)·[argmax = y[pairing]].
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, *, grad_clip: float | None = None,
                 auxiliary_weight: float = 0.0, autocast_dtype: torch.dtype | None = None, forward=None):
        self.model = model
        self.optimizer = optimizer
        self.grad_clip = grad_clip
        self.auxiliary_weight = auxiliary_weight
        self.autocast_dtype = autocast_dtype
        self.forward = forward or model.forward_train  # a compiled forward_train where the run asks for one
        self.weights = [p for p in model.parameters() if p.requires_grad]

    def step(self, x: torch.Tensor, y: torch.Tensor, *, mixed: tuple[torch.Tensor, float] | None = None) -> StepStats:
        """Forward, backward, clip and one optimizer step; `mixed` = (the partner labels y[pairing], λ) of a MixUp
        batch."""
        with self._autocast(x.device):
            logits, auxiliary = self.forward(x)
        loss = self._loss(logits.float(), y, mixed)
        total = loss
        if auxiliary is not None and self.auxiliary_weight:
            total = loss + self.auxiliary_weight * self._loss(auxiliary.float(), y, mixed)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if self.grad_clip is not None:
            foreach = True if self.weights[0].device.type in ("cpu", "cuda") else None
            nn.utils.clip_grad_norm_(self.weights, self.grad_clip, foreach=foreach)
        self.optimizer.step()
        with torch.no_grad():
            predicted = logits.argmax(dim=1)
            if mixed is None:
                correct = (predicted == y).sum()
            else:
                partner, lam = mixed
                correct = lam * (predicted == y).sum() + (1.0 - lam) * (predicted == partner).sum()
        return StepStats(loss=loss.detach(), correct=correct, count=int(y.shape[0]))

    @staticmethod
    def _loss(logits: torch.Tensor, y: torch.Tensor, mixed: tuple[torch.Tensor, float] | None) -> torch.Tensor:
        if mixed is None:
            return F.cross_entropy(logits, y)
        partner, lam = mixed
        return lam * F.cross_entropy(logits, y) + (1.0 - lam) * F.cross_entropy(logits, partner)

    def _autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)
