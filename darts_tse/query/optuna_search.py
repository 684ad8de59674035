"""Random search and TPE through optuna's ask/tell interface, over the 6 categorical edges of an NB201 cell.

Each edge is an ``optuna.distributions.CategoricalDistribution`` over the ops it takes in the space (all five in the
full space). ``optuna.samplers.TPESampler`` (Bergstra et al., NeurIPS 2011; optuna's defaults: 10 random startup
trials, then TPE) or ``RandomSampler`` proposes the ops. A proposal the space lacks (a partial curve store) is told to
optuna as FAILED, costs no query and no clock, and is drawn again; for random search this rejection makes the draw
uniform over the space. With an RDB ``storage`` (``sqlite:///study.db``, any URL optuna accepts) several processes
share one study, as optuna documents for distributed optimisation: each asks and tells its own trials.
"""
from __future__ import annotations

import random
import time

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from sqlalchemy.exc import IntegrityError, OperationalError

from darts_tse.space.genotype import NUM_EDGES, Genotype

from .base import QueryStrategy
from .config import QueryError, masked_url
from .space import ArchitectureSpace

MAX_MISSES = 1000
STORAGE_ATTEMPTS = 5
STATE_FORMAT = 1
SAMPLERS = {"rs": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler}


def _open_study(storage: str | None, sampler, study_name: str | None) -> optuna.Study:
    """Create or load the study. Workers that start together race to create a new database's tables (optuna#1092);
    the loser's integrity or operational error is retried a few times, by when the winner has made them."""
    for attempt in range(1, STORAGE_ATTEMPTS + 1):
        try:
            return optuna.create_study(storage=storage, sampler=sampler, study_name=study_name, direction="maximize",
                                       load_if_exists=True)
        except (IntegrityError, OperationalError) as error:
            if attempt == STORAGE_ATTEMPTS:
                raise QueryError(f"cannot open optuna storage {masked_url(storage)!r} after {attempt} tries "
                                 f"({type(error).__name__}: {error}); create the study once first: optuna create-study "
                                 f"--storage URL --study-name NAME --direction maximize") from error
            time.sleep(0.2 * attempt + random.random() * 0.2)
        except Exception as error:  # noqa: BLE001 - sqlalchemy and the drivers raise many kinds for a bad URL
            raise QueryError(f"cannot open optuna storage {masked_url(storage)!r} ({type(error).__name__}: {error}); "
                             f"give an RDB URL optuna accepts, e.g. sqlite:///study.db") from error
    raise AssertionError("unreachable")


def edge_name(edge: int) -> str:
    """The optuna parameter of edge ``edge`` (canonical NB201 edge order)."""
    return f"edge{edge}"


class OptunaSearch(QueryStrategy):
    """``rs`` or ``tpe`` through an optuna study (in memory, or shared through ``storage`` under ``study_name``).

    ``identity`` (the store, dataset, fitness, T) is kept in the study's user attributes; a worker joining a study
    made with another identity is refused, so a shared study never mixes fitnesses or search spaces.
    """

    def __init__(self, space: ArchitectureSpace, sampler: str, *, seed: int = 0, storage: str | None = None,
                 study_name: str | None = None, identity: dict | None = None) -> None:
        super().__init__()
        if sampler not in SAMPLERS:
            raise QueryError(f"unknown optuna sampler {sampler!r}; choose {', '.join(SAMPLERS)}")
        self.space = space
        self.sampler_name = sampler
        self.distributions = {edge_name(e): CategoricalDistribution(space.choices(e)) for e in range(NUM_EDGES)}
        self.study = _open_study(storage, SAMPLERS[sampler](seed=seed), study_name)
        self._check_identity(dict(identity or {}))
        self._trial: optuna.Trial | None = None
        self._last_number: int | None = None
        self.misses = 0

    def _check_identity(self, identity: dict) -> None:
        if self.study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise QueryError(f"optuna study {self.study.study_name!r} minimises; use another --study-name")
        known = self.study.user_attrs.get("darts_tse")
        if known is None:
            self.study.set_user_attr("darts_tse", identity)
        elif known != identity:
            differ = sorted(k for k in set(known) | set(identity) if known.get(k) != identity.get(k))
            raise QueryError(f"optuna study {self.study.study_name!r} was started by a search with other settings "
                             f"({', '.join(differ)} differ); use the same flags to join it, or another --study-name")

    def _propose(self) -> Genotype:
        for _ in range(MAX_MISSES):
            trial = self.study.ask(self.distributions)
            genotype = Genotype(tuple(trial.params[edge_name(e)] for e in range(NUM_EDGES)))
            if genotype in self.space:
                self._trial, self._last_number = trial, trial.number
                return genotype
            trial.set_user_attr("reason", "not in the curve store")
            self.study.tell(trial, state=TrialState.FAIL)
            self.misses += 1
        raise QueryError(f"{MAX_MISSES} proposals in a row lie outside the curve store's {len(self.space)} architectures; "
                         f"the store is too sparse for --algorithm {self.sampler_name}: use a fuller store or --algorithm re")

    def _observe(self, genotype: Genotype, fitness: float) -> None:
        trial, self._trial = self._trial, None
        trial.set_user_attr("nb201_index", genotype.index)
        self.study.tell(trial, fitness)

    def proposal_info(self) -> dict:
        """The optuna trial number of the last proposal (unique across the workers of a shared study)."""
        return {"trial": self._last_number}

    def completed_trials(self) -> list:
        """The study's finished trials (all workers' in a shared study)."""
        return self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))

    def state_dict(self) -> dict:
        """The study's completed trials as ``{"params", "value"}`` (the sampler's RNG is not kept)."""
        return {"format": STATE_FORMAT, "trials": [{"params": t.params, "value": t.value} for t in self.completed_trials()]}

    def load_state_dict(self, state: dict) -> None:
        """Add the trials of :meth:`state_dict` to this (new, in-memory) study; TPE then proposes from them."""
        if state.get("format") != STATE_FORMAT:
            raise QueryError(f"optuna-search state has format {state.get('format')!r}, expected {STATE_FORMAT}")
        if self.completed_trials():
            raise QueryError("load_state_dict needs a study without trials (a shared storage already holds its own)")
        for trial in state["trials"]:
            self.study.add_trial(create_trial(params=trial["params"], distributions=self.distributions,
                                              value=trial["value"]))
