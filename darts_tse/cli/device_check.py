"""One Python stage of ``scripts/gpu_check.sh`` (the one-call device check), in a process of its own:

    python3 -m darts_tse.cli.device_check audit --work WORK --device cuda --size paper \\
        --data shared/cifar10-subset/cifar10_subset.npz --table shared/nb201/nb201_accuracy.csv --threads 16

Writes ``WORK/<stage>.json`` as it goes and prints the stage's summary lines; exit status 1 when an item failed.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..perf import CHECK_SIZES, CHECK_STAGES, CheckSetup, run_check_stage
from .errors import OneLineArgumentParser, cli_main


def build_parser() -> OneLineArgumentParser:
    """The stage, where it runs and on what."""
    p = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stage", choices=sorted(CHECK_STAGES))
    p.add_argument("--work", required=True, help="folder for the stage's JSON and run directories")
    p.add_argument("--device", default="cuda")
    p.add_argument("--size", choices=sorted(CHECK_SIZES), default="paper")
    p.add_argument("--data", default=None, help=".npz of images (the CIFAR-10 subset); default synthetic images")
    p.add_argument("--table", default=None, help="the NB201 table CSV; default valid-only look-ups")
    p.add_argument("--threads", type=int, default=None)
    return p


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup = CheckSetup(args.device, args.size, Path(args.work), data=args.data, table=args.table, threads=args.threads)
    lines = run_check_stage(args.stage, setup)
    print("\n".join(lines), flush=True)
    return 1 if any(": FAILED " in line or ": NOT OK " in line for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
