"""Run query-based searches over a curve store: the ask/tell loop, the simulated clock, and each run's directory.

A run directory (``<out_dir>/query-<dataset>-<algorithm>-<fitness>-T<T>-seed<seed>``, never overwritten: the same
command skips a finished one and refuses an unfinished one) holds
``config.json`` (every setting, the store, the fitness definition, the labels of the numbers), ``query.jsonl`` (one
row per query, flushed as it happens) and ``summary.json`` (written last: a run without it did not finish).
After every query a row records the clock, the fitness, and two views of the search so far:

* the **incumbent**: the cell with the best fitness so far (what the search would return), with its true test and
  valid accuracy (NB201's, or the from-scratch runs' of a store of training runs: ``labels`` says which), and ``regret`` = optimum test − incumbent test (not monotone: a fitter cell can test worse);
* the **best queried** cell by true test accuracy, ``best_test`` and ``best_regret`` = optimum − best_test
  (monotone; the y-axis of the TSE code's Figure 4, results/analysis.py: "Best test error").

The optimum is the best true test accuracy in the search space (the store's architectures).
"""
from __future__ import annotations

import json
import logging
import math
import os
import socket
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from darts_tse import __version__
from darts_tse.files import LOCK_FILE, atomic_write_text, run_lock
from darts_tse.nb201.curves import CurveStore, load_curve_store
from darts_tse.space.genotype import Genotype

from .base import QueryStrategy
from .config import ALGORITHMS, QueryConfig, QueryError, unused_settings
from .evolution import RegularizedEvolution
from .fitness import Evaluation, evaluate, with_fallback
from .optuna_search import OptunaSearch, sampler_record
from .space import ArchitectureSpace

log = logging.getLogger(__name__)

RUN_FORMAT = 1
CONFIG_FILE, QUERY_FILE, SUMMARY_FILE = "config.json", "query.jsonl", "summary.json"
# the settings a finished run must share with the command for the command to skip it (seed and run number are in
# its directory name; out_dir and the storage are where it ran)
RESUME_SETTINGS = ("curves", "dataset", "algorithm", "fitness", "budget_epochs", "wallclock", "max_queries",
                   "population", "sample_size", "gamma", "tse_e", "curve_seed", "study_name")
UNFINISHED_ADVICE = ("move it out of its --out folder and run the same scripts/query_search.py command again: finished "
                     "runs are skipped, that seed runs anew")
CLOCK_NOTE = ("simulated wall-clock: the sum over queries of the benchmark's training time of the epochs each fitness "
              "needs (T epochs, or all 200 for val-acc-final); look-ups and evaluation are free")


@dataclass
class SearchSetup:
    """What every run of a search shares: the store, the fitness of each row, the space and its rows."""

    store: CurveStore
    evaluation: Evaluation
    space: ArchitectureSpace
    rows: dict[Genotype, int]
    left_out: int

    @cached_property
    def optimum(self) -> dict:
        """The space's best true test accuracy (``labels['test']``): index, arch, test."""
        rows = list(self.rows.values())
        best = rows[int(np.argmax(self.evaluation.test[rows]))]
        return {"index": int(self.store.indices[best]), "arch": self.store.genotypes[best].to_str(),
                "test": float(self.evaluation.test[best])}


def prepare_search(config: QueryConfig) -> SearchSetup:
    """Open the store, score every architecture with the config's fitness, and build the search space."""
    store = load_curve_store(config.curves)
    curves = store.curves(config.dataset, config.curve_seed)
    settings = dict(gamma=config.gamma, E=int(config.tse_e), ema=config.ema, charged=config.epochs_charged)
    evaluation = evaluate(curves, config.fitness, config.budget_epochs, **settings)
    if config.seed_fallback:
        evaluation = with_fallback(evaluation, evaluate(store.curves(config.dataset, None), config.fitness,
                                                        config.budget_epochs, **settings))
    # a row is searchable where its fitness, its cost and the numbers it is judged by are all known
    usable = np.isfinite(evaluation.values) & np.isfinite(evaluation.costs) & np.isfinite(evaluation.test)
    rows = {store.genotypes[r]: int(r) for r in np.flatnonzero(usable)}
    return SearchSetup(store, evaluation, ArchitectureSpace(list(rows)), rows, int((~usable).sum()))


