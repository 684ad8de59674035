"""Query-based NAS on NB201 learning curves: random search, regularised evolution or TPE, scored by TSE-EMA, TSE-E
or validation accuracy after T epochs, on a simulated clock that charges the benchmark's training time. A store of
our own from-scratch training runs (export_nb201_curves.py --train-runs) works too: its truth is those runs' test
accuracy, its clock their measured seconds, and it has no validation split (only tse-ema and tse-e).

    python scripts/query_search.py --curves nb201_curves.npz --algorithm re --fitness tse-ema --budget-epochs 10 \\
        --nb201-dataset cifar10 --wallclock 200000 --runs 10
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
import json
import logging
import sys
from pathlib import Path

from ..query import ALGORITHMS, FITNESSES, QueryConfig, run_query_search
from ..query.config import DEFAULT_POPULATION, DEFAULT_SAMPLE_SIZE, EMAS, STORE_DATASETS
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, dataset_spelling, deprecated_alias

DEFAULTS = QueryConfig(curves="", max_queries=1)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", required=True, help="curve store (.npz) from scripts/export_nb201_curves.py")
    parser.add_argument("--nb201-dataset", dest="dataset", type=dataset_spelling, choices=STORE_DATASETS,
                        default=None, help="dataset of the curves: an NB201 dataset (default cifar10), or in a store "
                                           "of training runs (export_nb201_curves.py --train-runs) the runs' "
                                           "dataset, e.g. npz (default: the store's)")
    parser.add_argument("--algorithm", choices=list(ALGORITHMS), default=DEFAULTS.algorithm,
                        help="rs = random search, re = regularised evolution, tpe = optuna's TPE (default %(default)s)")
    parser.add_argument("--fitness", choices=list(FITNESSES), default=DEFAULTS.fitness,
                        help="tse-ema, tse-e (E=1): training-speed estimators after T epochs; val-acc: validation "
                             "accuracy at T; val-acc-final: after 200 epochs (default %(default)s)")
    parser.add_argument("--budget-epochs", type=int, default=None, metavar="T",
                        help="epochs each query trains for (default 10; val-acc-final always 200)")
    stop = parser.add_argument_group("when a run stops (at least one)")
    stop.add_argument("--wallclock", type=wallclock, default=None, metavar="SECONDS",
                      help="simulated seconds of NB201 training per run; 'paper': the dataset's budget at which Val "
                           "Acc (T=200) makes about 200 queries, as the paper (3.3e5 / 6.5e5 / 2.0e6 s on CIFAR-10 / "
                           "CIFAR-100 / ImageNet16-120)")
    stop.add_argument("--max-queries", type=int, default=None, metavar="N", help="queries per run")
    runs = parser.add_argument_group("runs")
    runs.add_argument("--runs", type=int, default=1, help="repeats, with seeds --seed, --seed+1, ... (default 1)")
    runs.add_argument("--seed", type=int, default=0, help="seed of the first run (default 0)")
    runs.add_argument("-o", "--out", dest="out_dir", metavar="DIR", default=DEFAULTS.out_dir,
                      help="the parent folder of the run directories (default %(default)s)")
    settings = parser.add_argument_group("algorithm and fitness settings")
    settings.add_argument("--population", type=int, default=DEFAULT_POPULATION,
                          help="RE population size (default %(default)s, the TSE code's)")
    settings.add_argument("--sample-size", type=int, default=DEFAULT_SAMPLE_SIZE,
                          help="RE tournament size (default %(default)s, the TSE code's)")
    settings.add_argument("--gamma", type=float, default=DEFAULTS.gamma, help="TSE-EMA decay (default %(default)s)")
    settings.add_argument("--tse-e", type=float, default=DEFAULTS.tse_e, help="E of TSE-E in epochs (default 1)")
    settings.add_argument("--curve-seed", type=int, default=None,
                          help="score with this NB201 seed's curves (a --per-seed store; default: mean over seeds)")
    reference = parser.add_argument_group("the TSE code's protocol (rubinxin/TSE query_based_nas/nas201func.py; "
                                          "docs/query_nas.md)")
    reference.add_argument("--ema", choices=EMAS, default=DEFAULTS.ema,
                           help="sum: TSE-EMA = Σ γ^(T-t) L_t (the paper's text); reference: ema = 0.1 ema + 0.9 L_t "
                                "(the code that made Figure 4) (default %(default)s)")
    reference.add_argument("--charge-extra-epoch", dest="extra_epoch", action="store_true",
                           help="charge T + 1 epochs and read Val Acc after epoch T + 1, as the code (epoch index T)")
    reference.add_argument("--seed-fallback", action="store_true",
                           help="with --curve-seed: score a cell lacking that seed on the mean over seeds, as the "
                                "code's RE does (default: leave it out)")
    reference.add_argument("--reference", action="store_true",
                           help="all three: --ema reference --charge-extra-epoch --seed-fallback (the latter with "
                                "--curve-seed)")
    reference.add_argument("--tpe-settings", type=tpe_record, default=None, metavar="CONFIG_JSON",
                           help="pin TPE to the sampler settings a run's config.json recorded (refused under another "
                                "optuna major version)")
    shared = parser.add_argument_group("distributed (rs and tpe)")
    shared.add_argument("--storage", default=None, metavar="URL",
                        help="optuna RDB storage shared by several workers, e.g. sqlite:///study.db")
    shared.add_argument("--study-name", default=None,
                        help="study in --storage (default: query-<dataset>-<algorithm>-<fitness>-T<T>)")
    shared.add_argument("--extend-study", action="store_true",
                        help="join a study that already holds the trials of workers that finished (an earlier "
                             "search), on purpose; without it such a study is refused")
    add_output_flags(parser)
    for old, new in (("--out-dir", "--out"), ("--dataset", "--nb201-dataset")):
        deprecated_alias(parser, old, new)
    return parser


def wallclock(text: str) -> float | str:
    """--wallclock: seconds, or 'paper' (QueryConfig resolves it for the dataset)."""
    if text == "paper":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number of seconds nor 'paper'") from None


def tpe_record(path: str) -> dict:
    """The "optuna" record of a run's config.json (or a file holding just that record)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise argparse.ArgumentTypeError(f"cannot read {path} as JSON ({error})") from None
    record = document.get("optuna", document) if isinstance(document, dict) else None
    if not isinstance(record, dict):
        raise argparse.ArgumentTypeError(f"{path} holds no optuna record (a TPE run's config.json has one)")
    return record


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    progress = args.pop("progress")
    logging.getLogger("optuna").setLevel(logging.WARNING)  # optuna logs every trial at INFO
    if args.pop("reference"):
        args.update(ema="reference", extra_epoch=True, seed_fallback=args["curve_seed"] is not None)
    config = QueryConfig(**args)
    try:
        run_query_search(config, progress=progress, announce=print)
    except KeyboardInterrupt:
        print(f"interrupted: the finished runs in {config.out_dir} are kept; the run being written was removed "
              f"(a query run is not resumable); the same command runs it again and skips the finished ones",
              file=sys.stderr)
        return 130
    return 0
