"""Random search and TPE through optuna's ask/tell interface, over the 6 categorical edges of an NB201 cell.

Each edge is an ``optuna.distributions.CategoricalDistribution`` over the ops it takes in the space (all five in the
full space). ``optuna.samplers.TPESampler`` (Bergstra et al., NeurIPS 2011; optuna's defaults: 10 random startup
trials, then TPE) or ``RandomSampler`` proposes the ops. A proposal the space lacks (a partial curve store) is told to
optuna as FAILED, costs no query and no clock, and is drawn again; for random search this rejection makes the draw
uniform over the space. With an RDB ``storage`` (``sqlite:///study.db``, any URL optuna accepts) several processes
share one study, as optuna documents for distributed optimisation: each asks and tells its own trials.
"""
from __future__ import annotations

import math
import random
import time
from contextlib import contextmanager
from typing import Iterator

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from darts_tse.space.genotype import NUM_EDGES, Genotype

from .base import QueryStrategy
from .config import QueryError, masked_url
from .space import ArchitectureSpace

MAX_MISSES = 1000
SPARSE_FACTOR = 20  # a sparse store tolerates 20x the expected misses of a uniform proposal
STORAGE_ATTEMPTS = 5
STATE_FORMAT = 1
SAMPLERS = {"rs": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler}
FINISHED_PREFIX = "finished worker: "  # a study user attribute per worker whose search ended (its value: the time)
RACE, LOCKED, OTHER = "race", "locked", "other"


def storage_error_kind(error: BaseException) -> str:
    """What a storage error means: RACE (workers creating a new database's tables at once, optuna#1092: an integrity
    error, 'already exists'), LOCKED (SQLite's 'database is locked': another worker held it past the timeout), or
    OTHER (a database that cannot be opened or reached)."""
    chain, seen = [], error
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(e) for e in chain).lower()
    if "database is locked" in text or "database table is locked" in text:
        return LOCKED
    if any(isinstance(e, IntegrityError) for e in chain) or "already exists" in text:
        return RACE
    return OTHER