def build_strategy(config: QueryConfig, setup: SearchSetup, seed: int) -> QueryStrategy:
    """The config's algorithm over the setup's space (an optuna study shared through --storage for rs and tpe)."""
    if config.algorithm == "re":
        return RegularizedEvolution(setup.space, population_size=config.population, sample_size=config.sample_size,
                                    seed=seed)
    study_name = config.shared_study_name() if config.storage else None
    return OptunaSearch(setup.space, config.algorithm, seed=seed, storage=config.storage, study_name=study_name,
                        identity=search_identity(config, setup), extend=config.extend_study,
                        tpe_settings=config.tpe_settings)


def search_identity(config: QueryConfig, setup: SearchSetup) -> dict:
    """What a shared study's workers must agree on: the store's architectures and the settings the search uses."""
    store = setup.store
    return {"store": f"{len(store)} architectures, crc32 {zlib.crc32(store.indices.tobytes()):08x}", **config.used()}


def run_query_search(config: QueryConfig, *, progress: bool = True,
                     announce: Callable[[str], None] = lambda message: None) -> list[Path]:
    """Run ``config.runs`` searches (seeds config.seed, +1, ...); returns their run directories.

    A run directory that holds a finished run of the same settings (its ``summary.json``) is skipped, so the same
    command continues an interrupted ``--runs N``; before any run starts, it refuses a run directory of an
    unfinished run (an interrupted one: move it away to run that seed again) or of other settings.
    """
    setup = prepare_search(config)
    outs = [Path(config.out_dir) / config.run_name(seed) for seed in config.seeds]
    finished = [out for out in outs if out.exists() and _check_finished(out, config, setup.store)]
    announce(f"search space: {len(setup.space):,} architectures of the curve store: {setup.store.coverage}"
             + (f"; {setup.left_out} left out (their curves cannot give {setup.evaluation.label})" if setup.left_out else ""))
    if setup.evaluation.note:
        announce(f"note: {setup.evaluation.note}")
    for number, (seed, out) in enumerate(zip(config.seeds, outs), start=1):
        if out in finished:
            announce(f"{out}: finished earlier (summary.json); skipped")
            continue
        summary = run_one(config, setup, seed, out, number=number, progress=progress, announce=announce)
        incumbent = summary["incumbent"]
        announce(f"{out}: {summary['queries']} queries, {summary['clock_s'] / 3600:.1f} simulated hours; incumbent "
                 f"{incumbent['index']} test {incumbent['test']:.2f} ({summary['labels']['test']}), regret "
                 f"{summary['regret']:.2f}")
    return outs


def _check_finished(out: Path, config: QueryConfig, store: CurveStore) -> bool:
    """True for a run directory that holds a finished run of ``config``'s settings on the same store (its content
    hash); QueryError (naming it and what to do) for anything else: an unfinished run, a run of other settings or of
    another store, not a run."""
    if not (out / SUMMARY_FILE).is_file():
        raise QueryError(f"run directory {out} holds an unfinished run (no {SUMMARY_FILE}: it was killed); runs are "
                         f"never overwritten: {UNFINISHED_ADVICE}")
    try:
        document = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))
        recorded = {key: document.get(key) for key in RESUME_SETTINGS}
        used = (document.get("store") or {}).get("sha256")
    except (OSError, ValueError, AttributeError) as error:
        raise QueryError(f"run directory {out} has no readable {CONFIG_FILE} ({error}); it is not a run of "
                         f"scripts/query_search.py: choose another --out") from error
    unused = unused_settings(config.algorithm, config.fitness)
    wanted = {key: value for key, value in config.to_dict().items() if key in RESUME_SETTINGS and key not in unused}
    differ = sorted(key for key in wanted if recorded[key] != wanted[key])
    if used != store.sha256:
        then = f"sha256 {used[:12]}…" if isinstance(used, str) else "no content hash"
        raise QueryError(f"run directory {out} holds a finished run on another curve store at {store.path} ({then} "
                         f"then, sha256 {store.sha256[:12]}… now): its numbers are not this store's; choose another "
                         f"--out")
    if differ:
        raise QueryError(f"run directory {out} holds a finished run of other settings ({', '.join(differ)} differ); "
                         f"runs are never overwritten: choose another --out")
    return True


