"""The path-sampler interface and its registry.

A path is one subnetwork of the NB201 supernet: one op index (into ``space.OPS``) per edge, in canonical edge order.
A sampler draws the paths of each minibatch from its own seeded ``torch.Generator`` (never the global RNG), so an
epoch's paths are a pure function of the seed and of how many were drawn before: ``state_dict`` holds the
generator's state, and a resumed run draws exactly the paths an uninterrupted one would have.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Iterable, Iterator

import torch

from ..space import NUM_EDGES, NUM_OPS
from ..training import StepStats, WeightTrainer

Batch = tuple[torch.Tensor, torch.Tensor]
Path = tuple[int, ...]

_REGISTRY: dict[str, Callable[..., PathSampler]] = {}


def random_cells(count: int, seed: int) -> list[Path]:
    """`count` distinct uniformly random paths (cells), the same for a seed in every process (their own generator):
    the first `count` of a seeded permutation of all 15,625, as base-5 codes (edge 0 the most significant digit)."""
    total = NUM_OPS**NUM_EDGES
    if not 1 <= count <= total:
        raise ValueError(f"the number of distinct cells must lie in 1..{total}, got {count}")
    codes = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))[:count].tolist()
    return [tuple((code // NUM_OPS**(NUM_EDGES - 1 - edge)) % NUM_OPS for edge in range(NUM_EDGES)) for code in codes]


def random_path(generator: torch.Generator) -> Path:
    """A uniformly random path: an independent uniform op on each of the 6 edges."""
    return tuple(torch.randint(0, NUM_OPS, (NUM_EDGES,), generator=generator).tolist())


class PathSampler(ABC):
    """Trains a supernet on sampled paths: ``train_epoch`` runs one weight step per minibatch on the paths that
    :meth:`paths` draws for it (several paths: the mean of their losses, one optimizer step)."""

    name: str
    options: tuple[str, ...] = ()  # the keyword options its constructor takes beyond trainer and seed

    def __init__(self, trainer: WeightTrainer, *, seed: int):
        self.trainer = trainer
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


def build_sampler(name: str, trainer: WeightTrainer, *, seed: int, **options) -> PathSampler:
    """The sampler called `name` with its options (e.g. ``paths`` for multipath; options it does not take are
    dropped); ValueError listing the choices for an unknown name."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown path sampler {name!r}; choose one of: {', '.join(list_samplers())}")
    cls = _REGISTRY[name]
    accepted = cls.options
    return cls(trainer, seed=seed, **{key: value for key, value in options.items() if key in accepted})
