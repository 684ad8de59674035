"""``python -m darts_tse.nb201 [--benchmark PATH] ARCH_OR_INDEX``: print one NB201 result as JSON."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from darts_tse.commands import current_prog
from darts_tse.space.genotype import GenotypeError

from .base import BenchmarkError, as_genotype
from .loader import load_benchmark


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=current_prog() or "python -m darts_tse.nb201", description=__doc__)
    parser.add_argument(
        "--benchmark",
        metavar="PATH",
        default=None,
        help="table CSV, official NAS-Bench-201 .pth, or NATS-tss-v1_0-3ffb9-simple directory (default: offline, valid only)",
    )
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="accepted as by every command; this one prints only its result, warnings and errors")
    parser.add_argument("--no-progress", action="store_true", help="accepted as by every command; it has no bar")
    parser.add_argument("arch", metavar="ARCH_OR_INDEX", help="NB201 string |op~0|+|op~0|op~1|+|op~0|op~1|op~2| or index 0..15624")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    arch = int(args.arch) if args.arch.strip().isdigit() else args.arch
    try:
        genotype = as_genotype(arch)  # a bad architecture fails before any benchmark loads or warns
        result = load_benchmark(args.benchmark).query(genotype)
    except (GenotypeError, BenchmarkError) as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return 2
    try:
        print(json.dumps(result.to_dict(), indent=2), flush=True)
    except BrokenPipeError:  # `... | head`: the reader left; end quietly (and keep Python from flushing again)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
