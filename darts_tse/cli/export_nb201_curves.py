"""Export the learning curves of NB201 cells into one curve store (.npz) for query-based NAS: NB201's own, from a
NATS-Bench topology directory, or those of our from-scratch training runs (scripts/train_genotype.py).

    python scripts/export_nb201_curves.py --nats DIR/NATS-tss-v1_0-3ffb9-simple -o nb201_curves.npz
    python scripts/export_nb201_curves.py --nats DIR --nb201-datasets cifar10 --curve-epochs 20 --indices 0-999 -o c10_first1k.npz
    python scripts/export_nb201_curves.py --train-runs runs/train-* -o our_curves.npz [--per-seed]

Per architecture, dataset and epoch: training loss, validation loss and accuracy, the epoch's training time, and the
200-epoch valid and test accuracy, averaged over the benchmark's seeds (--per-seed adds each seed's). Resumable: an
interrupted export keeps its progress in FILE.npz.parts/; run the same command again to continue. A record that cannot
be read is reported by index and left out. The field mapping is in darts_tse/nb201/curves.py and docs/query_nas.md.

--train-runs: one row per cell from the runs of its seeds, all of one protocol (runs that mix settings, or a cell
with other seeds than the rest, are refused): the seeds' mean training loss and measured seconds per epoch, and their
mean final test accuracy (the data's test split) as the truth. These runs have no validation split: the validation
columns are NaN, so only the training-curve fitnesses (tse-ema, tse-e) can search the store. --per-seed adds each
seed's curves (the runs' own seeds). darts_tse/analysis/train_curves.py and docs/query_nas.md say more.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..analysis.runs import load_run
from ..analysis.train_curves import export_training_curves
from ..estimators import parse_indices
from ..nb201 import export_curves
from ..nb201.curves import CURVE_SOURCES, FULL_EPOCHS, CurveStoreError
from ..nb201.curves_export import SHARD_SIZE
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, deprecated_alias

SHOWN_BAD = 10


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--nats", metavar="DIR", help="NATS-tss-v1_0-3ffb9-simple directory "
                        "(or the single NATS-tss-v1_0-3ffb9.pickle.pbz2 file)")
    source.add_argument("--train-runs", nargs="+", metavar="RUN_DIR",
                        help="from-scratch training runs of NB201 cells (scripts/train_genotype.py), all of one "
                             "protocol, every cell with the same seeds")
    parser.add_argument("-o", "--out", dest="output", metavar="FILE.npz", required=True, help="the curve store file to write (.npz)")
    nats = parser.add_argument_group("--nats only")
    nats.add_argument("--nb201-datasets", dest="datasets", metavar="DATASETS", default=None,
                      help=f"comma-separated, of {','.join(CURVE_SOURCES)} (default: all three)")
    nats.add_argument("--curve-epochs", dest="epochs", metavar="E", type=int, default=None,
                      help=f"keep epochs 1..E of each curve (the 200-epoch totals are always kept; default {FULL_EPOCHS})")
    parser.add_argument("--per-seed", action="store_true", help="also store each seed's curves (about 4x the size)")
    nats.add_argument("--indices", help="NB201 indices, e.g. '0-999,6111' (default: every record file)")
    nats.add_argument("--shard-size", type=int, default=None,
                      help=f"architectures per progress shard in FILE.npz.parts/ (default {SHARD_SIZE})")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_output_flags(parser)
    for old, new in (("--output", "--out"), ("--datasets", "--nb201-datasets"), ("--epochs", "--curve-epochs")):
        deprecated_alias(parser, old, new)
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.train_runs:
        return _export_runs(args)
    indices = parse_indices(args.indices) if args.indices else None
    datasets = [d.strip() for d in (args.datasets or ",".join(CURVE_SOURCES)).split(",") if d.strip()]
    try:
        report = export_curves(args.nats, args.output, datasets=datasets, epochs=args.epochs or FULL_EPOCHS,
                               per_seed=args.per_seed, indices=indices, shard_size=args.shard_size or SHARD_SIZE,
                               overwrite=args.overwrite, progress=args.progress)
    except KeyboardInterrupt:
        parts = f"{args.output}.parts"
        kept = (f"the finished shards are kept in {parts}/; run the same command again to continue"
                if Path(parts).is_dir() else "no shard was finished, so nothing was kept")
        print(f"interrupted: {kept}", file=sys.stderr)
        return 130
    resumed = f" ({report.resumed} of them from an earlier, interrupted run)" if report.resumed else ""
    print(f"wrote {report.output}: {report.coverage}{resumed}")
    if report.bad:
        shown = ", ".join(f"{b['index']} ({b['reason']})" for b in report.bad[:SHOWN_BAD])
        more = f", and {len(report.bad) - SHOWN_BAD} more (all listed in the store's metadata)" if len(report.bad) > SHOWN_BAD else ""
        print(f"skipped {len(report.bad)} bad record(s), never filled in: {shown}{more}")
    return 0


def _export_runs(args: argparse.Namespace) -> int:
    """--train-runs: the store of from-scratch training runs."""
    given = [flag for flag, value in (("--nb201-datasets", args.datasets), ("--curve-epochs", args.epochs),
                                      ("--indices", args.indices), ("--shard-size", args.shard_size)) if value is not None]
    if given:
        raise CurveStoreError(f"{', '.join(given)} apply to --nats exports; a store of training runs holds every "
                              f"run given, all its epochs, on the runs' own data: drop {given[0]}")
    report = export_training_curves([load_run(path) for path in args.train_runs], args.output,
                                    per_seed=args.per_seed, overwrite=args.overwrite)
    print(f"wrote {report.output}: {report.coverage}, from {report.runs} training runs (seeds "
          f"{', '.join(map(str, report.seeds))}); no validation split: only --fitness tse-ema / tse-e can search it")
    return 0
