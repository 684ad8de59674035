"""The mixing probabilities of one search by epoch: one panel per edge of the cell, one line per op.

Read from the run directory's genotypes.jsonl (softmax(α) for darts / darts-tse, the Dirichlet mean for drnas /
drnas-tse, as logged after every epoch). Shows how the search drifts, e.g. towards skip_connect. All panels share one y scale (0 to 1, or the data's range with --zoom) and the
title gives the range and the largest distance from uniform. Needs matplotlib.

Example (from the repository root):
    python scripts/plot_alpha.py runs/darts-cifar10-seed0-20250101-120000 -o alpha.png
"""
from __future__ import annotations

import argparse

from ..analysis import plot_alpha
from ..files import check_output_file
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", metavar="RUN_DIR", help="run directory (the --out of train_search.py)")
    parser.add_argument("-o", "--output", default="alpha.png", help="PNG file to write (default %(default)s)")
    parser.add_argument("--zoom", action="store_true",
                        help="narrow the shared y scale of all panels to the probabilities' range (default: 0 to 1)")
    add_output_flags(parser)
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output = plot_alpha(args.run, check_output_file(args.output, (".png",)), zoom=args.zoom)
    print(f"wrote {output}")
    return 0
