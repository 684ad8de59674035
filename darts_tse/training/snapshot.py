"""Exact copies of training state: the TSE rollout's snapshot, and forwards that leave BN statistics untouched."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


@contextmanager
def buffers_kept(model: nn.Module) -> Iterator[None]:
    """Restore every buffer (BN running statistics, counters) on exit: forwards at trial weights leave no trace."""
    buffers = list(model.buffers())
    saved = [b.detach().clone() for b in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(buffers, saved):
                buffer.copy_(value)


class TrainingSnapshot:
    """A copy of the supernet weights, BN buffers and weight-optimizer state, restorable exactly (TSE rollout)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, exclude: list[torch.Tensor]):
        skip = {id(t) for t in exclude}
        self.tensors = [t for t in list(model.parameters()) + list(model.buffers()) if id(t) not in skip]
        self.optimizer = optimizer
        with torch.no_grad():
            self.saved = [t.detach().clone() for t in self.tensors]
        self.optimizer_state = {
            p: {k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()} for p, state in optimizer.state.items()
        }

    def restore(self) -> None:
        """Put every saved tensor and the optimizer state back (may be called once)."""
        with torch.no_grad():
            torch._foreach_copy_(self.tensors, self.saved)
        self.optimizer.state.clear()
        self.optimizer.state.update(self.optimizer_state)
