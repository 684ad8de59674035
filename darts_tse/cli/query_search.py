"""Query-based NAS on NB201 learning curves: random search, regularised evolution or TPE, scored by TSE-EMA, TSE-E
or validation accuracy after T epochs, on a simulated clock that charges the benchmark's training time.

    python scripts/query_search.py --curves nb201_curves.npz --algorithm re --fitness tse-ema --budget-epochs 10 \\
        --dataset cifar10 --wallclock 200000 --runs 10
    python scripts/query_search.py --curves nb201_curves.npz --algorithm tpe --fitness val-acc-final --wallclock 200000
    # several workers (processes or machines) sharing one optuna study, each with its own seed:
    python scripts/query_search.py --curves nb201_curves.npz --algorithm tpe --storage sqlite:///study.db --seed 1 ...

Each run writes runs/query-<dataset>-<algorithm>-<fitness>-T<T>-seed<seed>/ (config.json, query.jsonl with one row
per query, summary.json); an existing run directory is never overwritten: the same command skips the runs that
finished and refuses one that did not. Plot with scripts/plot_query.py.
Definitions, the clock and the paper's claim: docs/query_nas.md.
"""
from __future__ import annotations

import argparse
import logging
import sys

from ..query import ALGORITHMS, FITNESSES, QUERY_DATASETS, QueryConfig, run_query_search
from ..query.config import DEFAULT_POPULATION, DEFAULT_SAMPLE_SIZE
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags

DEFAULTS = QueryConfig(curves="", max_queries=1)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", required=True, help="curve store (.npz) from scripts/export_nb201_curves.py")
    parser.add_argument("--dataset", choices=QUERY_DATASETS, default=DEFAULTS.dataset, help="(default %(default)s)")
    parser.add_argument("--algorithm", choices=list(ALGORITHMS), default=DEFAULTS.algorithm,
                        help="rs = random search, re = regularised evolution, tpe = optuna's TPE (default %(default)s)")
    parser.add_argument("--fitness", choices=list(FITNESSES), default=DEFAULTS.fitness,
                        help="tse-ema, tse-e (E=1): training-speed estimators after T epochs; val-acc: validation "
                             "accuracy at T; val-acc-final: after 200 epochs (default %(default)s)")
    parser.add_argument("--budget-epochs", type=int, default=None, metavar="T",
                        help="epochs each query trains for (default 10; val-acc-final always 200)")
    stop = parser.add_argument_group("when a run stops (at least one)")
    stop.add_argument("--wallclock", type=float, default=None, metavar="SECONDS",
                      help="simulated seconds of NB201 training per run")
    stop.add_argument("--max-queries", type=int, default=None, metavar="N", help="queries per run")
    runs = parser.add_argument_group("runs")
    runs.add_argument("--runs", type=int, default=1, help="repeats, with seeds --seed, --seed+1, ... (default 1)")
    runs.add_argument("--seed", type=int, default=0, help="seed of the first run (default 0)")
    runs.add_argument("--out-dir", default=DEFAULTS.out_dir, help="parent of the run directories (default %(default)s)")
    runs.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    settings = parser.add_argument_group("algorithm and fitness settings")
    settings.add_argument("--population", type=int, default=DEFAULT_POPULATION,
                          help="RE population size (default %(default)s, the TSE code's)")
    settings.add_argument("--sample-size", type=int, default=DEFAULT_SAMPLE_SIZE,
                          help="RE tournament size (default %(default)s, the TSE code's)")
    settings.add_argument("--gamma", type=float, default=DEFAULTS.gamma, help="TSE-EMA decay (default %(default)s)")
    settings.add_argument("--tse-e", type=float, default=DEFAULTS.tse_e, help="E of TSE-E in epochs (default 1)")
    settings.add_argument("--curve-seed", type=int, default=None,
                          help="score with this NB201 seed's curves (a --per-seed store; default: mean over seeds)")
    shared = parser.add_argument_group("distributed (rs and tpe)")
    shared.add_argument("--storage", default=None, metavar="URL",
                        help="optuna RDB storage shared by several workers, e.g. sqlite:///study.db")
    shared.add_argument("--study-name", default=None,
                        help="study in --storage (default: query-<dataset>-<algorithm>-<fitness>-T<T>)")
    shared.add_argument("--extend-study", action="store_true",
                        help="join a study that already holds the trials of workers that finished (an earlier "
                             "search), on purpose; without it such a study is refused")
    add_output_flags(parser)
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    progress = args.pop("progress")
    logging.getLogger("optuna").setLevel(logging.WARNING)  # optuna logs every trial at INFO
    config = QueryConfig(**args)
    try:
        run_query_search(config, progress=progress, announce=print)
    except KeyboardInterrupt:
        print(f"interrupted: the finished runs in {config.out_dir} are kept; the run being written was removed "
              f"(a query run is not resumable); the same command runs it again and skips the finished ones",
              file=sys.stderr)
        return 130
    return 0
