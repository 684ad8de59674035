"""The built-in path samplers: RandNAS, FairNAS and MultiPaths (the one-shot supernets of the TSE paper's Table 2)."""
from __future__ import annotations

from ..spaces import SearchSpace
from ..training import WeightTrainer
from .base import Path, PathSampler, register_sampler


@register_sampler("random")
class RandomSampler(PathSampler):
    """RandNAS (Li & Talwalkar, UAI 2019): one uniformly random path per minibatch."""

    def paths(self) -> list[Path]:
        return [self.space.random_path(self.generator)]


@register_sampler("fair")
class FairSampler(PathSampler):
    """FairNAS strict fairness (Chu et al., ICCV 2021), as the space defines it (``SearchSpace.fair_paths``). NB201:
    per minibatch, an independent random permutation of the 5 ops on each edge; path k takes the k-th op of every
    edge's permutation, so the 5 paths of a minibatch train every op of every edge exactly once. DARTS: the edges
    of the minibatch's paths are drawn once, then the same over the 7 non-none ops of each drawn edge. The paths'
    gradients are averaged (each loss × 1/paths, as in the TSE code) before the one weight update."""

    def paths(self) -> list[Path]:
        return self.space.fair_paths(self.generator)


@register_sampler("multipath")
class MultiPathSampler(PathSampler):
    """MultiPaths: `paths` independent uniformly random paths per minibatch, gradients averaged."""

    options = ("paths",)

    def __init__(self, trainer: WeightTrainer, *, seed: int, space: SearchSpace | None = None, paths: int = 3):
        super().__init__(trainer, seed=seed, space=space)
        if int(paths) != paths or paths < 1:
            raise ValueError(f"paths must be an integer >= 1, got {paths}")
        self.count = int(paths)

    def paths(self) -> list[Path]:
        return [self.space.random_path(self.generator) for _ in range(self.count)]
