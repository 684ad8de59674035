"""The path-sampler interface and its registry.

A path is one subnetwork of the supernet, in the form its forward takes (``forward(x, path=...)``): NB201 one op index
(into ``space.OPS``) per edge, DARTS a ``DartsGenotype``; the run's search space (``spaces.SearchSpace``) draws
them (``random_path``, ``fair_paths``), so a sampler never knows the space. A sampler draws the paths of each minibatch from its own seeded ``torch.Generator`` (never the global RNG), so an
epoch's paths are a pure function of the seed and of how many were drawn before: ``state_dict`` holds the
generator's state, and a resumed run draws exactly the paths an uninterrupted one would have.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable, Iterator

import torch

from ..spaces import SearchSpace, get_space
from ..spaces.nb201 import random_cells, random_path
from ..training import StepStats, WeightTrainer

__all__ = ["Path", "PathSampler", "build_sampler", "list_samplers", "random_cells", "random_path", "register_sampler"]
Batch = tuple[torch.Tensor, torch.Tensor]
Path = Any  # a subnetwork in the form the space's supernet takes

_REGISTRY: dict[str, Callable[..., PathSampler]] = {}


class PathSampler(ABC):
    """Trains a supernet on sampled paths: ``train_epoch`` runs one weight step per minibatch on the paths that
    :meth:`paths` draws for it (several paths: the mean of their losses, one optimizer step)."""

    name: str
    options: tuple[str, ...] = ()  # the keyword options its constructor takes beyond trainer and seed

    def __init__(self, trainer: WeightTrainer, *, seed: int, space: SearchSpace | None = None):
        self.trainer = trainer
        self.space = space if space is not None else get_space(None)  # draws the paths
        self.generator = torch.Generator().manual_seed(int(seed))
        self.paths_trained = 0  # paths trained on in the current epoch

    def train_epoch(self, batches: Iterable[Batch]) -> Iterator[StepStats]:
        """One epoch: for each training minibatch, draw its paths and take one weight step on them (yielding its
        stats). Called once per epoch by the search loop."""
        self.trainer.model.train()
        self.paths_trained = 0
        for x, y in batches:
            paths = self.paths()
            self.paths_trained += len(paths)
            yield self.trainer.step_paths(x, y, paths)

    @abstractmethod
    def paths(self) -> list[Path]:
        """The paths to train the next minibatch on."""

    def state_dict(self) -> dict:
        """The generator's state (a uint8 tensor): what a checkpoint needs to draw the same paths after a resume."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def register_sampler(name: str) -> Callable[[type[PathSampler]], type[PathSampler]]:
    """Class decorator: make a PathSampler subclass buildable by `name` (ValueError if the name is taken)."""
    def register(cls: type[PathSampler]) -> type[PathSampler]:
        if name in _REGISTRY:
            raise ValueError(f"a path sampler named {name!r} is registered already ({_REGISTRY[name]})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return register


def list_samplers() -> list[str]:
    """The registered sampler names."""
    return sorted(_REGISTRY)


def build_sampler(name: str, trainer: WeightTrainer, *, seed: int, space: SearchSpace | None = None,
                  **options) -> PathSampler:
    """The sampler called `name` drawing paths of `space` (default nb201) with its options (e.g. ``paths`` for
    multipath; options it does not take are dropped); ValueError listing the choices for an unknown name."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown path sampler {name!r}; choose one of: {', '.join(list_samplers())}")
    cls = _REGISTRY[name]
    accepted = cls.options
    return cls(trainer, seed=seed, space=space, **{key: value for key, value in options.items() if key in accepted})
