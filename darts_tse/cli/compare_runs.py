"""Compare methods over search seeds: one row per group of runs that differ only in their seed.

Runs with the same search settings (config.json without the seed, --out, device, threads, W&B and the other settings
that do not change what a search computes, and without the settings their method does not use) form a group. For each group, at the last epoch all of its seeds finished
(or --epoch), the table gives the mean ± sample std over its search seeds of: the derived genotype's NB201 accuracy
(default cifar10 test, else cifar10-valid valid, as plot_curves chooses), the skip_connect count, and the supernet's
search-train and search-valid losses (with "(n=k)" where only k seeds have the number); and the genotype, when every
seed derived the same one. Seeds that have not finished their planned epochs are named in the epoch column.
Training runs (scripts/train_genotype.py) give one row per genotype: its test accuracy, mean ± std over the seeds.

Examples (from the repository root):
    python scripts/compare_runs.py runs/darts-cifar10-seed* runs/darts-tse-K100-cifar10-seed*
    python scripts/compare_runs.py runs/* --nb201-dataset cifar100 --nb201-split test -o summary.json
    python scripts/plot_curves.py runs/* --mean-over-seeds -o curves.png      # the same groups, as curves
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..analysis import RunDirError, check_search_run, compare
from ..analysis.selection import load_search_runs
from ..analysis.train_runs import is_training_run, training_table
from ..files import atomic_write_text, check_output_file
from ..nb201.labels import NB201_SPLITS
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, deprecated_alias


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (the --out of a search), sweep folders, compare-methods folders: runs/* works")
    parser.add_argument("--nb201-dataset", dest="dataset", default=None, help="NB201 dataset: cifar10, cifar10-valid, cifar100, imagenet16-120 "
                                                        "(default: cifar10 test if present, else cifar10-valid valid)")
    parser.add_argument("--nb201-split", dest="split", choices=NB201_SPLITS, default=None,
                        help="NB201 split (default: test when every run has it, else valid)")
    parser.add_argument("--epoch", type=int, default=None,
                        help="0-based epoch to compare at (default: the last one every seed of a group finished)")
    parser.add_argument("-o", "--out", dest="json", type=Path, default=None, metavar="FILE.json",
                        help="a JSON file to write too: the table and every group's per-epoch mean/std/count curves")
    add_output_flags(parser)
    for old, new in (("--json", "--out"), ("--dataset", "--nb201-dataset"), ("--split", "--nb201-split")):
        deprecated_alias(parser, old, new)
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    json_path = check_output_file(args.json, (".json",), "--out") if args.json is not None else None
    note = lambda line: print(line, file=sys.stderr)  # noqa: E731
    loaded = load_search_runs(args.runs, note=note)  # folders expanded, a repeated search once
    if all(is_training_run(run) for run in loaded):  # train_genotype's runs: test accuracy per genotype
        print(training_table(loaded, args.epoch))
        return 0
    runs = []
    for run in loaded:
        try:
            runs.append(check_search_run(run))
        except RunDirError as error:  # a one-shot supernet's or a training run among searches
            note(f"skipping {error}")
    if not runs:
        raise RunDirError("none of the runs given is a search run; compare training runs on their own")
    comparison = compare(runs, args.dataset, args.split, args.epoch)
    print(comparison.table())
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(comparison.document(), indent=2, allow_nan=False) + "\n")
        print(f"wrote {json_path}")
    return 0
