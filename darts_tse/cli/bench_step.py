"""``scripts/bench_step.py``: time one search minibatch of every case (weights only, DARTS 1st order, DARTS-TSE
joint/rollout, a one-shot step on one random path, xautodl's supernet) and measure its peak memory; see
:mod:`darts_tse.perf.step_bench`. The table and the JSON name the device, torch (and CUDA/cuDNN) versions.

    python scripts/bench_step.py --C 16 --N 5 --batch-size 64 --image-size 32 -o bench.json
    python scripts/bench_step.py --device cuda --precision bf16 --compile reduce-overhead --cudnn-benchmark -o gpu.json
    python scripts/bench_step.py --space darts --layers 8 --threads 1 --peer-darts ~/darts/cnn/model_search.py

``--space darts`` times the DARTS-space cases of :mod:`darts_tse.perf.darts_step_bench` instead (ours, DARTS-TSE
joint, partial channels, and DARTS' own network from the user's copy of quark0/darts ``cnn/model_search.py``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import BENCH_DARTS_CASES, BENCH_STEP_CASES, COMPILE_MODES, MAX_SEED, MIN_IMAGE_SIZE, PRECISIONS
from ..files import atomic_write_text, check_output_file
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, deprecated_alias

if TYPE_CHECKING:
    from ..perf import BenchConfig
    from ..perf.darts_step_bench import DartsBenchConfig


def add_step_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that describe the model, the data and the TSE window (shared with scripts/profile_step.py)."""
    p.add_argument("--C", type=int, default=16, help="channels of the first stage")
    p.add_argument("--N", type=int, default=5, help="search cells per stage")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="channels_last memory format for both supernets")
    p.add_argument("--K", type=int, default=2, help="TSE window: minibatches per α step")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="our supernet: bf16 autocast (default fp32)")
    p.add_argument("--compile", choices=COMPILE_MODES, default=None, metavar="MODE",
                   help=f"our supernet: torch.compile its mixed forward ({', '.join(COMPILE_MODES)}; default eager)")
    p.add_argument("--cudnn-benchmark", action="store_true", help="CUDA: torch.backends.cudnn.benchmark = True")


