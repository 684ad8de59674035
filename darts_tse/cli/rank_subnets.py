"""``scripts/rank_subnets.py`` / ``darts-tse rank-subnets``: rank subnetworks of trained one-shot supernets by TSE and
the other estimators after B minibatches on inherited weights, against the run's space's benchmark (the TSE paper's
Table 2: NB201 look-up; DARTS space: the NB301 surrogate).

    python scripts/rank_subnets.py runs/<one-shot run> --subnets 200 --B 100 200 300 --benchmark nb201_table.csv
    python scripts/rank_subnets.py runs/<darts-space run> --subnets 500 --B 100 200 300 --benchmark model_v2.onnx
    python scripts/rank_subnets.py runs/A runs/B runs/C -o table2.json --plot rank.png   # mean ± std over runs
    python scripts/rank_subnets.py runs/<one-shot run> --subnets 50 --B 25 50 100 --truth-runs runs/train-sweep
        # the truth: those cells trained from scratch (train_genotype.py), mean final test accuracy over seeds

Every subnetwork's trace is kept in <run>/subnet_rankings/, so a stopped study continues where it was.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from ..analysis.selection import SWEEP_RECORD, load_search_runs
from ..analysis.train_runs import training_truth
from ..config import DEFAULT_TSE_E_LAST, MAX_SEED, VAL_ACC, ZeroCostSettings
from ..files import atomic_write_text, check_output_file
from ..spaces.info import SpaceError, info_of
from ..trust import TRUST_FLAG, TRUST_HELP
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, dataset_spelling, deprecated_alias


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
    parser.add_argument("--truth-runs", nargs="+", default=None, metavar="RUN_OR_FOLDER",
                        help="training runs of the subnetworks' cells (scripts/train_genotype.py, one setting; run "
                             "directories or sweep folders): the truth becomes each cell's mean final test accuracy "
                             "over its seeds, cells without runs are left out; the benchmark's numbers stay beside it "
                             "(a second table, a CSV column). The traces' cache is the same as without it")
    parser.add_argument("--nb201-dataset", dest="truth_dataset", type=dataset_spelling,
                        choices=("cifar10", "cifar100", "imagenet16-120"), default=None,
                        help="NB201 dataset of the truth (default: the dataset searched, or cifar10)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("-o", "--out", dest="json", type=Path, default=None, metavar="FILE.json",
                        help="write the whole study (every subnetwork) to this JSON file")
    parser.add_argument("--csv", type=Path, default=None, help="write every subnetwork's estimates as CSV")
    parser.add_argument("--plot", type=Path, default=None, help="save Spearman ρ against B per estimator as PNG")
    parser.add_argument(TRUST_FLAG, action="store_true", help=TRUST_HELP)
    add_output_flags(parser)
    for old, new in (("--json", "--out"), ("--truth-dataset", "--nb201-dataset")):
        deprecated_alias(parser, old, new)
    add_protocol_arguments(parser)
    return parser


def add_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    """The reference's protocol switches, TSE-E and the zero-cost baselines (docs/oneshot.md: the source of each)."""
    group = parser.add_argument_group("protocol and baselines")
    group.add_argument("--val-acc", choices=VAL_ACC, default="all",
                       help="all: Val Acc on search-valid (or --valid-batches of it); reference: on one 64-image "
                            "search-valid minibatch, the TSE code's val_acc (default %(default)s)")
    group.add_argument("--no-finetune-clip", dest="finetune_clip", action="store_false",
                       help="fine-tune without the run's gradient clip (the TSE code never clips)")
    group.add_argument("--budget-offset", type=int, choices=(0, 1), default=0,
                       help="1: read B after B + 1 steps, as the TSE code does (default %(default)s)")
    group.add_argument("--tse-e-last", type=int, default=DEFAULT_TSE_E_LAST,
                       help="TSE-E: the sum of the last K training losses (default %(default)s)")
    group.add_argument("--no-zero-cost", dest="zero_cost", action="store_false",
                       help="skip SNIP, SynFlow and JacCov (the size baselines stay)")
    group.add_argument("--zero-cost-batch", type=int, default=ZeroCostSettings.batch_size,
                       help="search-train images of the zero-cost minibatch (default %(default)s, the TSE code's)")
    group.add_argument("--zero-cost-C", type=int, default=ZeroCostSettings.C,
                       help="channels of the stand-alone network the proxies score (default %(default)s, NB201's)")
    group.add_argument("--zero-cost-N", type=int, default=ZeroCostSettings.N,
                       help="cells per stage of that network (default %(default)s, NB201's)")


