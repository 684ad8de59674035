"""Export the NB201 learning curves of a NATS-Bench topology directory into one curve store (.npz) for query-based NAS.

    python scripts/export_nb201_curves.py --nats DIR/NATS-tss-v1_0-3ffb9-simple -o nb201_curves.npz
    python scripts/export_nb201_curves.py --nats DIR --nb201-datasets cifar10 --curve-epochs 20 --indices 0-999 -o c10_first1k.npz

Per architecture, dataset and epoch: training loss, validation loss and accuracy, the epoch's training time, and the
200-epoch valid and test accuracy, averaged over the benchmark's seeds (--per-seed adds each seed's). Resumable: an
interrupted export keeps its progress in FILE.npz.parts/; run the same command again to continue. A record that cannot
be read is reported by index and left out. The field mapping is in darts_tse/nb201/curves.py and docs/query_nas.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..estimators import parse_indices
from ..nb201 import export_curves
from ..nb201.curves import CURVE_SOURCES, FULL_EPOCHS
from ..nb201.curves_export import SHARD_SIZE
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, deprecated_alias

SHOWN_BAD = 10


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nats", required=True, metavar="DIR", help="NATS-tss-v1_0-3ffb9-simple directory "
                        "(or the single NATS-tss-v1_0-3ffb9.pickle.pbz2 file)")
    parser.add_argument("-o", "--out", dest="output", metavar="FILE.npz", required=True, help="the curve store file to write (.npz)")
    parser.add_argument("--nb201-datasets", dest="datasets", metavar="DATASETS", default=",".join(CURVE_SOURCES),
                        help="comma-separated, of %(default)s (default: all three)")
    parser.add_argument("--curve-epochs", dest="epochs", metavar="E", type=int, default=FULL_EPOCHS,
                        help="keep epochs 1..E of each curve (the 200-epoch totals are always kept; default %(default)s)")
    parser.add_argument("--per-seed", action="store_true", help="also store each seed's curves (about 4x the size)")
    parser.add_argument("--indices", help="NB201 indices, e.g. '0-999,6111' (default: every record file)")
    parser.add_argument("--shard-size", type=int, default=SHARD_SIZE,
                        help="architectures per progress shard in FILE.npz.parts/ (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_output_flags(parser)
    for old, new in (("--output", "--out"), ("--datasets", "--nb201-datasets"), ("--epochs", "--curve-epochs")):
        deprecated_alias(parser, old, new)
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    indices = parse_indices(args.indices) if args.indices else None
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    try:
        report = export_curves(args.nats, args.output, datasets=datasets, epochs=args.epochs, per_seed=args.per_seed,
                               indices=indices, shard_size=args.shard_size, overwrite=args.overwrite,
                               progress=args.progress)
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
