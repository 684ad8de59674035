"""The Figure-4-style plot of query-based searches: the search so far against simulated wall-clock (hours of NB201
training, or of the measured time of a store of training runs), one panel per dataset, one line per algorithm and
fitness (mean over runs that differ only in their seed, band ± 1 sample std). Prints each line's value at its last
clock. Needs matplotlib.

    python scripts/plot_query.py runs/query-* -o figure4.png
    python scripts/plot_query.py runs/query-cifar10-re-* --y best-regret --band sem -o re_regret.png

--y test (default): the true test accuracy (NB201's, or the from-scratch runs' of a store of training runs: the y
label says which) of the incumbent (the cell with the best fitness so far); regret: the optimum's test accuracy minus
the incumbent's; best-test / best-regret: the best test accuracy among the cells
queried so far (what the TSE code's Figure 4 shows, "best test error"), monotone; best-error: 100 − best-test,
the paper's y axis. --paper draws Figure 4 as the paper does: best-error, ± 1 standard error, log clock.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..analysis import QUERY_METRICS, format_query_table, load_query_run, plot_query
from ..analysis.query_runs import BANDS
from ..analysis.selection import query_run_paths
from ..files import check_output_file
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, deprecated_alias


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories of query-search, or folders holding them (runs/* works)")
    parser.add_argument("-o", "--out", dest="output", metavar="FILE.png", default="figure4.png", help="the PNG file to write (default %(default)s)")
    parser.add_argument("--y", dest="metric", choices=list(QUERY_METRICS), default="test", help="(default %(default)s)")
    parser.add_argument("--band", choices=BANDS, default="std",
                        help="spread over runs: sample std or standard error (default %(default)s)")
    parser.add_argument("--linear-clock", action="store_true", help="linear clock axis (default: log, as the paper)")
    add_output_flags(parser)
    deprecated_alias(parser, "--output", "--out")
    parser.add_argument("--paper", action="store_true",
                        help="the paper's Figure 4: --y best-error --band sem on a log clock (overrides --y, --band)")
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if len({Path(path).resolve() for path in args.runs}) < len(args.runs):
        parser.error("a run directory is given twice; the mean over runs would count it twice")
    check_output_file(args.output, (".png",))  # before reading the runs
    if args.paper:
        args.metric, args.band, args.linear_clock = "best-error", "sem", False
    runs = [load_query_run(path) for path in query_run_paths(args.runs, note=lambda line: print(line, file=sys.stderr))]
    output, series = plot_query(runs, args.output, metric=args.metric, log_clock=not args.linear_clock, band=args.band)
    print(format_query_table(series, args.metric))
    print(f"wrote {output} ({len(runs)} run{'s' if len(runs) > 1 else ''}, {len(series)} line{'s' if len(series) > 1 else ''})")
    return 0
