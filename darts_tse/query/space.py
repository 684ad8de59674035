"""The architectures a query-based search may query: those a curve store holds (all 15,625 NB201 cells, or a subset)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from darts_tse.space.genotype import NUM_EDGES, OPS, Genotype

from .config import QueryError


class ArchitectureSpace:
    """A set of NB201 cells with uniform sampling and one-edge mutation that stay inside the set."""

    def __init__(self, genotypes: Sequence[Genotype]) -> None:
        if not genotypes:
            raise QueryError("the search space is empty: the curve store has no architecture this fitness can score")
        self.genotypes = tuple(genotypes)
        self._members = frozenset(self.genotypes)

    def __len__(self) -> int:
        return len(self.genotypes)

    def __contains__(self, genotype: Genotype) -> bool:
        return genotype in self._members

    def choices(self, edge: int) -> tuple[str, ...]:
        """The ops that edge ``edge`` takes in some cell of the space, in NB201 op order."""
        present = {genotype.ops[edge] for genotype in self.genotypes}
        return tuple(op for op in OPS if op in present)

    def random(self, rng: np.random.Generator) -> Genotype:
        """A cell drawn uniformly from the space."""
        return self.genotypes[int(rng.integers(len(self.genotypes)))]

    def mutate(self, parent: Genotype, rng: np.random.Generator) -> tuple[Genotype, int | None]:
        """(child, edge): ``parent`` with the op of one edge changed (Real et al.'s mutation), and that edge.

        Draws an edge uniformly, then a different op uniformly; in a partial space only among the edges and ops whose
        child the space holds (in the full space that is every edge and op). A cell with no such neighbour gets a
        uniform random cell instead, and edge None.
        """
        options = []
        for edge in range(NUM_EDGES):
            children = [Genotype(parent.ops[:edge] + (op,) + parent.ops[edge + 1:]) for op in OPS if op != parent.ops[edge]]
            children = [child for child in children if child in self]
            if children:
                options.append((edge, children))
        if not options:
            return self.random(rng), None
        edge, children = options[int(rng.integers(len(options)))]
        return children[int(rng.integers(len(children)))], edge