def run_one(config: QueryConfig, setup: SearchSetup, seed: int, out: Path, *, number: int = 1,
            progress: bool = True, announce: Callable[[str], None] = lambda message: None) -> dict:
    """One search into the new directory ``out``; returns its summary."""
    strategy = build_strategy(config, setup, seed)  # first: a bad --storage leaves no run directory behind
    if isinstance(strategy, OptunaSearch) and config.storage:
        joined = strategy.trials_at_start
        announce(f"optuna study {strategy.study.study_name!r} in {config.to_dict()['storage']}: "
                 + (f"joined, with {joined} completed trials of other workers" if joined else "no trials yet"))
    try:
        out.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise QueryError(f"run directory {out} exists (runs are never overwritten); choose another --out") from None
    try:
        return _search(config, setup, strategy, seed, out, number, progress)
    except BaseException:  # a failed or interrupted run cannot be continued: it leaves nothing, as a failed start
        remove_unfinished(out)
        raise


def remove_unfinished(out: Path) -> None:
    """Remove what an unfinished run wrote into `out` (a directory it created) and the directory itself; never a
    file it did not write, and never a finished run."""
    if (out / SUMMARY_FILE).exists():
        return
    for name in (CONFIG_FILE, QUERY_FILE, LOCK_FILE):
        (out / name).unlink(missing_ok=True)
    try:
        out.rmdir()
    except OSError:  # something else is in it: left alone
        pass


def _search(config: QueryConfig, setup: SearchSetup, strategy: QueryStrategy, seed: int, out: Path, number: int,
            progress: bool) -> dict:
    """The ask/tell loop of one run in `out`, its query.jsonl and summary.json."""
    evaluation = setup.evaluation
    with run_lock(out):
        recorded = run_config(config, setup, seed, number)
        if isinstance(strategy, OptunaSearch):
            recorded["optuna"] = sampler_record(strategy.study.sampler)
        atomic_write_text(out / CONFIG_FILE, json.dumps(recorded, indent=2) + "\n")
        log = QueryLog(setup.optimum["test"])
        clock, stopped = 0.0, None
        total = math.ceil(config.wallclock) if config.wallclock is not None else config.max_queries  # whole units
        bar = tqdm(total=total, desc=f"run {number}/{config.runs} (seed {seed})", disable=None if progress else True,
                   unit=" sim-s" if config.wallclock is not None else "query")
        try:
            with open(out / QUERY_FILE, "w", encoding="utf-8") as handle, bar:
                while stopped is None:
                    genotype = strategy.propose()
                    row = setup.rows[genotype]
                    fitness, cost = float(evaluation.values[row]), float(evaluation.costs[row])
                    clock += cost
                    strategy.observe(genotype, fitness)
                    entry = log.add(genotype, fitness, cost, clock, float(evaluation.test[row]),
                                    float(evaluation.valid[row]), strategy.proposal_info())
                    handle.write(json.dumps(entry) + "\n")
                    handle.flush()
                    bar.update(min(int(clock), total) - bar.n if config.wallclock is not None else 1)
                    if config.max_queries is not None and log.queries >= config.max_queries:
                        stopped = "max_queries"
                    elif config.wallclock is not None and clock >= config.wallclock:
                        stopped = "wallclock"
                os.fsync(handle.fileno())
        finally:
            _abandon(strategy)
        summary = log.summary(stopped, clock, setup, config)
        if isinstance(strategy, OptunaSearch) and config.storage:
            summary["study"] = study_summary(strategy, config, setup)
        atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
        if isinstance(strategy, OptunaSearch) and config.storage:
            strategy.mark_finished(f"seed {seed} on {socket.gethostname()}, {out.resolve()}")
    return summary


def _abandon(strategy: QueryStrategy) -> None:
    """Drop a proposal the search stopped before scoring (a shared study's trial is told FAILED). A storage error
    here is only logged: the error that stopped the search is the one to report."""
    try:
        strategy.abandon()
    except Exception as error:  # noqa: BLE001 - e.g. the database that stopped the search is still locked
        log.warning("could not tell optuna the unfinished trial failed (%s: %s); the study keeps it RUNNING",
                    type(error).__name__, error)