def check_step_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """One line (argparse's error) for a step flag out of its range."""
    for name in ("C", "N", "batch_size", "num_classes", "K"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.image_size < MIN_IMAGE_SIZE:
        parser.error(f"--image-size must be >= {MIN_IMAGE_SIZE} (the supernet halves the resolution twice)")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if not 0 <= args.seed <= MAX_SEED:
        parser.error(f"--seed must lie in 0..{MAX_SEED}, got {args.seed}")


def step_config(args: argparse.Namespace, **overrides) -> BenchConfig:
    """A BenchConfig from the flags of :func:`add_step_arguments` (and any other BenchConfig field in `overrides`)."""
    from ..perf import BenchConfig  # after parsing: torch loads here, so --help is fast

    return BenchConfig(C=args.C, N=args.N, batch_size=args.batch_size, image_size=args.image_size,
                       num_classes=args.num_classes, threads=args.threads, channels_last=args.channels_last, K=args.K,
                       seed=args.seed, precision=args.precision, compile=args.compile,
                       cudnn_benchmark=args.cudnn_benchmark, **overrides)


def parse_args(argv=None) -> tuple[BenchConfig | DartsBenchConfig, Path | None, bool]:
    """The benchmark's configuration and the JSON output path (None: no file)."""
    p = OneLineArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_step_arguments(p)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--repeats", type=int, default=5, help="timed units per case (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed units per case first")
    p.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                   help="measure peak memory (CPU: one subprocess per case)")
    p.add_argument("--cases", nargs="+", choices=sorted(set(BENCH_STEP_CASES) | set(BENCH_DARTS_CASES)), default=None,
                   help=f"default: every case of the space (nb201: {', '.join(BENCH_STEP_CASES)}; darts: {', '.join(BENCH_DARTS_CASES)})")
    p.add_argument("-o", "--out", dest="json", type=Path, default=None, metavar="FILE.json",
                   help="write the results to this JSON file (a new file, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    deprecated_alias(p, "--json", "--out")
    darts = p.add_argument_group("--space darts")
    darts.add_argument("--space", choices=("nb201", "darts"), default="nb201", help="which search space's supernet")
    darts.add_argument("--layers", type=int, default=8, help="DARTS space: search cells (DARTS' --layers)")
    darts.add_argument("--partial-channels", type=int, default=4, help="DARTS space: K of the partial-channels case")
    darts.add_argument("--peer-darts", type=Path, default=None, metavar="PATH",
                       help="DARTS space: your copy of quark0/darts cnn/model_search.py (beside its operations.py "
                            "and genotypes.py), timed as the peer")
    add_output_flags(p)
    args = p.parse_args(argv)
    check_step_arguments(p, args)
    if args.repeats < 1 or args.warmup < 0:
        p.error("--repeats must be >= 1, --warmup >= 0")
    import torch  # after parsing: torch loads here, so --help is fast

    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: CUDA is not available")
    if args.space == "darts":
        return darts_config(p, args), args.json, args.overwrite
    if args.cases is None:
        args.cases = list(BENCH_STEP_CASES)
    if set(args.cases) - set(BENCH_STEP_CASES):
        p.error(f"--cases {' '.join(sorted(set(args.cases) - set(BENCH_STEP_CASES)))} belong to --space darts")
    config = step_config(args, device=args.device, repeats=args.repeats, warmup=args.warmup, memory=args.memory,
                         cases=tuple(args.cases))
    return config, args.json, args.overwrite


def darts_config(p: argparse.ArgumentParser, args: argparse.Namespace) -> DartsBenchConfig:
    """The DARTS-space benchmark's configuration (``--space darts``); one line for a flag out of its range."""
    from ..perf.darts_step_bench import DartsBenchConfig

    cases = tuple(args.cases or BENCH_DARTS_CASES)
    if set(cases) - set(BENCH_DARTS_CASES):
        p.error(f"--cases {' '.join(sorted(set(cases) - set(BENCH_DARTS_CASES)))} belong to --space nb201")
    if args.layers < 3:
        p.error(f"--layers must be >= 3 (two reduction cells), got {args.layers}")
    if args.partial_channels < 1 or args.C % args.partial_channels:
        p.error(f"--partial-channels K={args.partial_channels} must divide --C {args.C}")
    if args.C % 2:
        p.error(f"--C must be even in the DARTS space, got {args.C}")
    if args.peer_darts is not None and not args.peer_darts.is_file():
        p.error(f"--peer-darts {args.peer_darts} is not a file; pass your copy of quark0/darts cnn/model_search.py")
    if args.compile is not None:
        p.error("--compile is not measured in the DARTS space yet; leave it out")
    return DartsBenchConfig(C=args.C, layers=args.layers, batch_size=args.batch_size, image_size=args.image_size,
                            num_classes=args.num_classes, device=args.device, repeats=args.repeats, warmup=args.warmup,
                            threads=args.threads, channels_last=args.channels_last, K=args.K, seed=args.seed,
                            memory=args.memory, partial_channels=args.partial_channels,
                            peer_darts=None if args.peer_darts is None else str(args.peer_darts.expanduser().resolve()),
                            cases=cases, precision=args.precision)


@cli_main
def main(argv=None) -> int:
    config, json_path, overwrite = parse_args(argv)
    if json_path is not None:
        check_output_file(json_path, (".json",), "--out", overwrite=overwrite)
    from ..perf import format_table, run_benchmark  # after parsing: torch loads here, so --help is fast
    from ..perf.darts_step_bench import DartsBenchConfig, format_darts_table, run_darts_benchmark

    if isinstance(config, DartsBenchConfig):
        result = run_darts_benchmark(config)
        print(format_darts_table(result))
        if json_path is not None:
            atomic_write_text(json_path, json.dumps(result, indent=2) + "\n")
        return 0
    result = run_benchmark(config)
    print(format_table(result))
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(result, indent=2) + "\n")
    return 0
