"""``scripts/rank_subnets.py`` / ``darts-tse-rank-subnets``: rank subnetworks of trained one-shot supernets by TSE and
the other estimators after B minibatches on inherited weights, against the run's space's benchmark (the TSE paper's
Table 2: NB201 look-up; DARTS space: the NB301 surrogate).

    python scripts/rank_subnets.py runs/<one-shot run> --subnets 200 --B 100 200 300 --benchmark nb201_table.csv
    python scripts/rank_subnets.py runs/<darts-space run> --subnets 500 --B 100 200 300 --benchmark model_v2.onnx
    python scripts/rank_subnets.py runs/A runs/B runs/C --json table2.json --plot rank.png   # mean ± std over runs

Every subnetwork's trace is kept in <run>/subnet_rankings/, so a stopped study continues where it was.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from ..config import MAX_SEED
from ..files import atomic_write_text, check_output_file
from ..spaces import SpaceError, info_of
from ..ranking import RankingSettings, combine, format_report, plot_ranking, rank_run, subnets_csv
from .errors import OneLineArgumentParser, cli_main


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories of scripts/train_oneshot.py "
                                                                   "(or of train_search.py: its supernet's weights)")
    parser.add_argument("--subnets", default="200",
                        help="how many distinct random subnetworks (seeded by --seed), or a file of genotype strings "
                             "of the run's space (NB201 strings, DARTS literals), one per line (default %(default)s)")
    parser.add_argument("--B", dest="budgets", type=int, nargs="+", default=[100, 200, 300],
                        help="budgets: minibatches trained on inherited weights, evaluated at each (default 100 200 300)")
    parser.add_argument("--lr", type=float, default=None,
                        help="SGD learning rate of that training (default: the rate the supernet ended with)")
    parser.add_argument("--seed", type=int, default=0, help="of the subnetworks drawn and their minibatches (default 0)")
    parser.add_argument("--valid-batches", type=int, default=None,
                        help="search-valid batches of each Val Acc evaluation (default: all of search-valid)")
    parser.add_argument("--data-dir", default=None,
                        help="where the run's data is now, if it moved (its content hash is checked)")
    parser.add_argument("--benchmark", default=None,
                        help="NB201 table / .pth / NATS directory, or the NB301 surrogate model_v2.onnx for a DARTS-"
                             "space run: the truth (default: the run's own --benchmark)")
    parser.add_argument("--truth-dataset", choices=("cifar10", "cifar100", "imagenet16-120"), default=None,
                        help="NB201 dataset of the truth (default: the dataset searched, or cifar10)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="write the whole study (every subnetwork) as JSON")
    parser.add_argument("--csv", type=Path, default=None, help="write every subnetwork's estimates as CSV")
    parser.add_argument("--plot", type=Path, default=None, help="save Spearman ρ against B per estimator as PNG")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if any(b < 1 for b in args.budgets) or (args.valid_batches is not None and args.valid_batches < 1):
        parser.error("--B and --valid-batches must be >= 1")
    if not 0 <= args.seed <= MAX_SEED or (args.lr is not None and not args.lr > 0):
        parser.error(f"--seed must lie in 0..{MAX_SEED} and --lr must be > 0")
    if args.threads is not None and not 1 <= args.threads <= (os.cpu_count() or 1):
        parser.error(f"--threads must lie in 1..{os.cpu_count()} (this machine's CPUs)")
    runs = [Path(run).resolve() for run in args.runs]
    if len(set(runs)) < len(runs):
        parser.error("a run directory is given twice; the mean over runs would count it twice")
    outputs = {key: check_output_file(path, suffix, f"--{key}") for key, path, suffix in
               (("json", args.json, (".json",)), ("csv", args.csv, (".csv",)), ("plot", args.plot, (".png",)))
               if path is not None}
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = RankingSettings(subnets=_subnets(parser, args.subnets, _path_count(runs)), budgets=tuple(args.budgets), lr=args.lr,
                               seed=args.seed, valid_batches=args.valid_batches, data_dir=args.data_dir,
                               benchmark=args.benchmark, truth_dataset=args.truth_dataset, device=args.device)
    results = [rank_run(run, settings, progress=args.progress) for run in args.runs]
    seeds = [result["seed"] for result in results]
    if len(set(seeds)) < len(seeds):
        print(f"warning: the runs share supernet seeds ({seeds}): the ± std over them is not over independent "
              f"supernets", file=sys.stderr)
    document = combine(results)
    print(format_report(document))
    if "json" in outputs:
        atomic_write_text(outputs["json"], json.dumps(document, indent=2) + "\n")
        print(f"wrote {outputs['json']}")
    if "csv" in outputs:
        atomic_write_text(outputs["csv"], subnets_csv(document))
        print(f"wrote {outputs['csv']}")
    if "plot" in outputs:
        print(f"wrote {plot_ranking(document, outputs['plot'])}")
    return 0


def _path_count(runs: list[Path]) -> int | None:
    """The fewest subnetworks the runs' spaces have (from their config.json; None: unbounded, or unreadable here, in
    which case the study says what is wrong with the run)."""
    counts = []
    for run in runs:
        try:
            counts.append(info_of(json.loads((run / "config.json").read_text(encoding="utf-8"))).path_count)
        except (OSError, ValueError, SpaceError, AttributeError):
            continue
    bounded = [count for count in counts if count is not None]
    return min(bounded) if bounded else None


def _subnets(parser: argparse.ArgumentParser, text: str, path_count: int | None) -> int | tuple[str, ...]:
    """A count (1..the space's number of subnetworks), or the genotype strings of a file (one per line; blank lines
    and # comments skipped)."""
    if text.isdigit():
        if not 1 <= int(text) <= (path_count or int(text) or 1):
            bound = f"1..{path_count}" if path_count is not None else "at least 1"
            parser.error(f"--subnets {text}: give {bound} subnetworks (or a file of genotype strings)")
        return int(text)
    path = Path(text)
    if not path.is_file():
        parser.error(f"--subnets {text} is neither a count nor a file of NB201 strings")
    try:
        lines = [line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        parser.error(f"--subnets {text} is not a UTF-8 text file of genotype strings")
    cells = tuple(line for line in lines if line)
    if not cells:
        parser.error(f"--subnets {text} lists no NB201 string or DARTS literal")
    return cells