def run_config(config: QueryConfig, setup: SearchSetup, seed: int, number: int) -> dict:
    """config.json of one run: the settings, the store, the fitness definition and the labels of every number."""
    settings = config.to_dict()
    settings.update(seed=seed, run=number)
    store = setup.store
    return {
        "format": RUN_FORMAT,
        "kind": "query-based NAS",
        "darts_tse": __version__,
        **settings,
        "unused_settings": sorted(unused_settings(config.algorithm, config.fitness)),
        "algorithm_name": ALGORITHMS[config.algorithm],
        "epochs_charged": config.epochs_charged,
        "fitness_label": setup.evaluation.label,
        "fitness_definition": setup.evaluation.description,
        "clock": clock_note(store),
        "store": {"path": str(store.path), "sha256": store.sha256, "coverage": store.coverage, "num_architectures": len(store),
                  "source": store.meta.get("source"), "epochs": store.num_epochs, "origin": store.origin},
        "space_size": len(setup.space),
        "left_out": setup.left_out,
        "optimum": setup.optimum,
        "labels": labels(store, config.dataset),
    }


def labels(store: CurveStore, dataset: str) -> dict:
    """What the ``test`` and ``valid`` numbers of a run are (NB201's, or from-scratch training runs'), and what its
    data and clock are (``data``, ``clock``: the plot's title and axis)."""
    return {"test": store.truth_label(dataset), "valid": store.valid_label(dataset), "data": store.data_label(dataset),
            "clock": store.clock_label()}


def clock_note(store: CurveStore) -> str:
    """config.json's ``clock``: what the simulated seconds are."""
    if not store.from_training_runs:
        return CLOCK_NOTE
    return ("simulated wall-clock: the sum over queries of the training runs' measured seconds (wall time of training "
            "and the test evaluation, on the machine that ran them) of the T epochs each fitness needs; look-ups are free")


def study_summary(strategy: OptunaSearch, config: QueryConfig, setup: SearchSetup) -> dict:
    """The shared study at the end of this worker's run: its name, trials of all workers, its best cell."""
    trials = strategy.completed_trials()
    best = max(trials, key=lambda t: t.value)
    row = setup.store.row(best.user_attrs["nb201_index"])
    return {"name": config.shared_study_name(), "storage": config.to_dict()["storage"], "complete_trials": len(trials),
            "best": {"trial": best.number, "index": int(best.user_attrs["nb201_index"]), "fitness": best.value,
                     "test": float(setup.evaluation.test[row])}}


class QueryLog:
    """The query-log rows: the incumbent (best fitness so far) and the best cell queried (best true test so far)."""

    def __init__(self, optimum_test: float) -> None:
        self.optimum_test = optimum_test
        self.queries = 0
        self.seen: set[int] = set()
        self.incumbent: dict | None = None
        self.best: dict | None = None

    def add(self, genotype: Genotype, fitness: float, cost: float, clock: float, test: float, valid: float,
            info: dict) -> dict:
        """Record one query; returns its query.jsonl row."""
        self.queries += 1
        cell = {"index": genotype.index, "arch": genotype.to_str(), "fitness": fitness, "test": test, "valid": valid,
                "query": self.queries, "clock_s": clock}
        self.seen.add(cell["index"])
        if self.incumbent is None or fitness > self.incumbent["fitness"]:
            self.incumbent = cell
        if self.best is None or test > self.best["test"]:
            self.best = cell
        return {"query": self.queries, "index": cell["index"], "arch": cell["arch"], "fitness": fitness,
                "cost_s": cost, "clock_s": clock, "test": test, "valid": valid,
                "incumbent_index": self.incumbent["index"], "incumbent_fitness": self.incumbent["fitness"],
                "incumbent_test": self.incumbent["test"], "incumbent_valid": self.incumbent["valid"],
                "regret": self.optimum_test - self.incumbent["test"], "best_test": self.best["test"],
                "best_regret": self.optimum_test - self.best["test"], **info}

    def summary(self, stopped: str, clock: float, setup: SearchSetup, config: QueryConfig) -> dict:
        """summary.json: how the run ended, its incumbent, the best cell it queried, the optimum."""
        def found(cell: dict) -> dict:
            return {**{k: cell[k] for k in ("index", "arch", "fitness", "test", "valid")},
                    "found_at_query": cell["query"], "found_at_clock_s": cell["clock_s"]}

        return {"format": RUN_FORMAT, "finished": True, "stopped": stopped, "queries": self.queries, "clock_s": clock,
                "wallclock_s": config.wallclock, "unique_architectures": len(self.seen), "space_size": len(setup.space),
                "incumbent": found(self.incumbent), "best_queried": found(self.best), "optimum": setup.optimum,
                "regret": self.optimum_test - self.incumbent["test"],
                "best_regret": self.optimum_test - self.best["test"], "labels": labels(setup.store, config.dataset),
                "found_optimum": math.isclose(self.best["test"], self.optimum_test)}