def _detail(error: BaseException) -> str:
    """The driver's own message (sqlalchemy wraps it, optuna wraps that)."""
    while isinstance(error, optuna.exceptions.StorageInternalError) and error.__cause__ is not None:
        error = error.__cause__
    text = " ".join(str(getattr(error, "orig", None) or error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"


def locked_error(storage: str | None, error: BaseException) -> QueryError:
    """The one line for SQLite's 'database is locked' while a worker asks or tells."""
    return QueryError(f"optuna storage {masked_url(storage)!r} is busy ({_detail(error)}): another worker held the SQLite "
                      f"file past its timeout; SQLite suits a few workers on one machine: run fewer, wait longer "
                      f"(add ?timeout=60 to the URL), or use a PostgreSQL or MySQL storage")


PINNABLE_TPE = ("n_startup_trials", "n_ei_candidates", "multivariate", "group", "constant_liar", "consider_prior",
                "prior_weight", "consider_magic_clip", "consider_endpoints")


def sampler_record(sampler) -> dict:
    """What config.json records of an optuna sampler: optuna's version, the sampler's class and, for TPE, its
    settings (the constructor arguments they came from; ``gamma`` and ``weights`` by their functions' names). TPE's
    defaults differ between optuna majors (5.x: multivariate and constant_liar on), so a run says which it had."""
    record = {"version": optuna.__version__, "sampler": type(sampler).__name__}
    if isinstance(sampler, optuna.samplers.TPESampler):
        parzen = getattr(sampler, "_parzen_estimator_parameters", None)
        settings = {}
        for name in PINNABLE_TPE:
            value = getattr(sampler, f"_{name}", None)
            if name in ("consider_prior", "prior_weight", "consider_magic_clip", "consider_endpoints"):
                value = getattr(parzen, name, value)
            if name == "multivariate" and value is None:  # optuna 5: None = on for a single objective (ours)
                value = True
            if value is not None:
                settings[name] = value
        for name in ("gamma", "weights"):
            function = getattr(sampler, f"_{name}", None) or getattr(parzen, name, None)
            settings[name] = getattr(function, "__qualname__", "optuna's default")
        record["settings"] = settings
    return record


def pinned_tpe_arguments(record: dict) -> dict:
    """TPESampler's arguments from a sampler record (:func:`sampler_record`, e.g. a run's config.json "optuna"),
    refused in one line when it was made by another optuna major version or is not a TPE record."""
    if not isinstance(record, dict) or record.get("sampler") != "TPESampler" or not isinstance(record.get("settings"), dict):
        raise QueryError("--tpe-settings must name a TPE run's config.json (or its \"optuna\" record) holding the "
                         "TPESampler's settings")
    theirs, ours = str(record.get("version", "?")), optuna.__version__
    if theirs.split(".")[0] != ours.split(".")[0]:
        raise QueryError(f"--tpe-settings were recorded with optuna {theirs}, this is optuna {ours}: TPE's "
                         f"behaviour differs between major versions; install optuna {theirs.split('.')[0]}.x "
                         f"(pip install 'optuna=={theirs}') to reproduce that run")
    defaults = sampler_record(optuna.samplers.TPESampler())["settings"]  # passed only where they differ: optuna
    return {name: value for name, value in record["settings"].items()  # warns of its deprecated arguments
            if name in PINNABLE_TPE and defaults.get(name) != value}


def _open_study(storage: str | None, sampler, study_name: str | None) -> optuna.Study:
    """Create or load the study. Workers that start together race to create a new database's tables (optuna#1092);
    the loser's error is retried a few times, by when the winner has made them. A database that cannot be opened is
    not retried."""
    for attempt in range(1, STORAGE_ATTEMPTS + 1):
        try:
            return optuna.create_study(storage=storage, sampler=sampler, study_name=study_name, direction="maximize",
                                       load_if_exists=True)
        except Exception as error:  # noqa: BLE001 - sqlalchemy and the drivers raise many kinds for a bad URL
            kind = storage_error_kind(error) if isinstance(error, (SQLAlchemyError, optuna.exceptions.OptunaError)) \
                else OTHER
            if kind == OTHER:
                raise QueryError(f"cannot open optuna storage {masked_url(storage)!r} ({_detail(error)}); give an RDB "
                                 f"URL optuna accepts whose database can be opened, e.g. sqlite:///study.db (a "
                                 f"relative path, in a folder that exists and is writable)") from error
            if attempt == STORAGE_ATTEMPTS:
                raise QueryError(f"cannot open optuna storage {masked_url(storage)!r} after {attempt} tries, other "
                                 f"workers creating or holding it ({_detail(error)}); create the study once first: "
                                 f"optuna create-study --storage URL --study-name NAME --direction maximize") from error
            time.sleep(0.2 * attempt + random.random() * 0.2)
    raise AssertionError("unreachable")


def edge_name(edge: int) -> str:
    """The optuna parameter of edge ``edge`` (canonical NB201 edge order)."""
    return f"edge{edge}"


class OptunaSearch(QueryStrategy):
    """``rs`` or ``tpe`` through an optuna study (in memory, or shared through ``storage`` under ``study_name``).

    ``identity`` (the store, dataset, fitness, T) is kept in the study's user attributes; a worker joining a study
    made with another identity is refused, so a shared study never mixes fitnesses or search spaces. A study that
    already holds completed trials of workers that finished is an earlier search: joining it is refused unless
    ``extend`` (a new search would otherwise start, silently, from its trials). :attr:`trials_at_start` counts the
    completed trials the study held when this worker joined.
    """

    def __init__(self, space: ArchitectureSpace, sampler: str, *, seed: int = 0, storage: str | None = None,
                 study_name: str | None = None, identity: dict | None = None, extend: bool = False,
                 tpe_settings: dict | None = None) -> None:
        super().__init__()
        if sampler not in SAMPLERS:
            raise QueryError(f"unknown optuna sampler {sampler!r}; choose {', '.join(SAMPLERS)}")
        self.space = space
        self.sampler_name = sampler
        self.storage = storage
        self.distributions = {edge_name(e): CategoricalDistribution(space.choices(e)) for e in range(NUM_EDGES)}
        pinned = pinned_tpe_arguments(tpe_settings) if tpe_settings is not None else {}
        self.study = _open_study(storage, SAMPLERS[sampler](seed=seed, **pinned), study_name)
        self._trial: optuna.Trial | None = None
        self._last_number: int | None = None
        self.misses = 0
        with self._storage():
            self._check_identity(dict(identity or {}))
            self.trials_at_start = len(self.completed_trials())
            self.finished_workers = sorted(key[len(FINISHED_PREFIX):] for key in self.study.user_attrs
                                           if key.startswith(FINISHED_PREFIX))
        if self.trials_at_start and self.finished_workers and not extend:
            raise QueryError(f"optuna study {self.study.study_name!r} in {masked_url(storage)!r} already holds "
                             f"{self.trials_at_start} completed trials of a search that finished (workers: "
                             f"{'; '.join(self.finished_workers[:3])}{' ...' if len(self.finished_workers) > 3 else ''}); "
                             f"a new search would start from them: give a new --study-name, or --extend-study to add "
                             f"to that search on purpose")

    @contextmanager
    def _storage(self) -> Iterator[None]:
        """A shared storage's 'database is locked' as one line (QueryError)."""
        try:
            yield
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
            if self.storage is not None and storage_error_kind(error) == LOCKED:
                raise locked_error(self.storage, error) from error
            raise

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

    @property
    def max_misses(self) -> int:
        """Proposals outside the store tolerated in a row: MAX_MISSES, or 20 times the expected misses of a uniform
        proposal where the store is sparser (per-edge choices' product / cells held), so that random search stops
        with 'too sparse' by chance with probability about e^-20 per query."""
        product = math.prod(len(distribution.choices) for distribution in self.distributions.values())
        return max(MAX_MISSES, math.ceil(SPARSE_FACTOR * product / len(self.space)))

    def _propose(self) -> Genotype:
        limit = self.max_misses
        with self._storage():
            for _ in range(limit):
                trial = self.study.ask(self.distributions)
                genotype = Genotype(tuple(trial.params[edge_name(e)] for e in range(NUM_EDGES)))
                if genotype in self.space:
                    self._trial, self._last_number = trial, trial.number
                    return genotype
                trial.set_user_attr("reason", "not in the curve store")
                self.study.tell(trial, state=TrialState.FAIL)
                self.misses += 1
        raise QueryError(f"{limit} proposals in a row lie outside the curve store's {len(self.space)} architectures; "
                         f"the store is too sparse for --algorithm {self.sampler_name}: use a fuller store or --algorithm re")

    def _observe(self, genotype: Genotype, fitness: float) -> None:
        trial = self._trial
        with self._storage():
            trial.set_user_attr("nb201_index", genotype.index)
            self.study.tell(trial, fitness)
        self._trial = None

    def _abandon(self) -> None:
        """Tell optuna the pending trial FAILED (an interrupted or failed worker), so the shared study does not keep
        it RUNNING for ever (TPE's constant liar would count it)."""
        trial, self._trial = self._trial, None
        if trial is not None:
            trial.set_user_attr("reason", "the worker stopped before it was scored")
            self.study.tell(trial, state=TrialState.FAIL)

    def mark_finished(self, worker: str) -> None:
        """Record in a shared study that ``worker``'s search has ended (a later search is then refused unless it
        extends the study on purpose)."""
        with self._storage():
            self.study.set_user_attr(FINISHED_PREFIX + worker, time.strftime("%Y-%m-%d %H:%M:%S"))

    def proposal_info(self) -> dict:
        """The optuna trial number of the last proposal (unique across the workers of a shared study)."""
        return {"trial": self._last_number}

    def completed_trials(self) -> list:
        """The study's finished trials (all workers' in a shared study)."""
        with self._storage():
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
