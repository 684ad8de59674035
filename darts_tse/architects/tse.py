"""DARTS-TSE's architect: α follows the summed training-loss gradient of K consecutive minibatches.

``joint`` (paper Algorithm 3): every minibatch has one forward/backward, which both trains the weights and adds
∂L_train/∂α into α.grad; after K minibatches α takes one Adam step with the sum. A short last window still steps.

``rollout`` (the released TSE code): for each window of K minibatches, snapshot the weights, BN buffers and SGD
state; run the K steps accumulating ∂L_train/∂α; restore the snapshot; step α; then train the real weights on the
same K minibatches with the new α (about two forward/backward passes per minibatch).
"""
from __future__ import annotations

import itertools
from typing import Iterable, Iterator

from ..training import StepStats, TrainingSnapshot, WeightTrainer
from .base import Architect, Batch

TSE_MODES = ("joint", "rollout")


def windows(batches: Iterable[Batch], size: int) -> Iterator[Iterator[Batch]]:
    """Consecutive windows of `size` batches (the last may be shorter); each window must be consumed in turn."""
    iterator = iter(batches)
    for first in iterator:
        yield itertools.chain([first], itertools.islice(iterator, size - 1))


class TSEArchitect(Architect):
    """Training-speed-estimation architect: one α step per window of K training minibatches; no validation data."""

    def __init__(self, model, trainer: WeightTrainer, arch_optimizer, *, K: int, mode: str = "joint"):
        super().__init__(model, trainer, arch_optimizer)
        if int(K) != K or K < 1:
            raise ValueError(f"K must be an integer >= 1 (minibatches per α step), got {K}")
        if mode not in TSE_MODES:
            raise ValueError(f"unknown TSE mode {mode!r}; choose one of {', '.join(TSE_MODES)}")
        self.K = int(K)
        self.mode = mode

    def _search_epoch(self, batches: Iterable[Batch]) -> Iterator[StepStats]:
        run_window = self._joint_window if self.mode == "joint" else self._rollout_window
        self.zero_alpha_grad()
        for window in windows(batches, self.K):
            yield from run_window(window)

    def _joint_window(self, window: Iterator[Batch]) -> Iterator[StepStats]:
        for x, y in window:
            yield self.trainer.step(x, y, accumulate_alpha=True)
        self.apply_alpha_step()

    def _rollout_window(self, window: Iterator[Batch]) -> Iterator[StepStats]:
        batches = list(window)
        snapshot = TrainingSnapshot(self.model, self.trainer.optimizer, exclude=self.alpha)
        for x, y in batches:
            self.trainer.step(x, y, accumulate_alpha=True)
        snapshot.restore()
        self.apply_alpha_step()
        for x, y in batches:
            yield self.trainer.step(x, y)
