"""The paper's Figure 4 as one grid of query-based searches: every dataset of the store × algorithm × fitness, each
repeated ``runs`` times, with the paper's settings (or ours), resumable (finished runs are skipped).

The grid (Ru et al., NeurIPS 2021, Figure 4; the TSE code's ``query_based_nas/``): regularised evolution and TPE
(``run_regularized_evolution.py``, ``run_tpe.py``) scored by TSE-EMA (T = 10), Val Acc (T = 10) and Val Acc
(T = 200), ``--n_repeat`` 20 runs each, up to about 200 queries of the Val Acc (T = 200) baseline
(``PAPER_WALLCLOCK``). ``protocol="reference"`` adds the code's EMA and its T + 1 epoch charge, and for RE the code's
seed 999 curves with the fall-back to the mean (``--fixed_query_seed 2``; a per-seed store is needed, else the mean);
``protocol="ours"`` keeps this project's defaults.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from darts_tse.nb201.curves import load_curve_store

from .config import PAPER_WALLCLOCK, QUERY_DATASETS, QueryConfig, QueryError
from .runner import run_query_search

FIGURE4_ALGORITHMS = ("re", "tpe")
FIGURE4_FITNESSES = (("tse-ema", 10), ("val-acc", 10), ("val-acc-final", 200))
PAPER_RUNS = 20  # run_regularized_evolution.py: --n_repeat default 20
RE_CURVE_SEED = 999  # run_regularized_evolution.py: --fixed_query_seed 2, i.e. seed_list[2] of nas201func.py
PROTOCOLS = ("reference", "ours")


@dataclass(frozen=True)
class Figure4Settings:
    """What the Figure-4 grid runs; None picks the paper's (datasets: those the store holds)."""

    curves: str
    out_dir: str
    datasets: tuple[str, ...] | None = None
    algorithms: tuple[str, ...] = FIGURE4_ALGORITHMS
    runs: int = PAPER_RUNS
    seed: int = 0
    protocol: str = "reference"
    wallclock: float | None = None  # None: PAPER_WALLCLOCK of each dataset
    max_queries: int | None = None  # a cap besides the clock (for a quick look; the paper has none)


def figure4_configs(settings: Figure4Settings) -> tuple[list[QueryConfig], list[str]]:
    """The grid's searches, and the notes a report must carry (what the store could not give)."""
    if settings.protocol not in PROTOCOLS:
        raise QueryError(f"unknown protocol {settings.protocol!r}; choose {', '.join(PROTOCOLS)}")
    store = load_curve_store(settings.curves)
    if store.from_training_runs:
        raise QueryError(f"curve store {settings.curves} holds from-scratch training runs: Figure 4 needs NB201's "
                         f"curves (its Val Acc fitnesses read a validation split, its clock NB201's seconds); run "
                         f"query_search.py --fitness tse-ema on this store instead")
    datasets = settings.datasets or tuple(d for d in QUERY_DATASETS if d in store.datasets)
    lacking = [d for d in datasets if d not in store.datasets]
    if lacking:
        raise QueryError(f"the curve store {settings.curves} holds {', '.join(store.datasets)}, not "
                         f"{', '.join(lacking)}; export those datasets, or leave them out")
    notes = []
    reference = settings.protocol == "reference"
    if reference and "re" in settings.algorithms and not store.per_seed:
        notes.append(f"RE is scored on the mean over seeds, not on seed {RE_CURVE_SEED} as the TSE code: the store "
                     f"has no per-seed curves (export it with --per-seed)")
    configs = []
    for dataset in datasets:
        for algorithm in settings.algorithms:
            for fitness, epochs in FIGURE4_FITNESSES:
                one_seed = reference and algorithm == "re" and store.per_seed
                configs.append(QueryConfig(
                    curves=settings.curves, algorithm=algorithm, fitness=fitness, budget_epochs=epochs,
                    dataset=dataset, wallclock=settings.wallclock or PAPER_WALLCLOCK[dataset],
                    max_queries=settings.max_queries, runs=settings.runs, seed=settings.seed,
                    out_dir=settings.out_dir, ema="reference" if reference else "sum", extra_epoch=reference,
                    curve_seed=RE_CURVE_SEED if one_seed else None, seed_fallback=one_seed))
    return configs, notes


def run_figure4(settings: Figure4Settings, *, progress: bool = True,
                announce: Callable[[str], None] = lambda message: None) -> tuple[list[QueryConfig], list[Path], list[str]]:
    """Run (or continue) every search of the grid; returns the configs, every run directory and the notes."""
    configs, notes = figure4_configs(settings)
    outs: list[Path] = []
    for number, config in enumerate(configs, 1):
        announce(f"[{number}/{len(configs)}] {config.dataset} {config.algorithm} {config.fitness} "
                 f"T={config.budget_epochs}: {config.runs} runs")
        outs += run_query_search(config, progress=progress, announce=announce)
    return configs, outs, notes
