"""Overfitting curves of one or more searches, from each run directory's metrics.jsonl alone.

Three panels, one colour per run (labelled method / K / seed from config.json): the NB201 accuracy of the derived
genotype by epoch (cifar10 test when every run has it, else cifar10-valid valid; the axis says which), the supernet's
search-train vs search-valid loss, and the number of skip_connect edges. With --mean-over-seeds, one colour per
group of runs that differ only in their seed: the mean over its seeds, a band of ± one sample std (clipped to the
metric's range) and each seed as a thin line. Epochs are 0-based, as in metrics.jsonl. Needs matplotlib.

Examples (from the repository root):
    python scripts/plot_curves.py runs/darts-tse-K100-cifar10-seed0-* runs/darts-cifar10-seed0-* -o curves.png
    python scripts/plot_curves.py runs/A runs/B --nb201-dataset cifar100 --nb201-split test -o c100.png
    python scripts/plot_curves.py runs/darts-cifar10-seed* runs/darts-tse-K100-cifar10-seed* --mean-over-seeds
"""
from __future__ import annotations

import argparse
import sys

from ..analysis import plot_curves
from ..analysis.selection import load_search_runs
from ..files import check_output_file
from ..nb201.labels import NB201_SPLITS
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, deprecated_alias


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (the --out of a search), sweep folders, compare-methods folders: runs/* works")
    parser.add_argument("-o", "--out", dest="output", metavar="FILE.png", default="curves.png", help="the PNG file to write (default %(default)s)")
    parser.add_argument("--nb201-dataset", dest="dataset", default=None, help="NB201 dataset: cifar10, cifar10-valid, cifar100, imagenet16-120 "
                                                        "(default: cifar10 test if present, else cifar10-valid valid)")
    parser.add_argument("--nb201-split", dest="split", choices=NB201_SPLITS, default=None,
                        help="NB201 split (default: test when every run has it, else valid)")
    parser.add_argument("--mean-over-seeds", action="store_true",
                        help="one line per group of runs that differ only in their seed: the mean over its seeds, "
                             "with a band of ± one sample std (groups as in scripts/compare_runs.py)")
    parser.add_argument("--no-seed-lines", dest="seed_lines", action="store_false",
                        help="with --mean-over-seeds: leave out the thin line of each seed")
    add_output_flags(parser)
    for old, new in (("--output", "--out"), ("--dataset", "--nb201-dataset"), ("--split", "--nb201-split")):
        deprecated_alias(parser, old, new)
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output = check_output_file(args.output, (".png",))
    runs = load_search_runs(args.runs, note=lambda line: print(line, file=sys.stderr), searches_only=True)
    plot_curves(runs, output, dataset=args.dataset, split=args.split, mean_over_seeds=args.mean_over_seeds,
                seed_lines=args.seed_lines)
    print(f"wrote {output} ({len(runs)} run{'s' if len(runs) > 1 else ''})")
    return 0
