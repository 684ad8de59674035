"""The mixing probabilities of one search by epoch: one panel per edge of the cell, one line per op.

Read from the run directory's genotypes.jsonl (softmax(α) for darts / darts-tse, the Dirichlet mean for drnas /
drnas-tse, as logged after every epoch). Shows how the search drifts, e.g. towards skip_connect. All panels share one y scale (0 to 1, or the data's range with --zoom) and the
title gives the range and the largest distance from uniform. Needs matplotlib.

Several runs (or a sweep or compare-methods folder, or runs/*) give one PNG each, named after -o and the run:
alpha-<run directory>.png. Runs with no finished epoch and runs of other kinds are left out with a note, and a search
run twice with the same settings and seed is drawn once (the newest).

Example (from the repository root):
    python scripts/plot_alpha.py runs/darts-cifar10-seed0-20250101-120000 -o alpha.png
    python scripts/plot_alpha.py runs/sweep-nb201 -o alpha.png      # alpha-<job>.png for every job of the sweep
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..analysis import RunDirError, plot_alpha
from ..analysis.selection import load_search_runs
from ..files import check_output_file
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, deprecated_alias


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="run directory (the --out of a search); or several, sweep or compare-methods folders")
    parser.add_argument("-o", "--out", dest="output", metavar="FILE.png", default="alpha.png",
                        help="PNG file to write; for several runs, <stem>-<run directory>.png each (default %(default)s)")
    parser.add_argument("--zoom", action="store_true",
                        help="narrow the shared y scale of all panels to the probabilities' range (default: 0 to 1)")
    add_output_flags(parser)
    deprecated_alias(parser, "--output", "--out")
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_output_file(args.output, (".png",))
    runs = load_search_runs(args.runs, note=lambda line: print(line, file=sys.stderr), searches_only=True)
    output = Path(args.output)
    targets = [output] if len(runs) == 1 else [output.with_name(f"{output.stem}-{run.path.name}{output.suffix}")
                                                for run in runs]
    if len(set(targets)) < len(targets):
        raise RunDirError("two of the runs have the same directory name, so their plots would share a file; "
                          "plot them one at a time with -o")
    for run, target in zip(runs, targets):
        print(f"wrote {plot_alpha(run.path, check_output_file(target, ('.png',)), zoom=args.zoom)}")
    return 0
