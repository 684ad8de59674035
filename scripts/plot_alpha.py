#!/usr/bin/env python
"""The mixing probabilities of one search by epoch: one panel per edge of the cell, one line per op.

Read from the run directory's genotypes.jsonl (softmax(α) for darts / darts-tse, the Dirichlet mean for drnas /
drnas-tse, as logged after every epoch). Shows how the search drifts, e.g. towards skip_connect. Needs matplotlib.

Example (from the repository root):
    python scripts/plot_alpha.py runs/darts-cifar10-seed0-20250101-120000 -o alpha.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from darts_tse.plotting import MissingDependency, plot_alpha  # noqa: E402
from darts_tse.runs import RunDirError  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", metavar="RUN_DIR", help="run directory (the --out of train_search.py)")
    parser.add_argument("-o", "--output", default="alpha.png", help="PNG file to write (default %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        output = plot_alpha(args.run, args.output)
    except (RunDirError, MissingDependency) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