def protocol_settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """RankingSettings' protocol fields from the flags of :func:`add_protocol_arguments` (checked)."""
    if min(args.tse_e_last, args.zero_cost_batch, args.zero_cost_C, args.zero_cost_N) < 1:
        parser.error("--tse-e-last, --zero-cost-batch, --zero-cost-C and --zero-cost-N must be >= 1")
    zero_cost = ZeroCostSettings(C=args.zero_cost_C, N=args.zero_cost_N, batch_size=args.zero_cost_batch,
                                 seed=args.seed) if args.zero_cost else None
    return {"val_acc": args.val_acc, "no_clip": not args.finetune_clip, "budget_offset": args.budget_offset,
            "tse_e_last": args.tse_e_last, "zero_cost": zero_cost}


INTERRUPTED = ("interrupted: every subnetwork trained so far is kept in <run>/subnet_rankings/; the same command "
               "continues the study from there")


@cli_main(interrupted=INTERRUPTED)
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
    outputs = {key: check_output_file(path, suffix, flag) for key, flag, path, suffix in
               (("json", "--out", args.json, (".json",)), ("csv", "--csv", args.csv, (".csv",)),
                ("plot", "--plot", args.plot, (".png",)))
               if path is not None}
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from ..ranking import RankingSettings, combine, format_report, plot_ranking, rank_run, split_groups, subnets_csv  # after parsing: torch loads here, so --help is fast
    from ..ranking.truth import with_training_truth

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = RankingSettings(subnets=_subnets(parser, args.subnets, _path_count(runs)), budgets=tuple(args.budgets), lr=args.lr,
                               seed=args.seed, valid_batches=args.valid_batches, data_dir=args.data_dir,
                               benchmark=args.benchmark, truth_dataset=args.truth_dataset, device=args.device,
                               trust_run_files=args.trust_run_files, **protocol_settings(parser, args))
    truth = _training_truth(args.truth_runs) if args.truth_runs else None  # before any subnetwork is trained
    results = [rank_run(run, settings, progress=args.progress) for run in args.runs]
    if truth is not None:
        results = [with_training_truth(result, truth) for result in results]
        for result in results:
            count = result["truth_runs"]
            if count["without_runs"] or count["runs_not_ranked"]:
                unused = count["runs_not_ranked"]
                print(f"note: {result['run']}: {count['ranked']} of {len(result['subnets'])} subnetworks have training "
                      f"runs and are ranked ({count['without_runs']} without are left out)"
                      + (f"; the runs' other {unused} cells are not among the subnetworks" if unused else ""),
                      file=sys.stderr)
    document = combine(results)
    for part in split_groups(document):
        seeds = [result["seed"] for result in part["runs"]]
        if len(set(seeds)) < len(seeds):
            print(f"warning: the runs of {part['groups'][0]['setting']} share supernet seeds ({seeds}): the ± std "
                  f"over them is not over independent supernets", file=sys.stderr)
    print(format_report(document))
    if "json" in outputs:
        atomic_write_text(outputs["json"], json.dumps(document, indent=2) + "\n")
        print(f"wrote {outputs['json']}")
    if "csv" in outputs:
        atomic_write_text(outputs["csv"], subnets_csv(document))
        print(f"wrote {outputs['csv']}")
    if "plot" in outputs:
        parts = split_groups(document)
        for number, part in enumerate(parts, 1):  # one figure per setting: seeds are averaged within one only
            path = outputs["plot"] if len(parts) == 1 else \
                outputs["plot"].with_name(f"{outputs['plot'].stem}-{number}{outputs['plot'].suffix}")
            print(f"wrote {plot_ranking(part, path)}" + (f" ({part['groups'][0]['setting']})" if len(parts) > 1 else ""))
    return 0


def _training_truth(paths: list[str]):
    """The truth of the training runs given (run directories, sweep folders, plain folders of runs): their final test
    accuracies, mean over seeds (analysis.train_runs.training_truth)."""
    note = lambda line: print(line, file=sys.stderr)  # noqa: E731
    return training_truth(load_search_runs(_run_folders(paths), note=note))


def _run_folders(paths: list[str]) -> list[Path]:
    """`paths` with each plain folder of run directories (no run, no sweep record of its own) replaced by them."""
    out = []
    for path in map(Path, paths):
        inside = sorted(child for child in path.iterdir() if (child / "config.json").is_file()) \
            if path.is_dir() and not any((path / name).exists() for name in ("metrics.jsonl", "config.json",
                                                                            SWEEP_RECORD)) else []
        out += inside or [path]
    return out


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
    if text.isascii() and text.isdigit():
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
