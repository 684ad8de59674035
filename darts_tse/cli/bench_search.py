"""``scripts/bench_search.py`` / ``darts-tse bench-search``: time whole search epochs of every method (DARTS,
DARTS-TSE, DrNAS, DrNAS-TSE and the one-shot samplers), the per-epoch evaluation included, at a given size on a given
device, on synthetic data of that shape; prints a table and writes JSON. See :mod:`darts_tse.perf.search_bench`.

    python scripts/bench_search.py --device cuda -o search_gpu.json          # C=16 N=5 b=64 32x32, 25k images
    python scripts/bench_search.py --device cuda --precision bf16 --compile reduce-overhead --cudnn-benchmark \\
        --data-on-device -o search_gpu_fast.json
    python scripts/bench_search.py --C 8 --N 1 --batch-size 16 --image-size 16 --train-images 640 --steps-per-epoch 20
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config import BENCH_METHOD_CASES, COMPILE_MODES, HVP_METHODS, MAX_IMAGE_SIZE, MAX_SYNTHETIC_SAMPLES, PRECISIONS, TSE_MODES
from ..files import atomic_write_text, check_output_file
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, deprecated_alias


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--methods", nargs="+", choices=BENCH_METHOD_CASES, default=list(BENCH_METHOD_CASES))
    p.add_argument("--C", type=int, default=16, help="channels of the first stage")
    p.add_argument("--N", type=int, default=5, help="search cells per stage")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--train-images", type=int, default=25_000, help="images in each half (search-train, search-valid)")
    p.add_argument("--timed-epochs", dest="epochs", metavar="N", type=int, default=1, help="timed epochs per method (median reported)")
    p.add_argument("--untimed-epochs", dest="warmup_epochs", metavar="N", type=int, default=1,
                   help="untimed (warm-up) epochs per method first")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="cap on minibatches and evaluation batches")
    p.add_argument("--projected-epochs", dest="search_epochs", metavar="N", type=int, default=50, help="epochs of the whole search the table projects")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32")
    p.add_argument("--compile", choices=COMPILE_MODES, default=None, metavar="MODE",
                   help=f"torch.compile the supernet's mixed forward ({', '.join(COMPILE_MODES)}; default eager)")
    p.add_argument("--cudnn-benchmark", action="store_true")
    p.add_argument("--data-on-device", action="store_true")
    p.add_argument("--K", type=int, default=100, help="TSE: minibatches per α step")
    p.add_argument("--tse-mode", choices=TSE_MODES, default="joint")
    p.add_argument("--order", type=int, choices=(1, 2), default=1, help="DARTS / DrNAS")
    p.add_argument("--hvp", choices=HVP_METHODS, default="finite-difference", help="with --order 2")
    p.add_argument("--probes", type=int, default=8, help="one-shot: subnetworks evaluated after every epoch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", dest="json", type=Path, default=None, metavar="FILE.json",
                   help="write the results to this JSON file (a new file, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    add_output_flags(p)
    for old, new in (("--json", "--out"), ("--epochs", "--timed-epochs"), ("--warmup-epochs", "--untimed-epochs"),
                     ("--search-epochs", "--projected-epochs")):
        deprecated_alias(p, old, new)
    return p


@cli_main
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.warmup_epochs < 0 or args.search_epochs < 1:
        parser.error("--timed-epochs and --projected-epochs must be >= 1, --untimed-epochs >= 0")
    if not 1 <= args.train_images <= MAX_SYNTHETIC_SAMPLES // 2:
        parser.error(f"--train-images must lie in 1..{MAX_SYNTHETIC_SAMPLES // 2:,} (each half; more would exhaust "
                     f"memory), got {args.train_images}")
    if not 4 <= args.image_size <= MAX_IMAGE_SIZE or args.image_size % 4:
        parser.error(f"--image-size must be a multiple of 4 in 4..{MAX_IMAGE_SIZE} (the supernet halves it twice), "
                     f"got {args.image_size}")
    if args.json is not None:
        check_output_file(args.json, (".json",), "--out", overwrite=args.overwrite)
    from ..perf import SearchBenchConfig, format_search_table, run_search_benchmark  # after parsing: torch loads here, so --help is fast

    bench = SearchBenchConfig(
        methods=tuple(dict.fromkeys(args.methods)), C=args.C, N=args.N, batch_size=args.batch_size,
        image_size=args.image_size, train_images=args.train_images, epochs=args.epochs,
        warmup_epochs=args.warmup_epochs, steps_per_epoch=args.steps_per_epoch, search_epochs=args.search_epochs,
        device=args.device, threads=args.threads, channels_last=args.channels_last, precision=args.precision,
        compile=args.compile, cudnn_benchmark=args.cudnn_benchmark, data_on_device=args.data_on_device, K=args.K,
        tse_mode=args.tse_mode, order=args.order, hvp=args.hvp, probes=args.probes, seed=args.seed)
    for method in bench.methods:  # every setting checked (one line) before the first method runs
        bench.run_config(method)
    result = run_search_benchmark(bench)
    print(format_search_table(result))
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
