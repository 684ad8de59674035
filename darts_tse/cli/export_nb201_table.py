"""Convert an official NAS-Bench-201 .pth or a NATS-Bench topology directory into a fast CSV table.

    python scripts/export_nb201_table.py NAS-Bench-201-v1_1-096897.pth -o nb201_table.csv
    python scripts/export_nb201_table.py NATS-tss-v1_0-3ffb9-simple -o nb201_table.csv

The table has the columns of nb201_accuracy.csv and is read by ``--benchmark nb201_table.csv`` in well under a second.
"""
import argparse
import sys

from ..nb201 import BenchmarkError, export_table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="NAS-Bench-201-v1_*.pth, NATS-tss-v1_0-3ffb9-simple directory, or NATS-tss-v1_0-3ffb9.pickle.pbz2")
    parser.add_argument("-o", "--output", required=True, help="CSV file to write")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    try:
        rows = export_table(args.source, args.output, progress=not args.no_progress)
    except BenchmarkError as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return 2
    print(f"wrote {rows} architectures to {args.output}")
    return 0
