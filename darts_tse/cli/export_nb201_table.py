"""Convert an official NAS-Bench-201 .pth or a NATS-Bench topology directory into a fast CSV table.

    python scripts/export_nb201_table.py NAS-Bench-201-v1_1-096897.pth -o nb201_table.csv
    python scripts/export_nb201_table.py NATS-tss-v1_0-3ffb9-simple -o nb201_table.csv

The table has the columns of nb201_accuracy.csv and is read by ``--benchmark nb201_table.csv`` in well under a second.
"""
import argparse

from ..files import check_output_file
from ..nb201 import export_table
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, deprecated_alias


@cli_main
def main(argv=None) -> int:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="NAS-Bench-201-v1_*.pth, NATS-tss-v1_0-3ffb9-simple directory, or NATS-tss-v1_0-3ffb9.pickle.pbz2")
    parser.add_argument("-o", "--out", dest="output", metavar="FILE.csv", required=True, help="the CSV file to write")
    deprecated_alias(parser, "--output", "--out")
    add_output_flags(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)
    output = check_output_file(args.output, (".csv",), overwrite=args.overwrite)
    rows = export_table(args.source, output, progress=args.progress)
    print(f"wrote {rows} architectures to {args.output}")
    return 0
