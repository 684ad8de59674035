"""Regularised (aging) evolution, Real et al., "Regularized Evolution for Image Classifier Architecture Search",
AAAI 2019, Algorithm 1, as the TSE code runs it (rubinxin/TSE, query_based_nas/run_regularized_evolution.py).

The first ``population_size`` queries are uniform random cells. After that each query is a tournament: draw
``sample_size`` members of the population uniformly *with replacement*, take the fittest (the first drawn among
equals) as the parent, and propose it with the op of one edge changed. Each observed cell joins the population; once
it holds more than ``population_size`` cells, the oldest leaves (aging, not the worst).
"""
from __future__ import annotations

from collections import deque

import numpy as np

from darts_tse.space.genotype import Genotype

from .base import QueryStrategy
from .config import DEFAULT_POPULATION, DEFAULT_SAMPLE_SIZE, QueryError
from .space import ArchitectureSpace

STATE_FORMAT = 1


class RegularizedEvolution(QueryStrategy):
    """Aging evolution over an :class:`ArchitectureSpace` (defaults: the TSE code's population 100, sample 10)."""

    def __init__(self, space: ArchitectureSpace, *, population_size: int = DEFAULT_POPULATION,
                 sample_size: int = DEFAULT_SAMPLE_SIZE, seed: int = 0) -> None:
        super().__init__()
        if not 1 <= sample_size <= population_size:
            raise QueryError(f"regularised evolution needs 1 <= sample size <= population, got {sample_size} and "
                             f"{population_size}")
        self.space = space
        self.population_size = population_size
        self.sample_size = sample_size
        self.population: deque[tuple[Genotype, float]] = deque()
        self.rng = np.random.default_rng(seed)
        self.last_parent: Genotype | None = None
        self.last_edge: int | None = None
        self.last_sample: list[tuple[Genotype, float]] = []  # the tournament of the last proposal, in draw order

    def _propose(self) -> Genotype:
        self.last_parent, self.last_edge, self.last_sample = None, None, []
        if len(self.population) < self.population_size:
            return self.space.random(self.rng)
        members = list(self.population)
        picks = self.rng.integers(len(members), size=self.sample_size)
        self.last_sample = [members[int(i)] for i in picks]
        parent = max(self.last_sample, key=lambda member: member[1])[0]  # max keeps the first of equals
        child, edge = self.space.mutate(parent, self.rng)
        if edge is not None:
            self.last_parent, self.last_edge = parent, edge
        return child

    def _observe(self, genotype: Genotype, fitness: float) -> None:
        self.population.append((genotype, fitness))
        if len(self.population) > self.population_size:
            self.population.popleft()

    def proposal_info(self) -> dict:
        """How the last cell came about: ``parent`` (NB201 index) and ``mutated_edge``, or both None (random)."""
        parent = None if self.last_parent is None else self.last_parent.index
        return {"parent": parent, "mutated_edge": self.last_edge}

    def state_dict(self) -> dict:
        return {"format": STATE_FORMAT, "population": [[g.to_str(), f] for g, f in self.population],
                "rng": self.rng.bit_generator.state,
                "pending": None if self._pending is None else self._pending.to_str()}

    def load_state_dict(self, state: dict) -> None:
        if state.get("format") != STATE_FORMAT:
            raise QueryError(f"regularised-evolution state has format {state.get('format')!r}, expected {STATE_FORMAT}")
        self.population = deque((Genotype.parse(text), float(f)) for text, f in state["population"])
        self.rng.bit_generator.state = state["rng"]
        self._pending = None if state["pending"] is None else Genotype.parse(state["pending"])
