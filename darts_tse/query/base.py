"""The search-strategy protocol of query-based NAS: ask for an architecture, tell its fitness."""
from __future__ import annotations

from abc import ABC, abstractmethod

from darts_tse.space.genotype import Genotype

from .config import QueryError


class QueryStrategy(ABC):
    """One query at a time: the loop calls :meth:`propose`, scores the cell, then calls :meth:`observe` with that
    cell and its fitness (higher is better) before the next :meth:`propose`.

    :meth:`proposal_info` (after :meth:`propose`) gives extra fields for the query log (an optuna trial number, an
    evolution parent). ``state_dict`` / ``load_state_dict`` hold the strategy's own state as plain data.
    """

    def __init__(self) -> None:
        self._pending: Genotype | None = None

    def propose(self) -> Genotype:
        """The next architecture to query."""
        if self._pending is not None:
            raise QueryError(f"{type(self).__name__}.propose called twice: observe the fitness of "
                             f"{self._pending.to_str()} first")
        self._pending = self._propose()
        return self._pending

    def observe(self, genotype: Genotype, fitness: float) -> None:
        """Tell the strategy the fitness of the architecture it proposed last."""
        if genotype != self._pending:
            pending = "nothing" if self._pending is None else self._pending.to_str()
            raise QueryError(f"observe got {genotype.to_str()}, but the pending proposal is {pending}")
        self._pending = None
        self._observe(genotype, float(fitness))

    def abandon(self) -> None:
        """Drop the pending proposal without a fitness (the search stopped before scoring it, or while telling it)."""
        self._pending = None
        self._abandon()

    def _abandon(self) -> None:  # noqa: B027 - a hook with a default, as proposal_info
        """Forget what :meth:`_propose` set up for a proposal that was never told (default: nothing)."""

    def proposal_info(self) -> dict:
        """Fields about the last proposal for the query log (default: none)."""
        return {}

    @abstractmethod
    def _propose(self) -> Genotype:
        """Choose the next architecture (called by :meth:`propose`)."""

    @abstractmethod
    def _observe(self, genotype: Genotype, fitness: float) -> None:
        """Learn from the fitness of the last proposal (called by :meth:`observe`)."""

    @abstractmethod
    def state_dict(self) -> dict:
        """The strategy's own state as plain data."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
