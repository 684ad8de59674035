"""``scripts/profile_step.py``: where a search step's CPU time goes, per op, for weights-only vs DARTS-TSE joint (or
other cases); see :mod:`darts_tse.perf.step_profile`.

    python scripts/profile_step.py --C 16 --N 5 --batch-size 64 --cases weights_only darts_tse_joint --rounds 3
"""
from __future__ import annotations

import argparse

from ..config import BENCH_STEP_CASES
from .bench_step import add_step_arguments, check_step_arguments, step_config
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags


@cli_main
def main(argv=None) -> int:
    p = OneLineArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_step_arguments(p)
    p.add_argument("--cases", nargs="+", choices=[c for c in BENCH_STEP_CASES if c != "xautodl_weights_only"],
                   default=["weights_only", "darts_tse_joint"], help="the first is the base of the differences")
    p.add_argument("--rounds", type=int, default=3, help="profiled units per case (median per op)")
    p.add_argument("--warmup", type=int, default=1, help="unprofiled units per case first")
    p.add_argument("--top", type=int, default=15, help="ops listed per difference")
    add_output_flags(p)
    args = p.parse_args(argv)
    check_step_arguments(p, args)
    if args.rounds < 1 or args.warmup < 0 or args.top < 1:
        p.error("--rounds and --top must be >= 1, --warmup >= 0")
    config = step_config(args, device="cpu", warmup=args.warmup, memory=False, cases=tuple(args.cases))
    import torch  # after parsing: torch loads here, so --help is fast

    from ..perf import format_profile, profile_cases

    if config.threads:
        torch.set_num_threads(config.threads)
    profiles = profile_cases(config, args.cases, args.rounds)
    print(format_profile(profiles, args.top))
    return 0
